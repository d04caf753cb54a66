/* Rate limits and client addresses. Counters live in a fixed table of
 * sharded buckets (8 slots each, keyed by a keyed SipHash of the key), so
 * memory is bounded whatever the traffic: a full bucket gives its oldest
 * slot to a new key. Each limit is a GCRA token bucket (one timestamp per
 * key): `limit` attempts in a burst, refilled evenly over the class's
 * window (an hour for AUTH_RL_MAIL, a minute for the others). Login
 * failures are counted per (account, client IP) pair with an exponential
 * backoff, and per account, so an attacker slows down where they fail
 * while the owner's logins from elsewhere are not affected.
 *
 * With Redis (src/cache) every check is one call of the function library
 * (functions.lua: pace_limit, pace_login_check, pace_login_result) on
 * Redis's clock, so the limits hold across all instances; its keys are
 * keyed hashes, never the client's input. When Redis does not answer in
 * time, the check falls back to the table here at this instance's share
 * of the limit (the limit divided by the live instances, rounded up).
 *
 * Writes (auth_ratelimit_write) are counted per user in the table here
 * only, at this instance's share of the limit when Redis is shared: all
 * instances together still allow no more than the limit, and a write,
 * the hot path, costs no round trip. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "cache/cache.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/netlist.h"

enum {
    SHARDS = 64,
    BUCKETS = 256, /* per shard */
    WAYS = 8,      /* slots per bucket */
    KEY_MAX = 512
};

static const int64_t WINDOW_MS = 60 * 1000;
static const int64_t MAIL_WINDOW_MS = 60 * 60 * 1000;
static const int64_t FAILURE_MEMORY_MS = 15 * 60 * 1000;
static const int64_t BACKOFF_MAX_MS = 15 * 60 * 1000;

enum tag { TAG_IP, TAG_ACCOUNT, TAG_PAIR, TAG_ACCOUNT_FAILURES };

struct slot {
    uint64_t h;
    int64_t expires; /* ms; a slot at or past it is free */
    int64_t t;       /* GCRA: theoretical arrival time; pairs: last failure */
    int64_t n;       /* pairs: failures */
};

struct shard {
    pthread_mutex_t mu;
    struct slot slots[BUCKETS * WAYS];
};

struct auth_ratelimit {
    struct auth_ratelimit_opts o;
    struct cache *cache; /* NULL or disabled: local only */
    unsigned char key[crypto_shorthash_KEYBYTES];
    struct shard *shards;
};

struct auth_ratelimit *
auth_ratelimit_new(const struct auth_ratelimit_opts *o)
{
    struct auth_ratelimit *rl = xcalloc(1, sizeof(*rl));
    rl->o = *o;
    rl->cache = o->cache;
    crypto_shorthash_keygen(rl->key);
    if (o->enabled) {
        rl->shards = xcalloc(SHARDS, sizeof(*rl->shards));
        for (size_t i = 0; i < SHARDS; i++)
            pthread_mutex_init(&rl->shards[i].mu, NULL);
    }
    return rl;
}

void
auth_ratelimit_free(struct auth_ratelimit *rl)
{
    if (rl == NULL)
        return;
    if (rl->shards != NULL) {
        for (size_t i = 0; i < SHARDS; i++)
            pthread_mutex_destroy(&rl->shards[i].mu);
        free(rl->shards);
    }
    free(rl);
}

/* The bytes a key is made of: tag, class, a, and b after a NUL. */
static size_t
key_material(enum tag tag, int cls, const char *a, const char *b, unsigned char *buf)
{
    size_t n = 0;
    buf[n++] = (unsigned char)tag;
    buf[n++] = (unsigned char)cls;
    size_t al = strnlen(a, KEY_MAX);
    memcpy(buf + n, a, al);
    n += al;
    if (b != NULL) {
        buf[n++] = '\0';
        size_t bl = strnlen(b, KEY_MAX);
        memcpy(buf + n, b, bl);
        n += bl;
    }
    return n;
}

