// The web client's task list and editor: create (with an Idempotency-Key),
// edit, done, filters and sort in the URL, infinite scroll, delete with
// undo, and the 412 conflict from another client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPace, openPage, checkA11y, registerUser, apiLogin, apiRequest } from './harness.mjs';

let pace;

async function signedIn(t) {
  const user = await registerUser(pace);
  const token = await apiLogin(pace, user);
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  await page.goto('/app/login');
  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  return { user, token, context, page, trips };
}

async function createTask(token, body) {
  const r = await apiRequest(pace, 'POST', '/api/v1/tasks', body, token);
  assert.equal(r.status, 201, r.text);
  return r.json;
}

// Waits until the list shows exactly these titles, in this order, settled.
async function expectTitles(page, expected) {
  try {
    await page.waitForFunction((want) => {
      const list = document.querySelector('.task-list');
      const got = [...document.querySelectorAll('.task-title')].map((e) => e.textContent);
      const settled = !list || list.getAttribute('aria-busy') !== 'true';
      return settled && JSON.stringify(got) === JSON.stringify(want);
    }, expected, { timeout: 5000 });
  } catch {
    assert.deepEqual(await page.locator('.task-title').allInnerTexts(), expected);
  }
}

const taskItems = (page) => page.getByRole('list', { name: 'Tasks' }).getByRole('listitem');

test.before(async () => { pace = await startPace(); });
test.after(async () => { await pace.stop(); });

