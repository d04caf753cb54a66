# The services around pace in compose.yaml, each from Debian's packages on
# debian:bookworm-slim (no other base image): one target per service.
#
#   docker build -f deploy/container/services.Dockerfile --target postgres deploy/container
#   ... --target redis, --target nginx
#
# postgres: PostgreSQL 15; postgres-entry.sh makes a primary (PG_ROLE=primary)
#           or a streaming replica of PG_PRIMARY_HOST (PG_ROLE=replica).
# redis:    Redis 7 without persistence (pace keeps nothing in Redis that it
#           cannot lose), password from REDIS_PASSWORD.
# nginx:    nginx 1.22 with deploy/nginx/pace.conf (mounted at
#           /etc/pace/nginx/pace.conf; its listen line becomes port 80) and
#           the upstream list mounted at /etc/nginx/pace-upstream.conf.

FROM debian:bookworm-slim AS postgres
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

FROM debian:bookworm-slim AS redis
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
USER redis
WORKDIR /var/lib/redis
EXPOSE 6379
# The password goes in through a configuration file, not the command line.
CMD ["sh", "-c", "test -n \"$REDIS_PASSWORD\" || { echo 'REDIS_PASSWORD is empty' >&2; exit 1; }; umask 077; printf 'requirepass %s\\n' \"$REDIS_PASSWORD\" >/tmp/redis.conf && exec redis-server /tmp/redis.conf --bind 0.0.0.0 --protected-mode no --port 6379 --save '' --appendonly no --loglevel notice"]
HEALTHCHECK --interval=2s --timeout=3s --start-period=10s --retries=3 \
  CMD REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 ping | grep -q PONG || exit 1

FROM debian:bookworm-slim AS nginx
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx curl \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /etc/nginx/sites-enabled/default \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
# The shipped file as it is, but for its listen line (as scripts/cluster.sh
# does): the container listens on port 80 of every address.
CMD ["sh", "-c", "sed 's/^\\([[:space:]]*\\)listen [^;]*;/\\1listen 80;/' /etc/pace/nginx/pace.conf >/etc/nginx/conf.d/pace.conf && nginx -t -q && exec nginx -g 'daemon off;'"]
HEALTHCHECK --interval=2s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1/health || exit 1
