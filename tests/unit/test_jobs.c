/* Unit tests for the job system, against a real SQLite store in a fresh
 * temporary directory: backoff with jitter and period keys; many jobs on
 * several workers, each run exactly once; retries up to the last attempt,
 * then dead with the last error and the kind told once; a job whose worker
 * died (lease expired) claimed again; two job systems on one store (two
 * instances) scheduling the periodic purges once per period; shutdown
 * handing a running job back; the metrics text. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "jobs/jobs.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

enum { MANY = 60 };

static struct store *st;
static char dir[64];

static atomic_int runs_by_id[4096];
static atomic_int ok_runs, fail_runs, give_ups, slow_started;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls cond up to ms; returns whether it became true. */
#define WAIT_FOR(cond, ms)                                                                                   \
    ({                                                                                                       \
        int64_t until_ = now_ms() + (ms);                                                                    \
        while (!(cond) && now_ms() < until_)                                                                 \
            sleep_ms(10);                                                                                    \
        (bool)(cond);                                                                                        \
    })

static enum jobs_result
run_ok(struct jobs_run *run, void *arg)
{
    (void)arg;
    if (run->job->id < 4096)
        atomic_fetch_add(&runs_by_id[run->job->id], 1);
    atomic_fetch_add(&ok_runs, 1);
    return JOBS_DONE;
}

static enum jobs_result
run_fail(struct jobs_run *run, void *arg)
{
    (void)arg;
    atomic_fetch_add(&fail_runs, 1);
    run->error = arena_printf(run->arena, "failure number %d", run->job->attempts);
    return JOBS_RETRY;
}

static void
on_give_up(struct store *s, const struct store_job *job, const char *error, void *arg)
{
    (void)s;
    (void)job;
    (void)error;
    (void)arg;
    atomic_fetch_add(&give_ups, 1);
}

static enum jobs_result
run_slow(struct jobs_run *run, void *arg)
{
    (void)arg;
    atomic_fetch_add(&slow_started, 1);
    while (!jobs_run_should_stop(run))
        sleep_ms(5);
    return JOBS_RELEASE;
}

static struct jobs_opts
opts(int workers)
{
    struct jobs_opts o;
    jobs_opts_default(&o);
    o.workers = workers;
    o.max_attempts = 3;
    o.lease_ms = 600;
    o.poll_max_ms = 50;
    o.backoff_base_ms = 20;
    o.backoff_max_ms = 80;
    o.purge_interval_ms = 3600 * 1000;
    return o;
}

static int64_t
enqueue(const char *kind, const char *key)
{
    struct store_job j = {.kind = kind, .payload = "{}", .unique_key = key};
    int err = store_job_enqueue(st, &j);
    CHECK_EQ_INT(err, OK);
    return j.id;
}

static void
test_math(void)
{
    struct jobs_opts o;
    jobs_opts_default(&o);
    o.backoff_base_ms = 1000;
    o.backoff_max_ms = 60000;
    CHECK_EQ_INT(jobs_backoff_ms(&o, 1, 0), 500);
    CHECK(jobs_backoff_ms(&o, 1, UINT32_MAX) >= 999 && jobs_backoff_ms(&o, 1, UINT32_MAX) <= 1000);
    CHECK_EQ_INT(jobs_backoff_ms(&o, 3, 0), 2000);
    CHECK(jobs_backoff_ms(&o, 3, UINT32_MAX) <= 4000);
    CHECK_EQ_INT(jobs_backoff_ms(&o, 30, 0), 30000); /* capped at 60 s, half of it fixed */
    for (uint32_t r = 0; r < 1000; r++) {
        int64_t d = jobs_backoff_ms(&o, 2, r * 4294967u);
        CHECK(d >= 1000 && d <= 2000);
    }
    CHECK_EQ_INT(jobs_period_start(3600 * 1000 * 5 + 1234, 3600 * 1000), 3600 * 1000 * 5);
    CHECK_EQ_INT(jobs_period_start(7000, 1000), 7000);
    char key[64];
    jobs_period_key("purge.tokens", 1700000000000, key, sizeof(key));
    CHECK_EQ_STR(key, "purge.tokens:1700000000000");
}

