// The account view: sessions (this device marked, end one, end all others),
// change password, delete account. Other sessions are made through the JSON
// API, so whether they really ended is checked by refreshing them.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startPace, openPage, checkA11y, registerUser, apiRequest, signIn } from './harness.mjs';

let pace;
before(async () => {
  pace = await startPace();
});

// A session made through the JSON API: {access, refresh}.
async function apiSession(user, password = user.password) {
  const r = await apiRequest(pace, 'POST', '/api/v1/auth/login', { login: user.username, password });
  return r.status === 200 ? { access: r.json.access_token, refresh: r.json.refresh_token, status: 200 } : { status: r.status };
}

async function refreshStatus(s) {
  return (await apiRequest(pace, 'POST', '/api/v1/auth/refresh', { refresh_token: s.refresh })).status;
}

async function until(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function sessionRows(page) {
  return page.getByRole('table', { name: /^Devices signed in/ }).locator('tbody tr');
}

test('account: sessions listed with this device marked; end one, then all others', async (t) => {
  const user = await registerUser(pace);
  const other = await apiSession(user);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user, '/app/account');
  await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
  const rows = sessionRows(page);
  await until(async () => (await rows.count()) === 2, 'two sessions');
  const mine = rows.filter({ hasText: 'This device' });
  assert.equal(await mine.count(), 1, 'exactly one row is this device');
  assert.match(await mine.innerText(), /Chrome/);
  assert.match(await mine.innerText(), /127\.0\.0\.1/);
  const theirs = rows.filter({ hasNotText: 'This device' });
  assert.match(await theirs.innerText(), /Node\.js|Unknown device/);
  await checkA11y(page, 'account');
  await page.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
  await checkA11y(page, 'account, dark');
  await page.emulateMedia({ colorScheme: 'light' });

  // End the other one: its refresh token stops working.
  await theirs.getByRole('button', { name: /^End session:/ }).click();
  await until(async () => (await rows.count()) === 1, 'the ended session to go');
  assert.equal(await refreshStatus(other), 401, 'the ended session cannot refresh');
  assert.equal(await page.getByRole('button', { name: 'End all other sessions' }).isDisabled(), true);

  // Two more, then end all others: only this device is left, and it still works.
  const a = await apiSession(user);
  const b = await apiSession(user);
  await page.reload();
  await until(async () => (await rows.count()) === 3, 'three sessions');
  await page.getByRole('button', { name: 'End all other sessions' }).click();
  await until(async () => (await rows.count()) === 1, 'only this device');
  await rows.filter({ hasText: 'This device' }).waitFor();
  assert.equal(await refreshStatus(a), 401);
  assert.equal(await refreshStatus(b), 401);
  await page.reload();
  await until(async () => (await rows.count()) === 1, 'this device still signed in after a reload');
  trips.assertClean();
});

test('account: change password (a wrong current password first); the old one then fails', async (t) => {
  const user = await registerUser(pace);
  const other = await apiSession(user);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user, '/app/account');
  await until(async () => (await sessionRows(page).count()) === 2, 'two sessions');
  const next = 'saffron-tangerine-bicycle-97';

  await page.getByLabel('Current password').fill('not-the-password-at-all');
  await page.getByLabel('New password', { exact: true }).fill(next);
  await page.getByLabel('New password again').fill(next);
  await page.getByRole('button', { name: 'Change password' }).click();
  const current = page.getByLabel('Current password');
  await until(async () => (await current.getAttribute('aria-invalid')) === 'true', 'the current-password error');
  await page.getByText('is not your current password').waitFor();
  await checkA11y(page, 'change password with an error');

  // Mismatched confirmation is caught before asking pace.
  await current.fill(user.password);
  await page.getByLabel('New password again').fill(`${next}x`);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('does not match the new password').waitFor();

  await page.getByLabel('New password again').fill(next);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Password changed. Your other sessions were signed out.').waitFor();
  assert.equal(await current.inputValue(), '', 'the form is cleared');
  await until(async () => (await sessionRows(page).count()) === 1, 'the other session to be gone from the list');

  assert.equal((await apiSession(user)).status, 401, 'the old password fails');
  assert.equal((await apiSession(user, next)).status, 200, 'the new one works');
  assert.equal(await refreshStatus(other), 401, 'other sessions ended');
  await page.reload(); // this browser's session stays
  await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
  await until(async () => (await sessionRows(page).filter({ hasText: 'This device' }).count()) === 1, 'still signed in');
  trips.assertClean();
});

test('account: delete account behind a confirmation; then signed out and login fails', async (t) => {
  const user = await registerUser(pace);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user, '/app/account');
  await page.getByRole('heading', { level: 2, name: 'Delete account' }).waitFor();

  // A wrong password: nothing deleted, the error by the field.
  await page.getByLabel('Your password').fill('certainly-not-my-password');
  await page.getByRole('button', { name: 'Delete account' }).click();
  let dlg = page.getByRole('dialog');
  await dlg.getByRole('button', { name: 'Delete my account' }).click();
  await page.getByText('is not your password').waitFor();
  assert.equal((await apiSession(user)).status, 200, 'still there');

  // Cancel in the dialog: nothing happens.
  await page.getByLabel('Your password').fill(user.password);
  await page.getByRole('button', { name: 'Delete account' }).click();
  dlg = page.getByRole('dialog');
  await checkA11y(page, 'delete account dialog');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await apiSession(user)).status, 200, 'cancel keeps the account');

  await page.getByRole('button', { name: 'Delete account' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete my account' }).click();
  await page.waitForURL((u) => u.pathname === '/app/login');
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  assert.equal((await apiSession(user)).status, 401, 'the account is gone');
  trips.assertClean();
});
