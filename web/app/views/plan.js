// /app/plans/:id: one plan, readable and printable. A workout plan shows its
// weeks (deload weeks marked), sessions, and exercises with sets, reps and
// rests; a nutrition plan its targets, how they were derived (the formula
// inputs and steps `content` carries) and the meals of each day. Content made
// by an LLM provider has the same core fields but may lack the built-in
// engine's explanations: every optional part is rendered only when present.
import { html, render, nothing, formatDate, formatDateTime, formatNumber, toast, confirmDialog } from '../ui.js';
import { api, ApiError } from '../api.js';
import { keepHeadingFocus } from './profile.js';
import { watchPlan, isPending, stateBadge, scrollableTables } from './plans.js';

const KIND = { workout: 'Workout plan', nutrition: 'Nutrition plan' };
const LABELS = {
  sex: 'Sex', age: 'Age', age_on: 'Age on', height_cm: 'Height', weight_kg: 'Weight',
  activity_level: 'Activity level', goal: 'Goal', diet: 'Diet', meals_per_day: 'Meals per day',
  exclude_foods: 'Foods left out', experience: 'Experience', days_per_week: 'Training days per week',
  session_minutes: 'Minutes per session', equipment: 'Equipment', weeks: 'Weeks', start_date: 'Start date',
};

const num = (n, d = 0) => (typeof n === 'number' ? formatNumber(n, { maximumFractionDigits: d }) : '—');
// Fixed decimals, so that a column of grams lines up.
const fixed = (n) => (typeof n === 'number' ? formatNumber(n, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) : '—');
const words = (s) => (typeof s === 'string' ? s.replace(/_/g, ' ') : s);
const cap = (s) => (typeof s === 'string' && s ? s[0].toUpperCase() + s.slice(1) : s);
const weekday = (d) => (d ? formatDate(d, { weekday: 'long', day: 'numeric', month: 'long' }) : '');

function duration(sec) {
  if (typeof sec !== 'number') return '—';
  if (sec < 60 || sec % 60) return `${formatNumber(sec)} s`;
  return `${formatNumber(sec / 60)} min`;
}

function inputValue(k, v) {
  if (Array.isArray(v)) return v.length ? v.join(', ') : 'none';
  if (k === 'height_cm') return `${num(v, 1)} cm`;
  if (k === 'weight_kg') return `${num(v, 1)} kg`;
  if (k === 'age') return `${num(v)} years`;
  if (k === 'age_on' || k === 'start_date') return formatDate(v);
  if (k === 'session_minutes') return `${num(v)} min`;
  return typeof v === 'number' ? num(v, 2) : cap(words(String(v)));
}

function inputsList(inputs, caption) {
  if (!inputs || typeof inputs !== 'object') return nothing;
  return html`<dl class="inputs" aria-label=${caption}>
    ${Object.entries(inputs).map(([k, v]) => html`<div><dt>${LABELS[k] || cap(words(k))}</dt>
      <dd>${inputValue(k, v)}</dd></div>`)}</dl>`;
}

// ---------------------------------------------------------------- workout

function exerciseRow(x, extra) {
  const load = typeof x.load_change_pct === 'number' && x.load_change_pct !== 0
    ? `${x.load_change_pct > 0 ? '+' : ''}${formatNumber(x.load_change_pct, { maximumFractionDigits: 1 })} %` : '—';
  return html`<tr>
    <th scope="row">${x.name}${x.pattern ? html`<span class="muted sub">${x.pattern}</span>` : nothing}</th>
    <td class="num">${num(x.sets)}</td>
    <td class="num">${typeof x.reps === 'number' ? num(x.reps) : x.reps ?? '—'}</td>
    <td class="num">${duration(x.rest_seconds)}</td>
    ${extra ? html`<td class="num">${typeof x.rir === 'number' ? num(x.rir) : '—'}</td>
    <td class="num">${load}</td>` : nothing}
  </tr>`;
}

