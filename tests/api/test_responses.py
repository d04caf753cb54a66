"""Headers every response carries (charset, nosniff, Cache-Control), gzip
negotiated by RFC 9110 weights with Vary on every variant, and who may read
/metrics (PACE_METRICS_ALLOW, PACE_METRICS_LISTEN). Raw sockets where an
HTTP client would rewrite Accept-Encoding or decode the body."""

import gzip
import json
import socket

import pytest

from harness import DEV, RawConn, check_problem_body, free_port, raw_request, run_pace
from helpers import auth, get, new_user, post

BIG = "/api/v1/openapi.json"  # a 200 larger than the compression threshold (1 KiB)


def raw_get(port, path, headers=None, source=None, method="GET"):
    """One request on a fresh connection (from source address `source`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    if source is not None:
        sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    c = RawConn.__new__(RawConn)
    c.sock, c.buf, c.eof = sock, b"", False
    with c:
        c.send(raw_request(method, path, headers=headers))
        return c.read_response(method)


def media(resp):
    return resp.header("content-type", "")


# ---------------------------------------------------------------- charset, nosniff, no-store

def test_json_and_problem_carry_charset_and_nosniff(server):
    ok = raw_get(server.port, "/health")
    assert ok.status == 200 and media(ok) == "application/json; charset=utf-8", ok
    missing = raw_get(server.port, "/nope")
    assert missing.status == 404 and media(missing) == "application/problem+json; charset=utf-8", missing
    wrong = raw_get(server.port, "/health", method="DELETE")
    assert wrong.status == 405 and media(wrong) == "application/problem+json; charset=utf-8", wrong
    metrics = raw_get(server.port, "/metrics")
    assert metrics.status == 200 and media(metrics).startswith("text/plain"), metrics
    for resp in (ok, missing, wrong, metrics):
        assert resp.headers.get("x-content-type-options") == ["nosniff"], resp
        assert resp.headers.get("cache-control") == ["no-store"], resp


def test_errors_h2o_answers_itself_carry_the_same_headers(make_server):
    """413 from h2o's body limit goes through the problem filter."""
    srv = make_server(env={"PACE_MAX_BODY_BYTES": "64"})
    with RawConn(srv.port) as c:
        c.send(raw_request("POST", "/api/v1/auth/login", {"Content-Type": "application/json"}, b"x" * 100))
        resp = c.read_response()
    assert resp.status == 413, resp
    check_problem_body(resp.json(), 413, "body_too_large", resp.header("x-request-id"))
    assert media(resp) == "application/problem+json; charset=utf-8", resp
    assert resp.header("x-content-type-options") == "nosniff", resp
    assert resp.header("cache-control") == "no-store", resp


