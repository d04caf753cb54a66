/* Password hashing: argon2id through libargon2 (the reference
 * implementation) for every new hash, legacy bcrypt ($2b$) verification
 * through libcrypt for imported accounts, and a dummy hash with the current
 * parameters so that a login for an unknown account costs one verification
 * like any other. Stored hashes are PHC strings, the format libsodium's
 * crypto_pwhash_str writes and reads ($argon2id$v=19$m=..,t=..,p=..$salt$hash).
 *
 * Why libargon2 and not crypto_pwhash: libsodium maps, populates and unmaps
 * its m KiB for every hash, which on this machine was 19% of a hash's time
 * in the kernel, and the unmapping interrupts the other threads of the
 * process (TLB shootdown). libargon2 takes an allocator: each hashing thread
 * keeps one buffer (huge pages when the kernel gives them) for the life of
 * the thread, and libargon2 wipes it after every hash. See
 * docs/internals/accounts.md. Parameters are process state, set once at
 * start-up; everything else is thread-safe. */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <argon2.h>
#include <sodium.h>

#include "auth/auth.h"
#include "util/alloc.h"
#include "util/err.h"

enum {
    HASH_NICE = 10,
    SALT_BYTES = 16, /* as crypto_pwhash_str */
    KEY_BYTES = 32,
    /* Caps on what a stored hash may ask for (an imported one, say). */
    STORED_SALT_MAX = 64,
    STORED_KEY_MAX = 64,
    STORED_LANES_MAX = 16,
    STORED_T_MAX = 64,
};
#define STORED_M_MAX_KIB (1024u * 1024u) /* 1 GiB */
#define HUGE_PAGE        ((size_t)2 << 20)

static uint32_t t_cost = 2;
static uint32_t m_cost = 19456; /* KiB */
static bool idle_priority;
static char dummy_hash[AUTH_HASH_MAX];

/* An argon2id PHC string, decoded. */
struct phc {
    uint32_t m, t, p;
    uint8_t salt[STORED_SALT_MAX];
    size_t salt_len;
    uint8_t key[STORED_KEY_MAX];
    size_t key_len;
};

/* ---- the per-thread work area -------------------------------------------- */

struct scratch {
    uint8_t *mem;
    size_t len; /* mapped bytes */
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void
scratch_free(void *v)
{
    struct scratch *s = v;
    if (s->mem != NULL)
        munmap(s->mem, s->len);
    free(s);
}

static void
scratch_key_make(void)
{
    if (pthread_key_create(&scratch_key, scratch_free) != 0)
        abort();
}

/* libargon2's allocator: the calling thread's buffer, grown when a stored
 * hash asks for more memory than the last one. */
static int
scratch_get(uint8_t **out, size_t bytes)
{
    pthread_once(&scratch_once, scratch_key_make);
    struct scratch *s = pthread_getspecific(scratch_key);
    if (s == NULL) {
        s = xcalloc(1, sizeof(*s));
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return ARGON2_MEMORY_ALLOCATION_ERROR;
        }
    }
    if (s->len < bytes) {
        if (s->mem != NULL)
            munmap(s->mem, s->len);
        s->mem = NULL;
        s->len = 0;
        size_t len = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return ARGON2_MEMORY_ALLOCATION_ERROR;
        (void)madvise(m, len, MADV_HUGEPAGE); /* fewer TLB misses; best effort */
        s->mem = m;
        s->len = len;
    }
    *out = s->mem;
    return ARGON2_OK;
}

/* libargon2 has wiped the memory before it calls this; it stays mapped. */
static void
scratch_put(uint8_t *mem, size_t bytes)
{
    (void)mem;
    (void)bytes;
}

/* Hashing threads yield the CPU to the event loops: a login flood may use
 * every idle cycle but must not delay the rest of the API. The
 * first hash on a thread lowers that thread's priority (Linux: per thread).
 * SCHED_IDLE: a waking loop thread preempts a hash at once; nice +10 only
 * after the hash's time slice, which showed as milliseconds of p99 on the
 * other endpoints during a login flood (docs/benchmarks.md). */
