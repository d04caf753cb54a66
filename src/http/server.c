/* The h2o adapter: one event loop per thread, each with its own
 * SO_REUSEPORT listener; routing, request ids, JSON bodies, pool hand-off,
 * responses, access log and metrics. Invariants: a request's context lives
 * in h2o's request pool and is touched by one thread at a time (the loop, or
 * the pool worker running its handler); an event loop never blocks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "http/internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/jparse.h"
#include "util/log.h"

#define ENV_KEY "pace.ctx"

enum ctl_kind { CTL_DRAIN, CTL_STOP };

enum { POOL_RETRY_MS = 20 }; /* how often a request waiting on a full pool looks again */

struct ctl_msg {
    h2o_multithread_message_t msg;
    enum ctl_kind kind;
};

struct loop {
    struct http_server *srv;
    int index;
    pthread_t tid;
    int listen_fd;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t pool_receiver;
    h2o_multithread_receiver_t ctl_receiver;
    h2o_linklist_t pool_waiting; /* requests waiting for room in a full pool queue, oldest first */
    h2o_timeout_t pool_retry;
    h2o_timeout_entry_t pool_tick; /* linked while pool_waiting is not empty */
    uint64_t pool_full_logged;     /* ms: the last "queue full" warning (one a second) */
    struct http_linger linger;     /* connections closed after an unread body */
    struct ctl_msg ctl[2];
    long open;   /* connections; written by this loop only */
    bool served; /* this round served a request of no yielding pool */
    atomic_long open_seen;
    bool paused;
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
    pthread_barrier_t ready;
};

struct handler {
    h2o_handler_t super;
    struct http_server *srv;
};

/* One per request; allocated in h2o's request pool, disposed with it. */
struct reqctx {
    struct http_req r; /* first: handlers' pointer converts back */
    h2o_req_t *req;
    struct loop *loop;
    size_t route_index;
    bool counted; /* contributes to in_flight */
    struct http_pool_task task;
    http_handler_fn *then;         /* the next stage: http_req_then, _offload, _resume */
    bool suspended;                /* http_req_suspend: no reply when the handler returns */
    bool offload;                  /* http_req_offload: to the blocking pool when it returns */
    struct http_pool *waiting_for; /* full pool this request waits on, or NULL */
    uint64_t wait_until;           /* ms on the loop's clock */
    h2o_linklist_t waiting;        /* in loop->pool_waiting */
};

/* ---- request context ---- */

static void
reqctx_dispose(void *p)
{
    struct reqctx *c = p;
    if (h2o_linklist_is_linked(&c->waiting))
        h2o_linklist_unlink(&c->waiting);
    if (c->r.json != NULL)
        json_decref(c->r.json);
    arena_cleanup(&c->r.arena);
    if (c->counted)
        atomic_fetch_sub_explicit(&c->loop->srv->active, 1, memory_order_relaxed);
}

static struct reqctx *
reqctx_find(h2o_req_t *req)
{
    for (size_t i = 0; i + 1 < req->env.size; i += 2)
        if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len, H2O_STRLIT(ENV_KEY)))
            return (struct reqctx *)(void *)req->env.entries[i + 1].base;
    return NULL;
}

static uint64_t
splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool
request_id_is_sane(const char *s, size_t n)
{
    if (n == 0 || n > HTTP_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static void
request_id_init(struct reqctx *c)
{
    ssize_t i = h2o_find_header_by_str(&c->req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = c->req->headers.entries[i].value;
        if (request_id_is_sane(v.base, v.len)) {
            memcpy(c->r.request_id, v.base, v.len);
            c->r.request_id[v.len] = '\0';
            return;
        }
    }
    /* 26 characters of base32 from 128 random bits. */
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    uint64_t a = splitmix(&c->loop->rng), b = splitmix(&c->loop->rng);
    for (int k = 0; k < 13; k++) {
        c->r.request_id[k] = alphabet[a & 31];
        c->r.request_id[13 + k] = alphabet[b & 31];
        a >>= 5;
        b >>= 5;
    }
    c->r.request_id[26] = '\0';
}

static struct reqctx *
reqctx_new(h2o_req_t *req, struct loop *L, bool counted)
{
    struct reqctx *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), reqctx_dispose);
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->loop = L;
    c->route_index = SIZE_MAX;
    c->counted = counted;
    arena_init(&c->r.arena);
    if (counted) {
        atomic_fetch_add_explicit(&L->srv->in_flight, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&L->srv->active, 1, memory_order_relaxed);
    }
    h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
    req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT(ENV_KEY));
    req->env.entries[req->env.size++] = h2o_iovec_init((char *)c, 0);
    request_id_init(c);

    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    snprintf(c->r.client, sizeof(c->r.client), "unknown");
    if (sl != 0) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->r.client, sizeof(c->r.client));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->r.client, sizeof(c->r.client));
    }
    return c;
}

