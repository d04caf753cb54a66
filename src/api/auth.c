/* Accounts and sessions: register, login, the OAuth2 token endpoint,
 * refresh, logout, logout-all and the session list; the browser sessions
 * (/auth/web/...: the same login, refresh and logout, with the refresh token
 * in a cookie and the Origin checked first); plus the Bearer hook
 * that authenticates ROUTE_AUTH routes on the event loop (signature,
 * claims and the revoked-session set; never the database). Login and
 * /auth/token share one login path and one refresh path, so both answer
 * the same way and cost the same: an unknown account is verified against
 * a dummy hash and fails exactly like a wrong password. Token responses
 * carry Cache-Control: no-store. The JSON and the cookie endpoints differ
 * only in where the refresh token comes from and goes to (struct attempt's
 * web flag): everything else is one piece of code. After the password, a
 * login may stop at an unverified address (PACE_REQUIRE_VERIFIED_EMAIL) or
 * at the second factor: then it answers an mfa_token (only its SHA-256 is
 * stored, spent by the one success of /auth/mfa or /auth/web/mfa). */
#include <ctype.h>
#include <string.h>

#include <sodium.h>

#include "api/api.h"
#include "cache/cache.h"
#include "api/validate.h"
#include "auth/auth.h"
#include "auth/totp.h"
#include "http/query.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

enum {
    IP_MAX = 64,
    REFRESH_TEXT_MAX = 512, /* characters accepted in a body before we look */
    LOGIN_MAX = 254,
    FORM_MAX = 8192, /* bytes of a token request */
    SESSIONS_MAX = 100,
    COOKIE_HEADERS_MAX = 8,   /* Cookie headers of one request looked at */
    COOKIE_HEADER_MAX = 8192, /* bytes of one Cookie header looked at */
    COOKIE_VALUES_MAX = 4,    /* pace_refresh values kept (more: refused) */
    MFA_CODE_MAX = 64         /* characters of a code accepted in a body */
};

/* The browser session's cookie (docs/api.md, "Browser sessions"). */
#define COOKIE_NAME "pace_refresh"
#define COOKIE_PATH "/api/v1/auth/web"

static struct auth *
ctx(void)
{
    return api_deps()->auth;
}

void
api_client_ip(struct http_req *r, char *out, size_t cap)
{
    size_t len = 0;
    const char *xff = http_req_header(r, "x-forwarded-for", &len);
    auth_client_ip(auth_proxies(ctx()), r->client, xff, xff != NULL ? len : 0, out, cap);
}

/* The User-Agent, NUL-terminated in the arena, or NULL. */
static const char *
user_agent(struct http_req *r)
{
    size_t len = 0;
    const char *ua = http_req_header(r, "user-agent", &len);
    if (ua == NULL)
        return NULL;
    return arena_strndup(&r->arena, ua, len < AUTH_USER_AGENT_MAX ? len : AUTH_USER_AGENT_MAX);
}

char *
api_limit_key(struct http_req *r, const char *prefix, const char *s)
{
    char *out = arena_printf(&r->arena, "%s%s", prefix, s);
    for (char *p = out; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

void
api_no_store(struct http_req *r)
{
    http_reply_header(r, "cache-control", "no-store");
    http_reply_header(r, "pragma", "no-cache");
}

/* Sets the refresh cookie to token for max_age seconds; token "" with
 * max_age 0 clears it. */
static void
set_cookie(struct http_req *r, const char *token, int max_age)
{
    http_reply_header(r, "set-cookie",
                      arena_printf(&r->arena,
                                   COOKIE_NAME "=%s; Path=" COOKIE_PATH
                                               "; Max-Age=%d; HttpOnly; Secure; SameSite=Strict",
                                   token, max_age));
}

static void
clear_cookie(struct http_req *r)
{
    set_cookie(r, "", 0);
}

/* The token pair: all of it in the body, or for a browser session (web)
 * the access token in the body and the refresh token in the cookie. */
static void
reply_pair(struct http_req *r, const struct auth_pair *p, bool web)
{
    struct jw *w = http_reply_json_begin(r, 200);
    jw_obj_begin(w);
    jw_key(w, "access_token");
    jw_str(w, p->access);
    jw_key(w, "token_type");
    jw_str(w, "Bearer");
    jw_key(w, "expires_in");
    jw_int(w, p->expires_in);
    if (!web) {
        jw_key(w, "refresh_token");
        jw_str(w, p->refresh);
        jw_key(w, "refresh_expires_in");
        jw_int(w, p->refresh_expires_in);
    }
    jw_obj_end(w);
    if (web)
        set_cookie(r, p->refresh, p->refresh_expires_in);
}

/* ---- the browser sessions' cookie and origin ---- */

/* The values of every pace_refresh cookie the request carries (RFC 6265
 * section 5.4: "name=value" pairs separated by ';' and spaces, in one or
 * several Cookie headers; a value may be in double quotes). Other cookies
 * are skipped, names are case-sensitive. Returns how many were found, up
 * to COOKIE_VALUES_MAX + 1 (then the request is refused anyway); values
 * point into the headers (borrowed). Headers past the caps are not read. */
static size_t
refresh_cookies(struct http_req *r, const char **val, size_t *vlen)
{
    static const char name[] = COOKIE_NAME;
    const size_t nl = sizeof(name) - 1;
    size_t found = 0;
    for (size_t h = 0; h < COOKIE_HEADERS_MAX; h++) {
        size_t len = 0;
        const char *p = http_req_header_at(r, "cookie", h, &len);
        if (p == NULL)
            break;
        if (len > COOKIE_HEADER_MAX)
            len = COOKIE_HEADER_MAX;
        const char *end = p + len;
        while (p < end) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *pe = semi != NULL ? semi : end;
            while (p < pe && (*p == ' ' || *p == '\t'))
                p++;
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            if (eq != NULL && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
                const char *v = eq + 1, *ve = pe;
                while (v < ve && (*v == ' ' || *v == '\t'))
                    v++;
                while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
                    v++;
                    ve--;
                }
                if (found < COOKIE_VALUES_MAX) {
                    val[found] = v;
                    vlen[found] = (size_t)(ve - v);
                }
                if (++found > COOKIE_VALUES_MAX)
                    return found;
            }
            p = semi != NULL ? semi + 1 : end;
        }
    }
    return found;
}

