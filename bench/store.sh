#!/bin/sh
# Store microbenchmarks: point read, 20-row keyset page, durable inserts
# with 1/8/64/256 concurrent writers. Builds nothing: run `make build` first.
#   bench/store.sh [DATABASE_URL]     (default: a throwaway SQLite file)
#   bench/store.sh postgres           a throwaway PostgreSQL cluster (scripts/pg.sh,
#                                     loopback TCP): store_bench, then pg_bench (one
#                                     query per round trip vs pipelined, pool sizes)
# BENCH_SECONDS sets the length of each measurement (default 3). The
# database file lives in $TMPDIR (default /tmp): put it on the disk you
# want to measure, since durable inserts wait for fsync.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PACE_BUILD:-$root/build}
bin=$build/store_bench
if [ ! -x "$bin" ]; then
    echo "bench/store.sh: $bin not found; run 'make build' first" >&2
    exit 1
fi
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ "${1:-}" != postgres ]; then
    "$bin" "$@"
    exit 0
fi

state=$(mktemp -d "${TMPDIR:-/tmp}/pace-bench-pg.XXXXXX")
cleanup() {
    "$root/scripts/pg.sh" stop "$state" || true
    rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
"$root/scripts/pg.sh" start "$state" >/dev/null
"$root/scripts/pg.sh" psql "$state" -c "CREATE DATABASE store_bench" -c "CREATE DATABASE pg_bench"
url=$("$root/scripts/pg.sh" url "$state")
echo "# $("$root/scripts/pg.sh" psql "$state" -At -c 'SELECT version()')"
echo "# fsync on, synchronous_commit on, shared_buffers 128MB; server and client share the machine"
"$bin" "${url%/postgres}/store_bench"
"$build/pg_bench" "${url%/postgres}/pg_bench"
