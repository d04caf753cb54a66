/* Descriptors watched on a loop thread for clients of other servers (the
 * store's PostgreSQL connections on the loops). h2o's poller watches a
 * duplicate of the descriptor without reading from it (the client library
 * reads), and a per-thread 100 ms timer ticks watches armed with tick (the
 * client's deadlines). */
#include "http/internal.h"
#include "util/alloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define TICK_MS 100

struct http_watch {
    h2o_socket_t *sock;
    h2o_timeout_entry_t tick;
    void (*ready)(void *arg);
    void *arg;
    bool write; /* a write notification is pending in h2o */
};

static _Thread_local h2o_timeout_t tick_timeout;
static _Thread_local bool tick_ready;

static void
on_readable(h2o_socket_t *sock, const char *err)
{
    (void)err; /* errors show as readiness: the client library finds them */
    struct http_watch *w = sock->data;
    w->ready(w->arg);
}

static void
on_writable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    struct http_watch *w = sock->data;
    w->write = false;
    w->ready(w->arg);
}

static void
on_tick(h2o_timeout_entry_t *e)
{
    struct http_watch *w = H2O_STRUCT_FROM_MEMBER(struct http_watch, tick, e);
    h2o_timeout_link(http_this_loop(), &tick_timeout, &w->tick);
    w->ready(w->arg);
}

struct http_watch *
http_watch_fd(int fd, void (*ready)(void *arg), void *arg)
{
    h2o_loop_t *loop = http_this_loop();
    if (loop == NULL || fd < 0)
        return NULL;
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0)
        return NULL;
    struct http_watch *w = xcalloc(1, sizeof(*w));
    if (!tick_ready) {
        h2o_timeout_init(loop, &tick_timeout, TICK_MS);
        tick_ready = true;
    }
    w->sock = h2o_evloop_socket_create(loop, dup, H2O_SOCKET_FLAG_DONT_READ);
    w->sock->data = w;
    w->tick.cb = on_tick;
    w->ready = ready;
    w->arg = arg;
    h2o_socket_read_start(w->sock, on_readable);
    return w;
}

void
http_watch_arm(struct http_watch *w, bool write, bool tick)
{
    if (write && !w->write) {
        w->write = true;
        h2o_socket_notify_write(w->sock, on_writable);
    }
    if (tick && !h2o_timeout_is_linked(&w->tick))
        h2o_timeout_link(http_this_loop(), &tick_timeout, &w->tick);
    else if (!tick && h2o_timeout_is_linked(&w->tick))
        h2o_timeout_unlink(&w->tick);
}

void
http_watch_close(struct http_watch *w)
{
    if (w == NULL)
        return;
    if (h2o_timeout_is_linked(&w->tick))
        h2o_timeout_unlink(&w->tick);
    h2o_socket_close(w->sock); /* closes the duplicate, not the client's descriptor */
    free(w);
}