/* The start of every browser-session request, before rate limits and the
 * body: the Origin must be pace's own or listed (PACE_CORS_ORIGINS), else
 * 403 forbidden_origin. Then an optional body: none, or a JSON object
 * (for web/login, its fields; for the others, none: "{}"). false after
 * replying. */
static bool
web_begin(struct http_req *r, bool body_required)
{
    api_no_store(r);
    if (!http_origin_allowed(r)) {
        http_reply_problem(r, 403, "forbidden_origin", "Forbidden",
                           "browser sessions are only available to pages from this server or an origin "
                           "listed in PACE_CORS_ORIGINS (the Origin header)");
        return false;
    }
    if (!body_required && r->body_len == 0)
        return true;
    if (!http_req_parse_json(r))
        return false;
    return body_required || api_validate(r, r->json, NULL, 0);
}

/* ---- the Bearer hook ---- */

bool
api_auth_hook(struct http_req *r)
{
    size_t len = 0;
    const char *h = http_req_header(r, "authorization", &len);
    if (h == NULL) {
        api_reply_unauthorized(r, "unauthorized", NULL);
        return false;
    }
    if (http_req_header_count(r, "authorization") > 1) {
        /* Which one counts would be a guess that a proxy may make otherwise. */
        http_reply_problem(r, 400, "duplicate_header", "Bad request",
                           "the request must carry exactly one Authorization header");
        http_reply_header(r, "www-authenticate", "Bearer realm=\"pace\", error=\"invalid_request\"");
        return false;
    }
    if (len < 7 || strncasecmp(h, "Bearer ", 7) != 0) {
        /* Another scheme is no token at all (RFC 6750 section 3.1). */
        api_reply_unauthorized(r, "unauthorized", NULL);
        return false;
    }
    const char *tok = h + 7;
    size_t tl = len - 7;
    while (tl > 0 && *tok == ' ') {
        tok++;
        tl--;
    }
    while (tl > 0 && tok[tl - 1] == ' ')
        tl--;
    struct auth_claims c;
    bool revoked = false, unsure = false;
    enum auth_jwt_status st = auth_access_verify(ctx(), tok, tl, &c, &revoked, &unsure);
    if (st != AUTH_JWT_OK) {
        if (log_enabled(LOG_DEBUG))
            log_write(LOG_DEBUG, "auth", r->request_id, "access token refused: %s", auth_jwt_status_name(st));
        api_reply_unauthorized(r, "unauthorized",
                               st == AUTH_JWT_EXPIRED ? "the access token has expired"
                                                      : "the access token is not valid");
        return false;
    }
    if (revoked) {
        api_reply_unauthorized(r, "unauthorized", "the session of this access token has ended");
        return false;
    }
    if (unsure) {
        /* Neither Redis nor the database could confirm the revocations
         * are up to date: a revoked token must not get through. */
        http_reply_problem(r, 503, "unavailable", "Service unavailable",
                           "this instance cannot confirm that the session is still valid; retry shortly");
        http_reply_header(r, "retry-after", "2");
        return false;
    }
    r->user_id = c.user_id;
    r->session_id = c.session_id;
    return true;
}

/* ---- login, shared by /auth/login and the password grant ---- */

/* OUT_UNVERIFIED and OUT_MFA: a login whose password was right, stopped
 * before its session (PACE_REQUIRE_VERIFIED_EMAIL; the second factor). */
enum outcome { OUT_OK, OUT_FAILED, OUT_LIMITED, OUT_ERROR, OUT_UNVERIFIED, OUT_MFA };

struct attempt {
    enum outcome outcome;
    enum auth_refresh_result refresh;  /* refresh attempts that failed */
    int err;                           /* OUT_ERROR */
    struct auth_rl_verdict ip;         /* for the RateLimit-* headers */
    struct auth_rl_verdict limited;    /* the limit that refused, OUT_LIMITED */
    struct auth_pair pair;             /* OUT_OK */
    bool web;                          /* a browser session: the refresh token in the cookie */
    int64_t user_id;                   /* a login whose password was right */
    struct store_user user;            /* its account (strings in the request's arena) */
    char mfa_token[AUTH_REFRESH_TEXT]; /* OUT_MFA */
    char addr[IP_MAX];                 /* the client's address */
};

/* The hash pool's part of a login: limits, the account, the password.
 * Returns true when the password is right (a->user_id): the session is
 * then login_session's, on the blocking pool. Otherwise a->outcome says. */
