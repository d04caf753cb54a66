"""Read replicas: a primary and a streaming replica (pg_basebackup -R) of a
throwaway cluster. Reads that tolerate lag (GET /users/me) go to the
replica, except for a user who wrote within PACE_READ_YOUR_WRITES_SECONDS,
whose reads stay on the primary (read-your-writes holds even while the
replica has stopped replaying); a stopped replica is skipped and used again
once it is back; a replica that never answered does not stop pace. Runs
with PACE_TEST_BACKEND=postgres."""

import time

import pytest
import requests

from harness import BACKEND, free_port, metric_value, run_pace, scrape, wait_until
from helpers import BASE_ENV, auth, new_user
from pgcluster import Cluster

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="needs PACE_TEST_BACKEND=postgres")

# The server's default deadlines (see test_pg_faults.py).
ENV = {**BASE_ENV, "PACE_DB_CONNECT_TIMEOUT": "1000", "PACE_DB_STATEMENT_TIMEOUT": "1500"}


@pytest.fixture
def clusters():
    primary = Cluster.start()
    replica = None
    try:
        primary.psql("CREATE DATABASE pace")
        replica = Cluster.replica_of(primary)
        yield primary, replica
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


def me(srv, user):
    r = requests.get(srv.url + "/api/v1/users/me", headers=auth(user["access"]), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def set_email(srv, user, email):
    r = requests.patch(srv.url + "/api/v1/users/me", json={"email": email}, headers=auth(user["access"]), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == email


def replica_queries(srv):
    return metric_value(scrape(srv.url), "pace_db_queries_total", server="replica1")


def replica_up(srv):
    return metric_value(scrape(srv.url), "pace_db_replica_up", server="replica1")


def test_replica_reads_read_your_writes_and_a_stopped_replica(clusters, make_server):
    primary, replica = clusters
    srv = make_server(env={**ENV, "PACE_DATABASE_URL": primary.url("pace"),
                           "PACE_DATABASE_REPLICA_URLS": replica.url("pace"),
                           "PACE_READ_YOUR_WRITES_SECONDS": "2"})
    user = new_user(srv)
    first = f"{user['username']}@first.example"
    set_email(srv, user, first)

    def replica_serves(email):
        before = replica_queries(srv)
        return me(srv, user)["email"] == email and replica_queries(srv) > before

    # Once the window has passed (and the replica has caught up), the
    # user's reads come from the replica.
    wait_until(lambda: replica_serves(first), 10, "reads from the replica")

    # The replica stops replaying: from now on it lags behind.
    replica.psql("SELECT pg_wal_replay_pause()")
    wait_until(lambda: replica.psql("SELECT pg_get_wal_replay_pause_state()") == "paused", 10,
               "WAL replay to pause on the replica")
    second = f"{user['username']}@second.example"
    set_email(srv, user, second)
    # Read-your-writes: right after the write the user reads from the primary.
    assert me(srv, user)["email"] == second
    # After the window the user's reads go back to the lagging replica (that
    # is where they were going): proof that reads really use the replica.
    wait_until(lambda: replica_serves(first), 10, "reads to return to the (lagging) replica")
    replica.psql("SELECT pg_wal_replay_resume()")
    wait_until(lambda: me(srv, user)["email"] == second, 10, "the replica to catch up")

    # A stopped replica is skipped: reads go to the primary, fast.
    replica.halt()
    for _ in range(5):
        t0 = time.monotonic()
        assert me(srv, user)["email"] == second
        assert time.monotonic() - t0 < 2.0
    assert replica_up(srv) == 0
    assert requests.get(srv.url + "/ready", timeout=5).status_code == 200  # the primary is what /ready needs

    # Back again: retried after a while, and used.
    replica.resume()
    wait_until(lambda: replica_serves(second), 20, "the replica to be used again")
    assert replica_up(srv) == 1


def test_replica_that_never_answers_does_not_stop_pace(clusters, make_server):
    primary, _ = clusters
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/pace"
    srv = make_server(env={**ENV, "PACE_DATABASE_URL": primary.url("pace"), "PACE_DATABASE_REPLICA_URLS": nowhere,
                           "PACE_READ_YOUR_WRITES_SECONDS": "0"})
    user = new_user(srv)
    assert me(srv, user)["id"] == user["id"]
    assert replica_up(srv) == 0


def test_invalid_replica_url_stops_startup(clusters, tmp_path):
    primary, _ = clusters
    port = free_port()
    rc, out, err = run_pace(["serve", "--data-dir", tmp_path / "d", "--listen", f"127.0.0.1:{port}"], tmp_path,
                            env={**ENV, "PACE_DATABASE_URL": primary.url("pace"),
                                 "PACE_DATABASE_REPLICA_URLS": "postgresql://h/db?no_such_option=1"},
                            timeout=15, health_port=port)
    assert rc == 1, (rc, out, err)
    assert "invalid PostgreSQL URL" in out + err
