"""Contract details a standard client or an attacker relies on: JSON bodies
only in UTF-8, no repeated query parameters, exactly one Authorization
header, the RFC 6750 section 3.1 challenge on every 401 of a Bearer route,
and no password from the published common-password lists (Debian's
john-data and python3-zxcvbn, loaded at start-up). Headers sent twice go
through raw sockets (HTTP clients merge or refuse them)."""

import os
import re
import time

import jwt
import pytest
import requests

from harness import RawConn, assert_problem, free_port, run_pace
from helpers import BASE_ENV, PASSWORD, SECRET, TASKS, auth, errors_of, new_user, post, register

ME = "/api/v1/users/me"
CHALLENGE = 'Bearer realm="pace"'


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env=BASE_ENV)


@pytest.fixture(scope="module")
def user(srv):
    return new_user(srv)


def post_raw_body(srv, token, content_type, body=b'{"title": "charset"}'):
    return requests.post(srv.url + TASKS, data=body, timeout=10,
                         headers=auth(token, {"Content-Type": content_type}))


# ---------------------------------------------------------------- charset

@pytest.mark.parametrize("ct", [
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    'application/json; charset="utf-8"',
    "Application/JSON ; Charset = utf-8",
    "application/json; foo=bar; charset=utf-8",
])
def test_json_in_utf8_is_accepted(srv, user, ct):
    r = post_raw_body(srv, user["access"], ct)
    assert r.status_code == 201, (ct, r.text)


@pytest.mark.parametrize("ct", [
    "application/json; charset=utf-16",
    "application/json; charset=UTF-16LE",
    'application/json; charset="utf-16"',
    "application/json; charset=iso-8859-1",
    "application/json; charset=utf8",
    "application/json; charset=",
    "application/json; charset=utf-8; charset=utf-16",
    "application/jsonx",
])
def test_json_in_another_charset_is_415(srv, user, ct):
    body = '{"title": "charset"}'.encode("utf-16") if "16" in ct else b'{"title": "charset"}'
    r = post_raw_body(srv, user["access"], ct, body)
    assert_problem(r, 415, "unsupported_media_type")


def test_charset_checked_on_unauthenticated_json_routes_too(srv):
    r = requests.post(srv.url + "/api/v1/auth/login", data=b'{"login": "a", "password": "b"}', timeout=10,
                      headers={"Content-Type": "application/json; charset=utf-16"})
    assert_problem(r, 415, "unsupported_media_type")


# ---------------------------------------------------------------- repeated query parameters

@pytest.mark.parametrize("query", [
    "limit=10&limit=20",
    "limit=10&limit=10",
    "status=todo&sort=due_date&status=done",
    "cursor=&cursor=",
    "foo=1&foo=2",  # one the route does not read: still ambiguous
])
def test_repeated_query_parameter_is_400(srv, user, query):
    r = requests.get(f"{srv.url}{TASKS}?{query}", headers=auth(user["access"]), timeout=10)
    body = assert_problem(r, 400, "duplicate_parameter")
    name = query.split("&")[-1].split("=")[0]
    assert body["detail"].startswith(name + ":"), body


@pytest.mark.parametrize("query", ["limit=10", "limit=10&status=todo", "limit=5&&status=todo", ""])
def test_distinct_query_parameters_are_fine(srv, user, query):
    r = requests.get(f"{srv.url}{TASKS}?{query}", headers=auth(user["access"]), timeout=10)
    assert r.status_code == 200, r.text


def test_repeated_parameter_refused_before_authentication(srv):
    r = requests.get(f"{srv.url}{TASKS}?limit=1&limit=2", timeout=10)
    assert_problem(r, 400, "duplicate_parameter")


# ---------------------------------------------------------------- WWW-Authenticate (RFC 6750 3.1)

def challenge_params(value):
    assert value.startswith("Bearer "), value
    return dict(re.findall(r'(\w+)="([^"]*)"', value))


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Token abc", "Bearer"])
def test_no_bearer_token_gets_the_bare_challenge(srv, header):
    headers = {} if header is None else {"Authorization": header}
    r = requests.get(srv.url + ME, headers=headers, timeout=10)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == CHALLENGE


def test_bad_token_gets_invalid_token(srv):
    bad = "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"
    r = requests.get(srv.url + ME, headers=auth(bad), timeout=10)
    assert_problem(r, 401, "unauthorized")
    params = challenge_params(r.headers["WWW-Authenticate"])
    assert params["realm"] == "pace"
    assert params["error"] == "invalid_token"
    assert params["error_description"]
    assert bad not in r.headers["WWW-Authenticate"] and SECRET not in r.headers["WWW-Authenticate"]


def test_expired_token_says_so(srv, user):
    claims = jwt.decode(user["access"], options={"verify_signature": False})
    header = jwt.get_unverified_header(user["access"])
    now = int(time.time())
    claims.update(iat=now - 4000, nbf=now - 4000, exp=now - 3600)
    old = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": header.get("kid")})
    r = requests.get(srv.url + ME, headers=auth(old), timeout=10)
    assert_problem(r, 401, "unauthorized")
    params = challenge_params(r.headers["WWW-Authenticate"])
    assert params["error"] == "invalid_token"
    assert "expired" in params["error_description"]


