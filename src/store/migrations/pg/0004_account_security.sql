-- PostgreSQL dialect of migrations/sqlite/0004_account_security.sql.
-- Email verification, password reset and a second factor (TOTP).
-- Every existing account starts unverified and without TOTP. The sealed
-- TOTP secrets are text (util/seal.h); TOTP is on when totp_secret is set.
-- totp_last_step is the last 30-second step whose code was accepted (0:
-- none): a code is accepted once.

ALTER TABLE users
    ADD COLUMN email_verified boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_secret text,
    ADD COLUMN totp_pending text,
    ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;

-- A session created by a sign-in that gave a second factor.
ALTER TABLE sessions ADD COLUMN mfa boolean NOT NULL DEFAULT false;

-- One-time tokens given to a user (a link in a mail, an mfa_token): only
-- their SHA-256 is kept. A token works while used_at is NULL and
-- expires_at is in the future; spending or revoking it sets used_at.
CREATE TABLE auth_tokens (
    hash       bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset', 'mfa_login')),
    email      text,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    used_at    bigint
);
-- The user's tokens of one purpose (replace, revoke); also serves the
-- cascade of a user's deletion.
CREATE INDEX auth_tokens_user ON auth_tokens (user_id, purpose);
-- The purge: expired, and used or revoked.
CREATE INDEX auth_tokens_expires ON auth_tokens (expires_at);
CREATE INDEX auth_tokens_used ON auth_tokens (used_at) WHERE used_at IS NOT NULL;

-- The recovery codes of an account with TOTP: keyed hashes, each usable once.
CREATE TABLE mfa_recovery_codes (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    created_at bigint NOT NULL,
    used_at    bigint,
    PRIMARY KEY (user_id, code_hash)
);
