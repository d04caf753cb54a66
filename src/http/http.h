/* The HTTP module's interface for the layers above it: route tables, the
 * request a handler sees, reply helpers, worker pools and the server.
 * No h2o type appears here; handlers are plain code over struct http_req. */
#ifndef PACE_HTTP_HTTP_H
#define PACE_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/loopio.h"
#include "util/jw.h"

enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_PATCH = 1 << 4,
    HTTP_DELETE = 1 << 5,
    HTTP_OPTIONS = 1 << 6,
};

/* Route flags: what the request needs and what its handler touches. The
 * server decides from them (and from what the store can do) where each
 * stage runs; see docs/internals/request-flow.md. */
enum {
    ROUTE_AUTH = 1 << 0,     /* needs a valid access token (checked before the handler) */
    ROUTE_READS = 1 << 1,    /* reads the store: on the loop where reads never wait, else the blocking pool */
    ROUTE_WRITES = 1 << 2,   /* writes the store: on the blocking pool, or started asynchronously */
    ROUTE_HASH = 1 << 3,     /* hashes passwords: on the hash pool */
    ROUTE_BLOCKING = 1 << 4, /* may wait for another reason: on the blocking pool */
    ROUTE_JSON = 1 << 5,     /* takes a JSON body: checked before the handler (415, 400) */
};

struct http_req;
typedef void http_handler_fn(struct http_req *r);
/* The completion of work started without waiting: err is what the
 * blocking call would have returned (store_done_fn has the same shape). */
typedef void http_done_fn(void *arg, int err);

/* A handler in stages, for routes whose store work can run in more than
 * one place. Each stage is plain linear code that never asks which thread
 * it is on; the server runs them in order:
 *
 *   prepare (on the loop) -> run or start (where the server decides) -> reply
 *
 * Where the store's calls never wait (SQLite reads), run runs inline on
 * the loop. Where they do, the server prefers start when the route has one
 * and the store can (PostgreSQL loop connections for ROUTE_READS, the
 * group commit for ROUTE_WRITES): the request is suspended until done, and
 * reply runs on the loop. Otherwise, or when start or done says
 * ERR_WOULD_BLOCK, run goes to the blocking pool and reply follows it
 * there. Everything a stage keeps for the next lives in r->state (in the
 * request arena, state_size bytes): the server keeps the request's memory alive until
 * pending work has completed, even if the connection is gone meanwhile
 * (then reply is skipped). */
struct http_stages {
    /* Bytes of the state the stages share: r->state points to that many
     * zeroed bytes of the request arena before prepare runs. */
    size_t state_size;
    /* Reads the request (path, query, body) into r->state; false after
     * replying (400, 404). NULL: nothing to prepare. */
    bool (*prepare)(struct http_req *r);
    /* The work that may wait, as a blocking call; its result goes to
     * reply. It may answer itself instead (an idempotent replay): reply is
     * then skipped. */
    int (*run)(struct http_req *r);
    /* Optional: the same work started without waiting. OK when done(arg,
     * err) will run (on any thread, at most once; possibly before start
     * returns); ERR_WOULD_BLOCK when this request must take run instead;
     * another error goes straight to reply. */
    int (*start)(struct http_req *r, http_done_fn *done, void *arg);
    /* Renders the answer from r->state and the work's result. */
    void (*reply)(struct http_req *r, int err);
};

struct http_route {
    unsigned method;     /* one enum http_method */
    const char *path;    /* "/api/v1/tasks/{id}"; a segment in braces is a parameter */
    http_handler_fn *fn; /* a handler in one piece, or NULL with stages */
    unsigned flags;
    const struct http_stages *stages; /* a handler in stages, or NULL with fn */
};

enum { HTTP_MAX_PARAMS = 4, HTTP_MAX_RES_HEADERS = 12, HTTP_REQUEST_ID_MAX = 64 };

struct http_kv {
    const char *name;
    const char *value;
    size_t value_len;
};

/* What a handler sees. Owned by the http module; lives until the response
 * has been sent. Handlers allocate from `arena` and never free. */
struct http_req {
    struct arena arena;
    const struct http_route *route;
    unsigned method;
    const char *path; /* without the query string; not NUL-terminated */
    size_t path_len;
    const char *query; /* after '?', or NULL */
    size_t query_len;
    struct http_kv params[HTTP_MAX_PARAMS]; /* path parameters, NUL-terminated values */
    size_t nparams;
    const char *body; /* the raw body, or NULL */
    size_t body_len;
    void *json; /* the parsed body (json_t *) for ROUTE_JSON routes; freed by the module */
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    char client[64]; /* peer address, without port */
    int64_t user_id; /* set by auth; 0 when anonymous */
    int64_t session_id;
    void *state; /* the handler's own, carried from stage to stage */

