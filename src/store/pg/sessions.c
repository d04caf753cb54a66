/* Sessions and refresh tokens on PostgreSQL. Each write is one statement
 * (one transaction) where SQLite's writer runs several steps: a rotation
 * spends the token with UPDATE ... WHERE used_at IS NULL, so of concurrent
 * rotations exactly one changes the row. */
#include <string.h>

#include "store/pg/pg_int.h"
#include "store/rules.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct pg_store *)(s))

static int
op_session_create(struct pgx *x, void *arg)
{
    struct store_session_start *sa = arg;
    struct store_session *s = sa->sess;
    int64_t now = store_pg_now();
    struct pg_params p = {0};
    pg_p_i64(&p, s->user_id);
    pg_p_str(&p, s->user_agent);
    pg_p_str(&p, s->ip);
    pg_p_i64(&p, now);
    pg_p_i64(&p, s->expires_at);
    pg_p_bool(&p, s->mfa);
    if (sa->first != NULL) {
        pg_p_bytes(&p, sa->first->hash, STORE_HASH_LEN);
        pg_p_i64(&p, sa->first->expires_at);
    }
    PGresult *r;
    int err = store_pg_exec(x, sa->first != NULL ? PG_SESSION_INSERT_WITH_TOKEN : PG_SESSION_INSERT, &p, &r);
    if (err != OK)
        return err;
    s->id = pg_col_i64(r, 0, 0);
    s->created_at = s->last_used_at = now;
    s->revoked_at = 0;
    if (sa->first != NULL) {
        store_refresh_first(s, sa->first, now);
        sa->first->id = pg_col_i64(r, 0, 1);
    }
    PQclear(r);
    return OK;
}

int
store_pg_session_create(struct store *s, struct store_session_start *c)
{
    return store_pg_run(STORE(s), PG_WRITE, c->sess->user_id, op_session_create, c);
}

struct session_get_arg {
    int64_t id;
    struct arena *a;
    struct store_session *out;
};

static int
op_session_get(struct pgx *x, void *arg)
{
    struct session_get_arg *ga = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ga->id);
    PGresult *r;
    int err = store_pg_exec(x, PG_SESSION_GET, &p, &r);
    if (err != OK)
        return err;
    if (PQntuples(r) == 0)
        err = ERR_NOT_FOUND;
    else
        store_row_session(PG_ROW(r, 0), ga->a, ga->out);
    PQclear(r);
    return err;
}

int
store_pg_session_get(struct store *s, int64_t id, struct arena *a, struct store_session *out)
{
    struct session_get_arg ga = {id, a, out};
    return store_pg_run(STORE(s), PG_READ, 0, op_session_get, &ga);
}

struct session_list_arg {
    int64_t user_id;
    int64_t now;
    size_t max;
    struct arena *a;
    struct store_session *rows;
    size_t n;
};

static int
op_session_list_active(struct pgx *x, void *arg)
{
    struct session_list_arg *la = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, la->user_id);
    pg_p_i64(&p, la->now);
    pg_p_i64(&p, (int64_t)la->max);
    PGresult *r;
    int err = store_pg_exec(x, PG_SESSION_LIST_ACTIVE, &p, &r);
    if (err != OK)
        return err;
    size_t n = (size_t)PQntuples(r);
    if (n > la->max)
        n = la->max;
    la->rows = arena_alloc(la->a, (n > 0 ? n : 1) * sizeof(*la->rows));
    for (size_t i = 0; i < n; i++)
        store_row_session(PG_ROW(r, (int)i), la->a, &la->rows[i]);
    la->n = n;
    PQclear(r);
    return OK;
}

int
store_pg_session_list_active(struct store *s, int64_t user_id, int64_t now, size_t max, struct arena *a,
                             struct store_session **rows, size_t *n)
{
    struct session_list_arg la = {user_id, now, max, a, NULL, 0};
    int err = store_pg_run(STORE(s), PG_READ, user_id, op_session_list_active, &la);
    if (err != OK)
        return err;
    *rows = la.rows;
    *n = la.n;
    return OK;
}

int
store_pg_session_touch(struct store *s, int64_t id, int64_t now)
{
    struct pg_ids ia = {PG_SESSION_TOUCH, id, now, 0, 2, 0};
    int err = store_pg_run(STORE(s), PG_WRITE, 0, store_pg_op_ids, &ia);
    if (err == OK && ia.changes == 0)
        err = ERR_NOT_FOUND;
    return err;
}

