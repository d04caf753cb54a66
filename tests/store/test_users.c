/* Users (unique keys ignoring case, updates, deletion of everything, the
 * revocation of a deleted account's sessions) and sessions with refresh
 * tokens (rotation, reuse, revocation, purges). */
#include <stdio.h>
#include <string.h>

#include "contract.h"
#include "util/arena.h"
#include "util/clock.h"

static void
users(struct store *s)
{
    struct arena a;
    arena_init(&a);
    enum store_conflict which = STORE_CONFLICT_NONE;
    struct store_user u = {.username = "Alice.Runner", .email = "Alice@Example.com", .password_hash = "h1"};
    CHECK_EQ_INT(store_user_create(s, &u, &which), OK);
    CHECK(u.id > 0);
    CHECK(u.created_at > 0 && u.updated_at == u.created_at);
    CHECK_EQ_INT(u.version, 1);

    struct store_user dup = {.username = "alice.RUNNER", .email = "other@example.com", .password_hash = "h"};
    CHECK_EQ_INT(store_user_create(s, &dup, &which), ERR_CONFLICT);
    CHECK_EQ_INT(which, STORE_CONFLICT_USERNAME);
    dup = (struct store_user){.username = "bob", .email = "ALICE@example.COM", .password_hash = "h"};
    CHECK_EQ_INT(store_user_create(s, &dup, &which), ERR_CONFLICT);
    CHECK_EQ_INT(which, STORE_CONFLICT_EMAIL);
    dup = (struct store_user){.username = "ALICE.runner", .email = "alice@EXAMPLE.com", .password_hash = "h"};
    CHECK_EQ_INT(store_user_create(s, &dup, &which), ERR_CONFLICT);
    CHECK_EQ_INT(which, STORE_CONFLICT_USERNAME);
    CHECK_EQ_INT(store_user_create(s, &dup, NULL), ERR_CONFLICT);

    struct store_user got;
    CHECK_EQ_INT(store_user_get(s, u.id, &a, &got), OK);
    CHECK_EQ_STR(got.username, "Alice.Runner");
    CHECK_EQ_STR(got.email, "Alice@Example.com");
    CHECK_EQ_STR(got.password_hash, "h1");
    CHECK_EQ_INT(got.version, 1);
    CHECK_EQ_INT(store_user_get(s, u.id + 100000, &a, &got), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_user_get_by_login(s, "alice.runner", &a, &got), OK);
    CHECK_EQ_INT(got.id, u.id);
    CHECK_EQ_INT(store_user_get_by_login(s, "ALICE@EXAMPLE.COM", &a, &got), OK);
    CHECK_EQ_INT(got.id, u.id);
    CHECK_EQ_INT(store_user_get_by_login(s, "nobody", &a, &got), ERR_NOT_FOUND);

    struct store_user b = {.username = "bob.lifts", .email = "bob@example.com", .password_hash = "h2"};
    CHECK_EQ_INT(store_user_create(s, &b, NULL), OK);

    /* Updates: conflicts with others, not with oneself; versions. */
    struct store_user_patch p = {.username = "BOB.LIFTS"};
    CHECK_EQ_INT(store_user_update(s, u.id, &p, 0, &a, &got, &which), ERR_CONFLICT);
    CHECK_EQ_INT(which, STORE_CONFLICT_USERNAME);
    p = (struct store_user_patch){.email = "Bob@Example.com"};
    CHECK_EQ_INT(store_user_update(s, u.id, &p, 0, &a, &got, &which), ERR_CONFLICT);
    CHECK_EQ_INT(which, STORE_CONFLICT_EMAIL);
    p = (struct store_user_patch){.username = "ALICE.RUNNER"}; /* her own name in other case */
    CHECK_EQ_INT(store_user_update(s, u.id, &p, 1, &a, &got, &which), OK);
    CHECK_EQ_STR(got.username, "ALICE.RUNNER");
    CHECK_EQ_STR(got.email, "Alice@Example.com");
    CHECK_EQ_INT(got.version, 2);
    CHECK(got.updated_at >= got.created_at);
    p = (struct store_user_patch){.email = "alice@new.example"};
    CHECK_EQ_INT(store_user_update(s, u.id, &p, 1, &a, &got, &which), ERR_PRECONDITION);
    CHECK_EQ_INT(store_user_update(s, u.id, &p, 2, &a, &got, &which), OK);
    CHECK_EQ_STR(got.email, "alice@new.example");
    CHECK_EQ_INT(store_user_update(s, 987654321, &p, 0, &a, &got, &which), ERR_NOT_FOUND);
    /* The old email is free again. */
    struct store_user c = {.username = "carol", .email = "alice@example.com", .password_hash = "h3"};
    CHECK_EQ_INT(store_user_create(s, &c, NULL), OK);

    CHECK_EQ_INT(store_user_set_password(s, u.id, "h1-new", false, 0), OK);
    CHECK_EQ_INT(store_user_get(s, u.id, &a, &got), OK);
    CHECK_EQ_STR(got.password_hash, "h1-new");
    CHECK_EQ_INT(got.version, 4);
    CHECK_EQ_INT(store_user_set_password(s, 987654321, "x", false, 0), ERR_NOT_FOUND);

    /* Deleting a user deletes everything of theirs. */
    int64_t tid = contract_task(s, c.id, "carol's", STORE_TASK_TODO, 0, NULL);
    struct store_session sess = {.user_id = c.id, .expires_at = clock_wall_ms() + 60000};
    struct store_refresh tok = {.expires_at = clock_wall_ms() + 60000};
    contract_hash(tok.hash, "carol-token");
    CHECK_EQ_INT(store_session_create(s, &sess, &tok), OK);
    struct store_profile prof = {.user_id = c.id,
                                 .sex = "female",
                                 .birth_date = "1990-01-01",
                                 .height_cm = 170,
                                 .weight_kg = 60,
                                 .activity_level = "light",
                                 .goal = "maintain",
                                 .experience = "beginner",
                                 .days_per_week = 3,
                                 .session_minutes = 45,
                                 .equipment = "none",
                                 .diet = "vegan",
                                 .meals_per_day = 3,
                                 .exclude_foods = "[]"};
    CHECK_EQ_INT(store_profile_put(s, &prof, 0), OK);
    struct store_plan plan = {.user_id = c.id, .kind = STORE_PLAN_WORKOUT, .weeks = 4};
    struct store_job job = {.kind = "plan.generate", .payload = "{}"};
    CHECK_EQ_INT(store_plan_create(s, &plan, &job), OK);
    uint8_t ih[STORE_HASH_LEN];
    contract_hash(ih, "carol-idem");
    struct store_idem idem;
    CHECK_EQ_INT(store_idem_reserve(s, c.id, "k1", ih, clock_wall_ms() + 60000, &a, &idem), OK);

    CHECK_EQ_INT(store_user_delete(s, c.id), OK);
    CHECK_EQ_INT(store_user_delete(s, c.id), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_user_get(s, c.id, &a, &got), ERR_NOT_FOUND);
    struct store_task t;
    CHECK_EQ_INT(store_task_get(s, c.id, tid, &a, &t), ERR_NOT_FOUND);
    struct store_session sg;
    CHECK_EQ_INT(store_session_get(s, sess.id, &a, &sg), ERR_NOT_FOUND);
    struct store_refresh rg;
    CHECK_EQ_INT(store_refresh_get(s, tok.hash, &rg), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_profile_get(s, c.id, &a, &prof), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_plan_get(s, c.id, plan.id, &a, &plan), ERR_NOT_FOUND);
    struct store_job jg;
    CHECK_EQ_INT(store_job_get(s, job.id, &a, &jg), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_idem_get(s, c.id, "k1", &a, &idem), ERR_NOT_FOUND);
    /* Rows for a user who is gone are refused. */
    CHECK_EQ_INT(contract_task(s, c.id, "orphan", STORE_TASK_TODO, 0, NULL), 0);
    arena_cleanup(&a);
}

