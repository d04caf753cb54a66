/* State rules, once for every backend (see rules.h). */
#include "store/rules.h"

#include "util/err.h"

int
store_why_unchanged(int found)
{
    return found == OK ? ERR_PRECONDITION : found;
}

bool
store_session_live(int64_t revoked_at, int64_t expires_at, int64_t now)
{
    return revoked_at == 0 && expires_at > now;
}

int
store_refresh_check(const struct store_refresh *t, int64_t now)
{
    if (t->used_at != 0)
        return ERR_CONFLICT;
    if (!store_session_live(t->session_revoked_at, t->session_expires_at, now))
        return ERR_NOT_FOUND;
    if (t->expires_at <= now)
        return ERR_PRECONDITION;
    return OK;
}

void
store_refresh_first(const struct store_session *s, struct store_refresh *first, int64_t now)
{
    first->user_id = s->user_id;
    first->session_id = s->id;
    first->parent_id = 0;
    first->created_at = now;
    first->used_at = 0;
    first->session_revoked_at = 0;
    first->session_expires_at = s->expires_at;
}

void
store_refresh_rotated(struct store_refresh *old, struct store_refresh *child, int64_t now)
{
    child->user_id = old->user_id;
    child->session_id = old->session_id;
    child->parent_id = old->id;
    child->created_at = now;
    child->used_at = 0;
    child->session_revoked_at = 0;
    child->session_expires_at =
        child->expires_at > old->session_expires_at ? child->expires_at : old->session_expires_at;
    old->used_at = now;
}

int
store_job_update_params(const struct store_job_update *u, int64_t now,
                        struct store_param out[STORE_JOB_UPDATE_PARAMS])
{
    int n = 0;
    out[n++] = (struct store_param){.kind = STORE_PARAM_I64, .i = u->id};
    out[n++] = (struct store_param){.kind = STORE_PARAM_TEXT, .s = u->owner};
    switch (u->step) {
    case STORE_JOB_RENEW:
        out[n++] = (struct store_param){.kind = STORE_PARAM_I64, .i = now + u->lease_ms};
        break;
    case STORE_JOB_FAIL:
        out[n++] = (struct store_param){.kind = u->error != NULL ? STORE_PARAM_TEXT : STORE_PARAM_NULL,
                                        .s = u->error};
        out[n++] = (struct store_param){.kind = STORE_PARAM_I64, .i = u->retry_at};
        break;
    default: /* complete, release */
        break;
    }
    out[n++] = (struct store_param){.kind = STORE_PARAM_I64, .i = now};
    return n;
}

void
store_plan_started(struct store_plan_start *c, int64_t id, int64_t now)
{
    struct store_plan *p = c->p;
    p->id = id;
    p->state = STORE_PLAN_QUEUED;
    p->created_at = p->updated_at = now;
    p->completed_at = 0;
    p->version = 1;
    if (c->job != NULL) {
        c->job->user_id = p->user_id;
        c->job->ref_id = p->id;
    }
}

struct store_task
store_plan_task(const struct store_plan_transition *t, size_t i)
{
    struct store_task task = t->tasks[i];
    task.user_id = t->user_id;
    task.plan_id = t->id;
    return task;
}
