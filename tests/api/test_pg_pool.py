"""The PostgreSQL pool opened at start-up: `pace serve` opens
PACE_DB_POOL_MIN connections to the primary (default: PACE_DB_POOL_SIZE) in
the background, without a request asking for them, keeps them open, and
opens them again once the server is back after a restart. Counted both in
pace's gauges and in the server's own pg_stat_activity. The settings checks
run on every backend; the rest with PACE_TEST_BACKEND=postgres."""

import urllib.parse

import pytest
import requests

from harness import BACKEND, DEV, free_port, metric_value, pg_query, run_pace, scrape, wait_until
from helpers import new_user_with_task, task_get, task_list

needs_postgres = pytest.mark.skipif(BACKEND != "postgres", reason="needs PACE_TEST_BACKEND=postgres")

# No job workers: they would open connections of their own on demand, and
# the tests must see connections nobody asked for.
QUIET = {**DEV, "PACE_JOB_WORKERS": "0"}


def open_gauge(srv):
    return metric_value(scrape(srv.url), "pace_db_connections_open", server="primary")


def count_sql(db):
    """Connections of pace's to database db, as the server counts them."""
    return f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND application_name = 'pace'"


def backends(url):
    """Connections of pace's to the database at url (via psql, which names itself psql)."""
    db = urllib.parse.urlsplit(url).path.lstrip("/")
    return int(pg_query(url, count_sql(db)))


@needs_postgres
def test_whole_pool_open_after_start(make_server):
    srv = make_server(env={**QUIET, "PACE_DB_POOL_SIZE": "6"})
    wait_until(lambda: open_gauge(srv) == 6, 10, "6 connections open (pace_db_connections_open)")
    wait_until(lambda: backends(srv.database) == 6, 10, "6 pace backends in pg_stat_activity")
    assert metric_value(scrape(srv.url), "pace_db_pool_size", server="primary") == 6
    assert metric_value(scrape(srv.url), "pace_db_connect_failures_total", server="primary") == 0
    assert open_gauge(srv) == 6  # kept, not more


@needs_postgres
def test_pool_min_opens_part_of_the_pool(make_server):
    srv = make_server(env={**QUIET, "PACE_DB_POOL_SIZE": "8", "PACE_DB_POOL_MIN": "5"})
    wait_until(lambda: open_gauge(srv) == 5, 10, "5 connections open")
    wait_until(lambda: backends(srv.database) == 5, 10, "5 pace backends in pg_stat_activity")
    assert metric_value(scrape(srv.url), "pace_db_pool_size", server="primary") == 8  # the rest on demand
    assert requests.get(srv.url + "/ready", timeout=10).status_code == 200


@needs_postgres
def test_pool_reopened_after_restart(cluster, make_server):
    """The keeper drops the connections a restart closed and opens the pool
    again when the server is back, before any request needs them."""
    env = {**QUIET, "PACE_DATABASE_URL": cluster.url("pace"), "PACE_DB_POOL_SIZE": "6",
           "PACE_DB_CONNECT_TIMEOUT": "1000", "PACE_DB_STATEMENT_TIMEOUT": "1500"}
    srv = make_server(env=env)

    def server_count():
        return int(cluster.psql(count_sql("pace")))

    wait_until(lambda: open_gauge(srv) == 6, 10, "6 connections open")
    wait_until(lambda: server_count() == 6, 10, "6 pace backends")
    cluster.halt()
    wait_until(lambda: open_gauge(srv) == 0, 10, "the closed connections dropped")
    assert requests.get(srv.url + "/ready", timeout=10).status_code == 503
    cluster.resume()
    # No request from here on: what opens the pool again is the keeper.
    wait_until(lambda: open_gauge(srv) == 6, 10, "6 connections open again")
    wait_until(lambda: server_count() == 6, 10, "6 pace backends again")
    assert requests.get(srv.url + "/ready", timeout=10).status_code == 200
    assert srv.alive()


@needs_postgres
@pytest.mark.parametrize("size,held", [(8, 2), (3, 0)])
def test_loops_keep_at_most_a_quarter_of_the_pool(make_server, size, held):
    """Task reads take the event loops' own connections, at most a quarter
    of the pool (8: both loops keep one; 3: none, the reads go through the
    blocking pool), and answer the same either way."""
    srv = make_server(env={**QUIET, "PACE_DB_POOL_SIZE": str(size)})
    wait_until(lambda: open_gauge(srv) == size, 10, f"{size} connections open")
    user = new_user_with_task(srv)
    for _ in range(20):
        r = task_list(srv, user)
        assert r.status_code == 200 and [t["id"] for t in r.json()["items"]] == [user["task"]], r.text
        r = task_get(srv, user)
        assert r.status_code == 200 and r.json()["id"] == user["task"], r.text
    # The background work (the revocation poll every 500 ms, the job
    # workers) borrows a connection now and then: what the loops keep is
    # what stays busy once that has passed.
    def settled():
        return metric_value(scrape(srv.url), "pace_db_connections_busy", server="primary") <= held

    wait_until(settled, 5, f"at most {held} connections busy with no request in flight (what the loops keep)")


# ---------------------------------------------------------------- settings (every backend)

def test_pool_min_in_help(tmp_path):
    rc, out, err = run_pace(["--help"], tmp_path)
    assert rc == 0, err
    assert "PACE_DB_POOL_MIN" in out, out


@pytest.mark.parametrize("env", [
    {"PACE_DB_POOL_SIZE": "4", "PACE_DB_POOL_MIN": "5"},
    {"PACE_DB_POOL_MIN": "17"},
    {"PACE_DB_POOL_MIN": "-1"},
    {"PACE_DB_POOL_MIN": "few"},
], ids=["above-size", "above-default-size", "negative", "not-a-number"])
def test_invalid_pool_min_stops_startup(tmp_path, env):
    port = free_port()
    rc, out, err = run_pace(["serve", "--data-dir", tmp_path / "d", "--listen", f"127.0.0.1:{port}"], tmp_path,
                            env=env, health_port=port)
    assert rc == 1, (rc, out, err)
    assert "PACE_DB_POOL_MIN" in err, err
