/* Sessions and refresh tokens on SQLite. Writes run as operations of the
 * group-commit writer, so each is atomic and serialized with every other
 * write: a token rotation checks "unused" and spends the token in one step,
 * and of concurrent rotations exactly one wins. */
#include <string.h>

#include "store/rules.h"
#include "store/sqlite/sqlite_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct sqlite_store *)(s))

int
store_sqlite_revoke_all(struct conn *c, int64_t user_id, int64_t keep, size_t *n)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_SESSION_REVOKE_ALL, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, keep);
    sqlite3_bind_int64(st, 3, c->now);
    err = store_sqlite_step_done(c, st, "session revoke all");
    sqlite3_reset(st);
    if (err == OK && n != NULL)
        *n = (size_t)sqlite3_changes(c->db);
    return err;
}

static int
refresh_insert(struct conn *c, struct store_refresh *t)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_REFRESH_INSERT, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, t->user_id);
    sqlite3_bind_int64(st, 2, t->session_id);
    store_sqlite_bind_i64_or_null(st, 3, t->parent_id);
    sqlite3_bind_blob(st, 4, t->hash, STORE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, c->now);
    sqlite3_bind_int64(st, 6, t->expires_at);
    err = store_sqlite_step_done(c, st, "refresh insert");
    sqlite3_reset(st);
    if (err != OK)
        return err;
    t->id = sqlite3_last_insert_rowid(c->db);
    t->created_at = c->now;
    t->used_at = 0;
    return OK;
}

static int
op_session_create(struct conn *c, void *arg)
{
    struct store_session_start *sa = arg;
    struct store_session *s = sa->sess;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_SESSION_INSERT, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, s->user_id);
    store_sqlite_bind_str(st, 2, s->user_agent);
    store_sqlite_bind_str(st, 3, s->ip);
    sqlite3_bind_int64(st, 4, c->now);
    sqlite3_bind_int64(st, 5, s->expires_at);
    sqlite3_bind_int(st, 6, s->mfa ? 1 : 0);
    err = store_sqlite_step_done(c, st, "session create");
    sqlite3_reset(st);
    if (err == OK)
        err = store_sqlite_token_revoke(c, s->user_id, STORE_TOKEN_PASSWORD_RESET);
    if (err != OK)
        return err;
    s->id = sqlite3_last_insert_rowid(c->db);
    s->created_at = s->last_used_at = c->now;
    s->revoked_at = 0;
    if (sa->first == NULL)
        return OK;
    store_refresh_first(s, sa->first, c->now);
    return refresh_insert(c, sa->first);
}

int
store_sqlite_session_create(struct store *s, struct store_session_start *c)
{
    return store_sqlite_write(STORE(s), op_session_create, c, false);
}

static int
session_get(struct conn *c, int64_t id, struct arena *a, struct store_session *out)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_SESSION_GET, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, id);
    err = store_sqlite_step_row(c, st, "session get");
    if (err == OK)
        store_row_session(SQLITE_STMT_ROW(st), a, out);
    sqlite3_reset(st);
    return err;
}

int
store_sqlite_session_get(struct store *s, int64_t id, struct arena *a, struct store_session *out)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    return session_get(c, id, a, out);
}

int
store_sqlite_session_list_active(struct store *s, int64_t user_id, int64_t now, size_t max, struct arena *a,
                                 struct store_session **rows, size_t *n)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_SESSION_LIST_ACTIVE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, (int64_t)max);
    struct store_session *out = arena_alloc(a, max * sizeof(*out));
    size_t count = 0;
    while (count < max && (err = store_sqlite_step_row(c, st, "session list")) == OK)
        store_row_session(SQLITE_STMT_ROW(st), a, &out[count++]);
    sqlite3_reset(st);
    if (err != OK && err != ERR_NOT_FOUND)
        return err;
    *rows = out;
    *n = count;
    return OK;
}

struct session_arg {
    int64_t user_id;
    int64_t id;
    int64_t now;
    size_t *n;
};

static int
op_session_touch(struct conn *c, void *arg)
{
    struct session_arg *sa = arg;
    int changes;
    int err = store_sqlite_exec2(c, STMT_SESSION_TOUCH, sa->id, sa->now, &changes);
    if (err == OK && changes == 0)
        err = ERR_NOT_FOUND;
    return err;
}

int
store_sqlite_session_touch(struct store *s, int64_t id, int64_t now)
{
    struct session_arg sa = {0, id, now, NULL};
    return store_sqlite_write(STORE(s), op_session_touch, &sa, false);
}

static int
op_session_revoke(struct conn *c, void *arg)
{
    struct session_arg *sa = arg;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_SESSION_REVOKE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, sa->user_id);
    sqlite3_bind_int64(st, 2, sa->id);
    sqlite3_bind_int64(st, 3, c->now);
    err = store_sqlite_step_done(c, st, "session revoke");
    sqlite3_reset(st);
    if (err != OK || sqlite3_changes(c->db) > 0)
        return err;
    /* Nothing changed: already revoked (fine) or not this user's. */
    struct arena a;
    struct store_session cur;
    arena_init(&a);
    err = session_get(c, sa->id, &a, &cur);
    if (err == OK && cur.user_id != sa->user_id)
        err = ERR_NOT_FOUND;
    arena_cleanup(&a);
    return err;
}

