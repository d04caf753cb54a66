/* Unit tests for auth/password.c and auth/policy.c: argon2id hashing and
 * verification, re-hash when parameters change, legacy bcrypt hashes, the
 * dummy verification of unknown accounts, and the input rules (password
 * policy with the cracklib dictionary, usernames, email addresses). */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "auth/auth.h"
#include "check.h"
#include "util/err.h"

static const char *PW = "umbrella-quarterly-lantern";

static void
test_argon2(void)
{
    struct auth_pwparams low = {1, 8192, false};
    CHECK_EQ_INT(auth_password_init(&low), OK);
    char h[AUTH_HASH_MAX];
    CHECK_EQ_INT(auth_password_hash(PW, strlen(PW), h), OK);
    CHECK(strncmp(h, "$argon2id$", 10) == 0);
    CHECK(strstr(h, "m=8192,t=1,p=1") != NULL);
    CHECK(auth_password_hash_is_known(h));

    bool rehash = true;
    CHECK_EQ_INT(auth_password_verify(h, PW, strlen(PW), &rehash), OK);
    CHECK(!rehash);
    CHECK_EQ_INT(auth_password_verify(h, "umbrella-quarterly-lanterN", strlen(PW), &rehash), ERR_INVALID);
    /* Bytes after a NUL count: lengths, not C strings. */
    CHECK_EQ_INT(auth_password_verify(h, PW, strlen(PW) - 1, &rehash), ERR_INVALID);

    /* An unknown account: verified against the dummy, always a mismatch. */
    CHECK_EQ_INT(auth_password_verify(NULL, PW, strlen(PW), &rehash), ERR_INVALID);
    CHECK(!rehash);

    /* Other parameters: still verifies, asks for a re-hash. */
    struct auth_pwparams other = {2, 8192, false};
    CHECK_EQ_INT(auth_password_init(&other), OK);
    CHECK_EQ_INT(auth_password_verify(h, PW, strlen(PW), &rehash), OK);
    CHECK(rehash);

    /* Out of range. */
    struct auth_pwparams bad = {0, 8192, false};
    CHECK_EQ_INT(auth_password_init(&bad), ERR_INVALID);
    struct auth_pwparams tiny = {1, 1, false};
    CHECK_EQ_INT(auth_password_init(&tiny), ERR_INVALID);
    CHECK_EQ_INT(auth_password_init(&low), OK);

    CHECK_EQ_INT(auth_password_verify("plain-text", PW, strlen(PW), &rehash), ERR_INVALID);
    CHECK(!auth_password_hash_is_known("plain-text"));
    CHECK(!auth_password_hash_is_known(""));
}

/* Stored hashes are PHC strings as libsodium writes them: hashes written by
 * crypto_pwhash_str verify here, and ours verify there. */
static void
test_libsodium_compat(void)
{
    struct auth_pwparams low = {1, 8192, false};
    CHECK_EQ_INT(auth_password_init(&low), OK);
    char theirs[crypto_pwhash_STRBYTES];
    CHECK(crypto_pwhash_str_alg(theirs, PW, strlen(PW), 1, 8192 * 1024, crypto_pwhash_ALG_ARGON2ID13) == 0);
    bool rehash = true;
    CHECK_EQ_INT(auth_password_verify(theirs, PW, strlen(PW), &rehash), OK);
    CHECK(!rehash);
    CHECK_EQ_INT(auth_password_verify(theirs, "umbrella-quarterly-lanterX", strlen(PW), &rehash),
                 ERR_INVALID);

    char ours[AUTH_HASH_MAX];
    CHECK_EQ_INT(auth_password_hash(PW, strlen(PW), ours), OK);
    CHECK(crypto_pwhash_str_verify(ours, PW, strlen(PW)) == 0);
    CHECK(crypto_pwhash_str_verify(ours, "umbrella-quarterly-lanterX", strlen(PW)) != 0);
    CHECK(crypto_pwhash_str_needs_rehash(ours, 1, 8192 * 1024) == 0);

    /* A known vector (RFC 9106 style parameters through libsodium): the
     * same string verifies after a thread has hashed with more memory. */
    struct auth_pwparams more = {1, 16384, false};
    CHECK_EQ_INT(auth_password_init(&more), OK);
    CHECK_EQ_INT(auth_password_verify(theirs, PW, strlen(PW), &rehash), OK);
    CHECK(rehash);
    CHECK_EQ_INT(auth_password_init(&low), OK);
}

/* Malformed or oversized argon2id strings are unknown formats: refused,
 * never a crash or a huge allocation. */