static bool
metrics_have(const char *text)
{
    struct buf b;
    buf_init(&b, NULL, 4096);
    jobs_metrics_render(&b);
    buf_appendc(&b, '\0');
    bool found = strstr(b.data, text) != NULL;
    buf_cleanup(&b);
    return found;
}

static void
test_many_jobs_once_each(void)
{
    struct jobs_opts o = opts(4);
    struct jobs *j = jobs_new(st, &o);
    struct jobs_kind k = {"test.ok", run_ok, NULL, NULL, NULL};
    CHECK_EQ_INT(jobs_register(j, &k), OK);
    CHECK_EQ_INT(jobs_register(j, &k), ERR_CONFLICT); /* twice */
    int64_t ids[MANY];
    for (int i = 0; i < MANY; i++)
        ids[i] = enqueue("test.ok", NULL);
    CHECK_EQ_INT(jobs_start(j), OK);
    jobs_notify(j);
    CHECK(WAIT_FOR(atomic_load(&ok_runs) >= MANY, 10000));
    sleep_ms(100);
    CHECK_EQ_INT(atomic_load(&ok_runs), MANY);
    for (int i = 0; i < MANY; i++) {
        CHECK(ids[i] > 0 && ids[i] < 4096);
        CHECK_EQ_INT(atomic_load(&runs_by_id[ids[i]]), 1);
        struct arena a;
        arena_init(&a);
        struct store_job row;
        CHECK_EQ_INT(store_job_get(st, ids[i], &a, &row), OK);
        CHECK_EQ_INT(row.state, STORE_JOB_DONE);
        CHECK_EQ_INT(row.attempts, 1);
        arena_cleanup(&a);
    }
    /* Metrics while it runs (the queue depth appears after the keeper's first count). */
    CHECK(WAIT_FOR(metrics_have("pace_jobs_queue_depth{state=\"done\"}"), 3000));
    struct buf b;
    buf_init(&b, NULL, 4096);
    jobs_metrics_render(&b);
    buf_appendc(&b, '\0');
    CHECK(strstr(b.data, "pace_jobs_completed_total{kind=\"test.ok\"} 60") != NULL);
    CHECK(strstr(b.data, "pace_jobs_run_seconds_count{kind=\"test.ok\"} 60") != NULL);
    CHECK(strstr(b.data, "pace_jobs_workers 4") != NULL);
    buf_cleanup(&b);
    CHECK(jobs_stop(j, 5000));
    CHECK(jobs_stop(j, 5000)); /* idempotent */
    jobs_free(j);
    buf_init(&b, NULL, 64);
    jobs_metrics_render(&b);
    CHECK_EQ_INT(b.len, 0); /* nothing once it stopped */
    buf_cleanup(&b);
}

static void
test_retry_then_dead(void)
{
    struct jobs_opts o = opts(2);
    struct jobs *j = jobs_new(st, &o);
    struct jobs_kind k = {"test.fail", run_fail, on_give_up, NULL, NULL};
    jobs_register(j, &k);
    int64_t id = enqueue("test.fail", NULL);
    jobs_start(j);
    jobs_notify(j);
    struct arena a;
    arena_init(&a);
    struct store_job row = {0};
    CHECK(WAIT_FOR(store_job_get(st, id, &a, &row) == OK && row.state == STORE_JOB_DEAD, 10000));
    CHECK_EQ_INT(row.attempts, 3);
    CHECK_EQ_STR(row.last_error, "failure number 3");
    CHECK_EQ_INT(atomic_load(&fail_runs), 3);
    CHECK_EQ_INT(atomic_load(&give_ups), 1);
    CHECK(row.finished_at > 0);
    CHECK(jobs_stop(j, 5000));
    jobs_free(j);
    arena_cleanup(&a);
}

