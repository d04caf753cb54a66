/* The second factor, recovery codes and one-time tokens on PostgreSQL. A
 * token, a recovery code or a TOTP step is spent by a conditional UPDATE:
 * of concurrent spends the later ones wait for the first, see its row and
 * match nothing. The steps that go together (a token with its mail job, a
 * verification, a reset, an enrolment) run in one transaction. */
#include <string.h>

#include "store/pg/pg_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct pg_store *)(s))

/* Whether user id exists, on x: OK or ERR_NOT_FOUND. */
static int
user_exists(struct pgx *x, int64_t id)
{
    struct pg_params p = {0};
    pg_p_i64(&p, id);
    PGresult *r;
    int err = store_pg_exec(x, PG_USER_VERSION, &p, &r);
    if (err != OK)
        return err;
    err = PQntuples(r) > 0 ? OK : ERR_NOT_FOUND;
    PQclear(r);
    return err;
}

static int
token_revoke(struct pgx *x, int64_t user_id, enum store_token_purpose purpose, int64_t now)
{
    struct pg_params p = {0};
    pg_p_i64(&p, user_id);
    pg_p_str(&p, store_token_purpose_names[purpose]);
    pg_p_i64(&p, now);
    return store_pg_exec_changes(x, PG_TOKEN_REVOKE_USER, &p, NULL);
}

/* ---- TOTP ---- */

struct totp_arg {
    int64_t id;
    const char *sealed;
    int64_t step;
};

static int
op_totp_pending(struct pgx *x, void *arg)
{
    struct totp_arg *ta = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ta->id);
    pg_p_str(&p, ta->sealed);
    pg_p_i64(&p, store_pg_now());
    int64_t changes = 0;
    int err = store_pg_exec_changes(x, PG_USER_TOTP_PENDING, &p, &changes);
    if (err == OK && changes == 0)
        err = ERR_NOT_FOUND;
    return err;
}

int
store_pg_user_totp_pending(struct store *s, int64_t id, const char *sealed)
{
    struct totp_arg ta = {id, sealed, 0};
    return store_pg_run(STORE(s), PG_WRITE, id, op_totp_pending, &ta);
}

static int
op_totp_enable(struct pgx *x, void *arg)
{
    struct store_totp_enable *e = arg;
    int64_t now = store_pg_now();
    struct pg_params p = {0};
    pg_p_i64(&p, e->id);
    pg_p_str(&p, e->expect_pending);
    pg_p_i64(&p, e->step);
    pg_p_i64(&p, now);
    int64_t changes = 0;
    int err = store_pg_exec_changes(x, PG_USER_TOTP_ENABLE, &p, &changes);
    if (err != OK)
        return err;
    if (changes == 0) {
        err = user_exists(x, e->id);
        return err == OK ? ERR_PRECONDITION : err;
    }
    struct pg_params d = {0};
    pg_p_i64(&d, e->id);
    err = store_pg_exec_changes(x, PG_RECOVERY_DELETE_USER, &d, NULL);
    for (size_t i = 0; err == OK && i < e->n; i++) {
        struct pg_params q = {0};
        pg_p_i64(&q, e->id);
        pg_p_bytes(&q, e->codes[i], STORE_HASH_LEN);
        pg_p_i64(&q, now);
        err = store_pg_exec_changes(x, PG_RECOVERY_INSERT, &q, NULL);
    }
    /* A second step begun under the old state must not finish under the new. */
    if (err == OK)
        err = token_revoke(x, e->id, STORE_TOKEN_MFA_LOGIN, store_pg_now());
    return err;
}

int
store_pg_user_totp_enable(struct store *s, struct store_totp_enable *e)
{
    return store_pg_run_tx(STORE(s), e->id, op_totp_enable, e);
}

/* Runs statement id of (id, second) and reads its first column (and the
 * second, when there is one). */
static int
two_counts(struct pgx *x, enum pg_stmt id, struct pg_params *p, int64_t *a, int64_t *b)
{
    PGresult *r;
    int err = store_pg_exec(x, id, p, &r);
    if (err != OK)
        return err;
    *a = PQntuples(r) > 0 ? pg_col_i64(r, 0, 0) : 0;
    if (b != NULL)
        *b = PQntuples(r) > 0 && PQnfields(r) > 1 ? pg_col_i64(r, 0, 1) : 0;
    PQclear(r);
    return OK;
}

