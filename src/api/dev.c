/* Test-only endpoints under /_dev, registered when PACE_DEV_ENDPOINTS=on:
 * they let the API tests exercise JSON bodies, the worker pools, shutdown
 * with requests in flight, and compare the route table with the OpenAPI
 * document. Never enable them in production. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api/api.h"
#include "api/validate.h"
#include "store/store.h"

static void
api_dev_echo(struct http_req *r)
{
    char *text = json_dumps(r->json, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        http_reply_problem(r, 500, "internal", "Internal error", NULL);
        return;
    }
    struct jw *w = http_reply_json_begin(r, 200);
    jw_obj_begin(w);
    jw_key(w, "body");
    jw_raw(w, text, strlen(text));
    jw_obj_end(w);
    free(text);
}

static void
api_dev_sleep(struct http_req *r)
{
    const char *ms = http_req_query(r, "ms");
    char *end = NULL;
    errno = 0;
    long v = ms != NULL ? strtol(ms, &end, 10) : -1;
    if (ms == NULL || *ms == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 10000) {
        api_reply_bad_param(r, "ms", "must be an integer from 0 to 10000");
        return;
    }
    struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    struct jw *w = http_reply_json_begin(r, 200);
    jw_obj_begin(w);
    jw_key(w, "slept_ms");
    jw_int(w, v);
    jw_obj_end(w);
}

/* The same sleep, on the hash pool (route flag) instead of the blocking one. */
static void
api_dev_sleep_hash(struct http_req *r)
{
    api_dev_sleep(r);
}

static void
api_dev_list_routes(struct http_req *r)
{
    const struct http_router *rt = api_router();
    struct jw *w = http_reply_json_begin(r, 200);
    jw_obj_begin(w);
    jw_key(w, "routes");
    jw_arr_begin(w);
    for (size_t i = 0; i < http_router_count(rt); i++) {
        const struct http_route *route = http_router_at(rt, i);
        jw_obj_begin(w);
        jw_key(w, "method");
        jw_str(w, http_method_name(route->method));
        jw_key(w, "path");
        jw_str(w, route->path);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

/* Validates a task-shaped body with the shared validator, so the API tests
 * can check the 422 shape before the first resource that uses it. */
static void
api_dev_validate(struct http_req *r)
{
    static const struct api_field fields[] = {
        {"title", API_STRING, API_REQUIRED, 1, 200, NULL},
        {"description", API_STRING, API_NULLABLE, 0, 10000, NULL},
        {"status", API_ENUM, 0, 0, 0, store_task_status_names},
        {"priority", API_INT, 0, 0, 3, NULL},
        {"due_date", API_DATE, API_NULLABLE, 0, 0, NULL},
        {"done", API_BOOL, 0, 0, 0, NULL},
        {"tags", API_STRING_ARRAY, 0, 0, 20, NULL},
    };
    if (!api_validate(r, r->json, fields, sizeof(fields) / sizeof(fields[0])))
        return;
    http_reply_empty(r, 204);
}

const struct http_route api_dev_routes[] = {
    {HTTP_POST, "/_dev/validate", api_dev_validate, ROUTE_JSON, NULL},
    {HTTP_POST, "/_dev/echo", api_dev_echo, ROUTE_JSON, NULL},
    {HTTP_GET, "/_dev/sleep", api_dev_sleep, ROUTE_BLOCKING, NULL},
    {HTTP_GET, "/_dev/sleep-hash", api_dev_sleep_hash, ROUTE_HASH, NULL},
    {HTTP_GET, "/_dev/routes", api_dev_list_routes, 0, NULL},
};
const size_t api_dev_nroutes = sizeof(api_dev_routes) / sizeof(api_dev_routes[0]);
