"""Browser sessions (/api/v1/auth/web/login, /refresh, /logout): the refresh
token only in the pace_refresh cookie (its exact attributes, never in the
body), rotation and reuse detection as on /auth/refresh, the grace window,
logout, missing, malformed and duplicate cookies, the Origin rule (missing,
foreign, own, listed in PACE_CORS_ORIGINS) checked before anything else,
the shared rate limits, 20 parallel refreshes with one cookie, the session
list, Cache-Control: no-store and the login body's validation.

`requests` keeps a Secure cookie out of plain-http requests, so every
request here sends its Cookie header itself."""

import http.client
import re
import time

import pytest
import requests

from harness import assert_problem
from helpers import (BASE_ENV, PASSWORD, assert_pair, assert_unauthorized, claims_of, errors_of, get, login,
                     me, parallel, post, refresh, register, xff)

WEB = "/api/v1/auth/web"
WEB_KEYS = {"access_token", "token_type", "expires_in"}
COOKIE_RE = re.compile(r"pace_refresh=([^;]*); Path=/api/v1/auth/web; Max-Age=(\d+); HttpOnly; Secure; "
                       r"SameSite=Strict")


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env=BASE_ENV)


# ---------------------------------------------------------------- helpers

def own(s):
    """pace's own origin, as a browser on its pages sends it."""
    return s.url


def web(s, what, cookie=None, body=None, origin="own", headers=None, data=None):
    """POST /api/v1/auth/web/<what> with the Cookie header given as is."""
    h = dict(headers or {})
    if origin == "own":
        h["Origin"] = own(s)
    elif origin is not None:
        h["Origin"] = origin
    if cookie is not None:
        h["Cookie"] = cookie
    return requests.post(f"{s.url}{WEB}/{what}", json=body, data=data, headers=h, timeout=30)


def web_login(s, username, password=PASSWORD, **kw):
    return web(s, "login", body={"login": username, "password": password}, **kw)


def set_cookie(r):
    """(token, max_age) of the response's one Set-Cookie, checked to carry
    exactly the documented attributes."""
    values = r.raw.headers.getlist("Set-Cookie")
    assert len(values) == 1, values
    m = COOKIE_RE.fullmatch(values[0])
    assert m, values[0]
    return m.group(1), int(m.group(2))


def assert_web_pair(r):
    """A web login or refresh answer: the access token in the body, the
    refresh token in the cookie. Returns (body, refresh token)."""
    assert r.status_code == 200, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    body = r.json()
    assert set(body) == WEB_KEYS, body
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    token, max_age = set_cookie(r)
    assert len(token) == 43 and max_age > 0
    return body, token


def assert_cleared(r):
    token, max_age = set_cookie(r)
    assert token == "" and max_age == 0


def new_web_user(s, headers=None):
    r, username, _ = register(s)
    assert r.status_code == 201, r.text
    body, cookie = assert_web_pair(web_login(s, username, headers=headers))
    return {"username": username, "access": body["access_token"], "cookie": cookie}


def raw_post(s, path, headers):
    """A POST with headers as a list of pairs (a name may repeat)."""
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    try:
        c.putrequest("POST", path)
        for k, v in headers:
            c.putheader(k, v)
        c.putheader("Content-Length", "0")
        c.endheaders()
        resp = c.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        c.close()


# ---------------------------------------------------------------- login

def test_login_sets_the_cookie_and_keeps_the_refresh_token_out_of_the_body(srv):
    r, username, _ = register(srv)
    json_pair = assert_pair(login(srv, username))
    resp = web_login(srv, username)
    body, cookie = assert_web_pair(resp)
    assert "refresh_token" not in resp.text
    # Max-Age: what is left of the refresh token's life, as the JSON pair says.
    _, max_age = set_cookie(resp)
    assert abs(max_age - json_pair["refresh_expires_in"]) <= 5
    assert me(srv, body["access_token"]).json()["username"] == username
    # The cookie's token is an ordinary refresh token of a new session.
    assert claims_of(body["access_token"])["sid"] != claims_of(json_pair["access_token"])["sid"]


