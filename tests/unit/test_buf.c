/* Unit tests for util/buf: malloc- and arena-backed growth, the integer and
 * printf appenders, and what an impossible reservation does. */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "util/arena.h"
#include "util/buf.h"

/* Under ASan a huge malloc returns NULL as glibc's does, so that the code's
 * own abort() is what a child dies of, and a heap overflow stays a failure. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static bool
buf_is(const struct buf *b, const char *s)
{
    return b->len == strlen(s) && (b->len == 0 || memcmp(b->data, s, b->len) == 0);
}

static void
test_init(void)
{
    struct buf b;
    buf_init(&b, NULL, 0);
    CHECK(b.data == NULL);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.cap, 0);
    buf_cleanup(&b);

    buf_init(&b, NULL, 100);
    CHECK(b.data != NULL);
    CHECK_EQ_INT(b.cap, 100);
    CHECK_EQ_INT(b.len, 0);
    buf_cleanup(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

static void
test_append_malloc(void)
{
    struct buf b;
    buf_init(&b, NULL, 0);
    buf_append(&b, "abc", 3);
    buf_appends(&b, "def");
    buf_appendc(&b, 'g');
    buf_append(&b, "ignored", 0);
    CHECK(buf_is(&b, "abcdefg"));
    CHECK(b.cap >= b.len);

    /* growth keeps every byte, through many doublings */
    struct buf big;
    buf_init(&big, NULL, 1);
    bool ok = true;
    for (int i = 0; i < 100000; i++)
        buf_appendc(&big, (char)('a' + i % 26));
    CHECK_EQ_INT(big.len, 100000);
    CHECK(big.cap >= big.len);
    for (int i = 0; i < 100000; i++)
        if (big.data[i] != (char)('a' + i % 26))
            ok = false;
    CHECK(ok);
    buf_cleanup(&big);
    buf_cleanup(&b);
}

static void
test_append_arena(void)
{
    struct arena a;
    arena_init(&a);
    struct buf b;
    buf_init(&b, &a, 8);
    CHECK(b.arena == &a);
    for (int i = 0; i < 1000; i++)
        buf_appends(&b, "0123456789");
    CHECK_EQ_INT(b.len, 10000);
    bool ok = true;
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] != (char)('0' + i % 10))
            ok = false;
    CHECK(ok);
    buf_cleanup(&b); /* does not free arena memory */
    CHECK(b.data == NULL && b.len == 0);

    /* arena buffer with no initial capacity */
    struct buf c;
    buf_init(&c, &a, 0);
    buf_appends(&c, "x");
    CHECK(buf_is(&c, "x"));
    arena_cleanup(&a);
}

static void
test_reserve(void)
{
    struct buf b;
    buf_init(&b, NULL, 0);
    char *p = buf_reserve(&b, 10);
    CHECK(p == b.data);
    CHECK(b.cap >= 10);
    CHECK_EQ_INT(b.len, 0);
    memcpy(p, "0123456789", 10);
    b.len = 10;
    p = buf_reserve(&b, 1000);
    CHECK(p == b.data + 10);
    CHECK(b.cap - b.len >= 1000);
    CHECK(memcmp(b.data, "0123456789", 10) == 0);
    size_t cap = b.cap;
    p = buf_reserve(&b, 0);
    CHECK(p == b.data + b.len);
    CHECK_EQ_INT(b.cap, cap);
    buf_cleanup(&b);
}

static void
test_integers(void)
{
    struct buf b;
    buf_init(&b, NULL, 0);
    buf_append_u64(&b, 0);
    CHECK(buf_is(&b, "0"));
    b.len = 0;
    buf_append_u64(&b, 1234567890);
    CHECK(buf_is(&b, "1234567890"));
    b.len = 0;
    buf_append_u64(&b, UINT64_MAX);
    CHECK(buf_is(&b, "18446744073709551615"));
    b.len = 0;
    buf_append_i64(&b, 0);
    CHECK(buf_is(&b, "0"));
    b.len = 0;
    buf_append_i64(&b, -1);
    CHECK(buf_is(&b, "-1"));
    b.len = 0;
    buf_append_i64(&b, INT64_MAX);
    CHECK(buf_is(&b, "9223372036854775807"));
    b.len = 0;
    buf_append_i64(&b, INT64_MIN);
    CHECK(buf_is(&b, "-9223372036854775808"));
    b.len = 0;
    buf_append_i64(&b, 42);
    buf_appendc(&b, ',');
    buf_append_i64(&b, -42);
    CHECK(buf_is(&b, "42,-42"));
    buf_cleanup(&b);
}

static void
test_printf(void)
{
    struct buf b;
    buf_init(&b, NULL, 0);
    buf_printf(&b, "%s=%d", "x", 5);
    CHECK(buf_is(&b, "x=5"));
    buf_printf(&b, "%s", ""); /* nothing appended */
    CHECK(buf_is(&b, "x=5"));
    buf_printf(&b, ";%05.1f", 3.14159);
    CHECK(buf_is(&b, "x=5;003.1"));
    /* larger than the current capacity */
    buf_printf(&b, "%3000s", "end");
    CHECK_EQ_INT(b.len, 9 + 3000);
    CHECK(memcmp(b.data + b.len - 3, "end", 3) == 0);
    CHECK(memcmp(b.data, "x=5;003.1    ", 13) == 0);
    buf_cleanup(&b);

    struct arena a;
    arena_init(&a);
    buf_init(&b, &a, 4);
    buf_printf(&b, "%d %d %d", 100, 200, 300);
    CHECK(buf_is(&b, "100 200 300"));
    arena_cleanup(&a);
}

/* Runs buf_reserve(n) on a fresh buffer in a child; true when the child
 * died of SIGABRT, false when the call returned, hung or hit a sanitizer. */
static bool
reserve_aborts(struct arena *arena, size_t n)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        alarm(2);
        struct buf b;
        buf_init(&b, arena, 0);
        volatile char *p = buf_reserve(&b, n);
        (void)p;
        _exit(42);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return false;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void
test_impossible_reserve_aborts(void)
{
    /* "aborts on out-of-memory": a reservation that cannot be met must not
     * loop forever doubling a capacity that wraps to 0, nor return. */
    CHECK(reserve_aborts(NULL, (size_t)1 << 62)); /* control: realloc fails, buf aborts */
    CHECK(reserve_aborts(NULL, SIZE_MAX));
    CHECK(reserve_aborts(NULL, SIZE_MAX / 2 + 2));
}

int
main(void)
{
    test_init();
    test_append_malloc();
    test_append_arena();
    test_reserve();
    test_integers();
    test_printf();
    test_impossible_reserve_aborts();
    return check_done();
}