static bool
login_verify(struct http_req *r, const char *login, const char *pw, size_t pwlen, struct attempt *a)
{
    struct auth *au = ctx();
    struct store *st = api_deps()->store;
    char *ip = a->addr;
    api_client_ip(r, ip, sizeof(a->addr));
    int64_t now = clock_wall_ms();
    auth_ratelimit_hit(auth_limits(au), AUTH_RL_LOGIN, true, ip, now, &a->ip);
    if (a->ip.limited) {
        a->outcome = OUT_LIMITED;
        a->limited = a->ip;
        return false;
    }
    struct store_user u;
    int err = store_user_get_by_login(st, login, &r->arena, &u);
    if (err != OK && err != ERR_NOT_FOUND) {
        a->outcome = OUT_ERROR;
        a->err = err;
        return false;
    }
    /* Unknown logins are limited like accounts, so limits reveal nothing. */
    struct auth_credential c = {
        .user_id = err == OK ? u.id : 0,
        .login = login,
        .hash = err == OK ? u.password_hash : NULL,
        .ip = ip,
        .password = pw,
        .len = pwlen,
    };
    bool rehash = false;
    switch (auth_credential_check(au, &c, &rehash, &a->limited)) {
    case AUTH_CREDENTIAL_OK:
        break;
    case AUTH_CREDENTIAL_WRONG:
        a->outcome = OUT_FAILED;
        api_security_event(r, "login.failed", c.user_id,
                           c.user_id != 0 ? "wrong password" : "no such account");
        return false;
    case AUTH_CREDENTIAL_LIMITED:
        a->outcome = OUT_LIMITED;
        return false;
    case AUTH_CREDENTIAL_NOMEM:
        a->outcome = OUT_ERROR;
        a->err = ERR_OVERLOADED;
        return false;
    }
    if (rehash) {
        /* New parameters or a legacy hash: replace it while we know the
         * password. A failure here costs nothing but a later retry. */
        char hash[AUTH_HASH_MAX];
        int herr = auth_password_hash(pw, pwlen, hash);
        if (herr == OK)
            herr = store_user_set_password(st, u.id, hash, false, 0);
        cache_bump(api_deps()->cache, u.id); /* the account's version moved */
        if (herr != OK)
            log_write(LOG_WARN, "auth", r->request_id,
                      "could not upgrade the password hash of user %lld (%s)", (long long)u.id,
                      err_name(herr));
    }
    a->user_id = u.id;
    a->user = u;
    return true;
}

/* A new mfa_token for user_id into out (43 characters), its hash stored
 * until PACE_MFA_TOKEN_TTL from now. OK or the store's error. */
static int
mfa_token_new(int64_t user_id, char out[AUTH_REFRESH_TEXT])
{
    struct store_token t = {
        .user_id = user_id,
        .purpose = STORE_TOKEN_MFA_LOGIN,
        .expires_at = clock_wall_ms() + (int64_t)api_deps()->mfa_token_ttl * 1000,
    };
    auth_token_new(out, t.hash);
    return store_token_create(api_deps()->store, &t, false, NULL);
}

/* A login refused for an unverified address sends a fresh link, at most
 * PACE_RATE_LIMIT_MAIL an hour per account (past it, silently none). */
static void
resend_verification(struct http_req *r, const struct store_user *u)
{
    struct auth_rl_verdict v;
    auth_ratelimit_hit(auth_limits(ctx()), AUTH_RL_MAIL, false,
                       arena_printf(&r->arena, "u:%lld", (long long)u->id), clock_wall_ms(), &v);
    if (!v.limited)
        api_account_send_verification(r, u, false);
}

/* What follows a right password (blocking pool): a refusal for an
 * unverified address, the second factor's mfa_token, or the session. */
static void
login_session(struct http_req *r, struct attempt *a)
{
    const struct store_user *u = &a->user;
    if (api_deps()->require_verified_email && !u->email_verified) {
        resend_verification(r, u);
        a->outcome = OUT_UNVERIFIED;
        return;
    }
    if (u->totp_enabled) {
        int terr = mfa_token_new(u->id, a->mfa_token);
        if (terr == ERR_NOT_FOUND) {
            a->outcome = OUT_FAILED; /* deleted meanwhile */
            return;
        }
        a->outcome = terr == OK ? OUT_MFA : OUT_ERROR;
        a->err = terr;
        if (terr == OK)
            api_security_event(r, "login.mfa_required", u->id, NULL);
        return;
    }
    int err = auth_session_create(ctx(), a->user_id, user_agent(r), a->addr, false, &a->pair);
    if (err == ERR_NOT_FOUND) {
        a->outcome = OUT_FAILED; /* deleted meanwhile */
        return;
    }
    a->outcome = err == OK ? OUT_OK : OUT_ERROR;
    a->err = err;
    if (err == OK) {
        r->user_id = a->user_id; /* for the access log */
        api_security_event(r, "login.succeeded", a->user_id, NULL);
    }
}

/* ---- refresh, shared by /auth/refresh and the refresh_token grant ---- */

