/* The second factor, recovery codes and one-time tokens on SQLite. Writes
 * run as operations of the group-commit writer, so each is atomic and
 * serialized with every other write: a token, a recovery code or a TOTP
 * step is spent by a conditional UPDATE, and of concurrent spends exactly
 * one changes the row. */
#include <string.h>

#include "store/sqlite/sqlite_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct sqlite_store *)(s))

/* Whether user id exists, on c: OK or ERR_NOT_FOUND. */
static int
user_exists(struct conn *c, int64_t id)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_USER_GET, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, id);
    err = store_sqlite_step_row(c, st, "user exists");
    sqlite3_reset(st);
    return err;
}

int
store_sqlite_token_revoke(struct conn *c, int64_t user_id, enum store_token_purpose purpose)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_TOKEN_REVOKE_USER, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, store_token_purpose_names[purpose], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->now);
    err = store_sqlite_step_done(c, st, "token revoke");
    sqlite3_reset(st);
    return err;
}

/* ---- TOTP ---- */

struct totp_arg {
    int64_t id;
    const char *sealed;
    int64_t step;
};

static int
op_totp_pending(struct conn *c, void *arg)
{
    struct totp_arg *ta = arg;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_USER_TOTP_PENDING, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, ta->id);
    store_sqlite_bind_str(st, 2, ta->sealed);
    sqlite3_bind_int64(st, 3, c->now);
    err = store_sqlite_step_done(c, st, "totp pending");
    sqlite3_reset(st);
    if (err == OK && sqlite3_changes(c->db) == 0)
        err = ERR_NOT_FOUND;
    return err;
}

int
store_sqlite_user_totp_pending(struct store *s, int64_t id, const char *sealed)
{
    struct totp_arg ta = {id, sealed, 0};
    return store_sqlite_write(STORE(s), op_totp_pending, &ta, false);
}

static int
op_totp_enable(struct conn *c, void *arg)
{
    struct store_totp_enable *e = arg;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_USER_TOTP_ENABLE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, e->id);
    sqlite3_bind_text(st, 2, e->expect_pending, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, e->step);
    sqlite3_bind_int64(st, 4, c->now);
    err = store_sqlite_step_done(c, st, "totp enable");
    sqlite3_reset(st);
    if (err != OK)
        return err;
    if (sqlite3_changes(c->db) == 0) {
        err = user_exists(c, e->id);
        return err == OK ? ERR_PRECONDITION : err;
    }
    err = store_sqlite_exec2(c, STMT_RECOVERY_DELETE_USER, e->id, 0, NULL);
    for (size_t i = 0; err == OK && i < e->n; i++) {
        st = store_sqlite_stmt(c, STMT_RECOVERY_INSERT, &err);
        if (st == NULL)
            return err;
        sqlite3_bind_int64(st, 1, e->id);
        sqlite3_bind_blob(st, 2, e->codes[i], STORE_HASH_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, c->now);
        err = store_sqlite_step_done(c, st, "recovery insert");
        sqlite3_reset(st);
    }
    /* A second step begun under the old state must not finish under the new. */
    if (err == OK)
        err = store_sqlite_token_revoke(c, e->id, STORE_TOKEN_MFA_LOGIN);
    return err;
}

int
store_sqlite_user_totp_enable(struct store *s, struct store_totp_enable *e)
{
    return store_sqlite_write(STORE(s), op_totp_enable, e, false);
}

static int
op_totp_disable(struct conn *c, void *arg)
{
    struct totp_arg *ta = arg;
    int changes = 0;
    int err = store_sqlite_exec2(c, STMT_USER_TOTP_DISABLE, ta->id, c->now, &changes);
    if (err == OK && changes == 0)
        err = ERR_NOT_FOUND;
    if (err == OK)
        err = store_sqlite_exec2(c, STMT_RECOVERY_DELETE_USER, ta->id, 0, NULL);
    if (err == OK)
        err = store_sqlite_token_revoke(c, ta->id, STORE_TOKEN_MFA_LOGIN);
    return err;
}

