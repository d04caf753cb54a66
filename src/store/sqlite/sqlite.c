/* The SQLite backend's life cycle: opening connections (WAL, foreign keys,
 * mmap, synchronous=FULL, no auto-checkpoint), per-thread read connections,
 * statements prepared once per connection, error mapping, migrations, ping,
 * online backup and the query-plan report. Operations live in the other
 * files of this folder; writes go through the group-commit writer. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store/sqlite/sqlite_int.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/embedded.h"
#include "util/err.h"
#include "util/log.h"

/* ---- errors and statements ---- */

int
store_sqlite_error(struct conn *c, int rc, const char *what)
{
    const char *msg = c != NULL && c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return OK;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return ERR_CONFLICT;
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return ERR_NOT_FOUND; /* the row it belongs to is gone */
        log_error("store", "%s: constraint failed: %s", what, msg);
        return ERR_INVALID;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        log_warn("store", "%s: database is locked: %s", what, msg);
        return ERR_UNAVAILABLE;
    case SQLITE_INTERRUPT:
        log_warn("store", "%s: deadline passed", what);
        return ERR_UNAVAILABLE;
    case SQLITE_FULL:
        if (c != NULL && c->st != NULL)
            store_note_write_full(&c->st->base); /* /ready: cannot take writes */
        log_error("store", "%s: database unavailable: %s (%d)", what, msg, rc);
        return ERR_UNAVAILABLE;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
    case SQLITE_AUTH:
        log_error("store", "%s: database unavailable: %s (%d)", what, msg, rc);
        return ERR_UNAVAILABLE;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        log_error("store", "%s: database is corrupt: %s", what, msg);
        return ERR_CORRUPT;
    case SQLITE_NOMEM:
        log_error("store", "%s: out of memory", what);
        return ERR_NOMEM;
    case SQLITE_TOOBIG:
        return ERR_TOO_LARGE;
    default:
        log_error("store", "%s: %s (%d)", what, msg, rc);
        return ERR_INTERNAL;
    }
}

static sqlite3_stmt *
prepare(struct conn *c, sqlite3_stmt **slot, const char *name, const char *sql, int *err)
{
    if (*slot != NULL) {
        sqlite3_reset(*slot);
        sqlite3_clear_bindings(*slot);
        return *slot;
    }
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
    if (rc != SQLITE_OK) {
        *err = store_sqlite_error(c, rc, name);
        if (*err == OK || *err == ERR_CONFLICT || *err == ERR_NOT_FOUND)
            *err = ERR_INTERNAL;
        sqlite3_finalize(*slot);
        *slot = NULL;
        return NULL;
    }
    return *slot;
}

sqlite3_stmt *
store_sqlite_stmt(struct conn *c, enum stmt id, int *err)
{
    return prepare(c, &c->stmts[id], store_sqlite_stmts[id].name, store_sqlite_stmts[id].sql, err);
}

sqlite3_stmt *
store_sqlite_task_list_stmt(struct conn *c, enum store_task_sort sort, unsigned filters, int *err)
{
    char sql[1024];
    if (c->task_lists[sort][filters] == NULL)
        store_task_list_sql(STORE_PLACEHOLDER_QUESTION, sort, filters, sql, sizeof(sql));
    return prepare(c, &c->task_lists[sort][filters], "task_list", sql, err);
}

int
store_sqlite_step_row(struct conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return OK;
    if (rc == SQLITE_DONE)
        return ERR_NOT_FOUND;
    return store_sqlite_error(c, rc, what);
}

int
store_sqlite_step_done(struct conn *c, sqlite3_stmt *st, const char *what)
{
    int rc;
    do {
        rc = sqlite3_step(st);
    } while (rc == SQLITE_ROW);
    if (rc == SQLITE_DONE)
        return OK;
    return store_sqlite_error(c, rc, what);
}

int
store_sqlite_exec(struct conn *c, enum stmt id)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, id, &err);
    if (st == NULL)
        return err;
    err = store_sqlite_step_done(c, st, store_sqlite_stmts[id].name);
    sqlite3_reset(st);
    return err;
}

