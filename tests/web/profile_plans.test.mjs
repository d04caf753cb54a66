// The fitness profile form, requesting plans and watching them get made,
// reading a workout and a nutrition plan, printing one, and the 409 for a
// user without a profile. One pace for the file; a fresh user per test.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPace, openPage, checkA11y, registerUser, apiLogin, apiRequest, signIn } from './harness.mjs';

const PROFILE = {
  sex: 'male', birth_date: '1995-03-14', height_cm: 180, weight_kg: 80, activity_level: 'moderate',
  goal: 'lose_fat', experience: 'intermediate', days_per_week: 3, session_minutes: 45,
  equipment: 'dumbbells', diet: 'pescatarian', meals_per_day: 4, exclude_foods: ['tuna', 'peanuts'],
};

let pace;
before(async () => {
  pace = await startPace();
});

async function userWithProfile(on = pace) {
  const user = await registerUser(on);
  const token = await apiLogin(on, user);
  const r = await apiRequest(on, 'PUT', '/api/v1/profile', PROFILE, token);
  assert.equal(r.status, 200, r.text);
  return { user, token };
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

test('profile: a server field error next to its field, then saved', async (t) => {
  const user = await registerUser(pace);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user, '/app/profile');

  await page.getByRole('heading', { level: 1, name: 'Fitness profile' }).waitFor();
  await page.getByText('You have no profile yet').waitFor();
  await checkA11y(page, 'empty profile');

  await page.getByLabel('Sex', { exact: true }).selectOption('female');
  await page.getByLabel('Date of birth').fill('1990-05-20');
  await page.getByLabel('Height (cm)').fill('300'); // out of range: the server says so
  await page.getByLabel('Weight (kg)').fill('62.5');
  await page.getByLabel('Activity level').selectOption('light');
  await page.getByLabel('Goal', { exact: true }).selectOption('build_muscle');
  await page.getByLabel('Experience').selectOption('beginner');
  await page.getByLabel('Training days per week').fill('4');
  await page.getByLabel('Minutes per session').fill('60');
  await page.getByLabel('Equipment').selectOption('full_gym');
  await page.getByLabel('Diet', { exact: true }).selectOption('vegetarian');
  await page.getByLabel('Meals per day').fill('3');
  const food = page.getByLabel('Foods to leave out');
  await food.fill('mushrooms');
  await food.press('Enter'); // adds the tag, does not submit
  await food.fill('olives');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await food.fill('celery');
  await food.press('Enter');
  await page.getByRole('button', { name: 'Remove olives' }).click();
  const tags = page.getByRole('list', { name: 'Foods left out' });
  assert.deepEqual(await tags.getByRole('listitem').allInnerTexts().then((a) => a.map((s) => s.replace(/\s*×\s*$/, ''))),
    ['mushrooms', 'celery']);

  await page.getByRole('button', { name: 'Save profile' }).click();
  const height = page.getByLabel('Height (cm)');
  await until(async () => (await height.getAttribute('aria-invalid')) === 'true', 'the height error');
  const described = await height.getAttribute('aria-describedby');
  assert.match(described, /pf-height_cm-error/);
  assert.match(await page.locator('#pf-height_cm-error').innerText(), /100 to 250/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'pf-height_cm');
  let r = await apiRequest(pace, 'GET', '/api/v1/profile', undefined, await apiLogin(pace, user));
  assert.equal(r.status, 404, 'nothing saved yet');
  await checkA11y(page, 'profile with a field error');

  await height.fill('171');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await page.getByRole('status').getByText(/^Saved/).waitFor();
  assert.equal(await height.getAttribute('aria-invalid'), 'false');

  r = await apiRequest(pace, 'GET', '/api/v1/profile', undefined, await apiLogin(pace, user));
  assert.equal(r.status, 200);
  assert.equal(r.json.height_cm, 171);
  assert.equal(r.json.weight_kg, 62.5);
  assert.equal(r.json.goal, 'build_muscle');
  assert.deepEqual(r.json.exclude_foods, ['mushrooms', 'celery']);

  // Read back after a reload (a fresh GET, a second save with If-Match).
  await page.reload();
  await page.getByText(/^Saved/).waitFor();
  assert.equal(await page.getByLabel('Height (cm)').inputValue(), '171');
  assert.equal(await page.getByLabel('Diet', { exact: true }).inputValue(), 'vegetarian');
  await page.getByLabel('Minutes per session').fill('75');
  await page.getByText('Unsaved changes.').waitFor();
  await page.getByRole('button', { name: 'Save profile' }).click();
  await page.getByRole('status').getByText(/^Saved/).waitFor();
  r = await apiRequest(pace, 'GET', '/api/v1/profile', undefined, await apiLogin(pace, user));
  assert.equal(r.json.session_minutes, 75);
  await page.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
  await checkA11y(page, 'saved profile, dark');
  await page.emulateMedia({ colorScheme: 'light' });

  // Another device changes the profile: saving over it is refused (If-Match,
  // 412) and the latest version can be loaded.
  const other = await apiLogin(pace, user);
  r = await apiRequest(pace, 'PUT', '/api/v1/profile', { ...r.json, updated_at: undefined, weight_kg: 64 }, other);
  assert.equal(r.status, 200, r.text);
  await page.getByLabel('Meals per day').fill('5');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await page.getByText('changed somewhere else').waitFor();
  assert.ok(trips.apiAnswers.some((x) => x.status === 412));
  await page.getByRole('button', { name: 'Load the latest version' }).click();
  await page.getByText(/^Saved/).waitFor();
  assert.equal(await page.getByLabel('Weight (kg)').inputValue(), '64');
  assert.equal(await page.getByLabel('Meals per day').inputValue(), '3');
  trips.assertClean();
});

