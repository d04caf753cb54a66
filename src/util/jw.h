/* A streaming JSON writer straight into a buf: no tree, no copies.
 * Commas are placed by the writer; nesting is capped at JW_MAX_DEPTH
 * (deeper writes are a programmer error). Strings are escaped per RFC 8259;
 * invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid. */
#ifndef PACE_UTIL_JW_H
#define PACE_UTIL_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

enum { JW_MAX_DEPTH = 32 };

struct jw {
    struct buf *b; /* borrowed */
    unsigned depth;
    bool after_key;
    bool has_items[JW_MAX_DEPTH + 1];
};

void jw_init(struct jw *w, struct buf *b);
void jw_obj_begin(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w);
void jw_arr_end(struct jw *w);
/* An object key; the next call writes its value. */
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t n);
/* A string or null when s is NULL. */
void jw_str_or_null(struct jw *w, const char *s);
void jw_int(struct jw *w, int64_t v);
void jw_uint(struct jw *w, uint64_t v);
/* Finite doubles with up to 6 significant decimals; NaN/inf become null. */
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* Already-serialized JSON, written as one value. */
void jw_raw(struct jw *w, const char *json, size_t n);

/* Appends s escaped as JSON string content (without quotes). */
void jw_escape(struct buf *b, const char *s, size_t n);

#endif
