"""Tasks: create, read, update, delete with the documented validation, Location
and ETags, If-None-Match (304) and If-Match (412, and two devices racing),
another user's task (404 for every verb), ids that are not positive integers,
request bodies that are too large, of the wrong type or malformed, and
durability across SIGKILL."""

import signal
import time

import pytest
import requests

from harness import RawConn, assert_problem, check_problem_body, raw_request
from helpers import (BASE_ENV, TASKS, auth, check_task, create_task, create_task_ok, delete_task,
                     errors_of, get_task, list_tasks, new_token, parallel, patch_task)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env=BASE_ENV)


@pytest.fixture(scope="module")
def token(srv):
    return new_token(srv)


# ---------------------------------------------------------------- create and read

def test_create_with_defaults(srv, token):
    r = create_task(srv, token, {"title": "Buy milk"})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    t = r.json()
    check_task(t)
    assert t["title"] == "Buy milk"
    assert (t["description"], t["status"], t["priority"], t["due_date"], t["plan_id"]) == (None, "todo", 0, None,
                                                                                          None)
    assert t["created_at"] == t["updated_at"]
    assert r.headers["Location"] == f"{TASKS}/{t['id']}"
    assert r.headers["ETag"] == f'W/"t{t["id"]}-v1"'
    g = requests.get(srv.url + r.headers["Location"], headers=auth(token), timeout=30)
    assert g.status_code == 200 and g.json() == t
    assert g.headers["ETag"] == r.headers["ETag"]
    assert "private" in g.headers["Cache-Control"]


def test_create_with_every_field(srv, token):
    body = {"title": "Run 5 km", "description": "easy pace\nthen stretch", "status": "in_progress",
            "priority": 3, "due_date": "2028-02-29"}
    t = create_task_ok(srv, token, **body)
    check_task(t)
    for k, v in body.items():
        assert t[k] == v, k
    assert get_task(srv, token, t["id"]).json() == t


def test_unicode_and_escapes_round_trip(srv, token):
    title = 'naïve "quotes" \\ back\tslash ünïcödé 🏃' + "\u0001"
    t = create_task_ok(srv, token, title=title, description="line\r\nbreak </script>")
    assert t["title"] == title
    assert get_task(srv, token, t["id"]).json()["title"] == title


@pytest.mark.parametrize("body,expected", [
    ({}, ("title", "required")),
    ({"title": ""}, ("title", "too_short")),
    ({"title": "x" * 201}, ("title", "too_long")),
    ({"title": "é" * 201}, ("title", "too_long")),
    ({"title": None}, ("title", "null_not_allowed")),
    ({"title": 5}, ("title", "wrong_type")),
    ({"title": ["x"]}, ("title", "wrong_type")),
    ({"title": "ok", "description": "d" * 10001}, ("description", "too_long")),
    ({"title": "ok", "description": 1}, ("description", "wrong_type")),
    ({"title": "ok", "status": "DONE"}, ("status", "not_allowed")),
    ({"title": "ok", "status": None}, ("status", "null_not_allowed")),
    ({"title": "ok", "priority": 4}, ("priority", "out_of_range")),
    ({"title": "ok", "priority": -1}, ("priority", "out_of_range")),
    ({"title": "ok", "priority": "1"}, ("priority", "wrong_type")),
    ({"title": "ok", "priority": 1.5}, ("priority", "wrong_type")),
    ({"title": "ok", "priority": True}, ("priority", "wrong_type")),
    ({"title": "ok", "priority": None}, ("priority", "null_not_allowed")),
    ({"title": "ok", "due_date": "2026-02-29"}, ("due_date", "invalid_date")),
    ({"title": "ok", "due_date": "2026-1-1"}, ("due_date", "invalid_date")),
    ({"title": "ok", "due_date": "2026-01-01T00:00:00Z"}, ("due_date", "invalid_date")),
    ({"title": "ok", "due_date": 20260101}, ("due_date", "wrong_type")),
    ({"title": "ok", "id": 7}, ("id", "unknown_field")),
    ({"title": "ok", "plan_id": 7}, ("plan_id", "unknown_field")),
    ({"title": "ok", "user_id": 1}, ("user_id", "unknown_field")),
    ({"title": "ok", "created_at": "2026-01-01T00:00:00.000Z"}, ("created_at", "unknown_field")),
    ({"title": "ok", "Title": "typo"}, ("Title", "unknown_field")),
])
def test_create_validation(srv, token, body, expected):
    r = create_task(srv, token, body)
    assert expected in errors_of(r)


