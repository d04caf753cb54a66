/* What a storage backend implements: struct store_ops, one member per
 * operation of store.h with the same arguments, or the struct that carries
 * them. store.c checks arguments
 * that every backend would check (NULLs, limits) and then calls these, so a
 * backend may assume them valid. A backend's handle embeds struct store as
 * its first member. Only src/store/ includes this header. */
#ifndef PACE_STORE_BACKEND_H
#define PACE_STORE_BACKEND_H

#include <stdatomic.h>

#include "store/store.h"

struct store_ops;
struct store_migration;

/* The arguments of the writes that a backend runs as one body inside its
 * transaction (or write op): store.c checks them and fills one of these,
 * the backend hands it whole to the body. */
struct store_user_create {
    struct store_user *u;
    enum store_conflict *conflict; /* never NULL */
};

struct store_user_update {
    int64_t id;
    const struct store_user_patch *p;
    int64_t expect_version; /* 0: any */
    struct arena *a;
    struct store_user *out;
    enum store_conflict *conflict; /* never NULL */
};

struct store_password_change {
    int64_t id;
    const char *hash;
    bool end_sessions;
    int64_t keep; /* the session that stays (0: none) */
};

struct store_session_start {
    struct store_session *sess;
    struct store_refresh *first; /* NULL: none */
};

struct store_totp_enable {
    int64_t id;
    const char *expect_pending;
    int64_t step;
    const uint8_t (*codes)[STORE_HASH_LEN];
    size_t n;
};

struct store_token_start {
    struct store_token *tok;
    bool replace;
    struct store_job *job; /* NULL: none */
};

/* A token spent (store_token_use) or the reset it carries (hash set:
 * store_password_reset). */
struct store_token_spend {
    const uint8_t *hash;
    enum store_token_purpose purpose;
    int64_t now;
    struct arena *a;           /* never NULL */
    struct store_token *out;   /* never NULL */
    const char *password_hash; /* password reset: the new hash */
};

struct store_plan_start {
    struct store_plan *p;
    struct store_job *job; /* NULL: none */
};

/* rows has room for max jobs (store.c allocates it in a). */
struct store_job_claim {
    const char *owner;
    int64_t lease_ms;
    size_t max;
    struct arena *a;
    struct store_job *rows;
    size_t n;
};

/* A task read or deletion (p NULL) or update. */
struct store_task_change {
    int64_t user_id;
    int64_t id;
    const struct store_task_patch *p;
    int64_t expect_version; /* 0: any */
    struct arena *a;
    struct store_task *out;
};

struct store_plan_transition {
    int64_t user_id;
    int64_t id;
    const struct store_plan_result *r;
    const struct store_task *tasks;
    size_t ntasks;
    struct arena *a;
    struct store_plan *out;
};

struct store_refresh_rotation {
    const uint8_t *old_hash;
    int64_t now;
    struct store_refresh *child;
    struct store_refresh *old; /* never NULL */
};

struct store_idem_reservation {
    int64_t user_id;
    const char *key;
    const uint8_t *hash;
    int64_t expires_at;
    struct arena *a;
    struct store_idem *existing;
};

struct store_idem_response {
    int64_t user_id;
    const char *key;
    int status;
    const char *headers;
    const char *body;
    size_t body_len;
};

/* What the owner of a running job does with it. */
enum store_job_step { STORE_JOB_RENEW, STORE_JOB_COMPLETE, STORE_JOB_FAIL, STORE_JOB_RELEASE };

struct store_job_update {
    enum store_job_step step;
    int64_t id;
    const char *owner;
    int64_t lease_ms;  /* renew */
    const char *error; /* fail */
    int64_t retry_at;  /* fail */
};

struct store {
    const struct store_ops *ops;
    _Atomic int64_t write_full_at; /* health.c: a write last failed for want of space (monotonic ms; 0: no) */
};

/* health.c: a backend notes a write that failed because the storage is
 * full, and a write that committed (which ends what the failure said). */
void store_note_write_full(struct store *s);
void store_note_write_ok(struct store *s);

struct store_ops {
    const char *name;
    bool reads_block; /* every read is a round trip to a server: never on an event loop */
    void (*close)(struct store *s);
    /* Where its migrations are embedded ("src/store/migrations/sqlite/");
     * schema.c classifies the schema and runs the pending ones in order. */
    const char *migrations_dir;
    /* The highest migration applied to the database (0: none). */
    int (*schema_version)(struct store *s, int *version);
    /* Applies m in a transaction of its own, reading the version again
     * first: *applied stays false when the database already has it;
     * ERR_PRECONDITION when the database is past code_version. */
    int (*migrate_one)(struct store *s, const struct store_migration *m, int code_version, bool *applied);
    int (*ping)(struct store *s, int deadline_ms);
    /* May be NULL: true when the storage has less free space than writes
     * need (SQLite: the database's filesystem is below a small reserve). */
    bool (*space_low)(struct store *s);
    int (*backup)(struct store *s, const char *path);
    int (*query_plans)(struct store *s, struct arena *a, struct store_query_plan **out, size_t *n);
    /* May be NULL: the backend has no metrics of its own. */
    void (*metrics_render)(struct store *s, struct buf *out);

