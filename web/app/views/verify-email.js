// /app/verify-email#token=...: the link of a verification mail. The token
// is taken from the hash (and the hash removed) as the view opens, and sent
// at once: POST /api/v1/auth/verify-email. Signed in, the user is fetched
// again so that the account page shows the address confirmed.
import { html, render, errorMessage, takeLinkToken } from '../ui.js';
import { api } from '../api.js';
import { currentUser, signedIn } from '../session.js';

export function mount(el, ctx) {
  ctx.setTitle('Confirm your email address');
  const token = takeLinkToken(ctx.url);
  const ac = new AbortController();
  let step = token ? 'busy' : 'invalid'; // 'busy', 'done', 'invalid', 'error'
  let message = '';

  async function confirm() {
    try {
      await api('POST', '/api/v1/auth/verify-email', { json: { token }, auth: false, retries: 0, signal: ac.signal });
      step = 'done';
      if (signedIn()) await currentUser(true).catch(() => {});
    } catch (err) {
      if (ac.signal.aborted) return;
      if (err.status === 400) step = 'invalid';
      else { step = 'error'; message = errorMessage(err); }
    }
    draw();
    el.querySelector('#verify-result')?.focus();
  }

  function body() {
    const account = signedIn();
    if (step === 'busy') return html`<p role="status">Confirming your email address…</p>`;
    if (step === 'done') {
      return html`<p id="verify-result" class="form-success" role="status" tabindex="-1">Your email address is confirmed. Thank you.</p>
        <p>${account ? html`<a href="/app/account">Go to your account</a>` : html`<a href="/app/login">Log in</a>`}</p>`;
    }
    if (step === 'error') {
      return html`<p id="verify-result" class="form-error" role="alert" tabindex="-1">The address could not be confirmed. ${message}</p>
        <p>Open the link from the mail again in a moment.</p>`;
    }
    return html`<p id="verify-result" class="form-error" role="alert" tabindex="-1">This link is no longer valid:
        it was used already, it has expired, a newer one was sent, or the address changed since.</p>
      <p>${account ? html`Ask for a new one on <a href="/app/account">your account page</a>.`
        : html`<a href="/app/login">Log in</a> and ask for a new one on your account page.`}</p>`;
  }

  function draw() {
    render(html`<div class="narrow">
      <h1>Confirm your email address</h1>
      <div class="card">${body()}</div>
    </div>`, el);
  }

  draw();
  if (token) confirm();
  return () => ac.abort();
}
