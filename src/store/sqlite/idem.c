/* Idempotency keys on SQLite: a reservation is an insert on the writer, so
 * of concurrent requests with one key exactly one owns it; the owner stores
 * the response, which later requests with the same key replay. */
#include <string.h>

#include "store/sqlite/sqlite_int.h"
#include "util/arena.h"
#include "util/err.h"

#define STORE(s) ((struct sqlite_store *)(s))

static int
idem_get(struct conn *c, int64_t user_id, const char *key, struct arena *a, struct store_idem *out)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_IDEM_GET, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    err = store_sqlite_step_row(c, st, "idempotency get");
    if (err == OK)
        err = store_row_idem(SQLITE_STMT_ROW(st), a, out);
    sqlite3_reset(st);
    return err;
}

static int
idem_delete(struct conn *c, int64_t user_id, const char *key, int *changes)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_IDEM_DELETE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    err = store_sqlite_step_done(c, st, "idempotency delete");
    sqlite3_reset(st);
    *changes = err == OK ? sqlite3_changes(c->db) : 0;
    return err;
}

static int
op_idem_reserve(struct conn *c, void *arg)
{
    struct store_idem_reservation *ra = arg;
    int changes;
    int err = idem_get(c, ra->user_id, ra->key, ra->a, ra->existing);
    if (err == OK && ra->existing->expires_at > c->now)
        return ERR_CONFLICT;
    if (err == OK)
        err = idem_delete(c, ra->user_id, ra->key, &changes); /* expired: start over */
    if (err != OK && err != ERR_NOT_FOUND)
        return err;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_IDEM_INSERT, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, ra->user_id);
    sqlite3_bind_text(st, 2, ra->key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, ra->hash, STORE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, c->now);
    sqlite3_bind_int64(st, 5, ra->expires_at);
    err = store_sqlite_step_done(c, st, "idempotency reserve");
    sqlite3_reset(st);
    return err;
}

int
store_sqlite_idem_reserve(struct store *s, struct store_idem_reservation *r)
{
    return store_sqlite_write(STORE(s), op_idem_reserve, r, false);
}

static int
op_idem_complete(struct conn *c, void *arg)
{
    struct store_idem_response *ca = arg;
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_IDEM_COMPLETE, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int64(st, 1, ca->user_id);
    sqlite3_bind_text(st, 2, ca->key, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, ca->status);
    store_sqlite_bind_str(st, 4, ca->headers);
    if (ca->body != NULL)
        sqlite3_bind_blob64(st, 5, ca->body, ca->body_len, SQLITE_STATIC);
    err = store_sqlite_step_done(c, st, "idempotency complete");
    sqlite3_reset(st);
    if (err == OK && sqlite3_changes(c->db) == 0)
        err = ERR_NOT_FOUND;
    return err;
}

int
store_sqlite_idem_complete(struct store *s, struct store_idem_response *r)
{
    return store_sqlite_write(STORE(s), op_idem_complete, r, false);
}

static int
op_idem_release(struct conn *c, void *arg)
{
    struct store_idem_response *ca = arg;
    int changes;
    return idem_delete(c, ca->user_id, ca->key, &changes);
}

int
store_sqlite_idem_release(struct store *s, int64_t user_id, const char *key)
{
    struct store_idem_response ca = {user_id, key, 0, NULL, NULL, 0};
    return store_sqlite_write(STORE(s), op_idem_release, &ca, false);
}

int
store_sqlite_idem_get(struct store *s, int64_t user_id, const char *key, struct arena *a,
                      struct store_idem *out)
{
    struct conn *c;
    int err = store_sqlite_reader(STORE(s), &c);
    if (err != OK)
        return err;
    return idem_get(c, user_id, key, a, out);
}

int
store_sqlite_idem_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    return store_sqlite_purge(s, STMT_IDEM_PURGE, before, max, purged);
}