static void
sessions(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t now = clock_wall_ms();
    int64_t uid = contract_user(s, "sess");
    int64_t other = contract_user(s, "sess_other");

    struct store_session s1 = {
        .user_id = uid, .user_agent = "curl/8", .ip = "127.0.0.1", .expires_at = now + 3600000};
    struct store_refresh t1 = {.expires_at = now + 3600000};
    contract_hash(t1.hash, "token-1");
    CHECK_EQ_INT(store_session_create(s, &s1, &t1), OK);
    CHECK(s1.id > 0 && t1.id > 0);
    CHECK_EQ_INT(t1.session_id, s1.id);
    CHECK_EQ_INT(t1.user_id, uid);
    struct store_session s2 = {.user_id = uid, .expires_at = now + 3600000};
    struct store_refresh t2 = {.expires_at = now + 3600000};
    contract_hash(t2.hash, "token-2");
    CHECK_EQ_INT(store_session_create(s, &s2, &t2), OK);
    struct store_session bad = {.user_id = 987654321, .expires_at = now + 1000};
    struct store_refresh tb = {.expires_at = now + 1000};
    contract_hash(tb.hash, "token-bad");
    CHECK_EQ_INT(store_session_create(s, &bad, &tb), ERR_NOT_FOUND);

    struct store_session got;
    CHECK_EQ_INT(store_session_get(s, s1.id, &a, &got), OK);
    CHECK_EQ_STR(got.user_agent, "curl/8");
    CHECK_EQ_STR(got.ip, "127.0.0.1");
    CHECK_EQ_INT(got.revoked_at, 0);
    CHECK_EQ_INT(store_session_get(s, s2.id, &a, &got), OK);
    CHECK(got.user_agent == NULL);

    struct store_session *rows;
    size_t n;
    CHECK_EQ_INT(store_session_list_active(s, uid, clock_wall_ms(), 10, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(rows[0].id, s2.id); /* newest first */
        CHECK_EQ_INT(rows[1].id, s1.id);
    }
    CHECK_EQ_INT(store_session_touch(s, s1.id, now + 5), OK);
    CHECK_EQ_INT(store_session_get(s, s1.id, &a, &got), OK);
    CHECK_EQ_INT(got.last_used_at, now + 5);
    CHECK_EQ_INT(store_session_touch(s, 987654321, now), ERR_NOT_FOUND);

    /* Rotation: the token is spent and its child works, once. */
    struct store_refresh child = {.expires_at = now + 7200000}, old;
    contract_hash(child.hash, "token-1-child");
    CHECK_EQ_INT(store_refresh_rotate(s, t1.hash, clock_wall_ms(), &child, &old), OK);
    CHECK_EQ_INT(old.id, t1.id);
    CHECK_EQ_INT(child.session_id, s1.id);
    CHECK_EQ_INT(child.parent_id, t1.id);
    CHECK_EQ_INT(child.user_id, uid);
    struct store_refresh r;
    CHECK_EQ_INT(store_refresh_get(s, t1.hash, &r), OK);
    CHECK(r.used_at != 0);
    CHECK_EQ_INT(store_session_get(s, s1.id, &a, &got), OK);
    CHECK_EQ_INT(got.expires_at, now + 7200000); /* slid forward */
    struct store_refresh again = {.expires_at = now + 7200000};
    contract_hash(again.hash, "token-1-again");
    CHECK_EQ_INT(store_refresh_rotate(s, t1.hash, clock_wall_ms(), &again, &old), ERR_CONFLICT);
    CHECK(old.used_at != 0);
    CHECK_EQ_INT(old.session_id, s1.id);
    CHECK_EQ_INT(store_refresh_get(s, again.hash, &r), ERR_NOT_FOUND); /* no child made */
    struct store_refresh grandchild = {.expires_at = now + 7200000};
    contract_hash(grandchild.hash, "token-1-grandchild");
    CHECK_EQ_INT(store_refresh_rotate(s, child.hash, clock_wall_ms(), &grandchild, NULL), OK);
    uint8_t unknown[STORE_HASH_LEN];
    contract_hash(unknown, "never-issued");
    CHECK_EQ_INT(store_refresh_rotate(s, unknown, clock_wall_ms(), &again, &old), ERR_NOT_FOUND);

    /* The grace path: another token in the same session. */
    struct store_refresh extra = {.session_id = s1.id, .parent_id = t1.id, .expires_at = now + 60000};
    contract_hash(extra.hash, "token-1-grace");
    CHECK_EQ_INT(store_refresh_create(s, &extra), OK);
    CHECK_EQ_INT(extra.user_id, uid);
    CHECK_EQ_INT(store_refresh_get(s, extra.hash, &r), OK);
    CHECK_EQ_INT(r.session_id, s1.id);
    CHECK_EQ_INT(r.parent_id, t1.id);
    struct store_refresh orphan = {.session_id = 987654321, .expires_at = now + 60000};
    contract_hash(orphan.hash, "token-orphan");
    CHECK_EQ_INT(store_refresh_create(s, &orphan), ERR_NOT_FOUND);

    /* Expired token. */
    struct store_session s3 = {.user_id = uid, .expires_at = now + 3600000};
    struct store_refresh t3 = {.expires_at = now - 1};
    contract_hash(t3.hash, "token-3-expired");
    CHECK_EQ_INT(store_session_create(s, &s3, &t3), OK);
    CHECK_EQ_INT(store_refresh_rotate(s, t3.hash, clock_wall_ms(), &again, &old), ERR_PRECONDITION);
    CHECK_EQ_INT(old.id, t3.id);

    /* Revocation. */
    int64_t before = clock_wall_ms();
    CHECK_EQ_INT(store_session_revoke(s, other, s2.id), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_session_revoke(s, uid, s2.id), OK);
    CHECK_EQ_INT(store_session_revoke(s, uid, s2.id), OK); /* idempotent */
    CHECK_EQ_INT(store_session_revoke(s, uid, 987654321), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_session_get(s, s2.id, &a, &got), OK);
    CHECK(got.revoked_at >= before);
    CHECK_EQ_INT(store_refresh_get(s, t2.hash, &r), OK);
    CHECK(r.session_revoked_at != 0);
    struct store_refresh c2 = {.expires_at = now + 60000};
    contract_hash(c2.hash, "token-2-child");
    CHECK_EQ_INT(store_refresh_rotate(s, t2.hash, clock_wall_ms(), &c2, &old), ERR_NOT_FOUND);
    CHECK(old.session_revoked_at != 0);
    CHECK_EQ_INT(store_session_list_active(s, uid, clock_wall_ms(), 10, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 2); /* s1 and s3 */

    struct store_revoked *rv;
    CHECK_EQ_INT(store_session_revoked_since(s, before, 0, 1000, &a, &rv, &n), OK);
    bool seen = false;
    for (size_t i = 0; i < n; i++)
        seen = seen || rv[i].session_id == s2.id;
    CHECK(seen);
    size_t count = 0;
    CHECK_EQ_INT(store_session_revoke_all(s, uid, s1.id, &count), OK);
    CHECK_EQ_INT(count, 1); /* s3; s2 was already revoked */
    CHECK_EQ_INT(store_session_list_active(s, uid, clock_wall_ms(), 10, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1)
        CHECK_EQ_INT(rows[0].id, s1.id);

    /* A password change ends the other sessions in the same step. */
    struct store_session s4 = {.user_id = uid, .expires_at = now + 3600000};
    struct store_refresh t4 = {.expires_at = now + 3600000};
    contract_hash(t4.hash, "token-4");
    CHECK_EQ_INT(store_session_create(s, &s4, &t4), OK);
    CHECK_EQ_INT(store_user_set_password(s, uid, "new-hash", true, s4.id), OK);
    CHECK_EQ_INT(store_session_list_active(s, uid, clock_wall_ms(), 10, &a, &rows, &n), OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1)
        CHECK_EQ_INT(rows[0].id, s4.id);
    CHECK_EQ_INT(store_session_revoke_all(s, uid, 0, &count), OK);
    CHECK_EQ_INT(count, 1);

    /* Purges: tokens and sessions past a cut-off. */
    size_t purged = 0;
    CHECK_EQ_INT(store_refresh_purge(s, now, 100, &purged), OK);
    CHECK(purged >= 1); /* t3 */
    CHECK_EQ_INT(store_refresh_get(s, t3.hash, &r), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_refresh_get(s, t4.hash, &r), OK);
    CHECK_EQ_INT(store_session_purge(s, clock_wall_ms() + 1, 1000, &purged), OK);
    CHECK(purged >= 4);
    CHECK_EQ_INT(store_session_get(s, s1.id, &a, &got), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_refresh_get(s, t4.hash, &r), ERR_NOT_FOUND); /* went with its session */
    CHECK_EQ_INT(store_refresh_purge(s, now, 0, &purged), ERR_INVALID);
    arena_cleanup(&a);
}

/* True when rows[0..n) hold session id. */
static bool
revoked_has(const struct store_revoked *rows, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].session_id == id)
            return true;
    return false;
}

/* A deleted account's sessions stay visible as revoked (other instances
 * learn of them from revoked_since) until the purge's cut-off passes. */
static void
deleted_sessions(struct store *s)
{
    struct arena a;
    arena_init(&a);
    int64_t before = clock_wall_ms();
    int64_t uid = contract_user(s, "gone");
    struct store_session s1 = {.user_id = uid, .expires_at = before + 3600000};
    struct store_session s2 = {.user_id = uid, .expires_at = before + 3600000};
    struct store_refresh t1 = {.expires_at = before + 3600000}, t2 = t1;
    contract_hash(t1.hash, "gone-token-1");
    contract_hash(t2.hash, "gone-token-2");
    CHECK_EQ_INT(store_session_create(s, &s1, &t1), OK);
    CHECK_EQ_INT(store_session_create(s, &s2, &t2), OK);
    struct store_revoked *rv;
    size_t n;
    CHECK_EQ_INT(store_session_revoked_since(s, before, 0, 1000, &a, &rv, &n), OK);
    CHECK(!revoked_has(rv, n, s1.id) && !revoked_has(rv, n, s2.id));

    int64_t deleted_at = clock_wall_ms();
    CHECK_EQ_INT(store_user_delete(s, uid), OK);
    struct store_session got;
    CHECK_EQ_INT(store_session_get(s, s2.id, &a, &got), ERR_NOT_FOUND);
    CHECK_EQ_INT(store_session_revoked_since(s, before, 0, 1000, &a, &rv, &n), OK);
    CHECK(revoked_has(rv, n, s1.id));
    CHECK(revoked_has(rv, n, s2.id));
    for (size_t i = 0; i < n; i++) {
        if (rv[i].session_id == s1.id || rv[i].session_id == s2.id)
            CHECK(rv[i].revoked_at >= deleted_at);
        if (i > 0)
            CHECK(rv[i - 1].revoked_at < rv[i].revoked_at ||
                  (rv[i - 1].revoked_at == rv[i].revoked_at && rv[i - 1].session_id < rv[i].session_id));
    }

    /* A new session never takes a deleted one's id (it would be revoked). */
    int64_t other = contract_user(s, "gone_after");
    struct store_session s3 = {.user_id = other, .expires_at = clock_wall_ms() + 3600000};
    struct store_refresh t3 = {.expires_at = s3.expires_at};
    contract_hash(t3.hash, "gone-token-3");
    CHECK_EQ_INT(store_session_create(s, &s3, &t3), OK);
    CHECK(s3.id > s1.id && s3.id > s2.id);

    /* Both sources in one order, and max holds across them. */
    CHECK_EQ_INT(store_session_revoke(s, other, s3.id), OK);
    CHECK_EQ_INT(store_session_revoked_since(s, deleted_at, 0, 1000, &a, &rv, &n), OK);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_INT(rv[2].session_id, s3.id);
        struct store_revoked *page;
        size_t np;
        CHECK_EQ_INT(store_session_revoked_since(s, deleted_at, 0, 2, &a, &page, &np), OK);
        CHECK_EQ_INT(np, 2);
        if (np == 2) {
            CHECK_EQ_INT(page[0].session_id, rv[0].session_id);
            CHECK_EQ_INT(page[1].session_id, rv[1].session_id);
        }
    }

    /* The purge keeps them until its cut-off passes them, then drops them,
     * counting them within max. */
    size_t purged = 0, total = 0;
    CHECK_EQ_INT(store_session_purge(s, deleted_at, 1000, &purged), OK);
    CHECK_EQ_INT(store_session_revoked_since(s, before, 0, 1000, &a, &rv, &n), OK);
    CHECK(revoked_has(rv, n, s1.id) && revoked_has(rv, n, s2.id) && revoked_has(rv, n, s3.id));
    int64_t cutoff = clock_wall_ms() + 1;
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ_INT(store_session_purge(s, cutoff, 1, &purged), OK);
        CHECK(purged <= 1);
        total += purged;
        if (purged == 0)
            break;
    }
    CHECK(total >= 3);
    CHECK_EQ_INT(store_session_revoked_since(s, before, 0, 1000, &a, &rv, &n), OK);
    CHECK(!revoked_has(rv, n, s1.id) && !revoked_has(rv, n, s2.id) && !revoked_has(rv, n, s3.id));
    arena_cleanup(&a);
}

