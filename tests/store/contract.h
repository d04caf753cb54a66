/* The store contract suite: written against store.h only, run unchanged
 * against every backend by run.sh. Each file holds one group of checks; the
 * counts of all groups are summed by main.c. */
#ifndef PACE_TEST_STORE_CONTRACT_H
#define PACE_TEST_STORE_CONTRACT_H

#include <stdint.h>

#include "check.h"
#include "store/store.h"
#include "util/err.h"

extern int contract_passed, contract_failed;
extern const char *contract_url; /* the database under test */
extern const char *contract_tmp; /* a scratch directory */
/* store_open_opts with the suite's options (see main.c). */
int contract_open(const char *url, struct store **out);
extern const char *contract_self; /* this binary, for child processes */

/* Adds this file's counts to the totals; each group ends with it. */
static inline void
contract_tally(void)
{
    contract_passed += check_passed;
    contract_failed += check_failed;
    check_passed = check_failed = 0;
}

/* A user with a fresh unique name; returns its id (0 on failure). */
int64_t contract_user(struct store *s, const char *prefix);
/* A task of user_id with the given fields; returns its id (0 on failure). */
int64_t contract_task(struct store *s, int64_t user_id, const char *title, enum store_task_status st,
                      int priority, const char *due_date);
/* A SHA-256-sized hash made of the bytes of seed. */
void contract_hash(uint8_t out[STORE_HASH_LEN], const char *seed);

void contract_ops(struct store *s);
void contract_users(struct store *s);
void contract_sessions(struct store *s);
void contract_tasks(struct store *s);
void contract_async(struct store *s);
void contract_plans(struct store *s);
void contract_jobs(struct store *s);
void contract_idem(struct store *s);
void contract_tokens(struct store *s);
void contract_concurrency(struct store *s);
void contract_query_plans(struct store *s);
void contract_durability(struct store *s);
/* The child process of the durability test. */
int contract_durability_child(const char *url, int64_t user_id, int fd);

#endif
