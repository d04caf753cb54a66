#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib functions take optional args, not the script's
# The Redis layer under load, in one run, each with and without Redis on the
# same machine (one throwaway Redis from scripts/redis.sh, one throwaway
# PostgreSQL cluster from scripts/pg.sh, both on loopback):
#
#   1. what a Redis-checked rate limit adds to a login and to a refresh:
#      POST /api/v1/auth/login (valid password) and POST /api/v1/auth/refresh
#      with rate limits ON but raised (60,000 a minute, the most pace's
#      per-minute limiter can express: one attempt per millisecond) so that
#      none refuses, without Redis (the local limiter) and with Redis (every
#      limit one FCALL), on SQLite and on PostgreSQL, from one connection
#      (what the limit adds to one login) and from 32 (saturated: what it
#      costs in throughput): req/s, p50, p99,
#      Redis commands per request, and the Redis round trip as pace sees it
#      (pace_redis_round_trip_seconds over the run: the bucket that holds
#      the median, and the mean). Refresh tokens rotate: the wrk script gives
#      each wrk thread its own pool of sessions (4 per connection) and
#      carries the refresh token each answer returns to the next request
#      (PACE_REFRESH_GRACE_SECONDS would measure the grace path, a re-use
#      of a spent token, not the ordinary refresh). Logins use cheap
#      argon2id parameters (BENCH_REDIS_ARGON2_KIB, t=1) so that the limit's
#      share of a login is visible; with the defaults hashing dominates.
#   2. revocation propagation across three instances A, B, C (PostgreSQL +
#      Redis, one JWT secret): BENCH_REDIS_TRIALS times, log in on A, check
#      that B and C accept the access token, log out on A while B and C are
#      polled every 2 ms with that token until they answer 401; the delay is
#      from A's 204 to the later of the two 401s: median, p99, max. Then the
#      same without Redis (the 500 ms database poll), BENCH_REDIS_TRIALS_POLL
#      trials, each logout after a random pause of up to 500 ms so that
#      logouts fall at every phase of the poll (a trial starts right after
#      a poll otherwise). Also pace's own pace_revocation_lag_seconds on B
#      and C.
#   3. reads on PostgreSQL, three instances side by side (job workers off):
#      no Redis; Redis with PACE_CACHE_MB=0 (no payload cache: only what
#      Redis costs on other paths); Redis with the cache (64 MB). GET
#      /api/v1/users/me and GET /api/v1/plans/{id} (a ready plan) for one
#      user: req/s, p99, database calls per request (pace_db_queries_total
#      over the run / requests) and the hit ratio. Then a mix over
#      BENCH_REDIS_MIX_USERS users (each with a profile and 3 tasks):
#      35% GET /users/me, 35% GET /profile, 20% GET /tasks?limit=20,
#      10% PATCH /users/me (which bumps the user's version, so the next
#      read of that user misses): req/s, p99, database calls per request,
#      hit ratio.
#
# pace: --threads BENCH_THREADS (nproc), access log off, log level warn,
# access tokens valid for a day; every instance of the run shares one JWT
# secret. Settings: BENCH_DURATION (10s), BENCH_WARMUP (2s),
# BENCH_WRK_THREADS (2), BENCH_THREADS (nproc), BENCH_REDIS_AUTH_CONNECTIONS
# ("1 32": one client alone, what a login costs; and enough to saturate), BENCH_REDIS_READ_CONNECTIONS (64), BENCH_REDIS_ARGON2_KIB (1024),
# BENCH_REDIS_TRIALS (300), BENCH_REDIS_TRIALS_POLL (40),
# BENCH_REDIS_MIX_USERS (500), BENCH_REDIS_PARTS ("1 2 3": which parts run),
# BENCH_ROUNDS (1: parts 1 and 3 repeat their runs, alternating which
# variant goes first, and report medians; 3 on a noisy machine), PACE_BIN.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
wrk_threads="${BENCH_WRK_THREADS:-2}"
read -r -a auth_levels <<<"${BENCH_REDIS_AUTH_CONNECTIONS:-1 32}"
read_conns="${BENCH_REDIS_READ_CONNECTIONS:-64}"
argon_kib="${BENCH_REDIS_ARGON2_KIB:-1024}"
trials="${BENCH_REDIS_TRIALS:-300}"
trials_poll="${BENCH_REDIS_TRIALS_POLL:-40}"
mix_users="${BENCH_REDIS_MIX_USERS:-500}"
parts=" ${BENCH_REDIS_PARTS:-1 2 3} "
rounds="${BENCH_ROUNDS:-1}"
password="umbrella-quarterly-lantern-42"
helper=(/usr/bin/python3 "$BENCH_ROOT/bench/redis_bench.py")
redis_sh="$BENCH_ROOT/scripts/redis.sh"
pg_sh="$BENCH_ROOT/scripts/pg.sh"
command -v wrk >/dev/null || bench_die "wrk not found"
[ -x /usr/bin/redis-server ] || bench_die "redis-server not found (make deps)"

