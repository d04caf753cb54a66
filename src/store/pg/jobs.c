/* The durable job queue on PostgreSQL. Claims lock the due rows with
 * FOR UPDATE SKIP LOCKED, so any number of workers in any number of
 * instances claim concurrently without waiting for each other and never
 * get the same job; a job whose lease expired (its worker died) is put
 * back first. Every later call checks the lease owner, so a worker that
 * lost its lease can no longer complete or fail the job. */
#include <stdio.h>
#include <string.h>

#include "store/pg/pg_int.h"
#include "store/rules.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct pg_store *)(s))

/* The bound on a user's active jobs: a transaction-scoped advisory lock
 * per user (two-key form, which never meets the one-key locks such as the
 * migrations'), then, in a statement of its own so that its snapshot sees
 * what the lock's last holder committed, the count of the user's jobs of
 * the same kind queued or running (up to max) through the partial index
 * jobs_user_active. Creates for one user wait for each other here until
 * commit: the bound is exact. Inside a transaction only (a plan's
 * creation); sent unnamed, as it runs for plan creates alone. */
enum { ACTIVE_LOCK_CLASS = 1785946738 };

static int
check_active(struct pgx *x, struct store_job *job)
{
    char lock[96];
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d, hashint8($1))", ACTIVE_LOCK_CLASS);
    struct pg_params p = {0};
    pg_p_i64(&p, job->user_id);
    PGresult *r;
    int err = store_pg_exec_text(x, "job bound lock", lock, "l", &p, &r);
    if (err != OK)
        return err;
    PQclear(r);
    struct pg_params q = {0};
    pg_p_i64(&q, job->user_id);
    pg_p_int(&q, job->max_active);
    pg_p_str(&q, job->kind);
    err = store_pg_exec_text(
        x, "job count",
        "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE user_id = $1 AND kind = $3 AND state IN "
        "('queued', 'running') LIMIT $2) j",
        "lit", &q, &r);
    if (err != OK)
        return err;
    int64_t n = pg_col_i64(r, 0, 0);
    PQclear(r);
    if (n >= job->max_active) {
        job->over_bound = true;
        return ERR_OVERLOADED;
    }
    return OK;
}

int
store_pg_job_insert(struct pgx *x, struct store_job *job, int64_t now)
{
    job->over_bound = false;
    if (job->user_id != 0 && job->max_active > 0) {
        int err = check_active(x, job);
        if (err != OK)
            return err;
    }
    int64_t run_at = job->run_at != 0 ? job->run_at : now;
    struct pg_params p = {0};
    pg_p_str(&p, job->kind);
    pg_p_str(&p, job->payload != NULL ? job->payload : "{}");
    pg_p_i64_or_null(&p, job->user_id);
    pg_p_i64_or_null(&p, job->ref_id);
    pg_p_str(&p, job->unique_key);
    pg_p_i64(&p, run_at);
    pg_p_i64(&p, now);
    PGresult *r;
    int err = store_pg_exec(x, PG_JOB_INSERT, &p, &r);
    if (err != OK)
        return err;
    bool inserted = PQntuples(r) == 1;
    if (inserted)
        job->id = pg_col_i64(r, 0, 0);
    PQclear(r);
    if (!inserted) {
        /* The unique key is held: report by which job. */
        struct pg_params q = {0};
        pg_p_str(&q, job->unique_key);
        err = store_pg_exec(x, PG_JOB_BY_UNIQUE, &q, &r);
        if (err != OK)
            return err;
        if (PQntuples(r) > 0)
            job->id = pg_col_i64(r, 0, 0);
        PQclear(r);
        return ERR_CONFLICT;
    }
    job->state = STORE_JOB_QUEUED;
    job->run_at = run_at;
    job->attempts = 0;
    job->created_at = job->updated_at = now;
    return OK;
}

static int
op_job_enqueue(struct pgx *x, void *arg)
{
    return store_pg_job_insert(x, arg, store_pg_now());
}

