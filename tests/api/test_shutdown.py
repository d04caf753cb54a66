"""Graceful shutdown: SIGTERM and SIGINT let requests in flight finish, then
the process exits 0 and stops listening; PACE_SHUTDOWN_TIMEOUT bounds the wait."""

import signal
import socket
import threading

import pytest
import requests

from harness import DEV, metric_values, scrape, wait_until


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
