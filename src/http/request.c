/* A request's context: its lifetime and cancel path, request ids, header
 * access, the response sent through h2o, JSON bodies, the problem+json
 * filter for errors h2o answers itself, and the access log. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http/internal.h"
#include "http/negotiate.h"
#include "util/alloc.h"
#include "util/jparse.h"
#include "util/log.h"

#define ENV_KEY "pace.ctx"

/* ---- request context ---- */

uint64_t
http_splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

struct reqctx *
reqctx_find(h2o_req_t *req)
{
    for (size_t i = 0; i + 1 < req->env.size; i += 2)
        if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len, H2O_STRLIT(ENV_KEY)))
            return (struct reqctx *)(void *)req->env.entries[i + 1].base;
    return NULL;
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
    http_request_id_new(c->loop, c->r.request_id);
}

void
http_request_id_new(struct loop *L, char *id)
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    uint64_t a = http_splitmix(&L->rng), b = http_splitmix(&L->rng);
    for (int k = 0; k < 13; k++) {
        id[k] = alphabet[a & 31];
        id[13 + k] = alphabet[b & 31];
        a >>= 5;
        b >>= 5;
    }
    id[26] = '\0';
}

size_t
http_raw_problem(struct loop *L, char *out, size_t cap, int status, const char *reason, const char *code,
                 const char *title, const char *detail, const char *extra)
{
    char id[HTTP_REQUEST_ID_MAX + 1], body[512];
    http_request_id_new(L, id);
    int bl =
        snprintf(body, sizeof(body),
                 "{\"status\":%d,\"code\":\"%s\",\"title\":\"%s\",\"detail\":\"%s\",\"request_id\":\"%s\"}",
                 status, code, title, detail, id);
    if (bl < 0 || (size_t)bl >= sizeof(body))
        return 0;
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: application/problem+json; charset=utf-8\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "Referrer-Policy: no-referrer\r\n"
                     "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
                     "Cache-Control: no-store\r\n"
                     "X-Request-Id: %s\r\n"
                     "Connection: close\r\n"
                     "%s"
                     "Content-Length: %d\r\n"
                     "\r\n"
                     "%s",
                     status, reason, id, extra, bl, body);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* h2o's handle on a context: freed with h2o's request pool, which then
 * detaches the context (the cancel path; see struct reqctx). */
struct reqref {
    struct reqctx *c;
};

void
reqctx_free(struct reqctx *c)
{
    if (c->r.json != NULL)
        json_decref(c->r.json);
    arena_cleanup(&c->r.arena);
    if (c->in_flight)
        atomic_fetch_sub_explicit(&c->loop->srv->in_flight, 1, memory_order_relaxed);
    if (c->counted)
        atomic_fetch_sub_explicit(&c->loop->srv->active, 1, memory_order_relaxed);
    free(c);
}

static void
reqctx_detach(void *p)
{
    struct reqctx *c = ((struct reqref *)p)->c;
    c->req = NULL;
    if (h2o_linklist_is_linked(&c->waiting))
        h2o_linklist_unlink(&c->waiting);
    if (c->pending) {
        /* Its work still writes into the context: the completion frees it. */
        atomic_fetch_add_explicit(&c->loop->srv->abandoned, 1, memory_order_relaxed);
        return;
    }
    reqctx_free(c);
}

struct reqctx *
reqctx_new(h2o_req_t *req, struct loop *L, bool counted)
{
    struct reqctx *c = xcalloc(1, sizeof(*c));
    struct reqref *ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), reqctx_detach);
    ref->c = c;
    c->req = req;
    c->loop = L;
    c->route_index = SIZE_MAX;
    c->counted = counted;
    c->in_flight = counted;
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

struct loop *
http_loop_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(struct loop, ctx, req->conn->ctx);
}

