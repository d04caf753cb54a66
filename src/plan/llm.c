/* The optional LLM provider: any OpenAI-compatible chat-completions
 * endpoint, called through libcurl from job workers only (never from an
 * event loop). Its answer must be JSON in the plan schema and within the
 * same limits the built-in engine keeps (sessions that fit, calorie floor,
 * diet, exclusions); anything else counts as a failure, and the caller
 * falls back to the built-in engine. A circuit breaker opens after
 * circuit_failures consecutive failures, skips the provider for the
 * cool-down, then lets one trial request through (half-open): success
 * closes it, failure opens it again. */
#include <curl/curl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "plan/plan.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/jparse.h"
#include "util/jw.h"
#include "util/log.h"

enum {
    RESPONSE_MAX = 2 * 1024 * 1024,
    SUMMARY_MAX = 500,
    NAME_MAX_CHARS = 100,
    EXERCISES_MAX = 20,
    MENU_DAYS_MAX = 14,
    MEAL_ITEMS_MAX = 12,
};

enum circuit_state { CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN };

struct plan_llm {
    char *url, *model, *auth_header;
    long timeout_ms;
    int circuit_failures;
    long cooldown_ms;
    pthread_mutex_t mu;
    enum circuit_state state;
    int failures;
    int64_t opened_at;
    bool trial; /* a half-open trial request is in flight */
    atomic_ulong results[PLAN_LLM_RESULT_COUNT];
};

static const char *const result_names[PLAN_LLM_RESULT_COUNT] = {
    "ok", "timeout", "http_error", "invalid_output", "circuit_open", "aborted"};
static const char *const circuit_names[] = {"closed", "open", "half_open"};

struct plan_llm *
plan_llm_new(const struct plan_llm_opts *o)
{
    if (o->url == NULL || o->url[0] == '\0')
        return NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct plan_llm *l = xcalloc(1, sizeof(*l));
    l->url = xstrdup(o->url);
    l->model = xstrdup(o->model != NULL ? o->model : "");
    if (o->api_key != NULL && o->api_key[0] != '\0') {
        size_t n = strlen(o->api_key) + 32;
        l->auth_header = xmalloc(n);
        snprintf(l->auth_header, n, "Authorization: Bearer %s", o->api_key);
    }
    l->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 20000;
    l->circuit_failures = o->circuit_failures > 0 ? o->circuit_failures : 5;
    l->cooldown_ms = o->circuit_cooldown_ms > 0 ? o->circuit_cooldown_ms : 60000;
    pthread_mutex_init(&l->mu, NULL);
    /* The host only: a URL may carry credentials. */
    const char *h = strstr(l->url, "://");
    h = h != NULL ? h + 3 : l->url;
    size_t hl = strcspn(h, "/?#");
    const char *at = memchr(h, '@', hl);
    if (at != NULL) {
        hl -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    log_info("plan",
             "LLM provider at %.*s (model %s, timeout %ld ms, circuit opens after %d failures for %ld ms)",
             (int)hl, h, l->model, l->timeout_ms, l->circuit_failures, l->cooldown_ms);
    return l;
}

void
plan_llm_free(struct plan_llm *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->url);
    free(l->model);
    if (l->auth_header != NULL) {
        memset(l->auth_header, 0, strlen(l->auth_header));
        free(l->auth_header);
    }
    free(l);
    curl_global_cleanup();
}

/* ---- the circuit breaker ---- */