enum { MATERIAL_MAX = 2 + 2 * KEY_MAX + 1 };

static uint64_t
key_hash(const struct auth_ratelimit *rl, enum tag tag, int cls, const char *a, const char *b)
{
    unsigned char buf[MATERIAL_MAX];
    size_t n = key_material(tag, cls, a, b, buf);
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, buf, n, rl->key);
    return h != 0 ? h : 1;
}

/* The Redis key of a limit: a hash keyed with the instances' shared seed. */
static void
redis_key(const struct auth_ratelimit *rl, enum tag tag, int cls, const char *a, const char *b,
          char out[CACHE_KEY_MAX])
{
    unsigned char buf[MATERIAL_MAX];
    size_t n = key_material(tag, cls, a, b, buf);
    cache_key(rl->cache, "rl", (const char *)buf, n, out);
}

static bool
shared(const struct auth_ratelimit *rl)
{
    return cache_enabled(rl->cache);
}

/* This instance's share of limit while Redis does not answer. */
static int
share(const struct auth_ratelimit *rl, int limit)
{
    int n = cache_instances(rl->cache);
    int s = (limit + n - 1) / n;
    return s > 0 ? s : 1;
}

/* The slot of h in its (locked) shard: the live one, else a free or the
 * oldest slot of the bucket, reset. *found says which. */
static struct slot *
slot_get(struct shard *sh, uint64_t h, int64_t now, bool *found)
{
    struct slot *bucket = &sh->slots[((h >> 8) % BUCKETS) * WAYS];
    struct slot *victim = &bucket[0];
    for (int i = 0; i < WAYS; i++) {
        struct slot *s = &bucket[i];
        if (s->h == h && s->expires > now) {
            *found = true;
            return s;
        }
        if (s->expires < victim->expires)
            victim = s;
    }
    *found = false;
    memset(victim, 0, sizeof(*victim));
    victim->h = h;
    return victim;
}

/* The live slot of h, or NULL; takes nothing from other keys. */
static struct slot *
slot_find(struct shard *sh, uint64_t h, int64_t now)
{
    struct slot *bucket = &sh->slots[((h >> 8) % BUCKETS) * WAYS];
    for (int i = 0; i < WAYS; i++)
        if (bucket[i].h == h && bucket[i].expires > now)
            return &bucket[i];
    return NULL;
}

static struct shard *
shard_of(struct auth_ratelimit *rl, uint64_t h)
{
    return &rl->shards[h % SHARDS];
}

static int
ceil_s(int64_t ms)
{
    if (ms <= 0)
        return 0;
    return (int)((ms + 999) / 1000);
}

/* The window a class's limit is refilled over. */
static int64_t
window_of(enum auth_rl_class c)
{
    return c == AUTH_RL_MAIL ? MAIL_WINDOW_MS : WINDOW_MS;
}

/* One GCRA step for `limit` per `window` ms; counts unless limited or dry. */
static void
gcra(struct slot *s, bool found, int limit, int64_t window, int64_t now, bool dry, struct auth_rl_verdict *v)
{
    int64_t T = window / limit > 0 ? window / limit : 1; /* more than one a millisecond: 1 ms */
    int64_t tat = found && s->t > now ? s->t : now;
    int64_t next = tat + T;
    v->applies = true;
    v->limit = limit;
    if (next - now > window) {
        v->limited = true;
        v->remaining = 0;
        v->retry_after = ceil_s(next - window - now);
        if (v->retry_after < 1)
            v->retry_after = 1;
        v->reset = ceil_s(tat - now);
        return;
    }
    v->limited = false;
    v->retry_after = 0;
    if (dry) {
        v->remaining = (int)((window - (tat - now)) / T);
        v->reset = ceil_s(tat - now);
        return;
    }
    s->t = next;
    s->expires = next;
    v->remaining = (int)((window - (next - now)) / T);
    v->reset = ceil_s(next - now);
}

