// pace's JSON API from the browser: the access token from session.js, one
// refresh and retry on 401, Retry-After honoured on 429 and 503,
// Idempotency-Key on creates, problem documents turned into ApiError.
import { accessToken, refreshAfter401 } from './session.js';

const RETRY_CAP_SECONDS = 10; // longer waits are the user's call, not ours

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const b = body && typeof body === 'object' ? body : {};
    super(b.detail || b.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = b.code || (status === 0 ? 'network' : 'http_' + status);
    this.title = b.title || (status === 0 ? 'The server could not be reached' : `HTTP ${status}`);
    this.detail = b.detail || '';
    this.errors = Array.isArray(b.errors) ? b.errors : [];
    this.retryAfter = retryAfter;
    this.body = b;
  }
}

export function fieldErrors(err) {
  const out = {};
  if (!err || !Array.isArray(err.errors)) return out;
  for (const e of err.errors) {
    if (e && e.field && !out[e.field]) out[e.field] = e.message || e.code;
  }
  return out;
}

// Retry-After is seconds or an HTTP date; null when absent or unreadable.
export function parseRetryAfter(value) {
  if (value == null || value === '') return null;
  if (/^\d+$/.test(value.trim())) return parseInt(value, 10);
  const t = Date.parse(value);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) { reject(signal.reason); return; }
    const t = setTimeout(() => { if (signal) signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    function onAbort() { clearTimeout(t); reject(signal.reason); }
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function readBody(res) {
  if (res.status === 204 || res.status === 304) return null;
  const type = res.headers.get('Content-Type') || '';
  const text = await res.text();
  if (!text) return null;
  if (/json/i.test(type)) {
    try { return JSON.parse(text); } catch { return null; }
  }
  return text;
}

// api(method, path, opts) -> { status, headers, data, etag }
// opts: json, headers, ifMatch, ifNoneMatch, idempotencyKey (true: a new
// UUID for this call, kept across its retries), signal, accept (statuses
// that do not throw), auth (false: send no token, do not refresh),
// retries (429/503 retries, 2 by default).
export async function api(method, path, opts = {}) {
  const idem = opts.idempotencyKey === true ? crypto.randomUUID() : opts.idempotencyKey;
  const useAuth = opts.auth !== false;
  const maxRetries = opts.retries ?? 2;
  const accept = opts.accept || [];
  let refreshed = false;
  let retries = 0;
  for (;;) {
    const headers = new Headers(opts.headers || {});
    if (!headers.has('Accept')) headers.set('Accept', 'application/json, application/problem+json');
    const token = useAuth ? accessToken() : null;
    if (token) headers.set('Authorization', 'Bearer ' + token);
    let body;
    if (opts.json !== undefined) {
      headers.set('Content-Type', 'application/json');
      body = JSON.stringify(opts.json);
    }
    if (opts.ifMatch) headers.set('If-Match', opts.ifMatch);
    if (opts.ifNoneMatch) headers.set('If-None-Match', opts.ifNoneMatch);
    if (idem) headers.set('Idempotency-Key', idem);
    let res;
    try {
      res = await fetch(path, { method, headers, body, signal: opts.signal, credentials: 'same-origin' });
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError(0, { detail: 'Check your connection and try again.' }, null);
    }
    if (res.status === 401 && useAuth && !refreshed) {
      refreshed = true;
      await res.body?.cancel();
      if (await refreshAfter401(token)) continue;
    }
    if ((res.status === 429 || res.status === 503) && retries < maxRetries) {
      const wait = parseRetryAfter(res.headers.get('Retry-After'));
      if (wait != null && wait <= RETRY_CAP_SECONDS) {
        retries++;
        await res.body?.cancel();
        await sleep(Math.max(wait, 0.2) * 1000, opts.signal);
        continue;
      }
    }
    const data = await readBody(res);
    const etag = res.headers.get('ETag');
    if (res.ok || accept.includes(res.status)) {
      return { status: res.status, headers: res.headers, data, etag };
    }
    throw new ApiError(res.status, data, parseRetryAfter(res.headers.get('Retry-After')));
  }
}
