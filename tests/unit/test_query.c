/* Unit tests for http/query: which parameter is found (first of two, exact
 * undecoded names, empty and missing values, empty segments) and how its
 * value is decoded ('+', %XX in either case, invalid or cut-off escapes,
 * NUL bytes, bytes that are not ASCII), strict decoding for forms, and the
 * pairs of a form. */
#include <string.h>

#include "check.h"
#include "http/query.h"

static struct arena a;

/* The value of name in the NUL-terminated query q. */
static const char *
get(const char *q, const char *name)
{
    return http_query_get(&a, q, strlen(q), name);
}

static void
test_lookup(void)
{
    CHECK_EQ_STR(get("a=1", "a"), "1");
    CHECK_EQ_STR(get("a=1&b=2&c=3", "b"), "2");
    CHECK_EQ_STR(get("a=1&b=2&c=3", "c"), "3");
    CHECK(get("a=1&b=2", "c") == NULL);
    CHECK(get("", "a") == NULL);
    CHECK(http_query_get(&a, NULL, 0, "a") == NULL);
    /* A parameter given twice: the first value. */
    CHECK_EQ_STR(get("a=1&a=2", "a"), "1");
    CHECK_EQ_STR(get("a=&a=2", "a"), "");
    /* Names match exactly, byte for byte, and are not decoded. */
    CHECK(get("ab=1", "a") == NULL);
    CHECK(get("a=1", "ab") == NULL);
    CHECK(get("A=1", "a") == NULL);
    CHECK(get("%61=1", "a") == NULL);
    CHECK_EQ_STR(get("%61=1", "%61"), "1");
    CHECK(get("a+b=1", "a b") == NULL);
    /* Only the first '=' ends the name; the value may hold more. */
    CHECK_EQ_STR(get("a=b=c", "a"), "b=c");
    CHECK(get("a=b=c", "b") == NULL);
    /* Only the given length is read. */
    CHECK_EQ_STR(http_query_get(&a, "a=12&b=3", 3, "a"), "1");
    CHECK(http_query_get(&a, "a=12&b=3", 4, "b") == NULL);
}

static void
test_empty_values_and_segments(void)
{
    CHECK_EQ_STR(get("a=", "a"), "");
    CHECK_EQ_STR(get("a", "a"), "");
    CHECK_EQ_STR(get("a&b=2", "a"), "");
    CHECK_EQ_STR(get("b=2&a", "a"), "");
    CHECK_EQ_STR(get("&&a=1&&", "a"), "1");
    CHECK_EQ_STR(get("a=1&", "a"), "1");
    CHECK(get("&", "a") == NULL);
    /* An empty name matches the first segment with an empty name. */
    CHECK_EQ_STR(get("=x&a=1", ""), "x");
    CHECK_EQ_STR(get("a=1&&b", ""), "");
    CHECK(get("a=1", "") == NULL);
}

static void
test_decoding(void)
{
    CHECK_EQ_STR(get("q=hello+world", "q"), "hello world");
    CHECK_EQ_STR(get("q=++", "q"), "  ");
    CHECK_EQ_STR(get("q=%2B", "q"), "+");
    CHECK_EQ_STR(get("q=a%20b", "q"), "a b");
    CHECK_EQ_STR(get("q=%41%62", "q"), "Ab");
    CHECK_EQ_STR(get("q=%4a%4A", "q"), "JJ");
    CHECK_EQ_STR(get("q=%26%3D", "q"), "&=");
    CHECK_EQ_STR(get("q=%25", "q"), "%");
    CHECK_EQ_STR(get("q=%2541", "q"), "%41"); /* decoded once */
    CHECK_EQ_STR(get("q=-_.~", "q"), "-_.~");
    /* Invalid or cut-off escapes are kept as they are. */
    CHECK_EQ_STR(get("q=%", "q"), "%");
    CHECK_EQ_STR(get("q=%4", "q"), "%4");
    CHECK_EQ_STR(get("q=%zz", "q"), "%zz");
    CHECK_EQ_STR(get("q=%4g", "q"), "%4g");
    CHECK_EQ_STR(get("q=%g4", "q"), "%g4");
    CHECK_EQ_STR(get("q=%%41", "q"), "%A");
    CHECK_EQ_STR(get("q=100%", "q"), "100%");
    CHECK_EQ_STR(get("q=%+", "q"), "% ");
    CHECK_EQ_STR(get("q=%4&r=1", "q"), "%4"); /* an escape does not reach over '&' */
    /* Bytes that are not ASCII pass through, encoded or not. */
    CHECK_EQ_STR(get("q=%C3%A9", "q"), "\xc3\xa9");
    CHECK_EQ_STR(get("q=\xc3\xa9", "q"), "\xc3\xa9");
    CHECK_EQ_STR(get("q=%ff", "q"), "\xff");
}

