# shellcheck shell=bash disable=SC2034  # BENCH_LAST_*, BENCH_PACE_* are for the scenarios
# bench/lib.sh: shared helpers for the benchmark scenarios in bench/*.sh.
#
# Source it from a scenario:   . "$(dirname "$0")/lib.sh"
#
# Rules every scenario keeps (see bench/README.md):
#   - loopback only: every server listens on 127.0.0.1 and every load goes there;
#   - every load is bounded in time (wrk -d, wrapped in timeout(1));
#   - only processes this library started are stopped, by PID, on EXIT.
#
# Functions:
#   bench_start_pace [extra pace args...]  start pace; exports PACE_URL, PACE_PID
#   bench_stop_pace [pid]                  stop one pace started here (default $PACE_PID)
#   bench_start_nginx                      start nginx; exports NGINX_URL, NGINX_PID
#   bench_wrk NAME URL [conns] [duration] [threads] [extra wrk args...]
#                                          measure, record a row, print a summary
#   bench_warmup URL [conns] [duration] [threads] [extra wrk args...]
#                                          unrecorded load (default 2 s)
#   bench_ratio A B                        prints A/B as a percentage ("93.4%")
#   bench_response_size URL                prints "<total> B (headers <h> + body <b>)"
#   bench_machine                          one line: CPU, cores, kernel, date, commit
#   bench_idle_check [when]                one line: is the machine idle (CPU busy %)
#   bench_on_exit 'command'                add a command to the EXIT cleanup
#
# Settings (environment):
#   PACE_BIN             pace binary (default build/pace)
#   BENCH_THREADS        pace --threads and nginx worker_processes (default nproc)
#   BENCH_ACCESS_LOG     PACE_ACCESS_LOG for bench_start_pace (default off)
#   BENCH_WRK_THREADS    wrk -t default (2)
#   BENCH_CONNECTIONS    wrk -c default (64)
#   BENCH_DURATION       wrk -d default (10s)
#   BENCH_WARMUP         warm-up duration default (2s)
#   BENCH_RESULTS_DIR    where rows are appended (default bench/results)
#   BENCH_RUN_ID         groups the rows of one run (run.sh sets it for all scenarios)
#   BENCH_KEEP_TMP=1     keep the temporary directories (server logs) after exit

if [ -n "${BENCH_LIB_LOADED:-}" ]; then
    return 0
fi
BENCH_LIB_LOADED=1

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_SCENARIO="${BENCH_SCENARIO:-$(basename "${0%.sh}")}"
BENCH_RESULTS_DIR="${BENCH_RESULTS_DIR:-$BENCH_ROOT/bench/results}"
BENCH_RUN_ID="${BENCH_RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)}"
export BENCH_RUN_ID
BENCH_RESULTS_FILE="$BENCH_RESULTS_DIR/results.tsv"
BENCH_NPROC="$(nproc 2>/dev/null || echo 1)"

BENCH_PIDS=()      # every process started here, in start order
BENCH_TMPDIRS=()   # every temporary directory made here
BENCH_EXIT_CMDS=() # extra cleanup commands from bench_on_exit

bench_log() { printf '[bench] %s\n' "$*" >&2; }
bench_die() {
    printf '[bench] error: %s\n' "$*" >&2
    exit 1
}

# --- cleanup -----------------------------------------------------------------

bench_on_exit() { BENCH_EXIT_CMDS+=("$1"); }

# Stop one process started here: SIGTERM, up to 5 s, then SIGKILL. By PID only.
bench__stop_pid() {
    local pid="$1" i st=0
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        bench_log "pid $pid did not stop after SIGTERM in 5 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || st=$?
    # 0 or 143 (SIGTERM) is a clean stop; anything else is worth a look.
    case "$st" in 0 | 143 | 137 | 127) ;; *) bench_log "pid $pid exited with status $st when stopped (>128: signal $((st - 128)))" ;; esac
    return 0
}

