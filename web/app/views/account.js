// /app/account: the email address (confirmed or not, a new link), two-step
// verification (TOTP: turn on with the secret and a code, recovery codes
// shown once; turn off with password and code), signed-in sessions (end
// one, end all others), change password, delete account. pace has no "end all other sessions" endpoint
// (POST /auth/logout-all ends this one too), so "End all other sessions"
// deletes each session that is not the current one.
import { html, render, nothing, repeat, toast, formatDateTime, confirmDialog, errorMessage } from '../ui.js';
import { api, ApiError, fieldErrors } from '../api.js';
import { logout, currentUser } from '../session.js';
import { scrollableTables } from './plans.js';

// "Firefox on Linux" from a User-Agent, or null when it says nothing known.
export function describeAgent(ua) {
  if (!ua) return null;
  const browser = [[/Edg\//, 'Edge'], [/OPR\/|Opera/, 'Opera'], [/Firefox\//, 'Firefox'],
    [/Chrom(e|ium)\//, 'Chrome'], [/Safari\//, 'Safari'], [/curl\//, 'curl'],
    [/python-requests|python/i, 'Python'], [/node|undici/i, 'Node.js']].find(([re]) => re.test(ua));
  const os = [[/Android/, 'Android'], [/iPhone|iPad|iOS/, 'iOS'], [/Windows/, 'Windows'],
    [/Mac OS X|Macintosh/, 'macOS'], [/CrOS/, 'ChromeOS'], [/Linux/, 'Linux']].find(([re]) => re.test(ua));
  if (!browser && !os) return null;
  return [browser?.[1], os?.[1]].filter(Boolean).join(' on ');
}

function problem(e, fallback) {
  if (e instanceof ApiError) {
    if (e.status === 429 && e.retryAfter) return errorMessage(e);
    return e.detail || e.title || fallback;
  }
  return fallback;
}

export function mount(el, ctx) {
  ctx.setTitle?.('Account');
  const ac = new AbortController();
  const st = {
    sessions: [], loading: true, sessError: '', ending: new Set(), endingAll: false,
    pw: { current: '', next: '', confirm: '' }, pwErrors: {}, pwStatus: '', pwBusy: false, pwOk: false,
    del: { password: '' }, delErrors: {}, delStatus: '', delBusy: false,
    user: ctx.user, verifyStatus: '', verifyOk: false, verifyBusy: false,
    // two-step verification: phase 'idle' | 'enrol' (secret shown, code asked) | 'codes' (recovery codes shown once)
    mfa: { phase: 'idle', secret: '', uri: '', codes: [], code: '', off: { password: '', code: '' },
      errors: {}, status: '', ok: false, busy: false, left: null },
  };
  const tables = scrollableTables(el);
  const draw = () => { render(view(), el); tables.sync(); };

  // The user again from pace (email_verified, mfa_enabled), and how many
  // recovery codes are left when two-step verification is on.
  async function reloadUser() {
    try {
      st.user = await currentUser(true);
    } catch (e) {
      if (ac.signal.aborted) return;
    }
    await loadMfa();
  }

  async function loadMfa() {
    st.mfa.left = null;
    if (st.user?.mfa_enabled) {
      try {
        const r = await api('GET', '/api/v1/users/me/mfa', { signal: ac.signal });
        st.mfa.left = r.data.recovery_codes_left;
      } catch (e) {
        if (ac.signal.aborted) return;
      }
    }
    draw();
  }

  async function sendVerification() {
    if (st.verifyBusy) return;
    st.verifyBusy = true;
    st.verifyStatus = '';
    draw();
    try {
      await api('POST', '/api/v1/users/me/verify-email', { signal: ac.signal, retries: 0 });
      st.verifyOk = true;
      st.verifyStatus = `We sent a new link to ${st.user.email}. Links sent before stop working.`;
    } catch (e) {
      if (ac.signal.aborted) return;
      if (e instanceof ApiError && e.status === 409) {
        st.verifyOk = true;
        st.verifyStatus = 'Your email address is confirmed already.';
        await reloadUser();
      } else {
        st.verifyOk = false;
        st.verifyStatus = problem(e, 'Could not send a new link.');
      }
    }
    st.verifyBusy = false;
    draw();
    el.querySelector('#verify-status')?.focus();
  }

  function mfaReset(status = '', ok = true) {
    Object.assign(st.mfa, { phase: 'idle', secret: '', uri: '', codes: [], code: '', off: { password: '', code: '' },
      errors: {}, status, ok, busy: false });
  }

  async function mfaStart() {
    if (st.mfa.busy) return;
    st.mfa.busy = true;
    st.mfa.status = '';
    draw();
    try {
      const r = await api('POST', '/api/v1/users/me/mfa/totp', { json: {}, signal: ac.signal, retries: 0 });
      Object.assign(st.mfa, { phase: 'enrol', secret: r.data.secret, uri: r.data.otpauth_uri, code: '', errors: {}, busy: false });
      draw();
      el.querySelector('#mfa-setup-h')?.focus();
      return;
    } catch (e) {
      if (ac.signal.aborted) return;
      if (e instanceof ApiError && e.status === 409) {
        mfaReset('Two-step verification is on already.');
        await reloadUser();
      } else {
        mfaReset(problem(e, 'Could not start turning on two-step verification.'), false);
      }
    }
    draw();
    el.querySelector('#mfa-status')?.focus();
  }

  async function mfaConfirm(ev) {
    ev.preventDefault();
    if (st.mfa.busy) return;
    st.mfa.errors = {};
    st.mfa.status = '';
    const code = st.mfa.code.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(code)) {
      st.mfa.errors.code = 'enter the 6 digits your app shows';
      draw();
      el.querySelector('#mfa-code')?.focus();
      return;
    }
    st.mfa.busy = true;
    draw();
    try {
      const r = await api('POST', '/api/v1/users/me/mfa/totp/confirm', { json: { code }, signal: ac.signal, retries: 0 });
      Object.assign(st.mfa, { phase: 'codes', codes: r.data.recovery_codes, secret: '', uri: '', code: '', busy: false });
      await reloadUser();
      el.querySelector('#mfa-codes-h')?.focus();
      return;
    } catch (e) {
      if (ac.signal.aborted) return;
      if (e instanceof ApiError && e.status === 422) {
        st.mfa.errors.code = 'is not the code your app shows now: check that the device\'s clock is right, and try the next code';
        st.mfa.code = '';
      } else if (e instanceof ApiError && e.status === 409) {
        mfaReset('Setting up was not started, or two-step verification is on already. Start again if it is off.', false);
        await reloadUser();
      } else {
        st.mfa.status = problem(e, 'Could not turn on two-step verification.');
        st.mfa.ok = false;
      }
    }
    st.mfa.busy = false;
    draw();
    el.querySelector(st.mfa.errors.code ? '#mfa-code' : '#mfa-status')?.focus();
  }

  async function mfaDisable(ev) {
    ev.preventDefault();
    if (st.mfa.busy) return;
    const off = st.mfa.off;
    st.mfa.errors = {};
    st.mfa.status = '';
    if (!off.password) st.mfa.errors.password = 'enter your password';
    if (!off.code.trim()) st.mfa.errors.code = 'enter a code from your app, or a recovery code';
    if (Object.keys(st.mfa.errors).length) {
      draw();
      el.querySelector(st.mfa.errors.password ? '#mfa-off-password' : '#mfa-off-code')?.focus();
      return;
    }
    st.mfa.busy = true;
    draw();
    try {
      await api('DELETE', '/api/v1/users/me/mfa/totp', {
        json: { password: off.password, code: off.code.replace(/\s+/g, '') }, signal: ac.signal, retries: 0,
      });
      mfaReset('Two-step verification is off. Your recovery codes were deleted.');
      await reloadUser();
      el.querySelector('#mfa-status')?.focus();
      return;
    } catch (e) {
      if (ac.signal.aborted) return;
      if (e instanceof ApiError && e.status === 422) {
        const bad = new Set((e.errors || []).map((x) => x.field));
        if (bad.has('password')) st.mfa.errors.password = 'is not your password';
        if (bad.has('code')) st.mfa.errors.code = 'is not a current code from your app nor an unused recovery code';
        if (!bad.size) st.mfa.status = problem(e, 'Two-step verification is still on.');
        off.code = '';
      } else if (e instanceof ApiError && e.status === 409) {
        mfaReset('Two-step verification is off already.');
        await reloadUser();
      } else {
        st.mfa.status = problem(e, 'Could not turn off two-step verification.');
      }
      st.mfa.ok = false;
    }
    st.mfa.busy = false;
    draw();
    const first = st.mfa.errors.password ? '#mfa-off-password' : st.mfa.errors.code ? '#mfa-off-code' : '#mfa-status';
    el.querySelector(first)?.focus();
  }

  function codesDone() {
    mfaReset('Two-step verification is on.');
    draw();
    el.querySelector('#mfa-h')?.focus();
  }

  async function loadSessions() {
    try {
      const r = await api('GET', '/api/v1/auth/sessions', { signal: ac.signal });
      st.sessions = r.data.items;
      st.sessError = '';
    } catch (e) {
      if (ac.signal.aborted) return;
      st.sessError = problem(e, 'Could not load your sessions.');
    }
    st.loading = false;
    draw();
  }

  async function endSession(s) {
    if (s.current) {
      if (!(await confirmDialog('Sign out on this device?', { title: 'Sign out', confirmLabel: 'Sign out' }))) return;
      await logout().catch(() => {});
      ctx.navigate('/app/login', { replace: true });
      return;
    }
    st.ending.add(s.id);
    draw();
    try {
      await api('DELETE', `/api/v1/auth/sessions/${s.id}`, { accept: [404], signal: ac.signal });
      st.sessions = st.sessions.filter((x) => x.id !== s.id);
      toast('Session ended.');
    } catch (e) {
      if (!ac.signal.aborted) toast(problem(e, 'Could not end the session.'));
    }
    st.ending.delete(s.id);
    draw();
    el.querySelector('#sessions-h')?.focus();
  }

  async function endOthers() {
    const others = st.sessions.filter((s) => !s.current);
    if (!others.length) return;
    st.endingAll = true;
    draw();
    let failed = 0;
    for (const s of others) {
      try {
        await api('DELETE', `/api/v1/auth/sessions/${s.id}`, { accept: [404], signal: ac.signal });
      } catch (e) {
        if (ac.signal.aborted) return;
        failed++;
      }
    }
    st.endingAll = false;
    await loadSessions();
    if (ac.signal.aborted) return;
    toast(failed ? `${failed} session(s) could not be ended.` : 'All other sessions ended.');
    el.querySelector('#sessions-h')?.focus();
  }

  async function changePassword(ev) {
    ev.preventDefault();
    if (st.pwBusy) return;
    st.pwErrors = {};
    st.pwStatus = '';
    st.pwOk = false;
    if (st.pw.next !== st.pw.confirm) {
      st.pwErrors.confirm = 'does not match the new password';
      draw();
      el.querySelector('#pw-confirm')?.focus();
      return;
    }
    st.pwBusy = true;
    draw();
    try {
      await api('POST', '/api/v1/users/me/password', {
        json: { current_password: st.pw.current, new_password: st.pw.next }, signal: ac.signal, retries: 0,
      });
      st.pw = { current: '', next: '', confirm: '' };
      st.pwOk = true;
      st.pwStatus = 'Password changed. Your other sessions were signed out.';
      st.pwBusy = false;
      draw();
      loadSessions();
      el.querySelector('#pw-status')?.focus();
      return;
    } catch (e) {
      if (ac.signal.aborted) return;
      if (e instanceof ApiError && e.status === 422) {
        st.pwErrors = fieldErrors(e);
        if (e.errors?.some((x) => x.field === 'current_password' && x.code === 'incorrect')) {
          st.pwErrors.current_password = 'is not your current password';
        }
        st.pwStatus = 'The password was not changed.';
      } else {
        st.pwStatus = problem(e, 'Could not change the password.');
      }
    }
    st.pwBusy = false;
    draw();
    const first = ['current_password', 'new_password'].find((k) => st.pwErrors[k]);
    el.querySelector(first ? `#pw-${first === 'current_password' ? 'current' : 'new'}` : '#pw-status')?.focus();
  }

  async function deleteAccount(ev) {
    ev.preventDefault();
    if (st.delBusy) return;
    st.delErrors = {};
    st.delStatus = '';
    if (!st.del.password) {
      st.delErrors.password = 'enter your password to confirm';
      draw();
      el.querySelector('#del-password')?.focus();
      return;
    }
    const ok = await confirmDialog('Delete your account and everything in it (tasks, profile, plans)? This cannot be undone.',
      { title: 'Delete account', confirmLabel: 'Delete my account', danger: true });
    if (!ok) return;
    st.delBusy = true;
    draw();
    try {
      await api('DELETE', '/api/v1/users/me', { json: { password: st.del.password }, signal: ac.signal, retries: 0 });
    } catch (e) {
      if (ac.signal.aborted) return;
      if (e instanceof ApiError && e.status === 422) {
        const fe = fieldErrors(e);
        st.delErrors.password = e.errors?.some((x) => x.code === 'incorrect')
          ? 'is not your password' : fe.password || 'is not valid';
        st.delStatus = 'Your account was not deleted.';
      } else {
        st.delStatus = problem(e, 'Could not delete the account.');
      }
      st.delBusy = false;
      draw();
      el.querySelector(st.delErrors.password ? '#del-password' : '#del-status')?.focus();
      return;
    }
    await logout().catch(() => {});
    toast('Your account was deleted.');
    ctx.navigate('/app/login', { replace: true });
  }

  const errP = (id, msg) => (msg ? html`<p class="field-error" id="${id}-error">${msg}</p>` : nothing);
  const aria = (id, msg) => (msg ? `${id}-error` : nothing);

  // "ABCD EFGH ..." : a secret typed by hand, read in groups of four.
  const grouped = (secret) => secret.replace(/(.{4})(?=.)/g, '$1 ');

  function emailSection() {
    const u = st.user;
    if (!u) return nothing;
    return html`<section aria-labelledby="email-h">
      <h2 id="email-h">Email address</h2>
      <p><strong>${u.email}</strong>
        ${u.email_verified ? html`<span class="badge badge-current">Confirmed</span>`
          : html`<span class="badge badge-unconfirmed">Not confirmed</span>`}</p>
      ${u.email_verified ? nothing : html`<p>Open the link we sent to this address to confirm it. Lost the mail, or the link expired?</p>
        <div class="form-actions">
          <button type="button" class="btn" ?disabled=${st.verifyBusy} @click=${sendVerification}>
            ${st.verifyBusy ? 'Sending…' : 'Send a new link'}</button>
        </div>`}
      <p id="verify-status" tabindex="-1" role="status"
        class=${st.verifyStatus && !st.verifyOk ? 'form-status form-status-error' : 'form-status'}>${st.verifyStatus}</p>
    </section>`;
  }

  function mfaSetup() {
    const m = st.mfa;
    return html`<div class="mfa-setup">
      <h3 id="mfa-setup-h" tabindex="-1">Set up your authenticator app</h3>
      <ol class="steps">
        <li>In an authenticator app (on your phone, or a password manager), add an account with this key:
          <code class="secret">${grouped(m.secret)}</code>
          (time-based, 6 digits, every 30 seconds). On the device that has the app, you can also open
          <a href=${m.uri} class="otpauth">this setup link</a>, which is:
          <code class="otpauth-uri">${m.uri}</code></li>
        <li>Enter the code the app shows for pace.</li>
      </ol>
      <form class="account-form" novalidate @submit=${mfaConfirm}>
        <div class="field">
          <label for="mfa-code">Code from the app</label>
          <input id="mfa-code" type="text" inputmode="numeric" autocomplete="one-time-code" required
            .value=${m.code} @input=${(ev) => { m.code = ev.target.value; }}
            aria-invalid=${m.errors.code ? 'true' : 'false'} aria-describedby=${aria('mfa-code', m.errors.code)}>
          ${errP('mfa-code', m.errors.code)}
        </div>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary" ?disabled=${m.busy}>${m.busy ? 'Checking…' : 'Turn on'}</button>
          <button type="button" class="btn" ?disabled=${m.busy} @click=${() => { mfaReset('Two-step verification stays off.'); draw(); el.querySelector('#mfa-status')?.focus(); }}>Cancel</button>
        </div>
      </form>
    </div>`;
  }

  function mfaCodes() {
    return html`<div class="mfa-codes">
      <h3 id="mfa-codes-h" tabindex="-1">Your recovery codes</h3>
      <p><strong>Store these codes somewhere safe now (a password manager, or on paper): they are not shown again.</strong>
        If you lose the device with your authenticator app, each code lets you log in once instead of a code from the app.</p>
      <ol class="recovery-codes">${st.mfa.codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>
      <div class="form-actions">
        <button type="button" class="btn btn-primary" @click=${codesDone}>I have stored them</button>
      </div>
    </div>`;
  }

  function mfaOffForm() {
    const m = st.mfa;
    const e = m.errors;
    const set = (k) => (ev) => { m.off[k] = ev.target.value; };
    return html`<form class="account-form" novalidate @submit=${mfaDisable}>
      <h3>Turn off two-step verification</h3>
      <input type="text" autocomplete="username" hidden .value=${st.user?.username || ''} readonly>
      <div class="field">
        <label for="mfa-off-password">Your password</label>
        <input id="mfa-off-password" type="password" autocomplete="current-password" required .value=${m.off.password}
          @input=${set('password')} aria-invalid=${e.password ? 'true' : 'false'}
          aria-describedby=${aria('mfa-off-password', e.password)}>
        ${errP('mfa-off-password', e.password)}
      </div>
      <div class="field">
        <label for="mfa-off-code">Code from your app, or a recovery code</label>
        <input id="mfa-off-code" type="text" autocomplete="one-time-code" required .value=${m.off.code}
          @input=${set('code')} aria-invalid=${e.code ? 'true' : 'false'}
          aria-describedby=${aria('mfa-off-code', e.code)}>
        ${errP('mfa-off-code', e.code)}
      </div>
      <div class="form-actions">
        <button type="submit" class="btn btn-danger" ?disabled=${m.busy}>${m.busy ? 'Turning off…' : 'Turn off'}</button>
      </div>
    </form>`;
  }

  function mfaSection() {
    const m = st.mfa;
    const on = !!st.user?.mfa_enabled;
    let body;
    if (m.phase === 'codes') body = mfaCodes();
    else if (m.phase === 'enrol') body = mfaSetup();
    else if (on) {
      body = html`<p>Logging in asks for a code from your authenticator app after your password.
        ${m.left != null ? html`You have <strong>${m.left}</strong> unused recovery code${m.left === 1 ? '' : 's'}.` : nothing}</p>
        ${mfaOffForm()}`;
    } else {
      body = html`<p>With two-step verification, logging in asks for a code from an authenticator app on your phone
        after your password, so that a stolen password is not enough.</p>
        <div class="form-actions">
          <button type="button" class="btn btn-primary" ?disabled=${m.busy} @click=${mfaStart}>${m.busy ? 'Starting…' : 'Turn on'}</button>
        </div>`;
    }
    return html`<section aria-labelledby="mfa-h">
      <h2 id="mfa-h" tabindex="-1">Two-step verification
        ${on ? html`<span class="badge badge-current">On</span>` : html`<span class="badge badge-off">Off</span>`}</h2>
      ${body}
      <p id="mfa-status" tabindex="-1" role="status"
        class=${m.status && !m.ok ? 'form-status form-status-error' : 'form-status'}>${m.status}</p>
    </section>`;
  }

  function sessionRow(s) {
    const name = describeAgent(s.user_agent) || 'Unknown device';
    const busy = st.ending.has(s.id);
    return html`<tr class=${s.current ? 'current' : ''}>
      <th scope="row">${name}${s.current ? html` <span class="badge badge-current">This device</span>` : nothing}
        ${s.user_agent ? html`<span class="ua muted">${s.user_agent}</span>` : nothing}</th>
      <td>${s.ip || html`<span class="muted">—</span>`}</td>
      <td><time datetime=${s.created_at}>${formatDateTime(s.created_at)}</time></td>
      <td>${s.last_used_at ? html`<time datetime=${s.last_used_at}>${formatDateTime(s.last_used_at)}</time>` : '—'}</td>
      <td class="nowrap"><button type="button" class="btn btn-small ${s.current ? '' : 'btn-danger'}" ?disabled=${busy}
        aria-label=${s.current ? 'Sign out on this device' : `End session: ${name}, signed in ${formatDateTime(s.created_at)}`}
        @click=${() => endSession(s)}>${s.current ? 'Sign out' : busy ? 'Ending…' : 'End'}</button></td>
    </tr>`;
  }

  function sessions() {
    const others = st.sessions.filter((s) => !s.current).length;
    return html`<section class="account-sessions" aria-labelledby="sessions-h">
      <h2 id="sessions-h" tabindex="-1">Sessions</h2>
      ${st.loading ? html`<p role="status">Loading…</p>`
        : st.sessError ? html`<p class="form-status-error" role="alert">${st.sessError}</p>`
        : html`<div class="table-wrap"><table class="data sessions">
          <caption>Devices signed in to your account, newest first</caption>
          <thead><tr><th scope="col">Device</th><th scope="col">IP address</th><th scope="col">Signed in</th>
            <th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>${repeat(st.sessions, (s) => s.id, sessionRow)}</tbody>
        </table></div>
        <div class="form-actions">
          <button type="button" class="btn" ?disabled=${!others || st.endingAll} @click=${endOthers}>
            ${st.endingAll ? 'Ending…' : 'End all other sessions'}</button>
          ${others ? nothing : html`<span class="muted">No other sessions.</span>`}
        </div>`}
    </section>`;
  }

  function passwordForm() {
    const e = st.pwErrors;
    const set = (k) => (ev) => { st.pw[k] = ev.target.value; };
    return html`<section aria-labelledby="pw-h">
      <h2 id="pw-h">Change password</h2>
      <form class="account-form" novalidate @submit=${changePassword}>
        <input type="text" autocomplete="username" hidden .value=${ctx.user?.username || ''} readonly>
        <div class="field">
          <label for="pw-current">Current password</label>
          <input id="pw-current" type="password" autocomplete="current-password" required .value=${st.pw.current}
            @input=${set('current')} aria-invalid=${e.current_password ? 'true' : 'false'}
            aria-describedby=${aria('pw-current', e.current_password)}>
          ${errP('pw-current', e.current_password)}
        </div>
        <div class="field">
          <label for="pw-new">New password</label>
          <input id="pw-new" type="password" autocomplete="new-password" required minlength="12" .value=${st.pw.next}
            @input=${set('next')} aria-invalid=${e.new_password ? 'true' : 'false'}
            aria-describedby="pw-new-hint${e.new_password ? ' pw-new-error' : ''}">
          <p class="hint" id="pw-new-hint">At least 12 characters, not a common password, without your
            username or email address.</p>
          ${errP('pw-new', e.new_password)}
        </div>
        <div class="field">
          <label for="pw-confirm">New password again</label>
          <input id="pw-confirm" type="password" autocomplete="new-password" required .value=${st.pw.confirm}
            @input=${set('confirm')} aria-invalid=${e.confirm ? 'true' : 'false'}
            aria-describedby=${aria('pw-confirm', e.confirm)}>
          ${errP('pw-confirm', e.confirm)}
        </div>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary" ?disabled=${st.pwBusy}>${st.pwBusy ? 'Changing…' : 'Change password'}</button>
        </div>
        <p id="pw-status" tabindex="-1" role="status"
          class=${st.pwStatus && !st.pwOk ? 'form-status form-status-error' : 'form-status'}>${st.pwStatus}</p>
      </form>
    </section>`;
  }

  function deleteForm() {
    return html`<section class="danger-zone" aria-labelledby="del-h">
      <h2 id="del-h">Delete account</h2>
      <p>This deletes your account and everything pace keeps about it: sessions, tasks, profile and plans.
        It cannot be undone.</p>
      <form class="account-form" novalidate @submit=${deleteAccount}>
        <div class="field">
          <label for="del-password">Your password</label>
          <input id="del-password" type="password" autocomplete="current-password" required
            .value=${st.del.password} @input=${(ev) => { st.del.password = ev.target.value; }}
            aria-invalid=${st.delErrors.password ? 'true' : 'false'}
            aria-describedby=${aria('del-password', st.delErrors.password)}>
          ${errP('del-password', st.delErrors.password)}
        </div>
        <div class="form-actions">
          <button type="submit" class="btn btn-danger" ?disabled=${st.delBusy}>${st.delBusy ? 'Deleting…' : 'Delete account'}</button>
        </div>
        <p id="del-status" tabindex="-1" role="status"
          class=${st.delStatus ? 'form-status form-status-error' : 'form-status'}>${st.delStatus}</p>
      </form>
    </section>`;
  }

  function view() {
    return html`<section class="view-account" aria-labelledby="account-h">
      <h1 id="account-h">Account</h1>
      ${st.user ? html`<p class="lead">Signed in as <strong>${st.user.username}</strong> (${st.user.email}).</p>` : nothing}
      ${emailSection()} ${mfaSection()} ${sessions()} ${passwordForm()} ${deleteForm()}
    </section>`;
  }

  draw();
  loadSessions();
  reloadUser();
  return () => { ac.abort(); tables.stop(); };
}
