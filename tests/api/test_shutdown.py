"""Graceful shutdown: SIGTERM and SIGINT let requests in flight finish, then
the process exits 0 and stops listening; PACE_SHUTDOWN_TIMEOUT bounds the wait.
Behind a load balancer: /ready answers 503 for PACE_DRAIN_SECONDS first,
requests whose body is still arriving complete, kept connections end only
between requests and with Connection: close."""

import json
import signal
import socket
import threading
import time

import pytest
import requests

from harness import DEV, RawConn, metric_values, raw_request, scrape, wait_until
from helpers import BASE_ENV, PASSWORD, auth, new_token, unique_name


def in_flight(srv):
    v = metric_values(scrape(srv.url), "pace_http_requests_in_flight")
    assert len(v) == 1, v
    return v[0]


class Background:
    """One GET in a thread; .result is the Response or the exception."""

    def __init__(self, url, timeout):
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(url, timeout), daemon=True)
        self.thread.start()

    def _run(self, url, timeout):
        try:
            self.result = requests.get(url, timeout=timeout)
        except requests.RequestException as e:
            self.result = e


def start_sleep_in_flight(srv, ms):
    """Start /_dev/sleep?ms=... on the blocking pool and return once the
    server counts it in flight (a scrape may count itself: take a baseline)."""
    baseline = in_flight(srv)
    bg = Background(f"{srv.url}/_dev/sleep?ms={ms}&pool=blocking", timeout=ms / 1000 + 20)
    wait_until(lambda: in_flight(srv) >= baseline + 1, 10, "the sleep request to be in flight")
    assert bg.thread.is_alive(), f"sleep request ended early: {bg.result!r}"
    return bg


def assert_refused(srv):
    with pytest.raises(OSError):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = s.recv(100)
        finally:
            s.close()
        if not data:
            raise ConnectionRefusedError("closed without an answer")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_idle_server_exits_cleanly(make_server, sig):
    srv = make_server(env=DEV)
    assert requests.get(srv.url + "/health", timeout=5).status_code == 200
    srv.send_signal(sig)
    rc = srv.wait(20)
    assert rc is not None, f"pace still running 20 s after {sig.name}\n" + srv.describe()
    assert rc == 0, f"exit code {rc} after {sig.name}\n" + srv.describe()
    assert_refused(srv)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_in_flight_requests(make_server, sig):
    srv = make_server(env=DEV)
    bg = start_sleep_in_flight(srv, 2000)
    srv.send_signal(sig)
    rc = srv.wait(20)
    bg.thread.join(25)
    assert rc is not None, f"pace still running 20 s after {sig.name}\n" + srv.describe()
    assert isinstance(bg.result, requests.Response), f"in-flight request failed: {bg.result!r}"
    assert bg.result.status_code == 200, bg.result.text
    assert bg.result.json() == {"slept_ms": 2000}
    assert rc == 0, f"exit code {rc} after {sig.name}\n" + srv.describe()
    assert_refused(srv)


def test_shutdown_timeout_bounds_the_drain(make_server):
    srv = make_server(env={**DEV, "PACE_SHUTDOWN_TIMEOUT": "1"})
    bg = start_sleep_in_flight(srv, 5000)
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(4)
    assert rc is not None, "pace still running 4 s after SIGTERM with PACE_SHUTDOWN_TIMEOUT=1 (waited for the 5 s sleep?)"
    assert rc == 0, f"exit code {rc}\n" + srv.describe()
    bg.thread.join(25)
    res = bg.result
    assert not (isinstance(res, requests.Response) and res.status_code == 200), \
        "the 5 s sleep completed: the shutdown timeout was not applied"
    assert_refused(srv)


# ---------------------------------------------------------------- the drain behind a load balancer


