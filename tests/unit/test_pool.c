/* Unit tests for http/pool: every task runs once, the bounded queue refuses
 * with ERR_OVERLOADED, free drains what is queued, and results come back
 * through an h2o multithread queue to the loop's own thread. */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "http/internal.h"
#include "util/err.h"

/* h2o 2.2 (libh2o-evloop 0.13) never frees the queue in
 * h2o_multithread_destroy_queue; later h2o releases do. Not ours to fix. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
    return "leak:h2o_multithread_create_queue\n";
}

struct item {
    struct http_pool_task t;
    atomic_int runs;
    atomic_int dones;
    bool run_on_main;  /* run() ran on the test's thread (it must not) */
    bool done_on_main; /* done() ran on the test's thread */
    sem_t *started;    /* posted when run() begins, if set */
    sem_t *release;    /* waited on by run(), if set */
};

static pthread_t main_thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int completed; /* done() calls, guarded by mu */

static struct item *
item_of(struct http_pool_task *t)
{
    return (struct item *)(void *)((char *)t - offsetof(struct item, t));
}

static bool
item_run(struct http_pool_task *t)
{
    struct item *it = item_of(t);
    it->run_on_main = pthread_equal(pthread_self(), main_thread) != 0;
    if (it->started != NULL)
        sem_post(it->started);
    if (it->release != NULL)
        sem_wait(it->release);
    atomic_fetch_add(&it->runs, 1);
    return false;
}

