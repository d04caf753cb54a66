#!/bin/sh
# Throwaway Redis servers for tests and benchmarks, from Debian's
# redis-server package. Each server lives in a fresh temporary directory,
# listens on 127.0.0.1 on a free port and on a unix socket in that
# directory, keeps nothing on disk (no RDB, no AOF), and is removed by `stop`.
#
#   scripts/redis.sh start STATE [--port P]  start a server; prints its URL
#   scripts/redis.sh stop STATE              stop it and delete everything
#   scripts/redis.sh halt STATE              stop the server, keep the state
#   scripts/redis.sh resume STATE            start a halted server again (same port, empty)
#   scripts/redis.sh freeze STATE            SIGSTOP the server: it stops answering
#   scripts/redis.sh thaw STATE              SIGCONT a frozen server
#   scripts/redis.sh url STATE               the TCP URL (redis://127.0.0.1:PORT)
#   scripts/redis.sh socket-url STATE        the unix-socket URL (unix:///DIR/redis.sock)
#   scripts/redis.sh pid STATE               the server's PID
#   scripts/redis.sh port STATE              the server's port
#   scripts/redis.sh cli STATE [ARGS...]     redis-cli against the server
#   scripts/redis.sh run STATE -- CMD...     CMD with PACE_TEST_REDIS_URL set to the server
#   scripts/redis.sh sentinel-start STATE    a master, its replica and three Sentinels
#                                            watching it as `pace`; prints the Sentinels
#   scripts/redis.sh sentinel-stop STATE     stop all five and delete everything
#   scripts/redis.sh sentinels STATE         the Sentinels (127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3)
#   scripts/redis.sh sentinel-master STATE   the master's host:port, as a Sentinel reports it
#   scripts/redis.sh sentinel-node STATE master|replica
#                                            the STATE of the server in that role now,
#                                            for halt, freeze, cli...
#
# STATE is a directory of the caller's (created if missing) that records
# where the server is. A Sentinel setup keeps one such directory per
# process inside its STATE (redis1 started as the master, redis2 as its
# replica, sentinel1..3): quorum 2, down after 1 s, failover timeout 3 s.
# Every wait is bounded.

# Functions keep their variables `local` (not POSIX, but in every /bin/sh
# that matters: dash, bash, busybox), for they call each other.
# shellcheck disable=SC3043
set -eu

. "$(dirname "$0")/lib.sh"
STATE_OF="server"

REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
REDIS_CLI=${REDIS_CLI:-/usr/bin/redis-cli}
if [ ! -x "$REDIS_SERVER" ] || [ ! -x "$REDIS_CLI" ]; then
    echo "redis.sh: redis-server or redis-cli not found (install the redis-server package: make deps)" >&2
    exit 1
fi

MASTER_NAME=pace

# True while PID is the server of DIR: a redis-server whose working
# directory is DIR. A dead server fails, and so does one that is a zombie
# (an init that does not reap leaves them) or a PID reused since.
is_server() { # PID DIR
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = redis-server ] &&
        [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$2" ]
}

