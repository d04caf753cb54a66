/* Tasks on PostgreSQL: CRUD with optimistic versions, and keyset-paginated
 * lists. A list runs one of 5 x 16 prepared statements (sort x which
 * filters are set), so that the planner serves each combination with the
 * index that fits instead of a catch-all query. Reads may go to a replica
 * (see store_pg_run). */
#include <string.h>

#include "store/pg/pg_int.h"
#include "store/rules.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct pg_store *)(s))

int
store_pg_task_insert(struct pgx *x, struct store_task *t, int64_t now)
{
    struct pg_params p = {0};
    pg_p_i64(&p, t->user_id);
    pg_p_str(&p, t->title);
    pg_p_str(&p, t->description);
    pg_p_str(&p, store_task_status_names[t->status]);
    pg_p_int(&p, t->priority);
    pg_p_str(&p, t->due_date);
    pg_p_i64_or_null(&p, t->plan_id);
    pg_p_i64(&p, now);
    PGresult *r;
    int err = store_pg_exec(x, PG_TASK_INSERT, &p, &r);
    if (err != OK)
        return err;
    t->id = pg_col_i64(r, 0, 0);
    PQclear(r);
    t->created_at = t->updated_at = now;
    t->version = 1;
    return OK;
}

static int
op_task_create(struct pgx *x, void *arg)
{
    return store_pg_task_insert(x, arg, store_pg_now());
}

int
store_pg_task_create(struct store *s, struct store_task *t)
{
    return store_pg_run(STORE(s), PG_WRITE, t->user_id, op_task_create, t);
}

static int
read_got(void *arg, const PGresult *r)
{
    struct store_task_change *ta = arg;
    return PQntuples(r) == 0 ? ERR_NOT_FOUND : store_row_task(PG_ROW(r, 0), ta->a, ta->out);
}

static void
get_params(const struct store_task_change *ta, struct pg_params *p)
{
    pg_p_i64(p, ta->user_id);
    pg_p_i64(p, ta->id);
}

static int
op_task_get(struct pgx *x, void *arg)
{
    struct pg_params p = {0};
    get_params(arg, &p);
    PGresult *r;
    int err = store_pg_exec(x, PG_TASK_GET, &p, &r);
    if (err != OK)
        return err;
    err = read_got(arg, r);
    PQclear(r);
    return err;
}

int
store_pg_task_get(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_task *out)
{
    struct store_task_change ta = {user_id, id, NULL, 0, a, out};
    return store_pg_run(STORE(s), PG_READ_LAGGED, user_id, op_task_get, &ta);
}

int
store_pg_task_get_async(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_task *out,
                        store_done_fn *done, void *arg)
{
    struct store_task_change *ta = arena_alloc(a, sizeof(*ta));
    struct pg_aop *op = arena_alloc(a, sizeof(*op));
    *ta = (struct store_task_change){user_id, id, NULL, 0, a, out};
    *op =
        (struct pg_aop){.stmt = PG_TASK_GET, .read = read_got, .read_arg = ta, .done = done, .done_arg = arg};
    get_params(ta, &op->p);
    return store_pg_aop_submit(STORE(s), op);
}

/* After an update or delete matched nothing: ERR_NOT_FOUND or, when the
 * task exists with another version, ERR_PRECONDITION. */
static int
why_unchanged(struct pgx *x, int64_t user_id, int64_t id)
{
    struct pg_params p = {0};
    pg_p_i64(&p, user_id);
    pg_p_i64(&p, id);
    PGresult *r;
    int err = store_pg_exec(x, PG_TASK_VERSION, &p, &r);
    if (err != OK)
        return err;
    err = store_why_unchanged(PQntuples(r) > 0 ? OK : ERR_NOT_FOUND);
    PQclear(r);
    return err;
}

