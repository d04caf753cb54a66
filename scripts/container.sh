#!/bin/sh
# A private Docker daemon and a debian:bookworm-slim base image made without
# a registry, from Debian's Docker engine and debootstrap packages, for the
# container test (tests/deploy/test_containers.py) and for trying the
# compose topology by hand. The daemon keeps its socket, pid file and exec
# root in STATE, its images in a data root that may outlive it (a cache),
# uses a bridge of its own (pacedk0, not docker0), and `stop` puts back what
# it changed on the host: containers, networks, bridges, iptables rules,
# forwarding sysctls, /etc/docker and /run/docker.
#
#   scripts/container.sh mirror                the Debian mirror of this host's apt sources
#   scripts/container.sh apt-proxy             the host's apt HTTP proxy (empty when none)
#   scripts/container.sh start STATE [--data-root DIR]
#                                              start a dockerd of its own (images in DIR,
#                                              default STATE/data); prints its DOCKER_HOST
#   scripts/container.sh stop STATE            remove its containers, networks and volumes, stop it,
#                                              undo its host changes (checked), delete STATE
#   scripts/container.sh host STATE            the DOCKER_HOST of the daemon (unix://...)
#   scripts/container.sh base-image STATE CACHE
#                                              make debian:bookworm-slim in the daemon:
#                                              debootstrap --variant=minbase, kept as
#                                              CACHE/bookworm-minbase.tar for the next time
#   scripts/container.sh run STATE -- CMD...   CMD with DOCKER_HOST set to the daemon
#
# Needs root (dockerd, bridges, iptables). Refuses to start when another
# Docker daemon's iptables chains are present: the two would share them and
# `stop` could not tell whose rules are whose. The bridge and the address
# pool are DOCKER_BRIDGE_CIDR (default 10.231.0.1/24) and DOCKER_POOL
# (default 10.232.0.0/16, /24 networks). Every wait is bounded.

# Functions keep their variables `local` (not POSIX, but in every /bin/sh
# that matters: dash, bash, busybox), for they call each other.
# shellcheck disable=SC3043
set -eu

. "$(dirname "$0")/lib.sh"

DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
DOCKER=${DOCKER:-/usr/bin/docker}
BRIDGE=${DOCKER_BRIDGE:-pacedk0}
BRIDGE_CIDR=${DOCKER_BRIDGE_CIDR:-10.231.0.1/24}
POOL=${DOCKER_POOL:-10.232.0.0/16}
SUITE=bookworm

# The URI of the first enabled apt source (one-line or deb822) that serves
# SUITE exactly ($1: bookworm, bookworm-security...).
apt_uri() {
    local suite="$1" f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '$1 == "deb" {
            i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == s) { print $i; exit }
        }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '
            function flush() { if (deb && enabled && uri != "" && hit) { print uri; found = 1; exit } }
            BEGIN { deb = 0; enabled = 1; uri = ""; hit = 0 }
            /^[ \t]*$/ { flush(); deb = 0; enabled = 1; uri = ""; hit = 0; next }
            /^Types:/ { deb = ($0 ~ /[ \t]deb([ \t]|$)/) }
            /^Enabled:/ { enabled = ($2 != "no") }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
            END { if (!found) flush() }' "$f"
    done
}

cmd_mirror() {
    local uri
    uri=$(apt_uri "$SUITE" | head -n 1)
    [ -n "$uri" ] || die "no apt source for $SUITE in /etc/apt/sources.list{,.d}"
    echo "$uri"
}

cmd_apt_proxy() {
    apt-config dump 2>/dev/null | sed -n 's/^Acquire::http::Proxy "\(.*\)";$/\1/p' | head -n 1
}

host_of() {
    echo "unix://$1/docker.sock"
}

