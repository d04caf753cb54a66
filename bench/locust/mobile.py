"""A realistic mobile-app mix. Each of the locust users is one app install
with its own account LOAD_PREFIX<i> (made beforehand with `pace user
import`; i counts up, modulo LOAD_ACCOUNTS). On start: log in (a 503 with
Retry-After is retried after it), GET /users/me, GET /profile and, the first
time (404), PUT /profile, then the first page of tasks. Then, between
LOAD_THINK_MIN and LOAD_THINK_MAX seconds (0.5, 1.5) apart, weighted:

  30 list tasks: GET /tasks?limit=10 with If-None-Match (the page's last
     ETag), and 3 times in 10 the next page or two by next_cursor
  10 one task:    GET /tasks/{id} with If-None-Match
  10 create:      POST /tasks with an Idempotency-Key
   8 update:      PATCH /tasks/{id} (title, priority) with If-Match
   6 complete:    PATCH /tasks/{id} {"status":"done"} with If-Match
  10 profile:     GET /profile with If-None-Match
   5 me:          GET /users/me with If-None-Match
   3 plans:       GET /plans/{id} of a plan being made, else GET /plans?limit=10
   1 new plan:    POST /plans (workout or nutrition) with an Idempotency-Key

The access token is refreshed (POST /auth/refresh, strict rotation) when it
is within LOAD_REFRESH_MARGIN seconds (30) of its expiry, and after a 401;
the app takes its lifetime as expires_in or LOAD_TOKEN_LIFETIME (90 s),
whichever is shorter, so that a run of a few minutes refreshes every session
while the server keeps long-lived tokens for the other scenarios. Expected answers are 2xx, 304 and a 412 on a stale If-Match (the app
reads the task again); anything else, no answer within LOAD_CLIENT_TIMEOUT,
is an error."""
import itertools
import os
import random
import time
import uuid

import gevent
from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

from common import TIMEOUT, env_float, env_int, jitter, retry_after

PREFIX = os.environ.get("LOAD_PREFIX", "lu")
ACCOUNTS = env_int("LOAD_ACCOUNTS", 1000)
PASSWORD = os.environ.get("LOAD_PASSWORD", "umbrella-quarterly-lantern-42")
MARGIN = env_float("LOAD_REFRESH_MARGIN", 30)
LIFETIME = env_float("LOAD_TOKEN_LIFETIME", 90)
ids = itertools.count()
PROFILE = {
    "sex": "male", "birth_date": "1988-02-11", "height_cm": 181, "weight_kg": 84,
    "activity_level": "light", "goal": "lose_fat", "experience": "beginner",
    "days_per_week": 4, "session_minutes": 40, "equipment": "home_gym",
    "diet": "vegetarian", "meals_per_day": 4, "exclude_foods": ["peanuts"],
}


