/* Streaming JSON writer. Invariant: has_items[depth] says whether the
 * container at that depth already holds a value, so the next needs a comma. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/jw.h"

void
jw_init(struct jw *w, struct buf *b)
{
    w->b = b;
    w->depth = 0;
    w->after_key = false;
    w->has_items[0] = false;
}

static void
before_value(struct jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->has_items[w->depth])
        buf_appendc(w->b, ',');
    w->has_items[w->depth] = true;
}

static void
open(struct jw *w, char c)
{
    before_value(w);
    assert(w->depth < JW_MAX_DEPTH);
    buf_appendc(w->b, c);
    w->depth++;
    w->has_items[w->depth] = false;
}

static void
close(struct jw *w, char c)
{
    assert(w->depth > 0 && !w->after_key);
    w->depth--;
    buf_appendc(w->b, c);
}

void
jw_obj_begin(struct jw *w)
{
    open(w, '{');
}

void
jw_obj_end(struct jw *w)
{
    close(w, '}');
}

void
jw_arr_begin(struct jw *w)
{
    open(w, '[');
}

void
jw_arr_end(struct jw *w)
{
    close(w, ']');
}

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned min;
    unsigned cp;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        len = 2, min = 0x80, cp = c & 0x1F;
    } else if (c < 0xF0) {
        len = 3, min = 0x800, cp = c & 0x0F;
    } else if (c < 0xF5) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void
jw_escape(struct buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* start of bytes copied verbatim */
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_len(s + i, n - i);
            if (l != 0) {
                i += l;
                continue;
            }
        }
        buf_append(b, s + run, i - run);
        switch (c) {
        case '"':
            buf_append(b, "\\\"", 2);
            break;
        case '\\':
            buf_append(b, "\\\\", 2);
            break;
        case '\n':
            buf_append(b, "\\n", 2);
            break;
        case '\r':
            buf_append(b, "\\r", 2);
            break;
        case '\t':
            buf_append(b, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(b, e, sizeof(e));
            } else {
                buf_append(b, "\xEF\xBF\xBD", 3); /* invalid UTF-8 byte */
            }
        }
        i++;
        run = i;
    }
    buf_append(b, s + run, n - run);
}

void
jw_key(struct jw *w, const char *key)
{
    assert(!w->after_key);
    before_value(w);
    buf_appendc(w->b, '"');
    jw_escape(w->b, key, strlen(key));
    buf_append(w->b, "\":", 2);
    w->after_key = true;
}

void
jw_strn(struct jw *w, const char *s, size_t n)
{
    before_value(w);
    buf_appendc(w->b, '"');
    jw_escape(w->b, s, n);
    buf_appendc(w->b, '"');
}

void
jw_str(struct jw *w, const char *s)
{
    jw_strn(w, s, strlen(s));
}

void
jw_str_or_null(struct jw *w, const char *s)
{
    if (s == NULL)
        jw_null(w);
    else
        jw_str(w, s);
}

void
jw_int(struct jw *w, int64_t v)
{
    before_value(w);
    buf_append_i64(w->b, v);
}

void
jw_uint(struct jw *w, uint64_t v)
{
    before_value(w);
    buf_append_u64(w->b, v);
}

void
jw_double(struct jw *w, double v)
{
    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    before_value(w);
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%.6g", v);
    buf_append(w->b, tmp, (size_t)n);
}

void
jw_bool(struct jw *w, bool v)
{
    before_value(w);
    if (v)
        buf_append(w->b, "true", 4);
    else
        buf_append(w->b, "false", 5);
}

void
jw_null(struct jw *w)
{
    before_value(w);
    buf_append(w->b, "null", 4);
}

void
jw_raw(struct jw *w, const char *json, size_t n)
{
    before_value(w);
    buf_append(w->b, json, n);
}
