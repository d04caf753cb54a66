"""Resources one client can hold (raw sockets): a client that stops reading
a response is disconnected after PACE_SEND_TIMEOUT while one that reads
slowly is not; past PACE_MAX_CONNECTIONS a new connection gets a 503 at
once and established ones keep being served; out of file descriptors the
accept loop rests instead of spinning, logs once and recovers; on a full
disk /ready says the database cannot take writes."""

import errno
import os
import resource
import socket
import subprocess
import tempfile
import time

import pytest
import requests

from harness import (
    BACKEND,
    THROUGH_PGBOUNCER,
    RawConn,
    check_problem_body,
    free_port,
    metric_values,
    parse_metrics,
    pg_admin_url,
    pg_query,
    raw_request,
    scrape,
    wait_until,
)
from helpers import BASE_ENV, create_task, create_task_ok, new_token

OPENAPI = "/api/v1/openapi.json"
TCP_ESTABLISHED = 1


def tcp_state(sock):
    """The kernel's TCP state of our end: ESTABLISHED (1) until pace closes
    or resets its end."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def counter(srv, name):
    v = metric_values(scrape(srv.url), name)
    assert len(v) == 1, (name, v)
    return v[0]


def assert_serving(srv):
    r = requests.get(srv.url + "/health", timeout=5)
    assert r.status_code == 200, r.text


def pipelined_reader(port, n):
    """A connection with a small receive window that asks for n copies of
    the OpenAPI document (about 50 KiB each, uncompressed) at once: far more
    than the kernel buffers hold, so pace has a write pending."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(raw_request("GET", OPENAPI) * n)
    return s


# ---------------------------------------------------------------- send timeout

def test_client_that_stops_reading_is_disconnected(make_server):
    srv = make_server(env={"PACE_SEND_TIMEOUT": "2", "PACE_REQUEST_TIMEOUT": "60"}, threads=1)
    s = pipelined_reader(srv.port, 200)
    try:
        time.sleep(0.5)
        assert tcp_state(s) == TCP_ESTABLISHED
        # Meanwhile the loop serves everyone else.
        assert_serving(srv)
        deadline = time.monotonic() + 2 + 8
        while tcp_state(s) == TCP_ESTABLISHED:
            assert time.monotonic() < deadline, "pace kept a connection that read nothing for 10 s"
            time.sleep(0.1)
        assert counter(srv, "pace_http_send_timeouts_total") == 1
        msgs = [x.get("msg", "") for x in srv.log_lines()]
        assert any("send timeout" in m for m in msgs), msgs[-10:]
        # pace let go of it too (the scrape's own connection is the one left).
        wait_until(lambda: counter(srv, "pace_http_connections_open") <= 1, 5, "pace to close its end")
        assert_serving(srv)
    finally:
        s.close()


def test_slow_reader_is_not_disconnected(make_server):
    """Progress, not the whole response, is what the timeout measures: a
    client reading a little at a time for longer than the send timeout gets
    every byte."""
    srv = make_server(env={"PACE_SEND_TIMEOUT": "2", "PACE_REQUEST_TIMEOUT": "60"}, threads=1)
    one = requests.get(srv.url + OPENAPI, headers={"Accept-Encoding": "identity"}, timeout=5)
    assert one.status_code == 200
    n = 20
    s = pipelined_reader(srv.port, n)
    try:
        c = RawConn.__new__(RawConn)
        c.sock, c.buf, c.eof = s, b"", False
        got = 0
        start = time.monotonic()
        for _ in range(n):
            # 16 KiB every 0.3 s: the 20 answers (about 1 MiB) take well over
            # the 2 s send timeout.
            while len(c.buf) < 16384 and c._fill():
                pass
            time.sleep(0.3)
            r = c.read_response()
            assert r.status == 200 and r.body == one.content
            got += 1
        assert got == n
        assert time.monotonic() - start > 2 + 1, "the reader was not slow: the test proves nothing"
        assert counter(srv, "pace_http_send_timeouts_total") == 0
    finally:
        s.close()


# ---------------------------------------------------------------- connection cap

