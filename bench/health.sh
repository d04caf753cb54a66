#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib functions take optional args, not the script's
# GET /health on pace and on nginx, same wrk settings, in one run.
#
# Three servers run side by side (an idle server costs nothing): pace with the
# access log off, pace with the access log on (its default setting), nginx.
# For each connection count (64 and 512): a warm-up (2 s) then a measured run
# (10 s) on pace, then the same on nginx; at 64 connections also on pace with
# the access log on. With BENCH_ROUNDS > 1 this is repeated, the order of
# pace and nginx swapped every other round, and the median of each number is
# reported. Prints the response of each server with its size in bytes, then
# Markdown tables for docs/benchmarks.md. Goal: pace >= 85% of nginx's req/s.
#
# Settings: BENCH_HEALTH_CONNECTIONS ("64 512"), BENCH_ROUNDS (1),
# BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_WRK_THREADS (2),
# BENCH_THREADS (nproc), PACE_BIN.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
wrk_threads="${BENCH_WRK_THREADS:-2}"
rounds="${BENCH_ROUNDS:-1}"
read -r -a levels <<<"${BENCH_HEALTH_CONNECTIONS:-64 512}"
log_level=64 # connections of the access-log-on run
goal=85
server_threads="${BENCH_THREADS:-$BENCH_NPROC}"

echo "== GET /health: pace vs nginx =="
machine_line="$(bench_machine)"
echo "$machine_line"
echo "load: wrk -t$wrk_threads -d$duration --latency, a $warmup warm-up before each run, pace and nginx alternating, $rounds round(s);"
echo "      servers: $server_threads threads (pace) / $server_threads workers (nginx); 127.0.0.1; wrk shares the same cores"

bench_idle_check "before the run"
bench_start_pace
pace_url="$PACE_URL"
BENCH_ACCESS_LOG=on bench_start_pace
pace_log_url="$PACE_URL"
pace_log_file="$BENCH_PACE_LOG"
bench_start_nginx

echo
echo "-- responses (bytes as on the wire: status line + headers + body) --"
size_pace="$(bench_response_size "$pace_url/health")"
size_nginx="$(bench_response_size "$NGINX_URL/health")"
echo "pace:  $size_pace"
bench_show_response "$pace_url/health" | sed 's/^/    /'
echo "nginx: $size_nginx"
bench_show_response "$NGINX_URL/health" | sed 's/^/    /'

# Results per "server,connections": space-separated values, one per round.
declare -A rps p50 p99 errs
declare -A url=([pace]="$pace_url/health" [nginx]="$NGINX_URL/health" [pace-log]="$pace_log_url/health")
measure() { # measure SERVER CONNECTIONS ROUND
    local key="$1" c="$2" r="$3" name="$1 c=$2"
    [ "$rounds" -gt 1 ] && name="$name r$r"
    bench_warmup "${url[$key]}" "$c" "$warmup" "$wrk_threads"
    if bench_wrk "$name" "${url[$key]}" "$c" "$duration" "$wrk_threads"; then
        rps[$key,$c]+="$BENCH_LAST_RPS " p50[$key,$c]+="$BENCH_LAST_P50 "
        p99[$key,$c]+="$BENCH_LAST_P99 " errs[$key,$c]+="$BENCH_LAST_ERRORS "
    else
        errs[$key,$c]+="failed "
    fi
}

echo
echo "-- runs --"
log_bytes=0
for ((r = 1; r <= rounds; r++)); do
    for c in "${levels[@]}"; do
        if ((r % 2)); then order=(pace nginx); else order=(nginx pace); fi
        for s in "${order[@]}"; do measure "$s" "$c" "$r"; done
        if [ "$c" = "$log_level" ]; then
            before="$(stat -c %s "$pace_log_file")"
            measure pace-log "$c" "$r"
            log_bytes=$((log_bytes + $(stat -c %s "$pace_log_file") - before))
        fi
    done
done

# Idle servers cost nothing; check what else ran, as at the start.
idle_after="$(bench_idle_check "after the runs")"

# --- report ------------------------------------------------------------------
median() { # median of the numbers given ("NA" if none)
    printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# shellcheck disable=SC2086  # word splitting of the per-round lists is intended
med() { median ${1:-}; }
fmt_rps() { if [ "$1" = NA ]; then echo failed; else awk -v v="$1" 'BEGIN { printf "%.0f", v }'; fi; }
fmt_ms() { if [ "$1" = NA ]; then echo NA; else awk -v v="$1" 'BEGIN { printf "%.2f ms", v }'; fi; }
ratio_of() { if [ "$1" = NA ] || [ "$2" = NA ]; then echo n/a; else bench_ratio "$1" "$2"; fi; }
verdict() { awk -v r="${1%\%}" -v g="$goal" 'BEGIN { if (r == "n/a") print "n/a"; else if (r + 0 >= g) print "met"; else print "NOT met" }'; }
errors_note() { # " (errors: ...)" unless every round had 0 errors
    local e="${errs[$1]:-}"
    if [ -z "$e" ] || [ -n "$(printf '%s' "$e" | tr -d '0 ')" ]; then echo " (errors per round: ${e:-none recorded})"; fi
}
row() { # row LABEL KEY CONNECTIONS RATIO VERDICT
    local k="$2,$3"
    echo "| $1 | $3 | $(fmt_rps "$(med "${rps[$k]:-}")")$(errors_note "$k") | $(fmt_ms "$(med "${p50[$k]:-}")") | $(fmt_ms "$(med "${p99[$k]:-}")") | $4 | $5 |"
}

echo
echo "-- results: GET /health (goal: pace >= ${goal}% of nginx req/s)$([ "$rounds" -gt 1 ] && echo ", medians of $rounds rounds") --"
echo
bench_run_table "$machine_line"
echo "| response size, pace | $size_pace |"
echo "| response size, nginx | $size_nginx |"
echo
echo "| server | connections | req/s | p50 | p99 | pace/nginx | goal >= ${goal}% |"
echo "|---|---:|---:|---:|---:|---:|---|"
for c in "${levels[@]}"; do
    ratio="$(ratio_of "$(med "${rps[pace,$c]:-}")" "$(med "${rps[nginx,$c]:-}")")"
    row pace pace "$c" "$ratio" "$(verdict "$ratio")"
    row nginx nginx "$c" "" ""
done
ratio="$(ratio_of "$(med "${rps[pace-log,$log_level]:-}")" "$(med "${rps[nginx,$log_level]:-}")")"
row "pace, access log on" pace-log "$log_level" "$ratio" "(default setting)"
echo
echo "access log on vs off at $log_level connections:" \
    "$(ratio_of "$(med "${rps[pace-log,$log_level]:-}")" "$(med "${rps[pace,$log_level]:-}")") of the req/s;" \
    "$(awk -v b="$log_bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }') of access log written (to a file) during its warm-ups and runs"
echo "$idle_after"
echo "rows appended to ${BENCH_RESULTS_FILE#"$BENCH_ROOT"/}; raw wrk output in ${BENCH_RESULTS_DIR#"$BENCH_ROOT"/}/raw/$BENCH_RUN_ID/"