int
store_sqlite_user_totp_disable(struct store *s, int64_t id)
{
    struct totp_arg ta = {id, NULL, 0};
    return store_sqlite_write(STORE(s), op_totp_disable, &ta, false);
}

static int
op_totp_use_step(struct conn *c, void *arg)
{
    struct totp_arg *ta = arg;
    int changes = 0;
    int err = store_sqlite_exec2(c, STMT_USER_TOTP_STEP, ta->id, ta->step, &changes);
    if (err != OK || changes > 0)
        return err;
    err = user_exists(c, ta->id);
    return err == OK ? ERR_CONFLICT : err;
}

int
store_sqlite_user_totp_use_step(struct store *s, int64_t id, int64_t step)
{
    struct totp_arg ta = {id, NULL, step};
    return store_sqlite_write(STORE(s), op_totp_use_step, &ta, false);
}

/* ---- recovery codes ---- */

static int
recovery_count(struct conn *c, int64_t user_id, int *n)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_RECOVERY_COUNT, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    err = store_sqlite_step_row(c, st, "recovery count");
    if (err == OK)
        *n = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return err;
}

struct recovery_arg {
    int64_t user_id;
    const uint8_t *hash;
    int64_t now;
    int *left;
};

static int
op_recovery_use(struct conn *c, void *arg)
{
    struct recovery_arg *ra = arg;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_RECOVERY_USE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, ra->user_id);
    sqlite3_bind_blob(st, 2, ra->hash, STORE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ra->now);
    err = store_sqlite_step_done(c, st, "recovery use");
    sqlite3_reset(st);
    if (err == OK && sqlite3_changes(c->db) == 0)
        err = ERR_NOT_FOUND;
    if (err == OK)
        err = recovery_count(c, ra->user_id, ra->left);
    return err;
}

int
store_sqlite_recovery_code_use(struct store *s, int64_t user_id, const uint8_t hash[STORE_HASH_LEN],
                               int64_t now, int *left)
{
    struct recovery_arg ra = {user_id, hash, now, left};
    return store_sqlite_write(STORE(s), op_recovery_use, &ra, false);
}

int
store_sqlite_recovery_code_count(struct store *s, int64_t user_id, int *n)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    return recovery_count(c, user_id, n);
}

/* ---- one-time tokens ---- */

static int
op_token_create(struct conn *c, void *arg)
{
    struct store_token_start *ta = arg;
    struct store_token *t = ta->tok;
    int err = OK;
    if (ta->replace && (err = store_sqlite_token_revoke(c, t->user_id, t->purpose)) != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_TOKEN_INSERT, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_blob(st, 1, t->hash, STORE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, t->user_id);
    sqlite3_bind_text(st, 3, store_token_purpose_names[t->purpose], -1, SQLITE_STATIC);
    store_sqlite_bind_str(st, 4, t->email);
    sqlite3_bind_int64(st, 5, c->now);
    sqlite3_bind_int64(st, 6, t->expires_at);
    err = store_sqlite_step_done(c, st, "token create");
    sqlite3_reset(st);
    if (err != OK)
        return err;
    t->created_at = c->now;
    /* The job goes in the same transaction: a conflict on its unique key
     * rolls the token back (the writer undoes a failed operation). */
    if (ta->job != NULL)
        err = store_sqlite_job_insert(c, ta->job);
    return err;
}

int
store_sqlite_token_create(struct store *s, struct store_token_start *c)
{
    return store_sqlite_write(STORE(s), op_token_create, c, false);
}

int
store_sqlite_token_get(struct store *s, const uint8_t hash[STORE_HASH_LEN], enum store_token_purpose purpose,
                       int64_t now, struct arena *a, struct store_token *out)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_TOKEN_GET, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_blob(st, 1, hash, STORE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, store_token_purpose_names[purpose], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    err = store_sqlite_step_row(c, st, "token get");
    if (err == OK)
        err = store_row_token(SQLITE_STMT_ROW(st), a, out);
    sqlite3_reset(st);
    return err;
}

/* Spends u's token on c; u->out gets it as it was (unused). */
static int
token_spend(struct conn *c, struct store_token_spend *u)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_TOKEN_USE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_blob(st, 1, u->hash, STORE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, store_token_purpose_names[u->purpose], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, u->now);
    err = store_sqlite_step_row(c, st, "token use");
    if (err == OK)
        err = store_row_token(SQLITE_STMT_ROW(st), u->a, u->out);
    if (err == OK)
        err = store_sqlite_step_done(c, st, "token use");
    sqlite3_reset(st);
    if (err == OK)
        u->out->used_at = 0;
    return err;
}

