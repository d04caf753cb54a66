"""Revocations through Redis pub/sub: every instance refuses a revoked
access token within a second.

On SQLite (one instance): each way a session ends (logout, ending a session,
a reused refresh token, logout-all, a password change, an account deletion)
publishes its message on pace:revocations; a message published by another
instance applies at once (no database involved) and counts in
pace_revocation_lag_seconds; malformed messages change nothing.
On PostgreSQL (`cluster`): three instances, each way a session ends tried
30 times on one instance while the other two are polled: every one refuses
the token within 1 s (median, p99 and max go to the run's summary), the
sessions that should live still work, and every instance counts every
message. And the staleness guard: with Redis frozen AND the database frozen,
access tokens get 503 at once, never 200, until the database is back.
"""

import re
import time

import pytest
import requests

import helpers
from cluster import ANSWER_BOUND, Subscriber, new_ip, summarize, wait_until

ENV = {"PACE_RATE_LIMITS": "off"}
TRIALS = 30
KINDS = ["logout", "session_delete", "refresh_reuse", "logout_all", "password_change", "account_delete"]


def sid_of(token):
    return int(helpers.claims_of(token)["sid"])


def post(srv, path, body=None, token=None):
    return helpers.post(srv, path, body, token=token, headers=helpers.xff(new_ip()))


def delete(srv, path, body=None, token=None):
    return requests.delete(srv.url + path, json=body, headers=helpers.auth(token), timeout=30)


# Each way to end a session: setup(c, a) -> state with "victims" (access
# tokens that must be refused after), "keep" (tokens that must keep
# working) and "message" (kind, id) it publishes; revoke(c, a, state) does it
# on instance a and returns the response.

def setup_logout(c, a):
    user = c.new_user(a)
    return {"user": user, "victims": [user["access"]], "keep": [], "message": ("s", sid_of(user["access"]))}


def revoke_logout(c, a, st):
    r = post(c[a], "/api/v1/auth/logout", {"refresh_token": st["user"]["refresh"]})
    assert r.status_code == 204, r.text


def setup_session_delete(c, a):
    user = c.new_user(a)
    other = c.login_pair(user, a)
    return {"user": user, "other": other, "victims": [user["access"]], "keep": [other["access_token"]],
            "message": ("s", sid_of(user["access"]))}


def revoke_session_delete(c, a, st):
    r = delete(c[a], f"/api/v1/auth/sessions/{sid_of(st['user']['access'])}", token=st["other"]["access_token"])
    assert r.status_code == 204, r.text


def setup_refresh_reuse(c, a):
    user = c.new_user(a)
    r = helpers.refresh(c[a], user["refresh"], headers=helpers.xff(new_ip()))
    assert r.status_code == 200, r.text
    new = r.json()
    return {"user": user, "victims": [user["access"], new["access_token"]], "keep": [],
            "message": ("s", sid_of(user["access"]))}


def revoke_refresh_reuse(c, a, st):
    r = helpers.refresh(c[a], st["user"]["refresh"], headers=helpers.xff(new_ip()))
    helpers.assert_unauthorized(r, "refresh_token_reused")


def setup_logout_all(c, a):
    user = c.new_user(a)
    other = c.login_pair(user, a)
    return {"user": user, "victims": [user["access"], other["access_token"]], "keep": [],
            "message": ("u", user["id"])}


def revoke_logout_all(c, a, st):
    r = post(c[a], "/api/v1/auth/logout-all", token=st["user"]["access"])
    assert r.status_code == 204, r.text


def setup_password_change(c, a):
    user = c.new_user(a)
    other = c.login_pair(user, a)
    return {"user": user, "other": other, "victims": [user["access"]], "keep": [other["access_token"]],
            "message": ("u", user["id"])}


def revoke_password_change(c, a, st):
    r = post(c[a], "/api/v1/users/me/password",
             {"current_password": helpers.PASSWORD, "new_password": "saffron-kettle-harbour-" + new_ip()},
             token=st["other"]["access_token"])
    assert r.status_code == 204, r.text


def setup_account_delete(c, a):
    user = c.new_user(a)
    other = c.login_pair(user, a)
    return {"user": user, "victims": [user["access"], other["access_token"]], "keep": [],
            "message": ("u", user["id"])}


