"""deploy/monitoring: promtool accepts the scrape configuration and the
rules, the rules' unit tests (alerts_test.yml) pass, and every metric that
the rules and the Grafana dashboard name is one a running pace exports.

The names come from a real pace on PostgreSQL (with a replica URL) and
Redis, both throwaway servers of scripts/pg.sh and scripts/redis.sh, and
an LLM endpoint configured (never called): every metric family shows up."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from conftest import DEPLOY, PACE_BIN, REPO

MON = DEPLOY / "monitoring"
METRIC = re.compile(r"\bpace_[a-z0-9_]*[a-z0-9]\b")


def promtool(*args, cwd=None):
    exe = shutil.which("promtool")
    assert exe, "promtool missing (Debian package prometheus)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_check_config():
    p = promtool("check", "config", str(MON / "prometheus.yml"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 rule files found" in p.stdout + p.stderr


def test_promtool_check_rules():
    p = promtool("check", "rules", str(MON / "alerts.yml"))
    assert p.returncode == 0, p.stdout + p.stderr


def test_promtool_rule_unit_tests():
    p = promtool("test", "rules", "alerts_test.yml", cwd=Path(__file__).parent)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout + p.stderr


def test_alert_set():
    rules = yaml.safe_load((MON / "alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    for want in ("PaceInstanceDown", "PaceHighErrorRate", "PaceHighLatencyP99", "PaceHashPoolSaturated",
                 "PaceBlockingPoolSaturated", "PaceDatabasePoolTimeouts", "PaceJobBacklog", "PaceDeadJobs",
                 "PaceRedisDegraded"):
        assert want in names


def dashboard_exprs():
    dash = json.loads((MON / "grafana-dashboard.json").read_text())
    exprs = []

    def walk(panels):
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []))
            walk(p.get("panels", []))
    walk(dash["panels"])
    return dash, exprs


def test_dashboard_shape(tmp_path):
    dash, exprs = dashboard_exprs()
    assert dash["title"] and dash["uid"]
    text = " ".join(exprs)
    for family in ("pace_http_requests_total", "pace_http_request_duration_seconds_bucket",
                   "pace_pool_queue_depth", "pace_db_", "pace_jobs_", "pace_redis_"):
        assert family in text, family
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    # Each query is valid PromQL once Grafana's variables are replaced:
    # promtool checks them as recording rules.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:q{i}",
         "expr": e.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$instance", ".*")}
        for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    p = promtool("check", "rules", str(path))
    assert p.returncode == 0, p.stdout + p.stderr


# ------------------------------------------------------ names from pace


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(*args):
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{args}: {p.stdout}{p.stderr}"
    return p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The metric names (samples, histogram suffixes included) of a pace on
    PostgreSQL + replica + Redis."""
    base = tmp_path_factory.mktemp("metrics")
    pg_state, redis_state = base / "pg", base / "redis"
    proc = None
    try:
        pg_url = sh(str(REPO / "scripts" / "pg.sh"), "start", str(pg_state))
        redis_url = sh(str(REPO / "scripts" / "redis.sh"), "start", str(redis_state))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PACE_")}
        env.update({
            "PACE_LISTEN": f"127.0.0.1:{port}", "PACE_DATA_DIR": str(base / "data"),
            "PACE_DATABASE_URL": pg_url, "PACE_DATABASE_REPLICA_URLS": pg_url,
            "PACE_REDIS_URL": redis_url, "PACE_LLM_URL": "http://127.0.0.1:9/v1/chat/completions",
            "PACE_THREADS": "1", "PACE_HASH_THREADS": "1", "PACE_DB_POOL_SIZE": "2",
        })
        log = open(base / "pace.log", "wb")
        proc = subprocess.Popen([PACE_BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=base)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (base / "pace.log").read_text()
            try:
                if requests.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "pace not ready within 30 s"
            time.sleep(0.1)
        # One API request and a second scrape: per-route families are there.
        requests.get(url + "/api/v1/openapi.json", timeout=5)
        text = requests.get(url + "/metrics", timeout=5).text
        names = set()
        for line in text.splitlines():
            if line and not line.startswith("#"):
                names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
        yield names
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run([str(REPO / "scripts" / "redis.sh"), "stop", str(redis_state)], capture_output=True)
        subprocess.run([str(REPO / "scripts" / "pg.sh"), "stop", str(pg_state)], capture_output=True)


def test_pace_exports_what_the_files_assume(exported):
    # The live set has the families the monitoring is built on.
    for n in ("pace_http_requests_total", "pace_db_timeouts_total", "pace_redis_breaker_state",
              "pace_db_replica_up", "pace_cache_hits_total", "pace_jobs_dead_total"):
        assert n in exported, n


@pytest.mark.parametrize("source", ["alerts.yml", "grafana-dashboard.json", "alerts_test.yml"])
def test_every_metric_name_is_exported(exported, source):
    path = MON / source if (MON / source).exists() else Path(__file__).parent / source
    used = set(METRIC.findall(path.read_text()))
    assert used, f"no pace_ metric in {source}"
    missing = sorted(used - exported)
    assert not missing, f"{source} names metrics pace does not export: {missing}"
