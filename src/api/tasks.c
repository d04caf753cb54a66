/* Tasks: per-user CRUD and keyset-paginated lists. Invariants: every store
 * call carries the caller's user id, so another user's task is 404 for
 * every verb; list pages ask the store for limit + 1 rows and sign the
 * position of the last row shown into next_cursor, bound to the user, the
 * filters and the sort (api/list.c); single tasks are tagged
 * W/"t<id>-v<version>", pages by a hash of their ids, versions and next
 * cursor (api/list.c). Reads and creates are handlers in stages, so the
 * server runs them inline on SQLite (creates up to the group commit) and
 * on the loops' own connections on PostgreSQL (reads). */
#include <string.h>

#include "api/api.h"
#include "api/etag.h"
#include "api/idempotency.h"
#include "api/list.h"
#include "api/quota.h"
#include "api/validate.h"
#include "store/store.h"
#include "util/err.h"

enum {
    LIMIT_DEFAULT = 20,
    LIMIT_MAX = 100,
    TITLE_MAX = 200,
    DESCRIPTION_MAX = 10000,
    PRIORITY_MAX = 3,
    SCOPE_LEN = 32,
    IF_MATCH_MAX = 8 /* tags of one If-Match header looked at */
};

static const struct api_field create_fields[] = {
    {"title", API_STRING, API_REQUIRED, 1, TITLE_MAX, NULL},
    {"description", API_STRING, API_NULLABLE, 0, DESCRIPTION_MAX, NULL},
    {"status", API_ENUM, 0, 0, 0, store_task_status_names},
    {"priority", API_INT, 0, 0, PRIORITY_MAX, NULL},
    {"due_date", API_DATE, API_NULLABLE, 0, 0, NULL},
};

static const struct api_field patch_fields[] = {
    {"title", API_STRING, 0, 1, TITLE_MAX, NULL},
    {"description", API_STRING, API_NULLABLE, 0, DESCRIPTION_MAX, NULL},
    {"status", API_ENUM, 0, 0, 0, store_task_status_names},
    {"priority", API_INT, 0, 0, PRIORITY_MAX, NULL},
    {"due_date", API_DATE, API_NULLABLE, 0, 0, NULL},
};

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

/* ---- rendering ---- */

#define LIT(b, s) buf_append((b), (s), sizeof(s) - 1)

static void
append_str_or_null(struct buf *b, const char *s)
{
    if (s == NULL) {
        LIT(b, "null");
        return;
    }
    buf_appendc(b, '"');
    jw_escape(b, s, strlen(s));
    buf_appendc(b, '"');
}

/* The task as one JSON value at w's position. The hottest code of a list
 * page, so the object is appended in few, constant-keyed pieces: jw_raw
 * with no bytes places the separator and marks the value, the bytes
 * follow (strings still go through jw's escaper; timestamps through
 * api_jw_time on a one-value writer). */
static void
write_task(struct jw *w, const struct store_task *t)
{
    struct buf *b = w->b;
    struct jw one;
    jw_raw(w, "", 0);
    LIT(b, "{\"id\":");
    buf_append_i64(b, t->id);
    LIT(b, ",\"title\":");
    append_str_or_null(b, t->title);
    LIT(b, ",\"description\":");
    append_str_or_null(b, t->description);
    LIT(b, ",\"status\":\"");
    buf_appends(b, store_task_status_name(t->status));
    LIT(b, "\",\"priority\":");
    buf_append_i64(b, t->priority);
    LIT(b, ",\"due_date\":");
    append_str_or_null(b, t->due_date);
    LIT(b, ",\"plan_id\":");
    if (t->plan_id != 0)
        buf_append_i64(b, t->plan_id);
    else
        LIT(b, "null");
    LIT(b, ",\"created_at\":");
    size_t at = b->len;
    jw_init(&one, b);
    api_jw_time(&one, t->created_at);
    size_t len = b->len - at;
    LIT(b, ",\"updated_at\":");
    if (t->updated_at == t->created_at) { /* never edited: the same bytes again */
        char *p = buf_reserve(b, len);
        memcpy(p, b->data + at, len);
        b->len += len;
    } else {
        jw_init(&one, b);
        api_jw_time(&one, t->updated_at);
    }
    buf_appendc(b, '}');
}