test('create (with an Idempotency-Key), edit, mark done', async (t) => {
  const { token, page, trips } = await signedIn(t);
  await page.getByText('No tasks yet.').waitFor();
  await checkA11y(page, 'empty task list');

  const posts = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/tasks') posts.push(r.headers());
  });
  await page.getByRole('link', { name: 'New task' }).click();
  await page.getByRole('heading', { level: 1, name: 'New task' }).waitFor();
  assert.equal(await page.title(), 'New task · pace');
  await checkA11y(page, 'task editor (new)');
  // The title is required: said next to the field without a request.
  await page.getByRole('button', { name: 'Create task' }).click();
  await page.locator('#f-title-error').waitFor();
  assert.equal(posts.length, 0);

  await page.getByLabel('Title').fill('Buy running shoes');
  await page.getByLabel('Description').fill('Trail, size 43');
  await page.getByLabel('Priority', { exact: true }).selectOption({ label: 'High' });
  await page.getByLabel('Due date').fill('2030-05-17');
  await page.getByRole('button', { name: 'Create task' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  await page.getByRole('link', { name: 'Buy running shoes', exact: true }).waitFor();
  assert.equal(posts.length, 1);
  assert.match(posts[0]['idempotency-key'] || '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(posts[0].authorization || '', /^Bearer /);

  const list = (await apiRequest(pace, 'GET', '/api/v1/tasks', undefined, token)).json.items;
  assert.equal(list.length, 1);
  const task = list[0];
  assert.deepEqual([task.title, task.description, task.priority, task.due_date, task.status],
    ['Buy running shoes', 'Trail, size 43', 3, '2030-05-17', 'todo']);
  await checkA11y(page, 'task list');

  // Edit: the editor PATCHes with If-Match.
  const patches = [];
  page.on('request', (r) => { if (r.method() === 'PATCH') patches.push(r.headers()); });
  await page.getByRole('link', { name: 'Edit Buy running shoes' }).click();
  await page.getByRole('heading', { level: 1, name: 'Edit task' }).waitFor();
  await page.getByLabel('Title').waitFor();
  assert.equal(await page.getByLabel('Title').inputValue(), 'Buy running shoes');
  await checkA11y(page, 'task editor (edit)');
  await page.getByLabel('Title').fill('Buy trail shoes');
  await page.getByLabel('Status').selectOption({ label: 'In progress' });
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByRole('link', { name: 'Buy trail shoes', exact: true }).waitFor();
  assert.equal(patches.length, 1);
  assert.match(patches[0]['if-match'] || '', /^W\/"t\d+-v\d+"$/);
  let now = (await apiRequest(pace, 'GET', `/api/v1/tasks/${task.id}`, undefined, token)).json;
  assert.equal(now.title, 'Buy trail shoes');
  assert.equal(now.status, 'in_progress');
  assert.equal(now.description, 'Trail, size 43');

  // Done, from the list's checkbox.
  await page.getByRole('checkbox', { name: 'Done: Buy trail shoes' }).check();
  await page.getByText('Marked “Buy trail shoes” done.').waitFor();
  now = (await apiRequest(pace, 'GET', `/api/v1/tasks/${task.id}`, undefined, token)).json;
  assert.equal(now.status, 'done');
  trips.assertClean();
});

test('dark mode: the list, the editor and a missing page pass axe', async (t) => {
  const user = await registerUser(pace);
  const token = await apiLogin(pace, user);
  await createTask(token, { title: 'Overdue one', priority: 3, due_date: '2020-01-01' });
  await createTask(token, { title: 'In progress one', priority: 2, status: 'in_progress' });
  await createTask(token, { title: 'Done one', status: 'done' });
  const { context, page, trips } = await openPage(pace, { contextOptions: { colorScheme: 'dark', reducedMotion: 'reduce' } });
  t.after(() => context.close());
  await page.goto('/app/login');
  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('link', { name: 'Overdue one', exact: true }).waitFor();
  await checkA11y(page, 'task list (dark)');
  await page.getByRole('link', { name: 'Edit Overdue one' }).click();
  await page.getByLabel('Title').waitFor();
  await checkA11y(page, 'task editor (dark)');
  await page.goto('/app/nowhere');
  await page.getByRole('heading', { level: 1, name: 'Page not found' }).waitFor();
  assert.equal(await page.title(), 'Not found · pace');
  await checkA11y(page, 'not found (dark)');
  await page.getByRole('link', { name: 'Go to the start page' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  trips.assertClean();
});

test('filters and sort live in the URL: reload keeps them, back undoes them', async (t) => {
  const { token, page, trips } = await signedIn(t);
  await createTask(token, { title: 'low todo', priority: 1, due_date: '2030-01-10' });
  await createTask(token, { title: 'high done', priority: 3, status: 'done', due_date: '2030-03-01' });
  await createTask(token, { title: 'mid done', priority: 2, status: 'done', due_date: '2030-02-01' });
  await createTask(token, { title: 'none in progress', status: 'in_progress' });
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  await expectTitles(page, ['none in progress', 'mid done', 'high done', 'low todo']);

  await page.getByRole('checkbox', { name: 'Done', exact: true }).check();
  await page.waitForURL(/status=done/);
  await expectTitles(page, ['mid done', 'high done']);

  await page.getByLabel('Sort', { exact: true }).selectOption({ label: 'Priority, highest first' });
  await page.waitForURL(/sort=-priority/);
  await expectTitles(page, ['high done', 'mid done']);
  assert.equal(new URL(page.url()).search, '?status=done&sort=-priority');

  await page.reload();
  await expectTitles(page, ['high done', 'mid done']);
  assert.equal(await page.getByRole('checkbox', { name: 'Done', exact: true }).isChecked(), true);
  assert.equal(await page.getByLabel('Sort', { exact: true }).inputValue(), '-priority');

  await page.goBack();
  await page.waitForURL((u) => u.search === '?status=done');
  await expectTitles(page, ['mid done', 'high done']);
  assert.equal(await page.getByLabel('Sort', { exact: true }).inputValue(), '-created_at');
  await page.goBack();
  await page.waitForURL((u) => u.search === '');
  await expectTitles(page, ['none in progress', 'mid done', 'high done', 'low todo']);
  assert.equal(await page.getByRole('checkbox', { name: 'Done', exact: true }).isChecked(), false);

  // Due dates and priority.
  await page.getByLabel('Due after').fill('2030-01-15');
  await page.waitForURL(/due_after=2030-01-15/);
  await expectTitles(page, ['mid done', 'high done']);
  await page.getByLabel('Due before').fill('2030-02-15');
  await page.waitForURL(/due_before=2030-02-15/);
  await expectTitles(page, ['mid done']);
  await page.getByRole('link', { name: 'Clear filters' }).first().click();
  await page.waitForURL((u) => u.search === '');
  await expectTitles(page, ['none in progress', 'mid done', 'high done', 'low todo']);
  await page.getByLabel('Priority', { exact: true }).selectOption({ label: 'Low' });
  await page.waitForURL(/priority=1/);
  await expectTitles(page, ['low todo']);
  await checkA11y(page, 'filtered task list');
  trips.assertClean();
});

test('infinite scroll loads every page through next_cursor', async (t) => {
  const { token, page, trips } = await signedIn(t);
  for (let i = 1; i <= 45; i++) await createTask(token, { title: `task ${String(i).padStart(2, '0')}` });
  const pages = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/v1/tasks' && r.method() === 'GET') pages.push(u.searchParams.get('cursor'));
  });
  await page.reload();
  await page.getByRole('link', { name: 'task 45', exact: true }).waitFor();
  // The page's end may be in view at once (a tall window): more loads then.
  await page.waitForFunction(() => document.querySelectorAll('.task').length >= 20);
  for (let i = 0; i < 5 && (await taskItems(page).count()) < 45; i++) {
    await page.locator('.sentinel').scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
  }
  await page.getByText('All tasks are shown.').waitFor();
  assert.equal(await taskItems(page).count(), 45);
  const titles = await page.locator('.task-title').allInnerTexts();
  assert.equal(new Set(titles).size, 45);
  assert.equal(titles[0], 'task 45');
  assert.equal(titles[44], 'task 01');
  assert.equal(pages.length, 3);
  assert.equal(pages[0], null);
  assert.ok(pages[1] && pages[2] && pages[1] !== pages[2]);
  trips.assertClean();
});

test('"Load more" pages with the keyboard', async (t) => {
  const { token, page, trips } = await signedIn(t);
  for (let i = 1; i <= 25; i++) await createTask(token, { title: `k ${i}` });
  // A short window: the sentinel is far below, only the button loads more.
  await page.setViewportSize({ width: 800, height: 400 });
  await page.reload();
  await page.getByRole('link', { name: 'k 25', exact: true }).waitFor();
  const more = page.getByRole('button', { name: 'Load more' });
  assert.equal(await taskItems(page).count(), 20);
  await more.focus();
  await page.keyboard.press('Enter');
  await page.getByText('All tasks are shown.').waitFor();
  assert.equal(await taskItems(page).count(), 25);
  trips.assertClean();
});

test('delete with undo: the DELETE waits for the toast', async (t) => {
  const { token, page, trips } = await signedIn(t);
  const a = await createTask(token, { title: 'keep me' });
  const b = await createTask(token, { title: 'delete me' });
  await page.reload();
  await page.getByRole('link', { name: 'delete me', exact: true }).waitFor();
  const deletes = [];
  page.on('request', (r) => { if (r.method() === 'DELETE') deletes.push(r.url()); });

  await page.getByRole('button', { name: 'Delete keep me' }).click();
  await page.getByRole('link', { name: 'keep me', exact: true }).waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Undo' }).click();
  await page.getByRole('link', { name: 'keep me', exact: true }).waitFor();
  await page.waitForTimeout(500);
  assert.equal(deletes.length, 0);
  assert.equal((await apiRequest(pace, 'GET', `/api/v1/tasks/${a.id}`, undefined, token)).status, 200);

  await page.getByRole('button', { name: 'Delete delete me' }).click();
  await page.getByRole('link', { name: 'delete me', exact: true }).waitFor({ state: 'detached' });
  assert.equal((await apiRequest(pace, 'GET', `/api/v1/tasks/${b.id}`, undefined, token)).status, 200,
    'not deleted while Undo is offered');
  await page.getByRole('button', { name: 'Dismiss' }).last().click(); // accept the deletion now
  await page.waitForFunction(() => true);
  for (let i = 0; i < 50; i++) {
    if ((await apiRequest(pace, 'GET', `/api/v1/tasks/${b.id}`, undefined, token)).status === 404) break;
    await page.waitForTimeout(100);
  }
  assert.equal((await apiRequest(pace, 'GET', `/api/v1/tasks/${b.id}`, undefined, token)).status, 404);
  assert.equal(deletes.length, 1);
  await page.reload();
  await page.getByRole('link', { name: 'keep me', exact: true }).waitFor();
  assert.equal(await taskItems(page).count(), 1);

  // From the editor: back on the list it is gone, and Undo there brings it back.
  await page.getByRole('link', { name: 'Edit keep me' }).click();
  await page.getByLabel('Title').waitFor();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  await page.getByText('No tasks yet.').waitFor();
  await page.getByRole('button', { name: 'Undo' }).click();
  await page.getByRole('link', { name: 'keep me', exact: true }).waitFor();
  assert.equal(deletes.length, 1);
  assert.equal((await apiRequest(pace, 'GET', `/api/v1/tasks/${a.id}`, undefined, token)).status, 200);
  trips.assertClean();
});

for (const choice of ['mine', 'theirs']) {
  test(`412 from another client: both versions shown, keep ${choice}`, async (t) => {
    const { user, token, page, trips } = await signedIn(t);
    const task = await createTask(token, { title: 'Plan the long run', description: 'Sunday' });
    await page.goto(`/app/tasks/${task.id}`);
    await page.getByLabel('Title').waitFor();
    assert.equal(await page.getByLabel('Title').inputValue(), 'Plan the long run');

    // Another device changes the task between the page's load and its save.
    const other = await apiLogin(pace, user); // its own session and token
    const r = await apiRequest(pace, 'PATCH', `/api/v1/tasks/${task.id}`, { description: 'Saturday, 25 km', priority: 2 }, other);
    assert.equal(r.status, 200);

    await page.getByLabel('Title').fill('Plan the long run (hills)');
    await page.getByRole('button', { name: 'Save changes' }).click();
    const panel = page.getByRole('region', { name: 'This task was changed on another device' });
    await panel.waitFor();
    const mine = panel.getByRole('region', { name: 'Your version' });
    const theirs = panel.getByRole('region', { name: 'Current version on the server' });
    assert.match(await mine.innerText(), /Plan the long run \(hills\)/);
    assert.match(await mine.innerText(), /Sunday/);
    assert.match(await theirs.innerText(), /Saturday, 25 km/);
    assert.match(await theirs.innerText(), /Medium/);
    assert.doesNotMatch(await theirs.innerText(), /hills/);
    await checkA11y(page, 'conflict view');

    if (choice === 'mine') {
      await panel.getByRole('button', { name: 'Keep my version' }).click();
      await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
      const now = (await apiRequest(pace, 'GET', `/api/v1/tasks/${task.id}`, undefined, token)).json;
      assert.equal(now.title, 'Plan the long run (hills)');
      assert.equal(now.description, 'Sunday');
      assert.equal(now.priority, 0);
    } else {
      await panel.getByRole('button', { name: "Keep the server's version" }).click();
      await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
      const now = (await apiRequest(pace, 'GET', `/api/v1/tasks/${task.id}`, undefined, token)).json;
      assert.equal(now.title, 'Plan the long run');
      assert.equal(now.description, 'Saturday, 25 km');
      assert.equal(now.priority, 2);
      await page.getByRole('link', { name: 'Plan the long run', exact: true }).waitFor();
    }
    trips.assertClean();
  });
}

test('a create refused with 429 waits Retry-After and retries with the same Idempotency-Key', async (t) => {
  // Its own server: 60 writes a minute per user (1 a second), in bursts of 60.
  const own = await startPace({ env: { PACE_RATE_LIMITS: 'on', PACE_RATE_LIMIT_WRITES: '60' } });
  t.after(() => own.stop());
  const user = await registerUser(own);
  const token = await apiLogin(own, user);
  const { context, page, trips } = await openPage(own);
  t.after(() => context.close());
  await page.goto('/app/login');
  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  await page.getByRole('link', { name: 'New task' }).click();
  await page.getByLabel('Title').fill('after the limit');
  // Spend the burst, so that the page's create is refused once (Retry-After: 1).
  let refused = false;
  for (let i = 0; i < 100 && !refused; i++) {
    const r = await apiRequest(own, 'POST', '/api/v1/tasks', { title: `filler ${i}` }, token);
    refused = r.status === 429;
  }
  assert.ok(refused);
  const posts = [];
  page.on('response', (r) => {
    if (r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/tasks') {
      posts.push({ status: r.status(), key: r.request().headers()['idempotency-key'], retryAfter: r.headers()['retry-after'] });
    }
  });
  await page.getByRole('button', { name: 'Create task' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor({ timeout: 20000 });
  assert.ok(posts.length >= 2, JSON.stringify(posts));
  assert.equal(posts[0].status, 429);
  assert.ok(Number(posts[0].retryAfter) >= 1);
  assert.equal(posts.at(-1).status, 201);
  assert.equal(new Set(posts.map((p) => p.key)).size, 1, 'one Idempotency-Key for the retries');
  trips.assertClean();
});
