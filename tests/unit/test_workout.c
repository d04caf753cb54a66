/* Unit tests for workout programming: the split by training days, exercises
 * that the equipment allows, the time model against hand-computed values,
 * every session within session_minutes in every week for every profile, a
 * lighter deload every 4th week, progression week by week, session dates,
 * one task per session, and the same plan every time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan/plan.h"
#include "util/arena.h"
#include "util/err.h"

static struct plan_profile
profile(int days, int minutes, enum plan_goal goal, enum plan_experience exp, enum plan_equipment eq)
{
    struct plan_profile p;
    memset(&p, 0, sizeof(p));
    p.sex = PLAN_FEMALE;
    memcpy(p.birth_date, "1992-04-10", 11);
    p.height_cm = 170;
    p.weight_kg = 65;
    p.activity = PLAN_LIGHT;
    p.goal = goal;
    p.experience = exp;
    p.days_per_week = days;
    p.session_minutes = minutes;
    p.equipment = eq;
    p.diet = PLAN_OMNIVORE;
    p.meals_per_day = 3;
    return p;
}

static struct plan_request
request(int weeks)
{
    struct plan_request r = {.kind = STORE_PLAN_WORKOUT, .weeks = weeks};
    memcpy(r.start_date, "2026-02-25", 11);
    return r;
}

static void
test_time_model(void)
{
    /* 3 x 10 reps at 4 s = 120 s, 2 rests of 90 s = 180 s, 60 s set-up:
     * 360 s = 6 min; plus 5 min warm-up = 11. */
    struct plan_exercise ex[2] = {{.sets = 3, .reps = 10, .rest_seconds = 90},
                                  {.sets = 2, .reps = 12, .rest_seconds = 60}};
    CHECK_EQ_INT(plan_session_minutes(ex, 1, 5, 0), 11);
    /* the second: 2 x 12 x 4 = 96 + 60 + 60 = 216 s; 576 s in all = 9.6 -> 10 min */
    CHECK_EQ_INT(plan_session_minutes(ex, 2, 5, 0), 15);
    CHECK_EQ_INT(plan_session_minutes(ex, 2, 5, 20), 35);
    CHECK_EQ_INT(plan_session_minutes(ex, 0, 5, 0), 5);
}

static void
test_splits(void)
{
    struct arena a;
    arena_init(&a);
    static const char *const want[8] = {NULL,          "full body",      "full body",      "full body",
                                        "upper/lower", "push/pull/legs", "push/pull/legs", "push/pull/legs"};
    for (int d = 1; d <= 7; d++) {
        struct plan_profile p = profile(d, 60, PLAN_BUILD_MUSCLE, PLAN_INTERMEDIATE, PLAN_EQ_FULL_GYM);
        struct plan_request r = request(2);
        struct plan_workout w;
        plan_workout_build(&p, &r, &a, &w);
        CHECK_EQ_STR(w.split, want[d]);
        CHECK_EQ_INT(w.nsessions, 2 * d);
        CHECK_EQ_INT(w.sessions_per_week, d);
    }
    struct plan_profile p = profile(4, 60, PLAN_MAINTAIN, PLAN_BEGINNER, PLAN_EQ_FULL_GYM);
    struct plan_request r = request(1);
    struct plan_workout w;
    plan_workout_build(&p, &r, &a, &w);
    CHECK_EQ_STR(w.sessions[0].name, "Upper A");
    CHECK_EQ_STR(w.sessions[1].name, "Lower A");
    /* Dates: sessions on days 0, 1, 3, 4 of each week from 2026-02-25. */
    CHECK_EQ_STR(w.sessions[0].date, "2026-02-25");
    CHECK_EQ_STR(w.sessions[2].date, "2026-02-28");
    CHECK_EQ_STR(w.sessions[3].date, "2026-03-01");
    arena_cleanup(&a);
}

static bool
contains(const char *s, const char *word)
{
    return strstr(s, word) != NULL;
}

