/* libFuzzer target for request bodies: jparse() on untrusted bytes, then the
 * parsed value written back with the jw writer and parsed again. Aborts when
 * a refusal has no reason, when the writer's output is not valid JSON, or
 * when it does not hold the same value (reals to jw_double's precision). */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/jparse.h"
#include "util/jw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
write_value(struct jw *w, json_t *v)
{
    const char *key;
    json_t *x;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        jw_obj_begin(w);
        json_object_foreach(v, key, x)
        {
            jw_key(w, key);
            write_value(w, x);
        }
        jw_obj_end(w);
        break;
    case JSON_ARRAY:
        jw_arr_begin(w);
        json_array_foreach(v, i, x) write_value(w, x);
        jw_arr_end(w);
        break;
    case JSON_STRING:
        jw_strn(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        jw_int(w, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        jw_double(w, json_real_value(v));
        break;
    case JSON_TRUE:
        jw_bool(w, true);
        break;
    case JSON_FALSE:
        jw_bool(w, false);
        break;
    case JSON_NULL:
        jw_null(w);
        break;
    }
}

/* Equal values; b was parsed from the writer's output for a. A real may come
 * back as an integer ("%.6g" prints 3.0 as 3) and only to 6 digits. */
static bool
same(json_t *a, json_t *b)
{
    if (json_is_real(a)) {
        if (!json_is_number(b))
            return false;
        double x = json_real_value(a), y = json_number_value(b);
        return fabs(x - y) <= 1e-5 * fmax(fabs(x), fabs(y));
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *key;
        json_t *x;
        json_object_foreach(a, key, x)
        {
            json_t *y = json_object_get(b, key);
            if (y == NULL || !same(x, y))
                return false;
        }
        return true;
    }
    case JSON_ARRAY: {
        if (json_array_size(a) != json_array_size(b))
            return false;
        size_t i;
        json_t *x;
        json_array_foreach(a, i, x)
        {
            if (!same(x, json_array_get(b, i)))
                return false;
        }
        return true;
    }
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_INTEGER:
        return json_integer_value(a) == json_integer_value(b);
    default:
        return true; /* true, false, null: the type says it all */
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jparse_error e;
    json_t *v = jparse((const char *)data, size, &e);
    if (v == NULL) {
        if (e.reason == NULL)
            abort(); /* every refusal says why */
        return 0;
    }
    if (e.reason != NULL)
        abort();

    struct buf b;
    buf_init(&b, NULL, 256);
    struct jw w;
    jw_init(&w, &b);
    write_value(&w, v);
    if (w.depth != 0)
        abort();

    json_error_t je;
    json_t *again = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (again == NULL) {
        fprintf(stderr, "writer output does not parse (%s at %d): %.*s\n", je.text, je.position, (int)b.len,
                b.data);
        abort();
    }
    if (!same(v, again)) {
        fprintf(stderr, "writer output holds another value: %.*s\n", (int)b.len, b.data);
        abort();
    }
    /* the output passes the same caps as the input did */
    struct jparse_error e2;
    json_t *third = jparse(b.data, b.len, &e2);
    if (third == NULL) {
        fprintf(stderr, "writer output refused by jparse (%s): %.*s\n", e2.reason, (int)b.len, b.data);
        abort();
    }
    json_decref(third);
    json_decref(again);
    json_decref(v);
    buf_cleanup(&b);
    return 0;
}
