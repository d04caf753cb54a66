/* Schema state and migrations, once for every backend: which migrations
 * the binary carries, whether the database is current, behind (pending)
 * or ahead (newer, migrated by a later pace), and the loop that applies
 * the pending ones. A backend only reads its version and applies one
 * migration in a transaction of its own. */
#include <stdbool.h>

#include "store/backend.h"
#include "util/err.h"
#include "util/log.h"

enum { MIGRATIONS_MAX = 256 };

int
store_schema_status(struct store *s, struct store_schema *out)
{
    struct store_migration known[MIGRATIONS_MAX];
    size_t n = store_migrations_known(s->ops->migrations_dir, known, MIGRATIONS_MAX);
    out->code_version = n > 0 ? known[n - 1].version : 0;
    int err = s->ops->schema_version(s, &out->db_version);
    if (err != OK)
        return err;
    if (out->db_version > out->code_version)
        out->state = STORE_SCHEMA_NEWER;
    else if (out->db_version < out->code_version)
        out->state = STORE_SCHEMA_PENDING;
    else
        out->state = STORE_SCHEMA_CURRENT;
    return OK;
}

static int
newer(struct store *s)
{
    struct store_schema sch;
    store_schema_status(s, &sch);
    log_error("store",
              "database schema is at version %d, newer than this build's %d: it was migrated by a newer "
              "pace; run that version or restore a backup",
              sch.db_version, sch.code_version);
    return ERR_PRECONDITION;
}

int
store_migrate(struct store *s, int *applied)
{
    int dummy;
    if (applied == NULL)
        applied = &dummy;
    *applied = 0;
    struct store_migration known[MIGRATIONS_MAX];
    size_t n = store_migrations_known(s->ops->migrations_dir, known, MIGRATIONS_MAX);
    struct store_schema sch;
    int err = store_schema_status(s, &sch);
    if (err != OK)
        return err;
    if (sch.state == STORE_SCHEMA_NEWER)
        return newer(s);
    for (size_t i = 0; i < n; i++) {
        if (known[i].version <= sch.db_version)
            continue;
        bool done = false;
        err = s->ops->migrate_one(s, &known[i], sch.code_version, &done);
        if (err == ERR_PRECONDITION)
            return newer(s);
        if (err != OK)
            return err;
        if (done) {
            (*applied)++;
            log_info("store", "applied migration %s", known[i].name);
        }
    }
    return OK;
}
