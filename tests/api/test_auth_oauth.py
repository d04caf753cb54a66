"""POST /api/v1/auth/token: the OAuth 2.0 password and refresh_token grants
(RFC 6749 sections 4.3 and 6), form-encoded, with section 5.1 token
responses and section 5.2 error bodies, always Cache-Control: no-store."""

import base64

import pytest
import requests

from harness import RawConn
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
    assert r2.headers.get("WWW-Authenticate", "") == 'Basic realm="pace"'
    # A client id with a secret in the body (the form) is refused the same way.
    r3 = token(srv, {**data, "client_secret": "s3cret"}, auth=("app", ""))
    assert_oauth_error(r3, 401, "invalid_client")


def test_public_client_basic_with_empty_secret_identifies(srv):
    # What requests-oauthlib sends by default: Basic base64("client_id:").
    r, username, _ = register(srv)
    data = {"grant_type": "password", "username": username, "password": PASSWORD}
    body = assert_pair(token(srv, data, auth=("swagger-ui", "")))
    assert me(srv, body["access_token"]).json()["username"] == username
    # The refresh grant accepts it too.
    assert_pair(token(srv, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                      auth=("swagger-ui", "")))


@pytest.mark.parametrize("value", [
    "Basic " + base64.b64encode(b":").decode(),          # no client id
    "Basic " + base64.b64encode(b"app").decode(),        # no colon
    "Basic " + base64.b64encode(b"app:x").decode(),      # a secret
    "Basic " + base64.b64encode(b"app: ").decode(),      # a secret of one space
    "Basic %%%%",                                         # not base64
    "Basic ",
    "Bearer abc",                                          # another scheme
])
def test_other_client_authentication_is_invalid_client(srv, value):
    data = {"grant_type": "password", "username": "nobody", "password": "whatever-whatever"}
    r = token(srv, data, headers={"Authorization": value})
    assert_oauth_error(r, 401, "invalid_client")
    assert r.headers.get("WWW-Authenticate", "") == 'Basic realm="pace"'


def test_two_authorization_headers_are_invalid_request(srv):
    # requests cannot send a header twice: raw bytes.
    r, username, _ = register(srv)
    basic = "Basic " + base64.b64encode(b"app:").decode()
    body = f"grant_type=password&username={username}&password={PASSWORD}".encode()
    head = (f"POST {TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Authorization: {basic}\r\nAuthorization: {basic}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    with RawConn(srv.port, timeout=10) as c:
        c.send(head.encode() + body)
        resp = c.read_response("POST")
    assert resp.status == 400, resp
    assert resp.json()["error"] == "invalid_request"
    assert "access_token" not in resp.json()


def test_requests_oauthlib_legacy_application_client(srv, monkeypatch):
    # Its default call: client id as HTTP Basic with an empty secret.
    oauthlib = pytest.importorskip("requests_oauthlib", reason="Debian's python3-requests-oauthlib")
    from oauthlib.oauth2 import LegacyApplicationClient

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the test server is plain HTTP on loopback
    r, username, _ = register(srv)
    session = oauthlib.OAuth2Session(client=LegacyApplicationClient(client_id="pace-cli"))
    sent = []
    session.hooks["response"].append(lambda resp, **kw: sent.append(resp.request.headers.get("Authorization")))
    tok = session.fetch_token(srv.url + TOKEN, username=username, password=PASSWORD)
    assert tok["token_type"] == "Bearer" and tok["access_token"] and tok["refresh_token"]
    assert sent == ["Basic " + base64.b64encode(b"pace-cli:").decode()], sent  # the case at hand
    # The session then calls the API with the token it got.
    me_resp = session.get(srv.url + "/api/v1/users/me", timeout=10)
    assert me_resp.status_code == 200 and me_resp.json()["username"] == username