    int (*user_create)(struct store *s, struct store_user_create *c);
    int (*user_get)(struct store *s, int64_t id, struct arena *a, struct store_user *out);
    int (*user_get_by_login)(struct store *s, const char *login, struct arena *a, struct store_user *out);
    int (*user_update)(struct store *s, struct store_user_update *u);
    int (*user_set_password)(struct store *s, struct store_password_change *c);
    int (*user_delete)(struct store *s, int64_t id);

    int (*user_totp_pending)(struct store *s, int64_t id, const char *sealed);
    int (*user_totp_enable)(struct store *s, struct store_totp_enable *e);
    int (*user_totp_disable)(struct store *s, int64_t id);
    int (*user_totp_use_step)(struct store *s, int64_t id, int64_t step);
    /* left is never NULL. */
    int (*recovery_code_use)(struct store *s, int64_t user_id, const uint8_t hash[STORE_HASH_LEN],
                             int64_t now, int *left);
    int (*recovery_code_count)(struct store *s, int64_t user_id, int *n);

    int (*token_create)(struct store *s, struct store_token_start *c);
    int (*token_get)(struct store *s, const uint8_t hash[STORE_HASH_LEN], enum store_token_purpose purpose,
                     int64_t now, struct arena *a, struct store_token *out);
    int (*token_use)(struct store *s, struct store_token_spend *u);
    int (*email_verify)(struct store *s, const uint8_t hash[STORE_HASH_LEN], int64_t now, int64_t *user_id);
    /* u->out->user_id gets the account. */
    int (*password_reset)(struct store *s, struct store_token_spend *u);
    int (*token_revoke_user)(struct store *s, int64_t user_id, enum store_token_purpose purpose);
    int (*token_purge)(struct store *s, int64_t before, size_t max, size_t *purged);

    int (*session_create)(struct store *s, struct store_session_start *c);
    int (*session_get)(struct store *s, int64_t id, struct arena *a, struct store_session *out);
    int (*session_list_active)(struct store *s, int64_t user_id, int64_t now, size_t max, struct arena *a,
                               struct store_session **rows, size_t *n);
    int (*session_touch)(struct store *s, int64_t id, int64_t now);
    int (*session_revoke)(struct store *s, int64_t user_id, int64_t id);
    int (*session_revoke_all)(struct store *s, int64_t user_id, int64_t except_id, size_t *revoked);
    int (*session_revoked_since)(struct store *s, int64_t since, int64_t after_id, size_t max,
                                 struct arena *a, struct store_revoked **rows, size_t *n);
    int (*session_purge)(struct store *s, int64_t before, size_t max, size_t *purged);

    int (*refresh_create)(struct store *s, struct store_refresh *tok);
    int (*refresh_get)(struct store *s, const uint8_t hash[STORE_HASH_LEN], struct store_refresh *out);
    int (*refresh_rotate)(struct store *s, struct store_refresh_rotation *r);
    int (*refresh_purge)(struct store *s, int64_t before, size_t max, size_t *purged);

    int (*task_create)(struct store *s, struct store_task *t);
    /* Optional (NULL: nothing to do). */
    void (*reads_round_end)(struct store *s);
    /* Optional (NULL: store.c runs task_create and calls done). */
    int (*task_create_async)(struct store *s, struct store_task *t, store_done_fn *done, void *arg);
    int (*task_get)(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_task *out);
    /* Optional, all four (NULL: no asynchronous reads; see store.h). */
    void (*set_loop_io)(struct store *s, const struct loop_io *io);
    /* q->filter is never NULL (store.c passes an empty one). */
    int (*task_list_async)(struct store *s, const struct store_task_query *q, struct arena *a,
                           struct store_task **rows, size_t *n, store_done_fn *done, void *arg);
    int (*task_get_async)(struct store *s, int64_t user_id, int64_t id, struct arena *a,
                          struct store_task *out, store_done_fn *done, void *arg);
    void (*loop_end)(struct store *s);
    int (*task_update)(struct store *s, struct store_task_change *c);
    int (*task_delete)(struct store *s, struct store_task_change *c);
    int (*task_list)(struct store *s, const struct store_task_query *q, struct arena *a,
                     struct store_task **rows, size_t *n);

