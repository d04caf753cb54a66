"""Security events: every event of docs/operations.md ("Security events")
is one JSON log line of component "security" with its event name, the
user (null when none is known), the client address and the request id of
the request that caused it (the response's X-Request-Id; for
password_reset.requested, logged by the job, the request's too), and no
secret anywhere in the whole log: no password, token, mfa_token, TOTP
secret, TOTP code or recovery code that the tests sent or received.

Each request carries an X-Request-Id of the test's own, so the lines are
found by it. The last test reads the whole of stdout and stderr."""

import re
import time
import uuid

import pyotp
import pytest
import requests

from harness import wait_until
from helpers import BASE_ENV, PASSWORD
from smtp_sink import Sink, token_from

STEP = 30
SECRETS = set()  # every secret the module's requests sent or received
CODES = set()  # TOTP codes: six digits, looked for as whole numbers


@pytest.fixture(scope="module")
def sink():
    s = Sink()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv(module_server_factory, sink):
    return module_server_factory(env={**BASE_ENV, "PACE_SMTP_URL": sink.url})


# ---------------------------------------------------------------- helpers

def rid(what):
    return f"sec-{what}-{uuid.uuid4().hex[:12]}"


def call(srv, method, path, request_id, token=None, headers=None, **kw):
    h = {"X-Request-Id": request_id, **(headers or {})}
    if token:
        h["Authorization"] = f"Bearer {token}"
    r = requests.request(method, srv.url + path, headers=h, timeout=30, **kw)
    assert r.headers.get("X-Request-Id") == request_id, r.headers
    return r


def keep(*values):
    for v in values:
        if v:
            SECRETS.add(v)


def keep_pair(r):
    body = r.json()
    keep(body.get("access_token"), body.get("refresh_token"), body.get("mfa_token"))
    return body


def security_lines(srv, request_id):
    return [x for x in srv.log_lines() if x.get("component") == "security" and x.get("request_id") == request_id]


def event(srv, request_id, name, user_id, timeout=5.0):
    """The one security line of this request with this event (polling):
    checked for its fields."""
    def found():
        lines = [x for x in security_lines(srv, request_id) if x.get("event") == name]
        return lines or None

    lines = wait_until(found, timeout, f"security event {name} of request {request_id}")
    time.sleep(0.05)
    lines = [x for x in security_lines(srv, request_id) if x.get("event") == name]
    assert len(lines) == 1, lines
    (line,) = lines
    assert line["level"] == "info", line
    assert line["user_id"] == user_id, (line, user_id)
    assert line["client"] == "127.0.0.1", line
    return line


