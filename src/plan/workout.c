/* Workout programming: a split by training days, exercises that the
 * equipment allows, sets/reps/rest by goal and experience, progressive
 * overload in 4-week blocks whose 4th week is a deload, and sessions that
 * fit session_minutes. Invariants: every session's estimated minutes are
 * at most session_minutes in every week (exercises are chosen against the
 * heaviest week of a block); a deload week has less volume than any other
 * week of its block; the same profile and request give the same plan. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plan/plan.h"
#include "util/arena.h"
#include "util/jw.h"

enum pattern {
    P_SQUAT,
    P_HINGE,
    P_LUNGE,
    P_HPUSH,
    P_VPUSH,
    P_HPULL,
    P_VPULL,
    P_CORE,
    P_BICEPS,
    P_TRICEPS,
    P_LATERAL,
    P_CALVES,
    P_REAR,
    P_COUNT
};

struct pattern_def {
    const char *label;
    bool compound;
    /* [equipment][variant]; NULL: none at that level (a lower level's is used) */
    const char *names[PLAN_EQUIPMENT_COUNT][2];
};

/* clang-format off */
static const struct pattern_def patterns[P_COUNT] = {
    [P_SQUAT] = {"squat", true, {{"Bodyweight squat", "Tempo bodyweight squat"},
                                 {"Goblet squat", "Dumbbell front squat"},
                                 {"Barbell back squat", "Barbell front squat"},
                                 {"Barbell back squat", "Leg press"}}},
    [P_HINGE] = {"hip hinge", true, {{"Single-leg glute bridge", "Glute bridge"},
                                     {"Dumbbell deadlift", "Dumbbell Romanian deadlift"},
                                     {"Barbell deadlift", "Barbell Romanian deadlift"},
                                     {"Barbell deadlift", "Barbell Romanian deadlift"}}},
    [P_LUNGE] = {"single leg", true, {{"Reverse lunge", "Bulgarian split squat"},
                                      {"Dumbbell walking lunge", "Dumbbell Bulgarian split squat"},
                                      {"Barbell reverse lunge", "Dumbbell step-up"},
                                      {"Walking lunge", "Single-leg leg press"}}},
    [P_HPUSH] = {"horizontal push", true, {{"Push-up", "Decline push-up"},
                                           {"Dumbbell floor press", "Dumbbell squeeze press"},
                                           {"Barbell bench press", "Dumbbell bench press"},
                                           {"Barbell bench press", "Incline dumbbell press"}}},
    [P_VPUSH] = {"vertical push", true, {{"Pike push-up", "Feet-elevated pike push-up"},
                                         {"Dumbbell overhead press", "Seated dumbbell shoulder press"},
                                         {"Barbell overhead press", "Dumbbell overhead press"},
                                         {"Barbell overhead press", "Machine shoulder press"}}},
    [P_HPULL] = {"horizontal pull", true, {{"Inverted row under a sturdy table", "Prone Y-T-W raise"},
                                           {"One-arm dumbbell row", "Dumbbell bent-over row"},
                                           {"Barbell bent-over row", "One-arm dumbbell row"},
                                           {"Seated cable row", "Chest-supported machine row"}}},
    [P_VPULL] = {"vertical pull", true, {{"Superman lat pull", "Reverse snow angel"},
                                         {"Dumbbell pullover", "Dumbbell high pull"},
                                         {"Pull-up", "Chin-up"},
                                         {"Lat pulldown", "Pull-up"}}},
    [P_CORE] = {"core", false, {{"Dead bug", "Bird dog"},
                                {NULL, NULL},
                                {"Hanging knee raise", "Ab wheel rollout"},
                                {"Cable crunch", "Hanging knee raise"}}},
    [P_BICEPS] = {"biceps", false, {{NULL, NULL},
                                    {"Dumbbell curl", "Hammer curl"},
                                    {NULL, NULL},
                                    {"Cable curl", "EZ-bar curl"}}},
    [P_TRICEPS] = {"triceps", false, {{"Bench dip on a chair", "Diamond push-up"},
                                      {"Overhead dumbbell triceps extension", "Dumbbell skull crusher"},
                                      {NULL, NULL},
                                      {"Cable triceps pushdown", "Overhead cable extension"}}},
    [P_LATERAL] = {"shoulders", false, {{NULL, NULL},
                                        {"Dumbbell lateral raise", "Dumbbell lateral raise"},
                                        {NULL, NULL},
                                        {"Cable lateral raise", "Dumbbell lateral raise"}}},
    [P_CALVES] = {"calves", false, {{"Single-leg calf raise", "Single-leg calf raise"},
                                    {"Dumbbell calf raise", "Dumbbell calf raise"},
                                    {"Standing barbell calf raise", "Standing barbell calf raise"},
                                    {"Calf raise machine", "Seated calf raise"}}},
    [P_REAR] = {"rear delts", false, {{"Prone reverse fly (bodyweight)", "Prone reverse fly (bodyweight)"},
                                      {"Dumbbell reverse fly", "Dumbbell reverse fly"},
                                      {NULL, NULL},
                                      {"Face pull", "Reverse pec deck"}}},
};
/* clang-format on */

