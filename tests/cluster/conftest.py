"""Fixtures of the cluster suite (tests/cluster/), over the library in kit.py.

- `kit` (session): the cluster kit started once with scripts/cluster.sh up
  (3 pace instances, a worker, nginx, PostgreSQL primary + replica, Redis)
  in a temporary state directory on free loopback ports, and stopped with
  `down` at the end of the run, even when a test failed. Rate limits stay
  on, with limits high enough that the suite's load never meets them (a
  429 is then a failure); password hashing is made cheap.
- Each test leaves the kit as it found it: every instance running and
  ready (the `healthy_kit` fixture checks before and after).

The end of the run prints what the tests counted.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kit as kitlib  # noqa: E402

KIT_ENV = {
    "PACE_ARGON2_MEMORY_KIB": "8192",
    "PACE_ARGON2_ITERATIONS": "1",
    "PACE_RATE_LIMIT_REGISTER": "100000",
    "PACE_RATE_LIMIT_LOGIN": "100000",
    "PACE_RATE_LIMIT_LOGIN_ACCOUNT": "100000",
    "PACE_RATE_LIMIT_REFRESH": "100000",
    "PACE_RATE_LIMIT_REFRESH_ACCOUNT": "100000",
    # The load's few users write far more than a person would (0: no bound).
    "PACE_RATE_LIMIT_WRITES": "0",
    "PACE_MAX_QUEUED_JOBS_PER_USER": "0",
    "PACE_DRAIN_SECONDS": "2",
    "PACE_THREADS": "2",
}


def pytest_report_header(config):
    return [f"pace binary: {kitlib.PACE_BIN}"]


def pytest_terminal_summary(terminalreporter):
    if kitlib.REPORT:
        terminalreporter.section("measured")
        for line in kitlib.REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kit():
    if not os.access(kitlib.PACE_BIN, os.X_OK):
        pytest.fail(f"no pace binary at {kitlib.PACE_BIN} (set PACE_BIN)")
    k = kitlib.Kit.up(instances=3, env=KIT_ENV)
    try:
        yield k
    finally:
        k.down()


def _all_ready(k):
    return all(k.is_pace(n, k.pid(n)) and k.ready(n) == 200 for n in k.names + ["worker"])


@pytest.fixture
def healthy_kit(kit):
    kitlib.wait_until(lambda: _all_ready(kit), 60, "every instance of the kit running and ready")
    yield kit
    # Whatever the test did, the next one starts from a whole kit.
    for n in kit.names + ["worker"]:
        if not (kit.is_pace(n, kit.pid(n)) and kit.ready(n) == 200):
            kit.sh("restart", n)
    kitlib.wait_until(lambda: _all_ready(kit), 60, "every instance of the kit running and ready again")
