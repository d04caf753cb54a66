/* Internals of the PostgreSQL backend, shared by its files: the statement
 * table, connection pools (one per server: the primary and each replica),
 * the call context that carries a connection and a deadline, and small
 * helpers for parameters and result columns. Only src/store/pg/ includes
 * this. */
#ifndef PACE_STORE_PG_INT_H
#define PACE_STORE_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/backend.h"
#include "store/rows.h"
#include "store/tasklist.h"

struct arena;
struct buf;
struct ticker;

/* Every statement the backend prepares, by number (SQL in sql.c). */
enum pg_stmt {
    PG_PING,
    PG_MIGRATIONS_EXIST,
    PG_MIGRATIONS_VERSION,
    PG_MIGRATION_RECORD,

    PG_USER_INSERT,
    PG_USER_GET,
    PG_USER_BY_USERNAME,
    PG_USER_BY_LOGIN,
    PG_USER_UPDATE,
    PG_USER_VERSION,
    PG_USER_SET_PASSWORD,
    PG_USER_LOCK,
    PG_USER_DELETE,
    PG_USER_TOTP_PENDING,
    PG_USER_TOTP_ENABLE,
    PG_USER_TOTP_DISABLE,
    PG_USER_TOTP_STEP,
    PG_USER_VERIFY_EMAIL,
    PG_RECOVERY_INSERT,
    PG_RECOVERY_DELETE_USER,
    PG_RECOVERY_USE,
    PG_RECOVERY_COUNT,
    PG_TOKEN_INSERT,
    PG_TOKEN_GET,
    PG_TOKEN_USE,
    PG_TOKEN_REVOKE_USER,
    PG_TOKEN_PURGE,

    PG_SESSION_INSERT,
    PG_SESSION_INSERT_WITH_TOKEN,
    PG_SESSION_GET,
    PG_SESSION_LIST_ACTIVE,
    PG_SESSION_TOUCH,
    PG_SESSION_REVOKE,
    PG_SESSION_REVOKE_ALL,
    PG_SESSION_REVOKED_SINCE,
    PG_SESSION_PURGE,
    PG_REVOCATION_INSERT_USER,
    PG_REVOCATION_PURGE,
    PG_REFRESH_INSERT,
    PG_REFRESH_GET,
    PG_REFRESH_ROTATE,
    PG_REFRESH_USED_AT,
    PG_REFRESH_PURGE,

    PG_TASK_INSERT,
    PG_TASK_GET,
    PG_TASK_VERSION,
    PG_TASK_UPDATE,
    PG_TASK_DELETE,

    PG_PROFILE_GET,
    PG_PROFILE_UPSERT,
    PG_PROFILE_UPDATE_IF,

    PG_PLAN_INSERT,
    PG_PLAN_GET,
    PG_PLAN_LIST,
    PG_PLAN_SET_STATE,
    PG_PLAN_STATE,
    PG_PLAN_DELETE,

    PG_JOB_INSERT,
    PG_JOB_BY_UNIQUE,
    PG_JOB_GET,
    PG_JOB_RECLAIM,
    PG_JOB_CLAIM,
    PG_JOB_RENEW,
    PG_JOB_COMPLETE,
    PG_JOB_FAIL,
    PG_JOB_RELEASE,
    PG_JOB_COUNTS,
    PG_JOB_PURGE,

    PG_IDEM_RESERVE,
    PG_IDEM_GET,
    PG_IDEM_COMPLETE,
    PG_IDEM_DELETE,
    PG_IDEM_PURGE,

    PG_STMT_COUNT
};

/* types: one letter per parameter $1..$n: l bigint, i integer, t text,
 * b bytea, d double precision, B boolean. Declared types let a statement
 * leave parameters unused and spare the SQL its casts. */
struct pg_stmt_def {
    const char *name;
    const char *types;
    const char *sql;
};

extern const struct pg_stmt_def store_pg_stmts[PG_STMT_COUNT];