def test_login_by_email_and_wrong_password(srv):
    r, username, email = register(srv)
    assert_web_pair(web_login(srv, email))
    for who, pw in ((username, "wrong-password-123456"), ("nobody-" + username, PASSWORD)):
        resp = web_login(srv, who, pw)
        assert_unauthorized(resp, "invalid_credentials")
        assert resp.headers.get("Cache-Control") == "no-store"
        assert "set-cookie" not in resp.headers


def test_login_validation(srv):
    h = {"Origin": own(srv)}
    url = f"{srv.url}{WEB}/login"
    assert_problem(requests.post(url, data="login=a", headers={**h, "Content-Type": "text/plain"}, timeout=10),
                   415, "unsupported_media_type")
    assert_problem(requests.post(url, data="{", headers={**h, "Content-Type": "application/json"}, timeout=10),
                   400, "malformed_json")
    assert_problem(requests.post(url, headers=h, timeout=10), 415, "unsupported_media_type")
    assert ("extra", "unknown_field") in errors_of(
        web(srv, "login", body={"login": "a", "password": "b", "extra": 1}))
    assert ("password", "required") in errors_of(web(srv, "login", body={"login": "a"}))
    assert ("password", "too_long") in errors_of(web(srv, "login", body={"login": "a", "password": "x" * 1025}))


# ---------------------------------------------------------------- refresh

def test_refresh_rotates_and_reuse_ends_the_session(srv):
    u = new_web_user(srv)
    sid = claims_of(u["access"])["sid"]
    b2, c2 = assert_web_pair(web(srv, "refresh", cookie=f"pace_refresh={u['cookie']}"))
    assert c2 != u["cookie"]
    assert claims_of(b2["access_token"])["sid"] == sid
    assert me(srv, b2["access_token"]).status_code == 200
    b3, c3 = assert_web_pair(web(srv, "refresh", cookie=f"pace_refresh={c2}"))
    # The first cookie again: stolen. The session ends, the newest pair too.
    r = web(srv, "refresh", cookie=f"pace_refresh={u['cookie']}")
    assert_unauthorized(r, "refresh_token_reused")
    assert_cleared(r)
    assert r.headers.get("Cache-Control") == "no-store"
    assert_unauthorized(me(srv, b3["access_token"]))
    assert_unauthorized(web(srv, "refresh", cookie=f"pace_refresh={c3}"), "refresh_token_invalid")


@pytest.mark.parametrize("body,ctype", [(None, None), ("{}", "application/json"), ("", "application/json")])
def test_refresh_takes_no_body_or_an_empty_object(srv, body, ctype):
    u = new_web_user(srv)
    h = {"Content-Type": ctype} if ctype else {}
    assert_web_pair(web(srv, "refresh", cookie=f"pace_refresh={u['cookie']}", data=body, headers=h))


def test_refresh_body_is_checked(srv):
    u = new_web_user(srv)
    cookie = f"pace_refresh={u['cookie']}"
    # The token comes from the cookie only: a body naming one is refused.
    assert ("refresh_token", "unknown_field") in errors_of(
        web(srv, "refresh", cookie=cookie, body={"refresh_token": u["cookie"]}))
    assert_problem(web(srv, "refresh", cookie=cookie, data="{", headers={"Content-Type": "application/json"}),
                   400, "malformed_json")
    # None of that spent the token.
    assert_web_pair(web(srv, "refresh", cookie=cookie))


def test_refresh_reads_the_cookie_among_others(srv):
    u = new_web_user(srv)
    _, c2 = assert_web_pair(web(srv, "refresh", cookie=f"theme=dark;  pace_refresh={u['cookie']} ;lang=en"))
    _, c3 = assert_web_pair(web(srv, "refresh", cookie=f'pace_refresh="{c2}"'))
    # A cookie whose name only looks alike is not pace's.
    r = web(srv, "refresh", cookie=f"Pace_Refresh={c3}; xpace_refresh={c3}")
    assert_unauthorized(r, "refresh_token_invalid")
    assert_web_pair(web(srv, "refresh", cookie=f"pace_refresh={c3}"))


