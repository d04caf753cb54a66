/* The loops' poller lent to clients of other servers (util/loopio.h: the
 * store's PostgreSQL connections and the Redis connections on the loops).
 * h2o's poller watches a duplicate of the descriptor without reading from
 * it (the client library reads), and a per-thread 10 ms timer ticks
 * watches armed with tick (the clients' deadlines). Work posted from other
 * threads goes to the loops in turn through h2o's multithread queue. */
#include "http/internal.h"
#include "util/alloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define TICK_MS 10

struct watch {
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
    struct watch *w = sock->data;
    w->ready(w->arg);
}

static void
on_writable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    struct watch *w = sock->data;
    w->write = false;
    w->ready(w->arg);
}

static void
on_tick(h2o_timeout_entry_t *e)
{
    struct watch *w = H2O_STRUCT_FROM_MEMBER(struct watch, tick, e);
    h2o_timeout_link(http_this_loop(), &tick_timeout, &w->tick);
    w->ready(w->arg);
}

static void *
watch_fd(int fd, void (*ready)(void *arg), void *arg)
{
    h2o_loop_t *loop = http_this_loop();
    if (loop == NULL || fd < 0)
        return NULL;
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0)
        return NULL;
    struct watch *w = xcalloc(1, sizeof(*w));
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

static void
watch_arm(void *arg, bool write, bool tick)
{
    struct watch *w = arg;
    if (write && !w->write) {
        w->write = true;
        h2o_socket_notify_write(w->sock, on_writable);
    }
    if (tick && !h2o_timeout_is_linked(&w->tick))
        h2o_timeout_link(http_this_loop(), &tick_timeout, &w->tick);
    else if (!tick && h2o_timeout_is_linked(&w->tick))
        h2o_timeout_unlink(&w->tick);
}

static void
watch_close(void *arg)
{
    struct watch *w = arg;
    if (w == NULL)
        return;
    if (h2o_timeout_is_linked(&w->tick))
        h2o_timeout_unlink(&w->tick);
    h2o_socket_close(w->sock); /* closes the duplicate, not the client's descriptor */
    free(w);
}

/* ---- work posted from other threads ---- */

struct post_msg {
    h2o_multithread_message_t msg; /* first */
    void (*fn)(void *arg);
    void *arg;
};

void
http_on_post(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        struct post_msg *m =
            (struct post_msg *)H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->msg.link);
        m->fn(m->arg);
        free(m);
    }
}

static bool
post(void (*fn)(void *arg), void *arg)
{
    struct post_msg *m = xcalloc(1, sizeof(*m));
    m->fn = fn;
    m->arg = arg;
    if (!http_server_post(&m->msg)) {
        free(m);
        return false;
    }
    return true;
}

static bool
on_loop(void)
{
    return http_loop_here() != NULL;
}

static const struct loop_io io = {watch_fd, watch_arm, watch_close, post, on_loop};

const struct loop_io *
http_loop_io(void)
{
    return &io;
}
