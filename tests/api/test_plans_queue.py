"""The plan queue across instances and crashes: with no worker
(PACE_JOB_WORKERS=0, an API-only instance) plans stay queued with the exact
queued shape, deleting a queued plan cancels its job, and a later instance with
workers on the same data generates the others (and never the deleted one); a
server killed with SIGKILL while it works through 120 plans leaves none behind
after a restart, and creates each plan's tasks exactly once. Each test runs
its servers one at a time, so on a shared PostgreSQL database no other instance
takes the jobs."""

import concurrent.futures

import requests

from harness import assert_problem, parse_metrics, metric_values, wait_until
from helpers import (BASE_ENV, PLANS, PROFILE, all_plans, all_tasks, auth, create_plan, create_plan_ok, get_plan, new_token,
                     wait_plan)

NO_WORKERS = {**BASE_ENV, "PACE_JOB_WORKERS": "0"}


def queued_depth(srv):
    _, samples = parse_metrics(requests.get(srv.url + "/metrics", timeout=10).text)
    v = metric_values(samples, "pace_jobs_queue_depth", state="queued")
    return v[0] if v else None


def test_delete_cancels_a_queued_plan_and_others_run_later(make_server, tmp_path):
    srv = make_server(env=NO_WORKERS, tmp_path=tmp_path)
    before = wait_until(lambda: queued_depth(srv) is not None and (queued_depth(srv),), 10,
                        "the queue depth gauge")[0]
    token = new_token(srv, PROFILE)
    # Registration queues the verification mail, which nobody sends here.
    wait_until(lambda: queued_depth(srv) == before + 1, 10, "the verification mail's job")
    depth0 = before + 1
    keep = create_plan_ok(srv, token, kind="workout", weeks=1, create_tasks=True)
    drop = create_plan_ok(srv, token, kind="nutrition", weeks=1)
    wait_until(lambda: queued_depth(srv) == depth0 + 2, 10, "two queued jobs")
    # Nobody generates them here.
    for p in (keep, drop):
        g = get_plan(srv, token, p["id"]).json()
        assert g["state"] == "queued" and g["content"] is None and g["generator"] is None
    r = requests.delete(f"{srv.url}{PLANS}/{drop['id']}", headers=auth(token), timeout=30)
    assert r.status_code == 204
    wait_until(lambda: queued_depth(srv) == depth0 + 1, 10, "the deleted plan's job to be cancelled")
    assert_problem(get_plan(srv, token, drop["id"]), 404, "not_found")
    srv.stop()

    # An instance with workers on the same data: the kept plan is generated, once.
    srv2 = make_server(env=BASE_ENV, tmp_path=tmp_path)
    ready, _ = wait_plan(srv2, token, keep["id"])
    assert ready["state"] == "ready" and ready["generator"] == "builtin"
    assert_problem(get_plan(srv2, token, drop["id"]), 404, "not_found")
    # no job left behind for the deleted plan
    wait_until(lambda: (queued_depth(srv2) if queued_depth(srv2) is not None else 1e9) <= depth0, 10,
               "the queue back to its depth before the test")
    tasks = requests.get(srv2.url + "/api/v1/tasks", params={"limit": 100}, headers=auth(token), timeout=30).json()
    assert len([t for t in tasks["items"] if t["plan_id"] == keep["id"]]) == 3


def test_plans_survive_sigkill_under_load(make_server, tmp_path):
    env = {**BASE_ENV, "PACE_JOB_LEASE_SECONDS": "2"}
    srv = make_server(env=env, tmp_path=tmp_path)
    token = new_token(srv, PROFILE)
    bodies = [{"kind": "workout", "weeks": 2, "create_tasks": True} if i % 2 else {"kind": "nutrition", "weeks": 1}
              for i in range(120)]
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(lambda b: create_plan(srv, token, b), bodies))
    assert all(r.status_code == 202 for r in results)
    srv.kill()  # SIGKILL: some plans queued, some running, some ready
    srv2 = make_server(env=env, tmp_path=tmp_path)
    ids = [r.json()["id"] for r in results]
    for pid in ids:
        p, _ = wait_plan(srv2, token, pid, timeout=120)
        assert p["state"] == "ready", p
    plans = all_plans(srv2, token, {"limit": 100})
    assert sorted(p["id"] for p in plans) == sorted(ids)
    tasks = all_tasks(srv2, token)
    workout_ids = {r.json()["id"] for r, b in zip(results, bodies) if b["kind"] == "workout"}
    # every workout plan's sessions as tasks, once each, however often its job ran
    sessions = 2 * 3  # 2 weeks x days_per_week of the test profile
    per_plan = {}
    for t in tasks:
        per_plan[t["plan_id"]] = per_plan.get(t["plan_id"], 0) + 1
    assert per_plan == {pid: sessions for pid in workout_ids}
