"""Start the real `pace` binary for API tests, and talk to it.

Everything here is plain stdlib + requests: a server on a free loopback port
with a fresh data dir and working directory, readiness by polling /health
with a deadline, captured stdout/stderr, raw-socket HTTP helpers for the
cases a normal client cannot produce, and a small Prometheus text parser.

Backends: PACE_TEST_BACKEND selects sqlite (default) or postgres. With
postgres, PACE_TEST_DATABASE_URL names a throwaway cluster's maintenance
database (scripts/pg.sh prints one); each data dir then gets a fresh database
of its own in that cluster (CREATE DATABASE when a server first starts on
it, so a restart on the same data dir finds its data), handed to the server
as PACE_DATABASE_URL and dropped when the test's servers are cleaned up.
Other `pace` processes of a test (clean_env()) get the database of the
test's last started server, or before any the test's default database,
which the test's first data dir then takes. On sqlite, PACE_TEST_DATABASE_URL, when set, is
handed to the server as is. PACE_TEST_DB_PREPARED_STATEMENTS, when set,
becomes PACE_DB_PREPARED_STATEMENTS (postgres; `off` through PgBouncer in
transaction mode, see scripts/pgbouncer.sh). Likewise PACE_TEST_REDIS_URL becomes
PACE_REDIS_URL (with a PACE_REDIS_KEY_SECRET of the data dir's own, so
tests sharing one Redis never share keys), and /ready then expects redis
"ok" instead of "disabled".
"""

import hashlib
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
PACE_BIN = os.environ.get("PACE_BIN") or str(REPO / "build" / "pace")
OPENAPI_FILE = REPO / "docs" / "openapi.json"

BACKEND = os.environ.get("PACE_TEST_BACKEND", "sqlite").strip().lower() or "sqlite"
if BACKEND not in ("sqlite", "postgres"):
    raise RuntimeError(f"PACE_TEST_BACKEND must be sqlite or postgres, not {BACKEND!r}")

# PostgreSQL through a transaction-mode pooler (scripts/pgbouncer.sh run):
# PACE_TEST_DATABASE_URL is PgBouncer's, every pace process gets
# PACE_DB_PREPARED_STATEMENTS=off (PACE_TEST_DB_PREPARED_STATEMENTS), and
# PACE_PGBOUNCER_STATE names the pooler (tests that count the server's own
# connections do not apply: see conftest.py).
PREPARED_STATEMENTS = os.environ.get("PACE_TEST_DB_PREPARED_STATEMENTS", "").strip()
THROUGH_PGBOUNCER = BACKEND == "postgres" and bool(os.environ.get("PACE_PGBOUNCER_STATE"))

READY_DEADLINE = 15.0
DEV = {"PACE_DEV_ENDPOINTS": "on"}
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
RFC3339_MS_Z_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

_counter = itertools.count(1)


# ---------------------------------------------------------------- backend

_pg_dbs = {}          # database name -> its URL, for every database created here
_pg_dir_db = {}       # data dir -> the URL of its database
_pg_test_db = {}      # test node id -> its default database (other pace processes)
_pg_test_claimed = set()  # tests whose default database a data dir has taken
_pg_last_db = {}      # test node id -> the database of its last started server


def _current_test():
    """(node id, phase) of the running test (pytest sets PYTEST_CURRENT_TEST:
    "path::name (setup)"), or ("", "")."""
    cur = os.environ.get("PYTEST_CURRENT_TEST", "")
    name, sep, phase = cur.rpartition(" (")
    return (name, phase.rstrip(")")) if sep else (cur, "")


def pg_query(url, sql):
    """Runs sql on the PostgreSQL database at url with psql; returns its
    unaligned, tuples-only output."""
    psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
    p = subprocess.run([psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})
    if p.returncode != 0:
        raise RuntimeError(f"psql {sql!r} failed: {p.stderr.strip()}")
    return p.stdout.strip()



def pg_admin_url():
    url = os.environ.get("PACE_TEST_DATABASE_URL")
    if not url:
        pytest.fail("PACE_TEST_BACKEND=postgres needs PACE_TEST_DATABASE_URL (a throwaway cluster: "
                    "scripts/pg.sh run STATE -- ...)")
    return url


