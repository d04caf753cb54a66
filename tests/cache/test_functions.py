"""The Redis function library (src/cache/functions.lua) on a real Redis,
and scripts/redis.sh itself.

The library is loaded with FUNCTION LOAD REPLACE into a throwaway server
(scripts/redis.sh start), and every function's reply and effect on its keys
is checked: the GCRA rate limit, the login backoff and account bucket, the
instance heartbeat, the per-user cache versions. Times are Redis's own, so
expectations are bounds around what its clock said. Then the script: halt
and resume keep the port, a frozen server does not answer until thawed, and
a Sentinel setup promotes the replica when the master goes.

No client library: Debian's python3 has no redis module, so a dozen lines
of RESP below do. Every socket has a timeout; every wait has a deadline.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REDIS_SH = str(REPO / "scripts" / "redis.sh")
FUNCTIONS = REPO / "src" / "cache" / "functions.lua"


def redis_sh(*args, timeout=60):
    p = subprocess.run([REDIS_SH, *[str(a) for a in args]], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"redis.sh {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout.strip()


class RedisError(Exception):
    pass


class Conn:
    """One RESP2 connection: call() sends a command, returns its reply
    (bytes, int, list, or raises RedisError)."""

    def __init__(self, url, timeout=5.0):
        if url.startswith("unix://"):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(url[len("unix://"):])
        else:
            host, port = url[len("redis://"):].rsplit(":", 1)
            self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.rfile = self.sock.makefile("rb")

    def close(self):
        self.rfile.close()
        self.sock.close()

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def _reply(self):
        line = self.rfile.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rfile.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError(f"bad reply {line!r}")

    def now_ms(self):
        s, us = self.call("TIME")
        return int(s) * 1000 + int(us) // 1000

    def now_us(self):
        s, us = self.call("TIME")
        return int(s) * 1000000 + int(us)


def new_state():
    # Not under pytest's tmp_path: a state gone before teardown cannot be stopped.
    return tempfile.mkdtemp(prefix="pace-redisstate.")


def load_functions(conn):
    assert conn.call("FUNCTION", "LOAD", "REPLACE", FUNCTIONS.read_bytes()) == b"pace"


@pytest.fixture(scope="module")
def server():
    state = new_state()
    try:
        url = redis_sh("start", state)
        conn = Conn(url)
        load_functions(conn)
        yield conn
        conn.close()
    finally:
        redis_sh("stop", state)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def r(server):
    server.call("FLUSHALL")
    return server


def limit(r, key, lim, window, count=1):
    return r.call("FCALL", "pace_limit", 1, key, lim, window, count)


def login_check(r, pair, acct, threshold, acct_limit, window, backoff_max):
    return r.call("FCALL", "pace_login_check", 2, pair, acct, threshold, acct_limit, window, backoff_max)


def login_result(r, pair, acct, ok, acct_limit, window, memory):
    return r.call("FCALL", "pace_login_result", 2, pair, acct, ok, acct_limit, window, memory)


def test_library_loads(r):
    libs = r.call("FUNCTION", "LIST", "LIBRARYNAME", "pace")
    assert len(libs) == 1
    lib = dict(zip(libs[0][::2], libs[0][1::2]))
    assert lib[b"library_name"] == b"pace"
    funcs = {}
    for f in lib[b"functions"]:
        f = dict(zip(f[::2], f[1::2]))
        funcs[f[b"name"].decode()] = f[b"flags"]
    assert set(funcs) == {"pace_limit", "pace_login_check", "pace_login_result", "pace_heartbeat",
                          "pace_leave", "pace_version", "pace_bump"}
    assert funcs["pace_login_check"] == [b"no-writes"]
    # Loading again replaces it (what every connect does).
    load_functions(r)


def test_limit_burst_then_refusal(r):
    key = "pace:rl:a"
    lim, window, T = 5, 10000, 2000
    for k in range(1, lim + 1):
        limited, remaining, reset, retry = limit(r, key, lim, window)
        assert (limited, remaining, retry) == (0, lim - k, 0)
        assert k * T - 1000 < reset <= k * T
        # The key holds the TAT, a plain integer, and expires with it.
        tat = r.call("GET", key)
        assert tat.isdigit()
        assert 0 < r.call("PTTL", key) <= reset
        assert abs(int(tat) - r.now_ms() - reset) < 1000
    tat = r.call("GET", key)
    limited, remaining, reset, retry = limit(r, key, lim, window)
    assert (limited, remaining) == (1, 0)
    assert window - 1000 < reset <= window
    assert 0 < retry <= T
    # A refused attempt is not counted.
    assert r.call("GET", key) == tat
    # Nor are the following ones.
    for _ in range(3):
        assert limit(r, key, lim, window)[0] == 1
    assert r.call("GET", key) == tat


def test_limit_refills(r):
    key = "pace:rl:b"
    assert limit(r, key, 2, 400)[:2] == [0, 1]
    assert limit(r, key, 2, 400)[:2] == [0, 0]
    limited, _, _, retry = limit(r, key, 2, 400)
    assert limited == 1 and 0 < retry <= 200
    time.sleep(retry / 1000 + 0.02)
    assert limit(r, key, 2, 400)[0] == 0
    # A full bucket's key is gone: it expires when the bucket is full again.
    time.sleep(0.45)
    assert r.call("EXISTS", key) == 0
    assert limit(r, key, 2, 400)[:2] == [0, 1]


def test_limit_dry_run_changes_nothing(r):
    key = "pace:rl:c"
    assert limit(r, key, 5, 10000, 0) == [0, 5, 0, 0]
    assert r.call("EXISTS", key) == 0
    limit(r, key, 5, 10000)
    limit(r, key, 5, 10000)
    tat = r.call("GET", key)
    pttl = r.call("PTTL", key)
    limited, remaining, reset, retry = limit(r, key, 5, 10000, 0)
    assert (limited, remaining, retry) == (0, 3, 0)
    assert 3000 < reset <= 4000
    assert r.call("GET", key) == tat
    assert pttl - 1000 < r.call("PTTL", key) <= pttl
    for _ in range(3):
        limit(r, key, 5, 10000)
    tat = r.call("GET", key)
    # Dry on a full bucket answers what a counted attempt would.
    limited, remaining, reset, retry = limit(r, key, 5, 10000, 0)
    assert (limited, remaining) == (1, 0) and 0 < retry <= 2000
    assert r.call("GET", key) == tat


def test_limit_above_window_and_bad_arguments(r):
    # More attempts than milliseconds: the interval is 1 ms, not 0.
    limited, remaining, reset, retry = limit(r, "pace:rl:d", 5000, 1000)
    assert limited == 0 and 990 <= remaining <= 999 and 0 < reset <= 1
    for args in [(0, 1000, 1), ("x", 1000, 1), (5, 0, 1), (5, 1.5, 1), (5, 1000, -1)]:
        with pytest.raises(RedisError, match="pace: "):
            limit(r, "pace:rl:e", *args)
    assert r.call("EXISTS", "pace:rl:e") == 0


def test_login_backoff_doubles(r):
    pair, acct = "pace:lp:a", "pace:la:a"
    threshold, backoff_max, memory = 2, 8000, 60000

    def check():
        return login_check(r, pair, acct, threshold, 0, 60000, backoff_max)

    def fail():
        assert login_result(r, pair, acct, 0, 0, 60000, memory) == 1

    assert check() == [0, 2, 0]
    fail()
    assert check() == [0, 1, 0]
    assert 0 < r.call("PTTL", pair) <= memory
    # From the threshold on, each failure doubles the wait, up to the cap.
    for failures, delay in [(2, 1000), (3, 2000), (4, 4000), (5, 8000), (6, 8000)]:
        fail()
        assert int(r.call("HGET", pair, "n")) == failures
        refused, remaining, retry = check()
        assert (refused, remaining) == (1, 0)
        assert delay - 1000 < retry <= delay
    # The wait is counted from the last failure: once past, an attempt may go.
    r.call("HSET", pair, "t", r.now_ms() - 8001)
    assert check() == [0, 0, 0]
    # Far past the threshold the wait is the cap (no overflow).
    r.call("HSET", pair, "n", 1000, "t", r.now_ms())
    refused, _, retry = check()
    assert refused == 1 and backoff_max - 1000 < retry <= backoff_max
    # Without an account limit, the account's bucket is never made.
    assert r.call("EXISTS", acct) == 0


def test_login_account_bucket_limits_pairs_with_failures(r):
    acct = "pace:la:b"
    pair_a, pair_b = "pace:lp:b1", "pace:lp:b2"  # one account, two addresses
    threshold, acct_limit, window = 10, 3, 60000

    def check(pair):
        return login_check(r, pair, acct, threshold, acct_limit, window, 300000)

    def result(pair, ok):
        assert login_result(r, pair, acct, ok, acct_limit, window, 600000) == 1

    result(pair_a, 0)
    result(pair_a, 0)
    # Two failures of three: the account's bucket is not full yet.
    assert check(pair_a) == [0, 8, 0]
    assert 40000 - 1000 < r.call("PTTL", acct) <= 40000
    result(pair_a, 0)
    refused, remaining, retry = check(pair_a)
    assert (refused, remaining) == (1, 7)
    assert 20000 - 1000 < retry <= 20000
    # An address that has not failed is not refused by the account's bucket.
    assert check(pair_b) == [0, 10, 0]
    # Its success changes nothing of the account's.
    tat = r.call("GET", acct)
    result(pair_b, 1)
    assert r.call("GET", acct) == tat
    # Success clears the pair's failures: the pair is let in again.
    result(pair_a, 1)
    assert r.call("EXISTS", pair_a) == 0
    assert check(pair_a) == [0, 10, 0]
    # The account's TAT never runs more than two windows ahead.
    for _ in range(20):
        result(pair_a, 0)
    tat = int(r.call("GET", acct))
    assert tat <= r.now_ms() + 2 * window
    assert 2 * window - 1000 < r.call("PTTL", acct) <= 2 * window


def test_login_without_account_limit(r):
    pair, acct = "pace:lp:c", "pace:la:c"
    for _ in range(5):
        login_result(r, pair, acct, 0, 0, 60000, 60000)
    assert r.call("EXISTS", acct) == 0
    assert login_check(r, pair, acct, 10, 0, 60000, 300000) == [0, 5, 0]


def test_heartbeat_counts_live_instances(r):
    key = "pace:instances"

    def beat(instance, ttl=300):
        return r.call("FCALL", "pace_heartbeat", 1, key, instance, ttl)

    assert beat("i1") == 1
    assert beat("i2") == 2
    assert beat("i1") == 2
    assert 2000 < r.call("PTTL", key) <= 3000
    time.sleep(0.35)
    # i1 and i2 said nothing for longer than ttl_ms: gone.
    assert beat("i3") == 1
    assert r.call("ZRANGE", key, 0, -1) == [b"i3"]
    assert r.call("FCALL", "pace_leave", 1, key, "i3") == 1
    assert r.call("ZCARD", key) == 0
    assert r.call("FCALL", "pace_leave", 1, key, "i3") == 1


def test_version_from_the_clock_when_missing(r):
    key, ttl = "pace:v:a", 60000
    before = r.now_us()
    v = r.call("FCALL", "pace_version", 1, key, ttl)
    assert before <= v <= r.now_us()
    assert r.call("GET", key) == str(v).encode()
    assert ttl - 1000 < r.call("PTTL", key) <= ttl
    # A read returns the stored version and slides its expiry.
    r.call("PEXPIRE", key, 500)
    assert r.call("FCALL", "pace_version", 1, key, ttl) == v
    assert ttl - 1000 < r.call("PTTL", key) <= ttl


def test_bump_strictly_increases(r):
    key, ttl = "pace:v:b", 60000
    seen = [r.call("FCALL", "pace_version", 1, key, ttl)]

    def bump():
        v = r.call("FCALL", "pace_bump", 1, key, ttl)
        assert v > max(seen)
        assert r.call("GET", key) == str(v).encode()
        assert ttl - 1000 < r.call("PTTL", key) <= ttl
        seen.append(v)
        return v

    for _ in range(50):
        bump()
    assert r.call("FCALL", "pace_version", 1, key, ttl) == seen[-1]
    # Evicted: the next version still comes after all the earlier ones.
    r.call("DEL", key)
    v = r.call("FCALL", "pace_version", 1, key, ttl)
    assert v > max(seen)
    seen.append(v)
    bump()
    r.call("DEL", key)
    bump()
    # Everything lost (as after a restart): same.
    r.call("FLUSHALL")
    v = r.call("FCALL", "pace_version", 1, key, ttl)
    assert v > max(seen)
    seen.append(v)
    r.call("FLUSHALL")
    bump()
    # A stored version ahead of the clock is bumped by one.
    ahead = r.now_us() + 10**9
    r.call("SET", key, ahead)
    assert r.call("FCALL", "pace_bump", 1, key, ttl) == ahead + 1


def test_redis_sh_halt_resume_freeze():
    state = new_state()
    try:
        url = redis_sh("start", state)
        port = int(redis_sh("port", state))
        assert url == f"redis://127.0.0.1:{port}"
        assert redis_sh("socket-url", state).startswith("unix:///")
        assert redis_sh("cli", state, "PING") == "PONG"
        pid = int(redis_sh("pid", state))
        c = Conn(url)
        c.call("SET", "k", "v")
        # No persistence.
        assert c.call("CONFIG", "GET", "save") == [b"save", b""]
        assert c.call("CONFIG", "GET", "appendonly") == [b"appendonly", b"no"]
        c.close()

        redis_sh("halt", state)
        with pytest.raises(OSError):
            Conn(url, timeout=1).call("PING")
        redis_sh("resume", state)
        assert int(redis_sh("port", state)) == port
        assert int(redis_sh("pid", state)) != pid
        c = Conn(url)
        assert c.call("PING") == b"PONG"
        assert c.call("GET", "k") is None  # nothing kept
        c.close()

        # Frozen, it accepts and reads (the kernel does) but does not answer.
        redis_sh("freeze", state)
        frozen = socket.create_connection(("127.0.0.1", port), timeout=0.5)
        frozen.sendall(b"PING\r\n")
        with pytest.raises(TimeoutError):
            frozen.recv(64)
        redis_sh("thaw", state)
        # That PING is answered once thawed.
        frozen.settimeout(5)
        assert frozen.recv(64) == b"+PONG\r\n"
        frozen.close()
        c = Conn(url)
        assert c.call("PING") == b"PONG"
        c.close()

        # Stop wakes a frozen server and removes everything.
        redis_sh("freeze", state)
        pid = int(redis_sh("pid", state))
        redis_dir = Path(state, "dir").read_text().strip()
        redis_sh("stop", state)
        assert os.listdir(state) == []
        assert not os.path.exists(redis_dir)
        with pytest.raises(OSError):
            Conn(url, timeout=1).call("PING")
        stat = Path(f"/proc/{pid}/stat")
        # Gone, or a zombie nobody reaps.
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    finally:
        redis_sh("stop", state)
        shutil.rmtree(state, ignore_errors=True)


def test_redis_sh_sentinel_failover():
    state = new_state()
    try:
        sentinels = redis_sh("sentinel-start", state, timeout=120)
        assert redis_sh("sentinels", state) == sentinels
        addrs = sentinels.split(",")
        assert len(addrs) == 3 and all(a.startswith("127.0.0.1:") for a in addrs)
        master = redis_sh("sentinel-master", state)
        master_node = redis_sh("sentinel-node", state, "master")
        replica_node = redis_sh("sentinel-node", state, "replica")
        assert master == "127.0.0.1:" + redis_sh("port", master_node)
        assert master_node != replica_node

        # Every Sentinel agrees, and sees the replica and the other two.
        for a in addrs:
            s = Conn("redis://" + a)
            assert b":".join(s.call("SENTINEL", "get-master-addr-by-name", "pace")).decode() == master
            info = s.call("SENTINEL", "MASTER", "pace")
            info = dict(zip(info[::2], info[1::2]))
            assert (info[b"num-slaves"], info[b"num-other-sentinels"], info[b"quorum"]) == (b"1", b"2", b"2")
            s.close()

        # The library replicates (its TIME-based writes as their effects),
        # and the read-only check runs on the replica.
        m = Conn(redis_sh("url", master_node))
        load_functions(m)
        v = m.call("FCALL", "pace_bump", 1, "pace:v:s", 60000)
        assert m.call("WAIT", 1, 5000) == 1
        m.close()
        rep = Conn(redis_sh("url", replica_node))
        assert rep.call("GET", "pace:v:s") == str(v).encode()
        assert rep.call("FCALL_RO", "pace_login_check", 2, "pace:lp:s", "pace:la:s", 3, 5, 60000, 30000) == [0, 3, 0]
        with pytest.raises(RedisError, match="READONLY"):
            rep.call("FCALL", "pace_bump", 1, "pace:v:s", 60000)
        rep.close()

        # The master goes: the Sentinels promote the replica.
        redis_sh("halt", master_node)
        deadline = time.monotonic() + 15
        while redis_sh("sentinel-master", state) == master:
            assert time.monotonic() < deadline, "no failover within 15 s"
            time.sleep(0.2)
        new_master = redis_sh("sentinel-master", state)
        assert new_master == "127.0.0.1:" + redis_sh("port", replica_node)
        assert redis_sh("sentinel-node", state, "master") == replica_node
        assert "role:master" in redis_sh("cli", replica_node, "INFO", "replication")
    finally:
        redis_sh("sentinel-stop", state)
        assert os.listdir(state) == []
        shutil.rmtree(state, ignore_errors=True)