function session(s, wi, extra) {
  const title = s.name || 'Session';
  const when = s.date ? weekday(s.date) : (s.day ? `Day ${s.day}` : '');
  const bits = [];
  if (typeof s.estimated_minutes === 'number') bits.push(`about ${num(s.estimated_minutes)} min`);
  if (typeof s.warmup_minutes === 'number') bits.push(`${num(s.warmup_minutes)} min warm-up`);
  return html`<article class="session">
    <h3>${when ? html`<span class="session-date">${when}</span> · ` : nothing}${title}</h3>
    ${bits.length ? html`<p class="muted">${bits.join(', ')}</p>` : nothing}
    <div class="table-wrap"><table class="data exercises">
      <caption class="sr-only">Exercises of ${title}, week ${wi}</caption>
      <thead><tr>
        <th scope="col">Exercise</th><th scope="col" class="num">Sets</th><th scope="col" class="num">Reps</th>
        <th scope="col" class="num">Rest</th>
        ${extra ? html`<th scope="col" class="num"><abbr title="reps in reserve">RIR</abbr></th>
        <th scope="col" class="num">Load</th>` : nothing}
      </tr></thead>
      <tbody>${(s.exercises || []).map((x) => exerciseRow(x, extra))}</tbody>
    </table></div>
    ${s.conditioning ? html`<p class="conditioning"><strong>Conditioning:</strong>
      ${num(s.conditioning.minutes)} min of ${s.conditioning.type}</p>` : nothing}
  </article>`;
}

function week(w, i, extra) {
  const n = w.week ?? i + 1;
  return html`<section class=${w.deload ? 'plan-week deload' : 'plan-week'} aria-labelledby="week-${n}">
    <h2 id="week-${n}">Week ${n}${w.deload ? html` <span class="badge badge-deload">Deload week</span>` : nothing}</h2>
    ${w.deload ? html`<p class="muted">A lighter week: fewer sets, less weight, more reps in reserve.</p>` : nothing}
    ${typeof w.total_sets === 'number'
      ? html`<p class="muted">${num(w.total_sets)} working sets, ${num(w.total_reps)} reps in all.</p>` : nothing}
    ${(w.sessions || []).map((s) => session(s, n, extra))}
  </section>`;
}

function workout(c) {
  // RIR and load columns only when the plan has them (an LLM's may not).
  const extra = (c.weeks || []).some((w) => (w.sessions || []).some((s) => (s.exercises || [])
    .some((x) => typeof x.rir === 'number' || typeof x.load_change_pct === 'number')));
  const pr = c.prescription;
  const why = [];
  if (c.split?.why) why.push(html`<li><strong>Split (${c.split.name}):</strong> ${c.split.why}</li>`);
  if (pr?.why) why.push(html`<li><strong>Sets and reps:</strong> ${pr.why}</li>`);
  if (c.progression?.rule) why.push(html`<li><strong>Progression:</strong> ${c.progression.rule}</li>`);
  if (c.time_model?.rule) why.push(html`<li><strong>Session length:</strong> ${c.time_model.rule}</li>`);
  return html`
    ${c.inputs || why.length ? html`<section class="plan-basis" aria-labelledby="basis-h">
      <h2 id="basis-h">How this plan was built</h2>
      ${inputsList(c.inputs, 'Inputs')}
      ${pr?.compound ? html`<table class="data prescription">
        <caption>Prescription</caption>
        <thead><tr><th scope="col">Exercise type</th><th scope="col" class="num">Sets</th>
          <th scope="col" class="num">Reps</th><th scope="col" class="num">Rest</th></tr></thead>
        <tbody>${['compound', 'isolation'].filter((k) => pr[k]).map((k) => html`<tr>
          <th scope="row">${cap(k)}</th><td class="num">${num(pr[k].sets)}</td>
          <td class="num">${pr[k].reps}</td><td class="num">${duration(pr[k].rest_seconds)}</td></tr>`)}</tbody>
      </table>` : nothing}
      ${why.length ? html`<ul class="why">${why}</ul>` : nothing}
    </section>` : nothing}
    ${(c.weeks || []).map((w, i) => week(w, i, extra))}`;
}

