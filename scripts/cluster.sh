#!/bin/sh
# The production topology on one machine, all on loopback: a PostgreSQL
# primary with one streaming replica (scripts/pg.sh), Redis
# (scripts/redis.sh), N `pace serve` instances (API only), one `pace
# worker` (background jobs), and nginx in front with deploy/nginx/pace.conf.
#
#   scripts/cluster.sh up [--instances N] [--port P] [--instance-port B] [--state DIR]
#                               start everything; prints the URL (nginx)
#   scripts/cluster.sh status [--state DIR]
#                               each part: PID, port, ready or not (exit 1 if one is not)
#   scripts/cluster.sh roll [--state DIR]
#                               rolling restart: each instance in turn gets SIGTERM,
#                               drains and exits, starts again on its port and is
#                               ready before the next; then the worker
#   scripts/cluster.sh restart NAME [--state DIR]
#                               restart one process (pace1..pace<N>, worker) the same
#                               way (or start it again when it died)
#   scripts/cluster.sh down [--keep] [--state DIR]
#                               stop everything the kit started (by PID) and remove
#                               the state directory (--keep: leave it, logs included)
#   scripts/cluster.sh url [--state DIR]
#                               the URL of nginx
#
# Defaults: 3 instances; nginx on 127.0.0.1:8088 (`make run` takes 8080);
# instance i on port B+i-1 where B is P+1, the worker on B+N. State (PIDs,
# settings, logs, the generated JWT secret, the nginx prefix) is kept in DIR:
# --state, else $PACE_CLUSTER_STATE, else ./cluster. The pace binary is
# $PACE_BIN, else ./build/pace.
#
# The instances get PACE_DATABASE_URL (the primary),
# PACE_DATABASE_REPLICA_URLS (the replica), PACE_REDIS_URL, one
# PACE_JWT_SECRET, PACE_TRUSTED_PROXIES=127.0.0.1 (nginx),
# PACE_DRAIN_SECONDS=3 and PACE_JOB_WORKERS=0; the worker runs
# PACE_JOB_WORKERS job threads (2 unless set) and no drain (no load
# balancer sends it requests). Every other PACE_* variable
# of `up`'s environment is passed to them (say PACE_RATE_LIMIT_LOGIN=1000),
# and recorded, so that `roll` restarts them with the same settings.
# nginx gets its own prefix in DIR/nginx (pid, logs, temporary files) and,
# when the kit runs as root, runs as www-data. Every wait is bounded.

# Functions keep their variables `local` (not POSIX, but in every /bin/sh
# that matters: dash, bash, busybox), for they call each other.
# shellcheck disable=SC3043
set -eu

. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
PG_SH=$ROOT/scripts/pg.sh
REDIS_SH=$ROOT/scripts/redis.sh
NGINX_CONF=$ROOT/deploy/nginx/pace.conf
NGINX=${NGINX:-/usr/sbin/nginx}
# nginx's master drops to this user when the kit runs as root.
NGINX_USER=${NGINX_USER:-www-data}

say() {
    echo "cluster.sh: $*" >&2
}

usage() {
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- options

STATE=${PACE_CLUSTER_STATE:-./cluster}
INSTANCES=3
PORT=8088
IPORT=
KEEP=no

parse() {
    while [ $# -gt 0 ]; do
        case "$1" in
        --instances)
            INSTANCES=${2:?--instances N}
            shift 2
            ;;
        --port)
            PORT=${2:?--port P}
            shift 2
            ;;
        --instance-port)
            IPORT=${2:?--instance-port B}
            shift 2
            ;;
        --state)
            STATE=${2:?--state DIR}
            shift 2
            ;;
        --keep)
            KEEP=yes
            shift
            ;;
        *) usage ;;
        esac
    done
    case "$INSTANCES$PORT${IPORT:-0}" in
    *[!0-9]*) die "--instances, --port and --instance-port take numbers" ;;
    esac
    [ "$INSTANCES" -ge 1 ] || die "--instances must be at least 1"
    IPORT=${IPORT:-$((PORT + 1))}
}

