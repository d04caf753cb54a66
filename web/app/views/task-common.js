// What the task list and the task editor share: labels, the list address to
// go back to, and deletion with undo.
//
// Deleting waits: the task disappears from the list at once, a toast offers
// Undo, and the DELETE is sent only when the toast goes away without Undo
// (it times out or is dismissed). A page that is closed or reloaded
// meanwhile sends its pending DELETEs on the way out (fetch keepalive), so
// what the user saw deleted is deleted.
import { api } from '../api.js';
import { accessToken } from '../session.js';
import { toast, errorMessage } from '../ui.js';

export const STATUSES = [
  { value: 'todo', label: 'To do' },
  { value: 'in_progress', label: 'In progress' },
  { value: 'done', label: 'Done' },
];
export const STATUS_LABEL = Object.fromEntries(STATUSES.map((s) => [s.value, s.label]));

export const PRIORITIES = [
  { value: '0', label: 'None' },
  { value: '1', label: 'Low' },
  { value: '2', label: 'Medium' },
  { value: '3', label: 'High' },
];
export const PRIORITY_LABEL = Object.fromEntries(PRIORITIES.map((p) => [p.value, p.label]));

export const SORTS = [
  { value: '-created_at', label: 'Newest first' },
  { value: 'created_at', label: 'Oldest first' },
  { value: 'due_date', label: 'Due date, soonest first' },
  { value: '-due_date', label: 'Due date, latest first' },
  { value: '-priority', label: 'Priority, highest first' },
];

let lastList = '/app/tasks';
export function setListUrl(url) { lastList = url; }
export function listUrl() { return lastList; }

export const UNDO_MS = 8000;
const pending = new Map(); // id -> {task, onFail}
const changeListeners = new Set();

export function isPendingDelete(id) { return pending.has(id); }
export function onDeleteChange(fn) { changeListeners.add(fn); return () => changeListeners.delete(fn); }
function changed(ev) { for (const fn of changeListeners) fn(ev); }

// Hides the task now, deletes it when the undo toast goes away.
// onUndo(): put it back; onFail(err): the DELETE failed, put it back.
export function scheduleDelete(task, { onUndo, onFail } = {}) {
  pending.set(task.id, { task, onFail });
  changed({ type: 'pending', id: task.id });
  toast(`Deleted “${task.title}”.`, {
    timeout: UNDO_MS,
    action: {
      label: 'Undo',
      run: () => {
        pending.delete(task.id);
        if (onUndo) onUndo();
        changed({ type: 'undone', id: task.id, task });
        toast(`Restored “${task.title}”.`);
      },
    },
    onClose: ({ acted }) => { if (!acted) commit(task.id); },
  });
}

async function commit(id) {
  const entry = pending.get(id);
  if (!entry) return;
  try {
    await api('DELETE', `/api/v1/tasks/${id}`, { accept: [404] }); // 404: gone already
    pending.delete(id);
    changed({ type: 'deleted', id });
  } catch (err) {
    pending.delete(id);
    if (entry.onFail) entry.onFail(err);
    changed({ type: 'failed', id, task: entry.task });
    toast(`“${entry.task.title}” could not be deleted: ${errorMessage(err)}`, { kind: 'error' });
  }
}

window.addEventListener('pagehide', () => {
  const token = accessToken();
  if (!token) return;
  for (const id of pending.keys()) {
    fetch(`/api/v1/tasks/${id}`, {
      method: 'DELETE', keepalive: true, credentials: 'same-origin',
      headers: { Authorization: `Bearer ${token}` },
    }).catch(() => {});
  }
  pending.clear();
});

// A task's editable fields as the form holds them (strings).
export function formFromTask(t) {
  return {
    title: t ? t.title : '',
    description: t && t.description ? t.description : '',
    status: t ? t.status : 'todo',
    priority: t ? String(t.priority) : '0',
    due_date: t && t.due_date ? t.due_date : '',
  };
}

// Form strings -> API fields.
export function taskFromForm(v) {
  return {
    title: v.title.trim(),
    description: v.description.trim() === '' ? null : v.description,
    status: v.status,
    priority: parseInt(v.priority, 10) || 0,
    due_date: v.due_date === '' ? null : v.due_date,
  };
}

export const FIELDS = ['title', 'description', 'status', 'priority', 'due_date'];

// The fields of `mine` (API shape) that differ from `base` (a task).
export function diff(mine, base) {
  const out = {};
  for (const f of FIELDS) {
    const a = mine[f] ?? null;
    const b = base ? base[f] ?? null : null;
    if (a !== b) out[f] = mine[f];
  }
  return out;
}
