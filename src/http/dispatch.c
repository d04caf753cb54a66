/* Dispatch: from a parsed request to its handler, on the thread the
 * route's flags and the store's abilities call for. The server, not the
 * handler, owns this decision (docs/internals/request-flow.md):
 *
 * - a handler in one piece (route->fn) runs inline on the loop, or on the
 *   hash or blocking pool, and replies before it returns; after the hash
 *   pool it may name a next stage for the blocking pool (http_req_then);
 * - a handler in stages (route->stages) prepares on the loop, then its
 *   work runs inline, starts without waiting (the request is suspended
 *   until its completion), or runs on the blocking pool; reply follows.
 *
 * A full pool queue makes the request wait for room, then 503. */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"
#include "http/query.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

static void submit_or_wait(struct reqctx *c, struct http_pool *pool);

void
http_req_then(struct http_req *r, http_handler_fn *next)
{
    ((struct reqctx *)r)->then = next;
}

/* Runs the request's work on the calling thread: the stage after the hash
 * pool when one is set, else the handler in one piece, or a staged
 * handler's run and then its reply (unless run answered itself). */
static void
run_stage(struct reqctx *c)
{
    struct http_req *r = &c->r;
    http_handler_fn *fn = c->then;
    if (fn != NULL) {
        c->then = NULL;
        fn(r);
        return;
    }
    const struct http_stages *st = r->route->stages;
    if (st == NULL) {
        r->route->fn(r);
        return;
    }
    int err = st->run(r);
    if (!r->replied)
        st->reply(r, err);
}

/* The store's calls made meanwhile share the request's one deadline,
 * counted from c->db_start (store_request_started). */
static void
run_here(struct reqctx *c)
{
    store_request_started(c->db_start);
    run_stage(c);
    store_request_started(0);
}

/* On a pool thread. */
static bool
task_run(struct http_pool_task *t)
{
    struct reqctx *c = H2O_STRUCT_FROM_MEMBER(struct reqctx, task, t);
    /* The hash pool's queue and its hashing are not database time: the
     * deadline counts from the end of the wait for a hash thread, then
     * again from the hand-over to the blocking pool. */
    if ((c->r.route->flags & ROUTE_HASH) && c->then == NULL)
        c->db_start = clock_mono_ms();
    run_here(c);
    if (c->then == NULL)
        return false;
    /* After the hash pool: c->then goes to the blocking pool (this thread
     * runs it when that pool's queue is full). */
    c->db_start = clock_mono_ms();
    struct http_pool *next = c->loop->srv->opts.blocking_pool;
    if (next != NULL && http_pool_submit(next, t) == OK)
        return true;
    run_here(c);
    return false;
}

/* On the loop, once a pool has run the request. */
static void
task_done(struct http_pool_task *t)
{
    http_send_response(H2O_STRUCT_FROM_MEMBER(struct reqctx, task, t));
}

/* ---- handlers in stages ---- */

static bool
can_start(const struct http_server_opts *o, unsigned flags)
{
    return ((flags & ROUTE_READS) && o->reads_async) || ((flags & ROUTE_WRITES) && o->writes_async);
}

/* On the loop: what the work's result means. ERR_WOULD_BLOCK sends run to
 * the blocking pool; anything else is the reply's. A request whose
 * connection went away meanwhile is freed without either. */
static void
stage_finish(struct reqctx *c, int err)
{
    if (c->req != NULL && err == ERR_WOULD_BLOCK) {
        struct http_pool *pool = c->loop->srv->opts.blocking_pool;
        if (pool != NULL) {
            submit_or_wait(c, pool);
            return;
        }
        run_here(c);
    } else if (c->req != NULL) {
        c->r.route->stages->reply(&c->r, err);
    }
    http_send_response(c);
}

/* A completion that came from another thread, on the loop. */
static void
stage_resumed(struct http_pool_task *t)
{
    struct reqctx *c = H2O_STRUCT_FROM_MEMBER(struct reqctx, task, t);
    stage_finish(c, c->stage_err);
}

/* The completion handed to a stage's start: on the request's loop it
 * finishes at once (or, while start has not returned, when it does); from
 * any other thread it travels to the loop as a message. */
static void
stage_done(void *arg, int err)
{
    struct reqctx *c = arg;
    c->stage_err = err;
    if (http_loop_here() == c->loop) {
        if (c->in_start)
            c->done_early = true;
        else
            stage_finish(c, err);
        return;
    }
    c->task.done = stage_resumed;
    c->task.owner = &c->loop->pool_receiver;
    memset(&c->task.msg, 0, sizeof(c->task.msg));
    h2o_multithread_send_message(c->task.owner, &c->task.msg);
}

/* On the loop, after auth: state, prepare, then start where the store
 * can. True when the request is answered or suspended; false when its
 * work is to run like a handler in one piece (inline or on a pool). */
