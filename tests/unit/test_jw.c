/* Unit tests for util/jw: exact output for nesting, commas, escaping,
 * UTF-8 repair, numbers and literals; then random documents, including
 * random bytes as strings, parsed back with jansson to prove validity. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "util/buf.h"
#include "util/jw.h"

static struct buf out;
static struct jw w;

static void
reset(void)
{
    out.len = 0;
    jw_init(&w, &out);
}

/* The writer's output so far, NUL-terminated for comparison. */
static const char *
text(void)
{
    *buf_reserve(&out, 1) = '\0';
    return out.data;
}

static void
test_literals(void)
{
    reset();
    jw_null(&w);
    CHECK_EQ_STR(text(), "null");
    reset();
    jw_bool(&w, true);
    CHECK_EQ_STR(text(), "true");
    reset();
    jw_bool(&w, false);
    CHECK_EQ_STR(text(), "false");
    reset();
    jw_str(&w, "");
    CHECK_EQ_STR(text(), "\"\"");
    reset();
    jw_str_or_null(&w, NULL);
    CHECK_EQ_STR(text(), "null");
    reset();
    jw_str_or_null(&w, "x");
    CHECK_EQ_STR(text(), "\"x\"");
}

static void
test_containers(void)
{
    reset();
    jw_obj_begin(&w);
    jw_obj_end(&w);
    CHECK_EQ_STR(text(), "{}");

    reset();
    jw_arr_begin(&w);
    jw_arr_end(&w);
    CHECK_EQ_STR(text(), "[]");

    reset();
    jw_arr_begin(&w);
    jw_arr_begin(&w);
    jw_arr_end(&w);
    jw_arr_begin(&w);
    jw_arr_end(&w);
    jw_obj_begin(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    CHECK_EQ_STR(text(), "[[],[],{}]");

    reset();
    jw_obj_begin(&w);
    jw_key(&w, "a");
    jw_int(&w, 1);
    jw_key(&w, "b");
    jw_arr_begin(&w);
    jw_int(&w, 1);
    jw_int(&w, 2);
    jw_obj_begin(&w);
    jw_key(&w, "c");
    jw_null(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_key(&w, "d");
    jw_obj_begin(&w);
    jw_obj_end(&w);
    jw_key(&w, "e");
    jw_str_or_null(&w, NULL);
    jw_key(&w, "f");
    jw_str_or_null(&w, "v");
    jw_key(&w, "g");
    jw_bool(&w, true);
    jw_obj_end(&w);
    CHECK_EQ_STR(text(), "{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":{},\"e\":null,\"f\":\"v\",\"g\":true}");

    /* objects inside an array: the comma goes between the objects only */
    reset();
    jw_arr_begin(&w);
    for (int i = 0; i < 3; i++) {
        jw_obj_begin(&w);
        jw_key(&w, "id");
        jw_int(&w, i);
        jw_key(&w, "tags");
        jw_arr_begin(&w);
        jw_arr_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    CHECK_EQ_STR(text(), "[{\"id\":0,\"tags\":[]},{\"id\":1,\"tags\":[]},{\"id\":2,\"tags\":[]}]");

    /* an empty container as the first value after a key, then more members */
    reset();
    jw_obj_begin(&w);
    jw_key(&w, "x");
    jw_arr_begin(&w);
    jw_arr_end(&w);
    jw_key(&w, "y");
    jw_int(&w, 0);
    jw_obj_end(&w);
    CHECK_EQ_STR(text(), "{\"x\":[],\"y\":0}");
}

static void
test_max_depth(void)
{
    reset();
    for (int i = 0; i < JW_MAX_DEPTH; i++)
        jw_arr_begin(&w);
    jw_int(&w, 7);
    for (int i = 0; i < JW_MAX_DEPTH; i++)
        jw_arr_end(&w);
    char expect[2 * JW_MAX_DEPTH + 2];
    memset(expect, '[', JW_MAX_DEPTH);
    expect[JW_MAX_DEPTH] = '7';
    memset(expect + JW_MAX_DEPTH + 1, ']', JW_MAX_DEPTH);
    expect[2 * JW_MAX_DEPTH + 1] = '\0';
    CHECK_EQ_STR(text(), expect);
    CHECK_EQ_INT(w.depth, 0);

    /* deep objects with a sibling after each close */
    reset();
    for (int i = 0; i < JW_MAX_DEPTH; i++) {
        jw_obj_begin(&w);
        jw_key(&w, "k");
    }
    jw_null(&w);
    for (int i = 0; i < JW_MAX_DEPTH; i++)
        jw_obj_end(&w);
    json_error_t je;
    json_t *v = json_loadb(out.data, out.len, 0, &je);
    CHECK(v != NULL);
    json_decref(v);
}

static void
test_numbers(void)
{
    reset();
    jw_arr_begin(&w);
    jw_int(&w, 0);
    jw_int(&w, -1);
    jw_int(&w, INT64_MAX);
    jw_int(&w, INT64_MIN);
    jw_uint(&w, 0);
    jw_uint(&w, UINT64_MAX);
    jw_arr_end(&w);
    CHECK_EQ_STR(text(), "[0,-1,9223372036854775807,-9223372036854775808,0,18446744073709551615]");

    struct {
        double v;
        const char *s;
    } cases[] = {
        {0.0, "0"},
        {1.0, "1"},
        {-2.25, "-2.25"},
        {1.5, "1.5"},
        {0.1, "0.1"},
        {1.0 / 3, "0.333333"},
        {1234567.0, "1.23457e+06"},
        {1e21, "1e+21"},
        {1e-7, "1e-07"},
        {123456.0, "123456"},
        {-0.5, "-0.5"},
        {72.35, "72.35"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reset();
        jw_double(&w, cases[i].v);
        CHECK_EQ_STR(text(), cases[i].s);
        json_error_t je;
        json_t *v = json_loadb(out.data, out.len, JSON_DECODE_ANY, &je);
        CHECK(v != NULL && json_is_number(v));
        json_decref(v);
    }

    /* not finite: null, and the comma still placed */
    reset();
    jw_arr_begin(&w);
    jw_double(&w, NAN);
    jw_double(&w, INFINITY);
    jw_double(&w, -INFINITY);
    jw_double(&w, 2.5);
    jw_arr_end(&w);
    CHECK_EQ_STR(text(), "[null,null,null,2.5]");

    reset();
    jw_obj_begin(&w);
    jw_key(&w, "nan");
    jw_double(&w, NAN);
    jw_key(&w, "x");
    jw_double(&w, 1.25);
    jw_obj_end(&w);
    CHECK_EQ_STR(text(), "{\"nan\":null,\"x\":1.25}");
}

static void
test_raw(void)
{
    reset();
    jw_arr_begin(&w);
    jw_int(&w, 1);
    jw_raw(&w, "{\"x\":[1,2]}", 11);
    jw_raw(&w, "null", 4);
    jw_arr_end(&w);
    CHECK_EQ_STR(text(), "[1,{\"x\":[1,2]},null]");

    reset();
    jw_obj_begin(&w);
    jw_key(&w, "r");
    jw_raw(&w, "[]", 2);
    jw_key(&w, "s");
    jw_str(&w, "t");
    jw_obj_end(&w);
    CHECK_EQ_STR(text(), "{\"r\":[],\"s\":\"t\"}");
}

static void
test_escaping(void)
{
    reset();
    jw_str(&w, "q\"b\\s/");
    CHECK_EQ_STR(text(), "\"q\\\"b\\\\s/\"");

    reset();
    jw_str(&w, "\n\r\t\b\f\x01\x1f\x7f");
    CHECK_EQ_STR(text(), "\"\\n\\r\\t\\u0008\\u000c\\u0001\\u001f\x7f\"");

    /* every control character becomes an escape */
    bool ok = true;
    for (int c = 1; c < 0x20; c++) {
        reset();
        char s[2] = {(char)c, '\0'};
        jw_str(&w, s);
        const char *t = text();
        if (c == '\n' || c == '\r' || c == '\t') {
            if (strlen(t) != 4 || t[1] != '\\')
                ok = false;
        } else {
            char expect[16];
            snprintf(expect, sizeof(expect), "\"\\u00%02x\"", c);
            if (strcmp(t, expect) != 0)
                ok = false;
        }
    }
    CHECK(ok);

    /* a NUL byte inside a counted string */
    reset();
    jw_strn(&w, "a\0b", 3);
    CHECK_EQ_STR(text(), "\"a\\u0000b\"");

    /* keys are escaped too */
    reset();
    jw_obj_begin(&w);
    jw_key(&w, "k\"\n\\");
    jw_str(&w, "v");
    jw_obj_end(&w);
    CHECK_EQ_STR(text(), "{\"k\\\"\\n\\\\\":\"v\"}");

    /* jw_escape alone writes content only, no quotes */
    struct buf b;
    buf_init(&b, NULL, 0);
    jw_escape(&b, "x\"y", 3);
    buf_appendc(&b, '\0');
    CHECK_EQ_STR(b.data, "x\\\"y");
    b.len = 0;
    jw_escape(&b, "", 0);
    CHECK_EQ_INT(b.len, 0);
    buf_cleanup(&b);
}

#define FFFD "\xEF\xBF\xBD"

static void
test_utf8(void)
{
    static const char *const valid[] = {
        "caf\xC3\xA9",      /* é */
        "\xE2\x82\xAC",     /* € */
        "\xF0\x9F\x98\x80", /* U+1F600 */
        "\xF4\x8F\xBF\xBF", /* U+10FFFF */
        "\xC2\x80",         /* U+0080 */
        "\xEF\xBF\xBF",     /* U+FFFF */
        "\xE0\xA0\x80",     /* U+0800 */
        "\xF0\x90\x80\x80", /* U+10000 */
        "\xE2\x80\xA8",     /* U+2028 is valid JSON */
        "\xED\x9F\xBF",     /* U+D7FF, just below the surrogates */
        "\xEE\x80\x80",     /* U+E000, just above */
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        reset();
        jw_str(&w, valid[i]);
        char expect[64];
        snprintf(expect, sizeof(expect), "\"%s\"", valid[i]);
        if (strcmp(text(), expect) != 0) {
            fprintf(stderr, "valid UTF-8 case %zu changed: %s\n", i, text());
            ok = false;
        }
    }
    CHECK(ok);

    struct {
        const char *in;
        const char *out;
    } bad[] = {
        {"\xFF", FFFD},
        {"a\xC3", "a" FFFD},     /* truncated 2-byte */
        {"\xE2\x82", FFFD FFFD}, /* truncated 3-byte */
        {"\xE2\x82z", FFFD FFFD "z"},
        {"\xC0\xAF", FFFD FFFD},                   /* overlong '/' */
        {"\xC1\xBF", FFFD FFFD},                   /* overlong */
        {"\xE0\x80\xAF", FFFD FFFD FFFD},          /* overlong 3-byte */
        {"\xF0\x80\x80\xAF", FFFD FFFD FFFD FFFD}, /* overlong 4-byte */
        {"\xED\xA0\x80", FFFD FFFD FFFD},          /* surrogate U+D800 */
        {"\xED\xBF\xBF", FFFD FFFD FFFD},          /* surrogate U+DFFF */
        {"\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD}, /* above U+10FFFF */
        {"\xF5\x80\x80\x80", FFFD FFFD FFFD FFFD},
        {"\x80", FFFD},                    /* lone continuation */
        {"\xC3\xA9\xA9", "\xC3\xA9" FFFD}, /* é then a stray byte */
        {"x\xFEy\"", "x" FFFD "y\\\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reset();
        jw_str(&w, bad[i].in);
        char expect[64];
        snprintf(expect, sizeof(expect), "\"%s\"", bad[i].out);
        CHECK_EQ_STR(text(), expect);
        json_error_t je;
        json_t *v = json_loadb(out.data, out.len, JSON_DECODE_ANY, &je);
        CHECK(v != NULL);
        json_decref(v);
    }

    /* a counted string that ends inside a multibyte sequence */
    reset();
    jw_strn(&w, "\xE2\x82\xAC", 2);
    CHECK_EQ_STR(text(), "\"" FFFD FFFD "\"");
}

/* ---- random documents ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Random bytes, biased towards the interesting ones. */
static size_t
random_bytes(char *s, size_t cap)
{
    static const char *const pieces[] = {"\"",
                                         "\\",
                                         "\n",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\xC3\xA9",
                                         "\xE2\x82\xAC",
                                         "\xF0\x9F\x98\x80",
                                         "\xFF",
                                         "\xC3",
                                         "\xED\xA0\x80",
                                         "\xE2\x82",
                                         "a",
                                         "/",
                                         "\0",
                                         "\xF4\x90\x80\x80",
                                         "\t",
                                         "u",
                                         "{[",
                                         "\xC0\xAF"};
    size_t n = 0;
    size_t parts = rnd() % 12;
    for (size_t i = 0; i < parts; i++) {
        if (rnd() % 3 == 0) {
            if (n + 1 < cap)
                s[n++] = (char)(rnd() & 0xff);
        } else {
            const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
            size_t l = p[0] == '\0' ? 1 : strlen(p);
            if (n + l < cap) {
                memcpy(s + n, p, l);
                n += l;
            }
        }
    }
    return n;
}

/* Writes a random value and appends the leaf it must parse back to onto
 * `expect`: integers and strings that are valid UTF-8 exactly (they must
 * come back byte for byte), anything else as a null placeholder. */
static void
write_random(int depth, json_t *expect)
{
    char s[128];
    unsigned kind = rnd() % (depth >= JW_MAX_DEPTH ? 6 : 8);
    switch (kind) {
    case 0:
        jw_null(&w);
        json_array_append_new(expect, json_null());
        break;
    case 1:
        jw_bool(&w, rnd() & 1);
        json_array_append_new(expect, json_null());
        break;
    case 2: {
        int64_t v = (int64_t)(((uint64_t)rnd() << 32) | rnd());
        jw_int(&w, v);
        json_array_append_new(expect, json_integer(v));
        break;
    }
    case 3: {
        double d = (double)(int32_t)rnd() / (double)(rnd() % 1000 + 1);
        jw_double(&w, d);
        json_array_append_new(expect, json_null());
        break;
    }
    case 4:
    case 5: {
        size_t n = random_bytes(s, sizeof(s));
        jw_strn(&w, s, n);
        /* json_stringn refuses invalid UTF-8; valid strings must round-trip */
        json_t *js = json_stringn(s, n);
        json_array_append_new(expect, js != NULL ? js : json_null());
        break;
    }
    case 6: {
        jw_arr_begin(&w);
        unsigned k = rnd() % 5;
        for (unsigned i = 0; i < k; i++)
            write_random(depth + 1, expect);
        jw_arr_end(&w);
        break;
    }
    default: {
        jw_obj_begin(&w);
        unsigned k = rnd() % 5;
        for (unsigned i = 0; i < k; i++) {
            /* unique keys, so that jansson keeps every member */
            int p = snprintf(s, sizeof(s), "%u:", i);
            size_t n = random_bytes(s + p, sizeof(s) - (size_t)p - 1);
            s[(size_t)p + n] = '\0';
            jw_key(&w, s); /* keys stop at the first NUL */
            write_random(depth + 1, expect);
        }
        jw_obj_end(&w);
        break;
    }
    }
}

/* Collects the leaves of v in document order, the way write_random
 * recorded them (containers are not recorded). */
static void
collect(json_t *v, json_t *leaves)
{
    size_t i;
    json_t *x;
    const char *k;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) collect(x, leaves);
    } else if (json_is_object(v)) {
        /* jansson keeps insertion order for iteration */
        json_object_foreach(v, k, x) collect(x, leaves);
    } else {
        json_array_append(leaves, v);
    }
}

static void
test_random_documents(void)
{
    int parsed = 0, strings_ok = 0, mismatches = 0, docs = 2000;
    for (int iter = 0; iter < docs; iter++) {
        reset();
        json_t *expect = json_array();
        jw_arr_begin(&w);
        unsigned k = rnd() % 6;
        for (unsigned i = 0; i < k; i++)
            write_random(1, expect);
        jw_arr_end(&w);
        if (w.depth != 0)
            mismatches++;
        json_error_t je;
        json_t *v = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &je);
        if (v == NULL) {
            fprintf(stderr, "random doc %d does not parse (%s at %d): %.*s\n", iter, je.text, je.position,
                    (int)out.len, out.data);
            json_decref(expect);
            continue;
        }
        parsed++;
        json_t *leaves = json_array();
        collect(v, leaves);
        if (json_array_size(leaves) != json_array_size(expect)) {
            mismatches++;
        } else {
            size_t i;
            json_t *e;
            json_array_foreach(expect, i, e)
            {
                json_t *got = json_array_get(leaves, i);
                if (json_is_string(e)) {
                    if (json_is_string(got) && json_string_length(got) == json_string_length(e) &&
                        memcmp(json_string_value(got), json_string_value(e), json_string_length(e)) == 0)
                        strings_ok++;
                    else
                        mismatches++;
                } else if (json_is_integer(e)) {
                    if (!json_is_integer(got) || json_integer_value(got) != json_integer_value(e))
                        mismatches++;
                }
            }
        }
        json_decref(leaves);
        json_decref(v);
        json_decref(expect);
    }
    CHECK_EQ_INT(parsed, docs);
    CHECK(strings_ok > 100); /* the comparison really ran */
    CHECK_EQ_INT(mismatches, 0);
}

int
main(void)
{
    buf_init(&out, NULL, 0);
    test_literals();
    test_containers();
    test_max_depth();
    test_numbers();
    test_raw();
    test_escaping();
    test_utf8();
    test_random_documents();
    buf_cleanup(&out);
    return check_done();
}
