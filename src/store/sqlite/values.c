/* Values in and out of SQLite statements: the column reader the row
 * decoders of store/rows.h read through, and the binding helpers. */
#include <stdint.h>

#include "store/sqlite/sqlite_int.h"
#include "util/arena.h"

/* The statement of a row (sqlite3's column calls take it non-const). */
static sqlite3_stmt *
stmt_of(const struct store_row *r)
{
    return (sqlite3_stmt *)(uintptr_t)r->res;
}

static bool
sqlite_row_is_null(const struct store_row *r, int col)
{
    return sqlite3_column_type(stmt_of(r), col) == SQLITE_NULL;
}

static int64_t
sqlite_row_i64(const struct store_row *r, int col)
{
    return sqlite3_column_int64(stmt_of(r), col); /* NULL reads as 0, our "none" */
}

static double
sqlite_row_f64(const struct store_row *r, int col)
{
    return sqlite3_column_double(stmt_of(r), col);
}

static const char *
sqlite_row_peek(const struct store_row *r, int col)
{
    return (const char *)sqlite3_column_text(stmt_of(r), col);
}

static const char *
sqlite_row_text(const struct store_row *r, int col, struct arena *a)
{
    sqlite3_stmt *st = stmt_of(r);
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    const char *p = (const char *)sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    return arena_strndup(a, p != NULL ? p : "", (size_t)n);
}

static const char *
sqlite_row_bytes(const struct store_row *r, int col, struct arena *a, size_t *len)
{
    sqlite3_stmt *st = stmt_of(r);
    const void *p = sqlite3_column_blob(st, col);
    *len = (size_t)sqlite3_column_bytes(st, col);
    return p != NULL ? arena_strndup(a, p, *len) : NULL;
}

const struct store_row_ops store_sqlite_row_ops = {
    .is_null = sqlite_row_is_null,
    .i64 = sqlite_row_i64,
    .f64 = sqlite_row_f64,
    .text = sqlite_row_text,
    .peek = sqlite_row_peek,
    .bytes = sqlite_row_bytes,
};

int64_t
store_sqlite_col_i64(sqlite3_stmt *st, int i)
{
    return sqlite3_column_int64(st, i); /* NULL reads as 0, our "none" */
}

void
store_sqlite_bind_str(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

void
store_sqlite_bind_i64_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    if (v == 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

void
store_sqlite_bind_params(sqlite3_stmt *st, const struct store_param *params, int n)
{
    int count = sqlite3_bind_parameter_count(st);
    for (int i = 0; i < n && i < count; i++) {
        if (params[i].kind == STORE_PARAM_I64)
            sqlite3_bind_int64(st, i + 1, params[i].i);
        else if (params[i].kind == STORE_PARAM_TEXT)
            sqlite3_bind_text(st, i + 1, params[i].s, -1, SQLITE_STATIC);
    }
}
