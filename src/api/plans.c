/* Plans: POST queues a plan and its generation job in one transaction and
 * answers 202 at once (the job system generates it in the background); GET
 * reads one plan or a keyset page of them; DELETE removes a plan (its
 * queued job is cancelled, its tasks stay). Invariants: every store call
 * carries the caller's user id, so another user's plan is 404 for every
 * verb; the job payload holds the profile as it was at the request, so the
 * plan is generated from what the user saw; list cursors are signed with
 * the shared list module (api/list.h) and bound to the user and the filters. */
#include <string.h>

#include "api/api.h"
#include "api/cached.h"
#include "api/etag.h"
#include "api/idempotency.h"
#include "api/list.h"
#include "api/quota.h"
#include "api/validate.h"
#include "auth/auth.h"
#include "jobs/jobs.h"
#include "plan/plan.h"
#include "store/store.h"
#include "util/err.h"

enum {
    LIMIT_DEFAULT = 20,
    LIMIT_MAX = 100,
    SCOPE_LEN = 16,
    IF_MATCH_MAX = 8,
    START_DATE_SPAN_DAYS = 366, /* start_date within a year of today */
};

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

static const struct api_field create_fields[] = {
    {"kind", API_ENUM, API_REQUIRED, 0, 0, store_plan_kind_names},
    {"weeks", API_INT, 0, 1, PLAN_WEEKS_MAX, NULL},
    {"start_date", API_DATE, API_NULLABLE, 0, 0, NULL},
    {"create_tasks", API_BOOL, 0, 0, 0, NULL},
};

/* ---- rendering ---- */

static void
write_plan(struct jw *w, const struct store_plan *p, bool with_content)
{
    jw_obj_begin(w);
    jw_key(w, "id");
    jw_int(w, p->id);
    jw_key(w, "kind");
    jw_str(w, store_plan_kind_name(p->kind));
    jw_key(w, "state");
    jw_str(w, store_plan_state_name(p->state));
    jw_key(w, "weeks");
    jw_int(w, p->weeks);
    jw_key(w, "start_date");
    jw_str_or_null(w, p->start_date);
    jw_key(w, "generator");
    jw_str_or_null(w, p->generator);
    jw_key(w, "summary");
    jw_str_or_null(w, p->summary);
    if (with_content) {
        jw_key(w, "content");
        if (p->content != NULL)
            jw_raw(w, p->content, strlen(p->content)); /* JSON the generator wrote and checked */
        else
            jw_null(w);
    }
    jw_key(w, "error");
    jw_str_or_null(w, p->error);
    jw_key(w, "created_at");
    api_jw_time(w, p->created_at);
    jw_key(w, "updated_at");
    api_jw_time(w, p->updated_at);
    jw_key(w, "completed_at");
    if (p->completed_at != 0)
        api_jw_time(w, p->completed_at);
    else
        jw_null(w);
    jw_obj_end(w);
}

static size_t
plan_size(const struct store_plan *p, bool with_content)
{
    return 320 + (p->summary != NULL ? strlen(p->summary) : 0) + (p->error != NULL ? strlen(p->error) : 0) +
           (with_content && p->content != NULL ? strlen(p->content) : 0);
}

static const char *
plan_etag(struct http_req *r, const struct store_plan *p)
{
    return arena_printf(&r->arena, "W/\"p%lld-v%lld\"", (long long)p->id, (long long)p->version);
}

static void
reply_plan(struct http_req *r, int status, const struct store_plan *p)
{
    struct jw *w = http_reply_json_begin(r, status);
    buf_reserve(&r->out, plan_size(p, true));
    write_plan(w, p, true);
    api_etag_header(r, plan_etag(r, p));
}

/* ---- request pieces ---- */

/* The {id} of the path: a positive decimal without sign or leading zero
 * that fits int64; anything else is no plan (404). */