static void
test_phc_strict(void)
{
    char ours[AUTH_HASH_MAX];
    CHECK_EQ_INT(auth_password_hash(PW, strlen(PW), ours), OK);
    const char *tail = strrchr(ours, '$');
    char buf[512];
    const char *bad[] = {
        "$argon2id$",
        "$argon2id$v=19$m=8192,t=1,p=1$",
        "$argon2id$v=18$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$m=08192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$m=-8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$m=8192,t=1000,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$m=8192,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$m=8192,t=1,p=0$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$m=8,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$m=8192,t=1$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$m=8192,t=1,p=1$c2Fs$",
        "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA==$",
        "$argon2id$v=19$m=8192,t=1,p=1$c2FsdH*hbHRzYWx0c2FsdA$",
        "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
        NULL,
    };
    bool rehash;
    for (int i = 0; bad[i] != NULL; i++) {
        snprintf(buf, sizeof(buf), "%s%s", bad[i], bad[i][strlen(bad[i]) - 1] == '$' ? tail + 1 : "");
        if (auth_password_hash_is_known(buf))
            fprintf(stderr, "accepted: %s\n", buf);
        CHECK(!auth_password_hash_is_known(buf));
        CHECK_EQ_INT(auth_password_verify(buf, PW, strlen(PW), &rehash), ERR_INVALID);
    }
    /* A key of the wrong length or with trailing bytes. */
    snprintf(buf, sizeof(buf), "%sxx", ours);
    CHECK(!auth_password_hash_is_known(buf));
    snprintf(buf, sizeof(buf), "%.*s", (int)strlen(ours) - 30, ours);
    CHECK(!auth_password_hash_is_known(buf));
    CHECK(auth_password_hash_is_known(ours));
}

static void
test_bcrypt(void)
{
    char salt[64];
    CHECK(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)) != NULL);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    const char *h = crypt_rn(PW, salt, cd, (int)sizeof(*cd));
    CHECK(h != NULL && strncmp(h, "$2b$04$", 7) == 0);
    char hash[128];
    snprintf(hash, sizeof(hash), "%s", h);
    free(cd);
    CHECK(auth_password_hash_is_known(hash));
    bool rehash = false;
    CHECK_EQ_INT(auth_password_verify(hash, PW, strlen(PW), &rehash), OK);
    CHECK(rehash); /* always upgraded to argon2id */
    CHECK_EQ_INT(auth_password_verify(hash, "wrong-password-here", 19, &rehash), ERR_INVALID);

    /* A known vector: "U*U" with cost 5 (OpenBSD's test suite). */
    const char *vector = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
    CHECK_EQ_INT(auth_password_verify(vector, "U*U", 3, &rehash), OK);
    CHECK_EQ_INT(auth_password_verify(vector, "U*V", 3, &rehash), ERR_INVALID);

    /* A NUL inside the password cannot match a C-string hash. */
    CHECK_EQ_INT(auth_password_verify(hash, "umbrella\0quarterly", 18, &rehash), ERR_INVALID);

    CHECK(!auth_password_hash_is_known("$2b$04$short"));
    CHECK(!auth_password_hash_is_known("$2b$04$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe!"));
}

static const char *
policy(const char *pw, const char *user, const char *email)
{
    struct auth_problem p = {0};
    if (auth_password_check(pw, strlen(pw), user, email, &p) == OK)
        return "ok";
    CHECK_EQ_STR(p.field, "password");
    return p.code;
}

