/* Users on SQLite. Writes run as operations of the group-commit writer,
 * so each is atomic and serialized with every other write: a uniqueness
 * check and the insert or update it guards are one step. */
#include <string.h>

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

static int
op_user_create(struct conn *c, void *arg)
{
    struct store_user_create *ua = arg;
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
store_sqlite_user_create(struct store *s, struct store_user_create *c)
{
    return store_sqlite_write(STORE(s), op_user_create, c, false);
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

/* Whether a and b are equal ignoring ASCII case (as the NOCASE columns). */
static bool
ascii_case_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return false;
        if (x == '\0')
            return true;
    }
}

static int
op_user_update(struct conn *c, void *arg)
{
    struct store_user_update *ua = arg;
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
    /* A new address: the links sent to the old one stop working. */
    if (err == OK && ua->p->email != NULL && !ascii_case_eq(ua->p->email, cur.email))
        err = store_sqlite_token_revoke(c, ua->id, STORE_TOKEN_VERIFY_EMAIL);
    return err;
}

int
store_sqlite_user_update(struct store *s, struct store_user_update *u)
{
    return store_sqlite_write(STORE(s), op_user_update, u, false);
}

static int
op_user_set_password(struct conn *c, void *arg)
{
    struct store_password_change *pa = arg;
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
        err = store_sqlite_revoke_all(c, pa->id, pa->keep, NULL);
    if (err == OK && pa->end_sessions)
        err = store_sqlite_token_revoke(c, pa->id, STORE_TOKEN_PASSWORD_RESET);
    if (err == OK && pa->end_sessions)
        err = store_sqlite_token_revoke(c, pa->id, STORE_TOKEN_MFA_LOGIN);
    return err;
}

int
store_sqlite_user_set_password(struct store *s, struct store_password_change *c)
{
    return store_sqlite_write(STORE(s), op_user_set_password, c, false);
}

/* The sessions go with the user (ON DELETE CASCADE), so their revocations
 * are recorded first, in the same transaction: other instances read them
 * from session_revocations. */
static int
op_user_delete(struct conn *c, void *arg)
{
    const int64_t *id = arg;
    int changes = 0;
    int err = store_sqlite_exec2(c, STMT_REVOCATION_INSERT_USER, *id, c->now, NULL);
    if (err == OK)
        err = store_sqlite_exec2(c, STMT_USER_DELETE, *id, 0, &changes);
    if (err == OK && changes == 0)
        err = ERR_NOT_FOUND;
    return err;
}

int
store_sqlite_user_delete(struct store *s, int64_t id)
{
    return store_sqlite_write(STORE(s), op_user_delete, &id, false);
}
