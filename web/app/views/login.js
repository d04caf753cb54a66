// /app/login: POST /api/v1/auth/web/login through session.js. An account
// with two-step verification answers 401 mfa_required with an mfa_token:
// the view then asks for a code (TOTP, or a recovery code) and completes
// the login at /api/v1/auth/web/mfa (session.js's loginMfa), which signs in
// the same way.
import { html, render, nothing, field, formValues, focusFirstInvalid, errorMessage, setBusy } from '../ui.js';
import { login, loginMfa } from '../session.js';
import { fieldErrors } from '../api.js';

export function mount(el, ctx) {
  ctx.setTitle('Log in');
  const state = {
    step: 'password', // or 'code'
    values: { login: '', password: '', code: '' }, errors: {}, formError: '', busy: false,
    mfaToken: null, recovery: false,
  };
  let alive = true;

  function passwordStep(message) {
    state.step = 'password';
    state.mfaToken = null;
    state.values.code = '';
    state.values.password = '';
    state.recovery = false;
    state.formError = message || '';
  }

  async function submit(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    Object.assign(state.values, formValues(form));
    state.errors = {};
    state.formError = '';
    const missing = {};
    if (state.step === 'code') {
      if (!state.values.code.trim()) missing.code = state.recovery ? 'Enter one of your recovery codes.' : 'Enter the code from your app.';
    } else {
      if (!state.values.login.trim()) missing.login = 'Enter your username or email address.';
      if (!state.values.password) missing.password = 'Enter your password.';
    }
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
      if (state.step === 'code') await loginMfa(state.mfaToken, state.values.code.replace(/\s+/g, ''));
      else await login(state.values.login.trim(), state.values.password);
      // session.onChange takes the app to ?next= or the task list
    } catch (err) {
      if (!alive) return;
      if (state.step === 'code') codeFailed(err);
      else passwordFailed(err);
    } finally {
      if (alive) {
        state.busy = false;
        setBusy(form, false);
        draw();
        if (state.formError) el.querySelector('.form-error')?.focus();
        else if (Object.keys(state.errors).length) focusFirstInvalid(el);
        else if (state.step === 'code') el.querySelector('#f-code')?.focus();
      }
    }
  }

  function passwordFailed(err) {
    if (err.status === 401 && err.code === 'mfa_required' && err.body.mfa_token) {
      state.step = 'code';
      state.mfaToken = err.body.mfa_token;
      state.values.code = '';
    } else if (err.status === 401) state.formError = 'That username or email and password do not match an account.';
    else if (err.status === 403 && err.code === 'email_not_verified') {
      state.formError = 'Confirm your email address first: we sent you a new link. Open it, then log in.';
    } else if (err.status === 422) { state.errors = fieldErrors(err); if (!Object.keys(state.errors).length) state.formError = errorMessage(err); }
    else state.formError = errorMessage(err);
    state.values.password = '';
  }

  function codeFailed(err) {
    state.values.code = '';
    if (err.status === 401 && err.code === 'invalid_mfa_code') {
      state.errors.code = state.recovery
        ? 'That recovery code is not right, or it was used already.'
        : 'That code is not right, or it was used already. Enter the code your app shows now.';
    } else if (err.status === 401) {
      passwordStep('That took too long, or the login was completed elsewhere: log in again.');
    } else state.formError = errorMessage(err);
  }

  function toggleRecovery() {
    state.recovery = !state.recovery;
    state.errors = {};
    state.values.code = '';
    draw();
    el.querySelector('#f-code')?.focus();
  }

  function back() {
    passwordStep('');
    draw();
    el.querySelector('#f-password')?.focus();
  }

  function formBody() {
    if (state.step === 'code') {
      return html`
        <h2>Two-step verification</h2>
        ${field(state.recovery ? 'Recovery code' : 'Code', 'code', {
          value: state.values.code, error: state.errors.code, required: true,
          autocomplete: 'one-time-code', inputmode: state.recovery ? 'text' : 'numeric',
          hint: state.recovery
            ? 'One of the recovery codes you stored when you turned on two-step verification (like abcde-fghij). Each works once.'
            : 'The 6-digit code your authenticator app shows for pace.' })}
        <div class="actions">
          <button type="submit" class="btn btn-primary">${state.busy ? 'Checking…' : 'Verify'}</button>
          <button type="button" class="btn btn-link" @click=${toggleRecovery}>${state.recovery
            ? 'Use a code from your app instead' : 'Use a recovery code instead'}</button>
        </div>
        <p><button type="button" class="btn btn-link" @click=${back}>Start again with your password</button></p>`;
    }
    return html`
      ${field('Username or email', 'login', { value: state.values.login, error: state.errors.login, autocomplete: 'username', required: true })}
      ${field('Password', 'password', { type: 'password', value: state.values.password, error: state.errors.password, autocomplete: 'current-password', required: true })}
      <div class="actions">
        <button type="submit" class="btn btn-primary">${state.busy ? 'Logging in…' : 'Log in'}</button>
        <a href="/app/forgot-password">Forgot your password?</a>
      </div>`;
  }

  function draw() {
    const next = ctx.url.searchParams.get('next');
    render(html`<div class="narrow">
      <h1>Log in</h1>
      <form class="card" novalidate @submit=${submit} aria-describedby=${state.formError ? 'login-error' : nothing}>
        ${state.formError ? html`<p class="form-error" id="login-error" role="alert" tabindex="-1">${state.formError}</p>` : nothing}
        ${formBody()}
      </form>
      <p>New here? <a href=${'/app/signup' + (next ? '?next=' + encodeURIComponent(next) : '')}>Create an account</a>.</p>
    </div>`, el);
  }

  draw();
  return () => { alive = false; };
}