static void
off(struct auth_rl_verdict *v)
{
    memset(v, 0, sizeof(*v));
}

/* One hit on this instance's table: the GCRA bucket of (tag, c, key). */
static void
local_hit(struct auth_ratelimit *rl, enum tag tag, enum auth_rl_class c, const char *key, int limit,
          int64_t now_ms, struct auth_rl_verdict *v)
{
    uint64_t h = key_hash(rl, tag, (int)c, key, NULL);
    struct shard *sh = shard_of(rl, h);
    pthread_mutex_lock(&sh->mu);
    bool found;
    struct slot *s = slot_get(sh, h, now_ms, &found);
    gcra(s, found, limit, window_of(c), now_ms, false, v);
    pthread_mutex_unlock(&sh->mu);
}

void
auth_ratelimit_hit(struct auth_ratelimit *rl, enum auth_rl_class c, bool per_ip, const char *key,
                   int64_t now_ms, struct auth_rl_verdict *v)
{
    int limit = per_ip ? rl->o.per_ip[c] : rl->o.per_account[c];
    if (!rl->o.enabled || limit <= 0) {
        off(v);
        return;
    }
    enum tag tag = per_ip ? TAG_IP : TAG_ACCOUNT;
    if (shared(rl)) {
        char k[CACHE_KEY_MAX];
        redis_key(rl, tag, (int)c, key, NULL, k);
        struct cache_reply r;
        if (cache_call(rl->cache, &r, "FCALL pace_limit 1 %s %d %lld 1", k, limit, (long long)window_of(c)) ==
                OK &&
            r.type == CACHE_ARRAY && r.n >= 4) {
            v->applies = true;
            v->limit = limit;
            v->limited = r.ints[0] != 0;
            v->remaining = (int)r.ints[1];
            v->reset = ceil_s(r.ints[2]);
            v->retry_after = v->limited ? (ceil_s(r.ints[3]) > 1 ? ceil_s(r.ints[3]) : 1) : 0;
            return;
        }
        cache_note_fallback(rl->cache, "limit");
        limit = share(rl, limit);
    }
    local_hit(rl, tag, c, key, limit, now_ms, v);
}

void
auth_ratelimit_write(struct auth_ratelimit *rl, int64_t user_id, int64_t now_ms, struct auth_rl_verdict *v)
{
    int limit = rl->o.per_account[AUTH_RL_WRITE];
    if (!rl->o.enabled || limit <= 0) {
        off(v);
        return;
    }
    if (shared(rl))
        limit = share(rl, limit);
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)user_id);
    local_hit(rl, TAG_ACCOUNT, AUTH_RL_WRITE, key, limit, now_ms, v);
}

/* The login check in Redis: true when it answered (*v filled). */
static bool
shared_login_check(struct auth_ratelimit *rl, const char *account, const char *ip, struct auth_rl_verdict *v)
{
    char pk[CACHE_KEY_MAX], ak[CACHE_KEY_MAX];
    redis_key(rl, TAG_PAIR, AUTH_RL_LOGIN, account, ip, pk);
    redis_key(rl, TAG_ACCOUNT_FAILURES, AUTH_RL_LOGIN, account, NULL, ak);
    struct cache_reply r;
    if (cache_call(rl->cache, &r, "FCALL pace_login_check 2 %s %s %d %d %lld %lld", pk, ak,
                   rl->o.login_failures, rl->o.per_account[AUTH_RL_LOGIN], (long long)WINDOW_MS,
                   (long long)BACKOFF_MAX_MS) != OK ||
        r.type != CACHE_ARRAY || r.n < 3) {
        cache_note_fallback(rl->cache, "login");
        return false;
    }
    v->remaining = (int)r.ints[1];
    if (r.ints[0] != 0) {
        v->limited = true;
        v->retry_after = ceil_s(r.ints[2]) > 1 ? ceil_s(r.ints[2]) : 1;
        v->reset = v->retry_after;
    }
    return true;
}

