// /app/tasks/new and /app/tasks/:id: create a task (POST with an
// Idempotency-Key) or edit one (PATCH with If-Match: the ETag it was read
// with). When another device changed the task first (412), both versions
// are shown side by side and the user keeps one of them.
import { api, fieldErrors } from '../api.js';
import { html, render, nothing, field, formValues, focusFirstInvalid, errorMessage, toast, formatDate, formatDateTime, setBusy } from '../ui.js';
import {
  STATUSES, STATUS_LABEL, PRIORITIES, PRIORITY_LABEL, listUrl, scheduleDelete,
  formFromTask, taskFromForm, diff, FIELDS,
} from './task-common.js';

const FIELD_LABEL = { title: 'Title', description: 'Description', status: 'Status', priority: 'Priority', due_date: 'Due date' };

function show(f, v) {
  if (v == null || v === '') return html`<span class="muted">(none)</span>`;
  if (f === 'status') return STATUS_LABEL[v] || v;
  if (f === 'priority') return PRIORITY_LABEL[String(v)] || String(v);
  if (f === 'due_date') return formatDate(v);
  return v;
}

export function mount(el, ctx) {
  const isNew = !ctx.params.id;
  const id = ctx.params.id;
  const s = {
    loading: !isNew,
    notFound: false,
    loadError: '',
    task: null, // the server's version the form started from
    etag: null,
    values: formFromTask(null),
    errors: {},
    formError: '',
    busy: false,
    conflict: null, // {mine: API fields, theirs: task, etag}
  };
  let alive = true;
  const controller = new AbortController();
  let idem = null; // {key, body}: the same create retried keeps its key

  ctx.setTitle(isNew ? 'New task' : 'Edit task');

  async function load() {
    try {
      const r = await api('GET', `/api/v1/tasks/${id}`, { signal: controller.signal, accept: [404] });
      if (!alive) return;
      if (r.status === 404) { s.notFound = true; ctx.setTitle('Task not found'); }
      else {
        s.task = r.data;
        s.etag = r.etag;
        s.values = formFromTask(r.data);
        ctx.setTitle(`Edit: ${r.data.title}`);
      }
    } catch (err) {
      if (!alive || err.name === 'AbortError') return;
      s.loadError = errorMessage(err);
    }
    s.loading = false;
    draw();
  }

  function finish(message) {
    toast(message);
    ctx.navigate(listUrl());
  }

  async function submit(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    s.values = formValues(form);
    s.errors = {};
    s.formError = '';
    if (!s.values.title.trim()) {
      s.errors.title = 'Give the task a title.';
      draw();
      focusFirstInvalid(el);
      return;
    }
    const mine = taskFromForm(s.values);
    s.busy = true;
    draw();
    setBusy(form, true);
    try {
      if (isNew) {
        const body = JSON.stringify(mine);
        if (!idem || idem.body !== body) idem = { key: crypto.randomUUID(), body };
        await api('POST', '/api/v1/tasks', { json: mine, idempotencyKey: idem.key });
        if (!alive) return;
        finish(`Created “${mine.title}”.`);
        return;
      }
      const changes = diff(mine, s.task);
      if (Object.keys(changes).length === 0) { finish('No changes to save.'); return; }
      const r = await api('PATCH', `/api/v1/tasks/${id}`, { json: changes, ifMatch: s.etag, accept: [412] });
      if (!alive) return;
      if (r.status === 412) { await showConflict(mine); return; }
      finish(`Saved “${r.data.title}”.`);
    } catch (err) {
      if (!alive) return;
      if (err.status === 422) {
        s.errors = fieldErrors(err);
        if (!Object.keys(s.errors).length) s.formError = errorMessage(err);
      } else if (err.status === 404) {
        s.formError = 'This task was deleted on another device.';
      } else {
        s.formError = errorMessage(err);
      }
    } finally {
      if (alive) {
        s.busy = false;
        setBusy(form, false);
        draw();
        if (s.formError) el.querySelector('.form-error')?.focus();
        else if (!s.conflict) focusFirstInvalid(el);
      }
    }
  }

  // 412: fetch what the server has now and let the user choose.
  async function showConflict(mine) {
    const r = await api('GET', `/api/v1/tasks/${id}`, { accept: [404] });
    if (!alive) return;
    if (r.status === 404) { s.formError = 'This task was deleted on another device.'; return; }
    s.conflict = { mine, theirs: r.data, etag: r.etag };
    draw();
    requestAnimationFrame(() => el.querySelector('#conflict-title')?.focus());
  }

  async function keepMine() {
    const c = s.conflict;
    const changes = diff(c.mine, c.theirs);
    s.busy = true;
    draw();
    try {
      if (Object.keys(changes).length === 0) { finish('Both versions are the same now.'); return; }
      const r = await api('PATCH', `/api/v1/tasks/${id}`, { json: changes, ifMatch: c.etag, accept: [412] });
      if (!alive) return;
      if (r.status === 412) { await showConflict(c.mine); return; } // changed yet again
      s.conflict = null;
      finish(`Saved your version of “${r.data.title}”.`);
    } catch (err) {
      if (alive) s.formError = errorMessage(err);
    } finally {
      if (alive) { s.busy = false; draw(); }
    }
  }

  function keepTheirs() {
    const c = s.conflict;
    s.conflict = null;
    s.task = c.theirs;
    s.etag = c.etag;
    s.values = formFromTask(c.theirs);
    finish(`Kept the other device's version of “${c.theirs.title}”.`);
  }

  function del() {
    if (!s.task) return;
    scheduleDelete(s.task);
    ctx.navigate(listUrl());
  }

  function version(title, t, other) {
    return html`<section class="version" aria-labelledby="v-${title.replace(/\W+/g, '-')}">
      <h3 id="v-${title.replace(/\W+/g, '-')}">${title}</h3>
      <dl>
        ${FIELDS.map((f) => {
          const differs = (t[f] ?? null) !== (other[f] ?? null);
          return html`<dt>${FIELD_LABEL[f]}</dt>
            <dd class=${differs ? 'differs' : ''}>${show(f, t[f])}${differs ? html`<span class="sr-only"> (differs)</span>` : nothing}</dd>`;
        })}
      </dl>
    </section>`;
  }

  function conflictPanel() {
    const c = s.conflict;
    return html`<section class="conflict" aria-labelledby="conflict-title">
      <h2 id="conflict-title" tabindex="-1">This task was changed on another device</h2>
      <p>Your changes were not saved, because the task changed after you opened it
        (at ${formatDateTime(c.theirs.updated_at)}). Choose the version to keep.</p>
      <div class="versions">
        ${version('Your version', c.mine, c.theirs)}
        ${version('Current version on the server', c.theirs, c.mine)}
      </div>
      <div class="actions">
        <button type="button" class="btn btn-primary" ?disabled=${s.busy} @click=${keepMine}>Keep my version</button>
        <button type="button" class="btn" ?disabled=${s.busy} @click=${keepTheirs}>Keep the server's version</button>
      </div>
    </section>`;
  }

  function draw() {
    if (!alive) return;
    const heading = isNew ? 'New task' : 'Edit task';
    let content;
    if (s.loading) content = html`<p class="loading" role="status">Loading the task…</p>`;
    else if (s.notFound) content = html`<p>This task does not exist, or it was deleted.</p><p><a href=${listUrl()}>Back to tasks</a></p>`;
    else if (s.loadError) content = html`<p class="form-error" role="alert">The task could not be loaded: ${s.loadError}</p><p><a href=${listUrl()}>Back to tasks</a></p>`;
    else {
      const v = s.values;
      content = html`
        ${s.conflict ? conflictPanel() : nothing}
        <form class="card" novalidate @submit=${submit} aria-label=${heading}>
          ${s.formError ? html`<p class="form-error" role="alert" tabindex="-1">${s.formError}</p>` : nothing}
          ${field('Title', 'title', { value: v.title, error: s.errors.title, required: true, maxlength: 200 })}
          ${field('Description', 'description', { type: 'textarea', value: v.description, error: s.errors.description, rows: 4, maxlength: 10000 })}
          <div class="form-grid">
            ${field('Status', 'status', { type: 'select', value: v.status, error: s.errors.status, options: STATUSES })}
            ${field('Priority', 'priority', { type: 'select', value: v.priority, error: s.errors.priority, options: PRIORITIES })}
            ${field('Due date', 'due_date', { type: 'date', value: v.due_date, error: s.errors.due_date })}
          </div>
          ${s.task ? html`<p class="muted small">Created ${formatDateTime(s.task.created_at)} · last changed ${formatDateTime(s.task.updated_at)}</p>` : nothing}
          <div class="actions">
            <button type="submit" class="btn btn-primary" ?disabled=${s.busy || !!s.conflict}>${isNew ? 'Create task' : 'Save changes'}</button>
            <a class="btn" href=${listUrl()}>Cancel</a>
            ${s.task ? html`<button type="button" class="btn btn-danger" @click=${del}>Delete</button>` : nothing}
          </div>
        </form>`;
    }
    render(html`<div class="page-head"><h1>${heading}</h1></div>${content}`, el);
  }

  draw();
  if (!isNew) load();
  return () => { alive = false; controller.abort(); };
}
