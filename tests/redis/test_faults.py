"""Redis stopped, frozen (SIGSTOP), slowed (CLIENT PAUSE), flushed and
restarted under pace: it keeps serving, degrades the way the design says,
and recovers without a restart.

While Redis is down: steady traffic (logins, token requests, refreshes,
logouts, registrations) gets no 5xx and every answer within ANSWER_BOUND;
/ready stays 200 and says "degraded"; the breaker metric opens; the limits
fall back to the local limiter at this instance's share of the limit
(limit / live instances, rounded up), which still refuses past it. Redis
back: /ready says "ok" again, the breaker closes, and the limits are the
global ones again (RateLimit-Remaining counts down from the full limit).

Revocations survive FLUSHALL and a Redis restart: what was revoked stays
refused on every instance, and a revocation made while Redis was down
reaches every instance through the database poll. (That caches drop
across FLUSHALL and a restart is test_cache.py's
test_flushall_and_restart_leave_no_stale_entry.)

A login limit above 60,000 a minute survives the fallback to the local
limiter (its interval clamped to 1 ms), and the breaker closes after each
of many short freezes (a half-open probe is always judged).

SQLite runs one instance; `cluster` runs three on PostgreSQL.
"""

import math
import random
import time

import pytest

import helpers
from cluster import ANSWER_BOUND, Recorder, Traffic, count_statuses, gcra_max, int_header, new_ip, wait_until

LIMIT = 12
ENV = {
    "PACE_RATE_LIMITS": "on",
    "PACE_RATE_LIMIT_LOGIN": LIMIT,
    # The traffic thread refreshes one account often; its limit is not under test.
    "PACE_RATE_LIMIT_REFRESH_ACCOUNT": 60000,
}
FAULTS = ["halt", "freeze", "slow"]


def start_fault(redis, fault):
    {"halt": redis.halt, "freeze": redis.freeze, "slow": redis.slow}[fault]()


def end_fault(redis, fault):
    {"halt": redis.resume, "freeze": redis.thaw, "slow": redis.unslow}[fault]()


def errors(c):
    """Redis errors of every kind, summed over the instances."""
    return sum(sum(c.metric_all("pace_redis_errors_total", kind=k)) for k in
               ("timeout", "connection", "reply", "refused"))


def breaker_opens(c, srv, timeout=10.0):
    """Waits until the breaker of srv is not closed (1 open, 2 half-open)."""
    wait_until(lambda: c.metric(srv, "pace_redis_breaker_state") in (1, 2), timeout,
               f"the breaker of :{srv.port} to open")


def burst(c, instances, attempts, user):
    """`attempts` logins from one fresh IP, round-robin over instances;
    returns (answers, seconds)."""
    ip = new_ip()
    t0 = time.monotonic()
    answers = [helpers.login(instances[i % len(instances)], user["username"], headers=helpers.xff(ip))
               for i in range(attempts)]
    elapsed = time.monotonic() - t0
    st = count_statuses(answers)
    assert set(st) <= {200, 429}, st
    return answers, elapsed


def passed(answers):
    return sum(1 for r in answers if r.status_code == 200)


def wait_global(c, user):
    """Waits until a login from a fresh IP is counted in Redis again: its
    RateLimit-Remaining is limit-1 (the local share would say less) and the
    fallback counter did not move."""
    def global_again():
        f0 = sum(c.metric_all("pace_redis_fallbacks_total"))
        r = helpers.login(c[0], user["username"], headers=helpers.xff(new_ip()))
        assert r.status_code == 200, r.text
        return (int_header(r, "RateLimit-Remaining") == LIMIT - 1 and
                sum(c.metric_all("pace_redis_fallbacks_total")) == f0)
    wait_until(global_again, 10, "the limits to be checked in Redis again", interval=0.2)


