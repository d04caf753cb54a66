/* Task-list SQL and parameters, once for every backend (see tasklist.h). */
#include "store/tasklist.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "store/backend.h"
#include "store/rows.h"
#include "util/arena.h"

/* The due_key of a task without a due date: after every real date. due_key
 * is due_date with NULL as '9999-99-99' (collation "C" on PostgreSQL), so
 * NULL sorts as +infinity and fails every due_before. */
static const char NO_DUE_KEY[] = "9999-99-99";

/* Written with $n; store_task_list_sql rewrites them for '?'. */
static const char *const sort_keyset[STORE_TASK_SORT_COUNT] = {
    [STORE_TASK_SORT_CREATED_DESC] = " AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC",
    [STORE_TASK_SORT_CREATED_ASC] = " AND (created_at, id) > ($3, $4) ORDER BY created_at, id",
    [STORE_TASK_SORT_DUE_ASC] = " AND (due_key, id) > ($5, $4) ORDER BY due_key, id",
    [STORE_TASK_SORT_DUE_DESC] = " AND (due_key, id) < ($5, $4) ORDER BY due_key DESC, id DESC",
    [STORE_TASK_SORT_PRIORITY_DESC] =
        " AND (priority, created_at, id) < ($6, $3, $4) ORDER BY priority DESC, created_at DESC, id DESC",
};

unsigned
store_task_filters(const struct store_task_filter *f)
{
    return (f->status_mask != 0 ? STORE_TASK_FILTER_STATUS : 0) |
           (f->priority >= 0 ? STORE_TASK_FILTER_PRIORITY : 0) |
           (f->due_before != NULL ? STORE_TASK_FILTER_DUE_BEFORE : 0) |
           (f->due_after != NULL ? STORE_TASK_FILTER_DUE_AFTER : 0);
}

void
store_task_list_sql(enum store_placeholder ph, enum store_task_sort sort, unsigned filters, char *buf,
                    size_t size)
{
    snprintf(buf, size, "SELECT " STORE_TASK_COLS " FROM tasks WHERE user_id = $1%s%s%s%s%s LIMIT $2",
             (filters & STORE_TASK_FILTER_STATUS) ? " AND status IN ($7, $8, $9)" : "",
             (filters & STORE_TASK_FILTER_PRIORITY) ? " AND priority = $10" : "",
             (filters & STORE_TASK_FILTER_DUE_BEFORE) ? " AND due_key < $11" : "",
             (filters & STORE_TASK_FILTER_DUE_AFTER) ? " AND due_key > $12 AND due_date IS NOT NULL" : "",
             sort_keyset[sort]);
    for (char *p = buf; *p != '\0'; p++)
        if (*p == '$')
            *p = (char)ph;
}

void
store_task_list_name(enum store_task_sort sort, unsigned filters, char *buf, size_t size)
{
    snprintf(buf, size, "task_list/%s/%s%s%s%s", store_task_sort_name(sort),
             (filters & STORE_TASK_FILTER_STATUS) ? "status," : "",
             (filters & STORE_TASK_FILTER_PRIORITY) ? "priority," : "",
             (filters & STORE_TASK_FILTER_DUE_BEFORE) ? "due_before," : "",
             (filters & STORE_TASK_FILTER_DUE_AFTER) ? "due_after," : "");
}

void
store_task_list_variants(enum store_placeholder ph, struct arena *a, struct store_query_plan *rows)
{
    char buf[1024];
    for (int sort = 0; sort < STORE_TASK_SORT_COUNT; sort++) {
        for (unsigned f = 0; f < STORE_TASK_FILTER_COMBOS; f++) {
            struct store_query_plan *p = rows++;
            store_task_list_sql(ph, (enum store_task_sort)sort, f, buf, sizeof(buf));
            p->sql = arena_strndup(a, buf, strlen(buf));
            store_task_list_name((enum store_task_sort)sort, f, buf, sizeof(buf));
            p->name = arena_strndup(a, buf, strlen(buf));
            p->plan = NULL;
        }
    }
}

static struct store_param
p_i64(int64_t v)
{
    return (struct store_param){.kind = STORE_PARAM_I64, .i = v};
}

static struct store_param
p_text(const char *s)
{
    return (struct store_param){.kind = s != NULL ? STORE_PARAM_TEXT : STORE_PARAM_NULL, .s = s};
}

unsigned
store_task_list_params(const struct store_task_query *q, struct store_param out[STORE_TASK_LIST_PARAMS])
{
    const struct store_task_filter *f = q->filter;
    const struct store_task_pos *after = q->after;
    unsigned filters = store_task_filters(f);
    bool desc = q->sort != STORE_TASK_SORT_CREATED_ASC && q->sort != STORE_TASK_SORT_DUE_ASC;
    out[0] = p_i64(q->user_id);
    out[1] = p_i64((int64_t)q->limit);
    if (after == NULL) {
        /* The first page: a position beyond every row in the sort's
         * direction ('~' sorts after digits in collation "C"). */
        out[2] = out[3] = p_i64(desc ? INT64_MAX : INT64_MIN);
        out[4] = p_text(desc ? "~" : "");
        out[5] = p_i64(desc ? INT_MAX : INT_MIN);
    } else {
        out[2] = p_i64(after->created_at);
        out[3] = p_i64(after->id);
        out[4] = p_text(after->due_date != NULL ? after->due_date : NO_DUE_KEY);
        out[5] = p_i64(after->priority);
    }
    int slot = 6;
    for (int i = 0; i < STORE_TASK_STATUS_COUNT && slot < 9; i++)
        if ((filters & STORE_TASK_FILTER_STATUS) && (f->status_mask & (1u << i)))
            out[slot++] = p_text(store_task_status_names[i]);
    while (slot < 9)
        out[slot++] = p_text(NULL);
    out[9] = p_i64(f->priority);
    out[10] = p_text(f->due_before);
    out[11] = p_text(f->due_after);
    return filters;
}
