/* The payload cache: rendered payloads in process memory, keyed by (kind,
 * user, id), each kept with the user's version and the generation it was
 * read in (cache.h). A hit needs both to match what Redis says now, so a
 * write acknowledged on any instance (which bumped the version first)
 * makes every older entry a miss, and a lost connection or a failover
 * (a new generation) makes all of them misses.
 *
 * SHARDS shards, each a chained hash table with an LRU list under its own
 * lock and 1/SHARDS of the byte budget; the least recently used entries of
 * a shard make room. Versions live in Redis (functions.lua: pace_version
 * creates a missing one from Redis's clock, so a version never repeats
 * after an eviction or a restart). */
#include <stdlib.h>
#include <string.h>

#include "cache/internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

enum { SHARDS = 16, BUCKETS = 1024, FILLS = 32, VERSION_TTL_MS = 24 * 3600 * 1000 };

#define EPOCH_KEY "pace:epoch"

static const char *const kind_names[CACHE_KIND_COUNT] = {"user", "profile", "plan"};

struct entry {
    struct entry *hnext;         /* in the bucket */
    struct entry *lprev, *lnext; /* in the shard's LRU list, most recent first */
    int64_t user_id, id;
    enum cache_kind kind;
    uint64_t version, epoch, generation;
    size_t len;
    char data[]; /* len bytes */
};

/* A fill in progress: its reader holds the key until cache_fill_done. */
struct fill {
    bool busy;
    enum cache_kind kind;
    int64_t user_id, id;
};

struct shard {
    pthread_mutex_t mu;
    pthread_cond_t filled; /* a fill of this shard ended */
    struct entry *buckets[BUCKETS];
    struct entry *head, *tail;
    size_t bytes;
    struct fill fills[FILLS];
};

struct lru {
    size_t budget; /* per shard */
    struct shard shards[SHARDS];
    atomic_ullong hits[CACHE_KIND_COUNT], misses[CACHE_KIND_COUNT], evictions[CACHE_KIND_COUNT];
    atomic_ullong bytes;
};

static uint64_t
mix(enum cache_kind kind, int64_t user_id, int64_t id)
{
    uint64_t h =
        (uint64_t)user_id * 0x9E3779B97F4A7C15ull ^ (uint64_t)id * 0xC2B2AE3D27D4EB4Full ^ (uint64_t)kind;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

struct lru *
cache_lru_new(size_t bytes)
{
    struct lru *l = xcalloc(1, sizeof(*l));
    l->budget = bytes / SHARDS;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&l->shards[i].mu, NULL);
        clock_cond_init(&l->shards[i].filled);
    }
    return l;
}

static size_t
cost(const struct entry *e)
{
    return sizeof(*e) + e->len;
}

/* Unlinks e from its shard's table and list (lock held) and frees it. */
static void
entry_drop(struct lru *l, struct shard *sh, struct entry *e, size_t b)
{
    struct entry **pp = &sh->buckets[b];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->lprev != NULL)
        e->lprev->lnext = e->lnext;
    else
        sh->head = e->lnext;
    if (e->lnext != NULL)
        e->lnext->lprev = e->lprev;
    else
        sh->tail = e->lprev;
    sh->bytes -= cost(e);
    atomic_fetch_sub(&l->bytes, cost(e));
    free(e);
}

static void
shard_clear(struct lru *l, struct shard *sh)
{
    while (sh->tail != NULL) {
        struct entry *e = sh->tail;
        entry_drop(l, sh, e, mix(e->kind, e->user_id, e->id) / SHARDS % BUCKETS);
    }
}

void
cache_lru_free(struct lru *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < SHARDS; i++) {
        shard_clear(l, &l->shards[i]);
        pthread_mutex_destroy(&l->shards[i].mu);
        pthread_cond_destroy(&l->shards[i].filled);
    }
    free(l);
}

void
cache_drop_all(struct cache *c)
{
    if (c == NULL || c->lru == NULL)
        return;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&c->lru->shards[i].mu);
        shard_clear(c->lru, &c->lru->shards[i]);
        pthread_mutex_unlock(&c->lru->shards[i].mu);
    }
}

bool
cache_version_enabled(const struct cache *c)
{
    return c != NULL && c->enabled && c->lru != NULL;
}

