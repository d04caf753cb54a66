/* Fitness profiles and plans on SQLite. A plan is created together with its
 * generation job, and reaches ready together with the tasks it creates, in
 * one transaction each: a crash never leaves a plan without its job, and a
 * job that runs twice never creates its tasks twice. */
#include <limits.h>
#include <string.h>

#include "store/rules.h"
#include "store/sqlite/sqlite_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct sqlite_store *)(s))

/* ---- profile ---- */

int
store_sqlite_profile_get(struct store *s, int64_t user_id, struct arena *a, struct store_profile *p)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_PROFILE_GET, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    err = store_sqlite_step_row(c, st, "profile get");
    if (err == OK)
        err = store_row_profile(SQLITE_STMT_ROW(st), a, p);
    sqlite3_reset(st);
    return err;
}

struct profile_put_arg {
    struct store_profile *p;
    int64_t expect_version;
};

static int
op_profile_put(struct conn *c, void *arg)
{
    struct profile_put_arg *pa = arg;
    struct store_profile *p = pa->p;
    int err = OK;
    sqlite3_stmt *st;
    if (pa->expect_version != 0) {
        st = store_sqlite_stmt(c, STMT_PROFILE_VERSION, &err);
        if (st == NULL)
            return err;
        sqlite3_bind_int64(st, 1, p->user_id);
        err = store_sqlite_step_row(c, st, "profile version");
        int64_t version = err == OK ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (err != OK && err != ERR_NOT_FOUND)
            return err;
        if (version != pa->expect_version)
            return ERR_PRECONDITION;
    }
    st = store_sqlite_stmt(c, STMT_PROFILE_UPSERT, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, p->user_id);
    store_sqlite_bind_str(st, 2, p->sex);
    store_sqlite_bind_str(st, 3, p->birth_date);
    sqlite3_bind_double(st, 4, p->height_cm);
    sqlite3_bind_double(st, 5, p->weight_kg);
    store_sqlite_bind_str(st, 6, p->activity_level);
    store_sqlite_bind_str(st, 7, p->goal);
    store_sqlite_bind_str(st, 8, p->experience);
    sqlite3_bind_int(st, 9, p->days_per_week);
    sqlite3_bind_int(st, 10, p->session_minutes);
    store_sqlite_bind_str(st, 11, p->equipment);
    store_sqlite_bind_str(st, 12, p->diet);
    sqlite3_bind_int(st, 13, p->meals_per_day);
    sqlite3_bind_text(st, 14, p->exclude_foods != NULL ? p->exclude_foods : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 15, c->now);
    err = store_sqlite_step_row(c, st, "profile put"); /* ERR_NOT_FOUND: no such user */
    if (err == OK) {
        p->version = sqlite3_column_int64(st, 0);
        p->updated_at = c->now;
        err = store_sqlite_step_done(c, st, "profile put");
    }
    sqlite3_reset(st);
    return err;
}

int
store_sqlite_profile_put(struct store *s, struct store_profile *p, int64_t expect_version)
{
    struct profile_put_arg pa = {p, expect_version};
    return store_sqlite_write(STORE(s), op_profile_put, &pa, false);
}

/* ---- plans ---- */

static int
op_plan_create(struct conn *c, void *arg)
{
    struct store_plan_start *pa = arg;
    struct store_plan *p = pa->p;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_PLAN_INSERT, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, p->user_id);
    sqlite3_bind_text(st, 2, store_plan_kind_names[p->kind], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, p->weeks);
    store_sqlite_bind_str(st, 4, p->start_date);
    store_sqlite_bind_str(st, 5, p->request);
    sqlite3_bind_int64(st, 6, c->now);
    err = store_sqlite_step_done(c, st, "plan create");
    sqlite3_reset(st);
    if (err != OK)
        return err;
    store_plan_started(pa, sqlite3_last_insert_rowid(c->db), c->now);
    return pa->job != NULL ? store_sqlite_job_insert(c, pa->job) : OK;
}

int
store_sqlite_plan_create(struct store *s, struct store_plan_start *c)
{
    return store_sqlite_write(STORE(s), op_plan_create, c, false);
}

int
store_sqlite_plan_get(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_plan *out)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_PLAN_GET, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, id);
    err = store_sqlite_step_row(c, st, "plan get");
    if (err == OK)
        err = store_row_plan(SQLITE_STMT_ROW(st), a, out);
    sqlite3_reset(st);
    return err;
}