def revoke_account_delete(c, a, st):
    r = delete(c[a], "/api/v1/users/me", {"password": helpers.PASSWORD}, token=st["user"]["access"])
    assert r.status_code == 204, r.text


WAYS = {k: (globals()["setup_" + k], globals()["revoke_" + k]) for k in KINDS}
MESSAGE_RE = re.compile(r"([su]) ([1-9][0-9]*) ([0-9]+)")


# ---------------------------------------------------------------- one instance

def test_each_revocation_is_published(redis, make_cluster):
    c = make_cluster(n=1, redis=redis, env=ENV)
    c.wait_redis("ok")
    sub = Subscriber(redis)
    try:
        for kind in KINDS:
            setup, revoke = WAYS[kind]
            st = setup(c, 0)
            for tok in st["victims"] + st["keep"]:
                c.assert_accepted(tok)
            revoke(c, 0, st)
            msg = sub.next(timeout=2)
            assert msg is not None, f"{kind}: nothing published"
            m = MESSAGE_RE.fullmatch(msg)
            assert m, f"{kind}: message {msg!r}"
            assert (m[1], int(m[2])) == st["message"], f"{kind}: {msg!r}, expected {st['message']}"
            assert abs(int(m[3]) - time.time() * 1000) < 5000, f"{kind}: the time in {msg!r}"
            for tok in st["victims"]:
                c.assert_refused(tok)
            for tok in st["keep"]:
                c.assert_accepted(tok)
            extra = sub.next(timeout=0.2)
            assert extra is None or MESSAGE_RE.fullmatch(extra), f"{kind}: also published {extra!r}"
    finally:
        sub.close()


def test_a_message_from_another_instance_applies_at_once(redis, make_cluster):
    """The session is revoked nowhere but in the message: the instance
    refuses its token at once, and counts the message's lag."""
    c = make_cluster(n=1, redis=redis, env=ENV)
    c.wait_redis("ok")
    srv = c[0]
    user = c.new_user()
    other = c.login_pair(user)
    c.assert_accepted(user["access"])
    lag0 = c.metric(srv, "pace_revocation_lag_seconds_count")
    sum0 = c.metric(srv, "pace_revocation_lag_seconds_sum")

    conn = redis.conn()
    try:
        t0 = time.monotonic()
        receivers = conn.call("PUBLISH", "pace:revocations", f"s {sid_of(user['access'])} {int(time.time() * 1000)}")
    finally:
        conn.close()
    assert receivers >= 1, "pace is not subscribed"
    delays = c.wait_refused(user["access"], t0)
    summarize("revocation message applied (1 instance)", delays)
    wait_until(lambda: c.metric(srv, "pace_revocation_lag_seconds_count") == lag0 + 1, 2, "the lag metric")
    assert c.metric(srv, "pace_revocation_lag_seconds_sum") - sum0 < 1.0
    c.assert_accepted(other["access_token"])

    # "u": the user's sessions are pulled from the database, which revoked none.
    redis.cli("PUBLISH", "pace:revocations", f"u {user['id']} {int(time.time() * 1000)}")
    wait_until(lambda: c.metric(srv, "pace_revocation_lag_seconds_count") == lag0 + 2, 2, "the lag metric")
    c.assert_accepted(other["access_token"])

    # Garbage changes nothing and breaks nothing.
    conn = redis.conn()
    try:
        for junk in [b"", b"x", b"s", b"s abc 1", b"s -5 1", b"s 0 1", b"u 99999999999999999999999 1", b"s 1",
                     b"z 1 1", b"s " + b"9" * 300, b"\x00\xff" * 40, b"s 1 1 1 1 1" + b" 1" * 1000]:
            conn.call("PUBLISH", "pace:revocations", junk)
        # Handled in order: once this one counts, the junk was read.
        conn.call("PUBLISH", "pace:revocations", f"u {user['id']} {int(time.time() * 1000)}")
    finally:
        conn.close()
    # (The junk "u 999...9" reads as a user id and costs a harmless resync: >=.)
    wait_until(lambda: c.metric(srv, "pace_revocation_lag_seconds_count") >= lag0 + 3, 2, "the last message")
    assert srv.alive()
    c.assert_accepted(other["access_token"])
    c.wait_redis("ok")


