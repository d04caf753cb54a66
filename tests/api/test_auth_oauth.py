"""POST /api/v1/auth/token: the OAuth 2.0 password and refresh_token grants
(RFC 6749 sections 4.3 and 6), form-encoded, with section 5.1 token
responses and section 5.2 error bodies, always Cache-Control: no-store."""

import pytest
import requests

from helpers import BASE_ENV, PASSWORD, assert_pair, assert_unauthorized, claims_of, me, new_user, register

TOKEN = "/api/v1/auth/token"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env=BASE_ENV)


def token(srv, data, headers=None, **kw):
    return requests.post(srv.url + TOKEN, data=data, headers=headers, timeout=30, **kw)


def assert_oauth_error(r, status, error):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.headers.get("Cache-Control") == "no-store"
    assert r.headers.get("Pragma") == "no-cache"
    body = r.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error
    assert isinstance(body["error_description"], str) and body["error_description"]
    return body


def test_password_grant(srv):
    r, username, email = register(srv)
    assert r.status_code == 201
    for name in (username, email):
        resp = token(srv, {"grant_type": "password", "username": name, "password": PASSWORD})
        body = assert_pair(resp)
        assert resp.headers.get("Pragma") == "no-cache"
        assert me(srv, body["access_token"]).json()["username"] == username


def test_password_grant_ignores_scope_and_client_id(srv):
    r, username, _ = register(srv)
    assert_pair(token(srv, {"grant_type": "password", "username": username, "password": PASSWORD,
                            "scope": "read write", "client_id": "swagger-ui"}))


def test_password_grant_with_charset_and_encoded_characters(srv):
    pw = "p@ss word+&=%-lantern"
    r, username, _ = register(srv, password=pw)
    assert r.status_code == 201, r.text
    assert_pair(token(srv, {"grant_type": "password", "username": username, "password": pw},
                      headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}))


def test_password_grant_failures_look_alike(srv):
    r, username, _ = register(srv)
    wrong = assert_oauth_error(token(srv, {"grant_type": "password", "username": username, "password": "nope-nope"}),
                               400, "invalid_grant")
    unknown = assert_oauth_error(token(srv, {"grant_type": "password", "username": "ghost-" + username,
                                             "password": "nope-nope"}), 400, "invalid_grant")
    assert wrong == unknown


def test_refresh_token_grant_and_reuse(srv):
    u = new_user(srv)
    body = assert_pair(token(srv, {"grant_type": "refresh_token", "refresh_token": u["refresh"]}))
    assert claims_of(body["access_token"])["sid"] == claims_of(u["access"])["sid"]
    assert me(srv, body["access_token"]).status_code == 200
    assert_oauth_error(token(srv, {"grant_type": "refresh_token", "refresh_token": u["refresh"]}), 400,
                       "invalid_grant")
    # Reuse ended the session.
    assert_unauthorized(me(srv, body["access_token"]))
    assert_oauth_error(token(srv, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}), 400,
                       "invalid_grant")
    assert_oauth_error(token(srv, {"grant_type": "refresh_token", "refresh_token": "garbage"}), 400,
                       "invalid_grant")


@pytest.mark.parametrize("data", [
    {},
    {"grant_type": ""},
    {"username": "a", "password": "b"},
    {"grant_type": "password", "password": "b"},
    {"grant_type": "password", "username": "a"},
    {"grant_type": "password", "username": "a", "password": "x" * 1025},
    {"grant_type": "refresh_token"},
    "grant_type=password&grant_type=password&username=a&password=b",
    "grant_type=password&username=a%zz&password=b",
    "grant_type=password&username=a%00b&password=b",
])
def test_invalid_request(srv, data):
    assert_oauth_error(token(srv, data, headers={"Content-Type": "application/x-www-form-urlencoded"}), 400,
                       "invalid_request")


def test_json_body_is_invalid_request(srv):
    r = requests.post(srv.url + TOKEN, json={"grant_type": "password", "username": "a", "password": "b"}, timeout=10)
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize("grant", ["client_credentials", "authorization_code", "PASSWORD", "implicit"])
def test_unsupported_grant_type(srv, grant):
    assert_oauth_error(token(srv, {"grant_type": grant, "username": "a", "password": "b"}), 400,
                       "unsupported_grant_type")


def test_client_authentication_is_invalid_client(srv):
    r, username, _ = register(srv)
    data = {"grant_type": "password", "username": username, "password": PASSWORD}
    r1 = token(srv, {**data, "client_id": "app", "client_secret": "s3cret"})
    assert_oauth_error(r1, 401, "invalid_client")
    assert r1.headers.get("WWW-Authenticate", "").startswith("Basic")
    r2 = token(srv, data, auth=("app", "s3cret"))
    assert_oauth_error(r2, 401, "invalid_client")
