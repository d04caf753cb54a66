"""Limits per user: one account cannot starve the others.

- PACE_RATE_LIMIT_WRITES: every write of a user's data (POST, PATCH,
  DELETE of tasks, PUT of the profile, POST and DELETE of plans) counts
  against one token bucket per user; past it, 429 `rate_limited` with
  Retry-After and the RateLimit-* headers that every write carries. Reads
  and other users are not affected.
- PACE_MAX_QUEUED_JOBS_PER_USER: a user's plan generations queued or
  running at once; past it POST /plans is 429 `too_many_jobs` with
  Retry-After, exactly (50 parallel POSTs cannot pass the bound), and a
  deleted queued plan frees its place.
Runs on both backends."""

import concurrent.futures
import threading

import requests

from harness import assert_problem
from helpers import BASE_ENV, PROFILE, auth, new_token, new_user

TASKS = "/api/v1/tasks"
PLANS = "/api/v1/plans"
WRITES = 5  # a minute: the bucket refills one write every 12 s, so no refill lands inside a test
LIMITED = {**BASE_ENV, "PACE_RATE_LIMITS": "on", "PACE_RATE_LIMIT_WRITES": str(WRITES),
           "PACE_RATE_LIMIT_REGISTER": "1000", "PACE_RATE_LIMIT_LOGIN": "1000"}
# The exact counts below are one instance's: with Redis each instance allows
# its share of the limit (the limit over the live instances, which in a
# test run include every other suite's servers), so these servers run
# without it.
LOCAL = {**LIMITED, "PACE_REDIS_URL": ""}


def create_task(srv, token, title="t"):
    return requests.post(srv.url + TASKS, json={"title": title}, headers=auth(token), timeout=30)


