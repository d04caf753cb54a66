"""One deadline per request for all its database work. With PostgreSQL
not answering, more requests than pace has worker threads and pooled
connections arrive together: each one's 503 `unavailable` comes within
PACE_DB_STATEMENT_TIMEOUT (plus a small margin) of its arrival, however
long it waited for a blocking-pool thread or a connection, and however
many statements it ran before. (With a deadline per call, queued requests
waited for the ones ahead and answered after 1.5, 3.0, 4.5 s...)
Runs with PACE_TEST_BACKEND=postgres, on a cluster of the test's own."""

import threading
import time

import pytest
import requests

from harness import BACKEND, assert_problem, metric_value, scrape, wait_until
from helpers import BASE_ENV, auth, new_user_with_task, task_get, task_list

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="needs PACE_TEST_BACKEND=postgres")

TIMEOUT_MS = 1500
MARGIN = 0.5  # seconds: answering and this test's own threads
# A small pool and few blocking threads: 24 requests queue several deep.
ENV = {**BASE_ENV, "PACE_DB_CONNECT_TIMEOUT": "1000", "PACE_DB_STATEMENT_TIMEOUT": str(TIMEOUT_MS),
       "PACE_DB_POOL_SIZE": "4", "PACE_BLOCKING_THREADS": "4"}


def me(srv, user):
    return requests.get(srv.url + "/api/v1/users/me", headers=auth(user["access"]), timeout=30)


def create(srv, user):
    return requests.post(srv.url + "/api/v1/tasks", json={"title": "late"}, headers=auth(user["access"]),
                         timeout=30)


def wait_pool_open(srv):
    def is_open():
        samples = scrape(srv.url)
        return (metric_value(samples, "pace_db_connections_open", server="primary") ==
                metric_value(samples, "pace_db_pool_size", server="primary"))
    wait_until(is_open, 10, "the primary's pool to be open")


def all_at_once(srv, user, calls):
    """Runs every call in its own thread, released together; returns
    (name, response, seconds) for each."""
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def one(i):
        name, fn = calls[i]
        barrier.wait()
        t0 = time.monotonic()
        try:
            r = fn(srv, user)
        except requests.RequestException as e:  # recorded, asserted below
            r = e
        out[i] = (name, r, time.monotonic() - t0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_queued_requests_share_one_deadline(cluster, make_server):
    srv = make_server(env={**ENV, "PACE_DATABASE_URL": cluster.url("pace")})
    user = new_user_with_task(srv)
    assert me(srv, user).status_code == 200
    wait_pool_open(srv)
    # 20 reads (the blocking pool's, and the loops' pipelined ones, which
    # fall back to the blocking pool) and 4 writes: six times the threads.
    calls = ([("GET /users/me", me)] * 8 + [("GET /tasks", task_list)] * 6 + [("GET /tasks/{id}", task_get)] * 6 +
             [("POST /tasks", create)] * 4)
    cluster.freeze()
    try:
        results = all_at_once(srv, user, calls)
        # Still alive and answering what needs no database.
        assert requests.get(srv.url + "/health", timeout=5).status_code == 200
    finally:
        cluster.thaw()
    bound = TIMEOUT_MS / 1000 + MARGIN
    slow = [(name, round(took, 2)) for name, r, took in results if took > bound]
    assert not slow, f"answered after the deadline ({bound} s): {slow}"
    for name, r, took in results:
        assert not isinstance(r, Exception), (name, r)
        assert_problem(r, 503, "unavailable")
        assert r.headers.get("Retry-After"), (name, r.headers)
    # Service resumes.
    wait_until(lambda: me(srv, user).status_code == 200, 20, "reads to work again")
    assert create(srv, user).status_code == 201
    assert srv.alive()


def test_requests_waiting_for_a_lock_share_one_deadline(cluster, make_server):
    """PostgreSQL answers, but late: a session holds a lock on the tasks
    table for longer than the timeout. Writes that wait for it queue behind
    the blocking pool's four threads: every one answers 503 within the
    timeout and the margin, none after several timeouts."""
    srv = make_server(env={**ENV, "PACE_DATABASE_URL": cluster.url("pace")})
    user = new_user_with_task(srv)
    wait_pool_open(srv)
    hold = threading.Thread(target=cluster.psql,
                            args=("BEGIN; LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT",),
                            kwargs={"db": "pace"})
    hold.start()
    try:
        def locked():
            return cluster.psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                                "WHERE c.relname = 'tasks' AND l.mode = 'AccessExclusiveLock' AND l.granted",
                                db="pace") == "1"
        wait_until(locked, 5, "the lock to be held")
        results = all_at_once(srv, user, [("POST /tasks", create)] * 16 + [("GET /tasks", task_list)] * 8)
    finally:
        hold.join(30)
    bound = TIMEOUT_MS / 1000 + MARGIN
    slow = [(name, round(took, 2)) for name, r, took in results if took > bound]
    assert not slow, f"answered after the deadline ({bound} s): {slow}"
    for name, r, took in results:
        assert not isinstance(r, Exception), (name, r)
        assert_problem(r, 503, "unavailable")
    assert create(srv, user).status_code == 201
    assert srv.alive()