static struct loop *
loop_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(struct loop, ctx, req->conn->ctx);
}

const char *
http_req_header(struct http_req *r, const char *name, size_t *len)
{
    struct reqctx *c = (struct reqctx *)r;
    char lower[64];
    size_t n = strlen(name);
    if (n >= sizeof(lower))
        return NULL;
    for (size_t i = 0; i < n; i++)
        lower[i] = h2o_tolower(name[i]);
    ssize_t i = h2o_find_header_by_str(&c->req->headers, lower, n, -1);
    if (i < 0)
        return NULL;
    if (len != NULL)
        *len = c->req->headers.entries[i].value.len;
    return c->req->headers.entries[i].value.base;
}

/* ---- sending ---- */

static const char *
reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    }
    return "Unknown";
}

static void
add_header(h2o_req_t *req, const char *name, size_t nl, const char *value, size_t vl)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, nl, 1, NULL, value, vl);
}

static void
send_response(struct reqctx *c)
{
    h2o_req_t *req = c->req;
    struct http_req *r = &c->r;
    if (!r->replied) {
        log_write(LOG_ERROR, "http", r->request_id, "handler for %s %s returned without a reply",
                  http_method_name(r->route->method), r->route->path);
        http_reply_problem(r, 500, "internal", "Internal error", NULL);
    }
    if (c->counted)
        atomic_fetch_sub_explicit(&c->loop->srv->in_flight, 1, memory_order_relaxed);
    req->res.status = r->status;
    req->res.reason = reason(r->status);
    add_header(req, H2O_STRLIT("x-request-id"), r->request_id, strlen(r->request_id));
    if (r->content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, r->content_type,
                       strlen(r->content_type));
    for (size_t i = 0; i < r->nres_headers; i++)
        add_header(req, r->res_headers[i].name, strlen(r->res_headers[i].name), r->res_headers[i].value,
                   r->res_headers[i].value_len);

    static h2o_generator_t generator = {NULL, NULL};
    bool no_body = r->status == 204 || r->status == 304;
    req->res.content_length = no_body ? SIZE_MAX : r->out.len;
    h2o_start_response(req, &generator);
    if (no_body || r->method == HTTP_HEAD || r->out.len == 0) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    h2o_iovec_t body = h2o_iovec_init(r->out.data, r->out.len);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

/* ---- JSON bodies ---- */

static bool
is_json_content_type(const char *v, size_t n)
{
    static const char want[] = "application/json";
    size_t wl = sizeof(want) - 1;
    if (n < wl || !h2o_lcstris(v, wl, want, wl))
        return false;
    return n == wl || v[wl] == ';' || v[wl] == ' ';
}

/* Checks and parses the body of a ROUTE_JSON request; false after replying. */
static bool
parse_body(struct reqctx *c)
{
    struct http_req *r = &c->r;
    size_t ctl = 0;
    const char *ct = http_req_header(r, "content-type", &ctl);
    if (ct == NULL || !is_json_content_type(ct, ctl)) {
        http_reply_problem(r, 415, "unsupported_media_type", "Unsupported media type",
                           "the request body must be application/json");
        return false;
    }
    struct jparse_error e;
    json_t *v = jparse(r->body != NULL ? r->body : "", r->body_len, &e);
    if (v == NULL) {
        char *detail = e.line > 0
                           ? arena_printf(&r->arena, "%s at line %d, column %d", e.reason, e.line, e.column)
                           : arena_printf(&r->arena, "%s", e.reason);
        http_reply_problem(r, 400, "malformed_json", "Malformed JSON", detail);
        return false;
    }
    r->json = v;
    return true;
}

/* ---- dispatch ---- */

static bool
task_run(struct http_pool_task *t)
{
    struct reqctx *c = H2O_STRUCT_FROM_MEMBER(struct reqctx, task, t);
    http_handler_fn *fn = c->then != NULL ? c->then : c->r.route->fn;
    c->then = NULL;
    fn(&c->r);
    if (c->then == NULL)
        return false;
    /* On success c->then stays set: the blocking pool's run executes it. */
    struct http_pool *next = c->loop->srv->opts.blocking_pool;
    if (next != NULL && http_pool_submit(next, t) == OK)
        return true;
    fn = c->then; /* the blocking pool is full: this thread does it */
    c->then = NULL;
    fn(&c->r);
    return false;
}

void
http_req_then(struct http_req *r, http_handler_fn *next)
{
    ((struct reqctx *)r)->then = next;
}

static _Thread_local struct loop *this_loop;

bool
http_req_on_loop(const struct http_req *r)
{
    (void)r;
    return this_loop != NULL;
}

h2o_loop_t *
http_this_loop(void)
{
    return this_loop != NULL ? this_loop->ctx.loop : NULL;
}

void
http_req_offload(struct http_req *r, http_handler_fn *fn)
{
    struct reqctx *c = (struct reqctx *)r;
    c->then = fn;
    c->offload = true;
}

void
http_req_suspend(struct http_req *r)
{
    ((struct reqctx *)r)->suspended = true;
}

/* On the loop: the resumed stage, then the response. */
static void
resume_done(struct http_pool_task *t)
{
    struct reqctx *c = H2O_STRUCT_FROM_MEMBER(struct reqctx, task, t);
    http_handler_fn *fn = c->then;
    c->then = NULL;
    fn(&c->r);
    send_response(c);
}

void
http_req_resume(struct http_req *r, http_handler_fn *next)
{
    struct reqctx *c = (struct reqctx *)r;
    c->then = next;
    c->task.done = resume_done;
    c->task.owner = &c->loop->pool_receiver;
    memset(&c->task.msg, 0, sizeof(c->task.msg));
    h2o_multithread_send_message(c->task.owner, &c->task.msg);
}

void
http_req_resume_here(struct http_req *r, http_handler_fn *next)
{
    struct reqctx *c = (struct reqctx *)r;
    c->then = next;
    resume_done(&c->task);
}

static void submit_or_wait(struct reqctx *c, struct http_pool *pool);

void
http_req_resume_blocking(struct http_req *r, http_handler_fn *fn)
{
    struct reqctx *c = (struct reqctx *)r;
    struct http_pool *pool = c->loop->srv->opts.blocking_pool;
    if (pool == NULL) {
        http_req_resume_here(r, fn);
        return;
    }
    c->then = fn;
    submit_or_wait(c, pool);
}

static void
task_done(struct http_pool_task *t)
{
    struct reqctx *c = H2O_STRUCT_FROM_MEMBER(struct reqctx, task, t);
    send_response(c);
}

static struct http_pool *
pool_for(const struct http_server *s, unsigned flags)
{
    if (flags & ROUTE_HASH)
        return s->opts.hash_pool;
    if (flags & ROUTE_ASYNC_WRITES)
        return s->opts.reads_block ? s->opts.blocking_pool : NULL;
    if (flags & ROUTE_ASYNC_READS)
        return NULL;
    if (flags & (ROUTE_WRITES | ROUTE_BLOCKING))
        return s->opts.blocking_pool;
    if ((flags & ROUTE_READS) && s->opts.reads_block)
        return s->opts.blocking_pool;
    return NULL;
}

static void
reply_allow(struct http_req *r, unsigned allow)
{
    char list[96] = "";
    size_t n = 0;
    for (unsigned m = 1; m <= HTTP_OPTIONS; m <<= 1) {
        if (!(allow & m))
            continue;
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", http_method_name(m));
    }
    http_reply_problem(r, 405, "method_not_allowed", "Method not allowed",
                       arena_printf(&r->arena, "this resource allows %s", list));
    http_reply_header(r, "allow", list);
}

/* Bytes of the request line and headers as sent (h2o's own hard cap is
 * about 400 KiB; ours is PACE_MAX_HEADER_BYTES). */
static size_t
header_bytes(const h2o_req_t *req)
{
    size_t n = req->input.method.len + req->input.path.len + req->input.authority.len + 32;
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

static void
reply_pool_full(struct reqctx *c, struct http_pool *pool)
{
    struct loop *L = c->loop;
    uint64_t now = h2o_now(L->ctx.loop);
    if (now - L->pool_full_logged >= 1000) {
        L->pool_full_logged = now;
        log_write(LOG_WARN, "http", c->r.request_id, "%s pool queue full", http_pool_name(pool));
    }
    http_reply_problem(&c->r, 503, "overloaded", "Overloaded", "the server is busy; retry shortly");
    http_reply_header(&c->r, "retry-after", "1");
}

/* The waiting list's tick: requests go into their pool while it has room,
 * oldest first; those whose wait is over get 503. One failed submit per
 * pool per tick, however many wait. */
static void
on_pool_tick(h2o_timeout_entry_t *e)
{
    struct loop *L = H2O_STRUCT_FROM_MEMBER(struct loop, pool_tick, e);
    uint64_t now = h2o_now(L->ctx.loop);
    struct http_pool *full[2] = {NULL, NULL};
    h2o_linklist_t *n = L->pool_waiting.next;
    while (n != &L->pool_waiting) {
        struct reqctx *c = H2O_STRUCT_FROM_MEMBER(struct reqctx, waiting, n);
        n = n->next;
        bool is_full = c->waiting_for == full[0] || c->waiting_for == full[1];
        if (!is_full && http_pool_submit(c->waiting_for, &c->task) == OK) {
            h2o_linklist_unlink(&c->waiting);
            c->waiting_for = NULL;
            continue;
        }
        if (!is_full)
            full[full[0] == NULL ? 0 : 1] = c->waiting_for;
        if (now >= c->wait_until || L->draining) {
            h2o_linklist_unlink(&c->waiting);
            reply_pool_full(c, c->waiting_for);
            c->waiting_for = NULL;
            send_response(c);
        }
    }
    if (!h2o_linklist_is_empty(&L->pool_waiting))
        h2o_timeout_link(L->ctx.loop, &L->pool_retry, &L->pool_tick);
}

/* Full: wait for room rather than answer at once. A client that retries at
 * once (a flood, a closed loop) then costs the loop a list entry, not a
 * request every few microseconds. */
static void
pool_wait(struct reqctx *c, struct http_pool *pool)
{
    struct loop *L = c->loop;
    c->waiting_for = pool;
    /* Between half and all of the wait, at random: requests refused together
     * are not answered together, so their clients do not come back as one
     * burst every wait. */
    uint64_t wait = (uint64_t)L->srv->opts.pool_wait_ms;
    c->wait_until = h2o_now(L->ctx.loop) + wait - splitmix(&L->rng) % (wait / 2 + 1);
    h2o_linklist_insert(&L->pool_waiting, &c->waiting);
    if (!h2o_timeout_is_linked(&L->pool_tick))
        h2o_timeout_link(L->ctx.loop, &L->pool_retry, &L->pool_tick);
}

/* Hands the request to pool (the route's handler, or c->then when set); a
 * full queue waits for room (PACE_POOL_WAIT_MS) or answers 503. */
static void
submit_or_wait(struct reqctx *c, struct http_pool *pool)
{
    c->task.run = task_run;
    c->task.done = task_done;
    c->task.owner = &c->loop->pool_receiver;
    if (http_pool_submit(pool, &c->task) == OK)
        return;
    if (c->loop->srv->opts.pool_wait_ms > 0) {
        pool_wait(c, pool);
        return;
    }
    reply_pool_full(c, pool);
    send_response(c);
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct http_server *s = ((struct handler *)self)->srv;
    struct loop *L = loop_of(req);
    struct reqctx *c = reqctx_new(req, L, true);
    struct http_req *r = &c->r;

    r->method = http_method_parse(req->method.base, req->method.len);
    r->path = req->path_normalized.base;
    r->path_len = req->path_normalized.len;
    if (req->query_at != SIZE_MAX) {
        r->query = req->path.base + req->query_at + 1;
        r->query_len = req->path.len - req->query_at - 1;
    }
    if (req->entity.base != NULL) {
        r->body = req->entity.base;
        r->body_len = req->entity.len;
    }

    if (header_bytes(req) > (size_t)s->opts.max_header_bytes) {
        req->http1_is_persistent = 0;
        http_reply_problem(r, 431, "headers_too_large", "Request headers too large",
                           arena_printf(&r->arena, "the request line and headers must be at most %ld bytes",
                                        s->opts.max_header_bytes));
        goto send;
    }

    const struct http_route *route = NULL;
    struct http_kv params[HTTP_MAX_PARAMS];
    size_t np = 0;
    unsigned allow = 0;
    enum http_match m = http_router_match(s->rt, r->method, r->path, r->path_len, &route, &c->route_index,
                                          params, &np, &allow);
    if (m == HTTP_MATCH_NOT_FOUND) {
        http_reply_problem(r, 404, "not_found", "Not found", "no resource at this path");
        goto send;
    }
    if (m == HTTP_MATCH_METHOD) {
        reply_allow(r, allow);
        goto send;
    }
    r->route = route;
    if (!(route->flags & ROUTE_HASH))
        L->served = true;
    for (size_t i = 0; i < np; i++) {
        r->params[i].name = params[i].name;
        r->params[i].value = arena_strndup(&r->arena, params[i].value, params[i].value_len);
        r->params[i].value_len = params[i].value_len;
    }
    r->nparams = np;

    if ((route->flags & ROUTE_JSON) && !parse_body(c))
        goto send;
    if (route->flags & ROUTE_AUTH) {
        if (s->auth == NULL) {
            http_reply_problem(r, 401, "unauthorized", "Unauthorized", "authentication is not available");
            http_reply_header(r, "www-authenticate", "Bearer");
            goto send;
        }
        if (!s->auth(r))
            goto send;
    }

    struct http_pool *pool = pool_for(s, route->flags);
    if (pool != NULL) {
        submit_or_wait(c, pool);
        return 0;
    }
    route->fn(r);
    if (c->suspended)
        return 0; /* http_req_resume answers */
    if (c->offload) {
        c->offload = false;
        submit_or_wait(c, s->opts.blocking_pool);
        return 0;
    }

send:
    send_response(c);
    return 0;
}

/* ---- errors h2o answers itself (413, bad chunked encoding, 417) ---- */

struct problem_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
};

static void
problem_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n, h2o_send_state_t state)
{
    struct problem_ostream *os = (struct problem_ostream *)self;
    if (state == H2O_SEND_STATE_IN_PROGRESS) {
        h2o_ostream_send_next(&os->super, req, NULL, 0, state);
        return;
    }
    h2o_ostream_send_next(&os->super, req, &os->body, 1, state);
}

