/* The durable job queue's runtime: worker threads that claim jobs from the
 * store with a lease, renew it while a job runs, complete or fail it
 * (exponential backoff with jitter, dead after the last attempt), hand it
 * back on shutdown; handlers registered per job kind; periodic jobs run
 * once per period across every instance that shares the database (one job
 * per "kind:period start" unique key); metrics.
 *
 * Jobs live in the store (store_job_*), so they survive restarts and, on
 * PostgreSQL, are shared by all instances. A job whose worker died is
 * claimed again when its lease expires, so a handler may run more than
 * once for one job: handlers must be idempotent. */
#ifndef PACE_JOBS_JOBS_H
#define PACE_JOBS_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct buf;
struct store;
struct store_job;

/* What a handler asks for when it returns. */
enum jobs_result {
    JOBS_DONE,    /* finished (also: nothing left to do) */
    JOBS_RETRY,   /* failed for now: again after a backoff, or dead after the last attempt */
    JOBS_FAIL,    /* failed for good: dead now */
    JOBS_RELEASE, /* not done, hand it back (asked to stop): not counted as an attempt */
};

/* One run of a job, given to its handler. */
struct jobs_run {
    const struct store_job *job; /* borrowed for the run */
    struct store *store;         /* borrowed */
    struct arena *arena;         /* scratch, freed after the run */
    int max_attempts;
    /* Set by the handler with JOBS_RETRY or JOBS_FAIL: a short reason that
     * becomes the job's last_error (copied; may live in arena). */
    const char *error;
    void *priv; /* the worker's; do not touch */
};

typedef enum jobs_result jobs_run_fn(struct jobs_run *run, void *arg);
/* Called when a job of the kind is given up (dead): after its last attempt
 * failed, or when it is claimed again with no attempt left (its workers
 * kept dying). error is the reason (borrowed). */
typedef void jobs_give_up_fn(struct store *st, const struct store_job *job, const char *error, void *arg);
/* Appends Prometheus lines of the kind's own. */
typedef void jobs_metrics_fn(struct buf *out, void *arg);

struct jobs_kind {
    const char *name; /* "plan.generate"; borrowed, must outlive the job system */
    jobs_run_fn *run;
    jobs_give_up_fn *give_up; /* may be NULL */
    jobs_metrics_fn *metrics; /* may be NULL */
    void *arg;
};

/* True when the handler should stop soon and return JOBS_RELEASE: the
 * process is shutting down past its deadline, or the job's lease was lost
 * (another worker may have it). Handlers that wait (network) poll it. */
bool jobs_run_should_stop(const struct jobs_run *run);
/* True when a JOBS_RETRY now makes the job dead. */
bool jobs_run_is_last_attempt(const struct jobs_run *run);

struct jobs_opts {
    int workers;             /* worker threads in this process; 0: this instance runs no jobs */
    int max_attempts;        /* claims before a failing job is dead (>= 1) */
    int lease_ms;            /* a claim's lease; renewed every third of it while the job runs */
    int poll_max_ms;         /* longest wait between claims when the queue looks empty */
    int64_t backoff_base_ms; /* first retry after about this long, doubling per attempt */
    int64_t backoff_max_ms;
    int64_t purge_interval_ms; /* the period of the periodic purges */
    int64_t retention_ms;      /* finished jobs are purged after this long (at least two periods) */
    int64_t token_keep_ms;     /* expired/revoked sessions and tokens are kept this long */
    int max_queued_per_user;   /* a user's jobs of one kind queued or running at once (0: no bound) */
};

/* Defaults for everything (4 workers, 5 attempts, 30 s lease, ...). */
void jobs_opts_default(struct jobs_opts *o);

struct jobs;

/* How many jobs one user may have queued or running at once (the
 * store_job's max_active for a user's job); 0: no bound, also when j is
 * NULL. */
int jobs_max_queued_per_user(const struct jobs *j);

/* A job system over st (borrowed; must outlive it), with the periodic
 * purge kinds registered. Returns NULL on bad options (logged). */
struct jobs *jobs_new(struct store *st, const struct jobs_opts *o);
/* Registers a kind (copied). Before jobs_start only. Returns OK, or after
 * logging ERR_CONFLICT (a duplicate), ERR_TOO_LARGE (too many kinds) or
 * ERR_INVALID (no name or run, or the workers started). */
int jobs_register(struct jobs *j, const struct jobs_kind *k);
/* Starts the workers and the keeper thread (leases, schedules, metrics).
 * Threads are started with every signal blocked. Returns OK or
 * ERR_INTERNAL (a thread could not start; logged). */
int jobs_start(struct jobs *j);
/* Wakes an idle worker of this process: a job was just queued. Cheap;
 * callable from any thread, also before jobs_start; NULL is a no-op. */
void jobs_notify(struct jobs *j);
/* Stops claiming, waits up to timeout_ms for running jobs to finish, then
 * hands back (store_job_release) those still running. Returns true when
 * every worker stopped; false when handlers are still running (their jobs
 * were released): the caller must then exit without freeing what they use. */
bool jobs_stop(struct jobs *j, long timeout_ms);
/* Frees a stopped (or never started) job system. NULL is a no-op. */
void jobs_free(struct jobs *j);

/* Prometheus text for the running job system (nothing when none runs):
 * queue depth by state, runs by kind and result, run time, retries, dead
 * jobs, busy workers, and each kind's own lines. */
void jobs_metrics_render(struct buf *out);

/* ---- pieces, exposed for the unit tests ---- */

/* The delay before retrying after `attempts` claims: base * 2^(attempts-1)
 * capped at max, then "equal jitter": between half and all of it, picked
 * by r (uniform in [0, 2^32)). */
int64_t jobs_backoff_ms(const struct jobs_opts *o, int attempts, uint32_t r);
/* The start of the period that holds now. */
int64_t jobs_period_start(int64_t now_ms, int64_t period_ms);
/* The unique key of a periodic kind's job for one period, in out. */
void jobs_period_key(const char *kind, int64_t period_start, char *out, size_t cap);

#endif
