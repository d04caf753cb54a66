/* Bump allocator over a list of malloc'd chunks. Chunks grow geometrically
 * up to 64 KiB; a request larger than that gets a chunk of its own. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/arena.h"

struct arena_chunk {
    struct arena_chunk *next;
    size_t size;
    max_align_t data[];
};

enum { ARENA_FIRST = 4096 - sizeof(struct arena_chunk), ARENA_MAX_CHUNK = 64 * 1024 };

void
arena_init(struct arena *a)
{
    a->head = NULL;
    a->ptr = a->end = NULL;
}

void
arena_cleanup(struct arena *a)
{
    struct arena_chunk *c = a->head;
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    arena_init(a);
}

static struct arena_chunk *
chunk_new(size_t size)
{
    struct arena_chunk *c = xmalloc(sizeof(*c) + size);
    c->size = size;
    return c;
}

void *
arena_alloc(struct arena *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    if (n > SIZE_MAX / 2)
        alloc_fail(); /* no real request is this large: treat as out of memory */
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    if ((size_t)(a->end - a->ptr) >= n && a->ptr != NULL) {
        void *p = a->ptr;
        a->ptr += n;
        return p;
    }
    size_t size = a->head == NULL ? ARENA_FIRST : a->head->size * 2;
    if (size > ARENA_MAX_CHUNK)
        size = ARENA_MAX_CHUNK;
    if (n > size / 2) {
        /* A large block gets its own chunk behind the current one, so the
         * space left in the current chunk is not wasted. */
        struct arena_chunk *c = chunk_new(n);
        if (a->head == NULL) {
            c->next = NULL;
            a->head = c;
            a->ptr = a->end = (char *)c->data + n;
        } else {
            c->next = a->head->next;
            a->head->next = c;
        }
        return c->data;
    }
    struct arena_chunk *c = chunk_new(size);
    c->next = a->head;
    a->head = c;
    a->ptr = (char *)c->data + n;
    a->end = (char *)c->data + size;
    return c->data;
}

void *
arena_grow(struct arena *a, void *p, size_t *cap, size_t count, size_t elem)
{
    if (count < *cap)
        return p;
    size_t ncap = *cap == 0 ? 8 : *cap * 2;
    void *q = arena_alloc(a, ncap * elem);
    if (count > 0)
        memcpy(q, p, count * elem);
    *cap = ncap;
    return q;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return arena_strndup(a, "", 0);
    if ((size_t)n < sizeof(tmp))
        return arena_strndup(a, tmp, (size_t)n);
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
