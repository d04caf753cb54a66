/* Connections of a loop and the guards on them (docs/internals/connections.md):
 * a client that stops reading a response is cut off after the send timeout;
 * past PACE_MAX_CONNECTIONS a new connection gets a static 503 at once; out
 * of descriptors, the loop stops accepting for a while instead of spinning.
 * Invariant: all of it runs on the loop thread and never blocks; the hot
 * path pays one small allocation per connection, nothing per request. */
#include <errno.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/internal.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"

enum {
    ACCEPT_BATCH = 32,         /* connections taken per readiness of the listener */
    ACCEPT_BACKOFF_MS = 250,   /* out of descriptors: how long the listener rests */
    REFUSE_MAX_PER_LOOP = 64,  /* refused connections draining at once; more are closed at once */
    REFUSE_LINGER_MS = 1000,   /* how long a refused connection may take to read its 503 */
    SWEEP_MAX_MS = 1000,       /* the send-timeout sweep runs at least this often */
    SEND_LOG_EVERY_MS = 10000, /* one log line per loop at most this often */
    FD_LOG_EVERY_MS = 60000,   /* one "out of descriptors" line per process at most this often */
};

/* One open connection h2o serves. */
struct conn {
    h2o_linklist_t link; /* in loop->conns */
    struct loop *L;
    h2o_socket_t *sock;
    uint64_t mark;          /* progress seen at the last sweep */
    uint64_t stalled_since; /* ms on the loop's clock; 0 while not writing */
};

/* A connection refused past the cap: its 503 is sent, its writing half
 * closed; what the client still sends is read and dropped (so the close
 * does not reset the 503 away) until it closes or REFUSE_LINGER_MS pass. */
struct refused {
    h2o_linklist_t link; /* in loop->refused */
    h2o_timeout_entry_t timer;
    struct loop *L;
    h2o_socket_t *sock;
};

/* ms (monotonic) of the last "cannot accept" line, any loop: a shortage
 * that comes and goes is logged once a minute at most. */
static _Atomic uint64_t fd_shortage_logged;

/* ---- tracking ---- */

static void
on_conn_close(void *data)
{
    struct conn *c = data;
    struct loop *L = c->L;
    h2o_linklist_unlink(&c->link);
    free(c);
    L->open--;
    atomic_store_explicit(&L->open_seen, L->open, memory_order_relaxed);
}

void
http_conn_take(struct loop *L, h2o_socket_t *sock)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->L = L;
    c->sock = sock;
    h2o_linklist_insert(&L->conns, &c->link);
    L->open++;
    atomic_store_explicit(&L->open_seen, L->open, memory_order_relaxed);
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = c;
    h2o_accept(&L->accept_ctx, sock);
}

/* ---- the send timeout ---- */

/* What the peer has acknowledged of the connection's bytes: it grows while
 * the client reads, and stands still when it does not (a zero window). */
static uint64_t
bytes_acked(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return 0;
    return ti.tcpi_bytes_acked;
}

/* Ends a connection under h2o without freeing anything h2o holds: the
 * socket is shut down, so h2o's pending write fails at once and h2o closes
 * the connection its usual way; the zero linger makes that close a reset,
 * which frees what the kernel still held for the client at once. */
static void
abort_conn(struct conn *c)
{
    int fd = h2o_socket_get_fd(c->sock);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    (void)shutdown(fd, SHUT_RDWR);
    c->stalled_since = 0;
}

