/* Payload caching for reads (api/cached.h). A payload is "<etag>\0<body>". */
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/cached.h"
#include "api/etag.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

bool
api_cached_enabled(void)
{
    return cache_version_enabled(api_deps()->cache);
}

bool
api_cached_lookup(struct http_req *r, struct api_cached *k, enum cache_kind kind, int64_t id)
{
    memset(k, 0, sizeof(*k));
    k->kind = kind;
    k->id = id;
    struct cache *c = api_deps()->cache;
    if (!cache_version_enabled(c) || cache_version(c, r->user_id, &k->v) != OK)
        return false;
    k->on = true;
    struct buf b;
    buf_init(&b, &r->arena, 0);
    bool hit = cache_get(c, kind, r->user_id, id, &k->v, &b);
    if (!hit) {
        enum cache_fill f = cache_fill_begin(c, kind, r->user_id, id, &k->v, &b);
        hit = f == CACHE_FILL_HIT;
        k->filling = f == CACHE_FILL_MINE;
    }
    if (!hit)
        return false;
    k->data = b.data;
    k->len = b.len;
    return true;
}

void
api_cached_reply(struct http_req *r, const struct api_cached *k)
{
    const char *etag = k->data;
    size_t tl = strlen(etag);
    if (api_etag_not_modified(r, etag))
        return;
    http_reply_raw(r, 200, "application/json", k->data + tl + 1, k->len - tl - 1);
    api_etag_header(r, etag);
}

/* The ETag header of the reply, or NULL. */
static const char *
reply_etag(const struct http_req *r)
{
    for (size_t i = 0; i < r->nres_headers; i++)
        if (strcasecmp(r->res_headers[i].name, "etag") == 0)
            return r->res_headers[i].value;
    return NULL;
}

void
api_cached_keep(struct http_req *r, struct api_cached *k)
{
    struct cache *c = api_deps()->cache;
    const char *etag = reply_etag(r);
    if (k->on && r->status == 200 && etag != NULL) {
        size_t tl = strlen(etag);
        struct buf b;
        buf_init(&b, &r->arena, tl + 1 + r->out.len);
        buf_append(&b, etag, tl + 1);
        buf_append(&b, r->out.data, r->out.len);
        cache_put(c, k->kind, r->user_id, k->id, &k->v, b.data, b.len);
    }
    if (k->filling)
        cache_fill_done(c, k->kind, r->user_id, k->id);
    k->filling = false;
}

void
api_cached_read(struct http_req *r, enum cache_kind kind, int64_t id, http_handler_fn *read)
{
    struct api_cached k;
    if (api_cached_lookup(r, &k, kind, id)) {
        api_cached_reply(r, &k);
        return;
    }
    store_reads_from_primary(k.on); /* a fill must not see a lagging replica */
    read(r);
    store_reads_from_primary(false);
    api_cached_keep(r, &k);
}

void
api_cached_bump(struct http_req *r)
{
    cache_bump(api_deps()->cache, r->user_id);
}
