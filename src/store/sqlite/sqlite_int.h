/* Internals of the SQLite backend, shared by its files: connections with
 * their prepared statements, the group-commit writer, and small helpers for
 * binding and reading columns. Only src/store/sqlite/ includes this. */
#ifndef PACE_STORE_SQLITE_INT_H
#define PACE_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/backend.h"
#include "store/rows.h"
#include "store/tasklist.h"

struct arena;
struct ticker;

/* Every statement the backend prepares, by number (SQL in sql.c). */
enum stmt {
    STMT_BEGIN,
    STMT_BEGIN_READ,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    STMT_PING,
    STMT_MIGRATIONS_EXIST,
    STMT_MIGRATIONS_VERSION,
    STMT_MIGRATION_RECORD,

    STMT_USER_INSERT,
    STMT_USER_GET,
    STMT_USER_BY_USERNAME,
    STMT_USER_BY_EMAIL,
    STMT_USER_UPDATE,
    STMT_USER_SET_PASSWORD,
    STMT_USER_DELETE,
    STMT_USER_TOTP_PENDING,
    STMT_USER_TOTP_ENABLE,
    STMT_USER_TOTP_DISABLE,
    STMT_USER_TOTP_STEP,
    STMT_USER_VERIFY_EMAIL,
    STMT_RECOVERY_INSERT,
    STMT_RECOVERY_DELETE_USER,
    STMT_RECOVERY_USE,
    STMT_RECOVERY_COUNT,

    STMT_TOKEN_INSERT,
    STMT_TOKEN_GET,
    STMT_TOKEN_USE,
    STMT_TOKEN_REVOKE_USER,
    STMT_TOKEN_PURGE,

    STMT_SESSION_INSERT,
    STMT_SESSION_GET,
    STMT_SESSION_LIST_ACTIVE,
    STMT_SESSION_TOUCH,
    STMT_SESSION_ROTATED,
    STMT_SESSION_REVOKE,
    STMT_SESSION_REVOKE_ALL,
    STMT_SESSION_REVOKED_SINCE,
    STMT_SESSION_PURGE,
    STMT_REVOCATION_INSERT_USER,
    STMT_REVOCATION_PURGE,
    STMT_REFRESH_INSERT,
    STMT_REFRESH_GET,
    STMT_REFRESH_SPEND,
    STMT_REFRESH_PURGE,

    STMT_TASK_INSERT,
    STMT_TASK_GET,
    STMT_TASK_VERSION,
    STMT_TASK_UPDATE,
    STMT_TASK_DELETE,
    STMT_TASK_CLEAR_PLAN,

    STMT_PROFILE_GET,
    STMT_PROFILE_VERSION,
    STMT_PROFILE_UPSERT,

    STMT_PLAN_INSERT,
    STMT_PLAN_GET,
    STMT_PLAN_LIST,
    STMT_PLAN_SET_STATE,
    STMT_PLAN_STATE,
    STMT_PLAN_DELETE,

    STMT_JOB_INSERT,
    STMT_JOB_BY_UNIQUE,
    STMT_JOB_GET,
    STMT_JOB_RECLAIM,
    STMT_JOB_CLAIM,
    STMT_JOB_RENEW,
    STMT_JOB_COMPLETE,
    STMT_JOB_FAIL,
    STMT_JOB_RELEASE,
    STMT_JOB_COUNT,
    STMT_JOB_PURGE,
    STMT_JOB_CANCEL_REF,

    STMT_IDEM_INSERT,
    STMT_IDEM_GET,
    STMT_IDEM_COMPLETE,
    STMT_IDEM_DELETE,
    STMT_IDEM_PURGE,

    STMT_COUNT
};

struct stmt_def {
    const char *name;
    const char *sql;
};

extern const struct stmt_def store_sqlite_stmts[STMT_COUNT];

struct sqlite_store;

/* One connection and its statements; used by one thread at a time. */
struct conn {
    sqlite3 *db;
    struct sqlite_store *st;
    sqlite3_stmt *stmts[STMT_COUNT];
    sqlite3_stmt *task_lists[STORE_TASK_SORT_COUNT][STORE_TASK_FILTER_COMBOS];
    int64_t deadline; /* monotonic ms after which queries are interrupted; 0: none */
    int64_t now;      /* writer only: this operation's timestamp */
    bool rounds;      /* a reader of an event loop: holds its snapshot for a round */
    uint64_t gen;     /* st->commits when its held snapshot was begun */
    struct conn *next;
};

struct wop;

struct sqlite_store {
    struct store base;
    char *path;

    /* Read connections: one per thread, through a thread-specific key. */
    pthread_key_t key;
    pthread_mutex_t conns_mu;
    struct conn *conns;

    /* The writer: one thread, one connection, a bounded queue. */
    struct conn *wconn;
    pthread_t writer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct wop *head;
    struct wop *tail;
    size_t queued;
    bool stop;
    int64_t last_now;
    _Atomic int64_t last_overload_log;
    _Atomic uint64_t commits; /* bumped by the writer after each commit, before it wakes anyone */

    /* The checkpointer: PASSIVE checkpoints off the request path. */
    struct conn *cconn;
    struct ticker *checkpointer; /* poked by the WAL hook when the WAL has grown */
};

