#!/bin/sh
# Store microbenchmarks: point read, 20-row keyset page, durable inserts
# with 1/8/64/256 concurrent writers. Builds nothing: run `make build` first.
#   bench/store.sh [DATABASE_URL]     (default: a throwaway SQLite file)
# BENCH_SECONDS sets the length of each measurement (default 3). The
# database file lives in $TMPDIR (default /tmp): put it on the disk you
# want to measure, since durable inserts wait for fsync.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${PACE_BUILD:-$root/build}/store_bench
if [ ! -x "$bin" ]; then
    echo "bench/store.sh: $bin not found; run 'make build' first" >&2
    exit 1
fi
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores"
"$bin" "$@"
