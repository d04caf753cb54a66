/* The accounts layer: password hashing and policy, access tokens (JWT
 * HS256), sessions with rotating refresh tokens and revocation, and rate
 * limits. It knows nothing of HTTP: the API layer calls it with plain
 * strings and renders what it returns. Errors are ERR_* of util/err.h.
 *
 * Threads: password hashing is slow on purpose (run it on the hash pool);
 * auth_access_verify is cheap and never touches the database (event loop);
 * the session functions call the store (blocking or hash pool). */
#ifndef PACE_AUTH_AUTH_H
#define PACE_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct auth;
struct cache;
struct store;

enum {
    AUTH_PASSWORD_MIN = 12,   /* bytes */
    AUTH_PASSWORD_MAX = 1024, /* bytes */
    AUTH_USERNAME_MIN = 3,
    AUTH_USERNAME_MAX = 32,
    AUTH_EMAIL_MAX = 254,
    AUTH_HASH_MAX = 128,      /* a stored hash with its NUL (crypto_pwhash_STRBYTES) */
    AUTH_SECRET_MIN = 32,     /* bytes of an HMAC key */
    AUTH_KID_MAX = 64,        /* characters of a key id */
    AUTH_JWT_KEYS_MAX = 16,   /* keys configured at once */
    AUTH_JWT_MAX = 2048,      /* bytes of an access token we sign or accept */
    AUTH_REFRESH_TEXT = 44,   /* 32 bytes in base64url without padding, with the NUL */
    AUTH_REFRESH_HASH = 32,   /* SHA-256 */
    AUTH_USER_AGENT_MAX = 256 /* bytes of User-Agent kept with a session */
};

/* A problem with one input field: static strings. */
struct auth_problem {
    const char *field;
    const char *code;
    const char *message;
};

/* ---- passwords (password.c) --------------------------------------------- */

struct auth_pwparams {
    unsigned long long iterations; /* argon2id t */
    size_t memory_kib;             /* argon2id m, KiB */
    bool idle_priority;            /* hashing threads SCHED_IDLE, else nice +10 */
};

/* Hashing and verification lower the calling thread's CPU priority (once per
 * thread: SCHED_IDLE, or nice +10): they are meant for the hash pool's threads.
 *
 * Sets the argon2id parameters for the process and prepares the dummy hash
 * that unknown accounts are verified against (costs one hash). Returns OK,
 * ERR_INVALID (parameters out of range: t 1..64, m 8 KiB..1 GiB) or ERR_NOMEM. Call
 * before any other auth_password_* function; not thread-safe. */
int auth_password_init(const struct auth_pwparams *p);
/* Hashes pw[0..len) with argon2id into out (NUL-terminated). OK or ERR_NOMEM. */
int auth_password_hash(const char *pw, size_t len, char out[AUTH_HASH_MAX]);
/* Verifies pw against a stored hash: argon2id ($argon2id$) or a legacy
 * bcrypt hash ($2b$, $2a$, $2y$). stored NULL (no such account) verifies
 * against the dummy hash, so the answer costs as much, and is a mismatch.
 * Returns OK on a match (then *rehash says whether the stored hash should be
 * replaced: legacy, or other parameters), ERR_INVALID on a mismatch or an
 * unknown format, ERR_NOMEM when argon2 cannot get its memory. */
int auth_password_verify(const char *stored, const char *pw, size_t len, bool *rehash);
/* True when stored is a hash format auth_password_verify knows. */
bool auth_password_hash_is_known(const char *stored);

/* ---- input rules (policy.c) ----------------------------------------------- */

/* Loads the cracklib dictionary check (libpwquality). OK or ERR_INVALID
 * (no dictionary: logged). Not thread-safe; call once at start-up. */
int auth_policy_init(void);
/* Loads the published common-password lists: paths separated by commas,
 * each a plain list (one password a line, "#!" comment lines skipped, as
 * john-data's /usr/share/john/password.lst) or python3-zxcvbn's
 * frequency_lists.py (its "passwords" list). NULL or "" loads none (a
 * warning). OK, or ERR_INVALID when a file cannot be read or holds no
 * password (logged). After auth_policy_init; not thread-safe. */
