/* The Redis layer: what many pace instances share to behave as one.
 *
 * - The client (client.c): one pipelined, non-blocking connection per
 *   event loop, on the loop's poller; code off the loops posts a command
 *   to a loop and waits for its reply up to the deadline. Per-command
 *   deadlines, reconnection with back-off, a circuit breaker, the master
 *   found through Sentinel when configured, and the server-side function
 *   library (functions.lua) loaded on every connect.
 * - The watcher (watch.c): one thread per process with the subscriber
 *   connection (revocation messages), the liveness pings that confirm it,
 *   the instance heartbeat (how many instances are live) and the Sentinel
 *   checks that notice a failover.
 * - The payload cache (lru.c): bounded process memory keyed by user and
 *   validated against per-user versions kept in Redis.
 *
 * Redis is never the source of truth: every caller has an answer for "Redis
 * did not answer in time" (ERR_UNAVAILABLE), and pace without Redis
 * (PACE_REDIS_URL unset) behaves as a single instance. */
#ifndef PACE_CACHE_CACHE_H
#define PACE_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/loopio.h"

struct buf;
struct cache;

enum {
    CACHE_KEY_MAX = 64,   /* "pace:<kind>:<22 characters of hash>" and its NUL */
    CACHE_REPLY_INTS = 8, /* integers an array reply may carry */
    CACHE_REPLY_STR = 64  /* bytes of a string reply kept (with the NUL) */
};

struct cache_opts {
    const char *url;         /* redis://[:password@]host:port[/db] or unix:///path; NULL/"": disabled */
    const char *sentinels;   /* "host:port,..." or NULL */
    const char *master;      /* the Sentinel master name (with sentinels) */
    int timeout_ms;          /* per command */
    int max_staleness_ms;    /* how old the revocation state may be (see cache_revocations_fresh) */
    size_t cache_bytes;      /* the payload cache's budget; 0: no payload cache */
    const uint8_t *key_seed; /* 32 bytes all instances share: keys are hashed with it */
};

/* Parses the settings; NULL (with *why) when they are malformed. With no
 * URL the result is a disabled cache whose calls answer ERR_UNAVAILABLE at
 * once. Nothing is connected before cache_start. */
struct cache *cache_new(const struct cache_opts *o, const char **why);
/* Hooks of the revocation bus (called on the watcher thread). */
struct cache_hooks {
    /* A message from another instance (or this one): "s <sid> <ms>" or "u <uid> <ms>". */
    void (*message)(void *arg, const char *text, size_t len);
    /* Subscribed (again): pull what may have been missed; true when done. */
    bool (*resync)(void *arg);
    void *arg;
};
/* Starts the watcher thread; the loops connect on their first command.
 * io is the loops' poller (must outlive the cache). OK or ERR_INTERNAL. */
int cache_start(struct cache *c, const struct loop_io *io, const struct cache_hooks *h);
/* Stops the watcher (leaving the instance set); idempotent. */
void cache_stop(struct cache *c);
/* On a loop thread that is about to exit: closes its connection. */
void cache_loop_end(struct cache *c);
void cache_free(struct cache *c);

bool cache_enabled(const struct cache *c);

/* ---- commands ---- */

/* A reply, flattened: an integer, a short string, or an array of up to
 * CACHE_REPLY_INTS integers (longer arrays and nested ones are cut). */
struct cache_reply {
    enum { CACHE_NIL, CACHE_INT, CACHE_STR, CACHE_ARRAY, CACHE_STATUS } type;
    long long integer;
    long long ints[CACHE_REPLY_INTS];
    size_t n;
    char str[CACHE_REPLY_STR];
};

/* Runs one command (printf-like, hiredis's format: %s, %b, %lld) and waits
 * for its reply, at most the command timeout. Not on a loop thread (there
 * it answers ERR_WOULD_BLOCK). Returns OK with *out, ERR_UNAVAILABLE (no
 * Redis, the breaker is open, the deadline passed, the connection failed),
 * or ERR_INVALID for a Redis error reply (logged once per kind). */
int cache_call(struct cache *c, struct cache_reply *out, const char *fmt, ...);
/* For what other instances' correctness depends on (a version bump, a
 * read-your-writes marker) just before a write is acknowledged: waits up
 * to CACHE_MUST_TIMEOUT_MS while Redis is healthy (a slow answer is not a
 * lost one), and while the breaker is open tries once at the usual
 * timeout regardless of it. Same results as cache_call. */
enum { CACHE_MUST_TIMEOUT_MS = 250 };
int cache_call_must(struct cache *c, struct cache_reply *out, const char *fmt, ...);
/* The same without waiting for the reply (a publish). */
int cache_send(struct cache *c, const char *fmt, ...);

/* The key of kind for a piece of user input or an id: "pace:<kind>:<hash>",
 * the hash keyed with the instances' shared seed. */
