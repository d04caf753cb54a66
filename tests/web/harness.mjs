// The browser-test harness: starts the real pace binary, drives Debian's
// Chromium through playwright-core, and watches every page for the things
// no test may leave behind (console errors, page errors, CSP violations,
// requests to any host but pace). Test files import from here only.
//
//   startPace({env})            -> {url, dataDir, log(), stop()}
//   openPage(pace, {context})   -> {browser, context, page, trips}
//   newPage(context)            -> {browser, context, page, trips}  (a second tab)
//   checkA11y(page, label)      -> axe-core; throws on serious/critical
//   registerUser(pace, over)    -> {username, email, password}
//   apiLogin(pace, user)        -> access token
//   signIn(page, user, next)    -> through the login form; lands on next (or the task list)
//   startSmtpSink()             -> an SMTP server keeping what pace mails (smtp-sink.mjs):
//                                  {url (for PACE_SMTP_URL), messages, link(to, page), stop()}
//   totp(secret, step)          -> the RFC 6238 code of a base32 secret; totpStep() is now's step
//
// trips: assertClean(label), list(), clear(), allow(pattern) (a console
// error a test expects), apiAnswers (the API 4xx the page got: answers,
// not trips). openPage shares one browser per test file, one context per
// call. Everything started here is stopped at the end of the test file even
// when a test fails (a root `after` hook); pace dies with the test process.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startSmtpSink as startSink } from './smtp-sink.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export const CHROMIUM = process.env.PACE_CHROMIUM || '/usr/bin/chromium';
export const PACE_BIN = process.env.PACE_BIN || path.resolve(here, '../../build/pace');
const SETPRIV = '/usr/bin/setpriv';
export const PASSWORD = 'umbrella-quarterly-lantern-42';
export const SECRET = 'web-test-secret-0123456789abcdef0123456789';

// Cheap hashing and no rate limits: the suite registers many users quickly.
export const BASE_ENV = {
  PACE_JWT_SECRET: SECRET,
  PACE_ARGON2_MEMORY_KIB: '8192',
  PACE_ARGON2_ITERATIONS: '1',
  PACE_RATE_LIMITS: 'off',
  PACE_MAX_QUEUED_JOBS_PER_USER: '0',
  PACE_LOG_LEVEL: 'warn',
};

const READY_DEADLINE_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const DEFAULT_TIMEOUT_MS = 15_000;

const running = new Set(); // pace handles not yet stopped
const browsers = new Set(); // browsers not yet closed
const sinks = new Set(); // SMTP sinks not yet stopped

after(async () => {
  for (const b of [...browsers]) await b.close().catch(() => {});
  for (const p of [...running]) await p.stop();
  for (const s of [...sinks]) await s.stop();
});

process.on('exit', () => {
  for (const p of running) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(p.dataDir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ pace

// Data dirs left by a test process that crashed (its pace died with it, see
// setpriv below): pace-web-<pid>-* whose pid is gone.
for (const name of readdirSync(os.tmpdir())) {
  const m = /^pace-web-(\d+)-/.exec(name);
  if (!m) continue;
  try {
    process.kill(Number(m[1]), 0);
  } catch (e) {
    if (e.code === 'ESRCH') rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts pace on a free loopback port with a fresh data dir; resolves once /ready answers 200. */
export async function startPace({ env = {} } = {}) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(env);
    } catch (e) {
      lastError = e;
      if (!e.portInUse) break;
    }
  }
  throw lastError;
}

async function startOnce(env) {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `pace-web-${process.pid}-`));
  const url = `http://127.0.0.1:${port}`;
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir];
  // setpriv --pdeathsig: pace gets SIGKILL if this process dies without
  // stopping it (a crash, a kill from the runner's timeout).
  const [cmd, argv] = existsSync(SETPRIV)
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', PACE_BIN, ...args]]
    : [PACE_BIN, args];
  const child = spawn(cmd, argv, {
    env: { ...process.env, ...BASE_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-64 * 1024);
    if (process.env.PACE_WEB_TEST_LOG) process.stderr.write(chunk);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    child.on('error', (err) => {
      exited = { code: null, signal: null, err };
      resolve(exited);
    });
  });

  const handle = {
    url,
    port,
    dataDir,
    pid: child.pid,
    log: () => output,
    async stop() {
      if (!running.has(handle)) return;
      running.delete(handle);
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exit;
        clearTimeout(t);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  running.add(handle);

  const deadline = Date.now() + READY_DEADLINE_MS;
  for (;;) {
    if (exited) {
      await handle.stop();
      const why = exited.err ? exited.err.message : `exit code ${exited.code}, signal ${exited.signal}`;
      const e = new Error(`pace (${PACE_BIN}) exited before it was ready (${why}):\n${output}`);
      e.portInUse = /address already in use|EADDRINUSE/i.test(output);
      throw e;
    }
    try {
      const r = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return handle;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await handle.stop();
      throw new Error(`pace did not answer 200 on /ready within ${READY_DEADLINE_MS} ms:\n${output}`);
    }
    await sleep(25);
  }
}

// ------------------------------------------------------------------ browser

let shared = null; // the browser openPage uses, launched on first use

/**
 * Debian's Chromium, headless (playwright's own downloads are not used).
 * One browser per test process is shared by openPage (each call gets its own
 * context, so cookies and storage are not shared); closing it is fine, the
 * next openPage launches another. `{fresh: true}` launches a separate one.
 */
export async function launchBrowser({ fresh = false } = {}) {
  if (!fresh && shared) return shared;
  const launching = chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox'],
  });
  if (!fresh) shared = launching;
  let browser;
  try {
    browser = await launching;
  } catch (e) {
    if (shared === launching) shared = null;
    throw e;
  }
  browsers.add(browser);
  browser.on('disconnected', () => {
    browsers.delete(browser);
    if (shared === launching) shared = null;
  });
  return browser;
}

