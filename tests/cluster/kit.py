"""The fixture library of the cluster suite (tests/cluster/): the kit that
scripts/cluster.sh starts (PostgreSQL primary + streaming replica, Redis,
pace instances, a worker, nginx in front), driven from Python, and a
steady mixed load through nginx whose every answer is recorded.

- `Kit.up(instances, env)`: `cluster.sh up` in a fresh state directory on
  free loopback ports; `down()` stops everything and removes the state.
  `pid(name)`, `port(name)`, `sh(...)` (cluster.sh), `pg(...)` (pg.sh on
  the primary or replica), `psql(which, sql)`, `nginx_log()` (nginx's
  access log: which instance(s) answered each request id).
- `Load(kit, threads)`: client threads, each with its own user and its own
  keep-alive `requests.Session` (like an app), running a mix of reads,
  creates, updates and logins until stopped; every answer (status,
  exception, latency, request id) is kept as a `Result`.
- `REPORT`: lines for the end-of-run summary (conftest prints them).

Every process is started and stopped by cluster.sh, which signals the PIDs
it recorded; a test that kills an instance itself does so by the PID the
kit recorded, after checking it is that pace process.
"""

import collections
import itertools
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = str(REPO / "scripts" / "cluster.sh")
PG_SH = str(REPO / "scripts" / "pg.sh")
PACE_BIN = os.environ.get("PACE_BIN", str(REPO / "build" / "pace"))
PASSWORD = "umbrella-quarterly-lantern-42"
# The client's own timeout: a hang shows as a failure, not a stuck suite.
CLIENT_TIMEOUT = 10.0
REPORT = []


def report(line):
    REPORT.append(line)


def _ports_free(base, n):
    for p in range(base, base + n):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
        except OSError:
            return False
        finally:
            s.close()
    return True


