/* The server: one event loop per thread, each with its own SO_REUSEPORT
 * listener; connections, the drain on SIGTERM, start and stop, and the
 * server's gauges. A request's context is in request.c, dispatch to its
 * handler in dispatch.c. Invariant: an event loop never blocks. */
#include <errno.h>
#include <linux/filter.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "http/internal.h"
#include "http/negotiate.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

enum {
    POOL_RETRY_MS = 20,      /* how often a request waiting on a full pool looks again */
    LISTENER_GRACE_MS = 250, /* the drain: handshakes the kernel already answered complete meanwhile */
    DRAIN_POLL_MS = 10,      /* how often the signal thread looks at a drain's progress */
};

static _Thread_local struct loop *this_loop;
/* The running server, for work posted from other threads; NULL once it stops. */
static _Atomic(struct http_server *) running;

struct loop *
http_loop_here(void)
{
    return this_loop;
}

h2o_loop_t *
http_this_loop(void)
{
    return this_loop != NULL ? this_loop->ctx.loop : NULL;
}

/* ---- connections: accepting them and the guards on them are in conn.c ---- */

/* The drain, step one for a listener: the kernel stops answering new
 * connections (their SYNs are dropped; the client's retry finds the port
 * closed and goes elsewhere) while handshakes it already answered still
 * complete. Closing a listener at once would reset the connections in its
 * accept queue, which a client already counts as sent. A socket filter on
 * a TCP socket sees the TCP header at offset 0: byte 13 holds the flags. */
static void
refuse_new_handshakes(int fd)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),       /* SYN | ACK */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1), /* a bare SYN: a new connection */
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
        log_warn("http", "cannot filter new connections during the drain: %s", strerror(errno));
}

/* Step two, LISTENER_GRACE_MS later: takes what the accept queue holds,
 * then closes the listener. */
static void
on_listener_close(h2o_timeout_entry_t *e)
{
    struct loop *L = H2O_STRUCT_FROM_MEMBER(struct loop, listener_close, e);
    h2o_socket_t *sock;
    while ((sock = h2o_evloop_socket_accept(L->listener)) != NULL)
        http_conn_take(L, sock);
    http_conn_listener_closing(L);
    h2o_socket_read_stop(L->listener);
    h2o_socket_close(L->listener);
    L->listener = NULL;
    atomic_fetch_sub(&L->srv->listening, 1);
}

static void
on_ctl(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct loop *L = H2O_STRUCT_FROM_MEMBER(struct loop, ctl_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        struct ctl_msg *cm = (struct ctl_msg *)m;
        if (cm->kind == CTL_DRAIN && !L->draining) {
            /* Requests whose headers arrive from now on get Connection:
             * close from h2o; those already under way get it from the
             * response filter (request.c), which looks at L->draining. */
            L->draining = true;
            h2o_context_request_shutdown(&L->ctx);
            refuse_new_handshakes(L->listen_fd);
            h2o_timeout_link(L->ctx.loop, &L->listener_grace, &L->listener_close);
        } else if (cm->kind == CTL_STOP) {
            L->stop = true;
        }
    }
}

static void *
loop_main(void *arg)
{
    struct loop *L = arg;
    struct http_server *s = L->srv;
    h2o_context_init(&L->ctx, h2o_evloop_create(), &s->conf);
    L->accept_ctx.ctx = &L->ctx;
    L->accept_ctx.hosts = s->conf.hosts;
    L->queue = h2o_multithread_create_queue(L->ctx.loop);
    h2o_multithread_register_receiver(L->queue, &L->pool_receiver, http_pool_on_done);
    h2o_multithread_register_receiver(L->queue, &L->ctl_receiver, on_ctl);
    h2o_multithread_register_receiver(L->queue, &L->post_receiver, http_on_post);
    h2o_timeout_init(L->ctx.loop, &L->pool_retry, POOL_RETRY_MS);
    h2o_timeout_init(L->ctx.loop, &L->listener_grace, LISTENER_GRACE_MS);
    L->listener_close.cb = on_listener_close;
    h2o_linklist_init_anchor(&L->pool_waiting);
    L->pool_tick.cb = http_on_pool_tick;
    http_linger_init(&L->linger, L->ctx.loop);
    http_conn_loop_init(L);
    http_metrics_listener_start(s, L); /* the first loop's (metrics_listener.c) */
    this_loop = L;
    pthread_barrier_wait(&s->ready);

    while (!L->stop) {
        h2o_evloop_run(L->ctx.loop, INT32_MAX);
        if (L->served) {
            L->served = false;
            http_pool_note_loop_work();
        }
        if (s->opts.on_round != NULL)
            s->opts.on_round(s->opts.on_round_arg);
        log_flush();
    }
    if (h2o_timeout_is_linked(&L->listener_close))
        h2o_timeout_unlink(&L->listener_close);
    http_linger_close_all(&L->linger);
    http_conn_loop_end(L);
    if (s->opts.on_loop_end != NULL)
        s->opts.on_loop_end(s->opts.on_round_arg);
    this_loop = NULL;
    log_thread_cleanup();
    return NULL;
}

