# nginx 1.22 from Debian's packages on debian:bookworm-slim, for
# compose.yaml, with the shipped deploy/nginx/pace.conf (mounted at
# /etc/pace/nginx/pace.conf; the container changes only its listen line, to
# port 80) and the list of instances mounted at /etc/nginx/pace-upstream.conf.
#
#   docker build -f deploy/container/nginx.Dockerfile deploy/container

FROM debian:bookworm-slim
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
