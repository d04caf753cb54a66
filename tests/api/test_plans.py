"""Plans: 409 without a profile; the exact shapes of a queued and a ready plan;
states queued -> running -> ready; nutrition and workout content (targets that
add up, exclusions and diet honoured, sessions within their minutes, a deload
week); the same request twice gives the same plan; validation; tasks created
once per session with create_tasks; list pagination with filters, cursors bound
to user and filters, ETags; another user's plan is 404 for every verb; delete;
Idempotency-Key; 200 plans queued at once all reach ready; job metrics."""

import concurrent.futures
import datetime
import time

import pytest
import requests

from harness import RFC3339_MS_Z_RE, assert_problem, parse_metrics, metric_values
from helpers import (BASE_ENV, PLANS, PROFILE, all_plans, all_tasks, auth, create_plan, create_plan_ok, errors_of,
                     get_plan, list_plans, new_token, wait_plan)

PLAN_KEYS = {"id", "kind", "state", "weeks", "start_date", "generator", "summary", "content", "error",
             "created_at", "updated_at", "completed_at"}
STATE_ORDER = {"queued": 0, "running": 1, "ready": 2, "failed": 2}


# ---------------------------------------------------------------- helpers

def today():
    return datetime.datetime.now(datetime.timezone.utc).date()


def check_states(seen):
    """States only move forward: queued -> running -> ready/failed."""
    order = [STATE_ORDER[s] for s in seen]
    assert order == sorted(order), seen


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env=BASE_ENV)


@pytest.fixture
def token(srv):
    return new_token(srv, PROFILE)


# ---------------------------------------------------------------- create and read

def test_profile_required(srv):
    t = new_token(srv)
    assert_problem(create_plan(srv, t, {"kind": "workout"}), 409, "profile_required")
    assert all_plans(srv, t) == []


def test_queued_then_ready_shapes(srv, token):
    r = create_plan(srv, token, {"kind": "workout", "weeks": 5, "start_date": today().isoformat()})
    assert r.status_code == 202, r.text
    p = r.json()
    assert set(p) == PLAN_KEYS
    assert p["state"] == "queued" and p["kind"] == "workout" and p["weeks"] == 5
    assert p["start_date"] == today().isoformat()
    assert p["generator"] is None and p["summary"] is None and p["content"] is None and p["error"] is None
    assert p["completed_at"] is None
    assert RFC3339_MS_Z_RE.match(p["created_at"]) and RFC3339_MS_Z_RE.match(p["updated_at"])
    assert r.headers["Location"] == f"/api/v1/plans/{p['id']}"
    assert r.headers["ETag"] == f'W/"p{p["id"]}-v1"'
    ready, seen = wait_plan(srv, token, p["id"])
    check_states(["queued"] + seen)
    assert set(ready) == PLAN_KEYS
    assert ready["state"] == "ready", ready
    assert ready["generator"] == "builtin"
    assert isinstance(ready["summary"], str) and ready["summary"]
    assert isinstance(ready["content"], dict)
    assert ready["error"] is None
    assert RFC3339_MS_Z_RE.match(ready["completed_at"])
    assert ready["created_at"] == p["created_at"]
    assert ready["completed_at"] >= ready["created_at"]
    # ETag of the final state; If-None-Match gets 304
    g = get_plan(srv, token, p["id"])
    assert g.headers["ETag"] != r.headers["ETag"]
    assert get_plan(srv, token, p["id"], {"If-None-Match": g.headers["ETag"]}).status_code == 304


def test_defaults(srv, token):
    p = create_plan_ok(srv, token, kind="nutrition")
    assert p["weeks"] == 4
    assert p["start_date"] == today().isoformat() or p["start_date"] == (today() + datetime.timedelta(1)).isoformat()


