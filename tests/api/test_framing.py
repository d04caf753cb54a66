"""HTTP/1 framing is never more lenient than nginx's: the differential
corpus (tests/framing/corpus.txt) replayed against a real nginx and pace,
requests hidden behind ambiguous framing never run, every refusal is
problem+json with a request id on a closed connection, the absolute form
is served, unknown methods are 501, a long target is 414, and a keep-alive
connection closes after PACE_KEEPALIVE_REQUESTS requests."""

import json
import pathlib
import sys

import pytest

from harness import RawConn, metric_values, raw_request, scrape

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "framing"))
import nginx_runner  # noqa: E402

CORPUS = nginx_runner.load_corpus()


@pytest.fixture(scope="module")
def nginx():
    with nginx_runner.Nginx() as ngx:
        yield ngx


def assert_problem_raw(resp, status, code=None):
    """A response parsed by nginx_runner or RawConn is problem+json with a
    request id in the header and the body alike."""
    assert resp.status == status, resp
    ctype = resp.header("content-type") or ""
    assert ctype.split(";")[0].strip().lower() == "application/problem+json", (ctype, resp)
    rid = resp.header("x-request-id")
    assert rid, f"no X-Request-Id: {resp}"
    body = json.loads(resp.body)
    assert body["status"] == status and body["request_id"] == rid, body
    if code is not None:
        assert body["code"] == code, body
    return body


# ---------------------------------------------------------------- the differential corpus

def test_corpus_pace_never_accepts_what_nginx_refuses(server, nginx):
    names = [n for n, _ in CORPUS]
    assert len(names) == len(set(names)), "duplicate names in the corpus"
    theirs = nginx_runner.replay(nginx.port, CORPUS)
    ours = nginx_runner.replay(server.port, CORPUS)
    lenient, problems = [], []
    for name in names:
        n_resps, _, _ = theirs[name]
        p_resps, p_closed, p_raw = ours[name]
        cn, cp = nginx_runner.classify(n_resps), nginx_runner.classify(p_resps)
        # The corpus means what it says: every ok-* entry is one both serve.
        if name.startswith("ok-"):
            assert cn == "accepted" and cp == "accepted", (name, n_resps, p_resps, p_raw[:300])
        if cp == "accepted" and cn == "rejected":
            lenient.append(f"{name}: nginx {[r.status for r in n_resps]}, pace {[r.status for r in p_resps]}")
        if len(p_resps) > max(len(n_resps), 1):
            lenient.append(f"{name}: pace answered {len(p_resps)} requests, nginx {len(n_resps)}")
        for r in p_resps:
            if r.status >= 400:
                try:
                    assert_problem_raw(r, r.status)
                except (AssertionError, ValueError) as e:
                    problems.append(f"{name}: {e}")
        if cp == "rejected":
            if not p_resps:
                problems.append(f"{name}: pace refused without an answer: {p_raw[:200]!r}")
            if not p_closed:
                problems.append(f"{name}: pace kept the connection open after refusing")
    assert not lenient, "pace accepts what nginx refuses:\n" + "\n".join(lenient)
    assert not problems, "\n".join(problems)
    # And the comparison can fail: nginx refuses a good part of the corpus.
    assert sum(nginx_runner.classify(theirs[n][0]) == "rejected" for n in names) >= 30


# ---------------------------------------------------------------- smuggling

HIDDEN = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: smuggled-%s\r\n\r\n"

SMUGGLING = {
    # The case: the first Content-Length wins, the rest of the body is a request.
    "cl-twice": lambda h: (b"POST /_dev/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 2\r\nContent-Length: %d\r\n\r\n{}" % (len(h) + 2)) + h,
    "te-and-cl": lambda h: (b"POST /_dev/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n2\r\n{}\r\n0\r\n\r\n") + h,
    "te-not-chunked": lambda h: (b"POST /_dev/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                 b"Transfer-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}") + h,
    "te-twice": lambda h: (b"POST /_dev/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n") + h,
    "obs-fold-te": lambda h: (b"POST /_dev/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 2\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n\r\n{}") + h,
    "host-twice": lambda h: b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + h,
    "bad-chunk": lambda h: (b"POST /_dev/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n") + h,
    "ctl-in-header": lambda h: b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n" + h,
}


