/* The Redis layer's settings, life cycle, state and metrics (cache.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cache/internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

/* Percent-decodes s[0..len) into out (cap bytes); false when it does not fit. */
static bool
pct_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '%' && i + 2 < len) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end != '\0')
                return false;
            ch = (char)v;
            i += 2;
        }
        if (n + 1 >= cap)
            return false;
        out[n++] = ch;
    }
    out[n] = '\0';
    return true;
}

/* redis://[:password@]host:port[/db] or unix:///path */
static bool
parse_url(struct cache *c, const char *url, const char **why)
{
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        if (path[0] != '/' || strlen(path) >= sizeof(c->url.path)) {
            *why = "PACE_REDIS_URL: unix:// needs an absolute socket path";
            return false;
        }
        strcpy(c->url.path, path);
        return true;
    }
    if (strncmp(url, "rediss://", 9) == 0) {
        *why = "PACE_REDIS_URL: TLS (rediss://) is not supported; reach Redis over a private network or a "
               "unix socket";
        return false;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        *why = "PACE_REDIS_URL must be redis://[:password@]host:port[/db] or unix:///path";
        return false;
    }
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon != NULL ? colon + 1 : p;
        if (colon != NULL && !pct_decode(p, (size_t)(colon - p), c->username, sizeof(c->username))) {
            *why = "PACE_REDIS_URL: the user name is malformed or too long";
            return false;
        }
        if (!pct_decode(pw, (size_t)(at - pw), c->password, sizeof(c->password))) {
            *why = "PACE_REDIS_URL: the password is malformed or too long";
            return false;
        }
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hl = slash != NULL ? (size_t)(slash - p) : strlen(p);
    if (!cache_parse_hostport(p, hl, &c->url)) {
        *why = "PACE_REDIS_URL needs host:port";
        return false;
    }
    if (slash != NULL && slash[1] != '\0') {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end != '\0' || db < 0 || db > 1000) {
            *why = "PACE_REDIS_URL: the database must be a number";
            return false;
        }
        c->db = (int)db;
    }
    return true;
}

static bool
parse_sentinels(struct cache *c, const char *list, const char **why)
{
    const char *p = list;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (c->nsentinels >= SENTINELS_MAX || !cache_parse_hostport(p, len, &c->sentinels[c->nsentinels])) {
            *why = "PACE_REDIS_SENTINELS must be a comma list of host:port (at most 8)";
            return false;
        }
        c->nsentinels++;
        p += len;
        while (*p == ' ' || *p == ',')
            p++;
    }
    return true;
}

struct cache *
cache_new(const struct cache_opts *o, const char **why)
{
    struct cache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->target_mu, NULL);
    pthread_mutex_init(&c->bumps_mu, NULL);
    atomic_store(&c->instances, 1);
    atomic_store(&c->open_ms, 100);
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 25;
    c->max_staleness_ms = o->max_staleness_ms > 0 ? o->max_staleness_ms : 1000;
    if (o->key_seed != NULL)
        memcpy(c->seed, o->key_seed, sizeof(c->seed));
    uint8_t id[12];
    randombytes_buf(id, sizeof(id));
    sodium_bin2hex(c->instance, sizeof(c->instance), id, sizeof(id));
    bool has_url = o->url != NULL && o->url[0] != '\0';
    bool has_sentinels = o->sentinels != NULL && o->sentinels[0] != '\0';
    if (!has_url && !has_sentinels)
        return c; /* disabled */
    if (has_url && !parse_url(c, o->url, why))
        goto bad;
    if (has_sentinels) {
        if (!parse_sentinels(c, o->sentinels, why))
            goto bad;
        if (o->master == NULL || o->master[0] == '\0' || strlen(o->master) >= sizeof(c->master)) {
            *why = "PACE_REDIS_SENTINELS needs PACE_REDIS_MASTER (the master's name in Sentinel)";
            goto bad;
        }
        strcpy(c->master, o->master);
    } else {
        c->current = c->url;
    }
    c->enabled = true;
    if (o->cache_bytes > 0)
        c->lru = cache_lru_new(o->cache_bytes);
    return c;
bad:
    cache_free(c);
    return NULL;
}

int
cache_start(struct cache *c, const struct loop_io *io, const struct cache_hooks *h)
{
    if (c == NULL || !c->enabled || c->started)
        return OK;
    c->io = io;
    if (h != NULL)
        c->hooks = *h;
    if (cache_watch_start(c) != OK)
        return ERR_INTERNAL;
    c->started = true;
    if (c->nsentinels > 0)
        log_info("cache", "Redis through %d Sentinels (master \"%s\"), timeout %d ms", c->nsentinels,
                 c->master, c->timeout_ms);
    else if (c->url.path[0] != '\0')
        log_info("cache", "Redis at %s, timeout %d ms", c->url.path, c->timeout_ms);
    else
        log_info("cache", "Redis at %s:%d, timeout %d ms", c->url.host, c->url.port, c->timeout_ms);
    return OK;
}

void
cache_stop(struct cache *c)
{
    if (c == NULL || !c->started)
        return;
    cache_watch_stop(c);
    c->started = false;
}

void
cache_free(struct cache *c)
{
    if (c == NULL)
        return;
    cache_stop(c);
    cache_lru_free(c->lru);
    pthread_mutex_destroy(&c->target_mu);
    pthread_mutex_destroy(&c->bumps_mu);
    sodium_memzero(c->password, sizeof(c->password));
    sodium_memzero(c->username, sizeof(c->username));
    free(c);
}

