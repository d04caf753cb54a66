-- Revocations of sessions that no longer exist. Deleting an account deletes
-- its sessions (ON DELETE CASCADE), and with them the revoked_at that other
-- instances read to refuse those sessions' access tokens; so the deletion
-- first copies the ids of the account's sessions here, revoked at that
-- moment, and store_session_revoked_since reads both tables. Not user data:
-- a row outlives its user and is purged with the expired sessions, once no
-- access token of its session can still be valid. The SQLite backend also
-- never gives a new session an id that is still listed here.

CREATE TABLE session_revocations (
    session_id INTEGER PRIMARY KEY,
    revoked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX session_revocations_revoked ON session_revocations (revoked_at);