void cache_key(const struct cache *c, const char *kind, const char *in, size_t len, char out[CACHE_KEY_MAX]);
void cache_key_id(const struct cache *c, const char *kind, int64_t id, char out[CACHE_KEY_MAX]);

/* ---- state shared with the watcher ---- */

/* Live instances (this one included) the last heartbeat saw; 1 before the
 * first one and without Redis. */
int cache_instances(struct cache *c);
/* Bumped whenever what was read from Redis may no longer hold: a
 * connection lost or made, a failover, a restart. The payload cache keeps
 * only entries of the current generation. */
uint64_t cache_generation(struct cache *c);
/* Whether this instance knows every revocation older than the staleness
 * bound: the subscriber is confirmed live and resynchronised within it, or
 * the database poll (cache_note_db_sync) succeeded within it. Always true
 * without Redis. */
bool cache_revocations_fresh(struct cache *c);
/* The database poll of revocations that started at started_ms (monotonic) succeeded. */
void cache_note_db_sync(struct cache *c, int64_t started_ms);
/* A revocation published at `at_ms` (wall clock) arrived now: for the lag metric. */
void cache_note_revocation_lag(struct cache *c, int64_t at_ms);

/* "ok", "disabled" or "degraded" (for /ready). */
const char *cache_status(struct cache *c);
/* The Redis metrics (round trips, errors, breaker, fallbacks, instances,
 * revocation lag, payload cache) in Prometheus text format. */
void cache_metrics_render(struct cache *c, struct buf *out);
/* A limit fell back to the local limiter (counted for the metrics). */
void cache_note_fallback(struct cache *c, const char *what);

/* ---- read-your-writes markers (lru.c) ---- */

/* The user wrote: a marker every instance sees for window_ms. */
void cache_ryw_note(struct cache *c, int64_t user_id, int window_ms);
/* 1 while the user's marker lives, 0 when not, -1 when Redis does not say. */
int cache_ryw_recent(struct cache *c, int64_t user_id);

/* ---- the payload cache (lru.c) ---- */

enum cache_kind { CACHE_USER, CACHE_PROFILE, CACHE_PLAN, CACHE_KIND_COUNT };

/* A user's version as read from Redis, with the generation it was read in. */
struct cache_ver {
    uint64_t version;    /* the user's, from Redis */
    uint64_t epoch;      /* the deployment's (pace:epoch), from Redis */
    uint64_t generation; /* this process's (cache_generation) when it was read */
};

/* Whether payloads are cached: Redis configured and PACE_CACHE_MB > 0. */
bool cache_version_enabled(const struct cache *c);
/* The version of the user's cached data: OK with *out, or ERR_UNAVAILABLE
 * (no payload cache, or no answer: then nothing may be served from or put
 * in the cache). Not on a loop thread. */
int cache_version(struct cache *c, int64_t user_id, struct cache_ver *out);
/* After a write to the user's cached data is committed and before it is
 * acknowledged: a new version, so no instance serves the old payload (with
 * Redis, whether or not this instance caches). When Redis does not take
 * it, this instance drops its entries and the watcher retries the bump
 * until Redis does; past CACHE_BUMPS_PENDING waiting bumps it bumps the
 * deployment's epoch instead, which invalidates every user's payloads on
 * every instance. */
enum { CACHE_BUMPS_PENDING = 1024 };
void cache_bump(struct cache *c, int64_t user_id);
/* A payload of kind for (user, id) valid at v: appends it to out and
 * returns true, or false (a miss, counted). */
bool cache_get(struct cache *c, enum cache_kind kind, int64_t user_id, int64_t id, const struct cache_ver *v,
               struct buf *out);
/* Keeps a payload read from the primary after cache_version returned v. */
void cache_put(struct cache *c, enum cache_kind kind, int64_t user_id, int64_t id, const struct cache_ver *v,
               const char *data, size_t len);

/* One fill per key at a time. After a miss: CACHE_FILL_MINE when the
 * caller is to read and fill (then it must call cache_fill_done, after its
 * cache_put or without one); CACHE_FILL_HIT when another fill of the key
 * finished meanwhile and its payload is now in out; CACHE_FILL_ALONE when
 * waiting took too long (CACHE_FILL_WAIT_MS) or too many fills run: read
 * without the marker (no cache_fill_done). */
enum cache_fill { CACHE_FILL_MINE, CACHE_FILL_HIT, CACHE_FILL_ALONE };
enum { CACHE_FILL_WAIT_MS = 500 };
enum cache_fill cache_fill_begin(struct cache *c, enum cache_kind kind, int64_t user_id, int64_t id,
                                 const struct cache_ver *v, struct buf *out);
void cache_fill_done(struct cache *c, enum cache_kind kind, int64_t user_id, int64_t id);
/* Drops every entry (a new generation does it too). */
void cache_drop_all(struct cache *c);

#endif
