// Links from mail: forgot password -> the reset mail -> /app/reset-password
// -> the new password works; verification links (and a new link from the
// account page); PACE_REQUIRE_VERIFIED_EMAIL at login and sign-up. pace
// mails an SMTP sink of the test's own (smtp-sink.mjs); the links are the
// ones in the mails.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startPace, openPage, checkA11y, registerUser, apiRequest, signIn, startSmtpSink, uniqueName, PASSWORD } from './harness.mjs';

let pace;
let sink;
before(async () => {
  sink = await startSmtpSink();
  pace = await startPace({ env: { PACE_SMTP_URL: sink.url } });
});

// The link a mail carries, as a path for page.goto (the mail's own origin is pace's).
function pathOf(link) {
  const u = new URL(link.url);
  assert.equal(u.origin, new URL(pace.url).origin, 'links point to PACE_PUBLIC_URL (here the listen address)');
  return u.pathname + u.hash;
}

test('forgot password: the same answer for any address; the mailed link sets a new password once', async (t) => {
  const user = await registerUser(pace);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());

  await page.goto('/app/login');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByRole('heading', { level: 1, name: 'Forgot your password?' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/app/forgot-password');
  await checkA11y(page, 'forgot password');

  // An address no account uses: the same words as for a real one.
  await page.getByLabel('Email').fill('nobody-at-all@example.com');
  await page.getByRole('button', { name: 'Send the link' }).click();
  const sent = page.locator('#forgot-sent');
  await sent.waitFor();
  const unknownText = (await sent.innerText()).replace('nobody-at-all@example.com', 'X');
  assert.match(unknownText, /If an account uses X, a link to choose a new password is on its way/);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'forgot-sent');
  await checkA11y(page, 'forgot password, sent');

  await page.getByRole('button', { name: 'ask again' }).click();
  await page.getByLabel('Email').fill(user.email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await sent.waitFor();
  assert.equal((await sent.innerText()).replace(user.email, 'X'), unknownText);

  const link = await sink.link(user.email, 'reset-password');
  await page.goto(pathOf(link));
  await page.getByRole('heading', { level: 1, name: 'Choose a new password' }).waitFor();
  // The token left the address bar as the view opened.
  await page.waitForFunction(() => location.hash === '');
  assert.equal(new URL(page.url()).pathname, '/app/reset-password');
  assert.ok(!page.url().includes(link.token));
  await checkA11y(page, 'reset password');

  // Not the same twice: caught here; a password the policy refuses: pace's error by the field.
  const next = 'marmalade-harbour-violin-83';
  await page.getByLabel(/^New password( \*)?$/).fill(next);
  await page.getByLabel('New password again').fill(`${next}x`);
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.getByText('Does not match the new password.').waitFor();
  await page.getByLabel(/^New password( \*)?$/).fill('short');
  await page.getByLabel('New password again').fill('short');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  const err = page.locator('#f-new-password-error');
  await err.waitFor();
  assert.equal(await page.getByLabel(/^New password( \*)?$/).getAttribute('aria-invalid'), 'true');
  assert.match(await page.getByLabel(/^New password( \*)?$/).getAttribute('aria-describedby'), /f-new-password-error/);
  await checkA11y(page, 'reset password with an error');

  await page.getByLabel(/^New password( \*)?$/).fill(next);
  await page.getByLabel('New password again').fill(next);
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.getByText('Your password was changed').waitFor();
  await checkA11y(page, 'reset password, done');
  await page.getByRole('link', { name: 'Log in with your new password' }).click();
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  await signIn(page, { ...user, password: next });
  assert.equal((await apiRequest(pace, 'POST', '/api/v1/auth/login', { login: user.username, password: user.password })).status, 401,
    'the old password no longer works');

  // The same link again: pace refuses the token (400 invalid_token), and
  // the page shows the way to a new link.
  await page.goto(pathOf(link));
  await page.waitForFunction(() => location.hash === '');
  await page.getByLabel(/^New password( \*)?$/).fill(`${next}-again`);
  await page.getByLabel('New password again').fill(`${next}-again`);
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.getByText('This link is no longer valid').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'reset-result');
  await checkA11y(page, 'reset password, used link');
  await page.getByRole('link', { name: 'Ask for a new link' }).click();
  await page.getByRole('heading', { level: 1, name: 'Forgot your password?' }).waitFor();
  trips.assertClean();
});

test('a reset link opened while signed in: this browser is signed out with the rest', async (t) => {
  const user = await registerUser(pace);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user);
  const r = await apiRequest(pace, 'POST', '/api/v1/auth/password-reset', { email: user.email });
  assert.equal(r.status, 202);
  const link = await sink.link(user.email, 'reset-password');
  await page.goto(pathOf(link));
  const next = 'copper-meadow-lantern-19';
  await page.getByLabel(/^New password( \*)?$/).fill(next);
  await page.getByLabel('New password again').fill(next);
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.getByText('Your password was changed').waitFor();
  // Still on the page that says so, signed out (the nav offers to log in).
  assert.equal(new URL(page.url()).pathname, '/app/reset-password');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Log in' }).waitFor();
  await page.reload();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Log in' }).waitFor();
  // Reloaded, the page has no token any more.
  await page.getByText('This link is no longer valid').waitFor();
  trips.assertClean();
});

