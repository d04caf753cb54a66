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

static void
plan_get_params(const struct plan_arg *pa, struct pg_params *q)
{
    pg_p_i64(q, pa->user_id);
    pg_p_i64(q, pa->id);
}

/* The row of a plan read, blocking or on a loop connection. */
static int
read_plan_got(void *arg, const PGresult *r)
{
    struct plan_arg *pa = arg;
    return PQntuples(r) == 0 ? ERR_NOT_FOUND : store_row_plan(PG_ROW(r, 0), pa->a, pa->out);
}

static int
op_plan_get(struct pgx *x, void *arg)
{
    struct pg_params q = {0};
    plan_get_params(arg, &q);
    PGresult *r;
    int err = store_pg_exec(x, PG_PLAN_GET, &q, &r);
    if (err != OK)
        return err;
    err = read_plan_got(arg, r);
    PQclear(r);
    return err;
}

int
store_pg_plan_get(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_plan *out)
{
    struct plan_arg pa = {user_id, id, a, out};
    return store_pg_run(STORE(s), PG_READ_LAGGED, user_id, op_plan_get, &pa);
}

int
store_pg_plan_get_async(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_plan *out,
                        store_done_fn *done, void *arg)
{
    struct plan_arg *pa = arena_alloc(a, sizeof(*pa));
    struct pg_aop *op = arena_alloc(a, sizeof(*op));
    *pa = (struct plan_arg){user_id, id, a, out};
    *op = (struct pg_aop){
        .stmt = PG_PLAN_GET, .read = read_plan_got, .read_arg = pa, .done = done, .done_arg = arg};
    plan_get_params(pa, &op->p);
    return store_pg_aop_submit(STORE(s), op);
}

struct plan_list_arg {
    struct store_plan_query q;
    struct arena *a;
    struct store_plan **rows; /* where the rows go */
    size_t *n;
};

static void
plan_list_params(const struct plan_list_arg *la, struct pg_params *p)
{
    const struct store_plan_query *q = &la->q;
    pg_p_i64(p, q->user_id);
    pg_p_str(p, q->filter->kind >= 0 ? store_plan_kind_names[q->filter->kind] : NULL);
    pg_p_str(p, q->filter->state >= 0 ? store_plan_state_names[q->filter->state] : NULL);
    pg_p_i64(p, q->after != NULL ? q->after->created_at : INT64_MAX);
    pg_p_i64(p, q->after != NULL ? q->after->id : INT64_MAX);
    pg_p_i64(p, (int64_t)q->limit);
}

/* The rows of a plan list, blocking or on a loop connection. */
static int
read_plan_rows(void *arg, const PGresult *r)
{
    struct plan_list_arg *la = arg;
    size_t n = (size_t)PQntuples(r);
    if (n > la->q.limit)
        n = la->q.limit;
    struct store_plan *rows = arena_alloc(la->a, (n > 0 ? n : 1) * sizeof(*rows));
    size_t got = 0;
    int err = OK;
    for (size_t i = 0; i < n && err == OK; i++) {
        err = store_row_plan(PG_ROW(r, (int)i), la->a, &rows[i]);
        got += err == OK;
    }
    if (err != OK)
        return err;
    *la->rows = rows;
    *la->n = got;
    return OK;
}

static int
op_plan_list(struct pgx *x, void *arg)
{
    struct pg_params p = {0};
    plan_list_params(arg, &p);
    PGresult *r;
    int err = store_pg_exec(x, PG_PLAN_LIST, &p, &r);
    if (err != OK)
        return err;
    err = read_plan_rows(arg, r);
    PQclear(r);
    return err;
}

int
store_pg_plan_list(struct store *s, const struct store_plan_query *q, struct arena *a,
                   struct store_plan **rows, size_t *n)
{
    struct plan_list_arg la = {*q, a, rows, n};
    return store_pg_run(STORE(s), PG_READ_LAGGED, q->user_id, op_plan_list, &la);
}

int
store_pg_plan_list_async(struct store *s, const struct store_plan_query *q, struct arena *a,
                         struct store_plan **rows, size_t *n, store_done_fn *done, void *arg)
{
    struct plan_list_arg *la = arena_alloc(a, sizeof(*la));
    struct pg_aop *op = arena_alloc(a, sizeof(*op));
    *la = (struct plan_list_arg){*q, a, rows, n};
    *op = (struct pg_aop){
        .stmt = PG_PLAN_LIST, .read = read_plan_rows, .read_arg = la, .done = done, .done_arg = arg};
    plan_list_params(la, &op->p);
    return store_pg_aop_submit(STORE(s), op);
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