static bool
stages_begin(struct reqctx *c)
{
    const struct http_route *route = c->r.route;
    const struct http_stages *st = route->stages;
    const struct http_server *s = c->loop->srv;
    if (st->state_size > 0) {
        c->r.state = arena_alloc(&c->r.arena, st->state_size);
        memset(c->r.state, 0, st->state_size);
    }
    if (st->prepare != NULL && !st->prepare(&c->r)) {
        http_send_response(c);
        return true;
    }
    if (st->start == NULL || !can_start(&s->opts, route->flags))
        return false;
    c->pending = true;
    c->in_start = true;
    int err = st->start(&c->r, stage_done, c);
    c->in_start = false;
    if (err == OK && !c->done_early)
        return true; /* suspended: stage_done finishes it */
    if (err == OK)
        err = c->stage_err;
    c->done_early = false;
    stage_finish(c, err);
    return true;
}

/* Where work that may wait runs, by the route's flags: NULL for inline on
 * the loop. */
static struct http_pool *
pool_for(const struct http_server *s, unsigned flags)
{
    if (flags & ROUTE_HASH)
        return s->opts.hash_pool;
    if (flags & (ROUTE_WRITES | ROUTE_BLOCKING))
        return s->opts.blocking_pool;
    if ((flags & ROUTE_READS) && s->opts.reads_block)
        return s->opts.blocking_pool;
    return NULL;
}

/* A query parameter named twice (limit=10&limit=20) would be read as the
 * first by pace and maybe as the last by a proxy or a cache: 400 for any
 * name given more than once (compared as sent, as handlers read them).
 * One pass with a table of names in the arena. false after replying. */
static bool
query_is_unambiguous(struct http_req *r)
{
    if (r->query == NULL || r->query_len == 0)
        return true;
    const char *p = r->query, *end = r->query + r->query_len;
    struct http_form_pair kv;
    size_t n = 0;
    while (http_form_next(&p, end, &kv))
        n++;
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    struct http_form_pair *slots = arena_alloc(&r->arena, cap * sizeof(*slots));
    memset(slots, 0, cap * sizeof(*slots));
    p = r->query;
    while (http_form_next(&p, end, &kv)) {
        if (kv.name_len == 0 && kv.value_len == 0)
            continue; /* "a=1&&b=2": nothing there */
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < kv.name_len; i++)
            h = (h ^ (unsigned char)kv.name[i]) * 1099511628211ull;
        size_t i = (size_t)h & (cap - 1);
        while (slots[i].name != NULL) {
            if (slots[i].name_len == kv.name_len && memcmp(slots[i].name, kv.name, kv.name_len) == 0) {
                char *name = arena_strndup(&r->arena, kv.name, kv.name_len < 64 ? kv.name_len : 64);
                for (char *c = name; *c != '\0'; c++)
                    if (*c < 0x20 || *c >= 0x7f) /* raw bytes of the target: shown, not trusted */
                        *c = '?';
                http_reply_problem(r, 400, "duplicate_parameter", "Repeated query parameter",
                                   arena_printf(&r->arena, "%s: given more than once", name));
                return false;
            }
            i = (i + 1) & (cap - 1);
        }
        slots[i] = kv;
    }
    return true;
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

/* The request's place on its connection, 1 for the first (h2o counts them
 * for its logs). */
static uint64_t
request_index(h2o_req_t *req)
{
    h2o_iovec_t (*index)(h2o_req_t *) = req->conn->callbacks->log_.http1.request_index;
    if (index == NULL)
        return 0;
    h2o_iovec_t v = index(req);
    uint64_t n = 0;
    for (size_t i = 0; i < v.len && v.base[i] >= '0' && v.base[i] <= '9'; i++)
        n = n * 10 + (uint64_t)(v.base[i] - '0');
    return n;
}

/* The answer ends the connection: h2o sends Connection: close, and the
 * lingering close drops what the client still sends (a request hidden
 * behind this one never runs) instead of resetting the connection under
 * the answer. */
static void
close_after(struct reqctx *c)
{
    c->req->http1_is_persistent = 0;
    http_linger_arm(&c->loop->linger, c->req);
}

/* Framing (framing.c) and the request target, on the raw head still at the
 * start of the connection's input buffer (h2o consumes a request only once
 * it has been answered). False after replying. */
