/* Tasks: CRUD with versions, and every sort with every kind of filter,
 * paged by keyset, compared row by row with the documented order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "util/arena.h"

static void
crud(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "tasks");
    int64_t other = contract_user(s, "tasks_other");
    struct store_task t = {.user_id = uid,
                           .title = "Run 5k",
                           .description = "easy pace",
                           .status = STORE_TASK_TODO,
                           .priority = 2,
                           .due_date = "2026-12-01"};
    CHECK_EQ_INT(store_task_create(s, &t), OK);
    CHECK(t.id > 0 && t.created_at > 0);
    CHECK_EQ_INT(t.version, 1);

    struct store_task got;
    CHECK_EQ_INT(store_task_get(s, uid, t.id, &a, &got), OK);
    CHECK_EQ_STR(got.title, "Run 5k");
    CHECK_EQ_STR(got.description, "easy pace");
    CHECK_EQ_INT(got.status, STORE_TASK_TODO);
    CHECK_EQ_INT(got.priority, 2);
    CHECK_EQ_STR(got.due_date, "2026-12-01");
    CHECK_EQ_INT(got.plan_id, 0);
    CHECK_EQ_INT(got.created_at, t.created_at);
    CHECK_EQ_INT(store_task_get(s, other, t.id, &a, &got), ERR_NOT_FOUND);

    struct store_task_patch p = {.fields =
                                     STORE_TASK_F_STATUS | STORE_TASK_F_DESCRIPTION | STORE_TASK_F_DUE_DATE,
                                 .status = STORE_TASK_DONE,
                                 .description = NULL,
                                 .due_date = NULL};
    CHECK_EQ_INT(store_task_update(s, other, t.id, &p, 0, &a, &got), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_task_update(s, uid, t.id, &p, 7, &a, &got), ERR_PRECONDITION);
    CHECK_EQ_INT(store_task_update(s, uid, t.id, &p, 1, &a, &got), OK);
    CHECK_EQ_INT(got.status, STORE_TASK_DONE);
    CHECK(got.description == NULL);
    CHECK(got.due_date == NULL);
    CHECK_EQ_STR(got.title, "Run 5k"); /* untouched */
    CHECK_EQ_INT(got.priority, 2);
    CHECK_EQ_INT(got.version, 2);
    CHECK(got.updated_at >= got.created_at);
    p = (struct store_task_patch){
        .fields = STORE_TASK_F_TITLE | STORE_TASK_F_PRIORITY, .title = "Run 10k", .priority = 3};
    CHECK_EQ_INT(store_task_update(s, uid, t.id, &p, 0, &a, &got), OK);
    CHECK_EQ_STR(got.title, "Run 10k");
    CHECK_EQ_INT(got.priority, 3);
    CHECK_EQ_INT(got.status, STORE_TASK_DONE);
    CHECK_EQ_INT(got.version, 3);
    CHECK_EQ_INT(store_task_update(s, uid, 987654321, &p, 0, &a, &got), ERR_NOT_FOUND);
    p = (struct store_task_patch){.fields = STORE_TASK_F_TITLE, .title = NULL};
    CHECK_EQ_INT(store_task_update(s, uid, t.id, &p, 0, &a, &got), ERR_INVALID);

    CHECK_EQ_INT(store_task_delete(s, other, t.id, 0), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_task_delete(s, uid, t.id, 2), ERR_PRECONDITION);
    CHECK_EQ_INT(store_task_delete(s, uid, t.id, 3), OK);
    CHECK_EQ_INT(store_task_delete(s, uid, t.id, 0), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_task_get(s, uid, t.id, &a, &got), ERR_NOT_FOUND);
    arena_cleanup(&a);
}

/* ---- lists against a model ---- */

enum { MODEL_N = 61 };
static struct store_task model[MODEL_N];
static enum store_task_sort model_sort;

static const char *
due_key(const struct store_task *t)
{
    return t->due_date != NULL ? t->due_date : "9999-99-99";
}

static int
cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int
model_cmp(const void *pa, const void *pb)
{
    const struct store_task *a = pa, *b = pb;
    int c;
    switch (model_sort) {
    case STORE_TASK_SORT_CREATED_DESC:
        c = cmp_i64(b->created_at, a->created_at);
        return c != 0 ? c : cmp_i64(b->id, a->id);
    case STORE_TASK_SORT_CREATED_ASC:
        c = cmp_i64(a->created_at, b->created_at);
        return c != 0 ? c : cmp_i64(a->id, b->id);
    case STORE_TASK_SORT_DUE_ASC:
        c = strcmp(due_key(a), due_key(b));
        return c != 0 ? c : cmp_i64(a->id, b->id);
    case STORE_TASK_SORT_DUE_DESC:
        c = strcmp(due_key(b), due_key(a));
        return c != 0 ? c : cmp_i64(b->id, a->id);
    default:
        c = cmp_i64(b->priority, a->priority);
        if (c == 0)
            c = cmp_i64(b->created_at, a->created_at);
        return c != 0 ? c : cmp_i64(b->id, a->id);
    }
}

static bool
model_match(const struct store_task *t, const struct store_task_filter *f)
{
    if (f->status_mask != 0 && !(f->status_mask & (1u << t->status)))
        return false;
    if (f->priority >= 0 && t->priority != f->priority)
        return false;
    if (f->due_before != NULL && (t->due_date == NULL || strcmp(t->due_date, f->due_before) >= 0))
        return false;
    if (f->due_after != NULL && (t->due_date == NULL || strcmp(t->due_date, f->due_after) <= 0))
        return false;
    return true;
}

