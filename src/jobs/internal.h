/* Shared by the files of src/jobs only. */
#ifndef PACE_JOBS_INTERNAL_H
#define PACE_JOBS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "jobs/jobs.h"

enum {
    JOBS_KINDS_MAX = 16,
    JOBS_WORKERS_MAX = 256,
    JOBS_OWNER_MAX = 96,
    JOBS_ERROR_MAX = 300,
    JOBS_HIST_BUCKETS = 11,
    JOBS_PERIODIC = 3,
};

/* Per kind counters, written by workers with relaxed atomics. */
struct jobs_kind_state {
    struct jobs_kind k;
    atomic_ulong done, retried, dead, released, lost;
    atomic_ulong hist[JOBS_HIST_BUCKETS + 1]; /* run time buckets; the last is +Inf */
    atomic_ulong sum_us;
};

/* One worker thread and the job it runs. Guarded by jobs->mu except the
 * fields only its thread touches. */
struct jobs_worker {
    struct jobs *j;
    int index;
    pthread_t tid;
    bool started;
    char owner[JOBS_OWNER_MAX];
    /* the running job (guarded by mu) */
    int64_t job_id;        /* 0: idle */
    int64_t last_renew_ms; /* monotonic */
    bool lease_lost;
    bool released; /* handed back by jobs_stop: the worker must not touch the job again */
};

struct jobs {
    struct store *st;
    struct jobs_opts o;
    struct jobs_kind_state kinds[JOBS_KINDS_MAX];
    size_t nkinds;
    char instance[64];

    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* idle workers wait here; jobs_notify signals */
    unsigned pending;       /* notifications not yet consumed (guarded by mu) */
    bool stopping;          /* no more claims */
    bool hard_stop;         /* past the shutdown deadline */
    bool started;
    bool stopped; /* jobs_stop ran; `drained` is its answer */
    bool drained;
    int running_workers; /* threads not yet exited (guarded by mu) */
    pthread_cond_t exit_cv;

    struct jobs_worker *workers;
    struct ticker *keeper; /* util/ticker.h: runs keeper_tick */

    /* the keeper's state */
    int64_t last_period[JOBS_PERIODIC];
    int64_t next_depth_ms; /* monotonic: when to count the queue again */

    /* metrics */
    atomic_llong depth[4]; /* by store_job_state, refreshed by the keeper */
    atomic_bool depth_known;
    atomic_int busy;
};

/* queue.c */
void jobs_register_periodic(struct jobs *j);
void jobs_schedule_periodic(struct jobs *j, int64_t now_ms);

#endif
