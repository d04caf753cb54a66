/* Unit tests for util/arena: alignment, strndup/printf copies, large blocks
 * in chunks of their own, reuse after cleanup, and what an impossible size does. */
#include <signal.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "util/arena.h"

/* Under ASan a huge malloc returns NULL as glibc's does, so that the code's
 * own abort() is what a child dies of, and a heap overflow stays a failure. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static bool
aligned(const void *p)
{
    return ((uintptr_t)p % alignof(max_align_t)) == 0;
}

static void
test_init_empty(void)
{
    struct arena a;
    arena_init(&a);
    CHECK(a.head == NULL);
    CHECK(a.ptr == NULL);
    CHECK(a.end == NULL);
    arena_cleanup(&a); /* cleaning an unused arena is fine */
    CHECK(a.head == NULL);
}

static void
test_alignment_and_distinct(void)
{
    struct arena a;
    arena_init(&a);
    char *prev = NULL;
    size_t prev_n = 0;
    bool all_aligned = true, no_overlap = true;
    for (size_t n = 0; n < 200; n++) {
        char *p = arena_alloc(&a, n);
        if (p == NULL || !aligned(p))
            all_aligned = false;
        memset(p, (int)(n & 0xff), n);
        /* consecutive small blocks in one chunk never overlap */
        if (prev != NULL && p > prev && p < prev + prev_n)
            no_overlap = false;
        prev = p;
        prev_n = n;
    }
    CHECK(all_aligned);
    CHECK(no_overlap);
    /* zero-byte allocations still give distinct pointers */
    void *z1 = arena_alloc(&a, 0);
    void *z2 = arena_alloc(&a, 0);
    CHECK(z1 != NULL && z2 != NULL);
    CHECK(z1 != z2);
    arena_cleanup(&a);
}

static void
test_contents_survive_growth(void)
{
    struct arena a;
    arena_init(&a);
    enum { N = 2000 };
    char *ptrs[N];
    for (int i = 0; i < N; i++) {
        ptrs[i] = arena_alloc(&a, 40);
        memset(ptrs[i], i & 0xff, 40);
    }
    bool ok = true;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 40; j++)
            if ((unsigned char)ptrs[i][j] != (unsigned char)(i & 0xff))
                ok = false;
    CHECK(ok); /* 80 KB over several chunks: nothing overwritten */
    arena_cleanup(&a);
    CHECK(a.head == NULL);
}

static void
test_large_blocks(void)
{
    struct arena a;
    arena_init(&a);
    /* a large block first: gets its own chunk */
    char *big = arena_alloc(&a, 100000);
    CHECK(big != NULL && aligned(big));
    memset(big, 'x', 100000);
    char *small = arena_alloc(&a, 16);
    CHECK(small != NULL && aligned(small));
    CHECK(small < big || small >= big + 100000);
    memset(small, 'y', 16);

    /* a large block after small ones keeps the current chunk's free space */
    char *s1 = arena_alloc(&a, 32);
    char *big2 = arena_alloc(&a, 200000);
    memset(big2, 'z', 200000);
    char *s2 = arena_alloc(&a, 32);
    memset(s1, '1', 32);
    memset(s2, '2', 32);
    CHECK(s2 == s1 + 32); /* big2 went into a chunk of its own */
    CHECK(big[0] == 'x' && big[99999] == 'x');
    CHECK(big2[0] == 'z' && big2[199999] == 'z');
    CHECK(small[0] == 'y' && small[15] == 'y');
    CHECK(s1[31] == '1' && s2[0] == '2');

    /* a block of exactly the max chunk size and one just over it */
    char *m1 = arena_alloc(&a, 64 * 1024);
    char *m2 = arena_alloc(&a, 64 * 1024 + 1);
    memset(m1, 'a', 64 * 1024);
    memset(m2, 'b', 64 * 1024 + 1);
    CHECK(m1[0] == 'a' && m2[64 * 1024] == 'b');
    arena_cleanup(&a);
}