int
store_pg_job_enqueue(struct store *s, struct store_job *job)
{
    return store_pg_run(STORE(s), PG_WRITE, job->user_id, op_job_enqueue, job);
}

struct job_get_arg {
    int64_t id;
    struct arena *a;
    struct store_job *out;
};

static int
op_job_get(struct pgx *x, void *arg)
{
    struct job_get_arg *ga = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ga->id);
    PGresult *r;
    int err = store_pg_exec(x, PG_JOB_GET, &p, &r);
    if (err != OK)
        return err;
    err = PQntuples(r) == 0 ? ERR_NOT_FOUND : store_row_job(PG_ROW(r, 0), ga->a, ga->out);
    PQclear(r);
    return err;
}

int
store_pg_job_get(struct store *s, int64_t id, struct arena *a, struct store_job *out)
{
    struct job_get_arg ga = {id, a, out};
    return store_pg_run(STORE(s), PG_READ, 0, op_job_get, &ga);
}

static int
op_job_claim(struct pgx *x, void *arg)
{
    struct store_job_claim *ca = arg;
    int64_t now = store_pg_now();
    /* Jobs whose worker died go back to the queue first. */
    struct pg_params p = {0};
    pg_p_i64(&p, now);
    int err = store_pg_exec_changes(x, PG_JOB_RECLAIM, &p, NULL);
    if (err != OK)
        return err;
    struct pg_params q = {0};
    pg_p_str(&q, ca->owner);
    pg_p_i64(&q, now + ca->lease_ms);
    pg_p_i64(&q, now);
    pg_p_i64(&q, (int64_t)ca->max);
    PGresult *r;
    err = store_pg_exec(x, PG_JOB_CLAIM, &q, &r);
    if (err != OK)
        return err;
    size_t n = (size_t)PQntuples(r);
    if (n > ca->max)
        n = ca->max; /* cannot happen: LIMIT */
    ca->n = 0;
    for (size_t i = 0; i < n && err == OK; i++) {
        err = store_row_job(PG_ROW(r, (int)i), ca->a, &ca->rows[i]);
        ca->n += err == OK;
    }
    PQclear(r);
    return err;
}

int
store_pg_job_claim(struct store *s, struct store_job_claim *c)
{
    return store_pg_run(STORE(s), PG_WRITE, 0, op_job_claim, c);
}

static const enum pg_stmt job_stmts[] = {
    [STORE_JOB_RENEW] = PG_JOB_RENEW,
    [STORE_JOB_COMPLETE] = PG_JOB_COMPLETE,
    [STORE_JOB_FAIL] = PG_JOB_FAIL,
    [STORE_JOB_RELEASE] = PG_JOB_RELEASE,
};

static int
op_job_update(struct pgx *x, void *arg)
{
    struct store_job_update *u = arg;
    struct store_param params[STORE_JOB_UPDATE_PARAMS];
    struct pg_params p = {0};
    pg_p_params(&p, params, store_job_update_params(u, store_pg_now(), params));
    int64_t changes;
    int err = store_pg_exec_changes(x, job_stmts[u->step], &p, &changes);
    return err == OK && changes == 0 ? ERR_NOT_FOUND : err; /* not running under this owner's lease */
}

int
store_pg_job_update(struct store *s, struct store_job_update *u)
{
    return store_pg_run(STORE(s), PG_WRITE, 0, op_job_update, u);
}

static int
op_job_counts(struct pgx *x, void *arg)
{
    int64_t *counts = arg;
    PGresult *r;
    int err = store_pg_exec(x, PG_JOB_COUNTS, NULL, &r);
    if (err != OK)
        return err;
    for (int i = 0; i < STORE_JOB_STATE_COUNT; i++)
        counts[i] = pg_col_i64(r, 0, i);
    PQclear(r);
    return OK;
}

int
store_pg_job_counts(struct store *s, int64_t counts[STORE_JOB_STATE_COUNT])
{
    return store_pg_run(STORE(s), PG_READ, 0, op_job_counts, counts);
}

int
store_pg_job_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    return store_pg_purge(s, PG_JOB_PURGE, before, max, purged);
}
