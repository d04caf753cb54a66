/* Query-string parsing: see query.h. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "http/query.h"

/* The value of hex digit c into *v; false when c is not one. */
static bool
hexval(char c, int *v)
{
    if (c >= '0' && c <= '9') {
        *v = c - '0';
        return true;
    }
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f') {
        *v = c - 'a' + 10;
        return true;
    }
    return false;
}

/* Percent-decodes s[0..n) into the arena ('+' is a space, per forms). */
static char *
decode(struct arena *a, const char *s, size_t n)
{
    char *out = arena_alloc(a, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1], &hi) && hexval(s[i + 2], &lo)) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

const char *
http_query_get(struct arena *a, const char *query, size_t len, const char *name)
{
    if (query == NULL)
        return NULL;
    size_t nl = strlen(name);
    const char *p = query, *end = query + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq != NULL ? eq : pe;
        if ((size_t)(ke - p) == nl && memcmp(p, name, nl) == 0) {
            const char *v = eq != NULL ? eq + 1 : pe;
            return decode(a, v, (size_t)(pe - v));
        }
        if (pe == end)
            break;
        p = pe + 1;
    }
    return NULL;
}