bench__forget_pid() {
    local pid="$1" p keep=()
    for p in "${BENCH_PIDS[@]}"; do
        [ "$p" = "$pid" ] || keep+=("$p")
    done
    BENCH_PIDS=("${keep[@]}")
}

bench_cleanup() {
    local status=$? i cmd
    trap - EXIT INT TERM
    for cmd in "${BENCH_EXIT_CMDS[@]}"; do
        eval "$cmd" || true
    done
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        bench__stop_pid "${BENCH_PIDS[i]}"
    done
    BENCH_PIDS=()
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
        [ ${#BENCH_TMPDIRS[@]} -eq 0 ] || bench_log "kept: ${BENCH_TMPDIRS[*]}"
    else
        for cmd in "${BENCH_TMPDIRS[@]}"; do
            rm -rf -- "$cmd"
        done
    fi
    exit "$status"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bench__tmpdir NAME: a new temporary directory in BENCH__TMP (not in a
# subshell, so that cleanup knows it).
bench__tmpdir() {
    BENCH__TMP="$(mktemp -d "${TMPDIR:-/tmp}/pace-bench-$1.XXXXXX")" || bench_die "mktemp failed"
    BENCH_TMPDIRS+=("$BENCH__TMP")
}

# --- helpers -----------------------------------------------------------------

# A TCP port on 127.0.0.1 that is free now (the kernel picks it).
bench_free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# HTTP status of GET URL ("000" when nothing answers); 1 s per try.
bench__status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" 2>/dev/null || true
}

# Wait until GET URL is 200 while PID lives; deadline in seconds (default 15).
bench__wait_ok() {
    local url="$1" pid="$2" deadline=$((SECONDS + ${3:-15}))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 2
        [ "$(bench__status "$url")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

# Duration string of wrk (500ms, 10s, 2m, 1h, or plain seconds) -> whole seconds (>= 1).
bench__seconds() {
    awk -v d="$1" 'BEGIN {
        n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
        if (u == "ms") n /= 1000; else if (u == "m") n *= 60; else if (u == "h") n *= 3600
        n = int(n + 0.999); if (n < 1) n = 1; print n }'
}

bench_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (b + 0 == 0) { print "n/a"; exit }
        printf "%.1f%%\n", 100 * a / b }'
}

# "<total> B (headers <h> + body <b>)" for one GET, as curl sees it on the wire.
bench_response_size() {
    curl -s -o /dev/null --max-time 5 -w '%{size_header} %{size_download}' "$1" |
        awk '{ printf "%d B (headers %d + body %d)\n", $1 + $2, $1, $2 }'
}

# The response head and body of one GET (for the report).
bench_show_response() {
    curl -s -i --max-time 5 "$1" | tr -d '\r'
    echo
}

bench_commit() {
    local c
    c="$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null)" || c="none"
    if [ -n "$(git -C "$BENCH_ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] ||
        [ "$c" = none ]; then
        c="$c+uncommitted"
    fi
    printf '%s\n' "$c"
}

bench_machine() {
    local cpu
    cpu="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)"
    printf 'machine: %s, %s cores, kernel %s, %s, commit %s\n' \
        "${cpu:-unknown CPU}" "$BENCH_NPROC" "$(uname -r)" \
        "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(bench_commit)"
}

# The head of a run's results table from bench_machine's line: machine,
# date and commit; the caller adds its own rows.
bench_run_table() { # MACHINE_LINE
    local machine="${1#machine: }"
    echo "| run | |"
    echo "|---|---|"
    echo "| machine | ${machine%, *, commit *} |"
    echo "| date (UTC) | $(date -u '+%Y-%m-%d %H:%M') |"
    echo "| commit | ${machine##*, commit } |"
}

# Percent of all CPUs busy over SECONDS (default 1), from /proc/stat. Run it
# while nothing of the benchmark runs to see whether the machine is idle.
bench_cpu_busy() {
    local a b
    a="$(head -n1 /proc/stat)"
    sleep "${1:-1}"
    b="$(head -n1 /proc/stat)"
    printf '%s\n%s\n' "$a" "$b" | awk '{
        idle = $5 + $6; total = 0; for (i = 2; i <= 9; i++) total += $i  # guest is in user
        if (NR == 1) { i0 = idle; t0 = total } else {
            dt = total - t0; printf "%.0f\n", (dt > 0) ? 100 * (1 - (idle - i0) / dt) : 0 } }'
}

# Warn when the machine is busy before or after a measurement (other work
# on the cores makes the numbers meaningless). Prints one line.
bench_idle_check() {
    local busy
    busy="$(bench_cpu_busy 2)"
    if [ "$busy" -gt "${BENCH_BUSY_MAX:-10}" ]; then
        echo "WARNING: the machine is ${busy}% busy ${1:-now} (nothing of this benchmark running): other work skews the numbers"
    else
        echo "machine idle ${1:-now}: ${busy}% CPU busy"
    fi
}

# --- servers -----------------------------------------------------------------

# bench_start_pace [extra args...]: pace serve on a free loopback port with a
# fresh data dir, access log off (BENCH_ACCESS_LOG), log level warn, rate limits
# off, --threads BENCH_THREADS (nproc). Exports PACE_URL and PACE_PID; sets
# BENCH_PACE_DIR (its temp dir) and BENCH_PACE_LOG (its stdout and stderr).
bench_start_pace() {
    local bin="${PACE_BIN:-build/pace}" dir port pid url try a rc
    local threads=(--threads "${BENCH_THREADS:-$BENCH_NPROC}")
    case "$bin" in /*) ;; *) bin="$BENCH_ROOT/$bin" ;; esac
    [ -x "$bin" ] || bench_die "pace binary not found: $bin (run make build, or set PACE_BIN)"
    for a in "$@"; do
        case "$a" in --threads | --threads=*) threads=() ;; esac
    done
    bench__tmpdir pace
    dir="$BENCH__TMP"
    mkdir -p "$dir/data"
    for try in 1 2 3; do
        port="$(bench_free_port)" || bench_die "no free port"
        url="http://127.0.0.1:$port"
        # cwd is the temp dir so no developer .env is read; the variables this
        # library exports are not passed to pace.
        (
            cd "$dir" &&
                exec env -u PACE_URL -u PACE_PID -u PACE_BIN \
                    PACE_ACCESS_LOG="${BENCH_ACCESS_LOG:-off}" \
                    PACE_LOG_LEVEL=warn PACE_RATE_LIMITS=off \
                    "$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" \
                    "${threads[@]}" "$@"
        ) >"$dir/pace.log" 2>&1 &
        pid=$!
        BENCH_PIDS+=("$pid")
        rc=0
        bench__wait_ok "$url/health" "$pid" 15 || rc=$?
        if [ $rc -eq 0 ]; then
            export PACE_URL="$url" PACE_PID="$pid"
            BENCH_PACE_DIR="$dir" BENCH_PACE_LOG="$dir/pace.log"
            bench_log "pace pid $pid at $url (threads ${BENCH_THREADS:-$BENCH_NPROC}, access log ${BENCH_ACCESS_LOG:-off}, log $dir/pace.log)"
            return 0
        fi
        bench__stop_pid "$pid"
        bench__forget_pid "$pid"
        if [ $rc -eq 1 ]; then
            tail -n 20 "$dir/pace.log" >&2
            bench_die "pace did not answer GET /health with 200 within 15 s"
        fi
        bench_log "pace exited during start-up (try $try/3):"
        tail -n 5 "$dir/pace.log" >&2
    done
    bench_die "pace did not start"
}

bench_stop_pace() {
    local pid="${1:-${PACE_PID:-}}"
    [ -n "$pid" ] || return 0
    bench__stop_pid "$pid"
    bench__forget_pid "$pid"
    if [ "$pid" = "${PACE_PID:-}" ]; then unset PACE_PID PACE_URL; fi
}

# bench_user_token USER PASSWORD: registers USER (email USER@example.com) on
# the running pace ($PACE_URL), logs in and prints the access token; dies
# when the login fails.
bench_user_token() {
    local user="$1" password="$2" token
    curl -s -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
        -d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password\":\"$password\"}" \
        "$PACE_URL/api/v1/auth/register"
    token="$(curl -s --max-time 10 -H 'Content-Type: application/json' \
        -d "{\"login\":\"$user\",\"password\":\"$password\"}" "$PACE_URL/api/v1/auth/login" |
        sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
    [ -n "$token" ] || bench_die "could not log in as $user"
    printf '%s\n' "$token"
}

# bench_start_nginx: nginx (Debian's binary) with its own config in a temp dir,
# worker_processes BENCH_THREADS, access_log off, keepalive_requests 100000, and
# `location = /health` answering like pace: 200 application/json
# {"status":"ok"} with a per-request X-Request-Id of 26 characters (like
# pace's; BENCH_NGINX_REQUEST_ID_LEN, at most 32).
bench_start_nginx() {
    local bin="${NGINX_BIN:-/usr/sbin/nginx}" dir port url pid user_line="" rc
    local idlen="${BENCH_NGINX_REQUEST_ID_LEN:-26}"
    [ -x "$bin" ] || bench_die "nginx not found: $bin"
    bench__tmpdir nginx
    dir="$BENCH__TMP"
    port="$(bench_free_port)" || bench_die "no free port"
    url="http://127.0.0.1:$port"
    [ "$(id -u)" = 0 ] && user_line="user root;"
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes ${BENCH_THREADS:-$BENCH_NPROC};
worker_rlimit_nofile 16384;
error_log $dir/error.log warn;
pid $dir/nginx.pid;
pcre_jit on;
events {
    worker_connections 8192;
}
http {
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    # pace's generated X-Request-Id is 26 characters, new for each request;
    # nginx's \$request_id is 32 random hex digits: keep the first $idlen.
    map \$request_id \$bench_request_id {
        "~^(?<rid>.{$idlen})" \$rid;
    }
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        location = /health {
            default_type application/json;
            add_header X-Request-Id \$bench_request_id always;
            return 200 '{"status":"ok"}';
        }
        location / {
            return 404;
        }
    }
}
EOF
    "$bin" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' \
        >>"$dir/nginx.out" 2>&1 &
    pid=$!
    BENCH_PIDS+=("$pid")
    rc=0
    bench__wait_ok "$url/health" "$pid" 15 || rc=$?
    if [ $rc -ne 0 ]; then
        cat "$dir/nginx.out" "$dir/error.log" >&2 2>/dev/null
        bench_die "nginx did not answer GET /health with 200 within 15 s"
    fi
    export NGINX_URL="$url" NGINX_PID="$pid"
    bench_log "nginx pid $pid at $url (worker_processes ${BENCH_THREADS:-$BENCH_NPROC}, $("$bin" -v 2>&1 | sed 's/^nginx version: //'))"
}

# --- load --------------------------------------------------------------------

# Run wrk bounded: its own -d plus timeout(1) as a backstop. It runs in the
# background and is waited for, so a signal to the scenario stops it at once
# (the cleanup stops it by PID).
bench__run_wrk() {
    local url="$1" c="$2" d="$3" t="$4"
    shift 4
    local limit wpid rc=0
    limit=$(($(bench__seconds "$d") + 30))
    timeout -k 5 "$limit" wrk -t"$t" -c"$c" -d"$d" --latency "$@" "$url" &
    wpid=$!
    BENCH_PIDS+=("$wpid")
    wait "$wpid" || rc=$?
    bench__forget_pid "$wpid"
    return "$rc"
}

bench_warmup() {
    local url="$1" c="${2:-${BENCH_CONNECTIONS:-64}}" d="${3:-${BENCH_WARMUP:-2s}}" t="${4:-${BENCH_WRK_THREADS:-2}}"
    shift $(($# < 4 ? $# : 4))
    bench__run_wrk "$url" "$c" "$d" "$t" "$@" >/dev/null 2>&1 || bench_log "warm-up on $url failed"
}

# bench_wrk NAME URL [connections] [duration] [threads] [extra wrk args...]
# Sets BENCH_LAST_RPS, BENCH_LAST_P50, BENCH_LAST_P99 (ms), BENCH_LAST_ERRORS and
# appends a row to $BENCH_RESULTS_FILE. The raw wrk output is kept next to it.
bench_wrk() {
    local name="$1" url="$2" c="${3:-${BENCH_CONNECTIONS:-64}}" d="${4:-${BENCH_DURATION:-10s}}" t="${5:-${BENCH_WRK_THREADS:-2}}"
    shift $(($# < 5 ? $# : 5))
    local raw rawdir rc out
    rawdir="$BENCH_RESULTS_DIR/raw/$BENCH_RUN_ID"
    mkdir -p "$rawdir"
    raw="$rawdir/$BENCH_SCENARIO-$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_').txt"
    rc=0
    bench__run_wrk "$url" "$c" "$d" "$t" "$@" >"$raw" 2>&1 || rc=$?
    # Fields: rps p50 p75 p90 p99 requests non2xx socket_errors
    out="$(awk '
        function ms(v,   n, u) {
            n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
            if (u == "us") return n / 1000; if (u == "ms") return n
            if (u == "s") return n * 1000; if (u == "m") return n * 60000
            if (u == "h") return n * 3600000; return -1 }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) } $1 == "75%" { p75 = ms($2) }
        $1 == "90%" { p90 = ms($2) } $1 == "99%" { p99 = ms($2) }
        / requests in / { req = $1 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) sock += $i + 0 }
        END {
            if (rps == "" || p50 == "") { print "FAIL"; exit }
            printf "%s %.3f %.3f %.3f %.3f %s %d %d\n", rps, p50, p75, p90, p99, req, non2xx, sock }' "$raw")"
    if [ "$rc" -ne 0 ] || [ "$out" = FAIL ] || [ -z "$out" ]; then
        BENCH_LAST_RPS=0 BENCH_LAST_P50=NA BENCH_LAST_P99=NA BENCH_LAST_ERRORS=NA
        bench_log "wrk failed for $name (exit $rc); output in $raw:"
        sed 's/^/    /' "$raw" >&2
        return 1
    fi
    local rps p50 p75 p90 p99 req non2xx sock
    read -r rps p50 p75 p90 p99 req non2xx sock <<<"$out"
    BENCH_LAST_RPS="$rps" BENCH_LAST_P50="$p50" BENCH_LAST_P99="$p99"
    BENCH_LAST_ERRORS=$((non2xx + sock))
    mkdir -p "$BENCH_RESULTS_DIR"
    if [ ! -s "$BENCH_RESULTS_FILE" ]; then
        printf 'run_id\ttime_utc\tcommit\tscenario\tname\turl\twrk_threads\tconnections\tduration\trequests\trps\tp50_ms\tp75_ms\tp90_ms\tp99_ms\tnon_2xx_3xx\tsocket_errors\n' \
            >"$BENCH_RESULTS_FILE"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$BENCH_RUN_ID" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(bench_commit)" "$BENCH_SCENARIO" \
        "$name" "$url" "$t" "$c" "$d" "$req" "$rps" "$p50" "$p75" "$p90" "$p99" "$non2xx" "$sock" \
        >>"$BENCH_RESULTS_FILE"
    printf '%-28s %10.0f req/s   p50 %8.3f ms   p99 %8.3f ms   (-c%s -t%s -d%s, %s requests' \
        "$name" "$rps" "$p50" "$p99" "$c" "$t" "$d" "$req"
    if [ "$BENCH_LAST_ERRORS" -ne 0 ]; then
        printf ', ERRORS: %s non-2xx/3xx, %s socket' "$non2xx" "$sock"
    fi
    printf ')\n'
}
