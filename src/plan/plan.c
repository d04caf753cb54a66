/* What every part of the engine shares: the names of the profile's enums,
 * calendar dates, the job payload (the profile as it was when the plan was
 * requested, so that retries and restarts generate the same plan), and
 * plan_generate_builtin, which turns a profile and a request into a plan. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "plan/plan.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/jparse.h"
#include "util/jw.h"

const char *const plan_sex_names[] = {"female", "male", NULL};
const char *const plan_activity_names[] = {"sedentary", "light", "moderate", "active", "very_active", NULL};
const char *const plan_goal_names[] = {"lose_fat", "maintain", "build_muscle", "endurance", NULL};
const char *const plan_experience_names[] = {"beginner", "intermediate", "advanced", NULL};
const char *const plan_equipment_names[] = {"none", "dumbbells", "home_gym", "full_gym", NULL};
const char *const plan_diet_names[] = {"omnivore", "pescatarian", "vegetarian", "vegan", NULL};

/* ---- dates (proleptic Gregorian; H. Hinnant's days_from_civil) ---- */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool
parse_date(const char *s, int *y, int *m, int *d)
{
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    *y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    *m = (s[5] - '0') * 10 + (s[6] - '0');
    *d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (*y < 1 || *m < 1 || *m > 12 || *d < 1)
        return false;
    bool leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
    return *d <= mdays[*m - 1] + (*m == 2 && leap ? 1 : 0);
}

bool
plan_date_days(const char *date, int64_t *days)
{
    int y, m, d;
    if (!parse_date(date, &y, &m, &d))
        return false;
    *days = days_from_civil(y, (unsigned)m, (unsigned)d);
    return true;
}

void
plan_date_from_days(int64_t z, char out[11])
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    unsigned yy = (unsigned)y;
    char s[11] = {(char)('0' + yy / 1000),
                  (char)('0' + yy / 100 % 10),
                  (char)('0' + yy / 10 % 10),
                  (char)('0' + yy % 10),
                  '-',
                  (char)('0' + m / 10),
                  (char)('0' + m % 10),
                  '-',
                  (char)('0' + d / 10),
                  (char)('0' + d % 10),
                  '\0'};
    memcpy(out, s, sizeof(s));
}

bool
plan_date_add(const char *date, int n, char out[11])
{
    int64_t days;
    if (!plan_date_days(date, &days))
        return false;
    plan_date_from_days(days + n, out);
    return true;
}

int
plan_age_at(const char *birth_date, const char *date)
{
    int by, bm, bd, y, m, d;
    if (!parse_date(birth_date, &by, &bm, &bd) || !parse_date(date, &y, &m, &d))
        return -1;
    int age = y - by - ((m < bm || (m == bm && d < bd)) ? 1 : 0);
    return age < 0 ? -1 : age;
}

void
plan_date_today(char out[11])
{
    time_t now = time(NULL);
    plan_date_from_days((int64_t)now / 86400, out);
}

/* ---- the job payload ---- */

static void
write_request(struct jw *w, const struct plan_request *r)
{
    jw_obj_begin(w);
    jw_key(w, "kind");
    jw_str(w, store_plan_kind_names[r->kind]);
    jw_key(w, "weeks");
    jw_int(w, r->weeks);
    jw_key(w, "start_date");
    jw_str(w, r->start_date);
    jw_key(w, "create_tasks");
    jw_bool(w, r->create_tasks);
    jw_obj_end(w);
}

static const char *
finish(struct buf *b)
{
    buf_appendc(b, '\0');
    return b->data;
}

const char *
plan_request_json(struct arena *a, const struct plan_request *r)
{
    struct buf b;
    struct jw w;
    buf_init(&b, a, 128);
    jw_init(&w, &b);
    write_request(&w, r);
    return finish(&b);
}