/* Bytes a task takes in JSON, give or take, to size the output once. */
static size_t
task_size(const struct store_task *t)
{
    return 220 + strlen(t->title) + (t->description != NULL ? strlen(t->description) : 0);
}

/* W/"t<id>-v<version>", formatted by hand (every GET of a task makes one). */
static const char *
task_etag(struct http_req *r, const struct store_task *t)
{
    struct buf b;
    buf_init(&b, &r->arena, API_ETAG_MAX);
    LIT(&b, "W/\"t");
    buf_append_i64(&b, t->id);
    LIT(&b, "-v");
    buf_append_i64(&b, t->version);
    LIT(&b, "\"");
    buf_appendc(&b, '\0');
    return b.data;
}

static void
reply_task(struct http_req *r, int status, const struct store_task *t)
{
    struct jw *w = http_reply_json_begin(r, status);
    buf_reserve(&r->out, task_size(t));
    write_task(w, t);
    api_etag_header(r, task_etag(r, t));
}

/* ---- request pieces ---- */

/* The {id} of the path: a positive decimal integer without sign or
 * leading zero that fits int64; anything else is no task (404). */
static bool
task_id(struct http_req *r, int64_t *id)
{
    const char *s = NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, "id") == 0) {
            s = r->params[i].value;
            n = r->params[i].value_len; /* not strlen: the segment may hold a NUL */
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

/* A status the validator has accepted. */
static enum store_task_status
status_of(const char *s)
{
    int st = STORE_TASK_TODO;
    store_enum_parse(store_task_status_names, STORE_TASK_STATUS_COUNT, s, &st);
    return (enum store_task_status)st;
}

/* The version PATCH and DELETE expect, from If-Match: 0 for none or "*",
 * the one version it names for this task, or (several, or none that can
 * be this task's) the current version when listed. False after replying
 * (404, 412, store errors). */
static bool
expected_version(struct http_req *r, int64_t id, int64_t *expect)
{
    *expect = 0;
    size_t n = 0;
    const char *h = http_req_header(r, "if-match", &n);
    if (h == NULL)
        return true;
    bool any = false;
    int64_t versions[IF_MATCH_MAX];
    size_t nv = api_etag_versions(h, n, "t", id, &any, versions, IF_MATCH_MAX);
    if (any)
        return true;
    if (nv == 1) {
        *expect = versions[0];
        return true;
    }
    struct store_task cur;
    int err = store_task_get(api_deps()->store, r->user_id, id, &r->arena, &cur);
    if (err != OK) {
        api_reply_error(r, err);
        return false;
    }
    for (size_t i = 0; i < nv; i++)
        if (versions[i] == cur.version) {
            *expect = cur.version;
            return true;
        }
    api_reply_error(r, ERR_PRECONDITION);
    return false;
}

/* ---- handlers ----
 * Reads and creates are handlers in stages (http.h): prepare reads the
 * request, run is the store call as a blocking call, start the same call
 * without waiting where the store can, reply renders. The server decides
 * where each runs; update and delete are handlers in one piece on the
 * blocking pool. */

/* POST /tasks: the task to create, and the store's answer. */
struct create {
    struct store_task t;
    struct auth_rl_verdict rl; /* the write limit's, for the headers */
    bool in_run;               /* create_run adds them after the Idempotency-Key's record */
};

static bool
create_prepare(struct http_req *r)
{
    struct create *cr = r->state;
    if (!api_write_allowed(r, &cr->rl))
        return false;
    if (!api_validate(r, r->json, create_fields, NFIELDS(create_fields)))
        return false;
    const json_t *body = r->json;
    const json_t *v;
    cr->t = (struct store_task){
        .user_id = r->user_id,
        .title = json_string_value(json_object_get(body, "title")),
        .description = json_string_value(json_object_get(body, "description")),
        .status = STORE_TASK_TODO,
        .due_date = json_string_value(json_object_get(body, "due_date")),
    };
    v = json_object_get(body, "status");
    if (v != NULL)
        cr->t.status = status_of(json_string_value(v));
    v = json_object_get(body, "priority");
    if (v != NULL)
        cr->t.priority = (int)json_integer_value(v);
    return true;
}

static void
create_reply(struct http_req *r, int err)
{
    struct create *cr = r->state;
    if (err == ERR_NOT_FOUND)
        api_reply_account_gone(r);
    else if (err != OK)
        api_reply_error(r, err);
    else {
        reply_task(r, 201, &cr->t);
        http_reply_header(r, "location", arena_printf(&r->arena, "/api/v1/tasks/%lld", (long long)cr->t.id));
    }
    if (!cr->in_run)
        api_ratelimit_headers(r, &cr->rl);
}

/* The create as a blocking call, with Idempotency-Key (which may wait for
 * another request with the same key, or replay its answer). */
static int
create_run(struct http_req *r)
{
    struct create *cr = r->state;
    struct api_idem idem;
    cr->in_run = true;
    if (api_idem_begin(r, &idem)) {
        create_reply(r, store_task_create(api_deps()->store, &cr->t));
        api_idem_finish(r, &idem);
    } /* else answered: a replay, or the key's error */
    api_ratelimit_headers(r, &cr->rl);
    return OK;
}

/* Without waiting: on SQLite the create joins the writer's next group
 * commit and done runs once it is on disk. A create with an
 * Idempotency-Key may have to wait for its key: it takes run. */
static int
create_start(struct http_req *r, http_done_fn *done, void *arg)
{
    struct create *cr = r->state;
    if (http_req_header(r, "idempotency-key", NULL) != NULL)
        return ERR_WOULD_BLOCK;
    return store_task_create_async(api_deps()->store, &cr->t, done, arg);
}

static const struct http_stages task_create = {
    .state_size = sizeof(struct create),
    .prepare = create_prepare,
    .run = create_run,
    .start = create_start,
    .reply = create_reply,
};

/* GET /tasks/{id}. */
struct get {
    int64_t id;
    struct store_task t;
};

static bool
get_prepare(struct http_req *r)
{
    struct get *g = r->state;
    return task_id(r, &g->id);
}

static int
get_run(struct http_req *r)
{
    struct get *g = r->state;
    return store_task_get(api_deps()->store, r->user_id, g->id, &r->arena, &g->t);
}

static int
get_start(struct http_req *r, http_done_fn *done, void *arg)
{
    struct get *g = r->state;
    return store_task_get_async(api_deps()->store, r->user_id, g->id, &r->arena, &g->t, done, arg);
}

static void
get_reply(struct http_req *r, int err)
{
    struct get *g = r->state;
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    if (api_etag_not_modified(r, task_etag(r, &g->t)))
        return;
    reply_task(r, 200, &g->t);
}

static const struct http_stages task_get = {
    .state_size = sizeof(struct get),
    .prepare = get_prepare,
    .run = get_run,
    .start = get_start,
    .reply = get_reply,
};

static void
task_update(struct http_req *r)
{
    int64_t id, expect;
    if (!task_id(r, &id) || !api_validate(r, r->json, patch_fields, NFIELDS(patch_fields)))
        return;
    const json_t *body = r->json;
    struct store_task_patch p = {0};
    const json_t *v = json_object_get(body, "title");
    if (v != NULL) {
        p.fields |= STORE_TASK_F_TITLE;
        p.title = json_string_value(v);
    }
    v = json_object_get(body, "description");
    if (v != NULL) {
        p.fields |= STORE_TASK_F_DESCRIPTION;
        p.description = json_string_value(v); /* NULL for null: clears */
    }
    v = json_object_get(body, "status");
    if (v != NULL) {
        p.fields |= STORE_TASK_F_STATUS;
        p.status = status_of(json_string_value(v));
    }
    v = json_object_get(body, "priority");
    if (v != NULL) {
        p.fields |= STORE_TASK_F_PRIORITY;
        p.priority = (int)json_integer_value(v);
    }
    v = json_object_get(body, "due_date");
    if (v != NULL) {
        p.fields |= STORE_TASK_F_DUE_DATE;
        p.due_date = json_string_value(v); /* NULL for null: clears */
    }
    if (!expected_version(r, id, &expect))
        return;
    struct store_task t;
    int err;
    if (p.fields == 0) {
        /* An empty patch changes nothing: the task as it is (200). */
        err = store_task_get(api_deps()->store, r->user_id, id, &r->arena, &t);
        if (err == OK && expect != 0 && t.version != expect)
            err = ERR_PRECONDITION;
    } else {
        err = store_task_update(api_deps()->store, r->user_id, id, &p, expect, &r->arena, &t);
    }
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    reply_task(r, 200, &t);
}

static void
task_delete(struct http_req *r)
{
    int64_t id, expect;
    if (!task_id(r, &id) || !expected_version(r, id, &expect))
        return;
    int err = store_task_delete(api_deps()->store, r->user_id, id, expect);
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    http_reply_empty(r, 204);
}

static void
api_task_update(struct http_req *r)
{
    api_write_limited(r, task_update);
}

static void
api_task_delete(struct http_req *r)
{
    api_write_limited(r, task_delete);
}

/* ---- lists ---- */

struct list_query {
    size_t limit;
    enum store_task_sort sort;
    struct store_task_filter filter;
    bool has_after;
    struct store_task_pos after;
    struct api_list_scope scope;
};

/* What a cursor is bound to: the resource, the user, the sort and every
 * filter (in a canonical form, so "done,todo" and "todo,done" agree). */
static void
list_scope(struct list_query *q, int64_t user_id)
{
    unsigned char *s = api_list_scope_init(&q->scope, 'T', user_id, SCOPE_LEN);
    s[0] = (unsigned char)q->sort;
    s[1] = (unsigned char)q->filter.status_mask;
    s[2] = q->filter.priority >= 0 ? (unsigned char)q->filter.priority : 0xff;
    if (q->filter.due_before != NULL)
        memcpy(s + 3, q->filter.due_before, 10);
    if (q->filter.due_after != NULL)
        memcpy(s + 13, q->filter.due_after, 10);
}

static bool
parse_statuses(const char *s, unsigned *mask)
{
    *mask = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        int found = -1;
        for (int i = 0; i < STORE_TASK_STATUS_COUNT; i++)
            if (strlen(store_task_status_names[i]) == n && memcmp(s, store_task_status_names[i], n) == 0)
                found = i;
        if (found < 0)
            return false;
        *mask |= 1u << found;
        if (comma == NULL)
            return true;
        s = comma + 1;
    }
}

