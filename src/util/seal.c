/* Sealed secrets: see seal.h. */
#include <string.h>

#include <sodium.h>

#include "util/arena.h"
#include "util/seal.h"

#define PREFIX "s1."

void
seal_key_derive(struct seal_key *out, const char *secret, const char *context)
{
    /* The secret may be any length: hash it to a master key first. */
    uint8_t master[crypto_kdf_KEYBYTES];
    crypto_generichash(master, sizeof(master), (const uint8_t *)secret, strlen(secret), NULL, 0);
    crypto_kdf_derive_from_key(out->k, sizeof(out->k), 1, context, master);
    sodium_memzero(master, sizeof(master));
}

char *
seal(const struct seal_key *k, const void *plain, size_t len, struct arena *a)
{
    size_t raw_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    uint8_t *raw = arena_alloc(a, raw_len);
    randombytes_buf(raw, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(raw + crypto_secretbox_NONCEBYTES, plain, len, raw, k->k);
    size_t b64 = sodium_base64_ENCODED_LEN(raw_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = arena_alloc(a, sizeof(PREFIX) - 1 + b64);
    memcpy(out, PREFIX, sizeof(PREFIX) - 1);
    sodium_bin2base64(out + sizeof(PREFIX) - 1, b64, raw, raw_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

char *
seal_open(const struct seal_key *k, const char *text, struct arena *a, size_t *len)
{
    if (text == NULL || strncmp(text, PREFIX, sizeof(PREFIX) - 1) != 0)
        return NULL;
    text += sizeof(PREFIX) - 1;
    size_t tl = strlen(text);
    size_t cap = tl / 4 * 3 + 3;
    uint8_t *raw = arena_alloc(a, cap);
    size_t raw_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(raw, cap, text, tl, NULL, &raw_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != text + tl || raw_len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return NULL;
    size_t n = raw_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    char *out = arena_alloc(a, n + 1);
    if (crypto_secretbox_open_easy((uint8_t *)out, raw + crypto_secretbox_NONCEBYTES,
                                   raw_len - crypto_secretbox_NONCEBYTES, raw, k->k) != 0)
        return NULL;
    out[n] = '\0';
    if (len != NULL)
        *len = n;
    return out;
}

void
seal_key_wipe(struct seal_key *k)
{
    sodium_memzero(k->k, sizeof(k->k));
}