const char *
plan_payload_write(struct arena *a, const struct store_profile *sp, const struct plan_request *r)
{
    struct buf b;
    struct jw w;
    buf_init(&b, a, 1024);
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "v");
    jw_int(&w, 1);
    jw_key(&w, "profile");
    jw_obj_begin(&w);
    jw_key(&w, "sex");
    jw_str(&w, sp->sex);
    jw_key(&w, "birth_date");
    jw_str(&w, sp->birth_date);
    jw_key(&w, "height_cm");
    jw_double(&w, sp->height_cm);
    jw_key(&w, "weight_kg");
    jw_double(&w, sp->weight_kg);
    jw_key(&w, "activity_level");
    jw_str(&w, sp->activity_level);
    jw_key(&w, "goal");
    jw_str(&w, sp->goal);
    jw_key(&w, "experience");
    jw_str(&w, sp->experience);
    jw_key(&w, "days_per_week");
    jw_int(&w, sp->days_per_week);
    jw_key(&w, "session_minutes");
    jw_int(&w, sp->session_minutes);
    jw_key(&w, "equipment");
    jw_str(&w, sp->equipment);
    jw_key(&w, "diet");
    jw_str(&w, sp->diet);
    jw_key(&w, "meals_per_day");
    jw_int(&w, sp->meals_per_day);
    jw_key(&w, "exclude_foods");
    const char *ex = sp->exclude_foods != NULL ? sp->exclude_foods : "[]";
    jw_raw(&w, ex, strlen(ex));
    jw_obj_end(&w);
    jw_key(&w, "request");
    write_request(&w, r);
    jw_obj_end(&w);
    return finish(&b);
}

static int
get_enum(const json_t *o, const char *key, const char *const *names, int count, int *out)
{
    return store_enum_parse(names, count, json_string_value(json_object_get(o, key)), out) ? OK : ERR_INVALID;
}

static int
get_int(const json_t *o, const char *key, int lo, int hi, int *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return ERR_INVALID;
    *out = (int)json_integer_value(v);
    return OK;
}

static int
get_num(const json_t *o, const char *key, double lo, double hi, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return ERR_INVALID;
    *out = json_number_value(v);
    return OK;
}

static int
get_date(const json_t *o, const char *key, char out[11])
{
    const char *s = json_string_value(json_object_get(o, key));
    int64_t days;
    if (s == NULL || !plan_date_days(s, &days))
        return ERR_INVALID;
    memcpy(out, s, 11);
    return OK;
}

int
plan_payload_read(const char *payload, struct arena *a, struct plan_profile *p, struct plan_request *r)
{
    memset(p, 0, sizeof(*p));
    memset(r, 0, sizeof(*r));
    if (payload == NULL)
        return ERR_INVALID;
    struct jparse_error e;
    json_t *root = jparse(payload, strlen(payload), &e);
    if (root == NULL)
        return ERR_INVALID;
    const json_t *pr = json_object_get(root, "profile");
    const json_t *rq = json_object_get(root, "request");
    int v[8];
    int err = json_is_object(pr) && json_is_object(rq) ? OK : ERR_INVALID;
    if (err == OK)
        err = get_enum(pr, "sex", plan_sex_names, PLAN_SEX_COUNT, &v[0]);
    if (err == OK)
        err = get_enum(pr, "activity_level", plan_activity_names, PLAN_ACTIVITY_COUNT, &v[1]);
    if (err == OK)
        err = get_enum(pr, "goal", plan_goal_names, PLAN_GOAL_COUNT, &v[2]);
    if (err == OK)
        err = get_enum(pr, "experience", plan_experience_names, PLAN_EXPERIENCE_COUNT, &v[3]);
    if (err == OK)
        err = get_enum(pr, "equipment", plan_equipment_names, PLAN_EQUIPMENT_COUNT, &v[4]);
    if (err == OK)
        err = get_enum(pr, "diet", plan_diet_names, PLAN_DIET_COUNT, &v[5]);
    if (err == OK)
        err = get_enum(rq, "kind", store_plan_kind_names, STORE_PLAN_KIND_COUNT, &v[6]);
    if (err == OK)
        err = get_date(pr, "birth_date", p->birth_date);
    if (err == OK)
        err = get_num(pr, "height_cm", 100, 250, &p->height_cm);
    if (err == OK)
        err = get_num(pr, "weight_kg", 30, 300, &p->weight_kg);
    if (err == OK)
        err = get_int(pr, "days_per_week", 1, 7, &p->days_per_week);
    if (err == OK)
        err = get_int(pr, "session_minutes", 20, 180, &p->session_minutes);
    if (err == OK)
        err = get_int(pr, "meals_per_day", 2, PLAN_MEALS_MAX, &p->meals_per_day);
    if (err == OK)
        err = get_int(rq, "weeks", 1, PLAN_WEEKS_MAX, &r->weeks);
    if (err == OK)
        err = get_date(rq, "start_date", r->start_date);
    const json_t *ex = json_object_get(pr, "exclude_foods");
    if (err == OK && (!json_is_array(ex) || json_array_size(ex) > PLAN_EXCLUDE_MAX))
        err = ERR_INVALID;
    if (err == OK) {
        size_t i;
        const json_t *item;
        json_array_foreach(ex, i, item)
        {
            if (!json_is_string(item)) {
                err = ERR_INVALID;
                break;
            }
            p->exclude[p->nexclude++] = arena_strndup(a, json_string_value(item), json_string_length(item));
        }
    }
    if (err == OK) {
        p->sex = (enum plan_sex)v[0];
        p->activity = (enum plan_activity)v[1];
        p->goal = (enum plan_goal)v[2];
        p->experience = (enum plan_experience)v[3];
        p->equipment = (enum plan_equipment)v[4];
        p->diet = (enum plan_diet)v[5];
        r->kind = (enum store_plan_kind)v[6];
        r->create_tasks = json_is_true(json_object_get(rq, "create_tasks"));
    }
    json_decref(root);
    return err;
}