static void
refresh_attempt(struct http_req *r, const char *token, size_t len, struct attempt *a)
{
    struct auth *au = ctx();
    char ip[IP_MAX];
    api_client_ip(r, ip, sizeof(ip));
    auth_ratelimit_hit(auth_limits(au), AUTH_RL_REFRESH, true, ip, clock_wall_ms(), &a->ip);
    if (a->ip.limited) {
        a->outcome = OUT_LIMITED;
        a->limited = a->ip;
        return;
    }
    a->outcome = OUT_FAILED;
    a->refresh = AUTH_REFRESH_INVALID;
    uint8_t hash[AUTH_REFRESH_HASH];
    if (auth_refresh_hash(token, len, hash) != OK)
        return;
    int64_t user_id = 0;
    int err = auth_refresh_owner(au, hash, &user_id);
    if (err == ERR_NOT_FOUND)
        return;
    if (err == OK) {
        char *account = arena_printf(&r->arena, "u:%lld", (long long)user_id);
        auth_ratelimit_hit(auth_limits(au), AUTH_RL_REFRESH, false, account, clock_wall_ms(), &a->limited);
        if (a->limited.limited) {
            a->outcome = OUT_LIMITED;
            return;
        }
        err = auth_session_refresh(au, hash, &a->pair, &a->refresh);
        if (err == OK && a->refresh == AUTH_REFRESH_REUSED)
            api_security_event(r, "refresh_token.reused", user_id, "the session was ended");
    }
    if (err != OK) {
        a->outcome = OUT_ERROR;
        a->err = err;
        return;
    }
    a->outcome = a->refresh == AUTH_REFRESH_OK ? OUT_OK : OUT_FAILED;
    if (a->outcome == OUT_OK)
        r->user_id = a->pair.user_id; /* for the access log */
}

static const char *
refresh_code(enum auth_refresh_result res)
{
    switch (res) {
    case AUTH_REFRESH_EXPIRED:
        return "refresh_token_expired";
    case AUTH_REFRESH_REUSED:
        return "refresh_token_reused";
    default:
        return "refresh_token_invalid";
    }
}

static const char *
refresh_detail(enum auth_refresh_result res)
{
    switch (res) {
    case AUTH_REFRESH_EXPIRED:
        return "the refresh token has expired; log in again";
    case AUTH_REFRESH_REUSED:
        return "the refresh token was already used; its session has been ended";
    default:
        return "the refresh token is not valid; log in again";
    }
}

/* ---- handlers ---- */

static void
api_auth_register(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"username", API_STRING, API_REQUIRED, AUTH_USERNAME_MIN, AUTH_USERNAME_MAX, NULL},
        {"email", API_STRING, API_REQUIRED, 3, AUTH_EMAIL_MAX, NULL},
        {"password", API_STRING, API_REQUIRED, 0, 0, NULL},
    };
    struct auth *au = ctx();
    char ip[IP_MAX];
    api_client_ip(r, ip, sizeof(ip));
    struct auth_rl_verdict v;
    auth_ratelimit_hit(auth_limits(au), AUTH_RL_REGISTER, true, ip, clock_wall_ms(), &v);
    if (v.limited) {
        api_reply_rate_limited(r, &v);
        return;
    }
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        goto out;
    const char *username = json_string_value(json_object_get(r->json, "username"));
    const char *email = json_string_value(json_object_get(r->json, "email"));
    const json_t *pwv = json_object_get(r->json, "password");
    const char *pw = json_string_value(pwv);
    size_t pwlen = json_string_length(pwv);

    struct auth_problem problems[3];
    size_t n = 0;
    if (auth_username_check(username, &problems[n]) != OK)
        n++;
    if (auth_email_check(email, &problems[n]) != OK)
        n++;
    if (auth_password_check(pw, pwlen, username, email, &problems[n]) != OK)
        n++;
    if (n > 0) {
        api_reply_invalid_fields(r, problems, n);
        goto out;
    }
    struct auth_rl_verdict acct;
    auth_ratelimit_hit(auth_limits(au), AUTH_RL_REGISTER, false, api_limit_key(r, "n:", username),
                       clock_wall_ms(), &acct);
    if (!acct.limited)
        auth_ratelimit_hit(auth_limits(au), AUTH_RL_REGISTER, false, api_limit_key(r, "e:", email),
                           clock_wall_ms(), &acct);
    if (acct.limited) {
        api_reply_rate_limited(r, &acct);
        return;
    }

    char hash[AUTH_HASH_MAX];
    int err = auth_password_hash(pw, pwlen, hash);
    if (err != OK) {
        api_reply_error(r, ERR_OVERLOADED);
        goto out;
    }
    struct store_user u = {.username = username, .email = email, .password_hash = hash};
    enum store_conflict conflict = STORE_CONFLICT_NONE;
    err = store_user_create(api_deps()->store, &u, &conflict);
    if (err == ERR_CONFLICT) {
        api_reply_conflict(r, conflict);
        goto out;
    }
    if (err != OK) {
        api_reply_error(r, err);
        goto out;
    }
    r->user_id = u.id; /* for the access log */
    api_security_event(r, "user.registered", u.id, NULL);
    api_account_send_verification(r, &u, true); /* logged when it fails; the account exists either way */
    struct jw *w = http_reply_json_begin(r, 201);
    api_write_user(w, &u);
    http_reply_header(r, "location", "/api/v1/users/me");
out:
    api_ratelimit_headers(r, &v);
}

static void oauth_error(struct http_req *r, int status, const char *error, const char *description);

static const char UNVERIFIED[] =
    "the email address of this account is not verified: a new verification link was sent to it";
static const char MFA_REQUIRED[] = "this account needs a second factor: send a code with the mfa_token to "
                                   "/api/v1/auth/mfa (or /api/v1/auth/web/mfa)";

/* 401 mfa_required with the mfa_token (docs/api.md): a problem with two
 * extension members, or for /auth/token an OAuth error with the same. */