def test_past_the_cap_new_connections_get_503_at_once(make_server):
    srv = make_server(env={"PACE_MAX_CONNECTIONS": "4", "PACE_REQUEST_TIMEOUT": "60"}, threads=1)
    held = []
    try:
        for i in range(4):
            c = RawConn(srv.port, timeout=5)
            held.append(c)
            c.send(raw_request("GET", "/health", {"X-Request-Id": f"held-{i}"}))
            assert c.read_response().status == 200
        for sends in (True, False):
            extra = RawConn(srv.port, timeout=3)
            held.append(extra)
            if sends:
                extra.send(raw_request("GET", "/health"))
            r = extra.read_response()
            assert r.status == 503, r
            # The headers every answer of pace's carries (src/http/request.c).
            assert r.header("content-type") == "application/problem+json; charset=utf-8"
            assert r.header("x-content-type-options") == "nosniff"
            assert r.header("cache-control") == "no-store"
            assert r.header("connection") == "close"
            assert r.header("retry-after") == "1"
            rid = r.header("x-request-id")
            check_problem_body(r.json(), 503, "overloaded", rid)
            assert extra.closed_by_peer(), "the refused connection stayed open"
        # Established connections are not stalled by the refusals.
        for i, c in enumerate(held[:4]):
            c.send(raw_request("GET", "/health", {"X-Request-Id": f"again-{i}"}))
            assert c.read_response().status == 200
        # /metrics over a held connection: a new one would be refused.
        held[1].send(raw_request("GET", "/metrics"))
        m = held[1].read_response()
        assert m.status == 200
        refused = metric_values(parse_metrics(m.body.decode())[1], "pace_http_connections_refused_total")
        assert refused == [2], refused
        # A freed slot takes a new connection again.
        held[0].close()

        def served():
            with RawConn(srv.port, timeout=3) as c:
                c.send(raw_request("GET", "/health"))
                return c.read_response().status == 200  # a 503 until pace saw the close

        wait_until(served, 5, "a new connection to be served after one closed")
    finally:
        for c in held:
            c.close()


