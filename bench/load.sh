#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib functions take optional args, not the script's
# The load suite: what many clients at once do to pace, with locust (Debian's
# python3-locust, scenario scripts in bench/locust/) and wrk, against one
# instance or against the cluster kit. It measures; it never fails on speed.
#
#   bench/load.sh [single|cluster] [scenario...]
#
#   single   one `pace serve` on SQLite (bench/lib.sh: fresh data dir, access
#            log off, PACE_RATE_LIMITS=off, --threads nproc)
#   cluster  scripts/cluster.sh up (of this tree, or $PACE_CLUSTER_SH): N
#            instances behind nginx on PostgreSQL (primary + replica) and
#            Redis, started with PACE_RATE_LIMITS=off; every load goes
#            through nginx; `down` at exit
#
# Scenarios (default: all, in this order):
#   register  LOAD_REGISTER_USERS (100) users register at once (locust, register.py)
#   login     LOAD_LOGIN_USERS (1,000) users, made beforehand with `pace user
#             import` (argon2id hashes with pace's default parameters, so no
#             re-hash), log in at once (locust, login.py; a 503 with
#             Retry-After is an answer and is retried after it); meanwhile a
#             probe (wrk, probe.lua) GETs /users/me at LOAD_PROBE_RATE (500/s)
#             over 8 connections; the same probe alone before, for its
#             normal p99 (goal: at most 2x during the storm)
#   hold      LOAD_RATE (5,000) authenticated GETs per second (wrk, hold.lua:
#             tasks pages, one task, profile, /users/me over LOAD_HOLD_USERS
#             (500) users with 12 tasks and a profile each) held for
#             LOAD_DURATION seconds (300); each of LOAD_CONNECTIONS (250)
#             connections pauses between requests, the pause calibrated by a
#             5 s run so that the rate is LOAD_RATE (goal: p99 < 50 ms)
#   refresh   LOAD_REFRESH_USERS (200) sessions refresh every
#             LOAD_REFRESH_PERIOD s (0.5) with strict rotation, each new
#             access token used at once (locust, refresh.py), while wrk
#             (hold.lua) keeps LOAD_BG_RATE (3,000) GETs/s going, for
#             LOAD_MIX_DURATION seconds (120)
#   mobile    LOAD_MOBILE_USERS (1,000) app users (locust, mobile.py: login
#             once, task pages with cursors, create/update/complete, profile,
#             plans, refresh before expiry, If-None-Match revalidation), ramped
#             at LOAD_SPAWN_RATE (50/s), for LOAD_MIX_DURATION seconds
#
# For each: requests, achieved rate, p50, p95, p99, errors, the statuses
# seen, and the CPU of pace, nginx, PostgreSQL, Redis and the load generator
# over the run (bench/load_cpu.py, from /proc), with the load average at the
# start. Result tables at the end (Markdown, for docs/benchmarks.md); each wrk
# run also appends a row to bench/results/results.tsv (bench/lib.sh).
#
# The load generator runs on the same cores as the servers (on a 2-core
# machine: the figures are for the whole box). Locust is one Python process:
# one core at most.
#
# Settings (environment; defaults in brackets): LOAD_DURATION [300],
# LOAD_MIX_DURATION [120], LOAD_RATE [5000], LOAD_CONNECTIONS [250],
# LOAD_WRK_THREADS [2], LOAD_HOLD_USERS [500], LOAD_REGISTER_USERS [100],
# LOAD_LOGIN_USERS [1000], LOAD_PROBE_RATE [500], LOAD_PROBE_SECONDS [12],
# LOAD_REFRESH_USERS [200], LOAD_REFRESH_PERIOD [0.5], LOAD_BG_RATE [3000],
# LOAD_MOBILE_USERS [1000], LOAD_SPAWN_RATE [50], LOAD_CLUSTER_INSTANCES [3],
# LOAD_CLUSTER_STATE [a temp dir], PACE_CLUSTER_SH [scripts/cluster.sh],
# LOAD_CLUSTER_AFTER_UP [none: a bash command run after `up` with STATE set],
# PACE_BIN [build/pace]. A smoke run:
#   LOAD_DURATION=5 LOAD_MIX_DURATION=10 LOAD_LOGIN_USERS=200 \
#   LOAD_MOBILE_USERS=100 bench/load.sh single
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

