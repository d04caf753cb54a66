/* The durable job queue on SQLite. Claims run on the single writer, so a
 * claim is atomic by construction: a job is handed out only when queued and
 * due, or when its lease expired; every later call checks the lease owner,
 * so a worker that lost its lease can no longer complete or fail the job. */
#include <string.h>

#include "store/rules.h"
#include "store/sqlite/sqlite_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct sqlite_store *)(s))

/* The user's jobs of the same kind queued or running (up to max), through
 * the partial index jobs_user_active (a user's mail does not take a plan's
 * place). On the single writer: nothing runs between this
 * count and the insert, so the bound is exact. Prepared per call: only a
 * plan's creation asks. */
static const char ACTIVE_SQL[] =
    "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE user_id = ?1 AND kind = ?3 AND "
    "state IN ('queued', 'running') LIMIT ?2)";

static int
check_active(struct conn *c, struct store_job *job)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, ACTIVE_SQL, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_sqlite_error(c, rc, "job count");
    sqlite3_bind_int64(st, 1, job->user_id);
    sqlite3_bind_int(st, 2, job->max_active);
    sqlite3_bind_text(st, 3, job->kind, -1, SQLITE_STATIC);
    int err = store_sqlite_step_row(c, st, "job count");
    int64_t n = err == OK ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (err != OK)
        return err;
    if (n >= job->max_active) {
        job->over_bound = true;
        return ERR_OVERLOADED;
    }
    return OK;
}

int
store_sqlite_job_insert(struct conn *c, struct store_job *job)
{
    int err = OK;
    sqlite3_stmt *st;
    job->over_bound = false;
    if (job->user_id != 0 && job->max_active > 0 && (err = check_active(c, job)) != OK)
        return err;
    if (job->unique_key != NULL) {
        st = store_sqlite_stmt(c, STMT_JOB_BY_UNIQUE, &err);
        if (st == NULL)
            return err;
        sqlite3_bind_text(st, 1, job->unique_key, -1, SQLITE_STATIC);
        err = store_sqlite_step_row(c, st, "job unique");
        if (err == OK)
            job->id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (err == OK)
            return ERR_CONFLICT;
        if (err != ERR_NOT_FOUND)
            return err;
    }
    st = store_sqlite_stmt(c, STMT_JOB_INSERT, &err);
    if (st == NULL)
        return err;
    int64_t run_at = job->run_at != 0 ? job->run_at : c->now;
    sqlite3_bind_text(st, 1, job->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job->payload != NULL ? job->payload : "{}", -1, SQLITE_STATIC);
    store_sqlite_bind_i64_or_null(st, 3, job->user_id);
    store_sqlite_bind_i64_or_null(st, 4, job->ref_id);
    store_sqlite_bind_str(st, 5, job->unique_key);
    sqlite3_bind_int64(st, 6, run_at);
    sqlite3_bind_int64(st, 7, c->now);
    err = store_sqlite_step_done(c, st, "job enqueue");
    sqlite3_reset(st);
    if (err != OK)
        return err;
    job->id = sqlite3_last_insert_rowid(c->db);
    job->state = STORE_JOB_QUEUED;
    job->run_at = run_at;
    job->attempts = 0;
    job->created_at = job->updated_at = c->now;
    return OK;
}

static int
op_job_enqueue(struct conn *c, void *arg)
{
    return store_sqlite_job_insert(c, arg);
}

int
store_sqlite_job_enqueue(struct store *s, struct store_job *job)
{
    return store_sqlite_write(STORE(s), op_job_enqueue, job, false);
}

int
store_sqlite_job_get(struct store *s, int64_t id, struct arena *a, struct store_job *out)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_JOB_GET, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, id);
    err = store_sqlite_step_row(c, st, "job get");
    if (err == OK)
        err = store_row_job(SQLITE_STMT_ROW(st), a, out);
    sqlite3_reset(st);
    return err;
}

static int
op_job_claim(struct conn *c, void *arg)
{
    struct store_job_claim *ca = arg;
    int err = OK;
    /* Jobs whose worker died go back to the queue first. */
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_JOB_RECLAIM, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, c->now);
    err = store_sqlite_step_done(c, st, "job reclaim");
    sqlite3_reset(st);
    if (err != OK)
        return err;
    st = store_sqlite_stmt(c, STMT_JOB_CLAIM, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_text(st, 1, ca->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->now + ca->lease_ms);
    sqlite3_bind_int64(st, 3, c->now);
    sqlite3_bind_int64(st, 4, (int64_t)ca->max);
    ca->n = 0;
    while ((err = store_sqlite_step_row(c, st, "job claim")) == OK && ca->n < ca->max) {
        err = store_row_job(SQLITE_STMT_ROW(st), ca->a, &ca->rows[ca->n]);
        if (err != OK)
            break;
        ca->n++;
    }
    sqlite3_reset(st);
    return err == ERR_NOT_FOUND ? OK : err;
}

int
store_sqlite_job_claim(struct store *s, struct store_job_claim *c)
{
    return store_sqlite_write(STORE(s), op_job_claim, c, false);
}

static const enum stmt job_stmts[] = {
    [STORE_JOB_RENEW] = STMT_JOB_RENEW,
    [STORE_JOB_COMPLETE] = STMT_JOB_COMPLETE,
    [STORE_JOB_FAIL] = STMT_JOB_FAIL,
    [STORE_JOB_RELEASE] = STMT_JOB_RELEASE,
};

static int
op_job_update(struct conn *c, void *arg)
{
    struct store_job_update *u = arg;
    struct store_param params[STORE_JOB_UPDATE_PARAMS];
    int n = store_job_update_params(u, c->now, params);
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, job_stmts[u->step], &err);
    if (st == NULL)
        return err;
    store_sqlite_bind_params(st, params, n);
    err = store_sqlite_step_done(c, st, store_sqlite_stmts[job_stmts[u->step]].name);
    sqlite3_reset(st);
    if (err == OK && sqlite3_changes(c->db) == 0)
        err = ERR_NOT_FOUND;
    return err;
}

int
store_sqlite_job_update(struct store *s, struct store_job_update *u)
{
    return store_sqlite_write(STORE(s), op_job_update, u, false);
}

int
store_sqlite_job_counts(struct store *s, int64_t counts[STORE_JOB_STATE_COUNT])
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    for (int i = 0; err == OK && i < STORE_JOB_STATE_COUNT; i++) {
        sqlite3_stmt *st = store_sqlite_stmt(c, STMT_JOB_COUNT, &err);
        if (st == NULL)
            return err;
        sqlite3_bind_text(st, 1, store_job_state_names[i], -1, SQLITE_STATIC);
        err = store_sqlite_step_row(c, st, "job counts");
        counts[i] = err == OK ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
    }
    return err;
}

int
store_sqlite_job_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    return store_sqlite_purge(s, STMT_JOB_PURGE, before, max, purged);
}
