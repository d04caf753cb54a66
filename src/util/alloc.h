/* Allocation with the program's one out-of-memory policy: a failed
 * allocation writes one line to stderr and aborts. pace sizes its queues
 * and caches up front and caps everything a client controls, so running out
 * of memory is a fault of the machine, not an error a caller could answer
 * better; no caller checks for NULL. Request data lives in arenas
 * (util/arena.h), which follow the same policy. */
#ifndef PACE_UTIL_ALLOC_H
#define PACE_UTIL_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* The policy itself, for allocators of other libraries: never returns. */
void alloc_fail(void) __attribute__((noreturn));

#endif