static bool
check_framing(struct reqctx *c, const struct http_server *s)
{
    h2o_req_t *req = c->req;
    struct http_req *r = &c->r;
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return true;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return true;
    struct http_framing f;
    const char *bad = http_framing_check(sock->input->bytes, sock->input->size, &f);
    if (f.target_len > (size_t)s->opts.max_header_bytes) {
        http_reply_problem(r, 414, "uri_too_long", "Request target too long",
                           arena_printf(&r->arena, "the request target must be at most %ld bytes",
                                        s->opts.max_header_bytes));
        goto refuse;
    }
    if (f.head_len > (size_t)s->opts.max_header_bytes) {
        http_reply_problem(r, 431, "headers_too_large", "Request headers too large",
                           arena_printf(&r->arena, "the request line and headers must be at most %ld bytes",
                                        s->opts.max_header_bytes));
        goto refuse;
    }
    if (bad != NULL) {
        http_reply_problem(r, 400, "bad_request", "Bad request", bad);
        goto refuse;
    }
    if (r->method == 0) {
        http_reply_problem(r, 501, "not_implemented", "Not implemented",
                           "this server implements GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS");
        goto refuse;
    }
    if (req->input.path.len > 0 && req->input.path.base[0] != '/') {
        /* The absolute form (RFC 9112 section 3.2.2), served like its path. */
        struct http_framing_target t;
        if (!http_framing_split_absolute(req->input.path.base, req->input.path.len, &t)) {
            http_reply_problem(r, 400, "bad_request", "Bad request",
                               "the request target must be a path or an absolute http URI");
            goto refuse;
        }
        size_t query_at, *norm;
        h2o_iovec_t p = h2o_url_normalize_path(&req->pool, t.path, t.path_len, &query_at, &norm);
        r->path = p.base;
        r->path_len = p.len;
        r->query = NULL;
        r->query_len = 0;
        if (query_at != SIZE_MAX) {
            r->query = t.path + query_at + 1;
            r->query_len = t.path_len - query_at - 1;
        }
    }
    return true;

refuse:
    close_after(c);
    return false;
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
void
http_on_pool_tick(h2o_timeout_entry_t *e)
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
            http_send_response(c);
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
    c->wait_until = h2o_now(L->ctx.loop) + wait - http_splitmix(&L->rng) % (wait / 2 + 1);
    h2o_linklist_insert(&L->pool_waiting, &c->waiting);
    if (!h2o_timeout_is_linked(&L->pool_tick))
        h2o_timeout_link(L->ctx.loop, &L->pool_retry, &L->pool_tick);
}

/* Hands the request to pool (the route's handler, c->then when set, or a
 * staged handler's run and reply); a full queue waits for room
 * (PACE_POOL_WAIT_MS) or answers 503. */
static void
submit_or_wait(struct reqctx *c, struct http_pool *pool)
{
    c->task.run = task_run;
    c->task.done = task_done;
    c->task.owner = &c->loop->pool_receiver;
    c->pending = true;
    if (http_pool_submit(pool, &c->task) == OK)
        return;
    c->pending = false;
    if (c->loop->srv->opts.pool_wait_ms > 0) {
        pool_wait(c, pool);
        return;
    }
    reply_pool_full(c, pool);
    http_send_response(c);
}

int
http_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct http_server *s = ((struct handler *)self)->srv;
    struct loop *L = http_loop_of(req);
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

    if (!check_framing(c, s))
        goto send;
    /* Like nginx's keepalive_requests: the Nth request's answer closes. */
    if (req->http1_is_persistent && s->opts.keepalive_requests > 0 &&
        request_index(req) >= (uint64_t)s->opts.keepalive_requests)
        req->http1_is_persistent = 0;

    if (http_cors_preflight(c)) /* cors.c: before routing, authentication and limits */
        goto send;
    if (s->opts.web && http_web_class_of(r->path, r->path_len) != HTTP_WEB_NONE) {
        c->web_class = (unsigned char)http_web_class_of(r->path, r->path_len);
        http_web_serve(c); /* web.c */
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

    if (!query_is_unambiguous(r))
        goto send;
    if ((route->flags & ROUTE_JSON) && !http_parse_body(c))
        goto send;
    if (route->flags & ROUTE_AUTH) {
        if (s->auth == NULL) {
            http_reply_problem(r, 401, "unauthorized", "Unauthorized", "authentication is not available");
            http_reply_header(r, "www-authenticate", "Bearer realm=\"pace\"");
            goto send;
        }
        if (!s->auth(r))
            goto send;
    }

    c->db_start = clock_mono_ms(); /* waiting for a worker thread counts against its deadline */
    if (route->stages != NULL && stages_begin(c))
        return 0;
    struct http_pool *pool = pool_for(s, route->flags);
    if (pool != NULL) {
        submit_or_wait(c, pool);
        return 0;
    }
    run_here(c);

send:
    http_send_response(c);
    return 0;
}

size_t
http_req_header_count(struct http_req *r, const char *name)
{
    struct reqctx *c = (struct reqctx *)r;
    size_t n = strlen(name), count = 0;
    for (size_t i = 0; i < c->req->headers.size; i++) {
        const h2o_header_t *h = &c->req->headers.entries[i];
        if (h->name->len == n && h2o_lcstris(h->name->base, n, name, n))
            count++;
    }
    return count;
}
