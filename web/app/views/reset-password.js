// /app/reset-password#token=...: the link of a password-reset mail. The
// token is taken from the hash (and the hash removed) as the view opens;
// POST /api/v1/auth/password-reset/confirm sets the password and ends every
// session of the account, this browser's included.
import { html, render, nothing, field, formValues, focusFirstInvalid, errorMessage, setBusy, takeLinkToken } from '../ui.js';
import { api, fieldErrors } from '../api.js';
import { logout, signedIn } from '../session.js';

export function mount(el, ctx) {
  ctx.setTitle('Choose a new password');
  const token = takeLinkToken(ctx.url);
  // 'form', 'done', or 'invalid' (no token, or pace refused it)
  const state = { step: token ? 'form' : 'invalid', values: { new_password: '', confirm: '' }, errors: {}, formError: '', busy: false };
  let alive = true;

  async function submit(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    state.values = formValues(form);
    state.errors = {};
    state.formError = '';
    if (!state.values.new_password) state.errors.new_password = 'Choose a new password.';
    else if (state.values.confirm !== state.values.new_password) state.errors.confirm = 'Does not match the new password.';
    if (Object.keys(state.errors).length) { draw(); focusFirstInvalid(el); return; }
    state.busy = true;
    draw();
    setBusy(form, true);
    try {
      await api('POST', '/api/v1/auth/password-reset/confirm', {
        json: { token, new_password: state.values.new_password }, auth: false, retries: 0,
      });
      // pace ended every session; forget this browser's too.
      if (signedIn()) await logout().catch(() => {});
      state.step = 'done';
    } catch (err) {
      if (!alive) return;
      if (err.status === 400 && err.code === 'invalid_token') state.step = 'invalid';
      else if (err.status === 422) {
        state.errors = fieldErrors(err);
        if (!state.errors.new_password) state.formError = errorMessage(err);
      } else state.formError = errorMessage(err);
    } finally {
      if (alive) {
        state.busy = false;
        setBusy(form, false);
        draw();
        if (state.step !== 'form') el.querySelector('#reset-result')?.focus();
        else if (state.formError) el.querySelector('.form-error')?.focus();
        else focusFirstInvalid(el);
      }
    }
  }

  function body() {
    if (state.step === 'done') {
      return html`<div class="card">
        <p id="reset-result" class="form-success" role="status" tabindex="-1">Your password was changed,
          and every device signed in to your account was signed out.</p>
        <p><a href="/app/login">Log in with your new password</a></p>
      </div>`;
    }
    if (state.step === 'invalid') {
      return html`<div class="card">
        <p id="reset-result" class="form-error" role="alert" tabindex="-1">This link is no longer valid:
          it was used already, it has expired, or a newer one was sent.</p>
        <p><a href="/app/forgot-password">Ask for a new link</a></p>
      </div>`;
    }
    return html`<form class="card" novalidate @submit=${submit}>
      ${state.formError ? html`<p class="form-error" role="alert" tabindex="-1">${state.formError}</p>` : nothing}
      ${field('New password', 'new_password', { id: 'f-new-password', type: 'password', value: state.values.new_password,
        error: state.errors.new_password, autocomplete: 'new-password', required: true,
        hint: 'At least 12 characters; not your username or email, and not a common password.' })}
      ${field('New password again', 'confirm', { type: 'password', value: state.values.confirm,
        error: state.errors.confirm, autocomplete: 'new-password', required: true })}
      <div class="actions">
        <button type="submit" class="btn btn-primary">${state.busy ? 'Saving…' : 'Set the new password'}</button>
      </div>
    </form>`;
  }

  function draw() {
    render(html`<div class="narrow">
      <h1>Choose a new password</h1>
      ${body()}
    </div>`, el);
  }

  draw();
  return () => { alive = false; };
}
