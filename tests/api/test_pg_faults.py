"""PostgreSQL faults: with the server stopped, or frozen with SIGSTOP (it
still completes TCP handshakes and acknowledges data, so only pace's own
deadline on every database call catches it), GET /ready is 503 and requests
that need the database answer 503 `unavailable` within 2 seconds, with no
hang and no crash; when the server comes back, service resumes without
restarting pace. Each test runs its own throwaway cluster (never the shared
one). Runs with PACE_TEST_BACKEND=postgres."""

import concurrent.futures
import itertools
import re
import time

import pytest
import requests

from harness import BACKEND, DEV, assert_problem, free_port, metric_value, run_pace, scrape, wait_until

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="needs PACE_TEST_BACKEND=postgres")

BOUND = 2.0  # seconds: the documented promise for a database that is down or paused
PASSWORD = "umbrella-quarterly-lantern-42"
# The server's default deadlines (the harness raises them for the rest of
# the suite; test_default_deadlines checks these are the defaults).
DEADLINES = {"PACE_DB_CONNECT_TIMEOUT": "1000", "PACE_DB_STATEMENT_TIMEOUT": "1500"}
ENV = {**DEV, **DEADLINES, "PACE_JWT_SECRET": "test-secret-0123456789abcdef0123456789abcdef",
       "PACE_RATE_LIMITS": "off", "PACE_ARGON2_MEMORY_KIB": "8192", "PACE_ARGON2_ITERATIONS": "1"}
_names = itertools.count(1)


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def register(srv):
    name = f"fault{int(time.time() * 1000) % 100000000}{next(_names)}"
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    return requests.post(srv.url + "/api/v1/auth/register", json=body, timeout=10), name


def new_user(srv):
    r, name = register(srv)
    assert r.status_code == 201, r.text
    r2 = requests.post(srv.url + "/api/v1/auth/login", json={"login": name, "password": PASSWORD}, timeout=10)
    assert r2.status_code == 200, r2.text
    return {"id": r.json()["id"], "access": r2.json()["access_token"]}


def me(srv, user):
    return requests.get(srv.url + "/api/v1/users/me", headers={"Authorization": f"Bearer {user['access']}"},
                        timeout=10)


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

    r, took = timed(lambda: me(srv, user))
    assert_problem(r, 503, "unavailable")
    assert r.headers.get("Retry-After"), r.headers
    assert took < BOUND, f"GET /users/me took {took:.2f}s"

    (r, _), took = timed(lambda: register(srv))
    assert_problem(r, 503, "unavailable")
    assert took < BOUND, f"POST /auth/register took {took:.2f}s"

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: timed(lambda: me(srv, user)), range(8)))
    for r, took in results:
        assert_problem(r, 503, "unavailable")
        assert took < BOUND, f"a parallel GET /users/me took {took:.2f}s"


def assert_service_resumes(srv, user):
    wait_until(lambda: ready(srv).status_code == 200, 20, "/ready to be 200 again")
    r = me(srv, user)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user["id"]
    assert new_user(srv)["id"] > user["id"]  # writes work again too
    assert srv.alive()


def test_database_stopped_then_restarted(cluster, make_server):
    srv = make_server(env={**ENV, "PACE_DATABASE_URL": cluster.url("pace")})
    user = new_user(srv)
    assert me(srv, user).status_code == 200
    cluster.halt()
    assert_unavailable_quickly(srv, user)
    cluster.resume()
    assert_service_resumes(srv, user)


def test_database_frozen_then_thawed(cluster, make_server):
    srv = make_server(env={**ENV, "PACE_DATABASE_URL": cluster.url("pace")})
    user = new_user(srv)
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