struct slot {
    enum pattern p;
    int variant;
};

enum { TEMPLATE_SLOTS = 8 };

struct template_def {
    const char *name;
    struct slot s[TEMPLATE_SLOTS];
    size_t n;
    bool conditioning_day;
};

enum tmpl {
    FB_A,
    FB_B,
    UP_A,
    LO_A,
    UP_B,
    LO_B,
    PUSH_A,
    PULL_A,
    LEGS_A,
    PUSH_B,
    PULL_B,
    LEGS_B,
    COND,
    TMPL_COUNT
};

/* clang-format off */
static const struct template_def templates[TMPL_COUNT] = {
    [FB_A] = {"Full body A", {{P_SQUAT, 0}, {P_HPUSH, 0}, {P_HPULL, 0}, {P_HINGE, 1}, {P_VPUSH, 0}, {P_CORE, 0},
                              {P_BICEPS, 0}, {P_CALVES, 0}}, 8, false},
    [FB_B] = {"Full body B", {{P_HINGE, 0}, {P_VPUSH, 1}, {P_VPULL, 0}, {P_LUNGE, 0}, {P_HPUSH, 1}, {P_CORE, 1},
                              {P_TRICEPS, 0}, {P_LATERAL, 0}}, 8, false},
    [UP_A] = {"Upper A", {{P_HPUSH, 0}, {P_HPULL, 0}, {P_VPUSH, 0}, {P_VPULL, 0}, {P_LATERAL, 0}, {P_BICEPS, 0},
                          {P_TRICEPS, 0}}, 7, false},
    [LO_A] = {"Lower A", {{P_SQUAT, 0}, {P_HINGE, 1}, {P_LUNGE, 0}, {P_CALVES, 0}, {P_CORE, 0}}, 5, false},
    [UP_B] = {"Upper B", {{P_VPUSH, 1}, {P_VPULL, 1}, {P_HPUSH, 1}, {P_HPULL, 1}, {P_REAR, 0}, {P_TRICEPS, 1},
                          {P_BICEPS, 1}}, 7, false},
    [LO_B] = {"Lower B", {{P_HINGE, 0}, {P_SQUAT, 1}, {P_LUNGE, 1}, {P_CORE, 1}, {P_CALVES, 1}}, 5, false},
    [PUSH_A] = {"Push A", {{P_HPUSH, 0}, {P_VPUSH, 0}, {P_HPUSH, 1}, {P_LATERAL, 0}, {P_TRICEPS, 0},
                           {P_TRICEPS, 1}}, 6, false},
    [PULL_A] = {"Pull A", {{P_VPULL, 0}, {P_HPULL, 0}, {P_HPULL, 1}, {P_REAR, 0}, {P_BICEPS, 0}, {P_BICEPS, 1}},
                6, false},
    [LEGS_A] = {"Legs A", {{P_SQUAT, 0}, {P_HINGE, 1}, {P_LUNGE, 0}, {P_CALVES, 0}, {P_CORE, 0}, {P_CORE, 1}}, 6,
                false},
    [PUSH_B] = {"Push B", {{P_VPUSH, 1}, {P_HPUSH, 1}, {P_HPUSH, 0}, {P_LATERAL, 1}, {P_TRICEPS, 1},
                           {P_TRICEPS, 0}}, 6, false},
    [PULL_B] = {"Pull B", {{P_HPULL, 1}, {P_VPULL, 1}, {P_HPULL, 0}, {P_REAR, 1}, {P_BICEPS, 1}, {P_BICEPS, 0}},
                6, false},
    [LEGS_B] = {"Legs B", {{P_HINGE, 0}, {P_SQUAT, 1}, {P_LUNGE, 1}, {P_CALVES, 1}, {P_CORE, 1}, {P_CORE, 0}}, 6,
                false},
    [COND] = {"Conditioning and core", {{P_CORE, 0}, {P_CORE, 1}}, 2, true},
};
/* clang-format on */

