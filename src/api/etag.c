/* Entity tags and conditional requests. Header values are parsed in place,
 * bounded by their length; a malformed list simply matches nothing. */
#include <string.h>

#include "api/etag.h"

/* Walks a comma list of entity tags. */
struct tag_iter {
    const char *p, *end;
};

/* The next list element, trimmed; false at the end. */
static bool
next_tag(struct tag_iter *it, const char **s, size_t *n)
{
    while (it->p < it->end && (*it->p == ' ' || *it->p == '\t' || *it->p == ','))
        it->p++;
    if (it->p >= it->end)
        return false;
    const char *q = it->p;
    /* A comma inside quotes is part of the tag. */
    bool quoted = false;
    while (q < it->end && (quoted || *q != ',')) {
        if (*q == '"')
            quoted = !quoted;
        q++;
    }
    const char *e = q;
    while (e > it->p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *s = it->p;
    *n = (size_t)(e - it->p);
    it->p = q;
    return true;
}

static void
strip_weak(const char **s, size_t *n)
{
    if (*n >= 2 && (*s)[0] == 'W' && (*s)[1] == '/') {
        *s += 2;
        *n -= 2;
    }
}

bool
api_etag_listed(const char *header, size_t n, const char *tag)
{
    const char *t = tag;
    size_t tl = strlen(tag);
    strip_weak(&t, &tl);
    struct tag_iter it = {header, header + n};
    const char *s;
    size_t sl;
    while (next_tag(&it, &s, &sl)) {
        if (sl == 1 && *s == '*')
            return true;
        strip_weak(&s, &sl);
        if (sl == tl && memcmp(s, t, tl) == 0)
            return true;
    }
    return false;
}

void
api_etag_header(struct http_req *r, const char *tag)
{
    http_reply_header(r, "etag", tag);
    http_reply_header(r, "cache-control", "private, no-cache");
}

bool
api_etag_not_modified(struct http_req *r, const char *tag)
{
    size_t n = 0;
    const char *h = http_req_header(r, "if-none-match", &n);
    if (h == NULL || !api_etag_listed(h, n, tag))
        return false;
    http_reply_empty(r, 304);
    api_etag_header(r, tag);
    return true;
}

/* Parses decimal digits [s, s+n) into *v (> 0, no sign, no leading zero). */
static bool
parse_positive(const char *s, size_t n, int64_t *v)
{
    if (n == 0 || n > 19 || s[0] == '0')
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x > INT64_MAX)
        return false;
    *v = (int64_t)x;
    return true;
}

size_t
api_etag_versions(const char *header, size_t n, const char *prefix, int64_t id, bool *any, int64_t *versions,
                  size_t max)
{
    size_t pl = strlen(prefix), found = 0;
    *any = false;
    struct tag_iter it = {header, header + n};
    const char *s;
    size_t sl;
    while (next_tag(&it, &s, &sl)) {
        if (sl == 1 && *s == '*') {
            *any = true;
            continue;
        }
        strip_weak(&s, &sl);
        /* "<prefix><id>-v<version>" */
        if (sl < pl + 6 || s[0] != '"' || s[sl - 1] != '"' || memcmp(s + 1, prefix, pl) != 0)
            continue;
        const char *body = s + 1 + pl, *end = s + sl - 1;
        const char *dash = memchr(body, '-', (size_t)(end - body));
        int64_t tid = 0, ver = 0;
        if (dash == NULL || dash + 1 >= end || dash[1] != 'v' ||
            !parse_positive(body, (size_t)(dash - body), &tid) ||
            !parse_positive(dash + 2, (size_t)(end - dash - 2), &ver) || tid != id)
            continue;
        if (found < max)
            versions[found++] = ver;
    }
    return found;
}