/* Each reads one query parameter into q; false after replying 400. */
static bool
query_sort(struct http_req *r, struct list_query *q)
{
    const char *v = http_req_query(r, "sort");
    if (v == NULL)
        return true;
    int sort;
    if (store_enum_parse(store_task_sort_names, STORE_TASK_SORT_COUNT, v, &sort)) {
        q->sort = (enum store_task_sort)sort;
        return true;
    }
    api_reply_bad_param(r, "sort", api_enum_choices(&r->arena, "must be one of ", store_task_sort_names));
    return false;
}

static bool
query_status(struct http_req *r, struct list_query *q)
{
    const char *v = http_req_query(r, "status");
    if (v == NULL || parse_statuses(v, &q->filter.status_mask))
        return true;
    api_reply_bad_param(r, "status",
                        api_enum_choices(&r->arena, "must be a comma list of ", store_task_status_names));
    return false;
}

static bool
query_priority(struct http_req *r, struct list_query *q)
{
    const char *v = http_req_query(r, "priority");
    if (v == NULL)
        return true;
    if (strlen(v) != 1 || v[0] < '0' || v[0] > '0' + PRIORITY_MAX) {
        api_reply_bad_param(r, "priority", "must be an integer from 0 to 3");
        return false;
    }
    q->filter.priority = v[0] - '0';
    return true;
}

