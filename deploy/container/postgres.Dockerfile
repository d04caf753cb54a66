# PostgreSQL 15 from Debian's packages on debian:bookworm-slim, for
# compose.yaml (a primary and a streaming replica from the same image).
# postgres-entry.sh makes a primary (PG_ROLE=primary) or a replica of
# PG_PRIMARY_HOST (PG_ROLE=replica) on the first start.
#
#   docker build -f deploy/container/postgres.Dockerfile deploy/container

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 2775 /var/run/postgresql
COPY postgres-entry.sh /usr/local/bin/postgres-entry.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
USER postgres
EXPOSE 5432
# Fast shutdown: sessions are ended, what was committed is on disk.
STOPSIGNAL SIGINT
HEALTHCHECK --interval=2s --timeout=3s --start-period=60s --retries=3 \
  CMD pg_isready -q -h 127.0.0.1 -p 5432 || exit 1
ENTRYPOINT ["/usr/local/bin/postgres-entry.sh"]
