#!/usr/bin/python3
"""Helpers of bench/redis.sh (Python standard library only; loopback only).

    redis_bench.py sessions URL LOGIN PASSWORD N FILE
        log in N times (8 at a time); write the N refresh tokens to FILE
    redis_bench.py seed URL PREFIX N PASSWORD FILE
        register N users PREFIX0..PREFIX<N-1>, log each in, set a fitness
        profile and add 3 tasks; write "access_token username" lines to FILE
    redis_bench.py plan URL TOKEN
        POST /api/v1/plans (workout) and poll until it is ready (60 s);
        prints the plan's id
    redis_bench.py snap URL FILE
        save pace's /metrics (the counters and histograms this scenario
        reads) to FILE as JSON
    redis_bench.py delta FILE URL REQUESTS
        what happened since the snapshot FILE, per wrk request: prints
        "db_per_req redis_per_req hit_ratio rtt_p50_le_ms rtt_mean_ms rtt_count
        redis_errors breaker_state"
        (hit_ratio over every cache, "NA" when nothing was looked up or
        there is no cache; the round trip from the
        pace_redis_round_trip_seconds histogram: the upper bound of the
        bucket that holds the median (the histogram's first bucket is
        0.5 ms), and the mean; the Redis errors of every kind (timeouts,
        connection, reply, refused by the breaker) and the breaker's state
        at the end (0 closed); "NA" without Redis)
    redis_bench.py lag A B C LOGIN PASSWORD TRIALS INTERVAL_MS [SLOW_MS JITTER_MS]
        revocation propagation: TRIALS times, log in on A, check that B and
        C accept the access token, then log out on A while B and C are
        polled every INTERVAL_MS until they answer 401 (5 s at most).
        The delay of a trial is the later of B's and C's first 401, from
        the moment A's 204 arrived (0 when both refused already). Prints
        "trials median_ms p99_ms max_ms already_refused timeouts errors";
        each trial slower than SLOW_MS (50) is named on stderr with both delays;
        before each logout a pause drawn from 0..JITTER_MS (20; give the
        database poll's period when measuring it, so logouts fall at every
        phase of it)
    redis_bench.py lagmetric FILE URL...
        pace_revocation_lag_seconds since the snapshots FILE.<i> of each URL,
        summed over the URLs: prints "count p50_ms p99_ms mean_ms redis_errors"
        (percentiles interpolated inside the histogram's buckets)
"""

import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse

PROFILE = {
    "sex": "female",
    "birth_date": "1991-05-05",
    "height_cm": 168,
    "weight_kg": 64,
    "activity_level": "moderate",
    "goal": "build_muscle",
    "experience": "intermediate",
    "days_per_week": 4,
    "session_minutes": 60,
    "equipment": "full_gym",
    "diet": "vegetarian",
    "meals_per_day": 4,
    "exclude_foods": ["peanuts"],
}


class Client:
    """One keep-alive connection to a pace on loopback."""

    def __init__(self, url, timeout=30):
        u = urllib.parse.urlparse(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.conn = None

    def call(self, method, path, body=None, token=None):
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, raw
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method, path, body=None, token=None, expect=(200,)):
        status, raw = self.call(method, path, body, token)
        if status not in expect:
            sys.exit(f"{method} {path}: {status} {raw[:200]!r}")
        return json.loads(raw) if raw else None


def run_parallel(url, n, work, threads=8):
    """Runs work(client, i) for i in range(n) on `threads` keep-alive connections."""
    out, errors, nxt, lock = [None] * n, [], [0], threading.Lock()

    def run():
        client = Client(url)
        while not errors:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            try:
                out[i] = work(client, i)
            except (SystemExit, Exception) as e:  # noqa: BLE001 - reported below
                errors.append(str(e) or repr(e))

    ts = [threading.Thread(target=run) for _ in range(min(threads, max(n, 1)))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.exit(f"{len(errors)} failed: {errors[:3]}")
    return out


def cmd_sessions(url, login, password, n, path):
    def work(c, _i):
        return c.json("POST", "/api/v1/auth/login", {"login": login, "password": password})["refresh_token"]

    tokens = run_parallel(url, int(n), work)
    with open(path, "w") as f:
        f.write("".join(t + "\n" for t in tokens))


def cmd_seed(url, prefix, n, password, path):
    def work(c, i):
        name = f"{prefix}{i}"
        c.json(
            "POST",
            "/api/v1/auth/register",
            {"username": name, "email": f"{name}@example.com", "password": password},
            expect=(201, 200),
        )
        tok = c.json("POST", "/api/v1/auth/login", {"login": name, "password": password})["access_token"]
        c.json("PUT", "/api/v1/profile", PROFILE, token=tok)
        for k in range(3):
            c.json("POST", "/api/v1/tasks", {"title": f"task {k} of {name}"}, token=tok, expect=(201,))
        return f"{tok} {name}"

    lines = run_parallel(url, int(n), work)
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))


