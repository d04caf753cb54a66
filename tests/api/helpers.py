"""Client-side helpers shared by the API test modules: the suite's settings,
accounts and tokens, and one short call per request that several modules
make. harness.py starts the server; this module talks to it as a client.

Every helper used by more than one test module lives here, once; a test
module imports from here (and from harness), never from another test
module. Helpers that one module alone needs stay in that module.
"""

import concurrent.futures
import itertools
import re
import threading
import time

import jwt
import requests

from harness import DEV, RFC3339_MS_Z_RE, assert_problem

# ---------------------------------------------------------------- settings

SECRET = "test-secret-0123456789abcdef0123456789abcdef"
PASSWORD = "umbrella-quarterly-lantern-42"
# Cheap hashing for the suite; tests about the defaults set their own.
FAST = {"PACE_ARGON2_MEMORY_KIB": "8192", "PACE_ARGON2_ITERATIONS": "1"}
BASE_ENV = {**DEV, **FAST, "PACE_JWT_SECRET": SECRET, "PACE_RATE_LIMITS": "off",
            "PACE_MAX_QUEUED_JOBS_PER_USER": "0"}

USER_KEYS = {"id", "username", "email", "email_verified", "mfa_enabled", "created_at", "updated_at"}
PAIR_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"}

TASKS = "/api/v1/tasks"
TASK_KEYS = {"id", "title", "description", "status", "priority", "due_date", "plan_id", "created_at",
             "updated_at"}

PLANS = "/api/v1/plans"
# A complete fitness profile, enough for every plan kind.
PROFILE = {
    "sex": "male", "birth_date": "1995-03-14", "height_cm": 180, "weight_kg": 80,
    "activity_level": "moderate", "goal": "lose_fat", "experience": "intermediate",
    "days_per_week": 3, "session_minutes": 45, "equipment": "dumbbells", "diet": "pescatarian",
    "meals_per_day": 4, "exclude_foods": ["tuna", "peanuts", "Dairy"],
}

_names = itertools.count(1)


# ---------------------------------------------------------------- requests

def unique_name(prefix="user"):
    return f"{prefix}{int(time.time() * 1000) % 100000000}{next(_names)}"


def auth(token, headers=None):
    """The Authorization header for `token`, merged with `headers`."""
    return {"Authorization": f"Bearer {token}", **(headers or {})}


def post(srv, path, body=None, token=None, headers=None, **kw):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    return requests.post(srv.url + path, json=body, headers=h, timeout=30, **kw)


