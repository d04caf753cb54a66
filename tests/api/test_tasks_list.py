"""GET /api/v1/tasks: pages of the documented shape (docs/api.md), every sort and filter
checked against a model, keyset cursors (opaque, signed, bound to the user,
the filters and the sort; tampered ones refused), walking every page while
tasks are added, page ETags, and query parameters that are not valid."""

import base64
import json
import random

import pytest
import requests

from harness import assert_problem
from helpers import (BASE_ENV, check_task, create_task, create_task_ok, delete_task, list_tasks, new_token, parallel,
                     patch_task)

SORTS = ["-created_at", "created_at", "due_date", "-due_date", "-priority"]
STATUSES = ["todo", "in_progress", "done"]


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env=BASE_ENV)


@pytest.fixture(scope="module")
def world(srv):
    """A user with 60 varied tasks (and their model), plus a user with a few."""
    rnd = random.Random(6)
    token = new_token(srv)
    made = []
    for i in range(60):
        body = {"title": f"task {i}", "status": rnd.choice(STATUSES), "priority": rnd.randrange(4)}
        if rnd.random() < 0.7:
            body["due_date"] = f"2027-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}"
        made.append(body)
    # Some concurrency, so that several tasks may share a created_at.
    results = parallel(6, lambda k: [create_task(srv, token, made[j]) for j in range(k, 60, 6)])
    tasks = []
    for rs in results:
        for r in rs:
            assert r.status_code == 201, r.text
            tasks.append(r.json())
    other = new_token(srv)
    for i in range(3):
        create_task_ok(srv, other, title=f"other {i}")
    return {"token": token, "tasks": tasks, "other": other}


def model(tasks, sort="-created_at", status=None, priority=None, due_before=None, due_after=None):
    rows = list(tasks)
    if status is not None:
        rows = [t for t in rows if t["status"] in status.split(",")]
    if priority is not None:
        rows = [t for t in rows if t["priority"] == int(priority)]
    if due_before is not None:
        rows = [t for t in rows if t["due_date"] is not None and t["due_date"] < due_before]
    if due_after is not None:
        rows = [t for t in rows if t["due_date"] is not None and t["due_date"] > due_after]

    def due_key(t):
        return t["due_date"] if t["due_date"] is not None else "9999-99-99"  # no due date: +infinity

    keys = {
        "-created_at": (lambda t: (t["created_at"], t["id"]), True),
        "created_at": (lambda t: (t["created_at"], t["id"]), False),
        "due_date": (lambda t: (due_key(t), t["id"]), False),
        "-due_date": (lambda t: (due_key(t), t["id"]), True),
        "-priority": (lambda t: (t["priority"], t["created_at"], t["id"]), True),
    }
    key, rev = keys[sort]
    return sorted(rows, key=key, reverse=rev)


def walk(srv, token, limit, **params):
    """Every page in order; returns (items, pages)."""
    items, pages, cursor = [], 0, None
    while True:
        q = {"limit": limit, **params}
        if cursor:
            q["cursor"] = cursor
        r = list_tasks(srv, token, q)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert isinstance(cursor, str) and len(body["items"]) == limit
        assert pages < 200


# ---------------------------------------------------------------- shape and defaults

def test_first_page_shape_and_defaults(srv, world):
    r = list_tasks(srv, world["token"])
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"items", "next_cursor"}
    assert len(body["items"]) == 20  # default limit
    for t in body["items"]:
        check_task(t)
    assert [t["id"] for t in body["items"]] == [t["id"] for t in model(world["tasks"])[:20]]
    assert isinstance(body["next_cursor"], str) and body["next_cursor"]
    assert "=" not in body["next_cursor"] and "+" not in body["next_cursor"] and "/" not in body["next_cursor"]


