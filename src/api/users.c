/* The current user: read, update (username and email stay unique ignoring
 * case: 409), change the password (every other session ends) and delete
 * the account with all its data. ETags are "u<id>-v<version>"; PATCH and
 * DELETE honour If-Match. Password checks run on the hash pool and count
 * towards the same failure backoff as logins, so a stolen access token is
 * no password oracle. A new email address gets a verification link and
 * the old one a notice; a password change gets a notice too. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/cached.h"
#include "api/validate.h"
#include "auth/auth.h"
#include "mail/mail.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"

void
api_write_user(struct jw *w, const struct store_user *u)
{
    jw_obj_begin(w);
    jw_key(w, "id");
    jw_int(w, u->id);
    jw_key(w, "username");
    jw_str(w, u->username);
    jw_key(w, "email");
    jw_str(w, u->email);
    jw_key(w, "email_verified");
    jw_bool(w, u->email_verified);
    jw_key(w, "mfa_enabled");
    jw_bool(w, u->totp_enabled);
    jw_key(w, "created_at");
    api_jw_time(w, u->created_at);
    jw_key(w, "updated_at");
    api_jw_time(w, u->updated_at);
    jw_obj_end(w);
}

static const char *
etag(struct http_req *r, const struct store_user *u)
{
    return arena_printf(&r->arena, "\"u%lld-v%lld\"", (long long)u->id, (long long)u->version);
}

/* True when the comma list in header names tag (or is "*"); W/ prefixes
 * compare weakly, as If-None-Match wants. */
static bool
tag_listed(const char *header, size_t n, const char *tag, bool weak_ok)
{
    size_t tl = strlen(tag);
    const char *p = header, *end = header + n;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *q = p;
        while (q < end && *q != ',')
            q++;
        const char *e = q;
        while (e > p && e[-1] == ' ')
            e--;
        if (e - p == 1 && *p == '*')
            return true;
        if (weak_ok && e - p > 2 && p[0] == 'W' && p[1] == '/')
            p += 2;
        if ((size_t)(e - p) == tl && memcmp(p, tag, tl) == 0)
            return true;
        p = q;
    }
    return false;
}

/* If-Match against the current row: false after replying 412. */
static bool
if_match_ok(struct http_req *r, const struct store_user *u)
{
    size_t n = 0;
    const char *h = http_req_header(r, "if-match", &n);
    if (h == NULL || tag_listed(h, n, etag(r, u), false))
        return true;
    api_reply_error(r, ERR_PRECONDITION);
    return false;
}

bool
api_load_me(struct http_req *r, struct store_user *u, bool primary)
{
    bool was = store_reading_from_primary();
    if (primary)
        store_reads_from_primary(true);
    int err = store_user_get(api_deps()->store, r->user_id, &r->arena, u);
    store_reads_from_primary(was);
    if (err == ERR_NOT_FOUND) {
        api_reply_account_gone(r);
        return false;
    }
    if (err != OK) {
        api_reply_error(r, err);
        return false;
    }
    return true;
}

static void
reply_user(struct http_req *r, const struct store_user *u)
{
    struct jw *w = http_reply_json_begin(r, 200);
    api_write_user(w, u);
    http_reply_header(r, "etag", etag(r, u));
    http_reply_header(r, "cache-control", "private, no-cache");
}

static void
users_me_read(struct http_req *r)
{
    struct store_user u;
    if (!api_load_me(r, &u, false))
        return;
    size_t n = 0;
    const char *inm = http_req_header(r, "if-none-match", &n);
    if (inm != NULL && tag_listed(inm, n, etag(r, &u), true)) {
        http_reply_empty(r, 304);
        http_reply_header(r, "etag", etag(r, &u));
        http_reply_header(r, "cache-control", "private, no-cache"); /* RFC 9110 15.4.5: as the 200 would */
        return;
    }
    reply_user(r, &u);
}

static void
api_users_me(struct http_req *r)
{
    api_cached_read(r, CACHE_USER, 0, users_me_read);
}

void
api_notice(struct http_req *r, const struct mail_message *msg, int64_t user_id)
{
    struct mail *m = api_deps()->mail;
    int err = m != NULL ? mail_queue(m, msg, user_id, &r->arena) : ERR_INTERNAL;
    if (err != OK)
        log_write(LOG_WARN, "account", r->request_id, "no notice mail for user %lld (%s)", (long long)user_id,
                  err_name(err));
}

/* The email changed (the store made the account unverified): a link to
 * the new address, a notice to the old one naming the new. */
static void
email_changed(struct http_req *r, const struct store_user *old, const struct store_user *u)
{
    (void)api_account_send_verification(r, u, true);
    struct mail_message msg = {
        .kind = MAIL_EMAIL_CHANGED,
        .to = old->email,
        .username = u->username,
        .new_email = u->email,
        .request_id = r->request_id,
    };
    api_notice(r, &msg, u->id);
    api_security_event(r, "email.changed", u->id, NULL);
}

