/* The storage interface: every operation the API needs, behind one vtable
 * chosen at store_open() from the database URL (sqlite: or postgresql:).
 * Handlers never see SQL; they call these functions.
 *
 * Conventions for every function below:
 * - Returns OK or a negative ERR_* of util/err.h, never a backend code:
 *   ERR_NOT_FOUND (no such row, or it belongs to another user),
 *   ERR_CONFLICT (a unique key is taken), ERR_PRECONDITION (an expected
 *   version did not match), ERR_UNAVAILABLE (database down, locked past
 *   its timeout, read-only, disk full), ERR_CORRUPT, ERR_OVERLOADED (the
 *   write queue is full), ERR_INVALID (bad argument), ERR_INTERNAL (a bug;
 *   logged). The store logs unexpected failures once; callers need not.
 * - Blocking and thread-safe: call from any number of threads at once.
 *   Reads are quick on the embedded backend (event-loop safe there); writes
 *   wait for a durable commit (run them on the blocking pool). On
 *   PostgreSQL every call is a network round trip (blocking pool only) and
 *   ends within statement_timeout_ms: ERR_UNAVAILABLE when the server is
 *   down, frozen or every pooled connection stays busy that long.
 * - PostgreSQL with replicas: the reads marked "may read a replica" below
 *   go to a replica, unless the same user (the user_id argument) wrote
 *   through this process within read_your_writes_ms, or no replica
 *   answers; everything else uses the primary.
 * - Rows are plain structs. Their strings are allocated from the caller's
 *   `struct arena *a` and live as long as it does; input strings are
 *   borrowed for the duration of the call. On error, outputs are undefined.
 * - Timestamps are int64 unix milliseconds (0 = none); dates are
 *   "YYYY-MM-DD" strings. The store stamps created_at/updated_at itself.
 * - `version` starts at 1 and grows by one on every change of the row: use
 *   it for ETags and If-Match (pass it back as expect_version; 0 = any).
 */
#ifndef PACE_STORE_STORE_H
#define PACE_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/loopio.h"

struct arena;
struct buf;
struct store;
struct store_job;

enum {
    STORE_HASH_LEN = 32,    /* SHA-256 */
    STORE_LIST_MAX = 1001,  /* the largest `limit` a list accepts */
    STORE_PURGE_MAX = 10000 /* the largest batch a purge accepts */
};

/* ---- lifecycle ---------------------------------------------------------- */

/* Settings of the connection to a database server; SQLite ignores them. */
struct store_opts {
    int pool_size;            /* PostgreSQL: connections per server per process */
    int pool_min;             /* PostgreSQL: primary connections opened at once and kept (0: on demand) */
    int connect_timeout_ms;   /* PostgreSQL: a connection attempt's deadline */
    int statement_timeout_ms; /* PostgreSQL: every call's deadline (the server's statement_timeout too) */
    const char *replica_urls; /* PostgreSQL: read replicas, URLs separated by commas or spaces; NULL: none */
    int read_your_writes_ms;  /* after a user's write, their reads stay on the primary this long */
    bool unnamed_statements;  /* PostgreSQL: no named prepared statements (transaction-mode poolers) */
    const struct store_ryw_shared *ryw_shared; /* PostgreSQL with replicas: the window across instances */
};

/* Read-your-writes across instances (PostgreSQL with replicas): a shared
 * marker per user, kept by something every instance sees (Redis). Both
 * are called off the event loops. */
struct store_ryw_shared {
    /* The user's write committed (before it is acknowledged): mark it for window_ms. */
    void (*note)(void *arg, int64_t user_id, int window_ms);
    /* 1: the user wrote within the window on some instance; 0: not; -1: unknown (read the primary). */
    int (*recent)(void *arg, int64_t user_id);
    void *arg;
};

/* Defaults for tools and tests (store_open): 16 connections, opened on
 * demand, 5 s to connect, 10 s per call, no replicas, a read-your-writes
 * window of 5 s. `pace serve` passes its settings instead (PACE_DB_*: 1 s
 * and 1.5 s, so that a database that is down or frozen gets a 503 within
 * 2 s; the whole primary pool opened at start-up). */
void store_opts_init(struct store_opts *o);

/* Opens the store named by url: "sqlite:PATH" or "sqlite://PATH" (relative
 * or absolute; "sqlite:///abs/path"), or a PostgreSQL URL
 * ("postgresql://user@host:port/db", "postgres://...", unix sockets as
 * "postgresql:///db?host=/run/postgresql"), with the default options.
 * Anything else, or a URL libpq cannot parse, is ERR_INVALID (logged). A
 * database that cannot be opened (PostgreSQL: the primary does not answer
 * within connect_timeout_ms) is ERR_UNAVAILABLE, one that is not a
 * database ERR_CORRUPT. On OK, *out is the caller's until store_close().
 * Does not migrate: call store_migrate(). */
