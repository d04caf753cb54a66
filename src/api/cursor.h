/* Keyset cursors for list endpoints: opaque, tamper-evident and bound to
 * where they were made. A cursor is base64url (no padding) of a fixed
 * 26-byte payload (version, flags, id, created_at, a small number, a date)
 * followed by a 16-byte HMAC-SHA-256 tag over scope || payload. The scope
 * is bytes the caller builds from the user, the resource, the filters and
 * the sort; it is not in the cursor, so a cursor presented with any other
 * scope fails the tag check. Pure functions over bytes, apart from the
 * process key. */
#ifndef PACE_API_CURSOR_H
#define PACE_API_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

enum {
    API_CURSOR_PAYLOAD = 26, /* bytes of the payload */
    API_CURSOR_TAG = 16,     /* bytes of the truncated HMAC-SHA-256 tag */
    API_CURSOR_TEXT = 56,    /* characters of every valid cursor */
    API_CURSOR_SCOPE_MAX = 256
};

/* The signing key, kept as a prepared HMAC state (one SHA-256 pass per use). */
struct api_cursor_key {
    crypto_auth_hmacsha256_state hmac;
};

/* A keyset position. Which members matter is the caller's business (all
 * lists use id). */
struct api_cursor_pos {
    int64_t id;         /* > 0 */
    int64_t created_at; /* unix ms, >= 0 */
    int32_t num;        /* e.g. a priority */
    bool has_date;
    char date[11]; /* "YYYY-MM-DD" when has_date, else "" */
};

/* Derives the key: HMAC-SHA-256(secret, "pace cursor v1"), so cursors
 * never share a key with access tokens. secret is borrowed. */
void api_cursor_key_init(struct api_cursor_key *key, const void *secret, size_t len);

/* Writes the cursor of pos for scope (scope_len <= API_CURSOR_SCOPE_MAX)
 * into out (at least API_CURSOR_TEXT + 1 bytes, NUL-terminated). pos must
 * be valid (id > 0, created_at >= 0, a real date when has_date). */
void api_cursor_encode(const struct api_cursor_key *key, const void *scope, size_t scope_len,
                       const struct api_cursor_pos *pos, char *out);

/* Reads text (len bytes, not necessarily terminated) made for scope into
 * *pos. Returns true, or false for anything else: wrong length or
 * alphabet, a tag that does not match (tampered, another key, another
 * scope), an unknown version or flag, or values out of range. */
bool api_cursor_decode(const struct api_cursor_key *key, const void *scope, size_t scope_len,
                       const char *text, size_t len, struct api_cursor_pos *pos);

/* The process-wide key for the API, derived by api_cursor_setup from the
 * server secret (api_init calls it once before the server starts). With a
 * NULL secret a random key is used: cursors then die with the process. */
void api_cursor_setup(const char *secret);
const struct api_cursor_key *api_cursor_key(void);

#endif
