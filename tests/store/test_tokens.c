/* Account security: one-time tokens (create, get, single use, expiry,
 * replace, with a job, concurrent use), email verification, password
 * reset, TOTP enrolment and steps, recovery codes, the session's mfa
 * flag, and the purge. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "contract.h"
#include "util/arena.h"
#include "util/clock.h"

enum { HOUR = 3600 * 1000 };

static int
make_token(struct store *s, int64_t uid, enum store_token_purpose purpose, const char *seed,
           const char *email, int64_t expires_at, bool replace, uint8_t hash[STORE_HASH_LEN])
{
    contract_hash(hash, seed);
    struct store_token t = {.user_id = uid, .purpose = purpose, .email = email, .expires_at = expires_at};
    memcpy(t.hash, hash, STORE_HASH_LEN);
    return store_token_create(s, &t, replace, NULL);
}

static int
get_user(struct store *s, int64_t uid, struct arena *a, struct store_user *u)
{
    return store_user_get(s, uid, a, u);
}

static void
token_basics(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "tok");
    int64_t now = clock_wall_ms();
    uint8_t h[STORE_HASH_LEN], h2[STORE_HASH_LEN], unknown[STORE_HASH_LEN];
    contract_hash(unknown, "tok-unknown");
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_MFA_LOGIN, "tok-basic-1", NULL, now + HOUR, false, h), OK);

    struct store_token t;
    CHECK_EQ_INT(store_token_get(s, h, STORE_TOKEN_MFA_LOGIN, now, &a, &t), OK);
    CHECK_EQ_INT(t.user_id, uid);
    CHECK(t.purpose == STORE_TOKEN_MFA_LOGIN);
    CHECK(t.email == NULL);
    CHECK_EQ_INT(t.expires_at, now + HOUR);
    CHECK(t.created_at > 0);
    CHECK_EQ_INT(t.used_at, 0);
    CHECK(memcmp(t.hash, h, STORE_HASH_LEN) == 0);
    /* another purpose, an unknown hash, past its expiry */
    CHECK_EQ_INT(store_token_get(s, h, STORE_TOKEN_PASSWORD_RESET, now, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_get(s, unknown, STORE_TOKEN_MFA_LOGIN, now, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_get(s, h, STORE_TOKEN_MFA_LOGIN, now + HOUR, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_use(s, h, STORE_TOKEN_MFA_LOGIN, now + HOUR, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_use(s, h, STORE_TOKEN_VERIFY_EMAIL, now, &a, &t), ERR_NOT_FOUND);

    /* single use */
    memset(&t, 0, sizeof(t));
    CHECK_EQ_INT(store_token_use(s, h, STORE_TOKEN_MFA_LOGIN, now, &a, &t), OK);
    CHECK_EQ_INT(t.user_id, uid);
    CHECK_EQ_INT(t.used_at, 0);
    CHECK_EQ_INT(store_token_use(s, h, STORE_TOKEN_MFA_LOGIN, now, NULL, NULL), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_get(s, h, STORE_TOKEN_MFA_LOGIN, now, &a, &t), ERR_NOT_FOUND);

    /* replace: the older unused token of the same purpose stops working,
     * other purposes are left alone */
    uint8_t r1[STORE_HASH_LEN], r2[STORE_HASH_LEN], v1[STORE_HASH_LEN];
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_PASSWORD_RESET, "tok-r1", NULL, now + HOUR, true, r1), OK);
    CHECK_EQ_INT(
        make_token(s, uid, STORE_TOKEN_VERIFY_EMAIL, "tok-v1", "x@example.com", now + HOUR, true, v1), OK);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_PASSWORD_RESET, "tok-r2", NULL, now + HOUR, true, r2), OK);
    CHECK_EQ_INT(store_token_get(s, r1, STORE_TOKEN_PASSWORD_RESET, now, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_get(s, r2, STORE_TOKEN_PASSWORD_RESET, now, &a, &t), OK);
    CHECK_EQ_INT(store_token_get(s, v1, STORE_TOKEN_VERIFY_EMAIL, now, &a, &t), OK);
    CHECK_EQ_STR(t.email, "x@example.com");
    /* without replace both stay */
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_PASSWORD_RESET, "tok-r3", NULL, now + HOUR, false, h2), OK);
    CHECK_EQ_INT(store_token_get(s, r2, STORE_TOKEN_PASSWORD_RESET, now, &a, &t), OK);
    CHECK_EQ_INT(store_token_get(s, h2, STORE_TOKEN_PASSWORD_RESET, now, &a, &t), OK);
    /* revoke_user: every unused token of that purpose */
    CHECK_EQ_INT(store_token_revoke_user(s, uid, STORE_TOKEN_PASSWORD_RESET), OK);
    CHECK_EQ_INT(store_token_get(s, r2, STORE_TOKEN_PASSWORD_RESET, now, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_get(s, h2, STORE_TOKEN_PASSWORD_RESET, now, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_get(s, v1, STORE_TOKEN_VERIFY_EMAIL, now, &a, &t), OK);

    /* a user that is gone; bad arguments */
    uint8_t g[STORE_HASH_LEN];
    CHECK_EQ_INT(make_token(s, 999999999, STORE_TOKEN_MFA_LOGIN, "tok-gone", NULL, now + HOUR, false, g),
                 ERR_NOT_FOUND);
    struct store_token bad = {.user_id = uid, .purpose = STORE_TOKEN_PURPOSE_COUNT, .expires_at = now};
    CHECK_EQ_INT(store_token_create(s, &bad, false, NULL), ERR_INVALID);
    CHECK_EQ_INT(store_token_purge(s, now, 0, NULL), ERR_INVALID);
    CHECK_EQ_STR(store_token_purpose_names[STORE_TOKEN_VERIFY_EMAIL], "verify_email");
    CHECK_EQ_STR(store_token_purpose_names[STORE_TOKEN_PASSWORD_RESET], "password_reset");
    CHECK_EQ_STR(store_token_purpose_names[STORE_TOKEN_MFA_LOGIN], "mfa_login");
    CHECK(store_token_purpose_names[STORE_TOKEN_PURPOSE_COUNT] == NULL);
    arena_cleanup(&a);
}

static void
token_with_job(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "tokjob");
    int64_t now = clock_wall_ms();
    char key[64];
    snprintf(key, sizeof(key), "tokjob-%lld", (long long)uid);
    struct store_token t = {.user_id = uid,
                            .purpose = STORE_TOKEN_VERIFY_EMAIL,
                            .email = "a@example.com",
                            .expires_at = now + HOUR};
    contract_hash(t.hash, key);
    struct store_job j = {.kind = "mail.send", .payload = "{\"x\":1}", .user_id = uid, .unique_key = key};
    CHECK_EQ_INT(store_token_create(s, &t, true, &j), OK);
    CHECK(j.id > 0);
    struct store_job got;
    CHECK_EQ_INT(store_job_get(s, j.id, &a, &got), OK);
    CHECK_EQ_STR(got.kind, "mail.send");
    CHECK_EQ_INT(got.user_id, uid);
    struct store_token tg;
    CHECK_EQ_INT(store_token_get(s, t.hash, STORE_TOKEN_VERIFY_EMAIL, now, &a, &tg), OK);

    /* the job's unique key is taken: nothing is stored, not even the
     * replacement of the older token */
    struct store_token t2 = t;
    contract_hash(t2.hash, "tokjob-second");
    struct store_job j2 = {.kind = "mail.send", .payload = "{}", .user_id = uid, .unique_key = key};
    CHECK_EQ_INT(store_token_create(s, &t2, true, &j2), ERR_CONFLICT);
    CHECK_EQ_INT(j2.id, j.id);
    CHECK_EQ_INT(store_token_get(s, t2.hash, STORE_TOKEN_VERIFY_EMAIL, now, &a, &tg), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_get(s, t.hash, STORE_TOKEN_VERIFY_EMAIL, now, &a, &tg), OK);
    arena_cleanup(&a);
}

