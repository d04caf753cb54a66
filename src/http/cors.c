/* Origins: whether a browser request comes from pace's own pages or from
 * an origin the operator listed (PACE_CORS_ORIGINS). The browser-session
 * endpoints refuse every other origin; CORS answers only listed ones. */
#include <string.h>
#include <strings.h>

#include "http/internal.h"
#include "util/netlist.h"

/* Whether origin (n bytes) is one element of the comma list. */
static bool
listed(const char *list, const char *origin, size_t n)
{
    if (list == NULL)
        return false;
    for (const char *p = list; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *e = p;
        size_t elen = len;
        netlist_trim(&e, &elen);
        if (elen == n && elen > 0 && strncasecmp(e, origin, n) == 0)
            return true;
        p += len + (end != NULL);
    }
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

bool
http_origin_allowed(struct http_req *r)
{
    size_t n = 0;
    const char *origin = http_req_header(r, "origin", &n);
    if (origin == NULL || n == 0 || http_req_header_count(r, "origin") != 1)
        return false;
    const struct http_server *s = ((struct reqctx *)r)->loop->srv;
    return same_host(r, origin, n) || listed(s->opts.cors_origins, origin, n);
}
