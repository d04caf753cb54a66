/* Reply helpers: they only fill the response fields of struct http_req;
 * server.c sends them on the loop thread. Problem bodies follow RFC 9457
 * and always carry the request id. */
#include <assert.h>
#include <ctype.h>
#include <string.h>

#include "http/http.h"

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
    assert(r->nres_headers < HTTP_MAX_RES_HEADERS);
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

/* The value of hex digit c into *v; false when c is not one. */
static bool
hexval(char c, int *v)
{
    if (c >= '0' && c <= '9') {
        *v = c - '0';
        return true;
    }
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f') {
        *v = c - 'a' + 10;
        return true;
    }
    return false;
}

/* Percent-decodes s[0..n) into the arena ('+' is a space, per forms). */
static char *
decode(struct arena *a, const char *s, size_t n)
{
    char *out = arena_alloc(a, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1], &hi) && hexval(s[i + 2], &lo)) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

const char *
http_req_query(struct http_req *r, const char *name)
{
    if (r->query == NULL)
        return NULL;
    size_t nl = strlen(name);
    const char *p = r->query, *end = r->query + r->query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq != NULL ? eq : pe;
        if ((size_t)(ke - p) == nl && memcmp(p, name, nl) == 0) {
            const char *v = eq != NULL ? eq + 1 : pe;
            return decode(&r->arena, v, (size_t)(pe - v));
        }
        p = pe + 1;
    }
    return NULL;
}
