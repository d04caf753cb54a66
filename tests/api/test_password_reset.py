"""Password reset: POST /auth/password-reset answers alike for known and
unknown addresses (status, headers, body, roughly the time) and mails a
link only to a known one; POST /auth/password-reset/confirm sets the
password (policy as at registration), ends every session at once, sends a
notice, and spends the token (twice, or N at once: one success). A newer
reset, a password change or a login with the old password make a link
dead; rate limits per address and per IP; malformed bodies. Expiry is the
store tests' (the shortest PACE_RESET_TOKEN_TTL is 60 s): here the TTL is
seen reaching the mail's text."""

import base64
import os
import statistics
import time

import pytest
import requests

from harness import assert_problem
from helpers import (PASSWORD, PASSWORD_CHANGED_SUBJECT, PUBLIC_URL, RESET_SUBJECT, assert_pair,
                     assert_unauthorized, errors_of, link_token, login, mail_env, mails, me, new_token_mail,
                     new_user, parallel, post, refresh, unique_name, wait_mails, wait_security_event)
from smtp_sink import Sink

RESET = "/api/v1/auth/password-reset"
CONFIRM = RESET + "/confirm"
NEW_PASSWORD = "harbour-violet-cinnamon-73"
# Headers that differ between any two answers.
PER_ANSWER = {"date", "x-request-id"}


@pytest.fixture(scope="module")
def sink():
    s = Sink()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv(module_server_factory, sink):
    return module_server_factory(env=mail_env(sink))


def reset(srv, email, headers=None):
    return post(srv, RESET, {"email": email}, headers=headers)


def confirm(srv, token, password=NEW_PASSWORD):
    return post(srv, CONFIRM, {"token": token, "new_password": password})


def reset_token(srv, sink, email, known=()):
    """Asks for a reset of email and returns the new link's token."""
    r = reset(srv, email)
    assert r.status_code == 202, r.text
    return new_token_mail(sink, email, RESET_SUBJECT, set(known))


def random_token():
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def unknown_address():
    return unique_name("nobody") + "@example.net"


def test_known_and_unknown_answer_alike(srv, sink):
    u = new_user(srv)
    nobody = unknown_address()
    known, unknown = reset(srv, u["email"]), reset(srv, nobody)
    for r in (known, unknown):
        assert r.status_code == 202, r.text
        assert r.json() == {"status": "accepted"}
        assert r.headers.get("Cache-Control") == "no-store"
    assert known.content == unknown.content

    def same(r):
        return {k.lower(): v for k, v in r.headers.items() if k.lower() not in PER_ANSWER}

    assert same(known) == same(unknown)
    m = wait_mails(sink, u["email"], RESET_SUBJECT)[0]
    assert m.to == [u["email"]]
    token = link_token(m)
    link = f"{PUBLIC_URL}/app/reset-password#token={token}"
    assert link in m.text and m.html is not None and link in m.html
    # The job logs both requests, with their request ids; only one had an account.
    ev = wait_security_event(srv, "password_reset.requested", known.headers["X-Request-Id"])
    assert ev["user_id"] == u["id"]
    ev = wait_security_event(srv, "password_reset.requested", unknown.headers["X-Request-Id"])
    assert ev["user_id"] is None and ev["msg"] == "no such account"
    assert mails(sink, nobody) == []


def test_a_username_is_not_an_address(srv, sink):
    u = new_user(srv)
    r = reset(srv, u["username"])
    assert r.status_code == 202
    ev = wait_security_event(srv, "password_reset.requested", r.headers["X-Request-Id"])
    assert ev["user_id"] is None
    assert mails(sink, u["email"], RESET_SUBJECT) == []


def test_address_ignores_case(srv, sink):
    u = new_user(srv)
    r = reset(srv, u["email"].upper())
    assert r.status_code == 202
    assert link_token(wait_mails(sink, u["email"], RESET_SUBJECT)[0])


def test_timing_alike(srv):
    """A loose sanity bound: no lookup happens in the request, so neither
    kind of address is systematically slower (the medians of a few
    requests stay close)."""
    u = new_user(srv)
    known, unknown = [], []
    for _ in range(15):
        for email, times in ((u["email"], known), (unknown_address(), unknown)):
            t = time.monotonic()
            assert reset(srv, email).status_code == 202
            times.append(time.monotonic() - t)
    assert abs(statistics.median(known) - statistics.median(unknown)) < 0.1


def test_confirm_sets_the_password_and_ends_every_session(srv, sink):
    u = new_user(srv)
    second = login(srv, u["username"]).json()
    assert me(srv, u["access"]).status_code == 200
    token = reset_token(srv, sink, u["email"])
    r = confirm(srv, token)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert r.headers.get("Cache-Control") == "no-store"
    # Access tokens fail at once on this instance; refresh tokens are dead.
    assert_unauthorized(me(srv, u["access"]))
    assert_unauthorized(me(srv, second["access_token"]))
    for rt in (u["refresh"], second["refresh_token"]):
        assert refresh(srv, rt).status_code == 401
    assert_unauthorized(login(srv, u["username"]), "invalid_credentials")
    assert_pair(login(srv, u["username"], NEW_PASSWORD))
    notice = wait_mails(sink, u["email"], PASSWORD_CHANGED_SUBJECT)[0]
    assert "#token=" not in notice.text
    ev = wait_security_event(srv, "password_reset.completed", r.headers["X-Request-Id"])
    assert ev["user_id"] == u["id"]
    assert_problem(confirm(srv, token, "another-long-passphrase-91"), 400, "invalid_token")


