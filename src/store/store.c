/* The store's front door: picks the backend from the database URL, checks
 * the arguments every backend would check, and dispatches through the
 * backend's struct store_ops. Holds no state of its own. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "util/arena.h"
#include "util/embedded.h"
#include "util/err.h"
#include "util/log.h"

const char *const store_task_status_names[STORE_TASK_STATUS_COUNT + 1] = {"todo", "in_progress", "done",
                                                                          NULL};
const char *const store_task_sort_names[STORE_TASK_SORT_COUNT + 1] = {
    [STORE_TASK_SORT_CREATED_DESC] = "-created_at", [STORE_TASK_SORT_CREATED_ASC] = "created_at",
    [STORE_TASK_SORT_DUE_ASC] = "due_date",         [STORE_TASK_SORT_DUE_DESC] = "-due_date",
    [STORE_TASK_SORT_PRIORITY_DESC] = "-priority",  [STORE_TASK_SORT_COUNT] = NULL,
};
const char *const store_plan_kind_names[STORE_PLAN_KIND_COUNT + 1] = {"workout", "nutrition", NULL};
const char *const store_plan_state_names[STORE_PLAN_STATE_COUNT + 1] = {"queued", "running", "ready",
                                                                        "failed", NULL};
const char *const store_job_state_names[STORE_JOB_STATE_COUNT + 1] = {"queued", "running", "done", "dead",
                                                                      NULL};
const char *const store_token_purpose_names[STORE_TOKEN_PURPOSE_COUNT + 1] = {
    [STORE_TOKEN_VERIFY_EMAIL] = "verify_email",
    [STORE_TOKEN_PASSWORD_RESET] = "password_reset",
    [STORE_TOKEN_MFA_LOGIN] = "mfa_login",
    [STORE_TOKEN_PURPOSE_COUNT] = NULL,
};

static bool
has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

void
store_opts_init(struct store_opts *o)
{
    *o = (struct store_opts){
        .pool_size = 16,
        .pool_min = 0,
        .connect_timeout_ms = 5000,
        .statement_timeout_ms = 10000,
        .replica_urls = NULL,
        .read_your_writes_ms = 5000,
    };
}

int
store_open(const char *url, struct store **out)
{
    return store_open_opts(url, NULL, out);
}

int
store_open_opts(const char *url, const struct store_opts *o, struct store **out)
{
    struct store_opts def;
    *out = NULL;
    if (o == NULL) {
        store_opts_init(&def);
        o = &def;
    }
    if (url == NULL || *url == '\0') {
        log_error("store", "no database URL given");
        return ERR_INVALID;
    }
    if (has_prefix(url, "sqlite:")) {
        const char *path = url + strlen("sqlite:");
        if (has_prefix(path, "//"))
            path += 2;
        if (*path == '\0' || strcmp(path, ":memory:") == 0) {
            log_error("store", "sqlite URL needs a file path (sqlite:PATH or sqlite:///abs/path)");
            return ERR_INVALID;
        }
        return store_sqlite_open(path, out);
    }
    if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://")) {
        if (o->pool_size < 1 || o->pool_min < 0 || o->connect_timeout_ms < 1 || o->statement_timeout_ms < 1 ||
            o->read_your_writes_ms < 0) {
            log_error("store", "invalid PostgreSQL options (pool size and timeouts must be positive)");
            return ERR_INVALID;
        }
        return store_pg_open(url, o, out);
    }
    if (has_prefix(url, "postgresql:") || has_prefix(url, "postgres:")) {
        log_error("store",
                  "PostgreSQL URLs start with postgresql:// (unix sockets: postgresql:///DB?host=DIR)");
        return ERR_INVALID;
    }
    log_error("store", "unknown database URL scheme (expected sqlite: or postgresql://)");
    return ERR_INVALID;
}

void
store_close(struct store *s)
{
    if (s != NULL)
        s->ops->close(s);
}

const char *
store_backend(const struct store *s)
{
    return s->ops->name;
}

void
store_caps(const struct store *s, struct store_caps *out)
{
    out->reads_block = s->ops->reads_block;
    out->reads_async = s->ops->task_list_async != NULL && s->ops->task_get_async != NULL;
    out->writes_async = s->ops->task_create_async != NULL;
}

void
store_metrics_render(struct store *s, struct buf *out)
{
    if (s != NULL && s->ops->metrics_render != NULL)
        s->ops->metrics_render(s, out);
}

int
store_ping(struct store *s, int deadline_ms)
{
    if (deadline_ms <= 0)
        return ERR_INVALID;
    return s->ops->ping(s, deadline_ms);
}

int
store_backup(struct store *s, const char *path)
{
    if (path == NULL || *path == '\0')
        return ERR_INVALID;
    return s->ops->backup(s, path);
}

int
store_query_plans(struct store *s, struct arena *a, struct store_query_plan **out, size_t *n)
{
    return s->ops->query_plans(s, a, out, n);
}

/* ---- users ---- */

