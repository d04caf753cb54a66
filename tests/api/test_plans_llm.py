"""The LLM provider against a local fake chat-completions endpoint
(fake_llm.py): a good answer makes an "llm" plan (and its tasks); a slow
answer (timeout), HTTP 500, garbage, a chat completion in the wrong schema,
a meal plan with an excluded food, or a response that is not a chat completion
all fall back to the built-in generator; repeated failures open the circuit so
later plans skip the provider, and it closes again after the cool-down. Also
durability with a slow provider: a plan survives SIGKILL of the server
mid-generation and completes after a restart, and SIGTERM hands a running job
back at the shutdown deadline. Each test runs its own server (one at a time,
so on a shared PostgreSQL database no other instance takes its jobs)."""

import json
import signal

import pytest
import requests

from fake_llm import FakeLLM
from harness import parse_metrics, metric_values, wait_until
from helpers import BASE_ENV, all_tasks, create_plan_ok, get_plan, new_token, wait_plan

PROFILE_VEGAN = {
    "sex": "female", "birth_date": "1990-07-01", "height_cm": 165, "weight_kg": 58,
    "activity_level": "light", "goal": "maintain", "experience": "beginner",
    "days_per_week": 2, "session_minutes": 40, "equipment": "none", "diet": "vegan",
    "meals_per_day": 3, "exclude_foods": ["lentils"],
}


@pytest.fixture
def llm():
    fake = FakeLLM().start()
    yield fake
    fake.stop()