static void
problem_on_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    if (req->res.status >= 400 && reqctx_find(req) == NULL) {
        struct reqctx *c = reqctx_new(req, loop_of(req), false);
        int st = req->res.status;
        if (st == 413)
            http_reply_problem(&c->r, st, "body_too_large", "Request body too large",
                               arena_printf(&c->r.arena, "the body must be at most %ld bytes",
                                            loop_of(req)->srv->opts.max_body_bytes));
        else if (st == 400)
            http_reply_problem(&c->r, st, "bad_request", "Bad request", "the request could not be parsed");
        else
            http_reply_problem(&c->r, st, "request_error", req->res.reason, NULL);
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                       H2O_STRLIT("application/problem+json"), 1);
        add_header(req, H2O_STRLIT("x-request-id"), c->r.request_id, strlen(c->r.request_id));
        req->res.content_length = c->r.out.len;
        http_linger_arm(&loop_of(req)->linger, req);
        struct problem_ostream *os = (void *)h2o_add_ostream(req, sizeof(*os), slot);
        os->super.do_send = problem_do_send;
        os->body = h2o_iovec_init(c->r.out.data, c->r.out.len);
        slot = &os->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

/* ---- access log and metrics, for every request ---- */

static double
ms_between(struct timeval a, struct timeval b)
{
    return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_usec - a.tv_usec) / 1e3;
}