int
store_sqlite_exec2(struct conn *c, enum stmt id, int64_t a, int64_t b, int *changes)
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
    int err = store_sqlite_exec2(c, pa->id, pa->before, (int64_t)pa->max, &changes);
    if (err == OK)
        *pa->purged = (size_t)changes;
    return err;
}

int
store_sqlite_purge(struct store *s, enum stmt id, int64_t before, size_t max, size_t *purged)
{
    struct purge_arg pa = {id, before, max, purged};
    *purged = 0;
    return store_sqlite_write((struct sqlite_store *)s, op_purge, &pa, false);
}

/* ---- connections ---- */

static int
progress(void *arg)
{
    struct conn *c = arg;
    return c->deadline != 0 && clock_mono_ms() > c->deadline;
}

enum conn_kind { CONN_READ, CONN_WRITE, CONN_CHECKPOINT };

static int
conn_open(struct sqlite_store *st, enum conn_kind kind, struct conn **out)
{
    static const char pragmas[] = "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; "
                                  "PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY; "
                                  "PRAGMA cache_size = -16000; PRAGMA journal_size_limit = 67108864;";
    int err = OK;
    struct conn *c = xcalloc(1, sizeof(*c));
    c->st = st;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (kind == CONN_WRITE ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(st->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        log_error("store", "cannot open database %s: %s", st->path, sqlite3_errstr(rc));
        err = rc == SQLITE_NOMEM ? ERR_NOMEM : ERR_UNAVAILABLE;
        goto out;
    }
    sqlite3_extended_result_codes(c->db, 1);
    rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
    if (rc == SQLITE_OK && kind == CONN_READ)
        rc = sqlite3_exec(c->db, "PRAGMA query_only = ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        err = store_sqlite_error(c, rc, "open");
        goto out;
    }
    sqlite3_busy_timeout(c->db, kind == CONN_READ ? READ_BUSY_MS : WRITE_BUSY_MS);
    sqlite3_wal_autocheckpoint(c->db, 0); /* the checkpointer thread does it */
    sqlite3_progress_handler(c->db, 1000, progress, c);
out:
    if (err != OK) {
        sqlite3_close_v2(c->db);
        free(c);
        c = NULL;
    }
    *out = c;
    return err;
}

void
store_sqlite_conn_close(struct conn *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    for (int s = 0; s < STORE_TASK_SORT_COUNT; s++)
        for (int f = 0; f < STORE_TASK_FILTER_COMBOS; f++)
            sqlite3_finalize(c->task_lists[s][f]);
    sqlite3_close_v2(c->db);
    free(c);
}

int
store_sqlite_conn_open(struct sqlite_store *st, bool writer, struct conn **out)
{
    return conn_open(st, writer ? CONN_WRITE : CONN_READ, out);
}

/* Thread exit: the thread's read connection goes with it. */
static void
reader_destroy(void *arg)
{
    struct conn *c = arg;
    struct sqlite_store *st = c->st;
    pthread_mutex_lock(&st->conns_mu);
    for (struct conn **p = &st->conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&st->conns_mu);
    store_sqlite_conn_close(c);
}

/* An event loop's reader: one read transaction for all reads of a round,
 * begun again when the writer has committed since it began (the commit
 * counter moves before any caller of that commit is woken, so a reply sent
 * after an acknowledged write reads it). Ended by store_sqlite_reads_round_end. */
static int
hold_snapshot(struct conn *c)
{
    uint64_t gen = atomic_load_explicit(&c->st->commits, memory_order_acquire);
    if (!sqlite3_get_autocommit(c->db)) {
        if (c->gen == gen)
            return OK;
        int err = store_sqlite_exec(c, STMT_COMMIT);
        if (err != OK)
            return err;
    }
    c->gen = gen;
    return store_sqlite_exec(c, STMT_BEGIN_READ);
}

void
store_sqlite_reads_round_end(struct store *s)
{
    struct sqlite_store *st = (struct sqlite_store *)s;
    /* Not through store_sqlite_reader once c->rounds is set: that would
     * begin a snapshot only to end it. */
    struct conn *c = pthread_getspecific(st->key);
    if (c == NULL && store_sqlite_reader(st, &c) != OK)
        return;
    c->rounds = true;
    if (!sqlite3_get_autocommit(c->db))
        (void)store_sqlite_exec(c, STMT_COMMIT);
}

int
store_sqlite_reader(struct sqlite_store *st, struct conn **out)
{
    struct conn *c = pthread_getspecific(st->key);
    if (c != NULL) {
        *out = c;
        if (c->rounds)
            return hold_snapshot(c);
        return OK;
    }
    int err = conn_open(st, CONN_READ, &c);
    if (err != OK)
        return err;
    pthread_mutex_lock(&st->conns_mu);
    c->next = st->conns;
    st->conns = c;
    pthread_mutex_unlock(&st->conns_mu);
    pthread_setspecific(st->key, c);
    *out = c;
    return OK;
}

/* ---- migrations ---- */

static int
db_version(struct conn *c, int *version)
{
    int err = OK;
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_MIGRATIONS_EXIST, &err);
    *version = 0;
    if (st == NULL)
        return err;
    err = store_sqlite_step_row(c, st, "schema version");
    int exists = err == OK ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (err != OK || !exists)
        return err;
    st = store_sqlite_stmt(c, STMT_MIGRATIONS_VERSION, &err);
    if (st == NULL)
        return err;
    err = store_sqlite_step_row(c, st, "schema version");
    if (err == OK)
        *version = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return err;
}

