"""Email verification: the link registration sends (text and HTML, under
PACE_PUBLIC_URL), POST /auth/verify-email (204 once, then 400
invalid_token; unknown and malformed tokens), the resend (older links stop
working, 409 once verified, rate limited), an email change (unverified, a
link to the new address, a notice to the old, old links dead) and
PACE_REQUIRE_VERIFIED_EMAIL. Expiry is the store tests' (the shortest
PACE_VERIFY_TOKEN_TTL is 300 s)."""

import base64
import os

import pytest
import requests

from harness import assert_problem
from helpers import (EMAIL_CHANGED_SUBJECT, PUBLIC_URL, USER_KEYS, VERIFY_SUBJECT, auth, link_token, login,
                     mail_env, me, new_token_mail, new_user, post, register, register_and_verify,
                     security_events, unique_name, verify_email, verify_token, wait_mails, wait_security_event)
from smtp_sink import Sink

ME = "/api/v1/users/me"
RESEND = ME + "/verify-email"


@pytest.fixture(scope="module")
def sink():
    s = Sink()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv(module_server_factory, sink):
    return module_server_factory(env=mail_env(sink))


def resend(srv, token, headers=None):
    return post(srv, RESEND, token=token, headers=headers)


def patch_me(srv, token, body):
    return requests.patch(srv.url + ME, json=body, headers=auth(token), timeout=30)


def random_token():
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def test_registration_sends_a_link(srv, sink):
    r, username, email = register(srv)
    assert r.status_code == 201, r.text
    assert set(r.json()) == USER_KEYS
    assert r.json()["email_verified"] is False and r.json()["mfa_enabled"] is False
    m = wait_mails(sink, email, VERIFY_SUBJECT)[0]
    assert m.to == [email]
    token = link_token(m)
    link = f"{PUBLIC_URL}/app/verify-email#token={token}"
    assert link in m.text
    assert m.html is not None and link in m.html
    assert username in m.text
    wait_security_event(srv, "email.verification_sent", r.headers["X-Request-Id"])


def test_verify_spends_the_token(srv, sink):
    u = new_user(srv)
    token = verify_token(sink, u["email"])
    assert me(srv, u["access"]).json()["email_verified"] is False
    r = verify_email(srv, token)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert r.headers.get("Cache-Control") == "no-store"
    body = me(srv, u["access"]).json()
    assert set(body) == USER_KEYS and body["email_verified"] is True
    ev = wait_security_event(srv, "email.verified", r.headers["X-Request-Id"])
    assert ev["user_id"] == u["id"]
    again = verify_email(srv, token)
    assert_problem(again, 400, "invalid_token")
    assert again.headers.get("Cache-Control") == "no-store"


@pytest.mark.parametrize("token", [
    "unknown", "", "abc", "A" * 42, "A" * 44, "+" * 43, "A" * 42 + "=", "!" * 43, "A" * 2000,
], ids=["unknown", "empty", "short", "42", "44", "plus", "padded", "bang", "huge"])
def test_unknown_and_malformed_tokens(srv, token):
    if token == "unknown":
        token = random_token()
    assert_problem(verify_email(srv, token), 400, "invalid_token")


def test_body_checked(srv):
    assert_problem(post(srv, "/api/v1/auth/verify-email", {}), 422, "validation_failed")
    assert_problem(post(srv, "/api/v1/auth/verify-email", {"token": 5}), 422, "validation_failed")
    assert_problem(post(srv, "/api/v1/auth/verify-email", {"token": random_token(), "x": 1}), 422,
                   "validation_failed")
    r = requests.post(srv.url + "/api/v1/auth/verify-email", data="{", timeout=30,
                      headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "malformed_json")


def test_resend_makes_older_links_dead(srv, sink):
    u = new_user(srv)
    first = verify_token(sink, u["email"])
    r = resend(srv, u["access"])
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "accepted"}
    assert r.headers.get("Cache-Control") == "no-store"
    second = new_token_mail(sink, u["email"], VERIFY_SUBJECT, {first})
    assert_problem(verify_email(srv, first), 400, "invalid_token")
    assert verify_email(srv, second).status_code == 204
    assert me(srv, u["access"]).json()["email_verified"] is True


