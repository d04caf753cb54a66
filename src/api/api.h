/* The API layer: one file per resource, each with its route table; errors.c
 * is the only place that turns an error into an HTTP status. */
#ifndef PACE_API_API_H
#define PACE_API_API_H

#include <stdbool.h>

#include "http/http.h"

struct store;

struct api_deps {
    struct store *store;         /* borrowed */
    struct http_pool *hash_pool; /* borrowed; for the dev endpoints */
    bool dev_endpoints;
    const char *version;
    const char *commit;
};

/* Keeps d (borrowed; must outlive the server) and adds every route table
 * to rt. Returns 0 or -1 (a malformed table, logged). */
int api_init(const struct api_deps *d, struct http_router *rt);

/* Replies with the problem for an ERR_* (the one status mapping). */
void api_reply_error(struct http_req *r, int err);

/* Replies 400 invalid_parameter naming the query parameter. */
void api_reply_bad_param(struct http_req *r, const char *name, const char *why);

/* Route tables, one per resource file. */
extern const struct http_route api_ops_routes[];
extern const size_t api_ops_nroutes;
extern const struct http_route api_dev_routes[];
extern const size_t api_dev_nroutes;

/* The dependencies given to api_init (for the resource files). */
const struct api_deps *api_deps(void);
/* The router given to api_init (for /_dev/routes). */
const struct http_router *api_router(void);

#endif
