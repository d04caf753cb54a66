"""PostgreSQL faults: with the server stopped, or frozen with SIGSTOP (it
still completes TCP handshakes and acknowledges data, so only pace's own
deadline on every database call catches it), GET /ready is 503 and requests
that need the database answer 503 `unavailable` within 2 seconds, with no
hang and no crash; when the server comes back, service resumes without
restarting pace. Task reads take the event loops' own pipelined
connections, the rest the blocking pool: both paths are covered, and a
loop connection the server ends under load has its reads retried. Each test runs its own throwaway cluster (never the shared
one). Runs with PACE_TEST_BACKEND=postgres."""

import concurrent.futures
import re
import time

import pytest
import requests

from harness import BACKEND, assert_problem, free_port, metric_value, run_pace, scrape, wait_until
from helpers import BASE_ENV, auth, new_user_with_task, register, task_get, task_list

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="needs PACE_TEST_BACKEND=postgres")

BOUND = 2.0  # seconds: the documented promise for a database that is down or paused
# The server's default deadlines (the harness raises them for the rest of
# the suite; test_default_deadlines checks these are the defaults).
DEADLINES = {"PACE_DB_CONNECT_TIMEOUT": "1000", "PACE_DB_STATEMENT_TIMEOUT": "1500"}
ENV = {**BASE_ENV, **DEADLINES}


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def me(srv, user):
    return requests.get(srv.url + "/api/v1/users/me", headers=auth(user["access"]), timeout=10)


def ready(srv):
    return requests.get(srv.url + "/ready", timeout=10)


def wait_pool_open(srv):
    """Until the primary's pool is open (it opens in the background at start-up)."""
    def is_open():
        samples = scrape(srv.url)
        return (metric_value(samples, "pace_db_connections_open", server="primary") ==
                metric_value(samples, "pace_db_pool_size", server="primary"))
    wait_until(is_open, 10, "the primary's pool to be open")


def assert_unavailable_quickly(srv, user):
    """/ready, a read and a write all fail fast and cleanly, alone and in parallel."""
    r, took = timed(lambda: ready(srv))
    assert r.status_code == 503, r.text
    assert r.json()["status"] == "unavailable" and r.json()["checks"]["database"] != "ok", r.text
    assert took < BOUND, f"/ready took {took:.2f}s"

    for name, call in (("GET /users/me", me), ("GET /tasks", task_list), ("GET /tasks/{id}", task_get)):
        r, took = timed(lambda: call(srv, user))
        assert_problem(r, 503, "unavailable")
        assert r.headers.get("Retry-After"), r.headers
        assert took < BOUND, f"{name} took {took:.2f}s"

    (r, _, _), took = timed(lambda: register(srv))
    assert_problem(r, 503, "unavailable")
    assert took < BOUND, f"POST /auth/register took {took:.2f}s"

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda i: timed(lambda: (me, task_list)[i % 2](srv, user)), range(16)))
    for r, took in results:
        assert_problem(r, 503, "unavailable")
        assert took < BOUND, f"a parallel read took {took:.2f}s"


def assert_service_resumes(srv, user):
    wait_until(lambda: ready(srv).status_code == 200, 20, "/ready to be 200 again")
    r = me(srv, user)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user["id"]
    r = task_list(srv, user)
    assert r.status_code == 200, r.text
    assert [t["id"] for t in r.json()["items"]] == [user["task"]]
    r = task_get(srv, user)
    assert r.status_code == 200 and r.json()["id"] == user["task"], r.text
    assert new_user_with_task(srv)["id"] > user["id"]  # writes work again too
    assert srv.alive()


def test_database_stopped_then_restarted(cluster, make_server):
    srv = make_server(env={**ENV, "PACE_DATABASE_URL": cluster.url("pace")})
    user = new_user_with_task(srv)
    assert me(srv, user).status_code == 200
    cluster.halt()
    assert_unavailable_quickly(srv, user)
    cluster.resume()
    assert_service_resumes(srv, user)


def test_database_frozen_then_thawed(cluster, make_server):
    srv = make_server(env={**ENV, "PACE_DATABASE_URL": cluster.url("pace")})
    user = new_user_with_task(srv)
    assert me(srv, user).status_code == 200
    # SIGSTOP reaches the server processes that exist when it is sent: a
    # backend forked meanwhile for a connection the pool is still opening
    # would go on answering. Freeze once the pool is open.
    wait_pool_open(srv)
    cluster.freeze()
    try:
        assert_unavailable_quickly(srv, user)
        # Still answering, still alive, while the database stays frozen.
        assert requests.get(srv.url + "/health", timeout=5).status_code == 200
    finally:
        cluster.thaw()
    assert_service_resumes(srv, user)
    # The calls that timed out were counted.
    text = requests.get(srv.url + "/metrics", timeout=5).text
    timeouts = [ln for ln in text.splitlines() if ln.startswith('pace_db_timeouts_total{server="primary"}')]
    assert timeouts and float(timeouts[0].split()[-1]) >= 1, timeouts


def test_loop_connections_ended_under_load(cluster, make_server):
    """The server ends every pace connection (pg_terminate_backend) while
    task reads are in flight on the loops' pipelined connections: the reads
    that were waiting are retried as blocking reads, so every one answers
    200 with the right rows, and later reads take new connections."""
    srv = make_server(env={**ENV, "PACE_DATABASE_URL": cluster.url("pace")})
    user = new_user_with_task(srv)
    wait_pool_open(srv)
    stop = time.monotonic() + 3
    bad = []

    def reader(i):
        n = 0
        while time.monotonic() < stop:
            r = (task_list, task_get)[i % 2](srv, user)
            if r.status_code != 200:
                bad.append((r.status_code, r.text[:200]))
            elif i % 2 == 0:
                assert [t["id"] for t in r.json()["items"]] == [user["task"]], r.text
            n += 1
        return n

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        futures = [ex.submit(reader, i) for i in range(8)]
        for _ in range(3):
            time.sleep(0.6)
            cluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = 'pace' AND pid <> pg_backend_pid()")
        counts = [f.result() for f in futures]
    assert sum(counts) > 100, counts
    assert not bad, bad[:5]
    assert task_list(srv, user).status_code == 200
    assert srv.alive()


def test_default_deadlines(tmp_path):
    rc, out, err = run_pace(["--help"], tmp_path)
    assert rc == 0, err
    for name, value in DEADLINES.items():
        m = re.search(re.escape(name) + r"\s+default: (\d+)", out)
        assert m and m.group(1) == value, f"{name}: {m and m.group(0)!r}"


def test_start_refused_while_database_down(cluster, tmp_path):
    """Start-up needs the database (schema check): a clear failure, not a hang."""
    cluster.halt()
    port = free_port()
    rc, out, err = run_pace(["serve", "--data-dir", tmp_path / "d", "--listen", f"127.0.0.1:{port}"], tmp_path,
                            env={**ENV, "PACE_DATABASE_URL": cluster.url("pace")}, timeout=15, health_port=port)
    assert rc == 1, (rc, err, out)
    assert "cannot open the database" in out + err
