// The web client's sign-up, log-in, session restore, sign-out and
// access-token expiry, in headless Chromium against the real binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPace, openPage, checkA11y, registerUser, uniqueName, PASSWORD, signIn } from './harness.mjs';

test('sign up shows the server\'s field errors next to the fields, then signs in', async (t) => {
  const pace = await startPace();
  t.after(() => pace.stop());
  const taken = await registerUser(pace);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());

  await page.goto('/app/signup');
  await page.getByRole('heading', { level: 1, name: 'Create your account' }).waitFor();
  assert.equal(await page.title(), 'Sign up · pace');
  await checkA11y(page, 'sign-up form');

  const name = uniqueName('new');
  // A password the server refuses (too short): its message sits under the field.
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Email').fill(`${name}@example.com`);
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Sign up' }).click();
  const pw = page.getByLabel('Password');
  await page.locator('#f-password-error').waitFor();
  assert.equal(await pw.getAttribute('aria-invalid'), 'true');
  assert.match(await pw.getAttribute('aria-describedby'), /f-password-error/);
  assert.match(await page.locator('#f-password-error').innerText(), /12/);
  await checkA11y(page, 'sign-up form with errors');

  // A taken username: 409 username_taken, shown at the username.
  await page.getByLabel('Username').fill(taken.username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.locator('#f-username-error').waitFor();
  assert.match(await page.locator('#f-username-error').innerText(), /taken/i);
  assert.equal(await page.getByLabel('Username').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#f-password-error').count(), 0);

  // Right this time: registered and logged in.
  await page.getByLabel('Username').fill(name);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  assert.match(page.url(), /\/app\/tasks$/);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Sign out' }).waitFor();
  trips.assertClean();
});

test('log in wrong then right; reload keeps the session; sign out ends it', async (t) => {
  const pace = await startPace();
  t.after(() => pace.stop());
  const user = await registerUser(pace);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());

  // Signed out, a protected page leads to the login, which comes back after.
  await page.goto('/app/tasks?status=done');
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  assert.equal(await page.title(), 'Log in · pace');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/app/tasks?status=done');
  await checkA11y(page, 'login form');

  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password').fill('not-the-password-at-all');
  await page.getByRole('button', { name: 'Log in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /do not match/);
  await checkA11y(page, 'login form with an error');

  await page.getByLabel('Username or email').fill(user.email); // the email works too
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  assert.equal(new URL(page.url()).search, '?status=done');
  // Focus went to the view's heading.
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.tagName), 'H1');

  // No token in storage: the cookie restores the session on reload.
  assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
  const refreshes = [];
  page.on('response', (r) => { if (r.url().endsWith('/api/v1/auth/web/refresh')) refreshes.push(r.status()); });
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  assert.deepEqual(refreshes, [200]);
  const cookies = await context.cookies();
  const c = cookies.find((x) => x.name === 'pace_refresh');
  assert.ok(c && c.httpOnly, 'the refresh cookie is HttpOnly');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  await page.goto('/app/tasks');
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  trips.assertClean();
});

test('the client keeps working across access-token expiry (PACE_ACCESS_TOKEN_TTL=5)', async (t) => {
  const pace = await startPace({ env: { PACE_ACCESS_TOKEN_TTL: '5' } });
  t.after(() => pace.stop());
  const user = await registerUser(pace);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  const statuses = [];
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) statuses.push(`${r.request().method()} ${u.pathname} ${r.status()}`);
  });
  await signIn(page, user);
  statuses.length = 0; // before the login, the start-up refresh found no cookie (401)

  for (let round = 1; round <= 3; round++) {
    await page.waitForTimeout(6000); // past the first token's lifetime
    await page.getByRole('link', { name: 'New task' }).click();
    await page.getByLabel('Title').fill(`after expiry ${round}`);
    await page.getByRole('button', { name: 'Create task' }).click();
    await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
    await page.getByRole('link', { name: `after expiry ${round}`, exact: true }).waitFor();
  }
  const refreshed = statuses.filter((s) => s.startsWith('POST /api/v1/auth/web/refresh'));
  assert.ok(refreshed.length >= 3, `refreshed ${refreshed.length} times: ${statuses.join(', ')}`);
  assert.ok(refreshed.every((s) => s.endsWith(' 200')), statuses.join(', '));
  // The proactive refresh keeps requests from failing at all.
  assert.deepEqual(statuses.filter((s) => / 401$/.test(s)), []);
  trips.assertClean();
});

test('a login refused by the rate limit says how long to wait', async (t) => {
  const pace = await startPace({ env: { PACE_RATE_LIMITS: 'on', PACE_RATE_LIMIT_LOGIN_FAILURES: '2' } });
  t.after(() => pace.stop());
  const user = await registerUser(pace);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await page.goto('/app/login');
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  let text = '';
  for (let i = 0; i < 8 && !/Try again in/.test(text); i++) {
    await page.getByLabel('Username or email').fill(user.username);
    await page.getByLabel('Password').fill('wrong-password-again');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await page.waitForFunction(() => document.querySelector('form')?.getAttribute('aria-busy') !== 'true');
    text = await page.getByRole('alert').innerText();
  }
  assert.match(text, /Too many attempts\. Try again in \d+ s\./);
  trips.assertClean();
});