enum { USERS_N = 12 };

struct use_arg {
    struct store *s;
    const uint8_t *hash;
    int64_t uid;
    int64_t step;
    int mode; /* 0 token, 1 totp step, 2 recovery code */
    pthread_barrier_t *barrier;
    int result;
};

static void *
use_main(void *arg)
{
    struct use_arg *u = arg;
    pthread_barrier_wait(u->barrier);
    int64_t now = clock_wall_ms();
    if (u->mode == 0)
        u->result = store_token_use(u->s, u->hash, STORE_TOKEN_MFA_LOGIN, now, NULL, NULL);
    else if (u->mode == 1)
        u->result = store_user_totp_use_step(u->s, u->uid, u->step);
    else
        u->result = store_recovery_code_use(u->s, u->uid, u->hash, now, NULL);
    return NULL;
}

/* N threads spend one thing at once: exactly one gets OK. */
static int
race(struct store *s, int mode, int64_t uid, const uint8_t *hash, int64_t step, int *others)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, USERS_N);
    struct use_arg args[USERS_N];
    pthread_t t[USERS_N];
    for (int i = 0; i < USERS_N; i++) {
        args[i] = (struct use_arg){s, hash, uid, step, mode, &barrier, -1};
        pthread_create(&t[i], NULL, use_main, &args[i]);
    }
    int ok = 0;
    *others = 0;
    for (int i = 0; i < USERS_N; i++) {
        pthread_join(t[i], NULL);
        if (args[i].result == OK)
            ok++;
        else if (args[i].result != (mode == 1 ? ERR_CONFLICT : ERR_NOT_FOUND))
            (*others)++;
    }
    pthread_barrier_destroy(&barrier);
    return ok;
}