int
store_user_create(struct store *s, struct store_user *u, enum store_conflict *conflict)
{
    enum store_conflict dummy;
    if (conflict == NULL)
        conflict = &dummy;
    *conflict = STORE_CONFLICT_NONE;
    if (u->username == NULL || u->email == NULL || u->password_hash == NULL)
        return ERR_INVALID;
    struct store_user_create c = {u, conflict};
    return s->ops->user_create(s, &c);
}

int
store_user_get(struct store *s, int64_t id, struct arena *a, struct store_user *out)
{
    return s->ops->user_get(s, id, a, out);
}

int
store_user_get_by_login(struct store *s, const char *login, struct arena *a, struct store_user *out)
{
    if (login == NULL)
        return ERR_INVALID;
    return s->ops->user_get_by_login(s, login, a, out);
}

int
store_user_update(struct store *s, int64_t id, const struct store_user_patch *p, int64_t expect_version,
                  struct arena *a, struct store_user *out, enum store_conflict *conflict)
{
    enum store_conflict dummy;
    if (conflict == NULL)
        conflict = &dummy;
    *conflict = STORE_CONFLICT_NONE;
    struct store_user_update u = {id, p, expect_version, a, out, conflict};
    return s->ops->user_update(s, &u);
}

int
store_user_set_password(struct store *s, int64_t id, const char *hash, bool end_sessions,
                        int64_t keep_session_id)
{
    if (hash == NULL)
        return ERR_INVALID;
    struct store_password_change c = {id, hash, end_sessions, keep_session_id};
    return s->ops->user_set_password(s, &c);
}

int
store_user_delete(struct store *s, int64_t id)
{
    return s->ops->user_delete(s, id);
}

/* ---- second factor and recovery codes ---- */

int
store_user_totp_pending(struct store *s, int64_t id, const char *sealed)
{
    return s->ops->user_totp_pending(s, id, sealed);
}

int
store_user_totp_enable(struct store *s, int64_t id, const char *expect_pending, int64_t step,
                       const uint8_t (*codes)[STORE_HASH_LEN], size_t n)
{
    if (expect_pending == NULL || (codes == NULL && n > 0) || n > 100 || step < 0)
        return ERR_INVALID;
    struct store_totp_enable e = {id, expect_pending, step, codes, n};
    return s->ops->user_totp_enable(s, &e);
}

int
store_user_totp_disable(struct store *s, int64_t id)
{
    return s->ops->user_totp_disable(s, id);
}

int
store_user_totp_use_step(struct store *s, int64_t id, int64_t step)
{
    if (step <= 0)
        return ERR_INVALID;
    return s->ops->user_totp_use_step(s, id, step);
}

int
store_recovery_code_use(struct store *s, int64_t user_id, const uint8_t hash[STORE_HASH_LEN], int64_t now,
                        int *left)
{
    int dummy;
    if (hash == NULL)
        return ERR_INVALID;
    return s->ops->recovery_code_use(s, user_id, hash, now, left != NULL ? left : &dummy);
}

int
store_recovery_code_count(struct store *s, int64_t user_id, int *n)
{
    if (n == NULL)
        return ERR_INVALID;
    *n = 0;
    return s->ops->recovery_code_count(s, user_id, n);
}

