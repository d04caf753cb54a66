/* libFuzzer target for the cursor codec (api/cursor.c). Odd first byte:
 * the rest is cursor text from a client (never accepted: it cannot carry a
 * valid tag). Even first byte: the rest is a payload signed with the real
 * key, as if the key had leaked, to reach the range checks; whatever is
 * accepted must be in range and re-encode to the same cursor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/cursor.h"
#include "api/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char SECRET[] = "fuzz-secret-0123456789abcdef0123456789abcdef";
static const char SCOPE[] = "T\0\0\0\0\0\0\0\1\0\0\377";
static struct api_cursor_key key;
static unsigned char derived[crypto_auth_hmacsha256_BYTES];
static int ready;

static void
setup(void)
{
    if (sodium_init() < 0)
        abort();
    api_cursor_key_init(&key, SECRET, sizeof(SECRET) - 1);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)SECRET, sizeof(SECRET) - 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"pace cursor v1", 14);
    crypto_auth_hmacsha256_final(&st, derived);
    ready = 1;
}

static void
sign(const unsigned char *payload, char out[API_CURSOR_TEXT + 1])
{
    unsigned char raw[API_CURSOR_PAYLOAD + API_CURSOR_TAG], full[crypto_auth_hmacsha256_BYTES];
    memcpy(raw, payload, API_CURSOR_PAYLOAD);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, derived, sizeof(derived));
    unsigned char sl[2] = {0, (unsigned char)(sizeof(SCOPE))};
    crypto_auth_hmacsha256_update(&st, sl, 2);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)SCOPE, sizeof(SCOPE));
    crypto_auth_hmacsha256_update(&st, raw, API_CURSOR_PAYLOAD);
    crypto_auth_hmacsha256_final(&st, full);
    memcpy(raw + API_CURSOR_PAYLOAD, full, API_CURSOR_TAG);
    sodium_bin2base64(out, API_CURSOR_TEXT + 1, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    if (size == 0)
        return 0;
    struct api_cursor_pos pos;
    if (data[0] & 1) {
        /* A copy of exactly size - 1 bytes, so reading past it is caught. */
        char *text = malloc(size);
        if (text == NULL)
            return 0;
        memcpy(text, data + 1, size - 1);
        if (api_cursor_decode(&key, SCOPE, sizeof(SCOPE), text, size - 1, &pos))
            abort(); /* a forged tag was accepted */
        free(text);
        return 0;
    }
    unsigned char payload[API_CURSOR_PAYLOAD] = {0};
    memcpy(payload, data + 1, size - 1 < sizeof(payload) ? size - 1 : sizeof(payload));
    char text[API_CURSOR_TEXT + 1];
    sign(payload, text);
    if (!api_cursor_decode(&key, SCOPE, sizeof(SCOPE), text, strlen(text), &pos))
        return 0;
    if (pos.id <= 0 || pos.created_at < 0 || (pos.has_date && !api_is_date(pos.date)) ||
        (!pos.has_date && pos.date[0] != '\0'))
        abort();
    char again[API_CURSOR_TEXT + 1];
    api_cursor_encode(&key, SCOPE, sizeof(SCOPE), &pos, again);
    if (strcmp(text, again) != 0)
        abort(); /* decode and encode disagree */
    if (api_cursor_decode(&key, SCOPE, sizeof(SCOPE) - 1, text, strlen(text), &pos))
        abort(); /* another scope */
    return 0;
}