const contextInfo = new WeakMap(); // context -> {origin, pageTrips: WeakMap(page -> trips)}

async function prepareContext(context, origin) {
  if (contextInfo.has(context)) return contextInfo.get(context);
  const info = { origin, pageTrips: new WeakMap() };
  contextInfo.set(context, info);
  context.setDefaultTimeout(DEFAULT_TIMEOUT_MS);
  // CSP violations as the page sees them (the console message is checked too).
  await context.exposeBinding('__paceTripwire', (source, v) => {
    const trips = info.pageTrips.get(source.page);
    if (trips) trips.record('csp', `${v.directive} blocked ${v.blocked || '(inline)'} at ${v.source}`);
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = globalThis.__paceTripwire;
      if (typeof report === 'function') {
        report({
          directive: e.effectiveDirective || e.violatedDirective,
          blocked: e.blockedURI,
          source: `${e.sourceFile || e.documentURI}:${e.lineNumber}`,
        });
      }
    });
  });
  return info;
}

class Trips {
  constructor(origin) {
    this.origin = origin;
    this.items = []; // {kind, text}
    this.apiAnswers = []; // API 4xx the page received (expected answers, not trips)
    this.allowed = [];
  }

  record(kind, text) {
    this.items.push({ kind, text });
  }

  /** Tolerates a console error matching `pattern` (RegExp or substring) for this page. */
  allow(pattern) {
    this.allowed.push(pattern);
  }

  /** The trips so far, without the allowed ones. */
  list() {
    return this.items.filter(
      (t) => !this.allowed.some((p) => (p instanceof RegExp ? p.test(t.text) : t.text.includes(p))),
    );
  }

  clear() {
    this.items = [];
  }

  /** Throws listing every trip: console errors, page errors, CSP violations, off-site requests. */
  assertClean(label = '') {
    const left = this.list();
    if (left.length) {
      const lines = left.map((t) => `  [${t.kind}] ${t.text}`).join('\n');
      throw new Error(`tripwires${label ? ` (${label})` : ''}:\n${lines}`);
    }
  }
}

function wirePage(page, info) {
  const trips = new Trips(info.origin);
  info.pageTrips.set(page, trips);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const loc = msg.location()?.url || '';
    // Chromium logs every HTTP error a fetch receives. An API 4xx is one of
    // the API's documented answers (401 before login, 412, 422 ...): the
    // client handles it, so it is noted, not tripped on. 5xx and a 4xx on
    // anything that is not the API (a missing asset) stay trips.
    const m = /^Failed to load resource: the server responded with a status of (\d{3})/.exec(text);
    if (m && m[1].startsWith('4') && loc) {
      try {
        const u = new URL(loc);
        if (u.origin === info.origin && u.pathname.startsWith('/api/')) {
          trips.apiAnswers.push({ status: Number(m[1]), url: loc });
          return;
        }
      } catch {
        // not a URL: keep it as a trip
      }
    }
    const kind = /Content Security Policy/i.test(text) ? 'csp' : 'console';
    trips.record(kind, loc ? `${text} (${loc})` : text);
  });
  page.on('pageerror', (err) => trips.record('pageerror', err.stack || String(err)));
  page.on('request', (req) => {
    const url = req.url();
    let u;
    try {
      u = new URL(url);
    } catch {
      trips.record('offsite', url);
      return;
    }
    if (!/^(https?|wss?):$/.test(u.protocol)) return; // data:, blob:, about:
    if (u.origin !== info.origin) trips.record('offsite', `${req.method()} ${url}`);
  });
  page.on('crash', () => trips.record('crash', 'the page crashed'));
  return trips;
}

