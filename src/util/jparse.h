/* Parsing untrusted JSON with caps: nesting depth is checked before jansson
 * sees the bytes; duplicate keys are rejected. Errors carry a position and
 * a message of our own (never jansson's text). */
#ifndef PACE_UTIL_JPARSE_H
#define PACE_UTIL_JPARSE_H

#include <stddef.h>

#include <jansson.h>

enum { JPARSE_MAX_DEPTH = 32 };

struct jparse_error {
    int line;
    int column;
    const char *reason; /* static text */
};

/* Parses n bytes at s. Returns a new reference (caller json_decref's), or
 * NULL with *e filled: empty input, too deep, or not valid JSON. */
json_t *jparse(const char *s, size_t n, struct jparse_error *e);

#endif