static void
test_strndup(void)
{
    struct arena a;
    arena_init(&a);
    char *s = arena_strndup(&a, "hello world", 5);
    CHECK_EQ_STR(s, "hello");
    CHECK_EQ_INT(strlen(s), 5);
    char *e = arena_strndup(&a, "", 0);
    CHECK_EQ_STR(e, "");
    /* embedded NUL bytes are copied; the copy is terminated after n */
    char *z = arena_strndup(&a, "a\0b", 3);
    CHECK(memcmp(z, "a\0b\0", 4) == 0);
    /* the copy is independent of the source */
    char src[] = "mutable";
    char *c = arena_strndup(&a, src, strlen(src));
    src[0] = 'M';
    CHECK_EQ_STR(c, "mutable");
    arena_cleanup(&a);
}

static void
test_printf(void)
{
    struct arena a;
    arena_init(&a);
    CHECK_EQ_STR(arena_printf(&a, "%d-%s-%c", 42, "x", 'z'), "42-x-z");
    CHECK_EQ_STR(arena_printf(&a, "%s", ""), "");
    CHECK_EQ_STR(arena_printf(&a, "%lld", (long long)INT64_MIN), "-9223372036854775808");
    /* longer than the first chunk */
    char *big = arena_printf(&a, "%5000d|%s", 7, "end");
    CHECK(big != NULL);
    CHECK_EQ_INT(strlen(big), 5004);
    CHECK_EQ_STR(big + 4999, "7|end");
    arena_cleanup(&a);
}

static void
test_reuse_after_cleanup(void)
{
    struct arena a;
    arena_init(&a);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++)
            arena_printf(&a, "round %d item %d", round, i);
        char *p = arena_strndup(&a, "last", 4);
        CHECK_EQ_STR(p, "last");
        arena_cleanup(&a);
        CHECK(a.head == NULL && a.ptr == NULL && a.end == NULL);
    }
}

/* Runs arena_alloc(n) in a child. Returns true when the child died of
 * SIGABRT, the documented outcome for a request that cannot be satisfied;
 * false when the call returned, hung, or a sanitizer caught a memory error. */
static bool
alloc_aborts(size_t n)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        alarm(10);
        struct arena a;
        arena_init(&a);
        volatile char *p = arena_alloc(&a, n);
        (void)p;
        _exit(42); /* returned a block that cannot hold n bytes */
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return false;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void
test_impossible_sizes_abort(void)
{
    /* "aborts on out-of-memory": a size no allocation can hold must not
     * come back as a small block (the rounding must not wrap). */
    CHECK(alloc_aborts((size_t)1 << 62)); /* control: malloc fails, arena aborts */
    CHECK(alloc_aborts(SIZE_MAX));
    CHECK(alloc_aborts(SIZE_MAX - 15));
}

static void
test_grow(void)
{
    struct arena a;
    arena_init(&a);
    size_t cap = 2, n = 0;
    int *v = arena_alloc(&a, cap * sizeof(*v));
    for (int i = 0; i < 100; i++) {
        v = arena_grow(&a, v, &cap, n, sizeof(*v));
        CHECK(n < cap);
        v[n++] = i;
    }
    bool ok = true;
    for (int i = 0; i < 100; i++)
        ok = ok && v[i] == i;
    CHECK(ok);
    CHECK(cap >= 100 && cap <= 256);
    size_t zero = 0;
    int *w = arena_grow(&a, NULL, &zero, 0, sizeof(int));
    CHECK(w != NULL && zero == 8);
    arena_cleanup(&a);
}

int
main(void)
{
    test_init_empty();
    test_alignment_and_distinct();
    test_contents_survive_growth();
    test_large_blocks();
    test_strndup();
    test_printf();
    test_reuse_after_cleanup();
    test_impossible_sizes_abort();
    test_grow();
    return check_done();
}
