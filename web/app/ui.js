// Shared UI helpers: lit-html re-exports, toasts, locale formatting, form
// fields with their error messages, an accessible confirm dialog.
import { html, render, nothing } from './vendor/lit-html/lit-html.js';
import { repeat } from './vendor/lit-html/directives/repeat.js';
import { live } from './vendor/lit-html/directives/live.js';
import { ifDefined } from './vendor/lit-html/directives/if-defined.js';

export { html, render, nothing, repeat, live, ifDefined };

// ---- toasts -------------------------------------------------------------

const toasts = [];
let toastSeq = 0;

function toastRegion() {
  return document.getElementById('toasts');
}

function renderToasts() {
  const region = toastRegion();
  if (!region) return;
  render(html`${repeat(toasts, (t) => t.id, (t) => html`
    <div class="toast ${t.kind === 'error' ? 'toast-error' : ''}"
         @focusin=${() => pause(t)} @focusout=${() => resume(t)}
         @mouseenter=${() => pause(t)} @mouseleave=${() => resume(t)}>
      <span class="toast-text">${t.message}</span>
      ${t.action ? html`<button type="button" class="btn btn-small" @click=${() => runAction(t)}>${t.action.label}</button>` : nothing}
      <button type="button" class="btn btn-icon btn-small" aria-label="Dismiss" @click=${() => t.dismiss()}>×</button>
    </div>`)}`, region);
}

function pause(t) {
  if (t.timer) { clearTimeout(t.timer); t.timer = null; t.left -= Date.now() - t.started; }
}

function resume(t) {
  if (!t.timer && !t.done && t.timeout > 0) {
    t.started = Date.now();
    t.timer = setTimeout(() => t.expire(), Math.max(t.left, 1000));
  }
}

function runAction(t) {
  const run = t.action.run;
  t.acted = true;
  t.dismiss();
  run();
}

// toast(message, {action: {label, run}, timeout, kind, onExpire}) -> {dismiss}
// The region is aria-live="polite"; errors use kind 'error'. onExpire runs
// when the toast times out (not when dismissed or acted upon).
export function toast(message, opts = {}) {
  const t = {
    id: ++toastSeq, message, action: opts.action || null, kind: opts.kind || 'info',
    timeout: opts.timeout ?? (opts.action ? 8000 : 5000), timer: null, done: false, acted: false,
  };
  t.left = t.timeout;
  t.dismiss = () => {
    if (t.done) return;
    t.done = true;
    clearTimeout(t.timer);
    const i = toasts.indexOf(t);
    if (i >= 0) toasts.splice(i, 1);
    renderToasts();
    if (opts.onClose) opts.onClose({ acted: t.acted, expired: t.expired === true });
  };
  t.expire = () => {
    t.expired = true;
    t.dismiss();
  };
  toasts.push(t);
  while (toasts.length > 4) toasts[0].expire();
  renderToasts();
  resume(t);
  return { dismiss: t.dismiss, expire: t.expire };
}

// ---- formatting (Intl, the browser's locale) ---------------------------

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function toDate(v) {
  if (v instanceof Date) return v;
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const [y, m, d] = v.split('-').map(Number);
    return new Date(y, m - 1, d); // a calendar date, not midnight UTC
  }
  return new Date(v);
}

export function formatDate(isoOrDate, opts) {
  if (isoOrDate == null || isoOrDate === '') return '';
  const d = toDate(isoOrDate);
  if (Number.isNaN(d.getTime())) return String(isoOrDate);
  return opts ? new Intl.DateTimeFormat(undefined, opts).format(d) : dateFmt.format(d);
}

export function formatDateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateTimeFmt.format(d);
}

export function formatNumber(n, opts) {
  if (n == null || n === '') return '';
  return new Intl.NumberFormat(undefined, opts).format(n);
}

