/* Unit tests for http/router: literal and {param} segments, the root,
 * trailing slashes, method mismatches and the Allow mask, HEAD answered by
 * GET, duplicate and malformed patterns, and method names. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "http/http.h"
#include "util/err.h"
#include "util/log.h"

static void
h_a(struct http_req *r)
{
    (void)r;
}

static void
h_b(struct http_req *r)
{
    (void)r;
}

static const struct http_route routes[] = {
    {HTTP_GET, "/", h_a, 0, NULL},
    {HTTP_GET, "/api/v1/tasks", h_a, ROUTE_AUTH, NULL},
    {HTTP_POST, "/api/v1/tasks", h_b, ROUTE_AUTH | ROUTE_WRITES, NULL},
    {HTTP_GET, "/api/v1/tasks/{id}", h_a, ROUTE_AUTH, NULL},
    {HTTP_PATCH, "/api/v1/tasks/{id}", h_b, ROUTE_AUTH, NULL},
    {HTTP_DELETE, "/api/v1/tasks/{id}", h_b, ROUTE_AUTH, NULL},
    {HTTP_GET, "/api/v1/tasks/{id}/notes/{note}", h_a, 0, NULL},
    {HTTP_POST, "/api/v1/login", h_b, ROUTE_HASH, NULL},
    {HTTP_GET, "/health", h_a, 0, NULL},
    {HTTP_PUT, "/u/{uid}/g/{gid}/s/{sid}/m/{mid}", h_b, 0, NULL},
};
enum { NROUTES = sizeof(routes) / sizeof(routes[0]) };

struct result {
    enum http_match m;
    const struct http_route *route;
    size_t index;
    struct http_kv params[HTTP_MAX_PARAMS];
    size_t nparams;
    unsigned allow;
};

static struct result
match(const struct http_router *rt, unsigned method, const char *path)
{
    struct result r;
    memset(&r, 0, sizeof(r));
    r.index = SIZE_MAX;
    r.m =
        http_router_match(rt, method, path, strlen(path), &r.route, &r.index, r.params, &r.nparams, &r.allow);
    return r;
}

static bool
param_is(const struct result *r, size_t i, const char *name, const char *value)
{
    return i < r->nparams && strcmp(r->params[i].name, name) == 0 &&
           r->params[i].value_len == strlen(value) && memcmp(r->params[i].value, value, strlen(value)) == 0;
}

static void
test_methods(void)
{
    CHECK_EQ_STR(http_method_name(HTTP_GET), "GET");
    CHECK_EQ_STR(http_method_name(HTTP_HEAD), "HEAD");
    CHECK_EQ_STR(http_method_name(HTTP_POST), "POST");
    CHECK_EQ_STR(http_method_name(HTTP_PUT), "PUT");
    CHECK_EQ_STR(http_method_name(HTTP_PATCH), "PATCH");
    CHECK_EQ_STR(http_method_name(HTTP_DELETE), "DELETE");
    CHECK_EQ_STR(http_method_name(HTTP_OPTIONS), "OPTIONS");
    CHECK_EQ_STR(http_method_name(0), "?");
    CHECK_EQ_STR(http_method_name(HTTP_GET | HTTP_POST), "?");
    CHECK_EQ_STR(http_method_name(1u << 20), "?");

    CHECK_EQ_INT(http_method_parse("GET", 3), HTTP_GET);
    CHECK_EQ_INT(http_method_parse("HEAD", 4), HTTP_HEAD);
    CHECK_EQ_INT(http_method_parse("POST", 4), HTTP_POST);
    CHECK_EQ_INT(http_method_parse("PUT", 3), HTTP_PUT);
    CHECK_EQ_INT(http_method_parse("PATCH", 5), HTTP_PATCH);
    CHECK_EQ_INT(http_method_parse("DELETE", 6), HTTP_DELETE);
    CHECK_EQ_INT(http_method_parse("OPTIONS", 7), HTTP_OPTIONS);
    /* counted, case-sensitive, no prefixes */
    CHECK_EQ_INT(http_method_parse("GETX", 3), HTTP_GET);
    CHECK_EQ_INT(http_method_parse("GETX", 4), 0);
    CHECK_EQ_INT(http_method_parse("GE", 2), 0);
    CHECK_EQ_INT(http_method_parse("get", 3), 0);
    CHECK_EQ_INT(http_method_parse("", 0), 0);
    CHECK_EQ_INT(http_method_parse("TRACE", 5), 0);
    CHECK_EQ_INT(http_method_parse("CONNECT", 7), 0);
    /* name and parse are inverses */
    for (unsigned m = HTTP_GET; m <= HTTP_OPTIONS; m <<= 1) {
        const char *n = http_method_name(m);
        CHECK_EQ_INT(http_method_parse(n, strlen(n)), m);
    }
}

