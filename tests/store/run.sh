#!/bin/sh
# Runs the store contract suite against one backend:
#   tests/store/run.sh BACKEND PATH/TO/store_contract
# Each backend gets a fresh, throwaway database, removed afterwards: SQLite
# a file in a temporary directory, PostgreSQL a database in the cluster
# named by PACE_PG_STATE (ctest's, started by scripts/pg.sh) or else in a
# cluster of its own. With PACE_PGBOUNCER_STATE (scripts/pgbouncer.sh run
# STATE -- ...) PostgreSQL's database is reached through that PgBouncer in
# transaction mode, and the suite opens the store with unnamed statements
# (PACE_TEST_DB_PREPARED_STATEMENTS=off). Add a backend by adding a case below.
set -eu

backend=${1:?usage: run.sh BACKEND STORE_CONTRACT_BINARY}
bin=${2:?usage: run.sh BACKEND STORE_CONTRACT_BINARY}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pace-store.XXXXXX")
pgsh="$(cd "$(dirname "$0")/../.." && pwd)/scripts/pg.sh"
pg_state= pg_own= pg_db=
cleanup() {
    if [ -n "$pg_db" ]; then
        "$pgsh" psql "$pg_state" -d postgres -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" || true
    fi
    if [ -n "$pg_own" ]; then
        "$pgsh" stop "$pg_state" || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

case "$backend" in
sqlite)
    url="sqlite:$tmp/contract.db"
    ;;
postgres)
    # The cluster of the ctest run (PACE_PG_STATE, see scripts/pg.sh), or a
    # throwaway one of our own; a fresh database in it either way, reached
    # through the unix socket (the API suite uses TCP).
    if [ -n "${PACE_PG_STATE:-}" ]; then
        pg_state=$PACE_PG_STATE
    else
        pg_state=$tmp/pg
        pg_own=1
        "$pgsh" start "$pg_state" >/dev/null
    fi
    pg_db=pace_contract_$$
    "$pgsh" psql "$pg_state" -d postgres -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" \
        -c "CREATE DATABASE $pg_db"
    if [ -n "${PACE_PGBOUNCER_STATE:-}" ]; then
        # Through the PgBouncer in front of that cluster (scripts/pgbouncer.sh
        # run: transaction mode, PACE_TEST_DB_PREPARED_STATEMENTS=off).
        url=$("$(dirname "$pgsh")/pgbouncer.sh" url "$PACE_PGBOUNCER_STATE" |
            sed "s|/postgres\$|/$pg_db|")
    else
        url=$("$pgsh" socket-url "$pg_state" | sed "s|^postgresql:///postgres?|postgresql:///$pg_db?|")
    fi
    ;;
*)
    echo "run.sh: unknown backend '$backend' (sqlite, postgres)" >&2
    exit 2
    ;;
esac

"$bin" "$url" "$tmp"