/* ---- start and stop ---- */

/* A listening socket for o's address into *fd; OK or ERR_UNAVAILABLE
 * (logged). */
static int
bind_listener(const struct http_server_opts *o, int *fd_out)
{
    *fd_out = -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST},
                    *ai = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%d", o->port);
    int rc = getaddrinfo(o->host, port, &hints, &ai);
    if (rc != 0) {
        hints.ai_flags = 0;
        rc = getaddrinfo(o->host, port, &hints, &ai);
    }
    if (rc != 0) {
        log_error("http", "cannot resolve listen address %s: %s", o->host, gai_strerror(rc));
        return ERR_UNAVAILABLE;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        log_error("http", "cannot listen on %s:%d: %s", o->host, o->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    *fd_out = fd;
    return fd >= 0 ? OK : ERR_UNAVAILABLE;
}

struct http_server *
http_server_start(const struct http_server_opts *opts, const struct http_router *rt, http_auth_fn *auth)
{
    struct http_server *s = xcalloc(1, sizeof(*s));
    s->opts = *opts;
    s->rt = rt;
    s->auth = auth;
    s->nloops = opts->threads;
    if (http_cors_init(s) != OK) { /* cors.c */
        free(s);
        return NULL;
    }
    if (s->opts.web && !http_web_built()) {
        log_info("http", "PACE_WEB=on, but this pace was built without web assets (-DPACE_WEB_ASSETS=OFF): "
                         "/app/ and /docs are not served");
        s->opts.web = false;
    }

    h2o_config_init(&s->conf);
    s->conf.server_name = h2o_iovec_init(H2O_STRLIT("pace"));
    s->conf.max_request_entity_size = (size_t)opts->max_body_bytes;
    s->conf.http1.req_timeout = (uint64_t)opts->request_timeout * 1000;
    s->conf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host = h2o_config_register_host(&s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    /* Everything lives on the fallback path: h2o's own error responses
     * (413 and friends) are bound to it too, so they pass the same filter
     * and logger as ours. */
    h2o_pathconf_t *path = &host->fallback_path;
    struct handler *h = (struct handler *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = http_on_req;
    h->srv = s;
    h2o_filter_t *f = h2o_create_filter(path, sizeof(*f));
    f->on_setup_ostream = http_problem_on_setup;
    http_compress_register(path); /* negotiate.c */
    h2o_logger_t *lg = h2o_create_logger(path, sizeof(*lg));
    lg->log_access = http_on_log;
    if (http_metrics_listener_new(s) != OK) { /* metrics_listener.c */
        h2o_config_dispose(&s->conf);
        http_cors_free(s);
        free(s);
        return NULL;
    }

    http_metrics_init(rt, s->nloops);
    http_metrics_set_server(s);

    s->loops = xcalloc((size_t)s->nloops, sizeof(*s->loops));
    for (int i = 0; i < s->nloops; i++) {
        struct loop *L = &s->loops[i];
        L->srv = s;
        L->index = i;
        randombytes_buf(&L->rng, sizeof(L->rng));
        L->ctl[0].kind = CTL_DRAIN;
        L->ctl[1].kind = CTL_STOP;
        if (bind_listener(opts, &L->listen_fd) != OK) {
            for (int j = 0; j < i; j++)
                close(s->loops[j].listen_fd);
            free(s->loops);
            http_metrics_cleanup();
            http_metrics_listener_free(s);
            h2o_config_dispose(&s->conf);
            http_cors_free(s);
            free(s);
            return NULL;
        }
    }

    /* Loops block the signals; the thread in http_server_run_until_signal
     * takes them with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    atomic_store(&s->listening, s->nloops);
    pthread_barrier_init(&s->ready, NULL, (unsigned)s->nloops + 1);
    for (int i = 0; i < s->nloops; i++)
        h2o_multithread_create_thread(&s->loops[i].tid, NULL, loop_main, &s->loops[i]);
    pthread_barrier_wait(&s->ready);
    atomic_store(&running, s);
    log_info("http", "listening on %s:%d with %d event loops", opts->host, opts->port, s->nloops);
    return s;
}

bool
http_server_post(h2o_multithread_message_t *m)
{
    struct http_server *s = atomic_load(&running);
    if (s == NULL)
        return false;
    unsigned i = atomic_fetch_add_explicit(&s->next_post, 1, memory_order_relaxed) % (unsigned)s->nloops;
    h2o_multithread_send_message(&s->loops[i].post_receiver, m);
    return true;
}

static void
broadcast(struct http_server *s, enum ctl_kind kind)
{
    for (int i = 0; i < s->nloops; i++)
        h2o_multithread_send_message(&s->loops[i].ctl_receiver, &s->loops[i].ctl[kind].msg);
}

bool
http_server_draining(void)
{
    struct http_server *s = atomic_load(&running);
    return s == NULL || atomic_load(&s->draining);
}

/* Waits up to timeout_ms (-1: for ever) for SIGTERM or SIGINT, which every
 * thread blocks; returns the signal, or 0 at the timeout. */
static int
wait_signal(long timeout_ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    for (;;) {
        int sig = 0;
        if (timeout_ms < 0) {
            if (sigwait(&set, &sig) == 0)
                return sig;
            continue;
        }
        struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
        sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0)
            return sig;
        if (errno == EAGAIN)
            return 0;
        /* EINTR: a signal outside the set; wait again (the deadline is loose by design) */
    }
}

static long
connections_open(const struct http_server *s)
{
    long open = 0;
    for (int i = 0; i < s->nloops; i++)
        open += atomic_load_explicit(&s->loops[i].open_seen, memory_order_relaxed);
    return open;
}

bool
http_server_run_until_signal(struct http_server *s)
{
    int sig = wait_signal(-1);
    atomic_store(&s->draining, true);
    const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    if (s->opts.drain_seconds > 0) {
        log_info("http", "received %s: /ready answers 503 for %d s while requests are still served", name,
                 s->opts.drain_seconds);
        if (wait_signal((long)s->opts.drain_seconds * 1000) != 0)
            log_info("http", "a second signal: closing the listeners now");
    }
    log_info("http",
             "%s%s: closing the listeners; %ld requests in flight and %ld connections get up to %d s to "
             "finish",
             s->opts.drain_seconds > 0 ? "" : "received ", s->opts.drain_seconds > 0 ? "drained" : name,
             atomic_load(&s->in_flight), connections_open(s), s->opts.shutdown_timeout);
    broadcast(s, CTL_DRAIN);

    /* Wait until every request has been answered and its response written,
     * and every connection has closed (see http.h). */
    bool drained = true;
    int64_t deadline = clock_mono_ms() + (int64_t)s->opts.shutdown_timeout * 1000;
    while (atomic_load(&s->active) > 0 || atomic_load(&s->listening) > 0 || connections_open(s) > 0) {
        bool late = clock_mono_ms() >= deadline;
        if (!late && wait_signal(DRAIN_POLL_MS) != 0) {
            log_info("http", "another signal: stopping now");
            late = true;
        }
        if (late) {
            long active = atomic_load(&s->active);
            if (active > 0) {
                log_warn("http", "shutdown timeout: %ld requests still in flight", active);
                drained = false;
            } else {
                log_info("http", "closing %ld idle connections", connections_open(s));
            }
            break;
        }
    }
    atomic_store(&running, NULL);
    broadcast(s, CTL_STOP);
    for (int i = 0; i < s->nloops; i++)
        pthread_join(s->loops[i].tid, NULL);
    return drained;
}

void
http_server_free(struct http_server *s)
{
    if (s == NULL)
        return;
    /* The loops have stopped. Idle keep-alive connections may still hold
     * timers and sockets in h2o's contexts, which h2o cannot dispose of
     * under them, so the contexts and the h2o configuration go with the
     * process (tests/lsan.supp); only pace's own state is freed here. */
    http_metrics_set_server(NULL);
    http_metrics_cleanup();
    http_metrics_listener_free(s);
    http_cors_free(s);
    free(s->loops);
    pthread_barrier_destroy(&s->ready);
    free(s);
}

void
http_server_metrics(const struct http_server *s, struct buf *out)
{
    long open = connections_open(s);
    buf_printf(out,
               "# HELP pace_http_draining 1 from SIGTERM on: /ready answers 503 and the listeners close.\n"
               "# TYPE pace_http_draining gauge\n"
               "pace_http_draining %d\n",
               atomic_load(&s->draining) ? 1 : 0);
    buf_printf(
        out,
        "# HELP pace_http_requests_in_flight Requests received and not yet answered.\n"
        "# TYPE pace_http_requests_in_flight gauge\n"
        "pace_http_requests_in_flight %ld\n"
        "# HELP pace_http_connections_open Client connections open.\n"
        "# TYPE pace_http_connections_open gauge\n"
        "pace_http_connections_open %ld\n"
        "# HELP pace_http_requests_abandoned_total Requests whose connection went away while their work "
        "was pending.\n"
        "# TYPE pace_http_requests_abandoned_total counter\n"
        "pace_http_requests_abandoned_total %ld\n",
        atomic_load_explicit(&s->in_flight, memory_order_relaxed), open,
        atomic_load_explicit(&s->abandoned, memory_order_relaxed));
    buf_printf(
        out,
        "# HELP pace_http_send_timeouts_total Connections closed because their client read nothing of a "
        "response for PACE_SEND_TIMEOUT seconds.\n"
        "# TYPE pace_http_send_timeouts_total counter\n"
        "pace_http_send_timeouts_total %ld\n"
        "# HELP pace_http_connections_refused_total Connections answered 503 at once because their loop "
        "had PACE_MAX_CONNECTIONS open.\n"
        "# TYPE pace_http_connections_refused_total counter\n"
        "pace_http_connections_refused_total %ld\n"
        "# HELP pace_http_accept_backoffs_total Times a listener stopped accepting for 250 ms because the "
        "process was out of file descriptors.\n"
        "# TYPE pace_http_accept_backoffs_total counter\n"
        "pace_http_accept_backoffs_total %ld\n",
        atomic_load_explicit(&s->send_timeouts, memory_order_relaxed),
        atomic_load_explicit(&s->refused, memory_order_relaxed),
        atomic_load_explicit(&s->accept_backoffs, memory_order_relaxed));
    struct http_pool *pools[] = {s->opts.hash_pool, s->opts.blocking_pool};
    buf_appends(out, "# HELP pace_pool_queue_depth Tasks waiting for a pool thread.\n"
                     "# TYPE pace_pool_queue_depth gauge\n");
    for (size_t i = 0; i < 2; i++)
        if (pools[i] != NULL)
            buf_printf(out, "pace_pool_queue_depth{pool=\"%s\"} %zu\n", http_pool_name(pools[i]),
                       http_pool_depth(pools[i]));
    buf_appends(out, "# HELP pace_pool_queue_capacity Most tasks that may wait; more are refused with 503.\n"
                     "# TYPE pace_pool_queue_capacity gauge\n");
    for (size_t i = 0; i < 2; i++)
        if (pools[i] != NULL)
            buf_printf(out, "pace_pool_queue_capacity{pool=\"%s\"} %zu\n", http_pool_name(pools[i]),
                       http_pool_capacity(pools[i]));
}
