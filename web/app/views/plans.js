// /app/plans: the user's plans (cursor pages, "Load more"), a form to request
// a workout or nutrition plan (202 queued, Idempotency-Key), and a watcher
// that polls each queued or running plan with a gentle back-off until it is
// ready or failed. Every timer and request stops when the view is left.
import { html, render, nothing, repeat, toast, formatDate, formatDateTime, confirmDialog } from '../ui.js';
import { api, ApiError, fieldErrors } from '../api.js';

const PAGE = 20;
const KIND = { workout: 'Workout', nutrition: 'Nutrition' };
const STATE = { queued: 'Queued', running: 'Running', ready: 'Ready', failed: 'Failed' };
const DELAYS = [500, 1000, 1500, 2500, 4000, 6000, 10000];

// Today in the browser's time zone as YYYY-MM-DD.
export function localToday() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export function isPending(p) {
  return p.state === 'queued' || p.state === 'running';
}

// Polls GET /plans/{id} until the plan is ready or failed (or gone):
// onUpdate(plan) after each answer, onGone() on 404. Returns stop().
export function watchPlan(id, onUpdate, onGone) {
  const ac = new AbortController();
  let timer = null;
  let n = 0;
  const tick = async () => {
    timer = null;
    try {
      const r = await api('GET', `/api/v1/plans/${id}`, { accept: [404], signal: ac.signal });
      if (ac.signal.aborted) return;
      if (r.status === 404) { onGone?.(); return; }
      onUpdate(r.data);
      if (!isPending(r.data)) return;
    } catch (e) {
      if (ac.signal.aborted) return;
      // a failed poll (offline, 5xx after api.js's own retries) backs off too
    }
    timer = setTimeout(tick, DELAYS[Math.min(n++, DELAYS.length - 1)]);
  };
  timer = setTimeout(tick, DELAYS[n++]);
  return () => { ac.abort(); if (timer) clearTimeout(timer); };
}

// A table too wide for the screen scrolls sideways in its .table-wrap. A
// scrolling box must be reachable by keyboard, so while (and only while) it
// scrolls it is a focusable region named after its table. Returns
// {sync (call after each render), stop}.
export function scrollableTables(root) {
  const sync = () => {
    for (const w of root.querySelectorAll('.table-wrap')) {
      const scrolls = w.scrollWidth > w.clientWidth + 1;
      if (scrolls === w.hasAttribute('tabindex')) continue;
      if (scrolls) {
        const name = w.querySelector('caption')?.textContent.trim() || 'Table';
        w.setAttribute('tabindex', '0');
        w.setAttribute('role', 'region');
        w.setAttribute('aria-label', `${name} (scrolls sideways)`);
      } else {
        w.removeAttribute('tabindex');
        w.removeAttribute('role');
        w.removeAttribute('aria-label');
      }
    }
  };
  const ro = typeof ResizeObserver === 'function' ? new ResizeObserver(sync) : null;
  ro?.observe(root);
  return { sync, stop: () => ro?.disconnect() };
}

export function stateBadge(p) {
  return html`<span class="badge state-${p.state}">${STATE[p.state] || p.state}</span>`;
}

