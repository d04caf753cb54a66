/* Payload caching for the reads that save the database the most, across
 * instances (cache/cache.h): GET /users/me, GET /profile and GET
 * /plans/{id} once the plan is final (ready or failed: it never changes
 * again). A payload is the rendered 200 body with its ETag, bound to the
 * user and kept at the user's version in Redis; every write to those
 * resources bumps the version before it is acknowledged, so no instance
 * serves the old payload afterwards. Fills read from the primary, one per
 * key at a time. Off the loops only: on a loop (SQLite's inline reads)
 * nothing is cached. */
#ifndef PACE_API_CACHED_H
#define PACE_API_CACHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "http/http.h"

struct api_cached {
    bool on;      /* the version is known: the payload may be kept */
    bool filling; /* this request holds the key's fill */
    struct cache_ver v;
    enum cache_kind kind;
    int64_t id;
    const char *data; /* a hit: the payload (in the request's arena) */
    size_t len;
};

/* A read handler in one piece through the cache: answers from it, or runs
 * read (its reads going to the primary) and keeps what it answered. */
void api_cached_read(struct http_req *r, enum cache_kind kind, int64_t id, http_handler_fn *read);

/* The same in parts, for staged reads: lookup (true on a hit, k->data);
 * on a miss the caller reads between store_reads_from_primary(k->on) and
 * (false), replies, then api_cached_keep always. */
bool api_cached_lookup(struct http_req *r, struct api_cached *k, enum cache_kind kind, int64_t id);
/* Answers from a hit: 304 when If-None-Match lists its ETag, else 200. */
void api_cached_reply(struct http_req *r, const struct api_cached *k);
/* After the reply: keeps a 200 (its body and ETag header) when k->on, and
 * ends the fill this request held. */
void api_cached_keep(struct http_req *r, struct api_cached *k);
/* A write to the user's cached resources committed: bump before replying. */
void api_cached_bump(struct http_req *r);
/* Whether payloads can be cached at all (Redis and a cache budget): the
 * staged reads then take their blocking path, where the cache is. */
bool api_cached_enabled(void);

#endif
