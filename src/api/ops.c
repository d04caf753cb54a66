/* Operational endpoints: liveness, readiness, metrics, the OpenAPI document.
 * /ready runs on the blocking pool, so a slow database never stalls a loop. */
#include <string.h>

#include "api/api.h"
#include "cache/cache.h"
#include "jobs/jobs.h"
#include "store/store.h"
#include "util/embedded.h"
#include "util/err.h"
#include "util/log.h"

enum { READY_DEADLINE_MS = 2000 };

static void
api_ops_health(struct http_req *r)
{
    static const char body[] = "{\"status\":\"ok\"}";
    http_reply_raw(r, 200, "application/json", body, sizeof(body) - 1);
}

static void
api_ops_ready(struct http_req *r)
{
    const struct api_deps *d = api_deps();
    int err = d->store != NULL ? store_ping(d->store, READY_DEADLINE_MS) : ERR_UNAVAILABLE;
    /* It answers, but a write would fail for want of space (a full disk). */
    bool read_only = err == OK && store_writes_blocked(d->store);
    bool ok = err == OK && !read_only;
    /* After SIGTERM: still serving, but a load balancer should send no more. */
    bool draining = http_server_draining();
    struct jw *w = http_reply_json_begin(r, ok && !draining ? 200 : 503);
    jw_obj_begin(w);
    jw_key(w, "status");
    jw_str(w, draining ? "draining" : ok ? "ready" : "unavailable");
    jw_key(w, "checks");
    jw_obj_begin(w);
    jw_key(w, "database");
    jw_str(w, read_only ? "read_only" : err == OK ? "ok" : err_name(err));
    jw_key(w, "redis");
    jw_str(w, cache_status(d->cache)); /* degraded stays 200: pace serves without Redis */
    jw_obj_end(w);
    jw_obj_end(w);
    if (err != OK)
        log_write(LOG_WARN, "api", r->request_id, "not ready: database %s", err_name(err));
    else if (read_only)
        log_write(LOG_WARN, "api", r->request_id, "not ready: the database cannot take writes (disk full)");
    if (!ok || draining)
        http_reply_header(r, "retry-after", "2");
}

static void
api_ops_metrics(struct http_req *r)
{
    const struct api_deps *d = api_deps();
    if (!http_metrics_allowed(r)) {
        /* The same answer as a path that does not exist (docs/api.md). */
        http_reply_problem(r, 404, "not_found", "Not found", "no resource at this path");
        return;
    }
    http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, 0);
    buf_printf(&r->out,
               "# HELP pace_build_info Version and commit of the running binary.\n"
               "# TYPE pace_build_info gauge\n"
               "pace_build_info{version=\"%s\",commit=\"%s\"} 1\n",
               d->version, d->commit);
    http_metrics_render(&r->out);
    jobs_metrics_render(&r->out);
    store_metrics_render(d->store, &r->out);
    cache_metrics_render(d->cache, &r->out);
}

static void
api_ops_openapi(struct http_req *r)
{
    const struct embedded_file *f = embedded_find("docs/openapi.json");
    if (f == NULL) {
        http_reply_problem(r, 404, "not_found", "Not found", "this build has no OpenAPI document");
        return;
    }
    http_reply_raw(r, 200, "application/json", f->data, f->len);
}

const struct http_route api_ops_routes[] = {
    {HTTP_GET, "/health", api_ops_health, 0, NULL},
    {HTTP_GET, "/ready", api_ops_ready, ROUTE_BLOCKING, NULL},
    {HTTP_GET, "/metrics", api_ops_metrics, 0, NULL},
    {HTTP_GET, "/api/v1/openapi.json", api_ops_openapi, 0, NULL},
};
const size_t api_ops_nroutes = sizeof(api_ops_routes) / sizeof(api_ops_routes[0]);