def test_ended_session_gets_invalid_token(srv):
    u = new_user(srv)
    assert requests.post(srv.url + "/api/v1/auth/logout-all", headers=auth(u["access"]), timeout=10).status_code == 204
    r = requests.get(srv.url + ME, headers=auth(u["access"]), timeout=10)
    assert_problem(r, 401, "unauthorized")
    assert challenge_params(r.headers["WWW-Authenticate"])["error"] == "invalid_token"


def test_failed_login_has_no_token_error(srv):
    r = requests.post(srv.url + "/api/v1/auth/login", json={"login": "nobody-here", "password": "x" * 12},
                      timeout=30)
    assert_problem(r, 401, "invalid_credentials")
    assert r.headers["WWW-Authenticate"] == CHALLENGE


# ---------------------------------------------------------------- one Authorization header

def raw_get(srv, path, header_lines):
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{h}\r\n" for h in header_lines) + \
        "Connection: close\r\n\r\n"
    with RawConn(srv.port, timeout=10) as c:
        c.send(head)
        return c.read_response()


def test_one_authorization_header_works(srv, user):
    resp = raw_get(srv, ME, [f"Authorization: Bearer {user['access']}"])
    assert resp.status == 200, resp


@pytest.mark.parametrize("second", ["same", "other", "garbage"])
def test_two_authorization_headers_are_400(srv, user, second):
    other = new_user(srv)["access"] if second == "other" else "nope"
    value = {"same": user["access"], "other": other, "garbage": "nope"}[second]
    resp = raw_get(srv, ME, [f"Authorization: Bearer {user['access']}", f"Authorization: Bearer {value}"])
    assert resp.status == 400, resp
    body = resp.json()
    assert body["code"] == "duplicate_header"
    assert user["username"] not in resp.body.decode()
    assert challenge_params(resp.header("www-authenticate"))["error"] == "invalid_request"


# ---------------------------------------------------------------- common passwords

JOHN = "/usr/share/john/password.lst"
ZXCVBN = "/usr/lib/python3/dist-packages/zxcvbn/frequency_lists.py"
needs_lists = pytest.mark.skipif(not (os.path.exists(JOHN) and os.path.exists(ZXCVBN)),
                                 reason="needs Debian's john-data and python3-zxcvbn")

# From the published lists, 12 characters or more, and each accepted by the
# cracklib check alone (pace before the lists).
LEAKED = ["1qaz2wsx3edc", "leavemealone", "FinalFantasy", "qwertyasdfgh", "whosyourdaddy",
          "lost4815162342", "justinbieber!!", "1qaz2wsx3edc4rfv"]


def assert_too_common(r, field="password"):
    body = assert_problem(r, 422, "validation_failed")
    entry = [e for e in body["errors"] if e["field"] == field]
    assert entry and entry[0]["code"] == "too_common", body
    assert "common passwords" in entry[0]["message"], body


@needs_lists
@pytest.mark.parametrize("pw", LEAKED)
def test_register_refuses_a_leaked_password(srv, pw):
    r, _, _ = register(srv, password=pw)
    assert_too_common(r)


@needs_lists
def test_password_change_refuses_a_leaked_password(srv):
    u = new_user(srv)
    r = post(srv, "/api/v1/users/me/password", {"current_password": PASSWORD, "new_password": "sonyericsson"},
             token=u["access"])
    assert_too_common(r, "new_password")
    ok = post(srv, "/api/v1/users/me/password",
              {"current_password": PASSWORD, "new_password": "umbrella-quarterly-lantern-43"}, token=u["access"])
    assert ok.status_code == 204, ok.text


def test_the_lists_are_a_setting(make_server, tmp_path):
    own = tmp_path / "own.lst"
    own.write_text("#!comment: a list of our own\nMy-Own-Common-Pass\n")
    s = make_server(env={**BASE_ENV, "PACE_COMMON_PASSWORDS_FILES": str(own)})
    assert_too_common(register(s, password="my-own-common-pass")[0])  # any case
    assert register(s, password="1qaz2wsx3edc")[0].status_code == 201  # not in that list
    none = make_server(env={**BASE_ENV, "PACE_COMMON_PASSWORDS_FILES": ""})
    assert register(none, password="my-own-common-pass")[0].status_code == 201
    assert register(none, password="1qaz2wsx3edc")[0].status_code == 201  # in the default lists


@pytest.mark.parametrize("content", [None, ""])
def test_a_missing_or_empty_list_stops_startup(tmp_path, content):
    path = tmp_path / "list.lst"
    if content is not None:
        path.write_text(content)
    port = free_port()
    rc, out, err = run_pace(["serve", "--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{port}"],
                            tmp_path, env={**BASE_ENV, "PACE_COMMON_PASSWORDS_FILES": str(path)},
                            health_port=port)
    assert rc == 1, (rc, err)
    assert str(path) in out + err, (out, err)  # the log names the file