// ---------------------------------------------------------------- nutrition

function targets(c) {
  const m = c.macros || {};
  const e = c.energy || {};
  const kcal = e.target_kcal ?? c.target_kcal ?? m.total_kcal;
  // kcal per gram: 4 protein, 9 fat, 4 carbohydrates, where content does not say.
  const kc = (k, g, f) => (typeof k === 'number' ? k : typeof g === 'number' ? g * f : null);
  const rows = [
    ['Protein', m.protein_g ?? c.protein_g, kc(m.protein_kcal, m.protein_g ?? c.protein_g, 4)],
    ['Fat', m.fat_g ?? c.fat_g, kc(m.fat_kcal, m.fat_g ?? c.fat_g, 9)],
    ['Carbohydrates', m.carbs_g ?? c.carbs_g, kc(m.carbs_kcal, m.carbs_g ?? c.carbs_g, 4)],
  ];
  return html`<section class="targets" aria-labelledby="targets-h">
    <h2 id="targets-h">Daily targets</h2>
    <p class="target-kcal"><span class="big">${num(kcal)}</span> kcal a day</p>
    <table class="data">
      <caption>Macronutrients a day</caption>
      <thead><tr><th scope="col">Nutrient</th><th scope="col" class="num">Grams</th>
        <th scope="col" class="num">kcal</th></tr></thead>
      <tbody>${rows.map(([n, g, k]) => html`<tr><th scope="row">${n}</th>
        <td class="num">${num(g, 1)} g</td><td class="num">${typeof k === 'number' ? num(k) : '—'}</td></tr>`)}
      </tbody>
    </table>
  </section>`;
}

function derivation(c) {
  const e = c.energy;
  const m = c.macros;
  if (!e && !m && !c.inputs) {
    return html`<section class="derivation" aria-labelledby="deriv-h"><h2 id="deriv-h">How the targets were derived</h2>
      <p>${typeof c.derivation === 'string' ? c.derivation : 'The plan provider gave no derivation for these targets.'}</p>
      ${[c.protein_g, c.fat_g, c.carbs_g].every((x) => typeof x === 'number') ? html`<p>The macronutrients add up to
        the energy target: <span class="formula">${num(c.protein_g, 1)} g × 4 + ${num(c.fat_g, 1)} g × 9
        + ${num(c.carbs_g, 1)} g × 4 = ${num(4 * c.protein_g + 9 * c.fat_g + 4 * c.carbs_g)} kcal
        (target ${num(c.target_kcal)} kcal)</span></p>` : nothing}</section>`;
  }
  const steps = [];
  if (e?.bmr_formula) {
    steps.push(html`<li><strong>Resting energy (BMR):</strong> ${num(e.bmr_kcal)} kcal
      <span class="formula">${e.bmr_formula}</span></li>`);
  }
  if (e?.tdee_formula) {
    steps.push(html`<li><strong>Daily energy need (TDEE):</strong> ${num(e.tdee_kcal)} kcal, activity factor
      ${num(e.activity_factor, 3)} <span class="formula">${e.tdee_formula}</span></li>`);
  }
  if (e?.derivation) {
    steps.push(html`<li><strong>Goal adjustment:</strong>
      ${typeof e.goal_adjustment === 'number'
        ? `${formatNumber(e.goal_adjustment, { style: 'percent', signDisplay: 'exceptZero' })} (${typeof e.goal_adjustment_kcal === 'number'
          ? formatNumber(e.goal_adjustment_kcal, { maximumFractionDigits: 0, signDisplay: 'exceptZero' }) : '—'} kcal); `
        : ''}calorie floor ${num(e.calorie_floor_kcal)} kcal${e.floor_applied ? ' (applied)' : ''}
      <span class="formula">${e.derivation}</span></li>`);
  }
  if (m?.derivation) {
    const extra = [];
    if (typeof m.protein_g_per_kg === 'number') extra.push(`protein ${num(m.protein_g_per_kg, 2)} g per kg${m.protein_capped ? ' (capped)' : ''}`);
    if (typeof m.fat_share === 'number') extra.push(`fat ${formatNumber(m.fat_share, { style: 'percent' })} of energy`);
    steps.push(html`<li><strong>Macronutrients:</strong> ${extra.join(', ')}
      <span class="formula">${m.derivation}</span></li>`);
  }
  return html`<section class="derivation" aria-labelledby="deriv-h">
    <h2 id="deriv-h">How the targets were derived</h2>
    ${c.inputs ? html`<h3>Inputs</h3>${inputsList(c.inputs, 'Inputs')}` : nothing}
    ${steps.length ? html`<h3>Steps</h3><ol class="steps">${steps}</ol>` : nothing}
  </section>`;
}

