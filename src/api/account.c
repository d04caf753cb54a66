/* Email verification and password reset. Tokens given to users are 32
 * random bytes in base64url (43 characters); the store keeps only their
 * SHA-256, and each is queued with the mail that carries it in one
 * transaction. A reset request answers 202 before anything is looked up:
 * the lookup, the token and the mail happen in a job ("auth.password_reset",
 * its payload sealed), so the answer and its timing are the same for known
 * and unknown addresses. Every answer here carries Cache-Control: no-store. */
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "api/api.h"
#include "api/validate.h"
#include "auth/auth.h"
#include "cache/cache.h"
#include "jobs/jobs.h"
#include "mail/mail.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/jparse.h"
#include "util/jw.h"
#include "util/log.h"
#include "util/seal.h"

enum { IP_MAX = 64 };

#define RESET_KIND "auth.password_reset"
#define RESET_SEAL "resetrq1"

static void
reply_accepted(struct http_req *r)
{
    struct jw *w = http_reply_json_begin(r, 202);
    jw_obj_begin(w);
    jw_key(w, "status");
    jw_str(w, "accepted");
    jw_obj_end(w);
}

static void
reply_invalid_token(struct http_req *r, const char *detail)
{
    http_reply_problem(r, 400, "invalid_token", "Invalid token", detail);
}

/* The hash of a token as a client gave it: OK, or ERR_INVALID for
 * anything that is not 32 bytes in base64url (the refresh tokens' format). */
static int
token_hash(const char *text, uint8_t hash[STORE_HASH_LEN])
{
    return auth_refresh_hash(text, strlen(text), hash);
}

/* Minutes a link of ttl seconds works, as the mail says it. */
static int
minutes(int ttl)
{
    return ttl / 60 > 0 ? ttl / 60 : 1;
}

/* Counts one mail-sending request of key (an IP when per_ip); true when
 * it may go on (*v for the headers). */
static bool
mail_limit(bool per_ip, const char *key, struct auth_rl_verdict *v)
{
    auth_ratelimit_hit(auth_limits(api_deps()->auth), AUTH_RL_MAIL, per_ip, key, clock_wall_ms(), v);
    return !v->limited;
}

/* ---- email verification ---- */

int
api_account_send_verification(struct http_req *r, const struct store_user *u, bool replace)
{
    const struct api_deps *d = api_deps();
    if (d->mail == NULL) {
        log_write(LOG_WARN, "account", r->request_id,
                  "no mail configured: no verification link for user %lld", (long long)u->id);
        return ERR_INTERNAL;
    }
    char text[AUTH_REFRESH_TEXT];
    struct store_token tok = {
        .user_id = u->id,
        .purpose = STORE_TOKEN_VERIFY_EMAIL,
        .email = u->email,
        .expires_at = clock_wall_ms() + (int64_t)d->verify_token_ttl * 1000,
    };
    auth_token_new(text, tok.hash);
    struct mail_message msg = {
        .kind = MAIL_VERIFY_EMAIL,
        .to = u->email,
        .username = u->username,
        .token = text,
        .valid_minutes = minutes(d->verify_token_ttl),
        .request_id = r->request_id,
    };
    struct store_job job;
    int err = mail_job(d->mail, &msg, u->id, &r->arena, &job);
    sodium_memzero(text, sizeof(text));
    if (err == OK)
        err = store_token_create(d->store, &tok, replace, &job);
    if (err != OK) {
        log_write(LOG_WARN, "account", r->request_id, "no verification link for user %lld (%s)",
                  (long long)u->id, err_name(err));
        return err;
    }
    mail_notify(d->mail);
    api_security_event(r, "email.verification_sent", u->id, NULL);
    return OK;
}

