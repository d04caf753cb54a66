/* The fitness engine: energy and macro targets, meal plans, workout
 * programming (all deterministic: the same profile and request always give
 * the same plan), the optional LLM provider, and the job that generates a
 * plan in the background. Only plan/job.c calls the store and the job
 * queue; the engine itself is pure functions over plain structs (it takes
 * from the store only the plan-kind enum and its names). */
#ifndef PACE_PLAN_PLAN_H
#define PACE_PLAN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h" /* enum store_plan_kind and its names */

struct arena;
struct buf;
struct jw;
struct jobs;
struct store;
struct store_profile;

/* ---- profile and request ------------------------------------------------- */

enum plan_sex { PLAN_FEMALE, PLAN_MALE, PLAN_SEX_COUNT };
enum plan_activity {
    PLAN_SEDENTARY,
    PLAN_LIGHT,
    PLAN_MODERATE,
    PLAN_ACTIVE,
    PLAN_VERY_ACTIVE,
    PLAN_ACTIVITY_COUNT
};
enum plan_goal { PLAN_LOSE_FAT, PLAN_MAINTAIN, PLAN_BUILD_MUSCLE, PLAN_ENDURANCE, PLAN_GOAL_COUNT };
enum plan_experience { PLAN_BEGINNER, PLAN_INTERMEDIATE, PLAN_ADVANCED, PLAN_EXPERIENCE_COUNT };
enum plan_equipment {
    PLAN_EQ_NONE,
    PLAN_EQ_DUMBBELLS,
    PLAN_EQ_HOME_GYM,
    PLAN_EQ_FULL_GYM,
    PLAN_EQUIPMENT_COUNT
};
enum plan_diet { PLAN_OMNIVORE, PLAN_PESCATARIAN, PLAN_VEGETARIAN, PLAN_VEGAN, PLAN_DIET_COUNT };

/* The API spellings, NULL-terminated, indexed by the enums above (the API
 * validates request bodies against these same tables; store_enum_parse
 * reads them). A plan's kind is the store's enum store_plan_kind, spelled
 * by store_plan_kind_names. */
extern const char *const plan_sex_names[];
extern const char *const plan_activity_names[];
extern const char *const plan_goal_names[];
extern const char *const plan_experience_names[];
extern const char *const plan_equipment_names[];
extern const char *const plan_diet_names[];

enum {
    PLAN_EXCLUDE_MAX = 50,  /* exclude_foods items */
    PLAN_EXCLUDE_LEN = 100, /* characters per item */
    PLAN_WEEKS_MAX = 12,    /* a plan covers 1..12 weeks */
    PLAN_WEEKS_DEFAULT = 4,
    PLAN_MIN_AGE = 13, /* the formulas are for adolescents and adults */
    PLAN_MAX_AGE = 120,
    PLAN_MENU_DAYS = 7, /* the meal plan is a 7-day menu that repeats */
    PLAN_MEALS_MAX = 6,
    PLAN_MEAL_ITEMS_MAX = 5, /* a vegetable, protein, carbohydrate, fat, and maybe a second carbohydrate */
    PLAN_SESSION_EXERCISES_MAX = 10,
};

struct plan_profile {
    enum plan_sex sex;
    char birth_date[11];
    double height_cm;
    double weight_kg;
    enum plan_activity activity;
    enum plan_goal goal;
    enum plan_experience experience;
    int days_per_week;   /* 1..7 */
    int session_minutes; /* 20..180 */
    enum plan_equipment equipment;
    enum plan_diet diet;
    int meals_per_day;                     /* 2..6 */
    const char *exclude[PLAN_EXCLUDE_MAX]; /* borrowed */
    size_t nexclude;
};

struct plan_request {
    enum store_plan_kind kind;
    int weeks;           /* 1..PLAN_WEEKS_MAX */
    char start_date[11]; /* YYYY-MM-DD: day 1 of the plan */
    bool create_tasks;   /* workout plans: one task per session */
};

/* ---- dates --------------------------------------------------------------- */

/* Days since 1970-01-01 of a valid YYYY-MM-DD date; false when it is not one. */
bool plan_date_days(const char *date, int64_t *days);
/* Writes the date `days` after 1970-01-01 into out (11 bytes). */
void plan_date_from_days(int64_t days, char out[11]);
/* date + n days into out; false when date is not a date. */
bool plan_date_add(const char *date, int n, char out[11]);
/* Whole years from birth_date to date (a birthday on date counts), or -1. */
int plan_age_at(const char *birth_date, const char *date);
/* Today's UTC date. */
void plan_date_today(char out[11]);

/* ---- energy and macros (nutrition.c) -------------------------------------- */

/* Mifflin-St Jeor resting energy, kcal/day:
 * 10 * kg + 6.25 * cm - 5 * years + 5 (male) or - 161 (female). */