# ---------------------------------------------------------------- three instances

@pytest.fixture(scope="module")
def trio(redis, tmp_path_factory):
    from cluster import Cluster
    c = Cluster(tmp_path_factory.mktemp("trio"), n=3, redis=redis, env=ENV)
    try:
        c.wait_redis("ok")
        c.wait_live(3)
        yield c
    finally:
        c.stop()


@pytest.mark.cluster
@pytest.mark.parametrize("kind", KINDS)
def test_revocation_reaches_every_instance(kind, trio):
    c = trio
    setup, revoke = WAYS[kind]
    lag0 = c.metric_all("pace_revocation_lag_seconds_count")
    delays = []
    for trial in range(TRIALS):
        a = trial % 3
        others = [c[(a + 1) % 3], c[(a + 2) % 3]]
        st = setup(c, a)
        for tok in st["victims"] + st["keep"]:
            c.assert_accepted(tok, others)
        revoke(c, a, st)
        t0 = time.monotonic()
        c.assert_refused(st["victims"][0], [c[a]])
        for tok in st["victims"]:
            delays += c.wait_refused(tok, t0, bound=1.0, instances=others)
        for tok in st["keep"]:
            c.assert_accepted(tok)
    line = summarize(f"revocation by {kind}, seen by the 2 other instances", delays)
    assert max(delays) < 1.0, line
    # Every instance got every message (pub/sub, not only the database poll).
    wait_until(lambda: all(b - a >= TRIALS for a, b in zip(lag0, c.metric_all("pace_revocation_lag_seconds_count"))),
               2, f"{TRIALS} revocation messages on every instance "
                  f"({lag0} -> {c.metric_all('pace_revocation_lag_seconds_count')})")


@pytest.mark.cluster
def test_stale_revocations_refuse_access_tokens(pg_private, fresh_redis, make_cluster):
    """Redis frozen and the database frozen: the instance cannot know what
    was revoked, so access tokens get 503 at once (not after the database
    timeout), never 200; the database back, they work again while Redis is
    still frozen (the database poll vouches)."""
    redis = fresh_redis
    c = make_cluster(n=1, redis=redis, env={**ENV, "PACE_DATABASE_URL": pg_private.url("pace"),
                                            "PACE_DB_STATEMENT_TIMEOUT": 8000, "PACE_DB_CONNECT_TIMEOUT": 8000,
                                            "PACE_REVOCATION_MAX_STALENESS_MS": 1000})
    c.wait_redis("ok")
    srv = c[0]
    user = c.new_user()
    c.assert_accepted(user["access"])
    assert c.metric(srv, "pace_revocations_fresh") == 1
    redis.freeze()
    pg_private.freeze()
    try:
        try:
            wait_until(lambda: c.metric(srv, "pace_revocations_fresh") == 0, 5, "pace_revocations_fresh 0")
        except AssertionError as e:
            raise AssertionError(f"{e}; frozen PostgreSQL processes {pg_private.frozen}\n{srv.describe()}") from None
        seen = []
        t_end = time.monotonic() + 2.5
        while time.monotonic() < t_end:
            for path in (c.PROBE, "/api/v1/users/me"):
                t0 = time.monotonic()
                r = requests.get(srv.url + path, headers=helpers.auth(user["access"]), timeout=15)
                seen.append((path, r.status_code, round(time.monotonic() - t0, 3)))
                assert r.status_code == 503, seen[-5:]
                helpers.assert_problem(r, 503, "unavailable")
                assert seen[-1][2] <= ANSWER_BOUND, f"503 came late (not from the staleness check): {seen[-5:]}"
        assert len(seen) >= 4, seen
    finally:
        pg_private.thaw()
    try:
        # The database poll vouches again: tokens work with Redis still frozen.
        wait_until(lambda: c.probe(srv, user["access"]).status_code == 200, 15, "access tokens accepted again")
        assert c.metric(srv, "pace_revocations_fresh") == 1
    finally:
        redis.thaw()
    c.wait_redis("ok")
