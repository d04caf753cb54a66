#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib functions take optional args, not the script's
# Account recovery and mail under load, in one run, against a real SMTP
# server on loopback (bench/smtp_count.py: the tests' aiosmtpd sink):
#
#   1. POST /api/v1/auth/password-reset for an address that has an account
#      and for one that has none: requests per second and latency. The two
#      must look alike (the answer is queued work either way; the lookup
#      happens in the job), so the table shows the p50 and p99 of both;
#   2. mail delivery, end to end on a fresh server: BENCH_MAIL_MESSAGES
#      reset requests for a known address, timed until the SMTP server has
#      accepted as many messages (each one a request, a job that makes a
#      token and a sealed mail job, and one SMTP conversation);
#   3. POST /api/v1/auth/verify-email with a well-formed unknown token
#      (the 400 invalid_token path: one indexed lookup);
#   4. GET /api/v1/users/me/mfa (Bearer; the TOTP state and the recovery
#      codes left).
#
# pace runs with rate limits off (bench default) and its default job
# workers. Settings: BENCH_DURATION (10s), BENCH_WARMUP (2s),
# BENCH_WRK_THREADS (2), BENCH_RESET_CONNECTIONS (16), BENCH_CONNECTIONS
# (64, the reads), BENCH_MAIL_MESSAGES (500), BENCH_MAIL_WAIT_SECONDS (120:
# step 2's bound), PACE_BIN.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
wrk_threads="${BENCH_WRK_THREADS:-2}"
reset_conns="${BENCH_RESET_CONNECTIONS:-16}"
read_conns="${BENCH_CONNECTIONS:-64}"
mail_n="${BENCH_MAIL_MESSAGES:-500}"
mail_wait="${BENCH_MAIL_WAIT_SECONDS:-120}"
password="umbrella-quarterly-lantern-42"
command -v wrk >/dev/null || bench_die "wrk not found"

echo "== account recovery and mail: reset requests (known vs unknown), mail delivery, verify, MFA state =="
bench_machine

# --- the SMTP server and pace ---------------------------------------------------
bench__tmpdir smtp
smtp_dir="$BENCH__TMP"
lifetime=$(($(bench__seconds "$duration") * 6 + mail_wait + 180))
/usr/bin/python3 "$BENCH_ROOT/bench/smtp_count.py" "$smtp_dir/count" "$lifetime" >"$smtp_dir/url" 2>"$smtp_dir/log" &
BENCH_PIDS+=("$!")
for _ in $(seq 100); do [ -s "$smtp_dir/url" ] && [ -s "$smtp_dir/count" ] && break; sleep 0.1; done
smtp_url="$(head -n1 "$smtp_dir/url")"
[ -n "$smtp_url" ] || bench_die "the SMTP sink did not start: $(cat "$smtp_dir/log")"
sent() { cat "$smtp_dir/count" 2>/dev/null || echo 0; }

bench_start_pace --smtp-url "$smtp_url" --public-url "http://app.example.test"
user="bench$$"
token="$(bench_user_token "$user" "$password")"

bench__tmpdir lua
lua="$BENCH__TMP"
for who in known unknown; do
    addr="$user@example.com"
    [ "$who" = unknown ] && addr="nobody$$@example.com"
    cat >"$lua/reset-$who.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"$addr"}'
LUA
done
cat >"$lua/verify.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'
LUA
reset_url="$PACE_URL/api/v1/auth/password-reset"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"email":"x@example.com"}' "$reset_url")" = 202 ] ||
    bench_die "POST /auth/password-reset did not answer 202"

# --- 2 (measured first, while the queue is empty): mail delivery ----------------------
# mail_n reset requests for the known address; the clock runs from the
# first request until the SMTP server has accepted mail_n messages
# (request, job, token, mail job, SMTP). Measured before step 1, whose
# runs queue far more jobs than the workers drain in a while (rate limits
# are off in benchmarks).
sleep 1
m0="$(sent)"
t0="$(date +%s.%N)"
# Eight keep-alive clients (one curl process per request would be the
# bottleneck here, not pace).
/usr/bin/python3 - "$reset_url" "$user@example.com" "$mail_n" <<'PY'
import concurrent.futures, sys, threading, requests
url, addr, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
local = threading.local()
def post(_):
    s = getattr(local, "s", None) or setattr(local, "s", requests.Session()) or local.s
    return s.post(url, json={"email": addr}, timeout=10).status_code
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    codes = list(ex.map(post, range(n)))
bad = [c for c in codes if c != 202]
if bad:
    sys.exit(f"{len(bad)} reset requests were not answered 202: {sorted(set(bad))}")
