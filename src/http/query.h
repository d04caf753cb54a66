/* Query strings: the value of one parameter, percent-decoded. Pure parsing
 * over untrusted bytes, with no server state (tests/fuzz/fuzz_query.c). */
#ifndef PACE_HTTP_QUERY_H
#define PACE_HTTP_QUERY_H

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

#endif