static void
on_log(h2o_logger_t *self, h2o_req_t *req)
{
    struct loop *L = loop_of(req);
    struct reqctx *c = reqctx_find(req);
    struct timeval end = req->timestamps.response_end_at;
    if (end.tv_sec == 0)
        gettimeofday(&end, NULL);
    double ms =
        req->timestamps.request_begin_at.tv_sec != 0 ? ms_between(req->timestamps.request_begin_at, end) : 0;
    if (ms < 0)
        ms = 0;
    http_metrics_observe(L->index, c != NULL ? c->route_index : SIZE_MAX, req->res.status, ms / 1e3);
    if (!L->srv->opts.access_log)
        return;
    const char *path = req->input.path.base;
    size_t plen = req->input.path.len;
    const char *q = memchr(path, '?', plen);
    if (q != NULL)
        plen = (size_t)(q - path);
    char method[16];
    size_t ml = req->input.method.len < sizeof(method) - 1 ? req->input.method.len : sizeof(method) - 1;
    memcpy(method, req->input.method.base, ml);
    method[ml] = '\0';
    struct log_access a = {
        .request_id = c != NULL ? c->r.request_id : NULL,
        .method = method,
        .path = path,
        .path_len = plen,
        .client = c != NULL ? c->r.client : "unknown",
        .user_id = c != NULL ? c->r.user_id : 0,
        .status = req->res.status,
        .bytes = req->bytes_sent,
        .duration_ms = ms,
    };
    log_access(&a);
}

