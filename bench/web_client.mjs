// The web client's first load, as a browser sees it: Debian's Chromium
// (headless, through the browser tests' pinned playwright-core) opens pace's
// /app/ in a fresh profile (nothing cached, no session) and waits until the
// login form can be used; then, signed in and with the assets cached, opens
// /app/tasks until the task list is on screen. Times are the page's own
// clock (performance.now(): from the navigation's start), bytes are what
// went over the wire. Prints a Markdown table; run by bench/web.sh.
//
//   node bench/web_client.mjs URL [loads]     (URL: a running pace)
//
// Goals (issue 15): the first load under 100 KB compressed and interactive
// within 300 ms on loopback.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/web/package.json'));
const { chromium } = require('playwright-core');

const base = process.argv[2];
const loads = Number(process.argv[3] || 20);
if (!base) {
  console.error('usage: node bench/web_client.mjs URL [loads]');
  process.exit(2);
}

const PASSWORD = 'umbrella-quarterly-lantern-42';

function pct(values, p) {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))];
}

// Bytes on the wire (headers + bodies) of every response a page loaded.
function countBytes(page) {
  const pending = [];
  page.on('requestfinished', (req) => pending.push(req.sizes().then((s) => s.responseHeadersSize + s.responseBodySize)));
  return async () => (await Promise.all(pending)).reduce((a, b) => a + b, 0);
}

// Waits until the page's own clock says the element is there and usable.
async function interactiveAt(page, selector) {
  const handle = await page.waitForFunction(
    (sel) => {
      const el = document.querySelector(sel);
      return el && !el.disabled && el.getClientRects().length > 0 ? performance.now() : null;
    },
    selector,
    { polling: 'raf', timeout: 15000 },
  );
  return handle.jsonValue();
}

const browser = await chromium.launch({ executablePath: process.env.PACE_CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
try {
  const cold = [];
  const bytes = [];
  for (let i = 0; i < loads; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const total = countBytes(page);
    await page.goto(`${base}/app/`, { waitUntil: 'commit' });
    cold.push(await interactiveAt(page, 'main form button[type=submit]'));
    await page.waitForLoadState('load');
    await page.waitForTimeout(500); // the session check after load (a 401 without a cookie)
    bytes.push(await total());
    await context.close();
  }

  // A user of our own, signed in through the page once; then warm loads.
  const name = `bench${Date.now().toString(36)}`;
  const reg = await fetch(`${base}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: name, email: `${name}@example.com`, password: PASSWORD }),
  });
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`);
  const context = await browser.newContext();
  const login = await context.newPage();
  await login.goto(`${base}/app/login`);
  await login.getByLabel('Username or email').fill(name);
  await login.getByLabel('Password').fill(PASSWORD);
  await login.getByRole('button', { name: 'Log in' }).click();
  await login.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  const warm = [];
  for (let i = 0; i < loads; i++) {
    const page = await context.newPage();
    await page.goto(`${base}/app/tasks`, { waitUntil: 'commit' });
    warm.push(await interactiveAt(page, 'main h1 ~ * button, main button'));
    await page.close();
  }
  await context.close();

  const ms = (v) => `${v.toFixed(0)} ms`;
  console.log(`| load (${loads} each) | median | p95 | max | bytes on the wire |`);
  console.log('|---|---:|---:|---:|---:|');
  console.log(
    `| /app/ cold (fresh profile) until the login form is usable | ${ms(pct(cold, 50))} | ${ms(pct(cold, 95))} | ` +
      `${ms(Math.max(...cold))} | ${pct(bytes, 50)} B |`,
  );
  console.log(
    `| /app/tasks signed in (assets cached) until the list is usable | ${ms(pct(warm, 50))} | ${ms(pct(warm, 95))} | ` +
      `${ms(Math.max(...warm))} | |`,
  );
  const goal = pct(cold, 50) <= 300 && pct(bytes, 50) < 100 * 1024;
  console.log(`\ngoals (first load < 100 KB, usable within 300 ms): ${goal ? 'met' : 'NOT met'}`);
} finally {
  await browser.close();
}