static void
reply_mfa_required(struct http_req *r, const struct attempt *a, bool oauth)
{
    struct jw *w;
    if (oauth) {
        w = http_reply_json_begin(r, 401);
        jw_obj_begin(w);
        jw_key(w, "error");
        jw_str(w, "mfa_required");
        jw_key(w, "error_description");
        jw_str(w, MFA_REQUIRED);
    } else {
        w = http_reply_problem_begin(r, 401, "mfa_required", "Unauthorized", MFA_REQUIRED);
    }
    jw_key(w, "mfa_token");
    jw_str(w, a->mfa_token);
    jw_key(w, "mfa_token_expires_in");
    jw_int(w, api_deps()->mfa_token_ttl);
    jw_obj_end(w);
    http_reply_header(r, "www-authenticate", "Bearer realm=\"pace\"");
}

/* The answer to a login or refresh attempt: the token pair, or why not.
 * oauth: as RFC 6749 wants it (/auth/token), with failed as the
 * description of invalid_grant; else pace's 401 invalid_credentials
 * (docs/api.md). */
static void
attempt_reply(struct http_req *r, const struct attempt *a, bool oauth, const char *failed)
{
    switch (a->outcome) {
    case OUT_OK:
        reply_pair(r, &a->pair, a->web);
        break;
    case OUT_FAILED:
        if (oauth)
            oauth_error(r, 400, "invalid_grant", failed);
        else
            api_reply_unauthorized(r, "invalid_credentials", failed);
        break;
    case OUT_LIMITED:
        api_reply_rate_limited(r, &a->limited);
        return;
    case OUT_ERROR:
        api_reply_error(r, a->err);
        break;
    case OUT_UNVERIFIED:
        if (oauth)
            oauth_error(r, 400, "invalid_grant", "the email address is not verified");
        else
            http_reply_problem(r, 403, "email_not_verified", "Forbidden", UNVERIFIED);
        break;
    case OUT_MFA:
        reply_mfa_required(r, a, oauth);
        break;
    }
    api_ratelimit_headers(r, &a->ip);
}

static const char LOGIN_FAILED[] = "the login or the password is wrong";

static void
login_reply(struct http_req *r, const struct attempt *a)
{
    attempt_reply(r, a, false, LOGIN_FAILED);
}

static void
api_auth_login_session(struct http_req *r)
{
    login_session(r, r->state);
    login_reply(r, r->state);
}

/* /auth/login and /auth/web/login: web says where the refresh token goes. */
static void
login(struct http_req *r, bool web)
{
    static const struct api_field fields[] = {
        {"login", API_STRING, API_REQUIRED, 1, LOGIN_MAX, NULL},
        {"password", API_STRING, API_REQUIRED, 1, 0, NULL},
    };
    if (!web)
        api_no_store(r);
    else if (!web_begin(r, true))
        return;
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    const json_t *pwv = json_object_get(r->json, "password");
    if (json_string_length(pwv) > AUTH_PASSWORD_MAX) {
        struct auth_problem p = {"password", "too_long", "must be at most 1024 bytes"};
        api_reply_invalid_fields(r, &p, 1);
        return;
    }
    struct attempt *a = arena_alloc(&r->arena, sizeof(*a));
    memset(a, 0, sizeof(*a));
    a->web = web;
    if (login_verify(r, json_string_value(json_object_get(r->json, "login")), json_string_value(pwv),
                     json_string_length(pwv), a)) {
        r->state = a;
        http_req_then(r, api_auth_login_session);
        return;
    }
    login_reply(r, a);
}

static void
api_auth_login(struct http_req *r)
{
    login(r, false);
}

static void
api_auth_web_login(struct http_req *r)
{
    login(r, true);
}

/* The answer to a refresh: the new pair, or 401 refresh_token_* (which
 * clears a browser session's cookie: that token is of no further use). A
 * 429 or a 5xx leaves the cookie alone: its token may still be good. */
static void
refresh_reply(struct http_req *r, const struct attempt *a)
{
    switch (a->outcome) {
    case OUT_OK:
        reply_pair(r, &a->pair, a->web);
        break;
    case OUT_FAILED:
        api_reply_unauthorized(r, refresh_code(a->refresh), refresh_detail(a->refresh));
        if (a->web)
            clear_cookie(r);
        break;
    case OUT_LIMITED:
        api_reply_rate_limited(r, &a->limited);
        return;
    case OUT_ERROR:
        api_reply_error(r, a->err);
        break;
    case OUT_UNVERIFIED:
    case OUT_MFA:
        api_reply_error(r, ERR_INTERNAL); /* logins only: never a refresh's */
        break;
    }
    api_ratelimit_headers(r, &a->ip);
}

static void
api_auth_refresh(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"refresh_token", API_STRING, API_REQUIRED, 1, REFRESH_TEXT_MAX, NULL},
    };
    api_no_store(r);
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    const char *tok = json_string_value(json_object_get(r->json, "refresh_token"));
    struct attempt a = {0};
    refresh_attempt(r, tok, strlen(tok), &a);
    refresh_reply(r, &a);
}

static void
api_auth_web_refresh(struct http_req *r)
{
    if (!web_begin(r, false))
        return;
    const char *val[COOKIE_VALUES_MAX];
    size_t vlen[COOKIE_VALUES_MAX];
    struct attempt a = {.web = true};
    if (refresh_cookies(r, val, vlen) != 1 || vlen[0] == 0 || vlen[0] > REFRESH_TEXT_MAX) {
        /* None, or several (which one the browser meant is a guess). */
        a.outcome = OUT_FAILED;
        a.refresh = AUTH_REFRESH_INVALID;
    } else {
        refresh_attempt(r, val[0], vlen[0], &a);
    }
    refresh_reply(r, &a);
}