    /* The response, filled by the reply helpers. */
    int status;
    const char *content_type;
    struct buf out;
    struct http_kv res_headers[HTTP_MAX_RES_HEADERS];
    size_t nres_headers;
    bool replied;
};

/* ---- request accessors (borrowed pointers, valid for the request) ---- */

/* The value of a request header (case-insensitive name) or NULL. */
const char *http_req_header(struct http_req *r, const char *name, size_t *len);
/* How many times the request carries that header: more than one of a
 * header that must be single (Authorization) is a client error. */
size_t http_req_header_count(struct http_req *r, const char *name);
/* The index-th (from 0) value of a header the request may carry more than
 * once (Cookie), or NULL when it has fewer. */
const char *http_req_header_at(struct http_req *r, const char *name, size_t index, size_t *len);
/* What ROUTE_JSON does before the handler (415, 400 malformed_json), for a
 * handler that must check something else first (the browser-session
 * routes check the Origin): sets r->json, or replies and returns false. */
bool http_req_parse_json(struct http_req *r);
/* A path parameter by name, NUL-terminated, or NULL. */
const char *http_req_param(struct http_req *r, const char *name);
/* A query parameter, percent-decoded into the arena and NUL-terminated, or
 * NULL when absent. A parameter given twice yields the first. */
const char *http_req_query(struct http_req *r, const char *name);

/* The loops' poller for clients of other servers that must not block (the
 * store's PostgreSQL connections, the Redis connections): watches on the
 * calling loop thread, and posting work to the loops from other threads
 * (util/loopio.h). Valid for the life of the process; posting fails while
 * no server runs. */
const struct loop_io *http_loop_io(void);

/* From a handler running on the hash pool: when it returns, run next on the
 * blocking pool instead of answering (on this thread when that pool's queue
 * is full). For handlers that hash and then write: a hashing thread never
 * waits on the database. next replies as a handler does. */
void http_req_then(struct http_req *r, http_handler_fn *next);

/* ---- replies: each sets status and body; the module sends it ---- */

/* Starts a JSON body; write it through the returned writer. */
struct jw *http_reply_json_begin(struct http_req *r, int status);
/* A complete JSON body given as bytes. */
void http_reply_raw(struct http_req *r, int status, const char *content_type, const char *body, size_t len);
/* No body (204, 304). */
void http_reply_empty(struct http_req *r, int status);
/* application/problem+json with status, code, title, detail (detail may be NULL). */
void http_reply_problem(struct http_req *r, int status, const char *code, const char *title,
                        const char *detail);
/* Like http_reply_problem but leaves the writer open inside the object so
 * the caller can add members (e.g. "errors"); close it with jw_obj_end. */
struct jw *http_reply_problem_begin(struct http_req *r, int status, const char *code, const char *title,
                                    const char *detail);
/* Adds a response header; name and value are copied. */
void http_reply_header(struct http_req *r, const char *name, const char *value);

/* ---- the router ---- */

struct http_router;
enum http_match { HTTP_MATCH_OK, HTTP_MATCH_NOT_FOUND, HTTP_MATCH_METHOD };

struct http_router *http_router_new(void);
void http_router_free(struct http_router *rt);
/* Adds a table of routes (borrowed: must outlive the router). Returns OK,
 * or ERR_INVALID for a malformed pattern and ERR_CONFLICT for a duplicate
 * (programmer errors, logged). */
int http_router_add(struct http_router *rt, const struct http_route *routes, size_t n);
/* Matches method and path. On HTTP_MATCH_OK fills *route, its index and the
 * params (values point into path, not terminated). On HTTP_MATCH_METHOD,
 * *allow has the methods the path supports. */
enum http_match http_router_match(const struct http_router *rt, unsigned method, const char *path, size_t len,
                                  const struct http_route **route, size_t *index, struct http_kv *params,
                                  size_t *nparams, unsigned *allow);
size_t http_router_count(const struct http_router *rt);
const struct http_route *http_router_at(const struct http_router *rt, size_t i);
const char *http_method_name(unsigned method);
/* Parses a method token; 0 when unknown. */
unsigned http_method_parse(const char *s, size_t len);

/* ---- worker pools ---- */

