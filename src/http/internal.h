/* Shared between the files of src/http only; nothing outside includes it. */
#ifndef PACE_HTTP_INTERNAL_H
#define PACE_HTTP_INTERNAL_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "http/http.h"

/* A task for a pool: run() on a worker, then done() on the loop thread
 * that owns `owner`. Embedded in the request context; never freed by the pool. */
struct http_pool_task {
    h2o_multithread_message_t msg; /* the hand-back message */
    h2o_multithread_receiver_t *owner;
    /* Returns true when it handed t on to another pool: the worker must not
     * touch t again. */
    bool (*run)(struct http_pool_task *t);
    void (*done)(struct http_pool_task *t);
    struct http_pool_task *next;
};

/* Queues t; returns 0, or ERR_OVERLOADED when the queue is full (t untouched). */
int http_pool_submit(struct http_pool *p, struct http_pool_task *t);
/* Event loops call it after a round in which they served a request that
 * no yielding pool runs (see http_pool_yield_to_loops). */
void http_pool_note_loop_work(void);
/* The receiver callback a loop registers for pool completions. */
void http_pool_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* Request metrics, one shard per loop thread (written only by its thread). */
void http_metrics_init(const struct http_router *rt, int nshards);
void http_metrics_cleanup(void);
/* route_index == SIZE_MAX for requests no route matched. */
void http_metrics_observe(int shard, size_t route_index, int status, double seconds);
void http_metrics_set_server(struct http_server *s);
/* Renders the server's gauges: in flight, connections, pool depths. */
void http_server_metrics(const struct http_server *s, struct buf *out);

/* The h2o loop of the calling loop thread, or NULL on other threads. */
h2o_loop_t *http_this_loop(void);

/* Lingering close (linger.c), one per loop thread. */
struct http_linger {
    h2o_loop_t *loop;
    h2o_timeout_t timeout;
    h2o_linklist_t open; /* connections armed or draining */
    int count;
};
void http_linger_init(struct http_linger *lg, h2o_loop_t *loop);
/* For an HTTP/1 answer after which h2o closes the connection with the
 * request body unread: keep the connection open after h2o's close, drop
 * what the client still sends, then close (see linger.c). */
void http_linger_arm(struct http_linger *lg, h2o_req_t *req);
/* At loop exit: closes every lingering connection. */
void http_linger_close_all(struct http_linger *lg);

#endif