int store_open(const char *url, struct store **out);
/* As store_open with options o (NULL: the defaults; borrowed). */
int store_open_opts(const char *url, const struct store_opts *o, struct store **out);
/* Finishes queued writes, checkpoints and frees everything. Call after every
 * thread that uses the store has stopped using it. NULL is a no-op. */
void store_close(struct store *s);
/* "sqlite" or "postgresql", for logs and tools. */
const char *store_backend(const struct store *s);

/* What the backend can do, for the server's choice of where a request's
 * store work runs (capabilities, never decided from the backend's name). */
struct store_caps {
    bool reads_block;  /* a read waits for a server (PostgreSQL): not inline on an event loop */
    bool reads_async;  /* the *_async reads can start on an event loop (after store_set_loop_io) */
    bool writes_async; /* store_task_create_async commits without a thread waiting (SQLite) */
};
void store_caps(const struct store *s, struct store_caps *out);
/* Appends the backend's own metrics in Prometheus text format (PostgreSQL:
 * per server, connections open and busy, calls waiting for one, wait
 * time, statements, errors, timeouts; replicas up). Nothing on SQLite. */
void store_metrics_render(struct store *s, struct buf *out);

enum store_schema_state {
    STORE_SCHEMA_CURRENT, /* every migration this build knows is applied */
    STORE_SCHEMA_PENDING, /* older: store_migrate() brings it up to date */
    STORE_SCHEMA_NEWER    /* migrated by a newer pace: refuse to run */
};

struct store_schema {
    enum store_schema_state state;
    int db_version;   /* highest migration applied to the database (0: empty) */
    int code_version; /* highest migration compiled into this binary */
};

/* Fills *out. OK even when the schema is not current: the caller decides. */
int store_schema_status(struct store *s, struct store_schema *out);
/* Applies pending migrations in order, each in its own transaction, and
 * records each in schema_migrations; *applied (may be NULL) gets how many.
 * A database migrated by a newer pace is ERR_PRECONDITION (logged with both
 * versions) and is left untouched. */
int store_migrate(struct store *s, int *applied);
/* Runs a real query; OK or ERR_UNAVAILABLE/ERR_CORRUPT within deadline_ms. */
int store_ping(struct store *s, int deadline_ms);
/* True when the storage cannot take writes for want of space: a write
 * failed that way in the last STORE_WRITE_FULL_MEMORY_MS and none has
 * committed since, or (SQLite) the database's filesystem is below its
 * reserve. Cheap: no query (store/health.c). */
bool store_writes_blocked(struct store *s);
/* Writes a consistent copy of the live database to path (replaced
 * atomically) while others keep reading and writing. ERR_INVALID where the
 * backend has no such thing (PostgreSQL: a log line says to use pg_dump). */
int store_backup(struct store *s, const char *path);

/* One prepared statement and how the database runs it, for the query-plan
 * test: plan is the backend's own text (SQLite: EXPLAIN QUERY PLAN lines
 * joined by '\n'). */
struct store_query_plan {
    const char *name; /* "task_get", "task_list/-created_at/status,priority" */
    const char *sql;
    const char *plan;
};

/* Every statement the backend prepares, with its plan; in arena a. */
int store_query_plans(struct store *s, struct arena *a, struct store_query_plan **out, size_t *n);

/* ---- users -------------------------------------------------------------- */

/* Which unique key an ERR_CONFLICT is about. */
enum store_conflict { STORE_CONFLICT_NONE, STORE_CONFLICT_USERNAME, STORE_CONFLICT_EMAIL };

struct store_user {
    int64_t id;
    const char *username;      /* unique ignoring ASCII case */
    const char *email;         /* unique ignoring ASCII case */
    const char *password_hash; /* never log or render it */
    int64_t created_at;
    int64_t updated_at;
    int64_t version;
    /* Read by every user read; store_user_create ignores them (a new
     * account is unverified, without a second factor). */
    bool email_verified;      /* the current email was confirmed by a link */
    bool totp_enabled;        /* sign-in needs a TOTP code (or a recovery code) */
    const char *totp_secret;  /* sealed (util/seal.h); NULL unless enabled; never render */
    const char *totp_pending; /* sealed secret of an enrolment not yet confirmed; NULL: none */
    int64_t totp_last_step;   /* the last TOTP time step accepted (0: none) */
};

/* Reads username, email, password_hash from *u (borrowed) and sets id,
 * created_at, updated_at and version. ERR_CONFLICT sets *conflict (may be
 * NULL) to the key that is taken (the username when both are). */
int store_user_create(struct store *s, struct store_user *u, enum store_conflict *conflict);
/* May read a replica (user id). */
int store_user_get(struct store *s, int64_t id, struct arena *a, struct store_user *out);
/* login is a username or an email, compared ignoring ASCII case. */
int store_user_get_by_login(struct store *s, const char *login, struct arena *a, struct store_user *out);

/* NULL fields are left as they are. */
struct store_user_patch {
    const char *username;
    const char *email;
};

/* Applies p to user id and returns the new row in *out. expect_version 0
 * means any; a different one is ERR_PRECONDITION. ERR_CONFLICT sets
 * *conflict as store_user_create does. An email that changes (other than
 * in ASCII case) makes the account unverified in the same statement, and
 * the user's unused email-verification tokens stop working. */
