/* List pages: limit, cursor, scope, page tag and envelope (api/list.h). */
#include <string.h>

#include "api/api.h"
#include "api/etag.h"
#include "api/list.h"

unsigned char *
api_list_scope_init(struct api_list_scope *s, char resource, int64_t user_id, size_t len)
{
    memset(s->bytes, 0, sizeof(s->bytes));
    s->len = len;
    s->bytes[0] = (unsigned char)resource;
    for (int i = 0; i < 8; i++)
        s->bytes[1 + i] = (unsigned char)((uint64_t)user_id >> (56 - 8 * i));
    return s->bytes + API_LIST_SCOPE_HEAD;
}

/* 1..max written in decimal with at most 3 digits (leading zeros allowed). */
static bool
parse_limit(const char *s, size_t max, size_t *out)
{
    size_t n = strlen(s), v = 0;
    if (n == 0 || n > 3)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    if (v < 1 || v > max)
        return false;
    *out = v;
    return true;
}

bool
api_list_limit(struct http_req *r, size_t max, size_t *limit)
{
    const char *v = http_req_query(r, "limit");
    if (v == NULL || parse_limit(v, max, limit))
        return true;
    api_reply_bad_param(r, "limit", arena_printf(&r->arena, "must be an integer from 1 to %zu", max));
    return false;
}

bool
api_list_cursor(struct http_req *r, const struct api_list_scope *s, bool *has, struct api_cursor_pos *pos)
{
    *has = false;
    const char *v = http_req_query(r, "cursor");
    if (v == NULL)
        return true;
    if (!api_cursor_decode(api_cursor_key(), s->bytes, s->len, v, strlen(v), pos)) {
        api_reply_invalid_cursor(r);
        return false;
    }
    *has = true;
    return true;
}

const char *
api_list_cursor_make(const struct api_list_scope *s, const struct api_cursor_pos *pos,
                     char out[API_CURSOR_TEXT + 1])
{
    api_cursor_encode(api_cursor_key(), s->bytes, s->len, pos, out);
    return out;
}

enum { TAG_HASH = 16 };

void
api_list_etag_init(struct api_list_etag *e, const char *salt)
{
    crypto_generichash_init(&e->st, (const unsigned char *)salt, salt != NULL ? strlen(salt) : 0, TAG_HASH);
}

const char *
api_list_etag_end(struct api_list_etag *e, struct http_req *r, const char *next)
{
    unsigned char h[TAG_HASH];
    crypto_generichash_update(&e->st, (const unsigned char *)(next != NULL ? next : ""),
                              next != NULL ? strlen(next) + 1 : 0);
    crypto_generichash_final(&e->st, h, sizeof(h));
    char *tag = arena_alloc(&r->arena, 3 + 1 + 2 * sizeof(h) + 2);
    memcpy(tag, "W/\"l", 4);
    sodium_bin2hex(tag + 4, 2 * sizeof(h) + 1, h, sizeof(h));
    tag[4 + 2 * sizeof(h)] = '"';
    tag[5 + 2 * sizeof(h)] = '\0';
    return tag;
}

struct jw *
api_list_begin(struct http_req *r, size_t size)
{
    struct jw *w = http_reply_json_begin(r, 200);
    buf_reserve(&r->out, size);
    jw_obj_begin(w);
    jw_key(w, "items");
    jw_arr_begin(w);
    return w;
}

void
api_list_end(struct http_req *r, struct jw *w, const char *next, const char *tag)
{
    jw_arr_end(w);
    jw_key(w, "next_cursor");
    if (next != NULL)
        jw_strn(w, next, API_CURSOR_TEXT);
    else
        jw_null(w);
    jw_obj_end(w);
    api_etag_header(r, tag);
}
