"""Rate limits on register, login, token and refresh (RateLimit-* headers,
429 rate_limited with Retry-After), the per-(account, IP) backoff that
slows an attacker without locking the owner out, PACE_RATE_LIMITS=off,
client addresses from X-Forwarded-For behind a trusted proxy, and a login
flood that fills the hash pool: 503 overloaded while GET /health answers."""

import threading

import pytest
import requests

from harness import assert_problem
from helpers import (BASE_ENV, PASSWORD, assert_pair, assert_unauthorized, login, new_user, parallel, post,
                     refresh, register, unique_name, xff)

LIMITED = {**BASE_ENV, "PACE_RATE_LIMITS": "on", "PACE_TRUSTED_PROXIES": "127.0.0.1"}


def assert_rate_headers(r, limit):
    assert r.headers.get("RateLimit-Limit") == str(limit), r.headers
    assert int(r.headers["RateLimit-Remaining"]) >= 0
    assert int(r.headers["RateLimit-Reset"]) >= 0


def assert_limited(r):
    body = assert_problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    assert "RateLimit-Limit" in r.headers and r.headers["RateLimit-Remaining"] == "0"
    return body


def test_register_limit_per_ip(make_server):
    s = make_server(env={**LIMITED, "PACE_RATE_LIMIT_REGISTER": "3"})
    ip = xff("203.0.113.10")
    remaining = []
    for _ in range(3):
        r, _, _ = register(s, headers=ip)
        assert r.status_code == 201, r.text
        assert_rate_headers(r, 3)
        remaining.append(int(r.headers["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    r, _, _ = register(s, headers=ip)
    assert_limited(r)
    # Invalid bodies count too, and are limited the same.
    r = post(s, "/api/v1/auth/register", {"nope": 1}, headers=ip)
    assert_limited(r)
    # Another client address is not affected.
    r, _, _ = register(s, headers=xff("203.0.113.11"))
    assert r.status_code == 201


def test_login_limit_per_ip(make_server):
    s = make_server(env={**LIMITED, "PACE_RATE_LIMIT_LOGIN": "4"})
    u = new_user(s, headers=xff("198.51.100.1"))
    ip = xff("198.51.100.2")
    for i in range(4):
        r = login(s, u["username"], headers=ip)
        assert_pair(r)
        assert_rate_headers(r, 4)
        assert r.headers["RateLimit-Remaining"] == str(3 - i)
    assert_limited(login(s, u["username"], headers=ip))
    # The token endpoint's password grant shares the login limit.
    r = requests.post(s.url + "/api/v1/auth/token", headers=ip, timeout=10,
                      data={"grant_type": "password", "username": u["username"], "password": PASSWORD})
    assert_limited(r)
    assert_pair(login(s, u["username"], headers=xff("198.51.100.3")))


def test_refresh_limit_per_ip(make_server):
    s = make_server(env={**LIMITED, "PACE_RATE_LIMIT_REFRESH": "2"})
    u = new_user(s, headers=xff("192.0.2.50"))
    ip = xff("192.0.2.51")
    p = assert_pair(refresh(s, u["refresh"], headers=ip))
    assert_rate_headers(refresh(s, "unknown-token", headers=ip), 2)
    r = refresh(s, p["refresh_token"], headers=ip)
    assert_limited(r)
    # The limit refused before the token was looked at: it still works.
    assert_pair(refresh(s, p["refresh_token"], headers=xff("192.0.2.52")))


def test_failures_slow_the_failing_ip_not_the_owner(make_server):
    s = make_server(env={**LIMITED, "PACE_RATE_LIMIT_LOGIN_FAILURES": "3"})
    u = new_user(s, headers=xff("192.0.2.1"))
    attacker, owner = xff("203.0.113.66"), xff("198.51.100.77")
    for _ in range(3):
        assert_unauthorized(login(s, u["username"], "wrong-password-guess", headers=attacker), "invalid_credentials")
    # Now even the right password waits, from that address.
    r = login(s, u["username"], headers=attacker)
    assert_limited(r)
    assert int(r.headers["Retry-After"]) >= 1
    # The owner, from elsewhere, logs in at once.
    assert_pair(login(s, u["username"], headers=owner))
    assert_pair(login(s, u["email"], headers=owner))
    # Other accounts are not slowed down for the attacker's address either.
    other = new_user(s, headers=xff("192.0.2.2"))
    assert_pair(login(s, other["username"], headers=attacker))


def test_unknown_accounts_are_limited_like_known_ones(make_server):
    s = make_server(env={**LIMITED, "PACE_RATE_LIMIT_LOGIN_FAILURES": "2"})
    ip = xff("203.0.113.99")
    ghost = unique_name("ghost")
    for _ in range(2):
        assert_unauthorized(login(s, ghost, "wrong-password-guess", headers=ip), "invalid_credentials")
    assert_limited(login(s, ghost, "wrong-password-guess", headers=ip))


def test_untrusted_peer_cannot_choose_its_address(make_server):
    s = make_server(env={**BASE_ENV, "PACE_RATE_LIMITS": "on", "PACE_RATE_LIMIT_REGISTER": "2"})
    for i in range(2):
        r, _, _ = register(s, headers=xff(f"203.0.113.{i + 1}"))
        assert r.status_code == 201
    r, _, _ = register(s, headers=xff("203.0.113.200"))
    assert_limited(r)  # X-Forwarded-For ignored: every request is 127.0.0.1


def test_limits_off(make_server):
    s = make_server(env={**BASE_ENV, "PACE_RATE_LIMITS": "off", "PACE_RATE_LIMIT_LOGIN": "1",
                         "PACE_RATE_LIMIT_LOGIN_FAILURES": "1"})
    u = new_user(s)
    for _ in range(5):
        assert_unauthorized(login(s, u["username"], "wrong-password-guess"), "invalid_credentials")
    r = login(s, u["username"])
    assert_pair(r)
    assert "RateLimit-Limit" not in r.headers


def test_login_flood_gets_503_while_health_answers(make_server):
    # One hashing thread, two waiting places, and hashes that take a while.
    s = make_server(env={**BASE_ENV, "PACE_HASH_THREADS": "1", "PACE_HASH_QUEUE": "2",
                         "PACE_ARGON2_MEMORY_KIB": "19456", "PACE_ARGON2_ITERATIONS": "6"})
    r, username, _ = register(s)
    assert r.status_code == 201
    health = []
    done = threading.Event()

    def probe():
        while not done.is_set():
            health.append(requests.get(s.url + "/health", timeout=10).status_code)

    t = threading.Thread(target=probe)
    t.start()
    try:
        results = parallel(24, lambda i: login(s, username, "wrong-password-guess" if i % 2 else PASSWORD))
    finally:
        done.set()
        t.join()
    codes = [r.status_code for r in results]
    assert 503 in codes, codes
    assert set(codes) <= {200, 401, 503}, codes
    for r in results:
        if r.status_code == 503:
            assert_problem(r, 503, "overloaded")
            assert int(r.headers["Retry-After"]) >= 1
    assert health and set(health) == {200}, health
    assert requests.get(s.url + "/health", timeout=10).status_code == 200
