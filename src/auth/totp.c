/* TOTP secrets and recovery codes (auth/totp.h). Codes are compared in
 * constant time (liboath's callback variant with sodium_memcmp); secrets
 * never leave this file unsealed except to the user who enrols. liboath
 * is initialised once, on first use, under pthread_once. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liboath/oath.h>
#include <sodium.h>

#include "auth/auth.h"
#include "auth/totp.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/seal.h"

static const char B32_LOWER[] = "abcdefghijklmnopqrstuvwxyz234567";

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static int oath_status;

static void
oath_start(void)
{
    oath_status = oath_init();
}

void
auth_totp_secret_new(uint8_t raw[AUTH_TOTP_SECRET_LEN], char text[AUTH_TOTP_SECRET_TEXT])
{
    randombytes_buf(raw, AUTH_TOTP_SECRET_LEN);
    /* RFC 4648 base32 by hand: 20 bytes are exactly 32 characters, no
     * padding, and no allocation to free. */
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < AUTH_TOTP_SECRET_LEN; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            text[o++] = (char)toupper((unsigned char)B32_LOWER[(acc >> bits) & 31]);
        }
    }
    text[o] = '\0';
}

/* Appends s percent-encoded (RFC 3986 unreserved characters kept). */
static void
pct_append(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            buf_append(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_append(b, e, 3);
        }
    }
}

char *
auth_totp_uri(const char *username, const char *text, struct arena *a)
{
    struct buf b;
    buf_init(&b, a, 160);
    buf_appends(&b, "otpauth://totp/pace:");
    pct_append(&b, username);
    buf_appends(&b, "?secret=");
    pct_append(&b, text);
    buf_appends(&b, "&issuer=pace&algorithm=SHA1&digits=6&period=30");
    buf_appendc(&b, '\0');
    return b.data;
}

char *
auth_totp_seal(const char *server_secret, const uint8_t raw[AUTH_TOTP_SECRET_LEN], struct arena *a)
{
    struct seal_key k;
    seal_key_derive(&k, server_secret, "totpsec1");
    char *out = seal(&k, raw, AUTH_TOTP_SECRET_LEN, a);
    seal_key_wipe(&k);
    return out;
}

bool
auth_totp_open(const char *server_secret, const char *sealed, struct arena *a,
               uint8_t raw[AUTH_TOTP_SECRET_LEN])
{
    struct seal_key k;
    seal_key_derive(&k, server_secret, "totpsec1");
    size_t n = 0;
    char *plain = seal_open(&k, sealed, a, &n);
    seal_key_wipe(&k);
    if (plain == NULL || n != AUTH_TOTP_SECRET_LEN)
        return false;
    memcpy(raw, plain, AUTH_TOTP_SECRET_LEN);
    sodium_memzero(plain, n);
    return true;
}

bool
auth_totp_is_code(const char *code)
{
    for (int i = 0; i < AUTH_TOTP_DIGITS; i++)
        if (code[i] < '0' || code[i] > '9')
            return false;
    return code[AUTH_TOTP_DIGITS] == '\0';
}

/* liboath's comparison: 0 when the code it computed (test) is the one
 * given (handle), in constant time. */
static int
code_cmp(void *handle, const char *test)
{
    if (strlen(test) != AUTH_TOTP_DIGITS)
        return 1;
    return sodium_memcmp(handle, test, AUTH_TOTP_DIGITS) == 0 ? 0 : 1;
}

bool
auth_totp_verify(const uint8_t raw[AUTH_TOTP_SECRET_LEN], const char *code, int64_t now, int64_t *step)
{
    if (!auth_totp_is_code(code))
        return false;
    pthread_once(&oath_once, oath_start);
    if (oath_status != OATH_OK) {
        log_error("auth", "liboath did not initialise: %s", oath_strerror(oath_status));
        return false;
    }
    char given[AUTH_TOTP_DIGITS + 1];
    memcpy(given, code, sizeof(given));
    int pos = 0;
    uint64_t counter = 0;
    int rc = oath_totp_validate3_callback((const char *)raw, AUTH_TOTP_SECRET_LEN, (time_t)now,
                                          AUTH_TOTP_STEP, OATH_TOTP_DEFAULT_START_TIME, AUTH_TOTP_DIGITS, 1,
                                          &pos, &counter, code_cmp, given);
    sodium_memzero(given, sizeof(given));
    if (rc < 0)
        return false;
    *step = (int64_t)counter;
    return true;
}