def test_concurrent_confirms_one_wins(srv, sink):
    u = new_user(srv)
    token = reset_token(srv, sink, u["email"])
    n = 8
    results = parallel(n, lambda i: confirm(srv, token, f"{NEW_PASSWORD}-{i}"))
    codes = sorted(r.status_code for r in results)
    assert codes == [204] + [400] * (n - 1), [(r.status_code, r.text) for r in results]
    for r in results:
        if r.status_code == 400:
            assert_problem(r, 400, "invalid_token")
    winner = next(i for i, r in enumerate(results) if r.status_code == 204)
    assert_pair(login(srv, u["username"], f"{NEW_PASSWORD}-{winner}"))


def test_newer_reset_makes_the_older_link_dead(srv, sink):
    u = new_user(srv)
    older = reset_token(srv, sink, u["email"])
    newer = reset_token(srv, sink, u["email"], known={older})
    assert_problem(confirm(srv, older), 400, "invalid_token")
    assert confirm(srv, newer).status_code == 204


def test_password_change_makes_the_link_dead(srv, sink):
    u = new_user(srv)
    token = reset_token(srv, sink, u["email"])
    r = post(srv, "/api/v1/users/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
             token=u["access"])
    assert r.status_code == 204, r.text
    assert_problem(confirm(srv, token, "another-long-passphrase-91"), 400, "invalid_token")
    assert_pair(login(srv, u["username"], NEW_PASSWORD))


def test_password_change_sends_a_notice(srv, sink):
    u = new_user(srv)
    r = post(srv, "/api/v1/users/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
             token=u["access"])
    assert r.status_code == 204, r.text
    assert u["username"] in wait_mails(sink, u["email"], PASSWORD_CHANGED_SUBJECT)[0].text
    ev = wait_security_event(srv, "password.changed", r.headers["X-Request-Id"])
    assert ev["user_id"] == u["id"]


def test_login_with_the_old_password_makes_the_link_dead(srv, sink):
    u = new_user(srv)
    token = reset_token(srv, sink, u["email"])
    assert_pair(login(srv, u["username"]))
    assert_problem(confirm(srv, token), 400, "invalid_token")


def test_policy(srv, sink):
    u = new_user(srv)
    token = reset_token(srv, sink, u["email"])
    assert ("new_password", "too_short") in errors_of(confirm(srv, token, "short"))
    errs = errors_of(confirm(srv, token, u["username"] + "-harbour-violet"))
    assert {f for f, _ in errs} == {"new_password"}
    # A refused password spends nothing.
    assert confirm(srv, token).status_code == 204


@pytest.mark.parametrize("token", ["unknown", "", "abc", "A" * 44, "+" * 43, "A" * 2000],
                         ids=["unknown", "empty", "short", "44", "plus", "huge"])
def test_unknown_and_malformed_tokens(srv, token):
    if token == "unknown":
        token = random_token()
    r = confirm(srv, token)
    assert_problem(r, 400, "invalid_token")
    assert r.headers.get("Cache-Control") == "no-store"


@pytest.mark.parametrize("body", [
    {}, {"email": 5}, {"email": None}, {"email": "ab"}, {"email": "a" * 250 + "@b.cd"},
    {"email": "é" * 200 + "@example.com"}, {"email": "a@example.com", "extra": 1}, ["a@example.com"],
], ids=["empty", "number", "null", "short", "long", "long-bytes", "extra", "array"])
def test_malformed_request_body(srv, body):
    r = post(srv, RESET, body)
    assert r.status_code in (400, 422), r.text
    assert_problem(r, r.status_code, "validation_failed" if r.status_code == 422 else "malformed_json")


def test_malformed_confirm_body(srv):
    assert_problem(post(srv, CONFIRM, {"token": random_token()}), 422, "validation_failed")
    assert_problem(post(srv, CONFIRM, {"new_password": NEW_PASSWORD}), 422, "validation_failed")
    assert_problem(post(srv, CONFIRM, {"token": 1, "new_password": NEW_PASSWORD}), 422, "validation_failed")
    r = requests.post(srv.url + RESET, data="{", headers={"Content-Type": "application/json"}, timeout=30)
    assert_problem(r, 400, "malformed_json")


def test_ttl_reaches_the_mail(srv, sink, make_server):
    u = new_user(srv)
    reset_token(srv, sink, u["email"])
    assert "30 minutes" in wait_mails(sink, u["email"], RESET_SUBJECT)[0].text
    short = make_server(env=mail_env(sink, PACE_RESET_TOKEN_TTL="60"))
    v = new_user(short)
    reset_token(short, sink, v["email"])
    assert "1 minutes" in wait_mails(sink, v["email"], RESET_SUBJECT)[0].text


def test_rate_limits(make_server, sink):
    srv = make_server(env=mail_env(sink, PACE_RATE_LIMITS="on", PACE_RATE_LIMIT_MAIL="2",
                                   PACE_RATE_LIMIT_MAIL_IP="4"))
    address = unknown_address()
    for _ in range(2):
        r = reset(srv, address)
        assert r.status_code == 202, r.text
        assert r.headers["RateLimit-Limit"] == "4"  # the IP's headers, as at registration
    limited = reset(srv, address.upper())  # one address whatever its case
    assert_problem(limited, 429, "rate_limited")
    assert limited.headers["RateLimit-Limit"] == "2"
    assert int(limited.headers["Retry-After"]) > 60  # an hour's bucket
    # The IP counted 3: one more request passes, then the IP is limited,
    # for confirms too (they share the IP's bucket).
    assert reset(srv, unknown_address()).status_code == 202
    limited = reset(srv, unknown_address())
    assert_problem(limited, 429, "rate_limited")
    assert limited.headers["RateLimit-Limit"] == "4"
    assert_problem(confirm(srv, random_token()), 429, "rate_limited")