/**
 * A page in headless Chromium with tripwires. Without `context`, launches a
 * browser and a fresh context (baseURL = pace.url); with it, opens another
 * page in that context. `contextOptions` are passed to newContext.
 */
export async function openPage(pace, { context, contextOptions = {} } = {}) {
  if (!context) {
    const browser = await launchBrowser();
    context = await browser.newContext({ baseURL: pace.url, ...contextOptions });
  }
  const origin = new URL(pace.url).origin;
  const info = await prepareContext(context, origin);
  const page = await context.newPage();
  const trips = wirePage(page, info);
  return { browser: context.browser(), context, page, trips };
}

/** A second tab in `context` (one opened by openPage), with its own tripwires. */
export async function newPage(context) {
  const info = contextInfo.get(context);
  if (!info) throw new Error('newPage: the context was not made by openPage');
  const page = await context.newPage();
  const trips = wirePage(page, info);
  return { browser: context.browser(), context, page, trips };
}

// ------------------------------------------------------------------ a11y

let axeSource;

/**
 * Runs axe-core in `page` (the source is evaluated through the DevTools
 * protocol, which the page's CSP does not govern) and throws listing every
 * serious or critical violation. `disableRules`: rule ids to skip, each with
 * a reason at the call site.
 */
export async function checkA11y(page, label, { disableRules = [], include, exclude } = {}) {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const loaded = await page.evaluate(() => typeof globalThis.axe === 'object');
  if (!loaded) await page.evaluate(axeSource);
  const results = await page.evaluate(
    async ({ disableRules, include, exclude }) => {
      const rules = Object.fromEntries(disableRules.map((id) => [id, { enabled: false }]));
      const context = include || exclude ? { include: include || [document], exclude: exclude || [] } : document;
      const r = await globalThis.axe.run(context, { resultTypes: ['violations'], rules });
      return r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1).join(' ')}`),
      }));
    },
    { disableRules, include, exclude },
  );
  const bad = results.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    const lines = bad
      .map((v) => `  ${v.id} (${v.impact}): ${v.help}\n${v.nodes.slice(0, 5).map((n) => `    - ${n}`).join('\n')}`)
      .join('\n');
    throw new Error(`accessibility (${label}): ${bad.length} serious/critical violation(s):\n${lines}`);
  }
  return results;
}

// ------------------------------------------------------------------ API

let seq = 0;

export function uniqueName(prefix = 'web') {
  seq += 1;
  return `${prefix}${process.pid % 10000}${Date.now() % 100000000}${seq}`;
}

async function api(pace, method, p, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(pace.url + p, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  return { status: r.status, headers: r.headers, json, text };
}

/** Registers a user through the JSON API; returns {username, email, password} (plus id). */
// Signs in through the client's login form and waits for the page it lands
// on: `next` when given (through /app/login?next=), else the task list.
export async function signIn(page, user, next = null) {
  await page.goto(next ? `/app/login?next=${encodeURIComponent(next)}` : '/app/login');
  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  if (next) await page.waitForURL((u) => u.pathname === next);
  else await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
}

export async function registerUser(pace, overrides = {}) {
  const username = overrides.username || uniqueName();
  const user = { username, email: `${username}@example.com`, password: PASSWORD, ...overrides };
  const r = await api(pace, 'POST', '/api/v1/auth/register', {
    username: user.username,
    email: user.email,
    password: user.password,
  });
  if (r.status !== 201) throw new Error(`register ${user.username}: ${r.status} ${r.text}`);
  return { ...user, id: r.json?.id };
}

/** Logs `user` in through the JSON API; returns the access token. */
export async function apiLogin(pace, user) {
  const r = await api(pace, 'POST', '/api/v1/auth/login', { login: user.username, password: user.password });
  if (r.status !== 200) throw new Error(`login ${user.username}: ${r.status} ${r.text}`);
  return r.json.access_token;
}

/** A JSON API call (for tests that prepare data outside the browser). */
export { api as apiRequest };

// ------------------------------------------------------------------ mail, TOTP

/** An SMTP sink (smtp-sink.mjs) stopped with the rest at the end of the file. */
export async function startSmtpSink(opts) {
  const sink = await startSink(opts);
  const stop = sink.stop;
  sink.stop = async () => {
    if (!sinks.delete(sink)) return;
    await stop();
  };
  sinks.add(sink);
  return sink;
}

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`base32: ${c} in ${s}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The current TOTP time step (30 s). */
export function totpStep(ms = Date.now()) {
  return Math.floor(ms / 1000 / 30);
}

/** RFC 6238: HMAC-SHA1, 6 digits, 30 s steps; `step` defaults to now's. */
export function totp(secret, step = totpStep()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}