@pytest.mark.parametrize("cookie", [None, "", "theme=dark", "pace_refresh=", "pace_refresh=garbage",
                                    "pace_refresh=" + "A" * 43, "pace_refresh=" + "A" * 5000])
def test_refresh_without_a_good_cookie(srv, cookie):
    r = web(srv, "refresh", cookie=cookie)
    assert_unauthorized(r, "refresh_token_invalid")
    assert_cleared(r)
    assert r.headers.get("Cache-Control") == "no-store"


def test_refresh_with_two_cookies_is_refused_and_spends_neither(srv):
    a, b = new_web_user(srv), new_web_user(srv)
    r = web(srv, "refresh", cookie=f"pace_refresh={a['cookie']}; pace_refresh={b['cookie']}")
    assert_unauthorized(r, "refresh_token_invalid")
    assert_cleared(r)
    # The same token twice is no better: which one the browser meant is a guess.
    r = web(srv, "refresh", cookie=f"pace_refresh={a['cookie']}; pace_refresh={a['cookie']}")
    assert_unauthorized(r, "refresh_token_invalid")
    # Two Cookie headers, one pace_refresh each.
    status, headers, body = raw_post(srv, f"{WEB}/refresh", [
        ("Origin", own(srv)), ("Cookie", f"pace_refresh={a['cookie']}"), ("Cookie", f"pace_refresh={b['cookie']}")])
    assert status == 401 and b"refresh_token_invalid" in body
    # Two Cookie headers, one pace_refresh in all: fine.
    status, headers, body = raw_post(srv, f"{WEB}/refresh", [
        ("Origin", own(srv)), ("Cookie", "theme=dark"), ("Cookie", f"pace_refresh={a['cookie']}")])
    assert status == 200, body
    assert_web_pair(web(srv, "refresh", cookie=f"pace_refresh={b['cookie']}"))


def test_refresh_token_expires(make_server):
    s = make_server(env={**BASE_ENV, "PACE_REFRESH_TOKEN_TTL": "1"})
    u = new_web_user(s)
    time.sleep(1.3)
    r = web(s, "refresh", cookie=f"pace_refresh={u['cookie']}")
    assert_unauthorized(r, "refresh_token_expired")
    assert_cleared(r)


def test_twenty_parallel_refreshes_strict(srv):
    u = new_web_user(srv)
    results = parallel(20, lambda i: web(srv, "refresh", cookie=f"pace_refresh={u['cookie']}"))
    ok = [r for r in results if r.status_code == 200]
    assert len(ok) == 1, [r.status_code for r in results]
    for r in results:
        if r.status_code != 200:
            assert_unauthorized(r, "refresh_token_reused")
            assert_cleared(r)
    # The race counts as reuse: the session is over, the winner's pair too.
    body, cookie = assert_web_pair(ok[0])
    assert_unauthorized(me(srv, body["access_token"]))
    assert_unauthorized(web(srv, "refresh", cookie=f"pace_refresh={cookie}"), "refresh_token_invalid")


def test_twenty_parallel_refreshes_with_grace_window(make_server):
    s = make_server(env={**BASE_ENV, "PACE_REFRESH_GRACE_SECONDS": "30"})
    u = new_web_user(s)
    sid = claims_of(u["access"])["sid"]
    results = parallel(20, lambda i: web(s, "refresh", cookie=f"pace_refresh={u['cookie']}"))
    assert [r.status_code for r in results] == [200] * 20
    pairs = [assert_web_pair(r) for r in results]
    assert len({c for _, c in pairs}) == 20
    for body, _ in pairs:
        assert claims_of(body["access_token"])["sid"] == sid
    assert me(s, pairs[7][0]["access_token"]).status_code == 200
    assert_web_pair(web(s, "refresh", cookie=f"pace_refresh={pairs[3][1]}"))
    sessions = get(s, "/api/v1/auth/sessions", token=pairs[0][0]["access_token"]).json()["items"]
    assert [x["id"] for x in sessions] == [int(sid)]