/* ---- connections ---- */

static void on_accept(h2o_socket_t *listener, const char *err);

static void
on_sock_close(void *data)
{
    struct loop *L = data;
    L->open--;
    atomic_store_explicit(&L->open_seen, L->open, memory_order_relaxed);
    if (L->paused && !L->draining && L->open < L->srv->opts.max_connections) {
        L->paused = false;
        h2o_socket_read_start(L->listener, on_accept);
    }
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    struct loop *L = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < 32; i++) {
        if (L->open >= L->srv->opts.max_connections) {
            h2o_socket_read_stop(listener);
            L->paused = true;
            return;
        }
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        L->open++;
        atomic_store_explicit(&L->open_seen, L->open, memory_order_relaxed);
        sock->on_close.cb = on_sock_close;
        sock->on_close.data = L;
        h2o_accept(&L->accept_ctx, sock);
    }
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
            L->draining = true;
            if (L->listener != NULL) {
                h2o_socket_read_stop(L->listener);
                h2o_socket_close(L->listener);
                L->listener = NULL;
            }
            h2o_context_request_shutdown(&L->ctx);
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
    h2o_timeout_init(L->ctx.loop, &L->pool_retry, POOL_RETRY_MS);
    h2o_linklist_init_anchor(&L->pool_waiting);
    L->pool_tick.cb = on_pool_tick;
    http_linger_init(&L->linger, L->ctx.loop);
    L->listener = h2o_evloop_socket_create(L->ctx.loop, L->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    L->listener->data = L;
    h2o_socket_read_start(L->listener, on_accept);
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
    http_linger_close_all(&L->linger);
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
    h->super.on_req = on_req;
    h->srv = s;
    h2o_filter_t *f = h2o_create_filter(path, sizeof(*f));
    f->on_setup_ostream = problem_on_setup;
    h2o_compress_args_t ca = {.min_size = 1024, .gzip = {.quality = 1}, .brotli = {.quality = -1}};
    h2o_compress_register(path, &ca);
    h2o_logger_t *lg = h2o_create_logger(path, sizeof(*lg));
    lg->log_access = on_log;

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
            h2o_config_dispose(&s->conf);
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

    pthread_barrier_init(&s->ready, NULL, (unsigned)s->nloops + 1);
    for (int i = 0; i < s->nloops; i++)
        h2o_multithread_create_thread(&s->loops[i].tid, NULL, loop_main, &s->loops[i]);
    pthread_barrier_wait(&s->ready);
    log_info("http", "listening on %s:%d with %d event loops", opts->host, opts->port, s->nloops);
    return s;
}

