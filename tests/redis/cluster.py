"""The fixture library of the Redis suite: real redis-server processes
(scripts/redis.sh), a Sentinel set-up, and clusters of pace instances that
share one database and one Redis, the way pace runs behind a load balancer.

- `Redis.start()`: a throwaway server on a loopback port (its state outside
  pytest's tmp_path, so it can always be stopped); halt/resume, freeze/thaw,
  slow (CLIENT PAUSE in a thread), cli, keys.
- `Sentinels.start()`: a master, its replica and three Sentinels (`pace`).
- `Relay(port)`: a TCP relay on loopback in front of Redis that can stop
  carrying bytes (freeze/thaw): one instance cut off from Redis while the
  others still reach it (a partial partition).
- `Cluster(tmp_path, n, redis=... | sentinels=..., env=..., instance_env=...)`:
  n pace instances on ONE database (PostgreSQL: one database made for the cluster
  with harness's helpers and dropped by stop(); SQLite: one instance only),
  one JWT secret, distinct ports and data dirs, PACE_TRUSTED_PROXIES
  127.0.0.1 so that X-Forwarded-For makes distinct client IPs;
  instance_env {i: {...}} overrides settings of instance i only (say, its
  PACE_REDIS_URL pointing at a Relay).
  stop() fails when an instance did not exit cleanly (code 0 on SIGTERM, no
  sanitizer report), so the ASan pass sees what ASan saw.
- `Recorder`: requests with a short client timeout whose every answer is
  kept, so a test can say "no 5xx, none slower than the bound";
  `Traffic`: steady logins, token requests, refreshes, logouts and
  registrations over a cluster in a thread, recorded.
- `Resp`, `Subscriber`: a few lines of RESP (Debian has no python3-redis).

Every process started here is stopped by its own PID (pace) or through the
script that started it (redis.sh, which signals the PID it recorded).
The pace side reuses tests/api/harness.py and helpers.py.
"""

import itertools
import random
import re
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "api"))

import harness  # noqa: E402
import helpers  # noqa: E402
from harness import REPO, metric_value, scrape, wait_until  # noqa: E402,F401

REDIS_SH = str(REPO / "scripts" / "redis.sh")
POSTGRES = harness.BACKEND == "postgres"
NEEDS_POSTGRES = ("several pace instances share one database, which needs PostgreSQL "
                  "(PACE_TEST_BACKEND=postgres under scripts/pg.sh run)")


def _sanitized(path):
    """Whether the binary is built with AddressSanitizer (the ASan pass)."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized(harness.PACE_BIN)
# How long any answer may take while Redis is down, frozen, slow or failing
# over: pace gives up on Redis after PACE_REDIS_TIMEOUT_MS, far below this.
# An ASan build (unoptimised, instrumented) takes up to a second for a
# login on this machine with Redis healthy: it gets more room; a wait for
# Redis would still show, for it lasts as long as the fault.
ANSWER_BOUND = 5.0 if SANITIZED else 1.0
# The one wait for Redis longer than its timeout: a write's version bump
# and its read-your-writes marker each wait up to 250 ms while the breaker
# is closed (cache_call_must, CACHE_MUST_TIMEOUT_MS in src/cache/cache.h),
# so the first writes after Redis freezes or is cut off may take that much
# longer (one that sends both, twice that).
MUST_WAIT = 0.5
# The client's own timeout: a hang shows as a failure, not as a stuck suite.
CLIENT_TIMEOUT = 8.0
# Lines for the end-of-run summary (conftest prints them).
REPORT = []


def report(line):
    REPORT.append(line)


def require_postgres():
    if not POSTGRES:
        pytest.skip(NEEDS_POSTGRES)


# ---------------------------------------------------------------- Redis

def redis_sh(*args, timeout=90):
    p = subprocess.run([REDIS_SH, *[str(a) for a in args]], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"redis.sh {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout.strip()


def _state_dir(prefix):
    # Not under pytest's tmp_path: a state gone before teardown cannot be stopped.
    return tempfile.mkdtemp(prefix=prefix)


class RedisError(Exception):
    pass


class Resp:
    """One RESP2 connection to 127.0.0.1:port. A read that times out
    raises socket.timeout and loses nothing: the next read goes on."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", int(port)), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))

    def call(self, *args):
        self.send(*args)
        return self.reply()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf += chunk

    def _parse(self, i):
        """The reply at self.buf[i:] and the index after it, or None when
        it is not all there yet."""
        end = self.buf.find(b"\r\n", i)
        if end < 0:
            return None
        kind, rest, j = self.buf[i:i + 1], self.buf[i + 1:end], end + 2
        if kind == b"+":
            return rest.decode(), j
        if kind == b"-":
            return RedisError(rest.decode()), j
        if kind == b":":
            return int(rest), j
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None, j
            if len(self.buf) < j + n + 2:
                return None
            return self.buf[j:j + n].decode(errors="replace"), j + n + 2
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None, j
            items = []
            for _ in range(n):
                got = self._parse(j)
                if got is None:
                    return None
                item, j = got
                items.append(item)
            return items, j
        raise RedisError(f"bad reply {self.buf[i:end]!r}")

    def reply(self):
        while True:
            got = self._parse(0)
            if got is not None:
                value, j = got
                self.buf = self.buf[j:]
                if isinstance(value, RedisError):
                    raise value
                return value
            self._fill()