static void
test_equipment(void)
{
    struct arena a;
    arena_init(&a);
    for (int d = 1; d <= 7; d++)
        for (int eq = 0; eq < PLAN_EQUIPMENT_COUNT; eq++) {
            struct plan_profile p = profile(d, 90, PLAN_BUILD_MUSCLE, PLAN_ADVANCED, (enum plan_equipment)eq);
            struct plan_request r = request(1);
            struct plan_workout w;
            plan_workout_build(&p, &r, &a, &w);
            for (size_t s = 0; s < w.nsessions; s++)
                for (size_t i = 0; i < w.sessions[s].nex; i++) {
                    const char *n = w.sessions[s].ex[i].name;
                    bool gym = contains(n, "Cable") || contains(n, "Machine") || contains(n, "machine") ||
                               contains(n, "Leg press") || contains(n, "pulldown") ||
                               contains(n, "pec deck") || contains(n, "Face pull") ||
                               contains(n, "leg press");
                    bool barbell = contains(n, "Barbell") || contains(n, "EZ-bar") ||
                                   contains(n, "Pull-up") || contains(n, "Chin-up") ||
                                   contains(n, "Hanging") || contains(n, "Ab wheel");
                    bool dumbbell = contains(n, "Dumbbell") || contains(n, "dumbbell") ||
                                    contains(n, "Goblet") || contains(n, "curl") || contains(n, "Hammer");
                    if (eq < PLAN_EQ_FULL_GYM)
                        CHECK(!gym);
                    if (eq < PLAN_EQ_HOME_GYM)
                        CHECK(!barbell);
                    if (eq < PLAN_EQ_DUMBBELLS)
                        CHECK(!dumbbell);
                }
        }
    arena_cleanup(&a);
}

/* Every session of every week fits session_minutes, for every profile. */
static void
test_sessions_fit(void)
{
    static const int minutes[] = {20, 25, 30, 45, 60, 75, 90, 120, 180};
    static const int weeks[] = {1, 3, 4, 8, 12};
    struct arena a;
    arena_init(&a);
    int sessions = 0, min_ex = 99;
    for (int d = 1; d <= 7; d++)
        for (size_t mi = 0; mi < sizeof(minutes) / sizeof(minutes[0]); mi++)
            for (int g = 0; g < PLAN_GOAL_COUNT; g++)
                for (int x = 0; x < PLAN_EXPERIENCE_COUNT; x++)
                    for (int eq = 0; eq < PLAN_EQUIPMENT_COUNT; eq++)
                        for (size_t wi = 0; wi < sizeof(weeks) / sizeof(weeks[0]); wi++) {
                            struct plan_profile p = profile(d, minutes[mi], (enum plan_goal)g,
                                                            (enum plan_experience)x, (enum plan_equipment)eq);
                            struct plan_request r = request(weeks[wi]);
                            struct plan_workout w;
                            plan_workout_build(&p, &r, &a, &w);
                            CHECK_EQ_INT(w.nsessions, (size_t)(weeks[wi] * d));
                            for (size_t s = 0; s < w.nsessions; s++) {
                                const struct plan_session *ss = &w.sessions[s];
                                sessions++;
                                CHECK(ss->minutes <= minutes[mi]);
                                CHECK(ss->nex >= 1);
                                if ((int)ss->nex < min_ex)
                                    min_ex = (int)ss->nex;
                                CHECK_EQ_INT(ss->minutes,
                                             plan_session_minutes(ss->ex, ss->nex, ss->warmup_minutes,
                                                                  ss->conditioning_minutes));
                                for (size_t i = 0; i < ss->nex; i++) {
                                    CHECK(ss->ex[i].sets >= 1 && ss->ex[i].sets <= 10);
                                    CHECK(ss->ex[i].reps >= ss->ex[i].reps_low * 2 / 3);
                                    CHECK(ss->ex[i].reps <= ss->ex[i].reps_high);
                                }
                            }
                            arena_cleanup(&a);
                        }
    fprintf(stderr, "workout: %d sessions checked, fewest exercises in a session %d\n", sessions, min_ex);
    arena_cleanup(&a);
}

