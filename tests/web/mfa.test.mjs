// Two-step verification in the web client: turned on from the account page
// (the secret and the otpauth URI shown, a code confirms, ten recovery codes
// shown once), then the login's code step with a TOTP code and with a
// recovery code, then turned off with password and code. Codes are computed
// here (harness.mjs: totp, RFC 6238); pace takes each time step once, so
// every code sent is of a step not used before.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startPace, openPage, checkA11y, registerUser, apiRequest, startSmtpSink, signIn, totp, totpStep } from './harness.mjs';

let pace;
before(async () => {
  const sink = await startSmtpSink(); // the notices (MFA on, MFA off) go somewhere
  pace = await startPace({ env: { PACE_SMTP_URL: sink.url } });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Codes of ever later steps: now's, or the one after the last used (pace
// accepts one step either side); waits when that would run ahead of the clock.
function codes(secret) {
  let last = -Infinity;
  return async () => {
    for (;;) {
      const now = totpStep();
      const step = Math.max(now, last + 1);
      if (step <= now + 1) {
        last = step;
        return totp(secret, step);
      }
      await sleep(1000);
    }
  };
}

async function fillLogin(page, user) {
  await page.goto('/app/login');
  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 2, name: 'Two-step verification' }).waitFor();
}

async function signOut(page) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
}

test('two-step verification: turn on, log in with a code and with a recovery code, turn off', async (t) => {
  const user = await registerUser(pace);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user, '/app/account');
  const section = page.getByRole('region', { name: /^Two-step verification/ });
  await section.getByText('Off', { exact: true }).waitFor();

  await section.getByRole('button', { name: 'Turn on' }).click();
  await section.getByRole('heading', { name: 'Set up your authenticator app' }).waitFor();
  // The key in groups of four, and the otpauth URI as text and as a link.
  const shown = await section.locator('code.secret').innerText();
  assert.match(shown, /^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/);
  const secret = shown.replace(/ /g, '');
  const uri = await section.locator('code.otpauth-uri').innerText();
  assert.equal(uri, `otpauth://totp/pace:${user.username}?secret=${secret}&issuer=pace&algorithm=SHA1&digits=6&period=30`);
  assert.equal(await section.getByRole('link', { name: 'this setup link' }).getAttribute('href'), uri);
  const code = await section.getByLabel('Code from the app');
  assert.equal(await code.getAttribute('autocomplete'), 'one-time-code');
  assert.equal(await code.getAttribute('inputmode'), 'numeric');
  await checkA11y(page, 'account, TOTP set-up');

  // A wrong code: said by the field, still off.
  const next = codes(secret);
  const right = await next();
  await code.fill(right === '000000' ? '111111' : '000000');
  await section.getByRole('button', { name: 'Turn on' }).click();
  await section.locator('#mfa-code-error').waitFor();
  assert.equal(await code.getAttribute('aria-invalid'), 'true');
  await checkA11y(page, 'account, TOTP set-up with an error');

  await code.fill(right);
  await section.getByRole('button', { name: 'Turn on' }).click();
  await section.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
  const recovery = await section.locator('.recovery-codes li').allInnerTexts();
  assert.equal(recovery.length, 10);
  for (const c of recovery) assert.match(c, /^[a-z2-7]{5}-[a-z2-7]{5}$/);
  assert.equal(new Set(recovery).size, 10);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'mfa-codes-h');
  await section.getByText('On', { exact: true }).waitFor();
  await checkA11y(page, 'account, recovery codes');
  await section.getByRole('button', { name: 'I have stored them' }).click();
  assert.equal(await section.locator('.recovery-codes').count(), 0, 'the codes are shown once');
  await section.getByText('You have 10 unused recovery codes.').waitFor();
  // And not again after a reload.
  await page.reload();
  await section.getByText('You have 10 unused recovery codes.').waitFor();
  assert.equal(await section.locator('.recovery-codes').count(), 0);

  // Log in: the password, then the code step.
  await signOut(page);
  await fillLogin(page, user);
  const field = page.getByLabel(/^Code( \*)?$/);
  assert.equal(await field.getAttribute('autocomplete'), 'one-time-code');
  assert.equal(await field.getAttribute('inputmode'), 'numeric');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-code');
  await checkA11y(page, 'login, code step');
  await field.fill(totp(secret, totpStep() - 10)); // a code, but not of now
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.locator('#f-code-error').waitFor();
  assert.match(await page.locator('#f-code-error').innerText(), /not right/);
  assert.equal(await field.getAttribute('aria-invalid'), 'true');
  await checkA11y(page, 'login, code step with an error');
  await field.fill(await next());
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);

  // A recovery code instead, with ?next= kept.
  await signOut(page);
  await page.goto('/app/login?next=%2Fapp%2Faccount');
  await page.getByLabel('Username or email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
  const rc = page.getByLabel('Recovery code');
  assert.equal(await rc.getAttribute('inputmode'), 'text');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-code');
  await rc.fill(recovery[0].toUpperCase());
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL((u) => u.pathname === '/app/account');
  await section.getByText('You have 9 unused recovery codes.').waitFor();

  // The same recovery code a second time fails.
  const again = await apiRequest(pace, 'POST', '/api/v1/auth/login', { login: user.username, password: user.password });
  assert.equal(again.status, 401);
  const used = await apiRequest(pace, 'POST', '/api/v1/auth/mfa', { mfa_token: again.json.mfa_token, code: recovery[0] });
  assert.equal(used.status, 401);

  // Turn off: a wrong password first, by its field.
  const off = section.getByRole('button', { name: 'Turn off' });
  await section.getByLabel('Your password').fill('not-my-password-at-all');
  await section.getByLabel('Code from your app, or a recovery code').fill(await next());
  await off.click();
  await section.getByText('is not your password').waitFor();
  assert.equal(await section.getByLabel('Your password').getAttribute('aria-invalid'), 'true');
  await checkA11y(page, 'account, turn off with an error');
  await section.getByLabel('Your password').fill(user.password);
  await section.getByLabel('Code from your app, or a recovery code').fill(await next());
  await off.click();
  await section.getByText('Two-step verification is off.').waitFor();
  await section.getByText('Off', { exact: true }).waitFor();
  assert.equal((await apiRequest(pace, 'POST', '/api/v1/auth/login', { login: user.username, password: user.password })).status, 200,
    'login asks for no code any more');
  trips.assertClean();
});

test('the code step: an mfa_token that expired sends the login back to the password', async (t) => {
  const short = await startPace({ env: { PACE_MFA_TOKEN_TTL: '30' } });
  t.after(() => short.stop());
  const user = await registerUser(short);
  const token = (await apiRequest(short, 'POST', '/api/v1/auth/login', { login: user.username, password: user.password })).json.access_token;
  const started = await apiRequest(short, 'POST', '/api/v1/users/me/mfa/totp', {}, token);
  assert.equal(started.status, 200);
  const next = codes(started.json.secret);
  const on = await apiRequest(short, 'POST', '/api/v1/users/me/mfa/totp/confirm', { code: await next() }, token);
  assert.equal(on.status, 200);

  const { context, page, trips } = await openPage(short);
  t.after(() => context.close());
  await fillLogin(page, user);
  await page.waitForTimeout(31_000);
  await page.getByLabel(/^Code( \*)?$/).fill(await next());
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('alert').getByText('log in again').waitFor();
  await page.getByLabel('Password').waitFor();
  assert.equal(await page.getByLabel('Username or email').inputValue(), user.username, 'the username stays');
  trips.assertClean();
});
