/* Row decoding, once for every backend (see rows.h). */
#include "store/rows.h"

#include <string.h>

#include "store/backend.h"
#include "util/err.h"

#define I64(c)  r->ops->i64(r, c)
#define INT(c)  ((int)r->ops->i64(r, c))
#define TEXT(c) r->ops->text(r, c, a)

/* A stored enum name read in place; -1 when NULL or unknown. */
static int
col_enum(const struct store_row *r, int col, const char *const *names, int count)
{
    int v = -1;
    store_enum_parse(names, count, r->ops->peek(r, col), &v);
    return v;
}

int
store_row_user(const struct store_row *r, struct arena *a, struct store_user *u)
{
    u->id = I64(0);
    u->username = TEXT(1);
    u->email = TEXT(2);
    u->password_hash = TEXT(3);
    u->created_at = I64(4);
    u->updated_at = I64(5);
    u->version = I64(6);
    u->email_verified = I64(7) != 0;
    u->totp_enabled = I64(8) != 0;
    u->totp_secret = TEXT(9);
    u->totp_pending = TEXT(10);
    u->totp_last_step = I64(11);
    return OK;
}

int
store_row_session(const struct store_row *r, struct arena *a, struct store_session *s)
{
    s->id = I64(0);
    s->user_id = I64(1);
    s->user_agent = TEXT(2);
    s->ip = TEXT(3);
    s->created_at = I64(4);
    s->last_used_at = I64(5);
    s->expires_at = I64(6);
    s->revoked_at = I64(7);
    s->mfa = I64(8) != 0;
    return OK;
}

int
store_row_task(const struct store_row *r, struct arena *a, struct store_task *t)
{
    t->id = I64(0);
    t->user_id = I64(1);
    t->title = TEXT(2);
    t->description = TEXT(3);
    int status = col_enum(r, 4, store_task_status_names, STORE_TASK_STATUS_COUNT);
    t->priority = INT(5);
    t->due_date = TEXT(6);
    t->plan_id = I64(7);
    t->created_at = I64(8);
    t->updated_at = I64(9);
    t->version = I64(10);
    if (status < 0)
        return ERR_CORRUPT;
    t->status = (enum store_task_status)status;
    return OK;
}

int
store_row_profile(const struct store_row *r, struct arena *a, struct store_profile *p)
{
    p->user_id = I64(0);
    p->sex = TEXT(1);
    p->birth_date = TEXT(2);
    p->height_cm = r->ops->f64(r, 3);
    p->weight_kg = r->ops->f64(r, 4);
    p->activity_level = TEXT(5);
    p->goal = TEXT(6);
    p->experience = TEXT(7);
    p->days_per_week = INT(8);
    p->session_minutes = INT(9);
    p->equipment = TEXT(10);
    p->diet = TEXT(11);
    p->meals_per_day = INT(12);
    p->exclude_foods = TEXT(13);
    p->updated_at = I64(14);
    p->version = I64(15);
    return OK;
}

int
store_row_plan(const struct store_row *r, struct arena *a, struct store_plan *p)
{
    p->id = I64(0);
    p->user_id = I64(1);
    int kind = col_enum(r, 2, store_plan_kind_names, STORE_PLAN_KIND_COUNT);
    int state = col_enum(r, 3, store_plan_state_names, STORE_PLAN_STATE_COUNT);
    p->weeks = INT(4);
    p->start_date = TEXT(5);
    p->request = TEXT(6);
    p->generator = TEXT(7);
    p->summary = TEXT(8);
    p->content = TEXT(9);
    p->error = TEXT(10);
    p->created_at = I64(11);
    p->updated_at = I64(12);
    p->completed_at = I64(13);
    p->version = I64(14);
    if (kind < 0 || state < 0)
        return ERR_CORRUPT;
    p->kind = (enum store_plan_kind)kind;
    p->state = (enum store_plan_state)state;
    return OK;
}

int
store_row_job(const struct store_row *r, struct arena *a, struct store_job *j)
{
    j->id = I64(0);
    j->kind = TEXT(1);
    j->payload = TEXT(2);
    j->user_id = I64(3);
    j->ref_id = I64(4);
    j->unique_key = TEXT(5);
    int state = col_enum(r, 6, store_job_state_names, STORE_JOB_STATE_COUNT);
    j->attempts = INT(7);
    j->run_at = I64(8);
    j->lease_owner = TEXT(9);
    j->lease_expires_at = I64(10);
    j->last_error = TEXT(11);
    j->created_at = I64(12);
    j->updated_at = I64(13);
    j->finished_at = I64(14);
    if (state < 0)
        return ERR_CORRUPT;
    j->state = (enum store_job_state)state;
    return OK;
}

int
store_row_idem(const struct store_row *r, struct arena *a, struct store_idem *out)
{
    out->user_id = I64(0);
    out->key = TEXT(1);
    memset(out->request_hash, 0, STORE_HASH_LEN);
    size_t hl;
    const char *h = r->ops->bytes(r, 2, a, &hl);
    if (h != NULL)
        memcpy(out->request_hash, h, hl < STORE_HASH_LEN ? hl : STORE_HASH_LEN);
    out->status = INT(3);
    out->response_headers = TEXT(4);
    out->response_body = r->ops->bytes(r, 5, a, &out->response_len);
    out->created_at = I64(6);
    out->expires_at = I64(7);
    return OK;
}

int
store_row_token(const struct store_row *r, struct arena *a, struct store_token *t)
{
    memset(t->hash, 0, STORE_HASH_LEN);
    size_t hl;
    const char *h = r->ops->bytes(r, 0, a, &hl);
    if (h != NULL)
        memcpy(t->hash, h, hl < STORE_HASH_LEN ? hl : STORE_HASH_LEN);
    t->user_id = I64(1);
    int purpose = col_enum(r, 2, store_token_purpose_names, STORE_TOKEN_PURPOSE_COUNT);
    t->email = TEXT(3);
    t->created_at = I64(4);
    t->expires_at = I64(5);
    t->used_at = I64(6);
    if (purpose < 0)
        return ERR_CORRUPT;
    t->purpose = (enum store_token_purpose)purpose;
    return OK;
}

int
store_row_refresh(const struct store_row *r, struct store_refresh *t)
{
    t->id = I64(0);
    t->user_id = I64(1);
    t->session_id = I64(2);
    t->parent_id = I64(3);
    t->created_at = I64(4);
    t->used_at = I64(5);
    t->expires_at = I64(6);
    t->session_revoked_at = I64(7);
    t->session_expires_at = I64(8);
    t->session_created_at = I64(9);
    return OK;
}