test('plans: 409 profile_required tells a fresh user to fill in the profile', async (t) => {
  const user = await registerUser(pace);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user, '/app/plans');
  await page.getByText('No plans yet.').waitFor();
  await checkA11y(page, 'empty plans');
  await page.getByRole('button', { name: 'Request workout plan' }).click();
  const alert = page.getByRole('alert');
  await alert.getByText('You need a fitness profile').waitFor();
  await checkA11y(page, 'plans with profile_required');
  await alert.getByRole('link', { name: 'Fill in your profile' }).click();
  await page.waitForURL((u) => u.pathname === '/app/profile');
  await page.getByRole('heading', { level: 1, name: 'Fitness profile' }).waitFor();
  assert.ok(trips.apiAnswers.some((a) => a.status === 409), 'the 409 came from the API');
  trips.assertClean();
});

test('plans: a workout plan with tasks goes from queued to ready and reads well, on screen and in print', async (t) => {
  const { user, token } = await userWithProfile();
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user, '/app/plans');
  await page.getByText('No plans yet.').waitFor();

  await page.getByRole('radio', { name: 'Workout' }).check();
  await page.getByLabel('Weeks').fill('13'); // the server's field error, by the field
  await page.getByRole('button', { name: 'Request workout plan' }).click();
  await until(async () => (await page.getByLabel('Weeks').getAttribute('aria-invalid')) === 'true', 'the weeks error');
  assert.match(await page.locator('#rq-weeks-error').innerText(), /1 to 12/);
  await page.getByLabel('Weeks').fill('5');
  const tasksBox = page.getByLabel('Add a task for every training session');
  await tasksBox.check();
  await page.getByRole('button', { name: 'Request workout plan' }).click();

  const table = page.getByRole('table', { name: 'Your plans, newest first' });
  const row = table.getByRole('row').filter({ has: page.getByRole('link', { name: 'Workout plan' }) });
  await row.waitFor();
  // The 202 answer shows the plan as it was accepted; the watcher moves it on.
  assert.match(await row.innerText(), /Queued|Running|Ready/);
  await row.getByText('Ready', { exact: true }).waitFor();
  await page.getByRole('status').filter({ hasText: /: Ready\./ }).waitFor({ state: 'attached' });
  await checkA11y(page, 'plans list');

  const plans = await apiRequest(pace, 'GET', '/api/v1/plans', undefined, token);
  assert.equal(plans.json.items.length, 1, 'one plan (Idempotency-Key: no duplicate)');
  const plan = plans.json.items[0];
  assert.equal(plan.state, 'ready');
  assert.equal(plan.weeks, 5);
  const tasks = await apiRequest(pace, 'GET', '/api/v1/tasks?limit=100', undefined, token);
  const made = tasks.json.items.filter((x) => x.plan_id === plan.id);
  assert.equal(made.length, 5 * PROFILE.days_per_week, 'one task per session');

  await row.getByRole('link', { name: 'Workout plan' }).click();
  await page.waitForURL((u) => u.pathname === `/app/plans/${plan.id}`);
  await page.getByRole('heading', { level: 1, name: 'Workout plan' }).waitFor();
  await until(() => page.evaluate(() => document.activeElement?.tagName === 'H1'
    && document.activeElement.textContent.trim() === 'Workout plan'), 'focus on the loaded heading');
  const full = (await apiRequest(pace, 'GET', `/api/v1/plans/${plan.id}`, undefined, token)).json;
  for (const w of full.content.weeks) {
    const h = page.getByRole('heading', { level: 2, name: new RegExp(`^Week ${w.week}\\b`) });
    await h.waitFor();
    assert.equal(/Deload week/.test(await h.innerText()), w.deload, `week ${w.week} deload marker`);
  }
  assert.ok(full.content.weeks.some((w) => w.deload), 'a 5-week plan has a deload week');
  const week1 = page.getByRole('region', { name: /^Week 1\b/ });
  const s0 = full.content.weeks[0].sessions[0];
  await week1.getByRole('heading', { level: 3, name: new RegExp(s0.name) }).first().waitFor();
  const ex = week1.getByRole('table', { name: `Exercises of ${s0.name}, week 1` }).first();
  const x0 = s0.exercises[0];
  const exRow = ex.getByRole('row').filter({ has: page.getByRole('rowheader', { name: new RegExp(`^${x0.name}`) }) });
  const cells = await exRow.getByRole('cell').allInnerTexts();
  assert.equal(cells[0], String(x0.sets));
  assert.equal(cells[1], String(x0.reps));
  assert.match(cells[2], /\d/);
  await page.getByRole('heading', { level: 2, name: 'How this plan was built' }).waitFor();
  await checkA11y(page, 'workout plan');

  // Print: no navigation, no buttons, black on white.
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).isVisible(), false, 'nav hidden in print');
  assert.equal(await page.getByRole('button', { name: 'Print' }).isVisible(), false, 'buttons hidden in print');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.match(bg, /rgb\(255, 255, 255\)|rgba\(0, 0, 0, 0\)/);
  const breaks = await page.evaluate(() => [...document.querySelectorAll('.plan-week')]
    .map((e) => getComputedStyle(e).breakBefore));
  assert.equal(breaks[0], 'auto');
  assert.ok(breaks.slice(1).every((b) => b === 'page'), `page breaks between weeks: ${breaks}`);
  await page.emulateMedia({ media: 'screen', colorScheme: 'dark', reducedMotion: 'reduce' });
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).isVisible(), true);
  await checkA11y(page, 'workout plan, dark');
  await page.emulateMedia({ media: 'print', colorScheme: 'dark' });
  const printBg = await page.evaluate(() => getComputedStyle(document.querySelector('table.data')).backgroundColor);
  assert.equal(printBg, 'rgb(255, 255, 255)', 'no dark background in print');
  await page.emulateMedia({ media: 'screen', colorScheme: 'light' });

  // Delete it from its page: back to the list, which is empty again.
  await page.getByRole('button', { name: 'Delete plan' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL((u) => u.pathname === '/app/plans');
  await page.getByText('No plans yet.').waitFor();
  assert.equal((await apiRequest(pace, 'GET', `/api/v1/plans/${plan.id}`, undefined, token)).status, 404);
  trips.assertClean();
});

