"""Structured logs: stdout is JSON lines, one access line per request with
the documented fields, no secrets, PACE_ACCESS_LOG=off and text format.
Access lines may be buffered for about a second: the tests poll."""

import datetime
import json
import uuid

import pytest
import requests

from harness import DEV, RFC3339_MS_Z_RE, wait_until

ACCESS_FIELDS = {"time", "level", "component", "request_id", "method", "path", "status", "bytes",
                 "duration_ms", "user_id", "client"}


@pytest.fixture(scope="module")
def log_server(module_server_factory):
    # A zone far from UTC (POSIX form, no tzdata needed) shows local time posing as Z.
    return module_server_factory(env={**DEV, "TZ": "IST-5:30"})


def rid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_access_line_fields(log_server):
    r_id = rid("fields")
    r = requests.get(log_server.url + "/health?token=query-secret-123&x=1", headers={"X-Request-Id": r_id},
                     timeout=5)
    assert r.status_code == 200
    (line,) = log_server.wait_for_access(r_id)
    missing = ACCESS_FIELDS - set(line)
    assert not missing, f"access line lacks {sorted(missing)}: {line}"
    assert RFC3339_MS_Z_RE.match(line["time"]), line["time"]
    t = datetime.datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    skew = abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    assert skew < 300, f"access time {line['time']} is {skew:.0f}s from now (local time instead of UTC?)"
    assert line["level"] == "info"
    assert line["component"] == "access"
    assert line["request_id"] == r.headers["X-Request-Id"] == r_id
    assert line["method"] == "GET"
    assert line["path"] == "/health", "the path is logged without its query string"
    assert line["status"] == 200 and type(line["status"]) is int
    assert type(line["bytes"]) is int and line["bytes"] > 0, line["bytes"]
    assert type(line["duration_ms"]) in (int, float) and line["duration_ms"] >= 0, line["duration_ms"]
    assert line["user_id"] is None
    assert line["client"] == "127.0.0.1"
    assert "query-secret-123" not in log_server.stdout()


def test_access_line_for_errors(log_server):
    r_404 = rid("nf")
    r_405 = rid("mna")
    assert requests.get(log_server.url + "/nope", headers={"X-Request-Id": r_404}, timeout=5).status_code == 404
    assert requests.delete(log_server.url + "/health", headers={"X-Request-Id": r_405},
                           timeout=5).status_code == 405
    (a,) = log_server.wait_for_access(r_404)
    (b,) = log_server.wait_for_access(r_405)
    assert (a["method"], a["path"], a["status"]) == ("GET", "/nope", 404), a
    assert (b["method"], b["path"], b["status"]) == ("DELETE", "/health", 405), b


def test_generated_request_id_in_access_line(log_server):
    r = requests.get(log_server.url + "/health", timeout=5)
    (line,) = log_server.wait_for_access(r.headers["X-Request-Id"])
    assert line["path"] == "/health"


def test_exactly_one_access_line_per_request(log_server):
    ids = [rid("once") for _ in range(5)]
    sentinel = rid("sentinel")
    with requests.Session() as s:  # one connection: one loop thread, lines in order
        for i in ids:
            s.get(log_server.url + "/health", headers={"X-Request-Id": i}, timeout=5)
        s.post(log_server.url + "/_dev/echo", json={"k": 1}, headers={"X-Request-Id": ids[0] + "p"}, timeout=5)
        s.get(log_server.url + "/health", headers={"X-Request-Id": sentinel}, timeout=5)
    log_server.wait_for_access(sentinel)
    log_server.wait_for_access(ids[0] + "p")
    lines = log_server.access_lines()
    for i in ids + [ids[0] + "p", sentinel]:
        n = sum(1 for x in lines if x.get("request_id") == i)
        assert n == 1, f"{n} access lines for request {i}"


def test_stdout_is_json_lines(log_server):
    r = requests.get(log_server.url + "/ready", timeout=5)
    log_server.wait_for_access(r.headers["X-Request-Id"])
    lines = log_server.log_lines()  # fails on any line that is not a JSON object
    assert lines
    for x in lines:
        assert isinstance(x.get("level"), str) and isinstance(x.get("time"), str), x


def test_secrets_never_logged(log_server):
    token = "secret-token-xyz"
    password = "hunter2-secret"
    r_ids = []
    for path, method in (("/_dev/echo", "POST"), ("/health", "POST"), ("/nope", "POST")):
        i = rid("secret")
        r_ids.append(i)
        requests.request(method, log_server.url + path,
                         data=json.dumps({"password": password, "note": password}),
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                  "X-Request-Id": i}, timeout=5)
    i = rid("secret")
    r_ids.append(i)
    requests.post(log_server.url + "/_dev/echo", data='{"password":"' + password + '",',
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                           "X-Request-Id": i}, timeout=5)  # malformed: error paths must not echo it
    for i in r_ids:
        log_server.wait_for_access(i)
    out, err = log_server.stdout(), log_server.stderr()
    for s in (token, password):
        assert s not in out, f"{s!r} in stdout"
        assert s not in err, f"{s!r} in stderr"


def test_access_log_off(make_server):
    srv = make_server(env={**DEV, "PACE_ACCESS_LOG": "off"})
    for path in ("/health", "/nope", "/ready"):
        requests.get(srv.url + path, timeout=5)
    rc = srv.stop()  # a clean exit flushes whatever was buffered
    access = [x for x in srv.log_lines() if x.get("component") == "access"]
    assert not access, f"access lines with PACE_ACCESS_LOG=off: {access[:3]}"
    assert rc == 0, f"exit code {rc} on SIGTERM: buffered log lines may have been lost, the check is void"


def test_text_format(make_server):
    srv = make_server(env={**DEV, "PACE_LOG_FORMAT": "text"})
    r_id = rid("text")
    requests.get(srv.url + "/health", headers={"X-Request-Id": r_id}, timeout=5)
    wait_until(lambda: any(r_id in ln for ln in srv.stdout_lines()), 5,
               "the access line (with its request id) in text format")
    lines = srv.stdout_lines()
    for ln in lines:
        try:
            obj = json.loads(ln)
        except ValueError:
            continue
        assert not isinstance(obj, dict), f"JSON line in text format: {ln!r}"
