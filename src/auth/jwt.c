/* Access tokens: JWT (RFC 7519) with HS256 only. Invariants: the header's
 * alg must be exactly "HS256" and its kid one of the configured keys; the
 * MAC is checked in constant time before any claim is looked at; every
 * input is capped (AUTH_JWT_MAX bytes, JSON depth via jparse). Keys are
 * kept as prepared HMAC states, so a check costs one SHA-256 pass. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/jparse.h"

enum {
    B64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING,
    CLAIM_TEXT_MAX = 128, /* iss, aud */
    JTI_BYTES = 16,
    CACHE_SLOTS = 512,     /* verified tokens remembered per thread */
    CACHE_TOKEN_MAX = 480, /* longer tokens are verified every time (pace's are about 300) */
};

struct key {
    char kid[AUTH_KID_MAX + 1];
    crypto_auth_hmacsha256_state hmac; /* initialised with the secret */
};

struct auth_jwt {
    struct key keys[AUTH_JWT_KEYS_MAX];
    size_t nkeys;
    char issuer[CLAIM_TEXT_MAX + 1];
    char audience[CLAIM_TEXT_MAX + 1];
    char header[256]; /* base64url of the signing key's header */
    int ttl;
    int leeway;
    uint64_t id; /* unique per ring: cache entries of another ring never match */
};

static atomic_uint_least64_t ring_ids;

static bool
kid_ok(const char *s, size_t n)
{
    if (n == 0 || n > AUTH_KID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c < 128 && (isalnum(c) || c == '.' || c == '_' || c == '-')))
            return false;
    }
    return true;
}

/* Printable ASCII without quote and backslash: written into JSON as is. */
static bool
claim_text_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > CLAIM_TEXT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return false;
    return true;
}

static int
add_key(struct auth_jwt *j, const char *kid, size_t kl, const char *secret, size_t sl, const char **why)
{
    if (j->nkeys == AUTH_JWT_KEYS_MAX) {
        *why = "too many keys (at most 16)";
        return ERR_INVALID;
    }
    if (!kid_ok(kid, kl)) {
        *why = "a key id must be 1 to 64 characters of [A-Za-z0-9._-]";
        return ERR_INVALID;
    }
    if (sl < AUTH_SECRET_MIN) {
        *why = "a JWT secret must be at least 32 bytes";
        return ERR_INVALID;
    }
    for (size_t i = 0; i < j->nkeys; i++) {
        if (strlen(j->keys[i].kid) == kl && memcmp(j->keys[i].kid, kid, kl) == 0) {
            *why = "a key id appears twice";
            return ERR_INVALID;
        }
    }
    struct key *k = &j->keys[j->nkeys++];
    memcpy(k->kid, kid, kl);
    k->kid[kl] = '\0';
    crypto_auth_hmacsha256_init(&k->hmac, (const unsigned char *)secret, sl);
    return OK;
}

/* "kid=secret,kid2=secret2": secrets are taken byte for byte (no comma). */
static int
parse_keys(struct auth_jwt *j, const char *spec, const char **why)
{
    const char *p = spec;
    while (true) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq == NULL) {
            *why = "PACE_JWT_KEYS must be a comma list of kid=secret";
            return ERR_INVALID;
        }
        int err = add_key(j, p, (size_t)(eq - p), eq + 1, n - (size_t)(eq - p) - 1, why);
        if (err != OK)
            return err;
        if (comma == NULL)
            return OK;
        p = comma + 1;
    }
}

