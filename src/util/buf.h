/* A growable byte buffer. Backed by an arena (memory goes away with it) or,
 * when arena is NULL, by malloc (the owner calls buf_cleanup). */
#ifndef PACE_UTIL_BUF_H
#define PACE_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct arena;

struct buf {
    char *data;
    size_t len;
    size_t cap;
    struct arena *arena; /* borrowed; NULL means malloc */
};

void buf_init(struct buf *b, struct arena *arena, size_t initial);
void buf_cleanup(struct buf *b);
/* Makes room for n more bytes and returns where they go. */
char *buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_appends(struct buf *b, const char *s);
void buf_appendc(struct buf *b, char c);
void buf_append_u64(struct buf *b, uint64_t v);
void buf_append_i64(struct buf *b, int64_t v);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
