// /app/login: POST /api/v1/auth/web/login through session.js.
import { html, render, nothing, field, formValues, focusFirstInvalid, errorMessage, setBusy } from '../ui.js';
import { login } from '../session.js';
import { fieldErrors } from '../api.js';

export function mount(el, ctx) {
  ctx.setTitle('Log in');
  const state = { values: { login: '', password: '' }, errors: {}, formError: '', busy: false };
  let alive = true;

  async function submit(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    state.values = formValues(form);
    state.errors = {};
    state.formError = '';
    const missing = {};
    if (!state.values.login.trim()) missing.login = 'Enter your username or email address.';
    if (!state.values.password) missing.password = 'Enter your password.';
    if (Object.keys(missing).length) {
      state.errors = missing;
      draw();
      focusFirstInvalid(el);
      return;
    }
    state.busy = true;
    draw();
    setBusy(form, true);
    try {
      await login(state.values.login.trim(), state.values.password);
      // session.onChange takes the app to ?next= or the task list
    } catch (err) {
      if (!alive) return;
      if (err.status === 401) state.formError = 'That username or email and password do not match an account.';
      else if (err.status === 422) { state.errors = fieldErrors(err); if (!Object.keys(state.errors).length) state.formError = errorMessage(err); }
      else state.formError = errorMessage(err);
      state.values.password = '';
    } finally {
      if (alive) {
        state.busy = false;
        setBusy(form, false);
        draw();
        if (state.formError) el.querySelector('.form-error')?.focus();
        else focusFirstInvalid(el);
      }
    }
  }

  function draw() {
    const next = ctx.url.searchParams.get('next');
    render(html`<div class="narrow">
      <h1>Log in</h1>
      <form class="card" novalidate @submit=${submit} aria-describedby=${state.formError ? 'login-error' : nothing}>
        ${state.formError ? html`<p class="form-error" id="login-error" role="alert" tabindex="-1">${state.formError}</p>` : nothing}
        ${field('Username or email', 'login', { value: state.values.login, error: state.errors.login, autocomplete: 'username', required: true })}
        ${field('Password', 'password', { type: 'password', value: state.values.password, error: state.errors.password, autocomplete: 'current-password', required: true })}
        <div class="actions">
          <button type="submit" class="btn btn-primary">${state.busy ? 'Logging in…' : 'Log in'}</button>
        </div>
      </form>
      <p>New here? <a href=${'/app/signup' + (next ? '?next=' + encodeURIComponent(next) : '')}>Create an account</a>.</p>
    </div>`, el);
  }

  draw();
  return () => { alive = false; };
}