static void
yield_to_loops(void)
{
    static _Thread_local bool done;
    if (done)
        return;
    done = true;
    struct sched_param sp = {0};
    if (!idle_priority || pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), HASH_NICE);
}

/* ---- argon2id and its PHC string ------------------------------------------ */

static int
argon2id_raw(const char *pw, size_t len, const uint8_t *salt, size_t salt_len, uint32_t t, uint32_t m,
             uint32_t p, uint8_t *key, size_t key_len)
{
    if (len > UINT32_MAX)
        return ERR_INVALID;
    argon2_context c = {
        .out = key,
        .outlen = (uint32_t)key_len,
        .pwd = (uint8_t *)(uintptr_t)pw, /* not modified: no ARGON2_FLAG_CLEAR_PASSWORD */
        .pwdlen = (uint32_t)len,
        .salt = (uint8_t *)(uintptr_t)salt,
        .saltlen = (uint32_t)salt_len,
        .t_cost = t,
        .m_cost = m,
        .lanes = p,
        .threads = 1,
        .version = ARGON2_VERSION_13,
        .allocate_cbk = scratch_get,
        .free_cbk = scratch_put,
        .flags = ARGON2_DEFAULT_FLAGS,
    };
    int rc = argon2id_ctx(&c);
    if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
        return ERR_NOMEM;
    return rc == ARGON2_OK ? OK : ERR_INVALID;
}

static size_t
put_b64(char *out, size_t cap, const uint8_t *bin, size_t len)
{
    sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    return strlen(out);
}

/* "$argon2id$v=19$m=M,t=T,p=1$" salt "$" key, unpadded standard base64. */
static int
phc_encode(char out[AUTH_HASH_MAX], const uint8_t *salt, const uint8_t *key)
{
    int n = snprintf(out, AUTH_HASH_MAX, "$argon2id$v=%d$m=%u,t=%u,p=1$", ARGON2_VERSION_13, m_cost, t_cost);
    size_t need = sodium_base64_ENCODED_LEN(SALT_BYTES, sodium_base64_VARIANT_ORIGINAL_NO_PADDING) +
                  sodium_base64_ENCODED_LEN(KEY_BYTES, sodium_base64_VARIANT_ORIGINAL_NO_PADDING) + 1;
    if (n < 0 || (size_t)n + need > AUTH_HASH_MAX)
        return ERR_INVALID;
    size_t at = (size_t)n;
    at += put_b64(out + at, AUTH_HASH_MAX - at, salt, SALT_BYTES);
    out[at++] = '$';
    put_b64(out + at, AUTH_HASH_MAX - at, key, KEY_BYTES);
    return OK;
}

/* Reads a decimal in [1, max] at *s up to the terminator end. */
static bool
take_u32(const char **s, char end, uint32_t max, uint32_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    if (*p < '1' || *p > '9') /* no sign, no leading zero */
        return false;
    while (*p >= '0' && *p <= '9') {
        x = x * 10 + (uint64_t)(*p - '0');
        if (x > max)
            return false;
        p++;
    }
    if (*p != end)
        return false;
    *v = (uint32_t)x;
    *s = p + 1;
    return true;
}

static bool
take_lit(const char **s, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*s, lit, n) != 0)
        return false;
    *s += n;
    return true;
}