/* The declared types of the task-list parameters (see store/tasklist.h). */
extern const char store_pg_task_list_types[];

/* Parameters of one call, in text format except bytea (binary). */
enum { PG_MAX_PARAMS = 20 };

struct pg_params {
    int n;
    const char *values[PG_MAX_PARAMS];
    int lengths[PG_MAX_PARAMS];
    int formats[PG_MAX_PARAMS];
    char text[PG_MAX_PARAMS][32];
};

void pg_p_i64(struct pg_params *p, int64_t v);
void pg_p_i64_or_null(struct pg_params *p, int64_t v); /* 0 is NULL */
void pg_p_int(struct pg_params *p, int v);
void pg_p_double(struct pg_params *p, double v);
void pg_p_bool(struct pg_params *p, bool v);
void pg_p_str(struct pg_params *p, const char *s);             /* NULL is NULL; borrowed */
void pg_p_bytes(struct pg_params *p, const void *b, size_t n); /* NULL is NULL; borrowed */
/* Adds params[0..n) (see store/tasklist.h). */
void pg_p_params(struct pg_params *p, const struct store_param *params, int n);

/* Result columns (text format). NULL reads as NULL / 0. */
extern const struct store_row_ops store_pg_row_ops;
/* Row i of result r, for the decoders of store/rows.h. */
#define PG_ROW(r, i) (&(struct store_row){&store_pg_row_ops, (r), (i)})
int64_t pg_col_i64(const PGresult *r, int row, int col);
int pg_col_int(const PGresult *r, int row, int col);
bool pg_col_bool(const PGresult *r, int row, int col);
/* Rows changed by an INSERT/UPDATE/DELETE without RETURNING. */
int64_t pg_changes(const PGresult *r);

struct pg_store;
struct pg_pool;

/* One connection and which statements it has prepared. */
struct pg_conn {
    PGconn *pg;
    struct pg_pool *pool;
    bool prepared[PG_STMT_COUNT];
    bool tl_prepared[STORE_TASK_SORT_COUNT][STORE_TASK_FILTER_COMBOS];
    bool broken;       /* unknown protocol state: closed on release */
    int64_t opened_at; /* monotonic ms */
    struct pg_conn *next;
};

enum { PG_WAIT_BUCKETS = 8 };

/* The connections to one server. */
struct pg_pool {
    struct pg_store *st;
    char label[32];  /* "primary", "replica1", ... (metrics and logs) */
    const char **kw; /* connection keywords and values, NULL-terminated (owned) */
    const char **vals;
    bool replica;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pg_conn *idle;
    int size;       /* at most this many connections */
    int min;        /* the keeper keeps this many open (0: on demand only) */
    int open;       /* idle + busy + connecting */
    int busy;       /* handed out or connecting */
    int connecting; /* connection attempts in flight (at most PG_CONNECTING_MAX) */
    int waiting;    /* callers waiting for a connection */
    uint64_t wait_buckets[PG_WAIT_BUCKETS + 1];
    uint64_t wait_count;
    uint64_t wait_us;

    struct ticker *keeper; /* store_pg_pool_keep; NULL: none */
    bool stopping;         /* under mu: the keeper stops filling */

    _Atomic int64_t down_until; /* replicas: skipped until this monotonic ms */
    _Atomic int64_t lost_at;    /* when a connection last broke during a call */
    _Atomic int loop_held;      /* connections the event loops keep (aread.c) */
    _Atomic int64_t last_log;   /* rate limit for "unavailable" warnings */
    _Atomic uint64_t queries;
    _Atomic uint64_t errors;
    _Atomic uint64_t timeouts;
    _Atomic uint64_t connects;
    _Atomic uint64_t connect_failures;
};

/* Read-your-writes: when each user last wrote, in a small set-associative
 * map. A set that must drop an entry still inside the window remembers
 * until when, and sends every user of that set to the primary till then. */
enum { RYW_SETS = 1024, RYW_WAYS = 4, RYW_LOCKS = 64 };