def test_nutrition_content(srv, token):
    p = create_plan_ok(srv, token, kind="nutrition", weeks=2)
    ready, _ = wait_plan(srv, token, p["id"])
    assert ready["state"] == "ready", ready
    c = ready["content"]
    e, m = c["energy"], c["macros"]
    # Mifflin-St Jeor for the profile, at the age on the start date
    age = c["inputs"]["age"]
    bmr = 10 * 80 + 6.25 * 180 - 5 * age + 5
    assert abs(e["bmr_kcal"] - bmr) < 0.1
    assert e["activity_factor"] == 1.55
    assert abs(e["tdee_kcal"] - bmr * 1.55) < 0.2
    assert e["target_kcal"] == round(bmr * 1.55 * 0.8)
    assert e["target_kcal"] >= e["calorie_floor_kcal"] == 1500
    total = 4 * m["protein_g"] + 9 * m["fat_g"] + 4 * m["carbs_g"]
    assert abs(total - e["target_kcal"]) <= 0.02 * e["target_kcal"]
    assert m["protein_g"] == 160  # 2.0 g/kg for lose_fat
    days = c["meal_plan"]["days"]
    assert len(days) == 7
    for d in days:
        assert len(d["meals"]) == PROFILE["meals_per_day"]
        assert abs(d["totals"]["kcal"] - e["target_kcal"]) <= 0.12 * e["target_kcal"]
        for meal in d["meals"]:
            for it in meal["items"]:
                name = it["food"].lower()
                for bad in ("tuna", "peanut", "yogurt", "cheese", "whey", "chicken", "beef", "pork", "turkey"):
                    assert bad not in name, (bad, it)
                assert it["grams"] > 0
    excluded = {x["exclusion"]: x["foods"] for x in c["meal_plan"]["excluded"]}
    assert "tuna, canned in water" in excluded["tuna"]
    assert "peanut butter" in excluded["peanuts"]


def test_workout_content(srv, token):
    p = create_plan_ok(srv, token, kind="workout", weeks=8, start_date="2026-03-02")
    ready, _ = wait_plan(srv, token, p["id"])
    c = ready["content"]
    assert c["split"]["name"] == "full body"
    weeks = c["weeks"]
    assert [w["week"] for w in weeks] == list(range(1, 9))
    assert [w["deload"] for w in weeks] == [False, False, False, True] * 2
    for w in weeks:
        assert len(w["sessions"]) == PROFILE["days_per_week"]
        for s in w["sessions"]:
            assert s["estimated_minutes"] <= PROFILE["session_minutes"]
            assert s["exercises"]
            for x in s["exercises"]:
                for gym in ("Barbell", "Cable", "Machine", "Lat pulldown", "Leg press"):
                    assert gym not in x["name"]
    assert weeks[3]["total_reps"] < min(w["total_reps"] for w in weeks[:3])
    assert weeks[0]["sessions"][0]["date"] == "2026-03-02"
    assert weeks[1]["sessions"][0]["date"] == "2026-03-09"


def test_same_request_same_plan(srv, token):
    a = create_plan_ok(srv, token, kind="nutrition", start_date="2026-12-01")
    b = create_plan_ok(srv, token, kind="nutrition", start_date="2026-12-01")
    pa, _ = wait_plan(srv, token, a["id"])
    pb, _ = wait_plan(srv, token, b["id"])
    assert pa["content"] == pb["content"] and pa["summary"] == pb["summary"]


BAD_CREATE = [
    ({}, ("kind", "required")),
    ({"kind": "yoga"}, ("kind", "not_allowed")),
    ({"kind": 1}, ("kind", "wrong_type")),
    ({"kind": "workout", "weeks": 0}, ("weeks", "out_of_range")),
    ({"kind": "workout", "weeks": 13}, ("weeks", "out_of_range")),
    ({"kind": "workout", "weeks": "4"}, ("weeks", "wrong_type")),
    ({"kind": "workout", "start_date": "2026-02-30"}, ("start_date", "invalid_date")),
    ({"kind": "workout", "start_date": "1999-01-01"}, ("start_date", "out_of_range")),
    ({"kind": "workout", "create_tasks": "yes"}, ("create_tasks", "wrong_type")),
    ({"kind": "nutrition", "create_tasks": True}, ("create_tasks", "not_allowed")),
    ({"kind": "workout", "profile": {}}, ("profile", "unknown_field")),
]


@pytest.mark.parametrize("body,err", BAD_CREATE, ids=[str(b)[:40] for b, _ in BAD_CREATE])
def test_create_validation(srv, token, body, err):
    assert err in errors_of(create_plan(srv, token, body))