enum {
    WRITE_QUEUE_MAX = 8192, /* queued writes beyond this are ERR_OVERLOADED */
    WRITE_BATCH_MAX = 2048, /* writes per transaction at most */
    CHECKPOINT_FRAMES = 2000,
    CHECKPOINT_EVERY_MS = 1000,
    READ_BUSY_MS = 2000,
    WRITE_BUSY_MS = 5000
};
#define SPACE_RESERVE_BYTES (1024 * 1024) /* less free on the database's filesystem: /ready is 503 */

/* A write operation: runs on the writer's connection inside a SAVEPOINT of
 * the batch transaction; returns OK or ERR_* (non-OK rolls it back). */
typedef int store_sqlite_op_fn(struct conn *c, void *arg);

/* Queues fn(arg) for the writer and waits until its batch committed (or
 * failed). alone: run in a transaction of its own (migrations). */
int store_sqlite_write(struct sqlite_store *st, store_sqlite_op_fn *fn, void *arg, bool alone);
/* Queues fn(arg) like store_sqlite_write without waiting: the writer calls
 * done(done_arg, result) after the batch holding it committed (or failed).
 * OK, or ERR_UNAVAILABLE / ERR_OVERLOADED / ERR_NOMEM (then done is not called). */
int store_sqlite_write_async(struct sqlite_store *st, store_sqlite_op_fn *fn, void *arg, store_done_fn *done,
                             void *done_arg);
/* Starts and stops the writer and checkpointer threads. */
int store_sqlite_writer_start(struct sqlite_store *st);
void store_sqlite_writer_stop(struct sqlite_store *st);

/* Opens a connection to st->path; writer: may create the file. */
int store_sqlite_conn_open(struct sqlite_store *st, bool writer, struct conn **out);
void store_sqlite_conn_close(struct conn *c);
/* The calling thread's read connection, opened on first use. */
int store_sqlite_reader(struct sqlite_store *st, struct conn **out);

/* The prepared statement id on c (prepared on first use), reset and with
 * no bindings; NULL with *err set on failure (logged). */
sqlite3_stmt *store_sqlite_stmt(struct conn *c, enum stmt id, int *err);
sqlite3_stmt *store_sqlite_task_list_stmt(struct conn *c, enum store_task_sort sort, unsigned filters,
                                          int *err);
/* Maps a SQLite result code to ERR_*; logs the unexpected ones with what. */
int store_sqlite_error(struct conn *c, int rc, const char *what);
/* Steps st once: OK with a row, ERR_NOT_FOUND when done, else an error. */
int store_sqlite_step_row(struct conn *c, sqlite3_stmt *st, const char *what);
/* Steps st to the end (writes, RETURNING-less); OK or an error. */
int store_sqlite_step_done(struct conn *c, sqlite3_stmt *st, const char *what);
/* Runs a statement without results by id. */
int store_sqlite_exec(struct conn *c, enum stmt id);

/* Runs statement id binding ?1 a and ?2 b; *changes (may be NULL) rows changed. */
int store_sqlite_exec2(struct conn *c, enum stmt id, int64_t a, int64_t b, int *changes);
/* Revokes the user's sessions except keep on c (inside a write op); *n
 * (may be NULL) gets how many. */
int store_sqlite_revoke_all(struct conn *c, int64_t user_id, int64_t keep, size_t *n);
/* Makes the user's unused tokens of purpose stop working, on c (inside a
 * write op). */
int store_sqlite_token_revoke(struct conn *c, int64_t user_id, enum store_token_purpose purpose);
/* Runs the purge statement id (?1 before, ?2 max) as one write. */
int store_sqlite_purge(struct store *s, enum stmt id, int64_t before, size_t max, size_t *purged);

/* Column and bind helpers. */
extern const struct store_row_ops store_sqlite_row_ops;
/* The current row of statement st, for the decoders of store/rows.h. */
#define SQLITE_STMT_ROW(st) (&(struct store_row){&store_sqlite_row_ops, (st), 0})
int64_t store_sqlite_col_i64(sqlite3_stmt *st, int i);
void store_sqlite_bind_str(sqlite3_stmt *st, int i, const char *s);
void store_sqlite_bind_i64_or_null(sqlite3_stmt *st, int i, int64_t v);
/* Binds params[0..n) to ?1..?n, as far as st has parameters. */
void store_sqlite_bind_params(sqlite3_stmt *st, const struct store_param *params, int n);

/* Backend operations by file, wired into the ops table in sqlite.c. */
#define SQLITE_OP_DECLARE(op) STORE_OP_DECLARE(store_sqlite, op)
STORE_BACKEND_OPS(SQLITE_OP_DECLARE)
#undef SQLITE_OP_DECLARE

/* And the backend's own. */

void store_sqlite_reads_round_end(struct store *s);
int store_sqlite_task_create_async(struct store *s, struct store_task *t, store_done_fn *done, void *arg);
/* Inserts t on c (inside a write op); sets id, created_at, updated_at. */
int store_sqlite_task_insert(struct conn *c, struct store_task *t);

/* Inserts job on c (inside a write op). */
int store_sqlite_job_insert(struct conn *c, struct store_job *job);

#endif