/* Ends the session of a refresh token; an unknown token is no error
 * (logout is idempotent). false after replying to a store error. */
static bool
logout_token(struct http_req *r, const char *tok, size_t len)
{
    uint8_t hash[AUTH_REFRESH_HASH];
    if (auth_refresh_hash(tok, len, hash) != OK)
        return true;
    int err = auth_session_logout(ctx(), hash);
    if (err != OK) {
        api_reply_error(r, err);
        return false;
    }
    return true;
}

static void
api_auth_logout(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"refresh_token", API_STRING, API_REQUIRED, 1, REFRESH_TEXT_MAX, NULL},
    };
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    const char *tok = json_string_value(json_object_get(r->json, "refresh_token"));
    if (logout_token(r, tok, strlen(tok)))
        http_reply_empty(r, 204);
}

/* Every pace_refresh cookie the request carries ends its session: unlike
 * a refresh, which must pick one, a logout has no reason to spare any. */
static void
api_auth_web_logout(struct http_req *r)
{
    if (!web_begin(r, false))
        return;
    const char *val[COOKIE_VALUES_MAX];
    size_t vlen[COOKIE_VALUES_MAX];
    size_t n = refresh_cookies(r, val, vlen);
    for (size_t i = 0; i < n && i < COOKIE_VALUES_MAX; i++)
        if (!logout_token(r, val[i], vlen[i]))
            return;
    http_reply_empty(r, 204);
    clear_cookie(r);
}

static void
api_auth_logout_all(struct http_req *r)
{
    int err = auth_session_end_all(ctx(), r->user_id, 0);
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    http_reply_empty(r, 204);
}

static void
api_auth_sessions(struct http_req *r)
{
    struct store_session *rows = NULL;
    size_t n = 0;
    int err = store_session_list_active(api_deps()->store, r->user_id, clock_wall_ms(), SESSIONS_MAX,
                                        &r->arena, &rows, &n);
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    struct jw *w = http_reply_json_begin(r, 200);
    jw_obj_begin(w);
    jw_key(w, "items");
    jw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(w);
        jw_key(w, "id");
        jw_int(w, rows[i].id);
        jw_key(w, "created_at");
        api_jw_time(w, rows[i].created_at);
        jw_key(w, "last_used_at");
        api_jw_time(w, rows[i].last_used_at);
        jw_key(w, "user_agent");
        jw_str_or_null(w, rows[i].user_agent);
        jw_key(w, "ip");
        jw_str_or_null(w, rows[i].ip);
        jw_key(w, "current");
        jw_bool(w, rows[i].id == r->session_id);
        jw_key(w, "mfa");
        jw_bool(w, rows[i].mfa);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    http_reply_header(r, "cache-control", "no-store");
}

/* A path id: a positive decimal integer of at most 18 digits, else 0. */
static int64_t
path_id(struct http_req *r)
{
    const char *s = http_req_param(r, "id");
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 18 || s[0] == '0')
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static void
api_auth_session_delete(struct http_req *r)
{
    int64_t id = path_id(r);
    int err = id > 0 ? auth_session_end(ctx(), r->user_id, id) : ERR_NOT_FOUND;
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    http_reply_empty(r, 204);
}

/* ---- the login's second step: /auth/mfa and /auth/web/mfa ---- */

static void
reply_invalid_mfa_token(struct http_req *r)
{
    api_reply_unauthorized(r, "invalid_mfa_token",
                           "the mfa_token is not valid (unknown, used or expired); log in again");
}

/* The mfa_token and a code (TOTP or recovery) make a session with
 * mfa=true. A wrong code counts as a login failure of the account (the
 * login backoff: 429) and leaves the token for another try; only a
 * success spends it, exactly once. Blocking pool. */
