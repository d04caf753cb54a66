/* Many threads at once: two writers, keyset pages while rows are added,
 * 20 concurrent rotations of one refresh token (exactly one wins), job
 * claimers that never share a job, and one idempotency key raced. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contract.h"
#include "util/arena.h"
#include "util/clock.h"

struct writer_arg {
    struct store *s;
    int64_t uid;
    int count;
    int ok;
};

static void *
writer_main(void *arg)
{
    struct writer_arg *w = arg;
    for (int i = 0; i < w->count; i++)
        if (contract_task(w->s, w->uid, "concurrent", STORE_TASK_TODO, i % 4, NULL) != 0)
            w->ok++;
    return NULL;
}

static void
two_writers(struct store *s)
{
    int64_t uid = contract_user(s, "twowriters");
    struct writer_arg w[2] = {{s, uid, 300, 0}, {s, uid, 300, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, writer_main, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_INT(w[0].ok + w[1].ok, 600);
    struct arena a;
    arena_init(&a);
    struct store_task *rows;
    size_t n;
    CHECK_EQ_INT(
        store_task_list(s, &(struct store_task_query){uid, NULL, STORE_TASK_SORT_CREATED_DESC, NULL, 1000},
                        &a, &rows, &n),
        OK);
    CHECK_EQ_INT(n, 600);
    arena_cleanup(&a);
}

struct inserter_arg {
    struct store *s;
    int64_t uid;
    int stop;
    int added; /* atomic: the walker waits for it to grow between pages */
};

