"""Shared parts of the locust scenarios of bench/load.sh (Debian's python3-locust 2.12).

Each scenario records every request itself (the request event): latency
(timed again here to the microsecond: locust's FastHttpUser gives whole ms),
status, and whether it was an error (a failure the scenario marked, a
connection error or a timeout), and at the end writes a JSON summary to
$LOAD_OUT that bench/load.sh turns into its table:

  {"scenario": ..., "requests": {NAME: stats, ..., "all": stats,
   "all but login": stats}, "extra": {...}}
  stats = {"n", "p50", "p95", "p99", "max", "errors", "status": {code: n},
           "error_kinds": {text: n}, "seconds", "rate"}

Settings come from the environment (LOAD_*), never from the command line,
so that one `locust` command line serves every scenario.
"""
import collections
import json
import os
import random
import time

import gevent
from gevent.event import Event
from locust import events
from locust.exception import StopUser

TIMEOUT = float(os.environ.get("LOAD_CLIENT_TIMEOUT", "30"))  # seconds: a request not answered in that is a timeout


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


def read_lines(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


class Recorder:
    def __init__(self):
        self.rt = collections.defaultdict(list)
        self.status = collections.defaultdict(collections.Counter)
        self.kinds = collections.defaultdict(collections.Counter)
        self.first = collections.defaultdict(lambda: None)
        self.last = collections.defaultdict(float)
        self.extra = {}

    def add(self, name, response_time, response, exception, start_time):
        code = getattr(response, "status_code", 0) or 0
        keys = (name, "all") if name.startswith("POST /auth/login") else (name, "all", "all but login")
        for key in keys:
            self.rt[key].append(response_time)
            self.status[key][str(code)] += 1
            if exception is not None:
                self.kinds[key][("%s: %s" % (code, exception))[:120]] += 1
            if self.first[key] is None or start_time < self.first[key]:
                self.first[key] = start_time
            end = start_time + response_time / 1000.0
            if end > self.last[key]:
                self.last[key] = end

    @staticmethod
    def pct(sorted_values, p):
        if not sorted_values:
            return None
        k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
        return round(sorted_values[k], 3)

    def summary(self):
        out = {}
        for key, values in self.rt.items():
            v = sorted(values)
            secs = max(self.last[key] - (self.first[key] or 0), 1e-9)
            out[key] = {
                "n": len(v), "p50": self.pct(v, 50), "p95": self.pct(v, 95), "p99": self.pct(v, 99),
                "max": round(v[-1], 3) if v else None,
                "errors": sum(self.kinds[key].values()),
                "status": dict(self.status[key]), "error_kinds": dict(self.kinds[key].most_common(8)),
                "seconds": round(secs, 3), "rate": round(len(v) / secs, 1),
            }
        return out


REC = Recorder()


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, response=None,
                context=None, exception=None, start_time=None, **kw):
    # FastHttpUser of locust 2.12 truncates response_time to whole milliseconds:
    # time it again from its start_time (the event fires when the answer is
    # read, or, with catch_response, when the scenario's `with` block ends).
    if start_time:
        response_time = max(response_time, (time.time() - start_time) * 1000.0)
    REC.add(name, response_time, response, exception, start_time or time.time())


@events.quitting.add_listener
def _on_quitting(environment, **kw):
    path = os.environ.get("LOAD_OUT")
    if path:
        with open(path, "w") as f:
            json.dump({"scenario": os.environ.get("LOAD_SCENARIO", "?"), "requests": REC.summary(),
                       "extra": REC.extra}, f, indent=1, sort_keys=True)


class AtOnce:
    """Holds every user until all are spawned, then lets them go together;
    quits the run when `done()` was called once per user."""

    def __init__(self, users):
        self.users = users
        self.go = Event()
        self.finished = 0
        self.t0 = None
        events.spawning_complete.add_listener(self._spawned)

    def _spawned(self, user_count, **kw):
        self.t0 = time.time()
        self.go.set()

    def wait(self):
        self.go.wait()

    def done(self, environment):
        self.finished += 1
        if self.finished == self.users:
            REC.extra["all_done_seconds"] = round(time.time() - self.t0, 3)
            gevent.spawn_later(0.2, environment.runner.quit)
        raise StopUser()


def retry_after(resp):
    """Seconds of a Retry-After header, or None."""
    v = resp.headers.get("Retry-After") if resp is not None and resp.headers else None
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def jitter(seconds):
    """What a well-behaved client waits after a Retry-After: the delay plus up to 1 s."""
    return seconds + random.random()


def post_until_answered(client, path, body, name, ok, max_tries, first, tries):
    """POSTs body to path until it answers `ok`, waiting out each 503 with
    Retry-After (plus the jitter; at most max_tries attempts). A 503 with
    Retry-After is an answer, not an error; anything else is a failure.
    Counts the first attempt's status in `first` and the attempts that
    succeeded (or "failed", "gave up") in `tries`."""
    for attempt in range(1, max_tries + 1):
        with client.post(path, json=body, name=name, catch_response=True) as r:
            wait = retry_after(r)
            if attempt == 1:
                first[str(r.status_code)] += 1
            if r.status_code == ok:
                r.success()
                tries[str(attempt)] += 1
                return
            if r.status_code == 503 and wait is not None:
                r.success()
            else:
                r.failure("unexpected %s" % r.status_code)
                tries["failed"] += 1
                return
        gevent.sleep(jitter(wait))
    tries["gave up"] += 1