static void
token_concurrent(struct store *s)
{
    int64_t uid = contract_user(s, "tokrace");
    int64_t now = clock_wall_ms();
    for (int round = 0; round < 3; round++) {
        char seed[64];
        snprintf(seed, sizeof(seed), "tokrace-%lld-%d", (long long)uid, round);
        uint8_t h[STORE_HASH_LEN];
        CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, h), OK);
        int others;
        CHECK_EQ_INT(race(s, 0, uid, h, 0, &others), 1);
        CHECK_EQ_INT(others, 0);
    }
}

static int64_t
new_session(struct store *s, int64_t uid, bool mfa, const char *seed)
{
    struct store_session sess = {.user_id = uid, .expires_at = clock_wall_ms() + HOUR, .mfa = mfa};
    struct store_refresh first = {.expires_at = clock_wall_ms() + HOUR};
    contract_hash(first.hash, seed);
    if (store_session_create(s, &sess, &first) != OK)
        return 0;
    return sess.id;
}

static void
email_verify(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "verify");
    struct store_user u;
    CHECK_EQ_INT(get_user(s, uid, &a, &u), OK);
    CHECK(!u.email_verified);
    CHECK(!u.totp_enabled);
    CHECK(u.totp_secret == NULL);
    CHECK(u.totp_pending == NULL);
    CHECK_EQ_INT(u.totp_last_step, 0);
    int64_t now = clock_wall_ms();
    char seed[64];
    uint8_t h[STORE_HASH_LEN], unknown[STORE_HASH_LEN];
    contract_hash(unknown, "verify-unknown");
    int64_t got = -1;
    CHECK_EQ_INT(store_email_verify(s, unknown, now, &got), ERR_NOT_FOUND);
    CHECK_EQ_INT(got, 0);

    /* the address in another case still matches */
    char upper[128];
    snprintf(upper, sizeof(upper), "%s", u.email);
    for (char *p = upper; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    snprintf(seed, sizeof(seed), "verify-%lld-1", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_VERIFY_EMAIL, seed, upper, now + HOUR, true, h), OK);
    /* past its expiry: refused, nothing spent */
    CHECK_EQ_INT(store_email_verify(s, h, now + HOUR, &got), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_email_verify(s, h, now, &got), OK);
    CHECK_EQ_INT(got, uid);
    struct store_user v;
    CHECK_EQ_INT(get_user(s, uid, &a, &v), OK);
    CHECK(v.email_verified);
    CHECK_EQ_INT(v.version, u.version + 1);
    CHECK_EQ_INT(store_email_verify(s, h, now, &got), ERR_NOT_FOUND); /* once */

    /* a change of case keeps the account verified */
    struct store_user w;
    CHECK_EQ_INT(store_user_update(s, uid, &(struct store_user_patch){.email = upper}, 0, &a, &w, NULL), OK);
    CHECK(w.email_verified);
    /* a new address: unverified, its older links dead */
    char other[128];
    snprintf(other, sizeof(other), "other-%lld@example.com", (long long)uid);
    uint8_t old_link[STORE_HASH_LEN], new_link[STORE_HASH_LEN];
    snprintf(seed, sizeof(seed), "verify-%lld-2", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_VERIFY_EMAIL, seed, upper, now + HOUR, false, old_link), OK);
    CHECK_EQ_INT(store_user_update(s, uid, &(struct store_user_patch){.email = other}, 0, &a, &w, NULL), OK);
    CHECK(!w.email_verified);
    CHECK_EQ_STR(w.email, other);
    struct store_token t;
    CHECK_EQ_INT(store_token_get(s, old_link, STORE_TOKEN_VERIFY_EMAIL, now, &a, &t), ERR_NOT_FOUND);
    /* a link to an address that is no longer the user's: refused, unspent */
    snprintf(seed, sizeof(seed), "verify-%lld-3", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_VERIFY_EMAIL, seed, upper, now + HOUR, false, h), OK);
    CHECK_EQ_INT(store_email_verify(s, h, now, &got), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_get(s, h, STORE_TOKEN_VERIFY_EMAIL, now, &a, &t), OK);
    CHECK_EQ_INT(get_user(s, uid, &a, &w), OK);
    CHECK(!w.email_verified);
    /* a link to the new address works */
    snprintf(seed, sizeof(seed), "verify-%lld-4", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_VERIFY_EMAIL, seed, other, now + HOUR, true, new_link), OK);
    CHECK_EQ_INT(store_email_verify(s, new_link, now, &got), OK);
    CHECK_EQ_INT(get_user(s, uid, &a, &w), OK);
    CHECK(w.email_verified);
    /* a username change alone keeps it */
    char name[96];
    snprintf(name, sizeof(name), "verify_renamed_%lld", (long long)uid);
    CHECK_EQ_INT(store_user_update(s, uid, &(struct store_user_patch){.username = name}, 0, &a, &w, NULL),
                 OK);
    CHECK(w.email_verified);
    CHECK_EQ_INT(get_user(s, uid, &a, &w), OK);
    CHECK(w.email_verified);
    arena_cleanup(&a);
}