test('plans: a nutrition plan shows its targets, how they were derived, and the meals', async (t) => {
  const { user, token } = await userWithProfile();
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user, '/app/plans');
  await page.getByRole('radio', { name: 'Nutrition' }).check();
  assert.equal(await page.getByLabel('Add a task for every training session').count(), 0, 'tasks: workout plans only');
  await page.getByLabel('Weeks').fill('2');
  await page.getByRole('button', { name: 'Request nutrition plan' }).click();
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'Nutrition plan' }) });
  await row.getByText('Ready', { exact: true }).waitFor();
  await page.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
  await checkA11y(page, 'plans list, dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await row.getByRole('link', { name: 'Nutrition plan' }).click();
  await page.getByRole('heading', { level: 1, name: 'Nutrition plan' }).waitFor();

  const id = Number(new URL(page.url()).pathname.split('/').pop());
  const c = (await apiRequest(pace, 'GET', `/api/v1/plans/${id}`, undefined, token)).json.content;
  // Numbers as the browser formats them (its locale).
  const fmts = await page.evaluate((xs) => xs.map(([n, d]) => new Intl.NumberFormat(undefined,
    { maximumFractionDigits: d }).format(n)), [[c.energy.target_kcal, 0], [c.macros.protein_g, 1], [c.macros.fat_g, 1],
    [c.macros.carbs_g, 1]]);
  const fmt = (n, d = 0) => {
    const i = [[c.energy.target_kcal, 0], [c.macros.protein_g, 1], [c.macros.fat_g, 1], [c.macros.carbs_g, 1]]
      .findIndex(([m, e]) => m === n && e === d);
    return fmts[i];
  };

  const targets = page.getByRole('region', { name: 'Daily targets' });
  await targets.getByText(`${fmt(c.energy.target_kcal)} kcal a day`).waitFor();
  const macros = targets.getByRole('table', { name: 'Macronutrients a day' });
  for (const [name, g] of [['Protein', c.macros.protein_g], ['Fat', c.macros.fat_g], ['Carbohydrates', c.macros.carbs_g]]) {
    const cells = await macros.getByRole('row', { name: new RegExp(`^${name}`) }).getByRole('cell').allInnerTexts();
    assert.equal(cells[0], `${fmt(g, 1)} g`, name);
  }
  const deriv = page.getByRole('region', { name: 'How the targets were derived' });
  await deriv.getByText(c.energy.bmr_formula).waitFor();
  await deriv.getByText(c.energy.tdee_formula).waitFor();
  await deriv.getByText(c.macros.derivation).waitFor();
  await deriv.getByText('Pescatarian').waitFor(); // an input

  const meals = page.getByRole('region', { name: 'Meals' });
  const days = c.meal_plan.days;
  const day1 = meals.getByRole('table', { name: 'Meals of day 1' });
  for (const m of days[0].meals) {
    await day1.getByRole('rowheader', { name: new RegExp(`^${m.name}`, 'i') }).first().waitFor();
  }
  const item = days[0].meals[0].items[0];
  await day1.getByRole('rowheader', { name: item.food, exact: true }).first().waitFor();
  assert.equal(await meals.getByRole('table').count(), days.length);
  await checkA11y(page, 'nutrition plan');
  // On a phone the day tables scroll sideways: each scrolling box is a
  // focusable, named region (keyboard users can scroll it).
  await page.setViewportSize({ width: 360, height: 740 });
  await until(() => page.locator('.table-wrap[tabindex="0"][role="region"]').count(), 'a scrolling region');
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 360, 'the page itself does not scroll sideways');
  await checkA11y(page, 'nutrition plan on a phone');
  await page.setViewportSize({ width: 1280, height: 720 });

  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).isVisible(), false);
  await page.emulateMedia({ media: 'screen' });
  trips.assertClean();
});