static bool
take_b64(const char **s, char end, uint8_t *bin, size_t cap, size_t min, size_t *len)
{
    const char *stop = strchr(*s, end);
    if (stop == NULL)
        return false;
    const char *rest = NULL;
    if (sodium_base642bin(bin, cap, *s, (size_t)(stop - *s), NULL, len, &rest,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        rest != stop || *len < min)
        return false;
    *s = stop;
    return true;
}

/* Strict: the one form crypto_pwhash_str and phc_encode write, with caps on
 * every number. */
static bool
phc_decode(const char *s, struct phc *h)
{
    uint32_t v;
    if (!take_lit(&s, "$argon2id$v=") || !take_u32(&s, '$', ARGON2_VERSION_13, &v) || v != ARGON2_VERSION_13)
        return false;
    if (!take_lit(&s, "m=") || !take_u32(&s, ',', STORED_M_MAX_KIB, &h->m) || !take_lit(&s, "t=") ||
        !take_u32(&s, ',', STORED_T_MAX, &h->t) || !take_lit(&s, "p=") ||
        !take_u32(&s, '$', STORED_LANES_MAX, &h->p))
        return false;
    if (h->m < 8 * h->p)
        return false;
    if (!take_b64(&s, '$', h->salt, sizeof(h->salt), ARGON2_MIN_SALT_LENGTH, &h->salt_len))
        return false;
    s++;
    return take_b64(&s, '\0', h->key, sizeof(h->key), ARGON2_MIN_OUTLEN, &h->key_len);
}

static int
phc_verify(const struct phc *h, const char *pw, size_t len)
{
    uint8_t key[STORED_KEY_MAX];
    int err = argon2id_raw(pw, len, h->salt, h->salt_len, h->t, h->m, h->p, key, h->key_len);
    if (err == OK && sodium_memcmp(key, h->key, h->key_len) != 0)
        err = ERR_INVALID;
    sodium_memzero(key, sizeof(key));
    return err;
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

int
auth_password_init(const struct auth_pwparams *p)
{
    if (p->iterations < ARGON2_MIN_TIME || p->iterations > STORED_T_MAX)
        return ERR_INVALID;
    if (p->memory_kib < ARGON2_MIN_MEMORY || p->memory_kib > STORED_M_MAX_KIB)
        return ERR_INVALID;
    t_cost = (uint32_t)p->iterations;
    m_cost = (uint32_t)p->memory_kib;
    idle_priority = p->idle_priority;
    /* The dummy's password is random and forgotten: nothing matches it. */
    unsigned char pw[32];
    randombytes_buf(pw, sizeof(pw));
    /* Not through auth_password_hash: the caller's priority stays (threads
     * started later inherit it). */
    int rc = ERR_NOMEM;
    uint8_t salt[SALT_BYTES], key[KEY_BYTES];
    randombytes_buf(salt, sizeof(salt));
    if (argon2id_raw((const char *)pw, sizeof(pw), salt, sizeof(salt), t_cost, m_cost, 1, key, sizeof(key)) ==
        OK)
        rc = phc_encode(dummy_hash, salt, key);
    sodium_memzero(pw, sizeof(pw));
    return rc;
}

int
auth_password_hash(const char *pw, size_t len, char out[AUTH_HASH_MAX])
{
    yield_to_loops();
    uint8_t salt[SALT_BYTES], key[KEY_BYTES];
    randombytes_buf(salt, sizeof(salt));
    int err = argon2id_raw(pw, len, salt, sizeof(salt), t_cost, m_cost, 1, key, sizeof(key));
    if (err == OK)
        err = phc_encode(out, salt, key);
    sodium_memzero(key, sizeof(key));
    return err == OK ? OK : ERR_NOMEM;
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
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
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
    struct phc h;
    if (phc_decode(dummy_hash, &h))
        (void)phc_verify(&h, pw, len);
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
    struct phc h;
    if (phc_decode(stored, &h)) {
        yield_to_loops();
        int err = phc_verify(&h, pw, len);
        if (err != OK)
            return err;
        *rehash =
            h.m != m_cost || h.t != t_cost || h.p != 1 || h.salt_len != SALT_BYTES || h.key_len != KEY_BYTES;
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
    struct phc h;
    if (phc_decode(stored, &h))
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