struct ryw_entry {
    int64_t user_id;
    int64_t at; /* monotonic ms */
};

struct ryw_set {
    struct ryw_entry e[RYW_WAYS];
    int64_t overflow_until;
};

struct pg_store {
    struct store base;
    struct pg_pool *primary;
    struct pg_pool **replicas;
    int nreplicas;
    _Atomic unsigned next_replica;
    int connect_timeout_ms;
    int statement_timeout_ms;
    int ryw_ms;
    /* PACE_DB_PREPARED_STATEMENTS=off: every statement goes out unnamed,
     * parsed with its parameters in one message group, and connections
     * carry no session settings (see "Through PgBouncer" in
     * docs/internals/postgres.md). */
    bool unnamed;
    struct store_ryw_shared ryw_shared; /* note NULL: this instance's window only */
    pthread_mutex_t ryw_mu[RYW_LOCKS];
    struct ryw_set *ryw;
    const struct loop_io *loop_io; /* NULL: no loop connections */
};

enum {
    PG_REPLICA_RETRY_MS = 5000,     /* a failed replica is skipped this long */
    PG_MIGRATE_TIMEOUT_MS = 600000, /* one migration may take this long */
    PG_CONNECTING_MAX = 4,          /* connection attempts in flight per pool */
    PG_KEEP_INTERVAL_MS = 1000,     /* the keeper checks its pool this often */
    PG_READ_RETRIES = 3             /* reads retried after a reused connection turned out closed */
};

/* Which server a call may use. */
enum pg_mode {
    PG_READ,        /* the primary */
    PG_READ_LAGGED, /* a replica unless the user wrote lately (or none is up) */
    PG_WRITE        /* the primary; the user's later reads go to it for a while */
};

/* One store call: its connection and its deadline. */
struct pgx {
    struct pg_store *st;
    struct pg_conn *c;
    int64_t deadline;    /* monotonic ms */
    bool conn_failed;    /* the connection broke or the deadline passed */
    bool reused;         /* the connection came from the idle list */
    int64_t ryw_user;    /* PG_WRITE: the user whose reads go to the primary */
    char constraint[64]; /* the unique index an ERR_CONFLICT violated */
};

/* A store call's body: runs its statements on x; returns OK or ERR_*. */
typedef int pg_fn(struct pgx *x, void *arg);

/* Runs fn with a connection chosen by mode, within the statement timeout.
 * PG_READ_LAGGED falls back to the primary when a replica fails. */
int store_pg_run(struct pg_store *st, enum pg_mode mode, int64_t user_id, pg_fn *fn, void *arg);
/* As store_pg_run on the primary, with fn inside BEGIN ... COMMIT
 * (ROLLBACK when fn fails). */
int store_pg_run_tx(struct pg_store *st, int64_t user_id, pg_fn *fn, void *arg);
/* As store_pg_run on the primary with an explicit time budget. */
int store_pg_run_for(struct pg_store *st, int timeout_ms, pg_fn *fn, void *arg);

/* Runs prepared statement id; on OK *res holds its result (PQclear it).
 * Maps failures to ERR_* (and logs the unexpected ones). */
int store_pg_exec(struct pgx *x, enum pg_stmt id, const struct pg_params *p, PGresult **res);
/* Runs statement id and checks it changed rows: *changes (may be NULL). */
int store_pg_exec_changes(struct pgx *x, enum pg_stmt id, const struct pg_params *p, int64_t *changes);
int store_pg_exec_task_list(struct pgx *x, enum store_task_sort sort, unsigned filters,
                            const struct pg_params *p, PGresult **res);
/* Runs SQL text without parameters (BEGIN, SET, a migration: several
 * statements allowed); res may be NULL. */
int store_pg_exec_sql(struct pgx *x, const char *sql, PGresult **res);
/* Runs one statement of SQL text (a constant: never built from values)
 * with parameters p of the declared types, unnamed, not prepared: for
 * statements too rare to take a slot of every connection. */