struct rx {
    int low, high, rest;
};

/* Repetition ranges and rests by goal: heavier and longer rests for
 * strength and size, lighter and shorter for fat loss and endurance. */
static const struct rx rx_compound[PLAN_GOAL_COUNT] = {{8, 12, 75}, {8, 12, 90}, {6, 10, 120}, {12, 15, 60}};
static const struct rx rx_isolation[PLAN_GOAL_COUNT] = {
    {12, 15, 45}, {10, 15, 60}, {10, 15, 60}, {15, 20, 45}};
/* Working sets per exercise, reps in reserve and exercises per session by experience. */
static const int sets_compound[PLAN_EXPERIENCE_COUNT] = {2, 3, 4};
static const int sets_isolation[PLAN_EXPERIENCE_COUNT] = {2, 2, 3};
static const int rir_by_experience[PLAN_EXPERIENCE_COUNT] = {3, 2, 1};
static const int exercises_max[PLAN_EXPERIENCE_COUNT] = {5, 6, 7};

enum {
    WARMUP_MINUTES = 5,
    SECONDS_PER_REP = 4,
    SETUP_SECONDS = 60,
    BLOCK_WEEKS = 4,
    CONDITIONING_MIN = 5,
};
#define LOAD_STEP_PCT   2.5  /* each new block starts this much heavier */
#define DELOAD_LOAD_PCT 10.0 /* a deload week is this much lighter */

void
plan_week_offsets(int days_per_week, int offsets[7])
{
    static const int table[8][7] = {
        {0}, {0}, {0, 3}, {0, 2, 4}, {0, 1, 3, 4}, {0, 1, 2, 4, 5}, {0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4, 5, 6},
    };
    int d = days_per_week < 1 ? 1 : days_per_week > 7 ? 7 : days_per_week;
    memcpy(offsets, table[d], sizeof(table[d]));
}

int
plan_session_minutes(const struct plan_exercise *ex, size_t n, int warmup, int conditioning)
{
    long seconds = 0;
    for (size_t i = 0; i < n; i++)
        seconds += (long)ex[i].sets * ex[i].reps * SECONDS_PER_REP +
                   (long)(ex[i].sets - 1) * ex[i].rest_seconds + SETUP_SECONDS;
    return warmup + conditioning + (int)((seconds + 59) / 60);
}

/* The templates of week `week` (0-based), one per session. */
static void
week_templates(int days, int week, enum tmpl out[7])
{
    switch (days) {
    case 1:
    case 2:
    case 3:
        /* Full body, A and B alternating through the whole plan. */
        for (int i = 0; i < days; i++)
            out[i] = ((week * days + i) % 2) == 0 ? FB_A : FB_B;
        return;
    case 4: {
        static const enum tmpl t[4] = {UP_A, LO_A, UP_B, LO_B};
        memcpy(out, t, sizeof(t));
        return;
    }
    case 5: {
        static const enum tmpl t[5] = {PUSH_A, PULL_A, LEGS_A, UP_B, LO_B};
        memcpy(out, t, sizeof(t));
        return;
    }
    case 6: {
        static const enum tmpl t[6] = {PUSH_A, PULL_A, LEGS_A, PUSH_B, PULL_B, LEGS_B};
        memcpy(out, t, sizeof(t));
        return;
    }
    default: {
        static const enum tmpl t[7] = {PUSH_A, PULL_A, LEGS_A, PUSH_B, PULL_B, LEGS_B, COND};
        memcpy(out, t, sizeof(t));
        return;
    }
    }
}

static const char *
exercise_name(enum pattern p, int variant, enum plan_equipment eq)
{
    for (int e = (int)eq; e >= 0; e--)
        if (patterns[p].names[e][variant] != NULL)
            return patterns[p].names[e][variant];
    return NULL;
}

/* The prescription of one exercise in week `week` (0-based) given its
 * base sets. */
