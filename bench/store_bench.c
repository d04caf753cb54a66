/* Store microbenchmarks, through store.h only: point read, a 20-row keyset
 * page of a user with 1000 tasks, durable single-row inserts from 64
 * concurrent writers (group commit) and from one writer (one fsync per
 * insert, the ungrouped baseline). Usage: store_bench [DATABASE_URL]
 * (default: a fresh SQLite file in $TMPDIR). Never run by the test suite. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

enum { TASKS = 1000, MAX_THREADS = 256 };

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t ids[TASKS];

struct writer {
    struct store *s;
    int64_t uid;
    double until;
    long done;
    long failed;
    double *lat; /* seconds per insert, up to lat_cap */
    long lat_cap;
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    while (now_s() < w->until) {
        struct store_task t = {.user_id = w->uid, .title = "benchmark insert", .status = STORE_TASK_TODO};
        double t0 = now_s();
        if (store_task_create(w->s, &t) != OK) {
            w->failed++;
            continue;
        }
        if (w->done < w->lat_cap)
            w->lat[w->done] = now_s() - t0;
        w->done++;
    }
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs `threads` writers for `seconds`; prints rows/s and latency. */
static void
inserts(struct store *s, int64_t uid, int threads, double seconds, const char *label)
{
    static struct writer w[MAX_THREADS];
    pthread_t t[MAX_THREADS];
    double until = now_s() + seconds;
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i] = (struct writer){.s = s, .uid = uid, .until = until, .lat_cap = 200000};
        w[i].lat = malloc((size_t)w[i].lat_cap * sizeof(double));
        pthread_create(&t[i], NULL, writer_main, &w[i]);
    }
    long done = 0, failed = 0, nlat = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        done += w[i].done;
        failed += w[i].failed;
    }
    double elapsed = now_s() - t0;
    double *all = malloc((size_t)done * sizeof(double) + 1);
    for (int i = 0; i < threads; i++) {
        long n = w[i].done < w[i].lat_cap ? w[i].done : w[i].lat_cap;
        memcpy(all + nlat, w[i].lat, (size_t)n * sizeof(double));
        nlat += n;
        free(w[i].lat);
    }
    qsort(all, (size_t)nlat, sizeof(double), cmp_double);
    double p50 = nlat ? all[nlat / 2] : 0, p99 = nlat ? all[(long)(nlat * 0.99)] : 0;
    printf("%-44s %9.0f rows/s  (%ld rows in %.1f s, %ld failed, p50 %.2f ms, p99 %.2f ms)\n", label,
           (double)done / elapsed, done, elapsed, failed, p50 * 1e3, p99 * 1e3);
    free(all);
}