/* ---- one plan ---- */

static const char *const equipment_words[] = {"bodyweight only", "dumbbells", "a home gym", "a full gym"};

static int
builtin_workout(const struct plan_profile *p, const struct plan_request *r, struct arena *a,
                struct plan_output *out)
{
    struct plan_workout wo;
    plan_workout_build(p, r, a, &wo);
    struct buf b;
    struct jw w;
    buf_init(&b, a, 16384);
    jw_init(&w, &b);
    plan_workout_write(&w, p, r, &wo);
    out->content = finish(&b);
    out->summary =
        arena_printf(a, "%d-week %s plan for %s: %d session%s a week of at most %d minutes with %s%s",
                     r->weeks, wo.split, plan_goal_names[p->goal], wo.sessions_per_week,
                     wo.sessions_per_week == 1 ? "" : "s", p->session_minutes, equipment_words[p->equipment],
                     r->weeks >= 4 ? "; every 4th week is a lighter deload week" : "");
    if (r->create_tasks) {
        out->ntasks = wo.nsessions;
        out->tasks = arena_alloc(a, wo.nsessions * sizeof(*out->tasks) + 1);
        for (size_t i = 0; i < wo.nsessions; i++) {
            const struct plan_session *s = &wo.sessions[i];
            out->tasks[i].title = arena_printf(a, "Workout: %s (week %d of %d)", s->name, s->week, r->weeks);
            memcpy(out->tasks[i].due_date, s->date, 11);
        }
    }
    return OK;
}

static int
builtin_nutrition(const struct plan_profile *p, const struct plan_request *r, struct arena *a,
                  struct plan_output *out, const char **why)
{
    struct plan_nutrition *n = arena_alloc(a, sizeof(*n));
    int err = plan_nutrition_build(p, r, n, why);
    if (err != OK)
        return err;
    struct buf b;
    struct jw w;
    buf_init(&b, a, 32768);
    jw_init(&w, &b);
    plan_nutrition_write(&w, p, r, n);
    out->content = finish(&b);
    out->summary =
        arena_printf(a,
                     "%d kcal a day (%d g protein, %d g fat, %d g carbohydrates) for %s; a 7-day %s "
                     "menu of %d meals a day",
                     n->t.kcal, n->t.protein_g, n->t.fat_g, n->t.carbs_g, plan_goal_names[p->goal],
                     plan_diet_names[p->diet], p->meals_per_day);
    return OK;
}

int
plan_generate_builtin(const struct plan_profile *p, const struct plan_request *r, struct arena *a,
                      struct plan_output *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    out->generator = "builtin";
    if (r->weeks < 1 || r->weeks > PLAN_WEEKS_MAX) {
        *why = "weeks is out of range";
        return ERR_INVALID;
    }
    if (r->kind == STORE_PLAN_WORKOUT)
        return builtin_workout(p, r, a, out);
    return builtin_nutrition(p, r, a, out, why);
}
