/* Unit tests for util/jparse: the empty-body, depth and duplicate-key caps,
 * brackets inside strings, and positions for invalid JSON. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "util/jparse.h"

static json_t *
parse(const char *s, struct jparse_error *e)
{
    return jparse(s, strlen(s), e);
}

/* n opening brackets, a value, n closing ones; caller frees. */
static char *
nested(int n, char open, char close, const char *inner)
{
    size_t il = strlen(inner);
    char *s = malloc((size_t)n * 2 + il + 1);
    memset(s, open, (size_t)n);
    memcpy(s + n, inner, il);
    memset(s + n + il, close, (size_t)n);
    s[2 * (size_t)n + il] = '\0';
    return s;
}

/* {"a":{"a":...{"a":1}...}} with n objects; caller frees. */
static char *
nested_objects(int n)
{
    size_t cap = (size_t)n * 6 + 8;
    char *s = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        memcpy(s + len, "{\"a\":", 5);
        len += 5;
    }
    s[len++] = '1';
    for (int i = 0; i < n; i++)
        s[len++] = '}';
    s[len] = '\0';
    return s;
}

static void
test_valid(void)
{
    struct jparse_error e;
    json_t *v = parse("{\"name\":\"x\",\"n\":[1,2.5,true,null],\"o\":{}}", &e);
    CHECK(v != NULL);
    CHECK(e.reason == NULL);
    CHECK(json_is_object(v));
    CHECK_EQ_STR(json_string_value(json_object_get(v, "name")), "x");
    CHECK_EQ_INT(json_array_size(json_object_get(v, "n")), 4);
    json_decref(v);

    /* any value at the top, with surrounding whitespace */
    v = parse(" \r\n\t 42 \n", &e);
    CHECK(v != NULL && json_is_integer(v) && json_integer_value(v) == 42);
    json_decref(v);
    v = parse("\"s\"", &e);
    CHECK(v != NULL && json_is_string(v));
    json_decref(v);
    v = parse("null", &e);
    CHECK(v != NULL && json_is_null(v));
    json_decref(v);

    /* only n bytes are read: no terminator needed */
    const char buf[] = {'[', '1', ']', 'x', 'x'};
    v = jparse(buf, 3, &e);
    CHECK(v != NULL && json_is_array(v));
    json_decref(v);
}

static void
test_empty(void)
{
    struct jparse_error e;
    CHECK(jparse("", 0, &e) == NULL);
    CHECK_EQ_STR(e.reason, "the body is empty");
    CHECK(jparse(NULL, 0, &e) == NULL);
    CHECK_EQ_STR(e.reason, "the body is empty");
    CHECK(parse(" \t\r\n  ", &e) == NULL);
    CHECK_EQ_STR(e.reason, "the body is empty");
    CHECK_EQ_INT(e.line, 0);
    CHECK_EQ_INT(e.column, 0);
}

static void
test_depth(void)
{
    struct jparse_error e;
    char *s = nested(JPARSE_MAX_DEPTH, '[', ']', "1");
    json_t *v = parse(s, &e);
    CHECK(v != NULL); /* 32 levels are fine */
    json_decref(v);
    free(s);

    s = nested(JPARSE_MAX_DEPTH + 1, '[', ']', "1");
    CHECK(parse(s, &e) == NULL);
    CHECK_EQ_STR(e.reason, "nesting is deeper than 32 levels");
    free(s);

    s = nested_objects(JPARSE_MAX_DEPTH);
    v = parse(s, &e);
    CHECK(v != NULL);
    json_decref(v);
    free(s);

    s = nested_objects(JPARSE_MAX_DEPTH + 1);
    CHECK(parse(s, &e) == NULL);
    CHECK_EQ_STR(e.reason, "nesting is deeper than 32 levels");
    free(s);

    /* mixed: 16 arrays holding 17 objects = 33 */
    char mixed[512];
    size_t len = 0;
    for (int i = 0; i < 16; i++)
        mixed[len++] = '[';
    for (int i = 0; i < 17; i++) {
        memcpy(mixed + len, "{\"k\":", 5);
        len += 5;
    }
    mixed[len++] = '0';
    for (int i = 0; i < 17; i++)
        mixed[len++] = '}';
    for (int i = 0; i < 16; i++)
        mixed[len++] = ']';
    mixed[len] = '\0';
    CHECK(parse(mixed, &e) == NULL);
    CHECK_EQ_STR(e.reason, "nesting is deeper than 32 levels");

    /* depth is nesting, not the number of containers: many siblings are fine */
    char wide[4096];
    len = 0;
    wide[len++] = '[';
    for (int i = 0; i < 500; i++) {
        memcpy(wide + len, "[],", 3);
        len += 3;
    }
    wide[len - 1] = ']';
    wide[len] = '\0';
    v = parse(wide, &e);
    CHECK(v != NULL && json_array_size(v) == 500);
    json_decref(v);

    /* a million '[' is refused by the scan, not by the parser */
    size_t big = 1000000;
    char *deep = malloc(big);
    memset(deep, '[', big);
    CHECK(jparse(deep, big, &e) == NULL);
    CHECK_EQ_STR(e.reason, "nesting is deeper than 32 levels");
    free(deep);
}