static void
test_literal_and_params(struct http_router *rt)
{
    struct result r = match(rt, HTTP_GET, "/api/v1/tasks");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &routes[1]);
    CHECK_EQ_INT(r.index, 1);
    CHECK_EQ_INT(r.nparams, 0);

    r = match(rt, HTTP_POST, "/api/v1/tasks");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &routes[2]);
    CHECK(r.route->fn == h_b);
    CHECK_EQ_INT(r.route->flags, ROUTE_AUTH | ROUTE_WRITES);

    const char *path = "/api/v1/tasks/12345";
    r = match(rt, HTTP_GET, path);
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &routes[3]);
    CHECK_EQ_INT(r.nparams, 1);
    CHECK(param_is(&r, 0, "id", "12345"));
    /* the value points into the path: not a copy */
    CHECK(r.params[0].value == path + strlen("/api/v1/tasks/"));

    r = match(rt, HTTP_PATCH, "/api/v1/tasks/abc");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &routes[4]);
    CHECK(param_is(&r, 0, "id", "abc"));

    r = match(rt, HTTP_GET, "/api/v1/tasks/7/notes/x-y_z");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &routes[6]);
    CHECK_EQ_INT(r.nparams, 2);
    CHECK(param_is(&r, 0, "id", "7"));
    CHECK(param_is(&r, 1, "note", "x-y_z"));

    /* four parameters: the most a request carries */
    r = match(rt, HTTP_PUT, "/u/1/g/22/s/333/m/4444");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &routes[9]);
    CHECK_EQ_INT(r.nparams, 4);
    CHECK(param_is(&r, 0, "uid", "1"));
    CHECK(param_is(&r, 1, "gid", "22"));
    CHECK(param_is(&r, 2, "sid", "333"));
    CHECK(param_is(&r, 3, "mid", "4444"));

    /* a parameter matches one segment only, never an empty one */
    CHECK_EQ_INT(match(rt, HTTP_GET, "/api/v1/tasks/1/2").m, HTTP_MATCH_NOT_FOUND);
    CHECK_EQ_INT(match(rt, HTTP_GET, "/api/v1/tasks//notes/x").m, HTTP_MATCH_NOT_FOUND);
    CHECK_EQ_INT(match(rt, HTTP_GET, "/api/v1/tasks/1/notes/").m, HTTP_MATCH_NOT_FOUND);

    /* the path length is honoured: bytes after len are ignored */
    const char *longer = "/healthXYZ";
    struct result r2;
    memset(&r2, 0, sizeof(r2));
    r2.m =
        http_router_match(rt, HTTP_GET, longer, 7, &r2.route, &r2.index, r2.params, &r2.nparams, &r2.allow);
    CHECK_EQ_INT(r2.m, HTTP_MATCH_OK);
    CHECK(r2.route == &routes[8]);
    const char *p2 = "/api/v1/tasks/99/extra";
    r2.m = http_router_match(rt, HTTP_GET, p2, strlen("/api/v1/tasks/99"), &r2.route, &r2.index, r2.params,
                             &r2.nparams, &r2.allow);
    CHECK_EQ_INT(r2.m, HTTP_MATCH_OK);
    CHECK(r2.route == &routes[3]);
    CHECK_EQ_INT(r2.params[0].value_len, 2);
}

static void
test_not_found(struct http_router *rt)
{
    static const char *const paths[] = {
        "",         /* empty */
        "health",   /* no leading slash */
        "/healt",   /* prefix of a literal */
        "/healthz", /* literal plus more */
        "/Health",  /* case-sensitive */
        "/api/v1",  /* prefix of a route */
        "/api/v1/tasks/1/notes",
        "/nothing/here",
        "//",
        "/api//v1/tasks",
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct result r = match(rt, HTTP_GET, paths[i]);
        if (r.m != HTTP_MATCH_NOT_FOUND) {
            fprintf(stderr, "\"%s\" should not match (got %d)\n", paths[i], (int)r.m);
            ok = false;
        }
    }
    CHECK(ok);
}

static void
test_trailing_slash(struct http_router *rt)
{
    CHECK_EQ_INT(match(rt, HTTP_GET, "/api/v1/tasks/").m, HTTP_MATCH_NOT_FOUND);
    CHECK_EQ_INT(match(rt, HTTP_GET, "/api/v1/tasks/5/").m, HTTP_MATCH_NOT_FOUND);
    CHECK_EQ_INT(match(rt, HTTP_GET, "/health/").m, HTTP_MATCH_NOT_FOUND);
    CHECK_EQ_INT(match(rt, HTTP_POST, "/api/v1/login/").m, HTTP_MATCH_NOT_FOUND);
}