/* ---- one-time tokens ---- */

static bool
token_purpose_ok(enum store_token_purpose p)
{
    return (unsigned)p < STORE_TOKEN_PURPOSE_COUNT;
}

int
store_token_create(struct store *s, struct store_token *tok, bool replace, struct store_job *job)
{
    if (tok == NULL || !token_purpose_ok(tok->purpose) || tok->user_id <= 0 || tok->expires_at <= 0)
        return ERR_INVALID;
    if (job != NULL && job->kind == NULL)
        return ERR_INVALID;
    tok->used_at = 0;
    struct store_token_start c = {tok, replace, job};
    return s->ops->token_create(s, &c);
}

int
store_token_get(struct store *s, const uint8_t hash[STORE_HASH_LEN], enum store_token_purpose purpose,
                int64_t now, struct arena *a, struct store_token *out)
{
    if (hash == NULL || !token_purpose_ok(purpose) || a == NULL || out == NULL)
        return ERR_INVALID;
    return s->ops->token_get(s, hash, purpose, now, a, out);
}

int
store_token_use(struct store *s, const uint8_t hash[STORE_HASH_LEN], enum store_token_purpose purpose,
                int64_t now, struct arena *a, struct store_token *out)
{
    if (hash == NULL || !token_purpose_ok(purpose) || (out != NULL && a == NULL))
        return ERR_INVALID;
    struct arena own;
    struct store_token dummy;
    if (out == NULL)
        arena_init(&own);
    struct store_token_spend u = {hash, purpose, now, out != NULL ? a : &own, out != NULL ? out : &dummy,
                                  NULL};
    int err = s->ops->token_use(s, &u);
    if (out == NULL)
        arena_cleanup(&own);
    return err;
}

int
store_email_verify(struct store *s, const uint8_t hash[STORE_HASH_LEN], int64_t now, int64_t *user_id)
{
    int64_t dummy;
    if (hash == NULL)
        return ERR_INVALID;
    if (user_id == NULL)
        user_id = &dummy;
    *user_id = 0;
    return s->ops->email_verify(s, hash, now, user_id);
}

int
store_password_reset(struct store *s, const uint8_t hash[STORE_HASH_LEN], int64_t now,
                     const char *password_hash, int64_t *user_id)
{
    if (hash == NULL || password_hash == NULL)
        return ERR_INVALID;
    struct arena a;
    struct store_token tok = {0};
    arena_init(&a);
    struct store_token_spend u = {hash, STORE_TOKEN_PASSWORD_RESET, now, &a, &tok, password_hash};
    int err = s->ops->password_reset(s, &u);
    arena_cleanup(&a);
    if (user_id != NULL)
        *user_id = err == OK ? tok.user_id : 0;
    return err;
}

int
store_token_revoke_user(struct store *s, int64_t user_id, enum store_token_purpose purpose)
{
    if (!token_purpose_ok(purpose))
        return ERR_INVALID;
    return s->ops->token_revoke_user(s, user_id, purpose);
}

int
store_token_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    size_t dummy;
    if (max == 0 || max > STORE_PURGE_MAX)
        return ERR_INVALID;
    if (purged == NULL)
        purged = &dummy;
    *purged = 0;
    return s->ops->token_purge(s, before, max, purged);
}

/* ---- sessions and refresh tokens ---- */

int
store_session_create(struct store *s, struct store_session *sess, struct store_refresh *first)
{
    struct store_session_start c = {sess, first};
    return s->ops->session_create(s, &c);
}

int
store_session_get(struct store *s, int64_t id, struct arena *a, struct store_session *out)
{
    return s->ops->session_get(s, id, a, out);
}

int
store_session_list_active(struct store *s, int64_t user_id, int64_t now, size_t max, struct arena *a,
                          struct store_session **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (max == 0 || max > STORE_LIST_MAX)
        return ERR_INVALID;
    return s->ops->session_list_active(s, user_id, now, max, a, rows, n);
}

int
store_session_touch(struct store *s, int64_t id, int64_t now)
{
    return s->ops->session_touch(s, id, now);
}