static int
op_totp_disable(struct pgx *x, void *arg)
{
    struct totp_arg *ta = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ta->id);
    pg_p_i64(&p, store_pg_now());
    int64_t users = 0;
    int err = two_counts(x, PG_USER_TOTP_DISABLE, &p, &users, NULL);
    if (err == OK && users == 0)
        err = ERR_NOT_FOUND;
    if (err == OK)
        err = token_revoke(x, ta->id, STORE_TOKEN_MFA_LOGIN, store_pg_now());
    return err;
}

int
store_pg_user_totp_disable(struct store *s, int64_t id)
{
    struct totp_arg ta = {id, NULL, 0};
    return store_pg_run_tx(STORE(s), id, op_totp_disable, &ta);
}

static int
op_totp_use_step(struct pgx *x, void *arg)
{
    struct totp_arg *ta = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ta->id);
    pg_p_i64(&p, ta->step);
    int64_t accepted = 0, exists = 0;
    int err = two_counts(x, PG_USER_TOTP_STEP, &p, &accepted, &exists);
    if (err != OK)
        return err;
    if (accepted > 0)
        return OK;
    return exists > 0 ? ERR_CONFLICT : ERR_NOT_FOUND;
}

int
store_pg_user_totp_use_step(struct store *s, int64_t id, int64_t step)
{
    struct totp_arg ta = {id, NULL, step};
    return store_pg_run(STORE(s), PG_WRITE, id, op_totp_use_step, &ta);
}

/* ---- recovery codes ---- */

struct recovery_arg {
    int64_t user_id;
    const uint8_t *hash;
    int64_t now;
    int *left;
};

static int
op_recovery_use(struct pgx *x, void *arg)
{
    struct recovery_arg *ra = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ra->user_id);
    pg_p_bytes(&p, ra->hash, STORE_HASH_LEN);
    pg_p_i64(&p, ra->now);
    int64_t spent = 0, before = 0;
    int err = two_counts(x, PG_RECOVERY_USE, &p, &spent, &before);
    if (err != OK)
        return err;
    if (spent == 0)
        return ERR_NOT_FOUND;
    *ra->left = before > 0 ? (int)(before - 1) : 0;
    return OK;
}

int
store_pg_recovery_code_use(struct store *s, int64_t user_id, const uint8_t hash[STORE_HASH_LEN], int64_t now,
                           int *left)
{
    struct recovery_arg ra = {user_id, hash, now, left};
    return store_pg_run(STORE(s), PG_WRITE, user_id, op_recovery_use, &ra);
}

static int
op_recovery_count(struct pgx *x, void *arg)
{
    struct recovery_arg *ra = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ra->user_id);
    int64_t n = 0;
    int err = two_counts(x, PG_RECOVERY_COUNT, &p, &n, NULL);
    if (err == OK)
        *ra->left = (int)n;
    return err;
}

int
store_pg_recovery_code_count(struct store *s, int64_t user_id, int *n)
{
    struct recovery_arg ra = {user_id, NULL, 0, n};
    return store_pg_run(STORE(s), PG_READ, user_id, op_recovery_count, &ra);
}

/* ---- one-time tokens ---- */

static int
op_token_create(struct pgx *x, void *arg)
{
    struct store_token_start *ta = arg;
    struct store_token *t = ta->tok;
    int64_t now = store_pg_now();
    int err = OK;
    if (ta->replace && (err = token_revoke(x, t->user_id, t->purpose, now)) != OK)
        return err;
    struct pg_params p = {0};
    pg_p_bytes(&p, t->hash, STORE_HASH_LEN);
    pg_p_i64(&p, t->user_id);
    pg_p_str(&p, store_token_purpose_names[t->purpose]);
    pg_p_str(&p, t->email);
    pg_p_i64(&p, now);
    pg_p_i64(&p, t->expires_at);
    err = store_pg_exec_changes(x, PG_TOKEN_INSERT, &p, NULL);
    if (err != OK)
        return err;
    t->created_at = now;
    /* A conflict on the job's unique key fails the transaction: the token
     * is rolled back with it. */
    if (ta->job != NULL)
        err = store_pg_job_insert(x, ta->job, now);
    return err;
}

int
store_pg_token_create(struct store *s, struct store_token_start *c)
{
    return store_pg_run_tx(STORE(s), c->tok->user_id, op_token_create, c);
}

/* Reads (get) or spends (use) the token of u: OK with u->out as it was. */
static int
token_row(struct pgx *x, enum pg_stmt id, struct store_token_spend *u)
{
    struct pg_params p = {0};
    pg_p_bytes(&p, u->hash, STORE_HASH_LEN);
    pg_p_str(&p, store_token_purpose_names[u->purpose]);
    pg_p_i64(&p, u->now);
    PGresult *r;
    int err = store_pg_exec(x, id, &p, &r);
    if (err != OK)
        return err;
    if (PQntuples(r) == 0)
        err = ERR_NOT_FOUND;
    else
        err = store_row_token(PG_ROW(r, 0), u->a, u->out);
    PQclear(r);
    if (err == OK)
        u->out->used_at = 0;
    return err;
}

