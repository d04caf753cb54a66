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