static bool
circuit_allow(struct plan_llm *l)
{
    pthread_mutex_lock(&l->mu);
    bool ok = true;
    if (l->state == CIRCUIT_OPEN) {
        if (clock_mono_ms() - l->opened_at >= l->cooldown_ms) {
            l->state = CIRCUIT_HALF_OPEN;
            l->trial = true;
            log_info("plan", "LLM circuit half-open: one trial request");
        } else {
            ok = false;
        }
    } else if (l->state == CIRCUIT_HALF_OPEN) {
        ok = !l->trial;
        l->trial = true;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

static void
circuit_record(struct plan_llm *l, enum plan_llm_result r)
{
    pthread_mutex_lock(&l->mu);
    if (r == PLAN_LLM_OK) {
        if (l->state != CIRCUIT_CLOSED)
            log_info("plan", "LLM circuit closed");
        l->state = CIRCUIT_CLOSED;
        l->failures = 0;
        l->trial = false;
    } else if (r == PLAN_LLM_ABORTED) {
        if (l->state == CIRCUIT_HALF_OPEN)
            l->trial = false; /* not an answer either way: let another request try */
    } else {
        l->failures++;
        if (l->state == CIRCUIT_HALF_OPEN ||
            (l->state == CIRCUIT_CLOSED && l->failures >= l->circuit_failures)) {
            log_warn("plan",
                     "LLM circuit open after %d consecutive failures: the built-in generator is used for "
                     "%ld ms",
                     l->failures, l->cooldown_ms);
            l->state = CIRCUIT_OPEN;
            l->opened_at = clock_mono_ms();
        }
        l->trial = false;
    }
    pthread_mutex_unlock(&l->mu);
}

const char *
plan_llm_circuit_state(struct plan_llm *l)
{
    pthread_mutex_lock(&l->mu);
    enum circuit_state s = l->state;
    if (s == CIRCUIT_OPEN && clock_mono_ms() - l->opened_at >= l->cooldown_ms)
        s = CIRCUIT_HALF_OPEN;
    pthread_mutex_unlock(&l->mu);
    return circuit_names[s];
}

void
plan_llm_metrics(struct plan_llm *l, struct buf *out)
{
    buf_appends(out, "# HELP pace_plan_llm_requests_total Plans asked of the LLM provider, by outcome.\n"
                     "# TYPE pace_plan_llm_requests_total counter\n");
    for (int i = 0; i < PLAN_LLM_RESULT_COUNT; i++)
        buf_printf(out, "pace_plan_llm_requests_total{result=\"%s\"} %lu\n", result_names[i],
                   atomic_load_explicit(&l->results[i], memory_order_relaxed));
    const char *cur = plan_llm_circuit_state(l);
    buf_appends(out, "# HELP pace_plan_llm_circuit_state The LLM circuit breaker's state (1 = current).\n"
                     "# TYPE pace_plan_llm_circuit_state gauge\n");
    for (int i = 0; i < 3; i++)
        buf_printf(out, "pace_plan_llm_circuit_state{state=\"%s\"} %d\n", circuit_names[i],
                   strcmp(cur, circuit_names[i]) == 0 ? 1 : 0);
}

/* ---- the prompt ---- */

static const char system_prompt[] =
    "You are a certified strength coach and registered dietitian. Answer with one JSON object and nothing "
    "else: {\"summary\": string (one sentence, at most 500 characters), \"content\": object}. "
    "For task \"workout\", content is {\"weeks\": [{\"week\": n, \"sessions\": [{\"name\": string, "
    "\"estimated_minutes\": integer, \"exercises\": [{\"name\": string, \"sets\": integer 1-10, \"reps\": "
    "integer 1-100, \"rest_seconds\": integer 0-600}]}]}]} with exactly constraints.weeks weeks of exactly "
    "constraints.sessions_per_week sessions, each at most constraints.max_session_minutes minutes, using "
    "only "
    "the equipment given. For task \"nutrition\", content is {\"target_kcal\": number, \"protein_g\": "
    "number, "
    "\"fat_g\": number, \"carbs_g\": number, \"days\": [{\"day\": n, \"meals\": [{\"name\": string, "
    "\"items\": "
    "[{\"food\": string, \"grams\": number}]}]}]} with 7 days of exactly constraints.meals_per_day meals, "
    "target_kcal at least constraints.min_kcal, 4*protein_g + 9*fat_g + 4*carbs_g equal to target_kcal, only "
    "foods the diet allows and none of constraints.exclude_foods.";

static void
write_profile(struct jw *w, const struct plan_profile *p, int age)
{
    jw_obj_begin(w);
    jw_key(w, "sex");
    jw_str(w, plan_sex_names[p->sex]);
    jw_key(w, "age");
    jw_int(w, age);
    jw_key(w, "height_cm");
    jw_double(w, p->height_cm);
    jw_key(w, "weight_kg");
    jw_double(w, p->weight_kg);
    jw_key(w, "activity_level");
    jw_str(w, plan_activity_names[p->activity]);
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
    jw_key(w, "diet");
    jw_str(w, plan_diet_names[p->diet]);
    jw_key(w, "meals_per_day");
    jw_int(w, p->meals_per_day);
    jw_obj_end(w);
}

/* The user message: the task, the profile and the hard limits, as JSON. */
static const char *
user_message(struct arena *a, const struct plan_profile *p, const struct plan_request *r)
{
    int age = plan_age_at(p->birth_date, r->start_date);
    struct plan_targets t;
    plan_targets_compute(p, age, &t);
    struct buf b;
    struct jw w;
    buf_init(&b, a, 2048);
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "task");
    jw_str(&w, store_plan_kind_names[r->kind]);
    jw_key(&w, "profile");
    write_profile(&w, p, age);
    jw_key(&w, "constraints");
    jw_obj_begin(&w);
    jw_key(&w, "weeks");
    jw_int(&w, r->weeks);
    jw_key(&w, "start_date");
    jw_str(&w, r->start_date);
    if (r->kind == STORE_PLAN_WORKOUT) {
        jw_key(&w, "sessions_per_week");
        jw_int(&w, p->days_per_week);
        jw_key(&w, "max_session_minutes");
        jw_int(&w, p->session_minutes);
        jw_key(&w, "equipment");
        jw_str(&w, plan_equipment_names[p->equipment]);
    } else {
        jw_key(&w, "meals_per_day");
        jw_int(&w, p->meals_per_day);
        jw_key(&w, "min_kcal");
        jw_int(&w, (int64_t)t.floor);
        jw_key(&w, "suggested_kcal");
        jw_int(&w, t.kcal);
        jw_key(&w, "suggested_protein_g");
        jw_int(&w, t.protein_g);
        jw_key(&w, "diet");
        jw_str(&w, plan_diet_names[p->diet]);
        jw_key(&w, "exclude_foods");
        jw_arr_begin(&w);
        for (size_t i = 0; i < p->nexclude; i++)
            jw_str(&w, p->exclude[i]);
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
    jw_obj_end(&w);
    buf_appendc(&b, '\0');
    return b.data;
}

static const char *
request_body(struct plan_llm *l, struct arena *a, const char *user)
{
    struct buf b;
    struct jw w;
    buf_init(&b, a, strlen(user) + sizeof(system_prompt) + 512);
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "model");
    jw_str(&w, l->model);
    jw_key(&w, "temperature");
    jw_int(&w, 0);
    jw_key(&w, "response_format");
    jw_obj_begin(&w);
    jw_key(&w, "type");
    jw_str(&w, "json_object");
    jw_obj_end(&w);
    jw_key(&w, "messages");
    jw_arr_begin(&w);
    jw_obj_begin(&w);
    jw_key(&w, "role");
    jw_str(&w, "system");
    jw_key(&w, "content");
    jw_str(&w, system_prompt);
    jw_obj_end(&w);
    jw_obj_begin(&w);
    jw_key(&w, "role");
    jw_str(&w, "user");
    jw_key(&w, "content");
    jw_str(&w, user);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
    buf_appendc(&b, '\0');
    return b.data;
}

/* ---- checking the answer ---- */

static bool
str_ok(const json_t *v, size_t max_chars)
{
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) != strlen(json_string_value(v)))
        return false;
    size_t chars = 0;
    for (const char *s = json_string_value(v); *s != '\0'; s++)
        chars += ((unsigned char)*s & 0xC0) != 0x80;
    return chars <= max_chars;
}