static bool
query_date(struct http_req *r, const char *name, const char **out)
{
    const char *v = http_req_query(r, name);
    if (v == NULL)
        return true;
    if (!api_is_date(v)) {
        api_reply_bad_param(r, name, "must be a date written YYYY-MM-DD");
        return false;
    }
    *out = v;
    return true;
}

/* Needs the scope: a cursor is checked against the filters and sort. */
static bool
query_cursor(struct http_req *r, struct list_query *q)
{
    struct api_cursor_pos pos;
    if (!api_list_cursor(r, &q->scope, &q->has_after, &pos))
        return false;
    if (!q->has_after)
        return true;
    if (pos.num < 0 || pos.num > PRIORITY_MAX) {
        api_reply_invalid_cursor(r);
        return false;
    }
    q->after.id = pos.id;
    q->after.created_at = pos.created_at;
    q->after.priority = pos.num;
    q->after.due_date = pos.has_date ? arena_strndup(&r->arena, pos.date, 10) : NULL;
    return true;
}

/* Parses the query of GET /tasks; false after replying 400. */
static bool
parse_list_query(struct http_req *r, struct list_query *q)
{
    memset(q, 0, sizeof(*q));
    q->limit = LIMIT_DEFAULT;
    q->sort = STORE_TASK_SORT_CREATED_DESC;
    q->filter.priority = -1;
    if (r->query != NULL &&
        (!api_list_limit(r, LIMIT_MAX, &q->limit) || !query_sort(r, q) || !query_status(r, q) ||
         !query_priority(r, q) || !query_date(r, "due_before", &q->filter.due_before) ||
         !query_date(r, "due_after", &q->filter.due_after)))
        return false;
    list_scope(q, r->user_id);
    return r->query == NULL || query_cursor(r, q);
}

