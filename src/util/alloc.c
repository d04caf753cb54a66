/* util/alloc.h: malloc and friends that never return NULL. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"

void
alloc_fail(void)
{
    static const char msg[] = "pace: out of memory\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1); /* no allocation on the way out */
    (void)w;
    abort();
}

void *
xmalloc(size_t size)
{
    void *p = malloc(size != 0 ? size : 1);
    if (p == NULL)
        alloc_fail();
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size != 0 ? size : 1);
    if (p == NULL)
        alloc_fail();
    return p;
}

void *
xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size != 0 ? size : 1);
    if (q == NULL)
        alloc_fail();
    return q;
}

char *
xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        alloc_fail();
    return p;
}

char *
xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (p == NULL)
        alloc_fail();
    return p;
}
