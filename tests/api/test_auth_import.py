"""`pace user import FILE`: users from a bcrypt-based system log in with
their old passwords, and their hashes become argon2id at that first login;
bad lines are reported by line number (never with the hash) and skipped."""

import json
import sqlite3
import subprocess
import warnings

from harness import BACKEND, PACE_BIN, clean_env
from helpers import BASE_ENV, assert_pair, assert_unauthorized, login, me, unique_name

# A fixed bcrypt hash (cost 4) of this password, made with libxcrypt.
KNOWN_PASSWORD = "legacy-system-password-9"
KNOWN_HASH = "$2b$04$YRpTsQ3sZlDRBHaep1ZQQ.Gzqhe.OUL/VQGcTGZ54LwpCajVCnz/a"


def bcrypt(password):
    """A fresh $2b$ hash through the system's libcrypt, or the fixed one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
        if h and h.startswith("$2b$"):
            return h
    except ImportError:
        pass
    assert password == KNOWN_PASSWORD
    return KNOWN_HASH


def run_import(tmp_path, lines, data_dir):
    f = tmp_path / "users.jsonl"
    f.write_text("".join(line + "\n" for line in lines))
    p = subprocess.run([PACE_BIN, "user", "import", str(f), "--data-dir", str(data_dir)],
                       env=clean_env(), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    return p.returncode, p.stdout, p.stderr


def stored_hash(data_dir, username):
    """The stored hash, read with SQLite itself (None on another backend)."""
    if BACKEND != "sqlite":
        return None
    db = sqlite3.connect(f"file:{data_dir}/pace.db?mode=ro", uri=True)
    try:
        row = db.execute("SELECT password_hash FROM users WHERE username = ?", (username,)).fetchone()
    finally:
        db.close()
    return row[0]


def test_import_bcrypt_then_login_upgrades_the_hash(make_server, tmp_path):
    data = tmp_path / "data"
    name, known_name = unique_name("legacy"), unique_name("fixed")
    pw = "old-system-passphrase-31"
    lines = [json.dumps({"username": name, "email": f"{name}@example.com", "password_hash": bcrypt(pw)}),
             json.dumps({"username": known_name, "email": f"{known_name}@example.com",
                         "password_hash": KNOWN_HASH})]
    rc, out, err = run_import(tmp_path, lines, data)
    assert rc == 0, (out, err)
    assert BACKEND != "sqlite" or stored_hash(data, name).startswith("$2b$")

    s = make_server(env=BASE_ENV, tmp_path=tmp_path)
    assert_unauthorized(login(s, name, "not-the-old-password"), "invalid_credentials")
    pair = assert_pair(login(s, name, pw))
    assert me(s, pair["access_token"]).json()["username"] == name
    upgraded = stored_hash(data, name)
    assert BACKEND != "sqlite" or upgraded.startswith("$argon2id$"), upgraded
    # Still the same password after the upgrade.
    assert_pair(login(s, f"{name}@example.com", pw))
    assert stored_hash(data, name) == upgraded
    assert_pair(login(s, known_name, KNOWN_PASSWORD))
    assert BACKEND != "sqlite" or stored_hash(data, known_name).startswith("$argon2id$")


def test_import_reports_bad_lines(tmp_path):
    data = tmp_path / "data"
    good = unique_name("good")
    secret_hash = KNOWN_HASH
    lines = [
        "",
        "{not json",
        json.dumps({"username": "x y", "email": "a@example.com", "password_hash": secret_hash}),
        json.dumps({"username": unique_name("u"), "email": "nope", "password_hash": secret_hash}),
        json.dumps({"username": unique_name("u"), "email": "b@example.com", "password_hash": "plaintext"}),
        json.dumps({"username": unique_name("u"), "email": "c@example.com"}),
        json.dumps({"username": good, "email": f"{good}@example.com", "password_hash": secret_hash}),
        json.dumps({"username": good.upper(), "email": "d@example.com", "password_hash": secret_hash}),
    ]
    rc, out, err = run_import(tmp_path, lines, data)
    assert rc == 1, (out, err)
    for n in (2, 3, 4, 5, 6, 8):
        assert f"line {n}:" in err, err
    assert "line 7:" not in err and "line 1:" not in err
    assert "taken" in err
    assert secret_hash not in out + err
    assert "imported 1 users" in out
    assert BACKEND != "sqlite" or stored_hash(data, good) == secret_hash


def test_import_needs_a_file(tmp_path):
    p = subprocess.run([PACE_BIN, "user", "import"], env=clean_env(), capture_output=True, text=True, timeout=10,
                       cwd=tmp_path)
    assert p.returncode == 2 and "import FILE" in p.stderr
    p = subprocess.run([PACE_BIN, "user", "import", str(tmp_path / "missing.jsonl"), "--data-dir",
                        str(tmp_path / "d")], env=clean_env(), capture_output=True, text=True, timeout=10,
                       cwd=tmp_path)
    assert p.returncode == 1