static void
item_done(struct http_pool_task *t)
{
    struct item *it = item_of(t);
    it->done_on_main = pthread_equal(pthread_self(), main_thread) != 0;
    atomic_fetch_add(&it->dones, 1);
    pthread_mutex_lock(&mu);
    completed++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void
item_init(struct item *it, h2o_multithread_receiver_t *owner)
{
    memset(it, 0, sizeof(*it));
    atomic_init(&it->runs, 0);
    atomic_init(&it->dones, 0);
    it->t.owner = owner;
    it->t.run = item_run;
    it->t.done = item_done;
}

static void
reset_completed(void)
{
    pthread_mutex_lock(&mu);
    completed = 0;
    pthread_mutex_unlock(&mu);
}

static void
wait_completed(int n)
{
    pthread_mutex_lock(&mu);
    while (completed < n)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void
test_new_free(void)
{
    struct http_pool *p = http_pool_new("hash", 2, 8);
    CHECK(p != NULL);
    CHECK_EQ_STR(http_pool_name(p), "hash");
    CHECK_EQ_INT(http_pool_capacity(p), 8);
    CHECK_EQ_INT(http_pool_depth(p), 0);
    http_pool_free(p);
    http_pool_free(NULL);

    /* a long name is cut, not overflowed */
    p = http_pool_new("a-pool-name-that-is-longer-than-thirty-two-bytes", 1, 1);
    CHECK(strlen(http_pool_name(p)) < 32);
    CHECK(strncmp(http_pool_name(p), "a-pool-name", 11) == 0);
    http_pool_free(p);
}

static void
test_all_run_once(void)
{
    enum { N = 500 };
    static struct item items[N];
    reset_completed();
    struct http_pool *p = http_pool_new("blocking", 4, N);
    int refused = 0;
    for (int i = 0; i < N; i++) {
        item_init(&items[i], NULL);
        if (http_pool_submit(p, &items[i].t) != OK)
            refused++;
    }
    CHECK_EQ_INT(refused, 0);
    wait_completed(N);
    int bad_runs = 0, bad_dones = 0, on_main = 0;
    for (int i = 0; i < N; i++) {
        if (atomic_load(&items[i].runs) != 1)
            bad_runs++;
        if (atomic_load(&items[i].dones) != 1)
            bad_dones++;
        /* owner == NULL: run and done both on a worker */
        if (items[i].run_on_main || items[i].done_on_main)
            on_main++;
    }
    CHECK_EQ_INT(bad_runs, 0);
    CHECK_EQ_INT(bad_dones, 0);
    CHECK_EQ_INT(on_main, 0);
    CHECK_EQ_INT(http_pool_depth(p), 0);
    http_pool_free(p);
    /* nothing ran twice after free */
    int twice = 0;
    for (int i = 0; i < N; i++)
        if (atomic_load(&items[i].runs) != 1 || atomic_load(&items[i].dones) != 1)
            twice++;
    CHECK_EQ_INT(twice, 0);
}

static void
test_overloaded(void)
{
    sem_t started, release;
    sem_init(&started, 0, 0);
    sem_init(&release, 0, 0);
    reset_completed();
    struct http_pool *p = http_pool_new("hash", 1, 1);
    struct item blocker, queued, refused;
    item_init(&blocker, NULL);
    blocker.started = &started;
    blocker.release = &release;
    item_init(&queued, NULL);
    item_init(&refused, NULL);

    CHECK_EQ_INT(http_pool_submit(p, &blocker.t), OK);
    sem_wait(&started); /* the worker holds the blocker: the queue is empty */
    CHECK_EQ_INT(http_pool_depth(p), 0);
    CHECK_EQ_INT(http_pool_submit(p, &queued.t), OK);
    CHECK_EQ_INT(http_pool_depth(p), 1);

    /* full: refused at once, and the task is left as it was */
    struct http_pool_task *sentinel = &blocker.t;
    refused.t.next = sentinel;
    CHECK_EQ_INT(http_pool_submit(p, &refused.t), ERR_OVERLOADED);
    CHECK_EQ_INT(http_pool_submit(p, &refused.t), ERR_OVERLOADED);
    CHECK_EQ_INT(http_pool_depth(p), 1);
    CHECK(refused.t.next == sentinel); /* header: "t untouched" */

    sem_post(&release);
    wait_completed(2);
    CHECK_EQ_INT(atomic_load(&blocker.runs), 1);
    CHECK_EQ_INT(atomic_load(&queued.runs), 1);
    CHECK_EQ_INT(atomic_load(&queued.dones), 1);
    CHECK_EQ_INT(atomic_load(&refused.runs), 0);
    CHECK_EQ_INT(atomic_load(&refused.dones), 0);
    CHECK_EQ_INT(http_pool_depth(p), 0);

    /* room again after the queue drained */
    struct item again;
    item_init(&again, NULL);
    CHECK_EQ_INT(http_pool_submit(p, &again.t), OK);
    wait_completed(3);
    CHECK_EQ_INT(atomic_load(&again.runs), 1);
    http_pool_free(p);

    /* a deeper queue fills to exactly its capacity */
    reset_completed();
    p = http_pool_new("blocking", 1, 3);
    item_init(&blocker, NULL);
    blocker.started = &started;
    blocker.release = &release;
    struct item more[4];
    CHECK_EQ_INT(http_pool_submit(p, &blocker.t), OK);
    sem_wait(&started);
    for (int i = 0; i < 4; i++)
        item_init(&more[i], NULL);
    CHECK_EQ_INT(http_pool_submit(p, &more[0].t), OK);
    CHECK_EQ_INT(http_pool_submit(p, &more[1].t), OK);
    CHECK_EQ_INT(http_pool_submit(p, &more[2].t), OK);
    CHECK_EQ_INT(http_pool_depth(p), 3);
    CHECK_EQ_INT(http_pool_submit(p, &more[3].t), ERR_OVERLOADED);
    sem_post(&release);
    wait_completed(4);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(atomic_load(&more[i].runs), 1);
    CHECK_EQ_INT(atomic_load(&more[3].runs), 0);
    http_pool_free(p);
    sem_destroy(&started);
    sem_destroy(&release);
}

/* ---- free drains the queue ---- */

enum { PROBES = 100000 };

struct drain {
    struct http_pool *p;
    struct item *probes;
    int accepted; /* probes the pool took before it began to stop */
    bool stopped; /* a submit was refused: free has begun */
    sem_t *release;
};

/* Submits probes until the pool refuses (free has set it stopping), then
 * lets the blocked worker go. */
static void *
prober(void *arg)
{
    struct drain *d = arg;
    while (d->accepted < PROBES) {
        item_init(&d->probes[d->accepted], NULL);
        if (http_pool_submit(d->p, &d->probes[d->accepted].t) != OK) {
            d->stopped = true;
            break;
        }
        d->accepted++;
        sched_yield();
    }
    sem_post(d->release);
    return NULL;
}

static void
test_free_drains(void)
{
    sem_t started, release;
    sem_init(&started, 0, 0);
    sem_init(&release, 0, 0);
    reset_completed();
    struct http_pool *p = http_pool_new("blocking", 1, PROBES + 16);
    struct item blocker, queued[5];
    item_init(&blocker, NULL);
    blocker.started = &started;
    blocker.release = &release;
    CHECK_EQ_INT(http_pool_submit(p, &blocker.t), OK);
    sem_wait(&started);
    for (int i = 0; i < 5; i++) {
        item_init(&queued[i], NULL);
        CHECK_EQ_INT(http_pool_submit(p, &queued[i].t), OK);
    }
    struct drain d = {.p = p, .probes = calloc(PROBES, sizeof(struct item)), .release = &release};
    pthread_t th;
    pthread_create(&th, NULL, prober, &d);
    http_pool_free(p); /* blocks until the worker is released and has drained the queue */
    pthread_join(th, NULL);
    CHECK(d.stopped);
    CHECK_EQ_INT(atomic_load(&blocker.runs), 1);
    int missing = 0;
    for (int i = 0; i < 5; i++)
        if (atomic_load(&queued[i].runs) != 1 || atomic_load(&queued[i].dones) != 1)
            missing++;
    for (int i = 0; i < d.accepted; i++)
        if (atomic_load(&d.probes[i].runs) != 1 || atomic_load(&d.probes[i].dones) != 1)
            missing++;
    CHECK_EQ_INT(missing, 0);
    pthread_mutex_lock(&mu);
    CHECK_EQ_INT(completed, 6 + d.accepted);
    pthread_mutex_unlock(&mu);
    free(d.probes);
    sem_destroy(&started);
    sem_destroy(&release);
}

/* ---- hand-back through an h2o loop ---- */

static void
test_evloop_handback(void)
{
    enum { N = 200 };
    static struct item items[N];
    reset_completed();
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_multithread_queue_t *q = h2o_multithread_create_queue(loop);
    h2o_multithread_receiver_t receiver;
    h2o_multithread_register_receiver(q, &receiver, http_pool_on_done);

    struct http_pool *p = http_pool_new("blocking", 3, N);
    int refused = 0;
    for (int i = 0; i < N; i++) {
        item_init(&items[i], &receiver);
        if (http_pool_submit(p, &items[i].t) != OK)
            refused++;
    }
    CHECK_EQ_INT(refused, 0);

    /* done() runs only from the loop, on this thread; a bound stops a hang */
    int spins = 0;
    while (spins < 2000) {
        pthread_mutex_lock(&mu);
        int n = completed;
        pthread_mutex_unlock(&mu);
        if (n >= N)
            break;
        h2o_evloop_run(loop, 10);
        spins++;
    }
    pthread_mutex_lock(&mu);
    CHECK_EQ_INT(completed, N);
    pthread_mutex_unlock(&mu);

    int bad = 0, run_main = 0, done_off_main = 0;
    for (int i = 0; i < N; i++) {
        if (atomic_load(&items[i].runs) != 1 || atomic_load(&items[i].dones) != 1)
            bad++;
        if (items[i].run_on_main)
            run_main++;
        if (!items[i].done_on_main)
            done_off_main++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(run_main, 0);
    CHECK_EQ_INT(done_off_main, 0);

    http_pool_free(p);
    h2o_evloop_run(loop, 0); /* nothing left to deliver */
    pthread_mutex_lock(&mu);
    CHECK_EQ_INT(completed, N);
    pthread_mutex_unlock(&mu);
    h2o_multithread_unregister_receiver(q, &receiver);
    h2o_multithread_destroy_queue(q);
    h2o_evloop_run(loop, 0); /* let the queue's socket close */
    h2o_evloop_destroy(loop);
}

/* A yielding pool of 2 threads runs one task at a time while the loops
 * serve (http_pool_note_loop_work within the last 200 ms), and both once
 * they have been quiet for that long. */
static void
test_yield_to_loops(void)
{
    sem_t started, release;
    sem_init(&started, 0, 0);
    sem_init(&release, 0, 0);
    reset_completed();
    struct http_pool *p = http_pool_new("hash", 2, 8);
    http_pool_yield_to_loops(p);
    struct item a, b;
    item_init(&a, NULL);
    item_init(&b, NULL);
    a.started = b.started = &started;
    a.release = b.release = &release;

    http_pool_note_loop_work();
    CHECK_EQ_INT(http_pool_submit(p, &a.t), OK);
    CHECK_EQ_INT(http_pool_submit(p, &b.t), OK);
    sem_wait(&started);           /* one runs... */
    for (int i = 0; i < 5; i++) { /* ...the other waits while the loops keep serving */
        http_pool_note_loop_work();
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ_INT(sem_trywait(&started), -1);
    CHECK_EQ_INT(http_pool_depth(p), 1);
    /* the loops go quiet: the second thread starts without the first ending */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    CHECK_EQ_INT(sem_timedwait(&started, &deadline), 0);
    CHECK_EQ_INT(http_pool_depth(p), 0);
    sem_post(&release);
    sem_post(&release);
    wait_completed(2);
    CHECK_EQ_INT(atomic_load(&a.runs), 1);
    CHECK_EQ_INT(atomic_load(&b.runs), 1);
    http_pool_free(p);
    sem_destroy(&started);
    sem_destroy(&release);
}

int
main(void)
{
    main_thread = pthread_self();
    test_new_free();
    test_all_run_once();
    test_overloaded();
    test_free_drains();
    test_evloop_handback();
    test_yield_to_loops();
    return check_done();
}
