/* Idempotency keys on PostgreSQL: a reservation is one INSERT ... ON
 * CONFLICT DO UPDATE that only replaces an expired key, so of concurrent
 * requests with one key exactly one gets a row back and owns the key; the
 * owner stores the response, which later requests with the key replay. */
#include <string.h>

#include "store/pg/pg_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct pg_store *)(s))

static int
idem_get(struct pgx *x, int64_t user_id, const char *key, struct arena *a, struct store_idem *out)
{
    struct pg_params p = {0};
    pg_p_i64(&p, user_id);
    pg_p_str(&p, key);
    PGresult *r;
    int err = store_pg_exec(x, PG_IDEM_GET, &p, &r);
    if (err != OK)
        return err;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ERR_NOT_FOUND;
    }
    err = store_row_idem(PG_ROW(r, 0), a, out);
    PQclear(r);
    return err;
}

static int
op_idem_reserve(struct pgx *x, void *arg)
{
    struct store_idem_reservation *ra = arg;
    /* The holder may release the key between our two statements: then
     * try once more. */
    for (int attempt = 0; attempt < 2; attempt++) {
        struct pg_params p = {0};
        pg_p_i64(&p, ra->user_id);
        pg_p_str(&p, ra->key);
        pg_p_bytes(&p, ra->hash, STORE_HASH_LEN);
        pg_p_i64(&p, store_pg_now());
        pg_p_i64(&p, ra->expires_at);
        PGresult *r;
        int err = store_pg_exec(x, PG_IDEM_RESERVE, &p, &r);
        if (err != OK)
            return err; /* ERR_NOT_FOUND: no such user */
        bool mine = PQntuples(r) == 1;
        PQclear(r);
        if (mine)
            return OK;
        err = idem_get(x, ra->user_id, ra->key, ra->a, ra->existing);
        if (err != ERR_NOT_FOUND)
            return err == OK ? ERR_CONFLICT : err;
    }
    return ERR_CONFLICT;
}

int
store_pg_idem_reserve(struct store *s, struct store_idem_reservation *r)
{
    return store_pg_run(STORE(s), PG_WRITE, r->user_id, op_idem_reserve, r);
}

static int
op_idem_complete(struct pgx *x, void *arg)
{
    struct store_idem_response *ca = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ca->user_id);
    pg_p_str(&p, ca->key);
    pg_p_int(&p, ca->status);
    pg_p_str(&p, ca->headers);
    pg_p_bytes(&p, ca->body, ca->body_len);
    int64_t changes;
    int err = store_pg_exec_changes(x, PG_IDEM_COMPLETE, &p, &changes);
    return err == OK && changes == 0 ? ERR_NOT_FOUND : err;
}

int
store_pg_idem_complete(struct store *s, struct store_idem_response *r)
{
    return store_pg_run(STORE(s), PG_WRITE, r->user_id, op_idem_complete, r);
}

static int
op_idem_release(struct pgx *x, void *arg)
{
    struct store_idem_response *ca = arg;
    struct pg_params p = {0};
    pg_p_i64(&p, ca->user_id);
    pg_p_str(&p, ca->key);
    return store_pg_exec_changes(x, PG_IDEM_DELETE, &p, NULL);
}

int
store_pg_idem_release(struct store *s, int64_t user_id, const char *key)
{
    struct store_idem_response ca = {user_id, key, 0, NULL, NULL, 0};
    return store_pg_run(STORE(s), PG_WRITE, user_id, op_idem_release, &ca);
}

struct idem_get_arg {
    int64_t user_id;
    const char *key;
    struct arena *a;
    struct store_idem *out;
};

static int
op_idem_get(struct pgx *x, void *arg)
{
    struct idem_get_arg *ga = arg;
    return idem_get(x, ga->user_id, ga->key, ga->a, ga->out);
}

int
store_pg_idem_get(struct store *s, int64_t user_id, const char *key, struct arena *a, struct store_idem *out)
{
    struct idem_get_arg ga = {user_id, key, a, out};
    return store_pg_run(STORE(s), PG_READ, 0, op_idem_get, &ga);
}

int
store_pg_idem_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    return store_pg_purge(s, PG_IDEM_PURGE, before, max, purged);
}
