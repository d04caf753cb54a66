/* Content negotiation around h2o's compress filter (negotiate.c). */
#ifndef PACE_HTTP_NEGOTIATE_H
#define PACE_HTTP_NEGOTIATE_H

#include <h2o.h>

/* Responses shorter than this are sent as they are. */
enum { HTTP_COMPRESS_MIN_SIZE = 1024 };

/* Adds h2o's compress filter (gzip only) to path. */
void http_compress_register(h2o_pathconf_t *path);

/* Before h2o_start_response: rewrites the request's Accept-Encoding to
 * what h2o's filter understands ("gzip" when RFC 9110 weights make gzip
 * acceptable, else "identity"), and adds Vary: Accept-Encoding to a
 * response the filter may compress, whether or not this one is. */
void http_negotiate_encoding(h2o_req_t *req);

/* For tests: the weight (0..1000) Accept-Encoding value v gives gzip. */
int http_gzip_weight(const char *v, size_t n);

#endif
