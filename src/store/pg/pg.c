/* The PostgreSQL backend's life cycle: opening the pools (the primary,
 * checked at once and then kept at its minimum in the background, and the
 * replicas, used when they answer), migrations
 * (one transaction each, under an advisory lock so that instances starting
 * together apply each once), ping, backup (pg_dump's job) and the
 * query-plan report. Operations live in the other files of this folder.
 * Unlike SQLite there is no group commit: every write is its own
 * transaction, committed with synchronous_commit on; PostgreSQL batches
 * the WAL flushes of concurrent commits itself. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg/pg_int.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/embedded.h"
#include "util/err.h"
#include "util/log.h"

/* Any 64-bit number: the advisory lock that serializes migrations. */
static const char MIGRATION_LOCK[] = "SELECT pg_advisory_xact_lock(7361626559122140801)";

/* ---- migrations ---- */

static int
db_version(struct pgx *x, int *version)
{
    PGresult *r;
    *version = 0;
    int err = store_pg_exec(x, PG_MIGRATIONS_EXIST, NULL, &r);
    if (err != OK)
        return err;
    bool exists = PQntuples(r) == 1 && pg_col_bool(r, 0, 0);
    PQclear(r);
    if (!exists)
        return OK;
    err = store_pg_exec(x, PG_MIGRATIONS_VERSION, NULL, &r);
    if (err != OK)
        return err;
    *version = PQntuples(r) == 1 ? pg_col_int(r, 0, 0) : 0;
    PQclear(r);
    return OK;
}

static int
op_schema_version(struct pgx *x, void *arg)
{
    return db_version(x, arg);
}

static int
pg_schema_version(struct store *s, int *version)
{
    return store_pg_run((struct pg_store *)s, PG_READ, 0, op_schema_version, version);
}

struct migrate_arg {
    const struct store_migration *m;
    int code_version;
    bool applied;
};

/* One migration in a transaction of its own, under the advisory lock; the
 * version is read again under the lock (another instance may have
 * migrated meanwhile). No statement timeout: a migration may be long. */
static int
op_migrate(struct pgx *x, void *arg)
{
    struct migrate_arg *ma = arg;
    int version;
    int err = store_pg_exec_sql(x, "BEGIN", NULL);
    if (err == OK)
        err = store_pg_exec_sql(x, "SET LOCAL statement_timeout = 0", NULL);
    if (err == OK)
        err = store_pg_exec_sql(x, MIGRATION_LOCK, NULL);
    if (err == OK)
        err = store_pg_exec_sql(x,
                                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                                "name text NOT NULL, applied_at bigint NOT NULL)",
                                NULL);
    if (err == OK)
        err = db_version(x, &version);
    if (err != OK)
        goto out;
    if (version > ma->code_version) {
        err = ERR_PRECONDITION;
        goto out;
    }
    if (version >= ma->m->version)
        goto out;
    err = store_pg_exec_sql(x, ma->m->sql, NULL);
    if (err != OK) {
        log_error("store", "migration %s failed", ma->m->name);
        if (err == ERR_CONFLICT || err == ERR_NOT_FOUND || err == ERR_INVALID)
            err = ERR_INTERNAL;
        goto out;
    }
    struct pg_params p = {0};
    pg_p_int(&p, ma->m->version);
    pg_p_str(&p, ma->m->name);
    pg_p_i64(&p, store_pg_now());
    err = store_pg_exec_changes(x, PG_MIGRATION_RECORD, &p, NULL);
    if (err == OK)
        ma->applied = true;
out:
    if (err == OK)
        err = store_pg_exec_sql(x, "COMMIT", NULL);
    else if (!x->c->broken && PQtransactionStatus(x->c->pg) != PQTRANS_IDLE)
        store_pg_exec_sql(x, "ROLLBACK", NULL);
    if (err != OK)
        ma->applied = false;
    return err;
}

static int
pg_migrate_one(struct store *s, const struct store_migration *m, int code_version, bool *applied)
{
    struct migrate_arg ma = {m, code_version, false};
    int err = store_pg_run_for((struct pg_store *)s, PG_MIGRATE_TIMEOUT_MS, op_migrate, &ma);
    *applied = err == OK && ma.applied;
    return err;
}

/* ---- ping, backup, query plans ---- */

static int
op_ping(struct pgx *x, void *arg)
{
    (void)arg;
    PGresult *r;
    int err = store_pg_exec(x, PG_PING, NULL, &r);
    if (err == OK)
        PQclear(r);
    return err;
}

static int
pg_ping(struct store *s, int deadline_ms)
{
    struct pg_store *st = (struct pg_store *)s;
    if (deadline_ms > st->statement_timeout_ms)
        deadline_ms = st->statement_timeout_ms;
    int err = store_pg_run_for(st, deadline_ms, op_ping, NULL);
    return err == OK || err == ERR_CORRUPT ? err : ERR_UNAVAILABLE;
}

