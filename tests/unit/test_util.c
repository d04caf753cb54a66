/* Unit tests for the habits of util/: the wall and monotonic clocks,
 * monotonic condition deadlines, the ticker (runs, pokes, interval
 * changes, stop while idle and while running) and the allocation policy. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/ticker.h"

/* Under ASan a huge malloc returns NULL as glibc's does, so that the
 * policy's abort() is what a child dies of. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void
test_clocks(void)
{
    int64_t wall = clock_wall_ms();
    CHECK(wall > 1600000000000LL); /* after 2020 */
    int64_t a = clock_mono_ms();
    usleep(20 * 1000);
    int64_t b = clock_mono_ms();
    CHECK(b - a >= 19);
    CHECK(b - a < 5000);
}

static void
test_cond_deadline(void)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    clock_cond_init(&cv);
    pthread_mutex_lock(&mu);
    int64_t start = clock_mono_ms();
    /* A deadline already passed returns at once. */
    CHECK(!clock_cond_wait_until(&cv, &mu, start - 1));
    /* A deadline 30 ms away: the waits end at or after it. */
    int64_t until = start + 30;
    while (clock_cond_wait_until(&cv, &mu, until))
        ;
    CHECK(clock_mono_ms() >= until);
    pthread_mutex_unlock(&mu);
    pthread_cond_destroy(&cv);
}

struct counter {
    atomic_int runs;
    atomic_int inside;
    atomic_int overlap;
    int sleep_ms;
};

static void
count(void *arg)
{
    struct counter *c = arg;
    if (atomic_fetch_add(&c->inside, 1) != 0)
        atomic_fetch_add(&c->overlap, 1);
    if (c->sleep_ms > 0)
        usleep((useconds_t)c->sleep_ms * 1000);
    atomic_fetch_add(&c->runs, 1);
    atomic_fetch_sub(&c->inside, 1);
}

static bool
wait_runs(struct counter *c, int n, int64_t within_ms)
{
    int64_t until = clock_mono_ms() + within_ms;
    while (atomic_load(&c->runs) < n && clock_mono_ms() < until)
        usleep(1000);
    return atomic_load(&c->runs) >= n;
}

static void
test_ticker_runs_and_pokes(void)
{
    /* Immediately: one run at once, then none for a long interval. */
    struct counter c = {0};
    struct ticker *t = ticker_start("test", 60000, true, count, &c);
    CHECK(t != NULL);
    CHECK(wait_runs(&c, 1, 5000));
    usleep(50 * 1000);
    CHECK_EQ_INT(atomic_load(&c.runs), 1);
    /* A poke runs it again without waiting for the interval. */
    ticker_poke(t);
    CHECK(wait_runs(&c, 2, 5000));
    /* A shorter interval takes effect from the next wait (after a poke). */
    ticker_set_interval(t, 10);
    ticker_poke(t);
    CHECK(wait_runs(&c, 6, 5000));
    ticker_stop(t);
    int after = atomic_load(&c.runs);
    usleep(50 * 1000);
    CHECK_EQ_INT(atomic_load(&c.runs), after); /* nothing runs after stop */
    CHECK_EQ_INT(atomic_load(&c.overlap), 0);
}

static void
test_ticker_not_immediately(void)
{
    struct counter c = {0};
    struct ticker *t = ticker_start("test", 60000, false, count, &c);
    usleep(50 * 1000);
    CHECK_EQ_INT(atomic_load(&c.runs), 0);
    ticker_stop(t); /* stops while idle, promptly */
    CHECK_EQ_INT(atomic_load(&c.runs), 0);
    ticker_stop(NULL);
}

static void
test_ticker_stop_while_running(void)
{
    /* Stop waits for the run in progress and never starts another. */
    struct counter c = {.sleep_ms = 100};
    struct ticker *t = ticker_start("test", 1, true, count, &c);
    usleep(20 * 1000);
    ticker_stop(t);
    CHECK(atomic_load(&c.inside) == 0);
    int after = atomic_load(&c.runs);
    usleep(150 * 1000);
    CHECK_EQ_INT(atomic_load(&c.runs), after);
    CHECK_EQ_INT(atomic_load(&c.overlap), 0);
}

static void
test_alloc(void)
{
    char *s = xstrdup("pace");
    CHECK_EQ_STR(s, "pace");
    s = xrealloc(s, 64);
    CHECK_EQ_STR(s, "pace");
    free(s);
    char *n = xstrndup("abcdef", 3);
    CHECK_EQ_STR(n, "abc");
    free(n);
    int *z = xcalloc(4, sizeof(int));
    CHECK(z[0] == 0 && z[3] == 0);
    free(z);
    free(xmalloc(0)); /* a zero-byte request is still a pointer */

    /* The policy: an impossible allocation aborts, it never returns NULL. */
    pid_t pid = fork();
    if (pid == 0) {
        close(STDERR_FILENO);
        void *volatile p = xmalloc(SIZE_MAX / 2);
        _exit(p == NULL ? 1 : 2);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

int
main(void)
{
    test_clocks();
    test_cond_deadline();
    test_ticker_runs_and_pokes();
    test_ticker_not_immediately();
    test_ticker_stop_while_running();
    test_alloc();
    return check_done();
}