static int
op_session_revoke(struct pgx *x, void *arg)
{
    struct pg_ids *ia = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ia->a);
    pg_p_i64(&p, ia->b);
    pg_p_i64(&p, store_pg_now());
    PGresult *r;
    int err = store_pg_exec(x, PG_SESSION_REVOKE, &p, &r);
    if (err != OK)
        return err;
    ia->changes = pg_col_i64(r, 0, 0);
    PQclear(r);
    return OK;
}

int
store_pg_session_revoke(struct store *s, int64_t user_id, int64_t id)
{
    struct pg_ids ia = {PG_SESSION_REVOKE, user_id, id, 0, 2, 0};
    int err = store_pg_run(STORE(s), PG_WRITE, user_id, op_session_revoke, &ia);
    if (err == OK && ia.changes == 0)
        err = ERR_NOT_FOUND; /* not that user's session */
    return err;
}

int
store_pg_session_revoke_all(struct store *s, int64_t user_id, int64_t except_id, size_t *revoked)
{
    struct pg_ids ia = {PG_SESSION_REVOKE_ALL, user_id, except_id, store_pg_now(), 3, 0};
    int err = store_pg_run(STORE(s), PG_WRITE, user_id, store_pg_op_ids, &ia);
    if (err == OK)
        *revoked = (size_t)ia.changes;
    return err;
}

struct revoked_arg {
    int64_t since;
    int64_t after_id;
    size_t max;
    struct arena *a;
    struct store_revoked *rows;
    size_t n;
};

static int
op_session_revoked_since(struct pgx *x, void *arg)
{
    struct revoked_arg *ra = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ra->since);
    pg_p_i64(&p, ra->after_id);
    pg_p_i64(&p, (int64_t)ra->max);
    PGresult *r;
    int err = store_pg_exec(x, PG_SESSION_REVOKED_SINCE, &p, &r);
    if (err != OK)
        return err;
    size_t n = (size_t)PQntuples(r);
    if (n > ra->max)
        n = ra->max;
    ra->rows = arena_alloc(ra->a, (n > 0 ? n : 1) * sizeof(*ra->rows));
    for (size_t i = 0; i < n; i++) {
        ra->rows[i].session_id = pg_col_i64(r, (int)i, 0);
        ra->rows[i].revoked_at = pg_col_i64(r, (int)i, 1);
    }
    ra->n = n;
    PQclear(r);
    return OK;
}

int
store_pg_session_revoked_since(struct store *s, int64_t since, int64_t after_id, size_t max, struct arena *a,
                               struct store_revoked **rows, size_t *n)
{
    struct revoked_arg ra = {since, after_id, max, a, NULL, 0};
    int err = store_pg_run(STORE(s), PG_READ, 0, op_session_revoked_since, &ra);
    if (err != OK)
        return err;
    *rows = ra.rows;
    *n = ra.n;
    return OK;
}

/* Sessions first, then, within the same max, the revocations of deleted
 * accounts' sessions past the same cut-off. */
static int
op_session_purge(struct pgx *x, void *arg)
{
    struct pg_ids *ia = arg;
    int64_t sessions = 0, revocations = 0;
    struct pg_params p = {0};
    pg_p_i64(&p, ia->a);
    pg_p_i64(&p, ia->b);
    int err = store_pg_exec_changes(x, PG_SESSION_PURGE, &p, &sessions);
    if (err == OK && sessions < ia->b) {
        struct pg_params q = {0};
        pg_p_i64(&q, ia->a);
        pg_p_i64(&q, ia->b - sessions);
        err = store_pg_exec_changes(x, PG_REVOCATION_PURGE, &q, &revocations);
    }
    ia->changes = sessions + revocations;
    return err;
}

int
store_pg_session_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    struct pg_ids ia = {PG_SESSION_PURGE, before, (int64_t)max, 0, 2, 0};
    *purged = 0;
    int err = store_pg_run(STORE(s), PG_WRITE, 0, op_session_purge, &ia);
    if (err == OK)
        *purged = (size_t)ia.changes;
    return err;
}

/* ---- refresh tokens ---- */

