-- PostgreSQL dialect of migrations/sqlite/0002_session_revocations.sql.
-- Revocations of sessions that no longer exist. Deleting an account deletes
-- its sessions (ON DELETE CASCADE), and with them the revoked_at that other
-- instances read to refuse those sessions' access tokens; so the deletion
-- first copies the ids of the account's sessions here, revoked at that
-- moment, and store_session_revoked_since reads both tables. Not user data:
-- a row outlives its user and is purged with the expired sessions, once no
-- access token of its session can still be valid.

CREATE TABLE session_revocations (
    session_id bigint PRIMARY KEY,
    revoked_at bigint NOT NULL
);
CREATE INDEX session_revocations_revoked ON session_revocations (revoked_at, session_id);
