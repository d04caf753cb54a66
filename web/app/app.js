// The shell: header and nav, the router (history API, real <a href> links
// intercepted for /app/ paths), focus and title on every route change.
import { html, render, nothing, toast } from './ui.js';
import { ensureSession, onChange, signedIn, logout, currentUser } from './session.js';
import * as login from './views/login.js';
import * as signup from './views/signup.js';
import * as forgotPassword from './views/forgot-password.js';
import * as resetPassword from './views/reset-password.js';
import * as verifyEmail from './views/verify-email.js';
import * as tasks from './views/tasks.js';
import * as taskEdit from './views/task-edit.js';
import * as profile from './views/profile.js';
import * as plans from './views/plans.js';
import * as plan from './views/plan.js';
import * as account from './views/account.js';

const APP_NAME = 'pace';

// [pattern, module, {public: reachable signed out, guestOnly: only signed out}]
const routes = [
  [/^\/app\/login$/, login, { public: true, guestOnly: true }],
  [/^\/app\/signup$/, signup, { public: true, guestOnly: true }],
  // Signed in or not: a forgotten password, a mail's link (#token=...).
  [/^\/app\/forgot-password$/, forgotPassword, { public: true }],
  [/^\/app\/reset-password$/, resetPassword, { public: true }],
  [/^\/app\/verify-email$/, verifyEmail, { public: true }],
  [/^\/app\/tasks$/, tasks, {}],
  [/^\/app\/tasks\/new$/, taskEdit, {}],
  [/^\/app\/tasks\/(?<id>[1-9]\d*)$/, taskEdit, {}],
  [/^\/app\/profile$/, profile, {}],
  [/^\/app\/plans$/, plans, {}],
  [/^\/app\/plans\/(?<id>[1-9]\d*)$/, plan, {}],
  [/^\/app\/account$/, account, {}],
];

const notFound = {
  mount(el, ctx) {
    ctx.setTitle('Not found');
    render(html`<h1>Page not found</h1>
      <p>There is nothing at this address.</p>
      <p><a href="/app/">Go to the start page</a></p>`, el);
  },
};

const shellEl = document.getElementById('app');
let current = null; // { module, params, cleanup, key }
let navSeq = 0;

function navItems() {
  return [
    ['/app/tasks', 'Tasks'],
    ['/app/profile', 'Profile'],
    ['/app/plans', 'Plans'],
    ['/app/account', 'Account'],
  ];
}

function renderShell() {
  const path = location.pathname;
  const signed = signedIn();
  render(html`
    <a class="skip-link" href="#main">Skip to content</a>
    <header class="site-header">
      <div class="header-inner">
        <a class="brand" href="/app/"><img src="${assetBase()}/favicon.svg" alt="" width="28" height="28"><span>${APP_NAME}</span></a>
        ${signed ? html`<nav class="site-nav" aria-label="Main">
          <ul>
            ${navItems().map(([href, label]) => html`<li><a href=${href}
              aria-current=${path === href || path.startsWith(href + '/') ? 'page' : 'false'}>${label}</a></li>`)}
            <li><button type="button" class="btn btn-link nav-signout" @click=${signOut}>Sign out</button></li>
          </ul>
        </nav>` : html`<nav class="site-nav" aria-label="Main">
          <ul>
            <li><a href="/app/login" aria-current=${path === '/app/login' ? 'page' : 'false'}>Log in</a></li>
            <li><a href="/app/signup" aria-current=${path === '/app/signup' ? 'page' : 'false'}>Sign up</a></li>
          </ul>
        </nav>`}
      </div>
    </header>
    <main id="main" class="site-main" tabindex="-1"><div id="view"></div></main>
  `, shellEl);
}

// /app/assets/<V>: where this module was loaded from.
function assetBase() {
  return new URL('.', import.meta.url).pathname.replace(/\/$/, '');
}

async function signOut() {
  await logout(); // onChange says so and shows the login page
}

function setTitle(text) {
  document.title = text ? `${text} · ${APP_NAME}` : APP_NAME;
}

