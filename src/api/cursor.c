/* Signed keyset cursors. Invariants: the tag is checked in constant time
 * before any byte of the payload is interpreted; every valid cursor is
 * exactly API_CURSOR_TEXT characters, so nothing longer is even decoded;
 * a payload that passes the tag is still range-checked (defence in depth
 * against a leaked key or a bug in an older encoder). */
#include <string.h>

#include "api/cursor.h"
#include "api/validate.h"

enum { VERSION = 1, F_HAS_DATE = 1 << 0, RAW = API_CURSOR_PAYLOAD + API_CURSOR_TAG };

static const char DOMAIN[] = "pace cursor v1";

static struct api_cursor_key process_key;

void
api_cursor_key_init(struct api_cursor_key *key, const void *secret, size_t len)
{
    unsigned char derived[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, secret, len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)DOMAIN, sizeof(DOMAIN) - 1);
    crypto_auth_hmacsha256_final(&st, derived);
    crypto_auth_hmacsha256_init(&key->hmac, derived, sizeof(derived));
    sodium_memzero(derived, sizeof(derived));
    sodium_memzero(&st, sizeof(st));
}

void
api_cursor_setup(const char *secret)
{
    if (secret != NULL) {
        api_cursor_key_init(&process_key, secret, strlen(secret));
        return;
    }
    unsigned char random[32];
    randombytes_buf(random, sizeof(random));
    api_cursor_key_init(&process_key, random, sizeof(random));
    sodium_memzero(random, sizeof(random));
}

const struct api_cursor_key *
api_cursor_key(void)
{
    return &process_key;
}

static void
put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t
get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void
put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint32_t
get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
tag(const struct api_cursor_key *key, const void *scope, size_t scope_len, const unsigned char *payload,
    unsigned char out[API_CURSOR_TAG])
{
    unsigned char full[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st = key->hmac;
    /* The scope's length first, so scope || payload cannot be re-split. */
    unsigned char sl[2] = {(unsigned char)(scope_len >> 8), (unsigned char)scope_len};
    crypto_auth_hmacsha256_update(&st, sl, sizeof(sl));
    crypto_auth_hmacsha256_update(&st, scope, scope_len);
    crypto_auth_hmacsha256_update(&st, payload, API_CURSOR_PAYLOAD);
    crypto_auth_hmacsha256_final(&st, full);
    memcpy(out, full, API_CURSOR_TAG);
}

/* "YYYY-MM-DD" as the number YYYYMMDD (the string is a checked date). */
static uint32_t
date_number(const char *d)
{
    uint32_t v = 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7)
            v = v * 10 + (uint32_t)(d[i] - '0');
    return v;
}

static void
date_text(uint32_t v, char out[11])
{
    static const int pos[8] = {0, 1, 2, 3, 5, 6, 8, 9};
    for (int i = 7; i >= 0; i--) {
        out[pos[i]] = (char)('0' + v % 10);
        v /= 10;
    }
    out[4] = out[7] = '-';
    out[10] = '\0';
}

void
api_cursor_encode(const struct api_cursor_key *key, const void *scope, size_t scope_len,
                  const struct api_cursor_pos *pos, char *out)
{
    unsigned char raw[RAW];
    raw[0] = VERSION;
    raw[1] = pos->has_date ? F_HAS_DATE : 0;
    put_be64(raw + 2, (uint64_t)pos->id);
    put_be64(raw + 10, (uint64_t)pos->created_at);
    put_be32(raw + 18, (uint32_t)pos->num);
    put_be32(raw + 22, pos->has_date ? date_number(pos->date) : 0);
    tag(key, scope, scope_len, raw, raw + API_CURSOR_PAYLOAD);
    sodium_bin2base64(out, API_CURSOR_TEXT + 1, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool
api_cursor_decode(const struct api_cursor_key *key, const void *scope, size_t scope_len, const char *text,
                  size_t len, struct api_cursor_pos *pos)
{
    if (len != API_CURSOR_TEXT || scope_len > API_CURSOR_SCOPE_MAX)
        return false;
    unsigned char raw[RAW];
    size_t n = 0;
    const char *end = NULL;
    if (sodium_base642bin(raw, sizeof(raw), text, len, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != RAW || end != text + len)
        return false;
    unsigned char want[API_CURSOR_TAG];
    tag(key, scope, scope_len, raw, want);
    if (sodium_memcmp(want, raw + API_CURSOR_PAYLOAD, API_CURSOR_TAG) != 0)
        return false;
    if (raw[0] != VERSION || (raw[1] & ~F_HAS_DATE) != 0)
        return false;
    memset(pos, 0, sizeof(*pos));
    pos->id = (int64_t)get_be64(raw + 2);
    pos->created_at = (int64_t)get_be64(raw + 10);
    pos->num = (int32_t)get_be32(raw + 18);
    pos->has_date = (raw[1] & F_HAS_DATE) != 0;
    uint32_t d = get_be32(raw + 22);
    if (pos->id <= 0 || pos->created_at < 0)
        return false;
    if (!pos->has_date)
        return d == 0;
    if (d > 99991231)
        return false;
    date_text(d, pos->date);
    return api_is_date(pos->date);
}
