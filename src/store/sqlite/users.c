/* Users, sessions and refresh tokens on SQLite. Writes run as operations of
 * the group-commit writer, so each is atomic and serialized with every other
 * write: a token rotation checks "unused" and spends the token in one step,
 * and of concurrent rotations exactly one wins. */
#include <string.h>

#include "store/rules.h"
#include "store/sqlite/sqlite_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct sqlite_store *)(s))

/* The id of the user holding `value` in the unique column of stmt id, or 0. */
static int
find_user(struct conn *c, enum stmt id, const char *value, int64_t *found)
{
    int err = OK;
    *found = 0;
    sqlite3_stmt *st = store_sqlite_stmt(c, id, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
    err = store_sqlite_step_row(c, st, "user lookup");
    if (err == OK)
        *found = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return err == ERR_NOT_FOUND ? OK : err;
}

/* ERR_CONFLICT with *conflict set when username or email (either may be
 * NULL) belongs to a user other than self. */
static int
check_unique(struct conn *c, const char *username, const char *email, int64_t self,
             enum store_conflict *conflict)
{
    int64_t other;
    int err;
    if (username != NULL) {
        err = find_user(c, STMT_USER_BY_USERNAME, username, &other);
        if (err != OK)
            return err;
        if (other != 0 && other != self) {
            *conflict = STORE_CONFLICT_USERNAME;
            return ERR_CONFLICT;
        }
    }
    if (email != NULL) {
        err = find_user(c, STMT_USER_BY_EMAIL, email, &other);
        if (err != OK)
            return err;
        if (other != 0 && other != self) {
            *conflict = STORE_CONFLICT_EMAIL;
            return ERR_CONFLICT;
        }
    }
    return OK;
}

struct user_create_arg {
    struct store_user *u;
    enum store_conflict *conflict;
};

static int
op_user_create(struct conn *c, void *arg)
{
    struct user_create_arg *ua = arg;
    struct store_user *u = ua->u;
    int err = check_unique(c, u->username, u->email, 0, ua->conflict);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_USER_INSERT, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_text(st, 1, u->username, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->email, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, c->now);
    err = store_sqlite_step_done(c, st, "user create");
    sqlite3_reset(st);
    if (err != OK)
        return err;
    u->id = sqlite3_last_insert_rowid(c->db);
    u->created_at = u->updated_at = c->now;
    u->version = 1;
    return OK;
}

int
store_sqlite_user_create(struct store *s, struct store_user *u, enum store_conflict *conflict)
{
    struct user_create_arg ua = {u, conflict};
    return store_sqlite_write(STORE(s), op_user_create, &ua, false);
}

/* Reads one user by id (key_str NULL) or by the unique key_str. */
static int
user_get(struct conn *c, enum stmt id, int64_t key_id, const char *key_str, struct arena *a,
         struct store_user *out)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, id, &err);
    if (st == NULL)
        return err;
    if (key_str != NULL)
        sqlite3_bind_text(st, 1, key_str, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, key_id);
    err = store_sqlite_step_row(c, st, "user get");
    if (err == OK)
        store_row_user(SQLITE_STMT_ROW(st), a, out);
    sqlite3_reset(st);
    return err;
}

int
store_sqlite_user_get(struct store *s, int64_t id, struct arena *a, struct store_user *out)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    return user_get(c, STMT_USER_GET, id, NULL, a, out);
}

int
store_sqlite_user_get_by_login(struct store *s, const char *login, struct arena *a, struct store_user *out)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    err = user_get(c, STMT_USER_BY_USERNAME, 0, login, a, out);
    if (err == ERR_NOT_FOUND)
        err = user_get(c, STMT_USER_BY_EMAIL, 0, login, a, out);
    return err;
}

struct user_update_arg {
    int64_t id;
    const struct store_user_patch *p;
    int64_t expect_version;
    struct arena *a;
    struct store_user *out;
    enum store_conflict *conflict;
};

static int
op_user_update(struct conn *c, void *arg)
{
    struct user_update_arg *ua = arg;
    struct store_user cur;
    int err = user_get(c, STMT_USER_GET, ua->id, NULL, ua->a, &cur);
    if (err != OK)
        return err;
    if (ua->expect_version != 0 && cur.version != ua->expect_version)
        return ERR_PRECONDITION;
    err = check_unique(c, ua->p->username, ua->p->email, ua->id, ua->conflict);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_USER_UPDATE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, ua->id);
    store_sqlite_bind_str(st, 2, ua->p->username);
    store_sqlite_bind_str(st, 3, ua->p->email);
    sqlite3_bind_int64(st, 4, c->now);
    err = store_sqlite_step_row(c, st, "user update");
    if (err == OK)
        store_row_user(SQLITE_STMT_ROW(st), ua->a, ua->out);
    if (err == OK)
        err = store_sqlite_step_done(c, st, "user update");
    sqlite3_reset(st);
    return err;
}

int
store_sqlite_user_update(struct store *s, int64_t id, const struct store_user_patch *p,
                         int64_t expect_version, struct arena *a, struct store_user *out,
                         enum store_conflict *conflict)
{
    struct user_update_arg ua = {id, p, expect_version, a, out, conflict};
    return store_sqlite_write(STORE(s), op_user_update, &ua, false);
}

/* Revokes the user's sessions except keep; *n gets how many. */
static int
revoke_all(struct conn *c, int64_t user_id, int64_t keep, size_t *n)
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

struct user_password_arg {
    int64_t id;
    const char *hash;
    bool end_sessions;
    int64_t keep;
};