static void
on_sweep(h2o_timeout_entry_t *e)
{
    struct loop *L = H2O_STRUCT_FROM_MEMBER(struct loop, sweep_tick, e);
    uint64_t now = h2o_now(L->ctx.loop);
    uint64_t limit = (uint64_t)L->srv->opts.send_timeout * 1000;
    long closed = 0;
    for (h2o_linklist_t *n = L->conns.next; n != &L->conns; n = n->next) {
        struct conn *c = H2O_STRUCT_FROM_MEMBER(struct conn, link, n);
        if (!h2o_socket_is_writing(c->sock)) {
            c->stalled_since = 0;
            continue;
        }
        uint64_t mark = (uint64_t)c->sock->bytes_written + bytes_acked(h2o_socket_get_fd(c->sock));
        if (c->stalled_since == 0 || mark != c->mark) {
            c->mark = mark;
            c->stalled_since = now;
        } else if (now - c->stalled_since >= limit) {
            abort_conn(c);
            closed++;
        }
    }
    if (closed > 0) {
        atomic_fetch_add_explicit(&L->srv->send_timeouts, closed, memory_order_relaxed);
        if (L->send_timeout_logged == 0 || now - L->send_timeout_logged >= SEND_LOG_EVERY_MS) {
            L->send_timeout_logged = now;
            log_warn("http", "send timeout: closed %ld connections whose client read nothing for %d s",
                     closed, L->srv->opts.send_timeout);
        }
    }
    h2o_timeout_link(L->ctx.loop, &L->sweep, &L->sweep_tick);
}

/* ---- refusing past the cap ---- */

static void
refused_finish(struct refused *r)
{
    if (h2o_timeout_is_linked(&r->timer))
        h2o_timeout_unlink(&r->timer);
    h2o_linklist_unlink(&r->link);
    r->L->refusing--;
    h2o_socket_close(r->sock);
    free(r);
}

static void
on_refused_timeout(h2o_timeout_entry_t *e)
{
    refused_finish(H2O_STRUCT_FROM_MEMBER(struct refused, timer, e));
}

static void
on_refused_read(h2o_socket_t *sock, const char *err)
{
    struct refused *r = sock->data;
    h2o_buffer_consume(&sock->input, sock->input->size);
    if (err != NULL)
        refused_finish(r);
}

/* Answers a connection past the cap with a 503 and closes it. Returns
 * false when the accept queue is empty or accept failed (errno set). */
