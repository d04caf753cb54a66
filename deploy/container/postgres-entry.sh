#!/bin/sh
# Entry point of the postgres image (postgres.Dockerfile): on its first
# start it makes the data directory, then runs the server in the
# foreground (PID 1 of the container).
#
#   PG_ROLE=primary  initdb; the database PG_DATABASE owned by PG_USER
#                    (password PG_PASSWORD); the role `replicator`
#                    (password PG_REPLICATION_PASSWORD) for replicas
#   PG_ROLE=replica  waits for PG_PRIMARY_HOST, then pg_basebackup -R:
#                    a hot standby streaming from it
#
# Extra server settings: arguments, as `-c name=value`.
set -eu

PGDATA=${PGDATA:-/var/lib/postgresql/data}
role=${PG_ROLE:-primary}

die() {
    echo "postgres-entry: $*" >&2
    exit 1
}

need() {
    eval "v=\${$1:-}"
    # shellcheck disable=SC2154
    [ -n "$v" ] || die "$1 is not set"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    case $role in
    primary)
        need PG_PASSWORD
        need PG_REPLICATION_PASSWORD
        user=${PG_USER:-pace}
        db=${PG_DATABASE:-pace}
        initdb -D "$PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
            --encoding=UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
wal_level = replica
max_wal_senders = 10
wal_keep_size = 256MB
hot_standby = on
max_connections = 200
CONF
        cat >>"$PGDATA/pg_hba.conf" <<HBA
host all all all scram-sha-256
host replication replicator all scram-sha-256
HBA
        # Set up over the unix socket only, then the real start below.
        pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
        psql -v ON_ERROR_STOP=1 -q -U postgres -d postgres \
            -v user="$user" -v db="$db" -v pw="$PG_PASSWORD" -v rpw="$PG_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"user";
CREATE ROLE replicator REPLICATION LOGIN PASSWORD :'rpw';
SQL
        pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
        ;;
    replica)
        need PG_PRIMARY_HOST
        need PG_REPLICATION_PASSWORD
        i=0
        until pg_isready -q -h "$PG_PRIMARY_HOST" -p 5432; do
            i=$((i + 1))
            [ "$i" -lt 120 ] || die "primary $PG_PRIMARY_HOST not ready within 60 s"
            sleep 0.5
        done
        PGPASSWORD=$PG_REPLICATION_PASSWORD pg_basebackup -h "$PG_PRIMARY_HOST" -p 5432 \
            -U replicator -D "$PGDATA" -R -X stream --checkpoint=fast
        chmod 0700 "$PGDATA"
        ;;
    *) die "PG_ROLE must be primary or replica, not $role" ;;
    esac
fi

exec postgres -D "$PGDATA" "$@"
