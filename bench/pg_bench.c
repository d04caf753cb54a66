/* PostgreSQL execution-model benchmark: what one query costs the client
 * (wall time and this thread's CPU) sent one per round trip with libpq, the
 * same pipelined at depth 64, and through pace's store (pool checkout,
 * non-blocking send, poll with a deadline); then durable inserts from 64
 * writer threads through the store with pools of 4 to 64 connections.
 * Usage: pg_bench POSTGRESQL_URL (a throwaway database: it is migrated and
 * written to). Never run by the test suite; bench/store.sh runs it. */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

enum { TASKS = 1000, DEPTH = 64, WRITERS = 64 };

static double
clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static double
cpu_s(void)
{
    return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static int64_t uid;
static int64_t ids[TASKS];

static const char GET_SQL[] = "SELECT id, user_id, title, description, status, priority, due_date, plan_id, "
                              "created_at, updated_at, version FROM tasks WHERE id = $2 AND user_id = $1";

static void
report(const char *label, long n, double wall, double cpu)
{
    printf("%-52s %8.1f us/query wall  %6.1f us/query client CPU  (%ld queries)\n", label, wall / n * 1e6,
           cpu / n * 1e6, n);
}

static void
params(long i, char a[32], char b[32], const char *v[2])
{
    snprintf(a, 32, "%lld", (long long)uid);
    snprintf(b, 32, "%lld", (long long)ids[(i * 7919) % TASKS]);
    v[0] = a;
    v[1] = b;
}

static int
round_trips(PGconn *c, double seconds)
{
    PGresult *r = PQprepare(c, "get", GET_SQL, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "prepare: %s", PQerrorMessage(c));
        return -1;
    }
    PQclear(r);
    long n = 0;
    double t0 = now_s(), c0 = cpu_s();
    while (now_s() - t0 < seconds) {
        char a[32], b[32];
        const char *v[2];
        params(n, a, b, v);
        r = PQexecPrepared(c, "get", 2, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            fprintf(stderr, "query: %s", PQerrorMessage(c));
            return -1;
        }
        PQclear(r);
        n++;
    }
    report("libpq, one query per round trip", n, now_s() - t0, cpu_s() - c0);
    return 0;
}

static int
pipelined(PGconn *c, double seconds)
{
    if (!PQenterPipelineMode(c))
        return -1;
    long n = 0;
    double t0 = now_s(), c0 = cpu_s();
    while (now_s() - t0 < seconds) {
        for (int i = 0; i < DEPTH; i++) {
            char a[32], b[32];
            const char *v[2];
            params(n + i, a, b, v);
            if (!PQsendQueryPrepared(c, "get", 2, v, NULL, NULL, 0))
                return -1;
        }
        if (!PQpipelineSync(c))
            return -1;
        for (int i = 0; i < DEPTH; i++) {
            PGresult *r = PQgetResult(c);
            if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
                fprintf(stderr, "pipelined query: %s", PQerrorMessage(c));
                return -1;
            }
            PQclear(r);
            r = PQgetResult(c); /* NULL: end of this query's results */
            PQclear(r);
        }
        PGresult *r = PQgetResult(c); /* the sync */
        if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
            return -1;
        PQclear(r);
        n += DEPTH;
    }
    report("libpq, pipelined, depth 64", n, now_s() - t0, cpu_s() - c0);
    PQexitPipelineMode(c);
    return 0;
}

static int
through_store(struct store *s, double seconds)
{
    struct arena a;
    struct store_task t;
    arena_init(&a);
    long n = 0;
    double t0 = now_s(), c0 = cpu_s();
    while (now_s() - t0 < seconds) {
        if (store_task_get(s, uid, ids[(n * 7919) % TASKS], &a, &t) != OK)
            return -1;
        if (++n % 256 == 0)
            arena_cleanup(&a);
    }
    report("pace store_task_get (pool, non-blocking, deadline)", n, now_s() - t0, cpu_s() - c0);
    arena_cleanup(&a);
    return 0;
}

struct writer {
    struct store *s;
    double until;
    long done;
    double *lat;
    long cap;
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    while (now_s() < w->until) {
        struct store_task t = {.user_id = uid, .title = "pool bench", .status = STORE_TASK_TODO};
        double t0 = now_s();
        if (store_task_create(w->s, &t) != OK)
            continue;
        if (w->done < w->cap)
            w->lat[w->done] = now_s() - t0;
        w->done++;
    }
    return NULL;
}

struct reader {
    struct store *s;
    double until;
    long done;
};

