/* Password hashing: argon2id through libsodium for every new hash, legacy
 * bcrypt ($2b$) verification through libcrypt for imported accounts, and a
 * dummy hash with the current parameters so that a login for an unknown
 * account costs one verification like any other. Parameters are process
 * state, set once at start-up; everything else is thread-safe. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>

#include "auth/auth.h"
#include "util/err.h"

enum { HASH_NICE = 10 };

static unsigned long long opslimit = 2;
static size_t memlimit = 19456u * 1024u;
static char dummy_hash[AUTH_HASH_MAX];

/* Hashing threads yield the CPU to the event loops: a login flood may use
 * every idle cycle but must not delay the rest of the API (DESIGN.md). The
 * first hash on a thread lowers that thread's priority (Linux: per thread). */
static void
yield_to_loops(void)
{
    static _Thread_local bool done;
    if (done)
        return;
    done = true;
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), HASH_NICE);
}

static bool
has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool
is_bcrypt(const char *s)
{
    return has_prefix(s, "$2b$") || has_prefix(s, "$2a$") || has_prefix(s, "$2y$");
}

static bool
is_argon2id(const char *s)
{
    return has_prefix(s, "$argon2id$");
}

int
auth_password_init(const struct auth_pwparams *p)
{
    if (p->iterations < crypto_pwhash_OPSLIMIT_MIN || p->iterations > crypto_pwhash_OPSLIMIT_MAX)
        return ERR_INVALID;
    if (p->memory_kib > SIZE_MAX / 1024 || p->memory_kib * 1024 < crypto_pwhash_MEMLIMIT_MIN ||
        p->memory_kib * 1024 > crypto_pwhash_MEMLIMIT_MAX)
        return ERR_INVALID;
    opslimit = p->iterations;
    memlimit = p->memory_kib * 1024;
    /* The dummy's password is random and forgotten: nothing matches it. */
    unsigned char pw[32];
    randombytes_buf(pw, sizeof(pw));
    /* Not through auth_password_hash: the caller's priority stays (threads
     * started later inherit it). */
    int rc = crypto_pwhash_str_alg(dummy_hash, (const char *)pw, sizeof(pw), opslimit, memlimit,
                                   crypto_pwhash_ALG_ARGON2ID13);
    sodium_memzero(pw, sizeof(pw));
    return rc == 0 ? OK : ERR_NOMEM;
}

int
auth_password_hash(const char *pw, size_t len, char out[AUTH_HASH_MAX])
{
    yield_to_loops();
    if (crypto_pwhash_str_alg(out, pw, len, opslimit, memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return ERR_NOMEM;
    return OK;
}

static int
verify_bcrypt(const char *stored, const char *pw, size_t len)
{
    /* crypt() takes a C string: a password with a NUL in it cannot match
     * what the legacy system hashed. */
    if (memchr(pw, '\0', len) != NULL || len > AUTH_PASSWORD_MAX)
        return ERR_INVALID;
    char phrase[AUTH_PASSWORD_MAX + 1];
    memcpy(phrase, pw, len);
    phrase[len] = '\0';
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (cd == NULL)
        return ERR_NOMEM;
    const char *h = crypt_rn(phrase, stored, cd, (int)sizeof(*cd));
    int rc = ERR_INVALID;
    size_t hl = h != NULL ? strlen(h) : 0;
    if (h != NULL && h[0] != '*' && hl == strlen(stored) && sodium_memcmp(h, stored, hl) == 0)
        rc = OK;
    sodium_memzero(phrase, sizeof(phrase));
    sodium_memzero(cd, sizeof(*cd));
    free(cd);
    return rc;
}

static void
dummy_verify(const char *pw, size_t len)
{
    yield_to_loops();
    int rc = crypto_pwhash_str_verify(dummy_hash, pw, len);
    (void)rc;
}

int
auth_password_verify(const char *stored, const char *pw, size_t len, bool *rehash)
{
    *rehash = false;
    if (stored == NULL) {
        /* Same work as a real check; the answer is always no. */
        dummy_verify(pw, len);
        return ERR_INVALID;
    }
    if (is_argon2id(stored)) {
        yield_to_loops();
        if (crypto_pwhash_str_verify(stored, pw, len) != 0)
            return ERR_INVALID;
        *rehash = crypto_pwhash_str_needs_rehash(stored, opslimit, memlimit) != 0;
        return OK;
    }
    if (is_bcrypt(stored)) {
        yield_to_loops();
        int err = verify_bcrypt(stored, pw, len);
        if (err == OK)
            *rehash = true;
        return err;
    }
    /* Unknown format: spend the same time, then refuse. */
    dummy_verify(pw, len);
    return ERR_INVALID;
}

bool
auth_password_hash_is_known(const char *stored)
{
    size_t n = strlen(stored);
    if (n == 0 || n >= AUTH_HASH_MAX)
        return false;
    if (is_argon2id(stored))
        return true;
    /* $2b$NN$ + 53 characters of bcrypt's base64. */
    if (!is_bcrypt(stored) || n != 60 || stored[6] != '$')
        return false;
    if (stored[4] < '0' || stored[4] > '3' || stored[5] < '0' || stored[5] > '9')
        return false;
    for (size_t i = 7; i < n; i++) {
        char c = stored[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '/';
        if (!ok)
            return false;
    }
    return true;
}
