#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib functions take optional args, not the script's
# Accounts and sessions under load, in one run:
#
#   1. one argon2id hash on one thread (build/auth_hash_bench, the same code
#      and parameters as pace), and from it what the machine allows:
#      cores / hash time = the most logins per second hashing permits;
#   2. POST /api/v1/auth/login per second with enough connections to keep
#      every hash thread busy (goal: >= 85% of what hashing permits);
#   3. GET /api/v1/users/me per second (JWT check on the loop + one read);
#   4. isolation: the p99 of GET /api/v1/users/me at a fixed request rate,
#      alone and while a login flood overfills the hash pool (goal: the
#      flood at most doubles it). The flood's own answers are mostly 503
#      overloaded by design: the pool sheds what it cannot hash.
#
# pace runs with its default argon2id parameters (19 MiB, t=2), rate limits
# off (bench default), one event loop and one hash thread per core.
# Settings: BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_WRK_THREADS (2),
# BENCH_THREADS (nproc), BENCH_LOGIN_CONNECTIONS (4 x cores),
# BENCH_ME_CONNECTIONS (64), BENCH_ISOLATION_RATE (requests/s of the probe,
# 500), BENCH_FLOOD_CONNECTIONS (96: more than the hash queue of 64 holds), PACE_BIN.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
wrk_threads="${BENCH_WRK_THREADS:-2}"
cores="$BENCH_NPROC"
login_conns="${BENCH_LOGIN_CONNECTIONS:-$((4 * cores))}"
me_conns="${BENCH_ME_CONNECTIONS:-64}"
probe_rate="${BENCH_ISOLATION_RATE:-500}"
flood_conns="${BENCH_FLOOD_CONNECTIONS:-96}"
memory_kib=19456
iterations=2
password="umbrella-quarterly-lantern-42"

