/* Origins: whether a browser request comes from pace's own pages or from
 * an origin the operator listed (PACE_CORS_ORIGINS). The browser-session
 * endpoints refuse every other origin; CORS answers only listed ones.
 *
 * CORS (docs/internals/web.md, "CORS"): off while PACE_CORS_ORIGINS is
 * empty. A request whose Origin is listed gets Access-Control-Allow-Origin
 * (that origin), Allow-Credentials and Expose-Headers on every answer,
 * errors included; a preflight (OPTIONS with Access-Control-Request-Method)
 * from a listed origin is answered 204 here, before routing, without
 * authentication and without counting against any limit; one from any
 * other origin is refused 403 forbidden_origin, without CORS headers. No
 * other origin ever gets a CORS header. With CORS on, every answer but the
 * web pages' carries Vary: Origin (they differ by Origin). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/netlist.h"

static const char EXPOSE[] =
    "ETag, Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-Request-Id";
static const char METHODS[] = "GET, HEAD, POST, PUT, PATCH, DELETE";
static const char HEADERS[] =
    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id";

/* Whether [s, s+n) is an origin as a browser serializes it:
 * http[s]://host[:port], host a DNS name, IPv4 or [IPv6], nothing after. */
static bool
origin_is_valid(const char *s, size_t n)
{
    size_t skip;
    if (n > 7 && strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (n > 8 && strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    const char *p = s + skip, *end = s + n;
    if (p < end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (close == NULL || close == p + 1)
            return false;
        for (const char *q = p + 1; q < close; q++)
            if (!(strchr("0123456789abcdefABCDEF:.", *q) != NULL))
                return false;
        p = close + 1;
    } else {
        const char *h = p;
        while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                           *p == '-' || *p == '.'))
            p++;
        if (p == h || h[0] == '.' || h[0] == '-' || p[-1] == '.')
            return false;
    }
    if (p == end)
        return true;
    if (*p != ':' || end - p < 2 || end - p > 6)
        return false;
    long port = 0;
    for (p++; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port = port * 10 + (*p - '0');
    }
    return port >= 1 && port <= 65535;
}

int
http_cors_init(struct http_server *s)
{
    const char *list = s->opts.cors_origins != NULL ? s->opts.cors_origins : "";
    for (const char *p = list; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *e = p;
        size_t elen = len;
        netlist_trim(&e, &elen);
        p += len + (end != NULL);
        if (elen == 0 && end == NULL && s->ncors == 0)
            break; /* "" or blanks: CORS off */
        if (!origin_is_valid(e, elen)) {
            log_error("http",
                      "invalid PACE_CORS_ORIGINS entry \"%.*s\": each must be an exact origin, "
                      "scheme://host[:port] (http or https, no path, no trailing slash)",
                      (int)elen, e);
            http_cors_free(s);
            return ERR_INVALID;
        }
        s->cors = xrealloc(s->cors, (s->ncors + 1) * sizeof(*s->cors));
        s->cors[s->ncors] = xmalloc(elen + 1);
        memcpy(s->cors[s->ncors], e, elen);
        s->cors[s->ncors][elen] = '\0';
        s->ncors++;
    }
    if (s->ncors > 0)
        log_info("http", "CORS on for %zu origin%s (PACE_CORS_ORIGINS)", s->ncors, s->ncors == 1 ? "" : "s");
    return OK;
}

void
http_cors_free(struct http_server *s)
{
    for (size_t i = 0; i < s->ncors; i++)
        free(s->cors[i]);
    free(s->cors);
    s->cors = NULL;
    s->ncors = 0;
}

/* Whether origin (n bytes) is one of the listed origins. */
static bool
listed(const struct http_server *s, const char *origin, size_t n)
{
    for (size_t i = 0; i < s->ncors; i++)
        if (strlen(s->cors[i]) == n && strncasecmp(s->cors[i], origin, n) == 0)
            return true;
    return false;
}

/* Whether the origin's host[:port] is the request's Host. */
static bool
same_host(struct http_req *r, const char *origin, size_t n)
{
    size_t skip;
    if (n > 7 && strncasecmp(origin, "http://", 7) == 0)
        skip = 7;
    else if (n > 8 && strncasecmp(origin, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    /* h2o keeps Host as the request's authority, not among its headers. */
    h2o_iovec_t host = ((struct reqctx *)r)->req->input.authority;
    return host.len == n - skip && strncasecmp(host.base, origin + skip, host.len) == 0;
}

/* The request's one Origin, or NULL. */
static const char *
origin_of(struct http_req *r, size_t *n)
{
    const char *origin = http_req_header(r, "origin", n);
    if (origin == NULL || *n == 0 || http_req_header_count(r, "origin") != 1)
        return NULL;
    return origin;
}

bool
http_origin_allowed(struct http_req *r)
{
    size_t n = 0;
    const char *origin = origin_of(r, &n);
    if (origin == NULL)
        return false;
    const struct http_server *s = ((struct reqctx *)r)->loop->srv;
    return same_host(r, origin, n) || listed(s, origin, n);
}

static void
add(h2o_req_t *req, const char *name, const char *value, size_t vl)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, value, vl);
}

void
http_cors_headers(struct reqctx *c)
{
    const struct http_server *s = c->loop->srv;
    if (s->ncors == 0 || c->req == NULL || c->web_class != HTTP_WEB_NONE)
        return;
    h2o_req_t *req = c->req;
    h2o_set_header_token(&req->pool, &req->res.headers, H2O_TOKEN_VARY, H2O_STRLIT("origin"));
    size_t n = 0;
    const char *origin = origin_of(&c->r, &n);
    if (origin == NULL || !listed(s, origin, n))
        return;
    add(req, "access-control-allow-origin", origin, n);
    add(req, "access-control-allow-credentials", H2O_STRLIT("true"));
    add(req, "access-control-expose-headers", EXPOSE, sizeof(EXPOSE) - 1);
}

bool
http_cors_preflight(struct reqctx *c)
{
    struct http_req *r = &c->r;
    if (r->method != HTTP_OPTIONS || http_req_header(r, "access-control-request-method", NULL) == NULL)
        return false;
    size_t n = 0;
    const char *origin = origin_of(r, &n);
    if (origin == NULL || !listed(c->loop->srv, origin, n)) {
        http_reply_problem(r, 403, "forbidden_origin", "Origin not allowed",
                           "this origin is not listed in PACE_CORS_ORIGINS; no cross-origin request "
                           "from it is allowed");
        return true;
    }
    http_reply_empty(r, 204);
    http_reply_header(r, "access-control-allow-methods", METHODS);
    http_reply_header(r, "access-control-allow-headers", HEADERS);
    http_reply_header(r, "access-control-max-age", "600");
    return true;
}