def rl_headers(r):
    return {k: r.headers.get(k) for k in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")}


def assert_rate_limited(r):
    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1, r.headers
    h = rl_headers(r)
    assert h["RateLimit-Limit"] == str(WRITES) and h["RateLimit-Remaining"] == "0", h
    assert int(h["RateLimit-Reset"]) >= 1, h


def test_writes_are_limited_per_user(make_server):
    srv = make_server(env=LOCAL)
    a, b = new_user(srv)["access"], new_user(srv)["access"]
    ids = []
    for i in range(WRITES):
        r = create_task(srv, a, f"t{i}")
        assert r.status_code == 201, r.text
        h = rl_headers(r)
        assert h["RateLimit-Limit"] == str(WRITES), h
        assert int(h["RateLimit-Remaining"]) == WRITES - 1 - i, (i, h)
        ids.append(r.json()["id"])
    # The bucket is empty: every kind of write is refused, without effect.
    assert_rate_limited(create_task(srv, a, "one too many"))
    assert_rate_limited(requests.patch(f"{srv.url}{TASKS}/{ids[0]}", json={"title": "x"}, headers=auth(a),
                                       timeout=30))
    assert_rate_limited(requests.delete(f"{srv.url}{TASKS}/{ids[0]}", headers=auth(a), timeout=30))
    assert_rate_limited(requests.put(srv.url + "/api/v1/profile", json=PROFILE, headers=auth(a), timeout=30))
    assert_rate_limited(requests.post(srv.url + PLANS, json={"kind": "workout"}, headers=auth(a), timeout=30))
    # Reads go on, and nothing was written by the refused requests.
    r = requests.get(srv.url + TASKS, params={"limit": 100}, headers=auth(a), timeout=30)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert sorted(t["id"] for t in items) == sorted(ids)
    assert next(t for t in items if t["id"] == ids[0])["title"] == "t0"
    assert requests.get(srv.url + "/api/v1/profile", headers=auth(a), timeout=30).status_code == 404
    assert "RateLimit-Limit" not in r.headers  # reads are not counted
    # Another user is not affected.
    r = create_task(srv, b)
    assert r.status_code == 201, r.text
    assert r.headers["RateLimit-Remaining"] == str(WRITES - 1)


def test_write_limit_counts_parallel_writes_once_each(make_server):
    srv = make_server(env=LOCAL)
    token = new_user(srv)["access"]
    barrier = threading.Barrier(20)

    def one(i):
        barrier.wait()
        return create_task(srv, token, f"p{i}")

    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        results = list(ex.map(one, range(20)))
    ok = [r for r in results if r.status_code == 201]
    assert len(ok) == WRITES, [r.status_code for r in results]
    for r in results:
        if r.status_code != 201:
            assert_rate_limited(r)
    r = requests.get(srv.url + TASKS, params={"limit": 100}, headers=auth(token), timeout=30)
    assert len(r.json()["items"]) == WRITES


def test_write_limit_off(make_server):
    srv = make_server(env={**LIMITED, "PACE_RATE_LIMIT_WRITES": "0"})
    token = new_user(srv)["access"]
    for i in range(WRITES * 3):
        r = create_task(srv, token, f"t{i}")
        assert r.status_code == 201, r.text
        assert "RateLimit-Limit" not in r.headers


def test_default_write_limit(tmp_path):
    from harness import run_pace
    rc, out, err = run_pace(["--help"], tmp_path)
    assert rc == 0, err
    assert "PACE_RATE_LIMIT_WRITES" in out and "PACE_MAX_QUEUED_JOBS_PER_USER" in out


BOUND = 3
# No workers: plans stay queued, so the bound is reached and stays reached.
JOBS = {**BASE_ENV, "PACE_JOB_WORKERS": "0", "PACE_MAX_QUEUED_JOBS_PER_USER": str(BOUND)}


def test_queued_jobs_bound_exact_under_parallel_posts(make_server):
    srv = make_server(env=JOBS)
    token, other = new_token(srv, PROFILE), new_token(srv, PROFILE)
    barrier = threading.Barrier(50)

    def one(i):
        barrier.wait()
        return requests.post(srv.url + PLANS, json={"kind": ("workout", "nutrition")[i % 2], "weeks": 1 + i % 4},
                             headers=auth(token), timeout=60)

    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        results = list(ex.map(one, range(50)))
    accepted = [r for r in results if r.status_code == 202]
    assert len(accepted) == BOUND, [(r.status_code, r.text[:100]) for r in results if r.status_code != 429]
    for r in results:
        if r.status_code != 202:
            body = assert_problem(r, 429, "too_many_jobs")
            assert str(BOUND) in body["detail"], body
            assert int(r.headers["Retry-After"]) >= 1, r.headers
    # Exactly those plans exist.
    r = requests.get(srv.url + PLANS, params={"limit": 100}, headers=auth(token), timeout=30)
    assert sorted(p["id"] for p in r.json()["items"]) == sorted(a.json()["id"] for a in accepted)
    # Another user has a bound of their own.
    r = requests.post(srv.url + PLANS, json={"kind": "workout"}, headers=auth(other), timeout=30)
    assert r.status_code == 202, r.text
    # Deleting a queued plan drops its job: room for one more.
    pid = accepted[0].json()["id"]
    assert requests.delete(f"{srv.url}{PLANS}/{pid}", headers=auth(token), timeout=30).status_code == 204
    r = requests.post(srv.url + PLANS, json={"kind": "workout"}, headers=auth(token), timeout=30)
    assert r.status_code == 202, r.text
    assert_problem(requests.post(srv.url + PLANS, json={"kind": "workout"}, headers=auth(token), timeout=30), 429,
                   "too_many_jobs")


def test_finished_jobs_do_not_count(make_server):
    srv = make_server(env={**JOBS, "PACE_JOB_WORKERS": "2"})
    token = new_token(srv, PROFILE)
    from helpers import wait_plan
    for i in range(BOUND * 3):
        r = requests.post(srv.url + PLANS, json={"kind": "nutrition", "weeks": 1}, headers=auth(token), timeout=30)
        assert r.status_code == 202, (i, r.text)
        p, _ = wait_plan(srv, token, r.json()["id"])
        assert p["state"] == "ready", p