static void
mfa_complete(struct http_req *r, bool web)
{
    static const struct api_field fields[] = {
        {"mfa_token", API_STRING, API_REQUIRED, 1, REFRESH_TEXT_MAX, NULL},
        {"code", API_STRING, API_REQUIRED, 1, MFA_CODE_MAX, NULL},
    };
    if (!web)
        api_no_store(r);
    else if (!web_begin(r, true))
        return;
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    struct auth *au = ctx();
    struct store *st = api_deps()->store;
    char ip[IP_MAX];
    api_client_ip(r, ip, sizeof(ip));
    struct auth_rl_verdict vip;
    auth_ratelimit_hit(auth_limits(au), AUTH_RL_LOGIN, true, ip, clock_wall_ms(), &vip);
    if (vip.limited) {
        api_reply_rate_limited(r, &vip);
        return;
    }
    const char *tok = json_string_value(json_object_get(r->json, "mfa_token"));
    const char *code = json_string_value(json_object_get(r->json, "code"));
    uint8_t hash[AUTH_REFRESH_HASH];
    struct store_token t;
    struct store_user u;
    int err = auth_refresh_hash(tok, strlen(tok), hash);
    if (err == OK)
        err = store_token_get(st, hash, STORE_TOKEN_MFA_LOGIN, clock_wall_ms(), &r->arena, &t);
    if (err == OK) {
        bool was = store_reading_from_primary();
        store_reads_from_primary(true); /* TOTP may have just been turned on or off */
        err = store_user_get(st, t.user_id, &r->arena, &u);
        store_reads_from_primary(was);
    }
    if (err == OK && !u.totp_enabled)
        err = ERR_NOT_FOUND; /* turned off since the password: that login is void */
    if (err == ERR_INVALID || err == ERR_NOT_FOUND) {
        reply_invalid_mfa_token(r);
        goto out;
    }
    if (err != OK) {
        api_reply_error(r, err);
        goto out;
    }
    struct auth_totp_attempt at = {.store = st,
                                   .server_secret = api_deps()->secret,
                                   .user = &u,
                                   .code = code,
                                   .ip = ip,
                                   .now_ms = clock_wall_ms()};
    struct auth_rl_verdict limited;
    int left = 0;
    switch (auth_totp_check(au, &at, &limited, &err, &left)) {
    case AUTH_TOTP_OK:
        break;
    case AUTH_TOTP_RECOVERY:
        api_security_event(r, "mfa.recovery_code_used", u.id,
                           arena_printf(&r->arena, "%d recovery codes left", left));
        break;
    case AUTH_TOTP_WRONG:
        api_security_event(r, "mfa.failed", u.id, NULL);
        api_reply_unauthorized(r, "invalid_mfa_code", "the code is wrong or was already used");
        goto out;
    case AUTH_TOTP_LIMITED:
        api_reply_rate_limited(r, &limited);
        return;
    case AUTH_TOTP_ERROR:
        api_reply_error(r, err);
        goto out;
    }
    /* The code was good: the token is this request's only if it is the
     * first to spend it (a concurrent success may have). */
    err = store_token_use(st, hash, STORE_TOKEN_MFA_LOGIN, clock_wall_ms(), NULL, NULL);
    if (err == ERR_NOT_FOUND) {
        reply_invalid_mfa_token(r);
        goto out;
    }
    struct auth_pair pair;
    if (err == OK)
        err = auth_session_create(au, u.id, user_agent(r), ip, true, &pair);
    if (err == ERR_NOT_FOUND) {
        reply_invalid_mfa_token(r); /* the account was deleted meanwhile */
        goto out;
    }
    if (err != OK) {
        api_reply_error(r, err);
        goto out;
    }
    r->user_id = u.id; /* for the access log */
    api_security_event(r, "mfa.succeeded", u.id, NULL);
    reply_pair(r, &pair, web);
out:
    api_ratelimit_headers(r, &vip);
}

static void
api_auth_mfa(struct http_req *r)
{
    mfa_complete(r, false);
}

static void
api_auth_web_mfa(struct http_req *r)
{
    mfa_complete(r, true);
}

/* ---- OAuth 2.0 token endpoint (RFC 6749 section 4.3, 6, 5.1, 5.2) ---- */

static void
oauth_error(struct http_req *r, int status, const char *error, const char *description)
{
    struct jw *w = http_reply_json_begin(r, status);
    jw_obj_begin(w);
    jw_key(w, "error");
    jw_str(w, error);
    jw_key(w, "error_description");
    jw_str(w, description);
    jw_obj_end(w);
}

enum { F_GRANT, F_USERNAME, F_PASSWORD, F_REFRESH, F_CLIENT_ID, F_CLIENT_SECRET, F_SCOPE, F_COUNT };
static const char *const form_names[F_COUNT] = {"grant_type", "username",      "password", "refresh_token",
                                                "client_id",  "client_secret", "scope"};

/* Parses the form into v (NULL = absent). A known parameter given twice,
 * or one that does not decode, is invalid_request: false after replying. */
static bool
form_parse(struct http_req *r, const char *v[F_COUNT], size_t vlen[F_COUNT])
{
    const char *p = r->body != NULL ? r->body : "", *end = p + r->body_len;
    struct http_form_pair kv;
    while (http_form_next(&p, end, &kv)) {
        for (int i = 0; i < F_COUNT; i++) {
            if (kv.name_len != strlen(form_names[i]) || memcmp(kv.name, form_names[i], kv.name_len) != 0)
                continue;
            if (v[i] != NULL) {
                oauth_error(
                    r, 400, "invalid_request",
                    arena_printf(&r->arena, "the parameter %s is given more than once", form_names[i]));
                return false;
            }
            v[i] = http_form_decode(&r->arena, kv.value, kv.value_len, true, &vlen[i]);
            if (v[i] == NULL) {
                oauth_error(
                    r, 400, "invalid_request",
                    arena_printf(&r->arena, "the parameter %s is not properly encoded", form_names[i]));
                return false;
            }
        }
    }
    return true;
}

static bool
is_form(struct http_req *r)
{
    static const char want[] = "application/x-www-form-urlencoded";
    size_t n = 0, wl = sizeof(want) - 1;
    const char *ct = http_req_header(r, "content-type", &n);
    if (ct == NULL || n < wl || strncasecmp(ct, want, wl) != 0)
        return false;
    return n == wl || ct[wl] == ';' || ct[wl] == ' ';
}

/* True for "Basic base64(client_id:)": a public client naming itself with
 * an empty secret (RFC 6749 section 2.3.1, what requests-oauthlib sends by
 * default). Any client id is accepted, as client_id in the body is; a
 * secret, another scheme or a malformed value is not. */