int store_user_update(struct store *s, int64_t id, const struct store_user_patch *p, int64_t expect_version,
                      struct arena *a, struct store_user *out, enum store_conflict *conflict);
/* Replaces the password hash (bumps version). With end_sessions, every
 * session of the user except keep_session_id (0: none kept) is revoked in
 * the same transaction (a password change), and the user's unused
 * password-reset and MFA-login tokens stop working; without it nothing else changes
 * (re-hash on login). */
int store_user_set_password(struct store *s, int64_t id, const char *hash, bool end_sessions,
                            int64_t keep_session_id);
/* Deletes the user and everything that belongs to them: sessions, refresh
 * tokens, tasks, profile, plans, their queued jobs, idempotency keys.
 * ERR_NOT_FOUND for an unknown user. In the same transaction, before the
 * sessions go, every session of the user (active, revoked or expired) is
 * recorded in session_revocations as revoked at the time of the
 * deletion: the deleted sessions stay visible to
 * store_session_revoked_since until store_session_purge's cut-off passes
 * that time, and while they are recorded no new session gets one of their
 * ids. */
int store_user_delete(struct store *s, int64_t id);

/* ---- second factor (TOTP) and recovery codes ------------------------------ */

/* Starts (or restarts) an enrolment: keeps the sealed secret as the
 * pending one (NULL clears it). Bumps version. ERR_NOT_FOUND: no user. */
int store_user_totp_pending(struct store *s, int64_t id, const char *sealed);
/* Confirms the enrolment in one transaction: the pending secret becomes
 * the secret, TOTP is on, last_step is step (the code just shown cannot
 * be used again), and the n recovery code hashes replace any the user
 * had. ERR_PRECONDITION when the pending secret is not expect_pending
 * (another enrolment started meanwhile, or none is pending); nothing
 * changes then. The user's unused MFA-login tokens stop working (a
 * second step begun before must not finish after). Bumps version. */
int store_user_totp_enable(struct store *s, int64_t id, const char *expect_pending, int64_t step,
                           const uint8_t (*codes)[STORE_HASH_LEN], size_t n);
/* Turns TOTP off: secret, pending secret and last step cleared, recovery
 * codes deleted, unused MFA-login tokens spent, in one transaction. Bumps
 * version. Idempotent. */
int store_user_totp_disable(struct store *s, int64_t id);
/* Accepts a TOTP time step once: OK when step is greater than the last
 * accepted one (it becomes the last), ERR_CONFLICT when it is not (that
 * code, or a later one, was already used). Of concurrent calls with one
 * step exactly one gets OK. Does not bump version. */
int store_user_totp_use_step(struct store *s, int64_t id, int64_t step);
/* Spends one of the user's recovery codes by its hash: OK once (then
 * *left, may be NULL, gets how many unused ones remain), ERR_NOT_FOUND
 * for an unknown or already used code. Of concurrent calls with one code
 * exactly one gets OK. */
int store_recovery_code_use(struct store *s, int64_t user_id, const uint8_t hash[STORE_HASH_LEN], int64_t now,
                            int *left);
/* How many unused recovery codes the user has. */
int store_recovery_code_count(struct store *s, int64_t user_id, int *n);

/* ---- one-time tokens: email verification, password reset, MFA login ------ */

enum store_token_purpose {
    STORE_TOKEN_VERIFY_EMAIL,
    STORE_TOKEN_PASSWORD_RESET,
    STORE_TOKEN_MFA_LOGIN,
    STORE_TOKEN_PURPOSE_COUNT
};

/* A token given to a user (in a link, or as an mfa_token). Only its
 * SHA-256 is stored. */
struct store_token {
    uint8_t hash[STORE_HASH_LEN];
    int64_t user_id;
    enum store_token_purpose purpose;
    const char *email; /* verify_email: the address it confirms; else NULL */
    int64_t created_at;
    int64_t expires_at;
    int64_t used_at; /* 0: unused */
};

/* Stores tok (reads hash, user_id, purpose, email, expires_at; sets
 * created_at) in one transaction with: when replace, every other unused
 * token of the same user and purpose stops working (a newer reset
 * invalidates the older link); when job is not NULL, job is enqueued
 * (store_job_enqueue's rules; the mail that carries the token).
 * ERR_NOT_FOUND: the user is gone; ERR_CONFLICT: job's unique_key is
 * taken (job->id is then that job's; nothing is stored). */
int store_token_create(struct store *s, struct store_token *tok, bool replace, struct store_job *job);
/* The token with this hash and purpose, if unused and unexpired at now:
 * OK with *out (arena a), else ERR_NOT_FOUND. Spends nothing. */
int store_token_get(struct store *s, const uint8_t hash[STORE_HASH_LEN], enum store_token_purpose purpose,
                    int64_t now, struct arena *a, struct store_token *out);