class MobileApp(FastHttpUser):
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT
    wait_time = between(env_float("LOAD_THINK_MIN", 0.5), env_float("LOAD_THINK_MAX", 1.5))

    # --- plumbing -------------------------------------------------------------
    def req(self, method, path, name, ok=(200,), body=None, headers=None, retry401=True):
        """One authenticated request; returns the response (None after a failure)."""
        self.ensure_token()
        h = {"Authorization": "Bearer " + self.access}
        if headers:
            h.update(headers)
        with self.client.request(method, path, name=name, json=body, headers=h,
                                 catch_response=True) as r:
            if r.status_code == 401 and retry401:
                r.success()  # expired under us: refresh, then once more
                self.refresh_tokens()
                return self.req(method, path, name, ok, body, headers, retry401=False)
            if r.status_code in ok:
                r.success()
                return r
            r.failure("%s %s answered %s" % (method, name, r.status_code))
            return None

    def login(self):
        body = {"login": "%s%d" % (PREFIX, next(ids) % ACCOUNTS), "password": PASSWORD}
        for _ in range(60):
            with self.client.post("/api/v1/auth/login", json=body, name="POST /auth/login",
                                  catch_response=True) as r:
                wait = retry_after(r)
                if r.status_code == 200:
                    r.success()
                    self.take(r.json())
                    return
                if r.status_code == 503 and wait is not None:
                    r.success()
                else:
                    r.failure("login answered %s" % r.status_code)
                    wait = 5
            gevent.sleep(jitter(wait))

    def take(self, pair):
        self.access, self.refresh = pair["access_token"], pair["refresh_token"]
        self.expires = time.time() + min(pair["expires_in"], LIFETIME)

    def ensure_token(self):
        if time.time() >= self.expires - MARGIN:
            self.refresh_tokens()

    def refresh_tokens(self):
        with self.client.post("/api/v1/auth/refresh", json={"refresh_token": self.refresh},
                              name="POST /auth/refresh", catch_response=True) as r:
            if r.status_code == 200:
                self.take(r.json())
            else:
                r.failure("refresh answered %s" % r.status_code)
                self.expires = time.time() + MARGIN + 5  # do not hammer; the next 401 retries

    # --- the app ----------------------------------------------------------------
    def on_start(self):
        self.access = self.refresh = ""
        self.expires = 0
        self.etags = {}   # path -> ETag of the last 200
        self.task_ids = []   # ids of this user's tasks
        self.pending_plan = None
        self.login()
        self.get_cached("/api/v1/users/me", "GET /users/me")
        r = self.req("GET", "/api/v1/profile", "GET /profile", ok=(200, 404))
        if r is not None and r.status_code == 404:
            self.req("PUT", "/api/v1/profile", "PUT /profile", body=PROFILE)
        self.list_tasks_page()

    def get_cached(self, path, name):
        tag = self.etags.get(path)
        r = self.req("GET", path, name, ok=(200, 304), headers={"If-None-Match": tag} if tag else None)
        if r is not None and r.status_code == 200:
            self.etags[path] = r.headers.get("ETag")
        return r

    def list_tasks_page(self):
        r = self.get_cached("/api/v1/tasks?limit=10", "GET /tasks")
        if r is not None and r.status_code == 200:
            page = r.json()
            self.task_ids = [t["id"] for t in page["items"] if t["status"] != "done"] or self.task_ids
            self.etags["cursor"] = page["next_cursor"]
        return r

    @task(30)
    def list_tasks(self):
        self.list_tasks_page()
        cursor = self.etags.get("cursor")
        if cursor and random.random() < 0.3:
            for _ in range(random.randint(1, 2)):
                r = self.req("GET", "/api/v1/tasks?limit=10&cursor=" + cursor, "GET /tasks?cursor")
                if r is None:
                    break
                cursor = r.json()["next_cursor"]
                if not cursor:
                    break

    @task(10)
    def one_task(self):
        if self.task_ids:
            self.get_cached("/api/v1/tasks/%d" % random.choice(self.task_ids), "GET /tasks/{id}")

    @task(10)
    def create_task(self):
        body = {"title": "buy %s" % random.choice(["milk", "shoes", "bands", "oats"]),
                "priority": random.randint(0, 3), "due_date": "2027-01-%02d" % random.randint(1, 28)}
        r = self.req("POST", "/api/v1/tasks", "POST /tasks", ok=(201,), body=body,
                     headers={"Idempotency-Key": uuid.uuid4().hex})
        if r is not None:
            t = r.json()
            self.task_ids.append(t["id"])
            self.etags["/api/v1/tasks/%d" % t["id"]] = r.headers.get("ETag")

    def patch_task(self, body, name):
        if not self.task_ids:
            return
        tid = random.choice(self.task_ids)
        path = "/api/v1/tasks/%d" % tid
        tag = self.etags.get(path)
        r = self.req("PATCH", path, name, ok=(200, 412), body=body,
                     headers={"If-Match": tag} if tag else None)
        if r is None:
            return
        if r.status_code == 412:
            self.etags.pop(path, None)
            self.get_cached(path, "GET /tasks/{id}")
            return
        self.etags[path] = r.headers.get("ETag")
        if body.get("status") == "done":
            self.task_ids.remove(tid)

    @task(8)
    def update_task(self):
        self.patch_task({"title": "task %d" % random.randint(1, 999), "priority": random.randint(0, 3)},
                        "PATCH /tasks/{id}")

    @task(6)
    def complete_task(self):
        self.patch_task({"status": "done"}, "PATCH /tasks/{id} done")

    @task(10)
    def profile(self):
        self.get_cached("/api/v1/profile", "GET /profile")

    @task(5)
    def me(self):
        self.get_cached("/api/v1/users/me", "GET /users/me")

    @task(3)
    def plans(self):
        if self.pending_plan:
            r = self.req("GET", "/api/v1/plans/%d" % self.pending_plan, "GET /plans/{id}")
            if r is not None and r.json()["state"] in ("ready", "failed"):
                self.pending_plan = None
        else:
            self.get_cached("/api/v1/plans?limit=10", "GET /plans")

    @task(1)
    def new_plan(self):
        if self.pending_plan:
            return
        r = self.req("POST", "/api/v1/plans", "POST /plans", ok=(202,),
                     body={"kind": random.choice(["workout", "nutrition"]), "weeks": 4},
                     headers={"Idempotency-Key": uuid.uuid4().hex})
        if r is not None:
            self.pending_plan = r.json()["id"]