static void
test_root(struct http_router *rt)
{
    struct result r = match(rt, HTTP_GET, "/");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &routes[0]);
    CHECK_EQ_INT(r.index, 0);
    CHECK_EQ_INT(r.nparams, 0);

    r = match(rt, HTTP_POST, "/");
    CHECK_EQ_INT(r.m, HTTP_MATCH_METHOD);
    CHECK_EQ_INT(r.allow, HTTP_GET | HTTP_HEAD);

    /* a router without a root route does not match "/" */
    struct http_router *empty = http_router_new();
    CHECK_EQ_INT(http_router_count(empty), 0);
    CHECK_EQ_INT(match(empty, HTTP_GET, "/").m, HTTP_MATCH_NOT_FOUND);
    CHECK_EQ_INT(match(empty, HTTP_GET, "/x").m, HTTP_MATCH_NOT_FOUND);
    http_router_free(empty);
    http_router_free(NULL);
}

static void
test_method_mismatch(struct http_router *rt)
{
    struct result r = match(rt, HTTP_DELETE, "/api/v1/tasks");
    CHECK_EQ_INT(r.m, HTTP_MATCH_METHOD);
    CHECK_EQ_INT(r.allow, HTTP_GET | HTTP_HEAD | HTTP_POST);

    r = match(rt, HTTP_POST, "/api/v1/tasks/3");
    CHECK_EQ_INT(r.m, HTTP_MATCH_METHOD);
    CHECK_EQ_INT(r.allow, HTTP_GET | HTTP_HEAD | HTTP_PATCH | HTTP_DELETE);

    /* no GET route: no HEAD in the mask */
    r = match(rt, HTTP_GET, "/api/v1/login");
    CHECK_EQ_INT(r.m, HTTP_MATCH_METHOD);
    CHECK_EQ_INT(r.allow, HTTP_POST);
    r = match(rt, HTTP_HEAD, "/api/v1/login");
    CHECK_EQ_INT(r.m, HTTP_MATCH_METHOD);
    CHECK_EQ_INT(r.allow, HTTP_POST);

    r = match(rt, HTTP_OPTIONS, "/health");
    CHECK_EQ_INT(r.m, HTTP_MATCH_METHOD);
    CHECK_EQ_INT(r.allow, HTTP_GET | HTTP_HEAD);

    /* an unknown method (0) is a mismatch too, not a crash */
    r = match(rt, 0, "/health");
    CHECK_EQ_INT(r.m, HTTP_MATCH_METHOD);
    CHECK_EQ_INT(r.allow, HTTP_GET | HTTP_HEAD);
}

static void
test_head(struct http_router *rt)
{
    struct result r = match(rt, HTTP_HEAD, "/api/v1/tasks/42");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &routes[3]);
    CHECK(r.route->method == HTTP_GET);
    CHECK(param_is(&r, 0, "id", "42"));

    r = match(rt, HTTP_HEAD, "/");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &routes[0]);
}

static void
test_first_match_wins(void)
{
    static const struct http_route t[] = {
        {HTTP_GET, "/items/new", h_b, 0, NULL},
        {HTTP_GET, "/items/{id}", h_a, 0, NULL},
        {HTTP_POST, "/items/{id}", h_a, 0, NULL},
    };
    struct http_router *rt = http_router_new();
    CHECK_EQ_INT(http_router_add(rt, t, 3), OK);
    struct result r = match(rt, HTTP_GET, "/items/new");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &t[0]);
    CHECK_EQ_INT(r.nparams, 0);
    r = match(rt, HTTP_GET, "/items/old");
    CHECK(r.route == &t[1]);
    /* the literal route has no POST, the parameter route does */
    r = match(rt, HTTP_POST, "/items/new");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &t[2]);
    CHECK(param_is(&r, 0, "id", "new"));
    http_router_free(rt);
}

static void
test_count_and_at(struct http_router *rt)
{
    CHECK_EQ_INT(http_router_count(rt), NROUTES);
    bool ok = true;
    for (size_t i = 0; i < NROUTES; i++)
        if (http_router_at(rt, i) != &routes[i])
            ok = false;
    CHECK(ok);
    CHECK(http_router_at(rt, NROUTES) == NULL);
    CHECK(http_router_at(rt, SIZE_MAX) == NULL);
}