double plan_bmr(enum plan_sex sex, double weight_kg, double height_cm, int age);
/* 1.2, 1.375, 1.55, 1.725, 1.9. */
double plan_activity_factor(enum plan_activity a);
/* Fraction of total energy added for the goal: -0.20, 0, +0.10, +0.05. */
double plan_goal_adjustment(enum plan_goal g);
/* The least a plan prescribes: 1500 kcal (male), 1200 kcal (female). */
double plan_calorie_floor(enum plan_sex sex);
/* Protein per kg of body weight for the goal: 2.0, 1.6, 1.8, 1.4. */
double plan_protein_per_kg(enum plan_goal g);
/* Share of energy from fat for the goal: 0.25, 0.30, 0.25, 0.25. */
double plan_fat_share(enum plan_goal g);

enum { PLAN_PROTEIN_MAX_SHARE_PCT = 35 }; /* protein is capped at 35% of energy */

struct plan_targets {
    int age;
    double bmr;
    double activity_factor;
    double tdee;            /* bmr * activity_factor */
    double goal_adjustment; /* fraction */
    double adjusted;        /* tdee * (1 + goal_adjustment) */
    double floor;
    bool floor_applied;
    int kcal; /* the target: max(adjusted, floor), rounded */
    double protein_per_kg;
    bool protein_capped;
    double fat_share;
    int protein_g, fat_g, carbs_g;
};

/* Targets for p at age years. */
void plan_targets_compute(const struct plan_profile *p, int age, struct plan_targets *t);

/* ---- foods (foods.c) ------------------------------------------------------ */

enum plan_food_role { PLAN_ROLE_PROTEIN, PLAN_ROLE_CARB, PLAN_ROLE_FAT, PLAN_ROLE_VEG, PLAN_ROLE_COUNT };
enum { PLAN_SLOT_BREAKFAST = 1, PLAN_SLOT_MAIN = 2, PLAN_SLOT_SNACK = 4 };
/* The most animal a diet allows: 0 plants only ... 3 meat. */
enum plan_food_origin { PLAN_PLANT, PLAN_EGG_DAIRY, PLAN_FISH, PLAN_MEAT };

struct plan_food {
    const char *name;
    double kcal, protein, fat, carbs; /* per 100 g, as eaten */
    enum plan_food_origin origin;
    enum plan_food_role role;
    unsigned slots;       /* PLAN_SLOT_* where it is served */
    int max_grams;        /* a sensible largest portion */
    const char *keywords; /* comma list matched by exclude_foods: "salmon,fish,seafood" */
};

extern const struct plan_food plan_foods[];
extern const size_t plan_nfoods;

/* True when diet allows food f. */
bool plan_food_diet_ok(const struct plan_food *f, enum plan_diet diet);
/* True when the exclusion (as a user wrote it) rules out food f: it names
 * one of its keywords (ignoring case and a plural s) or occurs in its name. */
bool plan_food_excluded_by(const struct plan_food *f, const char *exclusion);
/* True when text (free text naming a food) mentions something diet does
 * not allow ("chicken" for vegetarians, "milk" but not "soy milk" for
 * vegans). Used to check foods an LLM proposes. */
bool plan_text_violates_diet(const char *text, enum plan_diet diet);
/* True when text mentions exclusion (ignoring case and a plural s). */
bool plan_text_mentions(const char *text, const char *exclusion);

/* ---- meal plan (nutrition.c) ---------------------------------------------- */

struct plan_meal_item {
    const struct plan_food *food;
    int grams;
    double kcal, protein, fat, carbs;
};

struct plan_meal {
    const char *name;
    double share; /* of the day's energy */
    int target_kcal;
    struct plan_meal_item items[PLAN_MEAL_ITEMS_MAX];
    size_t nitems;
    double kcal, protein, fat, carbs;
};

struct plan_day {
    int day; /* 1..7 */
    char date[11];
    struct plan_meal meals[PLAN_MEALS_MAX];
    size_t nmeals;
    double kcal, protein, fat, carbs;
};

struct plan_nutrition {
    struct plan_targets t;
    struct plan_day days[PLAN_MENU_DAYS];
};

/* Builds targets and the 7-day menu. ERR_INVALID with *why (static text)
 * when diet and exclusions leave no food for some part of a meal. */
int plan_nutrition_build(const struct plan_profile *p, const struct plan_request *r,
                         struct plan_nutrition *out, const char **why);
/* Writes the plan's `content` object (numbers and how they were derived). */
void plan_nutrition_write(struct jw *w, const struct plan_profile *p, const struct plan_request *r,
                          const struct plan_nutrition *n);

/* ---- workout (workout.c) --------------------------------------------------- */

struct plan_exercise {
    const char *name;
    const char *pattern;
    bool compound;
    int sets;
    int reps;
    int reps_low, reps_high;
    int rest_seconds;
    int rir;            /* reps in reserve */
    double load_change; /* percent vs the first week's working weight */
};