def wait_until(pred, timeout, what, interval=0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def http_status(url, timeout=2.0):
    try:
        return requests.get(url, timeout=timeout).status_code
    except requests.RequestException:
        return None


class Kit:
    def __init__(self, state, instances):
        self.state = Path(state)
        self.instances = instances
        self.names = [f"pace{i}" for i in range(1, instances + 1)]
        kv = dict(line.split("=", 1) for line in (self.state / "kit").read_text().splitlines() if "=" in line)
        self.port_nginx = int(kv["port"])
        self.url = f"http://127.0.0.1:{self.port_nginx}"

    @classmethod
    def up(cls, instances=3, env=None):
        # Not under pytest's tmp_path: a state gone before teardown could not
        # be stopped. Reachable by the postgres and www-data users.
        state = tempfile.mkdtemp(prefix="pace-cluster-")
        os.chmod(state, 0o755)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PACE_")}
        full_env.update({"PACE_BIN": PACE_BIN, "PACE_LOG_LEVEL": "warn"})
        full_env.update(env or {})
        last = None
        for _ in range(5):
            base = random.randrange(20000, 40000)
            if not _ports_free(base, instances + 2):
                continue
            p = subprocess.run([CLUSTER_SH, "up", "--instances", str(instances), "--port", str(base),
                                "--state", state], env=full_env, capture_output=True, text=True, timeout=300)
            if p.returncode == 0:
                return cls(state, instances)
            last = p.stderr
            if "is taken" not in p.stderr:
                break
        shutil.rmtree(state, ignore_errors=True)
        raise RuntimeError(f"cluster.sh up failed:\n{last}")

    def sh(self, *args, timeout=300, check=True):
        p = subprocess.run([CLUSTER_SH, *map(str, args), "--state", str(self.state)],
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"cluster.sh {' '.join(map(str, args))} failed ({p.returncode}):\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def down(self):
        self.sh("down", timeout=300)

    def pid(self, name):
        return int((self.state / name / "pid").read_text())

    def port(self, name):
        return int((self.state / name / "port").read_text())

    def pids(self):
        return {n: self.pid(n) for n in self.names + ["worker"]}

    def is_pace(self, name, pid):
        """Whether PID is the pace process the kit runs as NAME now."""
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return comm == "pace" and f"127.0.0.1:{self.port(name)}".encode() in cmd

    def kill(self, name, sig=signal.SIGKILL):
        pid = self.pid(name)
        assert self.is_pace(name, pid), f"{name}: PID {pid} is not the kit's pace process"
        os.kill(pid, sig)
        return pid

    def ready(self, name):
        return http_status(f"http://127.0.0.1:{self.port(name)}/ready")

    def pg(self, *args, timeout=120):
        p = subprocess.run([PG_SH, *map(str, args)], capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError(f"pg.sh {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
        return p.stdout

    def pg_state(self, which):
        return self.state / f"pg-{which}"

    def psql(self, which, sql):
        return self.pg("psql", self.pg_state(which), "-d", "pace", "-At", "-c", sql).strip()

    def log_lines(self, name):
        return (self.state / name / "pace.log").read_text(errors="replace").splitlines()

    NGINX_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d+) \d+ rid=(?P<rid>\S+) '
                            r'upstream="(?P<upstream>[^"]*)" upstream_status="(?P<ustatus>[^"]*)"')

    def nginx_log(self):
        """{request id: (status, [instance addresses tried], [their statuses])}"""
        out = {}
        text = (self.state / "nginx" / "logs" / "access.log").read_text(errors="replace")
        for line in text.splitlines():
            m = self.NGINX_LINE.search(line)
            if m:
                ups = [u.strip() for u in m["upstream"].split(",") if u.strip()]
                st = [u.strip() for u in m["ustatus"].split(",") if u.strip()]
                out[m["rid"]] = (int(m["status"]), ups, st)
        return out

    def addr_names(self):
        return {f"127.0.0.1:{self.port(n)}": n for n in self.names}


# ---------------------------------------------------------------- load

Result = collections.namedtuple("Result", "op method status error t0 t1 rid")

_users = itertools.count(1)

# What each operation answers when all is well.
EXPECTED = {"list": 200, "create": 201, "get": 200, "update": 200, "me": 200, "login": 200}
METHOD = {"list": "GET", "create": "POST", "get": "GET", "update": "PATCH", "me": "GET", "login": "POST"}
# The mix: mostly reads, as an app's traffic is.
MIX = ["list"] * 4 + ["get"] * 4 + ["me"] * 2 + ["create"] * 3 + ["update"] * 2 + ["login"]


class User:
    """One app user: an account, a keep-alive session to nginx, its tasks."""

    def __init__(self, url, tag="u"):
        self.url = url
        self.s = requests.Session()
        n = next(_users)
        self.name = f"{tag}{os.getpid() % 10000}x{int(time.time()) % 100000}x{n}"
        r = self.s.post(url + "/api/v1/auth/register", timeout=CLIENT_TIMEOUT,
                        json={"username": self.name, "email": f"{self.name}@example.com", "password": PASSWORD})
        assert r.status_code == 201, (r.status_code, r.text)
        self.login()
        self.tasks = []

    def login(self):
        r = self.s.post(self.url + "/api/v1/auth/login", json={"login": self.name, "password": PASSWORD},
                        timeout=CLIENT_TIMEOUT)
        if r.status_code == 200:
            self.token = r.json()["access_token"]
        return r

    def request(self, method, path, **kw):
        rid = uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {self.token}", "X-Request-Id": rid}
        return rid, self.s.request(method, self.url + path, headers=headers, timeout=CLIENT_TIMEOUT, **kw)

    def do(self, op):
        """Runs op; returns (Result, response or None)."""
        t0 = time.monotonic()
        rid = None
        try:
            if op == "login":
                rid = uuid.uuid4().hex
                r = self.s.post(self.url + "/api/v1/auth/login", json={"login": self.name, "password": PASSWORD},
                                headers={"X-Request-Id": rid}, timeout=CLIENT_TIMEOUT)
                if r.status_code == 200:
                    self.token = r.json()["access_token"]
            elif op == "list":
                rid, r = self.request("GET", "/api/v1/tasks?limit=10")
            elif op == "create":
                rid, r = self.request("POST", "/api/v1/tasks", json={"title": f"task {time.time()}", "priority": 1})
                if r.status_code == 201:
                    self.tasks.append(r.json()["id"])
            elif op == "get":
                rid, r = self.request("GET", f"/api/v1/tasks/{random.choice(self.tasks)}")
            elif op == "update":
                rid, r = self.request("PATCH", f"/api/v1/tasks/{random.choice(self.tasks)}",
                                      json={"status": random.choice(["todo", "in_progress", "done"])})
            elif op == "me":
                rid, r = self.request("GET", "/api/v1/users/me")
            else:
                raise ValueError(op)
        except requests.RequestException as e:
            return Result(op, METHOD[op], None, f"{type(e).__name__}: {e}", t0, time.monotonic(), rid), None
        return Result(op, METHOD[op], r.status_code, None, t0, time.monotonic(), rid), r


class Load:
    """`threads` client threads through nginx, each its own user, running
    MIX until stop(); `results` holds every answer."""

    def __init__(self, url, threads=6, pause=0.005):
        self.url = url
        self.users = [User(url, tag="load") for _ in range(threads)]
        for u in self.users:
            _, r = u.do("create")
            assert r is not None and r.status_code == 201
        self.pause = pause
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(u,), daemon=True) for u in self.users]

    def _run(self, user):
        rng = random.Random()
        while not self.stopping.is_set():
            res, _ = user.do(rng.choice(MIX))
            with self.lock:
                self.results.append(res)
            time.sleep(self.pause)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT + 5)
        assert not any(t.is_alive() for t in self.threads), "a load thread did not stop"
        return self.results

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def wait_for(self, n, timeout=30):
        """Waits until n more answers have come in."""
        start = len(self.snapshot())
        wait_until(lambda: len(self.snapshot()) >= start + n, timeout, f"{n} more answers from the load")


def failures(results):
    """The results that are not what a healthy service answers."""
    return [r for r in results if r.error is not None or r.status != EXPECTED[r.op]]


def summary(results):
    """'N requests: op method status x count, ...' for the report."""
    c = collections.Counter((r.op, r.status if r.error is None else r.error.split(":")[0]) for r in results)
    parts = ", ".join(f"{op} {st}: {n}" for (op, st), n in sorted(c.items(), key=lambda kv: str(kv[0])))
    return f"{len(results)} requests ({parts})"