# ---------------------------------------------------------------- logout

def test_logout_ends_the_session_and_clears_the_cookie(srv):
    u = new_web_user(srv)
    r = web(srv, "logout", cookie=f"pace_refresh={u['cookie']}")
    assert r.status_code == 204 and r.content == b""
    assert_cleared(r)
    assert r.headers.get("Cache-Control") == "no-store"
    assert_unauthorized(me(srv, u["access"]))
    assert_unauthorized(web(srv, "refresh", cookie=f"pace_refresh={u['cookie']}"), "refresh_token_invalid")
    # Idempotent: the same cookie again, a bad one, none, and an empty object.
    for cookie in (f"pace_refresh={u['cookie']}", "pace_refresh=garbage", None):
        r = web(srv, "logout", cookie=cookie)
        assert r.status_code == 204, r.text
        assert_cleared(r)
    assert web(srv, "logout", data="{}", headers={"Content-Type": "application/json"}).status_code == 204


def test_logout_ends_every_session_it_is_shown(srv):
    a, b = new_web_user(srv), new_web_user(srv)
    r = web(srv, "logout", cookie=f"pace_refresh={a['cookie']}; pace_refresh={b['cookie']}")
    assert r.status_code == 204
    assert_unauthorized(me(srv, a["access"]))
    assert_unauthorized(me(srv, b["access"]))


# ---------------------------------------------------------------- origin

@pytest.mark.parametrize("what", ["login", "refresh", "logout"])
@pytest.mark.parametrize("origin", [None, "https://evil.example", "null", "http://127.0.0.1",
                                    "http://localhost"])
def test_foreign_or_missing_origin_is_refused_first(srv, what, origin):
    u = new_web_user(srv)
    # A body that would be 415 and a good cookie: the origin is checked first.
    r = web(srv, what, cookie=f"pace_refresh={u['cookie']}", origin=origin, data="x",
            headers={"Content-Type": "text/plain"})
    assert_problem(r, 403, "forbidden_origin")
    assert "set-cookie" not in r.headers
    # Nothing happened: the cookie still works, the session goes on.
    assert me(srv, u["access"]).status_code == 200
    assert_web_pair(web(srv, "refresh", cookie=f"pace_refresh={u['cookie']}"))


def test_two_origin_headers_are_refused(srv):
    u = new_web_user(srv)
    status, _, body = raw_post(srv, f"{WEB}/refresh", [
        ("Origin", own(srv)), ("Origin", own(srv)), ("Cookie", f"pace_refresh={u['cookie']}")])
    assert status == 403 and b"forbidden_origin" in body


def test_listed_origin_is_allowed(make_server):
    app = "https://app.example.com"
    s = make_server(env={**BASE_ENV, "PACE_CORS_ORIGINS": f"{app}, https://other.example.com"})
    r, username, _ = register(s)
    _, c1 = assert_web_pair(web_login(s, username, origin=app))
    _, c2 = assert_web_pair(web(s, "refresh", cookie=f"pace_refresh={c1}", origin="https://other.example.com"))
    for what in ("login", "refresh", "logout"):
        assert_problem(web(s, what, cookie=f"pace_refresh={c2}", origin="https://app.example.com.evil.net"),
                       403, "forbidden_origin")
    # pace's own origin stays allowed when others are listed.
    _, c3 = assert_web_pair(web(s, "refresh", cookie=f"pace_refresh={c2}"))
    assert web(s, "logout", cookie=f"pace_refresh={c3}", origin=app).status_code == 204