/* Spends the token (used_at = now): OK exactly once, with *out (may be
 * NULL; arena a) the token as it was; ERR_NOT_FOUND for an unknown, used,
 * expired or other-purpose token. Of concurrent calls one gets OK. */
int store_token_use(struct store *s, const uint8_t hash[STORE_HASH_LEN], enum store_token_purpose purpose,
                    int64_t now, struct arena *a, struct store_token *out);
/* Email verification in one transaction: spends the verify_email token and,
 * when its address is still the user's email (ignoring ASCII case), marks
 * the account verified (bumps version); the user's other unused
 * verification links stop working. *user_id gets the account.
 * ERR_NOT_FOUND for an unknown, used or expired token, or one whose
 * address is no longer the user's (nothing is spent then). */
int store_email_verify(struct store *s, const uint8_t hash[STORE_HASH_LEN], int64_t now, int64_t *user_id);
/* Password reset in one transaction: spends the password_reset token,
 * replaces the password hash (bumps version), revokes every session of
 * the user, and makes the user's other reset and MFA-login tokens stop
 * working. *user_id gets the account. ERR_NOT_FOUND for an unknown, used
 * or expired token (nothing changes then). */
int store_password_reset(struct store *s, const uint8_t hash[STORE_HASH_LEN], int64_t now,
                         const char *password_hash, int64_t *user_id);
/* Makes every unused token of the user and purpose stop working. */
int store_token_revoke_user(struct store *s, int64_t user_id, enum store_token_purpose purpose);
/* Deletes tokens that expired or were used before `before`, at most max. */
int store_token_purge(struct store *s, int64_t before, size_t max, size_t *purged);

/* ---- sessions and refresh tokens ----------------------------------------- */

/* One refresh-token family: a login on one device. */
struct store_session {
    int64_t id;
    int64_t user_id;
    const char *user_agent; /* may be NULL */
    const char *ip;         /* may be NULL */
    int64_t created_at;
    int64_t last_used_at;
    int64_t expires_at; /* slides forward with each rotation */
    int64_t revoked_at; /* 0 = not revoked */
    bool mfa;           /* created by a sign-in that gave a second factor */
};

/* One refresh token. Only its SHA-256 is stored. */
struct store_refresh {
    int64_t id;
    int64_t user_id;
    int64_t session_id;
    int64_t parent_id; /* the token it was rotated from; 0 for the first */
    uint8_t hash[STORE_HASH_LEN];
    int64_t created_at;
    int64_t used_at; /* 0 = not yet rotated */
    int64_t expires_at;
    /* Read-only, filled by lookups: the state of the family. */
    int64_t session_revoked_at; /* 0 = active */
    int64_t session_expires_at;
    int64_t session_created_at; /* store_refresh_get and a rotation's *old only */
};

/* Creates a session (reads user_id, user_agent, ip, expires_at, mfa; sets
 * id, created_at, last_used_at) and its first refresh token (reads hash
 * and expires_at; sets the rest) in one transaction, in which the user's
 * unused password-reset tokens also stop working (a sign-in with the
 * password makes a pending reset moot). ERR_NOT_FOUND when the user no
 * longer exists. */
int store_session_create(struct store *s, struct store_session *sess, struct store_refresh *first);
int store_session_get(struct store *s, int64_t id, struct arena *a, struct store_session *out);
/* The user's sessions that are neither revoked nor expired at now, newest
 * first, at most max; *rows in arena a. */
int store_session_list_active(struct store *s, int64_t user_id, int64_t now, size_t max, struct arena *a,
                              struct store_session **rows, size_t *n);
/* Sets last_used_at. ERR_NOT_FOUND for an unknown session. */
int store_session_touch(struct store *s, int64_t id, int64_t now);
/* Revokes one session of user_id (its refresh tokens stop working).
 * Idempotent; ERR_NOT_FOUND when it is not that user's session. */
int store_session_revoke(struct store *s, int64_t user_id, int64_t id);
/* Revokes every active session of the user except except_id (0: none);
 * *revoked (may be NULL) gets how many. */
int store_session_revoke_all(struct store *s, int64_t user_id, int64_t except_id, size_t *revoked);

struct store_revoked {
    int64_t session_id;
    int64_t revoked_at;
};

/* Revoked sessions, from both places they are kept: sessions with a
 * revoked_at, and the sessions of deleted accounts (session_revocations,
 * see store_user_delete). Returns the rows whose (revoked_at, session_id)
 * comes after (since, after_id), that is revoked_at > since, or
 * revoked_at == since and session_id > after_id, in that order, at most max
 * (1 .. 10 * STORE_PURGE_MAX, else ERR_INVALID); *rows in arena a.
 * Session ids are positive, so after_id 0 starts at since itself. Passing
 * the last row's (revoked_at, session_id) reads the next page: nothing is
 * skipped or read twice, however many rows share one revoked_at. A
 * revocation that commits late may still land behind a position already
 * read; the in-process revocation set (auth_revoked_sync) re-reads a
 * window for that. */
