/* Unit tests for auth/jwt.c: key rings, signing, and every way a token is
 * refused (alg none and HS512, unknown kid, wrong key, tampered parts,
 * expired and not yet valid with the leeway, wrong iss and aud, missing
 * claims, garbage). Forged tokens are built here with libsodium's HMAC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "check.h"
#include "util/err.h"

#define SECRET_A "0123456789abcdef0123456789abcdef-A"
#define SECRET_B "0123456789abcdef0123456789abcdef-B"

static const int64_t NOW = 1800000000;

static struct auth_jwt *
make(const char *keys, const char *secret, const char *iss, const char *aud)
{
    struct auth_jwt_opts o = {keys, secret, iss, aud, 900, 30};
    struct auth_jwt *j = NULL;
    const char *why = NULL;
    if (auth_jwt_new(&o, &j, &why) != OK) {
        fprintf(stderr, "auth_jwt_new failed: %s\n", why);
        return NULL;
    }
    return j;
}

static void
b64(const char *in, size_t n, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, (const unsigned char *)in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* header.payload.HMAC-SHA256(secret) with any JSON the test wants. */
static void
forge(const char *header, const char *payload, const char *secret, char *out, size_t cap)
{
    char h[1024], p[2048];
    b64(header, strlen(header), h, sizeof(h));
    b64(payload, strlen(payload), p, sizeof(p));
    snprintf(out, cap, "%s.%s", h, p);
    unsigned char mac[32];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)out, strlen(out));
    crypto_auth_hmacsha256_final(&st, mac);
    char sig[64];
    sodium_bin2base64(sig, sizeof(sig), mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t n = strlen(out);
    snprintf(out + n, cap - n, ".%s", sig);
}

static char payload_buf[1024];

static const char *
claims(int64_t iat, int64_t nbf, int64_t exp, const char *iss, const char *aud)
{
    snprintf(payload_buf, sizeof(payload_buf),
             "{\"sub\":\"7\",\"sid\":\"9\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"iss\":\"%s\",\"aud\":%s,"
             "\"jti\":\"x1\"}",
             (long long)iat, (long long)nbf, (long long)exp, iss, aud);
    return payload_buf;
}

static enum auth_jwt_status
check(const struct auth_jwt *j, const char *tok)
{
    struct auth_claims c;
    return auth_jwt_verify(j, tok, strlen(tok), NOW, &c);
}

static void
test_config(void)
{
    struct auth_jwt_opts o = {NULL, "short", "pace", "pace", 900, 30};
    struct auth_jwt *j = NULL;
    const char *why = NULL;
    CHECK_EQ_INT(auth_jwt_new(&o, &j, &why), ERR_INVALID);
    CHECK(j == NULL && why != NULL && strstr(why, "32") != NULL);

    o.secret = NULL;
    CHECK_EQ_INT(auth_jwt_new(&o, &j, &why), ERR_INVALID);

    const char *bad[] = {"k1",
                         "k1=" SECRET_A ",k1=" SECRET_B,
                         "bad kid=" SECRET_A,
                         "=" SECRET_A,
                         "k1=short",
                         "k1=" SECRET_A ",",
                         NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        o.keys = bad[i];
        CHECK_EQ_INT(auth_jwt_new(&o, &j, &why), ERR_INVALID);
    }
    o.keys = "k1=" SECRET_A ",k2=" SECRET_B;
    CHECK_EQ_INT(auth_jwt_new(&o, &j, &why), OK);
    auth_jwt_free(j);

    o.keys = NULL;
    o.secret = SECRET_A;
    o.issuer = "bad\"issuer";
    CHECK_EQ_INT(auth_jwt_new(&o, &j, &why), ERR_INVALID);
}