int auth_policy_load(const char *paths);
void auth_policy_cleanup(void);
/* The password rules: AUTH_PASSWORD_MIN..MAX bytes, not containing the
 * username, the email or its local part (ignoring case), not on a loaded
 * common-password list (ignoring case, whole or inside digit and symbol
 * padding), not a dictionary-based password (cracklib). username/email may be NULL. Returns
 * OK, or ERR_INVALID with *p filled (field "password"). Thread-safe. */
int auth_password_check(const char *pw, size_t len, const char *username, const char *email,
                        struct auth_problem *p);
/* 3..32 characters of [A-Za-z0-9_.-]. OK or ERR_INVALID with *p. */
int auth_username_check(const char *s, struct auth_problem *p);
/* A plausible address of at most 254 bytes. OK or ERR_INVALID with *p. */
int auth_email_check(const char *s, struct auth_problem *p);

/* ---- access tokens (jwt.c) ------------------------------------------------ */

struct auth_jwt_opts {
    const char *keys;     /* "kid=secret,kid2=secret2" (first signs), or NULL/"" */
    const char *secret;   /* used with kid "default" when keys is empty */
    const char *issuer;   /* iss */
    const char *audience; /* aud */
    int ttl;              /* seconds an access token lives */
    int leeway;           /* seconds of clock skew allowed on exp, nbf, iat */
};

struct auth_jwt;

/* Builds the key set: every secret must be at least AUTH_SECRET_MIN bytes,
 * key ids 1..64 characters of [A-Za-z0-9._-] and distinct. Returns OK, or
 * ERR_INVALID with *why (static text, no secret in it). */
int auth_jwt_new(const struct auth_jwt_opts *o, struct auth_jwt **out, const char **why);
void auth_jwt_free(struct auth_jwt *j);
int auth_jwt_ttl(const struct auth_jwt *j);
/* Signs an access token for (user, session) issued at `now` (unix seconds)
 * with the first key into out (NUL-terminated). Returns OK or ERR_TOO_LARGE. */
int auth_jwt_sign(const struct auth_jwt *j, int64_t user_id, int64_t session_id, int64_t now, char *out,
                  size_t cap);

enum auth_jwt_status {
    AUTH_JWT_OK,
    AUTH_JWT_MALFORMED,     /* not three base64url parts of JSON objects, or too long */
    AUTH_JWT_BAD_ALG,       /* alg other than HS256 (none, HS512, RS256...), or crit */
    AUTH_JWT_UNKNOWN_KID,   /* no kid, or one not configured */
    AUTH_JWT_BAD_SIGNATURE, /* the MAC does not match */
    AUTH_JWT_EXPIRED,       /* exp + leeway <= now */
    AUTH_JWT_NOT_YET_VALID, /* nbf or iat after now + leeway */
    AUTH_JWT_BAD_ISSUER,
    AUTH_JWT_BAD_AUDIENCE,
    AUTH_JWT_BAD_CLAIMS /* sub, sid, exp, nbf, iat, jti missing or of the wrong type */
};

struct auth_claims {
    int64_t user_id;    /* sub */
    int64_t session_id; /* sid */
    int64_t iat, nbf, exp;
};

/* Checks a token (len bytes, untrusted) at `now` (unix seconds): exact
 * alg HS256, a known kid, a constant-time MAC check, then the claims.
 * Fills *out on AUTH_JWT_OK. Never touches the database. */
enum auth_jwt_status auth_jwt_verify(const struct auth_jwt *j, const char *tok, size_t len, int64_t now,
                                     struct auth_claims *out);
/* auth_jwt_verify through a per-thread cache of tokens that verified: the
 * same token again costs a hash and a compare, and its exp, nbf and iat are
 * checked again. Same answers as auth_jwt_verify. About 290 KiB per thread
 * that calls it (the event loops). */
enum auth_jwt_status auth_jwt_verify_cached(const struct auth_jwt *j, const char *tok, size_t len,
                                            int64_t now, struct auth_claims *out);