static int
sqlite_schema_version(struct store *s, int *version)
{
    struct conn *c;
    int err = store_sqlite_reader((struct sqlite_store *)s, &c);
    return err != OK ? err : db_version(c, version);
}

struct migrate_arg {
    const struct store_migration *m;
    int code_version;
    bool applied;
};

/* One migration, in a transaction of its own. Re-reads the version first:
 * another process may have migrated meanwhile. */
static int
op_migrate(struct conn *c, void *arg)
{
    struct migrate_arg *ma = arg;
    char *msg = NULL;
    int version;
    int rc = sqlite3_exec(c->db,
                          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                          "name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_sqlite_error(c, rc, "migrate");
    int err = db_version(c, &version);
    if (err != OK)
        return err;
    if (version > ma->code_version)
        return ERR_PRECONDITION;
    if (version >= ma->m->version)
        return OK;
    rc = sqlite3_exec(c->db, ma->m->sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store", "migration %s failed: %s", ma->m->name, msg != NULL ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        err = store_sqlite_error(NULL, rc, "migrate");
        return err == OK || err == ERR_CONFLICT || err == ERR_NOT_FOUND ? ERR_INTERNAL : err;
    }
    sqlite3_stmt *st = store_sqlite_stmt(c, STMT_MIGRATION_RECORD, &err);
    if (st == NULL)
        return err;
    sqlite3_bind_int(st, 1, ma->m->version);
    sqlite3_bind_text(st, 2, ma->m->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->now);
    err = store_sqlite_step_done(c, st, "migrate");
    sqlite3_reset(st);
    ma->applied = err == OK;
    return err;
}

static int
sqlite_migrate_one(struct store *s, const struct store_migration *m, int code_version, bool *applied)
{
    struct migrate_arg ma = {m, code_version, false};
    int err = store_sqlite_write((struct sqlite_store *)s, op_migrate, &ma, true);
    *applied = err == OK && ma.applied;
    return err;
}

/* ---- ping, backup, query plans ---- */

static int
sqlite_ping(struct store *s, int deadline_ms)
{
    struct sqlite_store *st = (struct sqlite_store *)s;
    struct conn *c;
    int err = store_sqlite_reader(st, &c);
    if (err != OK)
        return err;
    sqlite3_stmt *q = store_sqlite_stmt(c, STMT_PING, &err);
    if (q == NULL)
        return err == ERR_CORRUPT ? err : ERR_UNAVAILABLE;
    c->deadline = clock_mono_ms() + deadline_ms;
    sqlite3_busy_timeout(c->db, deadline_ms);
    err = store_sqlite_step_row(c, q, "ping");
    sqlite3_reset(q);
    sqlite3_busy_timeout(c->db, READ_BUSY_MS);
    c->deadline = 0;
    if (err != OK && err != ERR_CORRUPT)
        err = ERR_UNAVAILABLE;
    return err;
}

/* The database's filesystem has less than SPACE_RESERVE_BYTES free for
 * pace: a write may fail for want of room (/ready says so first). */
static bool
sqlite_space_low(struct store *s)
{
    struct sqlite_store *st = (struct sqlite_store *)s;
    struct statvfs v;
    if (statvfs(st->path, &v) != 0)
        return false; /* not a file (":memory:"): nothing to say */
    return (uint64_t)v.f_bavail * v.f_frsize < SPACE_RESERVE_BYTES;
}

static int
fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ERR_UNAVAILABLE;
    int r = fsync(fd);
    close(fd);
    return r == 0 ? OK : ERR_UNAVAILABLE;
}

