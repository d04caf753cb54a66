# Shell functions the scripts in scripts/ share; sourced (POSIX sh), never
# run. A script sets STATE_OF (what its state directories record, for
# messages) before it uses state_get.

# Prints the message prefixed with the script's name and exits 1.
die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# Runs a command as the user that owns PostgreSQL's files (postgres) when
# root; PostgreSQL refuses to run as root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A TCP port free on 127.0.0.1 now.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# A value the script recorded in its state directory.
state_get() { # STATE KEY
    [ -f "$1/$2" ] || die "no ${STATE_OF:-state} recorded in $1 (missing $1/$2)"
    cat "$1/$2"
}

# True while PID is a live process (not a zombie).
is_alive() { # PID
    [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat")" != Z ]
}