static int
volume(const struct plan_session *s)
{
    int v = 0;
    for (size_t i = 0; i < s->nex; i++)
        v += s->ex[i].sets * s->ex[i].reps;
    return v;
}

/* The session of week `week` with this name, or NULL. */
static const struct plan_session *
find(const struct plan_workout *w, int week, const char *name)
{
    for (size_t i = 0; i < w->nsessions; i++)
        if (w->sessions[i].week == week && strcmp(w->sessions[i].name, name) == 0)
            return &w->sessions[i];
    return NULL;
}

static void
test_progression_and_deload(void)
{
    struct arena a;
    arena_init(&a);
    for (int d = 1; d <= 7; d++)
        for (int x = 0; x < PLAN_EXPERIENCE_COUNT; x++)
            for (int m = 20; m <= 120; m += 25) {
                struct plan_profile p =
                    profile(d, m, PLAN_BUILD_MUSCLE, (enum plan_experience)x, PLAN_EQ_HOME_GYM);
                struct plan_request r = request(8);
                struct plan_workout w;
                plan_workout_build(&p, &r, &a, &w);
                for (size_t i = 0; i < w.nsessions; i++) {
                    const struct plan_session *s = &w.sessions[i];
                    int pos = (s->week - 1) % 4;
                    if (pos == 3) {
                        /* A deload session is lighter than the same session in every
                         * other week of its block, and lighter in load. */
                        for (int k = 1; k <= 3; k++) {
                            const struct plan_session *o = find(&w, s->week - k, s->name);
                            if (o != NULL)
                                CHECK(volume(s) < volume(o));
                        }
                        for (size_t e = 0; e < s->nex; e++)
                            CHECK(s->ex[e].load_change < 0);
                    }
                    if (pos == 1 || pos == 2) {
                        const struct plan_session *o = find(&w, s->week - 1, s->name);
                        if (o != NULL)
                            CHECK(volume(s) > volume(o));
                    }
                    if (s->week == 5) {
                        for (size_t e = 0; e < s->nex; e++)
                            CHECK(s->ex[e].load_change > 2.4 && s->ex[e].load_change < 2.6);
                    }
                }
                arena_cleanup(&a);
            }
    arena_cleanup(&a);
}

static void
test_builtin_plan(void)
{
    struct arena a;
    arena_init(&a);
    struct plan_profile p = profile(3, 45, PLAN_ENDURANCE, PLAN_BEGINNER, PLAN_EQ_NONE);
    struct plan_request r = request(4);
    r.create_tasks = true;
    struct plan_output one, two;
    const char *why = NULL;
    CHECK_EQ_INT(plan_generate_builtin(&p, &r, &a, &one, &why), OK);
    CHECK_EQ_INT(plan_generate_builtin(&p, &r, &a, &two, &why), OK);
    CHECK_EQ_STR(one.generator, "builtin");
    CHECK(strcmp(one.content, two.content) == 0);
    CHECK(strcmp(one.summary, two.summary) == 0);
    CHECK_EQ_INT(one.ntasks, 12);
    CHECK_EQ_STR(one.tasks[0].title, "Workout: Full body A (week 1 of 4)");
    CHECK_EQ_STR(one.tasks[0].due_date, "2026-02-25");
    CHECK_EQ_STR(one.tasks[3].due_date, "2026-03-04");
    CHECK(strstr(one.content, "\"deload\":true") != NULL);
    CHECK(strstr(one.content, "zone 2") != NULL); /* endurance: conditioning in the time left */
    /* Without create_tasks, no tasks. */
    r.create_tasks = false;
    CHECK_EQ_INT(plan_generate_builtin(&p, &r, &a, &one, &why), OK);
    CHECK_EQ_INT(one.ntasks, 0);
    arena_cleanup(&a);
}

int
main(void)
{
    test_time_model();
    test_splits();
    test_equipment();
    test_sessions_fit();
    test_progression_and_deload();
    test_builtin_plan();
    return check_done();
}