# The absolute path of the state directory (which must exist).
state_abs() {
    STATE=$(cd "$STATE" && pwd -P)
}

kit_get() { # KEY
    [ -f "$STATE/kit" ] || die "no cluster recorded in $STATE (no $STATE/kit)"
    sed -n "s/^$1=//p" "$STATE/kit"
}

# ---------------------------------------------------------------- processes

# True while PID is the pace process the kit started on PORT (not a PID
# reused since): its command line names that listen address.
is_pace() { # PID PORT
    is_alive "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = pace ] &&
        tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "--listen 127.0.0.1:$2 "
}

# True while PID is the kit's nginx master (its prefix is the state's).
is_nginx() { # PID
    is_alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "nginx: master process .* -p $STATE/nginx/ "
}

# Waits until PID (checked by the predicate CHECK PID ARG) is gone.
wait_gone() { # SECONDS CHECK PID ARG
    local end
    end=$(($(date +%s) + $1))
    while "$2" "$3" "$4"; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# The HTTP status of GET URL, 000 when nothing answers within 2 s.
http_status() { # URL
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}

# Waits until GET http://127.0.0.1:PORT/ready answers 200 while PID lives.
wait_ready() { # PID PORT SECONDS
    local end
    end=$(($(date +%s) + $3))
    while [ "$(date +%s)" -lt "$end" ]; do
        # PID is the shell that execs pace: until it has, only its being
        # alive counts (checking for pace at once lost that race on a busy
        # machine).
        is_alive "$1" || return 1
        if is_pace "$1" "$2" && [ "$(http_status "http://127.0.0.1:$2/ready")" = 200 ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

port_free() { # PORT
    python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

# A setting of the instances: the recorded one, else DEFAULT.
setting() { # NAME DEFAULT
    local v
    v=$(sed -n "s/^export $1='\(.*\)'\$/\1/p" "$STATE/pace.env" 2>/dev/null | tail -n 1)
    echo "${v:-$2}"
}

# Seconds a SIGTERM'd pace may take: the drain, then PACE_SHUTDOWN_TIMEOUT
# for the connections and again for the jobs (docs/operations.md, "Stop
# and restart"), and some room.
stop_bound() {
    echo $(($(setting PACE_DRAIN_SECONDS 3) + 2 * $(setting PACE_SHUTDOWN_TIMEOUT 30) + 10))
}

# Starts the pace process NAME (pace1..pace<N>, worker) on PORT, records
# its PID, and waits until it is ready. Its settings are the recorded ones.
pace_start() { # NAME PORT
    local dir bin role pid
    dir=$STATE/$1
    mkdir -p "$dir/data"
    bin=$(kit_get bin)
    role=serve
    if [ "$1" = worker ]; then
        role=$(kit_get worker_role)
    fi
    # In a subshell: the settings are the instance's, not this script's.
    (
        # shellcheck disable=SC1091
        . "$STATE/pace.env"
        # shellcheck disable=SC2030
        if [ "$1" = worker ]; then
            PACE_JOB_WORKERS=$(kit_get worker_jobs)
            # No load balancer sends the worker requests: no drain.
            PACE_DRAIN_SECONDS=0
        else
            PACE_JOB_WORKERS=0
        fi
        export PACE_JOB_WORKERS PACE_DRAIN_SECONDS
        cd "$dir"
        # setsid: the instance outlives this script and the terminal.
        exec setsid "$bin" "$role" --listen "127.0.0.1:$2" --data-dir "$dir/data" </dev/null >>"$dir/pace.log" 2>&1
    ) &
    pid=$!
    echo "$pid" >"$dir/pid"
    echo "$2" >"$dir/port"
    if ! wait_ready "$pid" "$2" 60; then
        tail -n 20 "$dir/pace.log" >&2 || true
        die "$1 (PID $pid) was not ready on port $2 within 60 s (log: $dir/pace.log)"
    fi
}

# SIGTERM to the pace process NAME, and waits until it has exited.
pace_stop() { # NAME
    local dir pid port bound
    dir=$STATE/$1
    [ -f "$dir/pid" ] || return 0
    pid=$(cat "$dir/pid")
    port=$(cat "$dir/port")
    bound=$(stop_bound)
    if is_pace "$pid" "$port"; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$bound" is_pace "$pid" "$port"; then
            say "$1 (PID $pid) did not exit within $bound s of SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone 10 is_pace "$pid" "$port" || die "$1 (PID $pid) survives SIGKILL"
        fi
    fi
    rm -f "$dir/pid"
}

pace_names() {
    local i
    i=1
    while [ "$i" -le "$(kit_get instances)" ]; do
        echo "pace$i"
        i=$((i + 1))
    done
}

# ---------------------------------------------------------------- nginx

nginx_prefix() {
    echo "$STATE/nginx/"
}

# Writes nginx's main configuration, pace.conf with the kit's port and the
# kit's list of instances into STATE/nginx/conf.
nginx_write_conf() {
    local conf n user_line
    conf=$STATE/nginx/conf
    mkdir -p "$conf" "$STATE/nginx/logs" "$STATE/nginx/tmp"
    n=$(grep -c '^    listen 127\.0\.0\.1:[0-9]*;$' "$NGINX_CONF") || true
    [ "$n" = 1 ] || die "$NGINX_CONF: expected one line '    listen 127.0.0.1:PORT;' (found $n)"
    sed "s/^    listen 127\.0\.0\.1:[0-9]*;\$/    listen 127.0.0.1:$(kit_get port);/" "$NGINX_CONF" >"$conf/pace.conf"
    : >"$conf/pace-upstream.conf"
    for name in $(pace_names); do
        echo "server 127.0.0.1:$(cat "$STATE/$name/port") max_fails=1 fail_timeout=2s;" >>"$conf/pace-upstream.conf"
    done
    user_line=
    if [ "$(kit_get nginx_as)" = root ]; then
        user_line="user $NGINX_USER;"
    fi
    cat >"$conf/nginx.conf" <<EOF
# Written by scripts/cluster.sh: nginx for the kit in $STATE/nginx
# (prefix), the proxy configuration being deploy/nginx/pace.conf.
$user_line
worker_processes 2;
# Each proxied request holds two descriptors (client and instance): room
# for the load suite's thousand clients at once.
worker_rlimit_nofile 16384;
pid logs/nginx.pid;
error_log logs/error.log warn;
events {
    worker_connections 8192;
}
http {
    include pace.conf;
    access_log logs/access.log pace;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
}
EOF
}

# Runs nginx for the kit (as NGINX_USER when the kit runs as root).
nginx_run() { # ARGS...
    if [ "$(kit_get nginx_as)" = user ]; then
        runuser -u "$NGINX_USER" -- "$NGINX" -p "$(nginx_prefix)" -e logs/error.log -c "$STATE/nginx/conf/nginx.conf" "$@"
    else
        "$NGINX" -p "$(nginx_prefix)" -e logs/error.log -c "$STATE/nginx/conf/nginx.conf" "$@"
    fi
}

nginx_start() {
    local pid end
    nginx_write_conf
    if [ "$(kit_get nginx_as)" = user ]; then
        chown -R "$NGINX_USER" "$STATE/nginx"
    fi
    nginx_run -t -q </dev/null >>"$STATE/nginx/logs/nginx.out" 2>&1 || {
        cat "$STATE/nginx/logs/nginx.out" >&2
        die "nginx -t failed on $STATE/nginx/conf/nginx.conf"
    }
    # nginx daemonises; its master writes logs/nginx.pid.
    nginx_run </dev/null >>"$STATE/nginx/logs/nginx.out" 2>&1 || {
        cat "$STATE/nginx/logs/nginx.out" >&2
        die "nginx did not start"
    }
    end=$(($(date +%s) + 10))
    while :; do
        pid=$(cat "$STATE/nginx/logs/nginx.pid" 2>/dev/null || true)
        if [ -n "$pid" ] && is_nginx "$pid" x &&
            [ "$(http_status "http://127.0.0.1:$(kit_get port)/health")" = 200 ]; then
            echo "$pid" >"$STATE/nginx/pid"
            return 0
        fi
        [ "$(date +%s)" -lt "$end" ] || die "nginx is not answering on port $(kit_get port) (see $STATE/nginx/logs/)"
        sleep 0.1
    done
}

nginx_stop() {
    local pid
    [ -f "$STATE/nginx/pid" ] || return 0
    pid=$(cat "$STATE/nginx/pid")
    if is_nginx "$pid" x; then
        # QUIT: graceful (requests in flight finish), then TERM, then KILL.
        kill -QUIT "$pid" 2>/dev/null || true
        if ! wait_gone 10 is_nginx "$pid" x; then
            kill -TERM "$pid" 2>/dev/null || true
            if ! wait_gone 5 is_nginx "$pid" x; then
                kill -KILL "$pid" 2>/dev/null || true
                wait_gone 5 is_nginx "$pid" x || die "nginx (PID $pid) survives SIGKILL"
            fi
        fi
    fi
    rm -f "$STATE/nginx/pid"
}

# ---------------------------------------------------------------- commands

# A value quoted for sh: 'it'\''s'.
sh_quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

cmd_up() {
    local bin secret url rurl i name port role jobs nginx_as line
    parse "$@"
    bin=${PACE_BIN:-./build/pace}
    [ -x "$bin" ] || die "no pace binary at $bin (build it, or set PACE_BIN)"
    bin=$(cd "$(dirname "$bin")" && pwd -P)/$(basename "$bin")
    [ -x "$NGINX" ] || die "nginx not found at $NGINX (install the nginx package)"
    command -v curl >/dev/null || die "curl not found (install the curl package)"
    mkdir -p "$STATE"
    state_abs
    if [ -f "$STATE/kit" ]; then
        # Left over by a run that was killed: it was ours, stop it.
        say "stopping the cluster left in $STATE"
        KEEP=yes cmd_down_state
    fi
    for port in "$PORT" $(seq "$IPORT" $((IPORT + INSTANCES))); do
        port_free "$port" || die "port $port is taken (choose others with --port / --instance-port)"
    done
    chmod 755 "$STATE"

    # From here, a failure leaves nothing running.
    trap 'say "up failed: stopping what was started"; KEEP=yes cmd_down_state >/dev/null 2>&1 || true' EXIT

    if "$bin" --help 2>&1 | grep -q '^ *pace worker'; then
        role=worker
    else
        # Before `pace worker` existed: a full server with job threads.
        role=serve
    fi
    # shellcheck disable=SC2031
    jobs=${PACE_JOB_WORKERS:-2}
    [ "$jobs" -ge 1 ] 2>/dev/null || jobs=2
    nginx_as=plain
    if [ "$(id -u)" = 0 ]; then
        mkdir -p "$STATE/nginx"
        if id -u "$NGINX_USER" >/dev/null 2>&1 && runuser -u "$NGINX_USER" -- test -x "$STATE/nginx"; then
            nginx_as=user
        else
            # The state directory is out of NGINX_USER's reach: the master
            # stays root, its workers are NGINX_USER.
            nginx_as=root
        fi
    fi
    cat >"$STATE/kit" <<EOF
bin=$bin
instances=$INSTANCES
port=$PORT
instance_port=$IPORT
worker_port=$((IPORT + INSTANCES))
worker_role=$role
worker_jobs=$jobs
nginx_as=$nginx_as
EOF

    # PostgreSQL and Redis keep their files in the state directory when
    # the postgres user can reach it and the path leaves room for their
    # sockets' names (else in $TMPDIR, as pg.sh and redis.sh do).
    mkdir -p "$STATE/tmp"
    if [ ${#STATE} -le 60 ] && { [ "$(id -u)" != 0 ] || runuser -u postgres -- test -x "$STATE/tmp" 2>/dev/null; }; then
        TMPDIR=$STATE/tmp
        export TMPDIR
    fi
    say "starting PostgreSQL (primary and replica)"
    "$PG_SH" start "$STATE/pg-primary" >/dev/null
    "$PG_SH" psql "$STATE/pg-primary" -c "CREATE DATABASE pace"
    "$PG_SH" replica "$STATE/pg-primary" "$STATE/pg-replica" >/dev/null
    url="postgresql://postgres@127.0.0.1:$(cat "$STATE/pg-primary/port")/pace"
    rurl="postgresql://postgres@127.0.0.1:$(cat "$STATE/pg-replica/port")/pace"
    say "starting Redis"
    "$REDIS_SH" start "$STATE/redis" >/dev/null

    # The settings of every pace process: the caller's PACE_* (but the
    # kit's own variables), then the kit's.
    secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    (
        umask 077
        echo "# Settings of the kit's pace processes (scripts/cluster.sh up); secret: mode 0600."
        env | grep '^PACE_[A-Z0-9_]*=' | grep -v '^PACE_\(BIN\|CLUSTER_[A-Z_]*\|TEST_[A-Z_]*\|PG_STATE\|LISTEN\|DATA_DIR\|JOB_WORKERS\)=' |
            while IFS= read -r line; do
                echo "export ${line%%=*}=$(sh_quote "${line#*=}")"
            done
        echo "export PACE_DATABASE_URL='$url'"
        echo "export PACE_DATABASE_REPLICA_URLS='$rurl'"
        echo "export PACE_REDIS_URL='$(cat "$STATE/redis/url")'"
        echo "export PACE_JWT_SECRET='$secret'"
        echo "export PACE_AUTO_MIGRATE='off'"
        echo "export PACE_TRUSTED_PROXIES=$(sh_quote "${PACE_TRUSTED_PROXIES:-127.0.0.1}")"
        # shellcheck disable=SC2031
        echo "export PACE_DRAIN_SECONDS=$(sh_quote "${PACE_DRAIN_SECONDS:-3}")"
    ) >"$STATE/pace.env"

    say "pace migrate"
    (
        # shellcheck disable=SC1091
        . "$STATE/pace.env"
        mkdir -p "$STATE/migrate"
        cd "$STATE/migrate"
        "$bin" migrate --data-dir "$STATE/migrate" </dev/null >"$STATE/migrate/pace.log" 2>&1
    ) || {
        cat "$STATE/migrate/pace.log" >&2
        die "pace migrate failed"
    }

    i=1
    while [ "$i" -le "$INSTANCES" ]; do
        name=pace$i
        say "starting $name on port $((IPORT + i - 1))"
        pace_start "$name" $((IPORT + i - 1))
        i=$((i + 1))
    done
    say "starting the worker ($role) on port $((IPORT + INSTANCES))"
    pace_start worker $((IPORT + INSTANCES))
    say "starting nginx on port $PORT"
    nginx_start
    trap - EXIT
    echo "http://127.0.0.1:$PORT" >"$STATE/url"
    say "up: state and logs in $STATE"
    cat "$STATE/url"
}

# One line of status: NAME PID PORT STATE; returns 1 when not OK.
status_line() { # NAME PID PORT STATE OK
    printf '%-10s pid %-8s port %-6s %s\n' "$1" "$2" "$3" "$4"
    [ "$5" = yes ]
}

cmd_status() {
    local bad name pid port code ok
    parse "$@"
    state_abs 2>/dev/null || die "no cluster recorded in $STATE"
    kit_get port >/dev/null
    bad=0
    for name in $(pace_names) worker; do
        pid=$(cat "$STATE/$name/pid" 2>/dev/null || echo -)
        port=$(cat "$STATE/$name/port" 2>/dev/null || echo -)
        if [ "$pid" != - ] && is_pace "$pid" "$port"; then
            code=$(http_status "http://127.0.0.1:$port/ready")
            ok=no
            [ "$code" != 200 ] || ok=yes
            status_line "$name" "$pid" "$port" "/ready $code" "$ok" || bad=1
        else
            status_line "$name" "$pid" "$port" "not running" no || bad=1
        fi
    done
    port=$(kit_get port)
    pid=$(cat "$STATE/nginx/pid" 2>/dev/null || echo -)
    if [ "$pid" != - ] && is_nginx "$pid" x; then
        code=$(http_status "http://127.0.0.1:$port/ready")
        ok=no
        [ "$code" != 200 ] || ok=yes
        status_line nginx "$pid" "$port" "/ready $code (http://127.0.0.1:$port)" "$ok" || bad=1
    else
        status_line nginx "$pid" "$port" "not running" no || bad=1
    fi
    for name in pg-primary pg-replica; do
        port=$(cat "$STATE/$name/port" 2>/dev/null || echo -)
        pid=$("$PG_SH" pids "$STATE/$name" 2>/dev/null | head -n 1)
        if code=$(timeout 5 "$PG_SH" psql "$STATE/$name" -At -c "SELECT CASE WHEN pg_is_in_recovery() THEN 'replica, replaying' ELSE 'primary' END" 2>/dev/null); then
            status_line "$name" "${pid:--}" "$port" "accepting ($code)" yes || bad=1
        else
            status_line "$name" "${pid:--}" "$port" "not answering" no || bad=1
        fi
    done
    port=$(cat "$STATE/redis/port" 2>/dev/null || echo -)
    pid=$("$REDIS_SH" pid "$STATE/redis" 2>/dev/null || echo -)
    if [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)" = PONG ]; then
        status_line redis "$pid" "$port" PONG yes || bad=1
    else
        status_line redis "$pid" "$port" "not answering" no || bad=1
    fi
    return $bad
}

cmd_roll() {
    local name port t0
    parse "$@"
    state_abs 2>/dev/null || die "no cluster recorded in $STATE"
    kit_get port >/dev/null
    for name in $(pace_names) worker; do
        port=$(cat "$STATE/$name/port")
        t0=$(date +%s)
        say "$name: SIGTERM, draining"
        pace_stop "$name"
        say "$name: exited after $(($(date +%s) - t0)) s; starting it again on port $port"
        pace_start "$name" "$port"
        say "$name: ready"
        # nginx left the instance alone for fail_timeout (2 s) after its
        # refused connects: let it take traffic again before the next one
        # stops, so that two instances are never out at once.
        if [ "$name" != worker ]; then
            sleep 2
        fi
    done
    say "roll done"
}

cmd_restart() {
    local name port
    name=${1:-}
    [ $# -gt 0 ] && shift
    parse "$@"
    state_abs 2>/dev/null || die "no cluster recorded in $STATE"
    case " $(pace_names | tr '\n' ' ')worker " in
    *" $name "*) ;;
    *) die "restart: NAME is one of $(pace_names | tr '\n' ' ')worker" ;;
    esac
    port=$(cat "$STATE/$name/port")
    pace_stop "$name"
    pace_start "$name" "$port"
    say "$name: ready on port $port"
}

# Stops every part recorded in STATE (absolute); removes STATE unless KEEP.
cmd_down_state() {
    local name pid port
    [ -f "$STATE/kit" ] || return 0
    nginx_stop
    # Every pace process at once: each drains on its own.
    for name in $(pace_names) worker; do
        [ -f "$STATE/$name/pid" ] || continue
        pid=$(cat "$STATE/$name/pid")
        port=$(cat "$STATE/$name/port")
        if is_pace "$pid" "$port"; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for name in $(pace_names) worker; do
        pace_stop "$name"
    done
    "$REDIS_SH" stop "$STATE/redis" || true
    "$PG_SH" stop "$STATE/pg-replica" || true
    "$PG_SH" stop "$STATE/pg-primary" || true
    if [ "$KEEP" = no ]; then
        case "$STATE" in
        / | "$HOME" | "$ROOT") die "refusing to remove $STATE" ;;
        esac
        rm -rf "$STATE"
    else
        rm -f "$STATE/kit" "$STATE/url"
    fi
}

cmd_down() {
    parse "$@"
    [ -d "$STATE" ] || return 0
    state_abs
    cmd_down_state
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
up) cmd_up "$@" ;;
status) cmd_status "$@" ;;
roll) cmd_roll "$@" ;;
restart) cmd_restart "$@" ;;
down) cmd_down "$@" ;;
url)
    parse "$@"
    cat "$STATE/url" 2>/dev/null || die "no cluster recorded in $STATE"
    ;;
*) usage ;;
esac