target="${1:-single}"
[ $# -gt 0 ] && shift
case "$target" in single | cluster) ;; *) bench_die "usage: bench/load.sh [single|cluster] [register|login|hold|refresh|mobile...]" ;; esac
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(register login hold refresh mobile)
for s in "${scenarios[@]}"; do
    case "$s" in register | login | hold | refresh | mobile) ;; *) bench_die "unknown scenario: $s" ;; esac
done

duration="${LOAD_DURATION:-300}"
mix_duration="${LOAD_MIX_DURATION:-120}"
rate="${LOAD_RATE:-5000}"
conns="${LOAD_CONNECTIONS:-250}"
wrk_threads="${LOAD_WRK_THREADS:-2}"
hold_users="${LOAD_HOLD_USERS:-500}"
register_users="${LOAD_REGISTER_USERS:-100}"
login_users="${LOAD_LOGIN_USERS:-1000}"
probe_rate="${LOAD_PROBE_RATE:-500}"
probe_seconds="${LOAD_PROBE_SECONDS:-12}"
refresh_users="${LOAD_REFRESH_USERS:-200}"
refresh_period="${LOAD_REFRESH_PERIOD:-0.5}"
bg_rate="${LOAD_BG_RATE:-3000}"
mobile_users="${LOAD_MOBILE_USERS:-1000}"
spawn_rate="${LOAD_SPAWN_RATE:-50}"
instances="${LOAD_CLUSTER_INSTANCES:-3}"
password="umbrella-quarterly-lantern-42"
prefix="lu"
# accounts lu0..: the login storm takes lu0..login_users-1; hold the first
# hold_users, refresh the next refresh_users; mobile lu0..mobile_users-1.
accounts=$((hold_users + refresh_users))
((login_users > accounts)) && accounts=$login_users
((mobile_users > accounts)) && accounts=$mobile_users
accounts=$((accounts + 1)) # the last one is the login probe's