def pg_database_url(name):
    """The URL of database `name` in the test cluster (same host, port, user)."""
    parts = urllib.parse.urlsplit(pg_admin_url())
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def pg_database(key):
    """The URL of the test database for `key` (a data dir, a test), created
    empty on first use."""
    name = "pace_t_" + hashlib.sha1(str(key).encode()).hexdigest()[:16]
    if name not in _pg_dbs:
        pg_query(pg_admin_url(), f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        pg_query(pg_admin_url(), f"CREATE DATABASE {name}")
        _pg_dbs[name] = pg_database_url(name)
    return _pg_dbs[name]


def pg_test_database(test):
    """The test's default database: what its `pace` processes other than
    servers use, and the first data dir it serves from."""
    if test not in _pg_test_db:
        _pg_test_db[test] = pg_database("test:" + test)
    return _pg_test_db[test]


def pg_server_database(data_dir):
    """The database of a server's data dir: the same one on every start. A
    test's first data dir takes the test's default database (so `pace user
    import` then `serve` share it); servers of module fixtures get their own."""
    key = str(Path(data_dir).resolve())
    test, phase = _current_test()
    if key not in _pg_dir_db:
        if phase == "call" and test not in _pg_test_claimed:
            _pg_test_claimed.add(test)
            _pg_dir_db[key] = pg_test_database(test)
        else:
            _pg_dir_db[key] = pg_database(key)
    if phase == "call":
        _pg_last_db[test] = _pg_dir_db[key]
    return _pg_dir_db[key]


def pg_drop_database(url):
    """Drops a database made by pg_database (its servers must be stopped)."""
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    if name in _pg_dbs:
        del _pg_dbs[name]
        for m in (_pg_dir_db, _pg_test_db, _pg_last_db):
            for k in [k for k, v in m.items() if v == url]:
                del m[k]
        pg_query(pg_admin_url(), f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def pg_drop_all():
    for url in list(_pg_dbs.values()):
        try:
            pg_drop_database(url)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass


def backend_env(database=True):
    """Variables that point the server at the backend under test (with
    database=False, all but PACE_DATABASE_URL)."""
    env = {}
    db = os.environ.get("PACE_TEST_DATABASE_URL") if database else None
    if BACKEND == "postgres":
        test, _ = _current_test()
        db = (_pg_last_db.get(test) or pg_test_database(test)) if database else None
        # Generous deadlines: a loaded test machine must not turn into 503s.
        # The fault tests (test_pg_faults.py) set the server's defaults.
        env["PACE_DB_STATEMENT_TIMEOUT"] = "10000"
        env["PACE_DB_CONNECT_TIMEOUT"] = "5000"
        if PREPARED_STATEMENTS:
            env["PACE_DB_PREPARED_STATEMENTS"] = PREPARED_STATEMENTS
    if db:
        env["PACE_DATABASE_URL"] = db
    redis = os.environ.get("PACE_TEST_REDIS_URL")
    if redis:
        env["PACE_REDIS_URL"] = redis
    return env


def expected_ready_checks():
    return {
        "database": "ok",
        "redis": "ok" if os.environ.get("PACE_TEST_REDIS_URL") else "disabled",
    }


# ---------------------------------------------------------------- process

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra=None):
    """os.environ without any PACE_* variable, plus the backend and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACE_")}
    env.update(backend_env(database="PACE_DATABASE_URL" not in (extra or {})))
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def require_binary():
    if not (os.path.isfile(PACE_BIN) and os.access(PACE_BIN, os.X_OK)):
        pytest.fail(f"pace binary not found or not executable at {PACE_BIN} (run `make build` or set PACE_BIN)")


def _flag_given(args, flag):
    return any(a == flag or a.startswith(flag + "=") for a in args)


def serve_command(port, data_dir, args=None, env=None, threads=2, role="serve"):
    """`pace serve` (or `pace worker`: role) with the harness defaults, leaving out every default that
    the test overrides (by flag, or by the matching PACE_* variable, since a
    flag would win over the variable)."""
    args = [str(a) for a in (args or [])]
    env = env or {}
    cmd = [PACE_BIN, role]
    defaults = [
        ("--listen", "PACE_LISTEN", f"127.0.0.1:{port}"),
        ("--data-dir", "PACE_DATA_DIR", str(data_dir)),
        ("--threads", "PACE_THREADS", str(threads)),
    ]
    for flag, var, value in defaults:
        if not _flag_given(args, flag) and var not in env:
            cmd += [flag, value]
    return cmd + args


class Server:
    def __init__(self, proc, port, data_dir, workdir, stdout_path, stderr_path, files):
        self.proc = proc
        self.pid = proc.pid
        self.port = port
        self.host = "127.0.0.1"
        self.url = f"http://127.0.0.1:{port}"
        self.data_dir = Path(data_dir)
        self.workdir = Path(workdir)
        self.stdout_path = Path(stdout_path)
        self.stderr_path = Path(stderr_path)
        self._files = files

    # -- output
    def stdout(self):
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self):
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stdout_lines(self):
        """Complete lines written to stdout so far (a partly written last line is left out)."""
        text = self.stdout()
        if not text:
            return []
        lines = text.split("\n")
        return [ln for ln in lines[:-1] if ln.strip()]

    def log_lines(self):
        """stdout parsed as JSON lines; fails the test on a line that is not a JSON object."""
        out = []
        for ln in self.stdout_lines():
            try:
                obj = json.loads(ln)
            except ValueError:
                raise AssertionError(f"stdout line is not JSON: {ln!r}") from None
            if not isinstance(obj, dict):
                raise AssertionError(f"stdout line is not a JSON object: {ln!r}")
            out.append(obj)
        return out

    def access_lines(self):
        return [x for x in self.log_lines() if x.get("component") == "access"]

    def wait_for_access(self, request_id, timeout=5.0):
        """The access lines with this request id, polling until there is one."""
        deadline = time.monotonic() + timeout
        while True:
            found = [x for x in self.access_lines() if x.get("request_id") == request_id]
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no access line with request_id {request_id!r} within {timeout}s; stdout tail:\n"
                    + "\n".join(self.stdout_lines()[-20:])
                )
            time.sleep(0.05)

    def describe(self):
        return (f"pace pid {self.pid} on {self.url} (exit {self.proc.poll()})\n"
                f"--- stderr ---\n{self.stderr()[-4000:]}\n--- stdout ---\n{self.stdout()[-4000:]}")

    # -- lifecycle
    def alive(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit code, or None if the process is still running after `timeout` seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal the process and wait for it; returns its exit code. If it
        does not exit in time it is killed and the test fails."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            rc = self.wait(timeout)
            if rc is None:
                self.kill()
                raise AssertionError(f"pace did not exit within {timeout}s of {signal.Signals(sig).name}\n"
                                     + self.describe())
        self._close_files()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._close_files()

    def _close_files(self):
        for f in self._files:
            try:
                f.close()
            except OSError:
                pass
        self._files = []


def _health_ok(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/health", headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def start_server(tmp_path, env=None, args=None, data_dir=None, dotenv=None, threads=2, ready=True,
                 role="serve"):
    """Start `pace serve` (role "worker": `pace worker`) on a free loopback
    port and wait until GET /health is 200.

    tmp_path: a directory of the test's own. The data dir defaults to
    <tmp_path>/data (so starting twice on one tmp_path restarts on the same
    data); the working directory is a fresh <tmp_path>/run-N, with a .env
    holding `dotenv` when given. env: extra PACE_* variables. args: extra
    flags after `serve`.
    """
    require_binary()
    tmp_path = Path(tmp_path)
    n = next(_counter)
    workdir = tmp_path / f"run-{n}"
    workdir.mkdir(parents=True)
    data_dir = Path(data_dir) if data_dir else tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    if dotenv is not None:
        (workdir / ".env").write_text(dotenv)
    port = free_port()
    env = dict(env or {})
    database = None
    if BACKEND == "postgres" and "PACE_DATABASE_URL" not in env:
        # The data dir's own database: a restart on it finds its data.
        database = env["PACE_DATABASE_URL"] = pg_server_database(data_dir)
    if os.environ.get("PACE_TEST_REDIS_URL") and "PACE_REDIS_KEY_SECRET" not in env:
        # One Redis serves every test: each data dir hashes key names its own
        # way, so one test's limits and versions never meet another's.
        env["PACE_REDIS_KEY_SECRET"] = "test-" + hashlib.sha256(str(data_dir).encode()).hexdigest()
    cmd = serve_command(port, data_dir, args=args, env=env, threads=threads, role=role)
    stdout_path = workdir / "stdout.log"
    stderr_path = workdir / "stderr.log"
    out = open(stdout_path, "wb")
    err = open(stderr_path, "wb")
    proc = subprocess.Popen(cmd, cwd=workdir, env=clean_env(env), stdin=subprocess.DEVNULL,
                            stdout=out, stderr=err)
    srv = Server(proc, port, data_dir, workdir, stdout_path, stderr_path, [out, err])
    srv.cmd = cmd
    srv.database = database
    if not ready:
        return srv
    deadline = time.monotonic() + READY_DEADLINE
    while True:
        if proc.poll() is not None:
            srv.kill()
            pytest.fail(f"pace exited during start-up: {' '.join(cmd)}\n" + srv.describe())
        if _health_ok(port):
            return srv
        if time.monotonic() > deadline:
            srv.kill()
            pytest.fail(f"pace not ready within {READY_DEADLINE}s: {' '.join(cmd)}\n" + srv.describe())
        time.sleep(0.05)


def run_pace(args, tmp_path, env=None, dotenv=None, timeout=10.0, health_port=None):
    """Run the binary to completion (for --help and start-up failures).

    Returns (returncode, stdout, stderr); returncode is None when it was still
    running after `timeout` s, or when it answered GET /health on
    `health_port` (it started although it should not have); it is killed then.
    """
    require_binary()
    workdir = Path(tmp_path) / f"run-{next(_counter)}"
    workdir.mkdir(parents=True)
    if dotenv is not None:
        (workdir / ".env").write_text(dotenv)
    out_path, err_path = workdir / "stdout.log", workdir / "stderr.log"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([PACE_BIN] + [str(a) for a in args], cwd=workdir, env=clean_env(env),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        rc = None
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    rc = proc.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if health_port is not None and _health_ok(health_port):
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return (rc, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"))


# ---------------------------------------------------------------- HTTP helpers

def assert_problem(resp, status, code):
    """resp (a requests.Response) is an RFC 9457 problem with this status and code,
    whose request_id is the X-Request-Id header."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == "application/problem+json", f"Content-Type {ctype!r}"
    body = resp.json()
    check_problem_body(body, status, code, resp.headers.get("X-Request-Id"))
    return body


def check_problem_body(body, status, code, request_id):
    assert isinstance(body, dict), body
    assert body.get("status") == status and type(body.get("status")) is int, body
    assert body.get("code") == code, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("detail"), str), body
    assert request_id, "response without X-Request-Id"
    assert body.get("request_id") == request_id, (body, request_id)


