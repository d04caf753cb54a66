/* Secrets kept at rest, sealed with a key derived from the server's secret:
 * mail and reset-request payloads in the job queue, TOTP secrets in the
 * users table. libsodium's secretbox (XSalsa20-Poly1305) with a random
 * nonce; the text form is "s1." followed by base64url(nonce || box), so a
 * sealed value is recognisable and a later format can get another prefix.
 * Keys are derived per purpose (a context of 8 characters), so a value
 * sealed for one purpose does not open for another. */
#ifndef PACE_UTIL_SEAL_H
#define PACE_UTIL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

enum { SEAL_KEY_LEN = 32 };

struct seal_key {
    uint8_t k[SEAL_KEY_LEN];
};

/* Derives the key of one purpose from the server secret (any length, at
 * least 1 byte); context is exactly 8 characters ("mailjob1", "totpsec1"). */
void seal_key_derive(struct seal_key *out, const char *secret, const char *context);
/* Seals len bytes of plain into text allocated from a (NUL-terminated). */
char *seal(const struct seal_key *k, const void *plain, size_t len, struct arena *a);
/* Opens text sealed by seal() with the same key: the plain bytes (plus a
 * NUL after them, not counted in *len) from a, or NULL when text is not a
 * sealed value or does not open with k (tampered, or another key). */
char *seal_open(const struct seal_key *k, const char *text, struct arena *a, size_t *len);
/* Wipes a key. */
void seal_key_wipe(struct seal_key *k);

#endif