int
store_session_revoke(struct store *s, int64_t user_id, int64_t id)
{
    return s->ops->session_revoke(s, user_id, id);
}

int
store_session_revoke_all(struct store *s, int64_t user_id, int64_t except_id, size_t *revoked)
{
    size_t dummy;
    return s->ops->session_revoke_all(s, user_id, except_id, revoked != NULL ? revoked : &dummy);
}

int
store_session_revoked_since(struct store *s, int64_t since, int64_t after_id, size_t max, struct arena *a,
                            struct store_revoked **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (max == 0 || max > STORE_PURGE_MAX * 10)
        return ERR_INVALID;
    return s->ops->session_revoked_since(s, since, after_id, max, a, rows, n);
}

int
store_session_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    size_t dummy;
    if (max == 0 || max > STORE_PURGE_MAX)
        return ERR_INVALID;
    return s->ops->session_purge(s, before, max, purged != NULL ? purged : &dummy);
}

int
store_refresh_create(struct store *s, struct store_refresh *tok)
{
    return s->ops->refresh_create(s, tok);
}

int
store_refresh_get(struct store *s, const uint8_t hash[STORE_HASH_LEN], struct store_refresh *out)
{
    return s->ops->refresh_get(s, hash, out);
}

int
store_refresh_rotate(struct store *s, const uint8_t old_hash[STORE_HASH_LEN], int64_t now,
                     struct store_refresh *child, struct store_refresh *old)
{
    struct store_refresh dummy;
    struct store_refresh_rotation r = {old_hash, now, child, old != NULL ? old : &dummy};
    memset(r.old, 0, sizeof(*r.old));
    return s->ops->refresh_rotate(s, &r);
}

int
store_refresh_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    size_t dummy;
    if (max == 0 || max > STORE_PURGE_MAX)
        return ERR_INVALID;
    return s->ops->refresh_purge(s, before, max, purged != NULL ? purged : &dummy);
}

/* ---- tasks ---- */

static bool
task_status_ok(enum store_task_status st)
{
    return (unsigned)st < STORE_TASK_STATUS_COUNT;
}

/* What a create needs from the caller (both the waiting and the asynchronous one). */
static bool
task_create_ok(const struct store_task *t)
{
    return t->title != NULL && task_status_ok(t->status);
}

int
store_task_create(struct store *s, struct store_task *t)
{
    if (!task_create_ok(t))
        return ERR_INVALID;
    return s->ops->task_create(s, t);
}

void
store_reads_round_end(struct store *s)
{
    if (s->ops->reads_round_end != NULL)
        s->ops->reads_round_end(s);
}

int
store_task_create_async(struct store *s, struct store_task *t, store_done_fn *done, void *arg)
{
    if (!task_create_ok(t))
        return ERR_INVALID;
    if (s->ops->task_create_async != NULL)
        return s->ops->task_create_async(s, t, done, arg);
    done(arg, s->ops->task_create(s, t));
    return OK;
}

int
store_task_get(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_task *out)
{
    return s->ops->task_get(s, user_id, id, a, out);
}

void
store_set_loop_io(struct store *s, const struct loop_io *io)
{
    if (s->ops->set_loop_io != NULL)
        s->ops->set_loop_io(s, io);
}

bool
store_reads_async(struct store *s)
{
    struct store_caps caps;
    store_caps(s, &caps);
    return caps.reads_async;
}

int
store_task_get_async(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_task *out,
                     store_done_fn *done, void *arg)
{
    if (s->ops->task_get_async == NULL)
        return ERR_WOULD_BLOCK;
    return s->ops->task_get_async(s, user_id, id, a, out, done, arg);
}

void
store_loop_end(struct store *s)
{
    if (s->ops->loop_end != NULL)
        s->ops->loop_end(s);
}

int
store_task_update(struct store *s, int64_t user_id, int64_t id, const struct store_task_patch *p,
                  int64_t expect_version, struct arena *a, struct store_task *out)
{
    if ((p->fields & STORE_TASK_F_TITLE) && p->title == NULL)
        return ERR_INVALID;
    if ((p->fields & STORE_TASK_F_STATUS) && !task_status_ok(p->status))
        return ERR_INVALID;
    struct store_task_change c = {user_id, id, p, expect_version, a, out};
    return s->ops->task_update(s, &c);
}

