"""The current user: GET/PATCH/DELETE /api/v1/users/me and
POST /api/v1/users/me/password, with ETags, If-Match, unique conflicts,
validation, other sessions ending on a password change, and an account
deletion that takes its tokens and data with it (on every instance)."""

import pytest
import requests

from harness import RFC3339_MS_Z_RE, assert_problem, wait_until
from helpers import (BASE_ENV, PASSWORD, USER_KEYS, assert_pair, assert_unauthorized, claims_of, errors_of, get,
                     login, me, new_user, post, refresh, register, unique_name)

ME = "/api/v1/users/me"
TASKS = "/api/v1/tasks"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env=BASE_ENV)


def patch(srv, token, body, headers=None):
    h = {"Authorization": f"Bearer {token}", **(headers or {})}
    return requests.patch(srv.url + ME, json=body, headers=h, timeout=30)


def delete_me(srv, token, body, headers=None):
    h = {"Authorization": f"Bearer {token}", **(headers or {})}
    return requests.delete(srv.url + ME, json=body, headers=h, timeout=30)


def change_password(srv, token, current, new):
    return post(srv, ME + "/password", {"current_password": current, "new_password": new}, token=token)


def test_get_me(srv):
    u = new_user(srv)
    r = me(srv, u["access"])
    assert r.status_code == 200
    body = r.json()
    assert set(body) == USER_KEYS
    assert body["id"] == u["id"] and body["username"] == u["username"] and body["email"] == u["email"]
    assert RFC3339_MS_Z_RE.match(body["created_at"])
    etag = r.headers["ETag"]
    r2 = get(srv, ME, token=u["access"], headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b""
    assert get(srv, ME, token=u["access"], headers={"If-None-Match": '"other"'}).status_code == 200
    assert_unauthorized(get(srv, ME))


def test_patch_me(srv):
    u = new_user(srv)
    before = me(srv, u["access"])
    new_name, new_mail = unique_name("renamed"), unique_name("mail") + "@example.org"
    r = patch(srv, u["access"], {"username": new_name})
    assert r.status_code == 200, r.text
    assert r.json()["username"] == new_name and r.json()["email"] == u["email"]
    assert r.headers["ETag"] != before.headers["ETag"]
    r = patch(srv, u["access"], {"email": new_mail})
    assert r.json()["email"] == new_mail
    assert_pair(login(srv, new_name))
    assert_pair(login(srv, new_mail))
    assert_unauthorized(login(srv, u["username"]), "invalid_credentials")
    # An empty patch changes nothing.
    r = patch(srv, u["access"], {})
    assert r.status_code == 200 and r.json()["username"] == new_name


def test_patch_conflicts_ignore_case(srv):
    a, b = new_user(srv), new_user(srv)
    assert_problem(patch(srv, b["access"], {"username": a["username"].upper()}), 409, "username_taken")
    assert_problem(patch(srv, b["access"], {"email": a["email"].upper()}), 409, "email_taken")
    # Changing one's own name's case is fine.
    r = patch(srv, a["access"], {"username": a["username"].upper()})
    assert r.status_code == 200 and r.json()["username"] == a["username"].upper()


@pytest.mark.parametrize("body,expected", [
    ({"username": "no spaces"}, ("username", "invalid_characters")),
    ({"username": "ab"}, ("username", "too_short")),
    ({"username": None}, ("username", "null_not_allowed")),
    ({"email": "broken"}, ("email", "invalid_email")),
    ({"email": 5}, ("email", "wrong_type")),
    ({"password": PASSWORD}, ("password", "unknown_field")),
    ({"id": 1}, ("id", "unknown_field")),
])
def test_patch_validation(srv, body, expected):
    u = new_user(srv)
    assert expected in errors_of(patch(srv, u["access"], body))


def test_patch_if_match(srv):
    u = new_user(srv)
    etag = me(srv, u["access"]).headers["ETag"]
    r = patch(srv, u["access"], {"username": unique_name("v2")}, headers={"If-Match": etag})
    assert r.status_code == 200
    assert_problem(patch(srv, u["access"], {"username": unique_name("v3")}, headers={"If-Match": etag}), 412,
                   "precondition_failed")
    r = patch(srv, u["access"], {"username": unique_name("v4")}, headers={"If-Match": r.headers["ETag"]})
    assert r.status_code == 200
    assert patch(srv, u["access"], {}, headers={"If-Match": "*"}).status_code == 200


def test_change_password_ends_other_sessions(srv):
    u = new_user(srv)
    other = login(srv, u["username"]).json()
    new_pw = "glacier-trombone-pepper-88"
    r = change_password(srv, u["access"], PASSWORD, new_pw)
    assert r.status_code == 204, r.text
    assert me(srv, u["access"]).status_code == 200  # this session stays
    assert_pair(refresh(srv, u["refresh"]))
    assert_unauthorized(me(srv, other["access_token"]))
    assert_unauthorized(refresh(srv, other["refresh_token"]), "refresh_token_invalid")
    assert_unauthorized(login(srv, u["username"], PASSWORD), "invalid_credentials")
    assert_pair(login(srv, u["username"], new_pw))


@pytest.mark.parametrize("current,new,expected", [
    ("wrong-current-password", "glacier-trombone-pepper-88", ("current_password", "incorrect")),
    (PASSWORD, "short", ("new_password", "too_short")),
    (PASSWORD, "password1234", ("new_password", "too_common")),
    (PASSWORD, None, ("new_password", "required")),
    (None, "glacier-trombone-pepper-88", ("current_password", "required")),
])
def test_change_password_errors(srv, current, new, expected):
    u = new_user(srv)
    body = {k: v for k, v in (("current_password", current), ("new_password", new)) if v is not None}
    assert expected in errors_of(post(srv, ME + "/password", body, token=u["access"]))
    assert_pair(login(srv, u["username"]))  # unchanged


def test_change_password_rejects_the_username(srv):
    u = new_user(srv)
    r = change_password(srv, u["access"], PASSWORD, f"my-{u['username']}-secret")
    assert ("new_password", "contains_username") in errors_of(r)


def test_change_password_needs_a_token(srv):
    assert_unauthorized(post(srv, ME + "/password", {"current_password": "a", "new_password": "b"}))


def test_delete_account(srv):
    u = new_user(srv)
    other = login(srv, u["username"]).json()
    assert ("password", "incorrect") in errors_of(delete_me(srv, u["access"], {"password": "not-my-password"}))
    assert ("password", "required") in errors_of(delete_me(srv, u["access"], {}))
    assert_problem(delete_me(srv, u["access"], {"password": PASSWORD}, headers={"If-Match": '"u0-v0"'}), 412,
                   "precondition_failed")
    r = delete_me(srv, u["access"], {"password": PASSWORD})
    assert r.status_code == 204
    assert_unauthorized(me(srv, u["access"]))
    assert_unauthorized(me(srv, other["access_token"]))
    assert_unauthorized(refresh(srv, other["refresh_token"]), "refresh_token_invalid")
    assert_unauthorized(login(srv, u["username"]), "invalid_credentials")
    # The name is free again.
    r, _, _ = register(srv, username=u["username"], email=u["email"])
    assert r.status_code == 201


def test_a_new_session_never_inherits_a_deleted_accounts_revocation(srv):
    u = new_user(srv)  # the newest session
    assert delete_me(srv, u["access"], {"password": PASSWORD}).status_code == 204
    v = new_user(srv)
    assert claims_of(v["access"])["sid"] != claims_of(u["access"])["sid"]
    assert me(srv, v["access"]).status_code == 200
    assert_unauthorized(me(srv, u["access"]))


def test_deleted_accounts_sessions_end_on_another_instance(make_server, tmp_path):
    """The sessions go with the account; the other instances learn that they
    are revoked like any other revocation, and refuse their access tokens
    even where nothing reads the account (the task list)."""
    a = make_server(env=BASE_ENV, tmp_path=tmp_path)
    b = make_server(env=BASE_ENV, tmp_path=tmp_path)  # same data dir, same database
    u = new_user(a)
    tokens = [u["access"], login(a, u["username"]).json()["access_token"]]
    for t in tokens:
        assert get(b, TASKS, token=t).status_code == 200
    assert delete_me(a, u["access"], {"password": PASSWORD}).status_code == 204
    # Bounded, not timed tightly (machines are noisy): the design says 1 s.
    wait_until(lambda: all(get(b, TASKS, token=t).status_code == 401 for t in tokens), 5,
               "instance b to refuse the deleted account's access tokens")
    for t in tokens:
        body = assert_unauthorized(get(b, TASKS, token=t))
        assert body["detail"] == "the session of this access token has ended", body


def test_wrong_passwords_on_account_endpoints_back_off(make_server):
    s = make_server(env={**BASE_ENV, "PACE_RATE_LIMITS": "on", "PACE_RATE_LIMIT_LOGIN_FAILURES": "2"})
    u = new_user(s)
    for _ in range(2):
        assert ("password", "incorrect") in errors_of(delete_me(s, u["access"], {"password": "guess-guess-guess"}))
    r = delete_me(s, u["access"], {"password": PASSWORD})
    assert_problem(r, 429, "rate_limited")
    assert me(s, u["access"]).status_code == 200  # not deleted
