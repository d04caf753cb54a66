# Redis 7 from Debian's packages on debian:bookworm-slim, for compose.yaml:
# no persistence (pace keeps nothing in Redis that it cannot lose), the
# password from REDIS_PASSWORD.
#
#   docker build -f deploy/container/redis.Dockerfile deploy/container

FROM debian:bookworm-slim
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
