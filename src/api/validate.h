/* Validation of JSON request bodies against a table of fields: types,
 * required fields, lengths (in characters), ranges, enums, dates, and
 * unknown fields (rejected, so typos and mass assignment never pass).
 * On failure the reply is 422 validation_failed with one entry per field. */
#ifndef PACE_API_VALIDATE_H
#define PACE_API_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "http/http.h"

struct arena;

enum api_type { API_STRING, API_INT, API_NUMBER, API_BOOL, API_DATE, API_ENUM, API_STRING_ARRAY };

enum {
    API_REQUIRED = 1 << 0,
    API_NULLABLE = 1 << 1, /* null is accepted (PATCH: clears the field) */
};

struct api_field {
    const char *name;
    enum api_type type;
    unsigned flags;
    long min, max; /* API_STRING: characters; API_INT, API_NUMBER: value; API_STRING_ARRAY: items */
    const char *const *values; /* API_ENUM: NULL-terminated */
};

/* Checks body against the n fields. Returns true, or false after replying
 * (400 malformed_json when body is not an object, else 422). */
bool api_validate(struct http_req *r, const json_t *body, const struct api_field *fields, size_t n);

/* lead followed by the NULL-terminated names joined by ", " (in a), for
 * messages such as "must be one of todo, in_progress, done". */
const char *api_enum_choices(struct arena *a, const char *lead, const char *const *names);

/* Number of Unicode characters in a UTF-8 string (jansson guarantees valid UTF-8). */
size_t api_utf8_chars(const char *s);
/* True for a real calendar date written YYYY-MM-DD. */
bool api_is_date(const char *s);

#endif
