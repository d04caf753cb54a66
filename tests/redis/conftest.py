"""Fixtures of the Redis suite (tests/redis/), over the library in cluster.py.

- `redis`: one throwaway redis-server per test module (scripts/redis.sh).
- `fresh_redis`: one of the test's own, for tests that halt, freeze, slow
  or flush it.
- `make_cluster(n=3, redis=..., sentinels=..., env=...)`: pace instances on
  one database and one Redis, stopped (each by its PID) and their database
  dropped when the test ends. n > 1 needs PostgreSQL: the test is skipped
  on SQLite with the reason.
- `relay`: a cluster.Relay in front of the module's `redis`, for an
  instance cut off from Redis while the others reach it
  (`make_cluster(..., instance_env={0: {"PACE_REDIS_URL": relay.url}})`).
- `sentinels`: a Sentinel set-up (master, replica, three Sentinels) of the
  test's own.
- `pg_private`: a PostgreSQL cluster of the test's own (tests/api/pgcluster),
  for a test that freezes the database.

Marker `cluster`: tests that need PostgreSQL (several instances, Sentinel,
a private database server). The SQLite entry (also run under ASan) runs
`-m "not cluster"`; the PostgreSQL entry runs `-m cluster`.

The end of the run prints what the tests measured (revocation delays).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
import harness  # noqa: E402  (tests/api, on sys.path through cluster)


def pytest_configure(config):
    config.addinivalue_line("markers", "cluster: needs PostgreSQL (several pace instances, Sentinel, "
                                       "or a database server of the test's own)")


def pytest_report_header(config):
    return [f"pace binary: {harness.PACE_BIN}", f"backend: {harness.BACKEND}"]


def pytest_sessionfinish(session, exitstatus):
    harness.pg_drop_all()


def pytest_terminal_summary(terminalreporter):
    if cluster.REPORT:
        terminalreporter.section("measured")
        for line in cluster.REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def redis():
    r = cluster.Redis.start()
    yield r
    r.stop()


@pytest.fixture
def fresh_redis():
    r = cluster.Redis.start()
    yield r
    r.stop()


@pytest.fixture
def relay(redis):
    r = cluster.Relay(redis.port)
    yield r
    r.stop()


@pytest.fixture
def sentinels():
    s = cluster.Sentinels.start()
    yield s
    s.stop()


@pytest.fixture
def make_cluster(tmp_path):
    made = []

    def make(n=3, **kw):
        c = cluster.Cluster(tmp_path, n=n, **kw)
        made.append(c)
        return c

    yield make
    problems = []
    for c in made:
        try:
            c.stop()
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "\n".join(problems)


@pytest.fixture
def pg_private():
    cluster.require_postgres()
    from pgcluster import Cluster as PgCluster  # tests/api
    c = PgCluster.start()
    c.psql("CREATE DATABASE pace")
    yield c
    c.stop()