int
store_task_delete(struct store *s, int64_t user_id, int64_t id, int64_t expect_version)
{
    struct store_task_change c = {user_id, id, NULL, expect_version, NULL, NULL};
    return s->ops->task_delete(s, &c);
}

void
store_task_pos_from(const struct store_task *last, struct store_task_pos *pos)
{
    pos->id = last->id;
    pos->created_at = last->created_at;
    pos->priority = last->priority;
    pos->due_date = last->due_date;
}

/* The argument checks of both list calls; *v is q with a NULL filter
 * replaced by no filter. */
static int
task_list_ok(const struct store_task_query *q, struct store_task_query *v, struct store_task **rows,
             size_t *n)
{
    static const struct store_task_filter none = {0, -1, NULL, NULL};
    *rows = NULL;
    *n = 0;
    *v = *q;
    if ((unsigned)q->sort >= STORE_TASK_SORT_COUNT || q->limit == 0 || q->limit > STORE_LIST_MAX)
        return ERR_INVALID;
    if (v->filter == NULL)
        v->filter = &none;
    return v->filter->status_mask >= (1u << STORE_TASK_STATUS_COUNT) ? ERR_INVALID : OK;
}

int
store_task_list(struct store *s, const struct store_task_query *q, struct arena *a, struct store_task **rows,
                size_t *n)
{
    struct store_task_query v;
    int err = task_list_ok(q, &v, rows, n);
    return err != OK ? err : s->ops->task_list(s, &v, a, rows, n);
}

int
store_task_list_async(struct store *s, const struct store_task_query *q, struct arena *a,
                      struct store_task **rows, size_t *n, store_done_fn *done, void *arg)
{
    struct store_task_query v;
    int err = task_list_ok(q, &v, rows, n);
    if (err != OK)
        return err;
    if (s->ops->task_list_async == NULL)
        return ERR_WOULD_BLOCK;
    return s->ops->task_list_async(s, &v, a, rows, n, done, arg);
}

const char *
store_task_sort_name(enum store_task_sort sort)
{
    return (unsigned)sort < STORE_TASK_SORT_COUNT ? store_task_sort_names[sort] : "?";
}

const char *
store_task_status_name(enum store_task_status st)
{
    return task_status_ok(st) ? store_task_status_names[st] : "?";
}

/* ---- profile ---- */

int
store_profile_get(struct store *s, int64_t user_id, struct arena *a, struct store_profile *out)
{
    return s->ops->profile_get(s, user_id, a, out);
}

int
store_profile_put(struct store *s, struct store_profile *p, int64_t expect_version)
{
    return s->ops->profile_put(s, p, expect_version);
}

/* ---- jobs ---- */

int
store_job_enqueue(struct store *s, struct store_job *job)
{
    if (job->kind == NULL)
        return ERR_INVALID;
    return s->ops->job_enqueue(s, job);
}

int
store_job_get(struct store *s, int64_t id, struct arena *a, struct store_job *out)
{
    return s->ops->job_get(s, id, a, out);
}

int
store_job_claim(struct store *s, const char *owner, int64_t lease_ms, size_t max, struct arena *a,
                struct store_job **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (owner == NULL || lease_ms <= 0 || max == 0 || max > STORE_LIST_MAX)
        return ERR_INVALID;
    struct store_job_claim c = {owner, lease_ms, max, a, arena_alloc(a, max * sizeof(struct store_job)), 0};
    int err = s->ops->job_claim(s, &c);
    if (err != OK)
        return err;
    *rows = c.rows;
    *n = c.n;
    return OK;
}

int
store_job_renew(struct store *s, int64_t id, const char *owner, int64_t lease_ms)
{
    if (owner == NULL || lease_ms <= 0)
        return ERR_INVALID;
    struct store_job_update u = {STORE_JOB_RENEW, id, owner, lease_ms, NULL, 0};
    return s->ops->job_update(s, &u);
}