export function mount(el, ctx) {
  ctx.setTitle?.('Plans');
  const ac = new AbortController();
  const watchers = new Map();
  const st = {
    items: [], next: null, loading: true, loadingMore: false, listError: '',
    form: { kind: 'workout', weeks: '4', start_date: localToday(), create_tasks: true },
    errors: {}, formError: null, sending: false, announce: '',
  };
  const tables = scrollableTables(el);
  const draw = () => { render(view(), el); tables.sync(); };

  function watch(p) {
    if (!isPending(p) || watchers.has(p.id)) return;
    watchers.set(p.id, watchPlan(p.id, (fresh) => {
      const i = st.items.findIndex((x) => x.id === fresh.id);
      const before = i >= 0 ? st.items[i].state : null;
      if (i >= 0) st.items[i] = { ...st.items[i], ...fresh, content: undefined };
      if (before !== fresh.state) {
        st.announce = `${KIND[fresh.kind] || fresh.kind} plan ${fresh.id}: ${STATE[fresh.state] || fresh.state}.`;
      }
      if (!isPending(fresh)) watchers.delete(fresh.id);
      draw();
    }, () => {
      watchers.delete(p.id);
      st.items = st.items.filter((x) => x.id !== p.id);
      draw();
    }));
  }

  async function loadPage(more) {
    const had = st.items.length;
    if (more) st.loadingMore = true; else st.loading = true;
    st.listError = '';
    draw();
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (more && st.next) q.set('cursor', st.next);
      const r = await api('GET', `/api/v1/plans?${q}`, { signal: ac.signal });
      const seen = new Set(st.items.map((x) => x.id));
      const fresh = r.data.items.filter((x) => !seen.has(x.id));
      st.items = more ? st.items.concat(fresh) : r.data.items;
      st.next = r.data.next_cursor;
      st.items.forEach(watch);
    } catch (e) {
      if (ac.signal.aborted) return;
      st.listError = e instanceof ApiError ? e.detail || e.title : 'Could not load your plans.';
    }
    st.loading = false;
    st.loadingMore = false;
    draw();
    // Keyboard users go on from the first plan the page added.
    if (more && st.items.length > had) el.querySelectorAll('#plans-table tbody tr')[had]?.querySelector('a')?.focus();
  }

  async function request(ev) {
    ev.preventDefault();
    if (st.sending) return;
    const f = st.form;
    const body = { kind: f.kind };
    const weeks = f.weeks.trim();
    if (weeks !== '') body.weeks = Number.isInteger(Number(weeks)) ? Number(weeks) : weeks;
    if (f.start_date) body.start_date = f.start_date;
    if (f.kind === 'workout') body.create_tasks = !!f.create_tasks;
    st.sending = true;
    st.errors = {};
    st.formError = null;
    draw();
    try {
      const r = await api('POST', '/api/v1/plans', { json: body, idempotencyKey: true, signal: ac.signal });
      const p = r.data;
      st.items = [p, ...st.items.filter((x) => x.id !== p.id)];
      st.announce = `${KIND[p.kind]} plan ${p.id} requested: ${STATE[p.state] || p.state}.`;
      watch(p);
    } catch (e) {
      if (ac.signal.aborted) return;
      if (e instanceof ApiError && e.code === 'profile_required') {
        st.formError = html`You need a fitness profile before a plan can be made.
          <a href="/app/profile">Fill in your profile</a>.`;
      } else if (e instanceof ApiError && e.status === 422) {
        st.errors = fieldErrors(e);
        st.formError = 'Some fields need attention.';
      } else if (e instanceof ApiError && e.code === 'too_many_jobs') {
        st.formError = 'You already have as many plans in the making as allowed: wait for one to finish.';
      } else {
        st.formError = e instanceof ApiError ? e.detail || e.title : 'Could not request the plan.';
      }
    }
    st.sending = false;
    draw();
    if (st.formError) el.querySelector('#plan-form-status')?.focus();
  }

  async function remove(p) {
    const ok = await confirmDialog(`Delete the ${KIND[p.kind]?.toLowerCase() || ''} plan from ${formatDate(p.start_date)}?`
      + (p.kind === 'workout' ? ' Tasks it created stay.' : ''), { title: 'Delete plan', confirmLabel: 'Delete', danger: true });
    if (!ok) return;
    try {
      await api('DELETE', `/api/v1/plans/${p.id}`, { accept: [404], signal: ac.signal });
      watchers.get(p.id)?.();
      watchers.delete(p.id);
      st.items = st.items.filter((x) => x.id !== p.id);
      draw();
      toast('Plan deleted.');
      el.querySelector('#plans-h')?.focus();
    } catch (e) {
      if (!ac.signal.aborted) toast(e instanceof ApiError ? e.detail || e.title : 'Could not delete the plan.');
    }
  }

  const setF = (name) => (e) => {
    st.form[name] = e.target.type === 'checkbox' ? e.target.checked : e.target.value;
    delete st.errors[name];
    draw();
  };
  const err = (name) => (st.errors[name]
    ? html`<p class="field-error" id="rq-${name}-error">${st.errors[name]}</p>` : nothing);
  const inv = (name) => (st.errors[name] ? 'true' : 'false');
  const desc = (name) => (st.errors[name] ? `rq-${name}-error` : nothing);

  function form() {
    const f = st.form;
    return html`<form class="plan-request" novalidate @submit=${request} aria-labelledby="rq-h">
      <h2 id="rq-h">Request a plan</h2>
      <fieldset class="kind-choice">
        <legend>Kind of plan</legend>
        ${['workout', 'nutrition'].map((k) => html`<label class="choice">
          <input type="radio" name="kind" value=${k} .checked=${f.kind === k} @change=${setF('kind')}>
          ${KIND[k]}</label>`)}
      </fieldset>
      <div class="field-row">
        <div class="field">
          <label for="rq-weeks">Weeks</label>
          <input id="rq-weeks" type="number" min="1" max="12" step="1" inputmode="numeric"
            .value=${f.weeks} @input=${setF('weeks')} aria-invalid=${inv('weeks')} aria-describedby=${desc('weeks')}>
          ${err('weeks')}
        </div>
        <div class="field">
          <label for="rq-start">Start date</label>
          <input id="rq-start" type="date" .value=${f.start_date} @input=${setF('start_date')}
            aria-invalid=${inv('start_date')} aria-describedby=${desc('start_date')}>
          ${err('start_date')}
        </div>
      </div>
      ${f.kind === 'workout' ? html`<div class="field field-check">
        <input id="rq-tasks" type="checkbox" .checked=${!!f.create_tasks} @change=${setF('create_tasks')}>
        <label for="rq-tasks">Add a task for every training session</label>
        ${err('create_tasks')}
      </div>` : nothing}
      <div class="form-actions">
        <button type="submit" class="btn btn-primary" ?disabled=${st.sending}>
          ${st.sending ? 'Requesting…' : `Request ${KIND[f.kind].toLowerCase()} plan`}</button>
      </div>
      <p id="plan-form-status" class=${st.formError ? 'form-status form-status-error' : 'form-status'}
        tabindex="-1" role=${st.formError ? 'alert' : nothing}>${st.formError || ''}</p>
    </form>`;
  }

  function row(p) {
    return html`<tr class="plan-row state-${p.state}">
      <th scope="row" class="plan-cell"><a href="/app/plans/${p.id}">${KIND[p.kind] || p.kind} plan</a>
        ${p.summary ? html`<span class="plan-summary">${p.summary}</span>` : nothing}</th>
      <td class="nowrap">${stateBadge(p)}${isPending(p) ? html`<span class="spinner" aria-hidden="true"></span>` : nothing}
        ${p.state === 'failed' && p.error ? html`<span class="muted plan-error">${p.error}</span>` : nothing}</td>
      <td class="nowrap">${formatDate(p.start_date)}</td>
      <td class="num">${p.weeks}</td>
      <td class="nowrap"><time datetime=${p.created_at}>${formatDateTime(p.created_at)}</time></td>
      <td><button type="button" class="btn btn-small btn-danger"
        aria-label="Delete ${KIND[p.kind] || p.kind} plan ${p.id}" @click=${() => remove(p)}>Delete</button></td>
    </tr>`;
  }

  function list() {
    if (st.loading) return html`<p role="status">Loading your plans…</p>`;
    if (st.listError) {
      return html`<p class="form-status-error" role="alert">${st.listError}
        <button type="button" class="btn" @click=${() => loadPage(false)}>Try again</button></p>`;
    }
    if (!st.items.length) return html`<p>No plans yet.</p>`;
    return html`<div class="table-wrap"><table id="plans-table" class="data">
      <caption class="sr-only">Your plans, newest first</caption>
      <thead><tr>
        <th scope="col">Plan</th><th scope="col">State</th><th scope="col">Starts</th>
        <th scope="col" class="num">Weeks</th><th scope="col">Requested</th>
        <th scope="col"><span class="sr-only">Actions</span></th>
      </tr></thead>
      <tbody>${repeat(st.items, (p) => p.id, row)}</tbody>
    </table></div>
    ${st.next ? html`<div class="form-actions"><button type="button" class="btn" ?disabled=${st.loadingMore}
      @click=${() => loadPage(true)}>${st.loadingMore ? 'Loading…' : 'Load more'}</button></div>` : nothing}`;
  }

  function view() {
    return html`<section class="view-plans" aria-labelledby="plans-h">
      <h1 id="plans-h" tabindex="-1">Plans</h1>
      ${form()}
      <h2>Your plans</h2>
      <p class="sr-only" role="status" aria-live="polite">${st.announce}</p>
      ${list()}
    </section>`;
  }

  loadPage(false);
  return () => {
    ac.abort();
    tables.stop();
    for (const stop of watchers.values()) stop();
    watchers.clear();
  };
}
