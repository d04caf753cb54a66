/* The API layer: one file per resource, each with its route table; errors.c
 * is the only place that turns an error into an HTTP status. */
#ifndef PACE_API_API_H
#define PACE_API_API_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"

struct store;
struct auth;
struct auth_problem;
struct auth_rl_verdict;
struct jobs;

struct cache;

struct mail;

struct api_deps {
    struct store *store;         /* borrowed */
    struct http_pool *hash_pool; /* borrowed; for the dev endpoints */
    struct auth *auth;           /* borrowed; accounts, sessions, rate limits */
    bool dev_endpoints;
    const char *version;
    const char *commit;
    const char *secret;  /* borrowed; the server secret (signs list cursors) */
    struct jobs *jobs;   /* borrowed; may be NULL; woken when a job is queued */
    struct cache *cache; /* borrowed; Redis (may be disabled) and the payload cache */
    bool ops_only;       /* `pace worker`: only /health, /ready and /metrics */
    struct mail *mail;   /* borrowed; queues outgoing mail (mail/mail.h) */
    /* Account recovery and the second factor (PACE_* in README.md). */
    bool require_verified_email; /* login refuses unverified accounts: 403 email_not_verified */
    int verify_token_ttl;        /* seconds an email-verification link works */
    int reset_token_ttl;         /* seconds a password-reset link works */
    int mfa_token_ttl;           /* seconds an mfa_token works */
};

/* Keeps d (borrowed; must outlive the server) and adds every route table
 * to rt. Returns OK, or the router's error for a malformed table (logged). */
int api_init(const struct api_deps *d, struct http_router *rt);

/* Replies with the problem for an ERR_* (the one status mapping). */
void api_reply_error(struct http_req *r, int err);

/* Replies 400 invalid_parameter naming the query parameter. */
void api_reply_bad_param(struct http_req *r, const char *name, const char *why);
/* 400 invalid_cursor: a cursor that is malformed, tampered with, or made
 * for another user, filter or sort. */
void api_reply_invalid_cursor(struct http_req *r);
/* 422 idempotency_key_reused: the Idempotency-Key came with another request. */
void api_reply_idem_reused(struct http_req *r);
/* 409 idempotency_key_in_use (Retry-After: 1): the first request with this
 * Idempotency-Key has not finished. */
void api_reply_idem_in_use(struct http_req *r);
/* 409 profile_required: a plan needs a fitness profile first. */
void api_reply_profile_required(struct http_req *r);

/* 401 with WWW-Authenticate: Bearer and the given code: "unauthorized" (an
 * access token is missing, malformed, expired or revoked),
 * "invalid_credentials", "refresh_token_*". detail may be NULL. */
void api_reply_unauthorized(struct http_req *r, const char *code, const char *detail);
/* 401 unauthorized: the access token's account no longer exists (deleted
 * while the request ran). */
void api_reply_account_gone(struct http_req *r);
/* 409 username_taken or email_taken for an enum store_conflict. */
void api_reply_conflict(struct http_req *r, int conflict);
/* 422 validation_failed listing n field problems (n >= 1). */
void api_reply_invalid_fields(struct http_req *r, const struct auth_problem *p, size_t n);
/* 429 rate_limited with Retry-After and the RateLimit-* headers of v. */
void api_reply_rate_limited(struct http_req *r, const struct auth_rl_verdict *v);
/* Adds RateLimit-Limit, -Remaining and -Reset when v applies. */
void api_ratelimit_headers(struct http_req *r, const struct auth_rl_verdict *v);

/* Writes a user as the API shows it: id, username, email, email_verified,
 * mfa_enabled, created_at, updated_at (never the password hash nor a TOTP
 * secret). u is a struct store_user. */
struct store_user;
void api_write_user(struct jw *w, const struct store_user *u);

/* ---- the current user's row, password and notices (api/users.c) ---- */

/* Reads the caller's row (from the primary when primary: a replica may
 * not have a change just made); false after replying (a deleted account's
 * token is no longer valid: 401). */
bool api_load_me(struct http_req *r, struct store_user *u, bool primary);
/* Checks the caller's password (field `field` of the JSON body) under the
 * login backoff (auth_credential_check, hash pool); false after replying
 * (429, or 422 field `field` "incorrect"). */
bool api_password_ok(struct http_req *r, const struct store_user *u, const char *field);
struct mail_message;
/* Queues a mail to user_id; a failure is logged, the answer does not
 * depend on it (the change it tells of is made). */
void api_notice(struct http_req *r, const struct mail_message *msg, int64_t user_id);
/* Cache-Control: no-store and Pragma: no-cache (token answers). */
void api_no_store(struct http_req *r);
/* prefix followed by s in ASCII lower case, from the request's arena: the
 * key of a per-account or per-address rate limit. */
char *api_limit_key(struct http_req *r, const char *prefix, const char *s);

/* Writes unix milliseconds as RFC 3339 UTC with milliseconds. */
void api_jw_time(struct jw *w, int64_t ms);

/* The client's address (api/auth.c): the peer, or what X-Forwarded-For
 * says when the peer is a trusted proxy (PACE_TRUSTED_PROXIES). */
void api_client_ip(struct http_req *r, char *out, size_t cap);

/* The http_auth_fn for ROUTE_AUTH routes (api/auth.c): verifies the Bearer
 * access token without touching the database and sets user_id and
 * session_id, or replies 401. */
bool api_auth_hook(struct http_req *r);

struct jobs;
/* Registers the job kinds of account recovery (api/account.c) with j:
 * main.c calls it before jobs_start. OK or jobs_register's error. */
int api_account_register_jobs(struct jobs *j);

/* Sends the user a fresh email-verification link (api/account.c): a
 * verify_email token for u->email and its mail, queued in one transaction.
 * With replace, older links stop working (registration, a resend, an email
 * change); without it they keep working (a login refused with
 * email_not_verified: the link of the registration mail still in the
 * inbox must not die because the client tried to sign in first). OK or the
 * store's error (logged; the caller's answer does not depend on it). */
int api_account_send_verification(struct http_req *r, const struct store_user *u, bool replace);

/* Logs one security event of the request (log_security: its request id,
 * the client's address, user_id: 0 when none is known); detail may be
 * NULL and never holds a secret (api/errors.c). */
void api_security_event(struct http_req *r, const char *event, int64_t user_id, const char *detail);

/* Route tables, one per resource file. */
extern const struct http_route api_ops_routes[];
extern const size_t api_ops_nroutes;
extern const struct http_route api_dev_routes[];
extern const size_t api_dev_nroutes;
extern const struct http_route api_auth_routes[];
extern const size_t api_auth_nroutes;
extern const struct http_route api_users_routes[];
extern const size_t api_users_nroutes;
extern const struct http_route api_tasks_routes[];
extern const size_t api_tasks_nroutes;
extern const struct http_route api_profile_routes[];
extern const size_t api_profile_nroutes;
extern const struct http_route api_plans_routes[];
extern const size_t api_plans_nroutes;
extern const struct http_route api_account_routes[]; /* email verification, password reset */
extern const size_t api_account_nroutes;
extern const struct http_route api_mfa_routes[]; /* TOTP enrolment, the login's second step */
extern const size_t api_mfa_nroutes;

/* The dependencies given to api_init (for the resource files). */
const struct api_deps *api_deps(void);
/* The router given to api_init (for /_dev/routes). */
const struct http_router *api_router(void);

#endif