int
cache_version(struct cache *c, int64_t user_id, struct cache_ver *out)
{
    if (!cache_version_enabled(c) || user_id <= 0)
        return ERR_UNAVAILABLE;
    out->generation = cache_generation(c);
    char key[CACHE_KEY_MAX];
    cache_key_id(c, "v", user_id, key);
    struct cache_reply r;
    int err = cache_call(c, &r, "FCALL pace_version 2 %s " EPOCH_KEY " %d", key, VERSION_TTL_MS);
    if (err != OK || r.type != CACHE_ARRAY || r.n < 2)
        return ERR_UNAVAILABLE;
    out->version = (uint64_t)r.ints[0];
    out->epoch = (uint64_t)r.ints[1];
    return OK;
}

static bool
bump_now(struct cache *c, const char *key)
{
    struct cache_reply r;
    return cache_call_must(c, &r, "FCALL pace_bump 1 %s %d", key, VERSION_TTL_MS) == OK &&
           r.type == CACHE_INT;
}

void
cache_bump(struct cache *c, int64_t user_id)
{
    if (!cache_enabled(c) || user_id <= 0)
        return;
    char key[CACHE_KEY_MAX];
    cache_key_id(c, "v", user_id, key);
    bool on_loop = c->io != NULL && c->io->on_loop();
    if (!on_loop) { /* a loop must not wait (SQLite's writes there: nothing is cached) */
        if (bump_now(c, key))
            return;
        /* Other instances may still hold the old payload under the old
         * version: this one drops everything, and the watcher sends the
         * bump again until Redis takes it. */
        atomic_fetch_add(&c->bump_failures, 1);
        cache_new_generation(c);
    }
    pthread_mutex_lock(&c->bumps_mu);
    bool known = false;
    for (size_t i = 0; i < c->nbumps && !known; i++)
        known = c->bumps[i] == user_id;
    if (!known && c->nbumps < CACHE_BUMPS_PENDING)
        c->bumps[c->nbumps++] = user_id;
    else if (!known)
        c->bumps_overflow = true;
    pthread_mutex_unlock(&c->bumps_mu);
}

static void marks_retry(struct cache *c);

void
cache_bumps_retry(struct cache *c)
{
    marks_retry(c);
    pthread_mutex_lock(&c->bumps_mu);
    bool overflow = c->bumps_overflow;
    size_t n = c->nbumps;
    pthread_mutex_unlock(&c->bumps_mu);
    if (n == 0 && !overflow)
        return;
    if (overflow) {
        struct cache_reply r;
        if (cache_call_must(c, &r, "INCR " EPOCH_KEY) != OK)
            return;
        log_warn("cache",
                 "more than %d version bumps waited for Redis: every cached payload of every instance "
                 "is now invalid",
                 CACHE_BUMPS_PENDING);
        pthread_mutex_lock(&c->bumps_mu);
        c->nbumps = 0;
        c->bumps_overflow = false;
        pthread_mutex_unlock(&c->bumps_mu);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&c->bumps_mu);
        int64_t user_id = c->nbumps > 0 ? c->bumps[c->nbumps - 1] : 0;
        pthread_mutex_unlock(&c->bumps_mu);
        if (user_id == 0)
            return;
        char key[CACHE_KEY_MAX];
        cache_key_id(c, "v", user_id, key);
        if (!bump_now(c, key))
            return; /* still no Redis: the next round */
        pthread_mutex_lock(&c->bumps_mu);
        for (size_t j = 0; j < c->nbumps; j++)
            if (c->bumps[j] == user_id) {
                c->bumps[j] = c->bumps[--c->nbumps];
                break;
            }
        pthread_mutex_unlock(&c->bumps_mu);
    }
}

/* Looks (kind, user, id) up at v in its locked shard; appends a hit to out. */
static bool
lookup(struct cache *c, struct shard *sh, size_t b, enum cache_kind kind, int64_t user_id, int64_t id,
       const struct cache_ver *v, struct buf *out)
{
    for (struct entry *e = sh->buckets[b]; e != NULL; e = e->hnext) {
        if (e->kind != kind || e->user_id != user_id || e->id != id)
            continue;
        if (e->version != v->version || e->epoch != v->epoch || e->generation != v->generation ||
            v->generation != cache_generation(c)) {
            entry_drop(c->lru, sh, e, b); /* outdated: never valid again */
            return false;
        }
        buf_append(out, e->data, e->len);
        if (sh->head != e) { /* most recent first */
            e->lprev->lnext = e->lnext;
            if (e->lnext != NULL)
                e->lnext->lprev = e->lprev;
            else
                sh->tail = e->lprev;
            e->lprev = NULL;
            e->lnext = sh->head;
            sh->head->lprev = e;
            sh->head = e;
        }
        return true;
    }
    return false;
}