function mealRows(meal, full) {
  const items = meal.items || [];
  return html`<tbody class="meal">
    <tr class="meal-head"><th scope="rowgroup" colspan=${full ? 6 : 2}>${cap(meal.name)}${typeof meal.target_kcal === 'number'
      ? html` <span class="muted">(target ${num(meal.target_kcal)} kcal)</span>` : nothing}</th></tr>
    ${items.map((it) => html`<tr>
      <th scope="row">${it.food}</th><td class="num">${num(it.grams)} g</td>
      ${full ? html`<td class="num">${num(it.kcal)}</td>
      <td class="num">${fixed(it.protein_g)}</td><td class="num">${fixed(it.fat_g)}</td>
      <td class="num">${fixed(it.carbs_g)}</td>` : nothing}</tr>`)}
  </tbody>`;
}

function day(d, i, full) {
  const n = d.day ?? i + 1;
  const t = d.totals;
  return html`<section class="plan-day" aria-labelledby="day-${n}">
    <h3 id="day-${n}">Day ${n}${d.date ? html` <span class="session-date">· ${weekday(d.date)}</span>` : nothing}</h3>
    <div class="table-wrap"><table class=${full ? 'data meals' : 'data meals meals-short'}>
      <caption class="sr-only">Meals of day ${n}</caption>
      <thead><tr><th scope="col">Food</th><th scope="col" class="num">Amount</th>
        ${full ? html`<th scope="col" class="num">kcal</th><th scope="col" class="num">Protein (g)</th>
        <th scope="col" class="num">Fat (g)</th><th scope="col" class="num">Carbs (g)</th>` : nothing}</tr></thead>
      ${(d.meals || []).map((m) => mealRows(m, full))}
      ${t && full ? html`<tfoot><tr><th scope="row" colspan="2">Day total</th><td class="num">${num(t.kcal)}</td>
        <td class="num">${fixed(t.protein_g)}</td><td class="num">${fixed(t.fat_g)}</td>
        <td class="num">${fixed(t.carbs_g)}</td></tr></tfoot>` : nothing}
    </table></div>
  </section>`;
}

function nutrition(c) {
  const mp = c.meal_plan || {};
  const days = mp.days || c.days || [];
  // Nutrient columns only when the items carry them (an LLM's may not).
  const full = days.some((d) => (d.meals || []).some((m) => (m.items || []).some((it) => typeof it.kcal === 'number')));
  return html`${targets(c)}${derivation(c)}
    <section class="meal-plan" aria-labelledby="meals-h">
      <h2 id="meals-h">Meals</h2>
      ${mp.repeats ? html`<p>${cap(mp.repeats)}.</p>` : nothing}
      ${mp.portions ? html`<p class="muted">${cap(mp.portions)}.</p>` : nothing}
      ${mp.excluded?.length ? html`<p>Left out: ${mp.excluded.map((x, i) => html`${i ? '; ' : ''}<strong>${x.exclusion}</strong>
        (${(x.foods || []).join(', ') || 'no foods matched'})`)}.</p>` : nothing}
      ${days.map((d, i) => day(d, i, full))}
    </section>`;
}

// ---------------------------------------------------------------- view

