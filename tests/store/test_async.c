/* Asynchronous task and plan reads (store_task_list_async,
 * store_task_get_async, store_plan_list_async, store_plan_get_async),
 * as the event loops use them, driven by a small poll() loop standing in
 * for the HTTP module's poller: many reads sent in one round come back
 * each with the rows the blocking call returns, including reads whose
 * statement the connection prepares on the way; another user's task is
 * not found; bad arguments are refused at once; without a poller, or on a
 * backend without asynchronous reads, the answer is ERR_WOULD_BLOCK. */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "contract.h"
#include "util/arena.h"
#include "util/clock.h"

/* ---- the stand-in poller: one watched descriptor at a time ---- */

static struct fake_watch {
    int fd;
    void (*ready)(void *arg);
    void *arg;
    bool write, tick, open;
} watched;

static void *
fake_watch(int fd, void (*ready)(void *arg), void *arg)
{
    if (watched.open)
        return NULL;
    watched = (struct fake_watch){fd, ready, arg, false, false, true};
    return &watched;
}

static void
fake_arm(void *w, bool write, bool tick)
{
    struct fake_watch *fw = w;
    fw->write = write;
    fw->tick = tick;
}

static void
fake_close(void *w)
{
    ((struct fake_watch *)w)->open = false;
}

static const struct loop_io fake_io = {fake_watch, fake_arm, fake_close, NULL, NULL};

/* ---- reads and their answers ---- */

struct answer {
    bool done;
    int err;
};

static void
on_done(void *arg, int err)
{
    struct answer *a = arg;
    a->done = true;
    a->err = err;
}

/* Ends the round (the reads go out), then polls until every answer is in
 * or 5 s pass. */
static bool
run_round(struct store *s, struct answer *ans, size_t n)
{
    store_reads_round_end(s);
    int64_t until = clock_mono_ms() + 5000;
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++)
            left += !ans[i].done;
        if (left == 0)
            return true;
        if (clock_mono_ms() > until || !watched.open)
            return false;
        struct pollfd p = {watched.fd, (short)(POLLIN | (watched.write ? POLLOUT : 0)), 0};
        if (poll(&p, 1, 100) != 0 || watched.tick)
            watched.ready(watched.arg);
    }
}

static bool
same_rows(const struct store_task *a, size_t na, const struct store_task *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].id != b[i].id || a[i].version != b[i].version || strcmp(a[i].title, b[i].title) != 0 ||
            a[i].priority != b[i].priority || a[i].status != b[i].status)
            return false;
    return true;
}

enum { NLISTS = 12, NGETS = 24 };

struct list_read {
    struct store_task_filter f;
    enum store_task_sort sort;
    struct store_task *rows;
    size_t n;
};

static void
pipelined(struct store *s)
{
    int64_t uid = contract_user(s, "async");
    int64_t other = contract_user(s, "async_other");
    int64_t ids[NGETS / 2];
    static const char *const dues[] = {"2026-03-01", NULL, "2026-05-20", "2027-01-09"};
    for (int i = 0; i < NGETS / 2; i++) {
        char title[32];
        snprintf(title, sizeof(title), "async %d", i);
        ids[i] = contract_task(s, uid, title, (enum store_task_status)(i % STORE_TASK_STATUS_COUNT), i % 4,
                               dues[i % 4]);
        CHECK(ids[i] > 0);
    }
    int64_t foreign = contract_task(s, other, "not yours", STORE_TASK_TODO, 1, NULL);

    struct arena a;
    arena_init(&a);
    /* Two rounds: the first prepares the statements on the way, the second
     * finds them prepared. */
    for (int round = 0; round < 2; round++) {
        struct list_read lists[NLISTS];
        struct store_task got[NGETS];
        struct answer ans[NLISTS + NGETS + 1];
        memset(ans, 0, sizeof(ans));
        size_t k = 0;
        for (int i = 0; i < NLISTS; i++, k++) {
            struct list_read *l = &lists[i];
            l->f = (struct store_task_filter){0, -1, NULL, NULL};
            l->sort = (enum store_task_sort)(i % STORE_TASK_SORT_COUNT);
            if (i % 3 == 1)
                l->f.status_mask = 1u << STORE_TASK_TODO;
            if (i % 4 == 2)
                l->f.priority = 2;
            if (i % 5 == 3)
                l->f.due_before = "2026-12-31";
            CHECK_EQ_INT(store_task_list_async(s, &(struct store_task_query){uid, &l->f, l->sort, NULL, 5},
                                               &a, &l->rows, &l->n, on_done, &ans[k]),
                         OK);
        }
        for (int i = 0; i < NGETS; i++, k++) {
            int64_t id = i < NGETS - 1 ? ids[i % (NGETS / 2)] : foreign;
            CHECK_EQ_INT(store_task_get_async(s, uid, id, &a, &got[i], on_done, &ans[k]), OK);
        }
        CHECK(!ans[0].done); /* never before the round's end */
        CHECK(run_round(s, ans, k));
        for (size_t i = 0; i < k; i++)
            CHECK(ans[i].done);

        for (int i = 0; i < NLISTS; i++) {
            CHECK_EQ_INT(ans[i].err, OK);
            struct store_task *rows;
            size_t n;
            CHECK_EQ_INT(store_task_list(s,
                                         &(struct store_task_query){uid, &lists[i].f, lists[i].sort, NULL, 5},
                                         &a, &rows, &n),
                         OK);
            if (!same_rows(lists[i].rows, lists[i].n, rows, n))
                fprintf(stderr, "async list %d (round %d): rows differ from the blocking call's\n", i, round);
            CHECK(same_rows(lists[i].rows, lists[i].n, rows, n));
        }
        for (int i = 0; i < NGETS; i++) {
            struct answer *an = &ans[NLISTS + i];
            if (i == NGETS - 1) {
                CHECK_EQ_INT(an->err, ERR_NOT_FOUND); /* another user's task */
                continue;
            }
            CHECK_EQ_INT(an->err, OK);
            CHECK_EQ_INT(got[i].id, ids[i % (NGETS / 2)]);
            CHECK_EQ_INT(got[i].user_id, uid);
        }
    }

    /* Bad arguments: refused at once, done never runs. */
    struct store_task *rows;
    size_t n;
    struct answer bad = {0};
    CHECK_EQ_INT(
        store_task_list_async(s, &(struct store_task_query){uid, NULL, STORE_TASK_SORT_CREATED_DESC, NULL, 0},
                              &a, &rows, &n, on_done, &bad),
        ERR_INVALID);
    CHECK(!bad.done);

    store_loop_end(s); /* gives the connection back */
    CHECK(!watched.open);
    struct store_task t;
    CHECK_EQ_INT(store_task_get(s, uid, ids[0], &a, &t), OK);
    arena_cleanup(&a);
}