static bool
int_in(const json_t *v, long lo, long hi)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= lo && json_integer_value(v) <= hi;
    /* 12.0 is an integer too. */
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return d == floor(d) && d >= lo && d <= hi;
    }
    return false;
}

static bool
num_in(const json_t *v, double lo, double hi)
{
    return json_is_number(v) && json_number_value(v) >= lo && json_number_value(v) <= hi;
}

static int
accept_workout(json_t *content, const struct plan_profile *p, const struct plan_request *r, struct arena *a,
               struct plan_output *out, const char **why)
{
    const json_t *weeks = json_object_get(content, "weeks");
    if (!json_is_array(weeks) || json_array_size(weeks) != (size_t)r->weeks) {
        *why = "content.weeks must list every week of the plan";
        return ERR_INVALID;
    }
    int offsets[7];
    plan_week_offsets(p->days_per_week, offsets);
    if (r->create_tasks) {
        out->ntasks = (size_t)r->weeks * (size_t)p->days_per_week;
        out->tasks = arena_alloc(a, out->ntasks * sizeof(*out->tasks));
    }
    for (size_t w = 0; w < json_array_size(weeks); w++) {
        const json_t *sessions = json_object_get(json_array_get(weeks, w), "sessions");
        if (!json_is_array(sessions) || json_array_size(sessions) != (size_t)p->days_per_week) {
            *why = "every week must have days_per_week sessions";
            return ERR_INVALID;
        }
        for (size_t i = 0; i < json_array_size(sessions); i++) {
            const json_t *s = json_array_get(sessions, i);
            const json_t *name = json_object_get(s, "name");
            const json_t *ex = json_object_get(s, "exercises");
            if (!str_ok(name, NAME_MAX_CHARS) ||
                !int_in(json_object_get(s, "estimated_minutes"), 1, p->session_minutes)) {
                *why = "a session has no name or does not fit session_minutes";
                return ERR_INVALID;
            }
            if (!json_is_array(ex) || json_array_size(ex) == 0 || json_array_size(ex) > EXERCISES_MAX) {
                *why = "a session has no exercises or too many";
                return ERR_INVALID;
            }
            for (size_t k = 0; k < json_array_size(ex); k++) {
                const json_t *x = json_array_get(ex, k);
                if (!str_ok(json_object_get(x, "name"), NAME_MAX_CHARS) ||
                    !int_in(json_object_get(x, "sets"), 1, 10) ||
                    !int_in(json_object_get(x, "reps"), 1, 100) ||
                    !int_in(json_object_get(x, "rest_seconds"), 0, 600)) {
                    *why = "an exercise is not {name, sets 1-10, reps 1-100, rest_seconds 0-600}";
                    return ERR_INVALID;
                }
            }
            if (r->create_tasks) {
                struct plan_task *t = &out->tasks[w * (size_t)p->days_per_week + i];
                t->title =
                    arena_printf(a, "Workout: %s (week %zu of %d)", json_string_value(name), w + 1, r->weeks);
                plan_date_add(r->start_date, (int)w * 7 + offsets[i], t->due_date);
            }
        }
    }
    return OK;
}

