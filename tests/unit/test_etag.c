/* Entity-tag lists (api/etag.c): If-None-Match / If-Match matching with
 * weak tags, "*", odd spacing, quoted commas; version extraction for
 * If-Match on W/"<prefix><id>-v<version>" tags. */
#include <string.h>

#include "api/etag.h"
#include "check.h"

static bool
listed(const char *h, const char *tag)
{
    return api_etag_listed(h, strlen(h), tag);
}

static size_t
versions(const char *h, int64_t id, bool *any, int64_t *v, size_t max)
{
    return api_etag_versions(h, strlen(h), "t", id, any, v, max);
}

static void
test_listed(void)
{
    const char *tag = "W/\"t1-v2\"";
    CHECK(listed("W/\"t1-v2\"", tag));
    CHECK(listed("\"t1-v2\"", tag));
    CHECK(listed("*", tag));
    CHECK(listed("  \"a\" ,W/\"t1-v2\"  ", tag));
    CHECK(listed("\"a\",\t\"t1-v2\"", tag));
    CHECK(listed("\"a,b\", \"t1-v2\"", tag));
    CHECK(!listed("\"t1-v2", tag));
    CHECK(!listed("t1-v2", tag));
    CHECK(!listed("\"t1-v22\"", tag));
    CHECK(!listed("\"t1-v2,\"", tag));
    CHECK(!listed("", tag));
    CHECK(!listed(",,, ,", tag));
    CHECK(!listed("W/", tag));
    CHECK(!listed("**", tag));
    CHECK(!api_etag_listed("\"t1-v2\"", 5, tag)); /* bounded by n, not by NUL */
}

static void
test_versions(void)
{
    bool any = false;
    int64_t v[4];
    CHECK_EQ_INT(versions("W/\"t7-v3\"", 7, &any, v, 4), 1);
    CHECK_EQ_INT(v[0], 3);
    CHECK(!any);
    CHECK_EQ_INT(versions("\"t7-v3\", W/\"t8-v4\", \"t7-v9\"", 7, &any, v, 4), 2);
    CHECK_EQ_INT(v[0], 3);
    CHECK_EQ_INT(v[1], 9);
    CHECK_EQ_INT(versions("*", 7, &any, v, 4), 0);
    CHECK(any);
    const char *bad[] = {"\"t7-v0\"",  "\"t07-v1\"", "\"t7-v\"", "\"t7v1\"",   "\"t-v1\"",
                         "\"u7-v1\"",  "\"t7-v1",    "t7-v1",    "\"t7-v1x\"", "\"t7-v99999999999999999999\"",
                         "\"t7--v1\"", "\"\"",       ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(versions(bad[i], 7, &any, v, 4), 0);
        CHECK(!any);
    }
    CHECK_EQ_INT(versions("\"t7-v1\",\"t7-v2\",\"t7-v3\"", 7, &any, v, 2), 2); /* capped */
    CHECK_EQ_INT(versions("\"t9223372036854775807-v9223372036854775807\"", INT64_MAX, &any, v, 4), 1);
    CHECK_EQ_INT(v[0], INT64_MAX);
}

int
main(void)
{
    test_listed();
    test_versions();
    return check_done();
}
