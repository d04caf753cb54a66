/* Fitness profiles and plans on PostgreSQL. A plan is created together with
 * its generation job, and reaches ready together with the tasks it
 * creates, in one transaction each: a crash never leaves a plan without its
 * job, and a job that runs twice never creates its tasks twice (the state
 * change only matches a plan that is not final yet). */
#include <limits.h>
#include <string.h>

#include "store/pg/pg_int.h"
#include "store/rules.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct pg_store *)(s))

/* ---- profile ---- */

struct profile_arg {
    int64_t user_id;
    struct arena *a;
    struct store_profile *p;
    int64_t expect_version;
};

static int
op_profile_get(struct pgx *x, void *arg)
{
    struct profile_arg *pa = arg;
    struct store_profile *p = pa->p;
    struct arena *a = pa->a;
    struct pg_params q = {0};
    pg_p_i64(&q, pa->user_id);
    PGresult *r;
    int err = store_pg_exec(x, PG_PROFILE_GET, &q, &r);
    if (err != OK)
        return err;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ERR_NOT_FOUND;
    }
    err = store_row_profile(PG_ROW(r, 0), a, p);
    PQclear(r);
    return err;
}

int
store_pg_profile_get(struct store *s, int64_t user_id, struct arena *a, struct store_profile *out)
{
    struct profile_arg pa = {user_id, a, out, 0};
    return store_pg_run(STORE(s), PG_READ_LAGGED, user_id, op_profile_get, &pa);
}

/* With an expected version the row must exist with it (an update that
 * checks it); without, an upsert. */
static int
op_profile_put(struct pgx *x, void *arg)
{
    struct profile_arg *pa = arg;
    struct store_profile *p = pa->p;
    int64_t now = store_pg_now();
    struct pg_params q = {0};
    pg_p_i64(&q, p->user_id);
    pg_p_str(&q, p->sex);
    pg_p_str(&q, p->birth_date);
    pg_p_double(&q, p->height_cm);
    pg_p_double(&q, p->weight_kg);
    pg_p_str(&q, p->activity_level);
    pg_p_str(&q, p->goal);
    pg_p_str(&q, p->experience);
    pg_p_int(&q, p->days_per_week);
    pg_p_int(&q, p->session_minutes);
    pg_p_str(&q, p->equipment);
    pg_p_str(&q, p->diet);
    pg_p_int(&q, p->meals_per_day);
    pg_p_str(&q, p->exclude_foods != NULL ? p->exclude_foods : "[]");
    pg_p_i64(&q, now);
    if (pa->expect_version != 0)
        pg_p_i64(&q, pa->expect_version);
    PGresult *r;
    int err = store_pg_exec(x, pa->expect_version != 0 ? PG_PROFILE_UPDATE_IF : PG_PROFILE_UPSERT, &q, &r);
    if (err != OK)
        return err; /* ERR_NOT_FOUND: no such user */
    if (PQntuples(r) == 0) {
        err = ERR_PRECONDITION;
    } else {
        p->version = pg_col_i64(r, 0, 0);
        p->updated_at = now;
    }
    PQclear(r);
    return err;
}

int
store_pg_profile_put(struct store *s, struct store_profile *p, int64_t expect_version)
{
    struct profile_arg pa = {p->user_id, NULL, p, expect_version};
    return store_pg_run(STORE(s), PG_WRITE, p->user_id, op_profile_put, &pa);
}

/* ---- plans ---- */

/* Runs inside a transaction (store_pg_run_tx). */
static int
op_plan_create(struct pgx *x, void *arg)
{
    struct store_plan_start *pa = arg;
    struct store_plan *p = pa->p;
    int64_t now = store_pg_now();
    struct pg_params q = {0};
    pg_p_i64(&q, p->user_id);
    pg_p_str(&q, store_plan_kind_names[p->kind]);
    pg_p_int(&q, p->weeks);
    pg_p_str(&q, p->start_date);
    pg_p_str(&q, p->request);
    pg_p_i64(&q, now);
    PGresult *r;
    int err = store_pg_exec(x, PG_PLAN_INSERT, &q, &r);
    if (err != OK)
        return err;
    store_plan_started(pa, pg_col_i64(r, 0, 0), now);
    PQclear(r);
    return pa->job != NULL ? store_pg_job_insert(x, pa->job, now) : OK;
}

int
store_pg_plan_create(struct store *s, struct store_plan_start *c)
{
    if (c->job == NULL)
        return store_pg_run(STORE(s), PG_WRITE, c->p->user_id, op_plan_create, c);
    return store_pg_run_tx(STORE(s), c->p->user_id, op_plan_create, c);
}

struct plan_arg {
    int64_t user_id;
    int64_t id;
    struct arena *a;
    struct store_plan *out;
};

static int
op_plan_get(struct pgx *x, void *arg)
{
    struct plan_arg *pa = arg;
    struct pg_params q = {0};
    pg_p_i64(&q, pa->user_id);
    pg_p_i64(&q, pa->id);
    PGresult *r;
    int err = store_pg_exec(x, PG_PLAN_GET, &q, &r);
    if (err != OK)
        return err;
    err = PQntuples(r) == 0 ? ERR_NOT_FOUND : store_row_plan(PG_ROW(r, 0), pa->a, pa->out);
    PQclear(r);
    return err;
}