# Everything on the host that a dockerd may change, as text, into DIR.
snapshot() {
    local dir="$1"
    mkdir -p "$dir"
    iptables-save 2>/dev/null | normalize >"$dir/iptables"
    ip6tables-save 2>/dev/null | normalize >"$dir/ip6tables"
    nft list tables 2>/dev/null | sort >"$dir/nft-tables" || :
    ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort >"$dir/links"
    for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding \
        net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables; do
        printf '%s=%s\n' "$k" "$(sysctl -n "$k" 2>/dev/null || echo absent)"
    done >"$dir/sysctl"
    for p in /etc/docker /run/docker /var/lib/docker /run/containerd; do
        if [ -e "$p" ]; then echo "$p"; fi
    done >"$dir/paths"
}

# iptables-save output without comments and counters.
normalize() {
    sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
}

cmd_start() {
    local state="$1" data="" pid i
    shift
    while [ $# -gt 0 ]; do
        case $1 in
        --data-root)
            [ $# -ge 2 ] || die "--data-root needs a directory"
            data=$2
            shift 2
            ;;
        *) die "start: unknown argument $1" ;;
        esac
    done
    [ "$(id -u)" = 0 ] || die "start needs root"
    command -v iptables-save >/dev/null || die "iptables missing (install the iptables package)"
    [ -x "$DOCKERD" ] || die "$DOCKERD missing (install Debian's Docker engine: make deps)"
    mkdir -p "$state"
    state=$(cd "$state" && pwd)
    [ -n "$data" ] || data=$state/data
    mkdir -p "$data"
    data=$(cd "$data" && pwd)
    if [ -f "$state/dockerd.pid" ] && kill -0 "$(cat "$state/dockerd.pid")" 2>/dev/null; then
        die "a dockerd already runs for $state"
    fi
    if iptables-save 2>/dev/null | grep -q '^:DOCKER'; then
        die "another Docker daemon's iptables chains are present; stop it first"
    fi
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        die "bridge $BRIDGE exists already (another private dockerd?)"
    fi
    rm -rf "$state/before"
    snapshot "$state/before"
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    echo "$data" >"$state/data-root"
    mkdir -p "$state/exec"
    # The trust key would go to /etc/docker/key.json: keep it in STATE.
    printf '{ "deprecated-key-path": "%s/key.json" }\n' "$state" >"$state/daemon.json"
    "$DOCKERD" --data-root "$data" --exec-root "$state/exec" \
        --pidfile "$state/dockerd.pid" -H "$(host_of "$state")" \
        --bridge "$BRIDGE" --default-address-pool "base=$POOL,size=24" \
        --storage-driver overlay2 --config-file "$state/daemon.json" \
        --containerd-namespace pace-deploy --containerd-plugins-namespace pace-deploy-plugins \
        >"$state/dockerd.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$state/dockerd.launched"
    i=0
    while ! DOCKER_HOST=$(host_of "$state") "$DOCKER" version >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$state/dockerd.log" >&2
            cmd_stop "$state" || :
            die "dockerd exited during start-up (log above)"
        fi
        i=$((i + 1))
        if [ "$i" -gt 300 ]; then
            tail -n 20 "$state/dockerd.log" >&2
            cmd_stop "$state" || :
            die "dockerd did not answer within 30 s"
        fi
        sleep 0.1
    done
    host_of "$state"
}

