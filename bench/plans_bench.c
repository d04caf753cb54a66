/* The built-in plan engine alone (no HTTP, no store): how many plans per
 * second plan_generate_builtin makes, per kind, on 1 thread and on N.
 * Usage: plans_bench [seconds per measurement (2)] [threads (online CPUs)]
 * Prints one line per measurement: kind threads plans/s us-per-plan bytes. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plan/plan.h"
#include "util/arena.h"

struct worker {
    enum store_plan_kind kind;
    double seconds;
    long plans;
    size_t bytes;
    pthread_t tid;
};

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
profile(struct plan_profile *p, long i)
{
    memset(p, 0, sizeof(*p));
    /* A spread of realistic profiles, so caches see different work. */
    p->sex = (enum plan_sex)(i % 2);
    memcpy(p->birth_date, i % 3 == 0 ? "1985-06-01" : "1998-11-20", 11);
    p->height_cm = 160 + (double)(i % 30);
    p->weight_kg = 55 + (double)(i % 45);
    p->activity = (enum plan_activity)(i % PLAN_ACTIVITY_COUNT);
    p->goal = (enum plan_goal)(i % PLAN_GOAL_COUNT);
    p->experience = (enum plan_experience)(i % PLAN_EXPERIENCE_COUNT);
    p->days_per_week = 3 + (int)(i % 4);
    p->session_minutes = 45 + (int)(i % 4) * 15;
    p->equipment = (enum plan_equipment)(i % PLAN_EQUIPMENT_COUNT);
    p->diet = (enum plan_diet)(i % PLAN_DIET_COUNT);
    p->meals_per_day = 3 + (int)(i % 3);
    if (i % 2 == 0)
        p->exclude[p->nexclude++] = "peanuts";
}

static void *
run(void *arg)
{
    struct worker *w = arg;
    struct arena a;
    arena_init(&a);
    struct plan_request r = {.kind = w->kind, .weeks = 4};
    memcpy(r.start_date, "2026-11-23", 11);
    double end = now_s() + w->seconds;
    for (long i = 0;; i++) {
        struct plan_profile p;
        profile(&p, i);
        struct plan_output out;
        const char *why = NULL;
        if (plan_generate_builtin(&p, &r, &a, &out, &why) == 0) {
            w->plans++;
            w->bytes += strlen(out.content);
        }
        arena_cleanup(&a);
        if ((i & 15) == 15 && now_s() >= end)
            break;
    }
    arena_cleanup(&a);
    return NULL;
}

static void
measure(enum store_plan_kind kind, int threads, double seconds)
{
    struct worker *w = calloc((size_t)threads, sizeof(*w));
    if (w == NULL)
        abort();
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i].kind = kind;
        w[i].seconds = seconds;
        pthread_create(&w[i].tid, NULL, run, &w[i]);
    }
    long plans = 0;
    size_t bytes = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(w[i].tid, NULL);
        plans += w[i].plans;
        bytes += w[i].bytes;
    }
    double dt = now_s() - t0;
    printf("%s %d %.0f %.1f %zu\n", store_plan_kind_names[kind], threads, plans / dt,
           dt * 1e6 * threads / (double)plans, plans > 0 ? bytes / (size_t)plans : 0);
    free(w);
}

int
main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 2.0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = argc > 2 ? (int)strtol(argv[2], NULL, 10) : (int)(ncpu > 0 ? ncpu : 1);
    if (seconds <= 0 || threads < 1)
        return 2;
    for (int k = 0; k < STORE_PLAN_KIND_COUNT; k++) {
        measure((enum store_plan_kind)k, 1, seconds);
        if (threads > 1)
            measure((enum store_plan_kind)k, threads, seconds);
    }
    return 0;
}
