/* Unit tests for util/seal.c: round trips of empty, short and long values
 * (binary included), a key of another context or another secret does not
 * open, any changed character of the text does not open, text that is not
 * a sealed value (no prefix, bad base64, too short) gives NULL, and two
 * seals of one value differ (random nonce). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "util/arena.h"
#include "util/seal.h"

static const char SECRET[] = "a server secret of some length, 0123456789";

static void
test_round_trip(void)
{
    struct seal_key k;
    seal_key_derive(&k, SECRET, "mailjob1");
    struct arena a;
    arena_init(&a);

    /* Empty, short, long (over the arena's first block), and binary with NULs. */
    size_t lens[] = {0, 1, 5, 31, 32, 33, 1000, 70000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i];
        unsigned char *plain = malloc(n + 1);
        for (size_t j = 0; j < n; j++)
            plain[j] = (unsigned char)(j * 7 + i);
        char *text = seal(&k, plain, n, &a);
        CHECK(text != NULL);
        CHECK(strncmp(text, "s1.", 3) == 0);
        /* base64url without padding: no '+', '/', '=' */
        CHECK(strspn(text + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
              strlen(text + 3));
        size_t got = 12345;
        char *out = seal_open(&k, text, &a, &got);
        CHECK(out != NULL);
        CHECK_EQ_INT(got, n);
        if (out != NULL) {
            CHECK(n == 0 || memcmp(out, plain, n) == 0);
            CHECK(out[n] == '\0'); /* NUL after the bytes */
        }
        /* len may be NULL */
        CHECK(seal_open(&k, text, &a, NULL) != NULL);
        free(plain);
    }

    /* A C string. */
    char *t = seal(&k, "hello", 5, &a);
    char *o = seal_open(&k, t, &a, NULL);
    CHECK_EQ_STR(o, "hello");

    /* The same secret and context derive the same key. */
    struct seal_key k2;
    seal_key_derive(&k2, SECRET, "mailjob1");
    CHECK(memcmp(k.k, k2.k, SEAL_KEY_LEN) == 0);
    CHECK_EQ_STR(seal_open(&k2, t, &a, NULL), "hello");

    seal_key_wipe(&k2);
    uint8_t zero[SEAL_KEY_LEN] = {0};
    CHECK(memcmp(k2.k, zero, SEAL_KEY_LEN) == 0);
    seal_key_wipe(&k);
    arena_cleanup(&a);
}

static void
test_other_keys(void)
{
    struct seal_key mail, totp, other_secret, short_secret;
    seal_key_derive(&mail, SECRET, "mailjob1");
    seal_key_derive(&totp, SECRET, "totpsec1");
    seal_key_derive(&other_secret, "another server secret", "mailjob1");
    seal_key_derive(&short_secret, "x", "mailjob1"); /* at least 1 byte is enough */
    CHECK(memcmp(mail.k, totp.k, SEAL_KEY_LEN) != 0);
    CHECK(memcmp(mail.k, other_secret.k, SEAL_KEY_LEN) != 0);
    CHECK(memcmp(mail.k, short_secret.k, SEAL_KEY_LEN) != 0);

    struct arena a;
    arena_init(&a);
    char *t = seal(&mail, "payload", 7, &a);
    CHECK(seal_open(&mail, t, &a, NULL) != NULL);
    CHECK(seal_open(&totp, t, &a, NULL) == NULL);
    CHECK(seal_open(&other_secret, t, &a, NULL) == NULL);
    CHECK(seal_open(&short_secret, t, &a, NULL) == NULL);
    char *u = seal(&short_secret, "", 0, &a);
    CHECK(seal_open(&short_secret, u, &a, NULL) != NULL);
    CHECK(seal_open(&mail, u, &a, NULL) == NULL);
    arena_cleanup(&a);
    seal_key_wipe(&mail);
    seal_key_wipe(&totp);
    seal_key_wipe(&other_secret);
    seal_key_wipe(&short_secret);
}

static void
test_tampered(void)
{
    struct seal_key k;
    seal_key_derive(&k, SECRET, "mailjob1");
    struct arena a;
    arena_init(&a);
    const char plain[] = "{\"kind\":\"verify_email\",\"link\":\"https://x/app/verify-email#token=abc\"}";
    char *t = seal(&k, plain, sizeof(plain) - 1, &a);
    size_t tl = strlen(t);
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int opened = 0;
    char *copy = arena_strndup(&a, t, tl);
    /* Every position, including the prefix, changed to another base64url
     * character: never opens. */
    for (size_t i = 0; i < tl; i++) {
        char orig = copy[i];
        const char *in = strchr(alphabet, orig);
        size_t next = in != NULL ? (size_t)(in - alphabet) + 1 : 0;
        copy[i] = alphabet[next % (sizeof(alphabet) - 1)];
        if (seal_open(&k, copy, &a, NULL) != NULL)
            opened++;
        copy[i] = orig;
    }
    CHECK_EQ_INT(opened, 0);
    CHECK(seal_open(&k, copy, &a, NULL) != NULL); /* restored: opens */

    /* One character cut at the end, or one added. */
    char *cut = arena_strndup(&a, t, tl - 1);
    CHECK(seal_open(&k, cut, &a, NULL) == NULL);
    char *longer = arena_printf(&a, "%sA", t);
    CHECK(seal_open(&k, longer, &a, NULL) == NULL);
    arena_cleanup(&a);
    seal_key_wipe(&k);
}