// Today as YYYY-MM-DD in the browser's time zone.
export function todayISO() {
  const d = new Date();
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// ---- form fields --------------------------------------------------------

// field(label, name, opts): a labelled input with its hint and error.
// opts: id, type ('text', 'email', 'password', 'date', 'number',
// 'textarea', 'select'), value, error, hint, required, autocomplete,
// options ([{value, label}] for select), min, max, step, rows, maxlength,
// minlength, inputmode, placeholder, onInput(ev), onChange(ev).
export function field(label, name, opts = {}) {
  const id = opts.id || `f-${name}`;
  const hintId = opts.hint ? `${id}-hint` : null;
  const errId = opts.error ? `${id}-error` : null;
  const described = [hintId, errId].filter(Boolean).join(' ') || undefined;
  const type = opts.type || 'text';
  const value = opts.value ?? '';
  const invalid = opts.error ? 'true' : 'false';
  let control;
  if (type === 'textarea') {
    control = html`<textarea id=${id} name=${name} rows=${opts.rows || 4}
      maxlength=${ifDefined(opts.maxlength)} ?required=${!!opts.required}
      aria-invalid=${invalid} aria-describedby=${ifDefined(described)}
      .value=${live(value)} @input=${opts.onInput} @change=${opts.onChange}></textarea>`;
  } else if (type === 'select') {
    control = html`<select id=${id} name=${name} ?required=${!!opts.required}
      aria-invalid=${invalid} aria-describedby=${ifDefined(described)}
      @input=${opts.onInput} @change=${opts.onChange}>
      ${(opts.options || []).map((o) => html`<option value=${o.value} .selected=${live(String(o.value) === String(value))}>${o.label}</option>`)}
    </select>`;
  } else {
    control = html`<input id=${id} name=${name} type=${type}
      autocomplete=${ifDefined(opts.autocomplete)} inputmode=${ifDefined(opts.inputmode)}
      min=${ifDefined(opts.min)} max=${ifDefined(opts.max)} step=${ifDefined(opts.step)}
      minlength=${ifDefined(opts.minlength)} maxlength=${ifDefined(opts.maxlength)}
      placeholder=${ifDefined(opts.placeholder)} ?required=${!!opts.required}
      aria-invalid=${invalid} aria-describedby=${ifDefined(described)}
      .value=${live(String(value))} @input=${opts.onInput} @change=${opts.onChange}>`;
  }
  return html`<div class="field ${opts.error ? 'field-invalid' : ''} ${opts.class || ''}">
    <label for=${id}>${label}${opts.required ? html`<span class="req" aria-hidden="true"> *</span>` : nothing}</label>
    ${control}
    ${opts.hint ? html`<p class="hint" id=${hintId}>${opts.hint}</p>` : nothing}
    ${opts.error ? html`<p class="field-error" id=${errId}>${opts.error}</p>` : nothing}
  </div>`;
}

// Focus the first invalid control of a form (after a render).
export function focusFirstInvalid(root) {
  requestAnimationFrame(() => {
    const el = root.querySelector('[aria-invalid="true"]');
    if (el) el.focus();
  });
}

// A form's values as an object of strings.
export function formValues(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) out[k] = typeof v === 'string' ? v : '';
  return out;
}

// A wait of s seconds as people say it: seconds under two minutes, then
// minutes, then hours (rounded up: never sooner than the server allows).
export function waitText(s) {
  if (s < 120) return `${formatNumber(s)} s`;
  if (s < 7200) return `${formatNumber(Math.ceil(s / 60))} min`;
  return `${formatNumber(Math.ceil(s / 3600))} h`;
}

// A short, human sentence for an ApiError (or any error).
export function errorMessage(err) {
  if (!err) return 'Something went wrong.';
  if (err.status === 429 || (err.status === 503 && err.retryAfter != null)) {
    return `Too many attempts. Try again in ${waitText(err.retryAfter ?? 1)}.`;
  }
  if (err.status === 0) return 'The server could not be reached. Check your connection and try again.';
  if (err.status === 401) return 'Your session has ended. Please log in again.';
  return err.detail || err.title || err.message || 'Something went wrong.';
}

// ---- links from mail ------------------------------------------------------

// The token of a link pace mailed (/app/reset-password#token=...): a
// fragment, so it never reaches a server or its logs. Taken once, and the
// hash is removed from the address bar at once, so that the token is not
// shown, bookmarked, kept in the history's address or passed on when the
// address is copied. Null when the address has none.
export function takeLinkToken(url) {
  const m = /^#(?:.*&)?token=([A-Za-z0-9_-]+)(?:&|$)/.exec(url.hash || '');
  if (location.hash) history.replaceState(history.state, '', location.pathname + location.search);
  return m ? m[1] : null;
}

// ---- dialogs -------------------------------------------------------------

let dialogSeq = 0;

// confirmDialog(text, {title, confirmLabel, cancelLabel, danger}) -> Promise<boolean>
export function confirmDialog(text, opts = {}) {
  return new Promise((resolve) => {
    const id = `dlg-${++dialogSeq}`;
    const dlg = document.createElement('dialog');
    dlg.className = 'dialog';
    dlg.setAttribute('aria-labelledby', `${id}-title`);
    dlg.setAttribute('aria-describedby', `${id}-text`);
    document.body.appendChild(dlg);
    const opener = document.activeElement;
    let result = false;
    const close = (v) => { result = v; dlg.close(); };
    render(html`<form method="dialog" class="dialog-body" @submit=${(e) => { e.preventDefault(); close(true); }}>
      <h2 id="${id}-title">${opts.title || 'Please confirm'}</h2>
      <p id="${id}-text">${text}</p>
      <div class="actions">
        <button type="button" class="btn" @click=${() => close(false)}>${opts.cancelLabel || 'Cancel'}</button>
        <button type="submit" class="btn ${opts.danger ? 'btn-danger' : 'btn-primary'}">${opts.confirmLabel || 'OK'}</button>
      </div>
    </form>`, dlg);
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (opener && opener.focus && document.contains(opener)) opener.focus();
      resolve(result);
    });
    dlg.showModal();
    const cancel = dlg.querySelector('button[type=button]');
    if (cancel) cancel.focus();
  });
}

// Busy state: disable a form's controls and mark it aria-busy.
export function setBusy(form, busy) {
  if (!form) return;
  form.setAttribute('aria-busy', busy ? 'true' : 'false');
  for (const el of form.querySelectorAll('button, input, select, textarea')) {
    if (busy) { if (!el.disabled) { el.dataset.busyDisabled = '1'; el.disabled = true; } }
    else if (el.dataset.busyDisabled) { delete el.dataset.busyDisabled; el.disabled = false; }
  }
}
