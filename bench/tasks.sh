#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib functions take optional args, not the script's
# Tasks under load, pace next to nginx in one run, same wrk settings,
# at 64 and 512 connections (BENCH_TASKS_CONNECTIONS):
#
#   1. GET /api/v1/tasks?limit=20 for a user with 1,000 tasks (JWT check,
#      a 21-row keyset page, the cursor's HMAC, the page ETag, JSON), against
#      nginx returning a fixed body of the same bytes from its config
#      (goal: pace >= 40% of nginx's req/s);
#   2. GET /api/v1/tasks/{id} against nginx returning that task's bytes
#      (goal: >= 60%);
#   3. POST /api/v1/tasks, durable (each 201 is on disk: group commit), from
#      a wrk Lua script with a body and the Bearer token, for another user
#      (goal: >= 15,000/s);
#   p99 at 512 connections under 25 ms for all three.
#
# nginx's answers carry the same headers as pace's (X-Request-Id of 26
# characters, ETag, Cache-Control), so the bytes on the wire match within a
# few. PACE_DATABASE_URL in the environment runs pace on that database
# instead of SQLite (a fresh user per run; nothing is deleted); the goal
# there is the list page at 10x the 1,600 pages/s that Express + pg served
# on one PostgreSQL on this machine (>= 16,000/s).
# BENCH_PERF=1 records a perf profile (perf record -g) of pace during the
# list run at the first connection count and prints the top of the report.
# BENCH_ROUNDS > 1 repeats the runs, pace and nginx alternating which goes
# first, and reports the median of each number (3 on a noisy machine).
# Settings: BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_WRK_THREADS (2),
# BENCH_THREADS (nproc), BENCH_TASKS_CONNECTIONS ("64 512"), BENCH_ROUNDS (1),
# BENCH_PERF (0), PACE_BIN.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
wrk_threads="${BENCH_WRK_THREADS:-2}"
rounds="${BENCH_ROUNDS:-1}"
read -r -a levels <<<"${BENCH_TASKS_CONNECTIONS:-64 512}"
server_threads="${BENCH_THREADS:-$BENCH_NPROC}"
password="umbrella-quarterly-lantern-42"
ntasks=1000
command -v wrk >/dev/null || bench_die "wrk not found"

echo "== tasks: list page, one task, durable create; pace vs nginx =="
machine_line="$(bench_machine)"
echo "$machine_line"
backend="sqlite"
[ -n "${PACE_DATABASE_URL:-}" ] && backend="postgresql (PACE_DATABASE_URL)"
echo "store: $backend; load: wrk -t$wrk_threads -d$duration --latency, a $warmup warm-up before each run, $rounds round(s);"
echo "      servers: $server_threads threads (pace) / $server_threads workers (nginx); 127.0.0.1; wrk shares the same cores"
bench_idle_check "before the run"

# --- pace, two users, 1,000 tasks ------------------------------------------------
bench_start_pace --access-token-ttl 86400
bench__tmpdir tasks
work="$BENCH__TMP"