static void
test_not_sealed(void)
{
    struct seal_key k;
    seal_key_derive(&k, SECRET, "mailjob1");
    struct arena a;
    arena_init(&a);
    char *good = seal(&k, "x", 1, &a);

    CHECK(seal_open(&k, NULL, &a, NULL) == NULL);
    CHECK(seal_open(&k, "", &a, NULL) == NULL);
    CHECK(seal_open(&k, "s1.", &a, NULL) == NULL);
    CHECK(seal_open(&k, "s1", &a, NULL) == NULL);
    CHECK(seal_open(&k, "hello", &a, NULL) == NULL);
    CHECK(seal_open(&k, good + 3, &a, NULL) == NULL);                            /* no prefix */
    CHECK(seal_open(&k, arena_printf(&a, "s2.%s", good + 3), &a, NULL) == NULL); /* another prefix */
    CHECK(seal_open(&k, arena_printf(&a, "S1.%s", good + 3), &a, NULL) == NULL);
    /* Bad base64: characters outside base64url, padding, spaces. */
    CHECK(seal_open(&k, "s1.!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", &a, NULL) == NULL);
    CHECK(seal_open(&k, arena_printf(&a, "%s=", good), &a, NULL) == NULL);
    CHECK(seal_open(&k, arena_printf(&a, "%s==", good), &a, NULL) == NULL);
    CHECK(seal_open(&k, arena_printf(&a, " %s", good), &a, NULL) == NULL);
    CHECK(seal_open(&k, arena_printf(&a, "%s ", good), &a, NULL) == NULL);
    char *std = arena_strndup(&a, good, strlen(good));
    for (char *p = std + 3; *p != '\0'; p++) { /* standard base64's alphabet instead of url-safe */
        if (*p == '-')
            *p = '+';
        else if (*p == '_')
            *p = '/';
    }
    if (strcmp(std, good) != 0)
        CHECK(seal_open(&k, std, &a, NULL) == NULL);
    /* Too short: fewer bytes than a nonce and a MAC (40). */
    uint8_t raw[64];
    memset(raw, 0x5a, sizeof(raw));
    size_t shorts[] = {0, 1, 23, 24, 39};
    for (size_t i = 0; i < sizeof(shorts) / sizeof(shorts[0]); i++) {
        char b64[128];
        sodium_bin2base64(b64, sizeof(b64), raw, shorts[i], sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        CHECK(seal_open(&k, arena_printf(&a, "s1.%s", b64), &a, NULL) == NULL);
    }
    /* Exactly a nonce and a MAC of garbage: the right length, does not open. */
    char b64[128];
    sodium_bin2base64(b64, sizeof(b64), raw, 40, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    CHECK(seal_open(&k, arena_printf(&a, "s1.%s", b64), &a, NULL) == NULL);
    arena_cleanup(&a);
    seal_key_wipe(&k);
}

static void
test_random_nonce(void)
{
    struct seal_key k;
    seal_key_derive(&k, SECRET, "totpsec1");
    struct arena a;
    arena_init(&a);
    char *t1 = seal(&k, "same value", 10, &a);
    char *t2 = seal(&k, "same value", 10, &a);
    CHECK(strcmp(t1, t2) != 0);
    CHECK(strlen(t1) == strlen(t2));
    CHECK(strncmp(t1 + 3, t2 + 3, 32) != 0); /* the nonce's part differs */
    CHECK_EQ_STR(seal_open(&k, t1, &a, NULL), "same value");
    CHECK_EQ_STR(seal_open(&k, t2, &a, NULL), "same value");
    /* The empty value too. */
    CHECK(strcmp(seal(&k, "", 0, &a), seal(&k, "", 0, &a)) != 0);
    /* The text does not carry the plain value. */
    char *t3 = seal(&k, "plainvaluevisible", 17, &a);
    CHECK(strstr(t3, "plainvaluevisible") == NULL);
    arena_cleanup(&a);
    seal_key_wipe(&k);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_round_trip();
    test_other_keys();
    test_tampered();
    test_not_sealed();
    test_random_nonce();
    return check_done();
}
