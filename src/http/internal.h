/* Shared between the files of src/http only; nothing outside includes it. */
#ifndef PACE_HTTP_INTERNAL_H
#define PACE_HTTP_INTERNAL_H

#define H2O_USE_LIBUV 0
#include <stdatomic.h>

#include <h2o.h>

#include "http/http.h"
#include "util/netlist.h"

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

/* ---- the server, its loops and its requests (server.c, request.c, dispatch.c) ---- */

enum ctl_kind { CTL_DRAIN, CTL_STOP };

struct ctl_msg {
    h2o_multithread_message_t msg;
    enum ctl_kind kind;
};

/* Lingering close (linger.c), one per loop thread. */
struct http_linger {
    h2o_loop_t *loop;
    h2o_timeout_t timeout;
    h2o_linklist_t open; /* connections armed or draining */
    int count;
};

/* One event loop thread. Its members are touched by that thread only,
 * except the atomics. */
struct loop {
    struct http_server *srv;
    int index;
    pthread_t tid;
    int listen_fd;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_timeout_t listener_grace;       /* the drain: handshakes under way complete */
    h2o_timeout_entry_t listener_close; /* then the listener closes */
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t pool_receiver;
    h2o_multithread_receiver_t ctl_receiver;
    h2o_multithread_receiver_t post_receiver; /* work other threads post (watch.c) */
    h2o_linklist_t pool_waiting; /* requests waiting for room in a full pool queue, oldest first */
    h2o_timeout_t pool_retry;
    h2o_timeout_entry_t pool_tick; /* linked while pool_waiting is not empty */
    uint64_t pool_full_logged;     /* ms: the last "queue full" warning (one a second) */
    struct http_linger linger;     /* connections closed after an unread body */
    struct ctl_msg ctl[2];
    long open;   /* connections; written by this loop only */
    bool served; /* this round served a request of no yielding pool */
    atomic_long open_seen;
    /* conn.c: the connections, the send-timeout sweep, refusals past the
     * cap, the listener's rest when descriptors run out */
    h2o_linklist_t conns; /* struct conn of every connection h2o serves */
    h2o_timeout_t sweep;
    h2o_timeout_entry_t sweep_tick;
    uint64_t send_timeout_logged; /* ms */
    h2o_linklist_t refused;       /* refused connections reading their 503 */
    h2o_timeout_t refuse_linger;
    int refusing;
    uint64_t refused_logged; /* ms */
    h2o_timeout_t accept_backoff;
    h2o_timeout_entry_t accept_retry;
    bool short_of_fds;    /* accept failed for want of a descriptor; resting */
    bool shortage_logged; /* this loop logged the shortage: it logs the recovery */
    bool draining;
    bool stop;
    uint64_t rng; /* request-id generator state */
};

struct http_server {
    struct http_server_opts opts;
    const struct http_router *rt;
    http_auth_fn *auth;
    h2o_globalconf_t conf;
    struct loop *loops;
    int nloops;
    atomic_long in_flight; /* received, not yet answered (the metric) */
    atomic_long active;    /* contexts alive: answered requests still being written count too */
    atomic_long abandoned; /* requests whose connection went away while their work was pending */
    atomic_uint next_post; /* the loop that gets the next posted message */
    atomic_bool draining;  /* a signal came: /ready answers 503 */
    atomic_int listening;  /* loops whose listener is still open */
    pthread_barrier_t ready;

    /* Who may read /metrics (metrics_listener.c). */
    struct netlist metrics_allow;                   /* PACE_METRICS_ALLOW */
    struct http_metrics_listener *metrics_listener; /* NULL unless PACE_METRICS_LISTEN */

    /* PACE_CORS_ORIGINS, parsed (cors.c) */
    char **cors;
    size_t ncors;

    /* conn.c's counters */
    atomic_long send_timeouts;   /* connections closed by the send timeout */
    atomic_long refused;         /* connections answered 503 past the cap */
    atomic_long accept_backoffs; /* times a listener rested for want of a descriptor */
};

/* One per request (request.c). Lifetime: it is created with h2o's request
 * and normally freed with it. While work of the request is pending on
 * another thread or on the store (pending: a pool task, or a stage started
 * without waiting), h2o may not free it: when h2o disposes of the request
 * then (the connection died), reqctx_detach is the request's cancel path:
 * it forgets h2o's request and leaves the context to the pending work,
 * whose completion (dispatch.c) frees it instead of replying. Touched by
 * one thread at a time: the loop, or the pool worker running a stage. */
struct reqctx {
    struct http_req r; /* first: handlers' pointer converts back */
    h2o_req_t *req;    /* NULL once h2o has disposed of the request */
    struct loop *loop;
    size_t route_index;
    bool counted;   /* contributes to active (until freed) */
    bool in_flight; /* contributes to in_flight (until answered or freed) */
    bool pending;   /* work runs elsewhere; its completion comes back to the loop */
    struct http_pool_task task;
    http_handler_fn *then;         /* the next stage after the hash pool: http_req_then */
    int64_t db_start;              /* clock_mono_ms() when its database work started waiting */
    int stage_err;                 /* a staged handler's result, for its reply */
    bool in_start;                 /* inside a stage's start: a completion now is synchronous */
    bool done_early;               /* the completion came while in_start */
    struct http_pool *waiting_for; /* full pool this request waits on, or NULL */
    uint64_t wait_until;           /* ms on the loop's clock */
    h2o_linklist_t waiting;        /* in loop->pool_waiting */
    const void *body_static;       /* when set: the body, borrowed (web.c's embedded files), not r.out */
    size_t body_static_len;
    unsigned char web_class; /* enum http_web_class of the path (its security headers) */
};

