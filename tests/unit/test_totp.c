/* Unit tests for auth/totp.c without a store: RFC 6238 appendix B's SHA-1
 * vectors through auth_totp_verify (the matched step is floor(t/30)), one
 * step either side accepted and two refused, codes of the wrong shape
 * refused, fresh secrets and their base32, the otpauth URI, sealing a
 * secret, and recovery codes (format, distinctness, normalisation, keyed
 * by the server secret). auth_totp_check needs a store and is covered by
 * the API suite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liboath/oath.h>
#include <sodium.h>

#include "auth/totp.h"
#include "check.h"
#include "util/arena.h"
#include "util/seal.h"

static const uint8_t RFC_SECRET[AUTH_TOTP_SECRET_LEN] = "12345678901234567890";
static const char SERVER_SECRET[] = "the server secret for these tests";

/* RFC 4648 base32, upper case, no padding: a reference independent of totp.c. */
static void
b32(const uint8_t *raw, size_t n, char *out)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = A[(acc >> bits) & 31];
        }
    }
    if (bits > 0)
        out[o++] = A[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

static void
test_rfc6238(void)
{
    static const struct {
        int64_t t;
        const char *code;
    } v[] = {
        {59, "287082"},         {1111111109, "081804"}, {1111111111, "050471"},
        {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int64_t want = v[i].t / AUTH_TOTP_STEP;
        int64_t step = -1;
        CHECK(auth_totp_verify(RFC_SECRET, v[i].code, v[i].t, &step));
        CHECK_EQ_INT(step, want);
        /* Anywhere in the same step. */
        step = -1;
        CHECK(auth_totp_verify(RFC_SECRET, v[i].code, want * AUTH_TOTP_STEP, &step));
        CHECK_EQ_INT(step, want);
        step = -1;
        CHECK(auth_totp_verify(RFC_SECRET, v[i].code, want * AUTH_TOTP_STEP + 29, &step));
        CHECK_EQ_INT(step, want);
        /* One step after (a slow typist) and one before (a clock behind):
         * accepted, the step matched is still the code's. */
        step = -1;
        CHECK(auth_totp_verify(RFC_SECRET, v[i].code, (want + 1) * AUTH_TOTP_STEP, &step));
        CHECK_EQ_INT(step, want);
        step = -1;
        CHECK(auth_totp_verify(RFC_SECRET, v[i].code, (want + 1) * AUTH_TOTP_STEP + 29, &step));
        CHECK_EQ_INT(step, want);
        step = -1;
        CHECK(auth_totp_verify(RFC_SECRET, v[i].code, (want - 1) * AUTH_TOTP_STEP, &step));
        CHECK_EQ_INT(step, want);
        step = -1;
        CHECK(auth_totp_verify(RFC_SECRET, v[i].code, (want - 1) * AUTH_TOTP_STEP + 29, &step));
        CHECK_EQ_INT(step, want);
        /* Two steps either side: refused, *step untouched. */
        step = -1;
        CHECK(!auth_totp_verify(RFC_SECRET, v[i].code, (want + 2) * AUTH_TOTP_STEP, &step));
        CHECK(!auth_totp_verify(RFC_SECRET, v[i].code, (want + 2) * AUTH_TOTP_STEP + 29, &step));
        CHECK(!auth_totp_verify(RFC_SECRET, v[i].code, (want + 3) * AUTH_TOTP_STEP, &step));
        if (want >= 2) {
            CHECK(!auth_totp_verify(RFC_SECRET, v[i].code, (want - 2) * AUTH_TOTP_STEP + 29, &step));
            CHECK(!auth_totp_verify(RFC_SECRET, v[i].code, (want - 2) * AUTH_TOTP_STEP, &step));
        }
        CHECK_EQ_INT(step, -1);
        /* A wrong code: refused. */
        char wrong[7];
        memcpy(wrong, v[i].code, 7);
        wrong[5] = (char)(wrong[5] == '9' ? '0' : wrong[5] + 1);
        CHECK(!auth_totp_verify(RFC_SECRET, wrong, v[i].t, &step));
        wrong[5] = v[i].code[5];
        wrong[0] = (char)(wrong[0] == '9' ? '0' : wrong[0] + 1);
        CHECK(!auth_totp_verify(RFC_SECRET, wrong, v[i].t, &step));
        CHECK_EQ_INT(step, -1);
    }
    /* Another secret: the vector's code is refused. */
    uint8_t other[AUTH_TOTP_SECRET_LEN];
    memcpy(other, RFC_SECRET, sizeof(other));
    other[19] ^= 1;
    int64_t step = -1;
    CHECK(!auth_totp_verify(other, "287082", 59, &step));
    CHECK_EQ_INT(step, -1);
}

static void
test_code_shape(void)
{
    CHECK(auth_totp_is_code("287082"));
    CHECK(auth_totp_is_code("000000"));
    CHECK(auth_totp_is_code("999999"));
    static const char *bad[] = {"",       "2",        "28708",    "2870823",  "28708a",
                                "a87082", " 87082",   "287082 ",  " 287082",  "-87082",
                                "+87082", "2870.2",   "28 082",   "２87082",  "287082\n",
                                "0x1234", "12345678", "abcdefgh", "28708\x7f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(!auth_totp_is_code(bad[i]));
        int64_t step = -1;
        CHECK(!auth_totp_verify(RFC_SECRET, bad[i], 59, &step));
        CHECK_EQ_INT(step, -1);
    }
    /* 5 and 7 digits around a right code: refused. */
    int64_t step = -1;
    CHECK(!auth_totp_verify(RFC_SECRET, "28708", 59, &step));
    CHECK(!auth_totp_verify(RFC_SECRET, "2870820", 59, &step));
    CHECK(!auth_totp_verify(RFC_SECRET, "0287082", 59, &step));
    CHECK(!auth_totp_verify(RFC_SECRET, "87082", 59, &step));
    CHECK_EQ_INT(step, -1);
}

static void
test_secret_new(void)
{
    /* The reference encoder on the RFC's secret. */
    char ref[64];
    b32(RFC_SECRET, sizeof(RFC_SECRET), ref);
    CHECK_EQ_STR(ref, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");

    uint8_t prev[AUTH_TOTP_SECRET_LEN] = {0};
    for (int i = 0; i < 50; i++) {
        uint8_t raw[AUTH_TOTP_SECRET_LEN];
        char text[AUTH_TOTP_SECRET_TEXT];
        memset(text, 'x', sizeof(text));
        auth_totp_secret_new(raw, text);
        CHECK_EQ_INT(strlen(text), AUTH_TOTP_SECRET_TEXT - 1);
        CHECK_EQ_INT(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32);
        b32(raw, sizeof(raw), ref);
        CHECK_EQ_STR(text, ref);
        CHECK(memcmp(raw, prev, sizeof(raw)) != 0);
        memcpy(prev, raw, sizeof(raw));
        /* What an app computes from the base32 is what verify accepts. */
        char *dec = NULL;
        size_t declen = 0;
        CHECK(oath_base32_decode(text, strlen(text), &dec, &declen) == OATH_OK);
        CHECK_EQ_INT(declen, AUTH_TOTP_SECRET_LEN);
        if (dec != NULL && declen == AUTH_TOTP_SECRET_LEN) {
            CHECK(memcmp(dec, raw, declen) == 0);
            char code[7];
            int64_t now = 1800000000 + i * 7;
            CHECK(oath_totp_generate(dec, declen, (time_t)now, 30, 0, 6, code) == OATH_OK);
            int64_t step = -1;
            CHECK(auth_totp_verify(raw, code, now, &step));
            CHECK_EQ_INT(step, now / 30);
        }
        free(dec);
    }
}

static void
test_uri(void)
{
    struct arena a;
    arena_init(&a);
    const char *text = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    CHECK_EQ_STR(
        auth_totp_uri("alice", text, &a),
        "otpauth://totp/pace:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=pace&algorithm=SHA1&"
        "digits=6&period=30");
    /* Unreserved characters kept, everything else percent-encoded (upper
     * hex), UTF-8 byte by byte: no ':', '?', '&', '#', '/', '@', space or
     * '%' of the name can break the label or add a parameter. */
    CHECK_EQ_STR(auth_totp_uri("a.b-c_d~e", text, &a),
                 "otpauth://totp/pace:a.b-c_d~e?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=pace&"
                 "algorithm=SHA1&digits=6&period=30");
    CHECK_EQ_STR(auth_totp_uri("a b:c?d&e=f#g/h@i%j+k", text, &a),
                 "otpauth://totp/pace:a%20b%3Ac%3Fd%26e%3Df%23g%2Fh%40i%25j%2Bk?secret="
                 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=pace&algorithm=SHA1&digits=6&period=30");
    CHECK_EQ_STR(auth_totp_uri("\xc3\xa9t\xc3\xa9", text, &a),
                 "otpauth://totp/pace:%C3%A9t%C3%A9?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=pace&"
                 "algorithm=SHA1&digits=6&period=30");
    /* A fresh secret's text goes in as it is. */
    uint8_t raw[AUTH_TOTP_SECRET_LEN];
    char t2[AUTH_TOTP_SECRET_TEXT];
    auth_totp_secret_new(raw, t2);
    const char *u = auth_totp_uri("bob", t2, &a);
    CHECK_EQ_STR(
        u, arena_printf(&a, "otpauth://totp/pace:bob?secret=%s&issuer=pace&algorithm=SHA1&digits=6&period=30",
                        t2));
    arena_cleanup(&a);
}

static void
test_seal(void)
{
    struct arena a;
    arena_init(&a);
    uint8_t raw[AUTH_TOTP_SECRET_LEN];
    char text[AUTH_TOTP_SECRET_TEXT];
    auth_totp_secret_new(raw, text);
    char *sealed = auth_totp_seal(SERVER_SECRET, raw, &a);
    CHECK(sealed != NULL && strncmp(sealed, "s1.", 3) == 0);
    CHECK(strstr(sealed, text) == NULL);
    uint8_t back[AUTH_TOTP_SECRET_LEN];
    memset(back, 0, sizeof(back));
    CHECK(auth_totp_open(SERVER_SECRET, sealed, &a, back));
    CHECK(memcmp(back, raw, sizeof(raw)) == 0);
    /* Two seals differ; both open. */
    char *sealed2 = auth_totp_seal(SERVER_SECRET, raw, &a);
    CHECK(strcmp(sealed, sealed2) != 0);
    CHECK(auth_totp_open(SERVER_SECRET, sealed2, &a, back));
    CHECK(memcmp(back, raw, sizeof(raw)) == 0);
    /* Another server secret, tampering, not a sealed value: refused. */
    CHECK(!auth_totp_open("another server secret", sealed, &a, back));
    char *t = arena_strndup(&a, sealed, strlen(sealed));
    t[10] = t[10] == 'A' ? 'B' : 'A';
    CHECK(!auth_totp_open(SERVER_SECRET, t, &a, back));
    CHECK(!auth_totp_open(SERVER_SECRET, text, &a, back));
    CHECK(!auth_totp_open(SERVER_SECRET, "", &a, back));
    CHECK(!auth_totp_open(SERVER_SECRET, NULL, &a, back));
    /* Sealed with the key of another purpose (mail payloads): refused. */
    struct seal_key mk;
    seal_key_derive(&mk, SERVER_SECRET, "mailjob1");
    CHECK(!auth_totp_open(SERVER_SECRET, seal(&mk, raw, sizeof(raw), &a), &a, back));
    seal_key_wipe(&mk);
    /* The right key, the wrong length: refused. */
    struct seal_key tk;
    seal_key_derive(&tk, SERVER_SECRET, "totpsec1");
    CHECK(!auth_totp_open(SERVER_SECRET, seal(&tk, raw, sizeof(raw) - 1, &a), &a, back));
    CHECK(!auth_totp_open(SERVER_SECRET, seal(&tk, "123456789012345678901", 21, &a), &a, back));
    CHECK(!auth_totp_open(SERVER_SECRET, seal(&tk, "", 0, &a), &a, back));
    CHECK(auth_totp_open(SERVER_SECRET, seal(&tk, raw, sizeof(raw), &a), &a, back));
    seal_key_wipe(&tk);
    /* The RFC secret sealed and opened still verifies its vector. */
    char *rs = auth_totp_seal(SERVER_SECRET, RFC_SECRET, &a);
    CHECK(auth_totp_open(SERVER_SECRET, rs, &a, back));
    int64_t step = -1;
    CHECK(auth_totp_verify(back, "287082", 59, &step));
    CHECK_EQ_INT(step, 1);
    arena_cleanup(&a);
}

static bool
valid_format(const char *c)
{
    if (strlen(c) != 11 || c[5] != '-')
        return false;
    for (int i = 0; i < 11; i++) {
        if (i == 5)
            continue;
        if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '2' && c[i] <= '7')))
            return false;
    }
    return true;
}

static void
test_recovery(void)
{
    char text[AUTH_RECOVERY_CODES][AUTH_RECOVERY_TEXT];
    uint8_t hash[AUTH_RECOVERY_CODES][AUTH_RECOVERY_HASH];
    auth_totp_recovery_new(SERVER_SECRET, text, hash);
    for (int i = 0; i < AUTH_RECOVERY_CODES; i++) {
        CHECK(valid_format(text[i]));
        for (int j = 0; j < i; j++) {
            CHECK(strcmp(text[i], text[j]) != 0);
            CHECK(memcmp(hash[i], hash[j], AUTH_RECOVERY_HASH) != 0);
        }
        uint8_t h[AUTH_RECOVERY_HASH];
        /* As given. */
        CHECK(auth_totp_recovery_hash(SERVER_SECRET, text[i], h));
        CHECK(memcmp(h, hash[i], sizeof(h)) == 0);
        /* Upper case, no dash, spaces, dashes and spaces anywhere. */
        char up[AUTH_RECOVERY_TEXT], nodash[AUTH_RECOVERY_LEN + 1], spaced[64], mixed[64];
        for (int k = 0; k < AUTH_RECOVERY_TEXT; k++)
            up[k] = (char)(text[i][k] >= 'a' && text[i][k] <= 'z' ? text[i][k] - 32 : text[i][k]);
        memcpy(nodash, text[i], 5);
        memcpy(nodash + 5, text[i] + 6, 6);
        snprintf(spaced, sizeof(spaced), "  %.5s %.5s  ", text[i], text[i] + 6);
        snprintf(mixed, sizeof(mixed), "%c-%c %c--%c%c -%c%c%c%c%c-", up[0], text[i][1], up[2], text[i][3],
                 up[4], text[i][6], up[7], text[i][8], up[9], text[i][10]);
        const char *forms[] = {up, nodash, spaced, mixed};
        for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
            memset(h, 0, sizeof(h));
            CHECK(auth_totp_recovery_hash(SERVER_SECRET, forms[f], h));
            CHECK(memcmp(h, hash[i], sizeof(h)) == 0);
        }
        /* Another server secret: another hash. */
        CHECK(auth_totp_recovery_hash("another server secret", text[i], h));
        CHECK(memcmp(h, hash[i], sizeof(h)) != 0);
        /* Another code (one character changed): another hash. */
        char other[AUTH_RECOVERY_TEXT];
        memcpy(other, text[i], sizeof(other));
        other[10] = other[10] == 'a' ? 'b' : 'a';
        CHECK(auth_totp_recovery_hash(SERVER_SECRET, other, h));
        CHECK(memcmp(h, hash[i], sizeof(h)) != 0);
    }
    /* A second batch: other codes. */
    char text2[AUTH_RECOVERY_CODES][AUTH_RECOVERY_TEXT];
    uint8_t hash2[AUTH_RECOVERY_CODES][AUTH_RECOVERY_HASH];
    auth_totp_recovery_new(SERVER_SECRET, text2, hash2);
    CHECK(memcmp(text, text2, sizeof(text)) != 0);

    /* The same code hashed under two secrets differs; the hash is a
     * function of the code. */
    uint8_t h1[AUTH_RECOVERY_HASH], h2[AUTH_RECOVERY_HASH];
    CHECK(auth_totp_recovery_hash(SERVER_SECRET, "abcde-fghij", h1));
    CHECK(auth_totp_recovery_hash(SERVER_SECRET, "ABCDEFGHIJ", h2));
    CHECK(memcmp(h1, h2, sizeof(h1)) == 0);
    CHECK(auth_totp_recovery_hash(SERVER_SECRET, "abcde-fghik", h2));
    CHECK(memcmp(h1, h2, sizeof(h1)) != 0);
    CHECK(auth_totp_recovery_hash(SERVER_SECRET, "22222-77777", h2));

    /* Not a code: too short or long, characters outside base32 (0, 1, 8,
     * 9, punctuation, tabs, non-ASCII), too long a typed text. */
    static const char *bad[] = {
        "",
        "abcde",
        "abcde-fghi",
        "abcde-fghijk",
        "abcdefghijabcdefghij",
        "abcde-fghi0",
        "abcde-fghi1",
        "abcde-fghi8",
        "abcde-fghi9",
        "abcde_fghij",
        "abcde.fghij",
        "abcde\tfghij",
        "abcde-fghi\xc3\xa9",
        "abcde-fghij\n",
        "287082",
        "-----------",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!auth_totp_recovery_hash(SERVER_SECRET, bad[i], h1));
    /* Up to AUTH_RECOVERY_INPUT_MAX bytes are looked at: padding with
     * spaces to that length is fine, one byte more is not. */
    char pad[AUTH_RECOVERY_INPUT_MAX + 2];
    memset(pad, ' ', sizeof(pad));
    memcpy(pad, "abcde-fghij", 11);
    pad[AUTH_RECOVERY_INPUT_MAX] = '\0';
    CHECK(auth_totp_recovery_hash(SERVER_SECRET, pad, h2));
    CHECK(memcmp(h1, h2, sizeof(h1)) == 0);
    pad[AUTH_RECOVERY_INPUT_MAX] = ' ';
    pad[AUTH_RECOVERY_INPUT_MAX + 1] = '\0';
    CHECK(!auth_totp_recovery_hash(SERVER_SECRET, pad, h2));
}

int
main(void)
{
    if (sodium_init() < 0 || oath_init() != OATH_OK)
        return 1;
    test_rfc6238();
    test_code_shape();
    test_secret_new();
    test_uri();
    test_seal();
    test_recovery();
    return check_done();
}
