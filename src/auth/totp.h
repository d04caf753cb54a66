/* The second factor: TOTP secrets (RFC 6238: SHA-1, 6 digits, 30 s steps,
 * liboath), sealed at rest with a key derived from the server secret, and
 * recovery codes, kept as keyed BLAKE2b of their normalised text (a new
 * server secret therefore voids both: documented). auth_totp_check is the
 * one check of a code, under the login backoff, with the store spending
 * what it accepts (a time step once, a recovery code once). No HTTP. */
#ifndef PACE_AUTH_TOTP_H
#define PACE_AUTH_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct auth;
struct auth_rl_verdict;
struct store;
struct store_user;

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

/* A second factor presented for an account, by a client. */
struct auth_totp_attempt {
    struct store *store;           /* borrowed */
    const char *server_secret;     /* opens the secret, keys the recovery codes */
    const struct store_user *user; /* the account (its sealed secret) */
    const char *code;              /* as typed: 6 digits, or a recovery code */
    const char *ip;                /* the client's address */
    int64_t now_ms;
};

enum auth_totp_result {
    AUTH_TOTP_OK,       /* a TOTP code, its time step now spent */
    AUTH_TOTP_RECOVERY, /* a recovery code, now spent */
    AUTH_TOTP_WRONG,    /* wrong, already used, or no TOTP on: counted as a failure */
    AUTH_TOTP_LIMITED,  /* refused unchecked: *limited has Retry-After */
    AUTH_TOTP_ERROR     /* the store failed (*err), or the secret does not open (logged): nothing counted */
};

/* The one check of a second factor (the login's second step, turning TOTP
 * off): the login backoff of the account's second factor ("m:<id>") for
 * this IP, the code (a TOTP code of the step before, at or after now, each
 * step once; or a recovery code, once), and the outcome recorded as a
 * login failure or success. On AUTH_TOTP_RECOVERY, *left (may be NULL)
 * gets the recovery codes left. The MFA key is not the password's
 * ("u:<id>"): a right password clears its own backoff, and must not clear
 * the code's. */
enum auth_totp_result auth_totp_check(struct auth *a, const struct auth_totp_attempt *t,
                                      struct auth_rl_verdict *limited, int *err, int *left);

#endif