def cmd_plan(url, token):
    c = Client(url)
    plan = c.json("POST", "/api/v1/plans", {"kind": "workout", "weeks": 4}, token=token, expect=(202,))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        p = c.json("GET", f"/api/v1/plans/{plan['id']}", token=token)
        if p["state"] == "ready":
            print(p["id"])
            return
        if p["state"] not in ("queued", "running"):
            sys.exit(f"plan {p['id']} is {p['state']}")
        time.sleep(0.1)
    sys.exit("the plan was not ready within 60 s")


# --- metrics ----------------------------------------------------------------------

LINE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")
KEEP = (
    "pace_db_queries_total",
    "pace_redis_commands_total",
    "pace_cache_hits_total",
    "pace_cache_misses_total",
    "pace_redis_errors_total",
    "pace_redis_round_trip_seconds",
    "pace_revocation_lag_seconds",
    "pace_redis_breaker_state",
)


def scrape(url):
    status, raw = Client(url, timeout=10).call("GET", "/metrics")
    if status != 200:
        sys.exit(f"GET /metrics: {status}")
    m = {}
    for line in raw.decode().splitlines():
        g = LINE.match(line)
        if g and g.group(1).startswith(KEEP):
            m[g.group(1) + (g.group(2) or "")] = float(g.group(3))
    return m


def total(m, name):
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


def histogram(before, after, name):
    """Delta of a histogram: ([(upper bound s, count in bucket)], count, sum s)."""
    cum = []
    for k, v in after.items():
        g = re.match(re.escape(name) + r'_bucket\{le="([^"]+)"\}$', k)
        if g:
            cum.append((float(g.group(1)), v - before.get(k, 0.0)))
    cum.sort()
    count = after.get(name + "_count", 0.0) - before.get(name + "_count", 0.0)
    s = after.get(name + "_sum", 0.0) - before.get(name + "_sum", 0.0)
    return cum, count, s


def quantile(cum, count, q):
    """Quantile q of a cumulative histogram, linear inside its bucket (ms)."""
    if count <= 0:
        return None
    rank = q * count
    lo, prev = 0.0, 0.0
    for le, c in cum:
        if c >= rank:
            if le == float("inf"):
                return lo * 1000
            frac = (rank - prev) / (c - prev) if c > prev else 1.0
            return (lo + (le - lo) * frac) * 1000
        lo, prev = le, c
    return lo * 1000


def bucket_of(cum, count, q):
    """Upper bound (ms) of the bucket that holds quantile q: "the median is at most this"."""
    if count <= 0:
        return None
    for le, c in cum:
        if c >= q * count:
            return le * 1000
    return None


def fmt(v, spec):
    return "NA" if v is None else format(v, spec)


def cmd_snap(url, path):
    with open(path, "w") as f:
        json.dump(scrape(url), f)


def cmd_delta(path, url, requests):
    with open(path) as f:
        before = json.load(f)
    after = scrape(url)
    req = float(requests)
    d = {n: total(after, n) - total(before, n) for n in KEEP[:5]}
    db = d["pace_db_queries_total"] / req if req > 0 else None
    has_redis = any(k.startswith("pace_redis_commands_total") for k in after)
    rd = d["pace_redis_commands_total"] / req if req > 0 and has_redis else None
    looked = d["pace_cache_hits_total"] + d["pace_cache_misses_total"]
    hit = d["pace_cache_hits_total"] / looked if looked > 0 else None
    cum, count, s = histogram(before, after, "pace_redis_round_trip_seconds")
    p50 = bucket_of(cum, count, 0.5)
    mean = s / count * 1000 if count > 0 else None
    has_db = any(k.startswith("pace_db_queries_total") for k in after)
    print(
        fmt(db if has_db else None, ".3f"),
        fmt(rd, ".3f"),
        fmt(hit, ".4f"),
        fmt(p50, ".3f"),
        fmt(mean, ".3f"),
        int(count),
        int(d["pace_redis_errors_total"]) if has_redis else "NA",
        int(after["pace_redis_breaker_state"]) if has_redis else "NA",
    )