def connect_refused(port):
    """True when a new connection is refused (the listeners are closed)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        return False
    except ConnectionRefusedError:
        return True


def get_ready(srv):
    return requests.get(srv.url + "/ready", timeout=5)


def test_drain_seconds_ready_answers_503_while_requests_are_served(make_server):
    srv = make_server(env={**BASE_ENV, "PACE_DRAIN_SECONDS": "3"})
    token = new_token(srv)
    keep = RawConn(srv.port)  # a proxy's pooled keep-alive connection
    keep.send(raw_request("GET", "/health"))
    r = keep.read_response()
    assert r.status == 200 and r.header("connection", "").lower() != "close"

    srv.send_signal(signal.SIGTERM)
    wait_until(lambda: get_ready(srv).status_code == 503, 2, "/ready to answer 503")
    r = get_ready(srv)
    assert r.json()["status"] == "draining", r.text
    assert r.headers.get("retry-after") == "2"
    assert metric_values(scrape(srv.url), "pace_http_draining") == [1]
    # Everything else is still served, on new connections and on kept ones.
    r = requests.get(srv.url + "/api/v1/users/me", headers=auth(token), timeout=5)
    assert r.status_code == 200, r.text
    keep.send(raw_request("GET", "/api/v1/users/me", {"Authorization": f"Bearer {token}"}))
    r = keep.read_response()
    assert r.status == 200
    assert srv.proc.poll() is None, "pace exited during PACE_DRAIN_SECONDS"

    # Then the listeners close; a request on the kept connection is still
    # answered, with Connection: close, and the connection ends after it.
    wait_until(lambda: connect_refused(srv.port), 8, "the listeners to close")
    keep.send(raw_request("GET", "/api/v1/users/me", {"Authorization": f"Bearer {token}"}))
    r = keep.read_response()
    assert r.status == 200
    assert r.header("connection", "").lower() == "close"
    with pytest.raises(EOFError):
        keep.read_response()
    rc = srv.wait(10)
    assert rc == 0, srv.describe()


def test_a_request_whose_body_is_still_arriving_completes(make_server):
    srv = make_server(env=BASE_ENV)
    body = json.dumps({"username": unique_name("drain"), "email": unique_name("drain") + "@example.com",
                       "password": PASSWORD}).encode()
    conn = RawConn(srv.port, timeout=10)
    conn.send(raw_request("POST", "/api/v1/auth/register",
                          {"Content-Type": "application/json", "Content-Length": str(len(body))}))
    conn.send(body[:10])
    time.sleep(0.2)  # the headers have arrived; the body has not
    srv.send_signal(signal.SIGTERM)
    wait_until(lambda: connect_refused(srv.port), 5, "the listeners to close")
    assert srv.proc.poll() is None, "pace exited with a request's body still arriving"
    conn.send(body[10:])
    r = conn.read_response("POST")
    assert r.status == 201, r.body
    assert r.header("connection", "").lower() == "close"
    rc = srv.wait(10)
    assert rc == 0, srv.describe()


def test_idle_keepalive_connections_are_closed_by_the_idle_timeout(make_server):
    # Never under a client that may be sending a request: pace waits for the
    # client (a proxy's pool closes its idle connections sooner) or for
    # PACE_REQUEST_TIMEOUT of idleness, not for the whole shutdown timeout.
    srv = make_server(env={**BASE_ENV, "PACE_REQUEST_TIMEOUT": "2"})
    idle = RawConn(srv.port, timeout=10)
    idle.send(raw_request("GET", "/health"))
    assert idle.read_response().status == 200
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(10)
    assert rc == 0, srv.describe()
    assert time.monotonic() - t0 < 8, "waited for the shutdown timeout, not the idle timeout"
    with pytest.raises(EOFError):
        idle.read_response()


def test_connections_during_the_listener_close_are_answered_or_refused(make_server):
    """A connection attempt while the listeners close is either served or
    refused (a client may send it elsewhere): never accepted and then reset."""
    srv = make_server(env=BASE_ENV)
    holder = RawConn(srv.port, timeout=10)  # keeps the drain going for a while
    holder.send(raw_request("GET", "/health"))
    holder.read_response()
    outcomes = []
    stop = time.monotonic() + 2.5

    def hammer():
        while time.monotonic() < stop:
            try:
                c = RawConn(srv.port, timeout=5)
            except ConnectionRefusedError:
                outcomes.append("refused")
                continue
            try:
                c.send(raw_request("GET", "/health"))
                outcomes.append(c.read_response().status)
            except (OSError, EOFError) as e:
                outcomes.append(f"failed: {e!r}")
            finally:
                c.sock.close()

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    srv.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(15)
    holder.sock.close()
    assert srv.wait(15) == 0, srv.describe()
    failed = [o for o in outcomes if o not in (200, "refused")]
    assert not failed, failed[:5]
    assert 200 in outcomes and "refused" in outcomes, set(outcomes)


def test_a_second_signal_ends_the_drain_early(make_server):
    srv = make_server(env={**BASE_ENV, "PACE_DRAIN_SECONDS": "60"})
    srv.send_signal(signal.SIGTERM)
    wait_until(lambda: get_ready(srv).status_code == 503, 2, "/ready to answer 503")
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(10)
    assert rc == 0, srv.describe()
    assert time.monotonic() - t0 < 5
