"""Fixtures of the API suite: the real binary on a free port.

- `server`: one per test module, default settings plus dev endpoints.
- `make_server(env=..., args=..., dotenv=..., data_dir=...)`: a server with
  special settings for one test; stopped when the test ends.
- `module_server_factory`: the same for module-scoped fixtures.
- `backend`: "sqlite" or "postgres" (PACE_TEST_BACKEND).
Every process started here is stopped by its own PID at teardown.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def pytest_report_header(config):
    through = " through PgBouncer (unnamed statements)" if harness.THROUGH_PGBOUNCER else ""
    return [f"pace binary: {harness.PACE_BIN}", f"backend: {harness.BACKEND}{through}"]


# Through a transaction-mode pooler (scripts/pgbouncer.sh run) the server's
# connections are the pooler's, opened when a transaction needs one and
# shared by every client, so a test that counts pace's connections in the
# server's pg_stat_activity has nothing to count. pace's own gauges are
# checked by the other pool tests, which run.
_POOLER_OWNS_BACKENDS = ("counts pace's connections in pg_stat_activity; through PgBouncer in "
                         "transaction mode the server's connections are the pooler's, not pace's")
NOT_THROUGH_PGBOUNCER = {
    "test_pg_pool.py::test_whole_pool_open_after_start": _POOLER_OWNS_BACKENDS,
    "test_pg_pool.py::test_pool_min_opens_part_of_the_pool": _POOLER_OWNS_BACKENDS,
}


def pytest_collection_modifyitems(config, items):
    if not harness.THROUGH_PGBOUNCER:
        return
    for item in items:
        reason = NOT_THROUGH_PGBOUNCER.get(f"{item.path.name}::{getattr(item, 'originalname', item.name)}")
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_sessionfinish(session, exitstatus):
    harness.pg_drop_all()  # databases of other processes the tests started


class _Factory:
    def __init__(self, tmp_dir_fn):
        self._tmp_dir_fn = tmp_dir_fn
        self.servers = []

    def __call__(self, env=None, args=None, tmp_path=None, **kw):
        srv = harness.start_server(tmp_path or self._tmp_dir_fn(), env=env, args=args, **kw)
        self.servers.append(srv)
        return srv

    def cleanup(self):
        for srv in self.servers:
            try:
                srv.stop(timeout=10)
            except AssertionError:
                pass  # stop() already killed it
            finally:
                srv.kill()
        # PostgreSQL: each data dir's database goes with its servers.
        for srv in self.servers:
            if getattr(srv, "database", None):
                harness.pg_drop_database(srv.database)


@pytest.fixture(scope="session")
def backend():
    return harness.BACKEND


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory):
    f = _Factory(lambda: tmp_path_factory.mktemp("srv"))
    yield f
    f.cleanup()


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory(env=dict(harness.DEV))


@pytest.fixture
def make_server(tmp_path):
    f = _Factory(lambda: tmp_path)
    yield f
    f.cleanup()


@pytest.fixture
def cluster():
    """A PostgreSQL cluster of the test's own (with a database "pace"), for
    tests that stop, freeze or restart their server."""
    from pgcluster import Cluster
    c = Cluster.start()
    c.psql("CREATE DATABASE pace")
    yield c
    c.stop()