static int
op_token_get(struct pgx *x, void *arg)
{
    return token_row(x, PG_TOKEN_GET, arg);
}

int
store_pg_token_get(struct store *s, const uint8_t hash[STORE_HASH_LEN], enum store_token_purpose purpose,
                   int64_t now, struct arena *a, struct store_token *out)
{
    struct store_token_spend u = {hash, purpose, now, a, out, NULL};
    return store_pg_run(STORE(s), PG_READ, 0, op_token_get, &u);
}

static int
op_token_use(struct pgx *x, void *arg)
{
    return token_row(x, PG_TOKEN_USE, arg);
}

int
store_pg_token_use(struct store *s, struct store_token_spend *u)
{
    return store_pg_run(STORE(s), PG_WRITE, 0, op_token_use, u);
}

struct verify_arg {
    const uint8_t *hash;
    int64_t now;
    int64_t *user_id;
};

static int
op_email_verify(struct pgx *x, void *arg)
{
    struct verify_arg *va = arg;
    struct arena a;
    struct store_token tok;
    arena_init(&a);
    struct store_token_spend u = {va->hash, STORE_TOKEN_VERIFY_EMAIL, va->now, &a, &tok, NULL};
    int err = token_row(x, PG_TOKEN_USE, &u);
    if (err == OK) {
        struct pg_params p = {0};
        pg_p_i64(&p, tok.user_id);
        pg_p_str(&p, tok.email);
        pg_p_i64(&p, store_pg_now());
        int64_t changes = 0;
        err = store_pg_exec_changes(x, PG_USER_VERIFY_EMAIL, &p, &changes);
        /* The address changed since: nothing is spent (rolled back). */
        if (err == OK && changes == 0)
            err = ERR_NOT_FOUND;
    }
    /* Verified: the other links of the account are moot. */
    if (err == OK)
        err = token_revoke(x, tok.user_id, STORE_TOKEN_VERIFY_EMAIL, store_pg_now());
    if (err == OK) {
        *va->user_id = tok.user_id;
        x->ryw_user = tok.user_id;
    }
    arena_cleanup(&a);
    return err;
}

int
store_pg_email_verify(struct store *s, const uint8_t hash[STORE_HASH_LEN], int64_t now, int64_t *user_id)
{
    struct verify_arg va = {hash, now, user_id};
    return store_pg_run_tx(STORE(s), 0, op_email_verify, &va);
}

/* The token, then the new hash with every session revoked (the statement
 * of a password change, which also ends the other reset tokens), then the
 * MFA-login tokens. */
static int
op_password_reset(struct pgx *x, void *arg)
{
    struct store_token_spend *u = arg;
    int err = token_row(x, PG_TOKEN_USE, u);
    if (err != OK)
        return err;
    int64_t uid = u->out->user_id;
    int64_t now = store_pg_now();
    struct pg_params p = {0};
    pg_p_i64(&p, uid);
    pg_p_str(&p, u->password_hash);
    pg_p_i64(&p, now);
    pg_p_i64(&p, 0);
    pg_p_bool(&p, true);
    int64_t users = 0;
    err = two_counts(x, PG_USER_SET_PASSWORD, &p, &users, NULL);
    if (err == OK && users == 0)
        err = ERR_NOT_FOUND;
    if (err == OK)
        err = token_revoke(x, uid, STORE_TOKEN_MFA_LOGIN, now);
    if (err == OK)
        x->ryw_user = uid;
    return err;
}

int
store_pg_password_reset(struct store *s, struct store_token_spend *u)
{
    return store_pg_run_tx(STORE(s), 0, op_password_reset, u);
}

struct revoke_arg {
    int64_t user_id;
    enum store_token_purpose purpose;
};

static int
op_token_revoke_user(struct pgx *x, void *arg)
{
    struct revoke_arg *ra = arg;
    return token_revoke(x, ra->user_id, ra->purpose, store_pg_now());
}

int
store_pg_token_revoke_user(struct store *s, int64_t user_id, enum store_token_purpose purpose)
{
    struct revoke_arg ra = {user_id, purpose};
    return store_pg_run(STORE(s), PG_WRITE, user_id, op_token_revoke_user, &ra);
}

int
store_pg_token_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    return store_pg_purge(s, PG_TOKEN_PURGE, before, max, purged);
}