static void
test_nul_bytes(void)
{
    /* %00 decodes to a NUL byte: the C string ends there. */
    CHECK_EQ_STR(get("q=ab%00cd", "q"), "ab");
    CHECK_EQ_STR(get("q=%00", "q"), "");
    /* A raw NUL in the query is a byte like another. */
    static const char raw[] = "x=1\0&q=a\0b";
    const char *v = http_query_get(&a, raw, sizeof(raw) - 1, "q");
    CHECK(v != NULL && v[0] == 'a' && v[1] == '\0' && v[2] == 'b' && v[3] == '\0');
    CHECK(http_query_get(&a, raw, sizeof(raw) - 1, "x") != NULL);
    CHECK(memcmp(http_query_get(&a, raw, sizeof(raw) - 1, "x"), "1\0", 3) == 0);
}

static void
test_results_are_copies(void)
{
    char q[] = "a=one";
    const char *v = get(q, "a");
    q[2] = 'X';
    CHECK_EQ_STR(v, "one");
    const char *w = get(q, "a");
    CHECK(v != w);
    CHECK_EQ_STR(w, "Xne");
}

/* Strict decoding (forms whose values must be exact: the OAuth2 token
 * endpoint): a broken escape or a NUL byte is no value at all. */
static void
test_strict(void)
{
    size_t n = 99;
    CHECK_EQ_STR(http_form_decode(&a, "a%20b+c", 7, true, &n), "a b c");
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_STR(http_form_decode(&a, "%41%62", 6, true, NULL), "Ab");
    CHECK(http_form_decode(&a, "a%2", 3, true, NULL) == NULL);
    CHECK(http_form_decode(&a, "a%zz", 4, true, NULL) == NULL);
    CHECK(http_form_decode(&a, "%", 1, true, NULL) == NULL);
    CHECK(http_form_decode(&a, "a%00b", 5, true, NULL) == NULL);
    CHECK(http_form_decode(&a, "a\0b", 3, true, NULL) == NULL);
    /* The same bytes, leniently: kept as they are, NUL included. */
    CHECK_EQ_STR(http_form_decode(&a, "a%2", 3, false, &n), "a%2");
    CHECK_EQ_INT(n, 3);
    http_form_decode(&a, "a%00b", 5, false, &n);
    CHECK_EQ_INT(n, 3);
}

/* The pairs of a form, undecoded, in order. */
static void
test_pairs(void)
{
    const char *form = "grant_type=password&username=&flag&&x=a=b";
    const char *p = form, *end = form + strlen(form);
    struct http_form_pair kv;
    const char *want[][2] = {
        {"grant_type", "password"}, {"username", ""}, {"flag", ""}, {"", ""}, {"x", "a=b"}};
    size_t i = 0;
    while (http_form_next(&p, end, &kv)) {
        CHECK(i < 5);
        if (i >= 5)
            break;
        CHECK(kv.name_len == strlen(want[i][0]) && memcmp(kv.name, want[i][0], kv.name_len) == 0);
        CHECK(kv.value_len == strlen(want[i][1]) && memcmp(kv.value, want[i][1], kv.value_len) == 0);
        i++;
    }
    CHECK_EQ_INT(i, 5);
    CHECK(!http_form_next(&p, end, &kv)); /* stays at the end */
    p = "";
    CHECK(!http_form_next(&p, p, &kv));
}

int
main(void)
{
    arena_init(&a);
    test_lookup();
    test_empty_values_and_segments();
    test_decoding();
    test_nul_bytes();
    test_results_are_copies();
    test_strict();
    test_pairs();
    arena_cleanup(&a);
    return check_done();
}