def test_create_bodies_that_are_not_requests(srv, token):
    h = auth(token, {"Content-Type": "application/json"})
    assert_problem(requests.post(srv.url + PLANS, data="[]", headers=h, timeout=10), 400, "malformed_json")
    assert_problem(requests.post(srv.url + PLANS, data="{", headers=h, timeout=10), 400, "malformed_json")
    r = requests.post(srv.url + PLANS, data="kind=workout", timeout=10,
                      headers=auth(token, {"Content-Type": "text/plain"}))
    assert_problem(r, 415, "unsupported_media_type")
    assert_problem(requests.post(srv.url + PLANS, json={"kind": "workout"}, timeout=10), 401, "unauthorized")
    assert all_plans(srv, token) == []


# ---------------------------------------------------------------- tasks

def test_create_tasks_once_per_session(srv, token):
    p = create_plan_ok(srv, token, kind="workout", weeks=2, start_date="2026-12-07", create_tasks=True)
    ready, _ = wait_plan(srv, token, p["id"])
    sessions = [s for w in ready["content"]["weeks"] for s in w["sessions"]]
    assert len(sessions) == 2 * PROFILE["days_per_week"]
    tasks = [t for t in all_tasks(srv, token) if t["plan_id"] == p["id"]]
    assert len(tasks) == len(sessions)
    assert sorted(t["due_date"] for t in tasks) == sorted(s["date"] for s in sessions)
    for t in tasks:
        assert t["title"].startswith("Workout: ") and t["status"] == "todo"
    # A plan without create_tasks makes none.
    q = create_plan_ok(srv, token, kind="workout", weeks=1)
    wait_plan(srv, token, q["id"])
    assert not [t for t in all_tasks(srv, token) if t["plan_id"] == q["id"]]
    # Deleting the plan keeps its tasks, unlinked.
    assert requests.delete(f"{srv.url}{PLANS}/{p['id']}", headers=auth(token), timeout=30).status_code == 204
    left = all_tasks(srv, token)
    assert len(left) == len(sessions) and all(t["plan_id"] is None for t in left)


# ---------------------------------------------------------------- lists