test('plans: the list loads more pages through the cursor, and a plan is deleted from it', async (t) => {
  const { user, token } = await userWithProfile();
  for (let i = 0; i < 22; i++) {
    const r = await apiRequest(pace, 'POST', '/api/v1/plans', { kind: i % 2 ? 'workout' : 'nutrition', weeks: 1 }, token);
    assert.equal(r.status, 202, r.text);
  }
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await signIn(page, user, '/app/plans');
  const table = page.getByRole('table', { name: 'Your plans, newest first' });
  const rows = table.locator('tbody tr');
  await until(async () => (await rows.count()) === 20, 'the first page');
  await page.getByRole('button', { name: 'Load more' }).focus();
  await page.keyboard.press('Enter');
  await until(async () => (await rows.count()) === 22, 'the second page');
  const focused = await page.evaluate(() => [...document.querySelectorAll('#plans-table tbody tr')]
    .findIndex((tr) => tr.contains(document.activeElement)));
  assert.equal(focused, 20, 'focus on the first plan the page added');
  assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0, 'no more pages');
  await until(async () => (await table.getByText('Ready', { exact: true }).count()) === 22, 'every plan ready');

  const last = (await apiRequest(pace, 'GET', '/api/v1/plans?limit=100', undefined, token)).json.items.at(-1);
  const del = page.getByRole('button', { name: `Delete ${last.kind === 'workout' ? 'Workout' : 'Nutrition'} plan ${last.id}`, exact: true });
  await del.click();
  const dlg = page.getByRole('dialog');
  await dlg.getByRole('button', { name: 'Cancel' }).waitFor();
  await page.keyboard.press('Escape'); // the dialog closes from the keyboard, nothing deleted
  await dlg.waitFor({ state: 'detached' });
  assert.equal(await rows.count(), 22, 'cancel keeps it');
  await del.click();
  await dlg.getByRole('button', { name: 'Delete' }).click();
  await until(async () => (await rows.count()) === 21, 'the row to go');
  assert.equal((await apiRequest(pace, 'GET', `/api/v1/plans/${last.id}`, undefined, token)).status, 404);
  trips.assertClean();
});