@pytest.mark.parametrize("fault", FAULTS)
def test_one_instance_rides_out_a_fault(fault, fresh_redis, make_cluster):
    redis = fresh_redis
    c = make_cluster(n=1, redis=redis, env=ENV)
    c.wait_redis("ok")
    srv = c[0]
    user = c.new_user()
    traffic = Traffic(c, user)
    traffic.start()
    try:
        wait_until(lambda: len(traffic.rounds) >= 3, 10, "traffic to run")
        e0, f0 = errors(c), sum(c.metric_all("pace_redis_fallbacks_total"))
        t_fault = time.monotonic()
        start_fault(redis, fault)
        try:
            if fault != "slow":
                c.wait_redis("degraded", timeout=10)
                breaker_opens(c, srv)
                # The fallback: the local limiter at the whole limit (one live instance).
                answers, elapsed = burst(c, [srv], 2 * LIMIT, user)
                assert LIMIT <= passed(answers) <= gcra_max(LIMIT, elapsed), (count_statuses(answers), elapsed)
                assert answers[LIMIT].status_code == 429 or elapsed > 60 / LIMIT
            else:
                # Some commands wait out a pause, some go through: a limit may
                # count in either place, never in neither.
                wait_until(lambda: errors(c) > e0 + 10 and
                           sum(1 for t in traffic.rounds if t > t_fault) >= 20, 15,
                           "traffic to meet the slow Redis")
                code, body = c.ready(srv)
                assert code == 200 and body["checks"]["redis"] in ("ok", "degraded"), body
                answers, elapsed = burst(c, [srv], 3 * LIMIT, user)
                assert LIMIT <= passed(answers) <= 2 * gcra_max(LIMIT, elapsed), (count_statuses(answers), elapsed)
            assert c.metric(srv, "pace_redis_fallbacks_total") > f0
            assert errors(c) > e0, "Redis never failed: the fault did not bite"
            t_end = time.monotonic()
        finally:
            end_fault(redis, fault)
        traffic.assert_clean(since=t_fault, until=t_end, what=f"while Redis was {fault}")

        # Back without restarting pace.
        c.wait_redis("ok", timeout=15)
        assert srv.alive()
        wait_until(lambda: c.metric(srv, "pace_redis_breaker_state") == 0, 10, "the breaker to close")
        wait_global(c, user)
    finally:
        traffic.stop()
    traffic.assert_clean(what="over the whole test")


@pytest.mark.cluster
@pytest.mark.parametrize("fault", ["halt", "freeze"])
def test_three_instances_fall_back_to_their_share(fault, fresh_redis, make_cluster):
    """Three live instances registered before the fault: while Redis is
    away one instance lets ceil(limit/3) through, all three together the
    limit; afterwards the limit is one global counter again."""
    redis = fresh_redis
    c = make_cluster(n=3, redis=redis, env=ENV)
    c.wait_redis("ok")
    c.wait_live(3)
    user = c.new_user()
    share = math.ceil(LIMIT / 3)
    traffic = Traffic(c, user)
    traffic.start()
    try:
        wait_until(lambda: len(traffic.rounds) >= 3, 10, "traffic to run")
        t_fault = time.monotonic()
        start_fault(redis, fault)
        try:
            c.wait_redis("degraded", timeout=10)
            for srv in c:
                breaker_opens(c, srv)
            answers, elapsed = burst(c, [c[1]], 2 * LIMIT, user)
            assert share <= passed(answers) <= gcra_max(share, elapsed), (count_statuses(answers), elapsed)
            answers, elapsed = burst(c, list(c), 3 * LIMIT, user)
            assert 3 * share <= passed(answers) <= 3 * gcra_max(share, elapsed), (count_statuses(answers), elapsed)
            # The instance count of before the fault is kept.
            assert c.metric_all("pace_instances_live") == [3, 3, 3]
            t_end = time.monotonic()
        finally:
            end_fault(redis, fault)
        traffic.assert_clean(since=t_fault, until=t_end, what=f"while Redis was {fault}")

        c.wait_redis("ok", timeout=15)
        assert all(srv.alive() for srv in c)
        c.wait_live(3)
        wait_global(c, user)
        # One counter over the three again.
        ip = new_ip()
        remaining = []
        for i in range(6):
            r = helpers.login(c[i % 3], user["username"], headers=helpers.xff(ip))
            assert r.status_code == 200, r.text
            remaining.append(int_header(r, "RateLimit-Remaining"))
        assert remaining[0] == LIMIT - 1 and remaining[-1] <= LIMIT - 5, remaining
    finally:
        traffic.stop()
    traffic.assert_clean(what="over the whole test")