static int
op_user_set_password(struct conn *c, void *arg)
{
    struct user_password_arg *pa = arg;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_USER_SET_PASSWORD, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, pa->id);
    sqlite3_bind_text(st, 2, pa->hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->now);
    err = store_sqlite_step_done(c, st, "user set password");
    sqlite3_reset(st);
    if (err == OK && sqlite3_changes(c->db) == 0)
        err = ERR_NOT_FOUND;
    if (err == OK && pa->end_sessions)
        err = revoke_all(c, pa->id, pa->keep, NULL);
    return err;
}

int
store_sqlite_user_set_password(struct store *s, int64_t id, const char *hash, bool end_sessions,
                               int64_t keep_session_id)
{
    struct user_password_arg pa = {id, hash, end_sessions, keep_session_id};
    return store_sqlite_write(STORE(s), op_user_set_password, &pa, false);
}

/* Runs one statement binding (i64 a, i64 b) and reports rows changed. */
static int
exec2(struct conn *c, enum stmt id, int64_t a, int64_t b, int *changes)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, id, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    err = store_sqlite_step_done(c, st, store_sqlite_stmts[id].name);
    sqlite3_reset(st);
    if (changes != NULL)
        *changes = err == OK ? sqlite3_changes(c->db) : 0;
    return err;
}

/* The sessions go with the user (ON DELETE CASCADE), so their revocations
 * are recorded first, in the same transaction: other instances read them
 * from session_revocations. */
static int
op_user_delete(struct conn *c, void *arg)
{
    const int64_t *id = arg;
    int changes = 0;
    int err = exec2(c, STMT_REVOCATION_INSERT_USER, *id, c->now, NULL);
    if (err == OK)
        err = exec2(c, STMT_USER_DELETE, *id, 0, &changes);
    if (err == OK && changes == 0)
        err = ERR_NOT_FOUND;
    return err;
}

int
store_sqlite_user_delete(struct store *s, int64_t id)
{
    return store_sqlite_write(STORE(s), op_user_delete, &id, false);
}

/* ---- sessions ---- */

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

struct session_create_arg {
    struct store_session *sess;
    struct store_refresh *first;
};

static int
op_session_create(struct conn *c, void *arg)
{
    struct session_create_arg *sa = arg;
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
    err = store_sqlite_step_done(c, st, "session create");
    sqlite3_reset(st);
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
store_sqlite_session_create(struct store *s, struct store_session *sess, struct store_refresh *first)
{
    struct session_create_arg sa = {sess, first};
    return store_sqlite_write(STORE(s), op_session_create, &sa, false);
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
    int err = exec2(c, STMT_SESSION_TOUCH, sa->id, sa->now, &changes);
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
    return revoke_all(c, sa->user_id, sa->id, sa->n);
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

struct purge_arg {
    enum stmt id;
    int64_t before;
    size_t max;
    size_t *purged;
};

static int
op_purge(struct conn *c, void *arg)
{
    struct purge_arg *pa = arg;
    int changes;
    int err = exec2(c, pa->id, pa->before, (int64_t)pa->max, &changes);
    if (err == OK)
        *pa->purged = (size_t)changes;
    return err;
}

/* Shared by every purge of the backend. */
static int
purge(struct store *s, enum stmt id, int64_t before, size_t max, size_t *purged)
{
    struct purge_arg pa = {id, before, max, purged};
    *purged = 0;
    return store_sqlite_write(STORE(s), op_purge, &pa, false);
}

/* Sessions first, then, within the same max, the revocations of deleted
 * accounts' sessions past the same cut-off. */
static int
op_session_purge(struct conn *c, void *arg)
{
    struct purge_arg *pa = arg;
    int sessions = 0, revocations = 0;
    int err = exec2(c, STMT_SESSION_PURGE, pa->before, (int64_t)pa->max, &sessions);
    int64_t left = (int64_t)pa->max - sessions;
    if (err == OK && left > 0)
        err = exec2(c, STMT_REVOCATION_PURGE, pa->before, left, &revocations);
    if (err == OK)
        *pa->purged = (size_t)sessions + (size_t)revocations;
    return err;
}

int
store_sqlite_session_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    struct purge_arg pa = {STMT_SESSION_PURGE, before, max, purged};
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

struct rotate_arg {
    const uint8_t *old_hash;
    int64_t now;
    struct store_refresh *child;
    struct store_refresh *old;
};

static int
op_refresh_rotate(struct conn *c, void *arg)
{
    struct rotate_arg *ra = arg;
    struct store_refresh *old = ra->old;
    int err = refresh_get(c, ra->old_hash, old);
    if (err != OK)
        return err;
    err = store_refresh_check(old, ra->now);
    if (err != OK)
        return err;
    int changes;
    err = exec2(c, STMT_REFRESH_SPEND, old->id, ra->now, &changes);
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
store_sqlite_refresh_rotate(struct store *s, const uint8_t old_hash[STORE_HASH_LEN], int64_t now,
                            struct store_refresh *child, struct store_refresh *old)
{
    struct rotate_arg ra = {old_hash, now, child, old};
    memset(old, 0, sizeof(*old));
    int err = store_sqlite_write(STORE(s), op_refresh_rotate, &ra, false);
    return err;
}

int
store_sqlite_refresh_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    return purge(s, STMT_REFRESH_PURGE, before, max, purged);
}

int
store_sqlite_purge(struct store *s, enum stmt id, int64_t before, size_t max, size_t *purged)
{
    return purge(s, id, before, max, purged);
}