def llm_env(fake, **extra):
    env = {**BASE_ENV, "PACE_LLM_URL": fake.url, "PACE_LLM_MODEL": "fake-model", "PACE_LLM_API_KEY": "sk-test-123",
           "PACE_LLM_TIMEOUT_MS": "5000", "PACE_LLM_CIRCUIT_FAILURES": "3", "PACE_LLM_CIRCUIT_COOLDOWN": "60"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def samples_of(srv):
    return parse_metrics(requests.get(srv.url + "/metrics", timeout=10).text)[1]


def llm_results(srv, result):
    v = metric_values(samples_of(srv), "pace_plan_llm_requests_total", result=result)
    return v[0] if v else 0


def circuit(srv):
    for name, labels, value in samples_of(srv):
        if name == "pace_plan_llm_circuit_state" and value == 1:
            return labels["state"]
    return None


def test_good_answer_is_an_llm_plan(make_server, llm):
    srv = make_server(env=llm_env(llm))
    token = new_token(srv, PROFILE_VEGAN)
    w = create_plan_ok(srv, token, kind="workout", weeks=3, create_tasks=True)
    n = create_plan_ok(srv, token, kind="nutrition")
    pw, _ = wait_plan(srv, token, w["id"])
    pn, _ = wait_plan(srv, token, n["id"])
    for p in (pw, pn):
        assert p["state"] == "ready" and p["generator"] == "llm", p
        assert p["content"]["method"] == "llm"
        assert p["summary"].startswith("An LLM")
    assert len(pw["content"]["weeks"]) == 3
    tasks = [t for t in all_tasks(srv, token) if t["plan_id"] == w["id"]]
    assert len(tasks) == 3 * PROFILE_VEGAN["days_per_week"]
    assert all(t["title"].startswith("Workout: LLM session") for t in tasks)
    # What pace asked for
    assert llm.count() == 2
    body, headers = llm.requests[0], llm.headers[0]
    assert body["model"] == "fake-model"
    assert body["response_format"] == {"type": "json_object"}
    assert headers["authorization"] == "Bearer sk-test-123"
    asked = json.loads(body["messages"][1]["content"])
    assert asked["task"] in ("workout", "nutrition")
    assert set(asked["profile"]) >= {"sex", "age", "goal", "diet"}
    assert llm_results(srv, "ok") == 2
    assert metric_values(samples_of(srv), "pace_plans_generated_total", kind="workout", generator="llm") == [1]


@pytest.mark.parametrize("mode,result", [
    ("slow", "timeout"), ("error", "http_error"), ("garbage", "invalid_output"), ("badschema", "invalid_output"),
    ("notchat", "invalid_output"), ("excluded", "invalid_output"),
])
def test_failures_fall_back_to_builtin(make_server, llm, mode, result):
    llm.mode, llm.delay = mode, 3.0
    srv = make_server(env=llm_env(llm, PACE_LLM_TIMEOUT_MS=500))
    token = new_token(srv, PROFILE_VEGAN)
    p = create_plan_ok(srv, token, kind="nutrition" if mode == "excluded" else "workout", weeks=1)
    ready, _ = wait_plan(srv, token, p["id"])
    assert ready["state"] == "ready" and ready["generator"] == "builtin", ready
    assert ready["content"]["method"] == "builtin"
    assert llm.count() == 1
    assert llm_results(srv, result) == 1


def test_circuit_opens_and_closes(make_server, llm):
    llm.mode = "error"
    srv = make_server(env=llm_env(llm, PACE_LLM_CIRCUIT_FAILURES=2, PACE_LLM_CIRCUIT_COOLDOWN=2))
    token = new_token(srv, PROFILE_VEGAN)
    for _ in range(2):
        p = create_plan_ok(srv, token, kind="workout", weeks=1)
        assert wait_plan(srv, token, p["id"])[0]["generator"] == "builtin"
    assert llm.count() == 2
    assert circuit(srv) == "open"
    # Open: later plans do not ask the provider at all.
    for _ in range(3):
        p = create_plan_ok(srv, token, kind="workout", weeks=1)
        assert wait_plan(srv, token, p["id"])[0]["generator"] == "builtin"
    assert llm.count() == 2
    assert llm_results(srv, "circuit_open") == 3
    # After the cool-down one trial goes through; it succeeds and closes the circuit.
    llm.mode = "good"
    wait_until(lambda: circuit(srv) == "half_open", 10, "the circuit to half-open")
    p = create_plan_ok(srv, token, kind="workout", weeks=1)
    assert wait_plan(srv, token, p["id"])[0]["generator"] == "llm"
    assert circuit(srv) == "closed"
    assert llm.count() == 3


def test_plan_survives_sigkill_mid_generation(make_server, llm, tmp_path):
    llm.mode, llm.delay = "slow", 30.0
    env = llm_env(llm, PACE_LLM_TIMEOUT_MS=60000, PACE_JOB_LEASE_SECONDS=2)
    srv = make_server(env=env, tmp_path=tmp_path)
    token = new_token(srv, PROFILE_VEGAN)
    p = create_plan_ok(srv, token, kind="workout", weeks=2, create_tasks=True)
    wait_plan(srv, token, p["id"], states=("running",))
    wait_until(lambda: llm.count() == 1, 10, "the provider to be asked")
    srv.kill()  # SIGKILL, mid-generation
    llm.mode = "good"
    srv2 = make_server(env=env, tmp_path=tmp_path)
    ready, _ = wait_plan(srv2, token, p["id"], timeout=60)
    assert ready["state"] == "ready" and ready["generator"] == "llm", ready
    assert llm.count() == 2
    tasks = [t for t in all_tasks(srv2, token) if t["plan_id"] == p["id"]]
    assert len(tasks) == 2 * PROFILE_VEGAN["days_per_week"]  # once, though the job ran twice


def test_sigterm_hands_a_running_job_back(make_server, llm, tmp_path):
    llm.mode, llm.delay = "slow", 30.0
    env = llm_env(llm, PACE_LLM_TIMEOUT_MS=60000, PACE_SHUTDOWN_TIMEOUT=1)
    srv = make_server(env=env, tmp_path=tmp_path)
    token = new_token(srv, PROFILE_VEGAN)
    p = create_plan_ok(srv, token, kind="nutrition", weeks=1)
    wait_plan(srv, token, p["id"], states=("running",))
    wait_until(lambda: llm.count() == 1, 10, "the provider to be asked")
    assert srv.stop(signal.SIGTERM, timeout=15) == 0
    assert any("handed back to the queue" in x.get("msg", "") for x in srv.log_lines())
    # Handed back (queued, not waiting for its 30 s lease): the next instance runs it at once.
    llm.mode = "good"
    srv2 = make_server(env=env, tmp_path=tmp_path)
    assert get_plan(srv2, token, p["id"]).json()["state"] in ("queued", "running", "ready")
    ready, _ = wait_plan(srv2, token, p["id"], timeout=20)
    assert ready["generator"] == "llm"