export function mount(el, ctx) {
  const ac = new AbortController();
  let stopWatch = null;
  const st = { plan: null, loading: true, error: '', missing: false };
  const id = ctx.params?.id;
  const tables = scrollableTables(el);
  const draw = () => { render(view(), el); tables.sync(); };

  function title(p) {
    ctx.setTitle?.(p ? `${KIND[p.kind] || 'Plan'} from ${formatDate(p.start_date)}` : 'Plan');
  }

  async function load() {
    try {
      const r = await api('GET', `/api/v1/plans/${encodeURIComponent(id)}`, { accept: [404], signal: ac.signal });
      if (r.status === 404) st.missing = true;
      else st.plan = r.data;
    } catch (e) {
      if (ac.signal.aborted) return;
      st.error = e instanceof ApiError ? e.detail || e.title : 'Could not load the plan.';
    }
    st.loading = false;
    title(st.plan);
    draw();
    keepHeadingFocus(el);
    if (st.plan && isPending(st.plan)) {
      stopWatch = watchPlan(st.plan.id, (p) => { st.plan = p; draw(); }, () => { st.missing = true; st.plan = null; draw(); });
    }
  }

  async function remove() {
    const p = st.plan;
    const ok = await confirmDialog(`Delete this ${p.kind} plan?${p.kind === 'workout' ? ' Tasks it created stay.' : ''}`,
      { title: 'Delete plan', confirmLabel: 'Delete', danger: true });
    if (!ok) return;
    try {
      await api('DELETE', `/api/v1/plans/${p.id}`, { accept: [404], signal: ac.signal });
      toast('Plan deleted.');
      ctx.navigate('/app/plans');
    } catch (e) {
      if (!ac.signal.aborted) toast(e instanceof ApiError ? e.detail || e.title : 'Could not delete the plan.');
    }
  }

  function body(p) {
    if (p.state === 'failed') {
      return html`<p class="form-status-error" role="alert">This plan could not be made${p.error ? `: ${p.error}` : '.'}</p>`;
    }
    if (isPending(p)) {
      return html`<p role="status">${p.state === 'queued' ? 'Waiting to be made…' : 'Being made…'}
        <span class="spinner" aria-hidden="true"></span></p>`;
    }
    const c = p.content || {};
    return p.kind === 'workout' ? workout(c) : nutrition(c);
  }

  function view() {
    if (st.loading) return html`<section class="view-plan"><h1>Plan</h1><p role="status">Loading…</p></section>`;
    if (st.missing || st.error) {
      return html`<section class="view-plan"><h1>Plan</h1>
        <p role="alert">${st.missing ? 'There is no such plan.' : st.error}</p>
        <p><a href="/app/plans">Back to your plans</a></p></section>`;
    }
    const p = st.plan;
    return html`<article class="view-plan plan-${p.kind}" aria-labelledby="plan-h">
      <p class="no-print"><a href="/app/plans">← All plans</a></p>
      <header class="plan-header">
        <h1 id="plan-h">${KIND[p.kind] || 'Plan'}</h1>
        ${p.summary ? html`<p class="lead">${p.summary}</p>` : nothing}
        <dl class="plan-meta">
          <div><dt>State</dt><dd>${stateBadge(p)}</dd></div>
          <div><dt>Starts</dt><dd>${formatDate(p.start_date)}</dd></div>
          <div><dt>Weeks</dt><dd>${num(p.weeks)}</dd></div>
          ${p.generator ? html`<div><dt>Made by</dt><dd>${p.generator === 'llm' ? 'language model' : 'built-in engine'}</dd></div>` : nothing}
          <div><dt>Requested</dt><dd>${formatDateTime(p.created_at)}</dd></div>
        </dl>
        <div class="plan-actions no-print">
          ${p.state === 'ready' ? html`<button type="button" class="btn" @click=${() => window.print()}>Print</button>` : nothing}
          <button type="button" class="btn btn-danger" @click=${remove}>Delete plan</button>
        </div>
      </header>
      ${body(p)}
    </article>`;
  }

  draw();
  load();
  return () => { ac.abort(); stopWatch?.(); tables.stop(); };
}
