// The browser session. The access token lives only in this module's memory;
// the refresh token is an HttpOnly cookie the page never sees. Tabs share
// one session: a refresh runs under the Web Lock 'pace-refresh', and the
// token it gets is posted on the BroadcastChannel 'pace-session', so that a
// tab that waited for the lock takes that token instead of refreshing again
// with a cookie that has just been spent (strict rotation would call that
// reuse and end the session). Signing in or out in one tab does it in all.
import { api } from './api.js';

const CHANNEL = 'pace-session';
const LOCK = 'pace-refresh';
// After a refresh the lock is held this much longer, so that the token's
// broadcast reaches the other tabs before one of them gets the lock.
const HOLD_MS = 150;

let token = null;
let expiresAt = 0; // ms since the epoch, this machine's clock (shared by tabs)
let timer = null;
let inflight = null;
let user = null;
let userPromise = null;
const listeners = new Set();

const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;

function post(msg) {
  if (channel) channel.postMessage(msg);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function withLock(fn) {
  if (navigator.locks && navigator.locks.request) return navigator.locks.request(LOCK, fn);
  return fn(); // not a secure context: no cross-tab lock (see docs/operations.md)
}

function notify() {
  const signed = token != null;
  for (const fn of listeners) {
    try { fn(signed); } catch (e) { console.warn(e); }
  }
}

function schedule() {
  clearTimeout(timer);
  timer = null;
  if (!token) return;
  const left = expiresAt - Date.now();
  // A little before expiry: a fifth of the lifetime, between 1 s and 60 s.
  const margin = Math.min(60000, Math.max(1000, left * 0.2));
  timer = setTimeout(() => { refresh(token).catch(() => {}); }, Math.max(0, left - margin));
}

function adopt(newToken, newExpiresAt) {
  const was = token != null;
  token = newToken;
  expiresAt = newExpiresAt;
  schedule();
  if (!was) notify();
}

function clearLocal() {
  const was = token != null;
  token = null;
  expiresAt = 0;
  user = null;
  userPromise = null;
  schedule();
  if (was) notify();
}

if (channel) {
  channel.addEventListener('message', (ev) => {
    const m = ev.data || {};
    if (m.type === 'token' && typeof m.token === 'string') {
      if (!token || m.expiresAt >= expiresAt) adopt(m.token, m.expiresAt);
    } else if (m.type === 'logout') {
      clearLocal();
    }
  });
}

document.addEventListener('visibilitychange', () => {
  // Timers of hidden tabs are throttled: catch up when shown again.
  if (document.visibilityState === 'visible' && token && expiresAt - Date.now() < 2000) {
    refresh(token).catch(() => {});
  }
});

function tokenFrom(data) {
  if (!data || typeof data.access_token !== 'string') throw new Error('no access token in the answer');
  const ttl = Number(data.expires_in) > 0 ? Number(data.expires_in) : 60;
  return [data.access_token, Date.now() + ttl * 1000];
}

// Refresh from the cookie unless another tab already did since `stale` was
// current. Resolves true when signed in afterwards. The caller has its
// answer as soon as the token is here; the lock is held HOLD_MS longer.
function refresh(stale) {
  if (inflight) return inflight;
  let settle;
  const result = new Promise((resolve) => { settle = resolve; });
  inflight = result;
  result.then(() => { if (inflight === result) inflight = null; });
  withLock(async () => {
    if (token && token !== stale && expiresAt - Date.now() > 1500) { settle(true); return; }
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await fetch('/api/v1/auth/web/refresh', {
          method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json' },
        });
      } catch {
        settle(token != null && expiresAt > Date.now()); // offline: keep what we have
        return;
      }
      if (res.ok) {
        const [t, exp] = tokenFrom(await res.json());
        adopt(t, exp);
        post({ type: 'token', token: t, expiresAt: exp });
        settle(true);
        await sleep(HOLD_MS);
        return;
      }
      if ((res.status === 429 || res.status === 503) && attempt < 2) {
        const ra = parseInt(res.headers.get('Retry-After') || '1', 10);
        if (ra <= 10) { await sleep(Math.max(ra, 1) * 1000); continue; }
      }
      if (res.status === 401) {
        const was = token != null;
        clearLocal();
        if (was) post({ type: 'logout' });
      }
      settle(false);
      return;
    }
  }).catch((e) => { console.warn('refresh', e); settle(false); });
  return result;
}

// For api.js: the request sent with `failedToken` got 401.
export function refreshAfter401(failedToken) {
  if (token && token !== failedToken) return Promise.resolve(true);
  return refresh(failedToken);
}

export function accessToken() {
  return token;
}

export function signedIn() {
  return token != null;
}

// At start-up: restore the session from the cookie. True when signed in.
export async function ensureSession() {
  if (token && expiresAt - Date.now() > 1500) return true;
  return refresh(token);
}

// A sign-in request whose answer is a token pair (the refresh token in the
// cookie): the session starts in this tab and in the others. Throws ApiError.
function signInWith(path, json) {
  return withLock(async () => {
    const r = await api('POST', path, { json, auth: false, retries: 0 });
    const [t, exp] = tokenFrom(r.data);
    user = null;
    userPromise = null;
    adopt(t, exp);
    post({ type: 'token', token: t, expiresAt: exp });
    return true;
  });
}

// Throws ApiError (401 invalid_credentials, 401 mfa_required with
// body.mfa_token, 403 email_not_verified, 422, 429 ...).
export function login(loginName, password) {
  return signInWith('/api/v1/auth/web/login', { login: loginName, password });
}

// The second step of a login that answered mfa_required: a TOTP or recovery
// code. Throws ApiError (401 invalid_mfa_code, 401 invalid_mfa_token, 429).
export function loginMfa(mfaToken, code) {
  return signInWith('/api/v1/auth/web/mfa', { mfa_token: mfaToken, code });
}

export async function logout() {
  await withLock(async () => {
    try {
      await fetch('/api/v1/auth/web/logout', { method: 'POST', credentials: 'same-origin' });
    } catch { /* the cookie stays, but this browser forgets the token */ }
    clearLocal();
    post({ type: 'logout' });
  });
}

// Ends every session of the user (other devices too), then this one.
export async function logoutAll() {
  try {
    await api('POST', '/api/v1/auth/logout-all');
  } finally {
    await logout();
  }
}

// fn(signedIn: boolean) on every change, from this tab or another.
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// The signed-in user (GET /users/me), cached; refetch to ask again.
export function currentUser(refetch = false) {
  if (!token) return Promise.resolve(null);
  if (user && !refetch) return Promise.resolve(user);
  if (!userPromise || refetch) {
    userPromise = api('GET', '/api/v1/users/me').then((r) => { user = r.data; return user; })
      .finally(() => { userPromise = null; });
  }
  return userPromise;
}

// The cached user, or null (no request).
export function cachedUser() {
  return user;
}
