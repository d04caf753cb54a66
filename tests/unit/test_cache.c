/* Unit tests for the Redis layer's parts that need no server: the settings
 * (URLs, Sentinels), a disabled cache (every call answers at once), the
 * keys (keyed hashes, never the input), and the payload cache (versions,
 * generations, users, the byte budget, one fill per key). Talking to a
 * real Redis is tested by tests/cache and tests/redis. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "check.h"
#include "util/buf.h"
#include "util/err.h"

static const uint8_t seed_a[32] = {1, 2, 3};
static const uint8_t seed_b[32] = {9, 9, 9};

static struct cache *
make(const char *url, const char *sentinels, const char *master, size_t bytes, const char **why)
{
    struct cache_opts o = {.url = url,
                           .sentinels = sentinels,
                           .master = master,
                           .timeout_ms = 25,
                           .cache_bytes = bytes,
                           .key_seed = seed_a};
    *why = NULL;
    return cache_new(&o, why);
}

static void
test_settings(void)
{
    const char *why;
    static const char *const good[] = {"redis://127.0.0.1:6379", "redis://localhost:6380/2",
                                       "redis://:s%40cret@127.0.0.1:6379/0", "redis://user:pw@h:1",
                                       "unix:///run/redis/redis.sock"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct cache *c = make(good[i], NULL, NULL, 0, &why);
        CHECK(c != NULL);
        CHECK(cache_enabled(c));
        cache_free(c);
    }
    static const char *const bad[] = {"http://127.0.0.1:6379", "redis://127.0.0.1", "redis://:6379",
                                      "redis://h:0",           "redis://h:70000",   "redis://h:1/x",
                                      "unix://relative.sock",  "redis://h:12ab"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cache *c = make(bad[i], NULL, NULL, 0, &why);
        CHECK(c == NULL);
        CHECK(why != NULL);
    }
    /* Sentinels need a master name and well-formed addresses. */
    struct cache *c = make(NULL, "127.0.0.1:26379, 127.0.0.1:26380", "pace", 0, &why);
    CHECK(c != NULL && cache_enabled(c));
    cache_free(c);
    CHECK(make(NULL, "127.0.0.1:26379", NULL, 0, &why) == NULL);
    CHECK(make(NULL, "127.0.0.1", "pace", 0, &why) == NULL);
}

static void
test_disabled(void)
{
    const char *why;
    struct cache *c = make("", NULL, NULL, 1 << 20, &why);
    CHECK(c != NULL);
    CHECK(!cache_enabled(c));
    CHECK(!cache_version_enabled(c));
    struct cache_reply r;
    CHECK_EQ_INT(cache_call(c, &r, "PING"), ERR_UNAVAILABLE);
    CHECK_EQ_INT(cache_send(c, "PING"), ERR_UNAVAILABLE);
    CHECK_EQ_INT(cache_instances(c), 1);
    CHECK(cache_revocations_fresh(c));
    CHECK_EQ_STR(cache_status(c), "disabled");
    struct cache_ver v;
    CHECK_EQ_INT(cache_version(c, 7, &v), ERR_UNAVAILABLE);
    CHECK_EQ_INT(cache_ryw_recent(c, 7), 0);
    cache_bump(c, 7); /* nothing to do, no crash */
    struct buf out;
    buf_init(&out, NULL, 0);
    cache_metrics_render(c, &out);
    buf_appendc(&out, '\0');
    CHECK(strstr(out.data, "pace_redis_enabled 0") != NULL);
    buf_cleanup(&out);
    cache_free(c);
    cache_free(NULL);
}

static void
test_keys(void)
{
    const char *why;
    struct cache *a = make("redis://127.0.0.1:1", NULL, NULL, 0, &why);
    struct cache_opts o = {.url = "redis://127.0.0.1:1", .key_seed = seed_b};
    struct cache *b = cache_new(&o, &why);
    char k1[CACHE_KEY_MAX], k2[CACHE_KEY_MAX], k3[CACHE_KEY_MAX], k4[CACHE_KEY_MAX];
    cache_key(a, "rl", "alice@example.com", 17, k1);
    cache_key(a, "rl", "alice@example.com", 17, k2);
    cache_key(b, "rl", "alice@example.com", 17, k3);
    cache_key(a, "v", "alice@example.com", 17, k4);
    CHECK_EQ_STR(k1, k2);       /* stable: every instance with the seed agrees */
    CHECK(strcmp(k1, k3) != 0); /* another seed, another key */
    CHECK(strcmp(k1, k4) != 0); /* kinds do not collide */
    CHECK(strncmp(k1, "pace:rl:", 8) == 0);
    CHECK_EQ_INT(strlen(k1), 8 + 22); /* 16 bytes in base64url */
    CHECK(strstr(k1, "alice") == NULL);
    cache_key_id(a, "v", 42, k1);
    cache_key(a, "v", "42", 2, k2);
    CHECK_EQ_STR(k1, k2);
    cache_free(a);
    cache_free(b);
}

/* ---- the payload cache ---- */

static struct cache *lru_cache;

static struct cache_ver
ver(uint64_t v)
{
    return (struct cache_ver){.version = v, .epoch = 0, .generation = cache_generation(lru_cache)};
}

static bool
get(int64_t user, int64_t id, uint64_t v, const char *want)
{
    struct buf out;
    buf_init(&out, NULL, 0);
    struct cache_ver cv = ver(v);
    bool hit = cache_get(lru_cache, CACHE_USER, user, id, &cv, &out);
    bool same = hit && want != NULL && out.len == strlen(want) && memcmp(out.data, want, out.len) == 0;
    buf_cleanup(&out);
    return want == NULL ? !hit : same;
}