const char *auth_jwt_status_name(enum auth_jwt_status s);

/* ---- rate limits (ratelimit.c) -------------------------------------------- */

/* AUTH_RL_MAIL: requests that send mail (verification resends, password
 * reset requests), per client IP and per address or account; its window
 * is an hour, every other class's a minute. */
enum auth_rl_class {
    AUTH_RL_REGISTER,
    AUTH_RL_LOGIN,
    AUTH_RL_REFRESH,
    AUTH_RL_WRITE,
    AUTH_RL_MAIL,
    AUTH_RL_CLASS_COUNT
};

struct auth_ratelimit_opts {
    bool enabled;
    int per_ip[AUTH_RL_CLASS_COUNT];      /* attempts per minute per client IP */
    int per_account[AUTH_RL_CLASS_COUNT]; /* per minute per account; for login: failures */
    int login_failures;                   /* failures from one IP on one account before backoff */
    struct cache *cache;                  /* borrowed: Redis shares the limits (NULL or disabled: local) */
};

/* What a check decided, for the RateLimit-* headers and Retry-After. */
struct auth_rl_verdict {
    bool applies; /* false when limits are off: no headers */
    bool limited;
    int limit;       /* RateLimit-Limit */
    int remaining;   /* RateLimit-Remaining */
    int reset;       /* RateLimit-Reset: seconds until the window is full again */
    int retry_after; /* seconds, when limited */
};

struct auth_ratelimit;

/* A table of counters of bounded size (the oldest entries make room).
 * Thread-safe. Returns NULL only on out-of-memory (aborts). */
struct auth_ratelimit *auth_ratelimit_new(const struct auth_ratelimit_opts *o);
void auth_ratelimit_free(struct auth_ratelimit *rl);
/* Counts one attempt of class c by key (an IP when per_ip, an account id
 * or name otherwise) at now_ms, unless it is limited (a refused attempt is
 * not counted). Token bucket (GCRA): `limit` attempts in a burst, refilled
 * evenly over a minute. */
void auth_ratelimit_hit(struct auth_ratelimit *rl, enum auth_rl_class c, bool per_ip, const char *key,
                        int64_t now_ms, struct auth_rl_verdict *v);
/* Before a password is checked for `account` from `ip`: limited while that
 * IP is backing off after login_failures failures on that account (1 s,
 * 2 s, 4 s ... up to 15 min), or when the account has had more than
 * per_account[AUTH_RL_LOGIN] failures in the last minute and this IP is
 * one of those that failed. Other IPs are never limited by it. */
void auth_ratelimit_login_check(struct auth_ratelimit *rl, const char *account, const char *ip,
                                int64_t now_ms, struct auth_rl_verdict *v);
/* Records the outcome of a password check: a failure counts for the
 * (account, ip) pair and the account; a success clears the pair. */
void auth_ratelimit_login_result(struct auth_ratelimit *rl, const char *account, const char *ip, bool ok,
                                 int64_t now_ms);
/* Counts one write by user_id at now_ms unless it is limited:
 * per_account[AUTH_RL_WRITE] a minute (0: no limit), a token bucket like
 * auth_ratelimit_hit's. Never waits: with Redis each instance keeps its
 * share of the limit (the limit divided by the live instances, rounded
 * up) in its own table, so that all of them together allow no more than
 * the limit without a round trip on every write. */
void auth_ratelimit_write(struct auth_ratelimit *rl, int64_t user_id, int64_t now_ms,
                          struct auth_rl_verdict *v);

/* ---- password checks under the login limits (credential.c) ------------------- */

/* A password presented for an account, by a client. */
struct auth_credential {
    int64_t user_id;      /* the account; 0 when the login names none */
    const char *login;    /* as the client wrote it (used when user_id is 0) */
    const char *hash;     /* the account's stored hash; NULL when user_id is 0 */
    const char *ip;       /* the client's address */
    const char *password; /* len bytes, at most AUTH_PASSWORD_MAX */
    size_t len;
};