@pytest.mark.parametrize("case", sorted(SMUGGLING))
def test_hidden_request_never_runs(server, case):
    data = SMUGGLING[case](HIDDEN % case.encode())
    with RawConn(server.port, timeout=5) as c:
        c.send(data)
        resp = c.read_response()
        assert_problem_raw(resp, 400)
        assert (resp.header("connection") or "").lower() == "close", resp
        assert c.closed_by_peer(), "connection still open after an ambiguous request"
        assert b"HTTP/1.1" not in c.buf, f"a second answer: {c.buf[:300]!r}"
    # The server logs every request it runs: the hidden one is not among them.
    with RawConn(server.port, timeout=5) as c:
        c.send(raw_request("GET", "/health", {"X-Request-Id": f"after-{case}"}))
        assert c.read_response().status == 200
    server.wait_for_access(f"after-{case}")
    ran = [x for x in server.access_lines() if x.get("request_id") == f"smuggled-{case}"]
    assert not ran, f"the hidden request ran: {ran}"


def test_control_character_answer_is_problem_json(server):
    """h2o's own plain-text 400 (a head picohttpparser refuses) is replaced,
    and counted."""
    def refused():
        return sum(metric_values(scrape(server.url), "pace_http_requests_total", route="unmatched", status="400"))

    before = refused()
    ids = set()
    for _ in range(2):
        with RawConn(server.port, timeout=5) as c:
            c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n")
            resp = c.read_response()
            body = assert_problem_raw(resp, 400, "bad_request")
            ids.add(body["request_id"])
            assert c.closed_by_peer()
    assert len(ids) == 2, "request ids are not fresh"
    assert refused() == before + 2


# ---------------------------------------------------------------- targets and methods