/* The h2o handler that dispatches every request. */
struct handler {
    h2o_handler_t super;
    struct http_server *srv;
};

/* PACE_METRICS_ALLOW and PACE_METRICS_LISTEN (metrics_listener.c): parses
 * the list and binds the listener; OK, or ERR_INVALID/ERR_UNAVAILABLE
 * (logged). start runs on the first loop: the listener's connections are
 * its. */
int http_metrics_listener_new(struct http_server *s);
void http_metrics_listener_start(struct http_server *s, struct loop *L);
void http_metrics_listener_free(struct http_server *s);

/* The loop of the calling thread (NULL elsewhere). */
struct loop *http_loop_here(void);
struct loop *http_loop_of(h2o_req_t *req);

/* request.c */
struct reqctx *reqctx_new(h2o_req_t *req, struct loop *L, bool counted);
struct reqctx *reqctx_find(h2o_req_t *req);
/* Frees a context whose h2o request is gone and whose work has completed. */
void reqctx_free(struct reqctx *c);
/* Sends r's reply on c's connection; frees c instead when the connection
 * went away meanwhile. */
void http_send_response(struct reqctx *c);
/* Checks and parses the body of a ROUTE_JSON request; false after replying. */
bool http_parse_body(struct reqctx *c);
void http_on_log(h2o_logger_t *self, h2o_req_t *req);
void http_problem_on_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot);
/* The request-id generator's step (splitmix64). */
uint64_t http_splitmix(uint64_t *s);
/* A fresh request id into id (HTTP_REQUEST_ID_MAX + 1 bytes): 26
 * characters of base32 from 128 random bits of L's generator. */
void http_request_id_new(struct loop *L, char *id);
/* A whole problem+json answer written outside h2o (to a connection h2o
 * never parsed): status line, the headers every answer carries, a fresh
 * request id, Connection: close, then `extra` (complete header lines or
 * ""). Returns its length, or 0 when it does not fit in cap. */
size_t http_raw_problem(struct loop *L, char *out, size_t cap, int status, const char *reason,
                        const char *code, const char *title, const char *detail, const char *extra);

/* Sends a posted message to the next loop in turn; false when no server
 * runs or it is stopping (server.c). */
bool http_server_post(h2o_multithread_message_t *m);
/* The receiver callback of posted work (watch.c). */
void http_on_post(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* framing.c: the raw request head, parsed again (see the file's comment). */
struct http_framing {
    size_t head_len; /* request line and headers, with the blank line */
    const char *target;
    size_t target_len;
    int minor_version;
};
/* Checks the head at buf (len bytes or more: what follows it is ignored).
 * Returns NULL when its framing is unambiguous, else why not (a constant
 * string for the problem's detail). Fills f either way. */
const char *http_framing_check(const char *buf, size_t len, struct http_framing *f);
/* An absolute-form target (http://authority/path?query) split in place;
 * false when target is not one or its authority is not a valid host. */
struct http_framing_target {
    const char *authority, *path; /* path may be empty: it means "/" */
    size_t authority_len, path_len;
};
bool http_framing_split_absolute(const char *target, size_t len, struct http_framing_target *t);

/* cors.c: PACE_CORS_ORIGINS parsed into s->cors; OK, or ERR_INVALID
 * (logged) for an entry that is not an exact origin. */
int http_cors_init(struct http_server *s);
void http_cors_free(struct http_server *s);
/* Before sending: Vary: Origin (CORS on), and for a listed Origin the
 * CORS headers of an answer. */
void http_cors_headers(struct reqctx *c);
/* A preflight (OPTIONS with Access-Control-Request-Method): answered (204
 * for a listed origin, else 403); true when it was one. */
bool http_cors_preflight(struct reqctx *c);

/* web.c: the web client (/app/) and the API reference (/docs). */
enum http_web_class { HTTP_WEB_NONE, HTTP_WEB_APP, HTTP_WEB_DOCS };
/* Whether the binary carries web assets (not built with PACE_WEB_ASSETS=OFF). */
bool http_web_built(void);
/* The class of a path: the client's (/, /app, /app/...), the reference's
 * (/docs, /docs/...), or neither (the API and the rest). */
enum http_web_class http_web_class_of(const char *path, size_t n);
/* Answers a request whose path is of the client's or the reference's. */
void http_web_serve(struct reqctx *c);

/* dispatch.c */
int http_on_req(h2o_handler_t *self, h2o_req_t *req);
void http_on_pool_tick(h2o_timeout_entry_t *e);

/* conn.c: sets up L's connection guards and starts its listener. */
void http_conn_loop_init(struct loop *L);
/* Counts sock as one of L's connections and hands it to h2o. */
void http_conn_take(struct loop *L, h2o_socket_t *sock);
/* The drain closes L's listener: no more accept retries. */
void http_conn_listener_closing(struct loop *L);
/* At loop exit (after http_linger_close_all). */
void http_conn_loop_end(struct loop *L);

void http_linger_init(struct http_linger *lg, h2o_loop_t *loop);
/* For an HTTP/1 answer after which h2o closes the connection with the
 * request body unread: keep the connection open after h2o's close, drop
 * what the client still sends, then close (see linger.c). */
void http_linger_arm(struct http_linger *lg, h2o_req_t *req);
/* At loop exit: closes every lingering connection. */
void http_linger_close_all(struct http_linger *lg);

#endif
