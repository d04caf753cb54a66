/* Worker threads and the keeper (a util/ticker). A worker claims one job at a time
 * (store_job_claim with a lease), runs its kind's handler and completes,
 * fails (backoff with jitter; dead after the last attempt) or releases it.
 * The keeper renews the lease of every running job each third of the lease,
 * schedules the periodic jobs and refreshes the queue-depth gauge. Idle
 * workers sleep with a growing timeout (up to poll_max_ms) and are woken
 * at once by jobs_notify. Invariants: a worker touches a job only while it
 * holds its lease (the store refuses calls from a former owner); after
 * jobs_stop released a job, its worker never touches it again. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "jobs/internal.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/ticker.h"

enum {
    IDLE_MIN_MS = 20,
    KEEPER_TICK_MS = 200,
    DEPTH_REFRESH_MS = 2000, /* four counts over the jobs table: cheap, but not free on a big table */
    STOP_GRACE_MS = 500,     /* after the deadline, for handlers to notice and release */
    UNKNOWN_KIND_RETRY_MS = 60000,
};

static const double hist_bounds[JOBS_HIST_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5,   1.0,  2.5,   10.0, 60.0};

/* The job system /metrics renders (one per process). */
static _Atomic(struct jobs *) current;

static uint32_t
random_u32(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint32_t)((uint64_t)clock_mono_ms() * 2654435761u);
    return r;
}

/* ---- lifecycle ---- */

struct jobs *
jobs_new(struct store *st, const struct jobs_opts *o)
{
    if (o->workers < 0 || o->workers > JOBS_WORKERS_MAX || o->max_attempts < 1 || o->lease_ms < 300 ||
        o->poll_max_ms < IDLE_MIN_MS || o->purge_interval_ms < 1000) {
        log_error("jobs", "invalid job settings");
        return NULL;
    }
    struct jobs *j = xcalloc(1, sizeof(*j));
    j->st = st;
    j->o = *o;
    pthread_mutex_init(&j->mu, NULL);
    clock_cond_init(&j->work_cv);
    clock_cond_init(&j->exit_cv);
    char host[48] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(j->instance, sizeof(j->instance), "%.40s:%ld:%08x", host, (long)getpid(), random_u32());
    j->workers = xcalloc((size_t)(o->workers > 0 ? o->workers : 1), sizeof(*j->workers));
    for (int i = 0; i < o->workers; i++) {
        j->workers[i].j = j;
        j->workers[i].index = i;
        snprintf(j->workers[i].owner, sizeof(j->workers[i].owner), "%s/w%d", j->instance, i);
    }
    jobs_register_periodic(j);
    return j;
}

int
jobs_register(struct jobs *j, const struct jobs_kind *k)
{
    if (j->started || k->name == NULL || k->run == NULL) {
        log_error("jobs", "job kinds are registered before the workers start");
        return ERR_INVALID;
    }
    for (size_t i = 0; i < j->nkinds; i++)
        if (strcmp(j->kinds[i].k.name, k->name) == 0) {
            log_error("jobs", "job kind %s registered twice", k->name);
            return ERR_CONFLICT;
        }
    if (j->nkinds == JOBS_KINDS_MAX) {
        log_error("jobs", "too many job kinds");
        return ERR_TOO_LARGE;
    }
    j->kinds[j->nkinds++].k = *k;
    return OK;
}

static struct jobs_kind_state *
find_kind(struct jobs *j, const char *name)
{
    for (size_t i = 0; i < j->nkinds; i++)
        if (name != NULL && strcmp(j->kinds[i].k.name, name) == 0)
            return &j->kinds[i];
    return NULL;
}

void
jobs_notify(struct jobs *j)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->mu);
    if (j->pending < (unsigned)j->o.workers)
        j->pending++;
    pthread_cond_signal(&j->work_cv);
    pthread_mutex_unlock(&j->mu);
}

/* ---- a run ---- */

bool
jobs_run_should_stop(const struct jobs_run *run)
{
    struct jobs_worker *wk = run->priv;
    pthread_mutex_lock(&wk->j->mu);
    bool stop = wk->j->hard_stop || wk->lease_lost || wk->released;
    pthread_mutex_unlock(&wk->j->mu);
    return stop;
}

bool
jobs_run_is_last_attempt(const struct jobs_run *run)
{
    return run->job->attempts >= run->max_attempts;
}

static void
observe(struct jobs_kind_state *ks, double seconds)
{
    size_t b = 0;
    while (b < JOBS_HIST_BUCKETS && seconds > hist_bounds[b])
        b++;
    atomic_fetch_add_explicit(&ks->hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ks->sum_us, (unsigned long)(seconds * 1e6), memory_order_relaxed);
}

