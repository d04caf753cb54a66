/* Users on PostgreSQL. Unique keys are the indexes' job, and a violation
 * names the index, hence the field; deleting a user records its sessions'
 * revocations in the same transaction. */
#include <string.h>

#include "store/pg/pg_int.h"
#include "store/rules.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct pg_store *)(s))

/* After a unique violation: which key. When the email's index complained,
 * the username may be taken too (by someone other than self), and the
 * username wins, as on SQLite. */
static int
conflict_of(struct pgx *x, const char *username, int64_t self, enum store_conflict *conflict)
{
    if (strcmp(x->constraint, "users_username") == 0 || username == NULL) {
        *conflict =
            strcmp(x->constraint, "users_username") == 0 ? STORE_CONFLICT_USERNAME : STORE_CONFLICT_EMAIL;
        return ERR_CONFLICT;
    }
    *conflict = STORE_CONFLICT_EMAIL;
    struct pg_params p = {0};
    pg_p_str(&p, username);
    PGresult *r;
    int err = store_pg_exec(x, PG_USER_BY_USERNAME, &p, &r);
    if (err != OK)
        return err;
    if (PQntuples(r) > 0 && pg_col_i64(r, 0, 0) != self)
        *conflict = STORE_CONFLICT_USERNAME;
    PQclear(r);
    return ERR_CONFLICT;
}

static int
op_user_create(struct pgx *x, void *arg)
{
    struct store_user_create *ua = arg;
    struct store_user *u = ua->u;
    int64_t now = store_pg_now();
    struct pg_params p = {0};
    pg_p_str(&p, u->username);
    pg_p_str(&p, u->email);
    pg_p_str(&p, u->password_hash);
    pg_p_i64(&p, now);
    PGresult *r;
    int err = store_pg_exec(x, PG_USER_INSERT, &p, &r);
    if (err == ERR_CONFLICT)
        return conflict_of(x, u->username, 0, ua->conflict);
    if (err != OK)
        return err;
    u->id = pg_col_i64(r, 0, 0);
    PQclear(r);
    u->created_at = u->updated_at = now;
    u->version = 1;
    x->ryw_user = u->id;
    return OK;
}

int
store_pg_user_create(struct store *s, struct store_user_create *c)
{
    return store_pg_run(STORE(s), PG_WRITE, 0, op_user_create, c);
}

struct user_get_arg {
    int64_t id;
    const char *login;
    struct arena *a;
    struct store_user *out;
};

static int
op_user_get(struct pgx *x, void *arg)
{
    struct user_get_arg *ga = arg;
    struct pg_params p = {0};
    if (ga->login != NULL)
        pg_p_str(&p, ga->login);
    else
        pg_p_i64(&p, ga->id);
    PGresult *r;
    int err = store_pg_exec(x, ga->login != NULL ? PG_USER_BY_LOGIN : PG_USER_GET, &p, &r);
    if (err != OK)
        return err;
    if (PQntuples(r) == 0)
        err = ERR_NOT_FOUND;
    else
        store_row_user(PG_ROW(r, 0), ga->a, ga->out);
    PQclear(r);
    return err;
}

int
store_pg_user_get(struct store *s, int64_t id, struct arena *a, struct store_user *out)
{
    struct user_get_arg ga = {id, NULL, a, out};
    return store_pg_run(STORE(s), PG_READ_LAGGED, id, op_user_get, &ga);
}

int
store_pg_user_get_by_login(struct store *s, const char *login, struct arena *a, struct store_user *out)
{
    struct user_get_arg ga = {0, login, a, out};
    return store_pg_run(STORE(s), PG_READ, 0, op_user_get, &ga);
}

/* After an update matched nothing: ERR_NOT_FOUND, or, when the user
 * exists with another version, ERR_PRECONDITION. */
static int
why_unchanged(struct pgx *x, int64_t id)
{
    struct pg_params p = {0};
    pg_p_i64(&p, id);
    PGresult *r;
    int err = store_pg_exec(x, PG_USER_VERSION, &p, &r);
    if (err != OK)
        return err;
    err = store_why_unchanged(PQntuples(r) > 0 ? OK : ERR_NOT_FOUND);
    PQclear(r);
    return err;
}

static int
op_user_update(struct pgx *x, void *arg)
{
    struct store_user_update *ua = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ua->id);
    pg_p_str(&p, ua->p->username);
    pg_p_str(&p, ua->p->email);
    pg_p_i64(&p, store_pg_now());
    pg_p_i64(&p, ua->expect_version);
    PGresult *r;
    int err = store_pg_exec(x, PG_USER_UPDATE, &p, &r);
    if (err == ERR_CONFLICT)
        return conflict_of(x, ua->p->username, ua->id, ua->conflict);
    if (err != OK)
        return err;
    if (PQntuples(r) == 1)
        store_row_user(PG_ROW(r, 0), ua->a, ua->out);
    else
        err = ua->expect_version != 0 ? why_unchanged(x, ua->id) : ERR_NOT_FOUND;
    PQclear(r);
    return err;
}

int
store_pg_user_update(struct store *s, struct store_user_update *u)
{
    return store_pg_run(STORE(s), PG_WRITE, u->id, op_user_update, u);
}

static int
op_user_set_password(struct pgx *x, void *arg)
{
    struct store_password_change *pa = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, pa->id);
    pg_p_str(&p, pa->hash);
    pg_p_i64(&p, store_pg_now());
    pg_p_i64(&p, pa->keep);
    pg_p_bool(&p, pa->end_sessions);
    PGresult *r;
    int err = store_pg_exec(x, PG_USER_SET_PASSWORD, &p, &r);
    if (err != OK)
        return err;
    if (pg_col_i64(r, 0, 0) == 0)
        err = ERR_NOT_FOUND;
    PQclear(r);
    return err;
}

int
store_pg_user_set_password(struct store *s, struct store_password_change *c)
{
    return store_pg_run(STORE(s), PG_WRITE, c->id, op_user_set_password, c);
}

/* Runs inside a transaction (store_pg_run_tx). The sessions go with the
 * user (ON DELETE CASCADE), so their revocations are recorded first, for
 * the other instances to read. The user's row is locked by a statement of
 * its own before: a session created meanwhile has committed by then and is
 * seen by the next statement, and none can be created after. */
static int
op_user_delete(struct pgx *x, void *arg)
{
    const int64_t *id = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, *id);
    PGresult *r;
    int err = store_pg_exec(x, PG_USER_LOCK, &p, &r);
    if (err != OK)
        return err;
    bool found = PQntuples(r) > 0;
    PQclear(r);
    if (!found)
        return ERR_NOT_FOUND;
    struct pg_params q = {0};
    pg_p_i64(&q, *id);
    pg_p_i64(&q, store_pg_now());
    err = store_pg_exec_changes(x, PG_REVOCATION_INSERT_USER, &q, NULL);
    if (err == OK)
        err = store_pg_exec_changes(x, PG_USER_DELETE, &p, NULL);
    return err;
}

int
store_pg_user_delete(struct store *s, int64_t id)
{
    return store_pg_run_tx(STORE(s), id, op_user_delete, &id);
}
