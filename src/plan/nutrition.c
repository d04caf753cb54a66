/* Energy and macronutrient targets and the 7-day menu. Invariants: the
 * target never goes below the calorie floor; protein, fat and carbohydrate
 * grams add up to the target (4/9/4 kcal per gram) within rounding; no meal
 * holds a food the diet or an exclusion rules out; everything is a pure
 * function of the profile and the request (no clock, no randomness). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plan/plan.h"
#include "util/err.h"
#include "util/jw.h"

double
plan_bmr(enum plan_sex sex, double weight_kg, double height_cm, int age)
{
    return 10.0 * weight_kg + 6.25 * height_cm - 5.0 * age + (sex == PLAN_MALE ? 5.0 : -161.0);
}

double
plan_activity_factor(enum plan_activity a)
{
    static const double f[PLAN_ACTIVITY_COUNT] = {1.2, 1.375, 1.55, 1.725, 1.9};
    return f[a];
}

double
plan_goal_adjustment(enum plan_goal g)
{
    static const double f[PLAN_GOAL_COUNT] = {-0.20, 0.0, 0.10, 0.05};
    return f[g];
}

double
plan_calorie_floor(enum plan_sex sex)
{
    return sex == PLAN_MALE ? 1500.0 : 1200.0;
}

double
plan_protein_per_kg(enum plan_goal g)
{
    static const double f[PLAN_GOAL_COUNT] = {2.0, 1.6, 1.8, 1.4};
    return f[g];
}

double
plan_fat_share(enum plan_goal g)
{
    static const double f[PLAN_GOAL_COUNT] = {0.25, 0.30, 0.25, 0.25};
    return f[g];
}

void
plan_targets_compute(const struct plan_profile *p, int age, struct plan_targets *t)
{
    memset(t, 0, sizeof(*t));
    t->age = age;
    t->bmr = plan_bmr(p->sex, p->weight_kg, p->height_cm, age);
    t->activity_factor = plan_activity_factor(p->activity);
    t->tdee = t->bmr * t->activity_factor;
    t->goal_adjustment = plan_goal_adjustment(p->goal);
    t->adjusted = t->tdee * (1.0 + t->goal_adjustment);
    t->floor = plan_calorie_floor(p->sex);
    t->floor_applied = t->adjusted < t->floor;
    t->kcal = (int)lround(t->floor_applied ? t->floor : t->adjusted);
    t->protein_per_kg = plan_protein_per_kg(p->goal);
    double protein = t->protein_per_kg * p->weight_kg;
    double cap = t->kcal * PLAN_PROTEIN_MAX_SHARE_PCT / 100.0 / 4.0;
    if (protein > cap) {
        protein = cap;
        t->protein_capped = true;
    }
    t->protein_g = (int)lround(protein);
    t->fat_share = plan_fat_share(p->goal);
    t->fat_g = (int)lround(t->kcal * t->fat_share / 9.0);
    double rest = t->kcal - 4.0 * t->protein_g - 9.0 * t->fat_g;
    t->carbs_g = rest > 0 ? (int)lround(rest / 4.0) : 0;
}

/* ---- the menu ---- */

struct meal_shape {
    const char *name;
    double share;
    unsigned slot;
};

static const struct meal_shape shapes2[] = {{"brunch", 0.50, PLAN_SLOT_MAIN},
                                            {"dinner", 0.50, PLAN_SLOT_MAIN}};
static const struct meal_shape shapes3[] = {{"breakfast", 0.30, PLAN_SLOT_BREAKFAST},
                                            {"lunch", 0.35, PLAN_SLOT_MAIN},
                                            {"dinner", 0.35, PLAN_SLOT_MAIN}};
static const struct meal_shape shapes4[] = {{"breakfast", 0.25, PLAN_SLOT_BREAKFAST},
                                            {"lunch", 0.30, PLAN_SLOT_MAIN},
                                            {"afternoon snack", 0.15, PLAN_SLOT_SNACK},
                                            {"dinner", 0.30, PLAN_SLOT_MAIN}};
static const struct meal_shape shapes5[] = {
    {"breakfast", 0.25, PLAN_SLOT_BREAKFAST}, {"morning snack", 0.10, PLAN_SLOT_SNACK},
    {"lunch", 0.30, PLAN_SLOT_MAIN},          {"afternoon snack", 0.10, PLAN_SLOT_SNACK},
    {"dinner", 0.25, PLAN_SLOT_MAIN},
};
static const struct meal_shape shapes6[] = {
    {"breakfast", 0.20, PLAN_SLOT_BREAKFAST}, {"morning snack", 0.10, PLAN_SLOT_SNACK},
    {"lunch", 0.25, PLAN_SLOT_MAIN},          {"afternoon snack", 0.10, PLAN_SLOT_SNACK},
    {"dinner", 0.25, PLAN_SLOT_MAIN},         {"evening snack", 0.10, PLAN_SLOT_SNACK},
};

