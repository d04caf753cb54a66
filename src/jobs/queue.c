/* Scheduling on the durable queue: retry backoff, and the periodic purges.
 * A periodic job is enqueued with the unique key "<kind>:<period start>",
 * and the store holds one job per key until it is purged (finished jobs
 * are kept at least two periods), so of all the instances and workers that
 * try to schedule one period's run, exactly one job is queued and run. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jobs/internal.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/jparse.h"
#include "util/log.h"

enum { PURGE_BATCHES_MAX = 100 };

void
jobs_opts_default(struct jobs_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->workers = 4;
    o->max_attempts = 5;
    o->lease_ms = 30000;
    o->poll_max_ms = 1000;
    o->backoff_base_ms = 1000;
    o->backoff_max_ms = 5 * 60 * 1000;
    o->purge_interval_ms = 3600 * 1000;
    o->retention_ms = 7LL * 24 * 3600 * 1000;
    o->token_keep_ms = (900 + 30 + 60) * 1000;
    o->max_queued_per_user = 20;
}

int
jobs_max_queued_per_user(const struct jobs *j)
{
    return j != NULL ? j->o.max_queued_per_user : 0;
}

int64_t
jobs_backoff_ms(const struct jobs_opts *o, int attempts, uint32_t r)
{
    int64_t d = o->backoff_base_ms > 0 ? o->backoff_base_ms : 1;
    for (int i = 1; i < attempts && d < o->backoff_max_ms; i++)
        d *= 2;
    if (d > o->backoff_max_ms)
        d = o->backoff_max_ms;
    /* Equal jitter: half fixed, half random, so retries of jobs that failed
     * together spread out but none comes back at once. */
    int64_t half = d / 2;
    return half + (int64_t)(((uint64_t)(d - half) * r) >> 32);
}

int64_t
jobs_period_start(int64_t now_ms, int64_t period_ms)
{
    if (period_ms <= 0)
        return now_ms;
    return now_ms - now_ms % period_ms;
}

void
jobs_period_key(const char *kind, int64_t period_start, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%" PRId64, kind, period_start);
}

/* ---- the periodic kinds ---- */

enum periodic { PURGE_TOKENS, PURGE_IDEM, PURGE_JOBS };
static const char *const periodic_names[JOBS_PERIODIC] = {"purge.tokens", "purge.idempotency", "purge.jobs"};

typedef int purge_fn(struct store *st, int64_t before, size_t max, size_t *purged);

/* Runs purge in batches until a batch is short. */
static int
purge_all(struct store *st, purge_fn *fn, int64_t before, size_t *total)
{
    for (int i = 0; i < PURGE_BATCHES_MAX; i++) {
        size_t n = 0;
        int err = fn(st, before, STORE_PURGE_MAX, &n);
        if (err != OK)
            return err;
        *total += n;
        if (n < STORE_PURGE_MAX)
            break;
    }
    return OK;
}

static int64_t
payload_period(const char *payload)
{
    struct jparse_error e;
    json_t *root = payload != NULL ? jparse(payload, strlen(payload), &e) : NULL;
    int64_t v = json_is_integer(json_object_get(root, "period_start"))
                    ? (int64_t)json_integer_value(json_object_get(root, "period_start"))
                    : 0;
    json_decref(root);
    return v;
}

static enum jobs_result
run_periodic(struct jobs_run *run, void *arg)
{
    const struct jobs_worker *wk = run->priv;
    struct jobs *j = wk->j;
    enum periodic which = (enum periodic)(intptr_t)arg;
    int64_t now = clock_wall_ms();
    size_t total = 0;
    int err;
    switch (which) {
    case PURGE_TOKENS:
        err = purge_all(run->store, store_session_purge, now - j->o.token_keep_ms, &total);
        if (err == OK)
            err = purge_all(run->store, store_refresh_purge, now - j->o.token_keep_ms, &total);
        if (err == OK) /* one-time tokens (links, mfa_token), expired or spent */
            err = purge_all(run->store, store_token_purge, now - j->o.token_keep_ms, &total);
        break;
    case PURGE_IDEM:
        err = purge_all(run->store, store_idem_purge, now, &total);
        break;
    default: {
        int64_t keep = j->o.retention_ms;
        if (keep < 2 * j->o.purge_interval_ms)
            keep = 2 * j->o.purge_interval_ms; /* a period's unique key must outlive the period */
        err = purge_all(run->store, store_job_purge, now - keep, &total);
        break;
    }
    }
    if (err != OK) {
        run->error = arena_printf(run->arena, "purge failed (%s)", err_name(err));
        return JOBS_RETRY;
    }
    log_info("jobs", "periodic %s for period %" PRId64 " ran on %s: purged %zu rows", periodic_names[which],
             payload_period(run->job->payload), j->instance, total);
    return JOBS_DONE;
}

void
jobs_register_periodic(struct jobs *j)
{
    for (int i = 0; i < JOBS_PERIODIC; i++) {
        struct jobs_kind k = {periodic_names[i], run_periodic, NULL, NULL, (void *)(intptr_t)i};
        jobs_register(j, &k);
    }
}

void
jobs_schedule_periodic(struct jobs *j, int64_t now_ms)
{
    int64_t start = jobs_period_start(now_ms, j->o.purge_interval_ms);
    for (int i = 0; i < JOBS_PERIODIC; i++) {
        if (j->last_period[i] == start)
            continue;
        char key[96], payload[64];
        jobs_period_key(periodic_names[i], start, key, sizeof(key));
        snprintf(payload, sizeof(payload), "{\"period_start\":%" PRId64 "}", start);
        struct store_job job = {
            .kind = periodic_names[i], .payload = payload, .unique_key = key, .run_at = start};
        int err = store_job_enqueue(j->st, &job);
        if (err == OK || err == ERR_CONFLICT) {
            /* ERR_CONFLICT: another worker or instance scheduled this period. */
            j->last_period[i] = start;
            if (err == OK)
                jobs_notify(j);
        } else {
            log_warn("jobs", "cannot schedule %s (%s); trying again", periodic_names[i], err_name(err));
        }
    }
}