def register(srv, what="reg"):
    name = f"sec{uuid.uuid4().hex[:10]}"
    email = f"{name}@example.com"
    r_id = rid(what)
    r = call(srv, "POST", "/api/v1/auth/register", r_id,
             json={"username": name, "email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return {"id": r.json()["id"], "username": name, "email": email, "rid": r_id}


def login(srv, u, what="login", password=PASSWORD):
    r_id = rid(what)
    r = call(srv, "POST", "/api/v1/auth/login", r_id, json={"login": u["username"], "password": password})
    keep(password)
    return r, r_id


def logged_in(srv, u):
    r, _ = login(srv, u)
    assert r.status_code == 200, r.text
    return keep_pair(r)["access_token"]


def totp_code(secret, step):
    c = pyotp.TOTP(secret).at(step * STEP)
    CODES.add(c)
    return c


def fresh_step(min_left=10):
    left = STEP - time.time() % STEP
    if left < min_left:
        time.sleep(left + 0.2)
    return int(time.time() // STEP)


def link_token(sink, email, subject_word):
    msg = sink.wait_for(lambda m: email in m.to and subject_word in m.subject.lower())
    t = token_from(msg)
    keep(t)
    return t


# ---------------------------------------------------------------- accounts

def test_registration_and_email_verification(srv, sink):
    u = register(srv)
    event(srv, u["rid"], "user.registered", u["id"])
    event(srv, u["rid"], "email.verification_sent", u["id"])
    token = link_token(sink, u["email"], "confirm")
    r_id = rid("verify")
    r = call(srv, "POST", "/api/v1/auth/verify-email", r_id, json={"token": token})
    assert r.status_code == 204, r.text
    event(srv, r_id, "email.verified", u["id"])


def test_login_succeeded_and_failed(srv):
    u = register(srv)
    r, r_id = login(srv, u, "ok")
    assert r.status_code == 200, r.text
    keep_pair(r)
    event(srv, r_id, "login.succeeded", u["id"])
    r, r_id = login(srv, u, "bad", password="wrong-" + PASSWORD)
    assert r.status_code == 401, r.text
    event(srv, r_id, "login.failed", u["id"])
    r_id = rid("nobody")
    r = call(srv, "POST", "/api/v1/auth/login", r_id, json={"login": "nobody-" + uuid.uuid4().hex[:8],
                                                              "password": PASSWORD})
    assert r.status_code == 401, r.text
    event(srv, r_id, "login.failed", None)
    r = call(srv, "POST", "/api/v1/auth/token", rid("grant"),
             data={"grant_type": "password", "username": u["username"], "password": "also-wrong-" + PASSWORD})
    keep("also-wrong-" + PASSWORD)
    assert r.status_code == 400, r.text
    event(srv, r.headers["X-Request-Id"], "login.failed", u["id"])


def test_refresh_token_reused(srv):
    u = register(srv)
    r, _ = login(srv, u)
    first = keep_pair(r)["refresh_token"]
    r = call(srv, "POST", "/api/v1/auth/refresh", rid("rot"), json={"refresh_token": first})
    assert r.status_code == 200, r.text
    keep_pair(r)
    r_id = rid("reuse")
    r = call(srv, "POST", "/api/v1/auth/refresh", r_id, json={"refresh_token": first})
    assert r.status_code == 401 and r.json()["code"] == "refresh_token_reused", r.text
    event(srv, r_id, "refresh_token.reused", u["id"])


def test_email_and_password_changes(srv, sink):
    u = register(srv)
    access = logged_in(srv, u)
    r_id = rid("email")
    new_email = f"new-{u['email']}"
    r = call(srv, "PATCH", "/api/v1/users/me", r_id, token=access, json={"email": new_email})
    assert r.status_code == 200, r.text
    event(srv, r_id, "email.changed", u["id"])
    r_id = rid("pw")
    new_pw = "another-" + PASSWORD
    keep(new_pw)
    r = call(srv, "POST", "/api/v1/users/me/password", r_id, token=access,
             json={"current_password": PASSWORD, "new_password": new_pw})
    assert r.status_code == 204, r.text
    event(srv, r_id, "password.changed", u["id"])


def test_password_reset(srv, sink):
    u = register(srv)
    r_id = rid("reset")
    r = call(srv, "POST", "/api/v1/auth/password-reset", r_id, json={"email": u["email"]})
    assert r.status_code == 202, r.text
    event(srv, r_id, "password_reset.requested", u["id"], timeout=15)
    token = link_token(sink, u["email"], "reset")
    r_id = rid("reset-confirm")
    new_pw = "reset-" + PASSWORD
    keep(new_pw)
    r = call(srv, "POST", "/api/v1/auth/password-reset/confirm", r_id, json={"token": token, "new_password": new_pw})
    assert r.status_code == 204, r.text
    event(srv, r_id, "password_reset.completed", u["id"])

    r_id = rid("reset-nobody")
    r = call(srv, "POST", "/api/v1/auth/password-reset", r_id, json={"email": "nobody@example.com"})
    assert r.status_code == 202, r.text
    line = event(srv, r_id, "password_reset.requested", None, timeout=15)
    assert line.get("msg") == "no such account", line


# ---------------------------------------------------------------- the second factor

def test_mfa_events(srv):
    n = fresh_step(min_left=15)
    u = register(srv)
    access = logged_in(srv, u)
    r = call(srv, "POST", "/api/v1/users/me/mfa/totp", rid("enrol"), token=access)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    keep(secret, secret.lower(), r.json()["otpauth_uri"])
    r_id = rid("confirm")
    r = call(srv, "POST", "/api/v1/users/me/mfa/totp/confirm", r_id, token=access,
             json={"code": totp_code(secret, n - 1)})
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    keep(*codes, *(c.replace("-", "") for c in codes))
    event(srv, r_id, "mfa.enabled", u["id"])

    r, r_id = login(srv, u, "mfa-login")
    assert r.status_code == 401, r.text
    token = keep_pair(r)["mfa_token"]
    event(srv, r_id, "login.mfa_required", u["id"])
    assert not [x for x in security_lines(srv, r_id) if x["event"] == "login.succeeded"]

    r_id = rid("mfa-wrong")
    wrong = f"{(int(totp_code(secret, n)) + 1) % 1000000:06d}"
    CODES.add(wrong)
    r = call(srv, "POST", "/api/v1/auth/mfa", r_id, json={"mfa_token": token, "code": wrong})
    assert r.status_code == 401, r.text
    event(srv, r_id, "mfa.failed", u["id"])

    r_id = rid("mfa-ok")
    r = call(srv, "POST", "/api/v1/auth/mfa", r_id, json={"mfa_token": token, "code": totp_code(secret, n)})
    assert r.status_code == 200, r.text
    keep_pair(r)
    event(srv, r_id, "mfa.succeeded", u["id"])

    r, _ = login(srv, u)
    token = keep_pair(r)["mfa_token"]
    r_id = rid("mfa-recovery")
    r = call(srv, "POST", "/api/v1/auth/mfa", r_id, json={"mfa_token": token, "code": codes[0]})
    assert r.status_code == 200, r.text
    keep_pair(r)
    event(srv, r_id, "mfa.recovery_code_used", u["id"])
    event(srv, r_id, "mfa.succeeded", u["id"])

    r_id = rid("mfa-off")
    r = call(srv, "DELETE", "/api/v1/users/me/mfa/totp", r_id, token=access,
             json={"password": PASSWORD, "code": totp_code(secret, n + 1)})
    assert r.status_code == 204, r.text
    event(srv, r_id, "mfa.disabled", u["id"])


# ---------------------------------------------------------------- no secret in the log

def test_no_secret_in_the_log(srv):
    assert SECRETS and CODES, "the tests above ran first"
    keep(PASSWORD)
    time.sleep(1.2)  # access lines are flushed about once a second
    text = srv.stdout() + srv.stderr()
    for s in SECRETS:
        assert s not in text, f"a secret ({s[:4]}...) is in the log"
    for c in CODES:
        assert not re.search(rf"(?<![0-9.]){c}(?![0-9])", text), f"TOTP code {c} is in the log"
    lines = [x for x in srv.log_lines() if x.get("component") == "security"]
    assert lines and all({"event", "user_id", "client", "request_id"} <= set(x) for x in lines), lines[:3]