bool
cache_get(struct cache *c, enum cache_kind kind, int64_t user_id, int64_t id, const struct cache_ver *v,
          struct buf *out)
{
    struct lru *l = c != NULL ? c->lru : NULL;
    if (l == NULL)
        return false;
    uint64_t h = mix(kind, user_id, id);
    struct shard *sh = &l->shards[h % SHARDS];
    pthread_mutex_lock(&sh->mu);
    bool hit = lookup(c, sh, h / SHARDS % BUCKETS, kind, user_id, id, v, out);
    pthread_mutex_unlock(&sh->mu);
    atomic_fetch_add_explicit(hit ? &l->hits[kind] : &l->misses[kind], 1, memory_order_relaxed);
    return hit;
}

static struct fill *
fill_find(struct shard *sh, enum cache_kind kind, int64_t user_id, int64_t id)
{
    for (int i = 0; i < FILLS; i++) {
        struct fill *f = &sh->fills[i];
        if (f->busy && f->kind == kind && f->user_id == user_id && f->id == id)
            return f;
    }
    return NULL;
}

enum cache_fill
cache_fill_begin(struct cache *c, enum cache_kind kind, int64_t user_id, int64_t id,
                 const struct cache_ver *v, struct buf *out)
{
    struct lru *l = c != NULL ? c->lru : NULL;
    if (l == NULL)
        return CACHE_FILL_ALONE;
    uint64_t h = mix(kind, user_id, id);
    struct shard *sh = &l->shards[h % SHARDS];
    size_t b = h / SHARDS % BUCKETS;
    int64_t until = clock_mono_ms() + CACHE_FILL_WAIT_MS;
    enum cache_fill res = CACHE_FILL_ALONE;
    pthread_mutex_lock(&sh->mu);
    bool waited = false;
    while (fill_find(sh, kind, user_id, id) != NULL) {
        waited = true;
        if (!clock_cond_wait_until(&sh->filled, &sh->mu, until))
            goto out; /* the other fill is slow: read alone */
    }
    if (waited && lookup(c, sh, b, kind, user_id, id, v, out)) {
        res = CACHE_FILL_HIT;
        goto out;
    }
    for (int i = 0; i < FILLS; i++)
        if (!sh->fills[i].busy) {
            sh->fills[i] = (struct fill){true, kind, user_id, id};
            res = CACHE_FILL_MINE;
            break;
        }
out:
    pthread_mutex_unlock(&sh->mu);
    if (res == CACHE_FILL_HIT) { /* counted as a hit after all (its miss was counted too) */
        atomic_fetch_add_explicit(&l->hits[kind], 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&l->misses[kind], 1, memory_order_relaxed);
    }
    return res;
}

void
cache_fill_done(struct cache *c, enum cache_kind kind, int64_t user_id, int64_t id)
{
    struct lru *l = c != NULL ? c->lru : NULL;
    if (l == NULL)
        return;
    uint64_t h = mix(kind, user_id, id);
    struct shard *sh = &l->shards[h % SHARDS];
    pthread_mutex_lock(&sh->mu);
    struct fill *f = fill_find(sh, kind, user_id, id);
    if (f != NULL)
        f->busy = false;
    pthread_cond_broadcast(&sh->filled);
    pthread_mutex_unlock(&sh->mu);
}

void
cache_put(struct cache *c, enum cache_kind kind, int64_t user_id, int64_t id, const struct cache_ver *v,
          const char *data, size_t len)
{
    struct lru *l = c != NULL ? c->lru : NULL;
    if (l == NULL || sizeof(struct entry) + len > l->budget || v->generation != cache_generation(c))
        return;
    struct entry *n = xmalloc(sizeof(*n) + len);
    *n = (struct entry){.user_id = user_id,
                        .id = id,
                        .kind = kind,
                        .version = v->version,
                        .generation = v->generation,
                        .len = len};
    memcpy(n->data, data, len);
    uint64_t h = mix(kind, user_id, id);
    struct shard *sh = &l->shards[h % SHARDS];
    size_t b = h / SHARDS % BUCKETS;
    pthread_mutex_lock(&sh->mu);
    for (struct entry *e = sh->buckets[b]; e != NULL; e = e->hnext)
        if (e->kind == kind && e->user_id == user_id && e->id == id) {
            if (e->version > v->version && e->epoch == v->epoch && e->generation == v->generation) {
                pthread_mutex_unlock(&sh->mu); /* a newer fill won */
                free(n);
                return;
            }
            entry_drop(l, sh, e, b);
            break;
        }
    while (sh->bytes + cost(n) > l->budget && sh->tail != NULL) {
        struct entry *e = sh->tail;
        atomic_fetch_add_explicit(&l->evictions[e->kind], 1, memory_order_relaxed);
        entry_drop(l, sh, e, mix(e->kind, e->user_id, e->id) / SHARDS % BUCKETS);
    }
    n->hnext = sh->buckets[b];
    sh->buckets[b] = n;
    n->lnext = sh->head;
    if (sh->head != NULL)
        sh->head->lprev = n;
    sh->head = n;
    if (sh->tail == NULL)
        sh->tail = n;
    sh->bytes += cost(n);
    atomic_fetch_add(&l->bytes, cost(n));
    pthread_mutex_unlock(&sh->mu);
}