static void
test_lease_expiry(void)
{
    /* A worker of another instance claims a job and dies. */
    int64_t id = enqueue("test.ok", NULL);
    struct arena a;
    arena_init(&a);
    struct store_job *rows;
    size_t n;
    CHECK_EQ_INT(store_job_claim(st, "ghost/w0", 300, 1, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(rows[0].id, id);
    struct jobs_opts o = opts(2);
    struct jobs *j = jobs_new(st, &o);
    struct jobs_kind k = {"test.ok", run_ok, NULL, NULL, NULL};
    jobs_register(j, &k);
    jobs_start(j);
    struct store_job row = {0};
    CHECK(WAIT_FOR(store_job_get(st, id, &a, &row) == OK && row.state == STORE_JOB_DONE, 10000));
    CHECK_EQ_INT(row.attempts, 2);
    CHECK_EQ_INT(atomic_load(&runs_by_id[id]), 1);
    /* The dead worker can no longer record anything. */
    CHECK_EQ_INT(store_job_complete(st, id, "ghost/w0"), ERR_NOT_FOUND);
    CHECK(jobs_stop(j, 5000));
    jobs_free(j);
    arena_cleanup(&a);
}

static void
test_periodic_once_per_period(void)
{
    int64_t counts[STORE_JOB_STATE_COUNT], before[STORE_JOB_STATE_COUNT];
    CHECK_EQ_INT(store_job_counts(st, before), OK);
    struct jobs_opts o = opts(3);
    o.purge_interval_ms = 1000;
    struct jobs *one = jobs_new(st, &o), *two = jobs_new(st, &o);
    int64_t first = clock_wall_ms();
    jobs_start(one);
    jobs_start(two);
    sleep_ms(3300);
    CHECK(jobs_stop(one, 5000));
    CHECK(jobs_stop(two, 5000));
    int64_t last = clock_wall_ms();
    jobs_free(one);
    jobs_free(two);
    CHECK_EQ_INT(store_job_counts(st, counts), OK);
    int64_t periods = last / 1000 - first / 1000 + 1;
    int64_t made = 0;
    for (int i = 0; i < STORE_JOB_STATE_COUNT; i++)
        if (i != STORE_JOB_DEAD)
            made += counts[i] - before[i];
    /* Three kinds; each period scheduled once however many instances try
     * (a period that began while both were stopping may be missing). */
    CHECK(made == 3 * periods || made == 3 * (periods - 1));
    CHECK_EQ_INT(counts[STORE_JOB_DEAD], before[STORE_JOB_DEAD]);
    fprintf(stderr, "periodic: %" PRId64 " jobs for %" PRId64 " periods\n", made, periods);
}

static void
test_shutdown_releases(void)
{
    struct jobs_opts o = opts(1);
    struct jobs *j = jobs_new(st, &o);
    struct jobs_kind k = {"test.slow", run_slow, NULL, NULL, NULL};
    jobs_register(j, &k);
    int64_t id = enqueue("test.slow", NULL);
    jobs_start(j);
    jobs_notify(j);
    CHECK(WAIT_FOR(atomic_load(&slow_started) == 1, 5000));
    /* Longer than the lease: the keeper renews it meanwhile. */
    sleep_ms(900);
    struct arena a;
    arena_init(&a);
    struct store_job row;
    CHECK_EQ_INT(store_job_get(st, id, &a, &row), OK);
    CHECK_EQ_INT(row.state, STORE_JOB_RUNNING);
    CHECK_EQ_INT(row.attempts, 1);
    /* A short deadline: the handler is told to stop and hands the job back. */
    CHECK(jobs_stop(j, 100));
    jobs_free(j);
    CHECK_EQ_INT(store_job_get(st, id, &a, &row), OK);
    CHECK_EQ_INT(row.state, STORE_JOB_QUEUED);
    CHECK_EQ_INT(row.attempts, 0);
    CHECK_EQ_INT(atomic_load(&slow_started), 1);
    /* Take it out of the way of later tests. */
    struct store_job *rows;
    size_t n;
    CHECK_EQ_INT(store_job_claim(st, "test", 1000, 1, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(store_job_complete(st, rows[0].id, "test"), OK);
    arena_cleanup(&a);
}

int
main(void)
{
    log_init(LOG_WARN, LOG_TEXT);
    snprintf(dir, sizeof(dir), "/tmp/pace-test-jobs.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char url[128];
    snprintf(url, sizeof(url), "sqlite:%s/pace.db", dir);
    if (store_open(url, &st) != OK || store_migrate(st, NULL) != OK) {
        fprintf(stderr, "cannot open a store in %s\n", dir);
        return 1;
    }
    test_math();
    test_many_jobs_once_each();
    test_retry_then_dead();
    test_lease_expiry();
    test_shutdown_releases();
    test_periodic_once_per_period();
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