static int
accept_nutrition(const json_t *content, const struct plan_profile *p, const struct plan_request *r,
                 const char **why)
{
    int age = plan_age_at(p->birth_date, r->start_date);
    struct plan_targets t;
    plan_targets_compute(p, age, &t);
    const json_t *kcal = json_object_get(content, "target_kcal");
    double hi = t.tdee * 1.25 > t.floor ? t.tdee * 1.25 : t.floor;
    if (!num_in(kcal, t.floor, hi)) {
        *why = "target_kcal is below the calorie floor or far above the energy need";
        return ERR_INVALID;
    }
    double target = json_number_value(kcal);
    const json_t *pg = json_object_get(content, "protein_g"), *fg = json_object_get(content, "fat_g"),
                 *cg = json_object_get(content, "carbs_g");
    if (!num_in(pg, 0, 1000) || !num_in(fg, 0, 1000) || !num_in(cg, 0, 2000)) {
        *why = "protein_g, fat_g and carbs_g must be numbers";
        return ERR_INVALID;
    }
    double sum = 4 * json_number_value(pg) + 9 * json_number_value(fg) + 4 * json_number_value(cg);
    if (fabs(sum - target) > 0.05 * target) {
        *why = "the macronutrients do not add up to target_kcal";
        return ERR_INVALID;
    }
    const json_t *days = json_object_get(content, "days");
    if (!json_is_array(days) || json_array_size(days) == 0 || json_array_size(days) > MENU_DAYS_MAX) {
        *why = "content.days must list 1 to 14 days";
        return ERR_INVALID;
    }
    for (size_t d = 0; d < json_array_size(days); d++) {
        const json_t *meals = json_object_get(json_array_get(days, d), "meals");
        if (!json_is_array(meals) || json_array_size(meals) != (size_t)p->meals_per_day) {
            *why = "every day must have meals_per_day meals";
            return ERR_INVALID;
        }
        for (size_t m = 0; m < json_array_size(meals); m++) {
            const json_t *meal = json_array_get(meals, m);
            const json_t *items = json_object_get(meal, "items");
            if (!str_ok(json_object_get(meal, "name"), NAME_MAX_CHARS) || !json_is_array(items) ||
                json_array_size(items) == 0 || json_array_size(items) > MEAL_ITEMS_MAX) {
                *why = "a meal has no name or no items";
                return ERR_INVALID;
            }
            for (size_t i = 0; i < json_array_size(items); i++) {
                const json_t *item = json_array_get(items, i);
                const json_t *food = json_object_get(item, "food");
                if (!str_ok(food, NAME_MAX_CHARS) || !num_in(json_object_get(item, "grams"), 1, 2000)) {
                    *why = "an item is not {food, grams}";
                    return ERR_INVALID;
                }
                const char *f = json_string_value(food);
                if (plan_text_violates_diet(f, p->diet)) {
                    *why = "a food is not allowed by the diet";
                    return ERR_INVALID;
                }
                for (size_t x = 0; x < p->nexclude; x++)
                    if (plan_text_mentions(f, p->exclude[x])) {
                        *why = "a food is in exclude_foods";
                        return ERR_INVALID;
                    }
            }
        }
    }
    return OK;
}