# Deletes the iptables rules, chains and tables of FAMILY (iptables or
# ip6tables) that are in the current ruleset and not in BEFORE, and puts
# changed chain policies back.
iptables_undo() {
    local cmd="$1" before="$2" now table line chain old
    now=$(mktemp)
    "$cmd-save" 2>/dev/null | normalize >"$now"
    table=""
    # Rules, last first (a chain's jumps go before the chain).
    awk '/^\*/ { t = substr($0, 2) } /^-A / { print t " " $0 }' "$now" | tac |
        while IFS= read -r line; do
            table=${line%% *}
            line=${line#* }
            if ! awk -v t="$table" '/^\*/ { c = substr($0, 2) } c == t { print }' "$before" |
                grep -qxF -- "$line"; then
                eval "$cmd -w -t $table -D ${line#-A }"
            fi
        done
    "$cmd-save" 2>/dev/null | normalize >"$now"
    awk '/^\*/ { t = substr($0, 2) } /^:/ { print t " " $0 }' "$now" |
        while IFS= read -r line; do
            table=${line%% *}
            line=${line#* }
            # shellcheck disable=SC2086 # fields: ":CHAIN POLICY [counters]"
            set -- $line
            chain=${1#:}
            if [ "$2" = "-" ]; then
                if ! awk -v t="$table" '/^\*/ { c = substr($0, 2) } c == t { print }' "$before" |
                    grep -q "^:$chain "; then
                    "$cmd" -w -t "$table" -X "$chain"
                fi
            else
                old=$(awk -v t="$table" -v ch=":$chain" '/^\*/ { c = substr($0, 2) } c == t && $1 == ch { print $2 }' "$before")
                if [ -n "$old" ] && [ "$old" != "$2" ]; then
                    "$cmd" -w -t "$table" -P "$chain" "$old"
                fi
            fi
        done
    rm -f "$now"
}

cmd_stop() {
    local state="$1" host pid i ids before
    [ -d "$state" ] || return 0
    state=$(cd "$state" && pwd)
    host=$(host_of "$state")
    before=$state/before
    pid=""
    if [ -f "$state/dockerd.pid" ]; then
        pid=$(cat "$state/dockerd.pid")
    elif [ -f "$state/dockerd.launched" ]; then
        pid=$(cat "$state/dockerd.launched")
    fi
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        ids=$(DOCKER_HOST=$host timeout 30 "$DOCKER" ps -aq 2>/dev/null || :)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            DOCKER_HOST=$host timeout 60 "$DOCKER" rm -f -v $ids >/dev/null 2>&1 || :
        fi
        DOCKER_HOST=$host timeout 30 "$DOCKER" network prune -f >/dev/null 2>&1 || :
        # Volumes too (a killed compose run's database): the data root is
        # this daemon's own, images are what it keeps.
        DOCKER_HOST=$host timeout 60 "$DOCKER" volume prune -f >/dev/null 2>&1 || :
        kill -TERM "$pid" 2>/dev/null || :
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "container.sh: dockerd $pid still up after 30 s; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || :
            sleep 0.5
        fi
    fi
    # dockerd stops the containerd it started; if it could not, stop it here.
    if [ -f "$state/exec/containerd/containerd.pid" ]; then
        pid=$(cat "$state/exec/containerd/containerd.pid")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || :
            sleep 1
        fi
    fi
    # Mounts left under the exec root or the data root (a killed daemon).
    for root in "$state" "$(cat "$state/data-root" 2>/dev/null || echo "$state")"; do
        awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r |
            while IFS= read -r m; do umount -l "$m" 2>/dev/null || :; done
    done
    if [ -d "$before" ]; then
        # Bridges and veths created since start (compose networks that were
        # not removed, our own bridge).
        ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort >"$state/links-now"
        comm -13 "$before/links" "$state/links-now" | while IFS= read -r l; do
            case $l in
            "$BRIDGE" | br-* | veth*) ip link delete "$l" 2>/dev/null || : ;;
            esac
        done
        iptables_undo iptables "$before/iptables"
        iptables_undo ip6tables "$before/ip6tables"
        # nf_tables tables that did not exist before (and are empty now).
        nft list tables 2>/dev/null | sort >"$state/nft-now" || :
        comm -13 "$before/nft-tables" "$state/nft-now" | while IFS= read -r t; do
            # shellcheck disable=SC2086
            nft delete $t 2>/dev/null || :
        done
        while IFS='=' read -r k v; do
            [ "$v" = absent ] && continue
            [ "$(sysctl -n "$k" 2>/dev/null)" = "$v" ] || sysctl -q -w "$k=$v" >/dev/null
        done <"$before/sysctl"
        for p in /etc/docker /run/docker /var/lib/docker /run/containerd; do
            if [ -e "$p" ] && ! grep -qxF "$p" "$before/paths"; then
                rm -rf "$p"
            fi
        done
        snapshot "$state/after"
        local bad=0 f
        for f in iptables ip6tables nft-tables links sysctl paths; do
            if ! cmp -s "$before/$f" "$state/after/$f"; then
                echo "container.sh: $f differs from before the daemon started:" >&2
                diff "$before/$f" "$state/after/$f" >&2 || :
                bad=1
            fi
        done
        if [ "$bad" = 1 ]; then
            die "host not restored; state kept in $state"
        fi
    fi
    rm -rf "$state"
}

cmd_base_image() {
    local state="$1" cache="$2" host mirror security tar tmp proxy
    host=$(host_of "$(cd "$state" && pwd)")
    if DOCKER_HOST=$host "$DOCKER" image inspect debian:bookworm-slim >/dev/null 2>&1; then
        return 0
    fi
    mkdir -p "$cache"
    cache=$(cd "$cache" && pwd)
    tar=$cache/bookworm-minbase.tar
    if [ ! -s "$tar" ]; then
        command -v debootstrap >/dev/null || die "debootstrap missing (install the debootstrap package)"
        mirror=$(cmd_mirror)
        security=$(apt_uri "$SUITE-security" | head -n 1)
        proxy=$(cmd_apt_proxy)
        tmp=$cache/rootfs.tmp
        rm -rf "$tmp"
        echo "container.sh: debootstrap --variant=minbase $SUITE from $mirror" >&2
        if ! http_proxy=$proxy debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" \
            >"$cache/debootstrap.log" 2>&1; then
            tail -n 20 "$cache/debootstrap.log" >&2
            rm -rf "$tmp"
            die "debootstrap failed (log above)"
        fi
        # Like the published image: the same sources as this host (the
        # updates and security suites included), no package caches.
        rm -f "$tmp/etc/apt/sources.list" "$tmp"/var/cache/apt/archives/*.deb
        rm -rf "$tmp"/var/lib/apt/lists/*
        {
            printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$SUITE" "$SUITE"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
            if [ -n "$security" ]; then
                printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$SUITE"
                printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
            fi
        } >"$tmp/etc/apt/sources.list.d/debian.sources"
        # This host's apt acquisition settings (a mirror that serves an
        # archive snapshot needs Check-Valid-Until off), and its proxy.
        apt-config dump 2>/dev/null |
            grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' \
                >"$tmp/etc/apt/apt.conf.d/90host-acquire" || :
        tar -C "$tmp" -cf "$tar.part" .
        mv "$tar.part" "$tar"
        rm -rf "$tmp"
    fi
    DOCKER_HOST=$host "$DOCKER" import --change 'CMD ["bash"]' "$tar" debian:bookworm-slim >/dev/null
}

cmd_run() {
    local state="$1"
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "run: no command"
    DOCKER_HOST=$(host_of "$(cd "$state" && pwd)")
    export DOCKER_HOST
    exec "$@"
}

[ $# -ge 1 ] || die "usage: container.sh mirror|apt-proxy|start|stop|host|base-image|run ... (see the header)"
cmd=$1
shift
case $cmd in
mirror) cmd_mirror ;;
apt-proxy) cmd_apt_proxy ;;
start)
    [ $# -ge 1 ] || die "usage: container.sh start STATE [--data-root DIR]"
    cmd_start "$@"
    ;;
stop)
    [ $# -eq 1 ] || die "usage: container.sh stop STATE"
    cmd_stop "$1"
    ;;
host)
    [ $# -eq 1 ] || die "usage: container.sh host STATE"
    host_of "$(cd "$1" && pwd)"
    ;;
base-image)
    [ $# -eq 2 ] || die "usage: container.sh base-image STATE CACHE"
    cmd_base_image "$1" "$2"
    ;;
run)
    [ $# -ge 2 ] || die "usage: container.sh run STATE -- CMD..."
    cmd_run "$@"
    ;;
*) die "unknown command $cmd (see the header)" ;;
esac