static bool
plan_id(struct http_req *r, int64_t *id)
{
    const char *s = NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, "id") == 0) {
            s = r->params[i].value;
            n = r->params[i].value_len;
        }
    uint64_t v = 0;
    bool ok = s != NULL && n > 0 && n <= 19 && s[0] != '0';
    for (size_t i = 0; ok && i < n; i++) {
        ok = s[i] >= '0' && s[i] <= '9';
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (!ok || v > INT64_MAX) {
        api_reply_error(r, ERR_NOT_FOUND);
        return false;
    }
    *id = (int64_t)v;
    return true;
}

/* Reads the body into *req; false after replying 422. */
static bool
parse_create(struct http_req *r, struct plan_request *req)
{
    if (!api_validate(r, r->json, create_fields, NFIELDS(create_fields)))
        return false;
    const json_t *b = r->json;
    memset(req, 0, sizeof(*req));
    int kind = STORE_PLAN_WORKOUT; /* validated above: always one of them */
    store_enum_parse(store_plan_kind_names, STORE_PLAN_KIND_COUNT,
                     json_string_value(json_object_get(b, "kind")), &kind);
    req->kind = (enum store_plan_kind)kind;
    const json_t *v = json_object_get(b, "weeks");
    req->weeks = v != NULL ? (int)json_integer_value(v) : PLAN_WEEKS_DEFAULT;
    req->create_tasks = json_is_true(json_object_get(b, "create_tasks"));
    char today[11];
    plan_date_today(today);
    const char *start = json_string_value(json_object_get(b, "start_date"));
    int64_t t, s;
    plan_date_days(today, &t);
    if (start != NULL &&
        (!plan_date_days(start, &s) || s < t - START_DATE_SPAN_DAYS || s > t + START_DATE_SPAN_DAYS)) {
        struct auth_problem p = {"start_date", "out_of_range", "must be within a year of today"};
        api_reply_invalid_fields(r, &p, 1);
        return false;
    }
    memcpy(req->start_date, start != NULL ? start : today, 11);
    if (req->create_tasks && req->kind != STORE_PLAN_WORKOUT) {
        struct auth_problem p = {"create_tasks", "not_allowed", "only workout plans create tasks"};
        api_reply_invalid_fields(r, &p, 1);
        return false;
    }
    return true;
}

/* ---- handlers ---- */

static void
plan_create(struct http_req *r)
{
    struct plan_request req;
    if (!parse_create(r, &req))
        return;
    struct api_idem idem;
    if (!api_idem_begin(r, &idem))
        return;
    const struct api_deps *d = api_deps();
    struct store_profile prof;
    int err = store_profile_get(d->store, r->user_id, &r->arena, &prof);
    if (err == ERR_NOT_FOUND) {
        api_reply_profile_required(r);
        goto out;
    }
    if (err != OK) {
        api_reply_error(r, err);
        goto out;
    }
    struct store_plan p = {
        .user_id = r->user_id,
        .kind = req.kind,
        .weeks = req.weeks,
        .start_date = req.start_date,
        .request = plan_request_json(&r->arena, &req),
    };
    struct store_job job = {
        .kind = PLAN_JOB_KIND,
        .payload = plan_payload_write(&r->arena, &prof, &req),
        .max_active = jobs_max_queued_per_user(d->jobs),
    };
    err = store_plan_create(d->store, &p, &job);
    if (err == ERR_OVERLOADED && job.over_bound) {
        api_reply_too_many_jobs(r, job.max_active);
        goto out;
    }
    if (err == ERR_NOT_FOUND) {
        api_reply_account_gone(r);
        goto out;
    }
    if (err != OK) {
        api_reply_error(r, err);
        goto out;
    }
    jobs_notify(d->jobs);
    reply_plan(r, 202, &p);
    http_reply_header(r, "location", arena_printf(&r->arena, "/api/v1/plans/%lld", (long long)p.id));
out:
    api_idem_finish(r, &idem);
}

static void
api_plan_create(struct http_req *r)
{
    api_write_limited(r, plan_create);
}

/* GET /plans/{id}, in stages (http.h). */
struct get {
    int64_t id;
    struct store_plan p;
    struct api_cached k; /* a final plan's payload */
    bool hit;
};

static bool
get_prepare(struct http_req *r)
{
    struct get *g = r->state;
    return plan_id(r, &g->id);
}