static const char *
clip(struct arena *a, const char *s)
{
    if (s == NULL)
        return "failed";
    size_t n = strlen(s);
    return n <= JOBS_ERROR_MAX ? s : arena_strndup(a, s, JOBS_ERROR_MAX);
}

/* Makes the job dead with reason, after telling its kind. */
static void
give_up(struct jobs_worker *wk, struct jobs_kind_state *ks, const struct store_job *job, const char *reason)
{
    struct jobs *j = wk->j;
    if (ks != NULL && ks->k.give_up != NULL)
        ks->k.give_up(j->st, job, reason, ks->k.arg);
    int err = store_job_fail(j->st, job->id, wk->owner, reason, 0);
    if (err == OK) {
        if (ks != NULL)
            atomic_fetch_add_explicit(&ks->dead, 1, memory_order_relaxed);
        log_warn("jobs", "job %" PRId64 " (%s) is dead after %d attempts: %s", job->id, job->kind,
                 job->attempts, reason);
    } else if (err != ERR_NOT_FOUND) {
        log_warn("jobs", "job %" PRId64 " could not be marked dead (%s)", job->id, err_name(err));
    }
}

static void
finish(struct jobs_worker *wk, struct jobs_kind_state *ks, const struct store_job *job, enum jobs_result res,
       const char *error, struct arena *a)
{
    struct jobs *j = wk->j;
    int err = OK;
    switch (res) {
    case JOBS_DONE:
        err = store_job_complete(j->st, job->id, wk->owner);
        if (err == OK)
            atomic_fetch_add_explicit(&ks->done, 1, memory_order_relaxed);
        break;
    case JOBS_RETRY:
        if (job->attempts >= j->o.max_attempts) {
            give_up(wk, ks, job, clip(a, error));
            return;
        }
        err = store_job_fail(j->st, job->id, wk->owner, clip(a, error),
                             clock_wall_ms() + jobs_backoff_ms(&j->o, job->attempts, random_u32()));
        if (err == OK) {
            atomic_fetch_add_explicit(&ks->retried, 1, memory_order_relaxed);
            log_info("jobs", "job %" PRId64 " (%s) failed attempt %d of %d, will retry: %s", job->id,
                     job->kind, job->attempts, j->o.max_attempts, clip(a, error));
        }
        break;
    case JOBS_FAIL:
        give_up(wk, ks, job, clip(a, error));
        return;
    case JOBS_RELEASE:
        err = store_job_release(j->st, job->id, wk->owner);
        if (err == OK) {
            atomic_fetch_add_explicit(&ks->released, 1, memory_order_relaxed);
            log_info("jobs", "job %" PRId64 " (%s) handed back to the queue unfinished", job->id, job->kind);
        }
        break;
    }
    if (err == ERR_NOT_FOUND) {
        /* The lease ran out and another worker may have the job: its outcome
         * is theirs now (handlers are idempotent). */
        atomic_fetch_add_explicit(&ks->lost, 1, memory_order_relaxed);
        log_warn("jobs", "job %" PRId64 " (%s): lease lost before it could be recorded", job->id, job->kind);
    } else if (err != OK) {
        log_warn("jobs", "job %" PRId64 " (%s): outcome not recorded (%s); it runs again after its lease",
                 job->id, job->kind, err_name(err));
    }
}

static void
slot_set(struct jobs_worker *wk, int64_t job_id)
{
    pthread_mutex_lock(&wk->j->mu);
    wk->job_id = job_id;
    wk->last_renew_ms = clock_mono_ms();
    wk->lease_lost = false;
    wk->released = false;
    pthread_mutex_unlock(&wk->j->mu);
}

