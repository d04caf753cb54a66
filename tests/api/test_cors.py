"""CORS (docs/internals/web.md, "CORS"): off by default; PACE_CORS_ORIGINS
lists exact origins, which get Access-Control-Allow-Origin, credentials and
the exposed headers on every answer (errors too) and their preflights
answered 204 before authentication and limits; any other origin gets no
CORS header, and its preflight a 403 forbidden_origin. An invalid list
stops the start-up."""

import pytest
import requests

from harness import DEV, assert_problem, free_port, run_pace
from helpers import FAST

LISTED = "https://app.example.com"
OTHER_LISTED = "http://localhost:5173"
UNLISTED = "https://evil.example.com"
EXPOSED = {"etag", "location", "retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
           "x-request-id"}


def call(srv, method, path, origin=None, headers=None, **kw):
    h = dict(headers or {})
    if origin:
        h["Origin"] = origin
    return requests.request(method, srv.url + path, headers=h, timeout=30, allow_redirects=False, **kw)


def preflight(srv, path, origin, method="POST", req_headers="authorization, content-type"):
    return call(srv, "OPTIONS", path, origin, {"Access-Control-Request-Method": method,
                                              "Access-Control-Request-Headers": req_headers})


def cors_headers(r):
    return {k.lower(): v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


def vary(r):
    return {v.strip().lower() for v in r.headers.get("Vary", "").split(",") if v.strip()}


@pytest.fixture(scope="module")
def cors_server(module_server_factory):
    return module_server_factory(env={**DEV, **FAST, "PACE_CORS_ORIGINS": f" {LISTED}, {OTHER_LISTED} "})


def test_off_by_default(server):
    for r in (call(server, "GET", "/health", LISTED), call(server, "GET", "/api/v1/users/me", LISTED),
              call(server, "GET", "/nope", LISTED)):
        assert cors_headers(r) == {}, r.headers
        assert "origin" not in vary(r), r.headers
    r = preflight(server, "/api/v1/tasks", LISTED)
    assert_problem(r, 403, "forbidden_origin")
    assert cors_headers(r) == {}, r.headers


def test_listed_origin_gets_cors_headers_on_every_answer(cors_server):
    for origin in (LISTED, OTHER_LISTED):
        for method, path, status in (("GET", "/health", 200), ("GET", "/api/v1/users/me", 401),
                                     ("GET", "/nope", 404), ("DELETE", "/health", 405),
                                     ("POST", "/api/v1/auth/login", 415)):
            r = call(cors_server, method, path, origin)
            assert r.status_code == status, (path, r.status_code)
            h = cors_headers(r)
            assert h["access-control-allow-origin"] == origin, (path, h)
            assert h["access-control-allow-credentials"] == "true", (path, h)
            exposed = {v.strip().lower() for v in h["access-control-expose-headers"].split(",")}
            assert exposed == EXPOSED, exposed
            assert "origin" in vary(r), r.headers


def test_unlisted_origin_gets_no_cors_headers(cors_server):
    for origin in (UNLISTED, LISTED + ":443", LISTED + "/", "null", "https://app.example.com.evil.org"):
        r = call(cors_server, "GET", "/health", origin)
        assert r.status_code == 200 and cors_headers(r) == {}, (origin, r.headers)
        assert "origin" in vary(r), "the answer differs by Origin: caches must know"
        p = preflight(cors_server, "/api/v1/tasks", origin)
        assert_problem(p, 403, "forbidden_origin")
        assert cors_headers(p) == {}, (origin, p.headers)
    # Without Origin: no CORS headers either.
    assert cors_headers(call(cors_server, "GET", "/health")) == {}


def test_preflight_from_a_listed_origin(cors_server):
    # A protected route: the preflight carries no credentials and is answered anyway.
    for path in ("/api/v1/tasks", "/api/v1/tasks/1", "/api/v1/auth/web/refresh", "/api/v1/no-such-route"):
        r = preflight(cors_server, path, LISTED, "PATCH", "authorization, content-type, if-match")
        assert r.status_code == 204 and r.content == b"", (path, r.status_code, r.text)
        h = cors_headers(r)
        assert h["access-control-allow-origin"] == LISTED
        assert h["access-control-allow-credentials"] == "true"
        methods = {m.strip() for m in h["access-control-allow-methods"].split(",")}
        assert methods == {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}, methods
        allowed = {x.strip().lower() for x in h["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "if-match", "if-none-match", "idempotency-key",
                "x-request-id"} <= allowed, allowed
        assert h["access-control-max-age"] == "600"
        assert "origin" in vary(r)
    # OPTIONS without Access-Control-Request-Method is no preflight: the route's answer.
    r = call(cors_server, "OPTIONS", "/health", LISTED)
    assert r.status_code == 405 and cors_headers(r)["access-control-allow-origin"] == LISTED


def test_preflights_do_not_count_against_limits(make_server):
    srv = make_server(env={**DEV, **FAST, "PACE_CORS_ORIGINS": LISTED, "PACE_RATE_LIMITS": "on",
                           "PACE_RATE_LIMIT_LOGIN": "2"})
    for _ in range(6):
        assert preflight(srv, "/api/v1/auth/login", LISTED).status_code == 204
    r = call(srv, "POST", "/api/v1/auth/login", LISTED, json={"login": "nobody", "password": "wrong-password-1"})
    assert r.status_code == 401, (r.status_code, r.text)


@pytest.mark.parametrize("value", ["https://app.example.com/", "app.example.com", "https://app.example.com/x",
                                   "ftp://app.example.com", "https://a.example.com,*", "https://:8080",
                                   "https://app.example.com:0", "https://user@app.example.com"])
def test_invalid_cors_origins_stop_start_up(tmp_path, value):
    port = free_port()
    rc, out, err = run_pace(["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", tmp_path / "d"],
                            tmp_path, env={**DEV, "PACE_CORS_ORIGINS": value}, health_port=port)
    err += out
    assert rc not in (0, None), err
    assert "PACE_CORS_ORIGINS" in err, err
