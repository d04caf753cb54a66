/* Entity tags for single resources and list pages, and the conditional
 * request headers that use them (RFC 9110 §13). pace's tags are weak
 * (W/"..."): they name a state of the resource (its version), not a byte
 * encoding, and gzip may re-encode a body. If-Match therefore compares the
 * opaque part of the tags, ignoring W/ (a documented relaxation of RFC
 * 9110's strong comparison, which would make weak tags useless there). */
#ifndef PACE_API_ETAG_H
#define PACE_API_ETAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

enum { API_ETAG_MAX = 48 };

/* True when the header value (a comma list of entity tags, or "*") names
 * tag; W/ prefixes are ignored on both sides. tag is a full tag as
 * written in ETag (W/"..."). */
bool api_etag_listed(const char *header, size_t n, const char *tag);

/* When If-None-Match names tag, replies 304 with the ETag and no body and
 * returns true; else returns false and leaves the reply to the caller. */
bool api_etag_not_modified(struct http_req *r, const char *tag);

/* Adds ETag and Cache-Control: private, no-cache (the client keeps the
 * copy and revalidates it with If-None-Match). */
void api_etag_header(struct http_req *r, const char *tag);

/* The versions an If-Match header allows for the resource whose tags are
 * W/"<prefix><id>-v<version>": *any is set for "*", versions gets up to
 * max versions named for this id (others are ignored). Returns how many
 * were found. */
size_t api_etag_versions(const char *header, size_t n, const char *prefix, int64_t id, bool *any,
                         int64_t *versions, size_t max);

#endif
