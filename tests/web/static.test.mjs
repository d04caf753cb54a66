// The pages as a browser gets them: / sends it to /app/, the client loads
// with no tripwire and weighs under 100 KB on the wire, and /app/ and /docs
// carry their security headers (the CSP enforced, not only sent). Generic:
// whatever web/app/index.html loads is what is measured.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkA11y, openPage, startPace } from './harness.mjs';

const FIRST_LOAD_BUDGET = 100 * 1024; // bytes on the wire, headers included

let pace;

before(async () => {
  pace = await startPace();
});

after(() => pace?.stop());

/** A CSP header as {directive: [values]}. */
function parseCsp(header) {
  const out = {};
  for (const part of String(header || '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out[name.toLowerCase()] = values;
  }
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until no request has started for 500 ms (at most 10 s). */
async function quiet(last) {
  const deadline = Date.now() + 10_000;
  while (Date.now() - last() < 500 && Date.now() < deadline) await sleep(50);
}

/**
 * A response's bytes on the wire. Chromium counts a body as loaded only
 * once the page reads it; a fetch whose body the client never reads (a 401
 * it only needs the status of) stays open, so its size is then taken from
 * its headers: Content-Length, and the header lines as sent.
 */
async function wireSizes(r) {
  const timeout = sleep(1000).then(() => null);
  const sizes = await Promise.race([r.request().sizes(), timeout]);
  if (sizes) return sizes;
  const lines = await r.headersArray();
  const headerBytes = lines.reduce((n, { name, value }) => n + name.length + value.length + 4, 0);
  const h = await r.allHeaders();
  return {
    responseBodySize: Number(h['content-length'] || 0),
    responseHeadersSize: `HTTP/1.1 ${r.status()} ${r.statusText()}\r\n`.length + headerBytes + 2,
    unread: true,
  };
}

test('/ redirects to /app/', async (t) => {
  const r = await fetch(`${pace.url}/`, { redirect: 'manual' });
  assert.equal(r.status, 302);
  assert.equal(new URL(r.headers.get('location'), pace.url).pathname, '/app/');

  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  const res = await page.goto('/');
  assert.equal(new URL(res.url()).pathname, '/app/', 'the document came from /app/');
  assert.equal(new URL(res.request().redirectedFrom().url()).pathname, '/');
  trips.assertClean();
});

test('the client loads with no tripwire, and its first load is under 100 KB compressed', async (t) => {
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  const responses = [];
  let lastRequest = Date.now();
  page.on('request', () => {
    lastRequest = Date.now();
  });
  page.on('response', (r) => responses.push(r));

  const res = await page.goto('/app/');
  assert.equal(res.status(), 200);
  // Something was drawn: the client's first view has a heading.
  await page.getByRole('heading').first().waitFor();
  assert.ok((await page.title()).length > 0, 'the page has a title');
  await quiet(() => lastRequest);

  let body = 0;
  let headers = 0;
  let raw = 0;
  const rows = [];
  for (const r of responses) {
    const sizes = await wireSizes(r);
    const h = await r.allHeaders();
    const path = new URL(r.url()).pathname;
    // Served from the memory cache (a second use of the same URL): nothing
    // on the wire, and Chromium reports negative sizes.
    const cached = sizes.responseBodySize < 0 || sizes.responseHeadersSize < 0;
    body += Math.max(0, sizes.responseBodySize);
    headers += Math.max(0, sizes.responseHeadersSize);
    const decoded = sizes.unread ? Number(h['content-length'] || 0) : (await r.body().catch(() => Buffer.alloc(0))).length;
    raw += decoded;
    rows.push(
      cached
        ? `${r.status()} ${path} (from cache)`
        : `${r.status()} ${path} ${sizes.responseBodySize} B (${decoded} B decoded, ${h['content-encoding'] || 'identity'})`,
    );
    // Text over 1 KiB travels gzipped.
    if (decoded > 1024 && /^(text\/|application\/(json|javascript)|image\/svg)/.test(h['content-type'] || '')) {
      assert.equal(h['content-encoding'], 'gzip', `${path} (${decoded} B of ${h['content-type']}) is sent gzipped`);
    }
  }
  const total = body + headers;
  t.diagnostic(
    `first load of /app/: ${total} B on the wire (${body} B of bodies + ${headers} B of headers; ` +
      `${raw} B decoded) over ${responses.length} responses`,
  );
  for (const row of rows) t.diagnostic(`  ${row}`);
  assert.ok(total < FIRST_LOAD_BUDGET, `first load ${total} B is under ${FIRST_LOAD_BUDGET} B:\n${rows.join('\n')}`);

  await checkA11y(page, 'first view of /app/');
  trips.assertClean('/app/');
});

test('/app/ has its security headers, and its CSP is enforced', async (t) => {
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  const assets = [];
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/app/assets/')) assets.push(r);
  });
  let lastRequest = Date.now();
  page.on('request', () => {
    lastRequest = Date.now();
  });
  const res = await page.goto('/app/');
  await page.getByRole('heading').first().waitFor();
  await quiet(() => lastRequest);
  const h = await res.allHeaders();

  const csp = parseCsp(h['content-security-policy']);
  assert.ok(h['content-security-policy'], '/app/ sends Content-Security-Policy');
  assert.deepEqual(csp['default-src'], ["'none'"], 'default-src');
  assert.deepEqual(csp['script-src'], ["'self'"], 'script-src: no inline script, no eval, nothing off-site');
  assert.deepEqual(csp['connect-src'], ["'self'"], 'connect-src');
  assert.deepEqual(csp['frame-ancestors'], ["'none'"], 'frame-ancestors');
  assert.ok(!(csp['style-src'] || []).includes("'unsafe-inline'"), 'style-src has no unsafe-inline');
  assert.deepEqual(csp['base-uri'], ["'none'"], 'base-uri');
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.ok(h['referrer-policy'], '/app/ sends Referrer-Policy');
  assert.match(h['cache-control'] || '', /no-cache/, 'index.html is revalidated');
  assert.ok(h.etag, 'index.html has an ETag');

  assert.ok(assets.length > 0, '/app/ loads versioned assets');
  for (const r of assets) {
    const ah = await r.allHeaders();
    const path = new URL(r.url()).pathname;
    assert.equal(ah['x-content-type-options'], 'nosniff', `${path} nosniff`);
    assert.match(ah['cache-control'] || '', /immutable/, `${path} is cached immutably`);
    assert.match(ah['cache-control'] || '', /max-age=31536000/, `${path} is cached for a year`);
  }
  trips.assertClean('/app/');

  // Enforced: an inline script is refused (and reported as a violation).
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true;';
    document.head.append(s);
  });
  assert.equal(await page.evaluate(() => window.__inlineRan === true), false, 'an inline script did not run');
  const deadline = Date.now() + 5000; // the violation is reported asynchronously
  while (!trips.list().some((x) => x.kind === 'csp') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(
    trips.list().some((x) => x.kind === 'csp'),
    `the refused inline script is reported: ${JSON.stringify(trips.list())}`,
  );
});

test('/docs has its security headers', async (t) => {
  const { context, page, trips } = await openPage(pace);
  t.after(() => context.close());
  const res = await page.goto('/docs');
  assert.equal(res.status(), 200);
  const h = await res.allHeaders();
  const csp = parseCsp(h['content-security-policy']);
  assert.ok(h['content-security-policy'], '/docs sends Content-Security-Policy');
  assert.deepEqual(csp['default-src'], ["'none'"], 'default-src');
  assert.deepEqual(csp['script-src'], ["'self'"], 'script-src: swagger-ui runs without inline script or eval');
  assert.deepEqual(csp['connect-src'], ["'self'"], 'connect-src: "try it" calls this pace only');
  assert.ok(csp['frame-ancestors'], 'frame-ancestors');
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.ok(h['referrer-policy'], '/docs sends Referrer-Policy');
  await page.locator('.opblock').first().waitFor();
  trips.assertClean('/docs');
});