static bool
is_public_client_basic(const char *v, size_t len)
{
    if (len < 6 || strncasecmp(v, "Basic ", 6) != 0)
        return false;
    v += 6;
    len -= 6;
    while (len > 0 && *v == ' ') {
        v++;
        len--;
    }
    while (len > 0 && v[len - 1] == ' ')
        len--;
    unsigned char raw[LOGIN_MAX + 2];
    size_t n = 0;
    const char *end = NULL;
    if (len == 0 ||
        sodium_base642bin(raw, sizeof(raw), v, len, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != v + len)
        return false;
    /* client_id is form-encoded before base64, so the first ':' ends it. */
    const unsigned char *colon = memchr(raw, ':', n);
    return colon != NULL && colon != raw && colon == raw + n - 1;
}

static const char PASSWORD_GRANT_FAILED[] = "the username or the password is wrong";

static void
api_auth_token_session(struct http_req *r)
{
    login_session(r, r->state);
    attempt_reply(r, r->state, true, PASSWORD_GRANT_FAILED);
}

static void
api_auth_token(struct http_req *r)
{
    api_no_store(r);
    if (!is_form(r)) {
        oauth_error(r, 400, "invalid_request", "the body must be application/x-www-form-urlencoded");
        return;
    }
    if (r->body_len > FORM_MAX) {
        oauth_error(r, 400, "invalid_request", "the request is too large");
        return;
    }
    const char *v[F_COUNT] = {0};
    size_t vlen[F_COUNT] = {0};
    if (!form_parse(r, v, vlen))
        return;
    if (http_req_header_count(r, "authorization") > 1) {
        oauth_error(r, 400, "invalid_request", "the request must carry at most one Authorization header");
        return;
    }
    size_t alen = 0;
    const char *authz = http_req_header(r, "authorization", &alen);
    if ((v[F_CLIENT_SECRET] != NULL && vlen[F_CLIENT_SECRET] > 0) ||
        (authz != NULL && !is_public_client_basic(authz, alen))) {
        /* pace is its own only client: public clients send no secret. */
        oauth_error(r, 401, "invalid_client",
                    "client authentication is not supported; send no client secret");
        http_reply_header(r, "www-authenticate", "Basic realm=\"pace\"");
        return;
    }
    const char *grant = v[F_GRANT];
    if (grant == NULL || vlen[F_GRANT] == 0) {
        oauth_error(r, 400, "invalid_request", "grant_type is required");
        return;
    }
    struct attempt a = {0};
    if (strcmp(grant, "password") == 0) {
        if (v[F_USERNAME] == NULL || vlen[F_USERNAME] == 0 || vlen[F_USERNAME] > LOGIN_MAX ||
            v[F_PASSWORD] == NULL || vlen[F_PASSWORD] == 0 || vlen[F_PASSWORD] > AUTH_PASSWORD_MAX) {
            oauth_error(
                r, 400, "invalid_request",
                "the password grant needs username (at most 254 bytes) and password (at most 1024 bytes)");
            return;
        }
        struct attempt *la = arena_alloc(&r->arena, sizeof(*la));
        memset(la, 0, sizeof(*la));
        if (login_verify(r, v[F_USERNAME], v[F_PASSWORD], vlen[F_PASSWORD], la)) {
            r->state = la;
            http_req_then(r, api_auth_token_session);
            return;
        }
        attempt_reply(r, la, true, PASSWORD_GRANT_FAILED);
        return;
    }
    if (strcmp(grant, "refresh_token") == 0) {
        if (v[F_REFRESH] == NULL || vlen[F_REFRESH] == 0 || vlen[F_REFRESH] > REFRESH_TEXT_MAX) {
            oauth_error(r, 400, "invalid_request", "the refresh_token grant needs refresh_token");
            return;
        }
        refresh_attempt(r, v[F_REFRESH], vlen[F_REFRESH], &a);
        attempt_reply(r, &a, true, refresh_detail(a.refresh));
        return;
    }
    oauth_error(r, 400, "unsupported_grant_type", "grant_type must be password or refresh_token");
}

const struct http_route api_auth_routes[] = {
    {HTTP_POST, "/api/v1/auth/register", api_auth_register, ROUTE_JSON | ROUTE_HASH, NULL},
    {HTTP_POST, "/api/v1/auth/login", api_auth_login, ROUTE_JSON | ROUTE_HASH, NULL},
    {HTTP_POST, "/api/v1/auth/token", api_auth_token, ROUTE_HASH, NULL},
    {HTTP_POST, "/api/v1/auth/refresh", api_auth_refresh, ROUTE_JSON | ROUTE_WRITES, NULL},
    {HTTP_POST, "/api/v1/auth/logout", api_auth_logout, ROUTE_JSON | ROUTE_WRITES, NULL},
    {HTTP_POST, "/api/v1/auth/logout-all", api_auth_logout_all, ROUTE_AUTH | ROUTE_WRITES, NULL},
    {HTTP_GET, "/api/v1/auth/sessions", api_auth_sessions, ROUTE_AUTH | ROUTE_READS, NULL},
    {HTTP_DELETE, "/api/v1/auth/sessions/{id}", api_auth_session_delete, ROUTE_AUTH | ROUTE_WRITES, NULL},
    /* No ROUTE_JSON: the Origin is checked before the body (web_begin). */
    {HTTP_POST, "/api/v1/auth/web/login", api_auth_web_login, ROUTE_HASH, NULL},
    {HTTP_POST, "/api/v1/auth/web/refresh", api_auth_web_refresh, ROUTE_WRITES, NULL},
    {HTTP_POST, "/api/v1/auth/web/logout", api_auth_web_logout, ROUTE_WRITES, NULL},
    {HTTP_POST, "/api/v1/auth/mfa", api_auth_mfa, ROUTE_JSON | ROUTE_WRITES, NULL},
    {HTTP_POST, "/api/v1/auth/web/mfa", api_auth_web_mfa, ROUTE_WRITES, NULL},
};
const size_t api_auth_nroutes = sizeof(api_auth_routes) / sizeof(api_auth_routes[0]);