PY
deadline=$(($(date +%s) + mail_wait))
while [ "$(($(sent) - m0))" -lt "$mail_n" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
t1="$(date +%s.%N)"
delivered=$(($(sent) - m0))
mail_rate="$(awk -v n="$delivered" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')"
mail_secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"

# --- 3, 4 (before step 1's backlog): verify-email (400) and the MFA state -------------
verify_url="$PACE_URL/api/v1/auth/verify-email"
bench_warmup "$verify_url" "$read_conns" "$warmup" "$wrk_threads" -s "$lua/verify.lua"
bench_wrk "verify-email unknown token c=$read_conns" "$verify_url" "$read_conns" "$duration" "$wrk_threads" \
    -s "$lua/verify.lua" || true
v_rps="$BENCH_LAST_RPS" v_p50="$BENCH_LAST_P50" v_p99="$BENCH_LAST_P99"
mfa_url="$PACE_URL/api/v1/users/me/mfa"
auth=(-H "Authorization: Bearer $token")
bench_warmup "$mfa_url" "$read_conns" "$warmup" "$wrk_threads" "${auth[@]}"
bench_wrk "users/me/mfa c=$read_conns" "$mfa_url" "$read_conns" "$duration" "$wrk_threads" "${auth[@]}" || true
m_rps="$BENCH_LAST_RPS" m_p50="$BENCH_LAST_P50" m_p99="$BENCH_LAST_P99" m_err="$BENCH_LAST_ERRORS"

# --- 1. reset requests, unknown then known (alternated twice), measured last ---------
# (their jobs pile up far faster than the workers send: the workers drain
# them in the background while these run, as they would in production)
echo
echo "-- runs --"
bench_warmup "$reset_url" "$reset_conns" "$warmup" "$wrk_threads" -s "$lua/reset-unknown.lua"
declare -A rps p50 p99 err
for round in 1 2; do
    for who in unknown known; do
        bench_wrk "password-reset $who r$round c=$reset_conns" "$reset_url" "$reset_conns" "$duration" \
            "$wrk_threads" -s "$lua/reset-$who.lua" || true
        rps[$who$round]="$BENCH_LAST_RPS" p50[$who$round]="$BENCH_LAST_P50" p99[$who$round]="$BENCH_LAST_P99"
        err[$who$round]="$BENCH_LAST_ERRORS"
    done
done
best() { # the round with the higher rate
    awk -v a="${rps[${1}1]}" -v b="${rps[${1}2]}" 'BEGIN { print (a + 0 >= b + 0) ? 1 : 2 }'
}
ku="$(best unknown)" kk="$(best known)"

# --- report ---------------------------------------------------------------------------
fmt_rps() { awk -v v="$1" 'BEGIN { if (v + 0 == 0) print "failed"; else printf "%.0f", v }'; }
fmt_ms() { if [ "$1" = NA ]; then echo NA; else awk -v v="$1" 'BEGIN { printf "%.2f ms", v }'; fi; }
note_errs() { [ "$1" = 0 ] && echo "" || echo " (non-2xx: $1)"; }
p50_ratio="$(awk -v a="${p50[known$kk]}" -v b="${p50[unknown$ku]}" 'BEGIN { if (b + 0 == 0 || a == "NA") print "n/a"; else printf "%.2f", a / b }')"
machine_line="$(bench_machine)"

echo
echo "-- results: account recovery and mail --"
echo
bench_run_table "$machine_line"
echo
echo "| measurement | connections | req/s | p50 | p99 | note |"
echo "|---|---:|---:|---:|---:|---|"
echo "| POST /auth/password-reset, unknown address | $reset_conns | $(fmt_rps "${rps[unknown$ku]}")$(note_errs "${err[unknown$ku]}") | $(fmt_ms "${p50[unknown$ku]}") | $(fmt_ms "${p99[unknown$ku]}") | 202, a queued job |"
echo "| POST /auth/password-reset, known address | $reset_conns | $(fmt_rps "${rps[known$kk]}")$(note_errs "${err[known$kk]}") | $(fmt_ms "${p50[known$kk]}") | $(fmt_ms "${p99[known$kk]}") | 202; p50 ${p50_ratio}x the unknown one's |"
echo "| reset request to mail accepted by SMTP | 8 | ${mail_rate} messages/s | | | ${delivered} of ${mail_n} messages in ${mail_secs} s, queue empty at the start |"
echo "| POST /auth/verify-email, unknown token | $read_conns | $(fmt_rps "$v_rps") | $(fmt_ms "$v_p50") | $(fmt_ms "$v_p99") | 400 invalid_token (by design) |"
echo "| GET /users/me/mfa | $read_conns | $(fmt_rps "$m_rps")$(note_errs "$m_err") | $(fmt_ms "$m_p50") | $(fmt_ms "$m_p99") | |"
echo
echo "rows appended to ${BENCH_RESULTS_FILE#"$BENCH_ROOT"/}; raw wrk output in ${BENCH_RESULTS_DIR#"$BENCH_ROOT"/}/raw/$BENCH_RUN_ID/"