static int
sqlite_backup(struct store *s, const char *path)
{
    struct sqlite_store *st = (struct sqlite_store *)s;
    struct conn *src = NULL;
    sqlite3 *dst = NULL;
    char tmp[4096];
    int err = OK;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return ERR_INVALID;
    unlink(tmp);
    err = conn_open(st, CONN_READ, &src);
    if (err != OK)
        goto out;
    int rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        log_error("store", "backup: cannot create %s: %s", tmp, sqlite3_errstr(rc));
        err = ERR_UNAVAILABLE;
        goto out;
    }
    /* One step copies every page inside one read transaction: a consistent
     * snapshot, while the writer goes on appending to the WAL. */
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src->db, "main");
    if (b == NULL) {
        log_error("store", "backup: %s", sqlite3_errmsg(dst));
        err = ERR_UNAVAILABLE;
        goto out;
    }
    rc = sqlite3_backup_step(b, -1);
    int rc2 = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE || rc2 != SQLITE_OK) {
        err = store_sqlite_error(src, rc != SQLITE_DONE ? rc : rc2, "backup");
        if (err == OK)
            err = ERR_UNAVAILABLE;
        goto out;
    }
    /* A standalone file: no -wal beside it is needed to restore it. */
    rc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        log_error("store", "backup: %s", sqlite3_errmsg(dst));
        err = ERR_UNAVAILABLE;
        goto out;
    }
    sqlite3_close_v2(dst);
    dst = NULL;
    if (fsync_path(tmp, false) != OK || rename(tmp, path) != 0) {
        log_error("store", "backup: cannot write %s: %s", path, strerror(errno));
        err = ERR_UNAVAILABLE;
        goto out;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    fsync_path(dir, true);
out:
    if (dst != NULL) {
        sqlite3_close_v2(dst);
        unlink(tmp);
    }
    store_sqlite_conn_close(src);
    return err;
}

/* The plan of one statement as text lines, or an error. */
static int
explain(struct conn *c, struct arena *a, const char *sql, const char **plan)
{
    char *q = arena_printf(a, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, q, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        int err = store_sqlite_error(c, rc, "explain");
        return err == OK ? ERR_INTERNAL : err;
    }
    size_t len = 0, cap = 256;
    char *out = arena_alloc(a, cap);
    out[0] = '\0';
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 3);
        size_t l = line != NULL ? strlen(line) : 0;
        if (len + l + 2 > cap) {
            while (len + l + 2 > cap)
                cap *= 2;
            char *bigger = arena_alloc(a, cap);
            memcpy(bigger, out, len + 1);
            out = bigger;
        }
        if (len > 0)
            out[len++] = '\n';
        memcpy(out + len, line != NULL ? line : "", l);
        len += l;
        out[len] = '\0';
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_sqlite_error(c, rc, "explain");
    *plan = out;
    return OK;
}

static int
sqlite_query_plans(struct store *s, struct arena *a, struct store_query_plan **out, size_t *n)
{
    struct sqlite_store *st = (struct sqlite_store *)s;
    struct conn *c;
    size_t max = STMT_COUNT + STORE_TASK_LIST_VARIANTS;
    struct store_query_plan *rows = arena_alloc(a, max * sizeof(*rows));
    *out = NULL;
    *n = 0;
    int err = store_sqlite_reader(st, &c);
    if (err != OK)
        return err;
    for (int i = 0; i < STMT_COUNT; i++)
        rows[i] = (struct store_query_plan){store_sqlite_stmts[i].name, store_sqlite_stmts[i].sql, NULL};
    store_task_list_variants(STORE_PLACEHOLDER_QUESTION, a, rows + STMT_COUNT);
    for (size_t i = 0; i < max; i++) {
        err = explain(c, a, rows[i].sql, &rows[i].plan);
        if (err != OK)
            return err;
    }
    *out = rows;
    *n = max;
    return OK;
}