int store_session_revoked_since(struct store *s, int64_t since, int64_t after_id, size_t max, struct arena *a,
                                struct store_revoked **rows, size_t *n);
/* Deletes sessions (and their tokens) that expired or were revoked before
 * `before`, then, within the same max, the session_revocations rows of
 * deleted accounts' sessions revoked before `before` (they leave
 * store_session_revoked_since with them); *purged (may be NULL) gets how
 * many rows of both went, at most max. */
int store_session_purge(struct store *s, int64_t before, size_t max, size_t *purged);

/* Adds a token to an existing session (reads session_id, parent_id, hash,
 * expires_at): the grace-window path. ERR_NOT_FOUND: no such session. */
int store_refresh_create(struct store *s, struct store_refresh *tok);
/* Looks a token up by its hash, with its session's state. */
int store_refresh_get(struct store *s, const uint8_t hash[STORE_HASH_LEN], struct store_refresh *out);
/* Spends the token old_hash and issues its child in one step: the child
 * (reads hash and expires_at) joins the same session, the session's
 * last_used_at becomes now and its expires_at the child's. Of any number of
 * concurrent rotations of one token exactly one gets OK. *old (may be NULL)
 * gets the spent token's row on OK and on these outcomes:
 *   ERR_NOT_FOUND     no such token, or its session is revoked/expired
 *                     (old->session_revoked_at tells which);
 *   ERR_CONFLICT      the token was already used (reuse: old->used_at says
 *                     when; the caller applies a grace window or revokes);
 *   ERR_PRECONDITION  the token expired. */
int store_refresh_rotate(struct store *s, const uint8_t old_hash[STORE_HASH_LEN], int64_t now,
                         struct store_refresh *child, struct store_refresh *old);
/* Deletes tokens that expired before `before`, at most max. */
int store_refresh_purge(struct store *s, int64_t before, size_t max, size_t *purged);

/* ---- tasks -------------------------------------------------------------- */

enum store_task_status { STORE_TASK_TODO, STORE_TASK_IN_PROGRESS, STORE_TASK_DONE, STORE_TASK_STATUS_COUNT };

struct store_task {
    int64_t id;
    int64_t user_id;
    const char *title;
    const char *description; /* NULL = none */
    enum store_task_status status;
    int priority;         /* 0..3 */
    const char *due_date; /* "YYYY-MM-DD" or NULL */
    int64_t plan_id;      /* 0 = none */
    int64_t created_at;
    int64_t updated_at;
    int64_t version;
};

/* Reads user_id, title, description, status, priority, due_date, plan_id
 * (borrowed) and sets id, created_at, updated_at, version.
 * ERR_NOT_FOUND when the user no longer exists. */
int store_task_create(struct store *s, struct store_task *t);
/* For threads that serve in rounds (the event loops): call after each round
 * of events. From the first call on, the calling thread's reads within one
 * round share one read snapshot (SQLite: one read transaction, begun again
 * whenever this process has committed since, so a reply never misses a
 * write that was acknowledged before it); this call ends it. Other threads
 * read as before, each call on its own snapshot. A no-op on PostgreSQL. */
void store_reads_round_end(struct store *s);
/* The completion of an asynchronous store call: err is what the synchronous
 * call would have returned. Runs on a store thread (or the caller's, before
 * the call returns); must not block. */
typedef void store_done_fn(void *arg, int err);
/* As store_task_create, without waiting: done(arg, err) once the task is
 * durable (or failed), with *t filled as store_task_create fills it; *t and
 * the strings it borrows must live until then. On SQLite the group-commit
 * writer calls done after the batch's commit; a backend without
 * asynchronous writes runs the create and calls done before returning.
 * Returns OK when done will be (or was) called, or an error (then it is not:
 * ERR_INVALID, ERR_OVERLOADED, ERR_UNAVAILABLE, ERR_NOMEM). */
int store_task_create_async(struct store *s, struct store_task *t, store_done_fn *done, void *arg);
/* The task id of user_id; another user's task is ERR_NOT_FOUND. May read a
 * replica. */
int store_task_get(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_task *out);

enum {
    STORE_TASK_F_TITLE = 1 << 0,
    STORE_TASK_F_DESCRIPTION = 1 << 1,
    STORE_TASK_F_STATUS = 1 << 2,
    STORE_TASK_F_PRIORITY = 1 << 3,
    STORE_TASK_F_DUE_DATE = 1 << 4
};

/* The fields named in `fields` are set; NULL description/due_date clear. */
struct store_task_patch {
    unsigned fields;
    const char *title;
    const char *description;
    enum store_task_status status;
    int priority;
    const char *due_date;
};

/* Applies p and returns the new row in *out (arena a). ERR_NOT_FOUND, or
 * ERR_PRECONDITION when expect_version is not 0 and not the row's. */
int store_task_update(struct store *s, int64_t user_id, int64_t id, const struct store_task_patch *p,
                      int64_t expect_version, struct arena *a, struct store_task *out);
/* ERR_NOT_FOUND, or ERR_PRECONDITION as above. */
int store_task_delete(struct store *s, int64_t user_id, int64_t id, int64_t expect_version);