static void
password_reset(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "reset");
    char seed[64];
    snprintf(seed, sizeof(seed), "reset-%lld-s1", (long long)uid);
    int64_t s1 = new_session(s, uid, false, seed);
    snprintf(seed, sizeof(seed), "reset-%lld-s2", (long long)uid);
    int64_t s2 = new_session(s, uid, true, seed);
    CHECK(s1 > 0 && s2 > 0);
    int64_t now = clock_wall_ms();
    uint8_t r1[STORE_HASH_LEN], r2[STORE_HASH_LEN], m[STORE_HASH_LEN];
    snprintf(seed, sizeof(seed), "reset-%lld-r1", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_PASSWORD_RESET, seed, NULL, now + HOUR, false, r1), OK);
    snprintf(seed, sizeof(seed), "reset-%lld-r2", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_PASSWORD_RESET, seed, NULL, now + HOUR, false, r2), OK);
    snprintf(seed, sizeof(seed), "reset-%lld-m", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, m), OK);
    struct store_user before;
    CHECK_EQ_INT(get_user(s, uid, &a, &before), OK);

    uint8_t unknown[STORE_HASH_LEN];
    contract_hash(unknown, "reset-unknown");
    int64_t got = -1;
    CHECK_EQ_INT(store_password_reset(s, unknown, now, "$argon2id$new", &got), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_password_reset(s, r1, now + HOUR, "$argon2id$new", &got), ERR_NOT_FOUND); /* expired */
    CHECK_EQ_INT(get_user(s, uid, &a, &before), OK);
    CHECK_EQ_STR(before.password_hash, "$argon2id$v=19$x");

    int64_t mark = clock_wall_ms() - 1;
    CHECK_EQ_INT(store_password_reset(s, r1, now, "$argon2id$new", &got), OK);
    CHECK_EQ_INT(got, uid);
    struct store_user after;
    CHECK_EQ_INT(get_user(s, uid, &a, &after), OK);
    CHECK_EQ_STR(after.password_hash, "$argon2id$new");
    CHECK_EQ_INT(after.version, before.version + 1);
    /* every session revoked, and visible as revoked */
    struct store_session sess;
    CHECK_EQ_INT(store_session_get(s, s1, &a, &sess), OK);
    CHECK(sess.revoked_at > 0);
    CHECK_EQ_INT(store_session_get(s, s2, &a, &sess), OK);
    CHECK(sess.revoked_at > 0);
    struct store_revoked *rows;
    size_t n;
    CHECK_EQ_INT(store_session_revoked_since(s, mark, 0, 10000, &a, &rows, &n), OK);
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        seen += rows[i].session_id == s1 || rows[i].session_id == s2;
    CHECK_EQ_INT(seen, 2);
    /* the token is spent, the other reset and MFA-login tokens dead */
    CHECK_EQ_INT(store_password_reset(s, r1, now, "$argon2id$again", &got), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_password_reset(s, r2, now, "$argon2id$again", &got), ERR_NOT_FOUND);
    struct store_token t;
    CHECK_EQ_INT(store_token_get(s, m, STORE_TOKEN_MFA_LOGIN, now, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(get_user(s, uid, &a, &after), OK);
    CHECK_EQ_STR(after.password_hash, "$argon2id$new");

    /* a sign-in ends pending resets */
    snprintf(seed, sizeof(seed), "reset-%lld-r3", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_PASSWORD_RESET, seed, NULL, now + HOUR, false, r1), OK);
    snprintf(seed, sizeof(seed), "reset-%lld-m2", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, m), OK);
    snprintf(seed, sizeof(seed), "reset-%lld-s3", (long long)uid);
    int64_t s3 = new_session(s, uid, false, seed);
    CHECK(s3 > 0);
    CHECK_EQ_INT(store_token_get(s, r1, STORE_TOKEN_PASSWORD_RESET, now, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_token_get(s, m, STORE_TOKEN_MFA_LOGIN, now, &a, &t), OK);
    /* so does a password change that ends sessions; a re-hash does not */
    snprintf(seed, sizeof(seed), "reset-%lld-r4", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_PASSWORD_RESET, seed, NULL, now + HOUR, false, r1), OK);
    CHECK_EQ_INT(store_user_set_password(s, uid, "$argon2id$rehash", false, 0), OK);
    CHECK_EQ_INT(store_token_get(s, r1, STORE_TOKEN_PASSWORD_RESET, now, &a, &t), OK);
    CHECK_EQ_INT(store_user_set_password(s, uid, "$argon2id$changed", true, s3), OK);
    CHECK_EQ_INT(store_token_get(s, r1, STORE_TOKEN_PASSWORD_RESET, now, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_session_get(s, s3, &a, &sess), OK);
    CHECK_EQ_INT(sess.revoked_at, 0);
    arena_cleanup(&a);
}

