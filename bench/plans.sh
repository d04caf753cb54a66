#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib functions take optional args, not the script's
# Plans under load, in one run:
#
#   1. the built-in engine alone (build/plans_bench: plan_generate_builtin in
#      a loop, no HTTP, no store): plans per second per kind, on one thread
#      and on every core;
#   2. POST /api/v1/plans per second with wrk (closed loop): validation, the
#      profile read, the plan and its job in one durable transaction, 202;
#      then how fast the job workers drain the backlog this leaves
#      (plans / (last completed_at - first created_at));
#   3. POST -> ready latency under a steady load: a client posts plans at a
#      fixed rate (open loop, BENCH_PLAN_RATE/s) for BENCH_DURATION; each
#      plan's latency is completed_at - created_at (server timestamps: from
#      the commit that queued it to the commit that made it ready, both on
#      the writer's clock); p50/p90/p99/max over all of them.
#
# pace runs with its defaults for jobs (PACE_JOB_WORKERS=4, built-in engine
# only), one event loop per core, access log off, SQLite store.
# Settings: BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_WRK_THREADS (2),
# BENCH_THREADS (nproc), BENCH_PLAN_CONNECTIONS (16), BENCH_PLAN_RATE (100),
# BENCH_PLAN_WORKERS (PACE_JOB_WORKERS, 4), PACE_BIN.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
wrk_threads="${BENCH_WRK_THREADS:-2}"
conns="${BENCH_PLAN_CONNECTIONS:-16}"
rate="${BENCH_PLAN_RATE:-100}"
workers="${BENCH_PLAN_WORKERS:-4}"
secs="$(bench__seconds "$duration")"
password="umbrella-quarterly-lantern-42"

