/* Per-user bounds that keep one account from starving the others (see
 * docs/api.md, "Limits per user"): a rate limit on writes
 * (PACE_RATE_LIMIT_WRITES) and a bound on a user's queued plan generations
 * (PACE_MAX_QUEUED_JOBS_PER_USER, enforced by the store with the job
 * insert, answered here). */
#ifndef PACE_API_QUOTA_H
#define PACE_API_QUOTA_H

#include <stdbool.h>

#include "auth/auth.h"
#include "http/http.h"

/* Counts one write by the request's user: true when it may go on (*v for
 * the RateLimit-* headers, added with api_ratelimit_headers once the
 * write is answered); false after answering 429 rate_limited with
 * Retry-After. Never waits. */
bool api_write_allowed(struct http_req *r, struct auth_rl_verdict *v);

/* Runs a write handler in one piece under the write limit, and adds the
 * RateLimit-* headers to its answer. */
void api_write_limited(struct http_req *r, http_handler_fn *fn);

/* Seconds a client is asked to wait after too_many_jobs: about what a
 * plan generation takes. */
enum { API_JOBS_RETRY_AFTER = 10 };

/* 429 too_many_jobs (Retry-After: API_JOBS_RETRY_AFTER): the user already
 * has max plan generations queued or running. */
void api_reply_too_many_jobs(struct http_req *r, int max);

#endif
