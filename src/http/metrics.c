/* Request metrics in Prometheus text format. Each loop thread writes only
 * its own shard (relaxed stores, no lock prefix); /metrics sums the shards.
 * Gauges (in flight, connections, pools) are read from their owners. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"
#include "util/alloc.h"

enum { STATUS_MIN = 100, NSTATUS = 500 };

static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};
enum { NBUCKETS = sizeof(bucket_bounds) / sizeof(bucket_bounds[0]) };

struct route_stats {
    uint64_t status[NSTATUS];
    uint64_t buckets[NBUCKETS + 1]; /* the last is +Inf */
    uint64_t sum_us;
};

static struct {
    const struct http_router *rt;
    size_t nroutes; /* plus one slot for "unmatched" */
    int nshards;
    struct route_stats *shards; /* nshards * (nroutes + 1) */
    struct http_server *server;
} m;

void
http_metrics_init(const struct http_router *rt, int nshards)
{
    m.rt = rt;
    m.nroutes = http_router_count(rt);
    m.nshards = nshards;
    m.shards = xcalloc((size_t)nshards * (m.nroutes + 1), sizeof(struct route_stats));
}

void
http_metrics_cleanup(void)
{
    free(m.shards);
    memset(&m, 0, sizeof(m));
}

void
http_metrics_set_server(struct http_server *s)
{
    m.server = s;
}

static inline void
bump(uint64_t *p, uint64_t by)
{
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
}

void
http_metrics_observe(int shard, size_t route_index, int status, double seconds)
{
    if (m.shards == NULL || shard < 0 || shard >= m.nshards)
        return;
    size_t ri = route_index < m.nroutes ? route_index : m.nroutes;
    struct route_stats *st = &m.shards[(size_t)shard * (m.nroutes + 1) + ri];
    if (status >= STATUS_MIN && status < STATUS_MIN + NSTATUS)
        bump(&st->status[status - STATUS_MIN], 1);
    size_t b = 0;
    while (b < NBUCKETS && seconds > bucket_bounds[b])
        b++;
    bump(&st->buckets[b], 1);
    bump(&st->sum_us, (uint64_t)(seconds * 1e6));
}

static void
route_label(struct buf *out, size_t ri)
{
    if (ri == m.nroutes) {
        buf_appends(out, "unmatched");
        return;
    }
    const struct http_route *r = http_router_at(m.rt, ri);
    buf_appends(out, http_method_name(r->method));
    buf_appendc(out, ' ');
    buf_appends(out, r->path);
}

static uint64_t
load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void
http_metrics_render(struct buf *out)
{
    if (m.shards == NULL)
        return;
    struct route_stats total;
    buf_appends(out, "# HELP pace_http_requests_total Requests answered, by route and status.\n"
                     "# TYPE pace_http_requests_total counter\n");
    struct buf hist;
    buf_init(&hist, out->arena, 4096);
    buf_appends(&hist, "# HELP pace_http_request_duration_seconds Time from the first byte of the request to "
                       "the last byte of the response.\n"
                       "# TYPE pace_http_request_duration_seconds histogram\n");
    for (size_t ri = 0; ri <= m.nroutes; ri++) {
        memset(&total, 0, sizeof(total));
        for (int s = 0; s < m.nshards; s++) {
            const struct route_stats *st = &m.shards[(size_t)s * (m.nroutes + 1) + ri];
            for (size_t i = 0; i < NSTATUS; i++)
                total.status[i] += load(&st->status[i]);
            for (size_t i = 0; i <= NBUCKETS; i++)
                total.buckets[i] += load(&st->buckets[i]);
            total.sum_us += load(&st->sum_us);
        }
        uint64_t count = 0;
        for (size_t i = 0; i <= NBUCKETS; i++)
            count += total.buckets[i];
        if (count == 0)
            continue;
        for (size_t i = 0; i < NSTATUS; i++) {
            if (total.status[i] == 0)
                continue;
            buf_appends(out, "pace_http_requests_total{route=\"");
            route_label(out, ri);
            buf_printf(out, "\",status=\"%zu\"} %llu\n", i + STATUS_MIN, (unsigned long long)total.status[i]);
        }
        uint64_t cum = 0;
        for (size_t i = 0; i <= NBUCKETS; i++) {
            cum += total.buckets[i];
            buf_appends(&hist, "pace_http_request_duration_seconds_bucket{route=\"");
            route_label(&hist, ri);
            if (i < NBUCKETS)
                buf_printf(&hist, "\",le=\"%g\"} %llu\n", bucket_bounds[i], (unsigned long long)cum);
            else
                buf_printf(&hist, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        buf_appends(&hist, "pace_http_request_duration_seconds_sum{route=\"");
        route_label(&hist, ri);
        buf_printf(&hist, "\"} %.6f\n", (double)total.sum_us / 1e6);
        buf_appends(&hist, "pace_http_request_duration_seconds_count{route=\"");
        route_label(&hist, ri);
        buf_printf(&hist, "\"} %llu\n", (unsigned long long)count);
    }
    buf_append(out, hist.data, hist.len);
    if (out->arena == NULL)
        buf_cleanup(&hist);

    if (m.server != NULL)
        http_server_metrics(m.server, out);
}
