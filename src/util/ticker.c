/* util/ticker.h: one thread per ticker, sleeping on a monotonic condition
 * between runs. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/alloc.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/ticker.h"

struct ticker {
    const char *name;
    ticker_fn *fn;
    void *arg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t interval_ms; /* under mu */
    bool poked;          /* under mu */
    bool stop;           /* under mu */
    bool immediately;
};

static void *
ticker_main(void *arg)
{
    struct ticker *t = arg;
    bool run = t->immediately;
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        if (run || t->poked) {
            t->poked = false;
            pthread_mutex_unlock(&t->mu);
            t->fn(t->arg);
            pthread_mutex_lock(&t->mu);
        }
        int64_t until = clock_mono_ms() + t->interval_ms;
        run = true;
        while (!t->stop && !t->poked)
            if (!clock_cond_wait_until(&t->cv, &t->mu, until))
                break;
    }
    pthread_mutex_unlock(&t->mu);
    log_thread_cleanup();
    return NULL;
}

struct ticker *
ticker_start(const char *name, int64_t interval_ms, bool immediately, ticker_fn *fn, void *arg)
{
    struct ticker *t = xcalloc(1, sizeof(*t));
    t->name = name;
    t->fn = fn;
    t->arg = arg;
    t->interval_ms = interval_ms > 0 ? interval_ms : 1;
    t->immediately = immediately;
    pthread_mutex_init(&t->mu, NULL);
    clock_cond_init(&t->cv);
    if (thread_start(&t->thread, NULL, name, ticker_main, t) != OK) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return NULL;
    }
    return t;
}

void
ticker_poke(struct ticker *t)
{
    pthread_mutex_lock(&t->mu);
    t->poked = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void
ticker_set_interval(struct ticker *t, int64_t interval_ms)
{
    pthread_mutex_lock(&t->mu);
    t->interval_ms = interval_ms > 0 ? interval_ms : 1;
    pthread_mutex_unlock(&t->mu);
}

void
ticker_stop(struct ticker *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