enum auth_credential_result {
    AUTH_CREDENTIAL_OK,      /* the password is right */
    AUTH_CREDENTIAL_WRONG,   /* wrong, or no such account: counted as a failure */
    AUTH_CREDENTIAL_LIMITED, /* refused unchecked: *limited has Retry-After */
    AUTH_CREDENTIAL_NOMEM    /* argon2 could not get its memory: nothing counted */
};

/* The one password check of a login, a password change and an account
 * deletion (on the hash pool): the login backoff of the account for this
 * IP (auth_ratelimit_login_check), the verification (against the dummy
 * hash when there is no account, so the answer costs the same), and the
 * outcome recorded (auth_ratelimit_login_result). Accounts are limited by
 * "u:<id>", unknown logins by "l:<login in lower case>", so the limits
 * reveal nothing about which logins exist. On AUTH_CREDENTIAL_OK, *rehash
 * says whether the stored hash should be replaced. */
enum auth_credential_result auth_credential_check(struct auth *a, const struct auth_credential *c,
                                                  bool *rehash, struct auth_rl_verdict *limited);

/* ---- client addresses (ratelimit.c) ---------------------------------------- */

struct auth_proxies;

/* Parses a comma list of IPs and CIDRs (v4 and v6). NULL or "" is an empty
 * list. OK, or ERR_INVALID with *why. */
int auth_proxies_new(const char *spec, struct auth_proxies **out, const char **why);
void auth_proxies_free(struct auth_proxies *p);
/* The client's address: peer itself unless peer is a trusted proxy; then
 * the rightmost X-Forwarded-For entry that is not a trusted proxy (or the
 * leftmost when all are). Writes it (normalised) to out. */
void auth_client_ip(const struct auth_proxies *p, const char *peer, const char *xff, size_t xff_len,
                    char *out, size_t cap);

/* ---- the accounts context (auth.c, session.c) ------------------------------ */

struct auth_opts {
    struct auth_jwt_opts jwt;
    struct auth_pwparams password;
    struct auth_ratelimit_opts limits;
    const char *trusted_proxies;
    int refresh_ttl;     /* seconds a refresh token (and an idle session) lives */
    int refresh_grace;   /* seconds a just-rotated refresh token may be presented again */
    int64_t session_max; /* seconds a session lives at most after its login, rotations or not (0: no bound) */
    const char *common_passwords; /* auth_policy_load's paths */
};

struct auth;

/* Builds the context: keys, hashing parameters (and the dummy hash), the
 * dictionary, limits, proxies, and loads the revoked sessions from the
 * store (borrowed; must outlive it). Returns NULL after logging why. */
struct auth *auth_new(const struct auth_opts *o, struct store *st);
/* Starts the background thread: pulls revocations every 500 ms (so other
 * instances' revocations apply within a second). OK or ERR_INTERNAL. */
int auth_start(struct auth *a);
/* Stops and joins the thread (idempotent). */
void auth_stop(struct auth *a);
/* Stops the thread if running and frees everything. NULL is a no-op. */
void auth_free(struct auth *a);

struct auth_ratelimit *auth_limits(struct auth *a);
const struct auth_proxies *auth_proxies(const struct auth *a);
int auth_refresh_ttl(const struct auth *a);
int auth_access_ttl(const struct auth *a);

/* Verifies an access token at the current time; on AUTH_JWT_OK fills *out
 * and sets *revoked when its session has been revoked (the caller refuses
 * it with 401), or *unsure when this instance cannot confirm that it knows
 * every revocation (Redis configured, and neither the revocation channel
 * nor the database poll confirmed within PACE_REVOCATION_MAX_STALENESS_MS:
 * the caller answers 503 rather than accept a possibly revoked token).
 * Cheap and database-free: safe on the event loop. */
enum auth_jwt_status auth_access_verify(struct auth *a, const char *tok, size_t len, struct auth_claims *out,
                                        bool *revoked, bool *unsure);
struct cache_hooks;
/* The hooks the Redis watcher calls: revocation messages, and the pull
 * from the database on every (re)subscribe. */
void auth_cache_hooks(struct auth *a, struct cache_hooks *h);