test('verification: the account page says unconfirmed, a new link replaces the old, the link confirms', async (t) => {
  const user = await registerUser(pace);
  const first = await sink.link(user.email, 'verify-email'); // sent at registration
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user, '/app/account');
  const section = page.getByRole('region', { name: 'Email address' });
  await section.getByText('Not confirmed').waitFor();
  await checkA11y(page, 'account, email not confirmed');

  await section.getByRole('button', { name: 'Send a new link' }).click();
  await section.getByText(`We sent a new link to ${user.email}`).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'verify-status');
  const second = await sink.link(user.email, 'verify-email');
  assert.notEqual(second.token, first.token);

  // The older link stopped working.
  await page.goto(pathOf(first));
  await page.getByText('This link is no longer valid').waitFor();
  assert.equal(new URL(page.url()).hash, '');
  await page.getByRole('link', { name: 'your account page' }).waitFor();
  await checkA11y(page, 'verify email, stale link');

  await page.goto(pathOf(second));
  await page.getByText('Your email address is confirmed').waitFor();
  assert.equal(new URL(page.url()).hash, '');
  await checkA11y(page, 'verify email, done');
  await page.getByRole('link', { name: 'Go to your account' }).click();
  await section.getByText('Confirmed', { exact: true }).waitFor();
  assert.equal(await section.getByRole('button', { name: 'Send a new link' }).count(), 0);
  trips.assertClean();
});

test('verification link opened signed out: confirmed, then log in', async (t) => {
  const user = await registerUser(pace);
  const link = await sink.link(user.email, 'verify-email');
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await page.goto(pathOf(link));
  await page.getByText('Your email address is confirmed').waitFor();
  await page.getByRole('link', { name: 'Log in', exact: true }).last().click();
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  const token = (await apiRequest(pace, 'POST', '/api/v1/auth/login', { login: user.username, password: user.password })).json.access_token;
  const me = await apiRequest(pace, 'GET', '/api/v1/users/me', undefined, token);
  assert.equal(me.json.email_verified, true);
  trips.assertClean();
});

test('PACE_REQUIRE_VERIFIED_EMAIL: sign-up and login say to open the link first; after it, login works', async (t) => {
  const strictSink = await startSmtpSink();
  const strict = await startPace({ env: { PACE_SMTP_URL: strictSink.url, PACE_REQUIRE_VERIFIED_EMAIL: 'on' } });
  t.after(() => strict.stop());
  const { context, page, trips } = await openPage(strict);
  t.after(() => context.close());

  const name = uniqueName('strict');
  const email = `${name}@example.com`;
  await page.goto('/app/signup');
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByText('Your account was created.').waitFor();
  assert.match(await page.locator('#signup-confirm').innerText(), new RegExp(`We sent a link to ${email}`));
  await checkA11y(page, 'sign-up, confirm the address');

  await page.goto('/app/login');
  await page.getByLabel('Username or email').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').getByText('Confirm your email address first: we sent you a new link').waitFor();
  await checkA11y(page, 'login, email not confirmed');

  // Each refused login mailed a new link (the sign-up's login too), which
  // replaced the one before: three mails; the newest link confirms.
  const links = [];
  for (let i = 0; i < 3; i++) links.push(await strictSink.link(email, 'verify-email'));
  let confirmed = false;
  for (const link of links.reverse()) {
    await page.goto(new URL(link.url).pathname + new URL(link.url).hash);
    await page.locator('#verify-result').waitFor();
    if (/is confirmed/.test(await page.locator('#verify-result').innerText())) {
      confirmed = true;
      break;
    }
  }
  assert.ok(confirmed, 'one of the links confirms the address');
  await signIn(page, { username: name, password: PASSWORD });
  trips.assertClean();
});

test('forgot password past the mail rate limit says how long to wait', async (t) => {
  const limited = await startPace({ env: { PACE_RATE_LIMITS: 'on', PACE_RATE_LIMIT_MAIL: '1' } });
  t.after(() => limited.stop());
  const { context, page, trips } = await openPage(limited);
  t.after(() => context.close());
  await page.goto('/app/forgot-password');
  await page.getByLabel('Email').fill('someone@example.com');
  await page.getByRole('button', { name: 'Send the link' }).click();
  await page.locator('#forgot-sent').waitFor();
  await page.getByRole('button', { name: 'ask again' }).click();
  await page.getByLabel('Email').fill('someone@example.com');
  await page.getByRole('button', { name: 'Send the link' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /Too many attempts\. Try again in [\d,. ]+ (s|min)\./);
  assert.equal(await page.evaluate(() => document.activeElement?.className), 'form-error');
  await checkA11y(page, 'forgot password, rate limited');
  trips.assertClean();
});