static void
put(int64_t user, int64_t id, uint64_t v, const char *data)
{
    struct cache_ver cv = ver(v);
    cache_put(lru_cache, CACHE_USER, user, id, &cv, data, strlen(data));
}

static void
test_payloads(void)
{
    const char *why;
    lru_cache = make("redis://127.0.0.1:1", NULL, NULL, 1 << 20, &why);
    CHECK(cache_version_enabled(lru_cache));
    CHECK(get(1, 0, 5, NULL));
    put(1, 0, 5, "alice v5");
    CHECK(get(1, 0, 5, "alice v5"));
    CHECK(get(2, 0, 5, NULL)); /* bound to its user */
    CHECK(get(1, 1, 5, NULL)); /* and to its id */
    /* A newer version (a write elsewhere) is a miss, and the old entry is gone. */
    CHECK(get(1, 0, 6, NULL));
    CHECK(get(1, 0, 5, NULL));
    put(1, 0, 6, "alice v6");
    put(1, 0, 5, "alice v5"); /* a slow fill of an older version loses */
    CHECK(get(1, 0, 6, "alice v6"));
    /* A read made before a generation change is not kept, and nothing of
     * the old generation is served after it. */
    struct cache_ver old = ver(6);
    cache_drop_all(lru_cache);
    put(1, 0, 6, "alice v6");
    CHECK(get(1, 0, 6, "alice v6"));
    /* cache_bump without Redis: this instance makes a new generation */
    cache_bump(lru_cache, 1);
    CHECK(cache_generation(lru_cache) != old.generation);
    CHECK(get(1, 0, 6, NULL));
    cache_put(lru_cache, CACHE_USER, 1, 0, &old, "stale", 5);
    CHECK(get(1, 0, 6, NULL));
    cache_free(lru_cache);

    /* The budget: 1 MiB in 16 shards; 200 entries of 16 KiB cannot all stay. */
    lru_cache = make("redis://127.0.0.1:1", NULL, NULL, 1 << 20, &why);
    static char big[16 * 1024];
    memset(big, 'x', sizeof(big) - 1);
    for (int64_t u = 1; u <= 200; u++)
        put(u, 0, 1, big);
    int kept = 0;
    for (int64_t u = 1; u <= 200; u++)
        kept += get(u, 0, 1, big) ? 1 : 0;
    CHECK(kept > 0 && kept < 200);
    CHECK(get(200, 0, 1, big)); /* the most recent stays */
    struct buf out;
    buf_init(&out, NULL, 0);
    cache_metrics_render(lru_cache, &out);
    buf_appendc(&out, '\0');
    CHECK(strstr(out.data, "pace_cache_evictions_total{cache=\"user\"} 0") == NULL);
    CHECK(strstr(out.data, "pace_cache_hits_total{cache=\"user\"}") != NULL);
    buf_cleanup(&out);
    cache_free(lru_cache);
}

/* ---- one fill per key ---- */

struct second {
    enum cache_fill res;
    char got[32];
};

static void *
second_fill(void *arg)
{
    struct second *s = arg;
    struct buf out;
    buf_init(&out, NULL, 0);
    struct cache_ver v = ver(3);
    s->res = cache_fill_begin(lru_cache, CACHE_PLAN, 7, 70, &v, &out);
    if (out.len > 0 && out.len < sizeof(s->got))
        memcpy(s->got, out.data, out.len);
    buf_cleanup(&out);
    return NULL;
}

static void
test_fills(void)
{
    const char *why;
    lru_cache = make("redis://127.0.0.1:1", NULL, NULL, 1 << 20, &why);
    struct buf out;
    buf_init(&out, NULL, 0);
    struct cache_ver v = ver(3);
    CHECK_EQ_INT(cache_fill_begin(lru_cache, CACHE_PLAN, 7, 70, &v, &out), CACHE_FILL_MINE);
    struct second s = {0};
    pthread_t t;
    pthread_create(&t, NULL, second_fill, &s);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the second one waits for the first fill */
    cache_put(lru_cache, CACHE_PLAN, 7, 70, &v, "plan", 4);
    cache_fill_done(lru_cache, CACHE_PLAN, 7, 70);
    pthread_join(t, NULL);
    CHECK_EQ_INT(s.res, CACHE_FILL_HIT);
    CHECK_EQ_STR(s.got, "plan");
    /* Another key does not wait; a fill that never ends is waited for at
     * most CACHE_FILL_WAIT_MS. */
    struct cache_ver v4 = ver(4);
    CHECK_EQ_INT(cache_fill_begin(lru_cache, CACHE_PLAN, 7, 71, &v4, &out), CACHE_FILL_MINE);
    CHECK_EQ_INT(cache_fill_begin(lru_cache, CACHE_PLAN, 7, 71, &v4, &out), CACHE_FILL_ALONE);
    cache_fill_done(lru_cache, CACHE_PLAN, 7, 71);
    CHECK_EQ_INT(cache_fill_begin(lru_cache, CACHE_PLAN, 7, 71, &v4, &out), CACHE_FILL_MINE);
    cache_fill_done(lru_cache, CACHE_PLAN, 7, 71);
    buf_cleanup(&out);
    cache_free(lru_cache);
}

int
main(void)
{
    test_settings();
    test_disabled();
    test_keys();
    test_payloads();
    test_fills();
    return check_done();
}