class Redis:
    """A redis-server recorded in a redis.sh STATE directory. `owned`: this
    object started it and stop() deletes it (a Sentinel node is not owned:
    Sentinels.stop() does that)."""

    def __init__(self, state, owned=True):
        self.state = state
        self.owned = owned
        self.frozen = False
        self._slow = None

    @classmethod
    def start(cls):
        state = _state_dir("pace-redisstate.")
        try:
            redis_sh("start", state)
        except BaseException:
            redis_sh("stop", state)
            shutil.rmtree(state, ignore_errors=True)
            raise
        return cls(state)

    @property
    def url(self):
        return Path(self.state, "url").read_text().strip()

    @property
    def port(self):
        return int(Path(self.state, "port").read_text())

    def cli(self, *args, timeout=10):
        return redis_sh("cli", self.state, *args, timeout=timeout)

    def keys(self):
        """Every key, by SCAN."""
        return [k for k in self.cli("--scan").splitlines() if k]

    def conn(self, timeout=5.0):
        return Resp(self.port, timeout)

    def halt(self):
        """Stops the server (the port stays recorded)."""
        self.unslow()
        redis_sh("halt", self.state)

    def resume(self):
        """Starts a halted server again, on the same port, empty."""
        redis_sh("resume", self.state)

    def freeze(self):
        """SIGSTOP: connections are accepted by the kernel, nothing answers."""
        redis_sh("freeze", self.state)
        self.frozen = True

    def thaw(self):
        redis_sh("thaw", self.state)
        self.frozen = False

    def slow(self, pause_ms=60, free_ms=40):
        """From now on Redis answers late: a thread repeats CLIENT PAUSE
        pause_ms ALL and leaves free_ms between pauses, so a command waits up
        to pause_ms (more than pace's 25 ms timeout) and some go through."""
        self.unslow()
        self._slow = _Slower(self, pause_ms, free_ms)
        self._slow.start()

    def unslow(self):
        if self._slow is not None:
            self._slow.stop()
            self._slow = None

    def stop(self):
        self.unslow()
        if self.owned:
            redis_sh("stop", self.state)
            shutil.rmtree(self.state, ignore_errors=True)


class _Slower(threading.Thread):
    def __init__(self, redis, pause_ms, free_ms):
        super().__init__(name="redis-slower", daemon=True)
        self.redis, self.pause_ms, self.free_ms = redis, pause_ms, free_ms
        self.halt = threading.Event()
        self.pauses = 0
        self.error = None

    def run(self):
        try:
            conn = self.redis.conn()
            try:
                while not self.halt.is_set():
                    conn.call("CLIENT", "PAUSE", self.pause_ms, "ALL")
                    self.pauses += 1
                    self.halt.wait((self.pause_ms + self.free_ms) / 1000)
                conn.call("CLIENT", "UNPAUSE")
            finally:
                conn.close()
        except (OSError, RedisError) as e:
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(timeout=10)
        if self.error is not None:
            raise AssertionError(f"the CLIENT PAUSE thread failed: {self.error!r}")
        assert self.pauses > 0, "CLIENT PAUSE never ran: Redis was not slowed"