static void
run_job(struct jobs_worker *wk, const struct store_job *job, struct arena *a)
{
    struct jobs *j = wk->j;
    struct jobs_kind_state *ks = find_kind(j, job->kind);
    slot_set(wk, job->id);
    atomic_fetch_add_explicit(&j->busy, 1, memory_order_relaxed);
    if (job->attempts > j->o.max_attempts) {
        /* Claimed again with nothing left: its workers kept dying on it. */
        give_up(wk, ks, job, "no attempts left: the workers running it stopped without finishing it");
        goto out;
    }
    if (ks == NULL) {
        /* A kind this build does not know (a newer instance queued it). */
        int err = job->attempts >= j->o.max_attempts
                      ? store_job_fail(j->st, job->id, wk->owner, "no handler for this job kind", 0)
                      : store_job_fail(j->st, job->id, wk->owner, "no handler for this job kind",
                                       clock_wall_ms() + UNKNOWN_KIND_RETRY_MS);
        log_warn("jobs", "job %" PRId64 ": no handler for kind %s (%s)", job->id, job->kind, err_name(err));
        goto out;
    }
    struct jobs_run run = {job, j->st, a, j->o.max_attempts, NULL, wk};
    struct timespec s0, s1;
    clock_gettime(CLOCK_MONOTONIC, &s0);
    enum jobs_result res = ks->k.run(&run, ks->k.arg);
    clock_gettime(CLOCK_MONOTONIC, &s1);
    observe(ks, (double)(s1.tv_sec - s0.tv_sec) + (double)(s1.tv_nsec - s0.tv_nsec) / 1e9);
    pthread_mutex_lock(&j->mu);
    bool released = wk->released;
    pthread_mutex_unlock(&j->mu);
    if (released) {
        atomic_fetch_add_explicit(&ks->released, 1, memory_order_relaxed);
        goto out;
    }
    finish(wk, ks, job, res, run.error, a);
out:
    atomic_fetch_sub_explicit(&j->busy, 1, memory_order_relaxed);
    slot_set(wk, 0);
}

/* Sleeps up to ms unless a notification is pending or the system stops. */
static void
wait_for_work(struct jobs *j, long ms)
{
    int64_t until = clock_mono_ms() + ms;
    pthread_mutex_lock(&j->mu);
    while (j->pending == 0 && !j->stopping)
        if (!clock_cond_wait_until(&j->work_cv, &j->mu, until))
            break;
    if (j->pending > 0)
        j->pending--;
    pthread_mutex_unlock(&j->mu);
}

static void *
worker_main(void *arg)
{
    struct jobs_worker *wk = arg;
    struct jobs *j = wk->j;
    long idle = IDLE_MIN_MS;
    bool failing = false;
    struct arena a;
    arena_init(&a);
    for (;;) {
        pthread_mutex_lock(&j->mu);
        bool stop = j->stopping;
        pthread_mutex_unlock(&j->mu);
        if (stop)
            break;
        arena_cleanup(&a);
        struct store_job *rows = NULL;
        size_t n = 0;
        int err = store_job_claim(j->st, wk->owner, j->o.lease_ms, 1, &a, &rows, &n);
        if (err != OK && !failing)
            log_warn("jobs", "worker %d cannot claim jobs (%s); retrying", wk->index, err_name(err));
        else if (err == OK && failing)
            log_info("jobs", "worker %d claims jobs again", wk->index);
        failing = err != OK;
        if (err != OK || n == 0) {
            wait_for_work(j, idle);
            idle = idle * 2 > j->o.poll_max_ms ? j->o.poll_max_ms : idle * 2;
            continue;
        }
        idle = IDLE_MIN_MS;
        run_job(wk, &rows[0], &a);
    }
    arena_cleanup(&a);
    log_thread_cleanup();
    pthread_mutex_lock(&j->mu);
    j->running_workers--;
    pthread_cond_broadcast(&j->exit_cv);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* ---- the keeper ---- */

struct renewal {
    int64_t id;
    const char *owner;
};

static void
renew_leases(struct jobs *j)
{
    struct renewal due[JOBS_WORKERS_MAX];
    size_t n = 0;
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->o.workers; i++) {
        struct jobs_worker *wk = &j->workers[i];
        if (wk->job_id != 0 && !wk->released && !wk->lease_lost &&
            now - wk->last_renew_ms >= j->o.lease_ms / 3) {
            due[n++] = (struct renewal){wk->job_id, wk->owner};
            wk->last_renew_ms = now;
        }
    }
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; i < n; i++) {
        int err = store_job_renew(j->st, due[i].id, due[i].owner, j->o.lease_ms);
        if (err == OK)
            continue;
        if (err == ERR_NOT_FOUND) {
            pthread_mutex_lock(&j->mu);
            for (int w = 0; w < j->o.workers; w++)
                if (j->workers[w].job_id == due[i].id && j->workers[w].owner == due[i].owner)
                    j->workers[w].lease_lost = true;
            pthread_mutex_unlock(&j->mu);
            log_warn("jobs", "job %" PRId64 ": lease lost while running", due[i].id);
        } else {
            /* The store is down: try again at the next tick, well before
             * the lease runs out. */
            pthread_mutex_lock(&j->mu);
            for (int w = 0; w < j->o.workers; w++)
                if (j->workers[w].job_id == due[i].id)
                    j->workers[w].last_renew_ms = 0;
            pthread_mutex_unlock(&j->mu);
        }
    }
}

