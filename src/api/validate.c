/* Table-driven body validation; collects every problem, not just the first,
 * so a client can fix a form in one round trip. */
#include <stdint.h>
#include <string.h>

#include "api/validate.h"

enum { MAX_ERRORS = 32 };

struct verr {
    const char *field;
    const char *code;
    const char *message;
};

const char *
api_enum_choices(struct arena *a, const char *lead, const char *const *names)
{
    struct buf b;
    buf_init(&b, a, 128);
    buf_appends(&b, lead);
    for (size_t i = 0; names[i] != NULL; i++) {
        if (i > 0)
            buf_appends(&b, ", ");
        buf_appends(&b, names[i]);
    }
    buf_appendc(&b, '\0');
    return b.data;
}

size_t
api_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

bool
api_is_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int max = days[m - 1] + (m == 2 && leap ? 1 : 0);
    return d <= max;
}

static const struct api_field *
find_field(const struct api_field *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/* Checks one present value: true, or false with *e filled. */
static bool
check_value(struct http_req *r, const struct api_field *f, const json_t *v, struct verr *e)
{
    e->field = f->name;
    if (json_is_null(v)) {
        if (f->flags & API_NULLABLE)
            return true;
        e->code = "null_not_allowed";
        e->message = "must not be null";
        return false;
    }
    switch (f->type) {
    case API_STRING:
    case API_DATE:
    case API_ENUM: {
        if (!json_is_string(v)) {
            e->code = "wrong_type";
            e->message = "must be a string";
            return false;
        }
        const char *s = json_string_value(v);
        if (f->type == API_DATE) {
            if (!api_is_date(s)) {
                e->code = "invalid_date";
                e->message = "must be a date written YYYY-MM-DD";
                return false;
            }
            return true;
        }
        if (f->type == API_ENUM) {
            for (size_t i = 0; f->values[i] != NULL; i++)
                if (strcmp(s, f->values[i]) == 0)
                    return true;
            e->code = "not_allowed";
            e->message = api_enum_choices(&r->arena, "must be one of ", f->values);
            return false;
        }
        size_t chars = api_utf8_chars(s);
        if (json_string_length(v) != strlen(s)) {
            e->code = "invalid_string";
            e->message = "must not contain NUL characters";
            return false;
        }
        if ((long)chars < f->min) {
            e->code = "too_short";
            e->message = arena_printf(&r->arena, "must be at least %ld characters", f->min);
            return false;
        }
        if (f->max > 0 && (long)chars > f->max) {
            e->code = "too_long";
            e->message = arena_printf(&r->arena, "must be at most %ld characters", f->max);
            return false;
        }
        return true;
    }
    case API_INT:
        if (!json_is_integer(v)) {
            e->code = "wrong_type";
            e->message = "must be an integer";
            return false;
        }
        if (json_integer_value(v) < f->min || json_integer_value(v) > f->max) {
            e->code = "out_of_range";
            e->message = arena_printf(&r->arena, "must be from %ld to %ld", f->min, f->max);
            return false;
        }
        return true;
    case API_NUMBER:
        if (!json_is_number(v)) {
            e->code = "wrong_type";
            e->message = "must be a number";
            return false;
        }
        if (!(json_number_value(v) >= (double)f->min && json_number_value(v) <= (double)f->max)) {
            e->code = "out_of_range";
            e->message = arena_printf(&r->arena, "must be from %ld to %ld", f->min, f->max);
            return false;
        }
        return true;
    case API_BOOL:
        if (!json_is_boolean(v)) {
            e->code = "wrong_type";
            e->message = "must be true or false";
            return false;
        }
        return true;
    case API_STRING_ARRAY: {
        if (!json_is_array(v)) {
            e->code = "wrong_type";
            e->message = "must be an array of strings";
            return false;
        }
        if ((long)json_array_size(v) > f->max) {
            e->code = "too_many";
            e->message = arena_printf(&r->arena, "must have at most %ld items", f->max);
            return false;
        }
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
        {
            if (!json_is_string(item) || json_string_length(item) == 0 || json_string_length(item) > 100) {
                e->code = "invalid_item";
                e->message = "items must be strings of 1 to 100 characters";
                return false;
            }
        }
        return true;
    }
    }
    return true;
}

bool
api_validate(struct http_req *r, const json_t *body, const struct api_field *fields, size_t n)
{
    if (!json_is_object(body)) {
        http_reply_problem(r, 400, "malformed_json", "Malformed JSON", "the body must be a JSON object");
        return false;
    }
    struct verr errs[MAX_ERRORS];
    size_t ne = 0;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)(uintptr_t)body, key, v)
    {
        const struct api_field *f = find_field(fields, n, key);
        if (f == NULL) {
            if (ne < MAX_ERRORS)
                errs[ne++] = (struct verr){arena_strndup(&r->arena, key, strlen(key)), "unknown_field",
                                           "is not a field of this resource"};
            continue;
        }
        struct verr e;
        if (!check_value(r, f, v, &e) && ne < MAX_ERRORS)
            errs[ne++] = e;
    }
    for (size_t i = 0; i < n; i++) {
        if ((fields[i].flags & API_REQUIRED) && json_object_get(body, fields[i].name) == NULL &&
            ne < MAX_ERRORS)
            errs[ne++] = (struct verr){fields[i].name, "required", "is required"};
    }
    if (ne == 0)
        return true;
    const char *detail = arena_printf(&r->arena, "%s: %s", errs[0].field, errs[0].message);
    struct jw *w = http_reply_problem_begin(r, 422, "validation_failed", "Request body is invalid", detail);
    jw_key(w, "errors");
    jw_arr_begin(w);
    for (size_t i = 0; i < ne; i++) {
        jw_obj_begin(w);
        jw_key(w, "field");
        jw_str(w, errs[i].field);
        jw_key(w, "code");
        jw_str(w, errs[i].code);
        jw_key(w, "message");
        jw_str(w, errs[i].message);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    return false;
}