static void *
inserter_main(void *arg)
{
    struct inserter_arg *ia = arg;
    int added = 0;
    while (!__atomic_load_n(&ia->stop, __ATOMIC_ACQUIRE) && added < 4000) {
        if (contract_task(ia->s, ia->uid, "added meanwhile", STORE_TASK_IN_PROGRESS, added % 4,
                          added % 2 ? "2026-06-01" : NULL) != 0)
            __atomic_store_n(&ia->added, ++added, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* Lets at least one insert land between two pages (bounded wait). */
static void
wait_for_insert(struct inserter_arg *ia, int before)
{
    for (int i = 0; i < 20000 && __atomic_load_n(&ia->added, __ATOMIC_ACQUIRE) <= before; i++) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

/* Pages through every sort while another thread inserts: every row that
 * existed before is seen exactly once, and no row twice. */
static void
pages_while_inserting(struct store *s)
{
    enum { EXISTING = 300, PAGE = 9 };
    int64_t uid = contract_user(s, "pagewalk");
    int64_t ids[EXISTING];
    for (int i = 0; i < EXISTING; i++)
        ids[i] = contract_task(s, uid, "existing", (enum store_task_status)(i % 3), i % 4,
                               i % 5 ? "2026-05-01" : NULL);
    int64_t min_id = ids[0], max_id = ids[EXISTING - 1];
    struct inserter_arg ia = {s, uid, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, inserter_main, &ia);
    struct arena a;
    arena_init(&a);
    for (int sort = 0; sort < STORE_TASK_SORT_COUNT; sort++) {
        int seen[EXISTING];
        memset(seen, 0, sizeof(seen));
        int64_t *all = calloc(EXISTING + 4000, sizeof(*all));
        size_t nall = 0;
        struct store_task_pos pos;
        char due[16];
        bool have_pos = false;
        bool dup = false;
        for (int guard = 0; guard < 1000; guard++) {
            struct store_task *rows;
            size_t n;
            wait_for_insert(&ia, __atomic_load_n(&ia.added, __ATOMIC_ACQUIRE));
            int err = store_task_list(s,
                                      &(struct store_task_query){uid, NULL, (enum store_task_sort)sort,
                                                                 have_pos ? &pos : NULL, PAGE + 1},
                                      &a, &rows, &n);
            CHECK_EQ_INT(err, OK);
            if (err != OK)
                break;
            size_t shown = n > PAGE ? PAGE : n;
            for (size_t i = 0; i < shown; i++) {
                int64_t id = rows[i].id;
                for (size_t j = 0; j < nall; j++)
                    dup = dup || all[j] == id;
                if (nall < EXISTING + 4000)
                    all[nall++] = id;
                if (id >= min_id && id <= max_id)
                    seen[id - min_id]++;
            }
            if (n <= PAGE)
                break;
            store_task_pos_from(&rows[shown - 1], &pos);
            if (pos.due_date != NULL) { /* borrowed from the arena: keep a copy */
                snprintf(due, sizeof(due), "%s", pos.due_date);
                pos.due_date = due;
            }
            have_pos = true;
            arena_cleanup(&a);
        }
        int once = 0;
        for (int i = 0; i < EXISTING; i++)
            once += seen[ids[i] - min_id] == 1;
        if (once != EXISTING || dup)
            fprintf(stderr, "pages while inserting, sort %s: %d of %d seen once%s\n",
                    store_task_sort_name((enum store_task_sort)sort), once, EXISTING,
                    dup ? ", duplicates" : "");
        CHECK_EQ_INT(once, EXISTING);
        CHECK(!dup);
        free(all);
    }
    __atomic_store_n(&ia.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    CHECK(ia.added >= 100); /* rows really were added during the walk */
    arena_cleanup(&a);
}

enum { ROTATORS = 20 };

struct rotate_arg {
    struct store *s;
    const uint8_t *hash;
    pthread_barrier_t *barrier;
    int index;
    int result;
};

static void *
rotate_main(void *arg)
{
    struct rotate_arg *ra = arg;
    char seed[32];
    snprintf(seed, sizeof(seed), "rotated-child-%d", ra->index);
    struct store_refresh child = {.expires_at = clock_wall_ms() + 60000};
    contract_hash(child.hash, seed);
    pthread_barrier_wait(ra->barrier);
    ra->result = store_refresh_rotate(ra->s, ra->hash, clock_wall_ms(), &child, NULL);
    return NULL;
}

static void
concurrent_rotation(struct store *s)
{
    for (int round = 0; round < 3; round++) {
        int64_t uid = contract_user(s, "rotate");
        struct store_session sess = {.user_id = uid, .expires_at = clock_wall_ms() + 60000};
        struct store_refresh tok = {.expires_at = clock_wall_ms() + 60000};
        char seed[32];
        snprintf(seed, sizeof(seed), "raced-token-%d", round);
        contract_hash(tok.hash, seed);
        CHECK_EQ_INT(store_session_create(s, &sess, &tok), OK);
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, ROTATORS);
        struct rotate_arg args[ROTATORS];
        pthread_t t[ROTATORS];
        for (int i = 0; i < ROTATORS; i++) {
            args[i] = (struct rotate_arg){s, tok.hash, &barrier, round * 100 + i, -100};
            pthread_create(&t[i], NULL, rotate_main, &args[i]);
        }
        int ok = 0, reused = 0;
        for (int i = 0; i < ROTATORS; i++) {
            pthread_join(t[i], NULL);
            ok += args[i].result == OK;
            reused += args[i].result == ERR_CONFLICT;
        }
        pthread_barrier_destroy(&barrier);
        CHECK_EQ_INT(ok, 1);
        CHECK_EQ_INT(reused, ROTATORS - 1);
    }
}

enum { CLAIMERS = 8, JOBS = 240 };

struct claim_arg {
    struct store *s;
    const char *owner;
    int64_t claimed[JOBS];
    int n;
};

static void *
claim_main(void *arg)
{
    struct claim_arg *ca = arg;
    struct arena a;
    arena_init(&a);
    for (int idle = 0; idle < 3;) {
        struct store_job *rows;
        size_t n;
        if (store_job_claim(ca->s, ca->owner, 600000, 3, &a, &rows, &n) != OK || n == 0) {
            idle++;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp(rows[i].kind, "test.race") != 0)
                continue;
            if (ca->n < JOBS)
                ca->claimed[ca->n++] = rows[i].id;
            store_job_complete(ca->s, rows[i].id, ca->owner);
        }
        arena_cleanup(&a);
    }
    arena_cleanup(&a);
    return NULL;
}

static void
concurrent_claims(struct store *s)
{
    int64_t ids[JOBS];
    for (int i = 0; i < JOBS; i++) {
        struct store_job j = {.kind = "test.race"};
        CHECK_EQ_INT(store_job_enqueue(s, &j), OK);
        ids[i] = j.id;
    }
    static struct claim_arg args[CLAIMERS];
    static const char *const owners[CLAIMERS] = {"w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"};
    pthread_t t[CLAIMERS];
    for (int i = 0; i < CLAIMERS; i++) {
        args[i] = (struct claim_arg){.s = s, .owner = owners[i]};
        pthread_create(&t[i], NULL, claim_main, &args[i]);
    }
    int total = 0, busy = 0;
    for (int i = 0; i < CLAIMERS; i++) {
        pthread_join(t[i], NULL);
        total += args[i].n;
        busy += args[i].n > 0;
    }
    CHECK_EQ_INT(total, JOBS);
    int once = 0;
    for (int j = 0; j < JOBS; j++) {
        int times = 0;
        for (int i = 0; i < CLAIMERS; i++)
            for (int k = 0; k < args[i].n; k++)
                times += args[i].claimed[k] == ids[j];
        once += times == 1;
    }
    CHECK_EQ_INT(once, JOBS);
    CHECK(busy >= 2);
}

struct idem_arg {
    struct store *s;
    int64_t uid;
    pthread_barrier_t *barrier;
    int result;
};

static void *
idem_main(void *arg)
{
    struct idem_arg *ia = arg;
    uint8_t h[STORE_HASH_LEN];
    struct arena a;
    struct store_idem e;
    contract_hash(h, "same body");
    arena_init(&a);
    pthread_barrier_wait(ia->barrier);
    ia->result = store_idem_reserve(ia->s, ia->uid, "raced-key", h, clock_wall_ms() + 60000, &a, &e);
    arena_cleanup(&a);
    return NULL;
}

static void
concurrent_idempotency(struct store *s)
{
    enum { N = 10 };
    int64_t uid = contract_user(s, "idemrace");
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, N);
    struct idem_arg args[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        args[i] = (struct idem_arg){s, uid, &barrier, -100};
        pthread_create(&t[i], NULL, idem_main, &args[i]);
    }
    int ok = 0, conflict = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ok += args[i].result == OK;
        conflict += args[i].result == ERR_CONFLICT;
    }
    pthread_barrier_destroy(&barrier);
    CHECK_EQ_INT(ok, 1);
    CHECK_EQ_INT(conflict, N - 1);
}

void
contract_concurrency(struct store *s)
{
    two_writers(s);
    pages_while_inserting(s);
    concurrent_rotation(s);
    concurrent_claims(s);
    concurrent_idempotency(s);
    contract_tally();
}
