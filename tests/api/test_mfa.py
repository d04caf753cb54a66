"""The second factor (TOTP, RFC 6238): enrolment (a secret and its otpauth
URI, confirmed by a code, then ten recovery codes), its state, the login's
second step (/auth/mfa, /auth/web/mfa and the password grant's
mfa_required), the window of one step either side, each step and each
recovery code accepted once, the mfa_token spent by the one success, the
backoff of wrong codes, turning it off (password and code), the notice
mails, and the secret never stored in clear. Also the login's other stop:
an unverified address under PACE_REQUIRE_VERIFIED_EMAIL (403, a fresh link
at most PACE_RATE_LIMIT_MAIL an hour).

Codes come from pyotp and, for one login, from `oathtool --totp` (a
second implementation). A code is computed for an explicit time step; each
test starts early enough in a step (fresh_step) that the server's clock
stays in it while the test runs."""

import base64
import re
import secrets
import subprocess
import time
import urllib.parse

import pyotp
import pytest
import requests

import harness
from harness import assert_problem
from helpers import (BASE_ENV, PASSWORD, assert_pair, assert_unauthorized, auth, errors_of, get, login,
                     new_user, parallel, post, register)
from smtp_sink import Sink, token_from

MFA = "/api/v1/users/me/mfa"
TOTP = MFA + "/totp"
STEP = 30
RECOVERY_RE = re.compile(r"^[a-z2-7]{5}-[a-z2-7]{5}$")
WEB_KEYS = {"access_token", "token_type", "expires_in"}
ENABLED_SUBJECT = "Two-step sign-in was turned on for your pace account"
DISABLED_SUBJECT = "Two-step sign-in was turned off for your pace account"


@pytest.fixture(scope="module")
def sink():
    s = Sink()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv(module_server_factory, sink):
    return module_server_factory(env={**BASE_ENV, "PACE_SMTP_URL": sink.url})


# ---------------------------------------------------------------- helpers

def fresh_step(min_left=10):
    """The current time step, after waiting (if need be) until at least
    min_left seconds of it remain."""
    left = STEP - time.time() % STEP
    if left < min_left:
        time.sleep(left + 0.2)
    return int(time.time() // STEP)


def code(secret, step):
    return pyotp.TOTP(secret).at(step * STEP)


def oathtool_now(secret):
    out = subprocess.run(["oathtool", "--totp", "-b", secret], capture_output=True, text=True, timeout=10,
                         check=True)
    return out.stdout.strip()


def begin(srv, token, body=None):
    return requests.post(srv.url + TOTP, json=body, headers=auth(token), timeout=30)


def confirm(srv, token, c):
    return post(srv, TOTP + "/confirm", {"code": c}, token=token)


def disable(srv, token, password, c):
    return requests.delete(srv.url + TOTP, json={"password": password, "code": c}, headers=auth(token),
                           timeout=30)


def state(srv, token):
    r = get(srv, MFA, token=token)
    assert r.status_code == 200, r.text
    return r.json()


def mfa_user(srv, step):
    """A new user with TOTP on, confirmed with the code of step - 1 (so the
    codes of step and step + 1 are still unused): the user dict plus
    "secret" and "codes"."""
    u = new_user(srv)
    r = begin(srv, u["access"])
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    r = confirm(srv, u["access"], code(secret, step - 1))
    assert r.status_code == 200, r.text
    return {**u, "secret": secret, "codes": r.json()["recovery_codes"]}


def mfa_token_of(r):
    """The mfa_token of a 401 mfa_required problem (checked: no tokens)."""
    body = assert_unauthorized(r, "mfa_required")
    assert r.headers.get("Cache-Control") == "no-store"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["mfa_token"]), body
    assert body["mfa_token_expires_in"] == 300, body
    assert not {"access_token", "refresh_token"} & set(body), body
    assert "set-cookie" not in {k.lower() for k in r.headers}
    return body["mfa_token"]


def login_token(srv, u):
    return mfa_token_of(login(srv, u["username"]))


def second(srv, token, c, headers=None):
    return post(srv, "/api/v1/auth/mfa", {"mfa_token": token, "code": c}, headers=headers)


def sessions(srv, access):
    r = get(srv, "/api/v1/auth/sessions", token=access)
    assert r.status_code == 200, r.text
    return r.json()["items"]


# ---------------------------------------------------------------- enrolment