echo "== redis: rate limits, revocation propagation, the payload cache; without and with Redis =="
machine_line="$(bench_machine)"
echo "$machine_line"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average before: $load_before"
idle_before="$(bench_idle_check before)"
echo "$idle_before"

# --- Redis, PostgreSQL, and the pace instances of this run ---------------------------
bench__tmpdir redis
work="$BENCH__TMP"
instances=() # PIDs of every pace started here
teardown() {
    local p
    for p in "${instances[@]}"; do bench__stop_pid "$p"; done
    [ -f "$work/redis/port" ] && "$redis_sh" stop "$work/redis" >/dev/null 2>&1
    [ -d "$work/pg" ] && "$pg_sh" stop "$work/pg" >/dev/null 2>&1
    return 0
}
bench_on_exit teardown
redis_url="$("$redis_sh" start "$work/redis")" || bench_die "Redis did not start"
pg_url="$("$pg_sh" start "$work/pg")" || bench_die "PostgreSQL did not start"
redis_pid="$("$redis_sh" pid "$work/redis")"
pg_pid="$("$pg_sh" pids "$work/pg" | sed -n 1p)"
echo "redis: $(/usr/bin/redis-server --version | sed 's/ sha=.*//'), $redis_url (loopback TCP, no persistence)"
echo "postgresql: $("$pg_sh" psql "$work/pg" -At -c 'SHOW server_version'), $pg_url (loopback TCP, fsync on)"
secret="$(/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(32))')"