struct http_pool;
/* A pool of `threads` threads with at most `queue` tasks waiting. */
struct http_pool *http_pool_new(const char *name, int threads, int queue);
/* From now on p runs at most threads - 1 tasks at once while the event
 * loops are serving other requests (the hash pool: a login flood leaves a
 * core to the rest of the API); all threads when they are not. */
void http_pool_yield_to_loops(struct http_pool *p);
/* Finishes queued tasks, then stops and joins the threads. */
void http_pool_free(struct http_pool *p);
size_t http_pool_depth(const struct http_pool *p);
size_t http_pool_capacity(const struct http_pool *p);
const char *http_pool_name(const struct http_pool *p);

/* ---- the server ---- */

struct http_server_opts {
    const char *host;
    int port;
    int threads;
    long max_body_bytes;
    long max_header_bytes;
    long max_connections;    /* per loop */
    long keepalive_requests; /* requests one connection serves before it closes (0: no limit) */
    int request_timeout;     /* seconds */
    int send_timeout;        /* seconds a response may stall before its connection closes (0: none) */
    int shutdown_timeout;    /* seconds */
    int drain_seconds;       /* on SIGTERM: seconds /ready reports draining before the listeners close */
    bool access_log;
    const char *metrics_allow;  /* addresses and CIDRs that may read /metrics (PACE_METRICS_ALLOW) */
    const char *metrics_listen; /* NULL or "": no metrics listener (PACE_METRICS_LISTEN) */
    bool web;                   /* serve /, /app/ and /docs (PACE_WEB) */
    const char *cors_origins;   /* exact origins allowed cross-origin, comma-separated (PACE_CORS_ORIGINS) */
    bool reads_block;  /* the store's reads wait (PostgreSQL): ROUTE_READS run on the blocking pool */
    bool reads_async;  /* the store can start reads on a loop: ROUTE_READS stages' start is used */
    bool writes_async; /* the store can start writes on a loop: ROUTE_WRITES stages' start is used */
    int pool_wait_ms;  /* a request finding its pool's queue full waits this long for room, then 503 */
    void (*on_round)(void *arg); /* optional: each loop thread calls it after each round of events */
    void *on_round_arg;
    void (*on_loop_end)(void *arg); /* optional: each loop thread calls it (with on_round_arg) as it exits */
    struct http_pool *hash_pool;
    struct http_pool *blocking_pool;
};

/* Authenticates a request for ROUTE_AUTH routes before its handler runs.
 * Returns true, or false after replying. Set by the auth layer; when NULL,
 * ROUTE_AUTH routes get 401. */
typedef bool http_auth_fn(struct http_req *r);

struct http_server;
/* Binds the listeners (one per thread, SO_REUSEPORT) and starts the loops.
 * Returns NULL after logging when it cannot bind. */
struct http_server *http_server_start(const struct http_server_opts *opts, const struct http_router *rt,
                                      http_auth_fn *auth);
/* Blocks until SIGTERM or SIGINT, then drains and stops the loops (see
 * docs/internals/request-flow.md, "Drain"):
 *  1. for drain_seconds, everything is served as before but
 *     http_server_draining() is true (/ready answers 503); a second signal
 *     ends this phase early;
 *  2. the listeners stop taking connections (without resetting one the
 *     kernel already took) and close; from then on every response carries
 *     Connection: close, and the server waits until every connection has
 *     closed: requests whose headers or body are still arriving complete,
 *     idle keep-alive connections are closed by their client or by the
 *     request timeout (never while a request may be on its way);
 *  3. the loops stop.
 * Phase 2 is bounded by the shutdown timeout. Returns false when requests
 * were still in flight at the deadline: they may still be running on the
 * pools, so the caller must exit without freeing what they use. */
bool http_server_run_until_signal(struct http_server *s);
/* True from the signal on (the server is going away: not ready). */
bool http_server_draining(void);
void http_server_free(struct http_server *s);

/* Whether r may read /metrics (metrics_listener.c): with a metrics
 * listener, only requests that came through it; else those whose TCP peer
 * (never X-Forwarded-For) is in metrics_allow. */
bool http_metrics_allowed(struct http_req *r);

/* Whether the request's Origin is pace's own (its scheme://host[:port]
 * names the request's Host) or one of cors_origins (cors.c). A request
 * without Origin is not allowed. */
bool http_origin_allowed(struct http_req *r);

/* Renders the module's metrics (requests by route and status, latency,
 * in-flight, connections, pools) in Prometheus text format. */
void http_metrics_render(struct buf *out);

#endif
