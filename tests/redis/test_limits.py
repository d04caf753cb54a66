"""Rate limits kept in Redis: one limit for all instances.

On SQLite (one instance): the limit's state lives in Redis (a new process
still sees it, FLUSHALL clears it), the RateLimit-* and Retry-After headers
are right, registrations and failure back-off are limited, and no Redis key
or value holds a username, email address, login or IP.
On PostgreSQL (`cluster`): three instances behind one client IP let no more
than the limit (plus what the bucket refills meanwhile, plus 2%) through.

Client IPs come from X-Forwarded-For (PACE_TRUSTED_PROXIES=127.0.0.1); each
test uses IPs of its own. The Redis timeout is generous here: these tests
are about the limits, not about a slow Redis (test_faults.py is).
"""

import concurrent.futures
import math
import re
import time

import pytest

import helpers
from cluster import Recorder, count_statuses, gcra_refill, int_header, new_ip
from harness import assert_problem

LIMITS = {"PACE_RATE_LIMITS": "on", "PACE_REDIS_TIMEOUT_MS": "500"}
INSTANCES = [1, pytest.param(3, marks=pytest.mark.cluster, id="3")]


def fallbacks(c):
    return sum(c.metric_all("pace_redis_fallbacks_total"))


def check_limit_headers(r, limit):
    """The per-IP limit's headers on an answer of a limited route: sane
    values; returns (remaining, reset)."""
    assert int_header(r, "RateLimit-Limit") == limit, r.headers
    remaining = int_header(r, "RateLimit-Remaining")
    reset = int_header(r, "RateLimit-Reset")
    assert 0 <= remaining < limit, r.headers
    assert 0 <= reset <= 60, r.headers
    return remaining, reset


def check_refused(r, limit):
    """A 429 of the limit: problem document, Retry-After within the window."""
    assert_problem(r, 429, "rate_limited")
    retry = int_header(r, "Retry-After")
    assert 1 <= retry <= 60, r.headers
    return retry


def test_login_limit_lives_in_redis(redis, make_cluster):
    """One instance: the login limit counts in Redis, with Redis's answer
    in the headers; a new process on the same Redis is still limited; a
    FLUSHALL (and nothing else) frees the IP again."""
    limit = 8
    c = make_cluster(n=1, redis=redis, env={**LIMITS, "PACE_RATE_LIMIT_LOGIN": limit})
    c.wait_redis("ok")
    user = c.new_user()
    ip = new_ip()
    rec = Recorder()
    before = set(redis.keys())
    seen = []
    for i in range(limit):
        r = rec.login(c[0], user["username"], ip=ip)
        assert r.status_code == 200, r.text
        remaining, reset = check_limit_headers(r, limit)
        seen.append(remaining)
        # The bucket is full again (limit-remaining) refills from now, one each window/limit.
        assert reset >= (limit - remaining) * 60 // limit - 1, r.headers
    # Each attempt took one: limit-1 down to 0 (a refill in between adds one back).
    assert seen[0] == limit - 1 and seen[-1] <= 1, seen
    assert all(b <= a for a, b in zip(seen, seen[1:])), seen
    r = rec.login(c[0], user["username"], ip=ip)
    retry = check_refused(r, limit)
    assert retry <= math.ceil(60 / limit), r.headers
    assert int_header(r, "RateLimit-Remaining") == 0
    assert fallbacks(c) == 0, "a check fell back to the local limiter: the test proved nothing"
    assert any(k.startswith("pace:rl:") for k in set(redis.keys()) - before), redis.keys()

    # A new process has an empty local limiter: still limited, so it is Redis's state.
    c.restart(0)
    c.wait_redis("ok")
    r = rec.login(c[0], user["username"], ip=ip)
    check_refused(r, limit)
    assert fallbacks(c) == 0

    # And only Redis's: flushed, the IP has its whole limit again.
    redis.cli("FLUSHALL")
    r = rec.login(c[0], user["username"], ip=ip)
    assert r.status_code == 200, r.text
    assert check_limit_headers(r, limit)[0] == limit - 1
    rec.assert_clean(bound=5.0)


@pytest.mark.parametrize("n", INSTANCES)
def test_register_limit(n, redis, make_cluster):
    """Registrations from one IP, spread over the instances: the limit
    passes, the rest is 429 with Retry-After."""
    limit = 6
    c = make_cluster(n=n, redis=redis, env={**LIMITS, "PACE_RATE_LIMIT_REGISTER": limit})
    c.wait_redis("ok")
    ip = new_ip()
    f0 = fallbacks(c)
    t0 = time.monotonic()
    answers = []
    for i in range(3 * limit):
        r, _, _ = helpers.register(c[i % n], headers=helpers.xff(ip))
        assert r.status_code in (201, 429), r.text
        if r.status_code == 429:
            check_refused(r, limit)
        answers.append(r)
    elapsed = time.monotonic() - t0
    passed = sum(1 for r in answers if r.status_code == 201)
    assert limit <= passed <= limit + gcra_refill(limit, elapsed), (passed, elapsed)
    assert answers[limit].status_code == 429 or elapsed > 60 / limit, count_statuses(answers)
    assert fallbacks(c) == f0