class Subscriber:
    """A connection subscribed to pace's revocation channel."""

    CHANNEL = "pace:revocations"

    def __init__(self, redis):
        self.conn = redis.conn()
        assert self.conn.call("SUBSCRIBE", self.CHANNEL) == ["subscribe", self.CHANNEL, 1]

    def next(self, timeout):
        """The next message's text, or None when none comes in time."""
        self.conn.sock.settimeout(timeout)
        try:
            while True:
                r = self.conn.reply()
                if isinstance(r, list) and len(r) == 3 and r[0] == "message":
                    return r[2]
        except socket.timeout:
            return None

    def close(self):
        self.conn.close()


class Sentinels:
    """scripts/redis.sh sentinel-start: master redis1, replica redis2, three
    Sentinels watching the master as `pace` (down after 1 s)."""

    MASTER = "pace"

    def __init__(self, state, sentinels):
        self.state = state
        self.sentinels = sentinels

    @classmethod
    def start(cls):
        state = _state_dir("pace-sentinelstate.")
        try:
            sentinels = redis_sh("sentinel-start", state, timeout=180)
        except BaseException:
            redis_sh("sentinel-stop", state)
            shutil.rmtree(state, ignore_errors=True)
            raise
        return cls(state, sentinels)

    def master_addr(self):
        return redis_sh("sentinel-master", self.state)

    def node(self, role):
        """The server now in `role` (master or replica), as a Redis."""
        return Redis(redis_sh("sentinel-node", self.state, role), owned=False)

    def stop(self):
        redis_sh("sentinel-stop", self.state, timeout=180)
        shutil.rmtree(self.state, ignore_errors=True)