static void
api_account_verify_email(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"token", API_STRING, API_REQUIRED, 0, 0, NULL},
    };
    api_no_store(r);
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    uint8_t hash[STORE_HASH_LEN];
    int64_t user_id = 0;
    int err = token_hash(json_string_value(json_object_get(r->json, "token")), hash);
    if (err == OK)
        err = store_email_verify(api_deps()->store, hash, clock_wall_ms(), &user_id);
    if (err == ERR_INVALID || err == ERR_NOT_FOUND) {
        reply_invalid_token(r, "the link is not valid: it is unknown, used, expired, or for an address the "
                               "account no longer has");
        return;
    }
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    cache_bump(api_deps()->cache, user_id); /* the account's version moved */
    r->user_id = user_id;                   /* for the access log */
    api_security_event(r, "email.verified", user_id, NULL);
    http_reply_empty(r, 204);
}

static void
api_account_resend(struct http_req *r)
{
    api_no_store(r);
    struct store_user u;
    if (!api_load_me(r, &u, false))
        return;
    if (u.email_verified) {
        http_reply_problem(r, 409, "email_already_verified", "Conflict",
                           "the account's email address is already verified");
        return;
    }
    char ip[IP_MAX];
    api_client_ip(r, ip, sizeof(ip));
    struct auth_rl_verdict v, acct;
    if (!mail_limit(true, ip, &v)) {
        api_reply_rate_limited(r, &v);
        return;
    }
    if (!mail_limit(false, arena_printf(&r->arena, "u:%lld", (long long)u.id), &acct)) {
        api_reply_rate_limited(r, &acct);
        return;
    }
    int err = api_account_send_verification(r, &u, true);
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    reply_accepted(r);
    api_ratelimit_headers(r, &v);
}

/* ---- password reset: the request ---- */

static void
api_account_reset_request(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"email", API_STRING, API_REQUIRED, 3, AUTH_EMAIL_MAX, NULL},
    };
    const struct api_deps *d = api_deps();
    api_no_store(r);
    char ip[IP_MAX];
    api_client_ip(r, ip, sizeof(ip));
    struct auth_rl_verdict v, addr;
    if (!mail_limit(true, ip, &v)) {
        api_reply_rate_limited(r, &v);
        return;
    }
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        goto out;
    const json_t *ev = json_object_get(r->json, "email");
    const char *email = json_string_value(ev);
    size_t elen = json_string_length(ev);
    if (elen > AUTH_EMAIL_MAX) { /* characters were counted: bytes too */
        struct auth_problem p = {"email", "too_long", "must be at most 254 bytes"};
        api_reply_invalid_fields(r, &p, 1);
        goto out;
    }
    if (!mail_limit(false, api_limit_key(r, "e:", email), &addr)) {
        api_reply_rate_limited(r, &addr);
        return;
    }
    /* The account is looked up by the job: nothing here depends on it. */
    struct buf b;
    struct jw w;
    buf_init(&b, &r->arena, 512);
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "email");
    jw_str(&w, email);
    jw_key(&w, "request_id");
    jw_str(&w, r->request_id);
    jw_key(&w, "ip");
    jw_str(&w, ip);
    jw_obj_end(&w);
    struct seal_key k;
    seal_key_derive(&k, d->secret, RESET_SEAL);
    struct store_job job = {.kind = RESET_KIND, .payload = seal(&k, b.data, b.len, &r->arena)};
    seal_key_wipe(&k);
    sodium_memzero(b.data, b.len);
    int err = store_job_enqueue(d->store, &job);
    if (err != OK) {
        log_write(LOG_WARN, "account", r->request_id, "cannot queue a password reset request (%s)",
                  err_name(err));
        api_reply_error(r, err);
        goto out;
    }
    jobs_notify(d->jobs);
    reply_accepted(r);
out:
    api_ratelimit_headers(r, &v);
}

/* ---- password reset: the job ---- */

/* The security event of a reset request, as the request logged it. */
static void
reset_event(const char *request_id, const char *ip, int64_t user_id, const char *detail)
{
    struct log_security e = {
        .event = "password_reset.requested",
        .user_id = user_id,
        .client = ip,
        .request_id = request_id,
        .detail = detail,
    };
    log_security(&e);
}

/* One reset request: the account by its address, a new reset token (older
 * ones stop working) and its mail in one transaction. The mail's unique
 * key names this job, so a rerun after a crash sends nothing twice. */
