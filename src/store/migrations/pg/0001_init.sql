-- The first schema, PostgreSQL dialect of migrations/sqlite/0001_init.sql:
-- the same tables, columns, keys and indexes. Timestamps are bigint unix
-- milliseconds, dates text 'YYYY-MM-DD' in the "C" collation (byte order,
-- whatever the database's locale). Every user-data table carries user_id,
-- and every index that serves a user's query leads with it.
-- schema_migrations is created by the migration runner itself.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL,
    email         text NOT NULL,
    password_hash text NOT NULL,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL,
    version       bigint NOT NULL DEFAULT 1
);
-- Unique ignoring ASCII case, like SQLite's NOCASE: lower() under the "C"
-- collation folds A-Z only, whatever the database's locale.
CREATE UNIQUE INDEX users_username ON users (lower(username COLLATE "C"));
CREATE UNIQUE INDEX users_email ON users (lower(email COLLATE "C"));

-- One row per refresh-token family (a login on one device).
CREATE TABLE sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent   text,
    ip           text,
    created_at   bigint NOT NULL,
    last_used_at bigint NOT NULL,
    expires_at   bigint NOT NULL,
    revoked_at   bigint
);
CREATE INDEX sessions_user ON sessions (user_id, created_at DESC, id DESC);
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Only the SHA-256 of a refresh token is kept.
CREATE TABLE refresh_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL,
    session_id bigint NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    parent_id  bigint,
    hash       bytea NOT NULL,
    created_at bigint NOT NULL,
    used_at    bigint,
    expires_at bigint NOT NULL
);
CREATE UNIQUE INDEX refresh_tokens_hash ON refresh_tokens (hash);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE tasks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       text NOT NULL,
    description text,
    status      text NOT NULL CHECK (status IN ('todo', 'in_progress', 'done')),
    priority    integer NOT NULL,
    due_date    text COLLATE "C",
    -- The sort key of due_date orders: no due date sorts as +infinity.
    due_key     text COLLATE "C" GENERATED ALWAYS AS (coalesce(due_date, '9999-99-99')) STORED,
    plan_id     bigint,
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL,
    version     bigint NOT NULL DEFAULT 1
);
CREATE INDEX tasks_user_created ON tasks (user_id, created_at DESC, id DESC);
CREATE INDEX tasks_user_status ON tasks (user_id, status, created_at DESC, id DESC);
CREATE INDEX tasks_user_priority ON tasks (user_id, priority DESC, created_at DESC, id DESC);
CREATE INDEX tasks_user_due ON tasks (user_id, due_key, id);
CREATE INDEX tasks_user_plan ON tasks (user_id, plan_id) WHERE plan_id IS NOT NULL;

CREATE TABLE fitness_profiles (
    user_id         bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sex             text NOT NULL,
    birth_date      text NOT NULL,
    height_cm       double precision NOT NULL,
    weight_kg       double precision NOT NULL,
    activity_level  text NOT NULL,
    goal            text NOT NULL,
    experience      text NOT NULL,
    days_per_week   integer NOT NULL,
    session_minutes integer NOT NULL,
    equipment       text NOT NULL,
    diet            text NOT NULL,
    meals_per_day   integer NOT NULL,
    exclude_foods   text NOT NULL DEFAULT '[]',
    updated_at      bigint NOT NULL,
    version         bigint NOT NULL DEFAULT 1
);

CREATE TABLE plans (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('workout', 'nutrition')),
    state        text NOT NULL CHECK (state IN ('queued', 'running', 'ready', 'failed')),
    weeks        integer NOT NULL,
    start_date   text,
    request      text,
    generator    text,
    summary      text,
    content      text,
    error        text,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL,
    completed_at bigint,
    version      bigint NOT NULL DEFAULT 1
);
CREATE INDEX plans_user_created ON plans (user_id, created_at DESC, id DESC);

-- The durable job queue. Not user data, but a user's jobs go with the user.
-- Claimed with FOR UPDATE SKIP LOCKED: any number of instances may run workers.
CREATE TABLE jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL,
    payload          text NOT NULL DEFAULT '{}',
    user_id          bigint REFERENCES users (id) ON DELETE CASCADE,
    ref_id           bigint,
    unique_key       text,
    state            text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    run_at           bigint NOT NULL,
    lease_owner      text,
    lease_expires_at bigint,
    last_error       text,
    created_at       bigint NOT NULL,
    updated_at       bigint NOT NULL,
    finished_at      bigint
);
CREATE INDEX jobs_state_run ON jobs (state, run_at);
CREATE INDEX jobs_state_lease ON jobs (state, lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_state_finished ON jobs (state, finished_at) WHERE state IN ('done', 'dead');
CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX jobs_user ON jobs (user_id, ref_id);

CREATE TABLE idempotency_keys (
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key              text NOT NULL,
    request_hash     bytea NOT NULL,
    status           integer NOT NULL DEFAULT 0,
    response_headers text,
    response_body    bytea,
    created_at       bigint NOT NULL,
    expires_at       bigint NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
