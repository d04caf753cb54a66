/* Tasks on PostgreSQL: CRUD with optimistic versions, and keyset-paginated
 * lists. A list runs one of 5 x 16 prepared statements (sort x which
 * filters are set), so that the planner serves each combination with the
 * index that fits instead of a catch-all query. Reads may go to a replica
 * (see store_pg_run). */
#include <limits.h>
#include <string.h>

#include "store/pg/pg_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct pg_store *)(s))

/* The due_key of a task without a due date: after every real date. */
static const char NO_DUE_KEY[] = "9999-99-99";

static int
read_task(const PGresult *r, int row, struct arena *a, struct store_task *t)
{
    t->id = pg_col_i64(r, row, 0);
    t->user_id = pg_col_i64(r, row, 1);
    t->title = pg_col_str(a, r, row, 2);
    t->description = pg_col_str(a, r, row, 3);
    int status = pg_col_enum(r, row, 4, store_task_status_names, STORE_TASK_STATUS_COUNT);
    t->priority = pg_col_int(r, row, 5);
    t->due_date = pg_col_str(a, r, row, 6);
    t->plan_id = pg_col_i64(r, row, 7);
    t->created_at = pg_col_i64(r, row, 8);
    t->updated_at = pg_col_i64(r, row, 9);
    t->version = pg_col_i64(r, row, 10);
    if (status < 0)
        return ERR_CORRUPT;
    t->status = (enum store_task_status)status;
    return OK;
}

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

struct task_arg {
    int64_t user_id;
    int64_t id;
    const struct store_task_patch *p;
    int64_t expect_version;
    struct arena *a;
    struct store_task *out;
};

static int
read_got(void *arg, const PGresult *r)
{
    struct task_arg *ta = arg;
    return PQntuples(r) == 0 ? ERR_NOT_FOUND : read_task(r, 0, ta->a, ta->out);
}

static void
get_params(const struct task_arg *ta, struct pg_params *p)
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
    struct task_arg ta = {user_id, id, NULL, 0, a, out};
    return store_pg_run(STORE(s), PG_READ_LAGGED, user_id, op_task_get, &ta);
}

int
store_pg_task_get_async(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_task *out,
                        store_done_fn *done, void *arg)
{
    struct task_arg *ta = arena_alloc(a, sizeof(*ta));
    struct pg_aop *op = arena_alloc(a, sizeof(*op));
    *ta = (struct task_arg){user_id, id, NULL, 0, a, out};
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
    err = PQntuples(r) > 0 ? ERR_PRECONDITION : ERR_NOT_FOUND;
    PQclear(r);
    return err;
}

static int
op_task_update(struct pgx *x, void *arg)
{
    struct task_arg *ta = arg;
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
        err = read_task(r, 0, ta->a, ta->out);
    PQclear(r);
    return err;
}

int
store_pg_task_update(struct store *s, int64_t user_id, int64_t id, const struct store_task_patch *p,
                     int64_t expect_version, struct arena *a, struct store_task *out)
{
    struct task_arg ta = {user_id, id, p, expect_version, a, out};
    return store_pg_run(STORE(s), PG_WRITE, user_id, op_task_update, &ta);
}

