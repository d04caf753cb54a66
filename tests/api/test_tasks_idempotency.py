"""Idempotency-Key on POST /api/v1/tasks: a retry with the same key and body
replays the first response (status, body, Location, ETag) without creating a
second task, also when the requests arrive at the same moment; another body
with the same key is 422 idempotency_key_reused; keys belong to one user;
a request that failed does not use up its key."""

import signal

import pytest
import requests

from harness import assert_problem
from helpers import BASE_ENV, TASKS, auth, create_task, errors_of, list_tasks, new_token, parallel

KEY_COUNTER = iter(range(1, 1 << 30))


def key():
    return f"key-{next(KEY_COUNTER)}"


def all_ids(srv, token):
    return [t["id"] for t in list_tasks(srv, token, {"limit": 100}).json()["items"]]


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env=BASE_ENV)


def test_same_key_and_body_replays_the_first_response(srv):
    token = new_token(srv)
    k = key()
    first = create_task(srv, token, {"title": "once", "priority": 2}, headers={"Idempotency-Key": k})
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    for _ in range(3):
        again = create_task(srv, token, {"title": "once", "priority": 2}, headers={"Idempotency-Key": k})
        assert again.status_code == 201
        assert again.content == first.content
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["Content-Type"] == first.headers["Content-Type"]
        assert again.headers["Idempotent-Replayed"] == "true"
    assert all_ids(srv, token) == [first.json()["id"]]


def test_the_replay_is_the_first_response_even_after_changes(srv):
    token = new_token(srv)
    k = key()
    first = create_task(srv, token, {"title": "v1"}, headers={"Idempotency-Key": k})
    tid = first.json()["id"]
    requests.patch(f"{srv.url}{TASKS}/{tid}", json={"title": "v2"}, headers=auth(token), timeout=30)
    again = create_task(srv, token, {"title": "v1"}, headers={"Idempotency-Key": k})
    assert again.status_code == 201 and again.json() == first.json()


def test_same_key_with_another_body_is_422(srv):
    token = new_token(srv)
    k = key()
    assert create_task(srv, token, {"title": "a"}, headers={"Idempotency-Key": k}).status_code == 201
    for body in ({"title": "b"}, {"title": "a", "priority": 0}):
        assert_problem(create_task(srv, token, body, headers={"Idempotency-Key": k}), 422, "idempotency_key_reused")
    # The same JSON written differently is another body.
    r = requests.post(srv.url + TASKS, data='{"title":"a"}',
                      headers=auth(token, {"Idempotency-Key": k, "Content-Type": "application/json"}), timeout=30)
    assert r.status_code in (201, 422)
    assert len(all_ids(srv, token)) == 1


def test_keys_belong_to_one_user(srv):
    a, b = new_token(srv), new_token(srv)
    k = key()
    ra = create_task(srv, a, {"title": "same"}, headers={"Idempotency-Key": k})
    rb = create_task(srv, b, {"title": "same"}, headers={"Idempotency-Key": k})
    assert ra.status_code == rb.status_code == 201
    assert ra.json()["id"] != rb.json()["id"]
    assert "Idempotent-Replayed" not in rb.headers
    assert all_ids(srv, a) == [ra.json()["id"]] and all_ids(srv, b) == [rb.json()["id"]]


def test_without_a_key_every_post_creates(srv):
    token = new_token(srv)
    for _ in range(3):
        assert create_task(srv, token, {"title": "same"}).status_code == 201
    assert len(all_ids(srv, token)) == 3


def test_key_length_and_characters(srv):
    token = new_token(srv)
    assert create_task(srv, token, {"title": "x"}, headers={"Idempotency-Key": "k" * 64}).status_code == 201
    assert create_task(srv, token, {"title": "x"}, headers={"Idempotency-Key": "1"}).status_code == 201
    for bad in ("k" * 65, "", "with space", "tab\there", "é"):
        r = requests.post(srv.url + TASKS, json={"title": "x"},
                          headers=auth(token, {"Idempotency-Key": bad.encode("utf-8")}), timeout=30)
        body = assert_problem(r, 400, "invalid_parameter")
        assert "Idempotency-Key" in body["detail"]
    assert len(all_ids(srv, token)) == 2


def test_a_request_that_fails_validation_does_not_use_the_key(srv):
    token = new_token(srv)
    k = key()
    assert ("title", "too_short") in errors_of(create_task(srv, token, {"title": ""}, headers={"Idempotency-Key": k}))
    r = create_task(srv, token, {"title": "fixed"}, headers={"Idempotency-Key": k})
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert all_ids(srv, token) == [r.json()["id"]]


@pytest.mark.parametrize("n", [2, 10])
def test_concurrent_posts_with_one_key_create_one_task(srv, n):
    """The same request sent n times at once: one task; every answer is that
    task's 201 (a duplicate waits for the first and replays it) or the
    documented 409 idempotency_key_in_use when the first takes too long."""
    for rnd in range(5):
        token = new_token(srv)
        k = key()
        rs = parallel(n, lambda i: create_task(srv, token, {"title": f"race {rnd}"}, headers={"Idempotency-Key": k}))
        ok = [r for r in rs if r.status_code == 201]
        for r in rs:
            if r.status_code != 201:
                assert_problem(r, 409, "idempotency_key_in_use")
                assert r.headers["Retry-After"] == "1"
        assert ok, [r.text for r in rs]
        assert len({r.content for r in ok}) == 1
        assert len({r.headers["Location"] for r in ok}) == 1
        assert sum("Idempotent-Replayed" not in r.headers for r in ok) <= 1
        assert all_ids(srv, token) == [ok[0].json()["id"]]


def test_concurrent_posts_with_one_key_and_different_bodies(srv):
    token = new_token(srv)
    k = key()
    rs = parallel(6, lambda i: create_task(srv, token, {"title": f"body {i}"}, headers={"Idempotency-Key": k}))
    codes = sorted(r.status_code for r in rs)
    assert codes.count(201) >= 1 and set(codes) <= {201, 409, 422}, codes
    winners = {r.json()["id"] for r in rs if r.status_code == 201}
    assert len(winners) == 1
    assert all_ids(srv, token) == list(winners)


def test_replay_survives_a_restart(make_server, tmp_path):
    srv = make_server(env=BASE_ENV, tmp_path=tmp_path)
    token = new_token(srv)
    k = key()
    first = create_task(srv, token, {"title": "durable"}, headers={"Idempotency-Key": k})
    assert first.status_code == 201
    srv.send_signal(signal.SIGKILL)
    assert srv.wait(10) is not None
    srv.kill()
    again_srv = make_server(env=BASE_ENV, tmp_path=tmp_path)
    again = create_task(again_srv, token, {"title": "durable"}, headers={"Idempotency-Key": k})
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert all_ids(again_srv, token) == [first.json()["id"]]