def cmd_lagmetric(path, *urls):
    cum_all, count_all, sum_all, errors = {}, 0.0, 0.0, 0
    for i, url in enumerate(urls):
        with open(f"{path}.{i}") as f:
            before = json.load(f)
        after = scrape(url)
        errors += int(total(after, "pace_redis_errors_total") - total(before, "pace_redis_errors_total"))
        cum, count, s = histogram(before, after, "pace_revocation_lag_seconds")
        for le, c in cum:
            cum_all[le] = cum_all.get(le, 0.0) + c
        count_all += count
        sum_all += s
    cum = sorted(cum_all.items())
    mean = sum_all / count_all * 1000 if count_all > 0 else None
    print(
        int(count_all),
        fmt(quantile(cum, count_all, 0.5), ".3f"),
        fmt(quantile(cum, count_all, 0.99), ".3f"),
        fmt(mean, ".3f"),
        errors,
    )


# --- revocation propagation ------------------------------------------------------------


def cmd_lag(a, b, c, login, password, trials, interval_ms, slow_ms="50", jitter_ms="20"):
    trials, interval, slow = int(trials), float(interval_ms) / 1000, float(slow_ms) / 1000
    jitter = float(jitter_ms) / 1000
    names = {b: "B", c: "C"}
    ca = Client(a, timeout=10)
    pollers = {b: Client(b, timeout=10), c: Client(c, timeout=10)}
    delays, already, timeouts, errors = [], 0, 0, []
    rnd = random.Random(12)

    def poll(url, token, go, out):
        cl = pollers[url]
        go.wait()
        deadline = time.perf_counter() + 5
        while time.perf_counter() < deadline:
            status, _ = cl.call("GET", "/api/v1/users/me", token=token)
            if status == 401:
                out[url] = time.perf_counter()
                return
            if status != 200:
                out[url] = f"status {status}"
                return
            time.sleep(interval)
        out[url] = None  # timed out

    for _ in range(trials):
        pair = ca.json("POST", "/api/v1/auth/login", {"login": login, "password": password})
        token = pair["access_token"]
        ok = True
        for url, cl in pollers.items():
            status, _ = cl.call("GET", "/api/v1/users/me", token=token)
            if status != 200:
                errors.append(f"{url} answered {status} before the logout")
                ok = False
        if not ok:
            continue
        # A trial starts right after the later instance saw the previous
        # revocation, i.e. just after its poll: without a pause drawn over a
        # whole poll period every logout would land at the same phase.
        time.sleep(rnd.uniform(0, jitter))
        go, out = threading.Event(), {}
        ts = [threading.Thread(target=poll, args=(u, token, go, out)) for u in pollers]
        for t in ts:
            t.start()
        go.set()
        status, raw = ca.call("POST", "/api/v1/auth/logout", {"refresh_token": pair["refresh_token"]})
        t_ack = time.perf_counter()
        for t in ts:
            t.join()
        if status != 204:
            errors.append(f"logout answered {status} {raw[:100]!r}")
            continue
        vals = list(out.values())
        if any(v is None for v in vals):
            timeouts += 1
            continue
        bad = [v for v in vals if isinstance(v, str)]
        if bad:
            errors.append(bad[0])
            continue
        d = max(vals) - t_ack
        if d > slow:
            print(f"revocation trial {len(delays) + 1}: " +
                  ", ".join(f"{names[u]} {(v - t_ack) * 1000:.1f} ms" for u, v in sorted(out.items())),
                  file=sys.stderr)
        if d <= 0:
            already += 1
        delays.append(max(d, 0.0) * 1000)
    if errors:
        print(f"revocation trials: {len(errors)} errors, e.g. {errors[:3]}", file=sys.stderr)
    delays.sort()
    n = len(delays)

    def pct(q):
        return delays[min(n - 1, int(q * n))] if n else None

    print(n, fmt(pct(0.5), ".2f"), fmt(pct(0.99), ".2f"), fmt(delays[-1] if n else None, ".2f"),
          already, timeouts, len(errors))


COMMANDS = {
    "sessions": (cmd_sessions, 5),
    "seed": (cmd_seed, 5),
    "plan": (cmd_plan, 2),
    "snap": (cmd_snap, 2),
    "delta": (cmd_delta, 3),
    "lag": (cmd_lag, 7),
}


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "lagmetric" and len(sys.argv) >= 4:
        cmd_lagmetric(*sys.argv[2:])
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "lag" and len(sys.argv) in (10, 11):
        cmd_lag(*sys.argv[2:])
        return
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS or len(sys.argv) - 2 != COMMANDS[sys.argv[1]][1]:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]][0](*sys.argv[2:])


if __name__ == "__main__":
    main()