int
store_pg_plan_get(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_plan *out)
{
    struct plan_arg pa = {user_id, id, a, out};
    return store_pg_run(STORE(s), PG_READ_LAGGED, user_id, op_plan_get, &pa);
}

struct plan_list_arg {
    int64_t user_id;
    const struct store_plan_filter *f;
    const struct store_plan_pos *after;
    size_t limit;
    struct arena *a;
    struct store_plan *rows;
    size_t n;
};

static int
op_plan_list(struct pgx *x, void *arg)
{
    struct plan_list_arg *la = arg;
    struct pg_params q = {0};
    pg_p_i64(&q, la->user_id);
    pg_p_str(&q, la->f->kind >= 0 ? store_plan_kind_names[la->f->kind] : NULL);
    pg_p_str(&q, la->f->state >= 0 ? store_plan_state_names[la->f->state] : NULL);
    pg_p_i64(&q, la->after != NULL ? la->after->created_at : INT64_MAX);
    pg_p_i64(&q, la->after != NULL ? la->after->id : INT64_MAX);
    pg_p_i64(&q, (int64_t)la->limit);
    PGresult *r;
    int err = store_pg_exec(x, PG_PLAN_LIST, &q, &r);
    if (err != OK)
        return err;
    size_t n = (size_t)PQntuples(r);
    if (n > la->limit)
        n = la->limit;
    la->rows = arena_alloc(la->a, (n > 0 ? n : 1) * sizeof(*la->rows));
    la->n = 0;
    for (size_t i = 0; i < n && err == OK; i++) {
        err = store_row_plan(PG_ROW(r, (int)i), la->a, &la->rows[i]);
        la->n += err == OK;
    }
    PQclear(r);
    return err;
}

int
store_pg_plan_list(struct store *s, int64_t user_id, const struct store_plan_filter *f,
                   const struct store_plan_pos *after, size_t limit, struct arena *a,
                   struct store_plan **rows, size_t *n)
{
    struct plan_list_arg la = {user_id, f, after, limit, a, NULL, 0};
    int err = store_pg_run(STORE(s), PG_READ_LAGGED, user_id, op_plan_list, &la);
    if (err != OK)
        return err;
    *rows = la.rows;
    *n = la.n;
    return OK;
}

/* Runs inside a transaction when there are tasks to create. */
static int
op_plan_set_state(struct pgx *x, void *arg)
{
    struct store_plan_transition *pa = arg;
    const struct store_plan_result *res = pa->r;
    int64_t now = store_pg_now();
    struct pg_params q = {0};
    pg_p_i64(&q, pa->user_id);
    pg_p_i64(&q, pa->id);
    pg_p_str(&q, store_plan_state_names[res->state]);
    pg_p_str(&q, res->generator);
    pg_p_str(&q, res->summary);
    pg_p_str(&q, res->content);
    pg_p_str(&q, res->error);
    pg_p_i64(&q, now);
    PGresult *r;
    int err = store_pg_exec(x, PG_PLAN_SET_STATE, &q, &r);
    if (err != OK)
        return err;
    bool changed = PQntuples(r) > 0;
    if (changed && pa->out != NULL) {
        struct arena scratch;
        arena_init(&scratch);
        err = store_row_plan(PG_ROW(r, 0), pa->a != NULL ? pa->a : &scratch, pa->out);
        arena_cleanup(&scratch);
        if (pa->a == NULL) { /* the caller gave no arena: strings are not kept */
            pa->out->start_date = pa->out->request = pa->out->generator = NULL;
            pa->out->summary = pa->out->content = pa->out->error = NULL;
        }
    }
    PQclear(r);
    if (err != OK)
        return err;
    if (!changed) {
        /* No change: final already (precondition) or no such plan. */
        struct pg_params k = {0};
        pg_p_i64(&k, pa->user_id);
        pg_p_i64(&k, pa->id);
        err = store_pg_exec(x, PG_PLAN_STATE, &k, &r);
        if (err != OK)
            return err;
        err = store_why_unchanged(PQntuples(r) > 0 ? OK : ERR_NOT_FOUND);
        PQclear(r);
        return err;
    }
    for (size_t i = 0; err == OK && i < pa->ntasks; i++) {
        struct store_task t = store_plan_task(pa, i);
        err = store_pg_task_insert(x, &t, now);
    }
    return err;
}

int
store_pg_plan_set_state(struct store *s, struct store_plan_transition *t)
{
    if (t->ntasks == 0)
        return store_pg_run(STORE(s), PG_WRITE, t->user_id, op_plan_set_state, t);
    return store_pg_run_tx(STORE(s), t->user_id, op_plan_set_state, t);
}

static int
op_plan_delete(struct pgx *x, void *arg)
{
    struct plan_arg *pa = arg;
    struct pg_params q = {0};
    pg_p_i64(&q, pa->user_id);
    pg_p_i64(&q, pa->id);
    pg_p_i64(&q, store_pg_now());
    PGresult *r;
    int err = store_pg_exec(x, PG_PLAN_DELETE, &q, &r);
    if (err != OK)
        return err;
    if (pg_col_i64(r, 0, 0) == 0)
        err = ERR_NOT_FOUND;
    PQclear(r);
    return err;
}

int
store_pg_plan_delete(struct store *s, int64_t user_id, int64_t id)
{
    struct plan_arg pa = {user_id, id, NULL, NULL};
    return store_pg_run(STORE(s), PG_WRITE, user_id, op_plan_delete, &pa);
}
