/* Entry point of the store contract suite: store_contract URL TMPDIR opens
 * the store at URL, migrates it, runs every group and prints
 * "N passed, N failed". Also the child of the durability test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "util/log.h"
#include "util/clock.h"

int contract_passed, contract_failed;
const char *contract_url;
const char *contract_tmp;
const char *contract_self;

int
contract_open(const char *url, struct store **out)
{
    /* PACE_TEST_DB_PREPARED_STATEMENTS=off (scripts/pgbouncer.sh run): the
     * PostgreSQL backend sends every statement unnamed, as it must through
     * a transaction-mode pooler. */
    struct store_opts o;
    store_opts_init(&o);
    const char *ps = getenv("PACE_TEST_DB_PREPARED_STATEMENTS");
    o.unnamed_statements = ps != NULL && strcmp(ps, "off") == 0;
    return store_open_opts(url, &o, out);
}

int64_t
contract_user(struct store *s, const char *prefix)
{
    static int counter;
    char name[64], email[96];
    int n = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
    snprintf(name, sizeof(name), "%s_%d_%ld", prefix, n, (long)(clock_wall_ms() % 100000000));
    snprintf(email, sizeof(email), "%s@example.com", name);
    struct store_user u = {.username = name, .email = email, .password_hash = "$argon2id$v=19$x"};
    if (store_user_create(s, &u, NULL) != OK)
        return 0;
    return u.id;
}

int64_t
contract_task(struct store *s, int64_t user_id, const char *title, enum store_task_status st, int priority,
              const char *due_date)
{
    struct store_task t = {
        .user_id = user_id, .title = title, .status = st, .priority = priority, .due_date = due_date};
    if (store_task_create(s, &t) != OK)
        return 0;
    return t.id;
}

void
contract_hash(uint8_t out[STORE_HASH_LEN], const char *seed)
{
    size_t n = strlen(seed);
    for (size_t i = 0; i < STORE_HASH_LEN; i++)
        out[i] = (uint8_t)(n > 0 ? seed[i % n] + i * 7 : i);
    /* make distinct seeds of one prefix differ everywhere */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)seed[i]) * 16777619u;
    memcpy(out, &h, sizeof(h));
}

int
main(int argc, char **argv)
{
    log_init(LOG_WARN, LOG_TEXT);
    contract_self = argv[0];
    if (argc == 5 && strcmp(argv[1], "--durability-child") == 0)
        return contract_durability_child(argv[2], strtoll(argv[3], NULL, 10), (int)strtol(argv[4], NULL, 10));
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATABASE_URL TMPDIR\n", argv[0]);
        return 2;
    }
    contract_url = argv[1];
    contract_tmp = argv[2];
    struct store *s;
    int err = contract_open(contract_url, &s);
    if (err != OK) {
        fprintf(stderr, "cannot open %s: %s\n", contract_url, err_name(err));
        return 1;
    }
    int applied = -1;
    err = store_migrate(s, &applied);
    if (err != OK) {
        fprintf(stderr, "cannot migrate: %s\n", err_name(err));
        return 1;
    }
    fprintf(stderr, "store %s: %d migrations applied\n", store_backend(s), applied);

    contract_ops(s);
    contract_users(s);
    contract_sessions(s);
    contract_tasks(s);
    contract_async(s);
    contract_plans(s);
    contract_jobs(s);
    contract_idem(s);
    contract_tokens(s);
    contract_concurrency(s);
    contract_query_plans(s);
    contract_durability(s);
    store_close(s);

    check_passed = contract_passed;
    check_failed = contract_failed;
    return check_done();
}