const char *
http_req_header_at(struct http_req *r, const char *name, size_t index, size_t *len)
{
    struct reqctx *c = (struct reqctx *)r;
    char lower[64];
    size_t n = strlen(name);
    if (n >= sizeof(lower))
        return NULL;
    for (size_t i = 0; i < n; i++)
        lower[i] = h2o_tolower(name[i]);
    ssize_t i = -1;
    for (size_t k = 0; k <= index; k++) {
        i = h2o_find_header_by_str(&c->req->headers, lower, n, i);
        if (i < 0)
            return NULL;
    }
    if (len != NULL)
        *len = c->req->headers.entries[i].value.len;
    return c->req->headers.entries[i].value.base;
}

const char *
http_req_header(struct http_req *r, const char *name, size_t *len)
{
    return http_req_header_at(r, name, 0, len);
}

bool
http_req_parse_json(struct http_req *r)
{
    return http_parse_body((struct reqctx *)r);
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
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
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
    case 414:
        return "URI Too Long";
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
    case 501:
        return "Not Implemented";
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

/* JSON is UTF-8 (RFC 8259 section 8.1): the charset parameter changes
 * nothing for a conforming client and tells every other one. */
static h2o_iovec_t
wire_content_type(const char *t)
{
    if (strcmp(t, "application/json") == 0)
        return h2o_iovec_init(H2O_STRLIT("application/json; charset=utf-8"));
    if (strcmp(t, "application/problem+json") == 0)
        return h2o_iovec_init(H2O_STRLIT("application/problem+json; charset=utf-8"));
    return h2o_iovec_init(t, strlen(t));
}

/* Content-Security-Policy by class of response (docs/internals/web.md):
 * the client's pages run only their own scripts and styles and talk only
 * to pace; the API reference's (swagger-ui) also needs inline styles; and
 * nothing else is a document a browser should render or frame. */
static const char CSP_API[] = "default-src 'none'; frame-ancestors 'none'";
static const char CSP_APP[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";
static const char CSP_DOCS[] = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'";

/* Headers on every response (docs/api.md, "Response headers"): no
 * sniffing, no Referer sent from pace's pages, the CSP of the response's
 * class, and no storing in any cache unless the handler chose a
 * Cache-Control itself (the ETag'd reads: private, no-cache; web assets). */
static void
add_common_headers(h2o_req_t *req, bool has_cache_control, unsigned web_class)
{
    add_header(req, H2O_STRLIT("x-content-type-options"), H2O_STRLIT("nosniff"));
    add_header(req, H2O_STRLIT("referrer-policy"), H2O_STRLIT("no-referrer"));
    const char *csp = web_class == HTTP_WEB_APP ? CSP_APP : web_class == HTTP_WEB_DOCS ? CSP_DOCS : CSP_API;
    add_header(req, H2O_STRLIT("content-security-policy"), csp, strlen(csp));
    if (web_class != HTTP_WEB_NONE)
        add_header(req, H2O_STRLIT("x-frame-options"), H2O_STRLIT("DENY"));
    if (!has_cache_control)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
}

void
http_send_response(struct reqctx *c)
{
    h2o_req_t *req = c->req;
    struct http_req *r = &c->r;
    c->pending = false;
    if (req == NULL) { /* the connection went away while the work ran */
        reqctx_free(c);
        return;
    }
    if (!r->replied) {
        log_write(LOG_ERROR, "http", r->request_id, "handler for %s %s returned without a reply",
                  http_method_name(r->route->method), r->route->path);
        http_reply_problem(r, 500, "internal", "Internal error", NULL);
    }
    if (c->in_flight) {
        c->in_flight = false;
        atomic_fetch_sub_explicit(&c->loop->srv->in_flight, 1, memory_order_relaxed);
    }
    req->res.status = r->status;
    req->res.reason = reason(r->status);
    add_header(req, H2O_STRLIT("x-request-id"), r->request_id, strlen(r->request_id));
    if (r->content_type != NULL) {
        h2o_iovec_t ct = wire_content_type(r->content_type);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ct.base, ct.len);
    }
    bool has_cache_control = false;
    for (size_t i = 0; i < r->nres_headers; i++) {
        add_header(req, r->res_headers[i].name, strlen(r->res_headers[i].name), r->res_headers[i].value,
                   r->res_headers[i].value_len);
        has_cache_control |= strcasecmp(r->res_headers[i].name, "cache-control") == 0;
    }
    /* A 304 without Cache-Control leaves the cached response's own. */
    add_common_headers(req, has_cache_control || r->status == 304, c->web_class);
    http_cors_headers(c); /* cors.c */

    static h2o_generator_t generator = {NULL, NULL};
    bool no_body = r->status == 204 || r->status == 304;
    h2o_iovec_t body = h2o_iovec_init(r->out.data, r->out.len);
    if (c->body_static != NULL)
        body = h2o_iovec_init(c->body_static, c->body_static_len);
    req->res.content_length = no_body ? SIZE_MAX : body.len;
    http_negotiate_encoding(req);
    h2o_start_response(req, &generator);
    if (no_body || r->method == HTTP_HEAD || body.len == 0) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
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
    if (n > wl && v[wl] != ';' && v[wl] != ' ' && v[wl] != '\t')
        return false;
    /* Parameters: a charset, if any, must be UTF-8 (RFC 8259 section 8.1),
     * quoted or not; the body is parsed as UTF-8 whatever it says. */
    const char *p = v + wl, *end = v + n;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *pe = semi != NULL ? semi : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *name = p, *name_end = eq != NULL ? eq : pe;
        while (name < name_end && (*name == ' ' || *name == '\t' || *name == ';'))
            name++;
        while (name_end > name && (name_end[-1] == ' ' || name_end[-1] == '\t'))
            name_end--;
        if (eq != NULL && h2o_lcstris(name, (size_t)(name_end - name), "charset", 7)) {
            const char *val = eq + 1, *val_end = pe;
            while (val < val_end && (*val == ' ' || *val == '\t'))
                val++;
            while (val_end > val && (val_end[-1] == ' ' || val_end[-1] == '\t'))
                val_end--;
            if (val_end - val >= 2 && *val == '"' && val_end[-1] == '"') {
                val++;
                val_end--;
            }
            if (!h2o_lcstris(val, (size_t)(val_end - val), "utf-8", 5))
                return false;
        }
        p = semi != NULL ? semi + 1 : end;
    }
    return true;
}