/* ---- open and close ---- */

static void sqlite_close(struct store *s);

#define SQLITE_OP_INIT(op) STORE_OP_INIT(store_sqlite, op)

/* The table ends with every operation of STORE_BACKEND_OPS. */
/* clang-format off */
static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .reads_block = false,
    .close = sqlite_close,
    .migrations_dir = "src/store/migrations/sqlite/",
    .schema_version = sqlite_schema_version,
    .migrate_one = sqlite_migrate_one,
    .ping = sqlite_ping,
    .space_low = sqlite_space_low,
    .backup = sqlite_backup,
    .query_plans = sqlite_query_plans,
    .task_create_async = store_sqlite_task_create_async,
    .reads_round_end = store_sqlite_reads_round_end,
    STORE_BACKEND_OPS(SQLITE_OP_INIT)
};
/* clang-format on */

/* Puts the database in WAL mode and reads it once, so that a file that is
 * not a database is found at open, not at the first request. */
static int
check_database(struct conn *c)
{
    sqlite3_stmt *st = NULL;
    int err = OK;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = store_sqlite_error(c, rc, "open");
        goto out;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (mode == NULL || strcmp(mode, "wal") != 0) {
        log_error("store", "cannot put the database in WAL mode (journal mode is %s)", mode ? mode : "?");
        err = ERR_UNAVAILABLE;
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = sqlite3_prepare_v2(c->db, store_sqlite_stmts[STMT_PING].sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        err = store_sqlite_error(c, rc, "open");
out:
    sqlite3_finalize(st);
    if (err == ERR_CONFLICT || err == ERR_NOT_FOUND || err == ERR_INVALID)
        err = ERR_INTERNAL;
    return err;
}

int
store_sqlite_open(const char *path, struct store **out)
{
    struct sqlite_store *st = xcalloc(1, sizeof(*st));
    int err = OK;
    st->base.ops = &sqlite_ops;
    st->path = xstrdup(path);
    pthread_mutex_init(&st->conns_mu, NULL);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    if (pthread_key_create(&st->key, reader_destroy) != 0) {
        log_error("store", "out of thread-specific keys");
        err = ERR_INTERNAL;
        goto fail_key;
    }
    err = conn_open(st, CONN_WRITE, &st->wconn);
    if (err != OK)
        goto fail;
    err = check_database(st->wconn);
    if (err != OK)
        goto fail;
    err = conn_open(st, CONN_CHECKPOINT, &st->cconn);
    if (err != OK)
        goto fail;
    err = store_sqlite_writer_start(st);
    if (err != OK)
        goto fail;
    *out = &st->base;
    return OK;
fail:
    pthread_key_delete(st->key);
fail_key:
    store_sqlite_conn_close(st->cconn);
    store_sqlite_conn_close(st->wconn);
    pthread_mutex_destroy(&st->conns_mu);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st->path);
    free(st);
    return err;
}

static void
sqlite_close(struct store *s)
{
    struct sqlite_store *st = (struct sqlite_store *)s;
    store_sqlite_writer_stop(st);
    /* The caller's own read connection: its key value goes with the key. */
    pthread_key_delete(st->key);
    pthread_mutex_lock(&st->conns_mu);
    struct conn *c = st->conns;
    st->conns = NULL;
    pthread_mutex_unlock(&st->conns_mu);
    while (c != NULL) {
        struct conn *next = c->next;
        store_sqlite_conn_close(c);
        c = next;
    }
    store_sqlite_conn_close(st->cconn);
    store_sqlite_conn_close(st->wconn); /* last one out checkpoints and removes the WAL */
    pthread_mutex_destroy(&st->conns_mu);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st->path);
    free(st);
}
