/* The fitness profile: GET and PUT /api/v1/profile, one per user. PUT
 * replaces the whole profile (every field but exclude_foods is required;
 * updated_at may be sent back as it was read and is ignored). The enums are
 * the plan engine's own tables, so the API accepts exactly what the engine
 * understands. Tags are W/"f<user id>-v<version>"; PUT honours If-Match. */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "api/api.h"
#include "api/cached.h"
#include "api/etag.h"
#include "api/quota.h"
#include "api/validate.h"
#include "auth/auth.h"
#include "plan/plan.h"
#include "store/store.h"
#include "util/err.h"

enum { IF_MATCH_MAX = 8 };

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

static const struct api_field profile_fields[] = {
    {"sex", API_ENUM, API_REQUIRED, 0, 0, plan_sex_names},
    {"birth_date", API_DATE, API_REQUIRED, 0, 0, NULL},
    {"height_cm", API_NUMBER, API_REQUIRED, 100, 250, NULL},
    {"weight_kg", API_NUMBER, API_REQUIRED, 30, 300, NULL},
    {"activity_level", API_ENUM, API_REQUIRED, 0, 0, plan_activity_names},
    {"goal", API_ENUM, API_REQUIRED, 0, 0, plan_goal_names},
    {"experience", API_ENUM, API_REQUIRED, 0, 0, plan_experience_names},
    {"days_per_week", API_INT, API_REQUIRED, 1, 7, NULL},
    {"session_minutes", API_INT, API_REQUIRED, 20, 180, NULL},
    {"equipment", API_ENUM, API_REQUIRED, 0, 0, plan_equipment_names},
    {"diet", API_ENUM, API_REQUIRED, 0, 0, plan_diet_names},
    {"meals_per_day", API_INT, API_REQUIRED, 2, PLAN_MEALS_MAX, NULL},
    {"exclude_foods", API_STRING_ARRAY, 0, 0, PLAN_EXCLUDE_MAX, NULL},
    {"updated_at", API_STRING, API_NULLABLE, 0, 64, NULL}, /* read-only: accepted and ignored */
};

static const char *
profile_etag(struct http_req *r, const struct store_profile *p)
{
    return arena_printf(&r->arena, "W/\"f%lld-v%lld\"", (long long)p->user_id, (long long)p->version);
}

static void
reply_profile(struct http_req *r, const struct store_profile *p)
{
    struct jw *w = http_reply_json_begin(r, 200);
    jw_obj_begin(w);
    jw_key(w, "sex");
    jw_str(w, p->sex);
    jw_key(w, "birth_date");
    jw_str(w, p->birth_date);
    jw_key(w, "height_cm");
    jw_double(w, p->height_cm);
    jw_key(w, "weight_kg");
    jw_double(w, p->weight_kg);
    jw_key(w, "activity_level");
    jw_str(w, p->activity_level);
    jw_key(w, "goal");
    jw_str(w, p->goal);
    jw_key(w, "experience");
    jw_str(w, p->experience);
    jw_key(w, "days_per_week");
    jw_int(w, p->days_per_week);
    jw_key(w, "session_minutes");
    jw_int(w, p->session_minutes);
    jw_key(w, "equipment");
    jw_str(w, p->equipment);
    jw_key(w, "diet");
    jw_str(w, p->diet);
    jw_key(w, "meals_per_day");
    jw_int(w, p->meals_per_day);
    jw_key(w, "exclude_foods");
    const char *ex = p->exclude_foods != NULL ? p->exclude_foods : "[]";
    jw_raw(w, ex, strlen(ex)); /* JSON this file wrote */
    jw_key(w, "updated_at");
    api_jw_time(w, p->updated_at);
    jw_obj_end(w);
    api_etag_header(r, profile_etag(r, p));
}

static void
profile_read(struct http_req *r)
{
    struct store_profile p;
    int err = store_profile_get(api_deps()->store, r->user_id, &r->arena, &p);
    if (err == ERR_NOT_FOUND) {
        http_reply_problem(r, 404, "not_found", "Not found", "no fitness profile yet: PUT /api/v1/profile");
        return;
    }
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    if (api_etag_not_modified(r, profile_etag(r, &p)))
        return;
    reply_profile(r, &p);
}

