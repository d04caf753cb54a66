/* The cursor codec (api/cursor.c): round trips, the fixed length and
 * alphabet, and refusal of every other key, scope, length, bit flip,
 * version, flag and out-of-range value. */
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "api/cursor.h"
#include "check.h"

static const char SECRET[] = "unit-test-secret-0123456789abcdef0123456789";

static struct api_cursor_key key;

/* Re-signs raw (decoded) bytes with key and scope, as an attacker with the
 * key could: to reach the range checks behind the tag. */
static void
forge(const unsigned char payload[API_CURSOR_PAYLOAD], const void *scope, size_t scope_len, char *out)
{
    unsigned char secret_key[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)SECRET, sizeof(SECRET) - 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"pace cursor v1", 14);
    crypto_auth_hmacsha256_final(&st, secret_key);
    unsigned char raw[API_CURSOR_PAYLOAD + API_CURSOR_TAG], full[32];
    memcpy(raw, payload, API_CURSOR_PAYLOAD);
    crypto_auth_hmacsha256_init(&st, secret_key, sizeof(secret_key));
    unsigned char sl[2] = {(unsigned char)(scope_len >> 8), (unsigned char)scope_len};
    crypto_auth_hmacsha256_update(&st, sl, 2);
    crypto_auth_hmacsha256_update(&st, scope, scope_len);
    crypto_auth_hmacsha256_update(&st, raw, API_CURSOR_PAYLOAD);
    crypto_auth_hmacsha256_final(&st, full);
    memcpy(raw + API_CURSOR_PAYLOAD, full, API_CURSOR_TAG);
    sodium_bin2base64(out, API_CURSOR_TEXT + 1, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void
decode_raw(const char *text, unsigned char raw[API_CURSOR_PAYLOAD + API_CURSOR_TAG])
{
    size_t n = 0;
    sodium_base642bin(raw, API_CURSOR_PAYLOAD + API_CURSOR_TAG, text, strlen(text), NULL, &n, NULL,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void
set_date(unsigned char *payload, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        payload[22 + i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static bool
decodes(const char *text, const void *scope, size_t sl, struct api_cursor_pos *pos)
{
    return api_cursor_decode(&key, scope, sl, text, strlen(text), pos);
}

static void
test_round_trip(void)
{
    struct api_cursor_pos cases[] = {
        {.id = 1, .created_at = 0, .num = 0, .has_date = false},
        {.id = INT64_MAX, .created_at = INT64_MAX, .num = 3, .has_date = true, .date = "9999-12-31"},
        {.id = 42, .created_at = 1795347892123, .num = -7, .has_date = true, .date = "2028-02-29"},
        {.id = 7, .created_at = 1, .num = INT32_MAX, .has_date = true, .date = "0001-01-01"},
    };
    const char scope[] = "T-user-1-sort-0";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[API_CURSOR_TEXT + 1];
        api_cursor_encode(&key, scope, sizeof(scope), &cases[i], text);
        CHECK_EQ_INT(strlen(text), API_CURSOR_TEXT);
        CHECK(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
              API_CURSOR_TEXT);
        struct api_cursor_pos out;
        CHECK(decodes(text, scope, sizeof(scope), &out));
        CHECK_EQ_INT(out.id, cases[i].id);
        CHECK_EQ_INT(out.created_at, cases[i].created_at);
        CHECK_EQ_INT(out.num, cases[i].num);
        CHECK_EQ_INT(out.has_date, cases[i].has_date);
        CHECK_EQ_STR(out.date, cases[i].has_date ? cases[i].date : "");
    }
}

static void
test_bound_to_key_and_scope(void)
{
    struct api_cursor_pos p = {.id = 5, .created_at = 1000, .num = 1};
    char text[API_CURSOR_TEXT + 1];
    api_cursor_encode(&key, "scope-a", 7, &p, text);
    struct api_cursor_pos out;
    CHECK(decodes(text, "scope-a", 7, &out));
    CHECK(!decodes(text, "scope-b", 7, &out));
    CHECK(!decodes(text, "scope-a", 6, &out));
    CHECK(!decodes(text, "scope-a\0", 8, &out));
    CHECK(!decodes(text, "", 0, &out));
    struct api_cursor_key other;
    api_cursor_key_init(&other, "another-secret-0123456789abcdef0123456789", 41);
    CHECK(!api_cursor_decode(&other, "scope-a", 7, text, strlen(text), &out));
    /* An empty scope works too, and is not the same as any other. */
    api_cursor_encode(&key, "", 0, &p, text);
    CHECK(decodes(text, "", 0, &out));
    CHECK(!decodes(text, "x", 1, &out));
    /* The process key: setup from a secret is deterministic. */
    api_cursor_setup(SECRET);
    char a[API_CURSOR_TEXT + 1], b[API_CURSOR_TEXT + 1];
    api_cursor_encode(api_cursor_key(), "s", 1, &p, a);
    api_cursor_encode(&key, "s", 1, &p, b);
    CHECK_EQ_STR(a, b);
    api_cursor_setup(NULL);
    api_cursor_encode(api_cursor_key(), "s", 1, &p, a);
    CHECK(strcmp(a, b) != 0);
}

static void
test_every_bit_flip_is_refused(void)
{
    struct api_cursor_pos p = {
        .id = 99, .created_at = 123456789, .num = 2, .has_date = true, .date = "2027-05-06"};
    char text[API_CURSOR_TEXT + 1];
    api_cursor_encode(&key, "s", 1, &p, text);
    unsigned char raw[API_CURSOR_PAYLOAD + API_CURSOR_TAG];
    decode_raw(text, raw);
    int accepted = 0;
    for (size_t i = 0; i < sizeof(raw); i++)
        for (int bit = 0; bit < 8; bit++) {
            unsigned char m[sizeof(raw)];
            memcpy(m, raw, sizeof(raw));
            m[i] ^= (unsigned char)(1 << bit);
            char t[API_CURSOR_TEXT + 1];
            sodium_bin2base64(t, sizeof(t), m, sizeof(m), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            struct api_cursor_pos out;
            accepted += decodes(t, "s", 1, &out);
        }
    CHECK_EQ_INT(accepted, 0);
}

static void
test_malformed_text(void)
{
    struct api_cursor_pos p = {.id = 3, .created_at = 3};
    char text[API_CURSOR_TEXT + 1];
    api_cursor_encode(&key, "s", 1, &p, text);
    struct api_cursor_pos out;
    CHECK(!api_cursor_decode(&key, "s", 1, text, API_CURSOR_TEXT - 1, &out));
    CHECK(!api_cursor_decode(&key, "s", 1, "", 0, &out));
    char longer[API_CURSOR_TEXT + 2];
    memcpy(longer, text, API_CURSOR_TEXT);
    longer[API_CURSOR_TEXT] = 'A';
    longer[API_CURSOR_TEXT + 1] = '\0';
    CHECK(!decodes(longer, "s", 1, &out));
    const char *alphabet_breakers = "+/=.* \n\0";
    for (const char *c = alphabet_breakers; c < alphabet_breakers + 8; c++) {
        char t[API_CURSOR_TEXT + 1];
        memcpy(t, text, sizeof(t));
        t[20] = *c;
        CHECK(!api_cursor_decode(&key, "s", 1, t, API_CURSOR_TEXT, &out));
    }
    /* A scope longer than the cap is refused, not read. */
    static char big[API_CURSOR_SCOPE_MAX + 1];
    CHECK(!decodes(text, big, sizeof(big), &out));
}

static void
test_range_checks_behind_the_tag(void)
{
    struct api_cursor_pos p = {.id = 9, .created_at = 9, .num = 1, .has_date = true, .date = "2027-01-02"};
    char text[API_CURSOR_TEXT + 1];
    api_cursor_encode(&key, "s", 1, &p, text);
    unsigned char raw[API_CURSOR_PAYLOAD + API_CURSOR_TAG];
    decode_raw(text, raw);
    struct api_cursor_pos out;
    char t[API_CURSOR_TEXT + 1];

    forge(raw, "s", 1, t);
    CHECK(decodes(t, "s", 1, &out)); /* the forger itself is right */

    unsigned char m[API_CURSOR_PAYLOAD];
#define MUTATE(stmt)                                                                                         \
    do {                                                                                                     \
        memcpy(m, raw, sizeof(m));                                                                           \
        stmt;                                                                                                \
        forge(m, "s", 1, t);                                                                                 \
        CHECK(!decodes(t, "s", 1, &out));                                                                    \
    } while (0)
    MUTATE(m[0] = 2);                /* unknown version */
    MUTATE(m[1] |= 2);               /* unknown flag */
    MUTATE(memset(m + 2, 0, 8));     /* id 0 */
    MUTATE(m[2] = 0x80);             /* id negative */
    MUTATE(m[10] = 0x80);            /* created_at negative */
    MUTATE(set_date(m, 20270230));   /* 30 February */
    MUTATE(set_date(m, 20271301));   /* month 13 */
    MUTATE(set_date(m, 20270100));   /* day 0 */
    MUTATE(set_date(m, 1231));       /* year 0 */
    MUTATE(memset(m + 22, 0xff, 4)); /* date out of range */
    MUTATE(m[1] = 0);                /* no date flag, but a date */
#undef MUTATE
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    api_cursor_key_init(&key, SECRET, sizeof(SECRET) - 1);
    test_round_trip();
    test_bound_to_key_and_scope();
    test_every_bit_flip_is_refused();
    test_malformed_text();
    test_range_checks_behind_the_tag();
    return check_done();
}
