// /app/profile: the fitness profile form. GET /api/v1/profile (404: none
// yet), PUT the whole profile with If-Match; the server's 422 field errors
// are shown next to their fields. The server is the one place the rules
// live: the inputs carry min/max for their keyboards and spinners, but the
// form is novalidate so that what pace says is what the user sees.
import { html, render, nothing, repeat, formatDateTime } from '../ui.js';
import { api, ApiError, fieldErrors } from '../api.js';

const ENUMS = {
  sex: [['female', 'Female'], ['male', 'Male']],
  activity_level: [
    ['sedentary', 'Sedentary (little or no exercise)'],
    ['light', 'Light (1–3 days a week)'],
    ['moderate', 'Moderate (3–5 days a week)'],
    ['active', 'Active (6–7 days a week)'],
    ['very_active', 'Very active (hard daily exercise or physical job)'],
  ],
  goal: [['lose_fat', 'Lose fat'], ['maintain', 'Maintain'], ['build_muscle', 'Build muscle'],
    ['endurance', 'Endurance']],
  experience: [['beginner', 'Beginner'], ['intermediate', 'Intermediate'], ['advanced', 'Advanced']],
  equipment: [['none', 'No equipment'], ['dumbbells', 'Dumbbells'], ['home_gym', 'Home gym'],
    ['full_gym', 'Full gym']],
  diet: [['omnivore', 'Omnivore'], ['pescatarian', 'Pescatarian'], ['vegetarian', 'Vegetarian'],
    ['vegan', 'Vegan']],
};

// name → [label, min, max, step, unit hint]
const NUMBERS = {
  height_cm: ['Height (cm)', 100, 250, 0.1],
  weight_kg: ['Weight (kg)', 30, 300, 0.1],
  days_per_week: ['Training days per week', 1, 7, 1],
  session_minutes: ['Minutes per session', 20, 180, 1],
  meals_per_day: ['Meals per day', 2, 6, 1],
};

const FIELDS = ['sex', 'birth_date', 'height_cm', 'weight_kg', 'activity_level', 'goal', 'experience',
  'days_per_week', 'session_minutes', 'equipment', 'diet', 'meals_per_day'];

const EXCLUDE_MAX = 50;

function emptyForm() {
  const f = { exclude_foods: [] };
  for (const k of FIELDS) f[k] = '';
  return f;
}

function toForm(p) {
  const f = emptyForm();
  for (const k of FIELDS) f[k] = p[k] == null ? '' : String(p[k]);
  f.exclude_foods = Array.isArray(p.exclude_foods) ? [...p.exclude_foods] : [];
  return f;
}

// The body PUT sends: numbers as numbers where they parse, else the raw text
// (the server then says what is wrong with it), empty fields as null.
function toBody(f) {
  const b = {};
  for (const k of FIELDS) {
    const v = f[k].trim();
    if (v === '') b[k] = null;
    else if (k in NUMBERS) b[k] = Number.isFinite(Number(v)) ? Number(v) : v;
    else b[k] = v;
  }
  b.exclude_foods = f.exclude_foods;
  return b;
}

// The loading view's h1 is replaced by the loaded one: if focus was left on
// nothing (it was on the old h1, which the shell focuses on arrival), put it
// on the new h1 so a screen reader stays in the view.
export function keepHeadingFocus(el) {
  if (document.activeElement && document.activeElement !== document.body) return;
  const h1 = el.querySelector('h1');
  if (!h1) return;
  h1.setAttribute('tabindex', '-1');
  h1.focus({ preventScroll: true });
}