def test_list_pages_filters_and_cursors(srv, token):
    made = []
    for i in range(7):
        made.append(create_plan_ok(srv, token, kind="workout" if i % 2 == 0 else "nutrition", weeks=1))
    for p in made:
        wait_plan(srv, token, p["id"])
    ids = [p["id"] for p in made]
    # limit 3: three pages, newest first, each plan once, without content
    seen, cursor, pages = [], None, 0
    while True:
        r = list_plans(srv, token, {"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"}
        for it in page["items"]:
            assert set(it) == PLAN_KEYS - {"content"}
        seen += [it["id"] for it in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == sorted(ids, reverse=True)
    # filters
    wo = all_plans(srv, token, {"kind": "workout", "limit": 2})
    assert [p["id"] for p in wo] == sorted(ids[0::2], reverse=True)
    assert {p["kind"] for p in all_plans(srv, token, {"kind": "nutrition"})} == {"nutrition"}
    assert len(all_plans(srv, token, {"state": "ready"})) == 7
    assert all_plans(srv, token, {"state": "queued"}) == []
    # a cursor is bound to the filters and to the user
    first = list_plans(srv, token, {"limit": 2, "kind": "workout"}).json()
    assert first["next_cursor"]
    assert_problem(list_plans(srv, token, {"limit": 2, "cursor": first["next_cursor"]}), 400, "invalid_cursor")
    assert_problem(list_plans(srv, token, {"kind": "nutrition", "cursor": first["next_cursor"]}), 400,
                   "invalid_cursor")
    ok = list_plans(srv, token, {"limit": 5, "kind": "workout", "cursor": first["next_cursor"]})
    assert ok.status_code == 200  # the limit may change between pages
    other = new_token(srv, PROFILE)
    assert_problem(list_plans(srv, other, {"kind": "workout", "cursor": first["next_cursor"]}), 400,
                   "invalid_cursor")
    c = first["next_cursor"]
    tampered = c[:10] + ("A" if c[10] != "A" else "B") + c[11:]
    assert_problem(list_plans(srv, token, {"kind": "workout", "cursor": tampered}), 400, "invalid_cursor")
    assert_problem(list_plans(srv, token, {"cursor": "garbage"}), 400, "invalid_cursor")
    # ETag on pages
    r = list_plans(srv, token, {"limit": 2})
    assert list_plans(srv, token, {"limit": 2}, {"If-None-Match": r.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("params,name", [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit"),
    ({"kind": "yoga"}, "kind"), ({"state": "done"}, "state"),
])
def test_list_bad_parameters(srv, token, params, name):
    body = assert_problem(list_plans(srv, token, params), 400, "invalid_parameter")
    assert body["detail"].startswith(name)


# ---------------------------------------------------------------- another user's, delete, ids

def test_another_users_plan_is_404_for_every_verb(srv, token):
    p = create_plan_ok(srv, token, kind="workout", weeks=1)
    other = new_token(srv, PROFILE)
    assert_problem(get_plan(srv, other, p["id"]), 404, "not_found")
    assert_problem(requests.delete(f"{srv.url}{PLANS}/{p['id']}", headers=auth(other), timeout=30), 404,
                   "not_found")
    assert all_plans(srv, other) == []
    assert get_plan(srv, token, p["id"]).status_code == 200


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "1.5", "99999999999999999999", "007"])
def test_ids_that_are_not_plans(srv, token, bad):
    assert_problem(get_plan(srv, token, bad), 404, "not_found")
    assert_problem(requests.delete(f"{srv.url}{PLANS}/{bad}", headers=auth(token), timeout=30), 404, "not_found")


def test_delete(srv, token):
    p = create_plan_ok(srv, token, kind="nutrition", weeks=1)
    ready, _ = wait_plan(srv, token, p["id"])
    tag = get_plan(srv, token, p["id"]).headers["ETag"]
    r = requests.delete(f"{srv.url}{PLANS}/{p['id']}", headers=auth(token, {"If-Match": 'W/"p1-v999"'}),
                        timeout=30)
    assert_problem(r, 412, "precondition_failed")
    r = requests.delete(f"{srv.url}{PLANS}/{p['id']}", headers=auth(token, {"If-Match": tag}), timeout=30)
    assert r.status_code == 204 and r.content == b""
    assert_problem(get_plan(srv, token, p["id"]), 404, "not_found")
    assert_problem(requests.delete(f"{srv.url}{PLANS}/{p['id']}", headers=auth(token), timeout=30), 404,
                   "not_found")


def test_idempotency_key(srv, token):
    h = {"Idempotency-Key": f"plan-{time.time()}"}
    a = create_plan(srv, token, {"kind": "workout", "weeks": 1}, h)
    b = create_plan(srv, token, {"kind": "workout", "weeks": 1}, h)
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] == b.json()["id"]
    assert b.headers.get("Idempotent-Replayed") == "true"
    assert_problem(create_plan(srv, token, {"kind": "nutrition"}, h), 422, "idempotency_key_reused")
    assert len(all_plans(srv, token)) == 1


# ---------------------------------------------------------------- load and metrics

def test_200_plans_at_once_all_ready(srv):
    tokens = [new_token(srv, PROFILE) for _ in range(4)]
    bodies = [({"kind": "workout" if i % 2 else "nutrition", "weeks": 1 + i % 4}, tokens[i % 4]) for i in range(200)]
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(lambda bt: create_plan(srv, bt[1], bt[0]), bodies))
    assert all(r.status_code == 202 for r in results), [r.text for r in results if r.status_code != 202][:3]
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 200
    deadline = time.monotonic() + 180
    while True:
        states = {}
        for t in tokens:
            for p in all_plans(srv, t, {"limit": 100}):
                states[p["id"]] = p["state"]
        if all(states.get(i) == "ready" for i in ids):
            break
        assert not [i for i in ids if states.get(i) == "failed"]
        assert time.monotonic() < deadline, f"{sum(s == 'ready' for s in states.values())} of 200 ready"
        time.sleep(0.2)


def test_metrics(srv, token):
    p = create_plan_ok(srv, token, kind="workout", weeks=1)
    wait_plan(srv, token, p["id"])
    _, samples = parse_metrics(requests.get(srv.url + "/metrics", timeout=10).text)
    assert metric_values(samples, "pace_plans_generated_total", kind="workout", generator="builtin")[0] >= 1
    assert metric_values(samples, "pace_jobs_completed_total", kind="plan.generate")[0] >= 1
    assert metric_values(samples, "pace_jobs_run_seconds_count", kind="plan.generate")[0] >= 1
    assert metric_values(samples, "pace_jobs_workers")[0] == 4
    for state in ("queued", "running", "done", "dead"):
        assert len(metric_values(samples, "pace_jobs_queue_depth", state=state)) == 1
    assert metric_values(samples, "pace_jobs_dead_total", kind="plan.generate") == [0]
