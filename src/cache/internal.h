/* Shared between the files of src/cache only. */
#ifndef PACE_CACHE_INTERNAL_H
#define PACE_CACHE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "cache/cache.h"

enum { HOST_MAX = 256, PATH_MAX_UNIX = 108, SECRET_MAX = 256, SENTINELS_MAX = 8, LAT_BUCKETS = 12 };

enum breaker { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

/* Where Redis is: a TCP address or a unix socket. */
struct target {
    char host[HOST_MAX]; /* "" with a unix path */
    int port;
    char path[PATH_MAX_UNIX];
};

struct lru;

struct cache {
    bool enabled;
    int timeout_ms;
    int max_staleness_ms;
    char username[HOST_MAX];   /* "" for none (Redis 6 ACL users) */
    char password[SECRET_MAX]; /* "" for none */
    int db;
    struct target url; /* from PACE_REDIS_URL (without Sentinel) */
    struct target sentinels[SENTINELS_MAX];
    int nsentinels;
    char master[HOST_MAX];
    uint8_t seed[32];
    char instance[40]; /* this process's id in the instance set */
    const struct loop_io *io;
    struct cache_hooks hooks;

    /* The master the loops connect to: the URL's, or Sentinel's answer. */
    pthread_mutex_t target_mu;
    struct target current;  /* guarded by target_mu; port 0 and no path: unknown */
    atomic_uint target_gen; /* bumped when current changes */
    atomic_ullong generation;

    /* The breaker, shared by the loops. */
    atomic_int breaker;
    atomic_int failures;        /* in a row */
    atomic_llong open_until_ms; /* monotonic */
    atomic_int open_ms;         /* how long the next opening lasts */
    atomic_uint openings;       /* times it opened (a long wait ends when it does) */

    /* The watcher's findings. */
    atomic_int instances;
    atomic_llong pubsub_ok_ms; /* monotonic: the subscriber was confirmed live and resynchronised */
    atomic_llong db_sync_ok_ms;
    pthread_t watcher;
    bool started;
    atomic_bool stop;

    /* Metrics. */
    atomic_ullong commands, timeouts, conn_errors, reply_errors, rejected, fallbacks;
    atomic_ullong lat_count, lat_sum_us, lat_buckets[LAT_BUCKETS];
    atomic_ullong lag_count, lag_sum_us, lag_buckets[LAT_BUCKETS];
    atomic_ullong bump_failures;
    atomic_llong errors_logged_ms; /* the last error reply logged (one each 10 s) */

    struct lru *lru;

    /* Version bumps Redis did not take, retried by the watcher. */
    pthread_mutex_t bumps_mu;
    int64_t bumps[CACHE_BUMPS_PENDING];
    size_t nbumps;
    bool bumps_overflow; /* then the epoch is bumped instead */
    /* Read-your-writes markers Redis did not take, retried until their
     * window ends (guarded by bumps_mu). */
    struct {
        int64_t user_id;
        int64_t until_ms; /* monotonic */
    } marks[CACHE_BUMPS_PENDING];
    size_t nmarks;
};

/* The watcher: sends the bumps and read-your-writes markers that failed
 * (watch.c calls it every 100 ms). */
void cache_bumps_retry(struct cache *c);

/* Latency histogram bounds, seconds (shared by round trips and revocation lag). */
extern const double cache_lat_bounds[LAT_BUCKETS];
void cache_observe(atomic_ullong *count, atomic_ullong *sum_us, atomic_ullong *buckets, int64_t us);

/* The breaker (client.c): a result of a command. */
void cache_breaker_result(struct cache *c, bool ok);
/* Parses "host:port" into t. */
bool cache_parse_hostport(const char *s, size_t len, struct target *t);
/* Copies the current target; false when none is known yet. */
bool cache_target_get(struct cache *c, struct target *t, unsigned *gen);
/* Sets a new target (a failover); bumps the generations when it changed. */
void cache_target_set(struct cache *c, const struct target *t);
/* Marks everything read from Redis as possibly stale. */
void cache_new_generation(struct cache *c);

/* The function library (functions.lua), embedded. */
const char *cache_functions(size_t *len);

/* The watcher thread (watch.c). */
int cache_watch_start(struct cache *c);
void cache_watch_stop(struct cache *c);

/* The payload cache (lru.c). */
struct lru *cache_lru_new(size_t bytes);
void cache_lru_free(struct lru *l);
void cache_lru_metrics(struct lru *l, struct buf *out);

#endif