static void
test_brackets_in_strings(void)
{
    struct jparse_error e;
    char s[256];
    /* 40 '[' and '{' inside a string value do not count */
    snprintf(s, sizeof(s), "{\"k\":\"%s\"}", "[[[[[[[[[[{{{{{{{{{{[[[[[[[[[[{{{{{{{{{{");
    json_t *v = parse(s, &e);
    CHECK(v != NULL);
    json_decref(v);

    /* nor inside keys */
    snprintf(s, sizeof(s), "{\"%s\":1}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    v = parse(s, &e);
    CHECK(v != NULL);
    json_decref(v);

    /* an escaped quote does not end the string early */
    snprintf(s, sizeof(s), "[\"\\\"%s\"]", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    v = parse(s, &e);
    CHECK(v != NULL);
    json_decref(v);

    /* an escaped backslash right before the closing quote does end it */
    char *deep = nested(JPARSE_MAX_DEPTH, '[', ']', "\"\\\\\"");
    v = parse(deep, &e);
    CHECK(v != NULL);
    json_decref(v);
    free(deep);
    deep = nested(JPARSE_MAX_DEPTH + 1, '[', ']', "\"\\\\\"");
    CHECK(parse(deep, &e) == NULL);
    CHECK_EQ_STR(e.reason, "nesting is deeper than 32 levels");
    free(deep);

    /* closing brackets inside a string do not lower the depth either */
    char trick[512];
    size_t len = 0;
    for (int i = 0; i < 33; i++) {
        memcpy(trick + len, "[\"]]]]\",", 8);
        len += 8;
    }
    trick[len++] = '1';
    for (int i = 0; i < 33; i++)
        trick[len++] = ']';
    trick[len] = '\0';
    CHECK(parse(trick, &e) == NULL);
    CHECK_EQ_STR(e.reason, "nesting is deeper than 32 levels");
}

static void
test_duplicates(void)
{
    struct jparse_error e;
    CHECK(parse("{\"a\":1,\"a\":2}", &e) == NULL);
    CHECK_EQ_STR(e.reason, "duplicate object key");
    CHECK_EQ_INT(e.line, 1);
    CHECK(e.column > 0);

    /* in a nested object */
    CHECK(parse("{\"x\":[{\"b\":1,\"c\":2,\"b\":3}]}", &e) == NULL);
    CHECK_EQ_STR(e.reason, "duplicate object key");

    /* same key in different objects is fine */
    json_t *v = parse("[{\"a\":1},{\"a\":2},{\"b\":{\"a\":3}}]", &e);
    CHECK(v != NULL);
    json_decref(v);

    /* keys equal after unescaping are duplicates */
    CHECK(parse("{\"a\":1,\"\\u0061\":2}", &e) == NULL);
    CHECK_EQ_STR(e.reason, "duplicate object key");
}

static void
test_invalid(void)
{
    struct jparse_error e;
    CHECK(parse("{", &e) == NULL);
    CHECK_EQ_STR(e.reason, "invalid JSON");
    CHECK_EQ_INT(e.line, 1);

    CHECK(parse("{\"a\":1,\n \"b\": tru }", &e) == NULL);
    CHECK_EQ_STR(e.reason, "invalid JSON");
    CHECK_EQ_INT(e.line, 2);
    CHECK(e.column >= 7 && e.column <= 10);

    CHECK(parse("{\n  \"a\": 1,\n}", &e) == NULL);
    CHECK_EQ_STR(e.reason, "invalid JSON");
    CHECK_EQ_INT(e.line, 3);
    CHECK_EQ_INT(e.column, 1);

    CHECK(parse("[1,2]x", &e) == NULL);
    CHECK_EQ_STR(e.reason, "invalid JSON");
    CHECK_EQ_INT(e.line, 1);
    CHECK(e.column >= 5);

    static const char *const bad[] = {
        "[1,]",
        "{\"a\"}",
        "{'a':1}",
        "[01]",
        "[1e999]",
        "\"\\x\"",
        "[NaN]",
        "\"unterminated",
        "{\"a\":1}}",
        "]",
        "[\"\xff\"]",
        "[\"\xC0\xAF\"]",
        "[\"\xED\xA0\x80\"]",
        "[\"\\ud800\"]",
        "[\"a\nb\"]",
        "99999999999999999999999",
        "[\"\\u0000\"]",
    };
    bool all_refused = true;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *v = parse(bad[i], &e);
        if (v != NULL || e.reason == NULL || strcmp(e.reason, "invalid JSON") != 0 || e.line < 1) {
            fprintf(stderr, "bad input %zu not refused as invalid JSON: %s\n", i, bad[i]);
            all_refused = false;
        }
        json_decref(v);
    }
    CHECK(all_refused);

    /* a NUL byte in the middle */
    const char nul[] = {'[', '1', '\0', ']'};
    json_t *nv = jparse(nul, sizeof(nul), &e);
    CHECK(nv == NULL); /* NUL is never valid in JSON text (RFC 8259) */
    CHECK_EQ_STR(e.reason, "invalid JSON");
    json_decref(nv);

    /* the reason never leaks jansson's own text */
    CHECK(parse("[1,,2]", &e) == NULL);
    CHECK_EQ_STR(e.reason, "invalid JSON");
}

static void
test_error_cleared_on_success(void)
{
    struct jparse_error e = {.line = 9, .column = 9, .reason = "stale"};
    json_t *v = parse("{}", &e);
    CHECK(v != NULL);
    CHECK(e.reason == NULL);
    CHECK_EQ_INT(e.line, 0);
    CHECK_EQ_INT(e.column, 0);
    json_decref(v);
}

int
main(void)
{
    test_valid();
    test_empty();
    test_depth();
    test_brackets_in_strings();
    test_duplicates();
    test_invalid();
    test_error_cleared_on_success();
    return check_done();
}