/* Counts the queue; a count that fails is tried again at the next tick. */
static void
refresh_depth(struct jobs *j)
{
    int64_t counts[STORE_JOB_STATE_COUNT];
    if (store_job_counts(j->st, counts) != OK)
        return;
    for (int i = 0; i < STORE_JOB_STATE_COUNT && i < 4; i++)
        atomic_store_explicit(&j->depth[i], counts[i], memory_order_relaxed);
    atomic_store_explicit(&j->depth_known, true, memory_order_relaxed);
    j->next_depth_ms = clock_mono_ms() + DEPTH_REFRESH_MS;
}

/* One tick of the keeper (util/ticker.h): renew leases, queue the periodic
 * jobs that are due, and count the queue now and then. */
static void
keeper_tick(void *arg)
{
    struct jobs *j = arg;
    pthread_mutex_lock(&j->mu);
    bool schedule = !j->stopping && j->o.workers > 0;
    pthread_mutex_unlock(&j->mu);
    renew_leases(j);
    if (schedule)
        jobs_schedule_periodic(j, clock_wall_ms());
    if (clock_mono_ms() >= j->next_depth_ms)
        refresh_depth(j);
}

/* ---- start and stop ---- */

int
jobs_start(struct jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->started = true;
    pthread_mutex_unlock(&j->mu);
    int rc = OK;
    /* The gauge is there from the first scrape: the keeper's first tick
     * runs on its own thread, possibly after the server is ready. */
    refresh_depth(j);
    /* At least six ticks per lease, at most one per KEEPER_TICK_MS. */
    long tick = j->o.lease_ms / 6 < KEEPER_TICK_MS ? j->o.lease_ms / 6 : KEEPER_TICK_MS;
    j->keeper = ticker_start("jobs keeper", tick, true, keeper_tick, j);
    if (j->keeper == NULL)
        rc = ERR_INTERNAL;
    for (int i = 0; rc == OK && i < j->o.workers; i++) {
        pthread_mutex_lock(&j->mu);
        j->running_workers++;
        pthread_mutex_unlock(&j->mu);
        if (thread_start(&j->workers[i].tid, NULL, "jobs worker", worker_main, &j->workers[i]) != OK) {
            pthread_mutex_lock(&j->mu);
            j->running_workers--;
            pthread_mutex_unlock(&j->mu);
            rc = ERR_INTERNAL;
            break;
        }
        j->workers[i].started = true;
    }
    if (rc != OK) {
        log_error("jobs", "cannot start the job threads");
        return rc;
    }
    atomic_store(&current, j);
    log_info("jobs", "%d job workers started as %s (lease %d ms, up to %d attempts)", j->o.workers,
             j->instance, j->o.lease_ms, j->o.max_attempts);
    return OK;
}

bool
jobs_stop(struct jobs *j, long timeout_ms)
{
    if (j == NULL || !j->started)
        return true;
    if (j->stopped)
        return j->drained;
    int64_t until = clock_mono_ms() + timeout_ms;
    pthread_mutex_lock(&j->mu);
    j->stopping = true;
    pthread_cond_broadcast(&j->work_cv);
    if (j->running_workers > 0)
        log_info("jobs", "stopping: %d jobs running, up to %ld ms to finish", atomic_load(&j->busy),
                 timeout_ms);
    while (j->running_workers > 0)
        if (!clock_cond_wait_until(&j->exit_cv, &j->mu, until))
            break;
    if (j->running_workers > 0) {
        /* Past the deadline: handlers that wait (network) notice and release. */
        j->hard_stop = true;
        until = clock_mono_ms() + STOP_GRACE_MS;
        while (j->running_workers > 0)
            if (!clock_cond_wait_until(&j->exit_cv, &j->mu, until))
                break;
    }
    struct renewal left[JOBS_WORKERS_MAX];
    size_t n = 0;
    for (int i = 0; i < j->o.workers; i++) {
        struct jobs_worker *wk = &j->workers[i];
        if (wk->job_id != 0 && !wk->released) {
            wk->released = true;
            left[n++] = (struct renewal){wk->job_id, wk->owner};
        }
    }
    bool drained = j->running_workers == 0;
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; i < n; i++) {
        int err = store_job_release(j->st, left[i].id, left[i].owner);
        log_warn("jobs", "job %" PRId64 " still running at the shutdown deadline: %s", left[i].id,
                 err == OK ? "handed back to the queue" : err_name(err));
    }
    ticker_stop(j->keeper);
    j->keeper = NULL;
    atomic_store(&current, NULL);
    j->stopped = true;
    j->drained = drained;
    if (drained) {
        for (int i = 0; i < j->o.workers; i++)
            if (j->workers[i].started) {
                pthread_join(j->workers[i].tid, NULL);
                j->workers[i].started = false;
            }
        log_info("jobs", "job workers stopped");
    }
    return drained;
}