int store_pg_exec_text(struct pgx *x, const char *what, const char *sql, const char *types,
                       const struct pg_params *p, PGresult **res);

/* One connection (conn.c). */
/* Polls fd for events until deadline (monotonic ms): OK with *revents
 * set, 0 once the deadline passed; ERR_UNAVAILABLE when poll fails. */
int store_pg_poll_ms(int fd, short events, int64_t deadline, short *revents);
/* Connects to p's server within the deadline, without blocking past it. */
int store_pg_conn_open(struct pg_pool *p, int64_t deadline, struct pg_conn **out);
void store_pg_conn_close(struct pg_conn *c);
/* Whether an idle connection can be reused (checked without waiting). */
bool store_pg_conn_alive(struct pg_conn *c);
/* Logs trouble with p's server: one warning per second, the rest at debug. */
void store_pg_log_trouble(struct pg_pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Pools (pool.c). */
/* A connection of p for call x within x->deadline; give it back with
 * store_pg_pool_release. */
int store_pg_pool_acquire(struct pg_pool *p, struct pgx *x);
void store_pg_pool_release(struct pg_pool *p, struct pg_conn *c);
/* Upper bounds of the wait histogram's buckets, in seconds. */
extern const double store_pg_wait_bounds[PG_WAIT_BUCKETS];
int store_pg_pool_new(struct pg_store *st, const char *url, const char *label, bool replica,
                      struct pg_pool **out);
void store_pg_pool_free(struct pg_pool *p);
/* Opens one connection (store_open checks the server this way). */
int store_pg_pool_check(struct pg_pool *p, int timeout_ms);
/* Starts p's keeper: a thread that opens connections (one at a time,
 * within the connect timeout each) until min are open, then every
 * PG_KEEP_INTERVAL_MS drops the idle ones the server closed and opens
 * again up to min. A failed attempt waits for the next round. min is
 * capped at the pool size; 0 starts nothing. store_pg_pool_free stops it
 * (waiting for an attempt in flight). */
void store_pg_pool_keep(struct pg_pool *p, int min);
void store_pg_metrics_render(struct store *s, struct buf *out);

/* Read-your-writes. */
void store_pg_ryw_note(struct pg_store *st, int64_t user_id);
bool store_pg_ryw_recent(struct pg_store *st, int64_t user_id);

/* This call's timestamp: wall-clock ms, never below one handed out before
 * in this process. */
int64_t store_pg_now(void);

/* Backend operations by file, wired into the ops table in pg.c. */
#define PG_OP_DECLARE(op) STORE_OP_DECLARE(store_pg, op)
STORE_BACKEND_OPS(PG_OP_DECLARE)
#undef PG_OP_DECLARE

/* And the backend's own. */

/* A call of one statement with up to three bigint parameters (nparams):
 * store_pg_op_ids runs it and sets changes to the rows it changed. */
struct pg_ids {
    enum pg_stmt stmt;
    int64_t a;
    int64_t b;
    int64_t c;
    int nparams;
    int64_t changes;
};
int store_pg_op_ids(struct pgx *x, void *arg);
/* Runs purge statement id ($1 before, $2 max) as one write. */
int store_pg_purge(struct store *s, enum pg_stmt id, int64_t before, size_t max, size_t *purged);

int store_pg_task_get_async(struct store *s, int64_t user_id, int64_t id, struct arena *a,
                            struct store_task *out, store_done_fn *done, void *arg);
int store_pg_plan_get_async(struct store *s, int64_t user_id, int64_t id, struct arena *a,
                            struct store_plan *out, store_done_fn *done, void *arg);
int store_pg_plan_list_async(struct store *s, const struct store_plan_query *q, struct arena *a,
                             struct store_plan **rows, size_t *n, store_done_fn *done, void *arg);
int store_pg_task_list_async(struct store *s, const struct store_task_query *q, struct arena *a,
                             struct store_task **rows, size_t *n, store_done_fn *done, void *arg);
/* Inserts t on x (inside a call); sets id, created_at, updated_at, version. */
int store_pg_task_insert(struct pgx *x, struct store_task *t, int64_t now);

/* Inserts job on x (inside a call). */
int store_pg_job_insert(struct pgx *x, struct store_job *job, int64_t now);

/* ---- shared with the loop connections (aread.c) ---- */

/* An idle connection of p, checked alive, without waiting or connecting;
 * NULL when there is none. Give it back with store_pg_pool_put. */
struct pg_conn *store_pg_pool_take_idle(struct pg_pool *p);
void store_pg_pool_put(struct pg_pool *p, struct pg_conn *c);
/* Notes that a connection of p broke during a call: the idle ones opened
 * before now are not used again. */
void store_pg_conn_lost(struct pg_pool *p);
/* Asks the server to cancel what pg runs, from another thread. */
void store_pg_cancel(PGconn *pg);
/* OK for a command or rows; else the mapped error (r freed). */
int store_pg_check_result(struct pgx *x, PGresult *r, const char *what);
void store_pg_param_types(const char *types, Oid *out, int *n);
/* A statement as a connection prepares it: stmt is an enum pg_stmt, or
 * PG_STMT_TASK_LIST with sort and filters. Shared by the blocking calls
 * and the loop connections. */
enum { PG_STMT_TASK_LIST = -1, PG_SQL_MAX = 1024 };

struct pg_prep {
    int stmt;
    enum store_task_sort sort;
    unsigned filters;
    bool named;        /* a named prepared statement; false: the unnamed one, sent with each call */
    char name[16];     /* the prepared statement's name ("" when unnamed) */
    const char *what;  /* for logs */
    const char *types; /* parameter types (see struct pg_stmt_def) */
    bool *prepared;    /* the connection's flag for it (named only) */
};
struct pg_prep store_pg_prep(struct pg_conn *c, int stmt, enum store_task_sort sort, unsigned filters);
/* Its SQL (task lists are written into buf): needed to prepare it, or
 * with every call when unnamed. */
const char *store_pg_prep_sql(const struct pg_prep *pp, char buf[PG_SQL_MAX]);
/* Sends pp with parameters p on pg (flushed as far as libpq's mode
 * allows; the caller flushes the rest): Bind and Execute of the
 * named statement, prepared before; unnamed, Parse of its SQL with the
 * same parameter types, then Bind and Execute. Parameter and result
 * formats are the same either way. False when libpq refused. */
bool store_pg_send(PGconn *pg, const struct pg_prep *pp, const struct pg_params *p);

/* One read on a loop connection: a prepared statement (stmt, or a task
 * list when stmt is PG_STMT_TASK_LIST), its parameters, and read() for the
 * rows. Lives in the caller's arena until done has run. */

struct pg_aop {
    struct pg_aop *next;
    int stmt;
    enum store_task_sort sort; /* task lists */
    unsigned filters;
    struct pg_params p;
    int (*read)(void *arg, const PGresult *r); /* OK or ERR_* */
    void *read_arg;
    store_done_fn *done;
    void *done_arg;
    int64_t sent;        /* monotonic ms */
    int steps;           /* results still due: the prepare's, if any, and the query's */
    PGresult *failed;    /* the first error result */
    int failed_step;     /* 0: the prepare's, 1: the query's */
    bool *prepared_flag; /* set when this op prepares its statement */
    bool aborted;        /* skipped: an earlier command of its batch failed */
};

/* Sends op on the calling loop thread's connection: OK (op->done runs
 * later on this thread) or ERR_WOULD_BLOCK (op untouched: use the blocking
 * call). */
int store_pg_aop_submit(struct pg_store *st, struct pg_aop *op);
void store_pg_set_loop_io(struct store *s, const struct loop_io *io);
void store_pg_reads_round_end(struct store *s);
void store_pg_loop_end(struct store *s);

#endif