int
store_sqlite_plan_list(struct store *s, const struct store_plan_query *q, struct arena *a,
                       struct store_plan **rows, size_t *n)
{
    const struct store_plan_filter *f = q->filter;
    const struct store_plan_pos *after = q->after;
    size_t limit = q->limit;
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_PLAN_LIST, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, q->user_id);
    if (f->kind >= 0)
        sqlite3_bind_text(st, 2, store_plan_kind_names[f->kind], -1, SQLITE_STATIC);
    if (f->state >= 0)
        sqlite3_bind_text(st, 3, store_plan_state_names[f->state], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, after != NULL ? after->created_at : INT64_MAX);
    sqlite3_bind_int64(st, 5, after != NULL ? after->id : INT64_MAX);
    sqlite3_bind_int64(st, 6, (int64_t)limit);
    size_t cap = limit < 32 ? limit : 32, count = 0;
    struct store_plan *out = arena_alloc(a, cap * sizeof(*out));
    while (count < limit && (err = store_sqlite_step_row(c, st, "plan list")) == OK) {
        out = arena_grow(a, out, &cap, count, sizeof(*out));
        err = store_row_plan(SQLITE_STMT_ROW(st), a, &out[count]);
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

static int
op_plan_set_state(struct conn *c, void *arg)
{
    struct store_plan_transition *pa = arg;
    const struct store_plan_result *r = pa->r;
    struct arena scratch;
    struct store_plan row;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_PLAN_SET_STATE, &err);
    if (st == NULL)
        return err;
    arena_init(&scratch);
    sqlite3_bind_int64(st, 1, pa->user_id);
    sqlite3_bind_int64(st, 2, pa->id);
    sqlite3_bind_text(st, 3, store_plan_state_names[r->state], -1, SQLITE_STATIC);
    store_sqlite_bind_str(st, 4, r->generator);
    store_sqlite_bind_str(st, 5, r->summary);
    store_sqlite_bind_str(st, 6, r->content);
    store_sqlite_bind_str(st, 7, r->error);
    sqlite3_bind_int64(st, 8, c->now);
    err = store_sqlite_step_row(c, st, "plan set state");
    if (err == OK)
        err = store_row_plan(SQLITE_STMT_ROW(st), pa->a != NULL ? pa->a : &scratch,
                             pa->out != NULL ? pa->out : &row);
    if (err == OK)
        err = store_sqlite_step_done(c, st, "plan set state");
    sqlite3_reset(st);
    if (err == ERR_NOT_FOUND) {
        /* No change: final already (precondition) or no such plan. */
        st = store_sqlite_stmt(c, STMT_PLAN_STATE, &err);
        if (st == NULL)
            goto out;
        sqlite3_bind_int64(st, 1, pa->user_id);
        sqlite3_bind_int64(st, 2, pa->id);
        err = store_why_unchanged(store_sqlite_step_row(c, st, "plan state"));
        sqlite3_reset(st);
        goto out;
    }
    for (size_t i = 0; err == OK && i < pa->ntasks; i++) {
        struct store_task t = store_plan_task(pa, i);
        err = store_sqlite_task_insert(c, &t);
    }
out:
    arena_cleanup(&scratch);
    return err;
}

int
store_sqlite_plan_set_state(struct store *s, struct store_plan_transition *t)
{
    return store_sqlite_write(STORE(s), op_plan_set_state, t, false);
}

struct plan_delete_arg {
    int64_t user_id;
    int64_t id;
};

static int
exec_ids(struct conn *c, enum stmt id, int64_t user_id, int64_t row_id, bool with_now, int *changes)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, id, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, row_id);
    if (with_now)
        sqlite3_bind_int64(st, 3, c->now);
    err = store_sqlite_step_done(c, st, store_sqlite_stmts[id].name);
    sqlite3_reset(st);
    *changes = err == OK ? sqlite3_changes(c->db) : 0;
    return err;
}

static int
op_plan_delete(struct conn *c, void *arg)
{
    struct plan_delete_arg *pa = arg;
    int changes;
    int err = exec_ids(c, STMT_PLAN_DELETE, pa->user_id, pa->id, false, &changes);
    if (err != OK)
        return err;
    if (changes == 0)
        return ERR_NOT_FOUND;
    err = exec_ids(c, STMT_JOB_CANCEL_REF, pa->user_id, pa->id, false, &changes);
    if (err != OK)
        return err;
    return exec_ids(c, STMT_TASK_CLEAR_PLAN, pa->user_id, pa->id, true, &changes);
}

int
store_sqlite_plan_delete(struct store *s, int64_t user_id, int64_t id)
{
    struct plan_delete_arg pa = {user_id, id};
    return store_sqlite_write(STORE(s), op_plan_delete, &pa, false);
}