static void
broadcast(struct http_server *s, enum ctl_kind kind)
{
    for (int i = 0; i < s->nloops; i++)
        h2o_multithread_send_message(&s->loops[i].ctl_receiver, &s->loops[i].ctl[kind].msg);
}

bool
http_server_run_until_signal(struct http_server *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    log_info("http", "received %s: draining %ld requests in flight (up to %d s)",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", atomic_load(&s->in_flight), s->opts.shutdown_timeout);
    broadcast(s, CTL_DRAIN);

    bool drained = true;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    /* Wait until every request has been answered and its response written. */
    while (atomic_load(&s->active) > 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long waited_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited_ms >= (long)s->opts.shutdown_timeout * 1000) {
            log_warn("http", "shutdown timeout: %ld requests still in flight", atomic_load(&s->active));
            drained = false;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
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
    free(s->loops);
    pthread_barrier_destroy(&s->ready);
    free(s);
}

void
http_server_metrics(const struct http_server *s, struct buf *out)
{
    long open = 0;
    for (int i = 0; i < s->nloops; i++)
        open += atomic_load_explicit(&s->loops[i].open_seen, memory_order_relaxed);
    buf_printf(out,
               "# HELP pace_http_requests_in_flight Requests received and not yet answered.\n"
               "# TYPE pace_http_requests_in_flight gauge\n"
               "pace_http_requests_in_flight %ld\n"
               "# HELP pace_http_connections_open Client connections open.\n"
               "# TYPE pace_http_connections_open gauge\n"
               "pace_http_connections_open %ld\n",
               atomic_load_explicit(&s->in_flight, memory_order_relaxed), open);
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
