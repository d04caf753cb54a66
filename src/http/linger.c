/* Lingering close for HTTP/1 connections h2o ends with a request body
 * unread (413 body_too_large, 400 broken chunked encoding).
 *
 * h2o 2.2.5 answers such a request and then closes the socket at once. A
 * close with unread bytes in the receive queue makes the kernel send a
 * reset, and a client still writing its body gets "connection reset"
 * instead of the 413 the server sent it. Like nginx's lingering_close, pace
 * keeps its side open for a while after the answer: it ends its writing
 * half (the client reads the answer and then end of stream) and reads and
 * drops what the client still sends, until the client closes, LINGER_MS
 * pass or LINGER_MAX_BYTES were dropped.
 *
 * h2o owns the connection's descriptor until it closes it, so the response
 * filter that sees such an answer (server.c) arms a lingering close: a
 * duplicate of the descriptor keeps the connection open when h2o closes
 * its own, and the socket's close callback hands the duplicate to this
 * loop to drain. */
#include "http/internal.h"
#include "util/alloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINGER_MS           5000
#define LINGER_MAX_BYTES    (64L * 1024 * 1024)
#define LINGER_MAX_PER_LOOP 256

struct lingering {
    h2o_linklist_t link;
    h2o_timeout_entry_t timer;
    struct http_linger *lg;
    int fd;                      /* the duplicate; -1 once a socket owns it */
    h2o_socket_t *owner;         /* h2o's socket, until h2o closes it */
    h2o_socket_t *sock;          /* the draining socket, once h2o closed its own */
    void (*chained)(void *data); /* the owner's previous close callback */
    void *chained_data;
    long dropped;
};

void
http_linger_init(struct http_linger *lg, h2o_loop_t *loop)
{
    lg->loop = loop;
    h2o_timeout_init(loop, &lg->timeout, LINGER_MS);
    h2o_linklist_init_anchor(&lg->open);
    lg->count = 0;
}

static void
finish(struct lingering *e)
{
    if (h2o_timeout_is_linked(&e->timer))
        h2o_timeout_unlink(&e->timer);
    h2o_linklist_unlink(&e->link);
    e->lg->count--;
    if (e->sock != NULL)
        h2o_socket_close(e->sock);
    else if (e->fd >= 0)
        close(e->fd);
    free(e);
}

static void
on_timeout(h2o_timeout_entry_t *entry)
{
    finish(H2O_STRUCT_FROM_MEMBER(struct lingering, timer, entry));
}

static void
on_read(h2o_socket_t *sock, const char *err)
{
    struct lingering *e = sock->data;
    e->dropped += (long)sock->input->size;
    h2o_buffer_consume(&sock->input, sock->input->size);
    if (err != NULL || e->dropped > LINGER_MAX_BYTES)
        finish(e);
}

/* h2o has closed its descriptor; the duplicate holds the connection open. */
static void
on_h2o_close(void *data)
{
    struct lingering *e = data;
    e->owner = NULL;
    if (e->chained != NULL)
        e->chained(e->chained_data);
    if (shutdown(e->fd, SHUT_WR) != 0) {
        finish(e); /* the peer is gone already */
        return;
    }
    e->sock = h2o_evloop_socket_create(e->lg->loop, e->fd, 0);
    e->fd = -1;
    e->sock->data = e;
    h2o_socket_read_start(e->sock, on_read);
    h2o_timeout_link(e->lg->loop, &e->lg->timeout, &e->timer);
}

void
http_linger_arm(struct http_linger *lg, h2o_req_t *req)
{
    if (req->version >= 0x200 || req->http1_is_persistent || lg->count >= LINGER_MAX_PER_LOOP ||
        req->conn->callbacks->get_socket == NULL)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->on_close.cb == on_h2o_close)
        return;
    int fd = fcntl(h2o_socket_get_fd(sock), F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return; /* out of descriptors: h2o closes as it would have */
    struct lingering *e = xcalloc(1, sizeof(*e));
    e->lg = lg;
    e->fd = fd;
    e->owner = sock;
    e->timer.cb = on_timeout;
    e->chained = sock->on_close.cb;
    e->chained_data = sock->on_close.data;
    sock->on_close.cb = on_h2o_close;
    sock->on_close.data = e;
    h2o_linklist_insert(&lg->open, &e->link);
    lg->count++;
}

void
http_linger_close_all(struct http_linger *lg)
{
    while (!h2o_linklist_is_empty(&lg->open)) {
        struct lingering *e = H2O_STRUCT_FROM_MEMBER(struct lingering, link, lg->open.next);
        if (e->owner != NULL) { /* h2o has not closed its socket: give it back its callback */
            e->owner->on_close.cb = e->chained;
            e->owner->on_close.data = e->chained_data;
        }
        finish(e);
    }
}