bool
http_parse_body(struct reqctx *c)
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

void
http_problem_on_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    /* The drain: a request under way when the listeners closed is the
     * connection's last (h2o marks the ones whose headers came later). */
    if (http_loop_of(req)->draining)
        req->http1_is_persistent = 0;
    if (req->res.status >= 400 && reqctx_find(req) == NULL) {
        struct reqctx *c = reqctx_new(req, http_loop_of(req), false);
        int st = req->res.status;
        if (st == 413)
            http_reply_problem(&c->r, st, "body_too_large", "Request body too large",
                               arena_printf(&c->r.arena, "the body must be at most %ld bytes",
                                            http_loop_of(req)->srv->opts.max_body_bytes));
        else if (st == 400)
            http_reply_problem(&c->r, st, "bad_request", "Bad request", "the request could not be parsed");
        else
            http_reply_problem(&c->r, st, "request_error", req->res.reason, NULL);
        h2o_iovec_t ct = wire_content_type("application/problem+json");
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, ct.base, ct.len, 1);
        add_header(req, H2O_STRLIT("x-request-id"), c->r.request_id, strlen(c->r.request_id));
        add_common_headers(req, false, HTTP_WEB_NONE);
        http_cors_headers(c); /* cors.c */
        req->res.content_length = c->r.out.len;
        http_linger_arm(&http_loop_of(req)->linger, req);
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

void
http_on_log(h2o_logger_t *self, h2o_req_t *req)
{
    struct loop *L = http_loop_of(req);
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