# ---------------------------------------------------------------- descriptors

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("metrics_listener", [False, True], ids=["api", "with-metrics-listener"])
def test_out_of_descriptors_backs_off_logs_once_and_recovers(make_server, metrics_listener):
    env = {"PACE_REQUEST_TIMEOUT": "60"}
    if metrics_listener:
        mport = free_port()
        env["PACE_METRICS_LISTEN"] = f"127.0.0.1:{mport}"
    srv = make_server(env=env, threads=1)
    assert_serving(srv)
    open_fds = len(os.listdir(f"/proc/{srv.pid}/fd"))
    _, hard = resource.prlimit(srv.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (open_fds + 16, hard))
    socks = []
    try:
        # 16 connections use up the descriptors; the next ones wait in the
        # accept queue (the kernel completes their handshakes).
        for _ in range(40):
            socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))

        def exhausted():
            msgs = [x.get("msg", "") for x in srv.log_lines()]
            return any("cannot accept connections" in m for m in msgs)

        wait_until(exhausted, 5, "pace to log that it cannot accept")
        if metrics_listener:
            # The metrics listener (on the same loop) must rest as well.
            for _ in range(3):
                socks.append(socket.create_connection(("127.0.0.1", mport), timeout=5))
            time.sleep(0.5)
        before, t0 = cpu_seconds(srv.pid), time.monotonic()
        time.sleep(2)
        used = (cpu_seconds(srv.pid) - before) / (time.monotonic() - t0)
        assert used < 0.2, f"pace used {used:.0%} of a CPU while out of descriptors"
        for s in socks:
            s.close()
        socks = []
        def healthy():
            try:
                return requests.get(srv.url + "/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, 10, "pace to serve again once descriptors are free")
        msgs = [x.get("msg", "") for x in srv.log_lines()]
        assert sum("cannot accept connections" in m for m in msgs) == 1, msgs
        assert any("descriptors available again" in m for m in msgs), msgs
        samples = scrape(f"http://127.0.0.1:{mport}" if metrics_listener else srv.url)
        assert metric_values(samples, "pace_http_accept_backoffs_total")[0] >= 1
    finally:
        for s in socks:
            s.close()


# ---------------------------------------------------------------- a full disk

def fill(path, leave=0):
    """Writes `path` until the filesystem is full; then frees `leave` bytes."""
    chunk = b"\0" * 65536
    with open(path, "wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    size = os.path.getsize(path)
    if leave:
        os.truncate(path, max(0, size - leave))


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs of the test's own (mounting needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {p.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.skipif(BACKEND != "sqlite", reason="fills the disk of an SQLite database")
def test_ready_reports_a_full_disk(small_disk, make_server, tmp_path):
    # No job workers: no background write may commit between the steps.
    srv = make_server(env={**BASE_ENV, "PACE_JOB_WORKERS": "0"}, data_dir=small_disk / "data",
                      tmp_path=tmp_path / "srv")
    token = new_token(srv)
    create_task_ok(srv, token)
    r = requests.get(srv.url + "/ready", timeout=5)
    assert r.status_code == 200 and r.json()["checks"]["database"] == "ok", r.text

    filler = small_disk / "filler"
    fill(filler)
    # Below the free-space reserve: not ready, before any write failed.
    r = requests.get(srv.url + "/ready", timeout=5)
    assert r.status_code == 503, r.text
    assert r.json()["status"] == "unavailable" and r.json()["checks"]["database"] == "read_only", r.text
    assert r.headers.get("retry-after") == "2"

    # Writes really fail (the WAL may have room for a few first).
    body = {"title": "t", "description": "x" * 9000}
    for _ in range(300):
        w = create_task(srv, token, body)
        if w.status_code != 201:
            break
    assert w.status_code == 503, w.text

    # 3 MiB free again: above the reserve, but the failed write is
    # remembered until a write commits.
    os.truncate(filler, os.path.getsize(filler) - 3 * 1024 * 1024)
    r = requests.get(srv.url + "/ready", timeout=5)
    assert r.status_code == 503 and r.json()["checks"]["database"] == "read_only", r.text
    create_task_ok(srv, token)
    r = requests.get(srv.url + "/ready", timeout=5)
    assert r.status_code == 200 and r.json()["checks"]["database"] == "ok", r.text
    srv.stop()


@pytest.mark.skipif(BACKEND != "postgres", reason="fills a PostgreSQL tablespace")
def test_ready_reports_a_full_disk_on_postgres(make_server):
    """The tasks table moves to a tablespace on a 1 MiB tmpfs: inserting
    fills it, PostgreSQL fails the write with SQLSTATE 53100, and /ready says
    the database cannot take writes until a write commits again."""
    if os.geteuid() != 0 or THROUGH_PGBOUNCER:
        pytest.skip("needs root to mount, and a cluster of our own")
    import pwd
    mnt = tempfile.mkdtemp(prefix="pace-conn-pgdisk-")
    os.chmod(mnt, 0o755)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=700", "tmpfs", mnt],
                       capture_output=True, text=True)
    if p.returncode != 0:
        os.rmdir(mnt)
        pytest.skip(f"cannot mount a tmpfs: {p.stderr.strip()}")
    space = "pace_t_full_" + os.path.basename(mnt).rsplit("-", 1)[1].lower()
    srv = None
    moved = False
    try:
        pg = pwd.getpwnam("postgres")
        os.chown(mnt, pg.pw_uid, pg.pw_gid)
        srv = make_server(env={**BASE_ENV, "PACE_JOB_WORKERS": "0"})
        token = new_token(srv)
        create_task_ok(srv, token)
        pg_query(srv.database, f"CREATE TABLESPACE {space} LOCATION '{mnt}'")
        pg_query(srv.database, f"ALTER TABLE tasks SET TABLESPACE {space}")
        moved = True
        r = requests.get(srv.url + "/ready", timeout=5)
        assert r.status_code == 200 and r.json()["checks"]["database"] == "ok", r.text

        body = {"title": "t", "description": os.urandom(4500).hex()}  # incompressible
        for _ in range(1000):
            w = create_task(srv, token, body)
            if w.status_code != 201:
                break
        assert w.status_code == 503, w.text
        assert any("53100" in x.get("msg", "") for x in srv.log_lines()), "no disk-full error logged"
        r = requests.get(srv.url + "/ready", timeout=5)
        assert r.status_code == 503, r.text
        assert r.json()["status"] == "unavailable" and r.json()["checks"]["database"] == "read_only", r.text

        pg_query(srv.database, "ALTER TABLE tasks SET TABLESPACE pg_default")
        moved = False
        r = requests.get(srv.url + "/ready", timeout=5)
        assert r.status_code == 503, "the failed write was forgotten at once: " + r.text
        # A write that commits ends it.
        create_task_ok(srv, token)
        r = requests.get(srv.url + "/ready", timeout=5)
        assert r.status_code == 200 and r.json()["checks"]["database"] == "ok", r.text
    finally:
        if srv is not None:
            srv.stop()
            if moved:
                pg_query(srv.database, "ALTER TABLE tasks SET TABLESPACE pg_default")
        try:
            pg_query(pg_admin_url(), f"DROP TABLESPACE IF EXISTS {space}")
        finally:
            subprocess.run(["umount", "-l", mnt], capture_output=True)
            os.rmdir(mnt)