/* Strips a Markdown code fence some models put around JSON. */
static void
unfence(const char **s, size_t *n)
{
    const char *p = *s, *e = *s + *n;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    if (e - p >= 3 && memcmp(p, "```", 3) == 0) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        if (nl == NULL)
            return;
        p = nl + 1;
        while (e > p && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\r' || e[-1] == '\t'))
            e--;
        if (e - p >= 3 && memcmp(e - 3, "```", 3) == 0)
            e -= 3;
    }
    *s = p;
    *n = (size_t)(e - p);
}

int
plan_llm_accept(const char *answer, size_t len, const struct plan_profile *p, const struct plan_request *r,
                struct arena *a, struct plan_output *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    unfence(&answer, &len);
    struct jparse_error e;
    json_t *root = jparse(answer, len, &e);
    if (root == NULL) {
        *why = "the answer is not JSON";
        return ERR_INVALID;
    }
    int err = ERR_INVALID;
    json_t *content = json_object_get(root, "content");
    const json_t *summary = json_object_get(root, "summary");
    if (!json_is_object(root) || !json_is_object(content) || !str_ok(summary, SUMMARY_MAX)) {
        *why = "the answer is not {summary, content}";
        goto out;
    }
    err = r->kind == STORE_PLAN_WORKOUT ? accept_workout(content, p, r, a, out, why)
                                        : accept_nutrition(content, p, r, why);
    if (err != OK)
        goto out;
    json_object_set_new(content, "method", json_string("llm"));
    char *text = json_dumps(content, JSON_COMPACT);
    if (text == NULL) {
        *why = "the answer cannot be stored";
        err = ERR_INVALID;
        goto out;
    }
    out->content = arena_strndup(a, text, strlen(text));
    free(text);
    out->summary = arena_strndup(a, json_string_value(summary), json_string_length(summary));
    out->generator = "llm";
out:
    json_decref(root);
    return err;
}

