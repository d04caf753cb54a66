/* Tasks on SQLite: CRUD with optimistic versions, and keyset-paginated
 * lists. A list runs one of 5 x 16 statements (sort x which filters are
 * set), each prepared once per connection, so that SQLite plans every
 * combination with the index that serves it instead of a catch-all query. */
#include <string.h>

#include "store/rules.h"
#include "store/sqlite/sqlite_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct sqlite_store *)(s))

int
store_sqlite_task_insert(struct conn *c, struct store_task *t)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_TASK_INSERT, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, t->user_id);
    sqlite3_bind_text(st, 2, t->title, -1, SQLITE_STATIC);
    store_sqlite_bind_str(st, 3, t->description);
    sqlite3_bind_text(st, 4, store_task_status_names[t->status], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, t->priority);
    store_sqlite_bind_str(st, 6, t->due_date);
    store_sqlite_bind_i64_or_null(st, 7, t->plan_id);
    sqlite3_bind_int64(st, 8, c->now);
    err = store_sqlite_step_done(c, st, "task create");
    sqlite3_reset(st);
    if (err != OK)
        return err;
    t->id = sqlite3_last_insert_rowid(c->db);
    t->created_at = t->updated_at = c->now;
    t->version = 1;
    return OK;
}

static int
op_task_create(struct conn *c, void *arg)
{
    return store_sqlite_task_insert(c, arg);
}

int
store_sqlite_task_create(struct store *s, struct store_task *t)
{
    return store_sqlite_write(STORE(s), op_task_create, t, false);
}

int
store_sqlite_task_create_async(struct store *s, struct store_task *t, store_done_fn *done, void *arg)
{
    return store_sqlite_write_async(STORE(s), op_task_create, t, done, arg);
}

int
store_sqlite_task_get(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_task *out)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_TASK_GET, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, id);
    err = store_sqlite_step_row(c, st, "task get");
    if (err == OK)
        err = store_row_task(SQLITE_STMT_ROW(st), a, out);
    sqlite3_reset(st);
    return err;
}

/* After an update or delete matched nothing: ERR_NOT_FOUND or, when the
 * task exists with another version, ERR_PRECONDITION. */
static int
why_unchanged(struct conn *c, int64_t user_id, int64_t id)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_TASK_VERSION, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, id);
    err = store_sqlite_step_row(c, st, "task version");
    sqlite3_reset(st);
    return store_why_unchanged(err);
}

static int
op_task_update(struct conn *c, void *arg)
{
    struct store_task_change *ta = arg;
    const struct store_task_patch *p = ta->p;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_TASK_UPDATE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, ta->user_id);
    sqlite3_bind_int64(st, 2, ta->id);
    sqlite3_bind_int(st, 3, (int)p->fields);
    store_sqlite_bind_str(st, 4, (p->fields & STORE_TASK_F_TITLE) ? p->title : NULL);
    store_sqlite_bind_str(st, 5, (p->fields & STORE_TASK_F_DESCRIPTION) ? p->description : NULL);
    store_sqlite_bind_str(st, 6,
                          (p->fields & STORE_TASK_F_STATUS) ? store_task_status_names[p->status] : NULL);
    sqlite3_bind_int(st, 7, p->priority);
    store_sqlite_bind_str(st, 8, (p->fields & STORE_TASK_F_DUE_DATE) ? p->due_date : NULL);
    sqlite3_bind_int64(st, 9, c->now);
    sqlite3_bind_int64(st, 10, ta->expect_version);
    err = store_sqlite_step_row(c, st, "task update");
    if (err == OK)
        err = store_row_task(SQLITE_STMT_ROW(st), ta->a, ta->out);
    if (err == OK)
        err = store_sqlite_step_done(c, st, "task update");
    sqlite3_reset(st);
    if (err == ERR_NOT_FOUND)
        err = why_unchanged(c, ta->user_id, ta->id);
    return err;
}

int
store_sqlite_task_update(struct store *s, struct store_task_change *c)
{
    return store_sqlite_write(STORE(s), op_task_update, c, false);
}

static int
op_task_delete(struct conn *c, void *arg)
{
    struct store_task_change *ta = arg;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_TASK_DELETE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, ta->user_id);
    sqlite3_bind_int64(st, 2, ta->id);
    sqlite3_bind_int64(st, 3, ta->expect_version);
    err = store_sqlite_step_done(c, st, "task delete");
    sqlite3_reset(st);
    if (err == OK && sqlite3_changes(c->db) == 0)
        err = why_unchanged(c, ta->user_id, ta->id);
    return err;
}

int
store_sqlite_task_delete(struct store *s, struct store_task_change *c)
{
    return store_sqlite_write(STORE(s), op_task_delete, c, false);
}

int
store_sqlite_task_list(struct store *s, const struct store_task_query *q, struct arena *a,
                       struct store_task **rows, size_t *n)
{
    struct store_param params[STORE_TASK_LIST_PARAMS];
    unsigned filters = store_task_list_params(q, params);
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_task_list_stmt(c, q->sort, filters, &err);
    if (st == NULL)
        return err;
    store_sqlite_bind_params(st, params, STORE_TASK_LIST_PARAMS);
    size_t limit = q->limit;
    size_t cap = limit < 32 ? limit : 32, count = 0;
    struct store_task *out = arena_alloc(a, cap * sizeof(*out));
    while (count < limit && (err = store_sqlite_step_row(c, st, "task list")) == OK) {
        out = arena_grow(a, out, &cap, count, sizeof(*out));
        err = store_row_task(SQLITE_STMT_ROW(st), a, &out[count]);
        if (err != OK)
            break;
        count++;
    }
    sqlite3_reset(st);
    if (err != OK && err != ERR_NOT_FOUND)
        return err;
    *rows = out;
    *n = count;
    return OK;
}