def test_absolute_form_served_like_its_path(server):
    with RawConn(server.port, timeout=5) as c:
        c.send(b"GET http://example.test:8080/health HTTP/1.1\r\nHost: example.test\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200 and resp.json() == {"status": "ok"}, resp
        c.send(b"POST HTTP://x/_dev/echo?a=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 7\r\n\r\n{\"a\":1}")
        resp = c.read_response()
        assert resp.status == 200 and resp.json() == {"body": {"a": 1}}, resp
        # The query of an absolute target is the request's query.
        c.send(b"GET http://x/_dev/sleep?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200
        c.send(b"GET http://x/_dev/sleep?ms=never HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 400
        c.send(b"GET http://x HTTP/1.1\r\nHost: x\r\n\r\n")
        # "/": the web client's redirect (404 with PACE_WEB=off or a build
        # without web assets): served like "/" either way.
        assert c.read_response().status in (302, 404)


@pytest.mark.parametrize("method", ["CONNECT", "TRACE", "PROPFIND", "FOO"])
def test_unknown_method_is_501(server, method):
    target = "x:443" if method == "CONNECT" else "/health"
    with RawConn(server.port, timeout=5) as c:
        c.send(f"{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert_problem_raw(c.read_response(), 501, "not_implemented")
        assert c.closed_by_peer()


def test_long_target_is_414_and_long_headers_431(server):
    with RawConn(server.port, timeout=5) as c:
        c.send(b"GET /health?" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_problem_raw(c.read_response(), 414, "uri_too_long")
        assert c.closed_by_peer()
    with RawConn(server.port, timeout=5) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        assert_problem_raw(c.read_response(), 431, "headers_too_large")
        assert c.closed_by_peer()


# ---------------------------------------------------------------- keep-alive cap

def test_keep_alive_closes_after_keepalive_requests(make_server):
    srv = make_server(env={"PACE_KEEPALIVE_REQUESTS": "3"})
    with RawConn(srv.port, timeout=5) as c:
        for i in range(3):
            c.send(raw_request("GET", "/health"))
            r = c.read_response()
            assert r.status == 200, r
            want = "close" if i == 2 else "keep-alive"
            assert (r.header("connection") or "").lower() == want, (i, r)
        assert c.closed_by_peer(), "connection open after PACE_KEEPALIVE_REQUESTS requests"
    # Pipelined: the third answer is the last.
    with RawConn(srv.port, timeout=5) as c:
        c.send(raw_request("GET", "/health") * 5)
        assert [c.read_response().status for _ in range(3)] == [200, 200, 200]
        assert c.closed_by_peer()
        assert b"HTTP/1.1" not in c.buf


def test_keep_alive_default_is_1000(server):
    with RawConn(server.port, timeout=10) as c:
        c.send(raw_request("GET", "/health") * 999)
        for i in range(999):
            r = c.read_response()
            assert r.status == 200 and (r.header("connection") or "").lower() == "keep-alive", (i, r)
        c.send(raw_request("GET", "/health") * 2)
        r = c.read_response()
        assert r.status == 200 and (r.header("connection") or "").lower() == "close", r
        assert c.closed_by_peer()
        assert b"HTTP/1.1" not in c.buf


# ---------------------------------------------------------------- chunk lines

CHUNKED_HEAD = (b"POST /_dev/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")


def _chunked(server, pieces, pause=0.0):
    """Sends the head and then each piece on its own (h2o's decoder then
    sees a line across several reads); the answer and whether the
    connection was closed after it."""
    import time
    c = RawConn(server.port)
    try:
        c.send(CHUNKED_HEAD)
        for p in pieces:
            try:
                c.send(p)
            except OSError:
                break  # refused already; the answer is waiting
            if pause:
                time.sleep(pause)
        resp = c.read_response("POST")
        return resp, c.closed_by_peer()
    finally:
        c.close()


@pytest.mark.parametrize("split", [False, True])
def test_a_long_chunk_extension_is_refused_and_the_connection_closed(server, split):
    # 64 KiB of extension on one size line: in one write, or dribbled in 1 KiB
    # writes that h2o's decoder sees as separate reads.
    ext = b"2;" + b"a" * 65536
    pieces = [ext[i:i + 1024] for i in range(0, len(ext), 1024)] if split else [ext]
    resp, closed = _chunked(server, pieces + [b"\r\n{}\r\n0\r\n\r\n"], pause=0.002 if split else 0)
    assert_problem_raw(resp, 400, "bad_request")
    assert closed


def test_a_long_trailer_line_is_refused(server):
    resp, closed = _chunked(server, [b"2\r\n{}\r\n0\r\nX-T: " + b"b" * 65536 + b"\r\n\r\n"])
    assert_problem_raw(resp, 400, "bad_request")
    assert closed


def test_chunk_extensions_within_the_bound_are_served(server):
    # Lines of extensions just under 4 KiB, split across reads: served.
    ext = b";" + b"n=v;" * 900  # 3.6 KiB
    pieces = [b"1" + ext[:2000], ext[2000:] + b"\r\n{\r\n", b"1" + ext + b"\r\n}\r\n", b"0\r\n\r\n"]
    resp, _ = _chunked(server, pieces, pause=0.01)
    assert resp.status == 200, resp
    assert json.loads(resp.body) == {"body": {}}, resp.body


def test_a_long_extension_completed_in_one_read_is_refused(server):
    # The whole line, its CRLF and the rest of the body in one write.
    resp, closed = _chunked(server, [b"2;" + b"a" * 9000 + b"\r\n{}\r\n0\r\n\r\n"])
    assert_problem_raw(resp, 400, "bad_request")
    assert closed


@pytest.mark.parametrize("piece", [1 << 20, 4093, 997])
def test_large_chunked_bodies_decode_exactly_and_what_follows_is_served(server, piece):
    # 300 KB of JSON in chunks of several sizes (with short extensions), sent
    # in pieces that cut lines and data anywhere, followed in the same
    # stream by a pipelined request: the body arrives intact, then the next
    # request is answered on the same connection.
    value = "".join(chr(ord("a") + i % 26) for i in range(300_000))
    data = json.dumps({"v": value}).encode()
    parts, i, sizes = [], 0, [1, 4096, 7000, 65536, 13]
    while i < len(data):
        n = sizes[len(parts) % len(sizes)]
        parts.append(b"%x;k=v\r\n" % len(data[i:i + n]) + data[i:i + n] + b"\r\n")
        i += n
    stream = b"".join(parts) + b"0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    c = RawConn(server.port, timeout=20)
    try:
        c.send(CHUNKED_HEAD)
        for j in range(0, len(stream), piece):
            c.send(stream[j:j + piece])
        first = c.read_response("POST")
        assert first.status == 200, first
        assert json.loads(first.body) == {"body": {"v": value}}
        second = c.read_response("GET")
        assert second.status == 200, second
    finally:
        c.close()
