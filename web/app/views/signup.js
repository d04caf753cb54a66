// /app/signup: POST /api/v1/auth/register, then the web login. pace mails
// a link to confirm the address; a server that requires a confirmed address
// refuses the login (403 email_not_verified) until it is opened.
import { html, render, nothing, field, formValues, focusFirstInvalid, errorMessage, setBusy, toast } from '../ui.js';
import { login } from '../session.js';
import { api, fieldErrors } from '../api.js';

const CONFLICT_FIELD = { username_taken: 'username', email_taken: 'email' };
const CONFLICT_TEXT = {
  username_taken: 'This username is taken. Choose another one.',
  email_taken: 'An account with this email address exists already. Log in instead?',
};

export function mount(el, ctx) {
  ctx.setTitle('Sign up');
  const state = { values: { username: '', email: '', password: '' }, errors: {}, formError: '', busy: false, confirm: '' };
  let alive = true;

  function check(v) {
    const e = {};
    if (!v.username.trim()) e.username = 'Choose a username.';
    if (!v.email.trim()) e.email = 'Enter your email address.';
    if (!v.password) e.password = 'Choose a password.';
    return e;
  }

  async function submit(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    state.values = formValues(form);
    state.formError = '';
    state.errors = check(state.values);
    if (Object.keys(state.errors).length) { draw(); focusFirstInvalid(el); return; }
    state.busy = true;
    draw();
    setBusy(form, true);
    let registered = false;
    try {
      await api('POST', '/api/v1/auth/register', {
        json: { username: state.values.username.trim(), email: state.values.email.trim(), password: state.values.password },
        auth: false, retries: 0,
      });
      registered = true;
      const email = state.values.email.trim();
      await login(state.values.username.trim(), state.values.password);
      // session.onChange takes the app on
      toast(`Welcome! We sent a link to ${email}: open it to confirm your email address.`, { timeout: 10000 });
    } catch (err) {
      if (!alive) return;
      if (registered && err.code === 'email_not_verified') {
        state.confirm = state.values.email.trim();
      } else if (registered) {
        state.formError = `Your account was created, but logging in failed: ${errorMessage(err)}`;
      } else if (CONFLICT_FIELD[err.code]) {
        state.errors = { [CONFLICT_FIELD[err.code]]: CONFLICT_TEXT[err.code] };
      } else if (err.status === 422) {
        state.errors = fieldErrors(err);
        if (!Object.keys(state.errors).length) state.formError = errorMessage(err);
      } else {
        state.formError = errorMessage(err);
      }
    } finally {
      if (alive) {
        state.busy = false;
        setBusy(form, false);
        draw();
        if (state.confirm) el.querySelector('#signup-confirm')?.focus();
        else if (state.formError) el.querySelector('.form-error')?.focus();
        else focusFirstInvalid(el);
      }
    }
  }

  function draw() {
    const next = ctx.url.searchParams.get('next');
    if (state.confirm) {
      render(html`<div class="narrow">
        <h1>Create your account</h1>
        <div class="card">
          <p id="signup-confirm" class="form-success" role="status" tabindex="-1">Your account was created.
            We sent a link to <strong>${state.confirm}</strong>: open it to confirm your email address, then log in.</p>
          <p><a href="/app/login">Log in</a></p>
        </div>
      </div>`, el);
      return;
    }
    render(html`<div class="narrow">
      <h1>Create your account</h1>
      <form class="card" novalidate @submit=${submit}>
        ${state.formError ? html`<p class="form-error" role="alert" tabindex="-1">${state.formError}</p>` : nothing}
        ${field('Username', 'username', { value: state.values.username, error: state.errors.username, autocomplete: 'username', required: true,
          hint: '3 to 32 letters, digits, and _ . -' })}
        ${field('Email', 'email', { type: 'email', value: state.values.email, error: state.errors.email, autocomplete: 'email', required: true })}
        ${field('Password', 'password', { type: 'password', value: state.values.password, error: state.errors.password, autocomplete: 'new-password', required: true,
          hint: 'At least 12 characters; not your username or email, and not a common password.' })}
        <div class="actions">
          <button type="submit" class="btn btn-primary">${state.busy ? 'Creating account…' : 'Sign up'}</button>
        </div>
      </form>
      <p>Have an account? <a href=${'/app/login' + (next ? '?next=' + encodeURIComponent(next) : '')}>Log in</a>.</p>
    </div>`, el);
  }

  draw();
  return () => { alive = false; };
}