int
auth_jwt_new(const struct auth_jwt_opts *o, struct auth_jwt **out, const char **why)
{
    *out = NULL;
    struct auth_jwt *j = xcalloc(1, sizeof(*j));
    int err = OK;
    if (o->keys != NULL && o->keys[0] != '\0') {
        err = parse_keys(j, o->keys, why);
    } else if (o->secret != NULL) {
        err = add_key(j, "default", 7, o->secret, strlen(o->secret), why);
    } else {
        *why = "no JWT secret configured";
        err = ERR_INVALID;
    }
    if (err == OK && (!claim_text_ok(o->issuer) || !claim_text_ok(o->audience))) {
        *why = "the JWT issuer and audience must be 1 to 128 printable ASCII characters without quotes";
        err = ERR_INVALID;
    }
    if (err == OK && (o->ttl < 1 || o->leeway < 0)) {
        *why = "the access-token lifetime must be positive";
        err = ERR_INVALID;
    }
    if (err != OK) {
        auth_jwt_free(j);
        return err;
    }
    snprintf(j->issuer, sizeof(j->issuer), "%s", o->issuer);
    snprintf(j->audience, sizeof(j->audience), "%s", o->audience);
    j->ttl = o->ttl;
    j->leeway = o->leeway;
    j->id = atomic_fetch_add(&ring_ids, 1) + 1;
    char header[128];
    int hl = snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                      j->keys[0].kid);
    sodium_bin2base64(j->header, sizeof(j->header), (const unsigned char *)header, (size_t)hl, B64);
    *out = j;
    return OK;
}

void
auth_jwt_free(struct auth_jwt *j)
{
    if (j == NULL)
        return;
    sodium_memzero(j, sizeof(*j));
    free(j);
}

int
auth_jwt_ttl(const struct auth_jwt *j)
{
    return j->ttl;
}

static void
mac(const struct key *k, const char *data, size_t n, unsigned char out[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st = k->hmac;
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)data, n);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

int
auth_jwt_sign(const struct auth_jwt *j, int64_t user_id, int64_t session_id, int64_t now, char *out,
              size_t cap)
{
    unsigned char jti_raw[JTI_BYTES];
    char jti[sodium_base64_ENCODED_LEN(JTI_BYTES, B64)];
    randombytes_buf(jti_raw, sizeof(jti_raw));
    sodium_bin2base64(jti, sizeof(jti), jti_raw, sizeof(jti_raw), B64);

    char payload[640];
    int pl = snprintf(payload, sizeof(payload),
                      "{\"sub\":\"%lld\",\"sid\":\"%lld\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,"
                      "\"iss\":\"%s\",\"aud\":\"%s\",\"jti\":\"%s\"}",
                      (long long)user_id, (long long)session_id, (long long)now, (long long)now,
                      (long long)(now + j->ttl), j->issuer, j->audience, jti);
    if (pl < 0 || (size_t)pl >= sizeof(payload))
        return ERR_TOO_LARGE;
    size_t hl = strlen(j->header);
    size_t need = hl + 1 + sodium_base64_ENCODED_LEN((size_t)pl, B64) - 1 + 1 +
                  sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES, B64);
    if (need > cap)
        return ERR_TOO_LARGE;
    memcpy(out, j->header, hl);
    out[hl] = '.';
    sodium_bin2base64(out + hl + 1, cap - hl - 1, (const unsigned char *)payload, (size_t)pl, B64);
    size_t signed_len = strlen(out);
    unsigned char sig[crypto_auth_hmacsha256_BYTES];
    mac(&j->keys[0], out, signed_len, sig);
    out[signed_len] = '.';
    sodium_bin2base64(out + signed_len + 1, cap - signed_len - 1, sig, sizeof(sig), B64);
    return OK;
}

/* ---- verification ---- */

/* Decodes one base64url segment (strict: no padding, no other bytes). */
static bool
b64_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    const char *end = NULL;
    if (n == 0 || sodium_base642bin(out, cap, s, n, NULL, outlen, &end, B64) != 0)
        return false;
    return end == s + n;
}

static json_t *
decode_object(const char *s, size_t n)
{
    unsigned char buf[AUTH_JWT_MAX];
    size_t len = 0;
    if (!b64_decode(s, n, buf, sizeof(buf), &len))
        return NULL;
    struct jparse_error e;
    json_t *v = jparse((const char *)buf, len, &e);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* A NumericDate: an integer or a finite number, within +-2^53. */
static bool
numeric_date(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < -(1LL << 53) || x > (1LL << 53))
            return false;
        *out = (int64_t)x;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d < -9007199254740992.0 || d > 9007199254740992.0)
            return false;
        *out = (int64_t)floor(d);
        return true;
    }
    return false;
}

