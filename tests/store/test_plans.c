/* Fitness profiles, plans with their job and tasks, the job queue and
 * idempotency keys. */
#include <string.h>
#include <time.h>

#include "contract.h"
#include "util/arena.h"
#include "util/clock.h"

static void
profile(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "profile");
    struct store_profile got;
    CHECK_EQ_INT(store_profile_get(s, uid, &a, &got), ERR_NOT_FOUND);
    struct store_profile p = {.user_id = uid,
                              .sex = "male",
                              .birth_date = "1988-04-02",
                              .height_cm = 181.5,
                              .weight_kg = 82.25,
                              .activity_level = "moderate",
                              .goal = "build_muscle",
                              .experience = "intermediate",
                              .days_per_week = 4,
                              .session_minutes = 60,
                              .equipment = "full_gym",
                              .diet = "omnivore",
                              .meals_per_day = 4,
                              .exclude_foods = "[\"peanuts\"]"};
    CHECK_EQ_INT(store_profile_put(s, &p, 3), ERR_PRECONDITION);
    CHECK_EQ_INT(store_profile_put(s, &p, 0), OK);
    CHECK_EQ_INT(p.version, 1);
    CHECK(p.updated_at > 0);
    CHECK_EQ_INT(store_profile_get(s, uid, &a, &got), OK);
    CHECK_EQ_STR(got.sex, "male");
    CHECK_EQ_STR(got.birth_date, "1988-04-02");
    CHECK(got.height_cm == 181.5 && got.weight_kg == 82.25);
    CHECK_EQ_STR(got.activity_level, "moderate");
    CHECK_EQ_STR(got.goal, "build_muscle");
    CHECK_EQ_STR(got.experience, "intermediate");
    CHECK_EQ_INT(got.days_per_week, 4);
    CHECK_EQ_INT(got.session_minutes, 60);
    CHECK_EQ_STR(got.equipment, "full_gym");
    CHECK_EQ_STR(got.diet, "omnivore");
    CHECK_EQ_INT(got.meals_per_day, 4);
    CHECK_EQ_STR(got.exclude_foods, "[\"peanuts\"]");
    CHECK_EQ_INT(got.version, 1);
    p.weight_kg = 80;
    CHECK_EQ_INT(store_profile_put(s, &p, 2), ERR_PRECONDITION);
    CHECK_EQ_INT(store_profile_put(s, &p, 1), OK);
    CHECK_EQ_INT(p.version, 2);
    CHECK_EQ_INT(store_profile_get(s, uid, &a, &got), OK);
    CHECK(got.weight_kg == 80);
    CHECK_EQ_INT(got.version, 2);
    struct store_profile orphan = p;
    orphan.user_id = 987654321;
    CHECK_EQ_INT(store_profile_put(s, &orphan, 0), ERR_NOT_FOUND);
    arena_cleanup(&a);
}