@pytest.mark.parametrize("n", INSTANCES)
def test_failure_backoff(n, redis, make_cluster):
    """Wrong passwords from one IP on one account, spread over the
    instances: PACE_RATE_LIMIT_LOGIN_FAILURES get through, then the IP
    backs off (1 s, 2 s, ...) on every instance; the owner, from another
    IP, logs in at once."""
    failures = 4
    c = make_cluster(n=n, redis=redis, env={**LIMITS, "PACE_RATE_LIMIT_LOGIN_FAILURES": failures})
    c.wait_redis("ok")
    user = c.new_user()
    ip = new_ip()
    f0 = fallbacks(c)
    t0 = time.monotonic()
    answers = []
    for i in range(4 * failures):
        r = helpers.login(c[i % n], user["username"], password="wrong-password-" + "x" * 8,
                          headers=helpers.xff(ip))
        assert r.status_code in (401, 429), r.text
        if r.status_code == 429:
            check_refused(r, failures)
        else:
            assert_problem(r, 401, "invalid_credentials")
        answers.append(r)
    elapsed = time.monotonic() - t0
    wrong = sum(1 for r in answers if r.status_code == 401)
    # After the threshold, one more try after 1 s, 2 s, 4 s...: m of them in `elapsed`.
    extra = int(math.log2(elapsed + 1))
    assert failures <= wrong <= failures + extra, (wrong, elapsed, count_statuses(answers))
    assert answers[failures].status_code == 429 or elapsed > 1, count_statuses(answers)
    # The owner from elsewhere is not slowed.
    r = helpers.login(c[(n - 1) % n], user["username"], headers=helpers.xff(new_ip()))
    assert r.status_code == 200, r.text
    assert fallbacks(c) == f0


@pytest.mark.cluster
def test_login_limit_holds_globally(redis, make_cluster):
    """Three instances, one client IP: sequential attempts round-robin
    count down one shared RateLimit-Remaining; a concurrent burst of three
    times the limit lets at most limit + refill + 2% through."""
    limit = 30
    c = make_cluster(n=3, redis=redis, env={**LIMITS, "PACE_RATE_LIMIT_LOGIN": limit})
    c.wait_redis("ok")
    user = c.new_user()
    f0 = fallbacks(c)

    ip = new_ip()
    remaining = []
    t0 = time.monotonic()
    for i in range(6):
        r = helpers.login(c[i % 3], user["username"], headers=helpers.xff(ip))
        assert r.status_code == 200, r.text
        remaining.append(check_limit_headers(r, limit)[0])
    elapsed = time.monotonic() - t0
    # One counter, whichever instance answers: 29, 28, 27... (a refill may hold one step).
    assert remaining[0] == limit - 1, remaining
    assert all(b <= a for a, b in zip(remaining, remaining[1:])), remaining
    assert remaining[-1] <= limit - 6 + gcra_refill(limit, elapsed), remaining

    ip = new_ip()
    attempts = 3 * limit
    t0 = time.monotonic()

    def attempt(i):
        return helpers.login(c[i % 3], user["username"], headers=helpers.xff(ip))

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as ex:
        answers = list(ex.map(attempt, range(attempts)))
    elapsed = time.monotonic() - t0
    statuses = count_statuses(answers)
    assert set(statuses) <= {200, 429}, statuses
    passed = statuses.get(200, 0)
    bound = limit + gcra_refill(limit, elapsed) + math.ceil(0.02 * limit)
    assert limit <= passed <= bound, f"{passed} of {attempts} passed in {elapsed:.2f} s (bound {bound})"
    by_instance = [sum(1 for i, r in enumerate(answers) if i % 3 == k and r.status_code == 200) for k in range(3)]
    assert all(by_instance), f"every instance should have let some through: {by_instance}"
    assert fallbacks(c) == f0, "a check fell back to the local limiter"


def test_keys_hold_no_user_input(redis, make_cluster):
    """After registrations, logins (right, wrong, unknown), refreshes and a
    backoff, every key is pace:<kind>:<hash> and no key or value contains
    a username, email address, login or IP the clients sent."""
    c = make_cluster(n=1, redis=redis, env={**LIMITS, "PACE_RATE_LIMIT_LOGIN_FAILURES": 2})
    c.wait_redis("ok")
    ip = "198.51.100.213"
    username = helpers.unique_name("Zyxwv")
    email = f"{username}.Mail@Example.org"
    r, _, _ = helpers.register(c[0], username=username, email=email, headers=helpers.xff(ip))
    assert r.status_code == 201, r.text
    ghost = helpers.unique_name("ghostly")
    for login_name in (username, email.upper(), ghost):
        for pw in ("not-the-password-123", "not-the-password-123", "not-the-password-123", helpers.PASSWORD):
            r = helpers.login(c[0], login_name, password=pw, headers=helpers.xff(ip))
            assert r.status_code in (200, 401, 429), r.text
    r = helpers.login(c[0], username, headers=helpers.xff("203.0.113.77"))
    assert r.status_code == 200, r.text
    r = helpers.refresh(c[0], r.json()["refresh_token"], headers=helpers.xff(ip))
    assert r.status_code == 200, r.text

    keys = redis.keys()
    assert any(k.startswith("pace:rl:") for k in keys), keys
    secrets = {s.lower() for s in (username, email, ghost, ip, "203.0.113.77", email.split("@")[0])}
    values = {}
    conn = redis.conn()
    try:
        for k in keys:
            assert re.fullmatch(r"pace:[a-z]+(:[A-Za-z0-9_-]{16,43})?", k), f"key {k!r}"
            kind = conn.call("TYPE", k)
            if kind == "string":
                values[k] = conn.call("GET", k)
            elif kind == "hash":
                values[k] = " ".join(conn.call("HGETALL", k))
            elif kind == "zset":
                values[k] = " ".join(conn.call("ZRANGE", k, 0, -1))
            elif kind != "none":  # expired since the scan
                raise AssertionError(f"unexpected {kind} key {k!r}")
    finally:
        conn.close()
    for k, v in values.items():
        for s in secrets:
            assert s not in k.lower() and s not in v.lower(), f"{s!r} in {k!r} = {v!r}"