class Relay:
    """A TCP relay on a loopback port in front of 127.0.0.1:port (Redis):
    one instance's way to it (its PACE_REDIS_URL is `url`). freeze() stops
    carrying bytes both ways: the connections stay open, new ones are
    accepted, nothing answers (a partition between that instance and Redis,
    while the others still reach it). thaw() ends it: every connection that
    saw the partition is closed (reset) without carrying what was sent
    meanwhile, so a command sent while cut off never reaches Redis (what
    pace retries must be retried by pace), and new connections work."""

    def __init__(self, port):
        self.target = ("127.0.0.1", int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.socks = []
        self.threads = [threading.Thread(target=self._accept, name="relay-accept", daemon=True)]
        self.threads[0].start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.closed.is_set():
            try:
                a, _ = self.listener.accept()
                b = socket.create_connection(self.target, timeout=5)
            except OSError:
                return
            t = threading.Thread(target=self._pump, args=(a, b), name="relay-pump", daemon=True)
            with self.lock:
                self.socks += [a, b]
                self.threads.append(t)
            t.start()

    def _pump(self, a, b):
        peer = {a: b, b: a}
        try:
            while not self.closed.is_set():
                if self.frozen.is_set():
                    while self.frozen.is_set() and not self.closed.is_set():
                        self.closed.wait(0.01)
                    # What arrived meanwhile is in the kernel's buffers: lost with the connection.
                    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                ready, _, _ = select.select([a, b], [], [], 0.05)
                if self.frozen.is_set():
                    continue  # what arrived stays in the kernel's buffers
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peer[s].sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def freeze(self):
        self.frozen.set()
        time.sleep(0.1)  # a pump between its check and its send finishes that send

    def thaw(self):
        self.frozen.clear()

    def stop(self):
        self.closed.set()
        self.listener.close()
        with self.lock:
            socks, threads = list(self.socks), list(self.threads)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        for t in threads:
            t.join(timeout=5)


# ---------------------------------------------------------------- clients

_ip_counter = itertools.count(random.randrange(1, 4000) * 1000)


def new_ip():
    """A client IP no other test of the run uses (10.0.0.0/8)."""
    n = next(_ip_counter)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class Outcome:
    __slots__ = ("start", "what", "status", "seconds", "detail")

    def __init__(self, start, what, status, seconds, detail):
        self.start, self.what, self.status, self.seconds, self.detail = start, what, status, seconds, detail

    def __repr__(self):
        return f"{self.what} -> {self.status} in {self.seconds * 1000:.0f} ms {self.detail}"


class Recorder:
    """Sends requests with a bounded client timeout and keeps every outcome
    (a client error such as a timeout is status None)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes = []

    def request(self, method, srv, path, token=None, ip=None, json=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if ip:
            h["X-Forwarded-For"] = ip
        t0 = time.monotonic()
        detail = ""
        try:
            r = requests.request(method, srv.url + path, json=json, headers=h, timeout=CLIENT_TIMEOUT)
            status = r.status_code
            if status >= 500:
                detail = r.text[:200]
        except requests.RequestException as e:
            r, status, detail = None, None, repr(e)[:200]
        dt = time.monotonic() - t0
        with self.lock:
            self.outcomes.append(Outcome(t0, f"{method} {path} on :{srv.port}", status, dt, detail))
        return r

    def login(self, srv, login_name, password=helpers.PASSWORD, ip=None):
        return self.request("POST", srv, "/api/v1/auth/login", ip=ip,
                            json={"login": login_name, "password": password})

    def bad(self, bound=ANSWER_BOUND, since=0.0, write_bound=None):
        """Outcomes after `since` that were 5xx, client errors or slower than
        bound (a request other than GET: write_bound, when given)."""
        def limit(o):
            return bound if write_bound is None or o.what.startswith("GET ") else write_bound
        with self.lock:
            return [o for o in self.outcomes if o.start >= since and
                    (o.status is None or o.status >= 500 or o.seconds > limit(o))]

    def assert_clean(self, bound=ANSWER_BOUND, since=0.0, what="", write_bound=None):
        with self.lock:
            n = sum(1 for o in self.outcomes if o.start >= since)
        bad = self.bad(bound, since, write_bound)
        assert n > 0, f"no request was made {what}"
        assert not bad, (f"{len(bad)} of {n} answers {what} were 5xx, failed or slower than {bound} s"
                         + ("" if write_bound is None else f" ({write_bound} s for a write)") + ":\n"
                         + "\n".join(map(repr, bad[:20])))
        return n


def count_statuses(responses):
    out = {}
    for r in responses:
        k = r.status_code if r is not None else None
        out[k] = out.get(k, 0) + 1
    return out


def int_header(r, name):
    v = r.headers.get(name)
    assert v is not None and re.fullmatch(r"\d+", v), f"{name}: {v!r} in {dict(r.headers)}"
    return int(v)


def gcra_refill(limit, seconds, window_s=60.0):
    """Attempts a GCRA bucket of `limit` a minute refills in `seconds`
    (one every window/limit), plus the one that may be under way."""
    return int(seconds * limit / window_s) + 1


def gcra_max(limit, seconds, window_s=60.0):
    """The most a GCRA bucket of `limit` a minute, full at first, lets
    through in `seconds`."""
    return limit + int(seconds * limit / window_s)


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def summarize(label, seconds):
    """'label: n=.. median .. ms p99 .. ms max .. ms', also kept for the report."""
    ms = [s * 1000 for s in seconds]
    line = (f"{label}: n={len(ms)} median {statistics.median(ms):.1f} ms "
            f"p99 {percentile(ms, 99):.1f} ms max {max(ms):.1f} ms")
    report(line)
    return line


# ---------------------------------------------------------------- pace

_cluster_ids = itertools.count(1)


class Cluster:
    """n pace instances on one database and one Redis (or Sentinel set)."""

    def __init__(self, tmp_path, n=3, redis=None, sentinels=None, env=None, threads=2, instance_env=None):
        if n > 1:
            require_postgres()
        self.tmp = Path(tmp_path) / f"cluster-{next(_cluster_ids)}"
        self.instances = []
        self.database = None
        self.redis, self.sentinels = redis, sentinels
        e = {**helpers.FAST, "PACE_JWT_SECRET": helpers.SECRET, "PACE_TRUSTED_PROXIES": "127.0.0.1"}
        if redis is not None:
            e["PACE_REDIS_URL"] = redis.url
        if sentinels is not None:
            e.update(PACE_REDIS_URL="", PACE_REDIS_SENTINELS=sentinels.sentinels,
                     PACE_REDIS_MASTER=Sentinels.MASTER)
        e.update({k: str(v) for k, v in (env or {}).items()})
        self.env = e
        self.instance_env = {i: {k: str(v) for k, v in o.items()} for i, o in (instance_env or {}).items()}
        self.threads = threads
        try:
            if POSTGRES and "PACE_DATABASE_URL" not in e:
                self.database = e["PACE_DATABASE_URL"] = harness.pg_database(f"redis:{self.tmp}")
            for i in range(n):
                self.instances.append(self._start(i))
        except BaseException:
            try:
                self.stop()
            except AssertionError:
                pass  # the failure to start is the news
            raise

    def _start(self, i):
        d = self.tmp / f"i{i}"
        return harness.start_server(d, env={**self.env, **self.instance_env.get(i, {})}, data_dir=d / "data",
                                    threads=self.threads)

    def __getitem__(self, i):
        return self.instances[i]

    def __iter__(self):
        return iter(self.instances)

    def __len__(self):
        return len(self.instances)

    # Whether stop() fails on an instance that did not exit cleanly (exit
    # code 0 on SIGTERM, no sanitizer report): how the ASan run sees them.
    check_exit = True

    def _stop_one(self, srv):
        """Stops srv; returns what was wrong with its exit, or None."""
        try:
            rc = srv.stop(timeout=15)
        except AssertionError as e:  # stop() killed it
            return str(e)[:2000]
        finally:
            srv.kill()
        err = srv.stderr()
        if rc != 0 or "Sanitizer" in err or "runtime error" in err:
            return f"pace on :{srv.port} exited with {rc}\n{err[-3000:]}"
        return None

    def restart(self, i):
        """Stops instance i (SIGTERM) and starts a new process on its data dir."""
        problem = self._stop_one(self.instances[i])
        assert problem is None or not self.check_exit, problem
        self.instances[i] = self._start(i)
        return self.instances[i]

    def stop(self):
        problems = [p for p in (self._stop_one(srv) for srv in self.instances) if p]
        self.instances = []
        if self.database:
            harness.pg_drop_database(self.database)
            self.database = None
        if problems and self.check_exit:
            raise AssertionError("\n".join(problems))

    # -- state

    def ready(self, srv):
        r = requests.get(srv.url + "/ready", timeout=CLIENT_TIMEOUT)
        return r.status_code, (r.json() if r.headers.get("Content-Type", "").startswith("application/json")
                               else r.text)

    def wait_redis(self, state, timeout=15.0, instances=None):
        """Waits until /ready is 200 with redis `state` on every instance."""
        for srv in instances or self.instances:
            def ok(srv=srv):
                code, body = self.ready(srv)
                return code == 200 and isinstance(body, dict) and body["checks"].get("redis") == state
            try:
                wait_until(ok, timeout, f"/ready redis {state!r} on :{srv.port}")
            except AssertionError as e:
                breaker = self.metric(srv, "pace_redis_breaker_state")
                raise AssertionError(f"{e} (last: {self.ready(srv)}; breaker {breaker:.0f}: "
                                     f"0 closed, 1 open, 2 half-open)") from None

    def metric(self, srv, name, **labels):
        return metric_value(scrape(srv.url), name, **labels)

    def metric_all(self, name, **labels):
        return [self.metric(srv, name, **labels) for srv in self.instances]

    def wait_live(self, n=None, timeout=10.0):
        """Waits until every instance's heartbeat counts n live instances."""
        n = len(self.instances) if n is None else n
        wait_until(lambda: all(v == n for v in self.metric_all("pace_instances_live")), timeout,
                   f"pace_instances_live == {n} everywhere (last {self.metric_all('pace_instances_live')})")

    # -- accounts

    def new_user(self, i=0):
        """A registered, logged-in user (through instance i, from a fresh IP)."""
        return helpers.new_user(self.instances[i], headers=helpers.xff(new_ip()))

    def login_pair(self, user, i=0, password=helpers.PASSWORD):
        r = helpers.login(self.instances[i], user["username"], password=password, headers=helpers.xff(new_ip()))
        assert r.status_code == 200, r.text
        return r.json()

    # -- tokens

    PROBE = "/api/v1/tasks?limit=1"

    def probe(self, srv, token):
        """An access-token request that does not look the user up."""
        return requests.get(srv.url + self.PROBE, headers=helpers.auth(token), timeout=CLIENT_TIMEOUT)

    def assert_accepted(self, token, instances=None):
        for srv in instances or self.instances:
            r = self.probe(srv, token)
            assert r.status_code == 200, f":{srv.port}: {r.status_code} {r.text[:300]}"

    def assert_refused(self, token, instances=None):
        for srv in instances or self.instances:
            helpers.assert_unauthorized(self.probe(srv, token))

    def wait_refused(self, token, since, bound=1.0, instances=None, give_up=5.0):
        """Polls every instance until it refuses token (401); returns the
        delays from `since` (time.monotonic()) to each first 401. Fails on
        any answer other than 200 or 401, and when one took longer than
        bound (polling on up to give_up to report the real delay)."""
        pending = list(instances or self.instances)
        delays = {}
        while pending:
            for srv in list(pending):
                r = self.probe(srv, token)
                now = time.monotonic()
                if r.status_code == 401:
                    helpers.assert_unauthorized(r)
                    delays[srv.port] = now - since
                    pending.remove(srv)
                else:
                    assert r.status_code == 200, f":{srv.port}: {r.status_code} {r.text[:300]}"
                    if now - since > give_up:
                        raise AssertionError(f"a revoked token still works on :{srv.port} after {give_up} s")
        slow = {p: round(d, 3) for p, d in delays.items() if d > bound}
        assert not slow, f"revocation took longer than {bound} s on {slow}"
        return list(delays.values())


class Traffic(threading.Thread):
    """Steady traffic over a cluster in a thread, round-robin over the
    instances: log in (a fresh IP each time), GET /users/me, refresh, log
    out, and every tenth round a registration. Every answer is recorded;
    any that is not the expected 2xx is kept in `unexpected`."""

    def __init__(self, c, user, rec=None, pause=0.02):
        super().__init__(name="traffic", daemon=True)
        self.c, self.user, self.pause = c, user, pause
        self.rec = rec or Recorder()
        self.halt = threading.Event()
        self.rounds = []  # start time of each round
        self.unexpected = []
        self.error = None

    def _expect(self, r, status, what):
        if r is None or r.status_code != status:
            self.unexpected.append(f"{what}: {None if r is None else r.status_code} "
                                   f"{'' if r is None else r.text[:200]}")
            return False
        return True

    def run(self):
        i = 0
        try:
            while not self.halt.is_set():
                srv = self.c.instances[i % len(self.c.instances)]
                self.rounds.append(time.monotonic())
                rec = self.rec
                r = rec.login(srv, self.user["username"], ip=new_ip())
                if self._expect(r, 200, "login"):
                    pair = r.json()
                    r = rec.request("GET", srv, "/api/v1/users/me", token=pair["access_token"])
                    self._expect(r, 200, "GET /users/me")
                    r = rec.request("POST", srv, "/api/v1/auth/refresh", ip=new_ip(),
                                    json={"refresh_token": pair["refresh_token"]})
                    if self._expect(r, 200, "refresh"):
                        r = rec.request("POST", srv, "/api/v1/auth/logout",
                                        json={"refresh_token": r.json()["refresh_token"]})
                        self._expect(r, 204, "logout")
                if i % 10 == 0:
                    name = helpers.unique_name("traffic")
                    r = rec.request("POST", srv, "/api/v1/auth/register", ip=new_ip(),
                                    json={"username": name, "email": f"{name}@example.com",
                                          "password": helpers.PASSWORD})
                    self._expect(r, 201, "register")
                i += 1
                self.halt.wait(self.pause)
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(timeout=30)
        assert not self.is_alive(), "the traffic thread did not stop"
        if self.error is not None:
            raise AssertionError(f"the traffic thread failed: {self.error!r}")

    def assert_clean(self, bound=ANSWER_BOUND, since=0.0, until=None, what=""):
        """No 5xx, no failure, nothing slower than bound, every answer the
        expected one; at least one round in [since, until]."""
        until = time.monotonic() if until is None else until
        n = sum(1 for t in self.rounds if since <= t <= until)
        assert n > 0, f"no traffic round ran {what}"
        assert not self.unexpected, (f"{len(self.unexpected)} unexpected answers:\n"
                                     + "\n".join(self.unexpected[:20]))
        self.rec.assert_clean(bound=bound, since=since, what=what)
        return n