/* Sort orders. Every order ends with id in the same direction, so rows
 * are totally ordered and a keyset position is exact. A task without a due
 * date sorts as if due at +infinity: last in due_date, first in -due_date
 * (PostgreSQL's default NULL order). -priority is highest first, then
 * newest first. */
enum store_task_sort {
    STORE_TASK_SORT_CREATED_DESC,  /* "-created_at", the default */
    STORE_TASK_SORT_CREATED_ASC,   /* "created_at" */
    STORE_TASK_SORT_DUE_ASC,       /* "due_date" */
    STORE_TASK_SORT_DUE_DESC,      /* "-due_date" */
    STORE_TASK_SORT_PRIORITY_DESC, /* "-priority" */
    STORE_TASK_SORT_COUNT
};

/* All filters combine with AND; zero/NULL members do not filter. */
struct store_task_filter {
    unsigned status_mask;   /* bit (1 << status) per wanted status; 0 = all */
    int priority;           /* -1 = any */
    const char *due_before; /* due_date < this; tasks without one excluded */
    const char *due_after;  /* due_date > this; tasks without one excluded */
};

/* A keyset position: the sort key of the last row of the previous page.
 * Only the members the sort uses are read (all sorts use id). */
struct store_task_pos {
    int64_t id;
    int64_t created_at;
    int priority;
    const char *due_date; /* NULL: the row had no due date */
};

/* Fills pos from the row a page ended with (borrows its strings). */
void store_task_pos_from(const struct store_task *last, struct store_task_pos *pos);

/* One task list: up to limit (1..STORE_LIST_MAX) tasks of user_id matching
 * filter (NULL: all) in order `sort`, strictly after `after` (NULL: from
 * the start). */
struct store_task_query {
    int64_t user_id;
    const struct store_task_filter *filter;
    enum store_task_sort sort;
    const struct store_task_pos *after;
    size_t limit;
};

/* The tasks of q; *rows in arena a. Ask for one more than the page shows
 * to learn whether another page follows. May read a replica. */
int store_task_list(struct store *s, const struct store_task_query *q, struct arena *a,
                    struct store_task **rows, size_t *n);

/* While on, the calling thread's reads that may go to a replica go to the
 * primary (a cache fill must not store what a lagging replica says). */
void store_reads_from_primary(bool on);
bool store_reading_from_primary(void);

/* One deadline for a request's database work. The server notes, on the
 * thread about to run a request's store calls, when that request started
 * waiting (clock_mono_ms(); 0: no request, e.g. a job worker): every call
 * the thread makes until the next note ends by that time plus the
 * statement timeout, however long it waited for a worker thread or a
 * connection and however many statements it ran before (PostgreSQL; see
 * "One deadline per request" in docs/internals/postgres.md). */
void store_request_started(int64_t mono_ms);
int64_t store_request_started_at(void);

/* Asynchronous reads on the event loops (PostgreSQL). The loops lend the
 * store their poller (util/loopio.h); the store calls it only on a loop
 * thread. Set once, before the loops start; without it there are no
 * asynchronous reads. */
void store_set_loop_io(struct store *s, const struct loop_io *io);
/* Whether a loop thread may call the *_async reads below: false on SQLite
 * (its reads on the loops do not wait). */
bool store_reads_async(struct store *s);
/* As store_task_list / store_task_get, without blocking the calling loop
 * thread: OK when done(arg, err) will run later on this same thread (never
 * before the call returns), err being what the blocking call would return,
 * or ERR_WOULD_BLOCK to say the read must take the blocking call instead
 * (no connection of this loop's right now, or the one it had was lost
 * before the answer); other errors as the blocking call. Every pointer
 * argument must stay valid until done runs, except q itself (copied), whose
 * filter and position must. */
int store_task_list_async(struct store *s, const struct store_task_query *q, struct arena *a,
                          struct store_task **rows, size_t *n, store_done_fn *done, void *arg);
int store_task_get_async(struct store *s, int64_t user_id, int64_t id, struct arena *a,
                         struct store_task *out, store_done_fn *done, void *arg);
/* On a loop thread that is about to exit: gives back what the store keeps
 * for this thread (its PostgreSQL connection). */
void store_loop_end(struct store *s);

/* ---- fitness profile ------------------------------------------------------ */

/* The API validates the enums; the store keeps what it is given. */
struct store_profile {
    int64_t user_id;
    const char *sex;
    const char *birth_date;
    double height_cm;
    double weight_kg;
    const char *activity_level;
    const char *goal;
    const char *experience;
    int days_per_week;
    int session_minutes;
    const char *equipment;
    const char *diet;
    int meals_per_day;
    const char *exclude_foods; /* a JSON array of strings */
    int64_t updated_at;
    int64_t version;
};

/* May read a replica. */
int store_profile_get(struct store *s, int64_t user_id, struct arena *a, struct store_profile *out);
/* Creates or replaces the profile of p->user_id (fields borrowed) and sets
 * p->updated_at and p->version. ERR_PRECONDITION when expect_version is not
 * 0 and not the stored one (0 also matches "no profile yet"). */
