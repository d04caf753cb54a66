/* The one mapping from the program's errors to HTTP problems. */
#include "api/api.h"
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
