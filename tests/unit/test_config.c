/* Unit tests for config: defaults, flags in both spellings, PACE_* variables,
 * a .env file in a temporary working directory, their precedence, refused
 * values naming the variable, and the generated JWT secret. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config/config.h"
#include "util/err.h"
#include "util/log.h"

static char tmpdir[] = "/tmp/pace-test-config-XXXXXX";

/* Removes every PACE_* variable, so the caller's environment cannot leak in. */
static void
clear_env(void)
{
    char names[64][128];
    size_t n = 0;
    for (char **e = environ; *e != NULL && n < 64; e++) {
        if (strncmp(*e, "PACE_", 5) != 0)
            continue;
        size_t l = strcspn(*e, "=");
        if (l >= sizeof(names[0]))
            continue;
        memcpy(names[n], *e, l);
        names[n][l] = '\0';
        n++;
    }
    for (size_t i = 0; i < n; i++)
        unsetenv(names[i]);
}

static void
write_dotenv(const char *text)
{
    FILE *f = fopen(".env", "w");
    if (f == NULL) {
        perror(".env");
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

/* config_load with its complaints captured; *msg is "" when none (caller frees). */
static int
load(struct config *c, char **msg, int argc, char **argv)
{
    char *m = NULL;
    size_t ml = 0;
    FILE *err = open_memstream(&m, &ml);
    int rc = config_load(c, argc, argv, err);
    fclose(err);
    *msg = m;
    return rc;
}

static bool
contains(const char *hay, const char *needle)
{
    return hay != NULL && strstr(hay, needle) != NULL;
}

static int
ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return (int)(n > 256 ? 256 : n);
}

static void
test_defaults(void)
{
    struct config c;
    char *msg;
    CHECK_EQ_INT(load(&c, &msg, 0, NULL), OK);
    CHECK_EQ_STR(msg, "");
    CHECK_EQ_STR(c.listen, "127.0.0.1:8080");
    CHECK_EQ_STR(c.listen_host, "127.0.0.1");
    CHECK_EQ_INT(c.listen_port, 8080);
    CHECK_EQ_INT(c.threads, ncpu());
    CHECK_EQ_STR(c.data_dir, "./data");
    CHECK_EQ_STR(c.database_url, "sqlite:./data/pace.db");
    CHECK_EQ_INT(c.log_level, LOG_INFO);
    CHECK_EQ_INT(c.log_format, LOG_JSON);
    CHECK(c.access_log);
    CHECK_EQ_INT(c.max_body_bytes, 1048576);
    CHECK_EQ_INT(c.max_connections, 10000);
    CHECK_EQ_INT(c.request_timeout, 10);
    CHECK_EQ_INT(c.shutdown_timeout, 30);
    CHECK(c.jwt_secret == NULL);
    CHECK_EQ_INT(c.hash_threads, ncpu());
    CHECK_EQ_INT(c.hash_queue, 64);
    CHECK_EQ_INT(c.blocking_threads, 64);
    CHECK_EQ_INT(c.blocking_queue, 4096);
    CHECK(c.auto_migrate);
    CHECK(!c.dev_endpoints);
    config_cleanup(&c);
    free(msg);
}

static void
test_flags(void)
{
    struct config c;
    char *msg;
    char *a1[] = {"--threads", "3"};
    CHECK_EQ_INT(load(&c, &msg, 2, a1), OK);
    CHECK_EQ_INT(c.threads, 3);
    config_cleanup(&c);
    free(msg);

    char *a2[] = {"--threads=3"};
    CHECK_EQ_INT(load(&c, &msg, 1, a2), OK);
    CHECK_EQ_INT(c.threads, 3);
    config_cleanup(&c);
    free(msg);

    char *a3[] = {"--data-dir",
                  "/srv/pace",
                  "--log-level=debug",
                  "--log-format",
                  "text",
                  "--access-log=off",
                  "--listen",
                  "[::1]:9090",
                  "--max-body-bytes",
                  "2048",
                  "--dev-endpoints",
                  "true",
                  "--auto-migrate=0",
                  "--hash-queue=1",
                  "--shutdown-timeout",
                  "0"};
    CHECK_EQ_INT(load(&c, &msg, (int)(sizeof(a3) / sizeof(a3[0])), a3), OK);
    CHECK_EQ_STR(msg, "");
    CHECK_EQ_STR(c.data_dir, "/srv/pace");
    CHECK_EQ_STR(c.database_url, "sqlite:/srv/pace/pace.db");
    CHECK_EQ_INT(c.log_level, LOG_DEBUG);
    CHECK_EQ_INT(c.log_format, LOG_TEXT);
    CHECK(!c.access_log);
    CHECK_EQ_STR(c.listen, "[::1]:9090");
    CHECK_EQ_STR(c.listen_host, "::1");
    CHECK_EQ_INT(c.listen_port, 9090);
    CHECK_EQ_INT(c.max_body_bytes, 2048);
    CHECK(c.dev_endpoints);
    CHECK(!c.auto_migrate);
    CHECK_EQ_INT(c.hash_queue, 1);
    CHECK_EQ_INT(c.shutdown_timeout, 0);
    config_cleanup(&c);
    free(msg);

    /* an explicit database URL is kept; the last of a repeated flag wins */
    char *a4[] = {"--database-url=postgresql://u@localhost/pace", "--threads", "2", "--threads=7"};
    CHECK_EQ_INT(load(&c, &msg, 4, a4), OK);
    CHECK_EQ_STR(c.database_url, "postgresql://u@localhost/pace");
    CHECK_EQ_INT(c.threads, 7);
    CHECK_EQ_INT(c.blocking_threads, 16); /* PostgreSQL: one per pooled connection */
    config_cleanup(&c);
    free(msg);

    char *a6[] = {"--database-url=postgres://u@localhost/pace", "--db-pool-size=5",
                  "--database-replica-urls=postgresql://u@r1/pace, postgresql://u@h1,h2/pace,"};
    CHECK_EQ_INT(load(&c, &msg, 3, a6), OK);
    CHECK_EQ_INT(c.blocking_threads, 15); /* the primary and two replicas */
    config_cleanup(&c);
    free(msg);
    char *a7[] = {"--database-url=postgres://u@localhost/pace", "--blocking-threads=3"};
    CHECK_EQ_INT(load(&c, &msg, 2, a7), OK);
    CHECK_EQ_INT(c.blocking_threads, 3);
    config_cleanup(&c);
    free(msg);

    /* range edges */
    char *a5[] = {"--threads=256", "--max-body-bytes=67108864", "--request-timeout=1",
                  "--blocking-threads=1024"};
    CHECK_EQ_INT(load(&c, &msg, 4, a5), OK);
    CHECK_EQ_INT(c.threads, 256);
    CHECK_EQ_INT(c.max_body_bytes, 64L * 1024 * 1024);
    CHECK_EQ_INT(c.request_timeout, 1);
    CHECK_EQ_INT(c.blocking_threads, 1024);
    config_cleanup(&c);
    free(msg);
}

static void
test_environment(void)
{
    struct config c;
    char *msg;
    setenv("PACE_THREADS", "4", 1);
    setenv("PACE_DATA_DIR", "/var/lib/pace", 1);
    setenv("PACE_LOG_FORMAT", "text", 1);
    setenv("PACE_ACCESS_LOG", "false", 1);
    setenv("PACE_LISTEN", "0.0.0.0:80", 1);
    CHECK_EQ_INT(load(&c, &msg, 0, NULL), OK);
    CHECK_EQ_INT(c.threads, 4);
    CHECK_EQ_STR(c.data_dir, "/var/lib/pace");
    CHECK_EQ_STR(c.database_url, "sqlite:/var/lib/pace/pace.db");
    CHECK_EQ_INT(c.log_format, LOG_TEXT);
    CHECK(!c.access_log);
    CHECK_EQ_STR(c.listen_host, "0.0.0.0");
    CHECK_EQ_INT(c.listen_port, 80);
    config_cleanup(&c);
    free(msg);

    /* empty values: a derived database URL, no JWT secret */
    setenv("PACE_DATABASE_URL", "", 1);
    setenv("PACE_JWT_SECRET", "", 1);
    CHECK_EQ_INT(load(&c, &msg, 0, NULL), OK);
    CHECK_EQ_STR(c.database_url, "sqlite:/var/lib/pace/pace.db");
    CHECK(c.jwt_secret == NULL);
    config_cleanup(&c);
    free(msg);

    setenv("PACE_JWT_SECRET", "s3cret-s3cret-s3cret-s3cret-s3cret", 1);
    CHECK_EQ_INT(load(&c, &msg, 0, NULL), OK);
    CHECK_EQ_STR(c.jwt_secret, "s3cret-s3cret-s3cret-s3cret-s3cret");
    config_cleanup(&c);
    free(msg);
    clear_env();
}

static void
test_dotenv(void)
{
    struct config c;
    char *msg;
    write_dotenv("# settings for tests\n"
                 "\n"
                 "PACE_THREADS=5\n"
                 "  export PACE_DATA_DIR=\"/tmp/with space\"\n"
                 "PACE_LOG_LEVEL='warn'\r\n"
                 "not a setting\n"
                 "OTHER_VAR=1\n"
                 "PACE_HASH_QUEUE=10\n"
                 "PACE_HASH_QUEUE=11\n"
                 "PACE_BLOCKING_QUEUE=12");
    CHECK_EQ_INT(load(&c, &msg, 0, NULL), OK);
    CHECK_EQ_STR(msg, "");
    CHECK_EQ_INT(c.threads, 5);
    CHECK_EQ_STR(c.data_dir, "/tmp/with space");
    CHECK_EQ_STR(c.database_url, "sqlite:/tmp/with space/pace.db");
    CHECK_EQ_INT(c.log_level, LOG_WARN);
    CHECK_EQ_INT(c.hash_queue, 11);     /* the last line wins */
    CHECK_EQ_INT(c.blocking_queue, 12); /* no newline at the end */
    config_cleanup(&c);
    free(msg);
    unlink(".env");
}

static void
test_dotenv_long_comment(void)
{
    /* A comment line longer than the reader's line buffer must stay a
     * comment: its tail must not be read as a setting of its own. */
    int sneaky = ncpu() == 9 ? 8 : 9;
    char *text = malloc(5000);
    text[0] = '#';
    memset(text + 1, ' ', 4094);
    /* starts at byte 4095, where a 4096-byte fgets buffer splits the line */
    snprintf(text + 4095, 5000 - 4095, "PACE_THREADS=%d\n", sneaky);
    write_dotenv(text);
    free(text);
    struct config c;
    char *msg;
    CHECK_EQ_INT(load(&c, &msg, 0, NULL), OK);
    CHECK(c.threads != sneaky);
    CHECK_EQ_INT(c.threads, ncpu());
    config_cleanup(&c);
    free(msg);
    unlink(".env");
}

static void
test_precedence(void)
{
    struct config c;
    char *msg;
    char *flag[] = {"--threads", "3"};
    write_dotenv("PACE_THREADS=5\n");
    setenv("PACE_THREADS", "4", 1);

    CHECK_EQ_INT(load(&c, &msg, 2, flag), OK);
    CHECK_EQ_INT(c.threads, 3); /* flag > env > .env */
    config_cleanup(&c);
    free(msg);

    CHECK_EQ_INT(load(&c, &msg, 0, NULL), OK);
    CHECK_EQ_INT(c.threads, 4); /* env > .env */
    config_cleanup(&c);
    free(msg);

    unsetenv("PACE_THREADS");
    CHECK_EQ_INT(load(&c, &msg, 0, NULL), OK);
    CHECK_EQ_INT(c.threads, 5); /* .env > default */
    config_cleanup(&c);
    free(msg);

    unlink(".env");
    CHECK_EQ_INT(load(&c, &msg, 0, NULL), OK);
    CHECK_EQ_INT(c.threads, ncpu()); /* the default */
    config_cleanup(&c);
    free(msg);

    /* a layer is read only when the ones above are absent: a bad .env
     * value under a good flag does not matter */
    write_dotenv("PACE_THREADS=lots\n");
    CHECK_EQ_INT(load(&c, &msg, 2, flag), OK);
    CHECK_EQ_INT(c.threads, 3);
    config_cleanup(&c);
    free(msg);
    unlink(".env");
}

struct bad_case {
    const char *flag; /* "--x=y" or NULL */
    const char *env;  /* "PACE_X=y" or NULL */
    const char *dotenv;
    const char *expect; /* substring of the message */
    const char *source;
};

static void
test_invalid_values(void)
{
    static const struct bad_case cases[] = {
        {"--threads=0", NULL, NULL, "PACE_THREADS", "(flag)"},
        {"--threads=257", NULL, NULL, "PACE_THREADS", "(flag)"},
        {"--threads=abc", NULL, NULL, "PACE_THREADS", "(flag)"},
        {"--threads=", NULL, NULL, "PACE_THREADS", "(flag)"},
        {"--threads=3x", NULL, NULL, "PACE_THREADS", "(flag)"},
        {"--threads=99999999999999999999", NULL, NULL, "PACE_THREADS", "(flag)"},
        {NULL, "PACE_THREADS= 3", NULL, "PACE_THREADS", "(environment)"},
        {NULL, "PACE_THREADS=-1", NULL, "PACE_THREADS", "(environment)"},
        {NULL, NULL, "PACE_THREADS=two\n", "PACE_THREADS", "(.env)"},
        {"--max-body-bytes=0", NULL, NULL, "PACE_MAX_BODY_BYTES", "(flag)"},
        {"--max-body-bytes=67108865", NULL, NULL, "PACE_MAX_BODY_BYTES", "(flag)"},
        {"--log-level=verbose", NULL, NULL, "PACE_LOG_LEVEL", "(flag)"},
        {NULL, "PACE_LOG_FORMAT=JSON", NULL, "PACE_LOG_FORMAT", "(environment)"},
        {"--access-log=yes", NULL, NULL, "PACE_ACCESS_LOG", "(flag)"},
        {NULL, NULL, "PACE_AUTO_MIGRATE=maybe\n", "PACE_AUTO_MIGRATE", "(.env)"},
        {"--listen=nope", NULL, NULL, "PACE_LISTEN", "(flag)"},
        {"--listen=:8080", NULL, NULL, "PACE_LISTEN", "(flag)"},
        {"--listen=host:0", NULL, NULL, "PACE_LISTEN", "(flag)"},
        {"--listen=host:65536", NULL, NULL, "PACE_LISTEN", "(flag)"},
        {"--listen=host:", NULL, NULL, "PACE_LISTEN", "(flag)"},
        {"--listen=[::1:8080", NULL, NULL, "PACE_LISTEN", "(flag)"},
        {NULL, "PACE_LISTEN=[]:80", NULL, "PACE_LISTEN", "(environment)"},
        {"--data-dir=", NULL, NULL, "PACE_DATA_DIR", ""},
        {"--request-timeout=3601", NULL, NULL, "PACE_REQUEST_TIMEOUT", "(flag)"},
        {"--blocking-queue=0", NULL, NULL, "PACE_BLOCKING_QUEUE", "(flag)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *k = &cases[i];
        char flagbuf[128];
        char *argv[1] = {flagbuf};
        int argc = 0;
        if (k->flag != NULL) {
            snprintf(flagbuf, sizeof(flagbuf), "%s", k->flag);
            argc = 1;
        }
        char envname[64];
        if (k->env != NULL) {
            size_t l = strcspn(k->env, "=");
            snprintf(envname, sizeof(envname), "%.*s", (int)l, k->env);
            setenv(envname, k->env + l + 1, 1);
        }
        if (k->dotenv != NULL)
            write_dotenv(k->dotenv);
        struct config c;
        char *msg;
        int rc = load(&c, &msg, argc, argv);
        bool ok = rc == ERR_INVALID && contains(msg, k->expect) && contains(msg, k->source);
        if (!ok)
            fprintf(stderr, "case %zu (%s%s%s): rc %d, message \"%s\"\n", i, k->flag ? k->flag : "",
                    k->env ? k->env : "", k->dotenv ? k->dotenv : "", rc, msg);
        CHECK(ok);
        config_cleanup(&c);
        free(msg);
        if (k->env != NULL)
            unsetenv(envname);
        if (k->dotenv != NULL)
            unlink(".env");
    }
}

static void
test_bad_arguments(void)
{
    struct config c;
    char *msg;
    char *a1[] = {"--no-such-flag=1"};
    CHECK_EQ_INT(load(&c, &msg, 1, a1), ERR_INVALID);
    CHECK(contains(msg, "unknown flag --no-such-flag"));
    config_cleanup(&c);
    free(msg);

    char *a2[] = {"--threads"};
    CHECK_EQ_INT(load(&c, &msg, 1, a2), ERR_INVALID);
    CHECK(contains(msg, "--threads needs a value"));
    config_cleanup(&c);
    free(msg);

    char *a3[] = {"threads=3"};
    CHECK_EQ_INT(load(&c, &msg, 1, a3), ERR_INVALID);
    CHECK(contains(msg, "unexpected argument \"threads=3\""));
    config_cleanup(&c);
    free(msg);

    /* flags use dashes and lower case: the variable's spelling is unknown */
    char *a4[] = {"--THREADS=3"};
    CHECK_EQ_INT(load(&c, &msg, 1, a4), ERR_INVALID);
    CHECK(contains(msg, "unknown flag"));
    config_cleanup(&c);
    free(msg);
    char *a5[] = {"--data_dir=/x"};
    CHECK_EQ_INT(load(&c, &msg, 1, a5), ERR_INVALID);
    CHECK(contains(msg, "unknown flag"));
    config_cleanup(&c);
    free(msg);
    /* a prefix of a flag is not the flag */
    char *a6[] = {"--thread=3"};
    CHECK_EQ_INT(load(&c, &msg, 1, a6), ERR_INVALID);
    CHECK(contains(msg, "unknown flag --thread"));
    config_cleanup(&c);
    free(msg);
}

static void
test_help(void)
{
    char *m = NULL;
    size_t ml = 0;
    FILE *f = open_memstream(&m, &ml);
    config_help(f);
    fclose(f);
    CHECK(contains(m, "--threads"));
    CHECK(contains(m, "PACE_THREADS"));
    CHECK(contains(m, "--database-url"));
    CHECK(contains(m, "PACE_DEV_ENDPOINTS"));
    free(m);
}

static void
test_secret(void)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/data", tmpdir);
    CHECK_EQ_INT(mkdir(dir, 0700), 0);
    char path[700];
    snprintf(path, sizeof(path), "%s/jwt_secret", dir);

    char flag[700];
    snprintf(flag, sizeof(flag), "--data-dir=%s", dir);
    char *argv[] = {flag};
    struct config c;
    char *msg;
    CHECK_EQ_INT(load(&c, &msg, 1, argv), OK);
    free(msg);
    CHECK(c.jwt_secret == NULL);
    mode_t old = umask(0); /* the file's mode must come from the code, not the umask */
    CHECK_EQ_INT(config_secret_load(&c), OK);
    umask(old);
    CHECK(c.jwt_secret != NULL);
    CHECK(c.jwt_secret != NULL && strlen(c.jwt_secret) >= 32);
    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK(S_ISREG(st.st_mode));
    char first[128] = "";
    if (c.jwt_secret != NULL)
        snprintf(first, sizeof(first), "%s", c.jwt_secret);
    /* the file holds exactly the secret */
    FILE *f = fopen(path, "r");
    char content[256] = "";
    size_t n = f != NULL ? fread(content, 1, sizeof(content) - 1, f) : 0;
    content[n] = '\0';
    if (f != NULL)
        fclose(f);
    CHECK_EQ_STR(content, first);
    config_cleanup(&c);

    /* the next start reads the same value back */
    CHECK_EQ_INT(load(&c, &msg, 1, argv), OK);
    free(msg);
    CHECK_EQ_INT(config_secret_load(&c), OK);
    CHECK_EQ_STR(c.jwt_secret, first);
    config_cleanup(&c);

    /* two generated secrets differ */
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(load(&c, &msg, 1, argv), OK);
    free(msg);
    CHECK_EQ_INT(config_secret_load(&c), OK);
    CHECK(c.jwt_secret != NULL && strcmp(c.jwt_secret, first) != 0);
    config_cleanup(&c);

    /* a hand-written file with a trailing newline */
    unlink(path);
    f = fopen(path, "w");
    fputs("0123456789abcdef0123456789abcdef-hand\n", f);
    fclose(f);
    CHECK_EQ_INT(load(&c, &msg, 1, argv), OK);
    free(msg);
    CHECK_EQ_INT(config_secret_load(&c), OK);
    CHECK_EQ_STR(c.jwt_secret, "0123456789abcdef0123456789abcdef-hand");
    config_cleanup(&c);

    /* a file too short to be a secret is refused, not replaced */
    f = fopen(path, "w");
    fputs("short\n", f);
    fclose(f);
    CHECK_EQ_INT(load(&c, &msg, 1, argv), OK);
    free(msg);
    CHECK_EQ_INT(config_secret_load(&c), ERR_CORRUPT);
    CHECK(c.jwt_secret == NULL);
    config_cleanup(&c);
    unlink(path);

    /* PACE_JWT_SECRET wins: no file is written */
    setenv("PACE_JWT_SECRET", "from-the-environment-0123456789abcdef", 1);
    CHECK_EQ_INT(load(&c, &msg, 1, argv), OK);
    free(msg);
    CHECK_EQ_INT(config_secret_load(&c), OK);
    CHECK_EQ_STR(c.jwt_secret, "from-the-environment-0123456789abcdef");
    CHECK(access(path, F_OK) != 0);
    config_cleanup(&c);
    unsetenv("PACE_JWT_SECRET");

    /* a data dir that does not exist: an error, not a crash */
    char *missing[] = {"--data-dir=/nonexistent/pace-test-dir"};
    CHECK_EQ_INT(load(&c, &msg, 1, missing), OK);
    free(msg);
    CHECK_EQ_INT(config_secret_load(&c), ERR_UNAVAILABLE);
    config_cleanup(&c);

    rmdir(dir);
}

int
main(void)
{
    /* config_secret_load logs; keep the test's output to the summary */
    log_init((enum log_level)(LOG_ERROR + 1), LOG_TEXT);
    clear_env();
    if (mkdtemp(tmpdir) == NULL || chdir(tmpdir) != 0) {
        perror("mkdtemp");
        return 2;
    }
    test_defaults();
    test_flags();
    test_environment();
    test_dotenv();
    test_dotenv_long_comment();
    test_precedence();
    test_invalid_values();
    test_bad_arguments();
    test_help();
    test_secret();
    unlink(".env");
    if (chdir("/") == 0)
        rmdir(tmpdir);
    return check_done();
}
