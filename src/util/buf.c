/* Growable buffer; doubles its capacity, aborts on out-of-memory. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/arena.h"
#include "util/buf.h"

void
buf_init(struct buf *b, struct arena *arena, size_t initial)
{
    b->arena = arena;
    b->len = 0;
    b->cap = initial;
    if (initial == 0) {
        b->data = NULL;
        return;
    }
    b->data = arena != NULL ? arena_alloc(arena, initial) : xmalloc(initial);
}

void
buf_cleanup(struct buf *b)
{
    if (b->arena == NULL)
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *
buf_reserve(struct buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return b->data + b->len;
    if (n > SIZE_MAX / 4 - b->len)
        alloc_fail(); /* would overflow the doubling below: out of memory */
    size_t cap = b->cap < 64 ? 64 : b->cap;
    while (cap - b->len < n)
        cap *= 2;
    char *p;
    if (b->arena != NULL) {
        p = arena_alloc(b->arena, cap);
        if (b->len != 0)
            memcpy(p, b->data, b->len);
    } else {
        p = xrealloc(b->data, cap);
    }
    b->data = p;
    b->cap = cap;
    return b->data + b->len;
}

void
buf_append(struct buf *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    memcpy(buf_reserve(b, n), data, n);
    b->len += n;
}

void
buf_appends(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void
buf_appendc(struct buf *b, char c)
{
    *buf_reserve(b, 1) = c;
    b->len++;
}

void
buf_append_u64(struct buf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    buf_append(b, tmp + i, sizeof(tmp) - i);
}

void
buf_append_i64(struct buf *b, int64_t v)
{
    if (v < 0) {
        buf_appendc(b, '-');
        buf_append_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        buf_append_u64(b, (uint64_t)v);
    }
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        buf_append(b, tmp, (size_t)n);
        return;
    }
    char *p = buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
