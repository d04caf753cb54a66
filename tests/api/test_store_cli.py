"""The embedded store seen from outside: pace backup on a live server,
pace migrate, the refusal to run on a newer schema, and /ready failing
cleanly when the database file is unusable. SQLite only (PostgreSQL has
pg_dump and its own tests)."""

import os
import sqlite3

import pytest
import requests

from harness import BACKEND, run_pace, start_server

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="embedded-store commands")


def db_path(data_dir):
    return os.path.join(data_dir, "pace.db")


def test_backup_of_a_live_server(tmp_path):
    srv = start_server(tmp_path)
    try:
        out = tmp_path / "backup.db"
        rc, stdout, stderr = run_pace(["backup", str(out), "--data-dir", str(srv.data_dir)], tmp_path)
        assert rc == 0, stdout + stderr
        assert requests.get(srv.url + "/ready", timeout=5).status_code == 200, "server disturbed by the backup"
        con = sqlite3.connect(str(out))
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations")]
            assert versions and versions == sorted(versions)
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            assert {"users", "sessions", "refresh_tokens", "tasks", "plans", "jobs"} <= tables, tables
        finally:
            con.close()
    finally:
        assert srv.stop() == 0


def test_backup_needs_a_file(tmp_path):
    rc, _, stderr = run_pace(["backup"], tmp_path)
    assert rc == 2 and "FILE" in stderr


def test_migrate_then_serve_without_auto_migrate(tmp_path):
    data = tmp_path / "data"
    rc, stdout, stderr = run_pace(["serve", "--data-dir", str(data), "--auto-migrate", "off",
                                   "--listen", "127.0.0.1:1"], tmp_path)
    assert rc == 1, stdout + stderr
    assert "pace migrate" in stdout + stderr, "the refusal should say what to run"
    rc, stdout, stderr = run_pace(["migrate", "--data-dir", str(data)], tmp_path)
    assert rc == 0, stdout + stderr
    srv = start_server(tmp_path, data_dir=data, env={"PACE_AUTO_MIGRATE": "off"})
    assert srv.stop() == 0


def test_refuses_a_database_from_a_newer_pace(tmp_path):
    data = tmp_path / "data"
    assert run_pace(["migrate", "--data-dir", str(data)], tmp_path)[0] == 0
    con = sqlite3.connect(db_path(data))
    con.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)")
    con.commit()
    con.close()
    rc, stdout, stderr = run_pace(["serve", "--data-dir", str(data), "--listen", "127.0.0.1:1"], tmp_path)
    assert rc == 1, stdout + stderr
    assert "newer" in stdout + stderr


def test_not_a_database_stops_start_up_clearly(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with open(db_path(data), "wb") as f:
        f.write(b"this is not an sqlite database" * 100)
    rc, stdout, stderr = run_pace(["serve", "--data-dir", str(data), "--listen", "127.0.0.1:1"], tmp_path)
    assert rc == 1, stdout + stderr
    assert "database" in stdout + stderr
    assert "Segmentation" not in stderr and "Assertion" not in stderr