bin="${PACE_BIN:-build/pace}"
case "$bin" in /*) ;; *) bin="$BENCH_ROOT/$bin" ;; esac
hash_bench="$(dirname "$bin")/auth_hash_bench"
[ -x "$hash_bench" ] || bench_die "$hash_bench not found (run make build)"
command -v wrk >/dev/null || bench_die "wrk not found"

echo "== accounts and sessions: logins, GET /users/me, isolation from a login flood =="
bench_machine

# --- 1. what hashing permits ----------------------------------------------------
hash_ms="$("$hash_bench" "$memory_kib" "$iterations" 40)"
permitted="$(awk -v c="$cores" -v ms="$hash_ms" 'BEGIN { printf "%.1f", c * 1000 / ms }')"
echo "one argon2id verification (m=${memory_kib} KiB, t=${iterations}, p=1) on one thread: ${hash_ms} ms"
echo "hashing permits at most ${cores} cores / ${hash_ms} ms = ${permitted} logins/s"

# --- the server and a user -------------------------------------------------------
bench_start_pace --hash-queue 4096
bench__tmpdir lua
lua="$BENCH__TMP"
user="bench$$"
token="$(bench_user_token "$user" "$password")"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$PACE_URL/api/v1/users/me")" = 200 ] ||
    bench_die "GET /users/me did not answer 200"

cat >"$lua/login.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"login":"$user","password":"$password"}'
EOF

# --- 2. logins per second ----------------------------------------------------------
echo
echo "-- runs --"
bench_warmup "$PACE_URL/api/v1/auth/login" "$login_conns" "$warmup" "$wrk_threads" -s "$lua/login.lua"
bench_wrk "login c=$login_conns" "$PACE_URL/api/v1/auth/login" "$login_conns" "$duration" "$wrk_threads" \
    -s "$lua/login.lua" || true
login_rps="$BENCH_LAST_RPS" login_p50="$BENCH_LAST_P50" login_p99="$BENCH_LAST_P99" login_err="$BENCH_LAST_ERRORS"

# --- 3. GET /users/me per second ---------------------------------------------------
auth=(-H "Authorization: Bearer $token")
bench_warmup "$PACE_URL/api/v1/users/me" "$me_conns" "$warmup" "$wrk_threads" "${auth[@]}"
bench_wrk "users/me c=$me_conns" "$PACE_URL/api/v1/users/me" "$me_conns" "$duration" "$wrk_threads" \
    "${auth[@]}" || true
me_rps="$BENCH_LAST_RPS" me_p50="$BENCH_LAST_P50" me_p99="$BENCH_LAST_P99" me_err="$BENCH_LAST_ERRORS"

# --- 4. isolation -------------------------------------------------------------------
# The probe: GET /users/me paced at probe_rate requests/s over 8 connections
# (each connection waits 8000/rate ms between requests), so its latency is
# the server's, not a queue the load generator built itself.
# A fresh server with the default hash queue (64), as in production.
delay_ms=$((8000 / probe_rate))
bench_stop_pace
bench_start_pace
token="$(bench_user_token "$user" "$password")"
cat >"$lua/probe.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $token"
function delay() return $delay_ms end
EOF
bench_wrk "users/me probe alone" "$PACE_URL/api/v1/users/me" 8 "$duration" 1 -s "$lua/probe.lua" || true
alone_rps="$BENCH_LAST_RPS" alone_p50="$BENCH_LAST_P50" alone_p99="$BENCH_LAST_P99" alone_err="$BENCH_LAST_ERRORS"

flood_secs=$(($(bench__seconds "$duration") + 4))
timeout -k 5 $((flood_secs + 30)) wrk -t1 -c"$flood_conns" -d"${flood_secs}s" -s "$lua/login.lua" \
    "$PACE_URL/api/v1/auth/login" >"$lua/flood.txt" 2>&1 &
flood_pid=$!
BENCH_PIDS+=("$flood_pid")
sleep 2
bench_wrk "users/me probe during login flood" "$PACE_URL/api/v1/users/me" 8 "$duration" 1 -s "$lua/probe.lua" || true
flood_rps="$BENCH_LAST_RPS" flood_p50="$BENCH_LAST_P50" flood_p99="$BENCH_LAST_P99" flood_err="$BENCH_LAST_ERRORS"
wait "$flood_pid" || true
bench__forget_pid "$flood_pid"
flood_total="$(awk '/requests in/ { print $1 }' "$lua/flood.txt")"
flood_non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$lua/flood.txt")"
flood_login_rps="$(awk '/^Requests\/sec:/ { print $2 }' "$lua/flood.txt")"

# --- report ---------------------------------------------------------------------------
fmt_rps() { awk -v v="$1" 'BEGIN { if (v + 0 == 0) print "failed"; else printf "%.0f", v }'; }
fmt_ms() { if [ "$1" = NA ]; then echo NA; else awk -v v="$1" 'BEGIN { printf "%.2f ms", v }'; fi; }
note_errs() { [ "$1" = 0 ] && echo "" || echo " (errors: $1)"; }
ratio="$(bench_ratio "$login_rps" "$permitted")"
login_verdict="$(awk -v r="${ratio%\%}" 'BEGIN { if (r + 0 >= 85) print "met"; else print "NOT met" }')"
p99_ratio="$(awk -v a="$flood_p99" -v b="$alone_p99" 'BEGIN { if (b + 0 == 0 || a == "NA") print "n/a"; else printf "%.2f", a / b }')"
iso_verdict="$(awk -v r="$p99_ratio" 'BEGIN { if (r == "n/a") print "n/a"; else if (r + 0 <= 2) print "met"; else print "NOT met" }')"
machine_line="$(bench_machine)"

echo
echo "-- results: accounts and sessions --"
echo
bench_run_table "$machine_line"
echo "| argon2id | m=${memory_kib} KiB, t=${iterations}, p=1 (the defaults) |"
echo "| one hash, one thread | ${hash_ms} ms |"
echo "| hashing permits | ${cores} cores / ${hash_ms} ms = ${permitted} logins/s |"
echo
echo "| measurement | connections | req/s | p50 | p99 | against | goal |"
echo "|---|---:|---:|---:|---:|---:|---|"
echo "| POST /auth/login | $login_conns | $(fmt_rps "$login_rps")$(note_errs "$login_err") | $(fmt_ms "$login_p50") | $(fmt_ms "$login_p99") | $ratio of ${permitted}/s | >= 85%: $login_verdict |"
echo "| GET /users/me | $me_conns | $(fmt_rps "$me_rps")$(note_errs "$me_err") | $(fmt_ms "$me_p50") | $(fmt_ms "$me_p99") | | |"
echo "| GET /users/me at ${probe_rate}/s, alone | 8 | $(fmt_rps "$alone_rps")$(note_errs "$alone_err") | $(fmt_ms "$alone_p50") | $(fmt_ms "$alone_p99") | | |"
echo "| GET /users/me at ${probe_rate}/s, login flood | 8 | $(fmt_rps "$flood_rps")$(note_errs "$flood_err") | $(fmt_ms "$flood_p50") | $(fmt_ms "$flood_p99") | p99 ${p99_ratio}x alone | <= 2x: $iso_verdict |"
echo
echo "login flood: $flood_conns connections, ${flood_total:-?} requests (${flood_login_rps:-?}/s), ${flood_non2xx:-0} of them not 2xx (503 overloaded: the hash pool sheds load)"
echo "rows appended to ${BENCH_RESULTS_FILE#"$BENCH_ROOT"/}; raw wrk output in ${BENCH_RESULTS_DIR#"$BENCH_ROOT"/}/raw/$BENCH_RUN_ID/"
