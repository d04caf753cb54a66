/* The current user's second factor: TOTP enrolment (a secret, kept sealed
 * and pending until a code from it confirms it; then ten recovery codes,
 * shown once), its state, and turning it off (the password and a code).
 * Turning it on or off sends a notice mail and logs a security event; the
 * login's second step itself is in auth.c (/auth/mfa, /auth/web/mfa).
 * Password and code checks count towards the login backoff. */
#include <string.h>

#include <sodium.h>

#include "api/api.h"
#include "api/cached.h"
#include "api/validate.h"
#include "auth/auth.h"
#include "auth/totp.h"
#include "mail/mail.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

enum { CODE_MAX = 64, IP_MAX = 64 };

/* Queues a notice mail about the account. */
static void
notice(struct http_req *r, const struct store_user *u, enum mail_kind kind)
{
    struct mail_message msg = {
        .kind = kind, .to = u->email, .username = u->username, .request_id = r->request_id};
    api_notice(r, &msg, u->id);
}

static void
reply_incorrect(struct http_req *r, const char *field, const char *message)
{
    struct auth_problem p = {field, "incorrect", message};
    api_reply_invalid_fields(r, &p, 1);
}

/* POST /users/me/mfa/totp: a new pending secret (replacing any pending
 * one), shown once. */
static void
api_mfa_totp_begin(struct http_req *r)
{
    http_reply_header(r, "cache-control", "no-store");
    if (r->body_len > 0 && (!http_req_parse_json(r) || !api_validate(r, r->json, NULL, 0)))
        return;
    struct store_user u;
    if (!api_load_me(r, &u, true))
        return;
    if (u.totp_enabled) {
        http_reply_problem(r, 409, "mfa_already_enabled", "Conflict",
                           "TOTP is already on for this account: turn it off first to enrol again");
        return;
    }
    uint8_t raw[AUTH_TOTP_SECRET_LEN];
    char text[AUTH_TOTP_SECRET_TEXT];
    auth_totp_secret_new(raw, text);
    const char *sealed = auth_totp_seal(api_deps()->secret, raw, &r->arena);
    sodium_memzero(raw, sizeof(raw));
    int err = store_user_totp_pending(api_deps()->store, u.id, sealed);
    api_cached_bump(r);
    if (err == ERR_NOT_FOUND) {
        api_reply_account_gone(r);
        return;
    }
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    struct jw *w = http_reply_json_begin(r, 200);
    jw_obj_begin(w);
    jw_key(w, "secret");
    jw_str(w, text);
    jw_key(w, "otpauth_uri");
    jw_str(w, auth_totp_uri(u.username, text, &r->arena));
    jw_obj_end(w);
    sodium_memzero(text, sizeof(text));
}

/* POST /users/me/mfa/totp/confirm: a code of the pending secret turns TOTP
 * on and answers the ten recovery codes (the only time they are shown). */
static void
api_mfa_totp_confirm(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"code", API_STRING, API_REQUIRED, 1, CODE_MAX, NULL},
    };
    http_reply_header(r, "cache-control", "no-store");
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    struct store_user u;
    if (!api_load_me(r, &u, true))
        return;
    if (u.totp_enabled || u.totp_pending == NULL) {
        http_reply_problem(r, 409, "mfa_not_pending", "Conflict",
                           "no TOTP enrolment is pending: start one with POST /api/v1/users/me/mfa/totp");
        return;
    }
    uint8_t raw[AUTH_TOTP_SECRET_LEN];
    if (!auth_totp_open(api_deps()->secret, u.totp_pending, &r->arena, raw)) {
        log_write(LOG_ERROR, "mfa", r->request_id, "the pending TOTP secret of user %lld does not open",
                  (long long)u.id);
        api_reply_error(r, ERR_INTERNAL);
        return;
    }
    int64_t step = 0;
    bool match = auth_totp_verify(raw, json_string_value(json_object_get(r->json, "code")),
                                  clock_wall_ms() / 1000, &step);
    sodium_memzero(raw, sizeof(raw));
    if (!match) {
        reply_incorrect(r, "code", "is not a current code of the secret being enrolled");
        return;
    }
    char codes[AUTH_RECOVERY_CODES][AUTH_RECOVERY_TEXT];
    uint8_t hashes[AUTH_RECOVERY_CODES][AUTH_RECOVERY_HASH];
    auth_totp_recovery_new(api_deps()->secret, codes, hashes);
    int err = store_user_totp_enable(api_deps()->store, u.id, u.totp_pending, step,
                                     (const uint8_t(*)[STORE_HASH_LEN])hashes, AUTH_RECOVERY_CODES);
    api_cached_bump(r);
    if (err == ERR_PRECONDITION) {
        http_reply_problem(r, 409, "mfa_not_pending", "Conflict",
                           "another enrolment started meanwhile: confirm with a code of its secret");
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
    notice(r, &u, MAIL_MFA_ENABLED);
    api_security_event(r, "mfa.enabled", u.id, NULL);
    struct jw *w = http_reply_json_begin(r, 200);
    jw_obj_begin(w);
    jw_key(w, "recovery_codes");
    jw_arr_begin(w);
    for (int i = 0; i < AUTH_RECOVERY_CODES; i++)
        jw_str(w, codes[i]);
    jw_arr_end(w);
    jw_obj_end(w);
    sodium_memzero(codes, sizeof(codes));
}