void
jobs_free(struct jobs *j)
{
    if (j == NULL)
        return;
    if (atomic_load(&current) == j)
        atomic_store(&current, NULL);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->work_cv);
    pthread_cond_destroy(&j->exit_cv);
    free(j->workers);
    free(j);
}

/* ---- metrics ---- */

static void
counter_family(struct buf *out, struct jobs *j, const char *name, const char *help, size_t offset)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < j->nkinds; i++) {
        atomic_ulong *c = (atomic_ulong *)(void *)((char *)&j->kinds[i] + offset);
        buf_printf(out, "%s{kind=\"%s\"} %lu\n", name, j->kinds[i].k.name,
                   atomic_load_explicit(c, memory_order_relaxed));
    }
}

void
jobs_metrics_render(struct buf *out)
{
    struct jobs *j = atomic_load(&current);
    if (j == NULL)
        return;
    if (atomic_load_explicit(&j->depth_known, memory_order_relaxed)) {
        buf_appends(out, "# HELP pace_jobs_queue_depth Jobs in the queue by state (every instance's).\n"
                         "# TYPE pace_jobs_queue_depth gauge\n");
        for (int i = 0; i < STORE_JOB_STATE_COUNT; i++)
            buf_printf(out, "pace_jobs_queue_depth{state=\"%s\"} %lld\n", store_job_state_names[i],
                       (long long)atomic_load_explicit(&j->depth[i], memory_order_relaxed));
    }
    buf_printf(out,
               "# HELP pace_jobs_workers Job worker threads of this instance.\n"
               "# TYPE pace_jobs_workers gauge\n"
               "pace_jobs_workers %d\n"
               "# HELP pace_jobs_workers_busy Job workers running a job now.\n"
               "# TYPE pace_jobs_workers_busy gauge\n"
               "pace_jobs_workers_busy %d\n",
               j->o.workers, atomic_load_explicit(&j->busy, memory_order_relaxed));
    counter_family(out, j, "pace_jobs_completed_total", "Jobs this instance finished.",
                   offsetof(struct jobs_kind_state, done));
    counter_family(out, j, "pace_jobs_retries_total", "Failed attempts queued again with a backoff.",
                   offsetof(struct jobs_kind_state, retried));
    counter_family(out, j, "pace_jobs_dead_total", "Jobs given up after their last attempt.",
                   offsetof(struct jobs_kind_state, dead));
    counter_family(out, j, "pace_jobs_released_total", "Jobs handed back unfinished (shutdown).",
                   offsetof(struct jobs_kind_state, released));
    counter_family(out, j, "pace_jobs_lost_leases_total", "Runs whose lease ran out before they finished.",
                   offsetof(struct jobs_kind_state, lost));
    buf_appends(out, "# HELP pace_jobs_run_seconds Time handlers took per run.\n"
                     "# TYPE pace_jobs_run_seconds histogram\n");
    for (size_t i = 0; i < j->nkinds; i++) {
        struct jobs_kind_state *ks = &j->kinds[i];
        unsigned long cum = 0;
        for (size_t b = 0; b <= JOBS_HIST_BUCKETS; b++) {
            cum += atomic_load_explicit(&ks->hist[b], memory_order_relaxed);
            if (b < JOBS_HIST_BUCKETS)
                buf_printf(out, "pace_jobs_run_seconds_bucket{kind=\"%s\",le=\"%g\"} %lu\n", ks->k.name,
                           hist_bounds[b], cum);
            else
                buf_printf(out, "pace_jobs_run_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %lu\n", ks->k.name,
                           cum);
        }
        buf_printf(out, "pace_jobs_run_seconds_sum{kind=\"%s\"} %.6f\n", ks->k.name,
                   (double)atomic_load_explicit(&ks->sum_us, memory_order_relaxed) / 1e6);
        buf_printf(out, "pace_jobs_run_seconds_count{kind=\"%s\"} %lu\n", ks->k.name, cum);
    }
    for (size_t i = 0; i < j->nkinds; i++)
        if (j->kinds[i].k.metrics != NULL)
            j->kinds[i].k.metrics(out, j->kinds[i].k.arg);
}
