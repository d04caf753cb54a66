// /app/tasks: the task list. Filters and sort live in the URL query
// (status, priority, sort, due_before, due_after), so reload, links and
// back/forward keep them; more pages load through next_cursor when the end
// of the list scrolls into view (IntersectionObserver) or on "Load more".
import { api } from '../api.js';
import { html, render, nothing, repeat, live, toast, formatDate, formatNumber, errorMessage, todayISO } from '../ui.js';
import {
  STATUSES, STATUS_LABEL, PRIORITIES, PRIORITY_LABEL, SORTS, setListUrl,
  scheduleDelete, isPendingDelete, onDeleteChange,
} from './task-common.js';

const PAGE_SIZE = 20;
const STATUS_VALUES = STATUSES.map((s) => s.value);
const SORT_VALUES = SORTS.map((s) => s.value);
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

// The filters in a URL, cleaned of anything the API would refuse.
export function filtersFrom(url) {
  const q = url.searchParams;
  const status = (q.get('status') || '').split(',').filter((s) => STATUS_VALUES.includes(s));
  const priority = /^[0-3]$/.test(q.get('priority') || '') ? q.get('priority') : '';
  const sort = SORT_VALUES.includes(q.get('sort')) ? q.get('sort') : '-created_at';
  const dueBefore = DATE_RE.test(q.get('due_before') || '') ? q.get('due_before') : '';
  const dueAfter = DATE_RE.test(q.get('due_after') || '') ? q.get('due_after') : '';
  return { status: [...new Set(status)], priority, sort, dueBefore, dueAfter };
}

// Filters -> query string (the page's and the API's use the same names).
function queryOf(f) {
  const q = new URLSearchParams();
  if (f.status.length) q.set('status', STATUS_VALUES.filter((s) => f.status.includes(s)).join(','));
  if (f.priority !== '') q.set('priority', f.priority);
  if (f.dueAfter) q.set('due_after', f.dueAfter);
  if (f.dueBefore) q.set('due_before', f.dueBefore);
  if (f.sort !== '-created_at') q.set('sort', f.sort);
  return q;
}

function isFiltered(f) {
  return f.status.length > 0 || f.priority !== '' || f.dueBefore !== '' || f.dueAfter !== '';
}