int
main(int argc, char **argv)
{
    log_init(LOG_WARN, LOG_TEXT);
    char tmpdir[400] = "";
    char url[512];
    const char *tmp = getenv("TMPDIR");
    if (argc > 1) {
        snprintf(url, sizeof(url), "%s", argv[1]);
    } else {
        snprintf(tmpdir, sizeof(tmpdir), "%s/pace-bench.XXXXXX", tmp != NULL ? tmp : "/tmp");
        if (mkdtemp(tmpdir) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(url, sizeof(url), "sqlite:%s/bench.db", tmpdir);
    }
    double seconds = getenv("BENCH_SECONDS") != NULL ? strtod(getenv("BENCH_SECONDS"), NULL) : 3.0;
    struct store *s;
    if (store_open(url, &s) != OK || store_migrate(s, NULL) != OK) {
        fprintf(stderr, "cannot open %s\n", url);
        return 1;
    }
    printf("store benchmark: backend %s, %s, %ld cores\n", store_backend(s), url,
           sysconf(_SC_NPROCESSORS_ONLN));

    /* A user with 1000 tasks. */
    char name[64];
    snprintf(name, sizeof(name), "bench_%lld", (long long)clock_wall_ms());
    char email[96];
    snprintf(email, sizeof(email), "%s@example.com", name);
    struct store_user u = {.username = name, .email = email, .password_hash = "x"};
    if (store_user_create(s, &u, NULL) != OK)
        return 1;
    for (int i = 0; i < TASKS; i++) {
        char title[32], due[16];
        snprintf(title, sizeof(title), "task %d", i);
        snprintf(due, sizeof(due), "2026-%02d-%02d", 1 + i % 12, 1 + i % 28);
        struct store_task t = {.user_id = u.id,
                               .title = title,
                               .status = (enum store_task_status)(i % 3),
                               .priority = i % 4,
                               .due_date = due};
        if (store_task_create(s, &t) != OK)
            return 1;
        ids[i] = t.id;
    }

    struct arena a;
    arena_init(&a);
    struct store_task task;
    long n = 0;
    double t0 = now_s();
    for (; now_s() - t0 < seconds / 2; n++) {
        if (store_task_get(s, u.id, ids[(n * 7919) % TASKS], &a, &task) != OK)
            return 1;
        if (n % 256 == 0)
            arena_cleanup(&a);
    }
    double el = now_s() - t0;
    printf("%-44s %9.2f us/op  (%.0f ops/s, one thread)\n", "point read (task by user and id)", el / n * 1e6,
           n / el);

    struct store_task *rows;
    size_t got;
    n = 0;
    t0 = now_s();
    for (; now_s() - t0 < seconds / 2; n++) {
        if (store_task_list(s, &(struct store_task_query){u.id, NULL, STORE_TASK_SORT_CREATED_DESC, NULL, 21},
                            &a, &rows, &got) != OK ||
            got != 21)
            return 1;
        arena_cleanup(&a);
    }
    el = now_s() - t0;
    printf("%-44s %9.2f us/op  (%.0f pages/s, one thread)\n", "20-row page, first (1000 tasks, -created_at)",
           el / n * 1e6, n / el);

    n = 0;
    t0 = now_s();
    for (; now_s() - t0 < seconds / 2; n++) {
        struct store_task_pos pos;
        struct store_task *mid;
        size_t m;
        /* A page from the middle: position taken from a row of the list. */
        if (n == 0 && store_task_list(
                          s, &(struct store_task_query){u.id, NULL, STORE_TASK_SORT_CREATED_DESC, NULL, 500},
                          &a, &mid, &m) != OK)
            return 1;
        static struct store_task_pos saved;
        if (n == 0) {
            store_task_pos_from(&mid[499], &saved);
            saved.due_date = NULL;
        }
        pos = saved;
        if (store_task_list(s, &(struct store_task_query){u.id, NULL, STORE_TASK_SORT_CREATED_DESC, &pos, 21},
                            &a, &rows, &got) != OK ||
            got != 21)
            return 1;
        if (n > 0)
            arena_cleanup(&a);
    }
    el = now_s() - t0;
    printf("%-44s %9.2f us/op  (%.0f pages/s, one thread)\n", "20-row page, keyset from the middle",
           el / n * 1e6, n / el);
    struct store_task_filter f = {.status_mask = 1u << STORE_TASK_TODO, .priority = -1};
    n = 0;
    t0 = now_s();
    for (; now_s() - t0 < seconds / 2; n++) {
        if (store_task_list(s, &(struct store_task_query){u.id, &f, STORE_TASK_SORT_DUE_ASC, NULL, 21}, &a,
                            &rows, &got) != OK)
            return 1;
        arena_cleanup(&a);
    }
    el = now_s() - t0;
    printf("%-44s %9.2f us/op  (%.0f pages/s, one thread)\n", "20-row page, status=todo sort=due_date",
           el / n * 1e6, n / el);

    inserts(s, u.id, 1, seconds, "durable inserts, 1 writer (fsync each)");
    inserts(s, u.id, 8, seconds, "durable inserts, 8 writers (group commit)");
    inserts(s, u.id, 64, seconds, "durable inserts, 64 writers (group commit)");
    inserts(s, u.id, 256, seconds, "durable inserts, 256 writers (group commit)");

    arena_cleanup(&a);
    store_close(s);
    if (tmpdir[0] != '\0') {
        static const char *const files[] = {"bench.db", "bench.db-wal", "bench.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            char path[600];
            snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
            unlink(path);
        }
        rmdir(tmpdir);
    }
    return 0;
}