/* Creates n sessions of user uid; their ids in ids[], in creation order. */
static void
make_sessions(struct store *s, int64_t uid, const char *seed, int64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s-%zu", seed, i);
        struct store_session ss = {.user_id = uid, .expires_at = clock_wall_ms() + 3600000};
        struct store_refresh t = {.expires_at = ss.expires_at};
        contract_hash(t.hash, name);
        CHECK_EQ_INT(store_session_create(s, &ss, &t), OK);
        ids[i] = ss.id;
        if (i > 0)
            CHECK(ids[i] > ids[i - 1]);
    }
}

/* Pages through store_session_revoked_since from since, 3 rows a page, each
 * page after the last row of the one before (as auth_revoked_sync does):
 * ids[0..n), all revoked at one time, come back once each and in order. */
static void
pages_hold(struct store *s, int64_t since, const int64_t *ids, size_t n)
{
    struct arena a;
    arena_init(&a);
    int64_t at = since, after = 0, when = 0;
    size_t next = 0;
    for (int page = 0; page < 10000; page++) {
        struct store_revoked *rv;
        size_t got;
        CHECK_EQ_INT(store_session_revoked_since(s, at, after, 3, &a, &rv, &got), OK);
        CHECK(got <= 3);
        for (size_t i = 0; i < got; i++) {
            /* After the key asked for, and after each other. */
            CHECK(rv[i].revoked_at > at || (rv[i].revoked_at == at && rv[i].session_id > after));
            at = rv[i].revoked_at;
            after = rv[i].session_id;
            for (size_t j = 0; j < n; j++) {
                if (rv[i].session_id != ids[j])
                    continue;
                CHECK_EQ_INT(j, next);
                next = j + 1;
                if (j == 0)
                    when = rv[i].revoked_at;
                CHECK_EQ_INT(rv[i].revoked_at, when);
            }
        }
        if (got < 3)
            break;
        arena_cleanup(&a);
    }
    CHECK_EQ_INT(next, n);
    arena_cleanup(&a);
}

/* More revocations of one revoked_at than a page holds: a logout-all and
 * an account deletion revoke all of a user's sessions at one time. */
static void
one_time_pages(struct store *s)
{
    int64_t ids[7];
    size_t count = 0;
    int64_t since = clock_wall_ms();
    int64_t uid = contract_user(s, "many");
    make_sessions(s, uid, "many-token", ids, 7);
    CHECK_EQ_INT(store_session_revoke_all(s, uid, 0, &count), OK);
    CHECK_EQ_INT(count, 7);
    pages_hold(s, since, ids, 7);

    since = clock_wall_ms();
    int64_t gone = contract_user(s, "many_gone");
    make_sessions(s, gone, "many-gone-token", ids, 7);
    CHECK_EQ_INT(store_user_delete(s, gone), OK);
    pages_hold(s, since, ids, 7);
}

void
contract_users(struct store *s)
{
    users(s);
    deleted_sessions(s);
    one_time_pages(s);
    contract_tally();
}

void
contract_sessions(struct store *s)
{
    sessions(s);
    contract_tally();
}
