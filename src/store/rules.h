/* State rules of the store's records, once for every backend: what an
 * unchanged optimistic update means, when a session is live and a refresh
 * token may be rotated, what a session's first token, a rotated token, a
 * new plan and its tasks look like, and what each step of a job writes.
 * The backends run the statements; these decide. Only src/store/ includes
 * this. */
#ifndef PACE_STORE_RULES_H
#define PACE_STORE_RULES_H

#include <stdint.h>

#include "store/backend.h"
#include "store/rows.h"

/* After an update or delete with an expected version matched nothing.
 * found is what looking the row up again returned: OK (it exists: another
 * version, ERR_PRECONDITION), ERR_NOT_FOUND (it does not), or an error
 * (returned as it is). */
int store_why_unchanged(int found);

/* Whether a session is live at now: neither revoked nor expired. */
bool store_session_live(int64_t revoked_at, int64_t expires_at, int64_t now);

/* Whether token t (read with its session's state) may be rotated at now:
 * OK; ERR_CONFLICT when it was used already (a replay); ERR_NOT_FOUND
 * when its session is revoked or expired; ERR_PRECONDITION when the token
 * itself expired. */
int store_refresh_check(const struct store_refresh *t, int64_t now);

/* Fills first as the first token of the new session s, issued at now
 * (its hash and expires_at are the caller's; id is the backend's). */
void store_refresh_first(const struct store_session *s, struct store_refresh *first, int64_t now);

/* Fills child as the token rotated from old at now, marks old used at now
 * (child's hash and expires_at are the caller's; id is the backend's).
 * The session slides to the later of its expiry and the child's. */
void store_refresh_rotated(struct store_refresh *old, struct store_refresh *child, int64_t now);

/* After plan c->p was inserted as id at now: fills in what the insert set
 * (queued, timestamps, version 1) and points c->job, if any, at it. */
void store_plan_started(struct store_plan_start *c, int64_t id, int64_t now);

/* The i-th task that transition t creates, owned by its user and plan. */
struct store_task store_plan_task(const struct store_plan_transition *t, size_t i);

/* The parameters of a job step's statement at now: 1 id, 2 owner, then
 * renew: 3 lease_expires_at, 4 now; fail: 3 error, 4 retry_at (0: dead),
 * 5 now; complete and release: 3 now. Returns how many. */
enum { STORE_JOB_UPDATE_PARAMS = 5 };
int store_job_update_params(const struct store_job_update *u, int64_t now,
                            struct store_param out[STORE_JOB_UPDATE_PARAMS]);

#endif