static int
pg_backup(struct store *s, const char *path)
{
    (void)s;
    log_error("store",
              "pace backup copies SQLite databases only; back up PostgreSQL with pg_dump "
              "(e.g. pg_dump --format=custom --file=%s \"$PACE_DATABASE_URL\") or with the server's own "
              "base backups and WAL archiving",
              path);
    return ERR_INVALID;
}

/* Parameter types of a statement as SQL, for PREPARE. */
static char *
sql_types(struct arena *a, const char *types)
{
    struct buf b;
    buf_init(&b, a, 64);
    for (const char *t = types; *t != '\0'; t++) {
        if (t != types)
            buf_appends(&b, ", ");
        switch (*t) {
        case 'l':
            buf_appends(&b, "bigint");
            break;
        case 'i':
            buf_appends(&b, "integer");
            break;
        case 'b':
            buf_appends(&b, "bytea");
            break;
        case 'd':
            buf_appends(&b, "double precision");
            break;
        case 'B':
            buf_appends(&b, "boolean");
            break;
        default:
            buf_appends(&b, "text");
            break;
        }
    }
    buf_appendc(&b, '\0');
    return b.data;
}

struct plans_arg {
    struct arena *a;
    struct store_query_plan *rows;
    size_t n;
};

/* The generic plan of one statement, as EXPLAIN's lines joined by '\n'. */
static int
explain(struct pgx *x, struct arena *a, const char *sql, const char *types, const char **plan)
{
    size_t np = strlen(types);
    struct buf q;
    buf_init(&q, a, 256);
    if (np > 0)
        buf_printf(&q, "PREPARE q (%s) AS %s", sql_types(a, types), sql);
    else
        buf_printf(&q, "PREPARE q AS %s", sql);
    buf_appendc(&q, '\0');
    int err = store_pg_exec_sql(x, q.data, NULL);
    if (err != OK)
        return err == ERR_UNAVAILABLE ? err : ERR_INTERNAL;
    struct buf e;
    buf_init(&e, a, 128);
    buf_appends(&e, "EXPLAIN EXECUTE q");
    for (size_t i = 0; i < np; i++)
        buf_appends(&e, i == 0 ? "(NULL" : ", NULL");
    if (np > 0)
        buf_appendc(&e, ')');
    buf_appendc(&e, '\0');
    PGresult *r;
    err = store_pg_exec_sql(x, e.data, &r);
    if (err == OK) {
        struct buf out;
        buf_init(&out, a, 256);
        for (int i = 0; i < PQntuples(r); i++) {
            if (i > 0)
                buf_appendc(&out, '\n');
            buf_appends(&out, PQgetvalue(r, i, 0));
        }
        buf_appendc(&out, '\0');
        *plan = out.data;
        PQclear(r);
    }
    if (err == OK)
        err = store_pg_exec_sql(x, "DEALLOCATE q", NULL);
    /* A prepared statement outlives ROLLBACK: when q could not be
     * deallocated (EXPLAIN failed and the transaction is aborted) the
     * session ends with the call, else the next PREPARE q on it fails
     * (through a pooler, another client's, on that server connection;
     * PgBouncer closes a server connection its client leaves mid-
     * transaction). */
    if (err != OK)
        x->c->broken = true;
    return err;
}

/* Plans are explained as generic plans (what a prepared statement runs
 * with any parameters) with sequential scans priced out of reach: on the
 * nearly empty tables of a test PostgreSQL scans everything, so the
 * question is whether an index can serve the query, as in SQLite. */
static int
op_query_plans(struct pgx *x, void *arg)
{
    struct plans_arg *pa = arg;
    int err = store_pg_exec_sql(x, "BEGIN", NULL);
    if (err == OK)
        err = store_pg_exec_sql(
            x,
            "SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan; "
            "SET LOCAL statement_timeout = 0",
            NULL);
    for (int i = 0; i < PG_STMT_COUNT; i++)
        pa->rows[i] = (struct store_query_plan){store_pg_stmts[i].name, store_pg_stmts[i].sql, NULL};
    store_task_list_variants(STORE_PLACEHOLDER_DOLLAR, pa->a, pa->rows + PG_STMT_COUNT);
    pa->n = PG_STMT_COUNT + STORE_TASK_LIST_VARIANTS;
    for (size_t i = 0; err == OK && i < pa->n; i++) {
        const char *types = i < PG_STMT_COUNT ? store_pg_stmts[i].types : store_pg_task_list_types;
        err = explain(x, pa->a, pa->rows[i].sql, types, &pa->rows[i].plan);
    }
    if (!x->c->broken && PQtransactionStatus(x->c->pg) != PQTRANS_IDLE) {
        int err2 = store_pg_exec_sql(x, "ROLLBACK", NULL);
        if (err == OK)
            err = err2;
    }
    return err;
}

