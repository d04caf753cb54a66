/* Every SQL statement of the PostgreSQL backend, in one place: the query-plan
 * test walks this table (and every task-list variant) and fails on a
 * sequential scan. Parameters only, with declared types; values never
 * become SQL text. Where SQLite needs several steps inside its serialized
 * writer, one statement here does them atomically (data-modifying CTEs,
 * conditional UPDATE ... RETURNING, INSERT ... ON CONFLICT). */
#include "store/pg/pg_int.h"

/* ASCII case folding whatever the database's locale (see 0001_init.sql). */
#define LOWER_USERNAME "lower(username COLLATE \"C\")"
#define LOWER_EMAIL    "lower(email COLLATE \"C\")"
#define LOWER_P1       "lower($1 COLLATE \"C\")"

const struct pg_stmt_def store_pg_stmts[PG_STMT_COUNT] = {
    [PG_PING] = {"ping", "", "SELECT 1"},
    [PG_MIGRATIONS_EXIST] = {"migrations_exist", "", "SELECT to_regclass('schema_migrations') IS NOT NULL"},
    [PG_MIGRATIONS_VERSION] = {"migrations_version", "",
                               "SELECT coalesce(max(version), 0) FROM schema_migrations"},
    [PG_MIGRATION_RECORD] = {"migration_record", "itl",
                             "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)"},

    [PG_USER_INSERT] = {"user_insert", "tttl",
                        "INSERT INTO users (username, email, password_hash, created_at, updated_at) "
                        "VALUES ($1, $2, $3, $4, $4) RETURNING id"},
    [PG_USER_GET] = {"user_get", "l", "SELECT " STORE_USER_COLS " FROM users WHERE id = $1"},
    [PG_USER_BY_USERNAME] = {"user_by_username", "t",
                             "SELECT " STORE_USER_COLS " FROM users WHERE " LOWER_USERNAME " = " LOWER_P1},
    /* A username match wins over an email match. */
    [PG_USER_BY_LOGIN] = {"user_by_login", "t",
                          "SELECT " STORE_USER_COLS " FROM users WHERE " LOWER_USERNAME " = " LOWER_P1
                          " OR " LOWER_EMAIL " = " LOWER_P1 " ORDER BY " LOWER_USERNAME " = " LOWER_P1
                          " DESC LIMIT 1"},
    /* A new email (other than in ASCII case) is unverified, and the links
     * sent to another address stop working, in the same statement. */
    [PG_USER_UPDATE] = {"user_update", "lttll",
                        "WITH u AS (UPDATE users SET username = coalesce($2, username), "
                        "email = coalesce($3, email), email_verified = CASE WHEN $3 IS NULL OR "
                        "lower($3 COLLATE \"C\") = " LOWER_EMAIL " THEN email_verified ELSE false END, "
                        "updated_at = $4, version = version + 1 WHERE id = $1 AND ($5 = 0 OR version = $5) "
                        "RETURNING " STORE_USER_COLS "), "
                        "t AS (UPDATE auth_tokens SET used_at = $4 WHERE $3 IS NOT NULL AND user_id = $1 "
                        "AND purpose = 'verify_email' AND used_at IS NULL AND " LOWER_EMAIL
                        " <> lower($3 COLLATE \"C\") AND EXISTS (SELECT 1 FROM u)) SELECT * FROM u"},
    [PG_USER_VERSION] = {"user_version", "l", "SELECT version FROM users WHERE id = $1"},
    /* The new hash and, with $5, the revocation of the other sessions, in
     * one statement (one transaction). Returns how many users matched. */
    [PG_USER_SET_PASSWORD] =
        {"user_set_password", "ltllB",
         "WITH u AS (UPDATE users SET password_hash = $2, updated_at = $3, "
         "version = version + 1 WHERE id = $1 RETURNING id), "
         "r AS (UPDATE sessions SET revoked_at = $3 WHERE $5 AND user_id = $1 "
         "AND id <> $4 AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM u)), "
         "t AS (UPDATE auth_tokens SET used_at = $3 WHERE $5 AND user_id = $1 "
         "AND purpose IN ('password_reset', 'mfa_login') AND used_at IS NULL AND EXISTS (SELECT 1 FROM u)) "
         "SELECT count(*) FROM u"},
    /* Holds off new sessions of the user until the deletion commits. */
    [PG_USER_LOCK] = {"user_lock", "l", "SELECT id FROM users WHERE id = $1 FOR UPDATE"},
    [PG_USER_DELETE] = {"user_delete", "l", "DELETE FROM users WHERE id = $1"},
    [PG_USER_TOTP_PENDING] = {"user_totp_pending", "ltl",
                              "UPDATE users SET totp_pending = $2, updated_at = $3, version = version + 1 "
                              "WHERE id = $1"},
    [PG_USER_TOTP_ENABLE] = {"user_totp_enable", "ltll",
                             "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, "
                             "totp_last_step = $3, updated_at = $4, version = version + 1 "
                             "WHERE id = $1 AND totp_pending = $2"},
    /* Off and the recovery codes gone in one statement; how many users matched. */
    [PG_USER_TOTP_DISABLE] = {"user_totp_disable", "ll",
                              "WITH u AS (UPDATE users SET totp_secret = NULL, totp_pending = NULL, "
                              "totp_last_step = 0, updated_at = $2, version = version + 1 WHERE id = $1 "
                              "RETURNING id), d AS (DELETE FROM mfa_recovery_codes WHERE user_id = $1) "
                              "SELECT count(*) FROM u"},
    /* Of concurrent updates with one step, the later ones see the first's
     * row and match nothing. Returns (accepted, user exists). */
    [PG_USER_TOTP_STEP] = {"user_totp_step", "ll",
                           "WITH u AS (UPDATE users SET totp_last_step = $2 WHERE id = $1 "
                           "AND totp_last_step < $2 RETURNING id) SELECT (SELECT count(*) FROM u), "
                           "(SELECT count(*) FROM users WHERE id = $1)"},
    [PG_USER_VERIFY_EMAIL] =
        {"user_verify_email", "ltl",
         "UPDATE users SET email_verified = true, updated_at = $3, version = version + 1 "
         "WHERE id = $1 AND " LOWER_EMAIL " = lower($2 COLLATE \"C\")"},
    [PG_RECOVERY_INSERT] = {"recovery_insert", "lbl",
                            "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) "
                            "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"},
    [PG_RECOVERY_DELETE_USER] = {"recovery_delete_user", "l",
                                 "DELETE FROM mfa_recovery_codes WHERE user_id = $1"},
    /* Returns (spent, unused before): the second is read from the snapshot
     * before the spend. */
    [PG_RECOVERY_USE] =
        {"recovery_use", "lbl",
         "WITH u AS (UPDATE mfa_recovery_codes SET used_at = $3 WHERE user_id = $1 "
         "AND code_hash = $2 AND used_at IS NULL RETURNING 1) SELECT (SELECT count(*) FROM u), "
         "(SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL)"},
    [PG_RECOVERY_COUNT] = {"recovery_count", "l",
                           "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL"},

    [PG_TOKEN_INSERT] = {"token_insert", "blttll",
                         "INSERT INTO auth_tokens (hash, user_id, purpose, email, created_at, expires_at) "
                         "VALUES ($1, $2, $3, $4, $5, $6)"},
    [PG_TOKEN_GET] = {"token_get", "btl",
                      "SELECT " STORE_TOKEN_COLS " FROM auth_tokens WHERE hash = $1 AND purpose = $2 "
                      "AND used_at IS NULL AND expires_at > $3"},
    /* Of concurrent spends the later ones see the first's row and match nothing. */
    [PG_TOKEN_USE] = {"token_use", "btl",
                      "UPDATE auth_tokens SET used_at = $3 WHERE hash = $1 AND purpose = $2 "
                      "AND used_at IS NULL AND expires_at > $3 RETURNING " STORE_TOKEN_COLS},
    [PG_TOKEN_REVOKE_USER] = {"token_revoke_user", "ltl",
                              "UPDATE auth_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 "
                              "AND used_at IS NULL"},
    [PG_TOKEN_PURGE] = {"token_purge", "ll",
                        "DELETE FROM auth_tokens WHERE hash IN (SELECT hash FROM auth_tokens "
                        "WHERE expires_at < $1 UNION ALL SELECT hash FROM auth_tokens WHERE used_at < $1 "
                        "LIMIT $2)"},

    /* A sign-in makes a pending password reset moot: the user's unused
     * reset tokens stop working in the same statement. */
    [PG_SESSION_INSERT] =
        {"session_insert", "lttllB",
         "WITH t AS (UPDATE auth_tokens SET used_at = $4 WHERE user_id = $1 AND purpose = 'password_reset' "
         "AND used_at IS NULL) "
         "INSERT INTO sessions (user_id, user_agent, ip, created_at, last_used_at, expires_at, mfa) "
         "VALUES ($1, $2, $3, $4, $4, $5, $6) RETURNING id"},
    [PG_SESSION_INSERT_WITH_TOKEN] =
        {"session_insert_with_token", "lttllBbl",
         "WITH t AS (UPDATE auth_tokens SET used_at = $4 WHERE user_id = $1 AND purpose = 'password_reset' "
         "AND used_at IS NULL), "
         "s AS (INSERT INTO sessions (user_id, user_agent, ip, created_at, last_used_at, expires_at, mfa) "
         "VALUES ($1, $2, $3, $4, $4, $5, $6) RETURNING id) "
         "INSERT INTO refresh_tokens (user_id, session_id, parent_id, hash, created_at, expires_at) "
         "SELECT $1, s.id, NULL, $7, $4, $8 FROM s RETURNING session_id, id"},
    [PG_SESSION_GET] = {"session_get", "l", "SELECT " STORE_SESSION_COLS " FROM sessions WHERE id = $1"},
    [PG_SESSION_LIST_ACTIVE] = {"session_list_active", "lll",
                                "SELECT " STORE_SESSION_COLS
                                " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL "
                                "AND expires_at > $2 ORDER BY created_at DESC, id DESC LIMIT $3"},
    [PG_SESSION_TOUCH] = {"session_touch", "ll", "UPDATE sessions SET last_used_at = $2 WHERE id = $1"},
    /* Revokes (idempotent); returns 0 when it is not that user's session. */
    [PG_SESSION_REVOKE] = {"session_revoke", "lll",
                           "WITH r AS (UPDATE sessions SET revoked_at = $3 WHERE id = $2 AND user_id = $1 "
                           "AND revoked_at IS NULL RETURNING id) SELECT (SELECT count(*) FROM r) + "
                           "(SELECT count(*) FROM sessions WHERE id = $2 AND user_id = $1)"},
    [PG_SESSION_REVOKE_ALL] = {"session_revoke_all", "lll",
                               "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND id <> $2 "
                               "AND revoked_at IS NULL"},
    /* Revoked sessions and those deleted with their account, in one order,
     * after the key ($1, $2). The range on revoked_at alone is what the
     * indexes serve (a row comparison would not use the partial one). */
    [PG_SESSION_REVOKED_SINCE] = {"session_revoked_since", "lll",
                                  "SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1 "
                                  "AND (revoked_at > $1 OR id > $2) "
                                  "UNION ALL SELECT session_id, revoked_at FROM session_revocations "
                                  "WHERE revoked_at >= $1 AND (revoked_at > $1 OR session_id > $2) "
                                  "ORDER BY revoked_at, id LIMIT $3"},
    [PG_SESSION_PURGE] = {"session_purge", "ll",
                          "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < $1 "
                          "UNION ALL SELECT id FROM sessions WHERE revoked_at < $1 LIMIT $2)"},
    /* Every session of user $1, about to be deleted with it, revoked at $2
     * (the revoked ones again: other instances may not have read them yet). */
    [PG_REVOCATION_INSERT_USER] = {"revocation_insert_user", "ll",
                                   "INSERT INTO session_revocations (session_id, revoked_at) "
                                   "SELECT id, $2 FROM sessions WHERE user_id = $1 "
                                   "ON CONFLICT (session_id) DO UPDATE SET revoked_at = excluded.revoked_at"},
    [PG_REVOCATION_PURGE] = {"revocation_purge", "ll",
                             "DELETE FROM session_revocations WHERE session_id IN (SELECT session_id FROM "
                             "session_revocations WHERE revoked_at < $1 LIMIT $2)"},
    /* A token for an existing session, with the session's state. */
    [PG_REFRESH_INSERT] =
        {"refresh_insert", "llbll",
         "WITH s AS (SELECT id, user_id, revoked_at, expires_at FROM sessions WHERE id = $1) "
         "INSERT INTO refresh_tokens (user_id, session_id, parent_id, hash, created_at, "
         "expires_at) SELECT s.user_id, s.id, $2, $3, $4, $5 FROM s "
         "RETURNING id, user_id, (SELECT revoked_at FROM s), (SELECT expires_at FROM s)"},
    [PG_REFRESH_GET] = {"refresh_get", "b",
                        "SELECT " STORE_REFRESH_COLS " FROM refresh_tokens r "
                        "JOIN sessions s ON s.id = r.session_id WHERE r.hash = $1"},
    /* Spends token $1 only if unused, issues its child and slides the
     * session, in one statement: of concurrent rotations one spends it.
     * Returns (child id, session expires_at); NULLs when already spent. */
    [PG_REFRESH_ROTATE] =
        {"refresh_rotate", "llbl",
         "WITH spent AS (UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL "
         "RETURNING id, user_id, session_id), "
         "child AS (INSERT INTO refresh_tokens (user_id, session_id, parent_id, hash, created_at, "
         "expires_at) "
         "SELECT user_id, session_id, id, $3, $2, $4 FROM spent RETURNING id), "
         "sess AS (UPDATE sessions SET last_used_at = $2, expires_at = greatest(expires_at, $4) "
         "WHERE id = (SELECT session_id FROM spent) RETURNING expires_at) "
         "SELECT (SELECT id FROM child), (SELECT expires_at FROM sess)"},
    [PG_REFRESH_USED_AT] = {"refresh_used_at", "l", "SELECT used_at FROM refresh_tokens WHERE id = $1"},
    [PG_REFRESH_PURGE] = {"refresh_purge", "ll",
                          "DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens "
                          "WHERE expires_at < $1 LIMIT $2)"},

    [PG_TASK_INSERT] =
        {"task_insert", "ltttitll",
         "INSERT INTO tasks (user_id, title, description, status, priority, due_date, plan_id, "
         "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id"},
    [PG_TASK_GET] = {"task_get", "ll",
                     "SELECT " STORE_TASK_COLS " FROM tasks WHERE id = $2 AND user_id = $1"},
    [PG_TASK_VERSION] = {"task_version", "ll", "SELECT version FROM tasks WHERE id = $2 AND user_id = $1"},
    [PG_TASK_UPDATE] =
        {"task_update", "llitttitll",
         "UPDATE tasks SET title = CASE WHEN $3 & 1 <> 0 THEN $4 ELSE title END, "
         "description = CASE WHEN $3 & 2 <> 0 THEN $5 ELSE description END, "
         "status = CASE WHEN $3 & 4 <> 0 THEN $6 ELSE status END, "
         "priority = CASE WHEN $3 & 8 <> 0 THEN $7 ELSE priority END, "
         "due_date = CASE WHEN $3 & 16 <> 0 THEN $8 ELSE due_date END, "
         "updated_at = $9, version = version + 1 "
         "WHERE id = $2 AND user_id = $1 AND ($10 = 0 OR version = $10) RETURNING " STORE_TASK_COLS},
    [PG_TASK_DELETE] = {"task_delete", "lll",
                        "DELETE FROM tasks WHERE id = $2 AND user_id = $1 AND ($3 = 0 OR version = $3)"},

    [PG_PROFILE_GET] = {"profile_get", "l",
                        "SELECT " STORE_PROFILE_COLS " FROM fitness_profiles WHERE user_id = $1"},
    [PG_PROFILE_UPSERT] = {"profile_upsert", "lttddtttiittitl",
                           "INSERT INTO fitness_profiles (" STORE_PROFILE_COLS
                           ") VALUES ($1, $2, $3, $4, $5, $6, $7, "
                           "$8, $9, $10, $11, $12, $13, $14, $15, 1) ON CONFLICT (user_id) DO UPDATE "
                           "SET " STORE_PROFILE_SET_EXCLUDED
                           "version = fitness_profiles.version + 1 RETURNING version"},
    [PG_PROFILE_UPDATE_IF] =
        {"profile_update_if", "lttddtttiittitll",
         "UPDATE fitness_profiles SET sex = $2, birth_date = $3, height_cm = $4, weight_kg = $5, "
         "activity_level = $6, goal = $7, experience = $8, days_per_week = $9, session_minutes = $10, "
         "equipment = $11, diet = $12, meals_per_day = $13, exclude_foods = $14, updated_at = $15, "
         "version = version + 1 WHERE user_id = $1 AND version = $16 RETURNING version"},

    [PG_PLAN_INSERT] = {"plan_insert", "ltittl",
                        "INSERT INTO plans (user_id, kind, state, weeks, start_date, request, created_at, "
                        "updated_at) VALUES ($1, $2, 'queued', $3, $4, $5, $6, $6) RETURNING id"},
    [PG_PLAN_GET] = {"plan_get", "ll",
                     "SELECT " STORE_PLAN_COLS " FROM plans WHERE id = $2 AND user_id = $1"},
    [PG_PLAN_LIST] = {"plan_list", "lttlll",
                      "SELECT " STORE_PLAN_COLS_NO_CONTENT " FROM plans WHERE user_id = $1 "
                      "AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR state = $3) "
                      "AND (created_at, id) < ($4, $5) ORDER BY created_at DESC, id DESC LIMIT $6"},
    [PG_PLAN_SET_STATE] =
        {"plan_set_state", "lltttttl",
         "UPDATE plans SET state = $3, generator = coalesce($4, generator), "
         "summary = coalesce($5, summary), content = coalesce($6, content), "
         "error = coalesce($7, error), "
         "completed_at = CASE WHEN $3 IN ('ready', 'failed') THEN $8 ELSE completed_at END, "
         "updated_at = $8, version = version + 1 "
         "WHERE id = $2 AND user_id = $1 AND state NOT IN ('ready', 'failed') "
         "RETURNING " STORE_PLAN_COLS},
    [PG_PLAN_STATE] = {"plan_state", "ll", "SELECT state FROM plans WHERE id = $2 AND user_id = $1"},
    /* Deletes the plan, cancels its queued jobs and unlinks its tasks in
     * one statement; returns how many plans it deleted. */
    [PG_PLAN_DELETE] = {"plan_delete", "lll",
                        "WITH p AS (DELETE FROM plans WHERE id = $2 AND user_id = $1 RETURNING id), "
                        "j AS (DELETE FROM jobs WHERE user_id = $1 AND ref_id = $2 AND state <> 'running' "
                        "AND EXISTS (SELECT 1 FROM p)), "
                        "t AS (UPDATE tasks SET plan_id = NULL, updated_at = $3, version = version + 1 "
                        "WHERE user_id = $1 AND plan_id = $2 AND EXISTS (SELECT 1 FROM p)) "
                        "SELECT count(*) FROM p"},

    [PG_JOB_INSERT] =
        {"job_insert", "ttlltll",
         "INSERT INTO jobs (kind, payload, user_id, ref_id, unique_key, state, run_at, created_at, "
         "updated_at) VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $7) "
         "ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING RETURNING id"},
    [PG_JOB_BY_UNIQUE] = {"job_by_unique", "t", "SELECT id FROM jobs WHERE unique_key = $1"},
    [PG_JOB_GET] = {"job_get", "l", "SELECT " STORE_JOB_COLS " FROM jobs WHERE id = $1"},
    [PG_JOB_RECLAIM] = {"job_reclaim", "l",
                        "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, "
                        "updated_at = $1 WHERE state = 'running' AND lease_expires_at < $1"},
    /* SKIP LOCKED: concurrent claimers never wait for each other and never
     * get the same job. */
    [PG_JOB_CLAIM] =
        {"job_claim", "tlll",
         "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, "
         "attempts = attempts + 1, updated_at = $3 WHERE id IN (SELECT id FROM jobs "
         "WHERE state = 'queued' AND run_at <= $3 ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
         "RETURNING " STORE_JOB_COLS},
    [PG_JOB_RENEW] = {"job_renew", "ltll",
                      "UPDATE jobs SET lease_expires_at = $3, updated_at = $4 "
                      "WHERE id = $1 AND state = 'running' AND lease_owner = $2"},
    [PG_JOB_COMPLETE] =
        {"job_complete", "ltl",
         "UPDATE jobs SET state = 'done', finished_at = $3, updated_at = $3, lease_owner = NULL, "
         "lease_expires_at = NULL WHERE id = $1 AND state = 'running' AND lease_owner = $2"},
    [PG_JOB_FAIL] = {"job_fail", "lttll",
                     "UPDATE jobs SET state = CASE WHEN $4 > 0 THEN 'queued' ELSE 'dead' END, "
                     "run_at = CASE WHEN $4 > 0 THEN $4 ELSE run_at END, last_error = $3, "
                     "finished_at = CASE WHEN $4 > 0 THEN NULL ELSE $5 END, updated_at = $5, "
                     "lease_owner = NULL, lease_expires_at = NULL "
                     "WHERE id = $1 AND state = 'running' AND lease_owner = $2"},
    [PG_JOB_RELEASE] =
        {"job_release", "ltl",
         "UPDATE jobs SET state = 'queued', run_at = $3, attempts = greatest(attempts - 1, 0), "
         "lease_owner = NULL, lease_expires_at = NULL, updated_at = $3 "
         "WHERE id = $1 AND state = 'running' AND lease_owner = $2"},
    [PG_JOB_COUNTS] = {"job_counts", "",
                       "SELECT (SELECT count(*) FROM jobs WHERE state = 'queued'), "
                       "(SELECT count(*) FROM jobs WHERE state = 'running'), "
                       "(SELECT count(*) FROM jobs WHERE state = 'done'), "
                       "(SELECT count(*) FROM jobs WHERE state = 'dead')"},
    [PG_JOB_PURGE] = {"job_purge", "ll",
                      "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('done', 'dead') "
                      "AND finished_at < $1 LIMIT $2)"},

    /* Inserts the key, or replaces it when expired; no row back: the key
     * is held (of concurrent reservations exactly one gets a row). */
    [PG_IDEM_RESERVE] =
        {"idem_reserve", "ltbll",
         "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at, expires_at) "
         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO UPDATE SET "
         "request_hash = excluded.request_hash, status = 0, response_headers = NULL, "
         "response_body = NULL, created_at = excluded.created_at, "
         "expires_at = excluded.expires_at WHERE idempotency_keys.expires_at <= $4 RETURNING 1"},
    [PG_IDEM_GET] = {"idem_get", "lt",
                     "SELECT " STORE_IDEM_COLS " FROM idempotency_keys WHERE user_id = $1 AND key = $2"},
    [PG_IDEM_COMPLETE] =
        {"idem_complete", "ltitb",
         "UPDATE idempotency_keys SET status = $3, response_headers = $4, response_body = $5 "
         "WHERE user_id = $1 AND key = $2"},
    [PG_IDEM_DELETE] = {"idem_delete", "lt", "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2"},
    [PG_IDEM_PURGE] = {"idem_purge", "ll",
                       "DELETE FROM idempotency_keys WHERE (user_id, key) IN (SELECT user_id, key FROM "
                       "idempotency_keys WHERE expires_at < $1 LIMIT $2)"},
};

/* Task lists (store/tasklist.h): the types of parameters $1..$12. */
const char store_pg_task_list_types[] = "lllltitttitt";