struct plan_session {
    int week;       /* 1.. */
    int index;      /* 0.. within the week */
    int day_offset; /* days after start_date */
    char date[11];
    const char *name; /* "Upper A" */
    struct plan_exercise ex[PLAN_SESSION_EXERCISES_MAX];
    size_t nex;
    int warmup_minutes;
    int conditioning_minutes;
    const char *conditioning; /* NULL when none */
    int minutes;              /* estimated, <= session_minutes */
    int total_sets;
    int total_reps;
};

struct plan_workout {
    const char *split;     /* "full body", "upper/lower", "push/pull/legs" */
    const char *split_why; /* static text */
    int sessions_per_week;
    int weeks;
    struct plan_session *sessions; /* weeks * sessions_per_week, in an arena */
    size_t nsessions;
};

/* The days of the week (offsets 0..6 from the start) sessions fall on. */
void plan_week_offsets(int days_per_week, int offsets[7]);
/* Estimated minutes of a session with these exercises (warm-up, work at 4 s
 * per rep, rests between sets, 60 s to set up each exercise, conditioning). */
int plan_session_minutes(const struct plan_exercise *ex, size_t n, int warmup, int conditioning);
/* Builds the programme; sessions are allocated from a. */
void plan_workout_build(const struct plan_profile *p, const struct plan_request *r, struct arena *a,
                        struct plan_workout *out);
void plan_workout_write(struct jw *w, const struct plan_profile *p, const struct plan_request *r,
                        const struct plan_workout *wo);

/* ---- one plan ------------------------------------------------------------- */

/* A task a workout plan creates. */
struct plan_task {
    const char *title;
    char due_date[11];
};

struct plan_output {
    const char *generator; /* "builtin" or "llm" */
    const char *summary;
    const char *content; /* JSON text */
    struct plan_task *tasks;
    size_t ntasks;
};

/* Generates the plan with the built-in engine; strings and tasks in a.
 * ERR_INVALID with *why when the profile cannot make this plan. */
int plan_generate_builtin(const struct plan_profile *p, const struct plan_request *r, struct arena *a,
                          struct plan_output *out, const char **why);

/* ---- the job payload ------------------------------------------------------ */

/* The payload of a "plan.generate" job: the profile as it was when the plan
 * was requested, and the request. In arena a. */
const char *plan_payload_write(struct arena *a, const struct store_profile *sp, const struct plan_request *r);
/* Parses a payload: OK or ERR_INVALID. Strings live in a. */
int plan_payload_read(const char *payload, struct arena *a, struct plan_profile *p, struct plan_request *r);
/* The request options as stored with the plan (JSON text in a). */
const char *plan_request_json(struct arena *a, const struct plan_request *r);

/* ---- LLM provider (llm.c) -------------------------------------------------- */

struct plan_llm_opts {
    const char *url; /* chat-completions endpoint; NULL/"" = no provider */
    const char *model;
    const char *api_key; /* may be NULL */
    long timeout_ms;
    int circuit_failures; /* consecutive failures that open the circuit */
    long circuit_cooldown_ms;
};

struct plan_llm;

enum plan_llm_result {
    PLAN_LLM_OK,
    PLAN_LLM_TIMEOUT,
    PLAN_LLM_HTTP_ERROR,
    PLAN_LLM_INVALID, /* not JSON, or not the plan schema */
    PLAN_LLM_CIRCUIT_OPEN,
    PLAN_LLM_ABORTED, /* the caller asked to stop (shutdown, lost lease) */
    PLAN_LLM_RESULT_COUNT
};

/* NULL when o->url is empty (no provider). Copies the options. Call once at
 * start-up, before threads (initialises libcurl). */
struct plan_llm *plan_llm_new(const struct plan_llm_opts *o);
void plan_llm_free(struct plan_llm *l);
/* Asks the provider for the plan. On PLAN_LLM_OK *out is filled (strings in
 * a; generator "llm"). should_stop (may be NULL) is polled while waiting. */
enum plan_llm_result plan_llm_generate(struct plan_llm *l, const struct plan_profile *p,
                                       const struct plan_request *r, struct arena *a, struct plan_output *out,
                                       bool (*should_stop)(void *), void *stop_arg);
/* Checks a provider's answer (the JSON text of the message) against the
 * plan schema and the profile's limits; fills *out on success (for tests
 * and for plan_llm_generate). ERR_INVALID with *why otherwise. */
int plan_llm_accept(const char *answer, size_t len, const struct plan_profile *p,
                    const struct plan_request *r, struct arena *a, struct plan_output *out, const char **why);
/* "closed", "open" or "half_open". */
const char *plan_llm_circuit_state(struct plan_llm *l);
/* Prometheus lines for the provider. */
void plan_llm_metrics(struct plan_llm *l, struct buf *out);

/* ---- the generation job (job.c) ------------------------------------------ */

#define PLAN_JOB_KIND "plan.generate"

/* Registers the "plan.generate" handler with the job system. st, llm (may
 * be NULL) are borrowed and must outlive it. Returns OK, or an ERR_* of
 * jobs_register. */
int plan_job_register(struct jobs *j, struct store *st, struct plan_llm *llm);

#endif