static int
op_refresh_create(struct pgx *x, void *arg)
{
    struct store_refresh *t = arg;
    int64_t now = store_pg_now();
    struct pg_params p = {0};
    pg_p_i64(&p, t->session_id);
    pg_p_i64_or_null(&p, t->parent_id);
    pg_p_bytes(&p, t->hash, STORE_HASH_LEN);
    pg_p_i64(&p, now);
    pg_p_i64(&p, t->expires_at);
    PGresult *r;
    int err = store_pg_exec(x, PG_REFRESH_INSERT, &p, &r);
    if (err != OK)
        return err;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ERR_NOT_FOUND; /* no such session */
    }
    t->id = pg_col_i64(r, 0, 0);
    t->user_id = pg_col_i64(r, 0, 1);
    t->session_revoked_at = pg_col_i64(r, 0, 2);
    t->session_expires_at = pg_col_i64(r, 0, 3);
    t->created_at = now;
    t->used_at = 0;
    x->ryw_user = t->user_id;
    PQclear(r);
    return OK;
}

int
store_pg_refresh_create(struct store *s, struct store_refresh *tok)
{
    return store_pg_run(STORE(s), PG_WRITE, 0, op_refresh_create, tok);
}

static int
refresh_get(struct pgx *x, const uint8_t *hash, struct store_refresh *out)
{
    struct pg_params p = {0};
    pg_p_bytes(&p, hash, STORE_HASH_LEN);
    PGresult *r;
    int err = store_pg_exec(x, PG_REFRESH_GET, &p, &r);
    if (err != OK)
        return err;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ERR_NOT_FOUND;
    }
    store_row_refresh(PG_ROW(r, 0), out);
    memcpy(out->hash, hash, STORE_HASH_LEN);
    PQclear(r);
    return OK;
}

struct refresh_get_arg {
    const uint8_t *hash;
    struct store_refresh *out;
};

static int
op_refresh_get(struct pgx *x, void *arg)
{
    struct refresh_get_arg *ga = arg;
    return refresh_get(x, ga->hash, ga->out);
}

int
store_pg_refresh_get(struct store *s, const uint8_t hash[STORE_HASH_LEN], struct store_refresh *out)
{
    struct refresh_get_arg ga = {hash, out};
    return store_pg_run(STORE(s), PG_READ, 0, op_refresh_get, &ga);
}

/* Reads the token, checks its state, then spends it and issues the child
 * in one statement that only changes an unused token: a concurrent
 * rotation that spent it first leaves ours without a row (reuse). */
static int
op_refresh_rotate(struct pgx *x, void *arg)
{
    struct store_refresh_rotation *ra = arg;
    struct store_refresh *old = ra->old;
    int err = refresh_get(x, ra->old_hash, old);
    if (err != OK)
        return err;
    x->ryw_user = old->user_id;
    err = store_refresh_check(old, ra->now);
    if (err != OK)
        return err;
    struct store_refresh *child = ra->child;
    struct pg_params p = {0};
    pg_p_i64(&p, old->id);
    pg_p_i64(&p, ra->now);
    pg_p_bytes(&p, child->hash, STORE_HASH_LEN);
    pg_p_i64(&p, child->expires_at);
    PGresult *r;
    err = store_pg_exec(x, PG_REFRESH_ROTATE, &p, &r);
    if (err != OK)
        return err;
    bool spent = !PQgetisnull(r, 0, 0);
    int64_t child_id = spent ? pg_col_i64(r, 0, 0) : 0, session_expires_at = spent ? pg_col_i64(r, 0, 1) : 0;
    PQclear(r);
    if (!spent) {
        /* Another rotation won: report when it spent the token. */
        struct pg_params q = {0};
        pg_p_i64(&q, old->id);
        err = store_pg_exec(x, PG_REFRESH_USED_AT, &q, &r);
        if (err != OK)
            return err;
        old->used_at = PQntuples(r) > 0 ? pg_col_i64(r, 0, 0) : ra->now;
        PQclear(r);
        return ERR_CONFLICT;
    }
    store_refresh_rotated(old, child, ra->now);
    child->id = child_id;
    child->session_expires_at = session_expires_at;
    return OK;
}

int
store_pg_refresh_rotate(struct store *s, struct store_refresh_rotation *r)
{
    return store_pg_run(STORE(s), PG_WRITE, 0, op_refresh_rotate, r);
}

int
store_pg_refresh_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    return store_pg_purge(s, PG_REFRESH_PURGE, before, max, purged);
}