/* A positive id written as a decimal string without sign or leading zero. */
static bool
id_string(const json_t *v, int64_t *out)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 18 || s[0] == '0')
        return false;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *out = x;
    return true;
}

static bool
audience_ok(const struct auth_jwt *j, const json_t *aud)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), j->audience) == 0;
    if (!json_is_array(aud))
        return false;
    size_t i;
    const json_t *item;
    json_array_foreach(aud, i, item)
    {
        if (json_is_string(item) && strcmp(json_string_value(item), j->audience) == 0)
            return true;
    }
    return false;
}

static enum auth_jwt_status
check_header(const struct auth_jwt *j, const json_t *h, const struct key **key)
{
    const json_t *alg = json_object_get(h, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0)
        return AUTH_JWT_BAD_ALG;
    if (json_object_get(h, "crit") != NULL)
        return AUTH_JWT_BAD_ALG;
    const json_t *kid = json_object_get(h, "kid");
    if (!json_is_string(kid))
        return AUTH_JWT_UNKNOWN_KID;
    for (size_t i = 0; i < j->nkeys; i++) {
        if (strcmp(j->keys[i].kid, json_string_value(kid)) == 0) {
            *key = &j->keys[i];
            return AUTH_JWT_OK;
        }
    }
    return AUTH_JWT_UNKNOWN_KID;
}

/* The checks of a token that depend on the time (all the others do not). */
static enum auth_jwt_status
check_times(const struct auth_jwt *j, const struct auth_claims *c, int64_t now)
{
    if (now >= c->exp + j->leeway)
        return AUTH_JWT_EXPIRED;
    if (c->nbf > now + j->leeway || c->iat > now + j->leeway)
        return AUTH_JWT_NOT_YET_VALID;
    return AUTH_JWT_OK;
}

static enum auth_jwt_status
check_claims(const struct auth_jwt *j, const json_t *c, int64_t now, struct auth_claims *out)
{
    const json_t *jti = json_object_get(c, "jti");
    if (!id_string(json_object_get(c, "sub"), &out->user_id) ||
        !id_string(json_object_get(c, "sid"), &out->session_id) ||
        !numeric_date(json_object_get(c, "exp"), &out->exp) ||
        !numeric_date(json_object_get(c, "nbf"), &out->nbf) ||
        !numeric_date(json_object_get(c, "iat"), &out->iat) || !json_is_string(jti) ||
        json_string_length(jti) == 0 || json_string_length(jti) > 128)
        return AUTH_JWT_BAD_CLAIMS;
    enum auth_jwt_status st = check_times(j, out, now);
    if (st != AUTH_JWT_OK)
        return st;
    const json_t *iss = json_object_get(c, "iss");
    if (!json_is_string(iss) || strcmp(json_string_value(iss), j->issuer) != 0)
        return AUTH_JWT_BAD_ISSUER;
    if (!audience_ok(j, json_object_get(c, "aud")))
        return AUTH_JWT_BAD_AUDIENCE;
    return AUTH_JWT_OK;
}