static void
api_profile_get(struct http_req *r)
{
    api_cached_read(r, CACHE_PROFILE, 0, profile_read);
}

/* The version If-Match allows (0: no If-Match); false after replying 412. */
static bool
expected_version(struct http_req *r, int64_t *expect)
{
    *expect = 0;
    size_t n = 0;
    const char *h = http_req_header(r, "if-match", &n);
    if (h == NULL)
        return true;
    bool any = false;
    int64_t versions[IF_MATCH_MAX];
    size_t nv = api_etag_versions(h, n, "f", r->user_id, &any, versions, IF_MATCH_MAX);
    struct store_profile cur;
    int err = store_profile_get(api_deps()->store, r->user_id, &r->arena, &cur);
    if (err != OK && err != ERR_NOT_FOUND) {
        api_reply_error(r, err);
        return false;
    }
    /* No profile matches no tag, not even "*" (RFC 9110 13.1.1). */
    if (err == OK && any) {
        *expect = cur.version;
        return true;
    }
    for (size_t i = 0; err == OK && i < nv; i++)
        if (versions[i] == cur.version) {
            *expect = cur.version;
            return true;
        }
    api_reply_error(r, ERR_PRECONDITION);
    return false;
}

/* The age the birth date gives today must suit the formulas. */
static bool
check_age(struct http_req *r, const char *birth_date)
{
    char today[11];
    plan_date_today(today);
    int age = plan_age_at(birth_date, today);
    if (age >= PLAN_MIN_AGE && age <= PLAN_MAX_AGE)
        return true;
    struct auth_problem p = {"birth_date", "out_of_range", "must give an age from 13 to 120 years today"};
    api_reply_invalid_fields(r, &p, 1);
    return false;
}

static void
profile_put(struct http_req *r)
{
    const json_t *b = r->json;
    if (!api_validate(r, b, profile_fields, NFIELDS(profile_fields)) ||
        !check_age(r, json_string_value(json_object_get(b, "birth_date"))))
        return;
    /* exclude_foods is kept as JSON text, written here (never the client's bytes). */
    struct buf ex;
    struct jw w;
    buf_init(&ex, &r->arena, 256);
    jw_init(&w, &ex);
    jw_arr_begin(&w);
    size_t i;
    const json_t *item;
    json_array_foreach(json_object_get(b, "exclude_foods"), i, item)
    {
        jw_str(&w, json_string_value(item));
    }
    jw_arr_end(&w);
    buf_appendc(&ex, '\0');
    struct store_profile p = {
        .user_id = r->user_id,
        .sex = json_string_value(json_object_get(b, "sex")),
        .birth_date = json_string_value(json_object_get(b, "birth_date")),
        .height_cm = json_number_value(json_object_get(b, "height_cm")),
        .weight_kg = json_number_value(json_object_get(b, "weight_kg")),
        .activity_level = json_string_value(json_object_get(b, "activity_level")),
        .goal = json_string_value(json_object_get(b, "goal")),
        .experience = json_string_value(json_object_get(b, "experience")),
        .days_per_week = (int)json_integer_value(json_object_get(b, "days_per_week")),
        .session_minutes = (int)json_integer_value(json_object_get(b, "session_minutes")),
        .equipment = json_string_value(json_object_get(b, "equipment")),
        .diet = json_string_value(json_object_get(b, "diet")),
        .meals_per_day = (int)json_integer_value(json_object_get(b, "meals_per_day")),
        .exclude_foods = ex.data,
    };
    int64_t expect;
    if (!expected_version(r, &expect))
        return;
    int err = store_profile_put(api_deps()->store, &p, expect);
    api_cached_bump(r);
    if (err == ERR_NOT_FOUND) {
        api_reply_account_gone(r);
        return;
    }
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    reply_profile(r, &p);
}

static void
api_profile_put(struct http_req *r)
{
    api_write_limited(r, profile_put);
}

const struct http_route api_profile_routes[] = {
    {HTTP_GET, "/api/v1/profile", api_profile_get, ROUTE_AUTH | ROUTE_READS, NULL},
    {HTTP_PUT, "/api/v1/profile", api_profile_put, ROUTE_AUTH | ROUTE_WRITES | ROUTE_JSON, NULL},
};
const size_t api_profile_nroutes = sizeof(api_profile_routes) / sizeof(api_profile_routes[0]);