declare -A url pid log
# start NAME [pace args...]: one pace with this run's shared settings.
start() {
    local name="$1"
    shift
    bench_start_pace --jwt-secret "$secret" --access-token-ttl 86400 \
        --argon2-memory-kib "$argon_kib" --argon2-iterations 1 "$@"
    url[$name]="$PACE_URL" pid[$name]="$PACE_PID" log[$name]="$BENCH_PACE_LOG"
    instances+=("$PACE_PID")
}
stop() { # NAME... (their logs are kept next to the raw wrk output)
    local n
    mkdir -p "$BENCH_RESULTS_DIR/raw/$BENCH_RUN_ID"
    for n in "$@"; do
        bench_stop_pace "${pid[$n]}"
        cp "${log[$n]}" "$BENCH_RESULTS_DIR/raw/$BENCH_RUN_ID/$BENCH_SCENARIO-pace-$((++nlogs))-$n.log" 2>/dev/null || true
    done
}
nlogs=0
register() { # URL NAME (an existing name is fine: 409)
    local st
    st="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
        -d "{\"username\":\"$2\",\"email\":\"$2@example.com\",\"password\":\"$password\"}" \
        "$1/api/v1/auth/register")" || true
    case "$st" in 201 | 409) ;; *) bench_die "registering $2 at $1 answered ${st:-nothing}" ;; esac
}
fmt_rps() { awk -v v="$1" 'BEGIN { if (v + 0 == 0) print "failed"; else printf "%\047.0f", v }'; }
fmt_ms() { if [ "$1" = NA ]; then echo NA; else awk -v v="$1" 'BEGIN { printf "%.2f ms", v }'; fi; }
fmt_n() { if [ "$1" = NA ]; then echo "–"; else awk -v v="$1" -v f="${2:-%.2f}" 'BEGIN { printf f, v }'; fi; }
fmt_pct() { if [ "$1" = NA ]; then echo "–"; else awk -v v="$1" 'BEGIN { printf "%.1f%%", 100 * v }'; fi; }
note_errs() { [ "$1" = 0 ] && echo "" || echo " (errors: $1)"; }
# redis_note KEY: a mark for a cell whose runs had failed Redis commands
redis_note() {
    local n
    n="$(col "$1" 13)"
    [ "$n" = 0 ] && echo "" || echo " (Redis failures: $n)"
}
# requests NAME: how many requests the measured run NAME made (from its raw output; 0 if none)
requests() {
    local n
    n="$(awk '/ requests in / { print $1 }' "$BENCH_RESULTS_DIR/raw/$BENCH_RUN_ID/$BENCH_SCENARIO-$(printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_').txt" 2>/dev/null)"
    echo "${n:-0}"
}

# measure NAME INSTANCE URL CONNS [wrk args...]: a warm-up, then measured.
measure() {
    bench_warmup "$3" "$4" "$warmup" "$run_threads" "${@:5}"
    measured "$@"
}
# measured NAME INSTANCE URL CONNS [wrk args...]: a snapshot of the
# instance's metrics, the measured run, then what it cost per request. Sets
# m_rps m_p50 m_p99 m_err m_db m_redis m_hit m_rtt50 m_rttmean.
measured() {
    local name="$1" inst="$2" target="$3" c="$4" c0 c1 n
    shift 4
    "${helper[@]}" snap "${url[$inst]}" "$work/snap.json"
    c0="$(cpu_now "$inst")"
    bench_wrk "$name" "$target" "$c" "$duration" "$run_threads" "$@" || true
    c1="$(cpu_now "$inst")"
    m_rps="$BENCH_LAST_RPS" m_p50="$BENCH_LAST_P50" m_p99="$BENCH_LAST_P99" m_err="$BENCH_LAST_ERRORS"
    n="$(requests "$name")"
    read -r m_db m_redis m_hit m_rtt50 m_rttmean _ m_rerr m_breaker <<<"$("${helper[@]}" delta "$work/snap.json" "${url[$inst]}" "$n")"
    if [ "$m_rerr" != NA ] && { [ "$m_rerr" != 0 ] || [ "$m_breaker" != 0 ]; }; then
        echo "    WARNING: $m_rerr Redis commands failed during this run (breaker state $m_breaker at its end): pace went on without Redis for some requests; see the log in the raw directory"
    fi
    read -r m_cpu_pace m_cpu_redis m_cpu_pg <<<"$(printf '%s\n%s\n' "$c0" "$c1" | awk -v n="$n" -v hz="$(getconf CLK_TCK)" '
        NR == 1 { for (i = 1; i <= 3; i++) a[i] = $i }
        NR == 2 { for (i = 1; i <= 3; i++) printf "%s ", (n > 0) ? sprintf("%.1f", ($i - a[i]) / hz * 1e6 / n) : "NA"; print "" }')"
}
# CPU clock ticks a process used (field 14 utime + 15 stime of /proc/PID/stat;
# with a second argument 1, also its reaped children's, 16 + 17).
ticks_of() {
    awk -v all="${2:-0}" '{ sub(/^.*\) /, ""); t = $12 + $13; if (all) t += $14 + $15; print t }' \
        "/proc/$1/stat" 2>/dev/null || echo 0
}
# cpu_now INSTANCE: "pace redis postgresql" CPU ticks so far (PostgreSQL:
# the postmaster, its live backends and the ones that ended).
cpu_now() {
    local t c kids=()
    t="$(ticks_of "$pg_pid" 1)"
    read -r -a kids <"/proc/$pg_pid/task/$pg_pid/children" 2>/dev/null || true
    for c in "${kids[@]}"; do
        t=$((t + $(ticks_of "$c")))
    done
    echo "$(ticks_of "${pid[$1]}") $(ticks_of "$redis_pid") $t"
}

# The rounds: record KEY keeps the last measurement under KEY; col KEY N is
# the median over the rounds of its column N (1 rps, 2 p50, 3 p99, 4 errors
# (summed), 5 database calls/request, 6 Redis commands/request, 7 hit ratio,
# 8 round trip median bucket, 9 round trip mean, 10-12 CPU µs per request
# of pace, Redis, PostgreSQL, 13 failed Redis commands (summed)), NA if
# there is none.
declare -A cell
record() { cell[$1]+="$m_rps $m_p50 $m_p99 $m_err $m_db $m_redis $m_hit $m_rtt50 $m_rttmean $m_cpu_pace $m_cpu_redis $m_cpu_pg $m_rerr"$'\n'; }
col() {
    printf '%s' "${cell[$1]:-}" | awk -v c="$2" '
        NF { if (c == 4 || c == 13) { s += ($c == "NA") ? 0 : $c; next } if ($c != "NA") v[n++] = $c + 0 }
        END {
            if (c == 4 || c == 13) { print s + 0; exit }
            if (n == 0) { print "NA"; exit }
            for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
            print (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }'
}
busy_of() { printf "%s\n" "$1" | grep -o "[0-9]*%" | sed -n 1p; }
round_tag() { [ "$rounds" -gt 1 ] && printf ' r%s' "$1"; return 0; }
label() { if [ "$1" = on ]; then echo "with Redis"; else echo "without Redis"; fi; }
cpu_cell() { echo "$(col "$1" 10) / $(col "$1" 11) / $(col "$1" 12)"; }
fmt_rtt() { if [ "$1" = NA ]; then echo "–"; else echo "≤ $(fmt_n "$1" "%g") / $(fmt_n "$2" "%.3f") ms"; fi; }

limits=(--rate-limits on --rate-limit-login 60000 --rate-limit-login-account 60000
    --rate-limit-register 60000 --rate-limit-refresh 60000 --rate-limit-refresh-account 60000)
run_threads="$wrk_threads" # wrk -t of measure/measured (at most the connections)

# refresh.lua FILE: each of the run_threads wrk threads takes every nth refresh token of FILE
# (one per session) and hands the token of each 200 back to its pool.
refresh_lua() {
    cat <<EOF
local file, nthreads = "$1", $run_threads
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local pool, head, tail = {}, 1, 0
function init(args)
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == tid then tail = tail + 1; pool[tail] = line end
    i = i + 1
  end
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  local tok = "pool-empty"
  if head <= tail then tok = pool[head]; pool[head] = nil; head = head + 1 end
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. tok .. '"}')
end
function response(status, headers, body)
  if status == 200 then
    local t = body:match('"refresh_token":"([^"]+)"')
    if t then tail = tail + 1; pool[tail] = t end
  end
end
EOF
}

# --- 1. rate-limited login and refresh ----------------------------------------------------
auth_rows=()
if [[ "$parts" == *" 1 "* ]]; then
    echo
    echo "-- 1. login and refresh, rate limits on (raised), without and with Redis --"
    for store in sqlite postgresql; do
        db=()
        [ "$store" = postgresql ] && db=(--database-url "$pg_url")
        start off "${db[@]}" "${limits[@]}"
        start on "${db[@]}" "${limits[@]}" --redis-url "$redis_url"
        user="benchrl$store" # one account per store: the Redis keys of its limits are its own
        register "${url[off]}" "$user"
        register "${url[on]}" "$user"
        cat >"$work/login.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"login":"$user","password":"$password"}'
EOF
        for ((r = 1; r <= rounds; r++)); do
            modes=(off on)
            [ $((r % 2)) -eq 0 ] && modes=(on off)
            for c in "${auth_levels[@]}"; do
                run_threads=$((c < wrk_threads ? c : wrk_threads))
                for what in login refresh; do
                    for mode in "${modes[@]}"; do
                        name="$store $what c=$c, $(label "$mode")$(round_tag "$r")"
                        if [ $what = refresh ]; then
                            # fresh sessions (4 per connection) for the warm-up and for the measured run
                            for run in warm measured; do
                                "${helper[@]}" sessions "${url[$mode]}" "$user" "$password" $((4 * c)) "$work/tokens-$run.txt"
                                refresh_lua "$work/tokens-$run.txt" >"$work/refresh-$run.lua"
                            done
                            bench_warmup "${url[$mode]}/api/v1/auth/refresh" "$c" "$warmup" "$run_threads" -s "$work/refresh-warm.lua"
                            measured "$name" "$mode" "${url[$mode]}/api/v1/auth/refresh" "$c" -s "$work/refresh-measured.lua"
                        else
                            measure "$name" "$mode" "${url[$mode]}/api/v1/auth/login" "$c" -s "$work/login.lua"
                        fi
                        record "$store $what $mode $c"
                        echo "    Redis commands/request $(fmt_n "$m_redis"), round trip $(fmt_rtt "$m_rtt50" "$m_rttmean"), database calls/request $(fmt_n "$m_db"), CPU µs/request pace $m_cpu_pace, Redis $m_cpu_redis, PostgreSQL $m_cpu_pg"
                    done
                done
            done
            run_threads="$wrk_threads"
        done
        stop off on
        for c in "${auth_levels[@]}"; do
            for what in login refresh; do
                for mode in off on; do
                    k="$store $what $mode $c"
                    added=""
                    [ $mode = on ] && added="$(awk -v a="$(col "$k" 2)" -v b="$(col "$store $what off $c" 2)" \
                        'BEGIN { if (a == "NA" || b == "NA") print "–"; else printf "%+.2f ms", a - b }')"
                    yes=no
                    [ $mode = on ] && yes=yes
                    auth_rows+=("| $store | POST /auth/$what | $c | $yes | $(fmt_rps "$(col "$k" 1)")$(note_errs "$(col "$k" 4)")$(redis_note "$k") | $(fmt_ms "$(col "$k" 2)") | $(fmt_ms "$(col "$k" 3)") | $added | $(fmt_n "$(col "$k" 6)") | $(fmt_rtt "$(col "$k" 8)" "$(col "$k" 9)") | $(cpu_cell "$k") |")
                done
            done
        done
    done
fi

# --- 2. revocation propagation ------------------------------------------------------------
rev_rows=()
if [[ "$parts" == *" 2 "* ]]; then
    echo
    echo "-- 2. revocation propagation: logout on A, B and C polled every 2 ms until 401 --"
    for mode in redis poll; do
        extra=(--database-url "$pg_url")
        # slow: trials slower than that are named; jitter: a pause before each
        # logout drawn over 0..jitter ms (the poll's whole period without Redis)
        n="$trials" slow=50 jitter=20
        if [ $mode = redis ]; then
            extra+=(--redis-url "$redis_url")
        else
            n="$trials_poll" slow=5000 jitter=500
        fi
        start a "${extra[@]}"
        start b "${extra[@]}"
        start c "${extra[@]}"
        register "${url[a]}" benchrev
        "${helper[@]}" snap "${url[b]}" "$work/lag.0"
        "${helper[@]}" snap "${url[c]}" "$work/lag.1"
        read -r r_n r_p50 r_p99 r_max r_already r_timeouts r_errors <<<"$("${helper[@]}" lag "${url[a]}" "${url[b]}" "${url[c]}" benchrev "$password" "$n" 2 "$slow" "$jitter")"
        lagm="–"
        if [ $mode = redis ]; then
            read -r l_n l_p50 l_p99 l_mean l_err <<<"$("${helper[@]}" lagmetric "$work/lag" "${url[b]}" "${url[c]}")"
            lagm="$l_n messages: p50 $(fmt_n "$l_p50") ms, p99 $(fmt_n "$l_p99") ms, mean $(fmt_n "$l_mean") ms"
            [ "$l_err" = 0 ] || lagm="$lagm; $l_err Redis commands failed on B and C meanwhile"
        fi
        label="Redis pub/sub"
        [ $mode = poll ] && label="no Redis (500 ms database poll)"
        printf '%-34s %4s trials: median %s ms, p99 %s ms, max %s ms (refused before the logout returned: %s; timeouts %s, errors %s)\n' \
            "$label" "$r_n" "$r_p50" "$r_p99" "$r_max" "$r_already" "$r_timeouts" "$r_errors"
        [ $mode = redis ] && echo "    pace_revocation_lag_seconds on B and C: $lagm"
        rev_rows+=("| $label | $r_n | $r_p50 ms | $r_p99 ms | $r_max ms | $r_timeouts | $lagm |")
        stop a b c
    done
fi

# --- 3. reads and the payload cache on PostgreSQL -----------------------------------------------
read_rows=()
mix_rows=()
if [[ "$parts" == *" 3 "* ]]; then
    echo
    echo "-- 3. reads on PostgreSQL: no Redis / Redis without the cache / Redis with the cache --"
    start seed --database-url "$pg_url"
    "${helper[@]}" seed "${url[seed]}" "mix$$u" "$mix_users" "$password" "$work/users.txt"
    token="$(head -n1 "$work/users.txt" | cut -d' ' -f1)"
    plan_id="$("${helper[@]}" plan "${url[seed]}" "$token")"
    stop seed
    echo "seeded $mix_users users (profile, 3 tasks each) and plan $plan_id (ready)"
    common=(--database-url "$pg_url" --job-workers 0)
    start nored "${common[@]}"
    start nocache "${common[@]}" --redis-url "$redis_url" --cache-mb 0
    start cache "${common[@]}" --redis-url "$redis_url"
    declare -A label_of=([nored]="no Redis" [nocache]="Redis, PACE_CACHE_MB=0" [cache]="Redis + cache (64 MB)")
    auth=(-H "Authorization: Bearer $token")
    cat >"$work/mix.lua" <<EOF
local file, nthreads = "$work/users.txt", $wrk_threads
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local users = {}
function init(args)
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == tid then
      local tok, name = line:match("^(%S+) (%S+)$")
      users[#users + 1] = {auth = "Bearer " .. tok, name = name, flip = false}
    end
    i = i + 1
  end
  math.randomseed(4242 + tid)
end
function request()
  local u = users[math.random(#users)]
  local r = math.random(100)
  local h = {["Authorization"] = u.auth}
  if r <= 35 then
    return wrk.format("GET", "/api/v1/users/me", h)
  elseif r <= 70 then
    return wrk.format("GET", "/api/v1/profile", h)
  elseif r <= 90 then
    return wrk.format("GET", "/api/v1/tasks?limit=20", h)
  end
  u.flip = not u.flip
  h["Content-Type"] = "application/json"
  local name = u.name
  if u.flip then name = name .. "z" end
  return wrk.format("PATCH", "/api/v1/users/me", h, '{"username":"' .. name .. '"}')
end
EOF
    paths=(/api/v1/users/me "/api/v1/plans/$plan_id")
    shown_of() { # PATH: as the tables show it
        local s="${1%/"$plan_id"}"
        [ "$s" = "$1" ] || s="$s/{id}"
        printf '%s\n' "$s"
    }
    for ((r = 1; r <= rounds; r++)); do
        order=(nored nocache cache)
        [ $((r % 2)) -eq 0 ] && order=(cache nocache nored)
        for path in "${paths[@]}"; do
            shown="$(shown_of "$path")"
            for inst in "${order[@]}"; do
                measure "GET $shown, ${label_of[$inst]}$(round_tag "$r")" "$inst" "${url[$inst]}$path" "$read_conns" "${auth[@]}"
                record "$shown $inst"
                echo "    database calls/request $(fmt_n "$m_db" "%.3f"), Redis commands/request $(fmt_n "$m_redis"), hit ratio $(fmt_pct "$m_hit"), CPU µs/request pace $m_cpu_pace, Redis $m_cpu_redis, PostgreSQL $m_cpu_pg"
            done
        done
        for inst in "${order[@]}"; do
            measure "mix, ${label_of[$inst]}$(round_tag "$r")" "$inst" "${url[$inst]}/" "$read_conns" -s "$work/mix.lua"
            record "mix $inst"
            echo "    database calls/request $(fmt_n "$m_db" "%.3f"), Redis commands/request $(fmt_n "$m_redis"), hit ratio $(fmt_pct "$m_hit"), CPU µs/request pace $m_cpu_pace, Redis $m_cpu_redis, PostgreSQL $m_cpu_pg"
        done
    done
    stop nored nocache cache
    for path in "${paths[@]}"; do
        shown="$(shown_of "$path")"
        for inst in nored nocache cache; do
            k="$shown $inst"
            read_rows+=("| GET $shown | ${label_of[$inst]} | $(fmt_rps "$(col "$k" 1)")$(note_errs "$(col "$k" 4)")$(redis_note "$k") | $(fmt_ms "$(col "$k" 2)") | $(fmt_ms "$(col "$k" 3)") | $(fmt_n "$(col "$k" 5)" "%.3f") | $(fmt_n "$(col "$k" 6)") | $(fmt_pct "$(col "$k" 7)") | $(cpu_cell "$k") |")
        done
    done
    for inst in nored nocache cache; do
        k="mix $inst"
        mix_rows+=("| ${label_of[$inst]} | $(fmt_rps "$(col "$k" 1)")$(note_errs "$(col "$k" 4)")$(redis_note "$k") | $(fmt_ms "$(col "$k" 2)") | $(fmt_ms "$(col "$k" 3)") | $(fmt_n "$(col "$k" 5)" "%.3f") | $(fmt_n "$(col "$k" 6)") | $(fmt_pct "$(col "$k" 7)") | $(cpu_cell "$k") |")
    done
fi

# --- report ------------------------------------------------------------------------------------
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average after: $load_after"
idle_after="$(bench_idle_check after)"
echo "$idle_after"

echo
echo "-- results: redis --"
echo
bench_run_table "$machine_line"
echo "| servers | $(/usr/bin/redis-server --version | sed 's/^Redis server v=\([^ ]*\).*/Redis \1/'), PostgreSQL $("$pg_sh" psql "$work/pg" -At -c 'SHOW server_version' | cut -d' ' -f1), loopback TCP, on the same cores as pace and wrk |"
echo "| pace | --threads ${BENCH_THREADS:-$BENCH_NPROC}, access log off, PACE_REDIS_TIMEOUT_MS and PACE_REVOCATION_MAX_STALENESS_MS at their defaults |"
echo "| load | wrk -t$wrk_threads, a ${warmup} warm-up before each ${duration} run, $rounds round(s)$([ "$rounds" -gt 1 ] && echo ": medians, the order alternating") |"
echo "| machine load | load average ${load_before} before, ${load_after} after; CPU $(busy_of "$idle_before") busy before, $(busy_of "$idle_after") after (2 s samples, nothing of this run going) |"
if [ ${#auth_rows[@]} -gt 0 ]; then
    echo
    echo "Login and refresh, rate limits on and raised to 60,000/min, argon2id m=${argon_kib} KiB t=1:"
    echo
    echo "| store | request | connections | Redis | req/s | p50 | p99 | p50 added | Redis cmds/req | Redis round trip p50 / mean | CPU µs/req: pace / Redis / PG |"
    echo "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${auth_rows[@]}"
fi
if [ ${#rev_rows[@]} -gt 0 ]; then
    echo
    echo "Revocation propagation, 3 instances on PostgreSQL: logout on A until both B and C refuse the access token (polled every 2 ms):"
    echo
    echo "| revocations through | trials | median | p99 | max | over 5 s | pace_revocation_lag_seconds (B, C) |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${rev_rows[@]}"
fi
if [ ${#read_rows[@]} -gt 0 ]; then
    echo
    echo "Reads on PostgreSQL, one user, $read_conns connections:"
    echo
    echo "| request | instance | req/s | p50 | p99 | DB calls/req | Redis cmds/req | hit ratio | CPU µs/req: pace / Redis / PG |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${read_rows[@]}"
    echo
    echo "Mix over $mix_users users ($read_conns connections): 35% GET /users/me, 35% GET /profile, 20% GET /tasks?limit=20, 10% PATCH /users/me:"
    echo
    echo "| instance | req/s | p50 | p99 | DB calls/req | Redis cmds/req | hit ratio | CPU µs/req: pace / Redis / PG |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${mix_rows[@]}"
fi
echo
echo "rows appended to ${BENCH_RESULTS_FILE#"$BENCH_ROOT"/}; raw wrk output in ${BENCH_RESULTS_DIR#"$BENCH_ROOT"/}/raw/$BENCH_RUN_ID/"