enum auth_jwt_status
auth_jwt_verify(const struct auth_jwt *j, const char *tok, size_t len, int64_t now, struct auth_claims *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0 || len > AUTH_JWT_MAX)
        return AUTH_JWT_MALFORMED;
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
        return AUTH_JWT_MALFORMED;

    json_t *header = decode_object(tok, (size_t)(d1 - tok));
    if (header == NULL)
        return AUTH_JWT_MALFORMED;
    const struct key *key = NULL;
    enum auth_jwt_status st = check_header(j, header, &key);
    json_decref(header);
    if (st != AUTH_JWT_OK)
        return st;

    unsigned char sig[crypto_auth_hmacsha256_BYTES + 1], want[crypto_auth_hmacsha256_BYTES];
    size_t sl = 0;
    const char *sig64 = d2 + 1;
    if (!b64_decode(sig64, len - (size_t)(sig64 - tok), sig, sizeof(sig), &sl) ||
        sl != crypto_auth_hmacsha256_BYTES)
        return AUTH_JWT_BAD_SIGNATURE;
    mac(key, tok, (size_t)(d2 - tok), want);
    if (sodium_memcmp(sig, want, sizeof(want)) != 0)
        return AUTH_JWT_BAD_SIGNATURE;

    json_t *claims = decode_object(d1 + 1, (size_t)(d2 - d1 - 1));
    if (claims == NULL)
        return AUTH_JWT_MALFORMED;
    st = check_claims(j, claims, now, out);
    json_decref(claims);
    return st;
}

/* ---- verified tokens, remembered per thread ---- */

/* A token that passed every check but the time ones, with its claims: the
 * same bytes under the same ring pass them again, so a hit only re-checks
 * exp, nbf and iat. Direct-mapped by SipHash of the token under a random
 * per-thread key; a hit needs the whole token to be equal (constant time). */
struct cached {
    uint64_t ring;
    size_t len;
    struct auth_claims claims;
    char tok[CACHE_TOKEN_MAX];
};

struct cache {
    unsigned char key[crypto_shorthash_KEYBYTES];
    struct cached slot[CACHE_SLOTS];
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void
cache_free(void *p)
{
    sodium_memzero(p, sizeof(struct cache));
    free(p);
}

static void
cache_key_make(void)
{
    if (pthread_key_create(&cache_key, cache_free) != 0)
        abort();
}

static struct cache *
thread_cache(void)
{
    pthread_once(&cache_once, cache_key_make);
    struct cache *c = pthread_getspecific(cache_key);
    if (c == NULL) {
        c = xcalloc(1, sizeof(*c));
        crypto_shorthash_keygen(c->key);
        if (pthread_setspecific(cache_key, c) != 0) {
            free(c);
            return NULL;
        }
    }
    return c;
}

enum auth_jwt_status
auth_jwt_verify_cached(const struct auth_jwt *j, const char *tok, size_t len, int64_t now,
                       struct auth_claims *out)
{
    struct cache *c = len <= CACHE_TOKEN_MAX ? thread_cache() : NULL;
    if (c == NULL)
        return auth_jwt_verify(j, tok, len, now, out);
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)tok, len, c->key);
    uint64_t x;
    memcpy(&x, h, sizeof(x));
    struct cached *e = &c->slot[x % CACHE_SLOTS];
    if (e->ring == j->id && e->len == len && sodium_memcmp(e->tok, tok, len) == 0) {
        *out = e->claims;
        return check_times(j, out, now);
    }
    enum auth_jwt_status st = auth_jwt_verify(j, tok, len, now, out);
    if (st == AUTH_JWT_OK) {
        e->ring = j->id;
        e->len = len;
        e->claims = *out;
        memcpy(e->tok, tok, len);
    }
    return st;
}

const char *
auth_jwt_status_name(enum auth_jwt_status s)
{
    switch (s) {
    case AUTH_JWT_OK:
        return "ok";
    case AUTH_JWT_MALFORMED:
        return "malformed";
    case AUTH_JWT_BAD_ALG:
        return "bad_alg";
    case AUTH_JWT_UNKNOWN_KID:
        return "unknown_kid";
    case AUTH_JWT_BAD_SIGNATURE:
        return "bad_signature";
    case AUTH_JWT_EXPIRED:
        return "expired";
    case AUTH_JWT_NOT_YET_VALID:
        return "not_yet_valid";
    case AUTH_JWT_BAD_ISSUER:
        return "bad_issuer";
    case AUTH_JWT_BAD_AUDIENCE:
        return "bad_audience";
    case AUTH_JWT_BAD_CLAIMS:
        return "bad_claims";
    }
    return "unknown";
}
