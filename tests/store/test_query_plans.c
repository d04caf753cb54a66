/* Every statement the backend prepares, with its plan: none may read a
 * whole table that grows with the number of users. SQLite reports such a
 * read as "SCAN t" (without USING ... INDEX), PostgreSQL as "Seq Scan". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "util/arena.h"

/* Tables that do not grow with users may be scanned. */
static bool
small_table(const char *name, size_t len)
{
    static const char *const ok[] = {"sqlite_schema", "sqlite_master", "schema_migrations"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strlen(ok[i]) == len && strncmp(ok[i], name, len) == 0)
            return true;
    return false;
}

/* True when one line of a plan is a full scan of a growing table. */
static bool
full_scan(const char *line, size_t len)
{
    const char *p = line;
    const char *end = line + len;
    while (p < end && *p == ' ')
        p++;
    if ((size_t)(end - p) > 4 && strncmp(p, "SCAN ", 5) == 0) {
        const char *name = p + 5;
        const char *name_end = name;
        while (name_end < end && *name_end != ' ')
            name_end++;
        if (small_table(name, (size_t)(name_end - name)))
            return false;
        return memmem(p, (size_t)(end - p), " USING ", 7) == NULL ||
               memmem(p, (size_t)(end - p), "INDEX", 5) == NULL;
    }
    if (memmem(line, len, "Seq Scan on ", 12) != NULL) {
        const char *name = (const char *)memmem(line, len, "Seq Scan on ", 12) + 12;
        const char *name_end = name;
        while (name_end < end && *name_end != ' ')
            name_end++;
        return !small_table(name, (size_t)(name_end - name));
    }
    return false;
}

void
contract_query_plans(struct store *s)
{
    struct arena a;
    arena_init(&a);
    struct store_query_plan *plans;
    size_t n;
    CHECK_EQ_INT(store_query_plans(s, &a, &plans, &n), OK);
    CHECK(n >= 80);
    int bad = 0;
    bool saw_list = false;
    for (size_t i = 0; i < n; i++) {
        const char *p = plans[i].plan;
        saw_list = saw_list || strstr(plans[i].name, "task_list") != NULL;
        while (p != NULL && *p != '\0') {
            const char *nl = strchr(p, '\n');
            size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
            if (full_scan(p, len)) {
                fprintf(stderr, "full scan in %s: %.*s\n  %s\n", plans[i].name, (int)len, p, plans[i].sql);
                bad++;
                break;
            }
            p = nl != NULL ? nl + 1 : NULL;
        }
        if (getenv("STORE_PLANS_VERBOSE") != NULL)
            fprintf(stderr, "%s:\n  %s\n", plans[i].name, plans[i].plan);
    }
    CHECK(saw_list);
    CHECK_EQ_INT(bad, 0);
    arena_cleanup(&a);
    contract_tally();
}