/* DELETE /users/me/mfa/totp: the password and a code (TOTP or recovery)
 * turn TOTP off and delete the recovery codes. Hash pool. */
static void
api_mfa_totp_disable(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"password", API_STRING, API_REQUIRED, 1, 0, NULL},
        {"code", API_STRING, API_REQUIRED, 1, CODE_MAX, NULL},
    };
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    if (json_string_length(json_object_get(r->json, "password")) > AUTH_PASSWORD_MAX) {
        struct auth_problem p = {"password", "too_long", "must be at most 1024 bytes"};
        api_reply_invalid_fields(r, &p, 1);
        return;
    }
    struct store_user u;
    if (!api_load_me(r, &u, true))
        return;
    if (!u.totp_enabled) {
        http_reply_problem(r, 409, "mfa_not_enabled", "Conflict", "TOTP is not on for this account");
        return;
    }
    char ip[IP_MAX];
    api_client_ip(r, ip, sizeof(ip));
    if (!api_password_ok(r, &u, "password"))
        return;
    struct auth_totp_attempt at = {
        .store = api_deps()->store,
        .server_secret = api_deps()->secret,
        .user = &u,
        .code = json_string_value(json_object_get(r->json, "code")),
        .ip = ip,
        .now_ms = clock_wall_ms(),
    };
    struct auth_rl_verdict limited;
    int err = OK, left = 0;
    switch (auth_totp_check(api_deps()->auth, &at, &limited, &err, &left)) {
    case AUTH_TOTP_OK:
        break;
    case AUTH_TOTP_RECOVERY:
        api_security_event(r, "mfa.recovery_code_used", u.id,
                           arena_printf(&r->arena, "%d recovery codes left", left));
        break;
    case AUTH_TOTP_WRONG:
        api_security_event(r, "mfa.failed", u.id, "turning TOTP off");
        reply_incorrect(r, "code", "is not a current code or an unused recovery code");
        return;
    case AUTH_TOTP_LIMITED:
        api_reply_rate_limited(r, &limited);
        return;
    case AUTH_TOTP_ERROR:
        api_reply_error(r, err);
        return;
    }
    err = store_user_totp_disable(api_deps()->store, u.id);
    api_cached_bump(r);
    if (err != OK && err != ERR_NOT_FOUND) {
        api_reply_error(r, err);
        return;
    }
    notice(r, &u, MAIL_MFA_DISABLED);
    api_security_event(r, "mfa.disabled", u.id, NULL);
    http_reply_empty(r, 204);
}

/* GET /users/me/mfa: whether TOTP is on and how many recovery codes are
 * left unused. */
static void
api_mfa_state(struct http_req *r)
{
    struct store_user u;
    if (!api_load_me(r, &u, true))
        return;
    int left = 0;
    if (u.totp_enabled) {
        int err = store_recovery_code_count(api_deps()->store, u.id, &left);
        if (err != OK) {
            api_reply_error(r, err);
            return;
        }
    }
    struct jw *w = http_reply_json_begin(r, 200);
    jw_obj_begin(w);
    jw_key(w, "totp_enabled");
    jw_bool(w, u.totp_enabled);
    jw_key(w, "recovery_codes_left");
    jw_int(w, left);
    jw_obj_end(w);
    http_reply_header(r, "cache-control", "no-store");
}

const struct http_route api_mfa_routes[] = {
    {HTTP_GET, "/api/v1/users/me/mfa", api_mfa_state, ROUTE_AUTH | ROUTE_READS, NULL},
    {HTTP_POST, "/api/v1/users/me/mfa/totp", api_mfa_totp_begin, ROUTE_AUTH | ROUTE_WRITES, NULL},
    {HTTP_POST, "/api/v1/users/me/mfa/totp/confirm", api_mfa_totp_confirm,
     ROUTE_AUTH | ROUTE_JSON | ROUTE_WRITES, NULL},
    {HTTP_DELETE, "/api/v1/users/me/mfa/totp", api_mfa_totp_disable, ROUTE_AUTH | ROUTE_JSON | ROUTE_HASH,
     NULL},
};
const size_t api_mfa_nroutes = sizeof(api_mfa_routes) / sizeof(api_mfa_routes[0]);