static int
pg_query_plans(struct store *s, struct arena *a, struct store_query_plan **out, size_t *n)
{
    struct pg_store *st = (struct pg_store *)s;
    size_t max = PG_STMT_COUNT + STORE_TASK_LIST_VARIANTS;
    struct plans_arg pa = {a, arena_alloc(a, max * sizeof(struct store_query_plan)), 0};
    *out = NULL;
    *n = 0;
    int err = store_pg_run_for(st, 60000, op_query_plans, &pa);
    if (err != OK)
        return err;
    *out = pa.rows;
    *n = pa.n;
    return OK;
}

/* ---- open and close ---- */

static void pg_close(struct store *s);

#define PG_OP_INIT(op) STORE_OP_INIT(store_pg, op)

/* The table ends with every operation of STORE_BACKEND_OPS. */
/* clang-format off */
static const struct store_ops pg_ops = {
    .name = "postgresql",
    .reads_block = true,
    .close = pg_close,
    .migrations_dir = "src/store/migrations/pg/",
    .schema_version = pg_schema_version,
    .migrate_one = pg_migrate_one,
    .ping = pg_ping,
    .backup = pg_backup,
    .query_plans = pg_query_plans,
    .metrics_render = store_pg_metrics_render,
    .reads_round_end = store_pg_reads_round_end,
    .set_loop_io = store_pg_set_loop_io,
    .task_list_async = store_pg_task_list_async,
    .task_get_async = store_pg_task_get_async,
    .plan_list_async = store_pg_plan_list_async,
    .plan_get_async = store_pg_plan_get_async,
    .loop_end = store_pg_loop_end,
    STORE_BACKEND_OPS(PG_OP_INIT)
};
/* clang-format on */

static bool
is_scheme(const char *s, size_t len)
{
    return (len >= 13 && strncmp(s, "postgresql://", 13) == 0) ||
           (len >= 11 && strncmp(s, "postgres://", 11) == 0);
}

/* Splits a list of URLs separated by commas or white space. A comma also
 * separates hosts inside one URL (postgresql://h1,h2/db), so a piece that
 * does not start with a scheme continues the URL before it. Calls fn for
 * each; stops at the first error. */
static int
each_url(const char *list, int (*fn)(void *arg, const char *url), void *arg)
{
    size_t cap = strlen(list != NULL ? list : "") + 1, ul = 0;
    char *url = xmalloc(cap);
    url[0] = '\0';
    int err = OK;
    const char *p = list != NULL ? list : "";
    for (;;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        size_t len = strcspn(p, ", \t\r\n");
        if (len == 0 || is_scheme(p, len)) {
            if (ul > 0)
                err = fn(arg, url);
            ul = 0;
            if (len == 0 || err != OK)
                break;
        } else if (ul > 0) {
            url[ul++] = ','; /* fits: the pieces and separators come from list */
        }
        memcpy(url + ul, p, len);
        ul += len;
        url[ul] = '\0';
        p += len;
    }
    free(url);
    return err;
}

static int
add_replica(void *arg, const char *url)
{
    struct pg_store *st = arg;
    char label[32];
    snprintf(label, sizeof(label), "replica%d", st->nreplicas + 1);
    st->replicas = xrealloc(st->replicas, (size_t)(st->nreplicas + 1) * sizeof(*st->replicas));
    int err = store_pg_pool_new(st, url, label, true, &st->replicas[st->nreplicas]);
    if (err != OK)
        return err;
    st->replicas[st->nreplicas]->size = st->primary->size;
    st->nreplicas++;
    return OK;
}

/* The server settings pace's session options set when it may send them. */
struct server_settings {
    char statement_timeout[32];
    char bytea_output[32];
    char synchronous_commit[32];
};

