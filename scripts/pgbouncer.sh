#!/bin/sh
# A throwaway PgBouncer, from Debian's pgbouncer package, in transaction
# pooling mode in front of a cluster of scripts/pg.sh: what pace meets
# behind a transaction-mode pooler (PACE_DB_PREPARED_STATEMENTS=off). It
# lives in a fresh temporary directory, listens on 127.0.0.1 on a free port
# (no unix socket), reaches the cluster through the cluster's unix socket,
# trusts every client (user postgres, as the cluster does), serves every
# database of the cluster (the `*` entry: the tests' databases are created
# on the fly), and is removed by `stop`.
#
#   scripts/pgbouncer.sh start STATE PG_STATE  start it in front of the cluster
#                                              recorded in PG_STATE; prints its URL
#   scripts/pgbouncer.sh stop STATE            stop it and delete everything
#   scripts/pgbouncer.sh url STATE             the URL (postgresql://postgres@127.0.0.1:PORT/postgres)
#   scripts/pgbouncer.sh pid STATE             the PgBouncer process's PID
#   scripts/pgbouncer.sh admin STATE SQL       a command on PgBouncer's admin console
#                                              (SHOW POOLS, SHOW CLIENTS...), with psql
#   scripts/pgbouncer.sh run STATE -- CMD...   CMD with PACE_TEST_DATABASE_URL set to
#                                              PgBouncer, PACE_TEST_DB_PREPARED_STATEMENTS=off
#                                              (the API suite's pace processes get
#                                              PACE_DB_PREPARED_STATEMENTS=off), and
#                                              PACE_PG_STATE set to the cluster behind it
#
# Settings: pool_mode = transaction; default_pool_size = 10 server
# connections per database (PGB_POOL_SIZE), max_client_conn = 2000, server
# connections idle for 15 s closed (the tests' databases come and go; the
# cluster allows 300 connections in all); `options` and
# `extra_float_digits` among the ignored startup parameters (psql sends
# PGOPTIONS as `options`; PgBouncer 1.18 refuses it otherwise).
#
# STATE is a directory of the caller's (created if missing) that records
# where PgBouncer is. As root, PgBouncer runs as the `postgres` user
# (runuser), like the cluster. Every wait is bounded.
set -eu

. "$(dirname "$0")/lib.sh"
STATE_OF="PgBouncer"

PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
PGB_POOL_SIZE=${PGB_POOL_SIZE:-10}

[ -x "$PGBOUNCER" ] || die "$PGBOUNCER not found (install the pgbouncer package: make deps)"

# Whether something accepts TCP connections on 127.0.0.1:PORT.
listening() { # PORT
    python3 -c 'import socket, sys
s = socket.socket()
s.settimeout(0.5)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()' "$1"
}

pid_alive() { # PIDFILE
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

cmd_start() {
    state=${1:?usage: pgbouncer.sh start STATE PG_STATE}
    pg_state=${2:?usage: pgbouncer.sh start STATE PG_STATE}
    pg_dir=$(cat "$pg_state/dir" 2>/dev/null) || die "no cluster recorded in $pg_state (scripts/pg.sh start first)"
    pg_port=$(cat "$pg_state/port")
    mkdir -p "$state"
    if [ -f "$state/dir" ]; then
        # Left over by a run that was killed: it was ours, stop it.
        echo "pgbouncer.sh: stopping the PgBouncer left in $state" >&2
        cmd_stop "$state"
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/pace-pgb.XXXXXX")
    chmod 755 "$dir"
    echo "$dir" >"$state/dir"
    (cd "$pg_state" && pwd) >"$state/pg_state"
    echo '"postgres" ""' >"$dir/userlist.txt"
    # A port may be taken between choosing and binding it: try a few.
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$pg_dir/sock port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 2000
default_pool_size = $PGB_POOL_SIZE
reserve_pool_size = 0
server_idle_timeout = 15
server_login_retry = 1
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
        if [ "$(id -u)" = 0 ]; then
            chown -R postgres:postgres "$dir"
        fi
        rm -f "$dir/pgbouncer.pid"
        as_pg "$PGBOUNCER" -q -d "$dir/pgbouncer.ini" >>"$dir/start.log" 2>&1 || true
        i=0
        while [ $i -lt 100 ]; do # 10 s
            if pid_alive "$dir/pgbouncer.pid" && listening "$port"; then
                echo "$port" >"$state/port"
                echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$state/url"
                cat "$state/url"
                return 0
            fi
            [ -f "$dir/pgbouncer.pid" ] || [ $i -lt 20 ] || break # it gave up (port taken...)
            sleep 0.1
            i=$((i + 1))
        done
        if pid_alive "$dir/pgbouncer.pid"; then
            kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
        fi
    done
    tail -n 20 "$dir/pgbouncer.log" "$dir/start.log" >&2 2>/dev/null || true
    die "could not start PgBouncer (see $dir/pgbouncer.log)"
}

cmd_stop() {
    state=${1:?usage: pgbouncer.sh stop STATE}
    [ -f "$state/dir" ] || return 0
    dir=$(cat "$state/dir")
    if pid_alive "$dir/pgbouncer.pid"; then
        pid=$(cat "$dir/pgbouncer.pid")
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true # immediate shutdown
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    case "$dir" in
    */pace-pgb.*) rm -rf "$dir" ;;
    esac
    rm -f "$state/dir" "$state/port" "$state/url" "$state/pg_state"
}

cmd_pid() {
    state=${1:?usage: pgbouncer.sh pid STATE}
    dir=$(state_get "$state" dir)
    pid_alive "$dir/pgbouncer.pid" || die "PgBouncer of $state is not running"
    cat "$dir/pgbouncer.pid"
}

cmd_admin() {
    state=${1:?usage: pgbouncer.sh admin STATE SQL}
    sql=${2:?usage: pgbouncer.sh admin STATE SQL}
    port=$(state_get "$state" port)
    psql -X -q -At -h 127.0.0.1 -p "$port" -U postgres -d pgbouncer -c "$sql"
}

cmd_run() {
    state=${1:?usage: pgbouncer.sh run STATE -- CMD...}
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: pgbouncer.sh run STATE -- CMD..."
    PACE_TEST_DATABASE_URL=$(state_get "$state" url)
    PACE_PG_STATE=$(state_get "$state" pg_state)
    PACE_PGBOUNCER_STATE=$state
    PACE_TEST_DB_PREPARED_STATEMENTS=off
    export PACE_TEST_DATABASE_URL PACE_PG_STATE PACE_PGBOUNCER_STATE PACE_TEST_DB_PREPARED_STATEMENTS
    exec "$@"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
url) state_get "${1:?usage: pgbouncer.sh url STATE}" url ;;
pid) cmd_pid "$@" ;;
admin) cmd_admin "$@" ;;
run) cmd_run "$@" ;;
*)
    sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
