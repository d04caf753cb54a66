"""The absolute session lifetime (PACE_SESSION_MAX_SECONDS): a session ends
at its login time plus that many seconds, however often its refresh token
rotates; a token issued near the end expires at the end, not a full
PACE_REFRESH_TOKEN_TTL later. Runs on every backend (PACE_TEST_BACKEND)."""

import time

import pytest

from helpers import BASE_ENV, assert_pair, assert_unauthorized, get, login, new_user, refresh, register

MAX = 3  # seconds


@pytest.fixture(scope="module")
def srv(module_server_factory):
    # Refresh tokens would live an hour, idle sessions as long: only the
    # absolute bound can end these sessions within the test.
    return module_server_factory(env={**BASE_ENV, "PACE_SESSION_MAX_SECONDS": str(MAX),
                                      "PACE_REFRESH_TOKEN_TTL": "3600"})


def test_rotation_does_not_extend_the_session(srv):
    u = new_user(srv)
    start = time.monotonic()
    tok = u["refresh"]
    # Rotate every 0.5 s until the end: every pair's refresh token expires
    # at the session's end, never a full TTL later.
    last = None
    while time.monotonic() - start < MAX - 1.0:
        r = refresh(srv, tok)
        body = assert_pair(r)
        assert body["refresh_expires_in"] <= MAX, body
        tok = body["refresh_token"]
        last = body
        time.sleep(0.5)
    assert last is not None
    assert last["refresh_expires_in"] <= 2, last  # near the end: what is left, not 3600
    while time.monotonic() - start < MAX + 0.5:
        time.sleep(0.1)
    assert_unauthorized(refresh(srv, tok), "refresh_token_expired")
    # The session is over: no longer listed among the active ones (its last
    # access token still works until its own exp, PACE_ACCESS_TOKEN_TTL).
    lst = get(srv, "/api/v1/auth/sessions", last["access_token"])
    assert lst.status_code == 200, lst.text
    assert lst.json()["items"] == []


def test_login_pair_says_how_long_its_refresh_token_lives(srv):
    r, username, _ = register(srv)
    assert r.status_code == 201
    assert 0 < assert_pair(login(srv, username))["refresh_expires_in"] <= MAX


def test_an_unused_first_token_expires_at_the_end_too(srv):
    u = new_user(srv)
    time.sleep(MAX + 0.3)
    assert_unauthorized(refresh(srv, u["refresh"]), "refresh_token_expired")


def test_sessions_end_independently(srv):
    old = new_user(srv)
    time.sleep(MAX - 1.0)
    young = new_user(srv)
    time.sleep(1.3)
    assert_unauthorized(refresh(srv, old["refresh"]), "refresh_token_expired")
    assert_pair(refresh(srv, young["refresh"]))


def test_default_is_ninety_days(make_server):
    s = make_server(env=BASE_ENV)
    u = new_user(s)
    body = assert_pair(refresh(s, u["refresh"]))
    # The default refresh TTL (30 days) is shorter than the default bound.
    assert body["refresh_expires_in"] in (2592000, 2592000 - 1), body
