// Two tabs of one browser share one session: refreshes are serialised across
// tabs (strict rotation, no grace), so nobody is logged out; signing out in
// one tab signs out the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPace, openPage, newPage, registerUser, signIn } from './harness.mjs';

function watch(page, into) {
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) into.push(`${r.request().method()} ${u.pathname} ${r.status()}`);
  });
}

test('two tabs refreshing at once with strict rotation: nobody is logged out', async (t) => {
  const pace = await startPace({ env: { PACE_REFRESH_GRACE_SECONDS: '0', PACE_ACCESS_TOKEN_TTL: '5' } });
  t.after(() => pace.stop());
  const user = await registerUser(pace);
  const one = await openPage(pace);
  t.after(() => one.context.close());
  const two = await newPage(one.context);
  const seen = [];
  watch(one.page, seen);
  watch(two.page, seen);

  await signIn(one.page, user);
  await two.page.goto('/app/tasks'); // restores the session from the shared cookie
  await two.page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  seen.length = 0; // before the login, tab one's start-up refresh found no cookie (401)

  for (let round = 1; round <= 4; round++) {
    await one.page.waitForTimeout(5500); // the tokens have expired or are about to
    // Both tabs act at the same moment: each needs a valid token.
    const filter = round % 2 ? 'Done' : 'To do';
    await Promise.all([one.page, two.page].map((p) => p.getByRole('checkbox', { name: filter, exact: true }).click()));
    for (const p of [one.page, two.page]) {
      await p.waitForFunction(() => !document.querySelector('.loading'));
      assert.equal(await p.getByRole('heading', { level: 1 }).innerText(), 'Tasks', `round ${round}`);
      await p.getByText(/No tasks/).waitFor();
    }
    // And both reload at once: two start-up refreshes from one cookie.
    if (round === 2) {
      await Promise.all([one.page.reload(), two.page.reload()]);
      for (const p of [one.page, two.page]) await p.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
    }
  }
  const refreshes = seen.filter((s) => s.startsWith('POST /api/v1/auth/web/refresh'));
  assert.ok(refreshes.length >= 4, seen.join('\n'));
  assert.deepEqual(refreshes.filter((s) => !s.endsWith(' 200')), [], seen.join('\n'));
  // The session is still alive on the server: the cookie refreshes once more.
  await one.page.reload();
  await one.page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  one.trips.assertClean('tab one');
  two.trips.assertClean('tab two');
});

test('signing out in one tab signs out the other', async (t) => {
  const pace = await startPace({ env: { PACE_REFRESH_GRACE_SECONDS: '0', PACE_ACCESS_TOKEN_TTL: '5' } });
  t.after(() => pace.stop());
  const user = await registerUser(pace);
  const one = await openPage(pace);
  t.after(() => one.context.close());
  const two = await newPage(one.context);
  await signIn(one.page, user);
  await two.page.goto('/app/tasks');
  await two.page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();

  await one.page.getByRole('button', { name: 'Sign out' }).click();
  await one.page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  await two.page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  assert.match(two.page.url(), /\/app\/login/);
  await two.page.reload();
  await two.page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();

  // Logging in again in one tab signs the other in too.
  await signIn(two.page, user);
  await one.page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  one.trips.assertClean('tab one');
  two.trips.assertClean('tab two');
});