def test_resend_when_verified(srv, sink):
    u = register_and_verify(srv, sink)
    assert_problem(resend(srv, u["access"]), 409, "email_already_verified")
    r = post(srv, RESEND)
    assert_problem(r, 401, "unauthorized")


def test_email_change(srv, sink):
    u = register_and_verify(srv, sink)
    new_mail = unique_name("moved") + "@example.org"
    r = patch_me(srv, u["access"], {"email": new_mail})
    assert r.status_code == 200, r.text
    assert r.json()["email"] == new_mail and r.json()["email_verified"] is False
    token = verify_token(sink, new_mail)
    notice = wait_mails(sink, u["email"], EMAIL_CHANGED_SUBJECT)[0]
    assert notice.to == [u["email"]]
    assert new_mail in notice.text and "#token=" not in notice.text
    ev = wait_security_event(srv, "email.changed", r.headers["X-Request-Id"])
    assert ev["user_id"] == u["id"]
    assert me(srv, u["access"]).json()["email_verified"] is False
    assert verify_email(srv, token).status_code == 204
    assert me(srv, u["access"]).json()["email_verified"] is True


def test_email_case_change_keeps_verified(srv, sink):
    u = register_and_verify(srv, sink)
    r = patch_me(srv, u["access"], {"email": u["email"].upper()})
    assert r.status_code == 200, r.text
    assert r.json()["email_verified"] is True
    # Nothing is sent: the events are logged before the answer.
    rid = r.headers["X-Request-Id"]
    assert [x for x in security_events(srv) if x.get("request_id") == rid] == []


def test_old_address_link_dead_after_change(srv, sink):
    u = new_user(srv)
    old_link = verify_token(sink, u["email"])
    new_mail = unique_name("moved") + "@example.org"
    assert patch_me(srv, u["access"], {"email": new_mail}).status_code == 200
    new_link = verify_token(sink, new_mail)
    assert_problem(verify_email(srv, old_link), 400, "invalid_token")
    assert me(srv, u["access"]).json()["email_verified"] is False
    assert verify_email(srv, new_link).status_code == 204


def test_resend_rate_limited(make_server, sink):
    srv = make_server(env=mail_env(sink, PACE_RATE_LIMITS="on", PACE_RATE_LIMIT_MAIL="2",
                                   PACE_RATE_LIMIT_MAIL_IP="4"))
    a, b = new_user(srv), new_user(srv)
    for _ in range(2):
        r = resend(srv, a["access"])
        assert r.status_code == 202, r.text
        assert "RateLimit-Limit" in r.headers
    limited = resend(srv, a["access"])
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 60  # an hour's bucket, not a minute's
    assert limited.headers["RateLimit-Limit"] == "2"  # the account's limit
    # The IP has made 3 of its 4: b gets one, then the IP's limit refuses.
    assert resend(srv, b["access"]).status_code == 202
    limited = resend(srv, b["access"])
    assert_problem(limited, 429, "rate_limited")
    assert limited.headers["RateLimit-Limit"] == "4"


def test_require_verified_email(make_server, sink):
    srv = make_server(env=mail_env(sink, PACE_REQUIRE_VERIFIED_EMAIL="on"))
    r, username, email = register(srv)
    assert r.status_code == 201, r.text
    first = verify_token(sink, email)
    refused = login(srv, username)
    assert_problem(refused, 403, "email_not_verified")
    fresh = new_token_mail(sink, email, VERIFY_SUBJECT, {first})
    # The registration's link still works: a refused login adds a link, it
    # does not take the one in the inbox away.
    assert verify_email(srv, first).status_code == 204
    assert_problem(verify_email(srv, fresh), 400, "invalid_token")  # verified: the other links are spent
    assert login(srv, username).status_code == 200