int store_profile_put(struct store *s, struct store_profile *p, int64_t expect_version);

/* ---- jobs (declared before plans: a plan is created with its job) --------- */

enum store_job_state {
    STORE_JOB_QUEUED,
    STORE_JOB_RUNNING,
    STORE_JOB_DONE,
    STORE_JOB_DEAD,
    STORE_JOB_STATE_COUNT
};

struct store_job {
    int64_t id;
    const char *kind;       /* "plan.generate", "purge.tokens", ... */
    const char *payload;    /* JSON text, owned by the job's kind */
    int64_t user_id;        /* 0 = none; the user's deletion removes the job */
    int64_t ref_id;         /* the row it works on (a plan id), 0 = none */
    const char *unique_key; /* NULL = none; one job per key until purged */
    enum store_job_state state;
    int attempts; /* claims so far */
    int64_t run_at;
    const char *lease_owner; /* while running */
    int64_t lease_expires_at;
    const char *last_error;
    int64_t created_at;
    int64_t updated_at;
    int64_t finished_at;
    /* With user_id: the insert fails with ERR_OVERLOADED and over_bound
     * set when the user already has max_active jobs of this kind queued
     * or running, counted in the insert's transaction under a per-user
     * lock (exact). 0: no bound. */
    int max_active;
    bool over_bound;
};

/* Queues a job: reads kind, payload, user_id, ref_id, unique_key, run_at
 * (0 = now); sets id, state, created_at. ERR_CONFLICT when unique_key is
 * already held by a job not yet purged (job->id is then that job's id). */
int store_job_enqueue(struct store *s, struct store_job *job);
int store_job_get(struct store *s, int64_t id, struct arena *a, struct store_job *out);
/* Claims up to max jobs that are due (queued, run_at <= now) or whose
 * lease expired (their worker died): each becomes running under `owner`
 * until now + lease_ms, attempts + 1. Oldest run_at first. No job is ever
 * handed to two claimers with live leases. *rows in arena a. */
int store_job_claim(struct store *s, const char *owner, int64_t lease_ms, size_t max, struct arena *a,
                    struct store_job **rows, size_t *n);
/* The calls below act only on a job running under `owner`; after losing the
 * lease they are ERR_NOT_FOUND. */
int store_job_renew(struct store *s, int64_t id, const char *owner, int64_t lease_ms);
int store_job_complete(struct store *s, int64_t id, const char *owner);
/* Records error; retry_at > 0 queues it again for then, 0 makes it dead. */
int store_job_fail(struct store *s, int64_t id, const char *owner, const char *error, int64_t retry_at);
/* Hands the job back (shutdown): queued again, due now, the attempt not
 * counted. */
int store_job_release(struct store *s, int64_t id, const char *owner);
/* counts[state] = number of jobs in each state. */
int store_job_counts(struct store *s, int64_t counts[STORE_JOB_STATE_COUNT]);
/* Deletes done and dead jobs finished before `before`, at most max. */
int store_job_purge(struct store *s, int64_t before, size_t max, size_t *purged);

/* ---- plans -------------------------------------------------------------- */

enum store_plan_kind { STORE_PLAN_WORKOUT, STORE_PLAN_NUTRITION, STORE_PLAN_KIND_COUNT };
enum store_plan_state {
    STORE_PLAN_QUEUED,
    STORE_PLAN_RUNNING,
    STORE_PLAN_READY,
    STORE_PLAN_FAILED,
    STORE_PLAN_STATE_COUNT
};

struct store_plan {
    int64_t id;
    int64_t user_id;
    enum store_plan_kind kind;
    enum store_plan_state state;
    int weeks;
    const char *start_date; /* NULL = not set */
    const char *request;    /* JSON text of the request options, or NULL */
    const char *generator;  /* "builtin", "llm"; NULL until generated */
    const char *summary;    /* NULL until generated */
    const char *content;    /* JSON text; NULL until ready, NULL in lists */
    const char *error;      /* NULL unless failed */
    int64_t created_at;
    int64_t updated_at;
    int64_t completed_at; /* 0 until ready or failed */
    int64_t version;
};

/* Creates a queued plan (reads user_id, kind, weeks, start_date, request;
 * sets id, state, created_at, updated_at, version) and, when job is not
 * NULL, enqueues *job in the same transaction with job->user_id and
 * job->ref_id set to the plan's. ERR_NOT_FOUND when the user is gone. */
int store_plan_create(struct store *s, struct store_plan *p, struct store_job *job);
/* May read a replica. */
int store_plan_get(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_plan *out);

/* Plan filters: -1 = any. */
struct store_plan_filter {
    int kind;  /* enum store_plan_kind or -1 */
    int state; /* enum store_plan_state or -1 */
};

/* Keyset position for plan lists (always newest first). */
struct store_plan_pos {
    int64_t created_at;
    int64_t id;
};