# new_token NAME: registers NAME and prints an access token.
new_token() {
    local user="$1" tok
    curl -s -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
        -d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password\":\"$password\"}" \
        "$PACE_URL/api/v1/auth/register"
    tok="$(curl -s --max-time 10 -H 'Content-Type: application/json' \
        -d "{\"login\":\"$user\",\"password\":\"$password\"}" "$PACE_URL/api/v1/auth/login" |
        sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
    [ -n "$tok" ] || bench_die "could not register and log in $user"
    printf '%s\n' "$tok"
}
suffix="$(date +%s)$$"
list_token="$(new_token "benchlist$suffix")"
post_token="$(new_token "benchpost$suffix")"

# 1,000 varied tasks over keep-alive connections from 16 threads.
/usr/bin/python3 - "$PACE_URL" "$list_token" "$ntasks" <<'EOF'
import concurrent.futures, http.client, json, sys, urllib.parse
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlparse(url)
statuses = ["todo", "in_progress", "done"]
def work(k):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    for i in range(k, n, 16):
        body = {"title": f"Task number {i}: call the gym about the membership", "priority": i % 4,
                "status": statuses[i % 3]}
        if i % 5:
            body["due_date"] = f"2027-{1 + i % 12:02d}-{1 + i % 28:02d}"
        if i % 2:
            body["description"] = "Remember to bring the form and ask about the family discount."
        c.request("POST", "/api/v1/tasks", json.dumps(body),
                  {"Content-Type": "application/json", "Authorization": "Bearer " + token})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            sys.exit(f"seeding: POST answered {r.status}")
with concurrent.futures.ThreadPoolExecutor(16) as ex:
    list(ex.map(work, range(16)))
EOF
auth_h="Authorization: Bearer $list_token"
list_url="$PACE_URL/api/v1/tasks?limit=20"
curl -s --max-time 10 -H "$auth_h" "$list_url" >"$work/list.json"
task_id="$(sed -n 's/^{"items":\[{"id":\([0-9]*\),.*/\1/p' "$work/list.json")"
[ -n "$task_id" ] || bench_die "the list page has no task: $(head -c 300 "$work/list.json")"
task_url="$PACE_URL/api/v1/tasks/$task_id"
curl -s --max-time 10 -H "$auth_h" "$task_url" >"$work/task.json"
list_etag="$(curl -s -o /dev/null -D - -H "$auth_h" "$list_url" | tr -d '\r' | sed -n 's/^etag: //Ip')"
task_etag="$(curl -s -o /dev/null -D - -H "$auth_h" "$task_url" | tr -d '\r' | sed -n 's/^etag: //Ip')"
echo "seeded $ntasks tasks; list page $(wc -c <"$work/list.json") B of JSON, one task $(wc -c <"$work/task.json") B"

cat >"$work/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $post_token"
wrk.body = '{"title":"Stretch for ten minutes after the run","priority":2,"due_date":"2027-03-14"}'
EOF

# --- nginx with the same bodies --------------------------------------------------
# lib.sh's nginx serves /health only; this one also serves the two bodies
# pace sent, as files kept open (open_file_cache) and sent with sendfile,
# with pace's ETag, Cache-Control and X-Request-Id. (A `return` with the body
# inline would be slightly cheaper, but nginx caps one config token at 4 KiB.)
# nginx adds Last-Modified and Accept-Ranges: the sizes are printed below.
start_nginx_fixed() {
    local bin="${NGINX_BIN:-/usr/sbin/nginx}" dir port url pid user_line=""
    [ -x "$bin" ] || bench_die "nginx not found: $bin"
    bench__tmpdir nginx
    dir="$BENCH__TMP"
    port="$(bench_free_port)" || bench_die "no free port"
    url="http://127.0.0.1:$port"
    [ "$(id -u)" = 0 ] && user_line="user root;"
    cp "$work/list.json" "$dir/list.json"
    cp "$work/task.json" "$dir/task.json"
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes $server_threads;
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
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 3600s;
    etag off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    map \$request_id \$bench_request_id {
        "~^(?<rid>.{26})" \$rid;
    }
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        default_type application/json;
        location = /health {
            add_header X-Request-Id \$bench_request_id always;
            return 200 '{"status":"ok"}';
        }
        location = /list {
            alias $dir/list.json;
            add_header X-Request-Id \$bench_request_id always;
            add_header ETag '$list_etag' always;
            add_header Cache-Control "private, no-cache" always;
        }
        location = /task {
            alias $dir/task.json;
            add_header X-Request-Id \$bench_request_id always;
            add_header ETag '$task_etag' always;
            add_header Cache-Control "private, no-cache" always;
        }
    }
}
EOF
    "$bin" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' >>"$dir/nginx.out" 2>&1 &
    pid=$!
    BENCH_PIDS+=("$pid")
    if ! bench__wait_ok "$url/health" "$pid" 15; then
        cat "$dir/nginx.out" "$dir/error.log" >&2 2>/dev/null
        bench_die "nginx did not answer GET /health with 200 within 15 s"
    fi
    NGINX_URL="$url"
    NGINX_PID="$pid"
    bench_log "nginx pid $pid at $url"
}
start_nginx_fixed

echo
echo "-- responses (bytes as on the wire: status line + headers + body) --"
size_of() { curl -s -o /dev/null --max-time 5 -H "$auth_h" -w '%{size_header} %{size_download}' "$1" |
    awk '{ printf "%d B (headers %d + body %d)", $1 + $2, $1, $2 }'; }
echo "list, pace:  $(size_of "$list_url")"
echo "list, nginx: $(size_of "$NGINX_URL/list")"
echo "task, pace:  $(size_of "$task_url")"
echo "task, nginx: $(size_of "$NGINX_URL/task")"
cmp -s <(curl -s -H "$auth_h" "$list_url") <(curl -s "$NGINX_URL/list") ||
    bench_die "nginx's list body differs from pace's"
curl -s -i -H "$auth_h" "$task_url" | tr -d '\r' | sed 's/^/    /'
echo

