/* Worker pools with bounded queues: the hash pool and the blocking pool.
 * A full queue refuses at once (the caller answers 503), so no request waits
 * unboundedly. Results go back to the loop thread that owns the request
 * through h2o's multithread queue; the pool never touches h2o requests. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/thread.h"

struct http_pool {
    char name[32];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct http_pool_task *head, *tail;
    size_t depth;             /* tasks waiting (guarded by mu) */
    size_t capacity;          /* most tasks that may wait */
    atomic_size_t depth_seen; /* depth for metrics, read without the lock */
    bool stopping;
    bool yields; /* leaves one thread's worth of CPU to the loops while they serve */
    int running; /* tasks being run (guarded by mu) */
    int nthreads;
    pthread_t *threads;
};

/* CLOCK_MONOTONIC ms when an event loop last served a request of no pool
 * that yields (written once per loop round). */
static atomic_llong loops_served_ms;

void
http_pool_note_loop_work(void)
{
    atomic_store_explicit(&loops_served_ms, clock_mono_ms(), memory_order_relaxed);
}

/* A yielding pool runs at most nthreads - 1 tasks at once while the loops
 * have served other requests within the last YIELD_WINDOW_MS: one core's
 * worth stays free for them, so a login flood leaves the rest of the API's
 * latency alone (on a 2-core machine a woken loop thread otherwise waits
 * for a core that a hash holds); with nothing else to serve, every thread
 * hashes. */
enum { YIELD_WINDOW_MS = 200, YIELD_RECHECK_MS = 20 };

static bool
must_yield(const struct http_pool *p)
{
    if (!p->yields || p->nthreads < 2 || p->running < p->nthreads - 1)
        return false;
    return clock_mono_ms() - atomic_load_explicit(&loops_served_ms, memory_order_relaxed) < YIELD_WINDOW_MS;
}

static void *
worker(void *arg)
{
    struct http_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (true) {
        while ((p->head == NULL || must_yield(p)) && !p->stopping) {
            if (p->head == NULL) {
                pthread_cond_wait(&p->cv, &p->mu);
                continue;
            }
            clock_cond_wait_until(&p->cv, &p->mu, clock_mono_ms() + YIELD_RECHECK_MS);
        }
        if (p->head == NULL)
            break; /* stopping and drained */
        struct http_pool_task *t = p->head;
        p->head = t->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->depth--;
        p->running++;
        atomic_store_explicit(&p->depth_seen, p->depth, memory_order_relaxed);
        pthread_mutex_unlock(&p->mu);

        bool handed_on = t->run(t);
        if (!handed_on) {
            if (t->owner != NULL)
                h2o_multithread_send_message(t->owner, &t->msg);
            else
                t->done(t);
        }

        pthread_mutex_lock(&p->mu);
        p->running--;
        if (p->yields && p->head != NULL)
            pthread_cond_signal(&p->cv); /* a yielding thread may go now */
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void
http_pool_yield_to_loops(struct http_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->yields = true;
    pthread_mutex_unlock(&p->mu);
}

struct http_pool *
http_pool_new(const char *name, int threads, int queue)
{
    struct http_pool *p = xcalloc(1, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    pthread_mutex_init(&p->mu, NULL);
    clock_cond_init(&p->cv);
    p->capacity = (size_t)queue;
    p->nthreads = threads;
    p->threads = xcalloc((size_t)threads, sizeof(*p->threads));

    const struct thread_opts to = {.stack_size = 256 * 1024};
    for (int i = 0; i < threads; i++)
        if (thread_start(&p->threads[i], &to, name, worker, p) != OK)
            abort(); /* at start-up only: pace cannot serve without its pools */
    return p;
}

void
http_pool_free(struct http_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

int
http_pool_submit(struct http_pool *p, struct http_pool_task *t)
{
    pthread_mutex_lock(&p->mu);
    if (p->depth >= p->capacity || p->stopping) {
        pthread_mutex_unlock(&p->mu);
        return ERR_OVERLOADED;
    }
    t->next = NULL;
    memset(&t->msg, 0, sizeof(t->msg));
    if (p->tail != NULL)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    p->depth++;
    atomic_store_explicit(&p->depth_seen, p->depth, memory_order_relaxed);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return OK;
}

void
http_pool_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        struct http_pool_task *t = H2O_STRUCT_FROM_MEMBER(struct http_pool_task, msg, m);
        t->done(t);
    }
}

size_t
http_pool_depth(const struct http_pool *p)
{
    return atomic_load_explicit(&p->depth_seen, memory_order_relaxed);
}

size_t
http_pool_capacity(const struct http_pool *p)
{
    return p->capacity;
}

const char *
http_pool_name(const struct http_pool *p)
{
    return p->name;
}
