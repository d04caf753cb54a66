/* Wires the resource route tables into the router. */
#include "api/api.h"

static const struct api_deps *deps;
static const struct http_router *router;

int
api_init(const struct api_deps *d, struct http_router *rt)
{
    deps = d;
    router = rt;
    if (http_router_add(rt, api_ops_routes, api_ops_nroutes) != 0)
        return -1;
    if (d->dev_endpoints && http_router_add(rt, api_dev_routes, api_dev_nroutes) != 0)
        return -1;
    return 0;
}

const struct api_deps *
api_deps(void)
{
    return deps;
}

const struct http_router *
api_router(void)
{
    return router;
}