static void
prescribe(struct plan_exercise *x, const struct plan_profile *p, int base_sets, int week)
{
    const struct rx *rx = x->compound ? &rx_compound[p->goal] : &rx_isolation[p->goal];
    int block = week / BLOCK_WEEKS, pos = week % BLOCK_WEEKS;
    x->reps_low = rx->low;
    x->reps_high = rx->high;
    x->rest_seconds = rx->rest;
    x->rir = rir_by_experience[p->experience];
    x->load_change = block * LOAD_STEP_PCT;
    switch (pos) {
    case 0:
        x->sets = base_sets;
        x->reps = rx->low;
        break;
    case 1:
        x->sets = base_sets;
        x->reps = (rx->low + rx->high) / 2;
        break;
    case 2:
        x->sets = base_sets + (x->compound ? 1 : 0);
        x->reps = rx->high;
        break;
    default: /* deload: one set fewer, or a third fewer reps when there is one set */
        x->sets = base_sets > 1 ? base_sets - 1 : 1;
        x->reps = base_sets > 1 ? rx->low : rx->low * 2 / 3;
        x->rir += 2;
        x->load_change -= DELOAD_LOAD_PCT;
        break;
    }
}

static int
conditioning_cap(const struct plan_profile *p, bool conditioning_day)
{
    if (conditioning_day)
        return 45;
    if (p->goal == PLAN_ENDURANCE)
        return 30;
    if (p->goal == PLAN_LOSE_FAT)
        return 15;
    return 0;
}

static const char *
conditioning_text(const struct plan_profile *p, bool conditioning_day)
{
    if (p->goal == PLAN_LOSE_FAT && !conditioning_day)
        return "intervals: 30 s hard, 90 s easy (bike, rower, hill walk or fast stairs)";
    return "zone 2 cardio at a conversational pace (brisk walk, easy run, bike or rower)";
}

/* The session layout of template t: which exercises, with which base sets,
 * so that its heaviest week (week 3 of a block) fits the minutes. */
struct layout {
    struct plan_exercise ex[PLAN_SESSION_EXERCISES_MAX];
    int base_sets[PLAN_SESSION_EXERCISES_MAX];
    size_t n;
    int conditioning;
};

static void
lay_out(const struct plan_profile *p, enum tmpl t, struct layout *l)
{
    const struct template_def *td = &templates[t];
    memset(l, 0, sizeof(*l));
    int budget = p->session_minutes;
    int most = exercises_max[p->experience];
    struct plan_exercise heavy[PLAN_SESSION_EXERCISES_MAX];
    for (size_t i = 0; i < td->n && (int)l->n < most; i++) {
        const char *name = exercise_name(td->s[i].p, td->s[i].variant, p->equipment);
        if (name == NULL)
            continue;
        bool dup = false;
        for (size_t j = 0; j < l->n; j++)
            dup = dup || strcmp(l->ex[j].name, name) == 0;
        if (dup)
            continue;
        struct plan_exercise x = {
            .name = name, .pattern = patterns[td->s[i].p].label, .compound = patterns[td->s[i].p].compound};
        int base = x.compound ? sets_compound[p->experience] : sets_isolation[p->experience];
        for (; base >= 1; base--) {
            prescribe(&x, p, base, 2);
            heavy[l->n] = x;
            if (plan_session_minutes(heavy, l->n + 1, WARMUP_MINUTES, 0) <= budget)
                break;
        }
        if (base < 1)
            continue;
        l->ex[l->n] = x;
        l->base_sets[l->n] = base;
        l->n++;
    }
    int used = plan_session_minutes(heavy, l->n, WARMUP_MINUTES, 0);
    int cap = conditioning_cap(p, td->conditioning_day);
    int left = budget - used;
    if (cap > 0 && left >= CONDITIONING_MIN)
        l->conditioning = left < cap ? left : cap;
}