bin="${PACE_BIN:-build/pace}"
case "$bin" in /*) ;; *) bin="$BENCH_ROOT/$bin" ;; esac
engine_bench="$(dirname "$bin")/plans_bench"
[ -x "$engine_bench" ] || bench_die "$engine_bench not found (run make build)"
command -v wrk >/dev/null || bench_die "wrk not found"

echo "== plans: the built-in engine, POST /api/v1/plans, POST -> ready latency =="
bench_machine
bench_idle_check before

# --- 1. the engine alone ------------------------------------------------------------
echo
echo "-- the built-in engine (plans_bench, $(bench__seconds "$warmup") s per measurement) --"
engine="$(timeout 120 "$engine_bench" "$(bench__seconds "$warmup")" "$BENCH_NPROC")"
echo "$engine" | awk '{ printf "%-10s %2d thread(s): %8.0f plans/s  %7.1f us/plan  %6d bytes of content\n", $1, $2, $3, $4, $5 }'

# --- the server, users and profiles ---------------------------------------------------
bench_start_pace --job-workers "$workers" --max-queued-jobs-per-user 0 --argon2-memory-kib 8192 --argon2-iterations 1
bench__tmpdir plans
work="$BENCH__TMP"
login() { # NAME -> token (registers the user and sets a profile)
    curl -s -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
        -d "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"$password\"}" \
        "$PACE_URL/api/v1/auth/register"
    local t
    t="$(curl -s --max-time 10 -H 'Content-Type: application/json' \
        -d "{\"login\":\"$1\",\"password\":\"$password\"}" "$PACE_URL/api/v1/auth/login" |
        sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
    [ -n "$t" ] || bench_die "could not log in as $1"
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PUT -H "Authorization: Bearer $t" \
        -H 'Content-Type: application/json' \
        -d '{"sex":"female","birth_date":"1991-05-05","height_cm":168,"weight_kg":64,"activity_level":"moderate","goal":"build_muscle","experience":"intermediate","days_per_week":4,"session_minutes":60,"equipment":"full_gym","diet":"vegetarian","meals_per_day":4,"exclude_foods":["peanuts"]}' \
        "$PACE_URL/api/v1/profile")" = 200 ] || bench_die "PUT /api/v1/profile failed"
    printf '%s\n' "$t"
}
token_wrk="$(login "benchw$$")"
token_rate="$(login "benchr$$")"

# Waits until no plan job is queued or running (or 600 s pass).
drain() {
    /usr/bin/python3 - "$PACE_URL" <<'EOF'
import re, sys, time, urllib.request
url = sys.argv[1]
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    depth = {m.group(1): float(m.group(2)) for m in re.finditer(r'^pace_jobs_queue_depth\{state="(\w+)"\} (\S+)$', text, re.M)}
    if depth and depth.get("queued", 1) == 0 and depth.get("running", 1) == 0:
        sys.exit(0)
    time.sleep(0.2)
sys.exit("the queue did not drain within 600 s")
EOF
}

# Latency of every plan of a user: completed_at - created_at. Prints
# "count span_s p50 p90 p99 max" (ms).
latencies() {
    /usr/bin/python3 - "$PACE_URL" "$1" <<'EOF'
import datetime, json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
def ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
plans, cursor = [], None
while True:
    q = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
    req = urllib.request.Request(url + "/api/v1/plans" + q, headers={"Authorization": "Bearer " + token})
    page = json.loads(urllib.request.urlopen(req, timeout=30).read())
    plans += page["items"]
    cursor = page["next_cursor"]
    if not cursor:
        break
done = [p for p in plans if p["state"] == "ready"]
lat = sorted((ts(p["completed_at"]) - ts(p["created_at"])) * 1000 for p in done)
if not lat:
    print("0 0 0 0 0 0"); sys.exit(0)
span = max(ts(p["completed_at"]) for p in done) - min(ts(p["created_at"]) for p in done)
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(len(done), f"{span:.3f}", f"{pct(0.5):.1f}", f"{pct(0.9):.1f}", f"{pct(0.99):.1f}", f"{lat[-1]:.1f}")
EOF
}

# --- 2. POST /api/v1/plans per second, then the backlog ---------------------------------
cat >"$work/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token_wrk"
local bodies = {'{"kind":"workout","weeks":4}', '{"kind":"nutrition","weeks":4}'}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[n % 2 + 1])
end
EOF
echo
echo "-- runs --"
bench_wrk "POST /plans c=$conns" "$PACE_URL/api/v1/plans" "$conns" "$duration" "$wrk_threads" -s "$work/post.lua" || true
post_rps="$BENCH_LAST_RPS" post_p50="$BENCH_LAST_P50" post_p99="$BENCH_LAST_P99" post_err="$BENCH_LAST_ERRORS"
drain || bench_die "the backlog did not drain"
read -r sat_n sat_span sat_p50 sat_p90 sat_p99 sat_max <<<"$(latencies "$token_wrk")"
sat_rate="$(awk -v n="$sat_n" -v s="$sat_span" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }')"
echo "backlog: $sat_n plans generated in ${sat_span} s from the first POST = ${sat_rate} plans/s"

# --- 3. POST -> ready at a steady rate ------------------------------------------------------
echo "steady load: $rate plans/s for ${secs} s"
/usr/bin/python3 - "$PACE_URL" "$token_rate" "$rate" "$secs" <<'EOF' || bench_die "the steady load failed"
import concurrent.futures, json, sys, threading, time, urllib.request
url, token, rate, secs = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
bodies = [b'{"kind":"workout","weeks":4}', b'{"kind":"nutrition","weeks":4}']
errors = []
def post(i):
    req = urllib.request.Request(url + "/api/v1/plans", data=bodies[i % 2], method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            if r.status != 202:
                errors.append(r.status)
    except Exception as e:  # noqa: BLE001 - counted and reported
        errors.append(str(e))
n = int(rate * secs)
t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(64) as ex:
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ex.submit(post, i)
late = time.monotonic() - t0 - secs
if errors:
    sys.exit(f"{len(errors)} POSTs failed: {errors[:3]}")
print(f"posted {n} plans ({late:+.2f} s behind schedule)")
EOF
drain || bench_die "the steady-load plans did not finish"
read -r st_n st_span st_p50 st_p90 st_p99 st_max <<<"$(latencies "$token_rate")"

# --- report -----------------------------------------------------------------------------------
fmt_rps() { awk -v v="$1" 'BEGIN { if (v + 0 == 0) print "failed"; else printf "%.0f", v }'; }
fmt_ms() { if [ "$1" = NA ]; then echo NA; else awk -v v="$1" 'BEGIN { printf "%.2f ms", v }'; fi; }
note_errs() { [ "$1" = 0 ] && echo "" || echo " (errors: $1)"; }
machine_line="$(bench_machine)"
bench_idle_check after

echo
echo "-- results: plans --"
echo
bench_run_table "$machine_line"
echo "| pace | --threads ${BENCH_THREADS:-$BENCH_NPROC}, PACE_JOB_WORKERS=$workers, SQLite, built-in engine |"
echo
echo "| the built-in engine alone | threads | plans/s | per plan | content |"
echo "|---|---:|---:|---:|---:|"
echo "$engine" | awk '{ printf "| %s, 4 weeks | %d | %\047.0f | %.1f us | %.1f KiB |\n", $1, $2, $3, $4, $5 / 1024 }'
echo
echo "| through the server | load | result | p50 | p90 | p99 | max |"
echo "|---|---|---:|---:|---:|---:|---:|"
echo "| POST /api/v1/plans (202) | wrk, $conns connections, ${secs} s | $(fmt_rps "$post_rps") req/s$(note_errs "$post_err") | $(fmt_ms "$post_p50") | | $(fmt_ms "$post_p99") | |"
echo "| backlog of that run drained | $sat_n plans | ${sat_rate} plans/s | ${sat_p50} ms | ${sat_p90} ms | ${sat_p99} ms | ${sat_max} ms |"
echo "| POST -> ready at a steady rate | $rate plans/s for ${secs} s ($st_n plans) | | ${st_p50} ms | ${st_p90} ms | ${st_p99} ms | ${st_max} ms |"
echo
echo "latency = completed_at - created_at of each plan; rows appended to ${BENCH_RESULTS_FILE#"$BENCH_ROOT"/}"