void
cache_lru_metrics(struct lru *cl, struct buf *out)
{
    struct lru *l = cl;
    static const char *const names[3] = {"hits", "misses", "evictions"};
    static const char *const helps[3] = {"Payload cache lookups that were served from memory.",
                                         "Payload cache lookups that went to the database.",
                                         "Payload cache entries dropped to stay within PACE_CACHE_MB."};
    atomic_ullong *arrays[3] = {l->hits, l->misses, l->evictions};
    for (int m = 0; m < 3; m++) {
        buf_printf(out, "# HELP pace_cache_%s_total %s\n# TYPE pace_cache_%s_total counter\n", names[m],
                   helps[m], names[m]);
        for (int k = 0; k < CACHE_KIND_COUNT; k++)
            buf_printf(out, "pace_cache_%s_total{cache=\"%s\"} %llu\n", names[m], kind_names[k],
                       atomic_load(&arrays[m][k]));
    }
    buf_printf(out,
               "# HELP pace_cache_bytes Bytes the payload cache holds.\n# TYPE pace_cache_bytes gauge\n"
               "pace_cache_bytes %llu\n",
               atomic_load(&l->bytes));
}

/* ---- read-your-writes markers ---- */

void
cache_ryw_note(struct cache *c, int64_t user_id, int window_ms)
{
    if (!cache_enabled(c) || window_ms <= 0)
        return;
    char key[CACHE_KEY_MAX];
    cache_key_id(c, "ryw", user_id, key);
    struct cache_reply r;
    if (cache_call_must(c, &r, "SET %s 1 PX %d", key, window_ms) == OK)
        return;
    /* The watcher sets it as soon as Redis takes commands, while the window lasts. */
    pthread_mutex_lock(&c->bumps_mu);
    if (c->nmarks < CACHE_BUMPS_PENDING) {
        c->marks[c->nmarks].user_id = user_id;
        c->marks[c->nmarks].until_ms = clock_mono_ms() + window_ms;
        c->nmarks++;
    }
    pthread_mutex_unlock(&c->bumps_mu);
}

/* The watcher's retry of markers (from cache_bumps_retry). */
static void
marks_retry(struct cache *c)
{
    while (true) {
        pthread_mutex_lock(&c->bumps_mu);
        int64_t now = clock_mono_ms(), user_id = 0, left = 0;
        while (c->nmarks > 0 && user_id == 0) {
            size_t i = c->nmarks - 1;
            if (c->marks[i].until_ms > now) {
                user_id = c->marks[i].user_id;
                left = c->marks[i].until_ms - now;
            } else {
                c->nmarks--; /* its window is over */
            }
        }
        pthread_mutex_unlock(&c->bumps_mu);
        if (user_id == 0)
            return;
        char key[CACHE_KEY_MAX];
        cache_key_id(c, "ryw", user_id, key);
        struct cache_reply r;
        if (cache_call_must(c, &r, "SET %s 1 PX %lld", key, (long long)left) != OK)
            return; /* still no Redis: the next round */
        pthread_mutex_lock(&c->bumps_mu);
        if (c->nmarks > 0 && c->marks[c->nmarks - 1].user_id == user_id)
            c->nmarks--;
        pthread_mutex_unlock(&c->bumps_mu);
    }
}

int
cache_ryw_recent(struct cache *c, int64_t user_id)
{
    if (!cache_enabled(c))
        return 0;
    char key[CACHE_KEY_MAX];
    cache_key_id(c, "ryw", user_id, key);
    struct cache_reply r;
    if (cache_call(c, &r, "EXISTS %s", key) != OK || r.type != CACHE_INT)
        return -1;
    return r.integer > 0 ? 1 : 0;
}