void
plan_workout_build(const struct plan_profile *p, const struct plan_request *r, struct arena *a,
                   struct plan_workout *out)
{
    memset(out, 0, sizeof(*out));
    int days = p->days_per_week < 1 ? 1 : p->days_per_week > 7 ? 7 : p->days_per_week;
    out->sessions_per_week = days;
    out->weeks = r->weeks;
    if (days <= 3) {
        out->split = "full body";
        out->split_why =
            "with 1 to 3 training days a week, every session trains the whole body so each muscle "
            "group is worked as often as possible; sessions A and B alternate";
    } else if (days == 4) {
        out->split = "upper/lower";
        out->split_why =
            "with 4 training days, upper- and lower-body sessions alternate so each muscle group is "
            "trained twice a week with a day's rest between";
    } else {
        out->split = "push/pull/legs";
        out->split_why =
            days == 5   ? "with 5 training days: push, pull and legs, then an upper and a lower session"
            : days == 6 ? "with 6 training days, push, pull and legs twice a week (A and B variations)"
                        : "with 7 days: push, pull and legs twice, and one conditioning and core day";
    }
    int offsets[7];
    plan_week_offsets(days, offsets);
    out->nsessions = (size_t)r->weeks * (size_t)days;
    out->sessions = arena_alloc(a, out->nsessions * sizeof(*out->sessions));
    struct layout lay[TMPL_COUNT];
    bool laid[TMPL_COUNT] = {false};
    size_t k = 0;
    for (int w = 0; w < r->weeks; w++) {
        enum tmpl tw[7];
        week_templates(days, w, tw);
        for (int i = 0; i < days; i++) {
            enum tmpl t = tw[i];
            if (!laid[t]) {
                lay_out(p, t, &lay[t]);
                laid[t] = true;
            }
            struct plan_session *s = &out->sessions[k++];
            memset(s, 0, sizeof(*s));
            s->week = w + 1;
            s->index = i;
            s->day_offset = w * 7 + offsets[i];
            plan_date_add(r->start_date, s->day_offset, s->date);
            s->name = templates[t].name;
            s->warmup_minutes = WARMUP_MINUTES;
            s->nex = lay[t].n;
            for (size_t j = 0; j < s->nex; j++) {
                s->ex[j] = lay[t].ex[j];
                prescribe(&s->ex[j], p, lay[t].base_sets[j], w);
                s->total_sets += s->ex[j].sets;
                s->total_reps += s->ex[j].sets * s->ex[j].reps;
            }
            s->conditioning_minutes = lay[t].conditioning;
            s->conditioning =
                s->conditioning_minutes > 0 ? conditioning_text(p, templates[t].conditioning_day) : NULL;
            s->minutes = plan_session_minutes(s->ex, s->nex, s->warmup_minutes, s->conditioning_minutes);
        }
    }
}

/* ---- content ---- */

static void
write_rx(struct jw *w, const struct rx *rx, int sets)
{
    char reps[16];
    snprintf(reps, sizeof(reps), "%d-%d", rx->low, rx->high);
    jw_obj_begin(w);
    jw_key(w, "sets");
    jw_int(w, sets);
    jw_key(w, "reps");
    jw_str(w, reps);
    jw_key(w, "rest_seconds");
    jw_int(w, rx->rest);
    jw_obj_end(w);
}

static void
write_session(struct jw *w, const struct plan_session *s)
{
    jw_obj_begin(w);
    jw_key(w, "week");
    jw_int(w, s->week);
    jw_key(w, "day");
    jw_int(w, s->day_offset + 1);
    jw_key(w, "date");
    jw_str(w, s->date);
    jw_key(w, "name");
    jw_str(w, s->name);
    jw_key(w, "estimated_minutes");
    jw_int(w, s->minutes);
    jw_key(w, "warmup_minutes");
    jw_int(w, s->warmup_minutes);
    jw_key(w, "exercises");
    jw_arr_begin(w);
    for (size_t i = 0; i < s->nex; i++) {
        const struct plan_exercise *x = &s->ex[i];
        jw_obj_begin(w);
        jw_key(w, "name");
        jw_str(w, x->name);
        jw_key(w, "pattern");
        jw_str(w, x->pattern);
        jw_key(w, "type");
        jw_str(w, x->compound ? "compound" : "isolation");
        jw_key(w, "sets");
        jw_int(w, x->sets);
        jw_key(w, "reps");
        jw_int(w, x->reps);
        jw_key(w, "rest_seconds");
        jw_int(w, x->rest_seconds);
        jw_key(w, "rir");
        jw_int(w, x->rir);
        jw_key(w, "load_change_pct");
        jw_double(w, x->load_change);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "conditioning");
    if (s->conditioning != NULL) {
        jw_obj_begin(w);
        jw_key(w, "minutes");
        jw_int(w, s->conditioning_minutes);
        jw_key(w, "type");
        jw_str(w, s->conditioning);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "total_sets");
    jw_int(w, s->total_sets);
    jw_key(w, "total_reps");
    jw_int(w, s->total_reps);
    jw_obj_end(w);
}

