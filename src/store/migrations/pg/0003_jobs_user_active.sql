-- PostgreSQL dialect of migrations/sqlite/0003_jobs_user_active.sql.
-- The bound on a user's plan generations queued or running at once
-- (PACE_MAX_QUEUED_JOBS_PER_USER) counts them on every plan created: this
-- index holds only the active jobs, so the count reads at most the bound's
-- worth of entries however many finished jobs the user has.

CREATE INDEX jobs_user_active ON jobs (user_id) WHERE state IN ('queued', 'running');