static void *
reader_main(void *arg)
{
    struct reader *r = arg;
    struct arena a;
    struct store_task t;
    arena_init(&a);
    for (long n = 0; now_s() < r->until; n++) {
        if (store_task_get(r->s, uid, ids[(n * 7919 + (long)(uintptr_t)r) % TASKS], &a, &t) == OK)
            r->done++;
        if (n % 256 == 0)
            arena_cleanup(&a);
    }
    arena_cleanup(&a);
    return NULL;
}

static double
process_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* `threads` threads reading through one store (pool of 16): throughput
 * and the whole client process's CPU per read. */
static void
concurrent_reads(const char *url, int threads, double seconds)
{
    struct store *s;
    if (store_open(url, &s) != OK)
        return;
    static struct reader r[WRITERS];
    pthread_t t[WRITERS];
    double until = now_s() + seconds, t0 = now_s(), c0 = process_cpu_s();
    for (int i = 0; i < threads; i++) {
        r[i] = (struct reader){.s = s, .until = until};
        pthread_create(&t[i], NULL, reader_main, &r[i]);
    }
    long done = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        done += r[i].done;
    }
    double el = now_s() - t0, cpu = process_cpu_s() - c0;
    char label[64];
    snprintf(label, sizeof(label), "pace store_task_get, %d threads, pool of 16", threads);
    printf("%-52s %8.0f reads/s  %6.1f us client CPU/read (all threads)\n", label, (double)done / el,
           cpu / (double)done * 1e6);
    store_close(s);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
pool_sizes(const char *url, double seconds)
{
    static const int sizes[] = {4, 8, 16, 32, 64};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct store_opts o;
        struct store *s;
        store_opts_init(&o);
        o.pool_size = sizes[k];
        o.statement_timeout_ms = 10000;
        if (store_open_opts(url, &o, &s) != OK)
            return;
        static struct writer w[WRITERS];
        pthread_t t[WRITERS];
        double until = now_s() + seconds, t0 = now_s();
        for (int i = 0; i < WRITERS; i++) {
            w[i] = (struct writer){.s = s, .until = until, .cap = 100000};
            w[i].lat = malloc((size_t)w[i].cap * sizeof(double));
            pthread_create(&t[i], NULL, writer_main, &w[i]);
        }
        long done = 0, nlat = 0;
        for (int i = 0; i < WRITERS; i++) {
            pthread_join(t[i], NULL);
            done += w[i].done;
        }
        double el = now_s() - t0;
        double *all = malloc((size_t)done * sizeof(double) + 1);
        for (int i = 0; i < WRITERS; i++) {
            long m = w[i].done < w[i].cap ? w[i].done : w[i].cap;
            memcpy(all + nlat, w[i].lat, (size_t)m * sizeof(double));
            nlat += m;
            free(w[i].lat);
        }
        qsort(all, (size_t)nlat, sizeof(double), cmp_double);
        printf(
            "64 writers, pool of %-3d connections              %8.0f inserts/s  p50 %6.2f ms  p99 %6.2f ms\n",
            sizes[k], (double)done / el, nlat ? all[nlat / 2] * 1e3 : 0,
            nlat ? all[(long)(nlat * 0.99)] * 1e3 : 0);
        free(all);
        store_close(s);
    }
}

int
main(int argc, char **argv)
{
    log_init(LOG_WARN, LOG_TEXT);
    if (argc != 2) {
        fprintf(stderr, "usage: %s POSTGRESQL_URL\n", argv[0]);
        return 2;
    }
    double seconds = getenv("BENCH_SECONDS") != NULL ? strtod(getenv("BENCH_SECONDS"), NULL) : 3.0;
    struct store *s;
    if (store_open(argv[1], &s) != OK || store_migrate(s, NULL) != OK) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    char name[64], email[96];
    snprintf(name, sizeof(name), "pgbench_%lld", (long long)clock_wall_ms());
    snprintf(email, sizeof(email), "%s@example.com", name);
    struct store_user u = {.username = name, .email = email, .password_hash = "x"};
    if (store_user_create(s, &u, NULL) != OK)
        return 1;
    uid = u.id;
    for (int i = 0; i < TASKS; i++) {
        struct store_task t = {.user_id = uid, .title = "task", .status = STORE_TASK_TODO, .priority = i % 4};
        if (store_task_create(s, &t) != OK)
            return 1;
        ids[i] = t.id;
    }
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        return 1;
    }
    printf("PostgreSQL execution model: point read by (user, id), one client thread\n");
    if (round_trips(c, seconds) != 0 || pipelined(c, seconds) != 0 || through_store(s, seconds) != 0)
        return 1;
    PQfinish(c);
    store_close(s);
    concurrent_reads(argv[1], 16, seconds);
    concurrent_reads(argv[1], WRITERS, seconds);
    printf("Durable single-row inserts, one transaction each (synchronous_commit on):\n");
    pool_sizes(argv[1], seconds);
    return 0;
}