/* What a plan list asks for: up to limit (1..STORE_LIST_MAX) plans of
 * user_id matching filter (NULL: all), newest first, strictly after
 * `after` (NULL: from the start). */
struct store_plan_query {
    int64_t user_id;
    const struct store_plan_filter *filter;
    const struct store_plan_pos *after;
    size_t limit;
};

/* The plans of q, without content; as store_task_list. May read a
 * replica. */
int store_plan_list(struct store *s, const struct store_plan_query *q, struct arena *a,
                    struct store_plan **rows, size_t *n);
/* As store_plan_get and store_plan_list, without blocking the calling
 * loop thread: as store_task_get_async and store_task_list_async. */
int store_plan_get_async(struct store *s, int64_t user_id, int64_t id, struct arena *a,
                         struct store_plan *out, store_done_fn *done, void *arg);
int store_plan_list_async(struct store *s, const struct store_plan_query *q, struct arena *a,
                          struct store_plan **rows, size_t *n, store_done_fn *done, void *arg);

/* A state change made by the generator. */
struct store_plan_result {
    enum store_plan_state state; /* running, ready or failed */
    const char *generator;       /* kept when NULL */
    const char *summary;         /* kept when NULL */
    const char *content;         /* kept when NULL */
    const char *error;           /* kept when NULL */
};

/* Moves plan id of user_id to r->state (completed_at is set on ready and
 * failed) and returns the new row in *out (may be NULL; arena a). A plan
 * already ready or failed is final: ERR_PRECONDITION, nothing changes. So
 * `tasks` (ntasks rows; user_id and plan_id are set by the store), created
 * in the same transaction as a move to ready, are created exactly once
 * however often the job runs. */
int store_plan_set_state(struct store *s, int64_t user_id, int64_t id, const struct store_plan_result *r,
                         const struct store_task *tasks, size_t ntasks, struct arena *a,
                         struct store_plan *out);
/* Deletes the plan; its queued jobs are cancelled, its tasks stay (plan_id
 * cleared). */
int store_plan_delete(struct store *s, int64_t user_id, int64_t id);

/* ---- idempotency keys ------------------------------------------------------ */

struct store_idem {
    int64_t user_id;
    const char *key;
    uint8_t request_hash[STORE_HASH_LEN];
    int status;                   /* 0 while the first request is still being worked on */
    const char *response_headers; /* opaque to the store, e.g. "Location: /x" */
    const char *response_body;
    size_t response_len;
    int64_t created_at;
    int64_t expires_at;
};

/* Reserves (user_id, key) for a request whose body hashes to request_hash,
 * until expires_at. OK: the caller owns the key, does the work, then calls
 * store_idem_complete (or store_idem_release on failure). ERR_CONFLICT: the
 * key exists; *existing (arena a) says whether the hash matches and whether
 * a response is stored (status != 0). Expired reservations are replaced.
 * Of concurrent reservations of one key exactly one gets OK. */
int store_idem_reserve(struct store *s, int64_t user_id, const char *key,
                       const uint8_t request_hash[STORE_HASH_LEN], int64_t expires_at, struct arena *a,
                       struct store_idem *existing);
/* Stores the response of the reserved key (status > 0). */
int store_idem_complete(struct store *s, int64_t user_id, const char *key, int status, const char *headers,
                        const char *body, size_t body_len);
/* Forgets a reservation whose request failed, so a retry can do the work. */
int store_idem_release(struct store *s, int64_t user_id, const char *key);
int store_idem_get(struct store *s, int64_t user_id, const char *key, struct arena *a,
                   struct store_idem *out);
/* Deletes keys that expired before `before`, at most max. */
int store_idem_purge(struct store *s, int64_t before, size_t max, size_t *purged);

/* ---- names of enum values ---------------------------------------------------- */

/* The one spelling of each enum value: the API reads and writes these, the
 * database stores them, logs print them. Indexed by the enum and
 * NULL-terminated (a request validator walks them as API_ENUM values). */
extern const char *const store_task_status_names[STORE_TASK_STATUS_COUNT + 1];
extern const char *const store_task_sort_names[STORE_TASK_SORT_COUNT + 1];
extern const char *const store_plan_kind_names[STORE_PLAN_KIND_COUNT + 1];
extern const char *const store_plan_state_names[STORE_PLAN_STATE_COUNT + 1];
extern const char *const store_job_state_names[STORE_JOB_STATE_COUNT + 1];
extern const char *const store_token_purpose_names[STORE_TOKEN_PURPOSE_COUNT + 1];

/* The name of a value, or "?" when it is out of range. */
const char *store_task_status_name(enum store_task_status st);
const char *store_task_sort_name(enum store_task_sort sort);
const char *store_plan_kind_name(enum store_plan_kind k);
const char *store_plan_state_name(enum store_plan_state st);
const char *store_job_state_name(enum store_job_state st);
/* The value named s in a table of count names (a table above) into *out;
 * false (*out untouched) when s is NULL or not one of them. */
bool store_enum_parse(const char *const *names, int count, const char *s, int *out);

#endif