/* Plans read the same way: a round of lists (each filter) and gets, each
 * with the answer of the blocking call; another user's plan is not found. */
static void
plans_pipelined(struct store *s)
{
    int64_t uid = contract_user(s, "async_plans");
    int64_t other = contract_user(s, "async_plans_other");
    int64_t ids[4];
    for (int i = 0; i < 4; i++) {
        struct store_plan p = {
            .user_id = uid, .kind = (enum store_plan_kind)(i % STORE_PLAN_KIND_COUNT), .weeks = i + 1};
        CHECK_EQ_INT(store_plan_create(s, &p, NULL), OK);
        ids[i] = p.id;
    }
    struct store_plan theirs = {.user_id = other, .kind = STORE_PLAN_WORKOUT, .weeks = 1};
    CHECK_EQ_INT(store_plan_create(s, &theirs, NULL), OK);

    struct arena a;
    arena_init(&a);
    enum { NPL = 3, NPG = 5 };
    struct store_plan_filter f[NPL] = {{-1, -1}, {STORE_PLAN_WORKOUT, -1}, {-1, STORE_PLAN_QUEUED}};
    struct store_plan *rows[NPL];
    size_t n[NPL];
    struct store_plan got[NPG];
    struct answer ans[NPL + NPG];
    memset(ans, 0, sizeof(ans));
    for (int i = 0; i < NPL; i++)
        CHECK_EQ_INT(store_plan_list_async(s, &(struct store_plan_query){uid, &f[i], NULL, 3}, &a, &rows[i],
                                           &n[i], on_done, &ans[i]),
                     OK);
    for (int i = 0; i < NPG; i++)
        CHECK_EQ_INT(
            store_plan_get_async(s, uid, i < 4 ? ids[i] : theirs.id, &a, &got[i], on_done, &ans[NPL + i]),
            OK);
    CHECK(run_round(s, ans, NPL + NPG));
    for (int i = 0; i < NPL; i++) {
        CHECK_EQ_INT(ans[i].err, OK);
        struct store_plan *want;
        size_t nw;
        CHECK_EQ_INT(store_plan_list(s, &(struct store_plan_query){uid, &f[i], NULL, 3}, &a, &want, &nw), OK);
        CHECK_EQ_INT(n[i], nw);
        for (size_t k = 0; k < nw && k < n[i]; k++)
            CHECK(rows[i][k].id == want[k].id && rows[i][k].version == want[k].version &&
                  rows[i][k].kind == want[k].kind);
    }
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(ans[NPL + i].err, OK);
        CHECK_EQ_INT(got[i].id, ids[i]);
        CHECK_EQ_INT(got[i].weeks, i + 1);
    }
    CHECK_EQ_INT(ans[NPL + 4].err, ERR_NOT_FOUND); /* another user's plan */

    /* Bad arguments: refused at once. */
    struct answer bad = {0};
    CHECK_EQ_INT(store_plan_list_async(s, &(struct store_plan_query){uid, NULL, NULL, 0}, &a, &rows[0], &n[0],
                                       on_done, &bad),
                 ERR_INVALID);
    CHECK(!bad.done);
    arena_cleanup(&a);
}

void
contract_async(struct store *s)
{
    struct arena a;
    arena_init(&a);
    struct store_task *rows;
    size_t n;
    struct answer ans = {0};
    /* No poller lent yet: the blocking call it is. */
    CHECK_EQ_INT(
        store_task_list_async(s, &(struct store_task_query){1, NULL, STORE_TASK_SORT_CREATED_DESC, NULL, 5},
                              &a, &rows, &n, on_done, &ans),
        ERR_WOULD_BLOCK);
    CHECK(!ans.done);
    arena_cleanup(&a);
    struct store_plan *prows;
    CHECK_EQ_INT(
        store_plan_list_async(s, &(struct store_plan_query){1, NULL, NULL, 5}, &a, &prows, &n, on_done, &ans),
        ERR_WOULD_BLOCK);
    CHECK(!ans.done);
    arena_cleanup(&a);
    if (store_reads_async(s)) {
        store_set_loop_io(s, &fake_io);
        plans_pipelined(s);
        pipelined(s);
    }
    contract_tally();
}
