/* Opening, URLs, schema status, migrations, ping and backup. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "contract.h"
#include "util/arena.h"

/* SQLite only: stamps a database as migrated by a future version. The one
 * place outside src/store with SQL, because no store call may do this. */
static int
stamp_future_version(const char *path)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    int rc = sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)", NULL, NULL,
                          NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static void
urls(void)
{
    struct store *s = NULL;
    CHECK_EQ_INT(store_open("", &s), ERR_INVALID);
    CHECK_EQ_INT(store_open("mysql://x", &s), ERR_INVALID);
    /* PostgreSQL URLs that libpq cannot parse (well-formed ones connect). */
    CHECK_EQ_INT(store_open("postgresql://localhost/pace?no_such_option=1", &s), ERR_INVALID);
    CHECK_EQ_INT(store_open("postgres://[::1/pace", &s), ERR_INVALID);
    CHECK_EQ_INT(store_open("sqlite:", &s), ERR_INVALID);
    CHECK_EQ_INT(store_open("sqlite::memory:", &s), ERR_INVALID);
    CHECK(s == NULL);

    char url[600];
    snprintf(url, sizeof(url), "sqlite:%s/no/such/dir/x.db", contract_tmp);
    CHECK_EQ_INT(store_open(url, &s), ERR_UNAVAILABLE);

    /* A file that is not a database. */
    char path[512];
    snprintf(path, sizeof(path), "%s/garbage.db", contract_tmp);
    FILE *f = fopen(path, "w");
    for (int i = 0; f != NULL && i < 512; i++)
        fputs("this is not a database file at all ", f);
    if (f != NULL)
        fclose(f);
    snprintf(url, sizeof(url), "sqlite://%s", path);
    int err = store_open(url, &s);
    CHECK(err == ERR_CORRUPT || err == ERR_UNAVAILABLE);

    /* Both URL forms open the same kind of file. */
    snprintf(url, sizeof(url), "sqlite://%s/fresh.db", contract_tmp);
    CHECK_EQ_INT(store_open(url, &s), OK);
    if (s == NULL)
        return;
    struct store_schema sch;
    CHECK_EQ_INT(store_schema_status(s, &sch), OK);
    CHECK_EQ_INT(sch.state, STORE_SCHEMA_PENDING);
    CHECK_EQ_INT(sch.db_version, 0);
    CHECK(sch.code_version >= 1);
    int applied = 0;
    CHECK_EQ_INT(store_migrate(s, &applied), OK);
    CHECK_EQ_INT(applied, sch.code_version);
    CHECK_EQ_INT(store_migrate(s, &applied), OK);
    CHECK_EQ_INT(applied, 0);
    CHECK_EQ_INT(store_schema_status(s, &sch), OK);
    CHECK_EQ_INT(sch.state, STORE_SCHEMA_CURRENT);
    store_close(s);

    /* A database from a newer pace is refused, with a distinct error. */
    snprintf(path, sizeof(path), "%s/fresh.db", contract_tmp);
    CHECK_EQ_INT(stamp_future_version(path), 0);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    CHECK_EQ_INT(store_open(url, &s), OK);
    if (s == NULL)
        return;
    CHECK_EQ_INT(store_schema_status(s, &sch), OK);
    CHECK_EQ_INT(sch.state, STORE_SCHEMA_NEWER);
    CHECK_EQ_INT(sch.db_version, 9999);
    CHECK_EQ_INT(store_migrate(s, &applied), ERR_PRECONDITION);
    store_close(s);
}

static void
ping_and_backup(struct store *s)
{
    CHECK_EQ_INT(store_ping(s, 2000), OK);
    struct store_schema sch;
    CHECK_EQ_INT(store_schema_status(s, &sch), OK);
    CHECK_EQ_INT(sch.state, STORE_SCHEMA_CURRENT);

    int64_t uid = contract_user(s, "backup");
    int64_t tid = contract_task(s, uid, "in the backup", STORE_TASK_TODO, 1, NULL);
    CHECK(uid != 0 && tid != 0);
    char path[512], url[600];
    snprintf(path, sizeof(path), "%s/backup.db", contract_tmp);
    int err = store_backup(s, path);
    if (strcmp(store_backend(s), "sqlite") != 0) {
        CHECK_EQ_INT(err, ERR_INVALID); /* PostgreSQL: pg_dump */
        return;
    }
    CHECK_EQ_INT(err, OK);
    /* The copy is a complete database on its own. */
    snprintf(url, sizeof(url), "sqlite:%s", path);
    struct store *b;
    CHECK_EQ_INT(store_open(url, &b), OK);
    if (b == NULL)
        return;
    CHECK_EQ_INT(store_schema_status(b, &sch), OK);
    CHECK_EQ_INT(sch.state, STORE_SCHEMA_CURRENT);
    struct arena a;
    arena_init(&a);
    struct store_task t;
    CHECK_EQ_INT(store_task_get(b, uid, tid, &a, &t), OK);
    CHECK_EQ_STR(t.title, "in the backup");
    arena_cleanup(&a);
    store_close(b);
    /* Backing up over an existing file replaces it. */
    CHECK_EQ_INT(store_backup(s, path), OK);
    CHECK_EQ_INT(access(path, R_OK), 0);
}

void
contract_ops(struct store *s)
{
    if (strncmp(contract_url, "sqlite:", 7) == 0)
        urls();
    ping_and_backup(s);
    contract_tally();
}