static const struct meal_shape *
meal_shapes(int meals)
{
    switch (meals) {
    case 2:
        return shapes2;
    case 3:
        return shapes3;
    case 4:
        return shapes4;
    case 5:
        return shapes5;
    default:
        return shapes6;
    }
}

/* Fixed portions of the vegetable (or fruit) of a meal, grams. */
enum { VEG_MAIN_G = 150, VEG_BREAKFAST_G = 100, SOLVER_ROUNDS = 200 };

/* The foods a meal may use for each role: allowed by the diet and by every
 * exclusion, and served at that kind of meal. */
struct candidates {
    const struct plan_food *f[PLAN_ROLE_COUNT][64];
    size_t n[PLAN_ROLE_COUNT];
};

static void
collect(const struct plan_profile *p, unsigned slot, struct candidates *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < plan_nfoods; i++) {
        const struct plan_food *f = &plan_foods[i];
        if (!(f->slots & slot) || !plan_food_diet_ok(f, p->diet))
            continue;
        bool out = false;
        for (size_t j = 0; j < p->nexclude && !out; j++)
            out = plan_food_excluded_by(f, p->exclude[j]);
        if (out || c->n[f->role] >= 64)
            continue;
        c->f[f->role][c->n[f->role]++] = f;
    }
}

static void
item_set(struct plan_meal_item *it, const struct plan_food *f, int grams)
{
    it->food = f;
    it->grams = grams;
    it->kcal = f->kcal * grams / 100.0;
    it->protein = f->protein * grams / 100.0;
    it->fat = f->fat * grams / 100.0;
    it->carbs = f->carbs * grams / 100.0;
}

/* Portions (x[j] in units of 100 g, within [0, max]) that bring the meal's
 * protein, carbohydrate, fat and energy closest to its targets: weighted
 * least squares, errors counted in kcal (4, 4, 9 per gram), solved by
 * projected coordinate descent (the objective is convex, so it converges
 * to the constrained optimum). */
static void
solve_portions(const struct plan_food *const *foods, size_t n, const double target[4], double scale,
               double *x)
{
    static const double w[4] = {16.0, 16.0, 81.0, 1.0}; /* protein, carbs, fat, energy */
    double a[4][PLAN_MEAL_ITEMS_MAX];
    for (size_t j = 0; j < n; j++) {
        a[0][j] = foods[j]->protein;
        a[1][j] = foods[j]->carbs;
        a[2][j] = foods[j]->fat;
        a[3][j] = foods[j]->kcal;
        x[j] = 0.0;
    }
    for (int round = 0; round < SOLVER_ROUNDS; round++) {
        double moved = 0.0;
        for (size_t j = 0; j < n; j++) {
            double grad = 0.0, curv = 0.0;
            for (int k = 0; k < 4; k++) {
                double r = -target[k];
                for (size_t i = 0; i < n; i++)
                    r += a[k][i] * x[i];
                grad += w[k] * a[k][j] * r;
                curv += w[k] * a[k][j] * a[k][j];
            }
            if (curv <= 0.0)
                continue;
            double v = x[j] - grad / curv;
            double hi = foods[j]->max_grams * scale / 100.0;
            v = v < 0.0 ? 0.0 : v > hi ? hi : v;
            moved = fmax(moved, fabs(v - x[j]));
            x[j] = v;
        }
        if (moved < 1e-5) /* under a milligram per portion */
            break;
    }
}

static int
round_grams(double grams, int max_grams)
{
    /* Dense foods (oils, nuts) to the gram, the rest to 5 g. */
    int step = max_grams <= 60 ? 1 : 5;
    return (int)lround(grams / step) * step;
}

/* Portions are capped at sensible sizes for a meal of up to this many
 * kcal; a bigger meal (very high targets, few meals) scales the caps. */
static double
portion_scale(unsigned slot, double meal_kcal)
{
    double ref = slot == PLAN_SLOT_BREAKFAST ? 900.0 : slot == PLAN_SLOT_MAIN ? 1100.0 : 450.0;
    return meal_kcal > ref ? meal_kcal / ref : 1.0;
}

