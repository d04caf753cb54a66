// /app/forgot-password: POST /api/v1/auth/password-reset. pace answers the
// same for every address (202), so the page does too: whether an account
// uses the address is never shown.
import { html, render, nothing, field, formValues, focusFirstInvalid, errorMessage, setBusy } from '../ui.js';
import { api, fieldErrors } from '../api.js';

export function mount(el, ctx) {
  ctx.setTitle('Forgot your password');
  const state = { email: '', errors: {}, formError: '', sent: '', busy: false };
  let alive = true;

  async function submit(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    state.email = formValues(form).email.trim();
    state.errors = {};
    state.formError = '';
    if (!state.email) {
      state.errors.email = 'Enter the email address of your account.';
      draw();
      focusFirstInvalid(el);
      return;
    }
    state.busy = true;
    draw();
    setBusy(form, true);
    try {
      await api('POST', '/api/v1/auth/password-reset', { json: { email: state.email }, auth: false, retries: 0 });
      state.sent = state.email;
    } catch (err) {
      if (!alive) return;
      if (err.status === 422) state.errors = fieldErrors(err);
      if (!state.errors.email) state.formError = errorMessage(err);
    } finally {
      if (alive) {
        state.busy = false;
        setBusy(form, false);
        draw();
        if (state.sent) el.querySelector('#forgot-sent')?.focus();
        else if (state.formError) el.querySelector('.form-error')?.focus();
        else focusFirstInvalid(el);
      }
    }
  }

  function draw() {
    render(html`<div class="narrow">
      <h1>Forgot your password?</h1>
      ${state.sent ? html`<div class="card">
        <p id="forgot-sent" class="form-success" role="status" tabindex="-1">If an account uses
          <strong>${state.sent}</strong>, a link to choose a new password is on its way.
          It works once and for a short time.</p>
        <p>Nothing arrived? Check the address and your spam folder, then
          <button type="button" class="btn btn-link" @click=${again}>ask again</button>.</p>
      </div>` : html`<form class="card" novalidate @submit=${submit}>
        <p>Enter the email address of your account: we will send it a link to choose a new password.</p>
        ${state.formError ? html`<p class="form-error" role="alert" tabindex="-1">${state.formError}</p>` : nothing}
        ${field('Email', 'email', { type: 'email', value: state.email, error: state.errors.email, autocomplete: 'email', required: true })}
        <div class="actions">
          <button type="submit" class="btn btn-primary">${state.busy ? 'Sending…' : 'Send the link'}</button>
        </div>
      </form>`}
      <p><a href="/app/login">Back to log in</a></p>
    </div>`, el);
  }

  function again() {
    state.sent = '';
    draw();
    el.querySelector('#f-email')?.focus();
  }

  draw();
  return () => { alive = false; };
}