def wait_until(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class RawResponse:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers  # lowercase name -> list of values
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        v = self.headers.get(name.lower())
        return ", ".join(v) if v else default

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<RawResponse {self.status} {self.headers} {self.body[:200]!r}>"


class RawConn:
    """A plain TCP connection for requests a normal client will not send,
    with a reader that keeps the bytes past one response for the next."""

    def __init__(self, port, timeout=5.0, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _read_until(self, sep):
        while sep not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed before {sep!r}; got {self.buf[:300]!r}")
        i = self.buf.index(sep) + len(sep)
        head, self.buf = self.buf[:i], self.buf[i:]
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed after {len(self.buf)} of {n} body bytes")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, method="GET"):
        """One response; socket.timeout propagates when none comes in time,
        EOFError when the connection closes first."""
        head = self._read_until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1."), f"bad status line {lines[0]!r}"
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = {}
        for ln in lines[1:]:
            if not ln:
                continue
            name, _, value = ln.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        te = ",".join(headers.get("transfer-encoding", [])).lower()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in te:
            body = b""
            while True:
                size_line = self._read_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._read_until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"][0]))
        else:
            while self._fill():
                pass
            body, self.buf = self.buf, b""
        return RawResponse(status, reason, headers, body, head)

    def closed_by_peer(self):
        """True if the server closed the connection (EOF or reset) before the
        socket timeout; any bytes that come first are kept in self.buf."""
        try:
            while self._fill():
                pass
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_request(method, path, headers=None, body=b"", host="127.0.0.1"):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in (headers or {})):
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, str):
        body = body.encode("utf-8")
    return head + body