static void
build_meal(const struct plan_targets *t, const struct meal_shape *shape, const struct candidates *c,
           unsigned counters[PLAN_ROLE_COUNT], struct plan_meal *m)
{
    memset(m, 0, sizeof(*m));
    m->name = shape->name;
    m->share = shape->share;
    m->target_kcal = (int)lround(t->kcal * shape->share);
    double target[4] = {t->protein_g * shape->share, t->carbs_g * shape->share, t->fat_g * shape->share,
                        t->kcal * shape->share};
    /* The vegetable first, in a fixed portion (snacks have none). */
    if (shape->slot != PLAN_SLOT_SNACK && c->n[PLAN_ROLE_VEG] > 0) {
        const struct plan_food *v = c->f[PLAN_ROLE_VEG][counters[PLAN_ROLE_VEG]++ % c->n[PLAN_ROLE_VEG]];
        item_set(&m->items[m->nitems++], v,
                 shape->slot == PLAN_SLOT_BREAKFAST ? VEG_BREAKFAST_G : VEG_MAIN_G);
        target[0] -= m->items[0].protein;
        target[1] -= m->items[0].carbs;
        target[2] -= m->items[0].fat;
        target[3] -= m->items[0].kcal;
    }
    const struct plan_food *chosen[PLAN_MEAL_ITEMS_MAX];
    size_t nchosen = 0;
    static const enum plan_food_role roles[] = {PLAN_ROLE_PROTEIN, PLAN_ROLE_CARB, PLAN_ROLE_FAT};
    for (size_t i = 0; i < 3; i++) {
        enum plan_food_role role = roles[i];
        if (c->n[role] > 0)
            chosen[nchosen++] = c->f[role][counters[role]++ % c->n[role]];
    }
    double x[PLAN_MEAL_ITEMS_MAX];
    double scale = portion_scale(shape->slot, t->kcal * shape->share);
    solve_portions(chosen, nchosen, target, scale, x);
    /* Capped portions that fall short of the meal's energy: add the next
     * carbohydrate food and solve again. */
    double kcal = 0.0;
    for (size_t j = 0; j < nchosen; j++)
        kcal += x[j] * chosen[j]->kcal;
    if (kcal < 0.95 * target[3] && c->n[PLAN_ROLE_CARB] > 1) {
        const struct plan_food *extra =
            c->f[PLAN_ROLE_CARB][counters[PLAN_ROLE_CARB]++ % c->n[PLAN_ROLE_CARB]];
        bool dup = false;
        for (size_t j = 0; j < nchosen; j++)
            dup = dup || chosen[j] == extra;
        if (!dup) {
            chosen[nchosen++] = extra;
            solve_portions(chosen, nchosen, target, scale, x);
        }
    }
    for (size_t j = 0; j < nchosen; j++) {
        int g = round_grams(x[j] * 100.0, chosen[j]->max_grams);
        if (g > 0)
            item_set(&m->items[m->nitems++], chosen[j], g);
    }
    for (size_t i = 0; i < m->nitems; i++) {
        m->kcal += m->items[i].kcal;
        m->protein += m->items[i].protein;
        m->fat += m->items[i].fat;
        m->carbs += m->items[i].carbs;
    }
}

int
plan_nutrition_build(const struct plan_profile *p, const struct plan_request *r, struct plan_nutrition *out,
                     const char **why)
{
    memset(out, 0, sizeof(*out));
    int age = plan_age_at(p->birth_date, r->start_date);
    if (age < 0) {
        *why = "the birth date is after the start date";
        return ERR_INVALID;
    }
    plan_targets_compute(p, age, &out->t);
    const struct meal_shape *shapes = meal_shapes(p->meals_per_day);
    struct candidates cand[3];
    static const unsigned slots[3] = {PLAN_SLOT_BREAKFAST, PLAN_SLOT_MAIN, PLAN_SLOT_SNACK};
    for (int i = 0; i < 3; i++) {
        collect(p, slots[i], &cand[i]);
        if (cand[i].n[PLAN_ROLE_PROTEIN] + cand[i].n[PLAN_ROLE_CARB] + cand[i].n[PLAN_ROLE_FAT] == 0) {
            *why = "the diet and exclude_foods leave no food for some meals";
            return ERR_INVALID;
        }
    }
    unsigned counters[3][PLAN_ROLE_COUNT] = {{0}};
    for (int d = 0; d < PLAN_MENU_DAYS; d++) {
        struct plan_day *day = &out->days[d];
        day->day = d + 1;
        plan_date_add(r->start_date, d, day->date);
        day->nmeals = (size_t)p->meals_per_day;
        for (size_t m = 0; m < day->nmeals; m++) {
            int s = shapes[m].slot == PLAN_SLOT_BREAKFAST ? 0 : shapes[m].slot == PLAN_SLOT_MAIN ? 1 : 2;
            build_meal(&out->t, &shapes[m], &cand[s], counters[s], &day->meals[m]);
            day->kcal += day->meals[m].kcal;
            day->protein += day->meals[m].protein;
            day->fat += day->meals[m].fat;
            day->carbs += day->meals[m].carbs;
        }
    }
    return OK;
}

