/* The shape of every row the backends read: the column lists their SELECT
 * and RETURNING clauses name, and the decoders that turn one result row
 * into a store struct (and the parameter values the shared code passes). A backend implements struct
 * store_row_ops for its own statement or result type; the decoders read through it, so a column list and its
 * decoder are written once and change together. Only src/store/ includes this header. */
#ifndef PACE_STORE_ROWS_H
#define PACE_STORE_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct arena;

/* Booleans are read as integers (SQLite stores 0/1, PostgreSQL boolean). */
#define STORE_USER_COLS                                                                                      \
    "id, username, email, password_hash, created_at, updated_at, version, CAST(email_verified AS integer), " \
    "CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END, totp_secret, totp_pending, totp_last_step"
#define STORE_SESSION_COLS                                                                                   \
    "id, user_id, user_agent, ip, created_at, last_used_at, expires_at, revoked_at, CAST(mfa AS integer)"
#define STORE_TOKEN_COLS "hash, user_id, purpose, email, created_at, expires_at, used_at"
#define STORE_TASK_COLS                                                                                      \
    "id, user_id, title, description, status, priority, due_date, plan_id, created_at, updated_at, version"
#define STORE_PROFILE_COLS                                                                                   \
    "user_id, sex, birth_date, height_cm, weight_kg, activity_level, goal, experience, days_per_week, "      \
    "session_minutes, equipment, diet, meals_per_day, exclude_foods, updated_at, version"
/* An upsert's update of every profile column but the key and version. */
#define STORE_PROFILE_SET_EXCLUDED                                                                           \
    "sex = excluded.sex, birth_date = excluded.birth_date, height_cm = excluded.height_cm, "                 \
    "weight_kg = excluded.weight_kg, activity_level = excluded.activity_level, goal = excluded.goal, "       \
    "experience = excluded.experience, days_per_week = excluded.days_per_week, "                             \
    "session_minutes = excluded.session_minutes, equipment = excluded.equipment, diet = excluded.diet, "     \
    "meals_per_day = excluded.meals_per_day, exclude_foods = excluded.exclude_foods, "                       \
    "updated_at = excluded.updated_at, "
#define STORE_PLAN_COLS_NO_CONTENT                                                                           \
    "id, user_id, kind, state, weeks, start_date, request, generator, summary, NULL, error, created_at, "    \
    "updated_at, completed_at, version"
#define STORE_PLAN_COLS                                                                                      \
    "id, user_id, kind, state, weeks, start_date, request, generator, summary, content, error, created_at, " \
    "updated_at, completed_at, version"
#define STORE_JOB_COLS                                                                                       \
    "id, kind, payload, user_id, ref_id, unique_key, state, attempts, run_at, lease_owner, "                 \
    "lease_expires_at, last_error, created_at, updated_at, finished_at"
#define STORE_IDEM_COLS                                                                                      \
    "user_id, key, request_hash, status, response_headers, response_body, created_at, expires_at"
/* A refresh token with its session's state (refresh_tokens r JOIN sessions s). */
#define STORE_REFRESH_COLS                                                                                   \
    "r.id, r.user_id, r.session_id, r.parent_id, r.created_at, r.used_at, r.expires_at, s.revoked_at, "      \
    "s.expires_at, s.created_at"

/* One statement parameter, as the shared code hands values to a backend:
 * NULL, an integer or borrowed text. */
struct store_param {
    enum { STORE_PARAM_NULL, STORE_PARAM_I64, STORE_PARAM_TEXT } kind;
    int64_t i;
    const char *s;
};

struct store_row;

/* Column access of one backend. NULL reads as 0 / NULL throughout. */
struct store_row_ops {
    bool (*is_null)(const struct store_row *r, int col);
    int64_t (*i64)(const struct store_row *r, int col);
    double (*f64)(const struct store_row *r, int col);
    /* Text copied into a (NUL-terminated). */
    const char *(*text)(const struct store_row *r, int col, struct arena *a);
    /* Text borrowed from the result, valid while the row is. */
    const char *(*peek)(const struct store_row *r, int col);
    /* A binary column copied into a (NUL-terminated); *len its length. */
    const char *(*bytes)(const struct store_row *r, int col, struct arena *a, size_t *len);
};

/* One row of a result: the backend's statement or result, and the row. */
struct store_row {
    const struct store_row_ops *ops;
    const void *res;
    int row;
};

/* Decoders for the column lists above (in that order); ERR_CORRUPT when a
 * stored enum name is unknown, else OK. */
int store_row_user(const struct store_row *r, struct arena *a, struct store_user *u);
int store_row_session(const struct store_row *r, struct arena *a, struct store_session *s);
int store_row_task(const struct store_row *r, struct arena *a, struct store_task *t);
int store_row_profile(const struct store_row *r, struct arena *a, struct store_profile *p);
int store_row_plan(const struct store_row *r, struct arena *a, struct store_plan *p);
int store_row_job(const struct store_row *r, struct arena *a, struct store_job *j);
int store_row_idem(const struct store_row *r, struct arena *a, struct store_idem *out);
/* STORE_TOKEN_COLS; ERR_CORRUPT for an unknown purpose. */
int store_row_token(const struct store_row *r, struct arena *a, struct store_token *t);
/* STORE_REFRESH_COLS: the token with its session's state; hash untouched. */
int store_row_refresh(const struct store_row *r, struct store_refresh *t);

#endif
