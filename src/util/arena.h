/* A bump allocator freed in one step: the per-request arena, and any other
 * short-lived group of allocations. Not thread-safe: one owner at a time. */
#ifndef PACE_UTIL_ARENA_H
#define PACE_UTIL_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head;
    char *ptr; /* next free byte in head */
    char *end; /* end of head */
};

void arena_init(struct arena *a);
/* Frees every allocation at once; the arena may be used again. */
void arena_cleanup(struct arena *a);
/* Returns n bytes aligned for any type; aborts on out-of-memory. */
void *arena_alloc(struct arena *a, size_t n);
/* Growing an array kept in the arena: when count == *cap, returns a copy of
 * the count elements of `elem` bytes at p with room for twice as many (and
 * doubles *cap); otherwise returns p. The old block stays until cleanup. */
void *arena_grow(struct arena *a, void *p, size_t *cap, size_t count, size_t elem);
/* Returns a NUL-terminated copy of the n bytes at s. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