void
auth_ratelimit_login_check(struct auth_ratelimit *rl, const char *account, const char *ip, int64_t now_ms,
                           struct auth_rl_verdict *v)
{
    off(v);
    if (!rl->o.enabled)
        return;
    v->applies = true;
    v->limit = rl->o.login_failures;
    int threshold = rl->o.login_failures, limit = rl->o.per_account[AUTH_RL_LOGIN];
    if (shared(rl)) {
        if (shared_login_check(rl, account, ip, v))
            return;
        threshold = share(rl, threshold);
        limit = limit > 0 ? share(rl, limit) : limit;
    }

    uint64_t ph = key_hash(rl, TAG_PAIR, AUTH_RL_LOGIN, account, ip);
    struct shard *sh = shard_of(rl, ph);
    pthread_mutex_lock(&sh->mu);
    struct slot *pair = slot_find(sh, ph, now_ms);
    int64_t failures = pair != NULL ? pair->n : 0, last = pair != NULL ? pair->t : 0;
    pthread_mutex_unlock(&sh->mu);
    v->remaining = failures >= threshold ? 0 : (int)(threshold - failures);

    if (failures >= threshold) {
        int64_t shift = failures - threshold;
        int64_t delay = shift >= 20 ? BACKOFF_MAX_MS : 1000LL << shift;
        if (delay > BACKOFF_MAX_MS)
            delay = BACKOFF_MAX_MS;
        if (now_ms < last + delay) {
            v->limited = true;
            v->retry_after = ceil_s(last + delay - now_ms);
            v->reset = v->retry_after;
            return;
        }
    }
    /* The account under attack: IPs that failed on it wait for the
     * account's failure bucket; clean IPs are not held back. */
    if (failures == 0 || limit <= 0)
        return;
    uint64_t ah = key_hash(rl, TAG_ACCOUNT_FAILURES, AUTH_RL_LOGIN, account, NULL);
    sh = shard_of(rl, ah);
    pthread_mutex_lock(&sh->mu);
    struct slot *acct = slot_find(sh, ah, now_ms);
    struct auth_rl_verdict av = {0};
    if (acct != NULL)
        gcra(acct, true, limit, WINDOW_MS, now_ms, true, &av);
    pthread_mutex_unlock(&sh->mu);
    if (av.limited) {
        v->limited = true;
        v->retry_after = av.retry_after;
        v->reset = av.retry_after;
    }
}

void
auth_ratelimit_login_result(struct auth_ratelimit *rl, const char *account, const char *ip, bool ok,
                            int64_t now_ms)
{
    if (!rl->o.enabled)
        return;
    int limit = rl->o.per_account[AUTH_RL_LOGIN];
    if (shared(rl)) {
        char pk[CACHE_KEY_MAX], ak[CACHE_KEY_MAX];
        redis_key(rl, TAG_PAIR, AUTH_RL_LOGIN, account, ip, pk);
        redis_key(rl, TAG_ACCOUNT_FAILURES, AUTH_RL_LOGIN, account, NULL, ak);
        /* Sent without waiting: this login's answer does not depend on it.
         * It leaves for Redis before this answer does, so long before the
         * same client's next attempt is checked. */
        if (cache_send(rl->cache, "FCALL pace_login_result 2 %s %s %d %d %lld %lld", pk, ak, ok ? 1 : 0,
                       limit, (long long)WINDOW_MS, (long long)FAILURE_MEMORY_MS) == OK)
            return;
        cache_note_fallback(rl->cache, "login");
        limit = limit > 0 ? share(rl, limit) : limit;
    }
    uint64_t ph = key_hash(rl, TAG_PAIR, AUTH_RL_LOGIN, account, ip);
    struct shard *sh = shard_of(rl, ph);
    pthread_mutex_lock(&sh->mu);
    bool found;
    struct slot *pair = ok ? slot_find(sh, ph, now_ms) : slot_get(sh, ph, now_ms, &found);
    if (ok) {
        if (pair != NULL)
            memset(pair, 0, sizeof(*pair));
    } else {
        pair->n = (found ? pair->n : 0) + 1;
        pair->t = now_ms;
        pair->expires = now_ms + FAILURE_MEMORY_MS;
    }
    pthread_mutex_unlock(&sh->mu);
    if (ok || limit <= 0)
        return;
    uint64_t ah = key_hash(rl, TAG_ACCOUNT_FAILURES, AUTH_RL_LOGIN, account, NULL);
    sh = shard_of(rl, ah);
    pthread_mutex_lock(&sh->mu);
    struct slot *acct = slot_get(sh, ah, now_ms, &found);
    /* Every failure counts, even past the limit, up to two windows ahead. */
    int64_t tat = found && acct->t > now_ms ? acct->t : now_ms;
    tat += WINDOW_MS / limit;
    if (tat > now_ms + 2 * WINDOW_MS)
        tat = now_ms + 2 * WINDOW_MS;
    acct->t = tat;
    acct->expires = tat;
    pthread_mutex_unlock(&sh->mu);
}