static void
session_mfa(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "sessmfa");
    char seed[64];
    snprintf(seed, sizeof(seed), "sessmfa-%lld-1", (long long)uid);
    int64_t plain = new_session(s, uid, false, seed);
    snprintf(seed, sizeof(seed), "sessmfa-%lld-2", (long long)uid);
    int64_t second = new_session(s, uid, true, seed);
    struct store_session sess;
    CHECK_EQ_INT(store_session_get(s, plain, &a, &sess), OK);
    CHECK(!sess.mfa);
    CHECK_EQ_INT(store_session_get(s, second, &a, &sess), OK);
    CHECK(sess.mfa);
    struct store_session *rows;
    size_t n;
    CHECK_EQ_INT(store_session_list_active(s, uid, clock_wall_ms(), 10, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(rows[0].id, second); /* newest first */
        CHECK(rows[0].mfa);
        CHECK(!rows[1].mfa);
    }
    arena_cleanup(&a);
}

static void
totp(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "totp");
    struct store_user u, v;
    CHECK_EQ_INT(get_user(s, uid, &a, &u), OK);
    CHECK_EQ_INT(store_user_totp_pending(s, 999999999, "sealed"), ERR_NOT_FOUND);
    /* nothing pending: precondition */
    uint8_t codes[10][STORE_HASH_LEN];
    for (int i = 0; i < 10; i++) {
        char seed[32];
        snprintf(seed, sizeof(seed), "code-%d", i);
        contract_hash(codes[i], seed);
    }
    CHECK_EQ_INT(store_user_totp_enable(s, uid, "sealed-a", 100, codes, 10), ERR_PRECONDITION);
    CHECK_EQ_INT(store_user_totp_enable(s, 999999999, "sealed-a", 100, codes, 10), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_user_totp_pending(s, uid, "sealed-a"), OK);
    CHECK_EQ_INT(get_user(s, uid, &a, &v), OK);
    CHECK_EQ_STR(v.totp_pending, "sealed-a");
    CHECK(!v.totp_enabled);
    CHECK(v.totp_secret == NULL);
    CHECK_EQ_INT(v.version, u.version + 1);
    /* a restart replaced it: the old one does not confirm */
    CHECK_EQ_INT(store_user_totp_pending(s, uid, "sealed-b"), OK);
    CHECK_EQ_INT(store_user_totp_enable(s, uid, "sealed-a", 100, codes, 10), ERR_PRECONDITION);
    CHECK_EQ_INT(get_user(s, uid, &a, &v), OK);
    CHECK(!v.totp_enabled);
    CHECK_EQ_STR(v.totp_pending, "sealed-b");
    int left = -1;
    CHECK_EQ_INT(store_recovery_code_count(s, uid, &left), OK);
    CHECK_EQ_INT(left, 0);

    CHECK_EQ_INT(store_user_totp_enable(s, uid, "sealed-b", 100, codes, 10), OK);
    CHECK_EQ_INT(get_user(s, uid, &a, &v), OK);
    CHECK(v.totp_enabled);
    CHECK_EQ_STR(v.totp_secret, "sealed-b");
    CHECK(v.totp_pending == NULL);
    CHECK_EQ_INT(v.totp_last_step, 100);
    CHECK_EQ_INT(store_recovery_code_count(s, uid, &left), OK);
    CHECK_EQ_INT(left, 10);
    /* confirmed once: a second confirm finds nothing pending */
    CHECK_EQ_INT(store_user_totp_enable(s, uid, "sealed-b", 100, codes, 10), ERR_PRECONDITION);

    /* steps: only later ones, each once */
    int64_t ver = v.version;
    CHECK_EQ_INT(store_user_totp_use_step(s, uid, 100), ERR_CONFLICT);
    CHECK_EQ_INT(store_user_totp_use_step(s, uid, 99), ERR_CONFLICT);
    CHECK_EQ_INT(store_user_totp_use_step(s, uid, 101), OK);
    CHECK_EQ_INT(store_user_totp_use_step(s, uid, 101), ERR_CONFLICT);
    CHECK_EQ_INT(store_user_totp_use_step(s, uid, 103), OK);
    CHECK_EQ_INT(store_user_totp_use_step(s, uid, 102), ERR_CONFLICT);
    CHECK_EQ_INT(store_user_totp_use_step(s, 999999999, 500), ERR_NOT_FOUND);
    int others;
    CHECK_EQ_INT(race(s, 1, uid, NULL, 200, &others), 1);
    CHECK_EQ_INT(others, 0);
    CHECK_EQ_INT(get_user(s, uid, &a, &v), OK);
    CHECK_EQ_INT(v.totp_last_step, 200);
    CHECK_EQ_INT(v.version, ver); /* steps do not bump the version */

    /* recovery codes: each once */
    uint8_t unknown[STORE_HASH_LEN];
    contract_hash(unknown, "code-unknown");
    int64_t now = clock_wall_ms();
    CHECK_EQ_INT(store_recovery_code_use(s, uid, unknown, now, &left), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_recovery_code_use(s, uid, codes[3], now, &left), OK);
    CHECK_EQ_INT(left, 9);
    CHECK_EQ_INT(store_recovery_code_use(s, uid, codes[3], now, &left), ERR_NOT_FOUND);
    int64_t other_user = contract_user(s, "totp_other");
    CHECK_EQ_INT(store_recovery_code_use(s, other_user, codes[4], now, &left), ERR_NOT_FOUND);
    CHECK_EQ_INT(race(s, 2, uid, codes[5], 0, &others), 1);
    CHECK_EQ_INT(others, 0);
    CHECK_EQ_INT(store_recovery_code_count(s, uid, &left), OK);
    CHECK_EQ_INT(left, 8);
    CHECK_EQ_INT(store_recovery_code_use(s, uid, codes[0], now, NULL), OK);
    CHECK_EQ_INT(store_recovery_code_count(s, uid, &left), OK);
    CHECK_EQ_INT(left, 7);

    /* a new enrolment replaces the codes */
    CHECK_EQ_INT(store_user_totp_pending(s, uid, "sealed-c"), OK);
    CHECK_EQ_INT(get_user(s, uid, &a, &v), OK);
    CHECK(v.totp_enabled); /* still on until confirmed */
    CHECK_EQ_INT(store_user_totp_enable(s, uid, "sealed-c", 300, codes + 5, 5), OK);
    CHECK_EQ_INT(store_recovery_code_count(s, uid, &left), OK);
    CHECK_EQ_INT(left, 5);
    CHECK_EQ_INT(store_recovery_code_use(s, uid, codes[5], now, &left), OK); /* fresh again */
    CHECK_EQ_INT(left, 4);
    CHECK_EQ_INT(store_recovery_code_use(s, uid, codes[1], now, &left), ERR_NOT_FOUND);

    /* off: secret, pending, step and codes gone; idempotent */
    CHECK_EQ_INT(store_user_totp_pending(s, uid, "sealed-d"), OK);
    CHECK_EQ_INT(get_user(s, uid, &a, &u), OK);
    CHECK_EQ_INT(store_user_totp_disable(s, uid), OK);
    CHECK_EQ_INT(get_user(s, uid, &a, &v), OK);
    CHECK(!v.totp_enabled);
    CHECK(v.totp_secret == NULL);
    CHECK(v.totp_pending == NULL);
    CHECK_EQ_INT(v.totp_last_step, 0);
    CHECK_EQ_INT(v.version, u.version + 1);
    CHECK_EQ_INT(store_recovery_code_count(s, uid, &left), OK);
    CHECK_EQ_INT(left, 0);
    CHECK_EQ_INT(store_user_totp_disable(s, uid), OK);
    CHECK_EQ_INT(store_user_totp_disable(s, 999999999), ERR_NOT_FOUND);
    arena_cleanup(&a);
}

