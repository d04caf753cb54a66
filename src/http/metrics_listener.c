/* Who may read /metrics. On the API listener, clients whose TCP peer is
 * in PACE_METRICS_ALLOW (loopback by default; X-Forwarded-For is never
 * consulted, since a proxy's own address says nothing of its client).
 * With PACE_METRICS_LISTEN, a second listening socket on the first event
 * loop serves /metrics, /health and /ready only, and /metrics exists
 * nowhere else: its access control is where it is bound (and the
 * network's). Anyone else gets the 404 of a path that does not exist. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/internal.h"
#include "http/negotiate.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

struct http_metrics_listener {
    h2o_globalconf_t conf; /* its own host: its own handler, the same filters and logger */
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *sock;
    int fd;
    h2o_timeout_t backoff; /* out of descriptors: the listener rests, as the API's (conn.c) */
    h2o_timeout_entry_t retry;
};

bool
http_metrics_allowed(struct http_req *r)
{
    struct reqctx *c = (struct reqctx *)r;
    const struct http_server *s = c->loop->srv;
    if (s->metrics_listener != NULL)
        return c->req != NULL && c->req->conn->hosts == s->metrics_listener->conf.hosts;
    return netlist_has_text(&s->metrics_allow, r->client);
}

static bool
served_here(h2o_iovec_t path)
{
    return h2o_memis(path.base, path.len, H2O_STRLIT("/metrics")) ||
           h2o_memis(path.base, path.len, H2O_STRLIT("/health")) ||
           h2o_memis(path.base, path.len, H2O_STRLIT("/ready"));
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    if (served_here(req->path_normalized))
        return http_on_req(self, req);
    struct reqctx *c = reqctx_new(req, http_loop_of(req), true);
    http_reply_problem(&c->r, 404, "not_found", "Not found", "no resource at this path");
    http_send_response(c);
    return 0;
}

/* host:port or [v6]:port into host and port. */
static bool
split_host_port(const char *spec, char *host, size_t cap, char *port, size_t pcap)
{
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec || colon[1] == '\0' || strlen(colon + 1) >= pcap)
        return false;
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (h[0] == '[') {
        if (hl < 2 || h[hl - 1] != ']')
            return false;
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= cap)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, pcap, "%s", colon + 1);
    char *end = NULL;
    long p = strtol(port, &end, 10);
    return *end == '\0' && p >= 1 && p <= 65535;
}

static int
bind_metrics(const char *spec, int *fd_out)
{
    char host[256], port[8];
    if (!split_host_port(spec, host, sizeof(host), port, sizeof(port))) {
        log_error("http", "invalid PACE_METRICS_LISTEN=\"%s\": expected host:port", spec);
        return ERR_INVALID;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        log_error("http", "cannot resolve PACE_METRICS_LISTEN %s: %s", spec, gai_strerror(rc));
        return ERR_UNAVAILABLE;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        log_error("http", "cannot listen on %s (PACE_METRICS_LISTEN): %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    *fd_out = fd;
    return fd >= 0 ? OK : ERR_UNAVAILABLE;
}

int
http_metrics_listener_new(struct http_server *s)
{
    if (netlist_parse(s->opts.metrics_allow, &s->metrics_allow) != OK) {
        log_error("http", "invalid PACE_METRICS_ALLOW: must be a comma list of IP addresses and CIDR ranges");
        return ERR_INVALID;
    }
    const char *spec = s->opts.metrics_listen;
    if (spec == NULL || spec[0] == '\0')
        return OK;
    struct http_metrics_listener *m = xcalloc(1, sizeof(*m));
    int err = bind_metrics(spec, &m->fd);
    if (err != OK) {
        free(m);
        return err;
    }
    h2o_config_init(&m->conf);
    m->conf.server_name = s->conf.server_name;
    m->conf.max_request_entity_size = s->conf.max_request_entity_size;
    m->conf.http1.req_timeout = s->conf.http1.req_timeout;
    m->conf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host = h2o_config_register_host(&m->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = &host->fallback_path;
    struct handler *h = (struct handler *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = s;
    h2o_filter_t *f = h2o_create_filter(path, sizeof(*f));
    f->on_setup_ostream = http_problem_on_setup;
    http_compress_register(path);
    h2o_logger_t *lg = h2o_create_logger(path, sizeof(*lg));
    lg->log_access = http_on_log;
    s->metrics_listener = m;
    log_info("http", "metrics on %s (/metrics, /health, /ready)", spec);
    return OK;
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    struct http_metrics_listener *m = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < 8; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            /* A readable listener would wake the loop again at once: rest. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                h2o_socket_read_stop(listener);
                h2o_timeout_link(m->accept_ctx.ctx->loop, &m->backoff, &m->retry);
            }
            return;
        }
        h2o_accept(&m->accept_ctx, sock);
    }
}

static void
on_retry(h2o_timeout_entry_t *e)
{
    struct http_metrics_listener *m = H2O_STRUCT_FROM_MEMBER(struct http_metrics_listener, retry, e);
    h2o_socket_read_start(m->sock, on_accept);
}

void
http_metrics_listener_start(struct http_server *s, struct loop *L)
{
    struct http_metrics_listener *m = s->metrics_listener;
    if (m == NULL || L->index != 0)
        return;
    m->accept_ctx.ctx = &L->ctx;
    m->accept_ctx.hosts = m->conf.hosts;
    m->sock = h2o_evloop_socket_create(L->ctx.loop, m->fd, H2O_SOCKET_FLAG_DONT_READ);
    m->sock->data = m;
    h2o_timeout_init(L->ctx.loop, &m->backoff, 250);
    m->retry.cb = on_retry;
    h2o_socket_read_start(m->sock, on_accept);
}

void
http_metrics_listener_free(struct http_server *s)
{
    /* The loops have stopped (or never started). Like the API's, the
     * listener's h2o state and idle connections go with the process (see
     * http_server_free); nothing touches this struct again. */
    struct http_metrics_listener *m = s->metrics_listener;
    if (m == NULL)
        return;
    if (m->sock == NULL)
        close(m->fd);
    s->metrics_listener = NULL;
    free(m);
}