static void
test_roundtrip(void)
{
    struct auth_jwt *j = make(NULL, SECRET_A, "pace", "pace");
    char tok[AUTH_JWT_MAX];
    CHECK_EQ_INT(auth_jwt_sign(j, 42, 99, NOW, tok, sizeof(tok)), OK);
    struct auth_claims c;
    CHECK_EQ_INT(auth_jwt_verify(j, tok, strlen(tok), NOW, &c), AUTH_JWT_OK);
    CHECK_EQ_INT(c.user_id, 42);
    CHECK_EQ_INT(c.session_id, 99);
    CHECK_EQ_INT(c.iat, NOW);
    CHECK_EQ_INT(c.exp, NOW + 900);

    /* The header names the key and the algorithm. */
    char header[256];
    size_t hl = 0;
    const char *dot = strchr(tok, '.');
    CHECK(sodium_base642bin((unsigned char *)header, sizeof(header) - 1, tok, (size_t)(dot - tok), NULL, &hl,
                            NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
    header[hl] = '\0';
    CHECK(strstr(header, "\"alg\":\"HS256\"") != NULL);
    CHECK(strstr(header, "\"kid\":\"default\"") != NULL);

    /* Two tokens differ (jti). */
    char tok2[AUTH_JWT_MAX];
    CHECK_EQ_INT(auth_jwt_sign(j, 42, 99, NOW, tok2, sizeof(tok2)), OK);
    CHECK(strcmp(tok, tok2) != 0);

    /* Too small a buffer. */
    CHECK_EQ_INT(auth_jwt_sign(j, 42, 99, NOW, tok2, 40), ERR_TOO_LARGE);
    auth_jwt_free(j);
}

static void
test_times(void)
{
    struct auth_jwt *j = make(NULL, SECRET_A, "pace", "pace");
    char tok[AUTH_JWT_MAX];
    struct auth_claims c;
    /* Expired a minute ago: refused; 10 s ago: inside the 30 s leeway. */
    auth_jwt_sign(j, 1, 1, NOW - 960, tok, sizeof(tok));
    CHECK_EQ_INT(auth_jwt_verify(j, tok, strlen(tok), NOW, &c), AUTH_JWT_EXPIRED);
    auth_jwt_sign(j, 1, 1, NOW - 910, tok, sizeof(tok));
    CHECK_EQ_INT(auth_jwt_verify(j, tok, strlen(tok), NOW, &c), AUTH_JWT_OK);
    /* Issued in the future. */
    auth_jwt_sign(j, 1, 1, NOW + 120, tok, sizeof(tok));
    CHECK_EQ_INT(auth_jwt_verify(j, tok, strlen(tok), NOW, &c), AUTH_JWT_NOT_YET_VALID);
    auth_jwt_sign(j, 1, 1, NOW + 20, tok, sizeof(tok));
    CHECK_EQ_INT(auth_jwt_verify(j, tok, strlen(tok), NOW, &c), AUTH_JWT_OK);

    char forged[4096];
    forge("{\"alg\":\"HS256\",\"kid\":\"default\"}", claims(NOW, NOW + 300, NOW + 900, "pace", "\"pace\""),
          SECRET_A, forged, sizeof(forged));
    CHECK_EQ_INT(check(j, forged), AUTH_JWT_NOT_YET_VALID);
    auth_jwt_free(j);
}

static void
test_refused(void)
{
    struct auth_jwt *j = make(NULL, SECRET_A, "pace", "pace");
    char t[4096];
    const char *good = claims(NOW, NOW, NOW + 900, "pace", "\"pace\"");

    forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"default\"}", good, SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_OK);
    /* aud as an array containing ours is fine. */
    forge("{\"alg\":\"HS256\",\"kid\":\"default\"}", claims(NOW, NOW, NOW + 900, "pace", "[\"x\",\"pace\"]"),
          SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_OK);

    forge("{\"alg\":\"HS512\",\"kid\":\"default\"}", good, SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_BAD_ALG);
    forge("{\"alg\":\"hs256\",\"kid\":\"default\"}", good, SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_BAD_ALG);
    forge("{\"alg\":\"HS256\",\"kid\":\"default\",\"crit\":[\"exp\"]}", good, SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_BAD_ALG);
    forge("{\"kid\":\"default\"}", good, SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_BAD_ALG);

    /* alg none, with and without a signature part. */
    char h[256], p[1024];
    const char *none = "{\"alg\":\"none\",\"kid\":\"default\"}";
    b64(none, strlen(none), h, sizeof(h));
    b64(good, strlen(good), p, sizeof(p));
    snprintf(t, sizeof(t), "%s.%s.", h, p);
    CHECK_EQ_INT(check(j, t), AUTH_JWT_BAD_ALG);
    snprintf(t, sizeof(t), "%s.%s", h, p);
    CHECK_EQ_INT(check(j, t), AUTH_JWT_MALFORMED);

    forge("{\"alg\":\"HS256\",\"kid\":\"other\"}", good, SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_UNKNOWN_KID);
    forge("{\"alg\":\"HS256\"}", good, SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_UNKNOWN_KID);

    forge("{\"alg\":\"HS256\",\"kid\":\"default\"}", good, SECRET_B, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_BAD_SIGNATURE);

    forge("{\"alg\":\"HS256\",\"kid\":\"default\"}", claims(NOW, NOW, NOW + 900, "other", "\"pace\""),
          SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_BAD_ISSUER);
    forge("{\"alg\":\"HS256\",\"kid\":\"default\"}", claims(NOW, NOW, NOW + 900, "pace", "\"other\""),
          SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_BAD_AUDIENCE);
    forge("{\"alg\":\"HS256\",\"kid\":\"default\"}", claims(NOW, NOW, NOW + 900, "pace", "[\"other\"]"),
          SECRET_A, t, sizeof(t));
    CHECK_EQ_INT(check(j, t), AUTH_JWT_BAD_AUDIENCE);

    /* Claims of the wrong type or missing. */
    const char *bad_claims[] = {
        "{\"sub\":7,\"sid\":\"9\",\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800000900,\"iss\":\"pace\","
        "\"aud\":\"pace\",\"jti\":\"x\"}",
        "{\"sub\":\"7\",\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800000900,\"iss\":\"pace\","
        "\"aud\":\"pace\",\"jti\":\"x\"}",
        "{\"sub\":\"7\",\"sid\":\"9\",\"iat\":1800000000,\"nbf\":1800000000,\"iss\":\"pace\",\"aud\":"
        "\"pace\","
        "\"jti\":\"x\"}",
        "{\"sub\":\"07\",\"sid\":\"9\",\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800000900,"
        "\"iss\":\"pace\",\"aud\":\"pace\",\"jti\":\"x\"}",
        "{\"sub\":\"7\",\"sid\":\"9\",\"iat\":1800000000,\"nbf\":1800000000,\"exp\":\"soon\",\"iss\":"
        "\"pace\","
        "\"aud\":\"pace\",\"jti\":\"x\"}",
        "{\"sub\":\"7\",\"sid\":\"9\",\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800000900,\"iss\":"
        "\"pace\","
        "\"aud\":\"pace\"}",
        "[1,2,3]",
        NULL,
    };
    for (int i = 0; bad_claims[i] != NULL; i++) {
        forge("{\"alg\":\"HS256\",\"kid\":\"default\"}", bad_claims[i], SECRET_A, t, sizeof(t));
        enum auth_jwt_status st = check(j, t);
        CHECK(st == AUTH_JWT_BAD_CLAIMS || st == AUTH_JWT_MALFORMED);
    }

    /* Tampering with a signed token: payload, header, signature. */
    char tok[AUTH_JWT_MAX];
    auth_jwt_sign(j, 5, 6, NOW, tok, sizeof(tok));
    char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    char copy[AUTH_JWT_MAX];
    snprintf(copy, sizeof(copy), "%s", tok);
    copy[(d1 - tok) + 5] = copy[(d1 - tok) + 5] == 'A' ? 'B' : 'A';
    CHECK(check(j, copy) != AUTH_JWT_OK);
    snprintf(copy, sizeof(copy), "%s", tok);
    copy[(d2 - tok) + 3] = copy[(d2 - tok) + 3] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(check(j, copy), AUTH_JWT_BAD_SIGNATURE);
    snprintf(copy, sizeof(copy), "%s", tok);
    copy[strlen(copy) - 1] = '\0';
    CHECK_EQ_INT(check(j, copy), AUTH_JWT_BAD_SIGNATURE);

    /* Garbage. */
    const char *garbage[] = {"", "abc", "a.b", "a.b.c.d", "...", "e30.e30.e30", "!!!.@@@.###", NULL};
    for (int i = 0; garbage[i] != NULL; i++)
        CHECK(check(j, garbage[i]) != AUTH_JWT_OK);
    char *huge = malloc(AUTH_JWT_MAX + 10);
    memset(huge, 'a', AUTH_JWT_MAX + 9);
    huge[AUTH_JWT_MAX + 9] = '\0';
    CHECK_EQ_INT(check(j, huge), AUTH_JWT_MALFORMED);
    free(huge);
    auth_jwt_free(j);
}

static void
test_rotation(void)
{
    struct auth_jwt *old = make("k1=" SECRET_A, NULL, "pace", "pace");
    struct auth_jwt *both = make("k2=" SECRET_B ",k1=" SECRET_A, NULL, "pace", "pace");
    struct auth_jwt *only_new = make("k2=" SECRET_B, NULL, "pace", "pace");
    char t1[AUTH_JWT_MAX], t2[AUTH_JWT_MAX];
    auth_jwt_sign(old, 1, 2, NOW, t1, sizeof(t1));
    auth_jwt_sign(both, 1, 2, NOW, t2, sizeof(t2));
    CHECK_EQ_INT(check(both, t1), AUTH_JWT_OK); /* old tokens still verify */
    CHECK_EQ_INT(check(both, t2), AUTH_JWT_OK); /* new ones are signed with k2 */
    CHECK_EQ_INT(check(old, t2), AUTH_JWT_UNKNOWN_KID);
    CHECK_EQ_INT(check(only_new, t1), AUTH_JWT_UNKNOWN_KID); /* k1 retired */
    CHECK_EQ_INT(check(only_new, t2), AUTH_JWT_OK);
    /* A token that claims k1 but is signed with k2's secret. */
    char t[4096];
    forge("{\"alg\":\"HS256\",\"kid\":\"k1\"}", claims(NOW, NOW, NOW + 900, "pace", "\"pace\""), SECRET_B, t,
          sizeof(t));
    CHECK_EQ_INT(check(both, t), AUTH_JWT_BAD_SIGNATURE);
    auth_jwt_free(old);
    auth_jwt_free(both);
    auth_jwt_free(only_new);
    CHECK(strcmp(auth_jwt_status_name(AUTH_JWT_EXPIRED), "expired") == 0);
}

/* The per-thread cache of verified tokens gives auth_jwt_verify's answers:
 * times are checked on every hit, other rings and changed bytes miss. */
static void
test_cache(void)
{
    struct auth_jwt *j = make(NULL, SECRET_A, "pace", "pace");
    char tok[AUTH_JWT_MAX];
    CHECK_EQ_INT(auth_jwt_sign(j, 7, 9, NOW, tok, sizeof(tok)), OK);
    struct auth_claims c;
    for (int i = 0; i < 2; i++) { /* a miss, then a hit */
        memset(&c, 0, sizeof(c));
        CHECK_EQ_INT(auth_jwt_verify_cached(j, tok, strlen(tok), NOW, &c), AUTH_JWT_OK);
        CHECK(c.user_id == 7 && c.session_id == 9 && c.exp == NOW + 900);
    }
    CHECK_EQ_INT(auth_jwt_verify_cached(j, tok, strlen(tok), NOW + 900 + 30, &c), AUTH_JWT_EXPIRED);
    CHECK_EQ_INT(auth_jwt_verify_cached(j, tok, strlen(tok), NOW - 31, &c), AUTH_JWT_NOT_YET_VALID);
    CHECK_EQ_INT(auth_jwt_verify_cached(j, tok, strlen(tok), NOW + 10, &c), AUTH_JWT_OK);

    /* One byte changed anywhere: a miss, and refused. */
    char bad[AUTH_JWT_MAX];
    snprintf(bad, sizeof(bad), "%s", tok);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(auth_jwt_verify_cached(j, bad, strlen(bad), NOW, &c), AUTH_JWT_BAD_SIGNATURE);
    CHECK_EQ_INT(auth_jwt_verify_cached(j, tok, strlen(tok) - 1, NOW, &c), AUTH_JWT_BAD_SIGNATURE);

    /* Another ring never sees this ring's entries, even at the same address. */
    struct auth_jwt *other = make(NULL, SECRET_B, "pace", "pace");
    CHECK_EQ_INT(auth_jwt_verify_cached(other, tok, strlen(tok), NOW, &c), AUTH_JWT_BAD_SIGNATURE);
    auth_jwt_free(other);
    auth_jwt_free(j);
    struct auth_jwt *again = make(NULL, SECRET_B, "pace", "pace");
    CHECK_EQ_INT(auth_jwt_verify_cached(again, tok, strlen(tok), NOW, &c), AUTH_JWT_BAD_SIGNATURE);
    auth_jwt_free(again);

    /* Forged tokens are never cached as valid. */
    struct auth_jwt *k = make(NULL, SECRET_A, "pace", "pace");
    char forged[AUTH_JWT_MAX];
    forge("{\"alg\":\"none\",\"kid\":\"default\"}", claims(NOW, NOW, NOW + 60, "pace", "\"pace\""), SECRET_A,
          forged, sizeof(forged));
    for (int i = 0; i < 2; i++)
        CHECK_EQ_INT(auth_jwt_verify_cached(k, forged, strlen(forged), NOW, &c), AUTH_JWT_BAD_ALG);
    auth_jwt_free(k);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_config();
    test_roundtrip();
    test_times();
    test_refused();
    test_rotation();
    test_cache();
    return check_done();
}
