/* The PostgreSQL pools' metrics, in the Prometheus text format. */
#include <string.h>

#include "store/pg/pg_int.h"
#include "util/buf.h"
#include "util/clock.h"

static void
family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct snapshot {
    int open, busy, waiting, size;
    uint64_t buckets[PG_WAIT_BUCKETS + 1], count, us;
};

static void
snap(struct pg_pool *p, struct snapshot *s)
{
    pthread_mutex_lock(&p->mu);
    s->open = p->open;
    s->busy = p->busy;
    s->waiting = p->waiting;
    s->size = p->size;
    memcpy(s->buckets, p->wait_buckets, sizeof(s->buckets));
    s->count = p->wait_count;
    s->us = p->wait_us;
    pthread_mutex_unlock(&p->mu);
}

void
store_pg_metrics_render(struct store *s, struct buf *out)
{
    struct pg_store *st = (struct pg_store *)s;
    int np = 1 + st->nreplicas;
    struct pg_pool *pools[1 + 64];
    struct snapshot snaps[1 + 64];
    if (np > 1 + 64)
        np = 1 + 64;
    pools[0] = st->primary;
    for (int i = 1; i < np; i++)
        pools[i] = st->replicas[i - 1];
    for (int i = 0; i < np; i++)
        snap(pools[i], &snaps[i]);

    family(out, "pace_db_pool_size", "gauge", "Connections each database server's pool may open.");
    for (int i = 0; i < np; i++)
        buf_printf(out, "pace_db_pool_size{server=\"%s\"} %d\n", pools[i]->label, snaps[i].size);
    family(out, "pace_db_connections_open", "gauge", "Connections open to each database server.");
    for (int i = 0; i < np; i++)
        buf_printf(out, "pace_db_connections_open{server=\"%s\"} %d\n", pools[i]->label, snaps[i].open);
    family(out, "pace_db_connections_busy", "gauge", "Connections in use by a call (or connecting).");
    for (int i = 0; i < np; i++)
        buf_printf(out, "pace_db_connections_busy{server=\"%s\"} %d\n", pools[i]->label, snaps[i].busy);
    family(out, "pace_db_pool_waiting", "gauge", "Calls waiting for a free connection.");
    for (int i = 0; i < np; i++)
        buf_printf(out, "pace_db_pool_waiting{server=\"%s\"} %d\n", pools[i]->label, snaps[i].waiting);
    family(out, "pace_db_pool_wait_seconds", "histogram", "Time a call waited for its connection.");
    for (int i = 0; i < np; i++) {
        uint64_t cum = 0;
        for (int b = 0; b < PG_WAIT_BUCKETS; b++) {
            cum += snaps[i].buckets[b];
            buf_printf(out, "pace_db_pool_wait_seconds_bucket{server=\"%s\",le=\"%g\"} %llu\n",
                       pools[i]->label, store_pg_wait_bounds[b], (unsigned long long)cum);
        }
        cum += snaps[i].buckets[PG_WAIT_BUCKETS];
        buf_printf(out, "pace_db_pool_wait_seconds_bucket{server=\"%s\",le=\"+Inf\"} %llu\n", pools[i]->label,
                   (unsigned long long)cum);
        buf_printf(out, "pace_db_pool_wait_seconds_sum{server=\"%s\"} %.6f\n", pools[i]->label,
                   (double)snaps[i].us / 1e6);
        buf_printf(out, "pace_db_pool_wait_seconds_count{server=\"%s\"} %llu\n", pools[i]->label,
                   (unsigned long long)snaps[i].count);
    }
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"pace_db_queries_total", "Statements sent to each database server.",
         offsetof(struct pg_pool, queries)},
        {"pace_db_errors_total",
         "Statements that failed for another reason than a conflict or a missing row.",
         offsetof(struct pg_pool, errors)},
        {"pace_db_timeouts_total", "Calls that reached their deadline (cancelled, connection dropped).",
         offsetof(struct pg_pool, timeouts)},
        {"pace_db_connects_total", "Connection attempts.", offsetof(struct pg_pool, connects)},
        {"pace_db_connect_failures_total", "Connection attempts that failed.",
         offsetof(struct pg_pool, connect_failures)},
    };
    for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
        family(out, counters[c].name, "counter", counters[c].help);
        for (int i = 0; i < np; i++) {
            _Atomic uint64_t *v = (_Atomic uint64_t *)(void *)((char *)pools[i] + counters[c].off);
            buf_printf(out, "%s{server=\"%s\"} %llu\n", counters[c].name, pools[i]->label,
                       (unsigned long long)atomic_load(v));
        }
    }
    if (st->nreplicas > 0) {
        family(out, "pace_db_replica_up", "gauge", "1 while a replica serves reads, 0 while it is skipped.");
        int64_t now = clock_mono_ms();
        for (int i = 1; i < np; i++)
            buf_printf(out, "pace_db_replica_up{server=\"%s\"} %d\n", pools[i]->label,
                       atomic_load(&pools[i]->down_until) <= now);
    }
}