def test_empty_list_and_exact_last_page(srv):
    token = new_token(srv)
    assert list_tasks(srv, token).json() == {"items": [], "next_cursor": None}
    made = [create_task_ok(srv, token, title=f"t{i}") for i in range(4)]
    body = list_tasks(srv, token, {"limit": 4}).json()
    assert len(body["items"]) == 4 and body["next_cursor"] is None  # no empty page after an exact fit
    body = list_tasks(srv, token, {"limit": 3}).json()
    assert body["next_cursor"] is not None
    last = list_tasks(srv, token, {"limit": 3, "cursor": body["next_cursor"]}).json()
    assert [t["id"] for t in last["items"]] == [made[0]["id"]] and last["next_cursor"] is None


def test_limit_bounds(srv, world):
    assert len(list_tasks(srv, world["token"], {"limit": 1}).json()["items"]) == 1
    body = list_tasks(srv, world["token"], {"limit": 100}).json()
    assert len(body["items"]) == 60 and body["next_cursor"] is None


def test_only_the_users_own_tasks(srv, world):
    mine = {t["id"] for t in walk(srv, world["token"], 100)[0]}
    assert mine == {t["id"] for t in world["tasks"]}
    theirs = walk(srv, world["other"], 100)[0]
    assert len(theirs) == 3 and mine.isdisjoint({t["id"] for t in theirs})


# ---------------------------------------------------------------- sorts and filters against the model

FILTERS = [
    {},
    {"status": "todo"},
    {"status": "done,in_progress"},
    {"status": "todo,in_progress,done"},
    {"priority": "2"},
    {"priority": "0", "status": "todo"},
    {"due_before": "2027-06-15"},
    {"due_after": "2027-03-01"},
    {"due_after": "2027-02-01", "due_before": "2027-10-01", "status": "todo,done"},
    {"due_after": "2027-02-01", "due_before": "2027-10-01", "priority": "1"},
    {"due_before": "2027-01-01", "due_after": "2027-12-31"},  # empty
]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "none")
def test_sorts_and_filters_match_the_model(srv, world, sort, filters):
    want = model(world["tasks"], sort, **filters)
    for limit in (7, 100):
        got, pages = walk(srv, world["token"], limit, sort=sort, **filters)
        assert [t["id"] for t in got] == [t["id"] for t in want], (sort, filters, limit)
        assert pages == max(1, -(-len(want) // limit))
    assert got == want  # the full rows, too


def test_tasks_without_due_date_sort_as_latest(srv, world):
    asc = walk(srv, world["token"], 100, sort="due_date")[0]
    desc = walk(srv, world["token"], 100, sort="-due_date")[0]
    nulls = [t for t in asc if t["due_date"] is None]
    assert nulls and asc[-len(nulls):] == nulls and desc[:len(nulls)] == nulls[::-1]


# ---------------------------------------------------------------- invalid parameters

@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "101"}, {"limit": "-1"}, {"limit": "abc"}, {"limit": ""}, {"limit": "1.5"},
    {"limit": "1000"}, {"limit": " 5"},
    {"sort": "title"}, {"sort": "-created"}, {"sort": ""}, {"sort": "priority"}, {"sort": "+created_at"},
    {"status": "open"}, {"status": ""}, {"status": "todo,"}, {"status": ",todo"}, {"status": "TODO"},
    {"status": "todo,,done"},
    {"priority": "4"}, {"priority": "-1"}, {"priority": "x"}, {"priority": ""}, {"priority": "01"},
    {"due_before": "2027-02-30"}, {"due_before": "tomorrow"}, {"due_before": ""},
    {"due_after": "2027-1-1"}, {"due_after": "2027-01-01T00:00:00Z"},
])
def test_invalid_parameters_are_400(srv, world, params):
    body = assert_problem(list_tasks(srv, world["token"], params), 400, "invalid_parameter")
    assert body["detail"].startswith(next(iter(params)))


def test_unknown_parameters_are_ignored(srv, world):
    r = list_tasks(srv, world["token"], {"limit": 2, "utm_source": "x"})
    assert r.status_code == 200 and len(r.json()["items"]) == 2