static int
get_run(struct http_req *r)
{
    struct get *g = r->state;
    g->hit = api_cached_lookup(r, &g->k, CACHE_PLAN, g->id);
    if (g->hit)
        return OK;
    store_reads_from_primary(g->k.on); /* a fill must not see a lagging replica */
    int err = store_plan_get(api_deps()->store, r->user_id, g->id, &r->arena, &g->p);
    store_reads_from_primary(false);
    return err;
}

static int
get_start(struct http_req *r, http_done_fn *done, void *arg)
{
    struct get *g = r->state;
    if (api_cached_enabled())
        return ERR_WOULD_BLOCK; /* the cache is on the blocking path */
    return store_plan_get_async(api_deps()->store, r->user_id, g->id, &r->arena, &g->p, done, arg);
}

static void
get_reply(struct http_req *r, int err)
{
    struct get *g = r->state;
    if (g->hit) {
        api_cached_reply(r, &g->k);
        return;
    }
    if (err != OK)
        api_reply_error(r, err);
    else if (!api_etag_not_modified(r, plan_etag(r, &g->p)))
        reply_plan(r, 200, &g->p);
    /* Kept only once final (ready or failed): it never changes again. */
    if (err != OK || (g->p.state != STORE_PLAN_READY && g->p.state != STORE_PLAN_FAILED))
        g->k.on = false;
    api_cached_keep(r, &g->k);
}

static const struct http_stages plan_get = {
    .state_size = sizeof(struct get),
    .prepare = get_prepare,
    .run = get_run,
    .start = get_start,
    .reply = get_reply,
};

/* If-Match on DELETE: false after replying 404 or 412. The store deletes
 * without a version check, so this is checked just before (a state change
 * by the generator in between is not caught). */
static bool
check_if_match(struct http_req *r, int64_t id)
{
    size_t n = 0;
    const char *h = http_req_header(r, "if-match", &n);
    if (h == NULL)
        return true;
    bool any = false;
    int64_t versions[IF_MATCH_MAX];
    size_t nv = api_etag_versions(h, n, "p", id, &any, versions, IF_MATCH_MAX);
    struct store_plan cur;
    int err = store_plan_get(api_deps()->store, r->user_id, id, &r->arena, &cur);
    if (err != OK) {
        api_reply_error(r, err);
        return false;
    }
    if (any)
        return true;
    for (size_t i = 0; i < nv; i++)
        if (versions[i] == cur.version)
            return true;
    api_reply_error(r, ERR_PRECONDITION);
    return false;
}

static void
plan_delete(struct http_req *r)
{
    int64_t id;
    if (!plan_id(r, &id) || !check_if_match(r, id))
        return;
    int err = store_plan_delete(api_deps()->store, r->user_id, id);
    api_cached_bump(r);
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    http_reply_empty(r, 204);
}

static void
api_plan_delete(struct http_req *r)
{
    api_write_limited(r, plan_delete);
}

/* ---- lists ---- */

struct list_query {
    size_t limit;
    struct store_plan_filter filter;
    bool has_after;
    struct store_plan_pos after;
    struct api_list_scope scope;
};

/* What a cursor is bound to: plans, the user and both filters. */
static void
list_scope(struct list_query *q, int64_t user_id)
{
    unsigned char *s = api_list_scope_init(&q->scope, 'P', user_id, SCOPE_LEN);
    s[0] = q->filter.kind >= 0 ? (unsigned char)q->filter.kind : 0xff;
    s[1] = q->filter.state >= 0 ? (unsigned char)q->filter.state : 0xff;
}

