#!/bin/sh
# Runs the store contract suite against one backend:
#   tests/store/run.sh BACKEND PATH/TO/store_contract
# Each backend gets a fresh, throwaway database in a temporary directory,
# removed afterwards. Add a backend by adding a case below.
set -eu

backend=${1:?usage: run.sh BACKEND STORE_CONTRACT_BINARY}
bin=${2:?usage: run.sh BACKEND STORE_CONTRACT_BINARY}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pace-store.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

case "$backend" in
sqlite)
    url="sqlite:$tmp/contract.db"
    ;;
postgres)
    echo "run.sh: the postgres backend is added by the PostgreSQL issue" >&2
    exit 2
    ;;
*)
    echo "run.sh: unknown backend '$backend' (sqlite, postgres)" >&2
    exit 2
    ;;
esac

"$bin" "$url" "$tmp"