export function mount(el, ctx) {
  ctx.setTitle('Tasks');
  const s = {
    filters: filtersFrom(ctx.url),
    items: [],
    next: null,
    loaded: false, // the first page arrived
    loading: false,
    resetting: false, // a new first page (filters changed) is on its way
    error: '',
    announce: '',
  };
  let controller = new AbortController();
  let gen = 0;
  let alive = true;
  setListUrl(ctx.url.pathname + ctx.url.search);

  const io = 'IntersectionObserver' in window
    ? new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadMore();
    }, { rootMargin: '300px 0px' })
    : null;
  let observed = null;
  // Open on wide screens; on a phone the filters fold under their summary.
  const filtersOpen = !window.matchMedia || window.matchMedia('(min-width: 40rem)').matches;

  function watchSentinel() {
    if (!io) return;
    const sentinel = el.querySelector('.sentinel');
    if (observed && observed !== sentinel) { io.unobserve(observed); observed = null; }
    if (sentinel && s.next && !s.loading && !s.error) {
      // Observing anew reports the current intersection: a short page whose
      // end is already in view goes on loading.
      if (observed) io.unobserve(sentinel);
      io.observe(sentinel);
      observed = sentinel;
    }
  }

  async function loadPage(reset) {
    if (!reset && (s.loading || !s.next)) return;
    const my = gen;
    const q = queryOf(s.filters);
    q.set('limit', String(PAGE_SIZE));
    if (!reset) q.set('cursor', s.next);
    s.loading = true;
    s.error = '';
    draw();
    try {
      const r = await api('GET', '/api/v1/tasks?' + q, { signal: controller.signal });
      if (!alive || my !== gen) return;
      const have = new Set(reset ? [] : s.items.map((t) => t.id));
      const fresh = r.data.items.filter((t) => !have.has(t.id) && !isPendingDelete(t.id));
      s.items = reset ? fresh : s.items.concat(fresh);
      s.next = r.data.next_cursor;
      s.loaded = true;
      const n = formatNumber(s.items.length);
      s.announce = s.items.length === 0 ? '' : s.next
        ? `Showing ${n} tasks. More are loaded as you scroll.`
        : `Showing all ${n} tasks.`;
    } catch (err) {
      if (!alive || my !== gen || (err && err.name === 'AbortError')) return;
      s.error = errorMessage(err);
      s.loaded = true;
    } finally {
      if (alive && my === gen) {
        s.loading = false;
        s.resetting = false;
        draw();
        watchSentinel();
      }
    }
  }

  function loadMore() {
    if (s.next && !s.loading && !s.error) loadPage(false);
  }

  function reload() {
    gen++;
    controller.abort();
    controller = new AbortController();
    // The old items stay on screen (dimmed, aria-busy) until the new first
    // page replaces them: no flash of an empty list on every filter change.
    s.next = null;
    s.loading = false;
    s.resetting = true;
    s.error = '';
    loadPage(true);
  }

  // Filter form -> URL (a history entry per change: back undoes it).
  function applyForm(ev) {
    const form = ev.currentTarget.form || ev.currentTarget;
    const fd = new FormData(form);
    const f = {
      status: fd.getAll('status').filter((v) => STATUS_VALUES.includes(v)),
      priority: fd.get('priority') || '',
      sort: fd.get('sort') || '-created_at',
      dueBefore: fd.get('due_before') || '',
      dueAfter: fd.get('due_after') || '',
    };
    const q = queryOf(f).toString();
    ctx.navigate('/app/tasks' + (q ? '?' + q : ''));
  }

  async function toggleDone(task, ev) {
    const box = ev.currentTarget;
    const status = box.checked ? 'done' : 'todo';
    const before = task.status;
    task.status = status;
    draw();
    try {
      // Only the status changes, so no If-Match: the rest of the task is
      // left as the server has it (the list carries no per-task ETag).
      const r = await api('PATCH', `/api/v1/tasks/${task.id}`, { json: { status } });
      Object.assign(task, r.data);
      toast(status === 'done' ? `Marked “${task.title}” done.` : `Marked “${task.title}” to do.`);
    } catch (err) {
      task.status = before;
      toast(`Could not update “${task.title}”: ${errorMessage(err)}`, { kind: 'error' });
    }
    if (alive) draw();
  }

  function remove(task) {
    const i = s.items.indexOf(task);
    s.items = s.items.filter((t) => t !== task);
    draw();
    // Move focus somewhere sensible: the next task's checkbox, or the heading.
    requestAnimationFrame(() => {
      const boxes = el.querySelectorAll('.task input[type=checkbox]');
      const target = boxes[Math.min(i, boxes.length - 1)] || el.querySelector('h1');
      if (target) target.focus();
    });
    const putBack = () => {
      if (!alive || s.items.some((t) => t.id === task.id)) return;
      const items = s.items.slice();
      items.splice(Math.min(i, items.length), 0, task);
      s.items = items;
      draw();
    };
    scheduleDelete(task, { onUndo: putBack, onFail: putBack });
  }

  // A task deleted elsewhere (the editor) and then restored: not among our
  // items, so ask the server again.
  const offDelete = onDeleteChange((ev) => {
    if (!alive) return;
    if ((ev.type === 'undone' || ev.type === 'failed') && !s.items.some((t) => t.id === ev.id)) reload();
    else draw();
  });

  function taskRow(t) {
    const today = todayISO();
    const overdue = t.due_date && t.status !== 'done' && t.due_date < today;
    return html`<li class="task ${t.status === 'done' ? 'task-done' : ''}">
      <div class="done-box">
        <input type="checkbox" id="done-${t.id}" .checked=${live(t.status === 'done')}
          aria-label="Done: ${t.title}" @change=${(e) => toggleDone(t, e)}>
      </div>
      <div>
        <a class="task-title" href="/app/tasks/${t.id}">${t.title}</a>
        ${t.description ? html`<p class="task-desc">${t.description.length > 160 ? t.description.slice(0, 160) + '…' : t.description}</p>` : nothing}
        <div class="task-meta">
          <span class="badge badge-${t.status}">${STATUS_LABEL[t.status] || t.status}</span>
          ${t.priority > 0 ? html`<span class="badge badge-p${t.priority}">Priority: ${PRIORITY_LABEL[String(t.priority)]}</span>` : nothing}
          ${t.due_date ? html`<span class=${overdue ? 'overdue' : ''}>Due ${formatDate(t.due_date)}${overdue ? ' (overdue)' : ''}</span>` : nothing}
        </div>
      </div>
      <div class="task-actions">
        <a class="btn btn-small" href="/app/tasks/${t.id}" aria-label="Edit ${t.title}">Edit</a>
        <button type="button" class="btn btn-small btn-danger" aria-label="Delete ${t.title}" @click=${() => remove(t)}>Delete</button>
      </div>
    </li>`;
  }

  function filtersForm() {
    const f = s.filters;
    const active = f.status.length + (f.priority !== '' ? 1 : 0) + (f.dueAfter ? 1 : 0) + (f.dueBefore ? 1 : 0);
    return html`<details class="filters card" ?open=${filtersOpen}>
      <summary>Filter and sort${active ? html` <span class="badge">${formatNumber(active)} active</span>` : nothing}</summary>
      <form role="search" aria-label="Filters" @submit=${(e) => { e.preventDefault(); applyForm(e); }}>
      <div class="form-grid">
        <fieldset class="field status-filter">
          <legend>Status</legend>
          <div class="checks">
            ${STATUSES.map((st) => html`<label class="check"><input type="checkbox" name="status" value=${st.value}
              .checked=${live(f.status.includes(st.value))} @change=${applyForm}> ${st.label}</label>`)}
          </div>
        </fieldset>
        <div class="field">
          <label for="filter-priority">Priority</label>
          <select id="filter-priority" name="priority" @change=${applyForm}>
            <option value="" .selected=${live(f.priority === '')}>Any</option>
            ${PRIORITIES.map((p) => html`<option value=${p.value} .selected=${live(f.priority === p.value)}>${p.label}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="filter-due-after">Due after</label>
          <input id="filter-due-after" type="date" name="due_after" .value=${live(f.dueAfter)} @change=${applyForm}>
        </div>
        <div class="field">
          <label for="filter-due-before">Due before</label>
          <input id="filter-due-before" type="date" name="due_before" .value=${live(f.dueBefore)} @change=${applyForm}>
        </div>
        <div class="field">
          <label for="filter-sort">Sort</label>
          <select id="filter-sort" name="sort" @change=${applyForm}>
            ${SORTS.map((o) => html`<option value=${o.value} .selected=${live(f.sort === o.value)}>${o.label}</option>`)}
          </select>
        </div>
      </div>
      <div class="filters-foot">
        ${isFiltered(f) ? html`<a href="/app/tasks${f.sort !== '-created_at' ? '?sort=' + f.sort : ''}">Clear filters</a>` : html`<span></span>`}
        <button type="submit" class="btn btn-small">Apply</button>
      </div>
    </form></details>`;
  }

  function body() {
    if (s.loading && (!s.loaded || (s.resetting && s.items.length === 0))) {
      return html`<p class="loading">Loading tasks…</p>`;
    }
    if (s.error && s.items.length === 0) {
      return html`<div class="form-error" role="alert"><p>Tasks could not be loaded: ${s.error}</p>
        <button type="button" class="btn btn-small" @click=${reload}>Try again</button></div>`;
    }
    if (s.loaded && s.items.length === 0 && !s.next) {
      return isFiltered(s.filters)
        ? html`<div class="empty"><p>No tasks match these filters.</p><a class="btn" href="/app/tasks">Clear filters</a></div>`
        : html`<div class="empty"><p>No tasks yet.</p><a class="btn btn-primary" href="/app/tasks/new">Create your first task</a></div>`;
    }
    return html`
      <ul class="task-list ${s.resetting ? 'stale' : ''}" aria-label="Tasks" aria-busy=${s.loading ? 'true' : 'false'}>
        ${repeat(s.items.filter((t) => !isPendingDelete(t.id)), (t) => t.id, taskRow)}
      </ul>
      <div class="list-foot">
        ${s.error ? html`<p class="form-error" role="alert">More tasks could not be loaded: ${s.error}</p>
          <button type="button" class="btn" @click=${() => { s.error = ''; loadMore(); }}>Try again</button>` : nothing}
        ${s.loading ? html`<p class="loading">${s.resetting ? 'Updating…' : 'Loading more tasks…'}</p>` : nothing}
        ${s.next && !s.loading && !s.error ? html`<button type="button" class="btn" @click=${loadMore}>Load more</button>` : nothing}
        ${!s.next && s.items.length > 0 ? html`<p class="muted small">All tasks are shown.</p>` : nothing}
        <div class="sentinel" aria-hidden="true"></div>
      </div>`;
  }

  function draw() {
    if (!alive) return;
    render(html`
      <div class="page-head">
        <h1>Tasks</h1>
        <a class="btn btn-primary" href="/app/tasks/new">New task</a>
      </div>
      ${filtersForm()}
      <p class="sr-only" role="status" aria-live="polite">${s.announce}</p>
      ${body()}
    `, el);
  }

  draw();
  reload();

  const cleanup = () => {
    alive = false;
    controller.abort();
    if (io) io.disconnect();
    offDelete();
  };
  // The router calls this when only the query changed (filters, back/forward).
  cleanup.update = (newCtx) => {
    ctx = newCtx;
    setListUrl(ctx.url.pathname + ctx.url.search);
    const f = filtersFrom(ctx.url);
    if (JSON.stringify(f) === JSON.stringify(s.filters)) return;
    s.filters = f;
    reload();
  };
  return cleanup;
}
