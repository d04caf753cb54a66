/* Query strings and application/x-www-form-urlencoded bodies: pairs, one
 * parameter's value, percent-decoding. Pure parsing over untrusted bytes,
 * with no server state (tests/fuzz/fuzz_query.c). */
#ifndef PACE_HTTP_QUERY_H
#define PACE_HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"

/* The first value of parameter `name` in query[0..len) (the text after '?',
 * without it), percent-decoded into the arena and NUL-terminated; NULL when
 * the parameter is absent or query is NULL.
 * - Parameters are separated by '&'; a parameter's name runs to its first
 *   '=' and is compared byte for byte, undecoded, with `name`.
 * - A parameter given twice yields its first value; one without '=', or
 *   with nothing after it, yields "".
 * - In the value, '+' is a space and %XX (hex digits, either case) is that
 *   byte, which may be NUL: the C string then ends early. A '%' not followed
 *   by two hex digits is kept as is, and so is any other byte.
 * The result is never longer than the query. */
const char *http_query_get(struct arena *a, const char *query, size_t len, const char *name);

/* One name=value pair, undecoded: slices of the input. A pair without '='
 * has an empty value. */
struct http_form_pair {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* The pair at *p (pairs are separated by '&'; *p runs to end), then *p
 * moves past it; false once *p has reached end. */
bool http_form_next(const char **p, const char *end, struct http_form_pair *out);

/* Percent-decodes s[0..n) into the arena, NUL-terminated, '+' as a space;
 * *len (may be NULL) gets the decoded length. Lenient (strict false, query
 * strings): a '%' not followed by two hex digits is kept as is, and a NUL
 * byte passes. Strict (forms whose values must be exact): either makes the
 * result NULL. */
char *http_form_decode(struct arena *a, const char *s, size_t n, bool strict, size_t *len);

#endif