int
store_job_complete(struct store *s, int64_t id, const char *owner)
{
    if (owner == NULL)
        return ERR_INVALID;
    struct store_job_update u = {STORE_JOB_COMPLETE, id, owner, 0, NULL, 0};
    return s->ops->job_update(s, &u);
}

int
store_job_fail(struct store *s, int64_t id, const char *owner, const char *error, int64_t retry_at)
{
    if (owner == NULL)
        return ERR_INVALID;
    struct store_job_update u = {STORE_JOB_FAIL, id, owner, 0, error, retry_at};
    return s->ops->job_update(s, &u);
}

int
store_job_release(struct store *s, int64_t id, const char *owner)
{
    if (owner == NULL)
        return ERR_INVALID;
    struct store_job_update u = {STORE_JOB_RELEASE, id, owner, 0, NULL, 0};
    return s->ops->job_update(s, &u);
}

int
store_job_counts(struct store *s, int64_t counts[STORE_JOB_STATE_COUNT])
{
    return s->ops->job_counts(s, counts);
}

int
store_job_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    size_t dummy;
    if (max == 0 || max > STORE_PURGE_MAX)
        return ERR_INVALID;
    return s->ops->job_purge(s, before, max, purged != NULL ? purged : &dummy);
}

/* ---- plans ---- */

int
store_plan_create(struct store *s, struct store_plan *p, struct store_job *job)
{
    if ((unsigned)p->kind >= STORE_PLAN_KIND_COUNT || (job != NULL && job->kind == NULL))
        return ERR_INVALID;
    struct store_plan_start c = {p, job};
    return s->ops->plan_create(s, &c);
}

int
store_plan_get(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_plan *out)
{
    return s->ops->plan_get(s, user_id, id, a, out);
}

int
store_plan_get_async(struct store *s, int64_t user_id, int64_t id, struct arena *a, struct store_plan *out,
                     store_done_fn *done, void *arg)
{
    if (s->ops->plan_get_async == NULL)
        return ERR_WOULD_BLOCK;
    return s->ops->plan_get_async(s, user_id, id, a, out, done, arg);
}

/* The argument checks of both list calls; *v is q with a NULL filter
 * replaced by no filter. */
static int
plan_list_ok(const struct store_plan_query *q, struct store_plan_query *v, struct store_plan **rows,
             size_t *n)
{
    static const struct store_plan_filter none = {-1, -1};
    *rows = NULL;
    *n = 0;
    *v = *q;
    if (v->filter == NULL)
        v->filter = &none;
    if (q->limit == 0 || q->limit > STORE_LIST_MAX || v->filter->kind >= STORE_PLAN_KIND_COUNT ||
        v->filter->state >= STORE_PLAN_STATE_COUNT)
        return ERR_INVALID;
    return OK;
}

int
store_plan_list(struct store *s, const struct store_plan_query *q, struct arena *a, struct store_plan **rows,
                size_t *n)
{
    struct store_plan_query v;
    int err = plan_list_ok(q, &v, rows, n);
    return err != OK ? err : s->ops->plan_list(s, &v, a, rows, n);
}

int
store_plan_list_async(struct store *s, const struct store_plan_query *q, struct arena *a,
                      struct store_plan **rows, size_t *n, store_done_fn *done, void *arg)
{
    struct store_plan_query v;
    int err = plan_list_ok(q, &v, rows, n);
    if (err != OK)
        return err;
    if (s->ops->plan_list_async == NULL)
        return ERR_WOULD_BLOCK;
    return s->ops->plan_list_async(s, &v, a, rows, n, done, arg);
}

int
store_plan_set_state(struct store *s, int64_t user_id, int64_t id, const struct store_plan_result *r,
                     const struct store_task *tasks, size_t ntasks, struct arena *a, struct store_plan *out)
{
    if ((unsigned)r->state >= STORE_PLAN_STATE_COUNT || r->state == STORE_PLAN_QUEUED)
        return ERR_INVALID;
    if (ntasks > 0 && (tasks == NULL || r->state != STORE_PLAN_READY))
        return ERR_INVALID;
    for (size_t i = 0; i < ntasks; i++)
        if (tasks[i].title == NULL || !task_status_ok(tasks[i].status))
            return ERR_INVALID;
    struct store_plan_transition t = {user_id, id, r, tasks, ntasks, a, out};
    return s->ops->plan_set_state(s, &t);
}