bin="${PACE_BIN:-build/pace}"
case "$bin" in /*) ;; *) bin="$BENCH_ROOT/$bin" ;; esac
[ -x "$bin" ] || bench_die "pace binary not found: $bin (run make build, or set PACE_BIN)"
command -v wrk >/dev/null || bench_die "wrk not found"
[ -x /usr/bin/locust ] || bench_die "locust not found (Debian's python3-locust)"
py=/usr/bin/python3
locust_dir="$BENCH_ROOT/bench/locust"
users_py=(timeout -k 5 900 "$py" "$BENCH_ROOT/bench/load_users.py") # bounded, as every load here
report=("$py" "$BENCH_ROOT/bench/load_report.py")

bench__tmpdir load
work="$BENCH__TMP"
rows="$work/rows.tsv"
: >"$rows"

echo "== load: register, login storm, $rate req/s held, refresh under load, mobile mix; target: $target =="
machine_line="$(bench_machine)"
echo "$machine_line"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_idle_check before

# --- the target --------------------------------------------------------------------
# Access tokens live an hour: the sessions made at set-up serve every scenario
# (mobile.py refreshes on its own schedule, LOAD_TOKEN_LIFETIME).
cpu_roots=("$$")
if [ "$target" = single ]; then
    bench_start_pace --access-token-ttl 3600
    url="$PACE_URL"
    import_args=(--data-dir "$BENCH_PACE_DIR/data")
    target_line="one pace (SQLite, --threads ${BENCH_THREADS:-$BENCH_NPROC}, job workers 4, rate limits off, access log off), direct"
else
    cluster_sh="${PACE_CLUSTER_SH:-$BENCH_ROOT/scripts/cluster.sh}"
    [ -x "$cluster_sh" ] || bench_die "cluster script not found: $cluster_sh (set PACE_CLUSTER_SH)"
    state="${LOAD_CLUSTER_STATE:-$work/cluster}"
    chmod 755 "$work" # PostgreSQL runs as its own user when we are root
    keep=()
    [ "${BENCH_KEEP_TMP:-0}" = 1 ] && keep=(--keep) # the kit's logs too
    bench_on_exit "\"$cluster_sh\" down ${keep[*]} --state \"$state\" >\"$work/cluster-down.log\" 2>&1"
    # The kit takes port P and the N + 1 after it: a free P may have taken neighbours.
    for try in 1 2 3 0; do
        [ "$try" = 0 ] && {
            cat "$work/cluster-up.log" >&2
            bench_die "cluster.sh up failed"
        }
        port="$(bench_free_port)"
        PACE_BIN="$bin" PACE_RATE_LIMITS=off PACE_ACCESS_LOG=off PACE_LOG_LEVEL=warn PACE_ACCESS_TOKEN_TTL=3600 \
            timeout -k 5 300 "$cluster_sh" up --instances "$instances" --port "$port" --state "$state" \
            >"$work/cluster-up.log" 2>&1 && break
        grep -q "is taken" "$work/cluster-up.log" || try=3 # only a port clash is worth another try
        bench_log "cluster.sh up failed (try $try): $(tail -n 1 "$work/cluster-up.log")"
    done
    if [ -n "${LOAD_CLUSTER_AFTER_UP:-}" ]; then
        # An experiment's hook, run with STATE set to the kit's directory (say: edit
        # STATE/nginx/conf/nginx.conf and send its master, STATE/nginx/pid, SIGHUP).
        STATE="$state" bash -c "$LOAD_CLUSTER_AFTER_UP" || bench_die "LOAD_CLUSTER_AFTER_UP failed"
        target_note=" (changed after up: $LOAD_CLUSTER_AFTER_UP)"
    fi
    url="$("$cluster_sh" url --state "$state")"
    db_url="$(sed -n "s/^export PACE_DATABASE_URL='\(.*\)'\$/\1/p" "$state/pace.env" | tail -n1)"
    [ -n "$db_url" ] || bench_die "no PACE_DATABASE_URL in $state/pace.env"
    import_args=(--database-url "$db_url")
    cpu_roots+=("match:$state") # nginx, PostgreSQL (their command lines name the state dir) and pace
    redis_pid="$("$BENCH_ROOT/scripts/redis.sh" pid "$state/redis" 2>/dev/null)" && cpu_roots+=("$redis_pid")
    "$cluster_sh" status --state "$state" 2>&1 | sed 's/^/    /'
    target_line="cluster kit: $instances pace instances behind nginx, PostgreSQL primary + replica, Redis, one worker; rate limits off; all load through nginx${target_note:-}"
fi
echo "target: $target_line at $url"

# --- helpers -----------------------------------------------------------------------
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

cpu_start() { # NAME: sample the CPU of every process class until cpu_stop
    cpu_file="$work/cpu-$1"
    "$py" "$BENCH_ROOT/bench/load_cpu.py" "$cpu_file" "${cpu_roots[@]}" &
    cpu_pid=$!
    BENCH_PIDS+=("$cpu_pid")
    sleep 0.3
}
cpu_stop() { # sets cpu (not in a subshell: the sampler is this shell's child)
    kill -TERM "$cpu_pid" 2>/dev/null || true
    wait "$cpu_pid" || true
    bench__forget_pid "$cpu_pid"
    cpu="$(cat "$cpu_file")"
}

# run_locust NAME FILE USERS SPAWN SECONDS [VAR=value...]: in the background;
# sets locust_pid; its summary goes to $work/NAME.json, its log to $work/NAME.log.
run_locust() {
    local name="$1" file="$2" users="$3" spawn="$4" secs="$5"
    shift 5
    env PYTHONPATH="$locust_dir" LOAD_OUT="$work/$name.json" LOAD_SCENARIO="$name" \
        LOAD_PASSWORD="$password" "$@" \
        timeout -k 5 $((secs + 90)) /usr/bin/locust -f "$locust_dir/$file" --headless \
        -u "$users" -r "$spawn" --run-time "${secs}s" -H "$url" --only-summary \
        --stop-timeout 5 --loglevel WARNING >"$work/$name.log" 2>&1 &
    locust_pid=$!
    BENCH_PIDS+=("$locust_pid")
}
wait_locust() {
    local rc=0
    wait "$locust_pid" || rc=$?
    bench__forget_pid "$locust_pid"
    [ -s "$work/$1.json" ] || {
        tail -n 30 "$work/$1.log" >&2
        bench_die "locust ($1) wrote no summary (exit $rc)"
    }
}

raw_of() { # NAME of a bench_wrk run -> its raw output
    printf '%s/raw/%s/%s-%s.txt\n' "$BENCH_RESULTS_DIR" "$BENCH_RUN_ID" "$BENCH_SCENARIO" \
        "$(printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_')"
}

imported=0
import_accounts() {
    [ "$imported" = 1 ] && return 0
    "${users_py[@]}" importfile "$prefix" "$accounts" "$password" "$work/accounts.jsonl"
    "$bin" user import "$work/accounts.jsonl" "${import_args[@]}" >"$work/import.log" 2>&1 ||
        {
            cat "$work/import.log" >&2
            bench_die "pace user import failed"
        }
    sleep 1 # SQLite: the running pace sees another process's writes within a round
    echo "imported $accounts accounts (${prefix}0..${prefix}$((accounts - 1)), argon2id m=19456 KiB t=2)"
    imported=1
}

hold_ready=0
hold_sessions() { # log in the hold users, each with 12 tasks and a profile
    [ "$hold_ready" = 1 ] && return 0
    import_accounts
    echo "hold users: $("${users_py[@]}" sessions "$url" "$prefix" 0 "$hold_users" "$password" "$work/hold.txt" --seed 12), 12 tasks and a profile each"
    hold_ready=1
}
goals=()
hold_latency_s=0.001 # connection latency measured by the calibration (seconds)

# --- scenarios ---------------------------------------------------------------------
scenario_register() {
    echo
    echo "-- register: $register_users users at once --"
    local la cpu
    la="$(load_avg)"
    cpu_start register
    run_locust register register.py "$register_users" "$register_users" 120 \
        LOAD_USERS="$register_users" LOAD_PREFIX="reg$$x"
    wait_locust register
    cpu_stop
    local note
    note="first attempt $("${report[@]}" extra "$work/register.json" first_attempt), tries $("${report[@]}" extra "$work/register.json" tries), all registered after $("${report[@]}" extra "$work/register.json" all_done_seconds) s"
    "${report[@]}" locust "$work/register.json" "$rows" "$target" register "$cpu" "$la" "$note"
    echo "$note"
}

scenario_login() {
    echo
    echo "-- login: $login_users users at once, probe GET /users/me at $probe_rate/s --"
    import_accounts
    "${users_py[@]}" sessions "$url" "$prefix" $((accounts - 1)) 1 "$password" "$work/probe.txt" >/dev/null
    local token delay la cpu
    token="$(cut -d' ' -f1 "$work/probe.txt")"
    delay=$((8000 / probe_rate))
    la="$(load_avg)"
    cpu_start probe
    LOAD_TOKEN="$token" LOAD_DELAY_MS="$delay" bench_wrk "login: probe alone" "$url/api/v1/users/me" 8 \
        "${probe_seconds}s" 1 -s "$locust_dir/probe.lua" || true
    cpu_stop
    local alone_p99="$BENCH_LAST_P99"
    "${report[@]}" wrk "$(raw_of "login: probe alone")" "$rows" "$target" login "probe GET /users/me, alone" "$cpu" "$la" ""
    la="$(load_avg)"
    cpu_start login
    run_locust login login.py "$login_users" "$login_users" 180 LOAD_USERS="$login_users" LOAD_PREFIX="$prefix"
    sleep 2 # locust spawns its users (about 1 s), then they all go
    LOAD_TOKEN="$token" LOAD_DELAY_MS="$delay" bench_wrk "login: probe during the storm" "$url/api/v1/users/me" 8 \
        "${probe_seconds}s" 1 -s "$locust_dir/probe.lua" || true
    local storm_p99="$BENCH_LAST_P99"
    wait_locust login
    cpu_stop
    local ratio note
    ratio="$(awk -v a="$storm_p99" -v b="$alone_p99" 'BEGIN { if (b + 0 == 0 || a == "NA") print "n/a"; else printf "%.2f", a / b }')"
    note="first attempt $("${report[@]}" extra "$work/login.json" first_attempt), tries $("${report[@]}" extra "$work/login.json" tries), all logged in after $("${report[@]}" extra "$work/login.json" all_done_seconds) s"
    "${report[@]}" locust "$work/login.json" "$rows" "$target" login "$cpu" "$la" "$note"
    "${report[@]}" wrk "$(raw_of "login: probe during the storm")" "$rows" "$target" login \
        "probe GET /users/me, during the storm" "" "" "p99 ${ratio}x alone (goal <= 2x)"
    echo "$note"
    echo "probe p99: alone $alone_p99 ms, during the storm $storm_p99 ms: ${ratio}x (goal <= 2x)"
    local st errs verdict
    st="$("$py" -c 'import json, sys; r = json.load(open(sys.argv[1]))["requests"]["all"]; print(" ".join("%s:%d" % kv for kv in sorted(r["status"].items())), r["errors"])' "$work/login.json")"
    errs="${st##* }"
    verdict="$(awk -v r="$ratio" -v e="$errs" 'BEGIN { print (e == 0 ? "every login answered by 200 or 503 + Retry-After: met" : "answers other than 200 / 503 + Retry-After, or none: " e ": NOT met") }')"
    goals+=("login storm ($login_users at once): answers ${st% *}; $verdict")
    goals+=("login storm: probe p99 ${storm_p99} ms vs ${alone_p99} ms alone = ${ratio}x: $(awk -v r="$ratio" 'BEGIN { if (r == "n/a") print "n/a"; else print (r + 0 <= 2 ? "met" : "NOT met") }') (goal <= 2x)")
}

# pace_delay RATE CONNECTIONS: the pause (ms, fractional) that makes CONNECTIONS
# paced connections send RATE requests a second, given the calibrated latency.
pace_delay() {
    awk -v r="$1" -v c="$2" -v l="$hold_latency_s" 'BEGIN { d = (c / r - l) * 1000; if (d < 0) d = 0; printf "%.2f", d }'
}

scenario_hold() {
    echo
    echo "-- hold: $rate authenticated GETs/s for $duration s over $conns connections --"
    hold_sessions
    local d0 a0 d1 la cpu
    d0="$(awk -v r="$rate" -v c="$conns" 'BEGIN { printf "%.2f", c * 1000 / r }')"
    LOAD_TOKENS="$work/hold.txt" LOAD_WRK_THREADS="$wrk_threads" LOAD_DELAY_MS="$d0" \
        bench_wrk "hold: calibration" "$url/" "$conns" 5s "$wrk_threads" -s "$locust_dir/hold.lua" || true
    a0="$BENCH_LAST_RPS"
    hold_latency_s="$(awk -v a="$a0" -v c="$conns" -v d="$d0" 'BEGIN { if (a + 0 == 0) { print 0.001; exit } l = c / a - d / 1000; if (l < 0) l = 0; printf "%.5f", l }')"
    d1="$(pace_delay "$rate" "$conns")"
    echo "calibration: pause $d0 ms gave $a0 req/s; per-request time besides the pause $(awk -v l="$hold_latency_s" 'BEGIN { printf "%.2f", l * 1000 }') ms; pause now $d1 ms"
    la="$(load_avg)"
    cpu_start hold
    LOAD_TOKENS="$work/hold.txt" LOAD_WRK_THREADS="$wrk_threads" LOAD_DELAY_MS="$d1" \
        bench_wrk "hold: $rate req/s" "$url/" "$conns" "${duration}s" "$wrk_threads" -s "$locust_dir/hold.lua" || true
    cpu_stop
    local via=""
    [ "$target" = single ] || via=", through nginx"
    goals+=("hold: $BENCH_LAST_RPS req/s (target $rate) for $duration s, p99 $BENCH_LAST_P99 ms, errors $BENCH_LAST_ERRORS: $(awk -v a="$BENCH_LAST_RPS" -v t="$rate" -v p="$BENCH_LAST_P99" -v e="$BENCH_LAST_ERRORS" 'BEGIN { if (p == "NA") { print "failed"; exit } print ((a >= 0.97 * t && p < 50 && e == 0) ? "met" : "NOT met") }') (goal: $rate req/s with p99 < 50 ms$via)")
    local note="target $rate req/s, $duration s, pause $d1 ms"
    [ "$d1" = "0.00" ] && note="$note (full speed: the target is more than this box answers)"
    "${report[@]}" wrk "$(raw_of "hold: $rate req/s")" "$rows" "$target" hold "authenticated GETs (wrk, $conns conns)" "$cpu" "$la" "$note"
}

scenario_refresh() {
    echo
    echo "-- refresh: $refresh_users sessions refreshing every $refresh_period s under $bg_rate GETs/s, $mix_duration s --"
    hold_sessions
    echo "refresh sessions: $("${users_py[@]}" sessions "$url" "$prefix" "$hold_users" "$refresh_users" "$password" "$work/refresh.txt")"
    local bg_conns=$((conns * bg_rate / rate)) d la cpu
    ((bg_conns < 8)) && bg_conns=8
    d="$(pace_delay "$bg_rate" "$bg_conns")"
    la="$(load_avg)"
    cpu_start refresh
    run_locust refresh refresh.py "$refresh_users" "$refresh_users" "$mix_duration" \
        LOAD_TOKENS="$work/refresh.txt" LOAD_REFRESH_PERIOD="$refresh_period"
    LOAD_TOKENS="$work/hold.txt" LOAD_WRK_THREADS="$wrk_threads" LOAD_DELAY_MS="$d" \
        bench_wrk "refresh: background $bg_rate req/s" "$url/" "$bg_conns" "${mix_duration}s" "$wrk_threads" \
        -s "$locust_dir/hold.lua" || true
    wait_locust refresh
    cpu_stop
    "${report[@]}" locust "$work/refresh.json" "$rows" "$target" refresh "$cpu" "$la" \
        "$refresh_users sessions, one refresh each per $refresh_period s"
    "${report[@]}" wrk "$(raw_of "refresh: background $bg_rate req/s")" "$rows" "$target" refresh \
        "background GETs (wrk, $bg_conns conns, target $bg_rate/s)" "" "" ""
}

scenario_mobile() {
    echo
    echo "-- mobile: $mobile_users app users (ramp $spawn_rate/s), $mix_duration s --"
    import_accounts
    local la cpu
    la="$(load_avg)"
    cpu_start mobile
    run_locust mobile mobile.py "$mobile_users" "$spawn_rate" "$mix_duration" \
        LOAD_PREFIX="$prefix" LOAD_ACCOUNTS="$mobile_users"
    wait_locust mobile
    cpu_stop
    "${report[@]}" locust "$work/mobile.json" "$rows" "$target" mobile "$cpu" "$la" \
        "$mobile_users users, think 0.5-1.5 s, ramp $spawn_rate/s included"
}

for s in "${scenarios[@]}"; do
    "scenario_$s"
done

# --- report ------------------------------------------------------------------------
echo
echo "load average after: $(load_avg)"
echo
echo "-- results: load ($target) --"
echo
bench_run_table "$machine_line"
echo "| target | $target_line |"
echo "| load generators | locust $(dpkg-query -W -f '${Version}' python3-locust 2>/dev/null || echo '?') (FastHttpUser, one process), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), on the same cores |"
echo
"${report[@]}" table "$rows"
if [ ${#goals[@]} -gt 0 ]; then
    echo
    echo "Goals:"
    echo
    printf -- '- %s\n' "${goals[@]}"
fi
echo
echo "locust logs and summaries in $work (BENCH_KEEP_TMP=1 keeps them); wrk rows appended to ${BENCH_RESULTS_FILE#"$BENCH_ROOT"/}"
