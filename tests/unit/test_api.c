/* api_jw_time (api/api.c): the hand-rolled RFC 3339 formatter agrees with
 * gmtime_r + snprintf over leap years, centuries, month ends and negative
 * times, and always writes 24 characters in quotes. api_list_scope_init
 * (api/list.c) lays out the bytes cursors already given out were signed
 * over: the resource letter, the user id big endian, zeros. The messages
 * built from the store's name tables read as they always did. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/list.h"
#include "api/validate.h"
#include "check.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"

static void
reference(int64_t ms, char *out, size_t cap)
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int msec = (int)(ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec);
}

static int
agrees(int64_t ms)
{
    struct arena a;
    arena_init(&a);
    struct buf b;
    buf_init(&b, &a, 64);
    struct jw w;
    jw_init(&w, &b);
    api_jw_time(&w, ms);
    char want[64];
    reference(ms, want, sizeof(want));
    int ok = b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    if (!ok)
        fprintf(stderr, "ms %lld: got %.*s, want %s\n", (long long)ms, (int)b.len, b.data, want);
    arena_cleanup(&a);
    return ok;
}

static void
test_list_scope(void)
{
    struct api_list_scope s;
    memset(&s, 0xaa, sizeof(s));
    unsigned char *own = api_list_scope_init(&s, 'T', 0x0102030405060708, 32);
    static const unsigned char head[9] = {'T', 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_EQ_INT(s.len, 32);
    CHECK(memcmp(s.bytes, head, sizeof(head)) == 0);
    CHECK(own == s.bytes + 9);
    int zeros = 1;
    for (size_t i = 9; i < sizeof(s.bytes); i++)
        zeros &= s.bytes[i] == 0;
    CHECK(zeros);
    own = api_list_scope_init(&s, 'P', -2, 16);
    CHECK_EQ_INT(s.len, 16);
    CHECK_EQ_INT(s.bytes[0], 'P');
    for (int i = 1; i < 8; i++)
        CHECK_EQ_INT(s.bytes[i], 0xff);
    CHECK_EQ_INT(s.bytes[8], 0xfe);
}

static void
test_enum_choices(void)
{
    struct arena a;
    arena_init(&a);
    CHECK_EQ_STR(api_enum_choices(&a, "must be one of ", store_task_sort_names),
                 "must be one of -created_at, created_at, due_date, -due_date, -priority");
    CHECK_EQ_STR(api_enum_choices(&a, "must be a comma list of ", store_task_status_names),
                 "must be a comma list of todo, in_progress, done");
    CHECK_EQ_STR(api_enum_choices(&a, "must be one of ", store_plan_state_names),
                 "must be one of queued, running, ready, failed");
    CHECK_EQ_STR(api_enum_choices(&a, "must be one of ", store_plan_kind_names),
                 "must be one of workout, nutrition");
    int v = -7;
    CHECK(store_enum_parse(store_task_sort_names, STORE_TASK_SORT_COUNT, "-priority", &v));
    CHECK_EQ_INT(v, STORE_TASK_SORT_PRIORITY_DESC);
    CHECK(!store_enum_parse(store_task_status_names, STORE_TASK_STATUS_COUNT, "Done", &v));
    CHECK(!store_enum_parse(store_plan_kind_names, STORE_PLAN_KIND_COUNT, NULL, &v));
    CHECK_EQ_INT(v, STORE_TASK_SORT_PRIORITY_DESC); /* untouched */
    arena_cleanup(&a);
}

int
main(void)
{
    test_list_scope();
    test_enum_choices();
    int64_t fixed[] = {0,
                       1,
                       999,
                       -1,
                       -1000,
                       -86400001,
                       951782400000,  /* 2000-02-29 */
                       951868799999,  /* 2000-02-29T23:59:59.999 */
                       4107542400000, /* 2100-03-01 */
                       1795347892123,
                       253402300799999, /* 9999-12-31T23:59:59.999 */
                       -62135596800000 /* 0001-01-01 */};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        CHECK(agrees(fixed[i]));
    /* Every day from 1900 to 2200 at a time of day that moves. */
    int bad = 0;
    for (int64_t day = -25567; day < 84000; day++)
        bad += !agrees(day * 86400000 + (day * 7919) % 86400000);
    CHECK_EQ_INT(bad, 0);
    /* Out of range years do not overflow the buffer. */
    struct arena a;
    arena_init(&a);
    struct buf b;
    buf_init(&b, &a, 64);
    struct jw w;
    jw_init(&w, &b);
    api_jw_time(&w, INT64_MAX);
    CHECK_EQ_INT(b.len, 26);
    b.len = 0;
    jw_init(&w, &b);
    api_jw_time(&w, INT64_MIN);
    CHECK_EQ_INT(b.len, 26);
    arena_cleanup(&a);
    return check_done();
}
