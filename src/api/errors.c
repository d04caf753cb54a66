/* The one mapping from the program's errors to HTTP problems. */
#include <stdbool.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"

void
api_reply_error(struct http_req *r, int err)
{
    switch (err) {
    case ERR_INVALID:
        http_reply_problem(r, 422, "validation_failed", "Request body is invalid", NULL);
        return;
    case ERR_NOT_FOUND:
        http_reply_problem(r, 404, "not_found", "Not found", "no such resource");
        return;
    case ERR_CONFLICT:
        http_reply_problem(r, 409, "conflict", "Conflict", NULL);
        return;
    case ERR_PRECONDITION:
        http_reply_problem(r, 412, "precondition_failed", "Precondition failed",
                           "the resource changed since the given ETag");
        return;
    case ERR_TOO_LARGE:
        http_reply_problem(r, 413, "body_too_large", "Request body too large", NULL);
        return;
    case ERR_OVERLOADED:
        http_reply_problem(r, 503, "overloaded", "Overloaded", "the server is busy; retry shortly");
        http_reply_header(r, "retry-after", "1");
        return;
    case ERR_UNAVAILABLE:
    case ERR_CORRUPT:
        http_reply_problem(r, 503, "unavailable", "Service unavailable", "the database is unavailable");
        http_reply_header(r, "retry-after", "2");
        return;
    default:
        log_write(LOG_ERROR, "api", r->request_id, "unexpected error %s", err_name(err));
        http_reply_problem(r, 500, "internal", "Internal error", NULL);
        return;
    }
}

void
api_reply_bad_param(struct http_req *r, const char *name, const char *why)
{
    http_reply_problem(r, 400, "invalid_parameter", "Invalid query parameter",
                       arena_printf(&r->arena, "%s: %s", name, why));
}

void
api_reply_invalid_cursor(struct http_req *r)
{
    http_reply_problem(r, 400, "invalid_cursor", "Invalid cursor",
                       "cursor: not a cursor this list gave out for these filters and this sort");
}

void
api_reply_idem_reused(struct http_req *r)
{
    http_reply_problem(r, 422, "idempotency_key_reused", "Idempotency key reused",
                       "this Idempotency-Key was used with a different request");
}

void
api_reply_idem_in_use(struct http_req *r)
{
    http_reply_problem(r, 409, "idempotency_key_in_use", "Idempotency key in use",
                       "a request with this Idempotency-Key is still being processed; retry shortly");
    http_reply_header(r, "retry-after", "1");
}

void
api_reply_profile_required(struct http_req *r)
{
    http_reply_problem(r, 409, "profile_required", "Profile required",
                       "a plan is made from your fitness profile: PUT /api/v1/profile first");
}

/* RFC 6750 section 3.1: a token that was presented and refused (code
 * "unauthorized" with a detail) is error="invalid_token" with the detail
 * as its description; no token at all (detail NULL), and failed logins or
 * refreshes, get the bare challenge. Details are this program's own text:
 * no secret, and no quote or backslash survives into the header. */
void
api_reply_unauthorized(struct http_req *r, const char *code, const char *detail)
{
    bool refused = detail != NULL && strcmp(code, "unauthorized") == 0;
    if (detail == NULL)
        detail = "an access token is required (Authorization: Bearer <access token>)";
    http_reply_problem(r, 401, code, "Unauthorized", detail);
    if (!refused) {
        http_reply_header(r, "www-authenticate", "Bearer realm=\"pace\"");
        return;
    }
    char *desc = arena_strndup(&r->arena, detail, strlen(detail));
    for (char *p = desc; *p != '\0'; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '\'';
    http_reply_header(r, "www-authenticate",
                      arena_printf(&r->arena,
                                   "Bearer realm=\"pace\", error=\"invalid_token\", "
                                   "error_description=\"%s\"",
                                   desc));
}

void
api_reply_conflict(struct http_req *r, int conflict)
{
    if (conflict == STORE_CONFLICT_EMAIL)
        http_reply_problem(r, 409, "email_taken", "Conflict", "this email address is already registered");
    else if (conflict == STORE_CONFLICT_USERNAME)
        http_reply_problem(r, 409, "username_taken", "Conflict", "this username is already taken");
    else
        api_reply_error(r, ERR_CONFLICT);
}

void
api_reply_invalid_fields(struct http_req *r, const struct auth_problem *p, size_t n)
{
    const char *detail = arena_printf(&r->arena, "%s: %s", p[0].field, p[0].message);
    struct jw *w = http_reply_problem_begin(r, 422, "validation_failed", "Request body is invalid", detail);
    jw_key(w, "errors");
    jw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(w);
        jw_key(w, "field");
        jw_str(w, p[i].field);
        jw_key(w, "code");
        jw_str(w, p[i].code);
        jw_key(w, "message");
        jw_str(w, p[i].message);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

void
api_ratelimit_headers(struct http_req *r, const struct auth_rl_verdict *v)
{
    if (!v->applies)
        return;
    http_reply_header(r, "ratelimit-limit", arena_printf(&r->arena, "%d", v->limit));
    http_reply_header(r, "ratelimit-remaining", arena_printf(&r->arena, "%d", v->remaining));
    http_reply_header(r, "ratelimit-reset", arena_printf(&r->arena, "%d", v->reset));
}

void
api_reply_rate_limited(struct http_req *r, const struct auth_rl_verdict *v)
{
    http_reply_problem(r, 429, "rate_limited", "Too many requests",
                       arena_printf(&r->arena, "too many attempts; retry in %d seconds", v->retry_after));
    http_reply_header(r, "retry-after", arena_printf(&r->arena, "%d", v->retry_after));
    api_ratelimit_headers(r, v);
}

void
api_security_event(struct http_req *r, const char *event, int64_t user_id, const char *detail)
{
    char ip[64];
    api_client_ip(r, ip, sizeof(ip));
    struct log_security e = {
        .event = event, .user_id = user_id, .client = ip, .request_id = r->request_id, .detail = detail};
    log_security(&e);
}

void
api_reply_account_gone(struct http_req *r)
{
    api_reply_unauthorized(r, "unauthorized", "the account of this access token no longer exists");
}