static bool
parse_list_query(struct http_req *r, struct list_query *q)
{
    memset(q, 0, sizeof(*q));
    q->limit = LIMIT_DEFAULT;
    q->filter.kind = -1;
    q->filter.state = -1;
    const char *v;
    if (!api_list_limit(r, LIMIT_MAX, &q->limit))
        return false;
    if ((v = http_req_query(r, "kind")) != NULL) {
        if (!store_enum_parse(store_plan_kind_names, STORE_PLAN_KIND_COUNT, v, &q->filter.kind)) {
            api_reply_bad_param(r, "kind", "must be workout or nutrition");
            return false;
        }
    }
    if ((v = http_req_query(r, "state")) != NULL) {
        if (!store_enum_parse(store_plan_state_names, STORE_PLAN_STATE_COUNT, v, &q->filter.state)) {
            api_reply_bad_param(r, "state",
                                api_enum_choices(&r->arena, "must be one of ", store_plan_state_names));
            return false;
        }
    }
    list_scope(q, r->user_id);
    struct api_cursor_pos pos;
    if (!api_list_cursor(r, &q->scope, &q->has_after, &pos))
        return false;
    if (q->has_after) {
        q->after.id = pos.id;
        q->after.created_at = pos.created_at;
    }
    return true;
}

/* The page's tag (api/list.h; plan pages are salted "plans"). */
static const char *
page_etag(struct http_req *r, const struct store_plan *rows, size_t n, const char *next)
{
    struct api_list_etag e;
    api_list_etag_init(&e, "plans");
    for (size_t i = 0; i < n; i++)
        api_list_etag_row(&e, rows[i].id, rows[i].version);
    return api_list_etag_end(&e, r, next);
}

/* GET /plans, in stages (http.h). */
struct list {
    struct list_query q;
    struct store_plan *rows;
    size_t n;
};

static bool
list_prepare(struct http_req *r)
{
    struct list *l = r->state;
    return parse_list_query(r, &l->q);
}

/* The store's question: one row more than the page shows. */
static struct store_plan_query
plan_query(const struct http_req *r, const struct list *l)
{
    return (struct store_plan_query){r->user_id, &l->q.filter, l->q.has_after ? &l->q.after : NULL,
                                     l->q.limit + 1};
}

static int
list_run(struct http_req *r)
{
    struct list *l = r->state;
    struct store_plan_query q = plan_query(r, l);
    return store_plan_list(api_deps()->store, &q, &r->arena, &l->rows, &l->n);
}

static int
list_start(struct http_req *r, http_done_fn *done, void *arg)
{
    struct list *l = r->state;
    struct store_plan_query q = plan_query(r, l);
    return store_plan_list_async(api_deps()->store, &q, &r->arena, &l->rows, &l->n, done, arg);
}

static void
list_reply(struct http_req *r, int err)
{
    struct list *l = r->state;
    struct store_plan *rows = l->rows;
    size_t n = l->n;
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    char buf[API_CURSOR_TEXT + 1];
    const char *next = NULL;
    if (api_list_more(&n, l->q.limit)) {
        struct api_cursor_pos pos = {.id = rows[n - 1].id, .created_at = rows[n - 1].created_at};
        next = api_list_cursor_make(&l->q.scope, &pos, buf);
    }
    const char *tag = page_etag(r, rows, n, next);
    if (api_etag_not_modified(r, tag))
        return;
    size_t size = 64;
    for (size_t i = 0; i < n; i++)
        size += plan_size(&rows[i], false);
    struct jw *w = api_list_begin(r, size);
    for (size_t i = 0; i < n; i++)
        write_plan(w, &rows[i], false);
    api_list_end(r, w, next, tag);
}

static const struct http_stages plan_list = {
    .state_size = sizeof(struct list),
    .prepare = list_prepare,
    .run = list_run,
    .start = list_start,
    .reply = list_reply,
};

const struct http_route api_plans_routes[] = {
    {HTTP_GET, "/api/v1/plans", NULL, ROUTE_AUTH | ROUTE_READS, &plan_list},
    {HTTP_POST, "/api/v1/plans", api_plan_create, ROUTE_AUTH | ROUTE_WRITES | ROUTE_JSON, NULL},
    {HTTP_GET, "/api/v1/plans/{id}", NULL, ROUTE_AUTH | ROUTE_READS, &plan_get},
    {HTTP_DELETE, "/api/v1/plans/{id}", api_plan_delete, ROUTE_AUTH | ROUTE_WRITES, NULL},
};
const size_t api_plans_nroutes = sizeof(api_plans_routes) / sizeof(api_plans_routes[0]);