# ---------------------------------------------------------------- cursors

def first_cursor(srv, token, **params):
    body = list_tasks(srv, token, {"limit": 5, **params}).json()
    assert body["next_cursor"]
    return body["next_cursor"]


def test_cursor_is_bound_to_the_user(srv, world):
    cur = first_cursor(srv, world["token"])
    assert_problem(list_tasks(srv, world["other"], {"limit": 5, "cursor": cur}), 400, "invalid_cursor")
    # A brand-new user who has no tasks at all cannot use it either.
    assert_problem(list_tasks(srv, new_token(srv), {"cursor": cur}), 400, "invalid_cursor")


@pytest.mark.parametrize("made_with,used_with", [
    ({}, {"sort": "created_at"}),
    ({"sort": "due_date"}, {"sort": "-due_date"}),
    ({"sort": "-priority"}, {}),
    ({}, {"status": "todo"}),
    ({"status": "todo"}, {}),
    ({"status": "todo"}, {"status": "done"}),
    ({"status": "todo"}, {"status": "todo,done"}),
    ({"priority": "1"}, {"priority": "2"}),
    ({"priority": "1"}, {}),
    ({"due_before": "2027-10-01"}, {"due_before": "2027-10-02"}),
    ({"due_after": "2027-01-01"}, {"due_before": "2027-01-01"}),
    ({"due_after": "2027-01-01"}, {"due_after": "2027-01-01", "sort": "due_date"}),
])
def test_cursor_is_bound_to_filters_and_sort(srv, world, made_with, used_with):
    cur = first_cursor(srv, world["token"], **made_with)
    assert_problem(list_tasks(srv, world["token"], {"limit": 5, "cursor": cur, **used_with}), 400, "invalid_cursor")
    # With the same filters and sort it works, whatever the limit.
    assert list_tasks(srv, world["token"], {"limit": 9, "cursor": cur, **made_with}).status_code == 200


def test_same_filter_written_differently_is_the_same_filter(srv, world):
    cur = first_cursor(srv, world["token"], status="todo,done")
    r = list_tasks(srv, world["token"], {"limit": 5, "cursor": cur, "status": "done,todo"})
    assert r.status_code == 200


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def test_tampered_and_malformed_cursors(srv, world):
    token = world["token"]
    cur = first_cursor(srv, token)
    raw = b64d(cur)
    bad = [
        "", "x", "null", "0", cur[:-1], cur + "A", cur[1:], cur.upper(), cur.lower(), cur + "=", cur[::-1],
        "A" * len(cur), "%00" * 10, "." * len(cur), cur[:10] + "*" + cur[11:], "a" * 4000,
        b64e(raw[:-1] + bytes([raw[-1] ^ 1])),      # one bit of the tag
        b64e(bytes([raw[0] ^ 1]) + raw[1:]),        # the version
        b64e(raw[:5] + bytes([raw[5] ^ 0x40]) + raw[6:]),  # the position
        b64e(raw[:-16] + bytes(16)),                # tag zeroed
        b64e(raw + b"\0"),
        b64e(raw[:-1]),
        base64.b64encode(raw).decode(),             # standard alphabet, padded
    ]
    for c in bad:
        if c == cur:
            continue
        body = assert_problem(list_tasks(srv, token, {"limit": 5, "cursor": c}), 400, "invalid_cursor")
        assert "cursor" in body["detail"]
    assert list_tasks(srv, token, {"limit": 5, "cursor": cur}).status_code == 200


def test_cursors_are_opaque(srv, world):
    cur = first_cursor(srv, world["token"])
    raw = b64d(cur)
    assert b"created" not in raw
    # Not JSON (a stray b"{" among the MAC's random bytes is not a failure).
    with pytest.raises(ValueError):
        json.loads(raw)


# ---------------------------------------------------------------- consistency under writes