export function mount(el, ctx) {
  ctx.setTitle?.('Fitness profile');
  const ac = new AbortController();
  const st = {
    loading: true, exists: false, etag: null, updatedAt: null, form: emptyForm(), errors: {},
    message: '', saving: false, dirty: false, food: '', conflict: false,
  };
  const draw = () => render(view(), el);

  async function load() {
    st.loading = true;
    draw();
    try {
      const r = await api('GET', '/api/v1/profile', { accept: [404], signal: ac.signal });
      if (r.status === 404) {
        st.exists = false;
        st.etag = null;
      } else {
        st.exists = true;
        st.etag = r.etag;
        st.updatedAt = r.data.updated_at;
        st.form = toForm(r.data);
      }
      st.dirty = false;
      st.conflict = false;
      st.errors = {};
      st.message = '';
    } catch (e) {
      if (ac.signal.aborted) return;
      st.message = e instanceof ApiError ? e.detail || e.title : 'Could not load your profile.';
    }
    st.loading = false;
    draw();
    keepHeadingFocus(el);
  }

  async function save(ev) {
    ev.preventDefault();
    if (st.saving) return;
    st.saving = true;
    st.message = '';
    draw();
    try {
      const r = await api('PUT', '/api/v1/profile', {
        json: toBody(st.form), ifMatch: st.exists ? st.etag || undefined : undefined, signal: ac.signal,
      });
      st.exists = true;
      st.etag = r.etag;
      st.updatedAt = r.data.updated_at;
      st.form = toForm(r.data);
      st.errors = {};
      st.dirty = false;
      st.saving = false;
      draw();
      el.querySelector('#profile-status')?.focus();
      return;
    } catch (e) {
      if (ac.signal.aborted) return;
      st.errors = {};
      if (e instanceof ApiError && e.status === 422) {
        const fe = fieldErrors(e);
        for (const [k, v] of Object.entries(fe)) st.errors[k.replace(/[.[].*$/, '')] = v;
        st.message = 'Some fields need attention.';
      } else if (e instanceof ApiError && e.status === 412) {
        st.conflict = true;
        st.message = 'Your profile was changed somewhere else since you opened it.';
      } else {
        st.message = e instanceof ApiError ? e.detail || e.title : 'Could not save your profile.';
      }
    }
    st.saving = false;
    draw();
    const first = FIELDS.concat(['exclude_foods']).find((k) => st.errors[k]);
    const target = first ? el.querySelector(first === 'exclude_foods' ? '#pf-food' : `#pf-${first}`) : null;
    (target || el.querySelector('#profile-status'))?.focus();
  }

  function set(name) {
    return (ev) => {
      st.form[name] = ev.target.value;
      st.dirty = true;
      if (st.errors[name]) { delete st.errors[name]; draw(); } else draw();
    };
  }

  function addFood() {
    const v = st.food.trim();
    if (!v) return;
    if (st.form.exclude_foods.length >= EXCLUDE_MAX) {
      st.errors.exclude_foods = `at most ${EXCLUDE_MAX} foods`;
    } else if (!st.form.exclude_foods.some((x) => x.toLowerCase() === v.toLowerCase())) {
      st.form.exclude_foods = [...st.form.exclude_foods, v];
      st.dirty = true;
      delete st.errors.exclude_foods;
    }
    st.food = '';
    draw();
    el.querySelector('#pf-food')?.focus();
  }

  function removeFood(food) {
    st.form.exclude_foods = st.form.exclude_foods.filter((x) => x !== food);
    st.dirty = true;
    draw();
    el.querySelector('#pf-food')?.focus();
  }

  function err(name) {
    return st.errors[name]
      ? html`<p class="field-error" id="pf-${name}-error">${st.errors[name]}</p>` : nothing;
  }

  function described(name, hint) {
    const ids = [];
    if (hint) ids.push(`pf-${name}-hint`);
    if (st.errors[name]) ids.push(`pf-${name}-error`);
    return ids.length ? ids.join(' ') : nothing;
  }

  function select(name, label) {
    return html`<div class="field">
      <label for="pf-${name}">${label}</label>
      <select id="pf-${name}" name=${name} required @change=${set(name)}
        aria-invalid=${st.errors[name] ? 'true' : 'false'} aria-describedby=${described(name)}>
        <option value="" ?selected=${st.form[name] === ''} disabled>Choose…</option>
        ${ENUMS[name].map(([v, t]) => html`<option value=${v} ?selected=${st.form[name] === v}>${t}</option>`)}
      </select>${err(name)}</div>`;
  }

  function number(name) {
    const [label, min, max, step] = NUMBERS[name];
    return html`<div class="field">
      <label for="pf-${name}">${label}</label>
      <input id="pf-${name}" name=${name} type="number" inputmode=${step < 1 ? 'decimal' : 'numeric'}
        min=${min} max=${max} step=${step} required .value=${st.form[name]} @input=${set(name)}
        aria-invalid=${st.errors[name] ? 'true' : 'false'} aria-describedby=${described(name, true)}>
      <p class="hint" id="pf-${name}-hint">${min} to ${max}</p>${err(name)}</div>`;
  }

  function status() {
    let text;
    if (st.saving) text = 'Saving…';
    else if (st.message) text = st.message;
    else if (st.dirty) text = 'Unsaved changes.';
    else if (st.exists) text = `Saved${st.updatedAt ? ` ${formatDateTime(st.updatedAt)}` : ''}.`;
    else text = 'You have no profile yet: fill it in to request plans.';
    const bad = st.message && !st.saving;
    return html`<p id="profile-status" class=${bad ? 'form-status form-status-error' : 'form-status'}
      role="status" tabindex="-1">${text}${st.conflict
        ? html` <button type="button" class="btn-link" @click=${load}>Load the latest version</button>`
        : nothing}</p>`;
  }

  function view() {
    if (st.loading) return html`<section class="view-profile"><h1>Fitness profile</h1>
      <p role="status">Loading…</p></section>`;
    const f = st.form;
    return html`<section class="view-profile" aria-labelledby="profile-h">
      <h1 id="profile-h">Fitness profile</h1>
      <p class="lead">Plans are made from this profile as it is when you request them.</p>
      <form class="profile-form" novalidate @submit=${save}>
        <fieldset>
          <legend>About you</legend>
          ${select('sex', 'Sex')}
          <div class="field">
            <label for="pf-birth_date">Date of birth</label>
            <input id="pf-birth_date" name="birth_date" type="date" required autocomplete="bday"
              .value=${f.birth_date} @input=${set('birth_date')}
              aria-invalid=${st.errors.birth_date ? 'true' : 'false'} aria-describedby=${described('birth_date')}>
            ${err('birth_date')}
          </div>
          ${number('height_cm')} ${number('weight_kg')}
          ${select('activity_level', 'Activity level')}
        </fieldset>
        <fieldset>
          <legend>Training</legend>
          ${select('goal', 'Goal')} ${select('experience', 'Experience')}
          ${number('days_per_week')} ${number('session_minutes')}
          ${select('equipment', 'Equipment')}
        </fieldset>
        <fieldset>
          <legend>Food</legend>
          ${select('diet', 'Diet')} ${number('meals_per_day')}
          <div class="field">
            <label for="pf-food">Foods to leave out</label>
            <div class="tag-input">
              <input id="pf-food" type="text" maxlength="100" autocomplete="off" .value=${st.food}
                @input=${(e) => { st.food = e.target.value; }}
                @keydown=${(e) => { if (e.key === 'Enter') { e.preventDefault(); addFood(); } }}
                aria-invalid=${st.errors.exclude_foods ? 'true' : 'false'}
                aria-describedby=${described('exclude_foods', true)}>
              <button type="button" class="btn" @click=${addFood}>Add</button>
            </div>
            <p class="hint" id="pf-exclude_foods-hint">Type a food and press Enter; up to ${EXCLUDE_MAX}.</p>
            ${err('exclude_foods')}
            ${f.exclude_foods.length ? html`<ul class="tags" aria-label="Foods left out">
              ${repeat(f.exclude_foods, (x) => x, (x) => html`<li class="tag"><span>${x}</span>
                <button type="button" class="btn btn-icon btn-small tag-remove" aria-label="Remove ${x}"
                  @click=${() => removeFood(x)}>×</button></li>`)}
            </ul>` : html`<p class="muted">None.</p>`}
          </div>
        </fieldset>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary" ?disabled=${st.saving}>Save profile</button>
          ${st.exists && !st.dirty ? html`<a href="/app/plans">Request a plan</a>` : nothing}
        </div>
        ${status()}
      </form>
    </section>`;
  }

  load();
  return () => ac.abort();
}
