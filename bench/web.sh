#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib functions take optional args, not the script's
# The web pages pace serves from its binary, next to nginx serving the same
# bytes from files, same wrk settings, in one run:
#   1. GET /app/ (the client's index.html, revalidated: Cache-Control no-cache);
#   2. GET the client's main module (/app/assets/<V>/app.js, immutable);
#   3. GET /docs/assets/<V>/swagger-ui-bundle.js (the largest file served).
# Every request asks for gzip, as browsers do: both servers send the stored
# gzip bytes (pace from its binary, nginx from a .gz file with the same
# Content-Encoding), so the comparison is of serving, not of compressing.
# Also prints the wire size of each (the client's whole first load is
# measured in a browser by tests/web/static.test.mjs). Goal: pace >= 75% of
# nginx's req/s on the two client files.
#
# Settings: BENCH_WEB_CONNECTIONS ("64 512"), BENCH_ROUNDS (1),
# BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_WRK_THREADS (2),
# BENCH_THREADS (nproc), PACE_BIN.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
wrk_threads="${BENCH_WRK_THREADS:-2}"
rounds="${BENCH_ROUNDS:-1}"
read -r -a levels <<<"${BENCH_WEB_CONNECTIONS:-64 512}"
server_threads="${BENCH_THREADS:-$BENCH_NPROC}"
goal=75

echo "== web pages: /app/, the client's main module, the reference's bundle; pace vs nginx =="
machine_line="$(bench_machine)"
echo "$machine_line"
echo "load: wrk -t$wrk_threads -d$duration --latency -H 'Accept-Encoding: gzip', a $warmup warm-up before each run, $rounds round(s);"
echo "      servers: $server_threads threads (pace) / $server_threads workers (nginx); 127.0.0.1; wrk shares the same cores"

bench_idle_check "before the run"
bench_start_pace