static void
plans(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "plans");
    int64_t other = contract_user(s, "plans_other");
    struct store_plan p = {.user_id = uid,
                           .kind = STORE_PLAN_WORKOUT,
                           .weeks = 8,
                           .start_date = "2026-12-07",
                           .request = "{\"create_tasks\":true}"};
    struct store_job job = {.kind = "plan.generate", .payload = "{\"v\":1}"};
    CHECK_EQ_INT(store_plan_create(s, &p, &job), OK);
    CHECK(p.id > 0);
    CHECK_EQ_INT(p.state, STORE_PLAN_QUEUED);
    CHECK(job.id > 0);
    CHECK_EQ_INT(job.ref_id, p.id);
    CHECK_EQ_INT(job.user_id, uid);

    struct store_plan got;
    CHECK_EQ_INT(store_plan_get(s, uid, p.id, &a, &got), OK);
    CHECK_EQ_INT(got.kind, STORE_PLAN_WORKOUT);
    CHECK_EQ_INT(got.state, STORE_PLAN_QUEUED);
    CHECK_EQ_INT(got.weeks, 8);
    CHECK_EQ_STR(got.start_date, "2026-12-07");
    CHECK_EQ_STR(got.request, "{\"create_tasks\":true}");
    CHECK(got.content == NULL && got.generator == NULL && got.completed_at == 0);
    CHECK_EQ_INT(store_plan_get(s, other, p.id, &a, &got), ERR_NOT_FOUND);

    struct store_plan n1 = {.user_id = uid, .kind = STORE_PLAN_NUTRITION, .weeks = 1};
    CHECK_EQ_INT(store_plan_create(s, &n1, NULL), OK);
    struct store_plan n2 = {.user_id = uid, .kind = STORE_PLAN_NUTRITION, .weeks = 2};
    CHECK_EQ_INT(store_plan_create(s, &n2, NULL), OK);

    /* Running, then ready with its tasks, exactly once. */
    struct store_plan_result r = {.state = STORE_PLAN_RUNNING};
    CHECK_EQ_INT(store_plan_set_state(s, uid, p.id, &r, NULL, 0, &a, &got), OK);
    CHECK_EQ_INT(got.state, STORE_PLAN_RUNNING);
    CHECK_EQ_INT(got.version, 2);
    struct store_task tasks[3] = {
        {.title = "Week 1 day 1", .status = STORE_TASK_TODO, .due_date = "2026-12-07"},
        {.title = "Week 1 day 2", .status = STORE_TASK_TODO, .due_date = "2026-12-09"},
        {.title = "Week 1 day 3", .status = STORE_TASK_TODO, .due_date = "2026-12-11"},
    };
    r = (struct store_plan_result){
        .state = STORE_PLAN_READY, .generator = "builtin", .summary = "3 days", .content = "{\"weeks\":[]}"};
    CHECK_EQ_INT(store_plan_set_state(s, other, p.id, &r, tasks, 3, &a, &got), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_plan_set_state(s, uid, p.id, &r, tasks, 3, &a, &got), OK);
    CHECK_EQ_INT(got.state, STORE_PLAN_READY);
    CHECK_EQ_STR(got.generator, "builtin");
    CHECK_EQ_STR(got.summary, "3 days");
    CHECK_EQ_STR(got.content, "{\"weeks\":[]}");
    CHECK(got.completed_at > 0);
    CHECK_EQ_INT(store_plan_set_state(s, uid, p.id, &r, tasks, 3, &a, &got), ERR_PRECONDITION);
    struct store_task *rows;
    size_t n;
    CHECK_EQ_INT(store_task_list(s, &(struct store_task_query){uid, NULL, STORE_TASK_SORT_DUE_ASC, NULL, 10},
                                 &a, &rows, &n),
                 OK);
    CHECK_EQ_INT(n, 3);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(rows[i].plan_id, p.id);
        CHECK_EQ_STR(rows[i].title, tasks[i].title);
    }
    r = (struct store_plan_result){.state = STORE_PLAN_FAILED, .error = "boom"};
    CHECK_EQ_INT(store_plan_set_state(s, uid, n1.id, &r, NULL, 0, NULL, NULL), OK);
    CHECK_EQ_INT(store_plan_get(s, uid, n1.id, &a, &got), OK);
    CHECK_EQ_INT(got.state, STORE_PLAN_FAILED);
    CHECK_EQ_STR(got.error, "boom");

    /* Lists: newest first, without content, by keyset, with filters. */
    struct store_plan *prow;
    CHECK_EQ_INT(store_plan_list(s, &(struct store_plan_query){uid, NULL, NULL, 10}, &a, &prow, &n), OK);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_INT(prow[0].id, n2.id);
        CHECK_EQ_INT(prow[2].id, p.id);
        CHECK(prow[2].content == NULL);
        CHECK_EQ_STR(prow[2].summary, "3 days");
    }
    struct store_plan_pos pos = {0, 0};
    CHECK_EQ_INT(store_plan_list(s, &(struct store_plan_query){uid, NULL, NULL, 2}, &a, &prow, &n), OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        pos = (struct store_plan_pos){prow[1].created_at, prow[1].id};
        CHECK_EQ_INT(store_plan_list(s, &(struct store_plan_query){uid, NULL, &pos, 2}, &a, &prow, &n), OK);
        CHECK_EQ_INT(n, 1);
        if (n == 1)
            CHECK_EQ_INT(prow[0].id, p.id);
    }
    struct store_plan_filter f = {STORE_PLAN_NUTRITION, -1};
    CHECK_EQ_INT(store_plan_list(s, &(struct store_plan_query){uid, &f, NULL, 10}, &a, &prow, &n), OK);
    CHECK_EQ_INT(n, 2);
    f = (struct store_plan_filter){-1, STORE_PLAN_READY};
    CHECK_EQ_INT(store_plan_list(s, &(struct store_plan_query){uid, &f, NULL, 10}, &a, &prow, &n), OK);
    CHECK_EQ_INT(n, 1);
    f = (struct store_plan_filter){STORE_PLAN_NUTRITION, STORE_PLAN_QUEUED};
    CHECK_EQ_INT(store_plan_list(s, &(struct store_plan_query){uid, &f, NULL, 10}, &a, &prow, &n), OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(store_plan_list(s, &(struct store_plan_query){other, NULL, NULL, 10}, &a, &prow, &n), OK);
    CHECK_EQ_INT(n, 0);

    /* Deleting a plan cancels its queued job and keeps its tasks. */
    struct store_plan q = {.user_id = uid, .kind = STORE_PLAN_WORKOUT, .weeks = 1};
    struct store_job qjob = {.kind = "plan.generate"};
    CHECK_EQ_INT(store_plan_create(s, &q, &qjob), OK);
    CHECK_EQ_INT(store_plan_delete(s, other, q.id), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_plan_delete(s, uid, q.id), OK);
    CHECK_EQ_INT(store_plan_delete(s, uid, q.id), ERR_NOT_FOUND);
    struct store_job jg;
    CHECK_EQ_INT(store_job_get(s, qjob.id, &a, &jg), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_plan_delete(s, uid, p.id), OK);
    CHECK_EQ_INT(store_task_list(s, &(struct store_task_query){uid, NULL, STORE_TASK_SORT_DUE_ASC, NULL, 10},
                                 &a, &rows, &n),
                 OK);
    CHECK_EQ_INT(n, 3);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(rows[i].plan_id, 0);
        CHECK_EQ_INT(rows[i].version, 2);
    }
    arena_cleanup(&a);
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void
jobs(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t before[STORE_JOB_STATE_COUNT], after[STORE_JOB_STATE_COUNT];
    CHECK_EQ_INT(store_job_counts(s, before), OK);
    struct store_job j1 = {.kind = "test.one", .payload = "{\"n\":1}"};
    CHECK_EQ_INT(store_job_enqueue(s, &j1), OK);
    CHECK_EQ_INT(j1.state, STORE_JOB_QUEUED);
    struct store_job later = {.kind = "test.later", .run_at = clock_wall_ms() + 3600000};
    CHECK_EQ_INT(store_job_enqueue(s, &later), OK);
    struct store_job u1 = {.kind = "test.periodic", .unique_key = "purge:2026-11-22T10"};
    CHECK_EQ_INT(store_job_enqueue(s, &u1), OK);
    struct store_job u2 = {.kind = "test.periodic", .unique_key = "purge:2026-11-22T10"};
    CHECK_EQ_INT(store_job_enqueue(s, &u2), ERR_CONFLICT);
    CHECK_EQ_INT(u2.id, u1.id);
    CHECK_EQ_INT(store_job_counts(s, after), OK);
    CHECK_EQ_INT(after[STORE_JOB_QUEUED], before[STORE_JOB_QUEUED] + 3);

    /* Claim everything due: j1 and u1 (and older leftovers), not `later`. */
    struct store_job *rows;
    size_t n;
    bool got1 = false, got_later = false;
    for (int round = 0; round < 100; round++) {
        CHECK_EQ_INT(store_job_claim(s, "worker-a", 60000, 10, &a, &rows, &n), OK);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ_INT(rows[i].state, STORE_JOB_RUNNING);
            CHECK_EQ_STR(rows[i].lease_owner, "worker-a");
            CHECK(rows[i].lease_expires_at > clock_wall_ms());
            got1 = got1 || rows[i].id == j1.id;
            got_later = got_later || rows[i].id == later.id;
            if (rows[i].id != j1.id && rows[i].id != u1.id)
                store_job_complete(s, rows[i].id, "worker-a");
        }
    }
    CHECK(got1);
    CHECK(!got_later);
    struct store_job g;
    CHECK_EQ_INT(store_job_get(s, j1.id, &a, &g), OK);
    CHECK_EQ_INT(g.attempts, 1);
    CHECK_EQ_STR(g.payload, "{\"n\":1}");
    CHECK_EQ_STR(g.kind, "test.one");

    /* Only the lease owner may act. */
    CHECK_EQ_INT(store_job_renew(s, j1.id, "worker-b", 60000), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_job_renew(s, j1.id, "worker-a", 120000), OK);
    CHECK_EQ_INT(store_job_complete(s, j1.id, "worker-b"), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_job_fail(s, j1.id, "worker-a", "transient", clock_wall_ms() - 1), OK);
    CHECK_EQ_INT(store_job_get(s, j1.id, &a, &g), OK);
    CHECK_EQ_INT(g.state, STORE_JOB_QUEUED);
    CHECK_EQ_STR(g.last_error, "transient");
    CHECK(g.lease_owner == NULL);
    CHECK_EQ_INT(store_job_claim(s, "worker-b", 60000, 1, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(rows[0].id, j1.id);
        CHECK_EQ_INT(rows[0].attempts, 2);
    }
    CHECK_EQ_INT(store_job_release(s, j1.id, "worker-b"), OK);
    CHECK_EQ_INT(store_job_get(s, j1.id, &a, &g), OK);
    CHECK_EQ_INT(g.state, STORE_JOB_QUEUED);
    CHECK_EQ_INT(g.attempts, 1); /* a hand-back is not an attempt */
    CHECK_EQ_INT(store_job_claim(s, "worker-c", 60000, 1, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(store_job_fail(s, j1.id, "worker-c", "permanent", 0), OK);
    CHECK_EQ_INT(store_job_get(s, j1.id, &a, &g), OK);
    CHECK_EQ_INT(g.state, STORE_JOB_DEAD);
    CHECK(g.finished_at > 0);
    CHECK_EQ_INT(store_job_complete(s, u1.id, "worker-a"), OK);
    CHECK_EQ_INT(store_job_get(s, u1.id, &a, &g), OK);
    CHECK_EQ_INT(g.state, STORE_JOB_DONE);
    CHECK_EQ_INT(store_job_enqueue(s, &u2), ERR_CONFLICT); /* the key holds until purged */

    /* A worker that dies: its lease runs out and another worker gets it. */
    struct store_job crash = {.kind = "test.crash"};
    CHECK_EQ_INT(store_job_enqueue(s, &crash), OK);
    CHECK_EQ_INT(store_job_claim(s, "worker-dead", 1, 10, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 1);
    sleep_ms(5);
    CHECK_EQ_INT(store_job_claim(s, "worker-live", 60000, 10, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(rows[0].id, crash.id);
        CHECK_EQ_INT(rows[0].attempts, 2);
    }
    CHECK_EQ_INT(store_job_complete(s, crash.id, "worker-dead"), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_job_complete(s, crash.id, "worker-live"), OK);

    size_t purged = 0;
    CHECK_EQ_INT(store_job_purge(s, clock_wall_ms() + 1, 1000, &purged), OK);
    CHECK(purged >= 3);
    CHECK_EQ_INT(store_job_get(s, u1.id, &a, &g), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_job_get(s, later.id, &a, &g), OK);
    CHECK_EQ_INT(store_job_enqueue(s, &u2), OK); /* the key is free again */
    CHECK_EQ_INT(store_job_claim(s, "x", 0, 1, &a, &rows, &n), ERR_INVALID);
    arena_cleanup(&a);
}

static void
idem(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t uid = contract_user(s, "idem");
    int64_t other = contract_user(s, "idem_other");
    uint8_t h1[STORE_HASH_LEN], h2[STORE_HASH_LEN];
    contract_hash(h1, "body one");
    contract_hash(h2, "body two");
    int64_t exp = clock_wall_ms() + 86400000;
    struct store_idem e;
    CHECK_EQ_INT(store_idem_reserve(s, uid, "key-1", h1, exp, &a, &e), OK);
    CHECK_EQ_INT(store_idem_reserve(s, uid, "key-1", h1, exp, &a, &e), ERR_CONFLICT);
    CHECK_EQ_INT(e.status, 0); /* still in progress */
    CHECK(memcmp(e.request_hash, h1, STORE_HASH_LEN) == 0);
    CHECK_EQ_INT(store_idem_reserve(s, other, "key-1", h2, exp, &a, &e), OK); /* keys are per user */
    static const char body[] = "{\"id\":1}\0tail";
    CHECK_EQ_INT(store_idem_complete(s, uid, "key-1", 201, "Location: /api/v1/tasks/1", body, sizeof(body)),
                 OK);
    CHECK_EQ_INT(store_idem_reserve(s, uid, "key-1", h2, exp, &a, &e), ERR_CONFLICT);
    CHECK(memcmp(e.request_hash, h1, STORE_HASH_LEN) == 0); /* the caller sees the body differs */
    CHECK_EQ_INT(e.status, 201);
    CHECK_EQ_STR(e.response_headers, "Location: /api/v1/tasks/1");
    CHECK_EQ_INT(e.response_len, sizeof(body));
    CHECK(e.response_body != NULL && memcmp(e.response_body, body, sizeof(body)) == 0);
    struct store_idem g;
    CHECK_EQ_INT(store_idem_get(s, uid, "key-1", &a, &g), OK);
    CHECK_EQ_INT(g.status, 201);
    CHECK_EQ_INT(store_idem_get(s, uid, "key-2", &a, &g), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_idem_complete(s, uid, "key-2", 201, NULL, "x", 1), ERR_NOT_FOUND);

    /* A failed request gives its key back. */
    CHECK_EQ_INT(store_idem_reserve(s, uid, "key-3", h1, exp, &a, &e), OK);
    CHECK_EQ_INT(store_idem_release(s, uid, "key-3"), OK);
    CHECK_EQ_INT(store_idem_reserve(s, uid, "key-3", h2, exp, &a, &e), OK);

    /* Expired keys are replaced, and purged. */
    CHECK_EQ_INT(store_idem_reserve(s, uid, "key-old", h1, clock_wall_ms() - 1, &a, &e), OK);
    CHECK_EQ_INT(store_idem_reserve(s, uid, "key-old", h2, exp, &a, &e), OK);
    CHECK_EQ_INT(store_idem_reserve(s, uid, "key-old2", h1, clock_wall_ms() - 1, &a, &e), OK);
    size_t purged = 0;
    CHECK_EQ_INT(store_idem_purge(s, clock_wall_ms(), 100, &purged), OK);
    CHECK_EQ_INT(purged, 1);
    CHECK_EQ_INT(store_idem_get(s, uid, "key-old2", &a, &g), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_idem_get(s, uid, "key-old", &a, &g), OK);
    arena_cleanup(&a);
}

void
contract_plans(struct store *s)
{
    profile(s);
    plans(s);
    contract_tally();
}

void
contract_jobs(struct store *s)
{
    jobs(s);
    contract_tally();
}

void
contract_idem(struct store *s)
{
    idem(s);
    contract_tally();
}
