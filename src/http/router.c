/* Route tables compiled into segment lists at start-up; matching walks the
 * routes comparing segments, so a path parameter never needs a regex.
 * Invariant: no two routes share a method and a pattern. */
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

enum { MAX_SEGMENTS = 8 };

struct segment {
    const char *text; /* literal text */
    size_t len;
    bool param;
    char name[32]; /* the parameter's name, terminated */
};

struct compiled {
    const struct http_route *route;
    struct segment segs[MAX_SEGMENTS];
    size_t nsegs;
};

struct http_router {
    struct compiled *routes;
    size_t n, cap;
};

static const char *const method_names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

const char *
http_method_name(unsigned method)
{
    for (unsigned i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
        if (method == (1u << i))
            return method_names[i];
    return "?";
}

unsigned
http_method_parse(const char *s, size_t len)
{
    for (unsigned i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
        if (strlen(method_names[i]) == len && memcmp(method_names[i], s, len) == 0)
            return 1u << i;
    return 0;
}

struct http_router *
http_router_new(void)
{
    return xcalloc(1, sizeof(struct http_router));
}

void
http_router_free(struct http_router *rt)
{
    if (rt == NULL)
        return;
    free(rt->routes);
    free(rt);
}

/* Splits "/a/{id}/b" into segments; ERR_INVALID when malformed. */
static int
compile(const char *path, struct compiled *c)
{
    size_t nparams = 0;
    c->nsegs = 0;
    if (path[0] != '/')
        return ERR_INVALID;
    const char *p = path + 1;
    if (*p == '\0')
        return OK; /* "/" has no segments */
    while (true) {
        const char *end = strchr(p, '/');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == 0 || c->nsegs == MAX_SEGMENTS)
            return ERR_INVALID;
        struct segment *s = &c->segs[c->nsegs++];
        s->param = p[0] == '{';
        if (s->param && ++nparams > HTTP_MAX_PARAMS)
            return ERR_INVALID;
        if (s->param) {
            if (len < 3 || p[len - 1] != '}')
                return ERR_INVALID;
            if (len - 2 >= sizeof(s->name))
                return ERR_INVALID;
            memcpy(s->name, p + 1, len - 2);
            s->name[len - 2] = '\0';
            s->text = NULL;
            s->len = len - 2;
        } else {
            s->text = p;
            s->len = len;
        }
        if (end == NULL)
            return OK;
        p = end + 1;
    }
}

static bool
same_pattern(const struct compiled *a, const struct compiled *b)
{
    if (a->nsegs != b->nsegs)
        return false;
    for (size_t i = 0; i < a->nsegs; i++) {
        if (a->segs[i].param != b->segs[i].param)
            return false;
        if (!a->segs[i].param && (a->segs[i].len != b->segs[i].len ||
                                  memcmp(a->segs[i].text, b->segs[i].text, a->segs[i].len) != 0))
            return false;
    }
    return true;
}

int
http_router_add(struct http_router *rt, const struct http_route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct compiled c = {.route = &routes[i]};
        if (compile(routes[i].path, &c) != OK) {
            log_error("http", "malformed route pattern %s", routes[i].path);
            return ERR_INVALID;
        }
        for (size_t j = 0; j < rt->n; j++) {
            if (rt->routes[j].route->method == routes[i].method && same_pattern(&rt->routes[j], &c)) {
                log_error("http", "duplicate route %s %s", http_method_name(routes[i].method),
                          routes[i].path);
                return ERR_CONFLICT;
            }
        }
        if (rt->n == rt->cap) {
            rt->cap = rt->cap == 0 ? 32 : rt->cap * 2;
            rt->routes = xrealloc(rt->routes, rt->cap * sizeof(*rt->routes));
        }
        rt->routes[rt->n++] = c;
    }
    return OK;
}

size_t
http_router_count(const struct http_router *rt)
{
    return rt->n;
}

const struct http_route *
http_router_at(const struct http_router *rt, size_t i)
{
    return i < rt->n ? rt->routes[i].route : NULL;
}

/* Matches the segments of c against path; fills params on success. */
static bool
match_path(const struct compiled *c, const char *path, size_t len, struct http_kv *params, size_t *nparams)
{
    size_t np = 0;
    size_t pos = 1; /* skip the leading '/' */
    if (len == 0 || path[0] != '/')
        return false;
    if (c->nsegs == 0)
        return len == 1;
    for (size_t i = 0; i < c->nsegs; i++) {
        if (pos > len)
            return false;
        const char *seg = path + pos;
        const char *slash = memchr(seg, '/', len - pos);
        size_t sl = slash != NULL ? (size_t)(slash - seg) : len - pos;
        const struct segment *s = &c->segs[i];
        if (sl == 0)
            return false;
        if (s->param) {
            if (np == HTTP_MAX_PARAMS)
                return false;
            params[np].name = s->name;
            params[np].value = seg;
            params[np].value_len = sl;
            np++;
        } else if (sl != s->len || memcmp(seg, s->text, sl) != 0) {
            return false;
        }
        pos += sl + 1;
        if (i + 1 == c->nsegs && slash != NULL)
            return false; /* trailing text or slash */
    }
    *nparams = np;
    return true;
}

enum http_match
http_router_match(const struct http_router *rt, unsigned method, const char *path, size_t len,
                  const struct http_route **route, size_t *index, struct http_kv *params, size_t *nparams,
                  unsigned *allow)
{
    unsigned methods = 0;
    /* HEAD is answered by the GET route, without the body. */
    unsigned want = method == HTTP_HEAD ? HTTP_GET : method;
    for (size_t i = 0; i < rt->n; i++) {
        const struct compiled *c = &rt->routes[i];
        struct http_kv tmp[HTTP_MAX_PARAMS];
        size_t ntmp = 0;
        if (!match_path(c, path, len, tmp, &ntmp))
            continue;
        if (c->route->method == want) {
            *route = c->route;
            *index = i;
            memcpy(params, tmp, ntmp * sizeof(*tmp));
            *nparams = ntmp;
            return HTTP_MATCH_OK;
        }
        methods |= c->route->method;
    }
    if (methods == 0)
        return HTTP_MATCH_NOT_FOUND;
    if (methods & HTTP_GET)
        methods |= HTTP_HEAD;
    *allow = methods;
    return HTTP_MATCH_METHOD;
}