void
plan_workout_write(struct jw *w, const struct plan_profile *p, const struct plan_request *r,
                   const struct plan_workout *wo)
{
    char text[512];
    jw_obj_begin(w);
    jw_key(w, "method");
    jw_str(w, "builtin");
    jw_key(w, "inputs");
    jw_obj_begin(w);
    jw_key(w, "goal");
    jw_str(w, plan_goal_names[p->goal]);
    jw_key(w, "experience");
    jw_str(w, plan_experience_names[p->experience]);
    jw_key(w, "days_per_week");
    jw_int(w, p->days_per_week);
    jw_key(w, "session_minutes");
    jw_int(w, p->session_minutes);
    jw_key(w, "equipment");
    jw_str(w, plan_equipment_names[p->equipment]);
    jw_key(w, "weeks");
    jw_int(w, r->weeks);
    jw_key(w, "start_date");
    jw_str(w, r->start_date);
    jw_obj_end(w);

    jw_key(w, "split");
    jw_obj_begin(w);
    jw_key(w, "name");
    jw_str(w, wo->split);
    jw_key(w, "sessions_per_week");
    jw_int(w, wo->sessions_per_week);
    jw_key(w, "why");
    jw_str(w, wo->split_why);
    jw_obj_end(w);

    jw_key(w, "prescription");
    jw_obj_begin(w);
    jw_key(w, "compound");
    write_rx(w, &rx_compound[p->goal], sets_compound[p->experience]);
    jw_key(w, "isolation");
    write_rx(w, &rx_isolation[p->goal], sets_isolation[p->experience]);
    jw_key(w, "reps_in_reserve");
    jw_int(w, rir_by_experience[p->experience]);
    jw_key(w, "max_exercises_per_session");
    jw_int(w, exercises_max[p->experience]);
    snprintf(
        text, sizeof(text),
        "rep ranges and rests for %s; working sets, reps in reserve and exercises per session for a%s %s "
        "lifter; sets are trimmed where a session would not fit %d minutes",
        plan_goal_names[p->goal],
        p->experience == PLAN_INTERMEDIATE || p->experience == PLAN_ADVANCED ? "n" : "",
        plan_experience_names[p->experience], p->session_minutes);
    jw_key(w, "why");
    jw_str(w, text);
    jw_obj_end(w);

    jw_key(w, "progression");
    jw_obj_begin(w);
    jw_key(w, "block_weeks");
    jw_int(w, BLOCK_WEEKS);
    jw_key(w, "load_step_pct");
    jw_double(w, LOAD_STEP_PCT);
    jw_key(w, "deload_load_pct");
    jw_double(w, -DELOAD_LOAD_PCT);
    jw_key(w, "rule");
    jw_str(w,
           "in weeks 1 to 3 of each 4-week block the reps climb from the low to the high end of the range "
           "and compound lifts add a set in week 3; every 4th week is a deload: one set fewer (a third fewer "
           "reps where there is only one), the low end of the range, 2 more reps in reserve and about 10% "
           "less weight; each new block starts 2.5% "
           "heavier than the last");
    jw_obj_end(w);

    jw_key(w, "time_model");
    jw_obj_begin(w);
    jw_key(w, "warmup_minutes");
    jw_int(w, WARMUP_MINUTES);
    jw_key(w, "seconds_per_rep");
    jw_int(w, SECONDS_PER_REP);
    jw_key(w, "setup_seconds_per_exercise");
    jw_int(w, SETUP_SECONDS);
    jw_key(w, "rule");
    jw_str(w, "minutes = warm-up + conditioning + (sets x reps x 4 s + rests between sets + 60 s set-up per "
              "exercise); exercises are chosen so that the heaviest week of a block fits session_minutes");
    jw_obj_end(w);

    jw_key(w, "weeks");
    jw_arr_begin(w);
    size_t k = 0;
    for (int wk = 1; wk <= r->weeks; wk++) {
        int sets = 0, reps = 0;
        size_t first = k;
        while (k < wo->nsessions && wo->sessions[k].week == wk) {
            sets += wo->sessions[k].total_sets;
            reps += wo->sessions[k].total_reps;
            k++;
        }
        jw_obj_begin(w);
        jw_key(w, "week");
        jw_int(w, wk);
        jw_key(w, "deload");
        jw_bool(w, wk % BLOCK_WEEKS == 0);
        jw_key(w, "total_sets");
        jw_int(w, sets);
        jw_key(w, "total_reps");
        jw_int(w, reps);
        jw_key(w, "sessions");
        jw_arr_begin(w);
        for (size_t i = first; i < k; i++)
            write_session(w, &wo->sessions[i]);
        jw_arr_end(w);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}