/* A token pair for a client. */
struct auth_pair {
    char access[AUTH_JWT_MAX];
    char refresh[AUTH_REFRESH_TEXT];
    int64_t user_id;
    int64_t session_id;
    int expires_in;         /* seconds */
    int refresh_expires_in; /* seconds */
};

/* Starts a session for user_id (a login) with its first refresh token;
 * mfa: the sign-in gave a second factor (kept with the session).
 * user_agent and ip may be NULL (copied, capped). Returns OK or a store
 * error (ERR_NOT_FOUND: the user is gone). */
int auth_session_create(struct auth *a, int64_t user_id, const char *user_agent, const char *ip, bool mfa,
                        struct auth_pair *out);

/* A new token for a client (refresh tokens, the links in mail, mfa_token):
 * 32 random bytes as base64url text without padding, and the SHA-256 it
 * is stored under (auth_refresh_hash of the text gives the same). */
void auth_token_new(char text[AUTH_REFRESH_TEXT], uint8_t hash[AUTH_REFRESH_HASH]);
/* Decodes a refresh token as given by a client into the hash it is stored
 * under. OK, or ERR_INVALID for anything that is not 32 bytes of base64url. */
int auth_refresh_hash(const char *text, size_t len, uint8_t hash[AUTH_REFRESH_HASH]);

enum auth_refresh_result {
    AUTH_REFRESH_OK,      /* *out has the new pair */
    AUTH_REFRESH_INVALID, /* unknown token, or its session ended */
    AUTH_REFRESH_EXPIRED,
    AUTH_REFRESH_REUSED /* a spent token: its session is now revoked */
};

/* Looks the token up without spending it: OK with *user_id (for per-account
 * limits) or ERR_NOT_FOUND, or a store error. */
int auth_refresh_owner(struct auth *a, const uint8_t hash[AUTH_REFRESH_HASH], int64_t *user_id);
/* Rotates the refresh token: the old one is spent, a new pair is issued in
 * the same session. Presenting a spent token revokes its session (reuse),
 * unless it was rotated less than refresh_grace seconds ago, which gets a
 * fresh pair in the same session. No refresh token outlives its session's
 * absolute end (created_at + session_max): one issued near it expires
 * there, and past it the answer is AUTH_REFRESH_EXPIRED. Returns OK with
 * *res set, or a store error. */
int auth_session_refresh(struct auth *a, const uint8_t hash[AUTH_REFRESH_HASH], struct auth_pair *out,
                         enum auth_refresh_result *res);
/* Ends the session the refresh token belongs to (any token of it, spent or
 * not). Unknown tokens are fine (idempotent): OK or a store error. */
int auth_session_logout(struct auth *a, const uint8_t hash[AUTH_REFRESH_HASH]);
/* Ends one session of user_id: OK, ERR_NOT_FOUND (not that user's), or a
 * store error. Its access tokens stop working at once on this instance. */
int auth_session_end(struct auth *a, int64_t user_id, int64_t session_id);
/* Ends every session of the user except keep (0: none). */
int auth_session_end_all(struct auth *a, int64_t user_id, int64_t keep);
/* Changes the password hash and ends every other session than keep. */
int auth_session_password_changed(struct auth *a, int64_t user_id, const char *hash, int64_t keep);
/* Deletes the user and everything of theirs; their sessions' access
 * tokens stop working at once on this instance. */
int auth_user_delete(struct auth *a, int64_t user_id);
/* True when the session was revoked (O(1), lock shared with the thread). */
bool auth_session_is_revoked(struct auth *a, int64_t session_id);
/* Pulls revocations from the store now (what the thread does every 500 ms). */
int auth_revoked_sync(struct auth *a);

/* ---- import (import.c) ----------------------------------------------------- */

/* Reads JSON lines {"username","email","password_hash"} from in and creates
 * each user with the given hash ($2b$ bcrypt or $argon2id$; upgraded to
 * argon2id at the first login). Bad lines are reported on err with their
 * line number and skipped. Returns OK (even with skipped lines), or a store
 * error that stopped the import. *imported and *skipped get the counts. */
int auth_user_import(struct store *st, FILE *in, FILE *err, size_t *imported, size_t *skipped);

#endif