int
store_plan_delete(struct store *s, int64_t user_id, int64_t id)
{
    return s->ops->plan_delete(s, user_id, id);
}

/* ---- idempotency keys ---- */

int
store_idem_reserve(struct store *s, int64_t user_id, const char *key,
                   const uint8_t request_hash[STORE_HASH_LEN], int64_t expires_at, struct arena *a,
                   struct store_idem *existing)
{
    if (key == NULL)
        return ERR_INVALID;
    struct store_idem_reservation r = {user_id, key, request_hash, expires_at, a, existing};
    return s->ops->idem_reserve(s, &r);
}

int
store_idem_complete(struct store *s, int64_t user_id, const char *key, int status, const char *headers,
                    const char *body, size_t body_len)
{
    if (key == NULL || status <= 0 || (body == NULL && body_len != 0))
        return ERR_INVALID;
    struct store_idem_response r = {user_id, key, status, headers, body, body_len};
    return s->ops->idem_complete(s, &r);
}

int
store_idem_release(struct store *s, int64_t user_id, const char *key)
{
    if (key == NULL)
        return ERR_INVALID;
    return s->ops->idem_release(s, user_id, key);
}

int
store_idem_get(struct store *s, int64_t user_id, const char *key, struct arena *a, struct store_idem *out)
{
    if (key == NULL)
        return ERR_INVALID;
    return s->ops->idem_get(s, user_id, key, a, out);
}

int
store_idem_purge(struct store *s, int64_t before, size_t max, size_t *purged)
{
    size_t dummy;
    if (max == 0 || max > STORE_PURGE_MAX)
        return ERR_INVALID;
    return s->ops->idem_purge(s, before, max, purged != NULL ? purged : &dummy);
}

/* ---- helpers ---- */

const char *
store_plan_kind_name(enum store_plan_kind k)
{
    return (unsigned)k < STORE_PLAN_KIND_COUNT ? store_plan_kind_names[k] : "?";
}

const char *
store_plan_state_name(enum store_plan_state st)
{
    return (unsigned)st < STORE_PLAN_STATE_COUNT ? store_plan_state_names[st] : "?";
}

const char *
store_job_state_name(enum store_job_state st)
{
    return (unsigned)st < STORE_JOB_STATE_COUNT ? store_job_state_names[st] : "?";
}

bool
store_enum_parse(const char *const *names, int count, const char *s, int *out)
{
    for (int i = 0; s != NULL && i < count; i++)
        if (strcmp(names[i], s) == 0) {
            *out = i;
            return true;
        }
    return false;
}

static int
migration_cmp(const void *a, const void *b)
{
    const struct store_migration *x = a, *y = b;
    return x->version < y->version ? -1 : x->version > y->version;
}

size_t
store_migrations_known(const char *dir, struct store_migration *out, size_t max)
{
    size_t n = 0;
    size_t dirlen = strlen(dir);
    for (const struct embedded_file *f = embedded_files; f->path != NULL; f++) {
        if (strncmp(f->path, dir, dirlen) != 0)
            continue;
        const char *name = f->path + dirlen;
        char *end;
        long v = strtol(name, &end, 10);
        if (end == name || *end != '_' || v <= 0 || v > INT_MAX || strchr(name, '/') != NULL)
            continue;
        if (n == max)
            break;
        out[n++] = (struct store_migration){(int)v, name, f->data};
    }
    qsort(out, n, sizeof(*out), migration_cmp);
    return n;
}

static _Thread_local bool primary_only;

void
store_reads_from_primary(bool on)
{
    primary_only = on;
}

bool
store_reading_from_primary(void)
{
    return primary_only;
}

static _Thread_local int64_t request_started;

void
store_request_started(int64_t mono_ms)
{
    request_started = mono_ms;
}

int64_t
store_request_started_at(void)
{
    return request_started;
}