def test_create_reports_every_field_at_once(srv, token):
    r = create_task(srv, token, {"title": "", "priority": 9, "status": "x", "extra": 1})
    assert errors_of(r) >= {("title", "too_short"), ("priority", "out_of_range"), ("status", "not_allowed"),
                            ("extra", "unknown_field")}


def test_create_boundaries(srv, token):
    t = create_task_ok(srv, token, title="x" * 200, description="d" * 10000, priority=3)
    assert len(t["title"]) == 200 and len(t["description"]) == 10000
    t = create_task_ok(srv, token, title="🏃" * 200, description="", priority=0, due_date="0001-01-01")
    assert t["title"] == "🏃" * 200 and t["description"] == "" and t["due_date"] == "0001-01-01"
    t = create_task_ok(srv, token, title="y", due_date="9999-12-31", description=None)
    assert t["due_date"] == "9999-12-31" and t["description"] is None
    # A large description is gzip-compressed for clients that accept it.
    r = get_task(srv, token, create_task_ok(srv, token, description="z" * 5000)["id"],
                 headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers.get("Content-Encoding") == "gzip"
    assert r.json()["description"] == "z" * 5000


def test_request_bodies_that_cannot_be_understood(srv, token):
    h = auth(token)
    url = srv.url + TASKS
    r = requests.post(url, data='{"title": "x"}', headers={**h, "Content-Type": "text/plain"}, timeout=30)
    assert_problem(r, 415, "unsupported_media_type")
    r = requests.post(url, data='{"title": "x"}', headers=h, timeout=30)
    assert_problem(r, 415, "unsupported_media_type")
    r = requests.post(url, data='{"title": "x",', headers={**h, "Content-Type": "application/json"}, timeout=30)
    assert_problem(r, 400, "malformed_json")
    r = requests.post(url, data='["x"]', headers={**h, "Content-Type": "application/json"}, timeout=30)
    assert_problem(r, 400, "malformed_json")
    r = requests.post(url, data='{"title": "a", "title": "b"}', headers={**h, "Content-Type": "application/json"},
                      timeout=30)
    assert_problem(r, 400, "malformed_json")
    r = requests.post(url, data=b'{"title": "\xff"}', headers={**h, "Content-Type": "application/json"},
                      timeout=30)
    assert_problem(r, 400, "malformed_json")
    r = requests.post(url, data="", headers={**h, "Content-Type": "application/json"}, timeout=30)
    assert_problem(r, 400, "malformed_json")
    r = requests.patch(url + "/1", data="nope", headers={**h, "Content-Type": "application/json"}, timeout=30)
    assert_problem(r, 400, "malformed_json")
    r = requests.patch(url + "/1", data="{}", headers={**h, "Content-Type": "text/plain"}, timeout=30)
    assert_problem(r, 415, "unsupported_media_type")


def test_body_over_the_limit(make_server):
    """A body over PACE_MAX_BODY_BYTES is 413 body_too_large; one at the limit is fine."""
    limit = 10035  # a body with a description of exactly 10,000 characters
    srv = make_server(env={**BASE_ENV, "PACE_MAX_BODY_BYTES": str(limit)})
    tok = new_token(srv)

    def body_of(size):
        head, tail = '{"title": "big", "description": "', '"}'
        return head + "d" * (size - len(head) - len(tail)) + tail

    r = requests.post(srv.url + TASKS, data=body_of(limit), headers={**auth(tok), "Content-Type": "application/json"},
                      timeout=30)
    assert r.status_code == 201 and len(r.json()["description"]) == 10000
    for size in (limit + 1, 3 * limit):
        with RawConn(srv.port, timeout=5) as c:
            c.send(raw_request("POST", TASKS, {**auth(tok), "Content-Type": "application/json"}, body_of(size)))
            resp = c.read_response()
            assert resp.status == 413, resp
            check_problem_body(resp.json(), 413, "body_too_large", resp.header("x-request-id"))
    assert list_tasks(srv, tok).json()["items"][0]["id"] == r.json()["id"]


def test_every_route_needs_a_token(srv, token):
    t = create_task_ok(srv, token)
    url = f"{srv.url}{TASKS}/{t['id']}"
    for method, u in [("GET", srv.url + TASKS), ("POST", srv.url + TASKS), ("GET", url), ("PATCH", url),
                      ("DELETE", url)]:
        for h in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {token}"}):
            r = requests.request(method, u, json={"title": "x"}, headers=h, timeout=30)
            assert_problem(r, 401, "unauthorized")
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert get_task(srv, token, t["id"]).json() == t


# ---------------------------------------------------------------- ids and other users

@pytest.mark.parametrize("bad", ["0", "-1", "abc", "01", "1.5", "1e3", "+1", "%201", "99999999999999999999",
                                 "9223372036854775808", "9223372036854775807", "1%00"])
def test_ids_that_are_not_tasks_are_404(srv, token, bad):
    url = f"{srv.url}{TASKS}/{bad}"
    for method in ("GET", "PATCH", "DELETE"):
        r = requests.request(method, url, json={"title": "x"}, headers=auth(token), timeout=30)
        assert_problem(r, 404, "not_found")


def test_another_users_task_is_404_for_every_verb(srv, token):
    t = create_task_ok(srv, token, title="mine")
    other = new_token(srv)
    etag = get_task(srv, token, t["id"]).headers["ETag"]
    assert_problem(get_task(srv, other, t["id"]), 404, "not_found")
    assert_problem(get_task(srv, other, t["id"], headers={"If-None-Match": etag}), 404, "not_found")
    assert_problem(patch_task(srv, other, t["id"], {"title": "stolen"}), 404, "not_found")
    assert_problem(patch_task(srv, other, t["id"], {"title": "stolen"}, headers={"If-Match": etag}), 404,
                   "not_found")
    assert_problem(patch_task(srv, other, t["id"], {}), 404, "not_found")
    assert_problem(delete_task(srv, other, t["id"]), 404, "not_found")
    assert_problem(delete_task(srv, other, t["id"], headers={"If-Match": etag}), 404, "not_found")
    assert_problem(delete_task(srv, other, t["id"], headers={"If-Match": "*"}), 404, "not_found")
    # A deleted task and one that never existed look the same.
    assert get_task(srv, token, t["id"]).json() == t
    assert all(x["id"] != t["id"] for x in list_tasks(srv, other, {"limit": 100}).json()["items"])


# ---------------------------------------------------------------- update and delete

def test_patch_changes_only_what_is_given(srv, token):
    t = create_task_ok(srv, token, title="before", description="d", priority=1, due_date="2027-01-01")
    time.sleep(0.002)  # updated_at has millisecond resolution
    r = patch_task(srv, token, t["id"], {"title": "after", "status": "done"})
    assert r.status_code == 200, r.text
    u = r.json()
    check_task(u)
    assert (u["title"], u["status"]) == ("after", "done")
    assert (u["description"], u["priority"], u["due_date"], u["created_at"]) == ("d", 1, "2027-01-01",
                                                                                t["created_at"])
    assert u["updated_at"] > t["updated_at"]
    assert r.headers["ETag"] == f'W/"t{t["id"]}-v2"'
    assert get_task(srv, token, t["id"]).json() == u


def test_patch_null_clears_nullable_fields(srv, token):
    t = create_task_ok(srv, token, description="d", due_date="2027-01-01")
    u = patch_task(srv, token, t["id"], {"description": None, "due_date": None}).json()
    assert u["description"] is None and u["due_date"] is None
    u = patch_task(srv, token, t["id"], {"description": "again", "due_date": "2027-03-04", "priority": 2}).json()
    assert (u["description"], u["due_date"], u["priority"]) == ("again", "2027-03-04", 2)


def test_empty_patch_returns_the_task_unchanged(srv, token):
    t = create_task_ok(srv, token)
    r = patch_task(srv, token, t["id"], {})
    assert r.status_code == 200 and r.json() == t
    assert r.headers["ETag"] == f'W/"t{t["id"]}-v1"'
    assert_problem(patch_task(srv, token, t["id"], {}, headers={"If-Match": 'W/"t1-v999"'}), 412,
                   "precondition_failed")


@pytest.mark.parametrize("body,expected", [
    ({"title": None}, ("title", "null_not_allowed")),
    ({"title": ""}, ("title", "too_short")),
    ({"title": "t" * 201}, ("title", "too_long")),
    ({"description": "d" * 10001}, ("description", "too_long")),
    ({"status": None}, ("status", "null_not_allowed")),
    ({"status": "finished"}, ("status", "not_allowed")),
    ({"priority": None}, ("priority", "null_not_allowed")),
    ({"priority": 4}, ("priority", "out_of_range")),
    ({"due_date": "2027-13-01"}, ("due_date", "invalid_date")),
    ({"plan_id": None}, ("plan_id", "unknown_field")),
    ({"id": 1}, ("id", "unknown_field")),
    ({"version": 1}, ("version", "unknown_field")),
])
def test_patch_validation(srv, token, body, expected):
    t = create_task_ok(srv, token)
    assert expected in errors_of(patch_task(srv, token, t["id"], body))
    assert get_task(srv, token, t["id"]).json() == t


def test_delete(srv, token):
    t = create_task_ok(srv, token)
    r = delete_task(srv, token, t["id"])
    assert r.status_code == 204 and r.content == b""
    assert_problem(get_task(srv, token, t["id"]), 404, "not_found")
    assert_problem(delete_task(srv, token, t["id"]), 404, "not_found")
    assert_problem(patch_task(srv, token, t["id"], {"title": "x"}), 404, "not_found")


# ---------------------------------------------------------------- ETags and conditions

def test_if_none_match_on_a_task(srv, token):
    t = create_task_ok(srv, token)
    r = get_task(srv, token, t["id"])
    etag = r.headers["ETag"]
    assert etag.startswith('W/"')
    for inm in (etag, etag[2:], f'"x", {etag}', "*"):
        r = get_task(srv, token, t["id"], headers={"If-None-Match": inm})
        assert r.status_code == 304, inm
        assert r.content == b"" and r.headers["ETag"] == etag
    assert get_task(srv, token, t["id"], headers={"If-None-Match": 'W/"t1-v999"'}).status_code == 200
    patch_task(srv, token, t["id"], {"priority": 2})
    r = get_task(srv, token, t["id"], headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag and r.json()["priority"] == 2


def test_if_match_on_patch(srv, token):
    t = create_task_ok(srv, token)
    v1 = get_task(srv, token, t["id"]).headers["ETag"]
    r = patch_task(srv, token, t["id"], {"title": "v2"}, headers={"If-Match": v1})
    assert r.status_code == 200
    v2 = r.headers["ETag"]
    body = assert_problem(patch_task(srv, token, t["id"], {"title": "lost"}, headers={"If-Match": v1}), 412,
                          "precondition_failed")
    assert body["detail"]
    assert get_task(srv, token, t["id"]).json()["title"] == "v2"
    # Without W/, in a list, or "*": all name the current version.
    assert patch_task(srv, token, t["id"], {"title": "v3"}, headers={"If-Match": v2[2:]}).status_code == 200
    v3 = f'W/"t{t["id"]}-v3"'
    assert patch_task(srv, token, t["id"], {"title": "v4"},
                      headers={"If-Match": f'{v1}, "junk", {v3}'}).status_code == 200
    assert patch_task(srv, token, t["id"], {"title": "v5"}, headers={"If-Match": "*"}).status_code == 200
    for bad in ('"junk"', 'W/"t0-v1"', f'W/"t{t["id"]}-v0"', f'W/"t{t["id"] + 1}-v5"', ""):
        assert_problem(patch_task(srv, token, t["id"], {"title": "no"}, headers={"If-Match": bad}), 412,
                       "precondition_failed")
    assert get_task(srv, token, t["id"]).json()["title"] == "v5"


def test_if_match_on_delete(srv, token):
    t = create_task_ok(srv, token)
    v1 = get_task(srv, token, t["id"]).headers["ETag"]
    patch_task(srv, token, t["id"], {"priority": 1})
    assert_problem(delete_task(srv, token, t["id"], headers={"If-Match": v1}), 412, "precondition_failed")
    assert get_task(srv, token, t["id"]).status_code == 200
    v2 = get_task(srv, token, t["id"]).headers["ETag"]
    assert delete_task(srv, token, t["id"], headers={"If-Match": v2}).status_code == 204
    assert_problem(delete_task(srv, token, t["id"], headers={"If-Match": v2}), 404, "not_found")


def test_two_devices_patch_with_one_if_match(srv, token):
    """Optimistic concurrency: of two PATCHes sent at once with the same
    If-Match, exactly one wins and the other gets 412."""
    for rnd in range(10):
        t = create_task_ok(srv, token)
        etag = get_task(srv, token, t["id"]).headers["ETag"]
        rs = parallel(2, lambda i: patch_task(srv, token, t["id"], {"title": f"device {i}"},
                                              headers={"If-Match": etag}))
        codes = sorted(r.status_code for r in rs)
        assert codes == [200, 412], (rnd, [r.text for r in rs])
        winner = next(r for r in rs if r.status_code == 200)
        assert get_task(srv, token, t["id"]).json() == winner.json()


def test_many_devices_patch_with_one_if_match(srv, token):
    t = create_task_ok(srv, token)
    etag = get_task(srv, token, t["id"]).headers["ETag"]
    rs = parallel(12, lambda i: patch_task(srv, token, t["id"], {"priority": i % 4}, headers={"If-Match": etag}))
    assert sorted(r.status_code for r in rs) == [200] + [412] * 11
    assert get_task(srv, token, t["id"]).json()["updated_at"] >= t["updated_at"]


def test_concurrent_deletes_with_one_if_match(srv, token):
    t = create_task_ok(srv, token)
    etag = get_task(srv, token, t["id"]).headers["ETag"]
    rs = parallel(4, lambda i: delete_task(srv, token, t["id"], headers={"If-Match": etag}))
    codes = sorted(r.status_code for r in rs)
    assert codes[0] == 204 and codes.count(204) == 1 and set(codes[1:]) <= {404, 412}, codes


# ---------------------------------------------------------------- durability

def test_acknowledged_tasks_survive_sigkill(make_server, tmp_path):
    srv = make_server(env=BASE_ENV, tmp_path=tmp_path)
    tok = new_token(srv)
    made = parallel(8, lambda i: create_task(srv, tok, {"title": f"durable {i}", "priority": i % 4}))
    assert all(r.status_code == 201 for r in made)
    made = [r.json() for r in made]
    changed = patch_task(srv, tok, made[0]["id"], {"status": "done"}).json()
    assert delete_task(srv, tok, made[1]["id"]).status_code == 204
    page = list_tasks(srv, tok, {"limit": 3}).json()
    srv.send_signal(signal.SIGKILL)
    assert srv.wait(10) is not None
    srv.kill()

    again = make_server(env=BASE_ENV, tmp_path=tmp_path)
    assert get_task(again, tok, made[0]["id"]).json() == changed
    assert_problem(get_task(again, tok, made[1]["id"]), 404, "not_found")
    for t in made[2:]:
        assert get_task(again, tok, t["id"]).json() == t
    # A cursor given out before the restart still works (same secret).
    r = list_tasks(again, tok, {"limit": 3, "cursor": page["next_cursor"]})
    assert r.status_code == 200 and len(r.json()["items"]) == 3
    assert {x["id"] for x in r.json()["items"]}.isdisjoint({x["id"] for x in page["items"]})