static void
api_users_update(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"username", API_STRING, 0, AUTH_USERNAME_MIN, AUTH_USERNAME_MAX, NULL},
        {"email", API_STRING, 0, 3, AUTH_EMAIL_MAX, NULL},
    };
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    struct store_user_patch p = {
        .username = json_string_value(json_object_get(r->json, "username")),
        .email = json_string_value(json_object_get(r->json, "email")),
    };
    struct auth_problem problems[2];
    size_t n = 0;
    if (p.username != NULL && auth_username_check(p.username, &problems[n]) != OK)
        n++;
    if (p.email != NULL && auth_email_check(p.email, &problems[n]) != OK)
        n++;
    if (n > 0) {
        api_reply_invalid_fields(r, problems, n);
        return;
    }
    struct store_user cur, u;
    if (!api_load_me(r, &cur, false) || !if_match_ok(r, &cur))
        return;
    /* With If-Match, the row must still be the one it matched. */
    int64_t expect = http_req_header(r, "if-match", NULL) != NULL ? cur.version : 0;
    enum store_conflict conflict = STORE_CONFLICT_NONE;
    int err = store_user_update(api_deps()->store, r->user_id, &p, expect, &r->arena, &u, &conflict);
    api_cached_bump(r);
    if (err == ERR_CONFLICT) {
        api_reply_conflict(r, conflict);
        return;
    }
    if (err == ERR_NOT_FOUND) {
        api_reply_account_gone(r);
        return;
    }
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    if (strcasecmp(cur.email, u.email) != 0)
        email_changed(r, &cur, &u);
    reply_user(r, &u);
}

bool
api_password_ok(struct http_req *r, const struct store_user *u, const char *field)
{
    char ip[64];
    api_client_ip(r, ip, sizeof(ip));
    const json_t *pv = json_object_get(r->json, field);
    struct auth_credential c = {
        .user_id = u->id,
        .hash = u->password_hash,
        .ip = ip,
        .password = json_string_value(pv),
        .len = json_string_length(pv),
    };
    bool rehash = false;
    struct auth_rl_verdict v;
    switch (auth_credential_check(api_deps()->auth, &c, &rehash, &v)) {
    case AUTH_CREDENTIAL_OK:
        return true;
    case AUTH_CREDENTIAL_LIMITED:
        api_reply_rate_limited(r, &v);
        return false;
    case AUTH_CREDENTIAL_NOMEM:
        api_reply_error(r, ERR_OVERLOADED);
        return false;
    case AUTH_CREDENTIAL_WRONG:
        break;
    }
    struct auth_problem p = {field, "incorrect", "is not the account's current password"};
    api_reply_invalid_fields(r, &p, 1);
    return false;
}

static void
api_users_password(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"current_password", API_STRING, API_REQUIRED, 1, 0, NULL},
        {"new_password", API_STRING, API_REQUIRED, 0, 0, NULL},
    };
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    const json_t *cur = json_object_get(r->json, "current_password");
    const json_t *npv = json_object_get(r->json, "new_password");
    if (json_string_length(cur) > AUTH_PASSWORD_MAX) {
        struct auth_problem p = {"current_password", "too_long", "must be at most 1024 bytes"};
        api_reply_invalid_fields(r, &p, 1);
        return;
    }
    struct store_user u;
    if (!api_load_me(r, &u, false))
        return;
    struct auth_problem p;
    if (auth_password_check(json_string_value(npv), json_string_length(npv), u.username, u.email, &p) != OK) {
        p.field = "new_password";
        api_reply_invalid_fields(r, &p, 1);
        return;
    }
    if (!api_password_ok(r, &u, "current_password"))
        return;
    char hash[AUTH_HASH_MAX];
    int err = auth_password_hash(json_string_value(npv), json_string_length(npv), hash);
    if (err != OK) {
        api_reply_error(r, ERR_OVERLOADED);
        return;
    }
    err = auth_session_password_changed(api_deps()->auth, u.id, hash, r->session_id);
    api_cached_bump(r); /* the account's version moved */
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    struct mail_message msg = {
        .kind = MAIL_PASSWORD_CHANGED,
        .to = u.email,
        .username = u.username,
        .request_id = r->request_id,
    };
    api_notice(r, &msg, u.id);
    api_security_event(r, "password.changed", u.id, "other sessions ended");
    http_reply_empty(r, 204);
}

static void
api_users_delete(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"password", API_STRING, API_REQUIRED, 1, 0, NULL},
    };
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    if (json_string_length(json_object_get(r->json, "password")) > AUTH_PASSWORD_MAX) {
        struct auth_problem p = {"password", "too_long", "must be at most 1024 bytes"};
        api_reply_invalid_fields(r, &p, 1);
        return;
    }
    struct store_user u;
    if (!api_load_me(r, &u, false) || !if_match_ok(r, &u) || !api_password_ok(r, &u, "password"))
        return;
    int err = auth_user_delete(api_deps()->auth, u.id);
    api_cached_bump(r);
    if (err != OK && err != ERR_NOT_FOUND) {
        api_reply_error(r, err);
        return;
    }
    log_write(LOG_INFO, "auth", r->request_id, "user %lld deleted their account", (long long)u.id);
    http_reply_empty(r, 204);
}

const struct http_route api_users_routes[] = {
    {HTTP_GET, "/api/v1/users/me", api_users_me, ROUTE_AUTH | ROUTE_READS, NULL},
    {HTTP_PATCH, "/api/v1/users/me", api_users_update, ROUTE_AUTH | ROUTE_JSON | ROUTE_WRITES, NULL},
    {HTTP_DELETE, "/api/v1/users/me", api_users_delete, ROUTE_AUTH | ROUTE_JSON | ROUTE_HASH, NULL},
    {HTTP_POST, "/api/v1/users/me/password", api_users_password, ROUTE_AUTH | ROUTE_JSON | ROUTE_HASH, NULL},
};
const size_t api_users_nroutes = sizeof(api_users_routes) / sizeof(api_users_routes[0]);