static int
op_server_settings(struct pgx *x, void *arg)
{
    struct server_settings *v = arg;
    PGresult *r;
    int err =
        store_pg_exec_sql(x,
                          "SELECT current_setting('statement_timeout'), current_setting('bytea_output'), "
                          "current_setting('synchronous_commit')",
                          &r);
    if (err != OK)
        return err;
    if (PQntuples(r) == 1 && PQnfields(r) == 3) {
        snprintf(v->statement_timeout, sizeof(v->statement_timeout), "%s", PQgetvalue(r, 0, 0));
        snprintf(v->bytea_output, sizeof(v->bytea_output), "%s", PQgetvalue(r, 0, 1));
        snprintf(v->synchronous_commit, sizeof(v->synchronous_commit), "%s", PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return OK;
}

/* With unnamed statements pace sends no session settings (a pooler would
 * not keep them), so the server's own must be what pace needs: bytea read
 * back as hex (values.c decodes only that) and commits flushed before they
 * are acknowledged; both refuse start-up otherwise. statement_timeout ends
 * a runaway statement on the server when pace's cancel cannot get through:
 * 0 is only warned about (pace still cancels each call at its deadline).
 * ERR_INVALID (logged) or OK; a server that cannot be asked is left to the
 * first requests. */
static int
check_server_settings(struct pg_store *st)
{
    struct server_settings v = {{0}, {0}, {0}};
    if (store_pg_run_for(st, st->connect_timeout_ms, op_server_settings, &v) != OK)
        return OK;
    static const char how[] =
        "set it where every server connection gets it, e.g. ALTER ROLE <pace's role> SET";
    if (strcmp(v.bytea_output, "hex") != 0) {
        log_error(
            "store",
            "PACE_DB_PREPARED_STATEMENTS=off: pace sends no session settings, and the server's bytea_output "
            "is \"%s\"; pace reads only hex: %s bytea_output = 'hex'",
            v.bytea_output, how);
        return ERR_INVALID;
    }
    if (strcmp(v.synchronous_commit, "off") == 0) {
        log_error("store",
                  "PACE_DB_PREPARED_STATEMENTS=off: pace sends no session settings, and the server's "
                  "synchronous_commit is off, so an acknowledged write could be lost: %s synchronous_commit "
                  "= 'on'",
                  how);
        return ERR_INVALID;
    }
    if (strcmp(v.statement_timeout, "0") == 0)
        log_warn("store",
                 "PACE_DB_PREPARED_STATEMENTS=off: pace sends no session settings, and the server's "
                 "statement_timeout is 0; %s statement_timeout = '%dms' (pace still cancels each call after "
                 "%d ms)",
                 how, st->statement_timeout_ms, st->statement_timeout_ms);
    return OK;
}

int
store_pg_open(const char *url, const struct store_opts *o, struct store **out)
{
    struct pg_store *st = xcalloc(1, sizeof(*st));
    st->base.ops = &pg_ops;
    st->connect_timeout_ms = o->connect_timeout_ms;
    st->statement_timeout_ms = o->statement_timeout_ms;
    st->ryw_ms = o->read_your_writes_ms;
    st->unnamed = o->unnamed_statements;
    if (o->ryw_shared != NULL)
        st->ryw_shared = *o->ryw_shared;
    int err = store_pg_pool_new(st, url, "primary", false, &st->primary);
    if (err != OK)
        goto fail;
    st->primary->size = o->pool_size;
    err = each_url(o->replica_urls, add_replica, st);
    if (err != OK)
        goto fail;
    if (st->nreplicas > 0 && st->ryw_ms > 0) {
        st->ryw = xcalloc(RYW_SETS, sizeof(*st->ryw));
        for (int i = 0; i < RYW_LOCKS; i++)
            pthread_mutex_init(&st->ryw_mu[i], NULL);
    }
    /* The primary must answer now: a wrong URL or password is found at
     * start-up, not at the first request. */
    err = store_pg_pool_check(st->primary, st->connect_timeout_ms);
    if (err != OK) {
        log_error("store", "cannot connect to the PostgreSQL primary");
        goto fail;
    }
    if (st->unnamed && (err = check_server_settings(st)) != OK)
        goto fail;
    /* The rest of the primary's minimum opens in the background, while
     * start-up goes on: a burst of requests right after start finds
     * connections ready instead of connecting all at once. */
    store_pg_pool_keep(st->primary, o->pool_min);
    for (int i = 0; i < st->nreplicas; i++)
        if (store_pg_pool_check(st->replicas[i], st->connect_timeout_ms) != OK)
            log_warn("store", "%s does not answer: reads go to the primary until it does",
                     st->replicas[i]->label);
    log_info("store",
             "PostgreSQL: pool of %d connections per server (%d to the primary kept open), %d replicas, "
             "deadline %d ms per call, %s statements",
             o->pool_size, st->primary->min, st->nreplicas, st->statement_timeout_ms,
             st->unnamed ? "unnamed" : "prepared");
    *out = &st->base;
    return OK;
fail:
    pg_close(&st->base);
    return err;
}

static void
pg_close(struct store *s)
{
    struct pg_store *st = (struct pg_store *)s;
    store_pg_pool_free(st->primary);
    for (int i = 0; i < st->nreplicas; i++)
        store_pg_pool_free(st->replicas[i]);
    free(st->replicas);
    if (st->ryw != NULL) {
        for (int i = 0; i < RYW_LOCKS; i++)
            pthread_mutex_destroy(&st->ryw_mu[i]);
        free(st->ryw);
    }
    free(st);
}
