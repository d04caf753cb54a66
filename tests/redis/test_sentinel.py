"""Sentinel failover under load (PostgreSQL: three instances).

A master, its replica and three Sentinels (scripts/redis.sh sentinel-start);
three pace instances find the master through PACE_REDIS_SENTINELS. Under
steady traffic (logins, token requests, refreshes, logouts, registrations)
and a steady login attacker from one IP, the master is halted: the
Sentinels promote the replica, and pace

- answers every request meanwhile (no 5xx, none slower than ANSWER_BOUND),
- follows the new master (/ready "ok" again within 15 s, the limits are
  counted on the new master, whose keys they are),
- delivers a revocation made after the failover to every instance through
  pub/sub (every instance counts the message) within 1 s,
- keeps the login limit enforced throughout: the attacker never gets more
  than the global limit, plus one local share per instance for the time
  Redis was away (each instance's fallback bucket starts full), plus the
  refill of the time it ran.
"""

import math
import threading
import time

import pytest

import helpers
from cluster import Recorder, Traffic, gcra_refill, new_ip, report, wait_until

pytestmark = pytest.mark.cluster

LIMIT = 30
ENV = {
    "PACE_RATE_LIMITS": "on",
    "PACE_RATE_LIMIT_LOGIN": LIMIT,
    "PACE_RATE_LIMIT_REFRESH_ACCOUNT": 60000,
}


class Attacker(threading.Thread):
    """Logs in from one IP every `pause` s, round-robin over the instances."""

    def __init__(self, c, user, pause=0.01):
        super().__init__(name="attacker", daemon=True)
        self.c, self.user, self.pause = c, user, pause
        self.ip = new_ip()
        self.rec = Recorder()
        self.answers = []
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set():
            r = self.rec.login(self.c[i % len(self.c)], self.user["username"], ip=self.ip)
            self.answers.append((time.monotonic(), None if r is None else r.status_code))
            i += 1
            self.halt.wait(self.pause)

    def stop(self):
        self.halt.set()
        self.join(timeout=30)
        assert not self.is_alive()


def test_failover_under_load(sentinels, make_cluster):
    c = make_cluster(n=3, sentinels=sentinels, env=ENV)
    c.wait_redis("ok")
    c.wait_live(3)
    old_master = sentinels.master_addr()
    user = c.new_user()
    traffic = Traffic(c, user)
    attacker = Attacker(c, c.new_user())
    t_start = time.monotonic()
    traffic.start()
    attacker.start()
    try:
        wait_until(lambda: len(traffic.rounds) >= 5, 10, "traffic to run")
        # The attacker has used up the global limit before the fault.
        wait_until(lambda: any(st == 429 for _, st in attacker.answers), 20, "the attacker to be limited")
        master = sentinels.node("master")
        t_fault = time.monotonic()
        master.halt()
        wait_until(lambda: sentinels.master_addr() != old_master, 30, "the Sentinels to promote the replica")
        t_promoted = time.monotonic()
        c.wait_redis("ok", timeout=15)
        t_back = time.monotonic()
        # The limits are counted on the new master.
        new_master = sentinels.node("master")
        before = set(new_master.keys())
        r = helpers.login(c[0], user["username"], headers=helpers.xff(new_ip()))
        assert r.status_code == 200, r.text
        assert r.headers["RateLimit-Remaining"] == str(LIMIT - 1), r.headers
        assert any(k.startswith("pace:rl:") for k in set(new_master.keys()) - before)
        wait_until(lambda: all(v == 0 for v in c.metric_all("pace_redis_breaker_state")), 10,
                   "every breaker closed")

        # A revocation after the failover reaches everyone, through the new master.
        lag0 = c.metric_all("pace_revocation_lag_seconds_count")
        victim = c.new_user(1)
        c.assert_accepted(victim["access"])
        t0 = time.monotonic()
        r = helpers.post(c[1], "/api/v1/auth/logout", {"refresh_token": victim["refresh"]})
        assert r.status_code == 204, r.text
        c.wait_refused(victim["access"], t0, bound=1.0)
        wait_until(lambda: all(b > a for a, b in zip(lag0, c.metric_all("pace_revocation_lag_seconds_count"))),
                   2, "every instance to receive the revocation message")
        wait_until(lambda: sum(1 for t in traffic.rounds if t > t_back) >= 5, 10, "traffic after the failover")
        wait_until(lambda: sum(1 for t, _ in attacker.answers if t > t_back + 0.5) >= 30, 10,
                   "the attacker after the failover")
    finally:
        attacker.stop()
        traffic.stop()
    t_end = time.monotonic()

    traffic.assert_clean(since=t_fault, until=t_back, what="during the failover")
    traffic.assert_clean(what="over the whole test")
    attacker.rec.assert_clean(what="of the attacker")
    statuses = [s for _, s in attacker.answers]
    assert set(statuses) <= {200, 429}, statuses
    passed = statuses.count(200)
    share = math.ceil(LIMIT / 3)
    elapsed = t_end - t_start
    # Global limit + refill, plus each instance's local bucket (full at first,
    # refilling) for the time Redis was away.
    bound = LIMIT + gcra_refill(LIMIT, elapsed) + 3 * (share + gcra_refill(share, t_back - t_fault))
    assert LIMIT <= passed <= bound, (f"the attacker got {passed} of {len(statuses)} logins through in "
                                      f"{elapsed:.1f} s (bound {bound})")
    # Once pace is back on the new master, the bucket is the one replicated to it: still empty.
    after = [st for t, st in attacker.answers if t > t_back + 0.5]
    assert len(after) >= 5, "the attacker made no attempts after the failover"
    assert after.count(200) <= gcra_refill(LIMIT, t_end - t_back) + 1, (
        f"{after.count(200)} of {len(after)} attempts passed after the failover")
    report(f"failover: promoted after {t_promoted - t_fault:.1f} s, /ready ok everywhere after "
          f"{t_back - t_fault:.1f} s; attacker {passed}/{len(statuses)} through (bound {bound}), "
           f"{after.count(200)}/{len(after)} after the failover")