/* ---- client addresses ---- */

struct auth_proxies {
    struct netlist nets;
};

static bool
parse_ip(const char *s, struct net *out)
{
    return net_parse_ip(s, out);
}

static bool
is_trusted(const struct auth_proxies *p, const struct net *ip)
{
    return netlist_has(&p->nets, ip);
}

int
auth_proxies_new(const char *spec, struct auth_proxies **out, const char **why)
{
    struct auth_proxies *p = xcalloc(1, sizeof(*p));
    *out = p;
    if (netlist_parse(spec, &p->nets) == OK)
        return OK;
    *why = "PACE_TRUSTED_PROXIES must be a comma list of IP addresses and CIDR ranges";
    free(p);
    *out = NULL;
    return ERR_INVALID;
}

void
auth_proxies_free(struct auth_proxies *p)
{
    free(p);
}

/* One X-Forwarded-For element: an address, possibly with a port. */
static bool
parse_forwarded(const char *s, size_t n, struct net *out)
{
    char text[64];
    if (n == 0 || n >= sizeof(text))
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    if (parse_ip(text, out))
        return true;
    if (text[0] == '[') {
        char *close = strchr(text, ']');
        if (close == NULL)
            return false;
        *close = '\0';
        return parse_ip(text + 1, out);
    }
    char *colon = strchr(text, ':');
    if (colon != NULL && strchr(colon + 1, ':') == NULL) {
        *colon = '\0';
        return parse_ip(text, out);
    }
    return false;
}

static void
format_ip(const struct net *ip, char *out, size_t cap)
{
    if (inet_ntop(ip->family, ip->addr, out, (socklen_t)cap) == NULL)
        snprintf(out, cap, "unknown");
}

void
auth_client_ip(const struct auth_proxies *p, const char *peer, const char *xff, size_t xff_len, char *out,
               size_t cap)
{
    struct net peer_ip;
    if (!parse_ip(peer, &peer_ip)) {
        snprintf(out, cap, "%s", peer);
        return;
    }
    format_ip(&peer_ip, out, cap);
    if (p == NULL || p->nets.n == 0 || xff == NULL || xff_len == 0 || !is_trusted(p, &peer_ip))
        return;
    /* From the right: each hop appended the address it saw. */
    const char *end = xff + xff_len;
    struct net leftmost;
    bool have_leftmost = false;
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *e = start;
        size_t el = (size_t)(end - start);
        netlist_trim(&e, &el);
        struct net ip;
        if (!parse_forwarded(e, el, &ip))
            return; /* garbage: the nearest proxy is what we know */
        if (!is_trusted(p, &ip)) {
            format_ip(&ip, out, cap);
            return;
        }
        leftmost = ip;
        have_leftmost = true;
        end = start > xff ? start - 1 : xff;
    }
    if (have_leftmost)
        format_ip(&leftmost, out, cap);
}
