/* The second factor: TOTP secrets (RFC 6238: SHA-1, 6 digits, 30 s steps,
 * liboath), sealed at rest with a key derived from the server secret, and
 * recovery codes, kept as keyed BLAKE2b of their normalised text. Nothing
 * here touches the store or HTTP: the API layer stores what this makes and
 * spends what it verifies (a step once, a recovery code once). */
#ifndef PACE_AUTH_TOTP_H
#define PACE_AUTH_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

enum {
    AUTH_TOTP_SECRET_LEN = 20,    /* bytes of a secret (160 bits, RFC 4226's recommendation) */
    AUTH_TOTP_SECRET_TEXT = 33,   /* its base32, 32 characters without padding, with the NUL */
    AUTH_TOTP_STEP = 30,          /* seconds of a time step */
    AUTH_TOTP_DIGITS = 6,         /* digits of a code */
    AUTH_RECOVERY_CODES = 10,     /* codes given at enrolment */
    AUTH_RECOVERY_LEN = 10,       /* base32 characters of one code, shown as "xxxxx-xxxxx" */
    AUTH_RECOVERY_TEXT = 12,      /* "xxxxx-xxxxx" with the NUL */
    AUTH_RECOVERY_INPUT_MAX = 64, /* bytes of a typed code looked at */
    AUTH_RECOVERY_HASH = 32       /* bytes of a stored code hash (STORE_HASH_LEN) */
};

/* A fresh random secret: raw bytes and their base32 (upper case, no
 * padding), as an authenticator app takes it. */
void auth_totp_secret_new(uint8_t raw[AUTH_TOTP_SECRET_LEN], char text[AUTH_TOTP_SECRET_TEXT]);
/* The otpauth URI of a secret's base32 for username (from a):
 * otpauth://totp/pace:<username>?secret=..&issuer=pace&algorithm=SHA1&digits=6&period=30,
 * the username percent-encoded. */
char *auth_totp_uri(const char *username, const char *text, struct arena *a);
/* The secret sealed for the users table (util/seal.h, context "totpsec1",
 * keyed by server_secret), NUL-terminated from a. */
char *auth_totp_seal(const char *server_secret, const uint8_t raw[AUTH_TOTP_SECRET_LEN], struct arena *a);
/* Opens what auth_totp_seal made into raw. false when sealed is not one
 * (tampered, another server secret, another length). */
bool auth_totp_open(const char *server_secret, const char *sealed, struct arena *a,
                    uint8_t raw[AUTH_TOTP_SECRET_LEN]);
/* True when code is exactly 6 ASCII digits (a TOTP code's shape). */
bool auth_totp_is_code(const char *code);
/* Verifies a 6-digit code at now (unix seconds) within one step either
 * side: true with *step the time step it matched (for the store's "each
 * step once"). Thread-safe (liboath is initialised once on first use). */
bool auth_totp_verify(const uint8_t raw[AUTH_TOTP_SECRET_LEN], const char *code, int64_t now, int64_t *step);

/* Ten fresh recovery codes: text[i] "xxxxx-xxxxx" of [a-z2-7] for the
 * user, hash[i] what the store keeps (auth_totp_recovery_hash of it). */
void auth_totp_recovery_new(const char *server_secret, char text[AUTH_RECOVERY_CODES][AUTH_RECOVERY_TEXT],
                            uint8_t hash[AUTH_RECOVERY_CODES][AUTH_RECOVERY_HASH]);
/* The hash of a code as typed: dashes and spaces dropped, any case.
 * false when what is left is not 10 characters of base32. */
bool auth_totp_recovery_hash(const char *server_secret, const char *input, uint8_t hash[AUTH_RECOVERY_HASH]);

#endif