# ---------------------------------------------------------------- rate limits

def test_rate_limits_are_shared_with_the_json_endpoints(make_server):
    s = make_server(env={**BASE_ENV, "PACE_RATE_LIMITS": "on", "PACE_TRUSTED_PROXIES": "127.0.0.1",
                         "PACE_RATE_LIMIT_LOGIN": "3", "PACE_RATE_LIMIT_REFRESH": "2"})
    r, username, _ = register(s, headers=xff("198.51.100.151"))
    ip = xff("198.51.100.152")
    # Refused origins are refused before the limits: they count for nothing.
    for _ in range(5):
        assert_problem(web_login(s, username, origin="https://evil.example", headers=ip), 403, "forbidden_origin")
    assert_pair(login(s, username, headers=ip))
    _, cookie = assert_web_pair(web_login(s, username, headers=ip))
    resp = web_login(s, username, headers=ip)
    assert_web_pair(resp)
    assert resp.headers["RateLimit-Remaining"] == "0"
    resp = web_login(s, username, headers=ip)
    assert_problem(resp, 429, "rate_limited")
    assert int(resp.headers["Retry-After"]) >= 1
    assert "set-cookie" not in resp.headers
    # Refresh: the JSON and the cookie endpoint share the per-IP limit.
    ip2 = xff("198.51.100.153")
    assert_unauthorized(refresh(s, "unknown-token", headers=ip2), "refresh_token_invalid")
    _, cookie = assert_web_pair(web(s, "refresh", cookie=f"pace_refresh={cookie}", headers=ip2))
    resp = web(s, "refresh", cookie=f"pace_refresh={cookie}", headers=ip2)
    assert_problem(resp, 429, "rate_limited")
    assert "set-cookie" not in resp.headers  # the token is still good
    assert_web_pair(web(s, "refresh", cookie=f"pace_refresh={cookie}", headers=xff("198.51.100.154")))


# ---------------------------------------------------------------- sessions

def test_web_session_is_in_the_session_list(srv):
    r, username, _ = register(srv)
    phone = assert_pair(login(srv, username, headers={"User-Agent": "phone-app/1.0"}))
    body, cookie = assert_web_pair(web_login(srv, username, headers={"User-Agent": "Mozilla/5.0 test-browser"}))
    r = get(srv, "/api/v1/auth/sessions", token=body["access_token"])
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(x["user_agent"], x["ip"], x["current"]) for x in items] == [
        ("Mozilla/5.0 test-browser", "127.0.0.1", True), ("phone-app/1.0", "127.0.0.1", False)]
    assert items[0]["id"] == int(claims_of(body["access_token"])["sid"])
    # After a refresh the rotated access token is current in the same session.
    b2, _ = assert_web_pair(web(srv, "refresh", cookie=f"pace_refresh={cookie}"))
    items = get(srv, "/api/v1/auth/sessions", token=b2["access_token"]).json()["items"]
    assert [x["current"] for x in items] == [True, False]
    # Ending it from another device ends the browser's refresh too.
    assert requests.delete(f"{srv.url}/api/v1/auth/sessions/{items[0]['id']}",
                           headers={"Authorization": f"Bearer {phone['access_token']}"}, timeout=10).status_code == 204
    assert_unauthorized(me(srv, b2["access_token"]))


def test_cookie_token_and_json_token_are_not_mixed_up(srv):
    # A JSON refresh token given as a cookie works: it is one kind of token.
    r, username, _ = register(srv)
    pair = assert_pair(login(srv, username))
    body, _ = assert_web_pair(web(srv, "refresh", cookie=f"pace_refresh={pair['refresh_token']}"))
    assert claims_of(body["access_token"])["sid"] == claims_of(pair["access_token"])["sid"]
    assert_unauthorized(refresh(srv, pair["refresh_token"]), "refresh_token_reused")
    assert post(srv, f"{WEB}/refresh", {}).status_code == 403  # helpers.post sends no Origin
