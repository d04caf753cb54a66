"""HTTP behaviour common to every route: errors, request ids, compression,
body limits and parsing, malformed requests, pipelining and keep-alive, slow
clients and the worker pools (with the dev endpoints
/_dev/echo and /_dev/sleep)."""

import gzip
import http.client
import json
import socket
import threading

import pytest
import requests

from harness import (
    DEV,
    REQUEST_ID_RE,
    RawConn,
    assert_problem,
    check_problem_body,
    metric_values,
    raw_request,
    scrape,
)


def assert_serving(srv):
    r = requests.get(srv.url + "/health", timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


# ---------------------------------------------------------------- 404 / 405

@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v1/openapi.json/x"])
def test_unknown_path_is_404_problem(server, path):
    r = requests.get(server.url + path, timeout=5)
    assert_problem(r, 404, "not_found")


@pytest.mark.parametrize("method,path", [("DELETE", "/health"), ("POST", "/health"), ("PUT", "/ready"),
                                         ("POST", "/metrics")])
def test_wrong_method_is_405_with_allow(server, method, path):
    r = requests.request(method, server.url + path, timeout=5)
    assert_problem(r, 405, "method_not_allowed")
    allow = [m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()]
    assert "GET" in allow, f"Allow: {r.headers.get('Allow')!r}"
    assert method not in allow


# ---------------------------------------------------------------- request ids

def test_request_id_echoed(server):
    rid = "abc-123._X"
    r = requests.get(server.url + "/health", headers={"X-Request-Id": rid}, timeout=5)
    assert r.headers.get("X-Request-Id") == rid
    r = requests.get(server.url + "/nope", headers={"X-Request-Id": rid}, timeout=5)
    assert r.headers.get("X-Request-Id") == rid
    assert assert_problem(r, 404, "not_found")["request_id"] == rid


def test_request_id_of_64_chars_echoed(server):
    rid = ("A1b2.C3_d-" * 7)[:64]
    r = requests.get(server.url + "/nope", headers={"X-Request-Id": rid}, timeout=5)
    assert r.headers.get("X-Request-Id") == rid
    assert r.json()["request_id"] == rid


@pytest.mark.parametrize("bad", ["a" * 65, "abc def", "abc/def", "abc!", "a;b", "a\"b", "", "ab\tc"])
def test_insane_request_id_replaced(server, bad):
    r = requests.get(server.url + "/nope", headers={"X-Request-Id": bad}, timeout=5)
    got = r.headers.get("X-Request-Id", "")
    assert REQUEST_ID_RE.match(got), f"generated id {got!r}"
    assert got != bad and got != bad.strip()
    assert r.json()["request_id"] == got


def test_request_id_generated_and_unique(server):
    ids = []
    with requests.Session() as s:
        for _ in range(10):
            ids.append(s.get(server.url + "/health", timeout=5).headers.get("X-Request-Id", ""))
    for _ in range(10):
        ids.append(requests.get(server.url + "/health", timeout=5).headers.get("X-Request-Id", ""))
    for rid in ids:
        assert REQUEST_ID_RE.match(rid), f"generated id {rid!r}"
    assert len(set(ids)) == len(ids), f"duplicate generated ids: {ids}"


# ---------------------------------------------------------------- gzip

def _raw_get(port, path, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_gzip_large_response(server):
    status, headers, plain = _raw_get(server.port, "/api/v1/openapi.json", {"Accept-Encoding": "identity"})
    assert status == 200
    assert headers.get("content-encoding", "identity") == "identity"
    assert len(plain) > 1024, "the OpenAPI document should be larger than 1 KiB"
    status, headers, zipped = _raw_get(server.port, "/api/v1/openapi.json", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("content-encoding") == "gzip", headers
    assert json.loads(gzip.decompress(zipped)) == json.loads(plain)
    assert len(zipped) < len(plain)
    # requests decodes transparently too
    r = requests.get(server.url + "/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"}, timeout=5)
    assert r.headers.get("Content-Encoding") == "gzip"
    assert r.json() == json.loads(plain)


def test_gzip_not_used_for_small_body(server):
    status, headers, body = _raw_get(server.port, "/health", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("content-encoding", "identity") == "identity", headers
    assert json.loads(body) == {"status": "ok"}


# ---------------------------------------------------------------- JSON bodies

def echo(srv, body, content_type="application/json", **kw):
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if isinstance(body, str):
        body = body.encode("utf-8")
    return requests.post(srv.url + "/_dev/echo", data=body, headers=headers, timeout=10, **kw)


def test_echo_round_trip(server):
    doc = {"a": [1, 2, {"b": "c"}], "u": "h\u00e9llo \u2603", "n": None, "t": True, "big": 9007199254740993}
    r = echo(server, json.dumps(doc))
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert r.json() == {"body": doc}


def test_json_with_charset_accepted(server):
    r = echo(server, '{"x":1}', content_type="application/json; charset=utf-8")
    assert r.status_code == 200, r.text
    assert r.json() == {"body": {"x": 1}}


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
def test_non_json_content_type_is_415(server, ctype):
    r = echo(server, '{"x":1}', content_type=ctype)
    assert_problem(r, 415, "unsupported_media_type")


@pytest.mark.parametrize("body", [
    b'{"a":',
    b"",
    b'{"a":1} trailing',
    b"{'a':1}",
    b'{"a":"\xff\xfe"}',
    b"[1,2,]",
], ids=["truncated", "empty", "trailing-garbage", "single-quotes", "invalid-utf8", "trailing-comma"])
def test_malformed_json_is_400(server, body):
    r = echo(server, body)
    assert_problem(r, 400, "malformed_json")


def nested(depth, kind="array"):
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.mark.parametrize("kind", ["array", "object"])
def test_json_depth_limit(server, kind):
    ok = echo(server, nested(32, kind))
    assert ok.status_code == 200, f"32 levels should be accepted: {ok.text[:300]}"
    assert ok.json()["body"] == json.loads(nested(32, kind))
    assert_problem(echo(server, nested(33, kind)), 400, "malformed_json")


def test_very_deep_json_rejected_and_server_survives(server):
    assert_problem(echo(server, nested(100000)), 400, "malformed_json")
    assert_serving(server)


# ---------------------------------------------------------------- body size limit

LIMIT = 1024


@pytest.fixture(scope="module")
def small_body_server(module_server_factory):
    return module_server_factory(env={**DEV, "PACE_MAX_BODY_BYTES": str(LIMIT)})


def json_of_size(n):
    s = '{"s":"' + "x" * (n - 8) + '"}'
    assert len(s) == n
    return s


def test_body_at_limit_accepted(small_body_server):
    body = json_of_size(LIMIT)
    r = echo(small_body_server, body)
    assert r.status_code == 200, r.text[:300]
    assert r.json() == {"body": json.loads(body)}


def test_body_over_limit_is_413_and_closes(small_body_server):
    for size in (LIMIT + 1, 2000):
        with RawConn(small_body_server.port, timeout=5) as c:
            c.send(raw_request("POST", "/_dev/echo", {"Content-Type": "application/json"}, json_of_size(size)))
            resp = c.read_response()
            assert resp.status == 413, resp
            assert resp.header("content-type", "").startswith("application/problem+json"), resp
            check_problem_body(resp.json(), 413, "body_too_large", resp.header("x-request-id"))
            assert c.closed_by_peer(), f"connection still open after 413 for a {size}-byte body"
    assert_serving(small_body_server)


def test_client_still_sending_an_oversized_body_reads_the_413(small_body_server):
    """After a 413 the server keeps reading (and dropping) the rest of the body
    before it closes (a lingering close), so a client that writes its whole
    body before reading gets the answer, not a connection reset."""
    body = json_of_size(8 * 1024 * 1024).encode()
    for _ in range(3):
        with RawConn(small_body_server.port, timeout=10) as c:
            c.send(raw_request("POST", "/_dev/echo", {"Content-Type": "application/json"}, body))
            resp = c.read_response()
            assert resp.status == 413, resp
            check_problem_body(resp.json(), 413, "body_too_large", resp.header("x-request-id"))
            assert c.closed_by_peer(), "connection still open after 413"
    assert_serving(small_body_server)


def test_huge_content_length_rejected_without_reading_body(small_body_server):
    with RawConn(small_body_server.port, timeout=5) as c:
        c.send(raw_request("POST", "/_dev/echo", {"Content-Type": "application/json",
                                                  "Content-Length": "1000000000"}))
        try:
            resp = c.read_response()
        except socket.timeout:
            pytest.fail("no answer within 5 s to a 1 GB Content-Length: the server waits for the body")
        assert resp.status == 413, resp
        assert resp.header("content-type", "").startswith("application/problem+json"), resp
        check_problem_body(resp.json(), 413, "body_too_large", resp.header("x-request-id"))
        assert c.closed_by_peer(), "connection still open after 413"
    assert_serving(small_body_server)


def chunked(body, size=300):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def test_chunked_body_within_limit_accepted(small_body_server):
    body = json_of_size(700).encode()
    with RawConn(small_body_server.port, timeout=5) as c:
        c.send(raw_request("POST", "/_dev/echo", {"Content-Type": "application/json",
                                                  "Transfer-Encoding": "chunked"}) + chunked(body))
        resp = c.read_response()
        assert resp.status == 200, resp
        assert resp.json() == {"body": json.loads(body)}


def test_chunked_body_over_limit_is_413(small_body_server):
    body = json_of_size(2000).encode()
    with RawConn(small_body_server.port, timeout=5) as c:
        c.send(raw_request("POST", "/_dev/echo", {"Content-Type": "application/json",
                                                  "Transfer-Encoding": "chunked"}) + chunked(body))
        resp = c.read_response()
        assert resp.status == 413, resp
        assert resp.header("content-type", "").startswith("application/problem+json"), resp
        check_problem_body(resp.json(), 413, "body_too_large", resp.header("x-request-id"))
        assert c.closed_by_peer(), "connection still open after 413"
    assert_serving(small_body_server)


# ---------------------------------------------------------------- malformed HTTP

@pytest.mark.parametrize("data", [
    b"GARBAGE\r\n\r\n",
    b"GET /health HTXP/1.1\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost x\r\nNoColonHere\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
], ids=["garbage", "bad-version", "header-without-colon", "tls-hello"])
def test_malformed_request_is_400_and_closed(server, data):
    with RawConn(server.port, timeout=5) as c:
        c.send(data)
        resp = c.read_response()
        assert resp.status == 400, resp
        assert c.closed_by_peer(), "connection still open after a malformed request"
    assert_serving(server)


@pytest.mark.parametrize("shape", ["one-big-header", "many-headers"])
def test_headers_over_8k_rejected(server, shape):
    if shape == "one-big-header":
        extra = "X-Big: " + "a" * 16384 + "\r\n"
    else:
        extra = "".join(f"X-H{i}: {'b' * 100}\r\n" for i in range(90))  # ~10 KB in 90 headers
    data = f"GET /health HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()
    assert len(data) > 8192
    with RawConn(server.port, timeout=5) as c:
        c.send(data)
        resp = c.read_response()
        # h2o's own cap is about 400 KiB; pace's PACE_MAX_HEADER_BYTES (8 KiB) answers 431
        assert resp.status == 431, f"{len(data)} header bytes: {resp}"
        assert resp.json()["code"] == "headers_too_large", resp
        assert c.closed_by_peer(), "connection still open after oversized headers"
    assert_serving(server)


def test_huge_headers_rejected(server):
    data = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 500000 + b"\r\n\r\n"
    with RawConn(server.port, timeout=5) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading and close early
        if not c.eof:
            try:
                resp = c.read_response()
                assert resp.status == 400, resp
            except EOFError:
                pass
            assert c.closed_by_peer(), "connection still open after 500 KB of headers"
    assert_serving(server)


# ---------------------------------------------------------------- pipelining / keep-alive

def test_pipelining(server):
    ids = ["pipe-1", "pipe-2", "pipe-3"]
    data = (raw_request("GET", "/health", {"X-Request-Id": ids[0]})
            + raw_request("GET", "/nope", {"X-Request-Id": ids[1]})
            + raw_request("GET", "/health", {"X-Request-Id": ids[2]}))
    with RawConn(server.port, timeout=5) as c:
        c.send(data)
        got = [c.read_response() for _ in ids]
    assert [r.status for r in got] == [200, 404, 200], got
    assert [r.header("x-request-id") for r in got] == ids
    assert got[0].json() == {"status": "ok"} and got[2].json() == {"status": "ok"}
    assert got[1].json()["request_id"] == ids[1]


def test_keep_alive(server):
    with RawConn(server.port, timeout=5) as c:
        for i in range(3):
            c.send(raw_request("GET", "/health", {"X-Request-Id": f"ka-{i}"}))
            r = c.read_response()
            assert r.status == 200 and r.header("x-request-id") == f"ka-{i}", r
            assert "close" not in (r.header("connection") or "").lower(), r
    with requests.Session() as s:
        for _ in range(3):
            assert s.get(server.url + "/health", timeout=5).status_code == 200


# ---------------------------------------------------------------- slow clients

@pytest.fixture(scope="module")
def slow_server(module_server_factory):
    return module_server_factory(env={**DEV, "PACE_REQUEST_TIMEOUT": "2"})


def test_slow_headers_closed(slow_server):
    with RawConn(slow_server.port, timeout=8) as c:
        c.send(b"GET /health HTTP/1.1\r\nHo")
        assert c.closed_by_peer(), "incomplete headers kept open past the request timeout"
    assert_serving(slow_server)


def test_slow_body_closed(slow_server):
    with RawConn(slow_server.port, timeout=8) as c:
        c.send(raw_request("POST", "/_dev/echo", {"Content-Type": "application/json",
                                                  "Content-Length": "100"}) + b'{"a":"1234')
        assert c.closed_by_peer(), "incomplete body kept open past the request timeout"
        assert b"200 OK" not in c.buf
    assert_serving(slow_server)


def test_idle_keep_alive_closed(slow_server):
    with RawConn(slow_server.port, timeout=8) as c:
        c.send(raw_request("GET", "/health"))
        assert c.read_response().status == 200
        assert c.closed_by_peer(), "idle keep-alive connection kept open past the request timeout"


# ---------------------------------------------------------------- worker pools

def test_sleep_endpoint(server):
    r = requests.get(server.url + "/_dev/sleep", params={"ms": 0, "pool": "blocking"}, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json() == {"slept_ms": 0}
    r = requests.get(server.url + "/_dev/sleep", params={"ms": 20, "pool": "hash"}, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json() == {"slept_ms": 20}


@pytest.mark.parametrize("ms", ["abc", "-1", "10001", "", "1.5", "99999999999999999999"])
def test_sleep_bad_ms_is_400(server, ms):
    r = requests.get(server.url + "/_dev/sleep", params={"ms": ms, "pool": "blocking"}, timeout=5)
    assert_problem(r, 400, "invalid_parameter")


def test_hash_pool_sheds_load(make_server):
    srv = make_server(env={**DEV, "PACE_HASH_THREADS": "1", "PACE_HASH_QUEUE": "1"})
    cap = metric_values(scrape(srv.url), "pace_pool_queue_capacity", pool="hash")
    assert cap == [1], f"pace_pool_queue_capacity{{pool=\"hash\"}} = {cap}"
    results = [None] * 6

    def fire(i):
        try:
            results[i] = requests.get(srv.url + "/_dev/sleep-hash", params={"ms": 1500}, timeout=20)
        except requests.RequestException as e:
            results[i] = e

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    max_depth = 0
    try:
        # the loop keeps serving while the hash pool is saturated
        r = requests.get(srv.url + "/health", timeout=5)
        assert r.status_code == 200
        assert any(t.is_alive() for t in threads), "the sleeps ended before /health was checked"
        while any(t.is_alive() for t in threads) and max_depth < 1:
            d = metric_values(scrape(srv.url), "pace_pool_queue_depth", pool="hash")
            max_depth = max([max_depth] + d)
    finally:
        for t in threads:
            t.join(30)
    for res in results:
        assert isinstance(res, requests.Response), f"request failed: {res!r}"
    statuses = sorted(r.status_code for r in results)
    assert 200 in statuses and 503 in statuses, \
        f"6 concurrent 1.5 s sleeps on a hash pool of 1 thread + 1 queue slot: statuses {statuses}"
    assert set(statuses) <= {200, 503}, statuses
    for res in results:
        if res.status_code == 200:
            assert res.json() == {"slept_ms": 1500}
        else:
            assert_problem(res, 503, "overloaded")
            ra = res.headers.get("Retry-After", "")
            assert ra.isdigit(), f"Retry-After {ra!r}"
    assert max_depth >= 1, "never saw pace_pool_queue_depth{pool=\"hash\"} >= 1 while a job waited"