static const char *
make_cursor(const struct list_query *q, const struct store_task *last, char *out)
{
    struct api_cursor_pos pos = {
        .id = last->id,
        .created_at = last->created_at,
        .num = last->priority,
        .has_date = last->due_date != NULL,
    };
    if (pos.has_date)
        memcpy(pos.date, last->due_date, 11);
    return api_list_cursor_make(&q->scope, &pos, out);
}

/* The page's tag (api/list.h; task pages are unsalted). */
static const char *
page_etag(struct http_req *r, const struct store_task *rows, size_t n, const char *next)
{
    struct api_list_etag e;
    api_list_etag_init(&e, NULL);
    for (size_t i = 0; i < n; i++)
        api_list_etag_row(&e, rows[i].id, rows[i].version);
    return api_list_etag_end(&e, r, next);
}

/* GET /tasks: the query and the rows. */
struct list {
    struct list_query q;
    struct store_task *rows;
    size_t n;
};

static bool
list_prepare(struct http_req *r)
{
    struct list *l = r->state;
    return parse_list_query(r, &l->q);
}

/* The store's question: one row more than the page shows, to learn
 * whether another page follows. */
static struct store_task_query
task_query(const struct http_req *r, const struct list *l)
{
    return (struct store_task_query){r->user_id, &l->q.filter, l->q.sort, l->q.has_after ? &l->q.after : NULL,
                                     l->q.limit + 1};
}

static int
list_run(struct http_req *r)
{
    struct list *l = r->state;
    struct store_task_query q = task_query(r, l);
    return store_task_list(api_deps()->store, &q, &r->arena, &l->rows, &l->n);
}

static int
list_start(struct http_req *r, http_done_fn *done, void *arg)
{
    struct list *l = r->state;
    struct store_task_query q = task_query(r, l);
    return store_task_list_async(api_deps()->store, &q, &r->arena, &l->rows, &l->n, done, arg);
}

static void
list_reply(struct http_req *r, int err)
{
    struct list *l = r->state;
    const struct list_query *q = &l->q;
    struct store_task *rows = l->rows;
    size_t n = l->n;
    if (err != OK) {
        api_reply_error(r, err);
        return;
    }
    char buf[API_CURSOR_TEXT + 1];
    const char *next = api_list_more(&n, q->limit) ? make_cursor(q, &rows[n - 1], buf) : NULL;
    const char *tag = page_etag(r, rows, n, next);
    if (api_etag_not_modified(r, tag))
        return;
    size_t size = 64;
    for (size_t i = 0; i < n; i++)
        size += task_size(&rows[i]);
    struct jw *w = api_list_begin(r, size);
    for (size_t i = 0; i < n; i++)
        write_task(w, &rows[i]);
    api_list_end(r, w, next, tag);
}

static const struct http_stages task_list = {
    .state_size = sizeof(struct list),
    .prepare = list_prepare,
    .run = list_run,
    .start = list_start,
    .reply = list_reply,
};

const struct http_route api_tasks_routes[] = {
    {HTTP_GET, "/api/v1/tasks", NULL, ROUTE_AUTH | ROUTE_READS, &task_list},
    {HTTP_POST, "/api/v1/tasks", NULL, ROUTE_AUTH | ROUTE_WRITES | ROUTE_JSON, &task_create},
    {HTTP_GET, "/api/v1/tasks/{id}", NULL, ROUTE_AUTH | ROUTE_READS, &task_get},
    {HTTP_PATCH, "/api/v1/tasks/{id}", api_task_update, ROUTE_AUTH | ROUTE_WRITES | ROUTE_JSON, NULL},
    {HTTP_DELETE, "/api/v1/tasks/{id}", api_task_delete, ROUTE_AUTH | ROUTE_WRITES, NULL},
};
const size_t api_tasks_nroutes = sizeof(api_tasks_routes) / sizeof(api_tasks_routes[0]);
