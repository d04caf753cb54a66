/* Reply helpers: they only fill the response fields of struct http_req;
 * server.c sends them on the loop thread. Problem bodies follow RFC 9457
 * and always carry the request id. */
#include <assert.h>
#include <string.h>

#include "http/http.h"
#include "http/query.h"
#include "util/log.h"

static void
begin(struct http_req *r, int status, const char *content_type)
{
    assert(!r->replied);
    r->replied = true;
    r->status = status;
    r->content_type = content_type;
    r->out.len = 0;
    if (r->out.arena == NULL)
        buf_init(&r->out, &r->arena, 0);
}

struct jw *
http_reply_json_begin(struct http_req *r, int status)
{
    begin(r, status, "application/json");
    struct jw *w = arena_alloc(&r->arena, sizeof(*w));
    jw_init(w, &r->out);
    return w;
}

void
http_reply_raw(struct http_req *r, int status, const char *content_type, const char *body, size_t len)
{
    begin(r, status, content_type);
    buf_append(&r->out, body, len);
}

void
http_reply_empty(struct http_req *r, int status)
{
    begin(r, status, NULL);
}

struct jw *
http_reply_problem_begin(struct http_req *r, int status, const char *code, const char *title,
                         const char *detail)
{
    begin(r, status, "application/problem+json");
    struct jw *w = arena_alloc(&r->arena, sizeof(*w));
    jw_init(w, &r->out);
    jw_obj_begin(w);
    jw_key(w, "status");
    jw_int(w, status);
    jw_key(w, "code");
    jw_str(w, code);
    jw_key(w, "title");
    jw_str(w, title);
    jw_key(w, "detail");
    jw_str(w, detail != NULL ? detail : title);
    jw_key(w, "request_id");
    jw_str(w, r->request_id);
    return w;
}

void
http_reply_problem(struct http_req *r, int status, const char *code, const char *title, const char *detail)
{
    struct jw *w = http_reply_problem_begin(r, status, code, title, detail);
    jw_obj_end(w);
}

void
http_reply_header(struct http_req *r, const char *name, const char *value)
{
    /* A handler that sets more headers than a reply holds is a bug: found
     * by the assertion in tests, never an overflow in a release build. */
    assert(r->nres_headers < HTTP_MAX_RES_HEADERS);
    if (r->nres_headers >= HTTP_MAX_RES_HEADERS) {
        log_error("http", "response header %s dropped: more than %d", name, (int)HTTP_MAX_RES_HEADERS);
        return;
    }
    struct http_kv *h = &r->res_headers[r->nres_headers++];
    size_t vl = strlen(value);
    h->name = arena_strndup(&r->arena, name, strlen(name));
    h->value = arena_strndup(&r->arena, value, vl);
    h->value_len = vl;
}

const char *
http_req_param(struct http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0)
            return r->params[i].value;
    return NULL;
}

const char *
http_req_query(struct http_req *r, const char *name)
{
    return http_query_get(&r->arena, r->query, r->query_len, name);
}