static int
op_task_update(struct pgx *x, void *arg)
{
    struct store_task_change *ta = arg;
    const struct store_task_patch *tp = ta->p;
    struct pg_params p = {0};
    pg_p_i64(&p, ta->user_id);
    pg_p_i64(&p, ta->id);
    pg_p_int(&p, (int)tp->fields);
    pg_p_str(&p, (tp->fields & STORE_TASK_F_TITLE) ? tp->title : NULL);
    pg_p_str(&p, (tp->fields & STORE_TASK_F_DESCRIPTION) ? tp->description : NULL);
    pg_p_str(&p, (tp->fields & STORE_TASK_F_STATUS) ? store_task_status_names[tp->status] : NULL);
    pg_p_int(&p, tp->priority);
    pg_p_str(&p, (tp->fields & STORE_TASK_F_DUE_DATE) ? tp->due_date : NULL);
    pg_p_i64(&p, store_pg_now());
    pg_p_i64(&p, ta->expect_version);
    PGresult *r;
    int err = store_pg_exec(x, PG_TASK_UPDATE, &p, &r);
    if (err != OK)
        return err;
    if (PQntuples(r) == 0)
        err = why_unchanged(x, ta->user_id, ta->id);
    else
        err = store_row_task(PG_ROW(r, 0), ta->a, ta->out);
    PQclear(r);
    return err;
}

int
store_pg_task_update(struct store *s, struct store_task_change *c)
{
    return store_pg_run(STORE(s), PG_WRITE, c->user_id, op_task_update, c);
}

static int
op_task_delete(struct pgx *x, void *arg)
{
    struct store_task_change *ta = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ta->user_id);
    pg_p_i64(&p, ta->id);
    pg_p_i64(&p, ta->expect_version);
    int64_t changes;
    int err = store_pg_exec_changes(x, PG_TASK_DELETE, &p, &changes);
    if (err == OK && changes == 0)
        err = why_unchanged(x, ta->user_id, ta->id);
    return err;
}

int
store_pg_task_delete(struct store *s, struct store_task_change *c)
{
    return store_pg_run(STORE(s), PG_WRITE, c->user_id, op_task_delete, c);
}

struct list_arg {
    struct store_task_query q;
    struct arena *a;
    struct store_task *rows;
    size_t n;
    struct store_task **out_rows; /* asynchronous lists: where the rows go */
    size_t *out_n;
};

/* The list statement's parameters; returns which filters are set. */
static unsigned
list_params(const struct list_arg *la, struct pg_params *p)
{
    struct store_param params[STORE_TASK_LIST_PARAMS];
    unsigned filters = store_task_list_params(&la->q, params);
    pg_p_params(p, params, STORE_TASK_LIST_PARAMS);
    return filters;
}

static int
read_list(void *arg, const PGresult *r)
{
    struct list_arg *la = arg;
    size_t n = (size_t)PQntuples(r);
    if (n > la->q.limit)
        n = la->q.limit;
    la->rows = arena_alloc(la->a, (n > 0 ? n : 1) * sizeof(*la->rows));
    la->n = 0;
    int err = OK;
    for (size_t i = 0; i < n && err == OK; i++) {
        err = store_row_task(PG_ROW(r, (int)i), la->a, &la->rows[i]);
        la->n += err == OK;
    }
    if (la->out_rows != NULL && err == OK) {
        *la->out_rows = la->rows;
        *la->out_n = la->n;
    }
    return err;
}

static int
op_task_list(struct pgx *x, void *arg)
{
    struct list_arg *la = arg;
    struct pg_params p = {0};
    unsigned filters = list_params(la, &p);
    PGresult *r;
    int err = store_pg_exec_task_list(x, la->q.sort, filters, &p, &r);
    if (err != OK)
        return err;
    err = read_list(la, r);
    PQclear(r);
    return err;
}

int
store_pg_task_list(struct store *s, const struct store_task_query *q, struct arena *a,
                   struct store_task **rows, size_t *n)
{
    struct list_arg la = {*q, a, NULL, 0, NULL, NULL};
    int err = store_pg_run(STORE(s), PG_READ_LAGGED, q->user_id, op_task_list, &la);
    if (err != OK)
        return err;
    *rows = la.rows;
    *n = la.n;
    return OK;
}

int
store_pg_task_list_async(struct store *s, const struct store_task_query *q, struct arena *a,
                         struct store_task **rows, size_t *n, store_done_fn *done, void *arg)
{
    struct list_arg *la = arena_alloc(a, sizeof(*la));
    struct pg_aop *op = arena_alloc(a, sizeof(*op));
    *la = (struct list_arg){*q, a, NULL, 0, rows, n};
    *op = (struct pg_aop){.stmt = PG_STMT_TASK_LIST,
                          .sort = q->sort,
                          .read = read_list,
                          .read_arg = la,
                          .done = done,
                          .done_arg = arg};
    op->filters = list_params(la, &op->p);
    return store_pg_aop_submit(STORE(s), op);
}