def test_enrol_confirm_and_state(srv):
    u = new_user(srv)
    assert state(srv, u["access"]) == {"totp_enabled": False, "recovery_codes_left": 0}
    assert_problem(confirm(srv, u["access"], "123456"), 409, "mfa_not_pending")  # nothing pending

    r = begin(srv, u["access"])
    assert r.status_code == 200, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    first = r.json()["secret"]
    r = begin(srv, u["access"], {})  # restarting replaces the pending secret
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"secret", "otpauth_uri"}
    secret = body["secret"]
    assert secret != first
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    assert len(base64.b32decode(secret)) == 20

    uri = urllib.parse.urlsplit(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(uri.path) == f"/pace:{u['username']}"
    q = urllib.parse.parse_qs(uri.query, strict_parsing=True)
    assert q == {"secret": [secret], "issuer": ["pace"], "algorithm": ["SHA1"], "digits": ["6"],
                 "period": ["30"]}, q
    parsed = pyotp.parse_uri(body["otpauth_uri"])
    assert parsed.secret == secret and parsed.issuer == "pace" and parsed.name == u["username"]
    assert body["otpauth_uri"] == (f"otpauth://totp/pace:{u['username']}?secret={secret}&issuer=pace"
                                   "&algorithm=SHA1&digits=6&period=30")

    n = fresh_step()
    assert errors_of(confirm(srv, u["access"], code(first, n))) == {("code", "incorrect")}  # replaced
    for far in (n - 2, n + 2, n + 3):  # one step either side, no more
        assert errors_of(confirm(srv, u["access"], code(secret, far))) == {("code", "incorrect")}
    assert errors_of(confirm(srv, u["access"], "12345")) == {("code", "incorrect")}
    r = confirm(srv, u["access"], code(secret, n - 1))  # the step before is accepted
    assert r.status_code == 200, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    codes = r.json()["recovery_codes"]
    assert set(r.json()) == {"recovery_codes"}
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(RECOVERY_RE.match(c) for c in codes), codes

    assert state(srv, u["access"]) == {"totp_enabled": True, "recovery_codes_left": 10}
    me = get(srv, "/api/v1/users/me", token=u["access"])
    assert me.status_code == 200 and me.json()["mfa_enabled"] is True, me.text
    assert_problem(confirm(srv, u["access"], code(secret, n)), 409, "mfa_not_pending")
    assert_problem(begin(srv, u["access"]), 409, "mfa_already_enabled")
    r = requests.post(srv.url + TOTP, json={"x": 1}, headers=auth(u["access"]), timeout=30)
    assert r.status_code == 422, r.text
    assert get(srv, MFA).status_code == 401


# ---------------------------------------------------------------- the login's second step

def test_login_needs_the_second_factor(srv):
    n = fresh_step()
    u = mfa_user(srv, n)
    r = login(srv, u["username"])
    token = mfa_token_of(r)

    c = oathtool_now(u["secret"])  # a second implementation's code for step n
    assert c == code(u["secret"], n)
    r = second(srv, token, c)
    pair = assert_pair(r)
    items = sessions(srv, pair["access_token"])
    assert len(items) == 2, items
    by_current = {s["current"]: s for s in items}
    assert by_current[True]["mfa"] is True, items
    assert by_current[False]["mfa"] is False, items  # new_user's login, before TOTP
    assert all(set(s) == {"id", "created_at", "last_used_at", "user_agent", "ip", "current", "mfa"}
               for s in items)

    # The token was spent; the code of step n was used.
    assert_unauthorized(second(srv, token, code(u["secret"], n + 1)), "invalid_mfa_token")
    t2 = login_token(srv, u)
    assert_unauthorized(second(srv, t2, c), "invalid_mfa_code")
    assert_unauthorized(second(srv, t2, code(u["secret"], n + 2)), "invalid_mfa_code")  # two steps ahead
    assert_pair(second(srv, t2, code(u["secret"], n + 1)))  # the step after is accepted
    t3 = login_token(srv, u)
    assert_unauthorized(second(srv, t3, code(u["secret"], n + 1)), "invalid_mfa_code")


def test_recovery_codes_work_once(srv):
    n = fresh_step()
    u = mfa_user(srv, n)
    typed = u["codes"][0].replace("-", "").upper()  # without the dash, any case
    assert_pair(second(srv, login_token(srv, u), typed))
    assert state(srv, u["access"])["recovery_codes_left"] == 9
    assert_unauthorized(second(srv, login_token(srv, u), u["codes"][0]), "invalid_mfa_code")
    assert_pair(second(srv, login_token(srv, u), " " + u["codes"][1] + " "))
    assert state(srv, u["access"])["recovery_codes_left"] == 8
    assert_unauthorized(second(srv, login_token(srv, u), "aaaaa-aaaaa"), "invalid_mfa_code")


def test_mfa_token_spent_by_a_success_only(srv):
    n = fresh_step()
    u = mfa_user(srv, n)
    token = login_token(srv, u)
    wrong = f"{(int(code(u['secret'], n)) + 1) % 1000000:06d}"
    assert_unauthorized(second(srv, token, wrong), "invalid_mfa_code")
    assert_pair(second(srv, token, code(u["secret"], n)))
    assert_unauthorized(second(srv, token, code(u["secret"], n + 1)), "invalid_mfa_token")


def test_invalid_mfa_tokens(srv):
    n = fresh_step()
    u = mfa_user(srv, n)
    garbage = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    for t in (garbage, "x", garbage + "A", "!" * 43):
        assert_unauthorized(second(srv, t, code(u["secret"], n)), "invalid_mfa_token")
    assert_problem(post(srv, "/api/v1/auth/mfa", {"mfa_token": garbage}), 422, "validation_failed")
    assert_problem(post(srv, "/api/v1/auth/mfa", {"code": "123456"}), 422, "validation_failed")
    # A refresh token is no mfa_token.
    assert_unauthorized(second(srv, u["refresh"], code(u["secret"], n)), "invalid_mfa_token")
    assert_pair(second(srv, login_token(srv, u), code(u["secret"], n)))  # the codes still work


def test_one_token_one_code_in_parallel(srv):
    n = fresh_step()
    u = mfa_user(srv, n)
    token = login_token(srv, u)
    c = code(u["secret"], n)
    results = parallel(12, lambda i: second(srv, token, c))
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [401] * 11, [(r.status_code, r.text[:120]) for r in results]
    assert len(sessions(srv, u["access"])) == 2


def test_password_grant_answers_mfa_required(srv):
    n = fresh_step()
    u = mfa_user(srv, n)
    r = requests.post(srv.url + "/api/v1/auth/token",
                      data={"grant_type": "password", "username": u["username"], "password": PASSWORD},
                      timeout=30)
    assert r.status_code == 401, r.text
    body = r.json()
    assert set(body) == {"error", "error_description", "mfa_token", "mfa_token_expires_in"}, body
    assert body["error"] == "mfa_required" and body["mfa_token_expires_in"] == 300
    assert r.headers.get("Cache-Control") == "no-store"
    assert_pair(second(srv, body["mfa_token"], code(u["secret"], n)))
    r = requests.post(srv.url + "/api/v1/auth/token",
                      data={"grant_type": "password", "username": u["username"], "password": "wrong-" + PASSWORD},
                      timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_web_login_then_web_mfa(srv):
    n = fresh_step()
    u = mfa_user(srv, n)
    origin = {"Origin": srv.url}
    r = requests.post(srv.url + "/api/v1/auth/web/login", json={"login": u["username"], "password": PASSWORD},
                      headers=origin, timeout=30)
    token = mfa_token_of(r)
    body = {"mfa_token": token, "code": code(u["secret"], n)}
    r = requests.post(srv.url + "/api/v1/auth/web/mfa", json=body, timeout=30)  # no Origin
    assert_problem(r, 403, "forbidden_origin")
    r = requests.post(srv.url + "/api/v1/auth/web/mfa", json=body, headers={"Origin": "https://evil.example"},
                      timeout=30)
    assert_problem(r, 403, "forbidden_origin")
    r = requests.post(srv.url + "/api/v1/auth/web/mfa", json=body, headers=origin, timeout=30)
    assert r.status_code == 200, r.text
    assert set(r.json()) == WEB_KEYS
    assert r.headers.get("Cache-Control") == "no-store"
    (cookie,) = r.raw.headers.getlist("Set-Cookie")
    m = re.fullmatch(r"pace_refresh=([A-Za-z0-9_-]{43}); Path=/api/v1/auth/web; Max-Age=(\d+); HttpOnly; "
                     r"Secure; SameSite=Strict", cookie)
    assert m, cookie
    r = requests.post(srv.url + "/api/v1/auth/web/refresh", headers={**origin, "Cookie": f"pace_refresh={m[1]}"},
                      timeout=30)
    assert r.status_code == 200, r.text
    # Either endpoint takes any mfa_token: a JSON login's, completed on the web.
    t2 = login_token(srv, u)
    r = requests.post(srv.url + "/api/v1/auth/web/mfa", json={"mfa_token": t2, "code": code(u["secret"], n + 1)},
                      headers=origin, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.post(srv.url + "/api/v1/auth/web/mfa", json={"mfa_token": t2, "code": u["codes"][0]},
                      headers=origin, timeout=30)
    assert_unauthorized(r, "invalid_mfa_token")


# ---------------------------------------------------------------- turning it off, notices

def test_disable_needs_password_and_code_and_mails_notices(srv, sink):
    n = fresh_step()
    u = mfa_user(srv, n)
    sink.wait_for(lambda m: u["email"] in m.to and m.subject == ENABLED_SUBJECT)

    assert errors_of(disable(srv, u["access"], "wrong-" + PASSWORD, code(u["secret"], n))) == {
        ("password", "incorrect")}
    assert errors_of(disable(srv, u["access"], PASSWORD, code(u["secret"], n + 2))) == {("code", "incorrect")}
    assert errors_of(disable(srv, u["access"], PASSWORD, "bbbbb-bbbbb")) == {("code", "incorrect")}
    r = requests.delete(srv.url + TOTP, json={"password": PASSWORD}, headers=auth(u["access"]), timeout=30)
    assert_problem(r, 422, "validation_failed")
    assert state(srv, u["access"])["totp_enabled"] is True

    r = disable(srv, u["access"], PASSWORD, code(u["secret"], n))
    assert r.status_code == 204, r.text
    assert state(srv, u["access"]) == {"totp_enabled": False, "recovery_codes_left": 0}
    assert get(srv, "/api/v1/users/me", token=u["access"]).json()["mfa_enabled"] is False
    assert_problem(disable(srv, u["access"], PASSWORD, code(u["secret"], n + 1)), 409, "mfa_not_enabled")
    sink.wait_for(lambda m: u["email"] in m.to and m.subject == DISABLED_SUBJECT)
    assert_pair(login(srv, u["username"]))  # one step again

    # A recovery code turns it off as well; enrol again first.
    r = begin(srv, u["access"])
    secret = r.json()["secret"]
    assert secret != u["secret"]
    r = confirm(srv, u["access"], code(secret, n))
    assert r.status_code == 200, r.text
    assert disable(srv, u["access"], PASSWORD, r.json()["recovery_codes"][3]).status_code == 204
    assert len(sink.wait_count(2, predicate=lambda m: u["email"] in m.to and m.subject == ENABLED_SUBJECT)) == 2
    assert len(sink.wait_count(2, predicate=lambda m: u["email"] in m.to and m.subject == DISABLED_SUBJECT)) == 2


def test_secret_is_not_stored_in_clear(srv):
    n = fresh_step()
    u = mfa_user(srv, n)
    pending = begin(srv, new_user(srv)["access"]).json()["secret"]  # another user's, pending
    needles = [s.encode() for s in (u["secret"], u["secret"].lower(), pending, pending.lower())]
    needles += [base64.b32decode(u["secret"]), base64.b32decode(pending)]
    needles += [c.encode() for c in u["codes"]] + [c.replace("-", "").encode() for c in u["codes"]]
    if harness.BACKEND == "postgres":
        tables = harness.pg_query(srv.database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        dump = b"".join(harness.pg_query(srv.database, f"SELECT t::text FROM {t} t").encode()
                        for t in tables.split())
        assert u["username"].encode() in dump
    else:
        dump = b"".join(p.read_bytes() for p in srv.data_dir.glob("pace.db*"))
        assert u["username"].encode() in dump
    for needle in needles:
        assert needle not in dump, needle


# ---------------------------------------------------------------- the backoff

def test_wrong_codes_back_off(make_server):
    env = {**BASE_ENV, "PACE_RATE_LIMITS": "on", "PACE_RATE_LIMIT_LOGIN_FAILURES": "3",
           "PACE_RATE_LIMIT_LOGIN": "1000", "PACE_RATE_LIMIT_REGISTER": "1000", "PACE_RATE_LIMIT_WRITES": "0"}
    s = make_server(env=env)
    n = fresh_step(min_left=15)
    u = mfa_user(s, n)
    token = login_token(s, u)
    wrong = f"{(int(code(u['secret'], n)) + 1) % 1000000:06d}"
    for _ in range(3):
        assert_unauthorized(second(s, token, wrong), "invalid_mfa_code")
    r = second(s, token, code(u["secret"], n))  # right, but not looked at
    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    # Each failure past the threshold doubles the wait (1 s, 2 s, 4 s).
    for wait in (1, 2):
        time.sleep(wait + 0.2)
        assert_unauthorized(second(s, token, wrong), "invalid_mfa_code")
    r = second(s, token, code(u["secret"], n))
    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 3
    # A right password does not clear the codes' backoff.
    t2 = login_token(s, u)
    assert_problem(second(s, t2, code(u["secret"], n)), 429, "rate_limited")
    assert_problem(disable(s, u["access"], PASSWORD, code(u["secret"], n)), 429, "rate_limited")
    time.sleep(float(r.headers["Retry-After"]) + 0.2)
    assert_pair(second(s, t2, code(u["secret"], n)))


# ---------------------------------------------------------------- the login's other stop: an unverified address

def test_unverified_email_stops_the_login(make_server):
    sink = Sink()
    try:
        env = {**BASE_ENV, "PACE_SMTP_URL": sink.url, "PACE_REQUIRE_VERIFIED_EMAIL": "on",
               "PACE_RATE_LIMITS": "on", "PACE_RATE_LIMIT_MAIL": "3", "PACE_RATE_LIMIT_MAIL_IP": "100",
               "PACE_RATE_LIMIT_LOGIN": "1000", "PACE_RATE_LIMIT_REGISTER": "1000", "PACE_RATE_LIMIT_WRITES": "0"}
        s = make_server(env=env)
        r, username, email = register(s)
        assert r.status_code == 201, r.text
        sink.wait_count(1, predicate=lambda m: email in m.to)  # the registration's link
        r = login(s, username)
        body = assert_problem(r, 403, "email_not_verified")
        assert "sent" in body["detail"], body
        assert not {"access_token", "refresh_token", "mfa_token"} & set(body)
        assert "set-cookie" not in {k.lower() for k in r.headers}
        sink.wait_count(2, predicate=lambda m: email in m.to)  # a fresh link
        r = requests.post(s.url + "/api/v1/auth/token",
                          data={"grant_type": "password", "username": username, "password": PASSWORD}, timeout=30)
        assert r.status_code == 400, r.text
        assert r.json() == {"error": "invalid_grant", "error_description": "the email address is not verified"}
        sink.wait_count(3, predicate=lambda m: email in m.to)
        r = requests.post(s.url + "/api/v1/auth/web/login", json={"login": username, "password": PASSWORD},
                          headers={"Origin": s.url}, timeout=30)
        assert_problem(r, 403, "email_not_verified")
        sink.wait_count(4, predicate=lambda m: email in m.to)
        # A wrong password says nothing about the address and sends nothing;
        # past PACE_RATE_LIMIT_MAIL an hour per account, the refusal stays
        # and no more mail is sent.
        assert_unauthorized(login(s, username, password="wrong-" + PASSWORD), "invalid_credentials")
        assert_problem(login(s, username), 403, "email_not_verified")
        time.sleep(1.5)
        assert len(sink.to(email)) == 4, sink.to(email)
        # Every link works until one verifies the address (a refused login
        # adds a link, it does not take older ones away); that one spends
        # the others. Then the login goes through.
        verified = [post(s, "/api/v1/auth/verify-email", {"token": token_from(m)}).status_code
                    for m in sink.to(email)]
        assert verified.count(204) == 1, verified
        assert_pair(login(s, username))
    finally:
        sink.stop()


# ---------------------------------------------------------------- a second step begun before a change

def test_mfa_token_dies_with_a_password_change(srv):
    """A second step begun before the password changed cannot finish
    after it: the change spends the account's mfa_tokens."""
    step = fresh_step()
    u = mfa_user(srv, step)
    pending = login_token(srv, u)
    r = post(srv, "/api/v1/users/me/password",
             {"current_password": PASSWORD, "new_password": "another-long-passphrase-" + secrets.token_hex(4)},
             token=u["access"])
    assert r.status_code == 204, r.text
    assert_unauthorized(second(srv, pending, code(u["secret"], step)), "invalid_mfa_token")


def test_mfa_token_dies_when_totp_is_turned_off_or_enrolled_again(srv):
    step = fresh_step()
    u = mfa_user(srv, step)
    pending = login_token(srv, u)
    r = disable(srv, u["access"], PASSWORD, code(u["secret"], step))
    assert r.status_code == 204, r.text
    # Enrolled again with a new secret: the old second step stays dead,
    # even with a code of the new secret.
    r = begin(srv, u["access"])
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert confirm(srv, u["access"], code(secret, step)).status_code == 200
    assert_unauthorized(second(srv, pending, code(secret, step + 1)), "invalid_mfa_token")
