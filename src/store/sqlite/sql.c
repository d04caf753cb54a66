/* Every SQL statement of the SQLite backend, in one place: the query-plan
 * test walks this table (and every task-list variant) and fails on a full
 * scan. Parameters only; values never become SQL text. */
#include "store/sqlite/sqlite_int.h"

const struct stmt_def store_sqlite_stmts[STMT_COUNT] = {
    [STMT_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    [STMT_BEGIN_READ] = {"begin_read", "BEGIN DEFERRED"},
    [STMT_COMMIT] = {"commit", "COMMIT"},
    [STMT_ROLLBACK] = {"rollback", "ROLLBACK"},
    [STMT_SAVEPOINT] = {"savepoint", "SAVEPOINT op"},
    [STMT_RELEASE] = {"release", "RELEASE op"},
    [STMT_ROLLBACK_TO] = {"rollback_to", "ROLLBACK TO op"},
    [STMT_PING] = {"ping", "SELECT count(*) FROM sqlite_schema"},
    [STMT_MIGRATIONS_EXIST] = {"migrations_exist",
                               "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = "
                               "'schema_migrations'"},
    [STMT_MIGRATIONS_VERSION] = {"migrations_version",
                                 "SELECT ifnull(max(version), 0) FROM schema_migrations"},
    [STMT_MIGRATION_RECORD] =
        {"migration_record", "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)"},

    [STMT_USER_INSERT] = {"user_insert", "INSERT INTO users (username, email, password_hash, created_at, "
                                         "updated_at) VALUES (?1, ?2, ?3, ?4, ?4)"},
    [STMT_USER_GET] = {"user_get", "SELECT " STORE_USER_COLS " FROM users WHERE id = ?1"},
    [STMT_USER_BY_USERNAME] = {"user_by_username",
                               "SELECT " STORE_USER_COLS " FROM users WHERE username = ?1"},
    [STMT_USER_BY_EMAIL] = {"user_by_email", "SELECT " STORE_USER_COLS " FROM users WHERE email = ?1"},
    /* A new email (other than in ASCII case: email is NOCASE) is unverified. */
    [STMT_USER_UPDATE] =
        {"user_update", "UPDATE users SET username = ifnull(?2, username), email = ifnull(?3, email), "
                        "email_verified = CASE WHEN ?3 IS NULL OR ?3 = email THEN email_verified ELSE 0 END, "
                        "updated_at = ?4, version = version + 1 WHERE id = ?1 RETURNING " STORE_USER_COLS},
    [STMT_USER_SET_PASSWORD] = {"user_set_password", "UPDATE users SET password_hash = ?2, updated_at = ?3, "
                                                     "version = version + 1 WHERE id = ?1"},
    [STMT_USER_DELETE] = {"user_delete", "DELETE FROM users WHERE id = ?1"},
    [STMT_USER_TOTP_PENDING] = {"user_totp_pending", "UPDATE users SET totp_pending = ?2, updated_at = ?3, "
                                                     "version = version + 1 WHERE id = ?1"},
    [STMT_USER_TOTP_ENABLE] = {"user_totp_enable",
                               "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, "
                               "totp_last_step = ?3, updated_at = ?4, version = version + 1 "
                               "WHERE id = ?1 AND totp_pending = ?2"},
    [STMT_USER_TOTP_DISABLE] =
        {"user_totp_disable", "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = 0, "
                              "updated_at = ?2, version = version + 1 WHERE id = ?1"},
    [STMT_USER_TOTP_STEP] = {"user_totp_step",
                             "UPDATE users SET totp_last_step = ?2 WHERE id = ?1 AND totp_last_step < ?2"},
    /* email is NOCASE: the address matches ignoring ASCII case. */
    [STMT_USER_VERIFY_EMAIL] = {"user_verify_email",
                                "UPDATE users SET email_verified = 1, updated_at = ?3, version = version + 1 "
                                "WHERE id = ?1 AND email = ?2"},
    [STMT_RECOVERY_INSERT] = {"recovery_insert",
                              "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) "
                              "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"},
    [STMT_RECOVERY_DELETE_USER] = {"recovery_delete_user",
                                   "DELETE FROM mfa_recovery_codes WHERE user_id = ?1"},
    [STMT_RECOVERY_USE] = {"recovery_use", "UPDATE mfa_recovery_codes SET used_at = ?3 "
                                           "WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL"},
    [STMT_RECOVERY_COUNT] = {"recovery_count", "SELECT count(*) FROM mfa_recovery_codes "
                                               "WHERE user_id = ?1 AND used_at IS NULL"},

    [STMT_TOKEN_INSERT] = {"token_insert",
                           "INSERT INTO auth_tokens (hash, user_id, purpose, email, created_at, expires_at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    [STMT_TOKEN_GET] = {"token_get", "SELECT " STORE_TOKEN_COLS " FROM auth_tokens WHERE hash = ?1 "
                                     "AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3"},
    /* Spends a usable token: of concurrent calls one changes the row. */
    [STMT_TOKEN_USE] = {"token_use", "UPDATE auth_tokens SET used_at = ?3 WHERE hash = ?1 AND purpose = ?2 "
                                     "AND used_at IS NULL AND expires_at > ?3 RETURNING " STORE_TOKEN_COLS},
    [STMT_TOKEN_REVOKE_USER] = {"token_revoke_user",
                                "UPDATE auth_tokens SET used_at = ?3 WHERE user_id = ?1 AND purpose = ?2 "
                                "AND used_at IS NULL"},
    [STMT_TOKEN_PURGE] = {"token_purge",
                          "DELETE FROM auth_tokens WHERE hash IN (SELECT hash FROM auth_tokens "
                          "WHERE expires_at < ?1 UNION ALL SELECT hash FROM auth_tokens WHERE used_at < ?1 "
                          "LIMIT ?2)"},

    /* The id is past every id in use or still listed as revoked: SQLite
     * would otherwise reuse the highest id after a deletion, and a new
     * session would inherit a deleted account's revocation. */
    [STMT_SESSION_INSERT] =
        {"session_insert",
         "INSERT INTO sessions (id, user_id, user_agent, ip, created_at, last_used_at, expires_at, mfa) "
         "VALUES (max(ifnull((SELECT max(id) FROM sessions), 0), "
         "ifnull((SELECT max(session_id) FROM session_revocations), 0)) + 1, ?1, ?2, ?3, ?4, ?4, ?5, ?6)"},
    [STMT_SESSION_GET] = {"session_get", "SELECT " STORE_SESSION_COLS " FROM sessions WHERE id = ?1"},
    [STMT_SESSION_LIST_ACTIVE] = {"session_list_active",
                                  "SELECT " STORE_SESSION_COLS
                                  " FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL "
                                  "AND expires_at > ?2 ORDER BY created_at DESC, id DESC LIMIT ?3"},
    [STMT_SESSION_TOUCH] = {"session_touch", "UPDATE sessions SET last_used_at = ?2 WHERE id = ?1"},
    [STMT_SESSION_ROTATED] =
        {"session_rotated",
         "UPDATE sessions SET last_used_at = ?2, expires_at = max(expires_at, ?3) WHERE id = ?1"},
    [STMT_SESSION_REVOKE] = {"session_revoke",
                             "UPDATE sessions SET revoked_at = ?3 WHERE id = ?2 AND user_id = ?1 "
                             "AND revoked_at IS NULL"},
    [STMT_SESSION_REVOKE_ALL] = {"session_revoke_all",
                                 "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 AND id <> ?2 "
                                 "AND revoked_at IS NULL"},
    /* Revoked sessions and those deleted with their account, in one order,
     * after the key (?1, ?2). Each table in two parts, the rest of the
     * millisecond ?1 and what follows it, so that both seek in the
     * revoked_at index, whose entries end with the rowid (the id). */
    [STMT_SESSION_REVOKED_SINCE] = {"session_revoked_since",
                                    "SELECT id, revoked_at FROM sessions WHERE revoked_at = ?1 AND id > ?2 "
                                    "UNION ALL SELECT id, revoked_at FROM sessions WHERE revoked_at > ?1 "
                                    "UNION ALL SELECT session_id, revoked_at FROM session_revocations "
                                    "WHERE revoked_at = ?1 AND session_id > ?2 "
                                    "UNION ALL SELECT session_id, revoked_at FROM session_revocations "
                                    "WHERE revoked_at > ?1 ORDER BY revoked_at, id LIMIT ?3"},
    [STMT_SESSION_PURGE] = {"session_purge",
                            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < ?1 "
                            "UNION ALL SELECT id FROM sessions WHERE revoked_at < ?1 LIMIT ?2)"},
    /* Every session of user ?1, about to be deleted with it, revoked at ?2
     * (the revoked ones again: other instances may not have read them yet). */
    [STMT_REVOCATION_INSERT_USER] =
        {"revocation_insert_user", "INSERT INTO session_revocations (session_id, revoked_at) "
                                   "SELECT id, ?2 FROM sessions WHERE user_id = ?1 "
                                   "ON CONFLICT (session_id) DO UPDATE SET revoked_at = excluded.revoked_at"},
    [STMT_REVOCATION_PURGE] = {"revocation_purge",
                               "DELETE FROM session_revocations WHERE session_id IN (SELECT session_id FROM "
                               "session_revocations WHERE revoked_at < ?1 LIMIT ?2)"},
    [STMT_REFRESH_INSERT] = {"refresh_insert",
                             "INSERT INTO refresh_tokens (user_id, session_id, parent_id, hash, created_at, "
                             "expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    [STMT_REFRESH_GET] = {"refresh_get", "SELECT " STORE_REFRESH_COLS " FROM refresh_tokens r "
                                         "JOIN sessions s ON s.id = r.session_id WHERE r.hash = ?1"},
    [STMT_REFRESH_SPEND] = {"refresh_spend",
                            "UPDATE refresh_tokens SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL"},
    [STMT_REFRESH_PURGE] = {"refresh_purge", "DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM "
                                             "refresh_tokens WHERE expires_at < ?1 LIMIT ?2)"},

    [STMT_TASK_INSERT] =
        {"task_insert",
         "INSERT INTO tasks (user_id, title, description, status, priority, due_date, plan_id, "
         "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)"},
    [STMT_TASK_GET] = {"task_get", "SELECT " STORE_TASK_COLS " FROM tasks WHERE id = ?2 AND user_id = ?1"},
    [STMT_TASK_VERSION] = {"task_version", "SELECT version FROM tasks WHERE id = ?2 AND user_id = ?1"},
    [STMT_TASK_UPDATE] =
        {"task_update",
         "UPDATE tasks SET title = CASE WHEN ?3 & 1 THEN ?4 ELSE title END, "
         "description = CASE WHEN ?3 & 2 THEN ?5 ELSE description END, "
         "status = CASE WHEN ?3 & 4 THEN ?6 ELSE status END, "
         "priority = CASE WHEN ?3 & 8 THEN ?7 ELSE priority END, "
         "due_date = CASE WHEN ?3 & 16 THEN ?8 ELSE due_date END, "
         "updated_at = ?9, version = version + 1 "
         "WHERE id = ?2 AND user_id = ?1 AND (?10 = 0 OR version = ?10) RETURNING " STORE_TASK_COLS},
    [STMT_TASK_DELETE] = {"task_delete",
                          "DELETE FROM tasks WHERE id = ?2 AND user_id = ?1 AND (?3 = 0 OR version = ?3)"},
    [STMT_TASK_CLEAR_PLAN] = {"task_clear_plan",
                              "UPDATE tasks SET plan_id = NULL, updated_at = ?3, version = version + 1 "
                              "WHERE user_id = ?1 AND plan_id = ?2"},

    [STMT_PROFILE_GET] = {"profile_get",
                          "SELECT " STORE_PROFILE_COLS " FROM fitness_profiles WHERE user_id = ?1"},
    [STMT_PROFILE_VERSION] = {"profile_version", "SELECT version FROM fitness_profiles WHERE user_id = ?1"},
    [STMT_PROFILE_UPSERT] = {"profile_upsert",
                             "INSERT INTO fitness_profiles (" STORE_PROFILE_COLS
                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                             "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 1) ON CONFLICT (user_id) DO UPDATE "
                             "SET " STORE_PROFILE_SET_EXCLUDED "version = version + 1 RETURNING version"},

    [STMT_PLAN_INSERT] = {"plan_insert",
                          "INSERT INTO plans (user_id, kind, state, weeks, start_date, request, created_at, "
                          "updated_at) VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?6)"},
    [STMT_PLAN_GET] = {"plan_get", "SELECT " STORE_PLAN_COLS " FROM plans WHERE id = ?2 AND user_id = ?1"},
    [STMT_PLAN_LIST] = {"plan_list",
                        "SELECT " STORE_PLAN_COLS_NO_CONTENT " FROM plans WHERE user_id = ?1 "
                        "AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR state = ?3) "
                        "AND (created_at, id) < (?4, ?5) ORDER BY created_at DESC, id DESC LIMIT ?6"},
    [STMT_PLAN_SET_STATE] =
        {"plan_set_state",
         "UPDATE plans SET state = ?3, generator = ifnull(?4, generator), "
         "summary = ifnull(?5, summary), content = ifnull(?6, content), "
         "error = ifnull(?7, error), "
         "completed_at = CASE WHEN ?3 IN ('ready', 'failed') THEN ?8 ELSE completed_at END, "
         "updated_at = ?8, version = version + 1 "
         "WHERE id = ?2 AND user_id = ?1 AND state NOT IN ('ready', 'failed') "
         "RETURNING " STORE_PLAN_COLS},
    [STMT_PLAN_STATE] = {"plan_state", "SELECT state FROM plans WHERE id = ?2 AND user_id = ?1"},
    [STMT_PLAN_DELETE] = {"plan_delete", "DELETE FROM plans WHERE id = ?2 AND user_id = ?1"},

    [STMT_JOB_INSERT] =
        {"job_insert",
         "INSERT INTO jobs (kind, payload, user_id, ref_id, unique_key, state, run_at, created_at, "
         "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?7)"},
    [STMT_JOB_BY_UNIQUE] = {"job_by_unique", "SELECT id FROM jobs WHERE unique_key = ?1"},
    [STMT_JOB_GET] = {"job_get", "SELECT " STORE_JOB_COLS " FROM jobs WHERE id = ?1"},
    [STMT_JOB_RECLAIM] = {"job_reclaim",
                          "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, "
                          "updated_at = ?1 WHERE state = 'running' AND lease_expires_at < ?1"},
    [STMT_JOB_CLAIM] =
        {"job_claim",
         "UPDATE jobs SET state = 'running', lease_owner = ?1, lease_expires_at = ?2, "
         "attempts = attempts + 1, updated_at = ?3 WHERE id IN (SELECT id FROM jobs "
         "WHERE state = 'queued' AND run_at <= ?3 ORDER BY run_at LIMIT ?4) RETURNING " STORE_JOB_COLS},
    [STMT_JOB_RENEW] = {"job_renew", "UPDATE jobs SET lease_expires_at = ?3, updated_at = ?4 "
                                     "WHERE id = ?1 AND state = 'running' AND lease_owner = ?2"},
    [STMT_JOB_COMPLETE] =
        {"job_complete",
         "UPDATE jobs SET state = 'done', finished_at = ?3, updated_at = ?3, lease_owner = NULL, "
         "lease_expires_at = NULL WHERE id = ?1 AND state = 'running' AND lease_owner = ?2"},
    [STMT_JOB_FAIL] = {"job_fail", "UPDATE jobs SET state = CASE WHEN ?4 > 0 THEN 'queued' ELSE 'dead' END, "
                                   "run_at = CASE WHEN ?4 > 0 THEN ?4 ELSE run_at END, last_error = ?3, "
                                   "finished_at = CASE WHEN ?4 > 0 THEN NULL ELSE ?5 END, updated_at = ?5, "
                                   "lease_owner = NULL, lease_expires_at = NULL "
                                   "WHERE id = ?1 AND state = 'running' AND lease_owner = ?2"},
    [STMT_JOB_RELEASE] = {"job_release",
                          "UPDATE jobs SET state = 'queued', run_at = ?3, attempts = max(attempts - 1, 0), "
                          "lease_owner = NULL, lease_expires_at = NULL, updated_at = ?3 "
                          "WHERE id = ?1 AND state = 'running' AND lease_owner = ?2"},
    [STMT_JOB_COUNT] = {"job_count", "SELECT count(*) FROM jobs WHERE state = ?1"},
    [STMT_JOB_PURGE] = {"job_purge",
                        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('done', 'dead') "
                        "AND finished_at < ?1 LIMIT ?2)"},
    [STMT_JOB_CANCEL_REF] = {"job_cancel_ref",
                             "DELETE FROM jobs WHERE user_id = ?1 AND ref_id = ?2 AND state <> 'running'"},

    [STMT_IDEM_INSERT] = {"idem_insert",
                          "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at, "
                          "expires_at) VALUES (?1, ?2, ?3, ?4, ?5)"},
    [STMT_IDEM_GET] = {"idem_get",
                       "SELECT " STORE_IDEM_COLS " FROM idempotency_keys WHERE user_id = ?1 AND key = ?2"},
    [STMT_IDEM_COMPLETE] =
        {"idem_complete",
         "UPDATE idempotency_keys SET status = ?3, response_headers = ?4, response_body = ?5 "
         "WHERE user_id = ?1 AND key = ?2"},
    [STMT_IDEM_DELETE] = {"idem_delete", "DELETE FROM idempotency_keys WHERE user_id = ?1 AND key = ?2"},
    [STMT_IDEM_PURGE] = {"idem_purge",
                         "DELETE FROM idempotency_keys WHERE (user_id, key) IN (SELECT user_id, key FROM "
                         "idempotency_keys WHERE expires_at < ?1 LIMIT ?2)"},
};