    int (*profile_get)(struct store *s, int64_t user_id, struct arena *a, struct store_profile *out);
    int (*profile_put)(struct store *s, struct store_profile *p, int64_t expect_version);

    int (*job_enqueue)(struct store *s, struct store_job *job);
    int (*job_get)(struct store *s, int64_t id, struct arena *a, struct store_job *out);
    int (*job_claim)(struct store *s, struct store_job_claim *c);
    /* Renew, complete, fail or release; ERR_NOT_FOUND unless the job runs
     * under u->owner's lease. */
    int (*job_update)(struct store *s, struct store_job_update *u);
    int (*job_counts)(struct store *s, int64_t counts[STORE_JOB_STATE_COUNT]);
    int (*job_purge)(struct store *s, int64_t before, size_t max, size_t *purged);

    int (*plan_create)(struct store *s, struct store_plan_start *c);
    int (*plan_get)(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_plan *out);
    /* q->filter is never NULL (store.c passes an empty one). */
    int (*plan_list)(struct store *s, const struct store_plan_query *q, struct arena *a,
                     struct store_plan **rows, size_t *n);
    /* Optional, both (NULL: no asynchronous plan reads). */
    int (*plan_get_async)(struct store *s, int64_t user_id, int64_t id, struct arena *a,
                          struct store_plan *out, store_done_fn *done, void *arg);
    int (*plan_list_async)(struct store *s, const struct store_plan_query *q, struct arena *a,
                           struct store_plan **rows, size_t *n, store_done_fn *done, void *arg);
    int (*plan_set_state)(struct store *s, struct store_plan_transition *t);
    int (*plan_delete)(struct store *s, int64_t user_id, int64_t id);

    int (*idem_reserve)(struct store *s, struct store_idem_reservation *r);
    int (*idem_complete)(struct store *s, struct store_idem_response *r);
    int (*idem_release)(struct store *s, int64_t user_id, const char *key);
    int (*idem_get)(struct store *s, int64_t user_id, const char *key, struct arena *a,
                    struct store_idem *out);
    int (*idem_purge)(struct store *s, int64_t before, size_t max, size_t *purged);
};

/* The operations every backend implements as <prefix>_<op>: X(op) each. A
 * backend declares them with STORE_OP_DECLARE and fills its table with
 * STORE_OP_INIT, so the list and the signatures (those of struct
 * store_ops) are written once. */
/* clang-format off */
#define STORE_BACKEND_OPS(X) \
    X(user_create) X(user_get) X(user_get_by_login) X(user_update) X(user_set_password) \
    X(user_delete) X(user_totp_pending) X(user_totp_enable) X(user_totp_disable) X(user_totp_use_step) \
    X(recovery_code_use) X(recovery_code_count) X(token_create) X(token_get) X(token_use) X(email_verify) \
    X(password_reset) X(token_revoke_user) X(token_purge) X(session_create) X(session_get) \
    X(session_list_active) X(session_touch) X(session_revoke) X(session_revoke_all) X(session_revoked_since) X(session_purge) \
    X(refresh_create) X(refresh_get) X(refresh_rotate) X(refresh_purge) X(task_create) X(task_get) \
    X(task_update) X(task_delete) X(task_list) X(profile_get) X(profile_put) X(job_enqueue) \
    X(job_get) X(job_claim) X(job_update) X(job_counts) X(job_purge) X(plan_create) X(plan_get) \
    X(plan_list) X(plan_set_state) X(plan_delete) X(idem_reserve) X(idem_complete) X(idem_release) \
    X(idem_get) X(idem_purge)
/* clang-format on */
/* Declares prefix_op with the type of store_ops' member op. */
#define STORE_OP_DECLARE(prefix, op) extern __typeof__(*((struct store_ops *)0)->op) prefix##_##op;
/* The member op of a store_ops initializer: prefix_op. */
#define STORE_OP_INIT(prefix, op) .op = prefix##_##op,

/* Backends' constructors, called by store_open_opts(). */
int store_sqlite_open(const char *path, struct store **out);
/* url: a libpq URL (postgresql://... or postgres://...); o: complete. */
int store_pg_open(const char *url, const struct store_opts *o, struct store **out);

/* One migration compiled into the binary (scripts/embed.cmake). */
struct store_migration {
    int version;
    const char *name; /* file name without the folder */
    const char *sql;
};

/* The migrations embedded under dir ("src/store/migrations/sqlite/"),
 * sorted by version; returns how many were written to out (at most max). */
size_t store_migrations_known(const char *dir, struct store_migration *out, size_t max);

#endif