static void
test_policy(void)
{
    CHECK_EQ_INT(auth_policy_init(), OK);
    CHECK_EQ_STR(policy(PW, "alice", "alice@example.com"), "ok");
    CHECK_EQ_STR(policy("zebra-lantern-copper-7", NULL, NULL), "ok");
    CHECK_EQ_STR(policy("short", NULL, NULL), "too_short");
    CHECK_EQ_STR(policy("elevenchars", NULL, NULL), "too_short");
    char big[1100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_STR(policy(big, NULL, NULL), "too_long");

    CHECK_EQ_STR(policy("my-Alice-is-great-99", "alice", "a@example.com"), "contains_username");
    CHECK_EQ_STR(policy("xx-alice@example.com-xx", "bob", "alice@example.com"), "contains_email");
    CHECK_EQ_STR(policy("secret-ALICEW-zebra", "bob", "alicew@example.com"), "contains_email");

    const char *common[] = {"password1234", "qwerty123456", "123456789012", "Summer2024!!", "football1234",
                            "abcdefghijkl", "aaaaaaaaaaaa", "monkey123456", "Password123!", NULL};
    for (int i = 0; common[i] != NULL; i++) {
        const char *code = policy(common[i], NULL, NULL);
        if (strcmp(code, "too_common") != 0)
            fprintf(stderr, "not refused as common: %s (%s)\n", common[i], code);
        CHECK_EQ_STR(code, "too_common");
    }
    auth_policy_cleanup();
}

/* The published lists: a plain list and the zxcvbn module's line, loaded
 * from files written here (the tests do not depend on the packages). */
static void
test_common_lists(void)
{
    CHECK_EQ_INT(auth_policy_init(), OK);
    char dir[] = "/tmp/pace-test-common-XXXXXX", plain[96], zx[96];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(plain, sizeof(plain), "%s/password.lst", dir);
    snprintf(zx, sizeof(zx), "%s/frequency_lists.py", dir);
    FILE *f = fopen(plain, "w");
    CHECK(f != NULL);
    fputs("#!comment: a list\n#!comment: 1qaz2wsx3edc is not on it\nLeaveMeAlone\r\n  padded-entry-xyz  \n",
          f);
    fclose(f);
    f = fopen(zx, "w");
    CHECK(f != NULL);
    fputs("# generated by build_frequency_lists\nFREQUENCY_LISTS = {\n"
          "    \"passwords\": \"123456,1qaz2wsx3edc,whosyourdaddy\",\n"
          "    \"english_wikipedia\": \"the,of,umbrella-quarterly-lantern\",\n}\n",
          f);
    fclose(f);

    /* Before loading: cracklib alone lets these through. */
    CHECK_EQ_STR(policy("1qaz2wsx3edc", NULL, NULL), "ok");
    CHECK_EQ_STR(policy("leavemealone", NULL, NULL), "ok");

    char both[200];
    snprintf(both, sizeof(both), "%s, %s", plain, zx);
    CHECK_EQ_INT(auth_policy_load(both), OK);
    CHECK_EQ_STR(policy("1qaz2wsx3edc", NULL, NULL), "too_common");
    CHECK_EQ_STR(policy("1QAZ2WSX3EDC", NULL, NULL), "too_common");        /* case ignored */
    CHECK_EQ_STR(policy("leavemealone", NULL, NULL), "too_common");        /* CR trimmed */
    CHECK_EQ_STR(policy("!!whosyourdaddy2024", NULL, NULL), "too_common"); /* inside padding */
    CHECK_EQ_STR(policy("padded-entry-xyz", NULL, NULL), "too_common");    /* blanks trimmed */
    CHECK_EQ_STR(policy("umbrella-quarterly-lantern", NULL, NULL), "ok");  /* another zxcvbn list */
    CHECK_EQ_STR(policy("#!comment: a list", NULL, NULL), "ok");
    CHECK_EQ_STR(policy(PW, NULL, NULL), "ok");
    auth_policy_cleanup();

    /* A missing file, or one with no password, is an error; "" loads none. */
    CHECK_EQ_INT(auth_policy_init(), OK);
    CHECK_EQ_INT(auth_policy_load("/nonexistent/pace/list.lst"), ERR_INVALID);
    auth_policy_cleanup();
    f = fopen(plain, "w");
    fputs("#!comment: nothing else\n", f);
    fclose(f);
    CHECK_EQ_INT(auth_policy_init(), OK);
    CHECK_EQ_INT(auth_policy_load(plain), ERR_INVALID);
    auth_policy_cleanup();
    CHECK_EQ_INT(auth_policy_init(), OK);
    CHECK_EQ_INT(auth_policy_load(""), OK);
    CHECK_EQ_STR(policy("1qaz2wsx3edc", NULL, NULL), "ok");
    auth_policy_cleanup();
    remove(plain);
    remove(zx);
    rmdir(dir);
}

static const char *
username(const char *s)
{
    struct auth_problem p = {0};
    return auth_username_check(s, &p) == OK ? "ok" : p.code;
}

static const char *
email(const char *s)
{
    struct auth_problem p = {0};
    return auth_email_check(s, &p) == OK ? "ok" : p.code;
}

static void
test_names(void)
{
    CHECK_EQ_STR(username("alice"), "ok");
    CHECK_EQ_STR(username("A.b_c-9"), "ok");
    CHECK_EQ_STR(username("ab"), "too_short");
    CHECK_EQ_STR(username("abcdefghijabcdefghijabcdefghijabc"), "too_long");
    CHECK_EQ_STR(username("has space"), "invalid_characters");
    CHECK_EQ_STR(username("emoji\xf0\x9f\x98\x80"), "invalid_characters");
    CHECK_EQ_STR(username("at@sign"), "invalid_characters");

    CHECK_EQ_STR(email("alice@example.com"), "ok");
    CHECK_EQ_STR(email("a.b+tag@sub.example.co"), "ok");
    const char *bad[] = {"alice",
                         "@example.com",
                         "alice@",
                         "alice@localhost",
                         "a@b@example.com",
                         "alice@-example.com",
                         "alice@example..com",
                         ".alice@example.com",
                         "al..ice@example.com",
                         "al ice@example.com",
                         "alice@exa mple.com",
                         NULL};
    for (int i = 0; bad[i] != NULL; i++)
        CHECK_EQ_STR(email(bad[i]), "invalid_email");
    char longmail[300];
    memset(longmail, 'a', 250);
    snprintf(longmail + 250, sizeof(longmail) - 250, "@example.com");
    CHECK_EQ_STR(email(longmail), "too_long");
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_argon2();
    test_libsodium_compat();
    test_phc_strict();
    test_bcrypt();
    test_policy();
    test_common_lists();
    test_names();
    return check_done();
}
