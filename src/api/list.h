/* List pages, the same for every list resource: the limit and cursor query
 * parameters, the scope a cursor is bound to, the page's entity tag and the
 * {"items": [...], "next_cursor": ...} envelope. A list handler parses its
 * own filters, builds its scope, asks the store for limit + 1 rows, and
 * when there are more signs the position of the last row shown into the
 * next cursor (api/cursor.h).
 *
 * A scope is bytes: the resource letter, the user id (8 bytes, big
 * endian), then the resource's filter and sort bytes, zero-padded to a
 * length fixed per resource. Cursors already given out are checked against
 * these bytes, so a resource's layout never changes. */
#ifndef PACE_API_LIST_H
#define PACE_API_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "api/cursor.h"
#include "http/http.h"

enum {
    API_LIST_SCOPE_MAX = 32,
    API_LIST_SCOPE_HEAD = 9 /* resource letter and user id */
};

struct api_list_scope {
    unsigned char bytes[API_LIST_SCOPE_MAX];
    size_t len;
};

/* Zeroes len bytes (API_LIST_SCOPE_HEAD < len <= API_LIST_SCOPE_MAX) and
 * writes the resource letter and user id. Returns where the resource's own
 * bytes go (len - API_LIST_SCOPE_HEAD of them). */
unsigned char *api_list_scope_init(struct api_list_scope *s, char resource, int64_t user_id, size_t len);

/* Reads ?limit= into *limit, which keeps its value (the resource's
 * default) when the parameter is absent. True, or false after replying
 * 400 invalid_parameter when it is not an integer from 1 to max (<= 999). */
bool api_list_limit(struct http_req *r, size_t max, size_t *limit);

/* Reads ?cursor= made for scope: *has is false when there is none. True,
 * or false after replying 400 invalid_cursor. */
bool api_list_cursor(struct http_req *r, const struct api_list_scope *s, bool *has,
                     struct api_cursor_pos *pos);

/* n rows came back for a page of limit (the store is asked for limit + 1):
 * true when there are more, and then *n becomes limit (the rows shown; the
 * last of them gives the next cursor). */
static inline bool
api_list_more(size_t *n, size_t limit)
{
    if (*n <= limit)
        return false;
    *n = limit;
    return true;
}

/* The cursor of pos for scope, into out (NUL-terminated); returns out. */
const char *api_list_cursor_make(const struct api_list_scope *s, const struct api_cursor_pos *pos,
                                 char out[API_CURSOR_TEXT + 1]);

/* A page's entity tag, W/"l<32 hex>": BLAKE2b, keyed by the resource's
 * salt (NULL for none), of the (id, version) of each row shown and of the
 * next cursor. init, one row call per row in order, then end. */
struct api_list_etag {
    crypto_generichash_state st;
};
void api_list_etag_init(struct api_list_etag *e, const char *salt);
static inline void
api_list_etag_row(struct api_list_etag *e, int64_t id, int64_t version)
{
    int64_t iv[2] = {id, version};
    crypto_generichash_update(&e->st, (const unsigned char *)iv, sizeof(iv));
}
/* next: the next cursor, or NULL on the last page. The tag is in r's arena. */
const char *api_list_etag_end(struct api_list_etag *e, struct http_req *r, const char *next);

/* Starts the 200 reply of a page (size: bytes to reserve for it) and
 * returns the writer positioned in the items array: write each item as one
 * value, then call api_list_end. */
struct jw *api_list_begin(struct http_req *r, size_t size);
/* Closes the items, writes next_cursor (next, or null when NULL) and adds
 * the ETag tag. */
void api_list_end(struct http_req *r, struct jw *w, const char *next, const char *tag);

#endif
