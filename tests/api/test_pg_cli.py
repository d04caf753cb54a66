"""The PostgreSQL store seen from outside, like test_store_cli.py for SQLite:
pace migrate (recorded in schema_migrations, idempotent), the refusal to
serve a pending schema without it, the refusal to run on a schema from a
newer pace, pace backup answering that pg_dump is the tool, and a unix-socket
URL. Each test gets a fresh database in the suite's cluster. Runs with
PACE_TEST_BACKEND=postgres."""

import os
import subprocess
import urllib.parse

import pytest
import requests

from harness import BACKEND, REPO, THROUGH_PGBOUNCER, pg_admin_url, pg_database, pg_query, run_pace, start_server

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="needs PACE_TEST_BACKEND=postgres")


@pytest.fixture
def db(request, tmp_path):
    return pg_database(f"cli:{request.node.nodeid}:{tmp_path}")


def test_migrate_is_recorded_and_idempotent(db, tmp_path):
    env = {"PACE_DATABASE_URL": db}
    rc, out, err = run_pace(["migrate", "--data-dir", tmp_path / "d"], tmp_path, env=env)
    assert rc == 0, out + err
    assert "applied migration 0001_init.sql" in out + err
    rows = pg_query(db, "SELECT version, name FROM schema_migrations ORDER BY version").splitlines()
    assert rows and rows[0] == "1|0001_init.sql", rows
    tables = set(pg_query(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").split())
    assert {"users", "sessions", "refresh_tokens", "tasks", "fitness_profiles", "plans", "jobs",
            "idempotency_keys", "schema_migrations"} <= tables, tables
    rc, out, err = run_pace(["migrate", "--data-dir", tmp_path / "d"], tmp_path, env=env)
    assert rc == 0, out + err
    assert "applied migration" not in out + err
    assert pg_query(db, "SELECT count(*) FROM schema_migrations") == str(len(rows))


def test_serve_refuses_a_pending_schema_without_auto_migrate(db, tmp_path):
    env = {"PACE_DATABASE_URL": db, "PACE_AUTO_MIGRATE": "off"}
    rc, out, err = run_pace(["serve", "--data-dir", tmp_path / "d", "--listen", "127.0.0.1:1"], tmp_path, env=env)
    assert rc == 1, out + err
    assert "pace migrate" in out + err
    assert run_pace(["migrate", "--data-dir", tmp_path / "d"], tmp_path, env={"PACE_DATABASE_URL": db})[0] == 0
    srv = start_server(tmp_path, env=env)
    try:
        assert requests.get(srv.url + "/ready", timeout=5).status_code == 200
    finally:
        assert srv.stop() == 0


def test_refuses_a_database_from_a_newer_pace(db, tmp_path):
    env = {"PACE_DATABASE_URL": db}
    assert run_pace(["migrate", "--data-dir", tmp_path / "d"], tmp_path, env=env)[0] == 0
    pg_query(db, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)")
    rc, out, err = run_pace(["serve", "--data-dir", tmp_path / "d", "--listen", "127.0.0.1:1"], tmp_path, env=env)
    assert rc == 1, out + err
    assert "newer" in out + err
    rc, out, err = run_pace(["migrate", "--data-dir", tmp_path / "d"], tmp_path, env=env)
    assert rc == 1, out + err
    assert "newer" in out + err


def test_backup_says_to_use_pg_dump(db, tmp_path):
    out_file = tmp_path / "backup.db"
    rc, out, err = run_pace(["backup", out_file, "--data-dir", tmp_path / "d"], tmp_path,
                            env={"PACE_DATABASE_URL": db})
    assert rc == 1, out + err
    assert "pg_dump" in out + err
    assert not out_file.exists()


def test_unix_socket_url(db, tmp_path):
    state = os.environ.get("PACE_PG_STATE")
    if not state:
        pytest.skip("needs PACE_PG_STATE (run through scripts/pg.sh run)")
    sock = subprocess.run([str(REPO / "scripts" / "pg.sh"), "socket-url", state], capture_output=True,
                          text=True, check=True).stdout.strip()
    name = urllib.parse.urlsplit(db).path.lstrip("/")
    url = sock.replace("postgresql:///postgres?", f"postgresql:///{name}?")
    assert url.startswith(f"postgresql:///{name}?host=/")
    srv = start_server(tmp_path, env={"PACE_DATABASE_URL": url})
    try:
        assert requests.get(srv.url + "/ready", timeout=5).json()["checks"]["database"] == "ok"
        r = requests.post(srv.url + "/api/v1/auth/register", timeout=10,
                          json={"username": "socketuser1", "email": "socketuser1@example.com",
                                "password": "umbrella-quarterly-lantern-42"})
        assert r.status_code == 201, r.text
    finally:
        assert srv.stop() == 0
    assert pg_query(db, "SELECT count(*) FROM users WHERE username = 'socketuser1'") == "1"


@pytest.mark.parametrize("setting,value", [("bytea_output", "escape"), ("synchronous_commit", "off")])
def test_unnamed_statements_refuse_server_settings_pace_cannot_work_with(request, tmp_path, setting, value):
    """With PACE_DB_PREPARED_STATEMENTS=off pace sends no session settings,
    so the server's own must do: bytea read back as hex, commits flushed
    before they are acknowledged. Named statements set both per session."""
    db = pg_database(f"settings:{request.node.nodeid}:{tmp_path}")
    name = urllib.parse.urlsplit(db).path.lstrip("/")
    # On the admin connection: no pooled server connection to the database
    # predates the setting.
    pg_query(pg_admin_url(), f"ALTER DATABASE {name} SET {setting} = '{value}'")
    env = {"PACE_DATABASE_URL": db, "PACE_DB_PREPARED_STATEMENTS": "off"}
    rc, out, err = run_pace(["serve", "--data-dir", tmp_path / "d", "--listen", "127.0.0.1:1"], tmp_path, env=env)
    assert rc == 1, out + err
    assert f"server's {setting} is" in out + err, out + err
    if THROUGH_PGBOUNCER:
        return  # named statements do not go through a transaction-mode pooler
    srv = start_server(tmp_path, env={**env, "PACE_DB_PREPARED_STATEMENTS": "on"})
    try:
        assert requests.get(srv.url + "/ready", timeout=5).status_code == 200
    finally:
        assert srv.stop() == 0