/* Walks all pages of (sort, filter) and compares with the model. */
static void
walk(struct store *s, int64_t uid, enum store_task_sort sort, const struct store_task_filter *f, size_t page)
{
    struct store_task expect[MODEL_N];
    size_t ne = 0;
    for (int i = 0; i < MODEL_N; i++)
        if (model_match(&model[i], f))
            expect[ne++] = model[i];
    model_sort = sort;
    qsort(expect, ne, sizeof(expect[0]), model_cmp);

    struct arena a;
    arena_init(&a);
    struct store_task_pos pos;
    bool have_pos = false;
    size_t seen = 0;
    bool same = true;
    for (int guard = 0; guard < MODEL_N + 2; guard++) {
        struct store_task *rows;
        size_t n;
        int err = store_task_list(
            s, &(struct store_task_query){uid, f, sort, have_pos ? &pos : NULL, page + 1}, &a, &rows, &n);
        CHECK_EQ_INT(err, OK);
        if (err != OK)
            break;
        size_t shown = n > page ? page : n;
        for (size_t i = 0; i < shown; i++) {
            if (seen >= ne || rows[i].id != expect[seen].id)
                same = false;
            seen++;
        }
        if (n <= page)
            break;
        store_task_pos_from(&rows[shown - 1], &pos);
        have_pos = true;
    }
    if (!same || seen != ne)
        fprintf(stderr,
                "task list %s (status %x, priority %d, before %s, after %s): got %zu rows, want %zu%s\n",
                store_task_sort_name(sort), f->status_mask, f->priority, f->due_before ? f->due_before : "-",
                f->due_after ? f->due_after : "-", seen, ne, same ? "" : ", order differs");
    CHECK(same);
    CHECK_EQ_INT(seen, ne);
    arena_cleanup(&a);
}

static void
lists(struct store *s)
{
    int64_t uid = contract_user(s, "lists");
    int64_t other = contract_user(s, "lists_other");
    static const char *const dates[] = {NULL,         "2026-01-05", "2026-01-05", "2026-02-10",
                                        "2025-12-31", NULL,         "2026-03-01"};
    for (int i = 0; i < MODEL_N; i++) {
        char title[32];
        snprintf(title, sizeof(title), "task %d", i);
        struct store_task t = {.user_id = uid,
                               .title = title,
                               .status = (enum store_task_status)(i % 3),
                               .priority = (i * 7) % 4,
                               .due_date = dates[i % 7]};
        CHECK_EQ_INT(store_task_create(s, &t), OK);
        model[i] = t;
        model[i].title = NULL;
    }
    CHECK(contract_task(s, other, "not yours", STORE_TASK_TODO, 3, "2026-01-05") != 0);

    struct store_task_filter filters[] = {
        {0, -1, NULL, NULL},
        {1u << STORE_TASK_DONE, -1, NULL, NULL},
        {(1u << STORE_TASK_TODO) | (1u << STORE_TASK_IN_PROGRESS), -1, NULL, NULL},
        {0, 3, NULL, NULL},
        {0, -1, "2026-02-10", NULL},
        {0, -1, NULL, "2026-01-05"},
        {0, -1, "2026-03-01", "2025-12-31"},
        {1u << STORE_TASK_TODO, 1, "2027-01-01", NULL},
        {7, 2, "2026-12-31", "2020-01-01"},
    };
    for (int sort = 0; sort < STORE_TASK_SORT_COUNT; sort++)
        for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
            walk(s, uid, (enum store_task_sort)sort, &filters[i], i % 2 ? 7 : 20);
    walk(s, uid, STORE_TASK_SORT_DUE_ASC, &filters[0], 1);
    walk(s, uid, STORE_TASK_SORT_PRIORITY_DESC, &filters[0], 1);

    struct arena a;
    arena_init(&a);
    struct store_task *rows;
    size_t n;
    CHECK_EQ_INT(store_task_list(s,
                                 &(struct store_task_query){uid, NULL, STORE_TASK_SORT_CREATED_DESC, NULL, 0},
                                 &a, &rows, &n),
                 ERR_INVALID);
    CHECK_EQ_INT(store_task_list(s, &(struct store_task_query){uid, NULL, STORE_TASK_SORT_COUNT, NULL, 5}, &a,
                                 &rows, &n),
                 ERR_INVALID);
    CHECK_EQ_INT(
        store_task_list(s, &(struct store_task_query){987654321, NULL, STORE_TASK_SORT_CREATED_DESC, NULL, 5},
                        &a, &rows, &n),
        OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(store_task_list(s,
                                 &(struct store_task_query){uid, NULL, STORE_TASK_SORT_CREATED_DESC, NULL,
                                                            STORE_LIST_MAX},
                                 &a, &rows, &n),
                 OK);
    CHECK_EQ_INT(n, MODEL_N);
    arena_cleanup(&a);
}

void
contract_tasks(struct store *s)
{
    crud(s);
    lists(s);
    CHECK_EQ_STR(store_task_sort_name(STORE_TASK_SORT_CREATED_DESC), "-created_at");
    CHECK_EQ_STR(store_task_status_name(STORE_TASK_IN_PROGRESS), "in_progress");
    contract_tally();
}