/* ---- the request ---- */

struct response {
    struct buf b;
    bool too_large;
};

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct response *res = arg;
    size_t n = size * nmemb;
    if (res->b.len + n > RESPONSE_MAX) {
        res->too_large = true;
        return 0;
    }
    buf_append(&res->b, ptr, n);
    return n;
}

struct stop {
    bool (*fn)(void *);
    void *arg;
    bool stopped;
};

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    struct stop *s = arg;
    if (s->fn != NULL && s->fn(s->arg)) {
        s->stopped = true;
        return 1;
    }
    return 0;
}

/* The message content of a chat-completions response. */
static bool
message_content(const char *body, size_t n, struct arena *a, const char **text, size_t *len)
{
    struct jparse_error e;
    json_t *root = jparse(body, n, &e);
    const json_t *content = json_object_get(
        json_object_get(json_array_get(json_object_get(root, "choices"), 0), "message"), "content");
    bool ok = json_is_string(content);
    if (ok) {
        *len = json_string_length(content);
        *text = arena_strndup(a, json_string_value(content), *len);
    }
    json_decref(root);
    return ok;
}

static enum plan_llm_result
call(struct plan_llm *l, const char *body, struct arena *a, struct response *res, struct stop *stop)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return PLAN_LLM_HTTP_ERROR;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    if (l->auth_header != NULL)
        h = curl_slist_append(h, l->auth_header);
    buf_init(&res->b, a, 8192);
    res->too_large = false;
    curl_easy_setopt(c, CURLOPT_URL, l->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, l->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, l->timeout_ms < 10000 ? l->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, res);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, stop);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "pace");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (stop->stopped)
        return PLAN_LLM_ABORTED;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return PLAN_LLM_TIMEOUT;
    if (rc == CURLE_WRITE_ERROR && res->too_large)
        return PLAN_LLM_INVALID;
    if (rc != CURLE_OK || status < 200 || status > 299)
        return PLAN_LLM_HTTP_ERROR;
    return PLAN_LLM_OK;
}

enum plan_llm_result
plan_llm_generate(struct plan_llm *l, const struct plan_profile *p, const struct plan_request *r,
                  struct arena *a, struct plan_output *out, bool (*should_stop)(void *), void *stop_arg)
{
    enum plan_llm_result result;
    const char *why = NULL;
    if (!circuit_allow(l)) {
        result = PLAN_LLM_CIRCUIT_OPEN;
        goto out;
    }
    const char *body = request_body(l, a, user_message(a, p, r));
    struct response res;
    struct stop stop = {should_stop, stop_arg, false};
    int64_t t0 = clock_mono_ms();
    result = call(l, body, a, &res, &stop);
    if (result == PLAN_LLM_OK) {
        const char *text = NULL;
        size_t len = 0;
        if (!message_content(res.b.data, res.b.len, a, &text, &len)) {
            result = PLAN_LLM_INVALID;
            why = "the response is not a chat completion";
        } else if (plan_llm_accept(text, len, p, r, a, out, &why) != OK) {
            result = PLAN_LLM_INVALID;
        }
    }
    circuit_record(l, result);
    if (result == PLAN_LLM_TIMEOUT)
        why = "no answer within the timeout";
    else if (result == PLAN_LLM_HTTP_ERROR)
        why = "the request failed";
    if (result != PLAN_LLM_OK && result != PLAN_LLM_ABORTED)
        log_warn("plan", "LLM provider: %s after %" PRId64 " ms (%s); using the built-in generator",
                 result_names[result], clock_mono_ms() - t0, why != NULL ? why : "-");
out:
    atomic_fetch_add_explicit(&l->results[result], 1, memory_order_relaxed);
    return result;
}
