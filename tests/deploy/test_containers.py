"""The container image and the compose topology, built and run for real.

A Docker daemon of the test's own (scripts/container.sh: Debian's
Docker engine, its socket and exec root in a temporary directory, its images
in DEPLOY_CONTAINER_CACHE so the next run reuses them), a
debian:bookworm-slim base image made with debootstrap (no registry is
needed), `docker-compose build` and `up` of deploy/container/compose.yaml
(PostgreSQL primary and replica, Redis, two API instances, a worker,
nginx), then a short API journey through nginx: register, log in, create
and list a task, store a profile, have the worker make a plan. Each API
instance must have served part of it, the replica must be in use, the
worker must have made the plan, and an API instance stopped with
`docker-compose stop` must exit 0 (SIGTERM, drain, done) within the grace
period while the other goes on serving.

Afterwards the topology is taken down (`down -v`), the daemon is stopped,
and the host must be as before: the same iptables rules, network links and
forwarding sysctls (scripts/container.sh stop puts back what dockerd
changed, and checks; this test checks again). The daemon's state is kept
in DEPLOY_CONTAINER_CACHE/dockerd while it runs: after a run that was
killed, the next one first stops that daemon and undoes its changes.

Needs root. Takes a few minutes the first time (debootstrap, apt-get in
the image builds, compiling pace), well under a minute more with the cache.
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import DEPLOY, REPO

CONTAINER_SH = REPO / "scripts" / "container.sh"
COMPOSE_FILE = DEPLOY / "container" / "compose.yaml"
COMMIT = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                        text=True).stdout.strip() or "unknown"
CACHE = Path(os.environ.get("DEPLOY_CONTAINER_CACHE") or REPO / "build" / "deploy-cache")
PROJECT = "pacedeploytest"
# Debian's client, of the same version as the daemon.
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
TIMINGS = []


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(args, env=None, timeout=600, check=True):
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {p.returncode}:\n"
                             f"{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def host_state():
    """What a Docker daemon changes on the host, as comparable text."""
    def lines(cmd):
        p = subprocess.run(cmd, capture_output=True, text=True)
        return [ln for ln in p.stdout.splitlines() if not ln.startswith("#")]
    rules = [re.sub(r" \[\d+:\d+\]$", "", ln) for ln in lines(["iptables-save"]) + lines(["ip6tables-save"])]
    links = sorted(re.sub(r"@.*", "", ln.split(": ")[1]) for ln in lines(["ip", "-o", "link", "show"]))
    sysctls = []
    for k in ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"):
        sysctls.append(f"{k}={Path('/proc/sys', k).read_text().strip()}")
    return {"rules": rules, "links": links, "sysctl": sysctls,
            "paths": [p for p in ("/etc/docker", "/run/docker", "/var/lib/docker") if os.path.exists(p)]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def topology():
    assert os.geteuid() == 0, "the container test needs root (dockerd, bridges, iptables)"
    for tool in ("dockerd", "docker-compose", "debootstrap", "iptables-save"):
        assert shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}"), \
            f"{tool} missing (Debian's Docker engine, docker-compose, debootstrap, iptables: make deps)"
    # A missing bind-mount source would be made a directory by dockerd.
    nginx_conf = Path(os.environ.get("DEPLOY_NGINX_CONF") or DEPLOY / "nginx" / "pace.conf")
    assert nginx_conf.is_file(), f"{nginx_conf} missing (the compose file mounts it)"
    CACHE.mkdir(parents=True, exist_ok=True)
    # The daemon's state lives next to the cache, at a fixed place: a run
    # that was killed (a ctest timeout) left its daemon and its snapshot of
    # the host there, and this run first puts the host back from them.
    state = CACHE / "dockerd"
    if len(str(state / "docker.sock")) > 100:  # a unix socket path's limit is 108
        state = Path(tempfile.mkdtemp(prefix="pace-dockerd-"))
    elif state.exists():
        log(f"a previous run left {state}: stopping its daemon and undoing its changes")
        run([str(CONTAINER_SH), "stop", str(state)], timeout=180)
    before = host_state()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACE_", "DOCKER_", "COMPOSE_"))}
    env.update({
        "COMPOSE_PROJECT_NAME": PROJECT,
        "COMPOSE_FILE": str(COMPOSE_FILE),
        "HTTP_PORT": str(port),
        "PG_PASSWORD": secrets.token_hex(16),
        "PG_REPLICATION_PASSWORD": secrets.token_hex(16),
        "REDIS_PASSWORD": secrets.token_hex(16),
        "PACE_JWT_SECRET": secrets.token_urlsafe(48),
        "GIT_COMMIT": COMMIT,
    })
    if os.environ.get("DEPLOY_NGINX_CONF"):
        env["NGINX_CONF"] = os.environ["DEPLOY_NGINX_CONF"]
    compose = ["docker-compose", "--no-ansi"]
    up = False
    try:
        proxy = run([str(CONTAINER_SH), "apt-proxy"]).stdout.strip()
        if proxy:
            env["http_proxy"] = proxy
        t0 = time.monotonic()
        host = run([str(CONTAINER_SH), "start", str(state), "--data-root", str(CACHE / "docker")],
                   timeout=120).stdout.strip().splitlines()[-1]
        env["DOCKER_HOST"] = host
        log(f"dockerd up at {host}")
        run([str(CONTAINER_SH), "base-image", str(state), str(CACHE)], timeout=900)
        TIMINGS.append(("base image", time.monotonic() - t0))
        log("base image ready")
        t1 = time.monotonic()
        # One build per image: api2 and worker use api1's, the replica the primary's.
        run(compose + ["build", "--parallel", "api1", "postgres", "redis", "nginx"], env=env, timeout=1500)
        # The cache keeps the build stage's layers (untagged: a prune of
        # dangling images would drop them and the next run would compile
        # again); what older runs left untagged goes after a week.
        run([DOCKER, "image", "prune", "-f", "--filter", "until=168h"], env=env, timeout=120, check=False)
        TIMINGS.append(("images built", time.monotonic() - t1))
        log("images built")
        t2 = time.monotonic()
        up = True
        run(compose + ["down", "-v", "--remove-orphans"], env=env, timeout=120)
        run(compose + ["up", "-d", "--no-build"], env=env, timeout=300)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the topology was not ready through nginx within 120 s"
            time.sleep(0.5)
        TIMINGS.append(("topology ready", time.monotonic() - t2))
        log("topology ready")
        yield {"url": url, "env": env, "compose": compose}
    finally:
        if up:
            p = run(compose + ["ps"], env=env, check=False, timeout=60)
            log(p.stdout)
            p = run(compose + ["logs", "--tail", "30"], env=env, check=False, timeout=60)
            log(p.stdout[-12000:])
            run(compose + ["down", "-v", "--remove-orphans", "--timeout", "30"], env=env, check=False, timeout=300)
        stop = run([str(CONTAINER_SH), "stop", str(state)], check=False, timeout=180)
        # On success container.sh removed the state; on failure it is kept
        # (the next run stops what is left from it).
        for what, secs in TIMINGS:
            log(f"timing: {what} in {secs:.0f} s")
        assert stop.returncode == 0, stop.stdout + stop.stderr
        after = host_state()
        assert after == before, f"the host is not as before:\nbefore {before}\nafter  {after}"


def metrics(topo, service):
    p = run(topo["compose"] + ["exec", "-T", service, "curl", "-fsS", "http://127.0.0.1:8080/metrics"],
            env=topo["env"], timeout=60)
    out = {}
    for line in p.stdout.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def api_requests(m):
    return sum(v for k, v in m.items()
               if k.startswith("pace_http_requests_total{") and 'route="' in k and "/api/v1/" in k)


PROFILE = {
    "sex": "female", "birth_date": "1990-06-01", "height_cm": 168, "weight_kg": 61,
    "activity_level": "moderate", "goal": "endurance", "experience": "beginner",
    "days_per_week": 3, "session_minutes": 40, "equipment": "none", "diet": "vegetarian",
    "meals_per_day": 3,
}


def test_journey_through_nginx(topology):
    url = topology["url"] + "/api/v1"
    s = requests.Session()
    name = f"deploy{secrets.token_hex(4)}"
    password = "a long enough passphrase 42"
    r = s.post(url + "/auth/register", json={"username": name, "email": f"{name}@example.com",
                                             "password": password}, timeout=30)
    assert r.status_code == 201, r.text
    r = s.post(url + "/auth/login", json={"login": name, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    r = s.post(url + "/tasks", json={"title": "run 5 km"}, timeout=30)
    assert r.status_code == 201, r.text
    task = r.json()
    for _ in range(6):
        # Several reads: nginx spreads them over both instances; each one
        # sees the task (read-your-writes with the replica in play).
        r = s.get(url + "/tasks", timeout=30)
        assert r.status_code == 200, r.text
        assert [t["id"] for t in r.json()["items"]] == [task["id"]]
    r = s.put(url + "/profile", json=PROFILE, timeout=30)
    assert r.status_code == 200, r.text
    r = s.post(url + "/plans", json={"kind": "workout", "weeks": 1}, timeout=30)
    assert r.status_code == 202, r.text
    plan = r.json()
    deadline = time.monotonic() + 60
    while True:
        r = s.get(f"{url}/plans/{plan['id']}", timeout=30)
        assert r.status_code == 200, r.text
        if r.json()["state"] in ("ready", "failed"):
            break
        assert time.monotonic() < deadline, f"plan still {r.json()['state']} after 60 s"
        time.sleep(0.5)
    assert r.json()["state"] == "ready", r.text
    assert r.json()["generator"] == "builtin"

    m1, m2, mw = metrics(topology, "api1"), metrics(topology, "api2"), metrics(topology, "worker")
    assert api_requests(m1) > 0 and api_requests(m2) > 0, "nginx sent every request to one instance"
    assert api_requests(mw) == 0, "the worker serves no API"
    assert m1["pace_jobs_workers"] == 0 and m2["pace_jobs_workers"] == 0
    assert mw["pace_jobs_workers"] >= 1
    assert mw['pace_jobs_completed_total{kind="plan.generate"}'] >= 1
    # The image knows the commit it was built from (a build argument: no .git in the context).
    assert any(k.startswith("pace_build_info{") and f'commit="{COMMIT}"' in k for k in m1), \
        [k for k in m1 if k.startswith("pace_build_info")]
    for m in (m1, m2):
        replicas = [v for k, v in m.items() if k.startswith("pace_db_replica_up{")]
        assert replicas == [1], f"the replica is not in use: {replicas}"
        assert m["pace_redis_enabled"] == 1 and m["pace_redis_breaker_state"] == 0


def test_stopping_an_instance_drains_and_exits_cleanly(topology):
    env, compose = topology["env"], topology["compose"]
    cid = run(compose + ["ps", "-q", "api1"], env=env).stdout.strip()
    t = time.monotonic()
    run(compose + ["stop", "api1"], env=env, timeout=120)
    took = time.monotonic() - t
    state = run([DOCKER, "inspect", "-f", "{{.State.ExitCode}} {{.State.OOMKilled}}", cid], env=env).stdout.split()
    assert state == ["0", "false"], f"api1 ended with {state} (137 would be SIGKILL after the grace period)"
    assert took < 50, f"stop took {took:.1f} s (stop_grace_period is 50 s)"
    # The drain (PACE_DRAIN_SECONDS=2) was waited out before the exit.
    assert took >= 2, f"stop took {took:.1f} s, less than the drain"
    # nginx goes on serving through api2.
    for _ in range(4):
        r = requests.get(topology["url"] + "/ready", timeout=10)
        assert r.status_code == 200, r.text
        r = requests.get(topology["url"] + "/api/v1/openapi.json", timeout=10)
        assert r.status_code == 200