@pytest.mark.parametrize("n", [1, pytest.param(3, marks=pytest.mark.cluster, id="3")])
def test_revoked_stays_revoked_across_flushall_and_restart(n, fresh_redis, make_cluster):
    redis = fresh_redis
    c = make_cluster(n=n, redis=redis, env={"PACE_RATE_LIMITS": "off"})
    c.wait_redis("ok")
    user = c.new_user()  # its session stays valid throughout
    s1, s2 = c.login_pair(user), c.login_pair(user)
    rec = Recorder()

    r = rec.request("POST", c[0], "/api/v1/auth/logout", json={"refresh_token": s1["refresh_token"]})
    assert r.status_code == 204, r.text
    c.wait_refused(s1["access_token"], time.monotonic())

    redis.cli("FLUSHALL")
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:
        c.assert_refused(s1["access_token"])
        c.assert_accepted(user["access"])

    # Revoked while Redis is down: the message is lost, the database poll is not.
    redis.halt()
    try:
        t0 = time.monotonic()
        r = rec.request("POST", c[n - 1], "/api/v1/auth/logout", json={"refresh_token": s2["refresh_token"]})
        assert r.status_code == 204, r.text
        c.wait_refused(s2["access_token"], t0)
    finally:
        redis.resume()
    c.wait_redis("ok")
    for tok in (s1["access_token"], s2["access_token"]):
        c.assert_refused(tok)
    c.assert_accepted(user["access"])

    # The channel works again after the restart (each instance resubscribed).
    # The first publishes may still meet a loop's connection in its
    # reconnect back-off (the database poll covers those): try a few.
    delivered = False
    for attempt in range(10):
        lag0 = c.metric_all("pace_revocation_lag_seconds_count")
        s3 = c.login_pair(user)
        c.assert_accepted(s3["access_token"])
        t0 = time.monotonic()
        r = rec.request("POST", c[attempt % n], "/api/v1/auth/logout", json={"refresh_token": s3["refresh_token"]})
        assert r.status_code == 204, r.text
        c.wait_refused(s3["access_token"], t0)
        try:
            wait_until(lambda: all(b > a for a, b in zip(lag0, c.metric_all("pace_revocation_lag_seconds_count"))),
                       1, "every instance to receive the revocation message")
            delivered = True
            break
        except AssertionError:
            pass
    assert delivered, "no revocation message reached every instance after the restart"
    rec.assert_clean(bound=ANSWER_BOUND)


def test_a_limit_above_one_a_millisecond_survives_the_fallback(fresh_redis, make_cluster):
    """A limit above 60,000 a minute makes the local limiter's interval
    60000 / limit ms round to 0; pace clamps it to 1 ms (as the Redis
    function does), so the first check that falls back to the local
    limiter answers instead of dividing by zero, and pace exits cleanly."""
    c = make_cluster(n=1, redis=fresh_redis, env={"PACE_RATE_LIMITS": "on", "PACE_RATE_LIMIT_LOGIN": 100000})
    c.wait_redis("ok")
    user = c.new_user()  # counted in Redis: fine
    fresh_redis.halt()
    r = Recorder().login(c[0], user["username"], ip=new_ip())
    assert c[0].alive(), f"pace died: exit {c[0].proc.returncode}"
    assert r is not None and r.status_code == 200, r


def test_breaker_recovers_after_many_short_freezes(fresh_redis, make_cluster):
    """Freeze and thaw Redis again and again under steady logins: after
    each thaw the breaker is closed within seconds. (It once stayed
    half-open for good: the one probe a half-open breaker lets through was
    refused before it was sent, when its loop's connection was in its
    reconnect back-off or its deadline had passed, and nothing judged it.
    A few short freezes found that; fixed in 5224382.)"""
    redis = fresh_redis
    c = make_cluster(n=1, redis=redis, env=ENV)
    srv = c[0]
    user = c.new_user()
    rng = random.Random(12)
    for cycle in range(20):
        c.wait_redis("ok", timeout=8)
        hold = rng.uniform(0.2, 1.5)
        redis.freeze()
        try:
            t_end = time.monotonic() + hold
            while time.monotonic() < t_end:
                r = helpers.login(srv, user["username"], headers=helpers.xff(new_ip()))
                assert r.status_code == 200, r.text
                time.sleep(0.05)
        finally:
            redis.thaw()

        def recovered():
            r = helpers.login(srv, user["username"], headers=helpers.xff(new_ip()))
            assert r.status_code == 200, r.text
            return c.metric(srv, "pace_redis_breaker_state") == 0

        try:
            wait_until(recovered, 8, "the breaker to close", interval=0.1)
        except AssertionError:
            raise AssertionError(
                f"cycle {cycle} (frozen {hold:.2f} s): the breaker is still "
                f"{c.metric(srv, 'pace_redis_breaker_state'):.0f} (2: half-open) 8 s after the thaw; "
                f"commands sent {c.metric(srv, 'pace_redis_commands_total'):.0f}, refused "
                f"{c.metric(srv, 'pace_redis_errors_total', kind='refused'):.0f}") from None
