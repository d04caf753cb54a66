/* The "plan.generate" job: reads the profile and request the API stored in
 * the payload, marks the plan running, asks the LLM provider when one is
 * configured (falling back to the built-in engine on any failure), and
 * stores the result together with the plan's tasks. Idempotent: a plan
 * that is already ready or failed is final (the store refuses the change),
 * so a job that runs twice after a crash changes nothing the second time
 * and creates its tasks once; a deleted plan ends the job quietly. */
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "jobs/jobs.h"
#include "plan/plan.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"

struct plan_job {
    struct store *st;
    struct plan_llm *llm;
    atomic_ulong generated[STORE_PLAN_KIND_COUNT][2]; /* [kind][builtin, llm] */
    atomic_ulong failed;
};

static struct plan_job ctx;

static bool
stop_requested(void *arg)
{
    return jobs_run_should_stop(arg);
}

/* Moves the plan to r->state; OK, or ERR_NOT_FOUND/ERR_PRECONDITION when
 * there is nothing left to do (deleted, or final already). */
static int
set_state(const struct store_job *job, const struct store_plan_result *r, const struct store_task *tasks,
          size_t ntasks)
{
    return store_plan_set_state(ctx.st, job->user_id, job->ref_id, r, tasks, ntasks, NULL, NULL);
}

static bool
nothing_to_do(int err)
{
    return err == ERR_NOT_FOUND || err == ERR_PRECONDITION;
}

static enum jobs_result
run_generate(struct jobs_run *run, void *arg)
{
    (void)arg;
    const struct store_job *job = run->job;
    struct plan_profile p;
    struct plan_request r;
    if (job->ref_id == 0 || plan_payload_read(job->payload, run->arena, &p, &r) != OK) {
        run->error = "the job's payload is not a plan request";
        return JOBS_FAIL;
    }
    struct store_plan_result res = {.state = STORE_PLAN_RUNNING};
    int err = set_state(job, &res, NULL, 0);
    if (nothing_to_do(err))
        return JOBS_DONE;
    if (err != OK) {
        run->error = arena_printf(run->arena, "cannot mark the plan running (%s)", err_name(err));
        return JOBS_RETRY;
    }

    struct plan_output out;
    bool have = false;
    if (ctx.llm != NULL) {
        enum plan_llm_result lr = plan_llm_generate(ctx.llm, &p, &r, run->arena, &out, stop_requested, run);
        if (lr == PLAN_LLM_ABORTED)
            return JOBS_RELEASE;
        have = lr == PLAN_LLM_OK;
    }
    if (!have) {
        const char *why = "the plan cannot be made from this profile";
        err = plan_generate_builtin(&p, &r, run->arena, &out, &why);
        if (err != OK) {
            /* A plan this profile cannot make fails for good: a result, not
             * a job failure. */
            struct store_plan_result failed = {.state = STORE_PLAN_FAILED, .error = why};
            err = set_state(job, &failed, NULL, 0);
            if (err == OK)
                atomic_fetch_add_explicit(&ctx.failed, 1, memory_order_relaxed);
            if (err == OK || nothing_to_do(err))
                return JOBS_DONE;
            run->error = arena_printf(run->arena, "cannot record the failed plan (%s)", err_name(err));
            return JOBS_RETRY;
        }
    }

    struct store_task *tasks = NULL;
    if (out.ntasks > 0) {
        tasks = arena_alloc(run->arena, out.ntasks * sizeof(*tasks));
        for (size_t i = 0; i < out.ntasks; i++)
            tasks[i] = (struct store_task){
                .title = out.tasks[i].title,
                .status = STORE_TASK_TODO,
                .due_date = out.tasks[i].due_date,
            };
    }
    struct store_plan_result ready = {
        .state = STORE_PLAN_READY,
        .generator = out.generator,
        .summary = out.summary,
        .content = out.content,
    };
    err = set_state(job, &ready, tasks, out.ntasks);
    if (err == OK) {
        bool llm = strcmp(out.generator, "llm") == 0;
        atomic_fetch_add_explicit(&ctx.generated[r.kind][llm ? 1 : 0], 1, memory_order_relaxed);
        log_info("plan", "plan %" PRId64 " ready (%s, %s, %zu tasks)", job->ref_id,
                 store_plan_kind_names[r.kind], out.generator, out.ntasks);
        return JOBS_DONE;
    }
    if (nothing_to_do(err))
        return JOBS_DONE;
    run->error = arena_printf(run->arena, "cannot store the plan (%s)", err_name(err));
    return JOBS_RETRY;
}

static void
give_up(struct store *st, const struct store_job *job, const char *error, void *arg)
{
    (void)arg;
    (void)error; /* logged by the job system; internal details stay out of the plan */
    struct store_plan_result failed = {
        .state = STORE_PLAN_FAILED,
        .error = "the plan could not be generated; please request it again",
    };
    int err = store_plan_set_state(st, job->user_id, job->ref_id, &failed, NULL, 0, NULL, NULL);
    if (err == OK)
        atomic_fetch_add_explicit(&ctx.failed, 1, memory_order_relaxed);
    else if (!nothing_to_do(err))
        log_warn("plan", "plan %" PRId64 " could not be marked failed (%s)", job->ref_id, err_name(err));
}

static void
metrics(struct buf *out, void *arg)
{
    (void)arg;
    buf_appends(out,
                "# HELP pace_plans_generated_total Plans this instance generated, by kind and generator.\n"
                "# TYPE pace_plans_generated_total counter\n");
    for (int k = 0; k < STORE_PLAN_KIND_COUNT; k++)
        for (int g = 0; g < 2; g++)
            buf_printf(out, "pace_plans_generated_total{kind=\"%s\",generator=\"%s\"} %lu\n",
                       store_plan_kind_names[k], g == 0 ? "builtin" : "llm",
                       atomic_load_explicit(&ctx.generated[k][g], memory_order_relaxed));
    buf_printf(out,
               "# HELP pace_plans_failed_total Plans this instance marked failed.\n"
               "# TYPE pace_plans_failed_total counter\n"
               "pace_plans_failed_total %lu\n",
               atomic_load_explicit(&ctx.failed, memory_order_relaxed));
    if (ctx.llm != NULL)
        plan_llm_metrics(ctx.llm, out);
}

int
plan_job_register(struct jobs *j, struct store *st, struct plan_llm *llm)
{
    ctx.st = st;
    ctx.llm = llm;
    struct jobs_kind k = {PLAN_JOB_KIND, run_generate, give_up, metrics, NULL};
    return jobs_register(j, &k);
}