/* The keyed BLAKE2b of a normalised code (10 characters). */
static void
recovery_mac(const char *server_secret, const char norm[AUTH_RECOVERY_LEN], uint8_t hash[AUTH_RECOVERY_HASH])
{
    struct seal_key k;
    seal_key_derive(&k, server_secret, "recovery");
    crypto_generichash(hash, AUTH_RECOVERY_HASH, (const uint8_t *)norm, AUTH_RECOVERY_LEN, k.k, sizeof(k.k));
    seal_key_wipe(&k);
}

void
auth_totp_recovery_new(const char *server_secret, char text[AUTH_RECOVERY_CODES][AUTH_RECOVERY_TEXT],
                       uint8_t hash[AUTH_RECOVERY_CODES][AUTH_RECOVERY_HASH])
{
    for (int i = 0; i < AUTH_RECOVERY_CODES; i++) {
        char norm[AUTH_RECOVERY_LEN];
        for (int j = 0; j < AUTH_RECOVERY_LEN; j++)
            norm[j] = B32_LOWER[randombytes_uniform(32)];
        memcpy(text[i], norm, 5);
        text[i][5] = '-';
        memcpy(text[i] + 6, norm + 5, 5);
        text[i][11] = '\0';
        recovery_mac(server_secret, norm, hash[i]);
        sodium_memzero(norm, sizeof(norm));
    }
}

bool
auth_totp_recovery_hash(const char *server_secret, const char *input, uint8_t hash[AUTH_RECOVERY_HASH])
{
    char norm[AUTH_RECOVERY_LEN];
    size_t n = 0;
    for (size_t i = 0; input[i] != '\0' && i < AUTH_RECOVERY_INPUT_MAX; i++) {
        unsigned char c = (unsigned char)input[i];
        if (c == '-' || c == ' ')
            continue;
        c = (unsigned char)tolower(c);
        if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) || n == AUTH_RECOVERY_LEN)
            return false;
        norm[n++] = (char)c;
    }
    if (n != AUTH_RECOVERY_LEN || strlen(input) > AUTH_RECOVERY_INPUT_MAX)
        return false;
    recovery_mac(server_secret, norm, hash);
    sodium_memzero(norm, sizeof(norm));
    return true;
}

_Static_assert((int)AUTH_RECOVERY_HASH == (int)STORE_HASH_LEN, "recovery code hashes are stored as they are");

enum auth_totp_result
auth_totp_check(struct auth *a, const struct auth_totp_attempt *t, struct auth_rl_verdict *limited, int *err,
                int *left)
{
    struct auth_ratelimit *rl = auth_limits(a);
    const struct store_user *u = t->user;
    char account[32];
    snprintf(account, sizeof(account), "m:%lld", (long long)u->id);
    *err = OK;
    auth_ratelimit_login_check(rl, account, t->ip, t->now_ms, limited);
    if (limited->limited)
        return AUTH_TOTP_LIMITED;
    enum auth_totp_result res = AUTH_TOTP_WRONG;
    if (!u->totp_enabled || u->totp_secret == NULL) {
        res = AUTH_TOTP_WRONG;
    } else if (auth_totp_is_code(t->code)) {
        uint8_t raw[AUTH_TOTP_SECRET_LEN];
        struct arena scratch;
        arena_init(&scratch);
        bool opened = auth_totp_open(t->server_secret, u->totp_secret, &scratch, raw);
        arena_cleanup(&scratch);
        if (!opened) {
            log_error("auth", "the TOTP secret of user %lld does not open (was the server secret changed?)",
                      (long long)u->id);
            *err = ERR_INTERNAL;
            return AUTH_TOTP_ERROR;
        }
        int64_t step = 0;
        bool match = auth_totp_verify(raw, t->code, t->now_ms / 1000, &step);
        sodium_memzero(raw, sizeof(raw));
        if (match) {
            int e = store_user_totp_use_step(t->store, u->id, step);
            if (e == OK)
                res = AUTH_TOTP_OK;
            else if (e != ERR_CONFLICT) {
                *err = e;
                return AUTH_TOTP_ERROR;
            }
        }
    } else {
        uint8_t hash[AUTH_RECOVERY_HASH];
        if (auth_totp_recovery_hash(t->server_secret, t->code, hash)) {
            int e = store_recovery_code_use(t->store, u->id, hash, t->now_ms, left);
            if (e == OK)
                res = AUTH_TOTP_RECOVERY;
            else if (e != ERR_NOT_FOUND) {
                *err = e;
                return AUTH_TOTP_ERROR;
            }
        }
    }
    auth_ratelimit_login_result(rl, account, t->ip, res != AUTH_TOTP_WRONG, t->now_ms);
    return res;
}