@pytest.mark.parametrize("sort", SORTS)
def test_walking_while_tasks_are_added_returns_each_existing_task_once(srv, sort):
    token = new_token(srv)
    rnd = random.Random(sort)
    before = [create_task_ok(srv, token, title=f"pre {i}", priority=rnd.randrange(4),
                        due_date=f"2027-05-{rnd.randrange(1, 29):02d}" if i % 3 else None) for i in range(45)]
    seen, cursor, pages, added = [], None, 0, 0
    while True:
        q = {"limit": 6, "sort": sort}
        if cursor:
            q["cursor"] = cursor
        body = list_tasks(srv, token, q).json()
        seen += [t["id"] for t in body["items"]]
        pages += 1
        # Writers add tasks of every kind between pages (and delete none).
        for _ in range(3):
            create_task_ok(srv, token, title=f"new {added}", priority=rnd.randrange(4),
                      due_date=f"2027-05-{rnd.randrange(1, 29):02d}" if added % 2 else None)
            added += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 100
    assert len(seen) == len(set(seen)), "a task was returned twice"
    missing = {t["id"] for t in before} - set(seen)
    assert not missing, f"pre-existing tasks skipped: {missing}"


def test_page_after_the_last_row_was_deleted(srv):
    token = new_token(srv)
    made = [create_task_ok(srv, token, title=f"t{i}") for i in range(6)]
    body = list_tasks(srv, token, {"limit": 3}).json()
    # The row the cursor points after is gone: the next page still follows it.
    assert delete_task(srv, token, body["items"][-1]["id"]).status_code == 204
    nxt = list_tasks(srv, token, {"limit": 3, "cursor": body["next_cursor"]}).json()
    assert [t["id"] for t in nxt["items"]] == [t["id"] for t in made[:3]][::-1]


# ---------------------------------------------------------------- ETags of pages

def test_page_etag_and_304(srv):
    token = new_token(srv)
    made = [create_task_ok(srv, token, title=f"t{i}") for i in range(5)]
    r = list_tasks(srv, token, {"limit": 3})
    etag = r.headers["ETag"]
    assert etag.startswith('W/"') and "private" in r.headers["Cache-Control"]
    r2 = list_tasks(srv, token, {"limit": 3}, headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["ETag"] == etag
    # Another page, limit or filter has another tag.
    assert list_tasks(srv, token, {"limit": 4}).headers["ETag"] != etag
    assert list_tasks(srv, token, {"limit": 3, "cursor": r.json()["next_cursor"]}).headers["ETag"] != etag
    # A change to a task on the page changes the tag.
    patch_task(srv, token, made[4]["id"], {"status": "done"})
    r3 = list_tasks(srv, token, {"limit": 3}, headers={"If-None-Match": etag})
    assert r3.status_code == 200 and r3.headers["ETag"] != etag
    assert r3.json()["items"][0]["status"] == "done"
    etag = r3.headers["ETag"]
    # So does a new task that enters the page.
    create_task_ok(srv, token, title="newest")
    r4 = list_tasks(srv, token, {"limit": 3}, headers={"If-None-Match": etag})
    assert r4.status_code == 200 and r4.json()["items"][0]["title"] == "newest"
    # And a page that loses its next page (the tag covers next_cursor).
    p5 = list_tasks(srv, token, {"limit": 5})
    assert p5.json()["next_cursor"] is not None
    delete_task(srv, token, made[0]["id"])
    r6 = list_tasks(srv, token, {"limit": 5}, headers={"If-None-Match": p5.headers["ETag"]})
    assert r6.status_code == 200 and r6.json()["next_cursor"] is None
    assert r6.json()["items"] == p5.json()["items"]
    # The same empty list of two users: equal tags are harmless, each sees only its own.
    empty = list_tasks(srv, new_token(srv))
    assert list_tasks(srv, new_token(srv), headers={"If-None-Match": empty.headers["ETag"]}).status_code == 304


def test_list_needs_a_token(srv):
    r = requests.get(srv.url + "/api/v1/tasks", timeout=30)
    assert_problem(r, 401, "unauthorized")
