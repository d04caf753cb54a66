/* Per-user bounds on writes and on queued jobs (api/quota.h). */
#include "api/quota.h"
#include "api/api.h"
#include "util/arena.h"
#include "util/clock.h"

bool
api_write_allowed(struct http_req *r, struct auth_rl_verdict *v)
{
    auth_ratelimit_write(auth_limits(api_deps()->auth), r->user_id, clock_wall_ms(), v);
    if (!v->limited)
        return true;
    api_reply_rate_limited(r, v);
    return false;
}

void
api_write_limited(struct http_req *r, http_handler_fn *fn)
{
    struct auth_rl_verdict v;
    if (!api_write_allowed(r, &v))
        return;
    fn(r);
    api_ratelimit_headers(r, &v);
}

void
api_reply_too_many_jobs(struct http_req *r, int max)
{
    http_reply_problem(r, 429, "too_many_jobs", "Too many plan generations",
                       arena_printf(&r->arena,
                                    "you already have %d plan generations queued or running; retry when one "
                                    "has finished",
                                    max));
    http_reply_header(r, "retry-after", arena_printf(&r->arena, "%d", API_JOBS_RETRY_AFTER));
}