static int
op_task_delete(struct pgx *x, void *arg)
{
    struct task_arg *ta = arg;
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
store_pg_task_delete(struct store *s, int64_t user_id, int64_t id, int64_t expect_version)
{
    struct task_arg ta = {user_id, id, NULL, expect_version, NULL, NULL};
    return store_pg_run(STORE(s), PG_WRITE, user_id, op_task_delete, &ta);
}

struct list_arg {
    int64_t user_id;
    const struct store_task_filter *f;
    enum store_task_sort sort;
    const struct store_task_pos *after;
    size_t limit;
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
    const struct store_task_filter *f = la->f;
    unsigned filters = (f->status_mask != 0 ? PG_TASK_FILTER_STATUS : 0) |
                       (f->priority >= 0 ? PG_TASK_FILTER_PRIORITY : 0) |
                       (f->due_before != NULL ? PG_TASK_FILTER_DUE_BEFORE : 0) |
                       (f->due_after != NULL ? PG_TASK_FILTER_DUE_AFTER : 0);
    bool desc = la->sort != STORE_TASK_SORT_CREATED_ASC && la->sort != STORE_TASK_SORT_DUE_ASC;
    pg_p_i64(p, la->user_id);
    pg_p_i64(p, (int64_t)la->limit);
    if (la->after == NULL) {
        /* The first page: a position beyond every row in the sort's
         * direction ('~' sorts after digits in collation "C"). */
        pg_p_i64(p, desc ? INT64_MAX : INT64_MIN);
        pg_p_i64(p, desc ? INT64_MAX : INT64_MIN);
        pg_p_str(p, desc ? "~" : "");
        pg_p_int(p, desc ? INT_MAX : INT_MIN);
    } else {
        pg_p_i64(p, la->after->created_at);
        pg_p_i64(p, la->after->id);
        pg_p_str(p, la->after->due_date != NULL ? la->after->due_date : NO_DUE_KEY);
        pg_p_int(p, la->after->priority);
    }
    int wanted = 0;
    for (int i = 0; i < STORE_TASK_STATUS_COUNT; i++) {
        if ((filters & PG_TASK_FILTER_STATUS) && (f->status_mask & (1u << i))) {
            pg_p_str(p, store_task_status_names[i]);
            wanted++;
        }
    }
    for (; wanted < 3; wanted++)
        pg_p_str(p, NULL);
    pg_p_int(p, f->priority);
    pg_p_str(p, f->due_before);
    pg_p_str(p, f->due_after);
    return filters;
}

static int
read_list(void *arg, const PGresult *r)
{
    struct list_arg *la = arg;
    size_t n = (size_t)PQntuples(r);
    if (n > la->limit)
        n = la->limit;
    la->rows = arena_alloc(la->a, (n > 0 ? n : 1) * sizeof(*la->rows));
    la->n = 0;
    int err = OK;
    for (size_t i = 0; i < n && err == OK; i++) {
        err = read_task(r, (int)i, la->a, &la->rows[i]);
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
    int err = store_pg_exec_task_list(x, la->sort, filters, &p, &r);
    if (err != OK)
        return err;
    err = read_list(la, r);
    PQclear(r);
    return err;
}

int
store_pg_task_list(struct store *s, int64_t user_id, const struct store_task_filter *f,
                   enum store_task_sort sort, const struct store_task_pos *after, size_t limit,
                   struct arena *a, struct store_task **rows, size_t *n)
{
    struct list_arg la = {user_id, f, sort, after, limit, a, NULL, 0, NULL, NULL};
    int err = store_pg_run(STORE(s), PG_READ_LAGGED, user_id, op_task_list, &la);
    if (err != OK)
        return err;
    *rows = la.rows;
    *n = la.n;
    return OK;
}

int
store_pg_task_list_async(struct store *s, int64_t user_id, const struct store_task_filter *f,
                         enum store_task_sort sort, const struct store_task_pos *after, size_t limit,
                         struct arena *a, struct store_task **rows, size_t *n, store_done_fn *done, void *arg)
{
    struct list_arg *la = arena_alloc(a, sizeof(*la));
    struct pg_aop *op = arena_alloc(a, sizeof(*op));
    *la = (struct list_arg){user_id, f, sort, after, limit, a, NULL, 0, rows, n};
    *op = (struct pg_aop){.stmt = PG_STMT_TASK_LIST,
                          .sort = sort,
                          .read = read_list,
                          .read_arg = la,
                          .done = done,
                          .done_arg = arg};
    op->filters = list_params(la, &op->p);
    return store_pg_aop_submit(STORE(s), op);
}