static enum jobs_result
run_reset(struct jobs_run *run, void *arg)
{
    (void)arg;
    const struct api_deps *d = api_deps();
    struct seal_key k;
    seal_key_derive(&k, d->secret, RESET_SEAL);
    size_t n = 0;
    char *plain = seal_open(&k, run->job->payload, run->arena, &n);
    seal_key_wipe(&k);
    struct jparse_error pe;
    json_t *root = plain != NULL ? jparse(plain, n, &pe) : NULL;
    if (plain != NULL)
        sodium_memzero(plain, n);
    const char *email = json_string_value(json_object_get(root, "email"));
    const char *rid = json_string_value(json_object_get(root, "request_id"));
    const char *ip = json_string_value(json_object_get(root, "ip"));
    enum jobs_result res = JOBS_DONE;
    if (d->mail == NULL) {
        run->error = "no mail configured";
        res = JOBS_FAIL;
        goto out;
    }
    if (email == NULL || rid == NULL || ip == NULL) {
        run->error = "the job's payload is not a sealed reset request";
        res = JOBS_FAIL;
        goto out;
    }
    struct store_user u;
    int err = store_user_get_by_login(run->store, email, run->arena, &u);
    /* A login is also a username: only the account whose email it is counts. */
    if (err == ERR_NOT_FOUND || (err == OK && strcasecmp(u.email, email) != 0)) {
        reset_event(rid, ip, 0, "no such account");
        goto out;
    }
    if (err != OK) {
        run->error = arena_printf(run->arena, "cannot look the account up (%s)", err_name(err));
        res = JOBS_RETRY;
        goto out;
    }
    char text[AUTH_REFRESH_TEXT];
    struct store_token tok = {
        .user_id = u.id,
        .purpose = STORE_TOKEN_PASSWORD_RESET,
        .expires_at = clock_wall_ms() + (int64_t)d->reset_token_ttl * 1000,
    };
    auth_token_new(text, tok.hash);
    struct mail_message msg = {
        .kind = MAIL_PASSWORD_RESET,
        .to = u.email,
        .username = u.username,
        .token = text,
        .valid_minutes = minutes(d->reset_token_ttl),
        .request_id = rid,
    };
    struct store_job mj;
    err = mail_job(d->mail, &msg, u.id, run->arena, &mj);
    sodium_memzero(text, sizeof(text));
    if (err == OK) {
        mj.unique_key = arena_printf(run->arena, "reset:%lld", (long long)run->job->id);
        err = store_token_create(run->store, &tok, true, &mj);
    }
    if (err == ERR_CONFLICT)
        goto out; /* an earlier run of this job queued it */
    if (err == ERR_NOT_FOUND) {
        reset_event(rid, ip, 0, "no such account"); /* deleted meanwhile */
        goto out;
    }
    if (err != OK) {
        run->error = arena_printf(run->arena, "cannot store the reset token (%s)", err_name(err));
        res = JOBS_RETRY;
        goto out;
    }
    mail_notify(d->mail);
    reset_event(rid, ip, u.id, NULL);
out:
    if (root != NULL)
        json_decref(root);
    return res;
}

int
api_account_register_jobs(struct jobs *j)
{
    struct jobs_kind k = {RESET_KIND, run_reset, NULL, NULL, NULL};
    return jobs_register(j, &k);
}

/* ---- password reset: the new password ---- */

struct confirm {
    uint8_t token[STORE_HASH_LEN];
    char hash[AUTH_HASH_MAX];
    const char *email;    /* the account's, for the notice */
    const char *username; /* the account's */
    struct auth_rl_verdict ip;
};

/* The blocking pool's part: spend the token with the new hash, end the
 * sessions where this instance sees it at once, the notice. */
