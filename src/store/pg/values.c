/* Values in and out of PostgreSQL: statement parameters in text format
 * (bytea in binary), result columns parsed from text, and the column reader
 * the row decoders of store/rows.h read through. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "store/pg/pg_int.h"
#include "util/arena.h"

static void
p_text(struct pg_params *p, const char *v, int len, int fmt)
{
    if (p->n >= PG_MAX_PARAMS)
        abort(); /* a statement with more parameters than the table allows: a bug */
    p->values[p->n] = v;
    p->lengths[p->n] = len;
    p->formats[p->n] = fmt;
    p->n++;
}

void
pg_p_i64(struct pg_params *p, int64_t v)
{
    if (p->n >= PG_MAX_PARAMS)
        abort();
    snprintf(p->text[p->n], sizeof(p->text[0]), "%lld", (long long)v);
    p_text(p, p->text[p->n], 0, 0);
}

void
pg_p_i64_or_null(struct pg_params *p, int64_t v)
{
    if (v == 0)
        p_text(p, NULL, 0, 0);
    else
        pg_p_i64(p, v);
}

void
pg_p_int(struct pg_params *p, int v)
{
    pg_p_i64(p, v);
}

void
pg_p_double(struct pg_params *p, double v)
{
    if (p->n >= PG_MAX_PARAMS)
        abort();
    snprintf(p->text[p->n], sizeof(p->text[0]), "%.17g", v);
    p_text(p, p->text[p->n], 0, 0);
}

void
pg_p_bool(struct pg_params *p, bool v)
{
    p_text(p, v ? "t" : "f", 0, 0);
}

void
pg_p_str(struct pg_params *p, const char *s)
{
    p_text(p, s, 0, 0);
}

void
pg_p_bytes(struct pg_params *p, const void *b, size_t n)
{
    if (n > INT_MAX)
        abort();
    p_text(p, b, (int)n, 1);
}

int64_t
pg_col_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int
pg_col_int(const PGresult *r, int row, int col)
{
    return (int)pg_col_i64(r, row, col);
}

bool
pg_col_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* Decodes bytea's hex output ("\\x0a1b..."); returns the bytes written
 * (at most cap; decoding stops at the first byte that is not hex). */
static size_t
unhex(const char *s, size_t len, uint8_t *out, size_t cap)
{
    size_t n = 0;
    const char *end;
    if (len < 2 || s[0] != '\\' || s[1] != 'x')
        return 0;
    (void)sodium_hex2bin(out, cap, s + 2, len - 2, NULL, &n, &end); /* n counts what it wrote */
    return n;
}

void
pg_p_params(struct pg_params *p, const struct store_param *params, int n)
{
    for (int i = 0; i < n; i++) {
        if (params[i].kind == STORE_PARAM_I64)
            pg_p_i64(p, params[i].i);
        else
            pg_p_str(p, params[i].kind == STORE_PARAM_TEXT ? params[i].s : NULL);
    }
}

static bool
pg_row_is_null(const struct store_row *r, int col)
{
    return PQgetisnull(r->res, r->row, col);
}

static int64_t
pg_row_i64(const struct store_row *r, int col)
{
    return pg_col_i64(r->res, r->row, col);
}

static double
pg_row_f64(const struct store_row *r, int col)
{
    if (PQgetisnull(r->res, r->row, col))
        return 0;
    return strtod(PQgetvalue(r->res, r->row, col), NULL);
}

static const char *
pg_row_peek(const struct store_row *r, int col)
{
    if (PQgetisnull(r->res, r->row, col))
        return NULL;
    return PQgetvalue(r->res, r->row, col);
}

static const char *
pg_row_text(const struct store_row *r, int col, struct arena *a)
{
    if (PQgetisnull(r->res, r->row, col))
        return NULL;
    return arena_strndup(a, PQgetvalue(r->res, r->row, col), (size_t)PQgetlength(r->res, r->row, col));
}

/* A bytea column (hex output) decoded into a, NUL-terminated. */
static const char *
pg_row_bytes(const struct store_row *r, int col, struct arena *a, size_t *len)
{
    *len = 0;
    if (PQgetisnull(r->res, r->row, col))
        return NULL;
    size_t tl = (size_t)PQgetlength(r->res, r->row, col);
    size_t cap = tl / 2;
    char *out = arena_alloc(a, cap + 1);
    *len = unhex(PQgetvalue(r->res, r->row, col), tl, (uint8_t *)out, cap);
    out[*len] = '\0';
    return out;
}

const struct store_row_ops store_pg_row_ops = {
    .is_null = pg_row_is_null,
    .i64 = pg_row_i64,
    .f64 = pg_row_f64,
    .text = pg_row_text,
    .peek = pg_row_peek,
    .bytes = pg_row_bytes,
};

int64_t
pg_changes(const PGresult *r)
{
    const char *t = PQcmdTuples((PGresult *)(uintptr_t)r); /* libpq's signature lacks const */
    return t != NULL && *t != '\0' ? strtoll(t, NULL, 10) : 0;
}