int
store_sqlite_session_revoke(struct store *s, int64_t user_id, int64_t id)
{
    struct session_arg sa = {user_id, id, 0, NULL};
    return store_sqlite_write(STORE(s), op_session_revoke, &sa, false);
}

static int
op_session_revoke_all(struct conn *c, void *arg)
{
    struct session_arg *sa = arg;
    return store_sqlite_revoke_all(c, sa->user_id, sa->id, sa->n);
}

int
store_sqlite_session_revoke_all(struct store *s, int64_t user_id, int64_t except_id, size_t *revoked)
{
    struct session_arg sa = {user_id, except_id, 0, revoked};
    return store_sqlite_write(STORE(s), op_session_revoke_all, &sa, false);
}

int
store_sqlite_session_revoked_since(struct store *s, int64_t since, int64_t after_id, size_t max,
                                   struct arena *a, struct store_revoked **rows, size_t *n)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_SESSION_REVOKED_SINCE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int64(st, 3, (int64_t)max);
    size_t cap = max < 64 ? max : 64, count = 0;
    struct store_revoked *out = arena_alloc(a, cap * sizeof(*out));
    while (count < max && (err = store_sqlite_step_row(c, st, "sessions revoked")) == OK) {
        out = arena_grow(a, out, &cap, count, sizeof(*out));
        out[count].session_id = sqlite3_column_int64(st, 0);
        out[count].revoked_at = sqlite3_column_int64(st, 1);
        count++;
    }
    sqlite3_reset(st);
    if (err != OK && err != ERR_NOT_FOUND)
        return err;
    *rows = out;
    *n = count;
    return OK;
}

/* Sessions first, then, within the same max, the revocations of deleted
 * accounts' sessions past the same cut-off. */
struct session_purge_arg {
    int64_t before;
    size_t max;
    size_t *purged;
};

static int
op_session_purge(struct conn *c, void *arg)
{
    struct session_purge_arg *pa = arg;
    int sessions = 0, revocations = 0;
    int err = store_sqlite_exec2(c, STMT_SESSION_PURGE, pa->before, (int64_t)pa->max, &sessions);
    int64_t left = (int64_t)pa->max - sessions;
    if (err == OK && left > 0)
        err = store_sqlite_exec2(c, STMT_REVOCATION_PURGE, pa->before, left, &revocations);
    if (err == OK)
        *pa->purged = (size_t)sessions + (size_t)revocations;
    return err;
}

int
store_sqlite_session_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    struct session_purge_arg pa = {before, max, purged};
    *purged = 0;
    return store_sqlite_write(STORE(s), op_session_purge, &pa, false);
}

/* ---- refresh tokens ---- */

static int
op_refresh_create(struct conn *c, void *arg)
{
    struct store_refresh *t = arg;
    struct arena a;
    struct store_session sess;
    arena_init(&a);
    int err = session_get(c, t->session_id, &a, &sess);
    arena_cleanup(&a);
    if (err != OK)
        return err;
    t->user_id = sess.user_id;
    t->session_revoked_at = sess.revoked_at;
    t->session_expires_at = sess.expires_at;
    return refresh_insert(c, t);
}

int
store_sqlite_refresh_create(struct store *s, struct store_refresh *tok)
{
    return store_sqlite_write(STORE(s), op_refresh_create, tok, false);
}

static int
refresh_get(struct conn *c, const uint8_t *hash, struct store_refresh *out)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_REFRESH_GET, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_blob(st, 1, hash, STORE_HASH_LEN, SQLITE_STATIC);
    err = store_sqlite_step_row(c, st, "refresh get");
    if (err == OK) {
        store_row_refresh(SQLITE_STMT_ROW(st), out);
        memcpy(out->hash, hash, STORE_HASH_LEN);
    }
    sqlite3_reset(st);
    return err;
}

int
store_sqlite_refresh_get(struct store *s, const uint8_t hash[STORE_HASH_LEN], struct store_refresh *out)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    return refresh_get(c, hash, out);
}

static int
op_refresh_rotate(struct conn *c, void *arg)
{
    struct store_refresh_rotation *ra = arg;
    struct store_refresh *old = ra->old;
    int err = refresh_get(c, ra->old_hash, old);
    if (err != OK)
        return err;
    err = store_refresh_check(old, ra->now);
    if (err != OK)
        return err;
    int changes;
    err = store_sqlite_exec2(c, STMT_REFRESH_SPEND, old->id, ra->now, &changes);
    if (err != OK)
        return err;
    if (changes != 1)
        return ERR_CONFLICT;
    struct store_refresh *child = ra->child;
    store_refresh_rotated(old, child, ra->now);
    err = refresh_insert(c, child);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_SESSION_ROTATED, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, old->session_id);
    sqlite3_bind_int64(st, 2, ra->now);
    sqlite3_bind_int64(st, 3, child->expires_at);
    err = store_sqlite_step_done(c, st, "session rotated");
    sqlite3_reset(st);
    return err;
}

int
store_sqlite_refresh_rotate(struct store *s, struct store_refresh_rotation *r)
{
    return store_sqlite_write(STORE(s), op_refresh_rotate, r, false);
}

int
store_sqlite_refresh_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    return store_sqlite_purge(s, STMT_REFRESH_PURGE, before, max, purged);
}