# --- runs --------------------------------------------------------------------
# Per "key,connections": one value per round, space-separated.
declare -A rps p50 p99 errs cpu
# CPU time (clock ticks) used so far by PID and its children (nginx workers).
cpu_ticks() {
    local pid="$1" p t=0
    for p in "$pid" $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
measure() { # measure KEY CONNECTIONS ROUND URL [wrk args...]
    local key="$1" c="$2" r="$3" url="$4" name="$1 c=$2" pid t0 t1
    shift 4
    [ "$rounds" -gt 1 ] && name="$name r$r"
    pid="$PACE_PID"
    [[ "$key" == nginx* ]] && pid="$NGINX_PID"
    bench_warmup "$url" "$c" "$warmup" "$wrk_threads" "$@"
    t0="$(cpu_ticks "$pid")"
    if bench_wrk "$name" "$url" "$c" "$duration" "$wrk_threads" "$@"; then
        t1="$(cpu_ticks "$pid")"
        rps[$key,$c]+="$BENCH_LAST_RPS " p50[$key,$c]+="$BENCH_LAST_P50 "
        p99[$key,$c]+="$BENCH_LAST_P99 " errs[$key,$c]+="$BENCH_LAST_ERRORS "
        # Server CPU per request: what the server costs, whatever else runs.
        cpu[$key,$c]+="$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v rps="$BENCH_LAST_RPS" \
            -v d="$(bench__seconds "$duration")" 'BEGIN { printf "%.1f", t / hz * 1e6 / (rps * d) }') "
    else
        errs[$key,$c]+="failed "
    fi
}
perf_start() {
    [ "${BENCH_PERF:-0}" = 1 ] && [ "$perf_done" = 0 ] && command -v perf >/dev/null || return 0
    # DWARF unwinding: Debian's libraries (SQLite, libc) have no frame
    # pointers, so plain -g stacks stop at them.
    perf record -F 499 --call-graph "${BENCH_PERF_CALLGRAPH:-dwarf,16384}" -o "$work/perf.data" \
        -p "$PACE_PID" -- sleep "$(bench__seconds "$duration")" >"$work/perf.log" 2>&1 &
    perf_pid=$!
    BENCH_PIDS+=("$perf_pid")
}
perf_stop() {
    [ -n "${perf_pid:-}" ] && [ "$perf_done" = 0 ] || return 0
    wait "$perf_pid" || true
    bench__forget_pid "$perf_pid"
    perf_done=1
}

perf_done=0
echo "-- runs --"
for ((r = 1; r <= rounds; r++)); do
    for c in "${levels[@]}"; do
        # pace and nginx alternate which goes first, round by round.
        if ((r % 2)); then order=(nginx pace); else order=(pace nginx); fi
        for s in "${order[@]}"; do
            if [ "$s" = nginx ]; then
                measure "nginx list" "$c" "$r" "$NGINX_URL/list"
            else
                perf_start
                measure "pace list" "$c" "$r" "$list_url" -H "$auth_h"
                perf_stop
            fi
        done
        for s in "${order[@]}"; do
            if [ "$s" = nginx ]; then
                measure "nginx task" "$c" "$r" "$NGINX_URL/task"
            else
                measure "pace task" "$c" "$r" "$task_url" -H "$auth_h"
            fi
        done
        measure "pace create" "$c" "$r" "$PACE_URL/api/v1/tasks" -s "$work/post.lua"
    done
done
idle_after="$(bench_idle_check "after the runs")"

# Every answer of the measured runs was 2xx: the list still has its shape.
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$auth_h" "$list_url")" = 200 ] || bench_die "list stopped answering 200"

# --- report ------------------------------------------------------------------
median() { # median of the numbers given (empty if none)
    printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# shellcheck disable=SC2086  # word splitting of the per-round lists is intended
med() { median ${1:-}; }
fmt_rps() { if [ -z "$1" ]; then echo failed; else awk -v v="$1" 'BEGIN { printf "%.0f", v }'; fi; }
fmt_ms() { if [ -z "$1" ]; then echo NA; else awk -v v="$1" 'BEGIN { printf "%.2f ms", v }'; fi; }
ratio_of() { if [ -z "$1" ] || [ -z "$2" ]; then echo n/a; else bench_ratio "$1" "$2"; fi; }
met() { awk -v v="$1" -v g="$2" 'BEGIN { if (v == "" || v == "n/a") print "n/a"; else if (v + 0 >= g) print "met"; else print "NOT met" }'; }
p99_met() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else if (v + 0 < 25) print "met"; else print "NOT met" }'; }
err_note() { local e="${errs[$1]:-}"; [ -n "$e" ] && [ -z "$(printf '%s' "$e" | tr -d '0 ')" ] || echo " (errors per round: ${e:-none recorded})"; }
row() { # row LABEL KEY C RATIO GOAL
    local k="$2,$3" goal_text="$5" p99_text=""
    [ "$3" = 512 ] && [[ "$2" == pace* ]] && p99_text=" / p99 $(p99_met "$(med "${p99[$k]:-}")")"
    echo "| $1 | $3 | $(fmt_rps "$(med "${rps[$k]:-}")")$(err_note "$k") | $(fmt_ms "$(med "${p50[$k]:-}")") | $(fmt_ms "$(med "${p99[$k]:-}")") | $(med "${cpu[$k]:-}") µs | $4 | $goal_text$p99_text |"
}

