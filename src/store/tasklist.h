/* Task lists, once for every backend: which filters a query sets, the SQL
 * of each variant (one statement per sort and combination of filters, so
 * that the planner serves each with the index that fits instead of a
 * catch-all query) in the backend's placeholder style, its name for the
 * query-plan report, and the values of its parameters, the keyset position
 * or the first page's sentinels included. Only src/store/ includes this. */
#ifndef PACE_STORE_TASKLIST_H
#define PACE_STORE_TASKLIST_H

#include <stddef.h>
#include <stdint.h>

#include "store/rows.h"
#include "store/store.h"

struct arena;

enum {
    STORE_TASK_FILTER_STATUS = 1,
    STORE_TASK_FILTER_PRIORITY = 2,
    STORE_TASK_FILTER_DUE_BEFORE = 4,
    STORE_TASK_FILTER_DUE_AFTER = 8,
    STORE_TASK_FILTER_COMBOS = 16
};

/* How a backend writes parameter n: '?' gives ?n (SQLite), '$' gives $n
 * (PostgreSQL). */
enum store_placeholder { STORE_PLACEHOLDER_QUESTION = '?', STORE_PLACEHOLDER_DOLLAR = '$' };

/* The STORE_TASK_FILTER_* bits f sets. */
unsigned store_task_filters(const struct store_task_filter *f);
/* Writes the SQL of one variant into buf (NUL-terminated). */
void store_task_list_sql(enum store_placeholder ph, enum store_task_sort sort, unsigned filters, char *buf,
                         size_t size);
/* Its name: "task_list/-created_at/status,priority,". */
void store_task_list_name(enum store_task_sort sort, unsigned filters, char *buf, size_t size);

/* Every variant's name and SQL (copied into a) in rows[0..VARIANTS), for
 * the query-plan report; the backend fills in the plans. */
enum { STORE_TASK_LIST_VARIANTS = STORE_TASK_SORT_COUNT * STORE_TASK_FILTER_COMBOS };
void store_task_list_variants(enum store_placeholder ph, struct arena *a, struct store_query_plan *rows);

/* Parameters of every variant, numbered from 1: 1 user_id, 2 limit, the
 * keyset position 3 created_at, 4 id, 5 due_key, 6 priority (the first
 * page binds values beyond every row), 7-9 wanted statuses (unused ones
 * NULL), 10 priority, 11 due_before, 12 due_after. A variant may leave the
 * filters it does not use unreferenced. */
enum { STORE_TASK_LIST_PARAMS = 12 };
/* The values for q (its filter set, see store.c) into out[0..11]; returns
 * store_task_filters(q->filter). Text is borrowed from q or static. */
unsigned store_task_list_params(const struct store_task_query *q,
                                struct store_param out[STORE_TASK_LIST_PARAMS]);

#endif