static bool
refuse_one(struct loop *L)
{
    int fd = accept4(L->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return false;
    char msg[768];
    size_t mlen = http_raw_problem(L, msg, sizeof(msg), 503, "Service Unavailable", "overloaded",
                                   "Overloaded", "too many connections; retry shortly", "Retry-After: 1\r\n");
    /* A new connection's send buffer takes this whole: no partial write. */
    ssize_t n = send(fd, msg, mlen, MSG_DONTWAIT | MSG_NOSIGNAL);
    atomic_fetch_add_explicit(&L->srv->refused, 1, memory_order_relaxed);
    uint64_t now = h2o_now(L->ctx.loop);
    if (L->refused_logged == 0 || now - L->refused_logged >= SEND_LOG_EVERY_MS) {
        L->refused_logged = now;
        log_warn("http", "%ld connections open on this loop (PACE_MAX_CONNECTIONS): new ones get 503",
                 L->open);
    }
    if (n < 0 || (size_t)n != mlen || L->refusing >= REFUSE_MAX_PER_LOOP || shutdown(fd, SHUT_WR) != 0) {
        close(fd);
        return true;
    }
    struct refused *r = xcalloc(1, sizeof(*r));
    r->L = L;
    r->sock = h2o_evloop_socket_create(L->ctx.loop, fd, 0);
    r->sock->data = r;
    r->timer.cb = on_refused_timeout;
    h2o_linklist_insert(&L->refused, &r->link);
    L->refusing++;
    h2o_socket_read_start(r->sock, on_refused_read);
    h2o_timeout_link(L->ctx.loop, &L->refuse_linger, &r->timer);
    return true;
}

/* ---- accepting ---- */

static bool
is_fd_shortage(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* Out of descriptors: a listener left readable would wake the loop again
 * at once, for ever. It rests ACCEPT_BACKOFF_MS, then tries again; the
 * connections wait in the kernel's accept queue meanwhile. */
static void
back_off(struct loop *L, int err)
{
    h2o_socket_read_stop(L->listener);
    h2o_timeout_link(L->ctx.loop, &L->accept_backoff, &L->accept_retry);
    atomic_fetch_add_explicit(&L->srv->accept_backoffs, 1, memory_order_relaxed);
    if (L->short_of_fds)
        return;
    L->short_of_fds = true;
    uint64_t now = clock_mono_ms(), last = atomic_load(&fd_shortage_logged);
    if ((last == 0 || now - last >= FD_LOG_EVERY_MS) &&
        atomic_compare_exchange_strong(&fd_shortage_logged, &last, now)) {
        L->shortage_logged = true;
        log_error(
            "http",
            "cannot accept connections: %s; retrying every %d ms (raise the descriptor limit, ulimit -n, "
            "or lower PACE_MAX_CONNECTIONS)",
            strerror(err), ACCEPT_BACKOFF_MS);
    }
}

static void
recovered(struct loop *L)
{
    L->short_of_fds = false;
    if (L->shortage_logged) {
        L->shortage_logged = false;
        log_info("http", "descriptors available again: accepting connections");
    }
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    struct loop *L = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        h2o_socket_t *sock = NULL;
        bool taken;
        if (L->open >= L->srv->opts.max_connections) {
            taken = refuse_one(L);
        } else {
            sock = h2o_evloop_socket_accept(listener);
            taken = sock != NULL;
        }
        if (!taken) {
            int e = errno; /* EAGAIN: the queue is empty */
            if (is_fd_shortage(e))
                back_off(L, e);
            return;
        }
        if (L->short_of_fds)
            recovered(L);
        if (sock != NULL)
            http_conn_take(L, sock);
    }
}

static void
on_accept_retry(h2o_timeout_entry_t *e)
{
    struct loop *L = H2O_STRUCT_FROM_MEMBER(struct loop, accept_retry, e);
    if (L->listener != NULL)
        h2o_socket_read_start(L->listener, on_accept);
}

void
http_conn_loop_init(struct loop *L)
{
    h2o_linklist_init_anchor(&L->conns);
    h2o_linklist_init_anchor(&L->refused);
    L->sweep_tick.cb = on_sweep;
    if (L->srv->opts.send_timeout > 0) { /* 0: none (an embedding such as the fuzz target) */
        uint64_t every = (uint64_t)L->srv->opts.send_timeout * 1000 / 4;
        h2o_timeout_init(L->ctx.loop, &L->sweep, every < SWEEP_MAX_MS ? every : SWEEP_MAX_MS);
        h2o_timeout_link(L->ctx.loop, &L->sweep, &L->sweep_tick);
    }
    h2o_timeout_init(L->ctx.loop, &L->accept_backoff, ACCEPT_BACKOFF_MS);
    L->accept_retry.cb = on_accept_retry;
    h2o_timeout_init(L->ctx.loop, &L->refuse_linger, REFUSE_LINGER_MS);
    L->listener = h2o_evloop_socket_create(L->ctx.loop, L->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    L->listener->data = L;
    h2o_socket_read_start(L->listener, on_accept);
}

void
http_conn_listener_closing(struct loop *L)
{
    if (h2o_timeout_is_linked(&L->accept_retry))
        h2o_timeout_unlink(&L->accept_retry);
    if (L->short_of_fds)
        recovered(L);
}

void
http_conn_loop_end(struct loop *L)
{
    if (h2o_timeout_is_linked(&L->sweep_tick))
        h2o_timeout_unlink(&L->sweep_tick);
    http_conn_listener_closing(L);
    while (!h2o_linklist_is_empty(&L->refused))
        refused_finish(H2O_STRUCT_FROM_MEMBER(struct refused, link, L->refused.next));
    /* Connections still open stay with h2o's context (see http_server_free);
     * their records go now. */
    while (!h2o_linklist_is_empty(&L->conns)) {
        struct conn *c = H2O_STRUCT_FROM_MEMBER(struct conn, link, L->conns.next);
        c->sock->on_close.cb = NULL;
        h2o_linklist_unlink(&c->link);
        free(c);
    }
}
