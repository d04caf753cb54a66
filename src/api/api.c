/* Wires the resource route tables into the router. */
#include "api/api.h"
#include "api/cursor.h"
#include "util/err.h"

static const struct api_deps *deps;
static const struct http_router *router;

int
api_init(const struct api_deps *d, struct http_router *rt)
{
    deps = d;
    router = rt;
    api_cursor_setup(d->secret);
    const struct {
        const struct http_route *routes;
        size_t n;
        bool on;
    } tables[] = {
        {api_ops_routes, api_ops_nroutes, true},
        {api_auth_routes, api_auth_nroutes, !d->ops_only},
        {api_users_routes, api_users_nroutes, !d->ops_only},
        {api_tasks_routes, api_tasks_nroutes, !d->ops_only},
        {api_profile_routes, api_profile_nroutes, !d->ops_only},
        {api_plans_routes, api_plans_nroutes, !d->ops_only},
        {api_account_routes, api_account_nroutes, !d->ops_only},
        {api_mfa_routes, api_mfa_nroutes, !d->ops_only},
        {api_dev_routes, api_dev_nroutes, d->dev_endpoints},
    };
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        int err = tables[i].on ? http_router_add(rt, tables[i].routes, tables[i].n) : OK;
        if (err != OK)
            return err;
    }
    return OK;
}

const struct api_deps *
api_deps(void)
{
    return deps;
}

const struct http_router *
api_router(void)
{
    return router;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days): no locale, no lock, no printf. */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void
put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* Hot: twice per task in every list page, so it formats by hand
 * (gmtime_r takes glibc's timezone lock, snprintf is slow). */
void
api_jw_time(struct jw *w, int64_t ms)
{
    int64_t secs = ms / 1000 - (ms % 1000 < 0); /* floor division */
    unsigned msec = (unsigned)(ms - secs * 1000);
    int64_t days = secs / 86400 - (secs % 86400 < 0);
    unsigned sod = (unsigned)(secs - days * 86400);
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    if (y < 0 || y > 9999) {
        jw_str(w, "0000-01-01T00:00:00.000Z"); /* out of RFC 3339's range */
        return;
    }
    char out[26] = "\"YYYY-MM-DDTHH:MM:SS.mmmZ\"";
    put2(out + 1, (unsigned)(y / 100));
    put2(out + 3, (unsigned)(y % 100));
    put2(out + 6, mo);
    put2(out + 9, d);
    put2(out + 12, sod / 3600);
    put2(out + 15, sod / 60 % 60);
    put2(out + 18, sod % 60);
    out[21] = (char)('0' + msec / 100);
    put2(out + 22, msec % 100);
    jw_raw(w, out, sizeof(out));
}