/* ---- content ---- */

static void
num1(struct jw *w, const char *key, double v)
{
    jw_key(w, key);
    jw_double(w, round(v * 10.0) / 10.0);
}

static void
num_int(struct jw *w, const char *key, double v)
{
    jw_key(w, key);
    jw_int(w, (int64_t)lround(v));
}

static void
write_amounts(struct jw *w, double kcal, double protein, double fat, double carbs)
{
    num_int(w, "kcal", kcal);
    num1(w, "protein_g", protein);
    num1(w, "fat_g", fat);
    num1(w, "carbs_g", carbs);
}

void
plan_nutrition_write(struct jw *w, const struct plan_profile *p, const struct plan_request *r,
                     const struct plan_nutrition *n)
{
    const struct plan_targets *t = &n->t;
    char text[512];
    jw_obj_begin(w);
    jw_key(w, "method");
    jw_str(w, "builtin");

    jw_key(w, "inputs");
    jw_obj_begin(w);
    jw_key(w, "sex");
    jw_str(w, plan_sex_names[p->sex]);
    jw_key(w, "age");
    jw_int(w, t->age);
    jw_key(w, "age_on");
    jw_str(w, r->start_date);
    num1(w, "height_cm", p->height_cm);
    num1(w, "weight_kg", p->weight_kg);
    jw_key(w, "activity_level");
    jw_str(w, plan_activity_names[p->activity]);
    jw_key(w, "goal");
    jw_str(w, plan_goal_names[p->goal]);
    jw_key(w, "diet");
    jw_str(w, plan_diet_names[p->diet]);
    jw_key(w, "meals_per_day");
    jw_int(w, p->meals_per_day);
    jw_key(w, "exclude_foods");
    jw_arr_begin(w);
    for (size_t i = 0; i < p->nexclude; i++)
        jw_str(w, p->exclude[i]);
    jw_arr_end(w);
    jw_obj_end(w);

    jw_key(w, "energy");
    jw_obj_begin(w);
    num1(w, "bmr_kcal", t->bmr);
    snprintf(text, sizeof(text),
             "Mifflin-St Jeor (%s): 10 x %.1f kg + 6.25 x %.1f cm - 5 x %d years %s = %.1f kcal",
             plan_sex_names[p->sex], p->weight_kg, p->height_cm, t->age,
             p->sex == PLAN_MALE ? "+ 5" : "- 161", t->bmr);
    jw_key(w, "bmr_formula");
    jw_str(w, text);
    jw_key(w, "activity_factor");
    jw_double(w, t->activity_factor);
    num1(w, "tdee_kcal", t->tdee);
    snprintf(text, sizeof(text), "%.1f kcal x %.3g (%s) = %.1f kcal", t->bmr, t->activity_factor,
             plan_activity_names[p->activity], t->tdee);
    jw_key(w, "tdee_formula");
    jw_str(w, text);
    jw_key(w, "goal_adjustment");
    jw_double(w, t->goal_adjustment);
    num1(w, "goal_adjustment_kcal", t->adjusted - t->tdee);
    num1(w, "adjusted_kcal", t->adjusted);
    num_int(w, "calorie_floor_kcal", t->floor);
    jw_key(w, "floor_applied");
    jw_bool(w, t->floor_applied);
    jw_key(w, "target_kcal");
    jw_int(w, t->kcal);
    snprintf(
        text, sizeof(text),
        "%.1f kcal %s %.0f%% for %s = %.1f kcal; the floor for %s is %.0f kcal, so the target is %d kcal",
        t->tdee, t->goal_adjustment < 0 ? "-" : "+", fabs(t->goal_adjustment) * 100.0,
        plan_goal_names[p->goal], t->adjusted, plan_sex_names[p->sex], t->floor, t->kcal);
    jw_key(w, "derivation");
    jw_str(w, text);
    jw_obj_end(w);

    jw_key(w, "macros");
    jw_obj_begin(w);
    jw_key(w, "protein_g");
    jw_int(w, t->protein_g);
    jw_key(w, "protein_g_per_kg");
    jw_double(w, t->protein_per_kg);
    jw_key(w, "protein_capped");
    jw_bool(w, t->protein_capped);
    jw_key(w, "protein_kcal");
    jw_int(w, 4 * t->protein_g);
    jw_key(w, "fat_g");
    jw_int(w, t->fat_g);
    jw_key(w, "fat_share");
    jw_double(w, t->fat_share);
    jw_key(w, "fat_kcal");
    jw_int(w, 9 * t->fat_g);
    jw_key(w, "carbs_g");
    jw_int(w, t->carbs_g);
    jw_key(w, "carbs_kcal");
    jw_int(w, 4 * t->carbs_g);
    jw_key(w, "total_kcal");
    jw_int(w, 4 * t->protein_g + 9 * t->fat_g + 4 * t->carbs_g);
    if (t->protein_capped)
        snprintf(
            text, sizeof(text),
            "protein %.1f g/kg x %.1f kg, capped at %d%% of the energy; fat %.0f%% of %d kcal / 9 kcal/g; "
            "carbohydrates the remaining energy / 4 kcal/g",
            t->protein_per_kg, p->weight_kg, PLAN_PROTEIN_MAX_SHARE_PCT, t->fat_share * 100.0, t->kcal);
    else
        snprintf(
            text, sizeof(text),
            "protein %.1f g/kg x %.1f kg / 4 kcal/g; fat %.0f%% of %d kcal / 9 kcal/g; carbohydrates the "
            "remaining energy / 4 kcal/g",
            t->protein_per_kg, p->weight_kg, t->fat_share * 100.0, t->kcal);
    jw_key(w, "derivation");
    jw_str(w, text);
    jw_obj_end(w);

    jw_key(w, "meal_plan");
    jw_obj_begin(w);
    jw_key(w, "repeats");
    jw_str(w, "the 7-day menu repeats for every week of the plan");
    jw_key(w, "portions");
    jw_str(w,
           "portions are solved per meal so that protein, carbohydrate, fat and energy come closest to the "
           "meal's share of the targets (nutrient values per 100 g from USDA FoodData Central)");
    jw_key(w, "excluded");
    jw_arr_begin(w);
    for (size_t i = 0; i < p->nexclude; i++) {
        jw_obj_begin(w);
        jw_key(w, "exclusion");
        jw_str(w, p->exclude[i]);
        jw_key(w, "foods");
        jw_arr_begin(w);
        for (size_t f = 0; f < plan_nfoods; f++)
            if (plan_food_excluded_by(&plan_foods[f], p->exclude[i]))
                jw_str(w, plan_foods[f].name);
        jw_arr_end(w);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "days");
    jw_arr_begin(w);
    for (size_t d = 0; d < PLAN_MENU_DAYS; d++) {
        const struct plan_day *day = &n->days[d];
        jw_obj_begin(w);
        jw_key(w, "day");
        jw_int(w, day->day);
        jw_key(w, "date");
        jw_str(w, day->date);
        jw_key(w, "meals");
        jw_arr_begin(w);
        for (size_t m = 0; m < day->nmeals; m++) {
            const struct plan_meal *meal = &day->meals[m];
            jw_obj_begin(w);
            jw_key(w, "name");
            jw_str(w, meal->name);
            jw_key(w, "share");
            jw_double(w, meal->share);
            jw_key(w, "target_kcal");
            jw_int(w, meal->target_kcal);
            jw_key(w, "items");
            jw_arr_begin(w);
            for (size_t i = 0; i < meal->nitems; i++) {
                const struct plan_meal_item *it = &meal->items[i];
                jw_obj_begin(w);
                jw_key(w, "food");
                jw_str(w, it->food->name);
                jw_key(w, "grams");
                jw_int(w, it->grams);
                write_amounts(w, it->kcal, it->protein, it->fat, it->carbs);
                jw_obj_end(w);
            }
            jw_arr_end(w);
            write_amounts(w, meal->kcal, meal->protein, meal->fat, meal->carbs);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_key(w, "totals");
        jw_obj_begin(w);
        write_amounts(w, day->kcal, day->protein, day->fat, day->carbs);
        jw_obj_end(w);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    jw_obj_end(w);
}
