/* Tasks on SQLite: CRUD with optimistic versions, and keyset-paginated
 * lists. A list runs one of 5 x 16 statements (sort x which filters are
 * set), each prepared once per connection, so that SQLite plans every
 * combination with the index that serves it instead of a catch-all query. */
#include <limits.h>
#include <string.h>

#include "store/sqlite/sqlite_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct sqlite_store *)(s))

/* The due_key of a task without a due date: after every real date. */
static const char NO_DUE_KEY[] = "9999-99-99";

static int
read_task(sqlite3_stmt *st, struct arena *a, struct store_task *t)
{
    t->id = store_sqlite_col_i64(st, 0);
    t->user_id = store_sqlite_col_i64(st, 1);
    t->title = store_sqlite_col_str(a, st, 2);
    t->description = store_sqlite_col_str(a, st, 3);
    int status = store_sqlite_col_enum(st, 4, store_task_status_names, STORE_TASK_STATUS_COUNT);
    t->priority = sqlite3_column_int(st, 5);
    t->due_date = store_sqlite_col_str(a, st, 6);
    t->plan_id = store_sqlite_col_i64(st, 7);
    t->created_at = store_sqlite_col_i64(st, 8);
    t->updated_at = store_sqlite_col_i64(st, 9);
    t->version = store_sqlite_col_i64(st, 10);
    if (status < 0)
        return ERR_CORRUPT;
    t->status = (enum store_task_status)status;
    return OK;
}

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
        err = read_task(st, a, out);
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
    return err == OK ? ERR_PRECONDITION : err;
}

struct task_update_arg {
    int64_t user_id;
    int64_t id;
    const struct store_task_patch *p;
    int64_t expect_version;
    struct arena *a;
    struct store_task *out;
};

static int
op_task_update(struct conn *c, void *arg)
{
    struct task_update_arg *ta = arg;
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
        err = read_task(st, ta->a, ta->out);
    if (err == OK)
        err = store_sqlite_step_done(c, st, "task update");
    sqlite3_reset(st);
    if (err == ERR_NOT_FOUND)
        err = why_unchanged(c, ta->user_id, ta->id);
    return err;
}

int
store_sqlite_task_update(struct store *s, int64_t user_id, int64_t id, const struct store_task_patch *p,
                         int64_t expect_version, struct arena *a, struct store_task *out)
{
    struct task_update_arg ta = {user_id, id, p, expect_version, a, out};
    return store_sqlite_write(STORE(s), op_task_update, &ta, false);
}

static int
op_task_delete(struct conn *c, void *arg)
{
    struct task_update_arg *ta = arg;
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
store_sqlite_task_delete(struct store *s, int64_t user_id, int64_t id, int64_t expect_version)
{
    struct task_update_arg ta = {user_id, id, NULL, expect_version, NULL, NULL};
    return store_sqlite_write(STORE(s), op_task_delete, &ta, false);
}

/* Binds the keyset position, or for the first page a position beyond
 * every row in the sort's direction. */
static void
bind_position(sqlite3_stmt *st, enum store_task_sort sort, const struct store_task_pos *after)
{
    bool desc = sort != STORE_TASK_SORT_CREATED_ASC && sort != STORE_TASK_SORT_DUE_ASC;
    if (after == NULL) {
        int64_t edge = desc ? INT64_MAX : INT64_MIN;
        sqlite3_bind_int64(st, 3, edge);
        sqlite3_bind_int64(st, 4, edge);
        sqlite3_bind_text(st, 5, desc ? "~" : "", -1, SQLITE_STATIC); /* '~' sorts after digits */
        sqlite3_bind_int(st, 6, desc ? INT_MAX : INT_MIN);
        return;
    }
    sqlite3_bind_int64(st, 3, after->created_at);
    sqlite3_bind_int64(st, 4, after->id);
    sqlite3_bind_text(st, 5, after->due_date != NULL ? after->due_date : NO_DUE_KEY, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, after->priority);
}

int
store_sqlite_task_list(struct store *s, int64_t user_id, const struct store_task_filter *f,
                       enum store_task_sort sort, const struct store_task_pos *after, size_t limit,
                       struct arena *a, struct store_task **rows, size_t *n)
{
    unsigned filters = (f->status_mask != 0 ? TASK_FILTER_STATUS : 0) |
                       (f->priority >= 0 ? TASK_FILTER_PRIORITY : 0) |
                       (f->due_before != NULL ? TASK_FILTER_DUE_BEFORE : 0) |
                       (f->due_after != NULL ? TASK_FILTER_DUE_AFTER : 0);
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_task_list_stmt(c, sort, filters, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, (int64_t)limit);
    bind_position(st, sort, after);
    if (filters & TASK_FILTER_STATUS) {
        int slot = 7;
        for (int i = 0; i < STORE_TASK_STATUS_COUNT; i++)
            if (f->status_mask & (1u << i))
                sqlite3_bind_text(st, slot++, store_task_status_names[i], -1, SQLITE_STATIC);
    }
    if (filters & TASK_FILTER_PRIORITY)
        sqlite3_bind_int(st, 10, f->priority);
    if (filters & TASK_FILTER_DUE_BEFORE)
        sqlite3_bind_text(st, 11, f->due_before, -1, SQLITE_STATIC);
    if (filters & TASK_FILTER_DUE_AFTER)
        sqlite3_bind_text(st, 12, f->due_after, -1, SQLITE_STATIC);
    size_t cap = limit < 32 ? limit : 32, count = 0;
    struct store_task *out = arena_alloc(a, cap * sizeof(*out));
    while (count < limit && (err = store_sqlite_step_row(c, st, "task list")) == OK) {
        out = arena_grow(a, out, &cap, count, sizeof(*out));
        err = read_task(st, a, &out[count]);
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