export function navigate(path, opts = {}) {
  const url = new URL(path, location.origin);
  if (url.origin !== location.origin) { location.assign(url.href); return; }
  const target = url.pathname + url.search + url.hash;
  if (opts.replace) history.replaceState(null, '', target);
  else if (target !== location.pathname + location.search + location.hash) history.pushState(null, '', target);
  route();
}

function match(pathname) {
  for (const [re, module, flags] of routes) {
    const m = re.exec(pathname);
    if (m) return { module, flags, params: { ...(m.groups || {}) } };
  }
  return null;
}

function focusHeading(viewEl) {
  const h1 = viewEl.querySelector('h1');
  const target = h1 || document.getElementById('main');
  if (!target) return;
  if (h1 && !h1.hasAttribute('tabindex')) h1.setAttribute('tabindex', '-1');
  target.focus({ preventScroll: false });
}

async function route() {
  const seq = ++navSeq;
  const url = new URL(location.href);
  let path = url.pathname.replace(/\/+$/, '') || '/';
  if (path === '/app' || path === '/') {
    navigate(signedIn() ? '/app/tasks' : '/app/login', { replace: true });
    return;
  }
  const m = match(path);
  if (m && !m.flags.public && !signedIn()) {
    const next = url.pathname + url.search;
    navigate('/app/login?next=' + encodeURIComponent(next), { replace: true });
    return;
  }
  if (m && m.flags.guestOnly && signedIn()) {
    navigate(safeNext(url.searchParams.get('next')), { replace: true });
    return;
  }
  let user = null;
  if (signedIn()) {
    try { user = await currentUser(); } catch { user = null; }
    if (seq !== navSeq) return;
  }
  const module = m ? m.module : notFound;
  const params = m ? m.params : {};
  const ctx = { params, url, navigate, user, setTitle };
  const key = JSON.stringify(params);

  // The same view with other query parameters (filters): let it update in
  // place when it can, without moving focus.
  if (current && current.module === module && current.key === key
      && current.cleanup && typeof current.cleanup.update === 'function') {
    renderShell();
    current.cleanup.update(ctx);
    return;
  }
  if (current && typeof current.cleanup === 'function') {
    try { current.cleanup(); } catch (e) { console.warn(e); }
  }
  current = null;
  renderShell();
  // A fresh element per view: lit keeps its own state on the element.
  const viewEl = document.createElement('div');
  viewEl.className = 'view';
  document.getElementById('view').replaceChildren(viewEl);
  setTitle('');
  let cleanup;
  try {
    cleanup = module.mount(viewEl, ctx);
  } catch (e) {
    console.warn('view', e); // a bug: say so instead of a blank page
    render(html`<h1>Something went wrong</h1><p>This page could not be shown. <a href="/app/">Go to the start page</a></p>`, viewEl);
  }
  current = { module, key, cleanup };
  requestAnimationFrame(() => { if (seq === navSeq) focusHeading(viewEl); });
}

export function safeNext(next) {
  if (next && /^\/app\/[^/]/.test(next) && !next.startsWith('/app/assets/') && !/^\/app\/(login|signup)\b/.test(next)) return next;
  return '/app/tasks';
}

document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest && ev.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  if (url.pathname !== '/app' && !url.pathname.startsWith('/app/')) return;
  if (url.pathname.startsWith('/app/assets/')) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  ev.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

window.addEventListener('popstate', () => route());

onChange((signed) => {
  const flags = match(location.pathname)?.flags || {};
  if (!signed && !flags.public) {
    toast('You have been signed out.');
    navigate('/app/login', { replace: true });
  } else if (signed && flags.guestOnly) {
    navigate(safeNext(new URL(location.href).searchParams.get('next')), { replace: true });
  } else {
    renderShell();
  }
});

async function start() {
  shellEl.replaceChildren(); // the static "Loading…" of index.html
  renderShell();
  const loading = document.createElement('p');
  loading.className = 'loading';
  loading.setAttribute('role', 'status');
  loading.textContent = 'Loading…';
  document.getElementById('view').replaceChildren(loading);
  try {
    await ensureSession();
  } catch (e) {
    console.warn('session', e);
  }
  route();
}

start();