bench__tmpdir web
work="$BENCH__TMP"
gz=(-H "Accept-Encoding: gzip")
index_url="$PACE_URL/app/"
curl -s --max-time 10 --compressed "$index_url" >"$work/index.html"
app_path="$(sed -n 's/.*<script type="module" src="\([^"]*\)".*/\1/p' "$work/index.html" | head -1)"
[ -n "$app_path" ] || bench_die "no module script in /app/ (was pace built with the web assets?)"
docs_path="$(curl -s --max-time 10 --compressed "$PACE_URL/docs" | sed -n 's/.*<script src="\([^"]*swagger-ui-bundle.js\)".*/\1/p' | head -1)"
[ -n "$docs_path" ] || bench_die "no swagger-ui-bundle.js in /docs"
declare -A url=([index]="$index_url" [app]="$PACE_URL$app_path" [bundle]="$PACE_URL$docs_path")

# nginx: the same gzip bytes as files, with pace's Content-Type,
# Content-Encoding, ETag and Cache-Control.
bench__tmpdir nginx
ndir="$BENCH__TMP"
header() { tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | head -1; }
for k in index app bundle; do
    curl -s --max-time 10 "${gz[@]}" -D "$work/$k.h" -o "$ndir/$k.gz" "${url[$k]}"
    [ "$(header "$work/$k.h" content-encoding)" = gzip ] || bench_die "pace did not gzip ${url[$k]}"
done
port="$(bench_free_port)" || bench_die "no free port"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"
locations=""
for k in index app bundle; do
    locations+="
        location = /$k {
            alias $ndir/$k.gz;
            default_type '$(header "$work/$k.h" content-type)';
            add_header Content-Encoding gzip always;
            add_header Vary Accept-Encoding always;
            add_header ETag '$(header "$work/$k.h" etag)' always;
            add_header Cache-Control '$(header "$work/$k.h" cache-control)' always;
        }"
done
cat >"$ndir/nginx.conf" <<EOF
$user_line
worker_processes $server_threads;
worker_rlimit_nofile 16384;
error_log $ndir/error.log warn;
pid $ndir/nginx.pid;
events {
    worker_connections 8192;
}
http {
    access_log off;
    keepalive_requests 100000;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 3600s;
    etag off;
    client_body_temp_path $ndir/client_body;
    proxy_temp_path $ndir/proxy;
    fastcgi_temp_path $ndir/fastcgi;
    uwsgi_temp_path $ndir/uwsgi;
    scgi_temp_path $ndir/scgi;
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        location = /health { return 200 '{"status":"ok"}'; }$locations
    }
}
EOF
/usr/sbin/nginx -p "$ndir" -e "$ndir/error.log" -c "$ndir/nginx.conf" -g 'daemon off;' >>"$ndir/nginx.out" 2>&1 &
NGINX_PID=$!
BENCH_PIDS+=("$NGINX_PID")
bench__wait_ok "http://127.0.0.1:$port/health" "$NGINX_PID" 15 || bench_die "nginx did not start: $(cat "$ndir/error.log")"
declare -A nurl=([index]="http://127.0.0.1:$port/index" [app]="http://127.0.0.1:$port/app" [bundle]="http://127.0.0.1:$port/bundle")
for k in index app bundle; do
    cmp -s <(curl -s "${gz[@]}" "${url[$k]}") <(curl -s "${gz[@]}" "${nurl[$k]}") || bench_die "nginx's $k differs from pace's"
done

echo
echo "-- responses (gzip, bytes on the wire: headers + body) --"
size_of() { curl -s -o /dev/null --max-time 10 "${gz[@]}" -w '%{size_header} %{size_download}' "$1" |
    awk '{ printf "%d B (headers %d + body %d)", $1 + $2, $1, $2 }'; }
for k in index app bundle; do
    echo "$k: pace $(size_of "${url[$k]}"), nginx $(size_of "${nurl[$k]}")   ${url[$k]#"$PACE_URL"}"
done
curl -s -o /dev/null -D - "${gz[@]}" "${url[index]}" | tr -d '\r' | sed 's/^/    /'

declare -A rps p50 p99
measure() { # measure SERVER KEY CONNECTIONS ROUND URL
    local name="$1 $2 c=$3"
    [ "$rounds" -gt 1 ] && name="$name r$4"
    bench_warmup "$5" "$3" "$warmup" "$wrk_threads" "${gz[@]}"
    if bench_wrk "$name" "$5" "$3" "$duration" "$wrk_threads" "${gz[@]}"; then
        rps[$1 $2,$3]+="$BENCH_LAST_RPS " p50[$1 $2,$3]+="$BENCH_LAST_P50 " p99[$1 $2,$3]+="$BENCH_LAST_P99 "
    fi
}
echo
echo "-- runs --"
for ((r = 1; r <= rounds; r++)); do
    for c in "${levels[@]}"; do
        if ((r % 2)); then order=(nginx pace); else order=(pace nginx); fi
        for k in index app bundle; do
            for s in "${order[@]}"; do
                if [ "$s" = nginx ]; then measure nginx "$k" "$c" "$r" "${nurl[$k]}"; else measure pace "$k" "$c" "$r" "${url[$k]}"; fi
            done
        done
    done
done
bench_idle_check "after the runs" >/dev/null

median() {
    printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# shellcheck disable=SC2086  # word splitting of the per-round lists is intended
med() { median ${1:-}; }
fmt_rps() { if [ -z "$1" ]; then echo failed; else awk -v v="$1" 'BEGIN { printf "%.0f", v }'; fi; }
fmt_ms() { if [ -z "$1" ]; then echo NA; else awk -v v="$1" 'BEGIN { printf "%.2f ms", v }'; fi; }

echo
echo "-- results: web pages$([ "$rounds" -gt 1 ] && echo ", medians of $rounds rounds") --"
echo
bench_run_table "$machine_line"
echo
echo "| file | connections | pace req/s | pace p50 | pace p99 | nginx req/s | nginx p99 | pace/nginx | goal |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
declare -A label=([index]="GET /app/ (index.html)" [app]="the client's main module" [bundle]="swagger-ui-bundle.js")
for c in "${levels[@]}"; do
    for k in index app bundle; do
        pr="$(med "${rps[pace $k,$c]:-}")" nr="$(med "${rps[nginx $k,$c]:-}")"
        ratio="n/a"
        [ -n "$pr" ] && [ -n "$nr" ] && ratio="$(bench_ratio "$pr" "$nr")"
        goal_text="(none)"
        if [ "$k" != bundle ] && [ "$ratio" != n/a ]; then
            goal_text=">= $goal%: $(awk -v v="${ratio%\%}" -v g="$goal" 'BEGIN { print (v + 0 >= g) ? "met" : "NOT met" }')"
        fi
        echo "| ${label[$k]} | $c | $(fmt_rps "$pr") | $(fmt_ms "$(med "${p50[pace $k,$c]:-}")") | $(fmt_ms "$(med "${p99[pace $k,$c]:-}")") | $(fmt_rps "$nr") | $(fmt_ms "$(med "${p99[nginx $k,$c]:-}")") | $ratio | $goal_text |"
    done
done

# The client's first load in a browser (Debian's Chromium through the
# browser tests' pinned playwright-core: tests/web/run.sh installs it).
echo
echo "-- the client in a browser --"
echo
if [ -x /usr/bin/chromium ] && [ -d "$BENCH_ROOT/tests/web/node_modules/playwright-core" ]; then
    timeout -k 5 300 node "$BENCH_ROOT/bench/web_client.mjs" "$PACE_URL" "${BENCH_WEB_LOADS:-20}" ||
        bench_log "the browser run failed"
else
    echo "(skipped: needs /usr/bin/chromium and tests/web/node_modules: run tests/web/run.sh once)"
fi