# Waits until the server of DIR, PID, answers PING on its unix socket
# (which is its own: a stranger on the port cannot answer there).
wait_ping() { # PID DIR SECONDS
    local end
    end=$(($(date +%s) + $3))
    while [ "$(date +%s)" -lt "$end" ]; do
        is_alive "$1" || return 1
        if [ "$(timeout 2 "$REDIS_CLI" -s "$2/redis.sock" PING 2>/dev/null)" = PONG ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Stops the recorded server of STATE: SIGTERM, then SIGKILL.
server_stop() { # STATE
    local pid dir n
    [ -f "$1/pid" ] && [ -f "$1/dir" ] || return 0
    pid=$(cat "$1/pid")
    dir=$(cat "$1/dir")
    if is_server "$pid" "$dir"; then
        # A frozen server cannot stop: wake it first.
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        n=0
        while is_server "$pid" "$dir" && [ $n -lt 100 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        if is_server "$pid" "$dir"; then
            echo "redis.sh: server $pid did not stop in 10 s, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            n=0
            while is_server "$pid" "$dir" && [ $n -lt 50 ]; do
                sleep 0.1
                n=$((n + 1))
            done
        fi
    fi
    rm -f "$1/pid"
}

# Starts the server of STATE on PORT and waits until it answers; a server
# that does not is stopped. Fails without a word (the caller may retry).
server_start() { # STATE PORT
    local dir
    dir=$(state_get "$1" dir)
    # Started in DIR, as is_server expects from its first instant.
    if [ -f "$dir/sentinel.conf" ]; then
        (cd "$dir" && exec "$REDIS_SERVER" sentinel.conf --sentinel --port "$2") </dev/null >>"$dir/server.log" 2>&1 &
    else
        (cd "$dir" && exec "$REDIS_SERVER" redis.conf --port "$2") </dev/null >>"$dir/server.log" 2>&1 &
    fi
    echo $! >"$1/pid"
    if wait_ping "$!" "$dir" 10; then
        return 0
    fi
    server_stop "$1"
    return 1
}

new_dir() {
    (cd "$(mktemp -d "${TMPDIR:-/tmp}/pace-redis.XXXXXX")" && pwd -P)
}

# Common lines of every configuration: loopback, a socket, nothing kept.
write_conf() { # DIR FILE
    cat >"$1/$2" <<EOF
bind 127.0.0.1
protected-mode no
unixsocket $1/redis.sock
unixsocketperm 700
daemonize no
dir $1
logfile ""
save ""
appendonly no
shutdown-timeout 1
EOF
}

# Creates the state of a server in STATE (stopping one left there) and
# starts it, on PORT or on a free port. Extra configuration lines come on
# stdin. Prints nothing.
create() { # STATE CONF PORT
    local dir tries port
    mkdir -p "$1"
    if [ -f "$1/dir" ]; then
        # Left over by a run that was killed: it was ours, stop it.
        echo "redis.sh: stopping the server left in $1" >&2
        cmd_stop "$1"
    fi
    dir=$(new_dir)
    echo "$dir" >"$1/dir"
    write_conf "$dir" "$2"
    cat >>"$dir/$2"
    tries=5
    [ -z "$3" ] || tries=1
    # A port may be taken between choosing and binding it: try a few.
    while [ $tries -gt 0 ]; do
        port=${3:-$(free_port)}
        if server_start "$1" "$port"; then
            echo "$port" >"$1/port"
            echo "redis://127.0.0.1:$port" >"$1/url"
            echo "unix://$dir/redis.sock" >"$1/socket_url"
            return 0
        fi
        tries=$((tries - 1))
    done
    tail -n 20 "$dir/server.log" >&2 || true
    cmd_stop "$1"
    die "could not start redis-server"
}

cmd_start() {
    local state port
    state=${1:?usage: redis.sh start STATE [--port P]}
    port=
    if [ $# -ge 2 ]; then
        if [ "$2" != --port ] || [ $# -ne 3 ]; then
            die "usage: redis.sh start STATE [--port P]"
        fi
        port=$3
    fi
    create "$state" redis.conf "$port" </dev/null
    cat "$state/url"
}

cmd_stop() {
    local state dir
    state=${1:?usage: redis.sh stop STATE}
    [ -f "$state/dir" ] || return 0
    dir=$(cat "$state/dir")
    server_stop "$state"
    case "$dir" in
    */pace-redis.*) rm -rf "$dir" ;;
    esac
    rm -f "$state/dir" "$state/port" "$state/url" "$state/socket_url" "$state/pid"
}

cmd_halt() {
    local state
    state=${1:?usage: redis.sh halt STATE}
    state_get "$state" dir >/dev/null
    server_stop "$state"
}

cmd_resume() {
    local state port dir
    state=${1:?usage: redis.sh resume STATE}
    port=$(state_get "$state" port)
    dir=$(state_get "$state" dir)
    if [ -f "$state/pid" ] && is_server "$(cat "$state/pid")" "$dir"; then
        die "the server of $state is running"
    fi
    server_start "$state" "$port" || {
        tail -n 20 "$dir/server.log" >&2 || true
        die "could not restart redis-server on port $port"
    }
}

# The PID of the running server of STATE.
running_pid() { # STATE
    local pid
    pid=$(state_get "$1" pid)
    is_server "$pid" "$(state_get "$1" dir)" || die "the server of $1 is not running"
    echo "$pid"
}

cmd_cli() {
    local state port
    state=${1:?usage: redis.sh cli STATE [ARGS...]}
    shift
    port=$(state_get "$state" port)
    exec "$REDIS_CLI" -h 127.0.0.1 -p "$port" "$@"
}

# Sentinel: servers redis1 (master at first) and redis2 (its replica) and
# sentinel1..3, each a STATE of its own inside STATE.

# Waits until `INFO replication` of the server of STATE has LINE.
wait_info() { # STATE LINE SECONDS
    local dir end
    dir=$(state_get "$1" dir)
    end=$(($(date +%s) + $3))
    while [ "$(date +%s)" -lt "$end" ]; do
        if timeout 2 "$REDIS_CLI" -s "$dir/redis.sock" INFO replication 2>/dev/null | tr -d '\r' | grep -qx "$2"; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# Waits until the Sentinel of STATE knows the replica and the other two.
wait_sentinel() { # STATE SECONDS
    local dir end seen
    dir=$(state_get "$1" dir)
    end=$(($(date +%s) + $2))
    while [ "$(date +%s)" -lt "$end" ]; do
        seen=$(timeout 2 "$REDIS_CLI" -s "$dir/redis.sock" SENTINEL MASTER "$MASTER_NAME" 2>/dev/null |
            awk 'prev == "num-slaves" || prev == "num-other-sentinels" { printf "%s ", $0 } { prev = $0 }') || true
        if [ "$seen" = "1 2 " ]; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

cmd_sentinel_start() {
    local state mport list i
    state=${1:?usage: redis.sh sentinel-start STATE}
    mkdir -p "$state"
    if [ -f "$state/sentinels" ] || [ -d "$state/redis1" ]; then
        echo "redis.sh: stopping the Sentinel setup left in $state" >&2
        cmd_sentinel_stop "$state"
    fi
    # Whatever fails below leaves nothing running.
    # (A global of its own: at exit, a function's locals may shadow others.)
    SENTINEL_STATE=$state
    trap 'cmd_sentinel_stop "$SENTINEL_STATE" >/dev/null 2>&1 || true' EXIT
    create "$state/redis1" redis.conf "" <<EOF
repl-diskless-sync-delay 0
EOF
    mport=$(cat "$state/redis1/port")
    create "$state/redis2" redis.conf "" <<EOF
replicaof 127.0.0.1 $mport
replica-announce-ip 127.0.0.1
repl-diskless-sync-delay 0
EOF
    wait_info "$state/redis2" master_link_status:up 30 || die "the replica did not sync with the master"
    list=
    for i in 1 2 3; do
        create "$state/sentinel$i" sentinel.conf "" <<EOF
sentinel announce-ip 127.0.0.1
sentinel resolve-hostnames no
sentinel monitor $MASTER_NAME 127.0.0.1 $mport 2
sentinel down-after-milliseconds $MASTER_NAME 1000
sentinel failover-timeout $MASTER_NAME 3000
sentinel parallel-syncs $MASTER_NAME 1
EOF
        list=${list:+$list,}127.0.0.1:$(cat "$state/sentinel$i/port")
    done
    for i in 1 2 3; do
        wait_sentinel "$state/sentinel$i" 30 || die "sentinel$i did not find the replica and the other Sentinels"
    done
    echo "$list" >"$state/sentinels"
    trap - EXIT
    echo "$list"
}

cmd_sentinel_stop() {
    local state node
    state=${1:?usage: redis.sh sentinel-stop STATE}
    # The Sentinels first, so that they do not react to the servers going.
    for node in sentinel1 sentinel2 sentinel3 redis1 redis2; do
        if [ -d "$state/$node" ]; then
            cmd_stop "$state/$node"
            rmdir "$state/$node" 2>/dev/null || true
        fi
    done
    rm -f "$state/sentinels"
}

cmd_sentinel_master() {
    local state i dir addr
    state=${1:?usage: redis.sh sentinel-master STATE}
    state_get "$state" sentinels >/dev/null
    # The first Sentinel that answers (one may be frozen or halted).
    for i in 1 2 3; do
        dir=$(state_get "$state/sentinel$i" dir)
        addr=$(timeout 2 "$REDIS_CLI" -s "$dir/redis.sock" SENTINEL get-master-addr-by-name "$MASTER_NAME" 2>/dev/null |
            tr -d '\r' | paste -sd: -) || true
        case "$addr" in
        *:[0-9]*)
            echo "$addr"
            return 0
            ;;
        esac
    done
    die "no Sentinel of $state answers"
}

cmd_sentinel_node() {
    local state role master node is_master
    state=${1:?usage: redis.sh sentinel-node STATE master|replica}
    role=${2:?usage: redis.sh sentinel-node STATE master|replica}
    master=$(cmd_sentinel_master "$state")
    for node in redis1 redis2; do
        if [ "127.0.0.1:$(state_get "$state/$node" port)" = "$master" ]; then
            is_master=yes
        else
            is_master=no
        fi
        case "$role:$is_master" in
        master:yes | replica:no)
            echo "$state/$node"
            return 0
            ;;
        master:no | replica:yes) ;;
        *) die "usage: redis.sh sentinel-node STATE master|replica" ;;
        esac
    done
    die "the master $master is none of $state's servers"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
halt) cmd_halt "$@" ;;
resume) cmd_resume "$@" ;;
freeze)
    pid=$(running_pid "${1:?usage: redis.sh freeze STATE}")
    kill -STOP "$pid"
    ;;
thaw)
    pid=$(running_pid "${1:?usage: redis.sh thaw STATE}")
    kill -CONT "$pid"
    ;;
url) state_get "${1:?usage: redis.sh url STATE}" url ;;
socket-url) state_get "${1:?usage: redis.sh socket-url STATE}" socket_url ;;
pid) running_pid "${1:?usage: redis.sh pid STATE}" ;;
port) state_get "${1:?usage: redis.sh port STATE}" port ;;
cli) cmd_cli "$@" ;;
run)
    state=${1:?usage: redis.sh run STATE -- CMD...}
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: redis.sh run STATE -- CMD..."
    PACE_TEST_REDIS_URL=$(state_get "$state" url)
    export PACE_TEST_REDIS_URL
    exec "$@"
    ;;
sentinel-start) cmd_sentinel_start "$@" ;;
sentinel-stop) cmd_sentinel_stop "$@" ;;
sentinels) state_get "${1:?usage: redis.sh sentinels STATE}" sentinels ;;
sentinel-master) cmd_sentinel_master "$@" ;;
sentinel-node) cmd_sentinel_node "$@" ;;
*)
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