# ---------------------------------------------------------------- metrics

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$")
_LABEL_RE = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"[ \t]*(,|$)')
_METRIC_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _unescape(v):
    return v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def parse_labels(s):
    labels = {}
    pos = 0
    s = s.strip()
    while pos < len(s):
        m = _LABEL_RE.match(s, pos)
        if not m or m.end() == pos:
            raise ValueError(f"bad label set {{{s}}} at {pos}")
        if m.group(1) in labels:
            raise ValueError(f"duplicate label {m.group(1)} in {{{s}}}")
        labels[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return labels


def parse_metrics(text):
    """Parse Prometheus text exposition format. Returns (families, samples):
    families name -> {"help": str|None, "type": str|None}, samples a list of
    (name, labels, value). Raises AssertionError describing every problem."""
    families = {}
    samples = []
    problems = []
    first_sample_line = {}
    type_line = {}
    seen = set()
    for no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = families.setdefault(parts[2], {"help": None, "type": None})
                key = parts[1].lower()
                if fam[key] is not None:
                    problems.append(f"line {no}: second # {parts[1]} for {parts[2]}")
                value = parts[3] if len(parts) > 3 else ""
                if parts[1] == "TYPE":
                    if value not in _METRIC_TYPES:
                        problems.append(f"line {no}: unknown type {value!r}")
                    type_line[parts[2]] = no
                fam[key] = value
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            problems.append(f"line {no}: not a sample: {line!r}")
            continue
        name, labelstr, value = m.group(1), m.group(2), m.group(3)
        try:
            labels = parse_labels(labelstr) if labelstr else {}
        except ValueError as e:
            problems.append(f"line {no}: {e}")
            continue
        try:
            v = float(value)
        except ValueError:
            problems.append(f"line {no}: bad value {value!r}")
            continue
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            problems.append(f"line {no}: duplicate sample {line!r}")
        seen.add(key)
        samples.append((name, labels, v))
        first_sample_line.setdefault(name, no)
    # every sample belongs to a family with HELP and TYPE, declared before it
    for name, no in first_sample_line.items():
        fam = name
        if name not in families:
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[: -len(suffix)] if name.endswith(suffix) else None
                if base and families.get(base, {}).get("type") in ("histogram", "summary"):
                    if suffix == "_bucket" and families[base]["type"] != "histogram":
                        continue
                    fam = base
                    break
        f = families.get(fam)
        if not f or f["type"] is None:
            problems.append(f"{name}: no # TYPE")
        elif type_line[fam] > no:
            problems.append(f"{name}: # TYPE comes after its first sample")
        if not f or f["help"] is None:
            problems.append(f"{name}: no # HELP")
    if problems:
        raise AssertionError("metrics do not parse:\n" + "\n".join(problems))
    return families, samples


def metric_values(samples, name, **labels):
    return [v for n, ls, v in samples if n == name and all(ls.get(k) == w for k, w in labels.items())]


def metric_value(samples, name, **labels):
    """The one sample with this name and these labels (others may be present)."""
    vals = [v for n, ls, v in samples if n == name and ls == labels]
    assert len(vals) == 1, f"expected one sample {name}{labels}, found {len(vals)}"
    return vals[0]


def scrape(url):
    r = requests.get(url + "/metrics", timeout=5)
    assert r.status_code == 200, r.text[:300]
    return parse_metrics(r.text)[1]
