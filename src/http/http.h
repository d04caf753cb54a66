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

/* Route flags: where the handler runs and what the request needs. */
enum {
    ROUTE_AUTH = 1 << 0,     /* needs a valid access token (checked before the handler) */
    ROUTE_READS = 1 << 1,    /* reads the store: inline on SQLite, on the blocking pool on PostgreSQL */
    ROUTE_WRITES = 1 << 2,   /* writes the store: always on the blocking pool */
    ROUTE_HASH = 1 << 3,     /* hashes passwords: on the hash pool */
    ROUTE_BLOCKING = 1 << 4, /* may wait for another reason: on the blocking pool */
    ROUTE_JSON = 1 << 5,     /* takes a JSON body: checked before the handler (415, 400) */
    /* writes the store asynchronously where it can: on the loop on SQLite
     * (the handler suspends, or offloads itself when it must wait), on the
     * blocking pool on PostgreSQL; see http_req_on_loop */
    ROUTE_ASYNC_WRITES = 1 << 6,
    /* reads the store on the loop: inline on SQLite; on PostgreSQL the
     * handler reads asynchronously (suspends), or offloads itself when the
     * store cannot; see http_req_on_loop */
    ROUTE_ASYNC_READS = 1 << 7,
};

struct http_req;
typedef void http_handler_fn(struct http_req *r);

struct http_route {
    unsigned method;  /* one enum http_method */
    const char *path; /* "/api/v1/tasks/{id}"; a segment in braces is a parameter */
    http_handler_fn *fn;
    unsigned flags;
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
    void *state; /* the handler's own, carried to its next stage (then, resume, offload) */

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
/* A path parameter by name, NUL-terminated, or NULL. */
const char *http_req_param(struct http_req *r, const char *name);
/* A query parameter, percent-decoded into the arena and NUL-terminated, or
 * NULL when absent. A parameter given twice yields the first. */
const char *http_req_query(struct http_req *r, const char *name);

/* True when the handler runs on its event loop thread: it must not wait
 * (ROUTE_ASYNC_WRITES handlers decide with this). */
bool http_req_on_loop(const struct http_req *r);
/* From a handler on the loop: once it returns, run fn on the blocking pool
 * instead of answering (a full queue waits like any pool request, then 503). */
void http_req_offload(struct http_req *r, http_handler_fn *fn);
/* From a handler on the loop that started work finishing on another thread
 * (an asynchronous store call): the handler returns without a reply, and
 * whoever finishes calls http_req_resume (any thread, exactly once); next
 * then runs on the request's loop and replies. Call suspend before starting
 * the work. */
void http_req_suspend(struct http_req *r);
void http_req_resume(struct http_req *r, http_handler_fn *next);
/* As http_req_resume, from a callback on the request's own loop thread (not
 * from its handler): next runs at once. */
void http_req_resume_here(struct http_req *r, http_handler_fn *next);
/* From a callback on a suspended request's loop thread: run fn on the
 * blocking pool, then reply (a full queue waits, then 503). */
void http_req_resume_blocking(struct http_req *r, http_handler_fn *fn);

/* Descriptors on the calling loop thread, for clients of other servers
 * that must not block (the store's PostgreSQL connections): ready(arg) runs
 * on this thread when fd is readable, when it is writable while armed with
 * write, and about every 100 ms while armed with tick. NULL when not on a
 * loop thread. The watch does not own fd; close it before closing fd. */
struct http_watch;
struct http_watch *http_watch_fd(int fd, void (*ready)(void *arg), void *arg);
void http_watch_arm(struct http_watch *w, bool write, bool tick);
void http_watch_close(struct http_watch *w);

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
    long max_connections; /* per loop */
    int request_timeout;  /* seconds */
    int shutdown_timeout; /* seconds */
    bool access_log;
    bool reads_block; /* ROUTE_READS go to the blocking pool (PostgreSQL) */
    int pool_wait_ms; /* a request finding its pool's queue full waits this long for room, then 503 */
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
/* Blocks until SIGTERM or SIGINT, drains (stop accepting, let requests in
 * flight finish within the shutdown timeout) and stops the loops. Returns
 * false when requests were still in flight at the deadline: they may still
 * be running on the pools, so the caller must exit without freeing what
 * they use. */
bool http_server_run_until_signal(struct http_server *s);
void http_server_free(struct http_server *s);

/* Renders the module's metrics (requests by route and status, latency,
 * in-flight, connections, pools) in Prometheus text format. */
void http_metrics_render(struct buf *out);

#endif