def get(srv, path, token=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    return requests.get(srv.url + path, headers=h, timeout=30)


def errors_of(r):
    """The (field, code) pairs of a 422 validation_failed problem."""
    body = assert_problem(r, 422, "validation_failed")
    return {(e["field"], e["code"]) for e in body["errors"]}


def parallel(n, fn):
    """Runs fn(i) in n threads released at once; returns the results in order."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(run, range(n)))


def xff(ip):
    return {"X-Forwarded-For": ip}


# ---------------------------------------------------------------- accounts

def register(srv, username=None, email=None, password=PASSWORD, headers=None):
    """Registers a user; returns (response, username, email)."""
    username = username or unique_name()
    email = email or f"{username}@example.com"
    r = post(srv, "/api/v1/auth/register", {"username": username, "email": email, "password": password},
             headers=headers)
    return r, username, email


def login(srv, login_name, password=PASSWORD, headers=None):
    return post(srv, "/api/v1/auth/login", {"login": login_name, "password": password}, headers=headers)


def new_user(srv, headers=None):
    """A registered, logged-in user: dict with id, username, email, access, refresh."""
    r, username, email = register(srv, headers=headers)
    assert r.status_code == 201, r.text
    r2 = login(srv, username, headers=headers)
    assert r2.status_code == 200, r2.text
    pair = r2.json()
    return {"id": r.json()["id"], "username": username, "email": email,
            "access": pair["access_token"], "refresh": pair["refresh_token"]}


def new_token(srv, profile=None):
    """A fresh user's access token; the user gets `profile` unless it is None."""
    token = new_user(srv)["access"]
    if profile is not None:
        r = requests.put(srv.url + "/api/v1/profile", json=profile, headers=auth(token), timeout=30)
        assert r.status_code == 200, r.text
    return token


def refresh(srv, token, headers=None):
    return post(srv, "/api/v1/auth/refresh", {"refresh_token": token}, headers=headers)


def me(srv, token):
    return get(srv, "/api/v1/users/me", token=token)


def assert_unauthorized(r, code="unauthorized"):
    body = assert_problem(r, 401, code)
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers
    return body


def assert_pair(r):
    assert r.status_code == 200, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    body = r.json()
    assert set(body) == PAIR_KEYS, body
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert isinstance(body["refresh_expires_in"], int) and body["refresh_expires_in"] > 0
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 43
    return body


def claims_of(token):
    return jwt.decode(token, SECRET, algorithms=["HS256"], audience="pace", issuer="pace")


# ---------------------------------------------------------------- tasks

def create_task(srv, token, body, headers=None):
    return requests.post(srv.url + TASKS, json=body, headers=auth(token, headers), timeout=30)


def create_task_ok(srv, token, **fields):
    body = {"title": "a task", **fields}
    r = create_task(srv, token, body)
    assert r.status_code == 201, r.text
    return r.json()


def get_task(srv, token, task_id, headers=None):
    return requests.get(f"{srv.url}{TASKS}/{task_id}", headers=auth(token, headers), timeout=30)


def patch_task(srv, token, task_id, body, headers=None):
    return requests.patch(f"{srv.url}{TASKS}/{task_id}", json=body, headers=auth(token, headers), timeout=30)


def delete_task(srv, token, task_id, headers=None):
    return requests.delete(f"{srv.url}{TASKS}/{task_id}", headers=auth(token, headers), timeout=30)


def list_tasks(srv, token, params=None, headers=None):
    return requests.get(srv.url + TASKS, params=params, headers=auth(token, headers), timeout=30)


def all_tasks(srv, token):
    """Every task of the user, walking next_cursor 100 at a time."""
    out, cursor = [], None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        r = requests.get(srv.url + TASKS, params=params, headers=auth(token), timeout=30)
        assert r.status_code == 200, r.text
        out += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return out


def check_task(t):
    assert set(t) == TASK_KEYS, t
    assert isinstance(t["id"], int) and t["id"] > 0
    assert isinstance(t["title"], str)
    assert t["description"] is None or isinstance(t["description"], str)
    assert t["status"] in ("todo", "in_progress", "done")
    assert isinstance(t["priority"], int) and 0 <= t["priority"] <= 3
    assert t["due_date"] is None or isinstance(t["due_date"], str)
    assert t["plan_id"] is None or isinstance(t["plan_id"], int)
    assert RFC3339_MS_Z_RE.match(t["created_at"]) and RFC3339_MS_Z_RE.match(t["updated_at"])
    assert t["updated_at"] >= t["created_at"]


# The PostgreSQL fault and pool tests: a user with one task, and the two
# task reads they probe (short client timeouts: the server must answer fast).

def new_user_with_task(srv):
    """new_user plus one task; its id under "task"."""
    user = new_user(srv)
    r = requests.post(srv.url + TASKS, json={"title": "before the fault"}, timeout=10,
                      headers=auth(user["access"]))
    assert r.status_code == 201, r.text
    user["task"] = r.json()["id"]
    return user


def task_list(srv, user):
    return requests.get(srv.url + TASKS + "?limit=5", timeout=10, headers=auth(user["access"]))


def task_get(srv, user):
    return requests.get(srv.url + f"{TASKS}/{user['task']}", timeout=10, headers=auth(user["access"]))


# ---------------------------------------------------------------- plans

def create_plan(srv, token, body, headers=None):
    return requests.post(srv.url + PLANS, json=body, headers=auth(token, headers), timeout=30)


def create_plan_ok(srv, token, **body):
    body.setdefault("kind", "workout")
    r = create_plan(srv, token, body)
    assert r.status_code == 202, r.text
    return r.json()


def get_plan(srv, token, plan_id, headers=None):
    return requests.get(f"{srv.url}{PLANS}/{plan_id}", headers=auth(token, headers), timeout=30)


def list_plans(srv, token, params=None, headers=None):
    return requests.get(srv.url + PLANS, params=params, headers=auth(token, headers), timeout=30)


def wait_plan(srv, token, plan_id, timeout=60, states=("ready", "failed")):
    """Polls the plan until its state is one of `states`; returns (plan, the states seen in order)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        r = get_plan(srv, token, plan_id)
        assert r.status_code == 200, r.text
        p = r.json()
        if not seen or seen[-1] != p["state"]:
            seen.append(p["state"])
        if p["state"] in states:
            return p, seen
        if time.monotonic() > deadline:
            raise AssertionError(f"plan {plan_id} still {p['state']} after {timeout}s (seen {seen})")
        time.sleep(0.02)


def all_plans(srv, token, params=None):
    """Every plan of the user, walking next_cursor."""
    items, cursor = [], None
    params = dict(params or {})
    for _ in range(1000):
        q = dict(params, **({"cursor": cursor} if cursor else {}))
        r = list_plans(srv, token, q)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("too many pages")


# ---------------------------------------------------------------- mail
# With the SMTP sink of smtp_sink.py (its `smtp` fixture): a server that
# sends there (mail_env), and the messages one address received. Each test
# uses addresses of its own, so what reached an address is that test's.

PUBLIC_URL = "https://pace.example.test"
VERIFY_SUBJECT = "Confirm your email address"
RESET_SUBJECT = "Reset your pace password"
PASSWORD_CHANGED_SUBJECT = "Your pace password was changed"
EMAIL_CHANGED_SUBJECT = "Your pace email address was changed"
LINK_TOKEN_RE = re.compile(r"#token=([A-Za-z0-9_-]{43})")


def mail_env(smtp, **extra):
    """BASE_ENV sending mail to the sink, links under PUBLIC_URL."""
    return {**BASE_ENV, "PACE_SMTP_URL": smtp.url, "PACE_PUBLIC_URL": PUBLIC_URL, **extra}


def mails(smtp, to, subject=None):
    """The messages to `to` so far (subject: those whose subject starts so), in arrival order."""
    return [m for m in smtp.to(to) if subject is None or m.subject.startswith(subject)]


def wait_mails(smtp, to, subject=None, n=1, timeout=15.0):
    """Waits until `to` has at least n messages (of subject); returns them all."""
    return smtp.wait_count(n, timeout=timeout,
                           predicate=lambda m: to in m.to and (subject is None or m.subject.startswith(subject)))


def link_token(m):
    """The token of the #token= link in a message's text part."""
    found = LINK_TOKEN_RE.search(m.text or "")
    assert found, f"no #token= link in {m!r}:\n{m.text}"
    return found.group(1)


def new_token_mail(smtp, to, subject, known, timeout=15.0):
    """Waits for a message to `to` of subject whose link token is not in
    `known` (tokens already seen); returns that token."""
    m = smtp.wait_for(lambda m: to in m.to and m.subject.startswith(subject) and
                      LINK_TOKEN_RE.search(m.text or "") is not None and
                      LINK_TOKEN_RE.search(m.text).group(1) not in known, timeout=timeout)
    return link_token(m)


def verify_token(smtp, to, timeout=15.0):
    """The token of the first verification link sent to `to` (registration's)."""
    return link_token(wait_mails(smtp, to, VERIFY_SUBJECT, timeout=timeout)[0])


def verify_email(srv, token):
    return post(srv, "/api/v1/auth/verify-email", {"token": token})


def register_and_verify(srv, smtp, headers=None):
    """A registered user whose address is verified with the link
    registration sent, then logged in: new_user's dict."""
    r, username, email = register(srv, headers=headers)
    assert r.status_code == 201, r.text
    v = verify_email(srv, verify_token(smtp, email))
    assert v.status_code == 204, v.text
    r2 = login(srv, username, headers=headers)
    assert r2.status_code == 200, r2.text
    pair = r2.json()
    return {"id": r.json()["id"], "username": username, "email": email,
            "access": pair["access_token"], "refresh": pair["refresh_token"]}


# ---------------------------------------------------------------- security events

def security_events(srv, event=None):
    """The server's security log lines (component "security"), of one event when given."""
    return [x for x in srv.log_lines()
            if x.get("component") == "security" and (event is None or x.get("event") == event)]


def wait_security_event(srv, event, request_id=None, timeout=15.0):
    """Waits for a security event (of the request when given); returns its line."""
    found = []

    def seen():
        found[:] = [x for x in security_events(srv, event)
                    if request_id is None or x.get("request_id") == request_id]
        return bool(found)

    deadline = time.monotonic() + timeout
    while not seen():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {event} event (request {request_id}) within {timeout}s")
        time.sleep(0.05)
    return found[0]