test('plans: a queued plan is watched with a back-off, and the watching stops when the view is left', async (t) => {
  // No job workers: the plan stays queued, so the watcher keeps polling.
  const idle = await startPace({ env: { PACE_JOB_WORKERS: '0' } });
  t.after(() => idle.stop());
  const { user } = await userWithProfile(idle);
  const { context, page, trips } = await openPage(idle);
  t.after(() => context.close());
  const polls = [];
  page.on('request', (r) => {
    if (r.method() === 'GET' && /\/api\/v1\/plans\/\d+$/.test(new URL(r.url()).pathname)) polls.push(Date.now());
  });
  await signIn(page, user, '/app/plans');
  await page.getByRole('button', { name: 'Request workout plan' }).click();
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'Workout plan' }) });
  await row.getByText('Queued', { exact: true }).waitFor();
  await until(() => polls.length >= 4, 'four polls');
  const gaps = polls.slice(1).map((x, i) => x - polls[i]);
  assert.ok(gaps.every((g, i) => i === 0 || g >= gaps[i - 1] - 150), `the gaps grow: ${gaps}`);
  assert.ok(gaps.at(-1) >= 1000, `backed off: ${gaps}`);

  // The plan's own page says it is waiting, and watches it too.
  await row.getByRole('link', { name: 'Workout plan' }).click();
  await page.getByRole('status').filter({ hasText: 'Waiting to be made' }).waitFor();
  await checkA11y(page, 'queued plan');
  const before = polls.length;
  await until(() => polls.length > before, 'a poll from the plan page');

  // Leave: no more polls.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Profile' }).click();
  await page.getByRole('heading', { level: 1, name: 'Fitness profile' }).waitFor();
  const left = polls.length;
  await new Promise((r) => setTimeout(r, 4000));
  assert.equal(polls.length, left, 'no polling after leaving the view');
  trips.assertClean();
});

// The API suite's stand-in for an OpenAI-compatible provider: its plans have
// only the core fields (no derivation, no per-food nutrients, no RIR).
async function fakeLLM(t) {
  const port = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
  const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../api/fake_llm.py');
  const child = spawn('python3', [script, '--port', String(port)], { stdio: 'ignore' });
  t.after(() => child.kill());
  await until(() => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  }), 'the fake provider');
  return `http://127.0.0.1:${port}/v1/chat/completions`;
}

test('plans made by a language model (fewer fields) still read well', async (t) => {
  const url = await fakeLLM(t);
  const llm = await startPace({ env: { PACE_LLM_URL: url, PACE_LLM_MODEL: 'fake', PACE_LLM_API_KEY: 'sk-test' } });
  t.after(() => llm.stop());
  const { user, token } = await userWithProfile(llm);
  const w = (await apiRequest(llm, 'POST', '/api/v1/plans', { kind: 'workout', weeks: 2 }, token)).json;
  const n = (await apiRequest(llm, 'POST', '/api/v1/plans', { kind: 'nutrition', weeks: 1 }, token)).json;
  const { context, page, trips } = await openPage(llm);
  t.after(() => context.close());

  await signIn(page, user, `/app/plans/${w.id}`);
  await page.getByText('language model').waitFor();
  await page.getByRole('heading', { level: 2, name: 'Week 2' }).waitFor();
  const full = (await apiRequest(llm, 'GET', `/api/v1/plans/${w.id}`, undefined, token)).json;
  assert.equal(full.generator, 'llm');
  const s0 = full.content.weeks[0].sessions[0];
  const table = page.getByRole('table', { name: `Exercises of ${s0.name}, week 1` });
  assert.deepEqual(await table.locator('thead th').allInnerTexts(), ['Exercise', 'Sets', 'Reps', 'Rest'],
    'no RIR or load columns when the plan has none');
  await checkA11y(page, 'LLM workout plan');

  await page.getByRole('link', { name: 'All plans' }).click();
  await page.getByRole('link', { name: 'Nutrition plan' }).click();
  await page.getByRole('heading', { level: 1, name: 'Nutrition plan' }).waitFor();
  const deriv = page.getByRole('region', { name: 'How the targets were derived' });
  await deriv.getByText('gave no derivation').waitFor();
  await deriv.getByText('add up to the energy target').waitFor();
  const day1 = page.getByRole('table', { name: 'Meals of day 1' });
  assert.deepEqual(await day1.locator('thead th').allInnerTexts(), ['Food', 'Amount']);
  await checkA11y(page, 'LLM nutrition plan');
  assert.equal((await apiRequest(llm, 'GET', `/api/v1/plans/${n.id}`, undefined, token)).json.generator, 'llm');
  trips.assertClean();
});
