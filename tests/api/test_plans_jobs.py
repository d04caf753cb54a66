"""The job system from outside: periodic purges (expired sessions and tokens,
idempotency keys, finished jobs) run once per period however many workers
and instances try, and finished jobs are purged after their retention; on
PostgreSQL two instances share one queue and no job runs twice (skipped on
SQLite, which is one process's database)."""

import re

import pytest
import requests

from harness import BACKEND, parse_metrics, metric_values, wait_until
from helpers import BASE_ENV, PROFILE, create_plan, new_token, wait_plan

PERIODIC = re.compile(r"^periodic (purge\.\w+) for period (\d+) ran on (\S+): purged (\d+) rows$")
READY = re.compile(r"^plan (\d+) ready ")
FAST_PURGES = {**BASE_ENV, "PACE_JOB_WORKERS": "4", "PACE_JOB_PURGE_SECONDS": "1",
               "PACE_JOB_RETENTION_SECONDS": "1"}


def periodic_runs(servers):
    """(kind, period, instance, purged) of every periodic run the servers logged."""
    runs = []
    for srv in servers:
        for line in srv.log_lines():
            m = PERIODIC.match(line.get("msg", ""))
            if m:
                runs.append((m.group(1), int(m.group(2)), m.group(3), int(m.group(4))))
    return runs


def periods_seen(servers, kind):
    return {p for k, p, _, _ in periodic_runs(servers) if k == kind}


def check_once_per_period(servers):
    runs = periodic_runs(servers)
    keys = [(k, p) for k, p, _, _ in runs]
    dups = {x for x in keys if keys.count(x) > 1}
    assert not dups, f"periods run more than once: {sorted(dups)}"
    for _, p, _, _ in runs:
        assert p % 1000 == 0  # a period start
    return runs


def test_periodic_purges_once_per_period_with_several_workers(make_server):
    servers = [make_server(env=FAST_PURGES)]
    if BACKEND == "postgres":
        servers.append(make_server(env=FAST_PURGES))  # two instances on one database
    for kind in ("purge.tokens", "purge.idempotency", "purge.jobs"):
        wait_until(lambda: len(periods_seen(servers, kind)) >= 4, 30, f"4 periods of {kind}")
    runs = check_once_per_period(servers)
    # Finished jobs older than the retention (two periods at least) were purged.
    wait_until(lambda: any(k == "purge.jobs" and n > 0 for k, _, _, n in periodic_runs(servers)), 20,
               "a purge.jobs run that removed finished jobs")
    check_once_per_period(servers)
    assert runs


@pytest.mark.skipif(BACKEND != "postgres", reason="instances share a queue only on PostgreSQL")
def test_two_instances_share_one_queue_and_run_each_job_once(make_server):
    env = {**BASE_ENV, "PACE_JOB_WORKERS": "2", "PACE_JOB_PURGE_SECONDS": "1"}
    a, b = make_server(env=env), make_server(env=env)
    tokens = [new_token(a, PROFILE), new_token(b, PROFILE)]
    ids = []
    for i in range(60):
        srv = (a, b)[i % 2]  # each instance queues half and wakes its own workers
        r = create_plan(srv, tokens[i % 2], {"kind": ("workout", "nutrition")[i % 3 % 2], "weeks": 1 + i % 3})
        assert r.status_code == 202, r.text
        ids.append((tokens[i % 2], r.json()["id"]))
    for t, pid in ids:
        p, _ = wait_plan(a, t, pid, timeout=120)
        assert p["state"] == "ready", p
    # Every plan was generated once, by one instance or the other.
    ready = {}
    for name, srv in (("a", a), ("b", b)):
        for line in srv.log_lines():
            m = READY.match(line.get("msg", ""))
            if m:
                ready.setdefault(int(m.group(1)), []).append(name)
    assert sorted(ready) == sorted(pid for _, pid in ids)
    assert all(len(v) == 1 for v in ready.values()), {k: v for k, v in ready.items() if len(v) > 1}
    done = 0
    for srv in (a, b):
        _, samples = parse_metrics(requests.get(srv.url + "/metrics", timeout=10).text)
        mine = metric_values(samples, "pace_jobs_completed_total", kind="plan.generate")[0]
        assert mine >= 1, "both instances run jobs"
        done += mine
    assert done == 60
    check_once_per_period([a, b])
