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

char *
http_form_decode(struct arena *a, const char *s, size_t n, bool strict, size_t *len)
{
    char *out = arena_alloc(a, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int hi, lo;
        if (c == '%' && i + 2 < n && hexval(s[i + 1], &hi) && hexval(s[i + 2], &lo)) {
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '%' && strict) {
            return NULL;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0' && strict)
            return NULL;
        out[o++] = c;
    }
    out[o] = '\0';
    if (len != NULL)
        *len = o;
    return out;
}

bool
http_form_next(const char **p, const char *end, struct http_form_pair *out)
{
    const char *s = *p;
    if (s == NULL || s >= end)
        return false;
    const char *amp = memchr(s, '&', (size_t)(end - s));
    const char *pe = amp != NULL ? amp : end;
    const char *eq = memchr(s, '=', (size_t)(pe - s));
    out->name = s;
    out->name_len = (size_t)((eq != NULL ? eq : pe) - s);
    out->value = eq != NULL ? eq + 1 : pe;
    out->value_len = (size_t)(pe - out->value);
    *p = pe < end ? pe + 1 : end;
    return true;
}

const char *
http_query_get(struct arena *a, const char *query, size_t len, const char *name)
{
    if (query == NULL)
        return NULL;
    size_t nl = strlen(name);
    const char *p = query;
    struct http_form_pair kv;
    while (http_form_next(&p, query + len, &kv))
        if (kv.name_len == nl && memcmp(kv.name, name, nl) == 0)
            return http_form_decode(a, kv.value, kv.value_len, false, NULL);
    return NULL;
}
