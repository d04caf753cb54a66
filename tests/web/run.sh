#!/bin/sh
# Runs the browser tests: installs tests/web/node_modules from the lockfile
# when it is missing or older than the lockfile, then every *.test.mjs here
# one file at a time. PACE_BIN names the pace binary (default: build/pace).
# Extra arguments go to node --test (e.g. --test-name-pattern=docs).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --ignore-scripts --no-audit --no-fund
fi

: "${PACE_BIN:=$here/../../build/pace}"
export PACE_BIN
if [ ! -x "$PACE_BIN" ]; then
    echo "run.sh: no pace binary at $PACE_BIN (build it, or set PACE_BIN)" >&2
    exit 2
fi

status=0
node --test --test-concurrency=1 "$@" ./*.test.mjs || status=$?
exit "$status"