bool
cache_enabled(const struct cache *c)
{
    return c != NULL && c->enabled;
}

int
cache_instances(struct cache *c)
{
    if (!cache_enabled(c))
        return 1;
    int n = atomic_load(&c->instances);
    return n > 0 ? n : 1;
}

bool
cache_revocations_fresh(struct cache *c)
{
    if (!cache_enabled(c))
        return true;
    struct cache *m = c;
    int64_t now = clock_mono_ms();
    int64_t a = atomic_load(&m->pubsub_ok_ms), b = atomic_load(&m->db_sync_ok_ms);
    int64_t last = a > b ? a : b;
    return last != 0 && now - last <= c->max_staleness_ms;
}

void
cache_note_db_sync(struct cache *c, int64_t started_ms)
{
    if (cache_enabled(c) && started_ms > atomic_load(&c->db_sync_ok_ms))
        atomic_store(&c->db_sync_ok_ms, started_ms);
}

void
cache_note_revocation_lag(struct cache *c, int64_t at_ms)
{
    if (cache_enabled(c))
        cache_observe(&c->lag_count, &c->lag_sum_us, c->lag_buckets, (clock_wall_ms() - at_ms) * 1000);
}

void
cache_note_fallback(struct cache *c, const char *what)
{
    (void)what;
    if (cache_enabled(c))
        atomic_fetch_add_explicit(&c->fallbacks, 1, memory_order_relaxed);
}

const char *
cache_status(struct cache *c)
{
    if (!cache_enabled(c))
        return "disabled";
    return atomic_load(&c->breaker) == BREAKER_CLOSED && cache_revocations_fresh(c) ? "ok" : "degraded";
}

static void
histogram(struct buf *out, const char *name, const char *help, atomic_ullong *count, atomic_ullong *sum_us,
          atomic_ullong *buckets)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long cum = 0;
    for (int i = 0; i < LAT_BUCKETS; i++) {
        cum += atomic_load_explicit(&buckets[i], memory_order_relaxed);
        buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, cache_lat_bounds[i], cum);
    }
    unsigned long long n = atomic_load_explicit(count, memory_order_relaxed);
    buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, n, name,
               (double)atomic_load_explicit(sum_us, memory_order_relaxed) / 1e6, name, n);
}

void
cache_metrics_render(struct cache *cc, struct buf *out)
{
    struct cache *c = cc;
    buf_printf(out,
               "# HELP pace_redis_enabled Whether PACE_REDIS_URL or Sentinels are configured.\n"
               "# TYPE pace_redis_enabled gauge\npace_redis_enabled %d\n",
               cache_enabled(c) ? 1 : 0);
    if (!cache_enabled(c))
        return;
    buf_printf(out,
               "# HELP pace_redis_breaker_state The Redis circuit breaker: 0 closed, 1 open, 2 half-open.\n"
               "# TYPE pace_redis_breaker_state gauge\npace_redis_breaker_state %d\n"
               "# HELP pace_redis_commands_total Commands sent to Redis.\n"
               "# TYPE pace_redis_commands_total counter\npace_redis_commands_total %llu\n"
               "# HELP pace_redis_errors_total Redis commands that failed, by kind.\n"
               "# TYPE pace_redis_errors_total counter\n"
               "pace_redis_errors_total{kind=\"timeout\"} %llu\n"
               "pace_redis_errors_total{kind=\"connection\"} %llu\n"
               "pace_redis_errors_total{kind=\"reply\"} %llu\n"
               "pace_redis_errors_total{kind=\"refused\"} %llu\n"
               "# HELP pace_redis_fallbacks_total Rate-limit checks answered by the local limiter because "
               "Redis did not answer.\n"
               "# TYPE pace_redis_fallbacks_total counter\npace_redis_fallbacks_total %llu\n"
               "# HELP pace_instances_live pace instances the last Redis heartbeat saw.\n"
               "# TYPE pace_instances_live gauge\npace_instances_live %d\n"
               "# HELP pace_revocations_fresh Whether this instance has confirmed its revocation state "
               "within PACE_REVOCATION_MAX_STALENESS_MS.\n"
               "# TYPE pace_revocations_fresh gauge\npace_revocations_fresh %d\n"
               "# HELP pace_cache_version_bump_failures_total Cache version bumps Redis did not take.\n"
               "# TYPE pace_cache_version_bump_failures_total counter\n"
               "pace_cache_version_bump_failures_total %llu\n",
               atomic_load(&c->breaker), atomic_load(&c->commands), atomic_load(&c->timeouts),
               atomic_load(&c->conn_errors), atomic_load(&c->reply_errors), atomic_load(&c->rejected),
               atomic_load(&c->fallbacks), cache_instances(c), cache_revocations_fresh(c) ? 1 : 0,
               atomic_load(&c->bump_failures));
    histogram(out, "pace_redis_round_trip_seconds", "Redis command round trips seen from a loop.",
              &c->lat_count, &c->lat_sum_us, c->lat_buckets);
    histogram(out, "pace_revocation_lag_seconds",
              "From a revocation's publication to its arrival at this instance.", &c->lag_count,
              &c->lag_sum_us, c->lag_buckets);
    if (c->lru != NULL)
        cache_lru_metrics(c->lru, out);
}