def test_tokens_and_personal_data_are_not_stored(server):
    user = new_user(server)
    r = post(server, "/api/v1/auth/refresh", {"refresh_token": user["refresh"]})
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store" and r.headers.get("Pragma") == "no-cache"
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    token = r.json()["access_token"]
    created = post(server, "/api/v1/tasks", {"title": "private"}, token=token)
    assert created.status_code == 201, created.text
    gone = get(server, "/api/v1/profile", token=token)  # personal data, none yet
    assert gone.status_code == 404 and gone.headers["Cache-Control"] == "no-store"
    denied = get(server, "/api/v1/tasks", token="not-a-token")
    assert denied.status_code == 401 and denied.headers["Cache-Control"] == "no-store"
    # The ETag'd reads: no shared cache may keep them, a private one must ask
    # pace (which authenticates) before every use, and 304 still works.
    assert created.headers["Cache-Control"] == "private, no-cache" and created.headers["ETag"]
    for path in ("/api/v1/users/me", "/api/v1/tasks", f"/api/v1/tasks/{created.json()['id']}"):
        r = get(server, path, token=token)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["Cache-Control"] == "private, no-cache", path
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        again = get(server, path, token=token, headers={"If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304, path
        # Never no-store on a 304: a cache would apply it to the stored body.
        assert again.headers.get("Cache-Control") == "private, no-cache", path


# ---------------------------------------------------------------- gzip by weight

@pytest.mark.parametrize("accept,gzipped", [
    ("gzip", True),
    ("gzip;q=1", True),
    ("gzip; q=0.5", True),
    ("GZIP;Q=1.000", True),
    ("identity;q=1, gzip;q=0.001", True),
    ("*;q=0.5", True),
    ("*", True),
    ("br, x-gzip", True),
    ("gzip;q=0", False),
    ("gzip;q=0.000", False),
    ("gzip;q=0, *;q=1", False),
    ("*;q=0", False),
    ("identity", False),
    ("br", False),
    ("gzip;q=2", False),  # a malformed weight accepts nothing
    ("", False),
])
def test_gzip_follows_the_weights(server, accept, gzipped):
    resp = raw_get(server.port, BIG, {"Accept-Encoding": accept})
    assert resp.status == 200, resp
    assert (resp.header("content-encoding") == "gzip") == gzipped, (accept, resp.headers)
    body = gzip.decompress(resp.body) if gzipped else resp.body
    assert json.loads(body)["openapi"].startswith("3."), accept
    assert resp.headers.get("vary") == ["accept-encoding"], (accept, resp.headers)


def test_accept_encoding_over_several_lines_is_one_list(server):
    with RawConn(server.port) as c:
        c.send(f"GET {BIG} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\nAccept-Encoding: gzip;q=0.8\r\n\r\n")
        resp = c.read_response()
    assert resp.header("content-encoding") == "gzip", resp.headers
    with RawConn(server.port) as c:
        c.send(f"GET {BIG} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nAccept-Encoding: gzip;q=0\r\n\r\n")
        resp = c.read_response()
    assert resp.header("content-encoding") is None, resp.headers


def test_vary_on_every_variant_of_a_compressible_response(server):
    """Without Accept-Encoding (h2o alone sent no Vary then) and for HEAD."""
    plain = raw_get(server.port, BIG)
    assert plain.status == 200 and plain.header("content-encoding") is None
    assert plain.headers.get("vary") == ["accept-encoding"], plain.headers
    head = raw_get(server.port, BIG, {"Accept-Encoding": "gzip"}, method="HEAD")
    assert head.status == 200 and head.headers.get("vary") == ["accept-encoding"], head.headers
    small = raw_get(server.port, "/health", {"Accept-Encoding": "gzip"})
    assert small.header("content-encoding") is None and small.header("vary") is None, small.headers


# ---------------------------------------------------------------- who reads /metrics

def can_bind(addr):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((addr, 0))
        return True
    except OSError:
        return False


def assert_hidden(resp):
    """The answer of a path that does not exist."""
    assert resp.status == 404, resp
    check_problem_body(resp.json(), 404, "not_found", resp.header("x-request-id"))
    assert resp.json()["detail"] == "no resource at this path"


def test_metrics_from_loopback_by_default(server):
    resp = raw_get(server.port, "/metrics")
    assert resp.status == 200 and b"pace_build_info" in resp.body


@pytest.mark.skipif(not can_bind("127.0.0.2"), reason="needs 127.0.0.2 as a source address")
def test_metrics_allow_is_the_tcp_peer_not_x_forwarded_for(make_server):
    srv = make_server(env={"PACE_METRICS_ALLOW": "10.0.0.0/8, 127.0.0.2",
                           "PACE_TRUSTED_PROXIES": "127.0.0.0/8"})
    assert_hidden(raw_get(srv.port, "/metrics"))
    # A trusted proxy naming an allowed client changes nothing: the peer counts.
    assert_hidden(raw_get(srv.port, "/metrics", {"X-Forwarded-For": "10.1.2.3"}))
    allowed = raw_get(srv.port, "/metrics", source="127.0.0.2")
    assert allowed.status == 200 and b"pace_build_info" in allowed.body, allowed
    allowed = raw_get(srv.port, "/metrics", {"X-Forwarded-For": "203.0.113.9"}, source="127.0.0.2")
    assert allowed.status == 200, allowed
    # Everything else is served to everyone.
    assert raw_get(srv.port, "/health").status == 200


def test_metrics_allow_empty_hides_metrics(make_server):
    srv = make_server(env={"PACE_METRICS_ALLOW": ""})
    assert_hidden(raw_get(srv.port, "/metrics"))


@pytest.mark.parametrize("value", ["localhost", "10.0.0.0/33", "127.0.0.1/", "::1/129", "1.2.3.4/-1"])
def test_invalid_metrics_allow_stops_start_up(tmp_path, value):
    port = free_port()
    rc, out, err = run_pace(["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", tmp_path / "d"],
                            tmp_path, env={"PACE_METRICS_ALLOW": value}, health_port=port)
    err += out
    assert rc not in (0, None), err
    assert "PACE_METRICS_ALLOW" in err, err


def test_metrics_listener_serves_metrics_health_ready_only(make_server):
    mport = free_port()
    srv = make_server(env={**DEV, "PACE_METRICS_LISTEN": f"127.0.0.1:{mport}"})
    assert_hidden(raw_get(srv.port, "/metrics"))  # not on the API listener, even from loopback
    assert raw_get(srv.port, "/health").status == 200
    metrics = raw_get(mport, "/metrics")
    assert metrics.status == 200 and b"pace_http_requests_total" in metrics.body, metrics
    assert metrics.header("x-content-type-options") == "nosniff"
    assert raw_get(mport, "/health").json() == {"status": "ok"}
    assert raw_get(mport, "/ready").status == 200
    for path in ("/api/v1/openapi.json", "/api/v1/tasks", "/_dev/routes", "/nope"):
        assert_hidden(raw_get(mport, path))
    # The listener's requests are logged and counted like the API's.
    with RawConn(mport) as c:
        c.send(raw_request("GET", "/health", {"X-Request-Id": "metrics-listener-1"}))
        assert c.read_response().status == 200
    srv.wait_for_access("metrics-listener-1")


def test_metrics_listener_that_cannot_bind_stops_start_up(tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        rc, out, err = run_pace(["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", tmp_path / "d"],
                                tmp_path, env={"PACE_METRICS_LISTEN": f"127.0.0.1:{busy}"}, health_port=port)
    err += out
    assert rc not in (0, None), err
    assert "PACE_METRICS_LISTEN" in err, err