echo
echo "-- results: tasks ($backend)$([ "$rounds" -gt 1 ] && echo ", medians of $rounds rounds") --"
echo
bench_run_table "$machine_line"
echo "| store | $backend |"
echo "| list page | $(size_of "$list_url") (pace), $(size_of "$NGINX_URL/list") (nginx) |"
echo "| one task | $(size_of "$task_url") (pace), $(size_of "$NGINX_URL/task") (nginx) |"
echo
echo "| endpoint | connections | req/s | p50 | p99 | server CPU/req | pace/nginx | goal |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
# The goals: on SQLite against nginx; on PostgreSQL the list page at 10x
# the 1,600 pages/s Express + pg served on this machine (no goal for the rest).
for c in "${levels[@]}"; do
    r="$(ratio_of "$(med "${rps[pace list,$c]:-}")" "$(med "${rps[nginx list,$c]:-}")")"
    if [ -n "${PACE_DATABASE_URL:-}" ]; then
        row "pace GET /tasks?limit=20" "pace list" "$c" "$r" \
            ">= 16,000/s (10x Express + pg): $(met "$(med "${rps[pace list,$c]:-}")" 16000)"
    else
        row "pace GET /tasks?limit=20" "pace list" "$c" "$r" ">= 40%: $(met "${r%\%}" 40)"
    fi
    row "nginx, same bytes" "nginx list" "$c" "" ""
    r="$(ratio_of "$(med "${rps[pace task,$c]:-}")" "$(med "${rps[nginx task,$c]:-}")")"
    if [ -n "${PACE_DATABASE_URL:-}" ]; then
        row "pace GET /tasks/{id}" "pace task" "$c" "$r" "(none on PostgreSQL)"
    else
        row "pace GET /tasks/{id}" "pace task" "$c" "$r" ">= 60%: $(met "${r%\%}" 60)"
    fi
    row "nginx, same bytes" "nginx task" "$c" "" ""
    if [ -n "${PACE_DATABASE_URL:-}" ]; then
        row "pace POST /tasks (durable)" "pace create" "$c" "" "(none on PostgreSQL)"
    else
        row "pace POST /tasks (durable)" "pace create" "$c" "" ">= 15,000/s: $(met "$(med "${rps[pace create,$c]:-}")" 15000)"
    fi
done
echo
echo "server CPU/req: CPU time the server process (nginx: its workers) used during the run, per request"
echo "(from /proc; less sensitive to other work on the machine than req/s). CPU/req ratios, pace over nginx:"
for c in "${levels[@]}"; do
    echo "  c=$c: list $(ratio_of "$(med "${cpu[pace list,$c]:-}")" "$(med "${cpu[nginx list,$c]:-}")")," \
        "task $(ratio_of "$(med "${cpu[pace task,$c]:-}")" "$(med "${cpu[nginx task,$c]:-}")")"
done
echo "$idle_after"
if [ "$perf_done" = 1 ]; then
    # Inclusive ("children") shares of the functions that matter, then the
    # flat top and the split by shared object.
    echo
    echo "-- perf: pace during 'pace list c=${levels[0]}', inclusive share of CPU time --"
    perf report -i "$work/perf.data" --stdio --children --sort sym -g none 2>/dev/null |
        grep -E '\] (on_req|api_task_list|store_sqlite_task_list|store_pg_task_list|store_pg_task_list_async|on_ready|store_pg_reads_round_end|PQgetResult|PQconsumeInput|sqlite3_step|sqlite3WalBeginReadTransaction|sqlite3WalEndReadTransaction|__fcntl64_nocancel_adjusted|__GI___lll_lock_wake|read_task|write_task|api_jw_time|jw_escape|page_etag|make_cursor|api_cursor_decode|parse_list_query|api_auth_hook|auth_jwt_verify|jparse|send_response|__GI___writev|__GI___libc_read|h2o_evloop_run)$' |
        head -n 40
    echo
    echo "-- perf: flat top (self time) --"
    perf report -i "$work/perf.data" --stdio --no-children --sort dso,sym -g none 2>/dev/null |
        grep -E '^ +[0-9]' | head -n "${BENCH_PERF_LINES:-25}"
    echo
    echo "-- perf: by shared object --"
    perf report -i "$work/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 10
fi
echo "rows appended to ${BENCH_RESULTS_FILE#"$BENCH_ROOT"/}; raw wrk output in ${BENCH_RESULTS_DIR#"$BENCH_ROOT"/}/raw/$BENCH_RUN_ID/"