static void
api_account_reset_write(struct http_req *r)
{
    const struct api_deps *d = api_deps();
    struct confirm *c = r->state;
    int64_t user_id = 0;
    int err = store_password_reset(d->store, c->token, clock_wall_ms(), c->hash, &user_id);
    sodium_memzero(c->hash, sizeof(c->hash));
    if (err == ERR_NOT_FOUND) {
        reply_invalid_token(r, "the link is not valid: it is unknown, used or expired");
        goto out;
    }
    if (err != OK) {
        api_reply_error(r, err);
        goto out;
    }
    r->user_id = user_id; /* for the access log */
    cache_bump(d->cache, user_id);
    /* The store revoked the sessions; this makes their access tokens fail
     * here at once and tells the other instances. */
    err = auth_session_end_all(d->auth, user_id, 0);
    if (err != OK)
        log_write(LOG_WARN, "account", r->request_id,
                  "sessions of user %lld revoked; this instance learns it at its next sync (%s)",
                  (long long)user_id, err_name(err));
    struct mail_message msg = {
        .kind = MAIL_PASSWORD_CHANGED,
        .to = c->email,
        .username = c->username,
        .request_id = r->request_id,
    };
    api_notice(r, &msg, user_id);
    api_security_event(r, "password_reset.completed", user_id, NULL);
    http_reply_empty(r, 204);
out:
    api_ratelimit_headers(r, &c->ip);
}

static void
api_account_reset_confirm(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"token", API_STRING, API_REQUIRED, 0, 0, NULL},
        {"new_password", API_STRING, API_REQUIRED, 0, 0, NULL},
    };
    const struct api_deps *d = api_deps();
    api_no_store(r);
    struct confirm *c = arena_alloc(&r->arena, sizeof(*c));
    memset(c, 0, sizeof(*c));
    char ip[IP_MAX];
    api_client_ip(r, ip, sizeof(ip));
    if (!mail_limit(true, ip, &c->ip)) {
        api_reply_rate_limited(r, &c->ip);
        return;
    }
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        goto out;
    /* The token first: nothing is hashed for a link that cannot work. */
    struct store_token tok;
    int err = token_hash(json_string_value(json_object_get(r->json, "token")), c->token);
    if (err == OK)
        err =
            store_token_get(d->store, c->token, STORE_TOKEN_PASSWORD_RESET, clock_wall_ms(), &r->arena, &tok);
    struct store_user u;
    if (err == OK)
        err = store_user_get(d->store, tok.user_id, &r->arena, &u);
    if (err == ERR_INVALID || err == ERR_NOT_FOUND) {
        reply_invalid_token(r, "the link is not valid: it is unknown, used or expired");
        goto out;
    }
    if (err != OK) {
        api_reply_error(r, err);
        goto out;
    }
    const json_t *npv = json_object_get(r->json, "new_password");
    struct auth_problem p;
    if (auth_password_check(json_string_value(npv), json_string_length(npv), u.username, u.email, &p) != OK) {
        p.field = "new_password";
        api_reply_invalid_fields(r, &p, 1);
        goto out;
    }
    if (auth_password_hash(json_string_value(npv), json_string_length(npv), c->hash) != OK) {
        api_reply_error(r, ERR_OVERLOADED);
        goto out;
    }
    c->email = u.email;
    c->username = u.username;
    r->state = c;
    http_req_then(r, api_account_reset_write);
    return;
out:
    api_ratelimit_headers(r, &c->ip);
}

const struct http_route api_account_routes[] = {
    {HTTP_POST, "/api/v1/auth/verify-email", api_account_verify_email, ROUTE_JSON | ROUTE_WRITES, NULL},
    {HTTP_POST, "/api/v1/users/me/verify-email", api_account_resend, ROUTE_AUTH | ROUTE_WRITES, NULL},
    {HTTP_POST, "/api/v1/auth/password-reset", api_account_reset_request, ROUTE_JSON | ROUTE_WRITES, NULL},
    {HTTP_POST, "/api/v1/auth/password-reset/confirm", api_account_reset_confirm, ROUTE_JSON | ROUTE_HASH,
     NULL},
};
const size_t api_account_nroutes = sizeof(api_account_routes) / sizeof(api_account_routes[0]);
