/* The web client (/app/) and the API reference (/docs), served from the
 * table scripts/web_embed.py compiles into the binary (docs/internals/web.md):
 *
 *   /                          302 to /app/
 *   /app                       301 to /app/
 *   /app/, /app/<anything>     the client's index.html (its routes are the
 *                              client's), revalidated: no-cache and an ETag
 *   /app/assets/<V>/<path>     a file of the client, immutable for a year
 *   /docs, /docs/              the reference's index.html, revalidated
 *   /docs/assets/<V>/<path>    a file of the reference, immutable
 *
 * GET and HEAD; a file is sent gzipped (the bytes gzipped at build time)
 * when the client accepts gzip, else as it is. An unknown asset (a wrong
 * V included) is a 404 problem like any unknown path. PACE_WEB=off, or a
 * build without web assets: nothing here is served (404). */
#include <string.h>

#include "http/internal.h"
#include "http/negotiate.h"
#include "util/embedded.h"

static const char IMMUTABLE[] = "public, max-age=31536000, immutable";

bool
http_web_built(void)
{
    return embedded_web_files[0].path != NULL;
}

static bool
is(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(p, lit, l) == 0;
}

static bool
starts(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(p, lit, l) == 0;
}

enum http_web_class
http_web_class_of(const char *path, size_t n)
{
    if (is(path, n, "/") || is(path, n, "/app") || starts(path, n, "/app/"))
        return HTTP_WEB_APP;
    if (is(path, n, "/docs") || starts(path, n, "/docs/"))
        return HTTP_WEB_DOCS;
    return HTTP_WEB_NONE;
}

/* The table's entry for path, or NULL (the table is sorted by path). */
static const struct embedded_web_file *
find(const char *path, size_t n)
{
    size_t lo = 0, hi = 0;
    while (embedded_web_files[hi].path != NULL)
        hi++;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *e = embedded_web_files[mid].path;
        size_t el = strlen(e);
        int cmp = memcmp(e, path, el < n ? el : n);
        if (cmp == 0)
            cmp = el < n ? -1 : el > n ? 1 : 0;
        if (cmp == 0)
            return &embedded_web_files[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Whether the client accepts gzip: every Accept-Encoding line counts as
 * one list (RFC 9110 section 12.5.3), weights included. */
static bool
accepts_gzip(struct reqctx *c)
{
    h2o_req_t *req = c->req;
    size_t total = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        if (req->headers.entries[i].name == &H2O_TOKEN_ACCEPT_ENCODING->buf)
            total += req->headers.entries[i].value.len + 1;
    if (total == 0)
        return false;
    char *all = arena_alloc(&c->r.arena, total);
    size_t n = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        if (req->headers.entries[i].name == &H2O_TOKEN_ACCEPT_ENCODING->buf) {
            h2o_iovec_t v = req->headers.entries[i].value;
            memcpy(all + n, v.base, v.len);
            n += v.len;
            all[n++] = ',';
        }
    return http_gzip_weight(all, n) > 0;
}

/* If-None-Match (RFC 9110 section 13.1.2, weak comparison): whether any
 * of its entity tags, on any of its lines, is etag, or it is "*". */
static bool
none_match(struct reqctx *c, const char *etag)
{
    h2o_req_t *req = c->req;
    size_t el = strlen(etag);
    for (size_t i = 0; i < req->headers.size; i++) {
        if (req->headers.entries[i].name != &H2O_TOKEN_IF_NONE_MATCH->buf)
            continue;
        const char *p = req->headers.entries[i].value.base;
        const char *end = p + req->headers.entries[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
                p++;
            if (p == end)
                break;
            if (*p == '*')
                return true;
            if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
                p += 2;
            const char *t = p;
            if (p < end && *p == '"') {
                p++;
                while (p < end && *p != '"')
                    p++;
                if (p < end)
                    p++;
            }
            if ((size_t)(p - t) == el && memcmp(t, etag, el) == 0)
                return true;
            while (p < end && *p != ',')
                p++;
        }
    }
    return false;
}

static void
redirect(struct http_req *r, int status, const char *to)
{
    const char *loc = to;
    if (r->query != NULL)
        loc = arena_printf(&r->arena, "%s?%.*s", to, (int)r->query_len, r->query);
    http_reply_empty(r, status);
    http_reply_header(r, "location", loc);
}

static void
send_file(struct reqctx *c, const struct embedded_web_file *f, bool immutable)
{
    struct http_req *r = &c->r;
    bool gz = f->gzip != NULL && accepts_gzip(c);
    const char *etag = f->etag;
    if (gz) /* another representation: another strong tag */
        etag = arena_printf(&r->arena, "%.*s-gz\"", (int)strlen(f->etag) - 1, f->etag);
    if (none_match(c, etag)) {
        http_reply_empty(r, 304);
    } else {
        http_reply_raw(r, 200, f->content_type, "", 0);
        c->body_static = gz ? f->gzip : f->data;
        c->body_static_len = gz ? f->gzip_len : f->len;
        if (gz)
            http_reply_header(r, "content-encoding", "gzip");
    }
    http_reply_header(r, "etag", etag);
    http_reply_header(r, "cache-control", immutable ? IMMUTABLE : "no-cache");
    if (f->gzip != NULL)
        http_reply_header(r, "vary", "accept-encoding");
}

static void
not_found(struct http_req *r)
{
    http_reply_problem(r, 404, "not_found", "Not found", "no resource at this path");
}

void
http_web_serve(struct reqctx *c)
{
    struct http_req *r = &c->r;
    const char *p = r->path;
    size_t n = r->path_len;
    if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
        http_reply_problem(r, 405, "method_not_allowed", "Method not allowed",
                           "this resource allows GET, HEAD");
        http_reply_header(r, "allow", "GET, HEAD");
        return;
    }
    const char *site = http_web_class_of(p, n) == HTTP_WEB_APP ? "/app/" : "/docs/";
    const struct embedded_web_file *index = find(site, strlen(site));
    if (index == NULL) { /* built without this site's index.html */
        not_found(r);
        return;
    }
    if (is(p, n, "/")) {
        redirect(r, 302, "/app/");
        return;
    }
    if (is(p, n, "/app")) {
        redirect(r, 301, "/app/");
        return;
    }
    size_t sl = strlen(site);
    if (starts(p + sl, n - sl, "assets/") || is(p + sl, n - sl, "assets")) {
        const struct embedded_web_file *f = find(p, n);
        if (f == NULL || f == index)
            not_found(r);
        else
            send_file(c, f, true);
        return;
    }
    /* The client's own routes (/app/tasks/42) are its index.html; the
     * reference has one page. */
    if (site[1] == 'a' || is(p, n, "/docs") || is(p, n, "/docs/"))
        send_file(c, index, false);
    else
        not_found(r);
}