static void
test_duplicates(void)
{
    static const struct http_route a[] = {
        {HTTP_GET, "/a/{id}", h_a, 0, NULL},
        {HTTP_GET, "/b", h_a, 0, NULL},
    };
    static const struct http_route same_literal[] = {{HTTP_GET, "/b", h_b, 0, NULL}};
    static const struct http_route renamed_param[] = {{HTTP_GET, "/a/{other}", h_b, 0, NULL}};
    static const struct http_route other_method[] = {{HTTP_POST, "/a/{x}", h_b, 0, NULL}};
    static const struct http_route in_one_table[] = {
        {HTTP_GET, "/c", h_a, 0, NULL},
        {HTTP_GET, "/c", h_b, 0, NULL},
    };
    static const struct http_route literal_vs_param[] = {{HTTP_GET, "/a/b", h_b, 0, NULL}};

    struct http_router *rt = http_router_new();
    CHECK_EQ_INT(http_router_add(rt, a, 2), OK);
    CHECK_EQ_INT(http_router_add(rt, same_literal, 1), ERR_CONFLICT);
    CHECK_EQ_INT(http_router_add(rt, renamed_param, 1), ERR_CONFLICT);
    CHECK_EQ_INT(http_router_add(rt, other_method, 1), OK);
    CHECK_EQ_INT(http_router_add(rt, literal_vs_param, 1), OK);
    CHECK_EQ_INT(http_router_count(rt), 4);
    http_router_free(rt);

    rt = http_router_new();
    CHECK_EQ_INT(http_router_add(rt, in_one_table, 2), ERR_CONFLICT);
    http_router_free(rt);

    /* many routes: the table grows past its first allocation */
    static struct http_route many[100];
    static char paths[100][32];
    for (int i = 0; i < 100; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/r%d/{id}", i);
        many[i] = (struct http_route){HTTP_GET, paths[i], h_a, 0, NULL};
    }
    rt = http_router_new();
    CHECK_EQ_INT(http_router_add(rt, many, 100), OK);
    CHECK_EQ_INT(http_router_count(rt), 100);
    struct result r = match(rt, HTTP_GET, "/r77/x");
    CHECK_EQ_INT(r.m, HTTP_MATCH_OK);
    CHECK(r.route == &many[77]);
    CHECK_EQ_INT(r.index, 77);
    http_router_free(rt);
}

static void
test_malformed(void)
{
    static const char *const bad[] = {
        "",                                        /* empty */
        "api",                                     /* no leading slash */
        "/a/",                                     /* trailing slash */
        "//a",                                     /* empty segment */
        "/a//b",                                   /* empty segment */
        "/{}",                                     /* parameter without a name */
        "/{id",                                    /* unclosed */
        "/{id}x",                                  /* text after the parameter */
        "/a/{0123456789012345678901234567890123}", /* name too long */
        "/1/2/3/4/5/6/7/8/9",                      /* more segments than the router holds */
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_route r = {HTTP_GET, bad[i], h_a, 0, NULL};
        struct http_router *rt = http_router_new();
        if (http_router_add(rt, &r, 1) != ERR_INVALID) {
            fprintf(stderr, "malformed pattern \"%s\" accepted\n", bad[i]);
            ok = false;
        }
        http_router_free(rt);
    }
    CHECK(ok);

    /* eight segments are fine */
    struct http_route eight = {HTTP_GET, "/1/2/3/4/5/6/7/8", h_a, 0, NULL};
    struct http_router *rt = http_router_new();
    CHECK_EQ_INT(http_router_add(rt, &eight, 1), OK);
    CHECK_EQ_INT(match(rt, HTTP_GET, "/1/2/3/4/5/6/7/8").m, HTTP_MATCH_OK);
    http_router_free(rt);
}

static void
test_too_many_params(void)
{
    /* A request carries at most HTTP_MAX_PARAMS parameters. A pattern with
     * more can never match; the router must refuse it when it is added
     * rather than accept a route that silently answers 404 forever. */
    static const struct http_route five[] = {{HTTP_GET, "/{a}/{b}/{c}/{d}/{e}", h_a, 0, NULL}};
    struct http_router *rt = http_router_new();
    int rc = http_router_add(rt, five, 1);
    struct result r = match(rt, HTTP_GET, "/1/2/3/4/5");
    CHECK(rc == ERR_INVALID || r.m == HTTP_MATCH_OK);
    http_router_free(rt);
}

int
main(void)
{
    /* the router logs refused patterns at error level: keep the output quiet */
    log_init((enum log_level)(LOG_ERROR + 1), LOG_TEXT);
    test_methods();
    struct http_router *rt = http_router_new();
    CHECK_EQ_INT(http_router_add(rt, routes, NROUTES), OK);
    test_literal_and_params(rt);
    test_not_found(rt);
    test_trailing_slash(rt);
    test_root(rt);
    test_method_mismatch(rt);
    test_head(rt);
    test_count_and_at(rt);
    http_router_free(rt);
    test_first_match_wins();
    test_duplicates();
    test_malformed();
    test_too_many_params();
    return check_done();
}
