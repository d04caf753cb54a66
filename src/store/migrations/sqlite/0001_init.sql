-- The first schema. Timestamps are INTEGER unix milliseconds, dates TEXT
-- 'YYYY-MM-DD'. Every user-data table carries user_id, and every index that
-- serves a user's query leads with it. schema_migrations is created by the
-- migration runner itself.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL COLLATE NOCASE,
    email         TEXT NOT NULL COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1
) STRICT;
-- The indexes inherit NOCASE from the columns: unique ignoring ASCII case.
CREATE UNIQUE INDEX users_username ON users (username);
CREATE UNIQUE INDEX users_email ON users (email);

-- One row per refresh-token family (a login on one device).
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent   TEXT,
    ip           TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id, created_at DESC, id DESC);
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Only the SHA-256 of a refresh token is kept.
CREATE TABLE refresh_tokens (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    parent_id  INTEGER,
    hash       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX refresh_tokens_hash ON refresh_tokens (hash);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    description TEXT,
    status      TEXT NOT NULL CHECK (status IN ('todo', 'in_progress', 'done')),
    priority    INTEGER NOT NULL,
    due_date    TEXT,
    -- The sort key of due_date orders: no due date sorts as +infinity.
    due_key     TEXT GENERATED ALWAYS AS (ifnull(due_date, '9999-99-99')) VIRTUAL,
    plan_id     INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
) STRICT;
CREATE INDEX tasks_user_created ON tasks (user_id, created_at DESC, id DESC);
CREATE INDEX tasks_user_status ON tasks (user_id, status, created_at DESC, id DESC);
CREATE INDEX tasks_user_priority ON tasks (user_id, priority DESC, created_at DESC, id DESC);
CREATE INDEX tasks_user_due ON tasks (user_id, due_key, id);
CREATE INDEX tasks_user_plan ON tasks (user_id, plan_id) WHERE plan_id IS NOT NULL;

CREATE TABLE fitness_profiles (
    user_id         INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sex             TEXT NOT NULL,
    birth_date      TEXT NOT NULL,
    height_cm       REAL NOT NULL,
    weight_kg       REAL NOT NULL,
    activity_level  TEXT NOT NULL,
    goal            TEXT NOT NULL,
    experience      TEXT NOT NULL,
    days_per_week   INTEGER NOT NULL,
    session_minutes INTEGER NOT NULL,
    equipment       TEXT NOT NULL,
    diet            TEXT NOT NULL,
    meals_per_day   INTEGER NOT NULL,
    exclude_foods   TEXT NOT NULL DEFAULT '[]',
    updated_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE TABLE plans (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('workout', 'nutrition')),
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'ready', 'failed')),
    weeks        INTEGER NOT NULL,
    start_date   TEXT,
    request      TEXT,
    generator    TEXT,
    summary      TEXT,
    content      TEXT,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    completed_at INTEGER,
    version      INTEGER NOT NULL DEFAULT 1
) STRICT;
CREATE INDEX plans_user_created ON plans (user_id, created_at DESC, id DESC);

-- The durable job queue. Not user data, but a user's jobs go with the user.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL DEFAULT '{}',
    user_id          INTEGER REFERENCES users (id) ON DELETE CASCADE,
    ref_id           INTEGER,
    unique_key       TEXT,
    state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    run_at           INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
) STRICT;
CREATE INDEX jobs_state_run ON jobs (state, run_at);
CREATE INDEX jobs_state_lease ON jobs (state, lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_state_finished ON jobs (state, finished_at) WHERE state IN ('done', 'dead');
CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX jobs_user ON jobs (user_id, ref_id);

CREATE TABLE idempotency_keys (
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key              TEXT NOT NULL,
    request_hash     BLOB NOT NULL,
    status           INTEGER NOT NULL DEFAULT 0,
    response_headers TEXT,
    response_body    BLOB,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