static void
deletion_and_purge(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "tokdel");
    int64_t now = clock_wall_ms();
    char seed[64];
    uint8_t h[STORE_HASH_LEN], used[STORE_HASH_LEN], expired[STORE_HASH_LEN], live[STORE_HASH_LEN];
    snprintf(seed, sizeof(seed), "tokdel-%lld", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, h), OK);
    uint8_t codes[2][STORE_HASH_LEN];
    contract_hash(codes[0], "del-code-0");
    contract_hash(codes[1], "del-code-1");
    CHECK_EQ_INT(store_user_totp_pending(s, uid, "sealed"), OK);
    CHECK_EQ_INT(store_user_totp_enable(s, uid, "sealed", 1, codes, 2), OK);
    CHECK_EQ_INT(store_user_delete(s, uid), OK);
    struct store_token t;
    CHECK_EQ_INT(store_token_get(s, h, STORE_TOKEN_MFA_LOGIN, now, &a, &t), ERR_NOT_FOUND);
    int left = -1;
    CHECK_EQ_INT(store_recovery_code_count(s, uid, &left), OK);
    CHECK_EQ_INT(left, 0);

    /* purge: used and expired tokens before the cut-off go, live ones stay */
    int64_t owner = contract_user(s, "tokpurge");
    snprintf(seed, sizeof(seed), "tokpurge-%lld-u", (long long)owner);
    CHECK_EQ_INT(make_token(s, owner, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, used), OK);
    CHECK_EQ_INT(store_token_use(s, used, STORE_TOKEN_MFA_LOGIN, now - 2 * HOUR, NULL, NULL), OK);
    snprintf(seed, sizeof(seed), "tokpurge-%lld-e", (long long)owner);
    CHECK_EQ_INT(make_token(s, owner, STORE_TOKEN_MFA_LOGIN, seed, NULL, now - HOUR, false, expired), OK);
    snprintf(seed, sizeof(seed), "tokpurge-%lld-l", (long long)owner);
    CHECK_EQ_INT(make_token(s, owner, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, live), OK);
    size_t purged = 0, total = 0;
    do {
        CHECK_EQ_INT(store_token_purge(s, now - HOUR / 2, 2, &purged), OK);
        total += purged;
    } while (purged == 2 && total < 100000);
    CHECK(total >= 2);
    CHECK_EQ_INT(store_token_get(s, live, STORE_TOKEN_MFA_LOGIN, now, &a, &t), OK);
    /* the used and the expired rows are gone: their hashes can be stored
     * again; the live one's cannot */
    snprintf(seed, sizeof(seed), "tokpurge-%lld-u", (long long)owner);
    CHECK_EQ_INT(make_token(s, owner, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, used), OK);
    snprintf(seed, sizeof(seed), "tokpurge-%lld-e", (long long)owner);
    CHECK_EQ_INT(make_token(s, owner, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, expired), OK);
    snprintf(seed, sizeof(seed), "tokpurge-%lld-l", (long long)owner);
    CHECK_EQ_INT(make_token(s, owner, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, live),
                 ERR_CONFLICT);
    arena_cleanup(&a);
}