static int
op_token_use(struct conn *c, void *arg)
{
    return token_spend(c, arg);
}

int
store_sqlite_token_use(struct store *s, struct store_token_spend *u)
{
    return store_sqlite_write(STORE(s), op_token_use, u, false);
}

struct verify_arg {
    const uint8_t *hash;
    int64_t now;
    int64_t *user_id;
};

static int
op_email_verify(struct conn *c, void *arg)
{
    struct verify_arg *va = arg;
    struct arena a;
    struct store_token tok;
    arena_init(&a);
    struct store_token_spend u = {va->hash, STORE_TOKEN_VERIFY_EMAIL, va->now, &a, &tok, NULL};
    int err = token_spend(c, &u);
    sqlite3_stmt *st = err == OK ? store_sqlite_stmt(c, STMT_USER_VERIFY_EMAIL, &err) : NULL;
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, tok.user_id);
        store_sqlite_bind_str(st, 2, tok.email);
        sqlite3_bind_int64(st, 3, c->now);
        err = store_sqlite_step_done(c, st, "email verify");
        sqlite3_reset(st);
        /* The address changed since: nothing is spent (the op rolls back). */
        if (err == OK && sqlite3_changes(c->db) == 0)
            err = ERR_NOT_FOUND;
    }
    /* Verified: the other links of the account are moot. */
    if (err == OK)
        err = store_sqlite_token_revoke(c, tok.user_id, STORE_TOKEN_VERIFY_EMAIL);
    if (err == OK)
        *va->user_id = tok.user_id;
    arena_cleanup(&a);
    return err;
}

int
store_sqlite_email_verify(struct store *s, const uint8_t hash[STORE_HASH_LEN], int64_t now, int64_t *user_id)
{
    struct verify_arg va = {hash, now, user_id};
    return store_sqlite_write(STORE(s), op_email_verify, &va, false);
}

/* The token, the new hash, every session and the other tokens that could
 * sign in, in one step; the sessions are revoked as a password change
 * revokes them (store_session_revoked_since reads them). */
static int
op_password_reset(struct conn *c, void *arg)
{
    struct store_token_spend *u = arg;
    int err = token_spend(c, u);
    if (err != OK)
        return err;
    int64_t uid = u->out->user_id;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_USER_SET_PASSWORD, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, u->password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->now);
    err = store_sqlite_step_done(c, st, "password reset");
    sqlite3_reset(st);
    if (err == OK && sqlite3_changes(c->db) == 0)
        err = ERR_NOT_FOUND;
    if (err == OK)
        err = store_sqlite_revoke_all(c, uid, 0, NULL);
    if (err == OK)
        err = store_sqlite_token_revoke(c, uid, STORE_TOKEN_PASSWORD_RESET);
    if (err == OK)
        err = store_sqlite_token_revoke(c, uid, STORE_TOKEN_MFA_LOGIN);
    return err;
}

int
store_sqlite_password_reset(struct store *s, struct store_token_spend *u)
{
    return store_sqlite_write(STORE(s), op_password_reset, u, false);
}

struct revoke_arg {
    int64_t user_id;
    enum store_token_purpose purpose;
};

static int
op_token_revoke_user(struct conn *c, void *arg)
{
    struct revoke_arg *ra = arg;
    return store_sqlite_token_revoke(c, ra->user_id, ra->purpose);
}

int
store_sqlite_token_revoke_user(struct store *s, int64_t user_id, enum store_token_purpose purpose)
{
    struct revoke_arg ra = {user_id, purpose};
    return store_sqlite_write(STORE(s), op_token_revoke_user, &ra, false);
}

int
store_sqlite_token_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    return store_sqlite_purge(s, STMT_TOKEN_PURGE, before, max, purged);
}
