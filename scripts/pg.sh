#!/bin/sh
# Throwaway PostgreSQL clusters for tests and benchmarks, from Debian's
# postgresql package. Each cluster lives in a fresh temporary directory,
# listens on 127.0.0.1 on a free port and on a unix socket in that
# directory, trusts local connections, and is removed by `stop`.
#
#   scripts/pg.sh start STATE            start a cluster; prints its URL
#   scripts/pg.sh replica PRIMARY STATE  start a streaming replica of the
#                                        cluster PRIMARY (pg_basebackup -R)
#   scripts/pg.sh stop STATE             stop it and delete everything
#   scripts/pg.sh halt STATE             stop the server, keep the data
#   scripts/pg.sh resume STATE           start a halted server again (same port)
#   scripts/pg.sh url STATE              the TCP URL (postgresql://postgres@127.0.0.1:PORT/postgres)
#   scripts/pg.sh socket-url STATE       the unix-socket URL (postgresql:///postgres?host=DIR&...)
#   scripts/pg.sh pids STATE             the PIDs of the server's processes (postmaster first)
#   scripts/pg.sh psql STATE [ARGS...]   psql on the cluster as the postgres user
#   scripts/pg.sh run STATE -- CMD...    CMD with PACE_TEST_DATABASE_URL set to the cluster
#
# STATE is a directory of the caller's (created if missing) that records
# where the cluster is. PostgreSQL refuses to run as root: as root, the
# server runs as the `postgres` user (runuser). Every wait is bounded.
set -eu

. "$(dirname "$0")/lib.sh"
STATE_OF="cluster"

PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
    for v in 17 16 15 14 13; do
        if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then
            PGBIN=/usr/lib/postgresql/$v/bin
            break
        fi
    done
fi
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    echo "pg.sh: PostgreSQL server binaries not found (install the postgresql package: make deps)" >&2
    exit 1
fi

write_urls() { # STATE DIR PORT
    echo "postgresql://postgres@127.0.0.1:$3/postgres" >"$1/url"
    echo "postgresql:///postgres?host=$2/sock&port=$3&user=postgres" >"$1/socket_url"
}

# Starts the server of DIR on PORT; waits until it accepts connections.
server_start() { # DIR PORT
    as_pg "$PGBIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
        -o "-p $2 -k $1/sock -c listen_addresses=127.0.0.1" start >/dev/null ||
        {
            tail -n 20 "$1/server.log" >&2 || true
            return 1
        }
}

new_dir() {
    dir=$(mktemp -d "${TMPDIR:-/tmp}/pace-pg.XXXXXX")
    chmod 755 "$dir"
    mkdir "$dir/sock"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres:postgres "$dir"
    fi
    echo "$dir"
}

cmd_start() {
    state=${1:?usage: pg.sh start STATE}
    mkdir -p "$state"
    if [ -f "$state/dir" ]; then
        # Left over by a run that was killed: it was ours, stop it.
        echo "pg.sh: stopping the cluster left in $state" >&2
        cmd_stop "$state"
    fi
    dir=$(new_dir)
    echo "$dir" >"$state/dir"
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        die "initdb failed"
    }
    cat >>"$dir/data/postgresql.conf" <<EOF
max_connections = 300
shared_buffers = 128MB
fsync = on
synchronous_commit = on
wal_level = replica
max_wal_senders = 10
hot_standby = on
unix_socket_permissions = 0777
log_min_messages = warning
log_min_error_statement = panic
EOF
    # A port may be taken between choosing and binding it: try a few.
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        if server_start "$dir" "$port"; then
            echo "$port" >"$state/port"
            write_urls "$state" "$dir" "$port"
            cat "$state/url"
            return 0
        fi
    done
    die "could not start PostgreSQL (see $dir/server.log)"
}

cmd_replica() {
    primary=${1:?usage: pg.sh replica PRIMARY_STATE STATE}
    state=${2:?usage: pg.sh replica PRIMARY_STATE STATE}
    pdir=$(state_get "$primary" dir)
    pport=$(state_get "$primary" port)
    mkdir -p "$state"
    [ ! -f "$state/dir" ] || die "$state already records a cluster; stop it first"
    dir=$(new_dir)
    echo "$dir" >"$state/dir"
    as_pg timeout 120 "$PGBIN/pg_basebackup" -D "$dir/data" -R -X stream -c fast \
        -h "$pdir/sock" -p "$pport" -U postgres >"$dir/basebackup.log" 2>&1 || {
        cat "$dir/basebackup.log" >&2
        die "pg_basebackup failed"
    }
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        if server_start "$dir" "$port"; then
            echo "$port" >"$state/port"
            write_urls "$state" "$dir" "$port"
            cat "$state/url"
            return 0
        fi
    done
    die "could not start the replica (see $dir/server.log)"
}

server_stop() { # DIR
    [ -f "$1/data/postmaster.pid" ] || return 0
    as_pg "$PGBIN/pg_ctl" -D "$1/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        as_pg "$PGBIN/pg_ctl" -D "$1/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}

cmd_stop() {
    state=${1:?usage: pg.sh stop STATE}
    [ -f "$state/dir" ] || return 0
    dir=$(cat "$state/dir")
    # A frozen server (SIGSTOP) cannot stop: wake it first.
    for pid in $(cmd_pids "$state" 2>/dev/null); do
        kill -CONT "$pid" 2>/dev/null || true
    done
    server_stop "$dir"
    case "$dir" in
    */pace-pg.*) rm -rf "$dir" ;;
    esac
    rm -f "$state/dir" "$state/port" "$state/url" "$state/socket_url"
}

cmd_halt() {
    state=${1:?usage: pg.sh halt STATE}
    server_stop "$(state_get "$state" dir)"
}

cmd_resume() {
    state=${1:?usage: pg.sh resume STATE}
    dir=$(state_get "$state" dir)
    port=$(state_get "$state" port)
    server_start "$dir" "$port" || die "could not restart PostgreSQL on port $port"
}

cmd_pids() {
    state=${1:?usage: pg.sh pids STATE}
    dir=$(state_get "$state" dir)
    [ -f "$dir/data/postmaster.pid" ] || return 0
    pm=$(head -n 1 "$dir/data/postmaster.pid")
    echo "$pm"
    ps -o pid= --ppid "$pm" | tr -d ' '
}

cmd_psql() {
    state=${1:?usage: pg.sh psql STATE [ARGS...]}
    shift
    dir=$(state_get "$state" dir)
    port=$(state_get "$state" port)
    PGOPTIONS="-c client_min_messages=warning" as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" -U postgres "$@"
}

cmd_run() {
    state=${1:?usage: pg.sh run STATE -- CMD...}
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: pg.sh run STATE -- CMD..."
    PACE_TEST_DATABASE_URL=$(state_get "$state" url)
    PACE_PG_STATE=$state
    export PACE_TEST_DATABASE_URL PACE_PG_STATE
    exec "$@"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start) cmd_start "$@" ;;
replica) cmd_replica "$@" ;;
stop) cmd_stop "$@" ;;
halt) cmd_halt "$@" ;;
resume) cmd_resume "$@" ;;
url) state_get "${1:?usage: pg.sh url STATE}" url ;;
socket-url) state_get "${1:?usage: pg.sh socket-url STATE}" socket_url ;;
pids) cmd_pids "$@" ;;
psql) cmd_psql "$@" ;;
run) cmd_run "$@" ;;
*)
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