/* What a change of the account spends: the other links once the address
 * is verified; the mfa_tokens (a second step begun before) with a password
 * change that ends sessions, and with TOTP confirmed or turned off. */
static void
changes_spend_tokens(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "tokspend");
    int64_t now = clock_wall_ms();
    struct store_user u;
    CHECK_EQ_INT(get_user(s, uid, &a, &u), OK);
    char seed[64];
    uint8_t one[STORE_HASH_LEN], two[STORE_HASH_LEN], m[STORE_HASH_LEN];
    struct store_token t;
    int64_t got = 0;
    snprintf(seed, sizeof(seed), "tokspend-%lld-v1", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_VERIFY_EMAIL, seed, u.email, now + HOUR, false, one), OK);
    snprintf(seed, sizeof(seed), "tokspend-%lld-v2", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_VERIFY_EMAIL, seed, u.email, now + HOUR, false, two), OK);
    CHECK_EQ_INT(store_email_verify(s, one, now, &got), OK);
    CHECK_EQ_INT(store_token_get(s, two, STORE_TOKEN_VERIFY_EMAIL, now, &a, &t), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_email_verify(s, two, now, &got), ERR_NOT_FOUND);

    /* a rehash (no sessions ended) keeps a pending second step */
    snprintf(seed, sizeof(seed), "tokspend-%lld-m1", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, m), OK);
    CHECK_EQ_INT(store_user_set_password(s, uid, "$argon2id$rehash", false, 0), OK);
    CHECK_EQ_INT(store_token_get(s, m, STORE_TOKEN_MFA_LOGIN, now, &a, &t), OK);
    CHECK_EQ_INT(store_user_set_password(s, uid, "$argon2id$changed", true, 0), OK);
    CHECK_EQ_INT(store_token_get(s, m, STORE_TOKEN_MFA_LOGIN, now, &a, &t), ERR_NOT_FOUND);

    uint8_t codes[2][STORE_HASH_LEN];
    contract_hash(codes[0], "tokspend-c0");
    contract_hash(codes[1], "tokspend-c1");
    CHECK_EQ_INT(store_user_totp_pending(s, uid, "sealed-spend"), OK);
    snprintf(seed, sizeof(seed), "tokspend-%lld-m2", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, m), OK);
    CHECK_EQ_INT(store_user_totp_enable(s, uid, "sealed-spend", 7, codes, 2), OK);
    CHECK_EQ_INT(store_token_get(s, m, STORE_TOKEN_MFA_LOGIN, now, &a, &t), ERR_NOT_FOUND);
    snprintf(seed, sizeof(seed), "tokspend-%lld-m3", (long long)uid);
    CHECK_EQ_INT(make_token(s, uid, STORE_TOKEN_MFA_LOGIN, seed, NULL, now + HOUR, false, m), OK);
    CHECK_EQ_INT(store_user_totp_disable(s, uid), OK);
    CHECK_EQ_INT(store_token_get(s, m, STORE_TOKEN_MFA_LOGIN, now, &a, &t), ERR_NOT_FOUND);
    arena_cleanup(&a);
}

void
contract_tokens(struct store *s)
{
    token_basics(s);
    token_with_job(s);
    token_concurrent(s);
    email_verify(s);
    password_reset(s);
    session_mfa(s);
    totp(s);
    changes_spend_tokens(s);
    deletion_and_purge(s);
    contract_tally();
}
