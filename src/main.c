/* pace: arguments, subcommands and start-up; nothing else. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "api/api.h"
#include "auth/auth.h"
#include "cache/cache.h"
#include "config/config.h"
#include "http/http.h"
#include "jobs/jobs.h"
#include "mail/mail.h"
#include "plan/plan.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"

#ifndef PACE_VERSION
#define PACE_VERSION "0.0.0"
#endif
#ifndef PACE_COMMIT
#define PACE_COMMIT "unknown"
#endif

static void
usage(FILE *out)
{
    fprintf(out,
            "pace %s: a backend for fitness and tasks apps\n\n"
            "Usage:\n"
            "  pace serve [--setting value ...]   run the API (and PACE_JOB_WORKERS job workers)\n"
            "  pace worker [--setting value ...]  run job workers only, with /health, /ready and\n"
            "                                     /metrics on PACE_LISTEN\n"
            "  pace migrate [--setting value ...] apply pending database migrations\n"
            "  pace backup FILE [--setting ...]   write a consistent copy of the live database\n"
            "  pace user import FILE [--setting ...]\n"
            "                                     add users from JSON lines {username,email,password_hash}\n"
            "                                     (bcrypt $2b$ or argon2id hashes; FILE - is stdin)\n"
            "  pace version                       print the version\n"
            "  pace --help                        this text\n\n",
            PACE_VERSION);
    config_help(out);
}

static bool
wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* Read-your-writes markers in Redis for the store (store_ryw_shared). */
static void
ryw_note(void *arg, int64_t user_id, int window_ms)
{
    cache_ryw_note(arg, user_id, window_ms);
}

static int
ryw_recent(void *arg, int64_t user_id)
{
    return cache_ryw_recent(arg, user_id);
}

/* The database settings of c as store options (borrows c's strings). */
static void
store_opts_from(const struct config *c, struct store_opts *o)
{
    store_opts_init(o);
    o->pool_size = c->db_pool_size;
    o->connect_timeout_ms = c->db_connect_timeout;
    o->statement_timeout_ms = c->db_statement_timeout;
    o->replica_urls = c->database_replica_urls;
    o->read_your_writes_ms = c->read_your_writes_seconds * 1000;
    o->unnamed_statements = !c->db_prepared_statements;
}

/* Opens the store and brings its schema to this build's version, or says
 * why it cannot; serve: also keeps PACE_DB_POOL_MIN connections open.
 * Returns NULL after logging. */
static struct store *
open_store(const struct config *c, bool migrate, bool serve, const struct store_ryw_shared *ryw)
{
    struct store *st = NULL;
    struct store_opts so;
    store_opts_from(c, &so);
    so.ryw_shared = ryw;
    if (serve)
        so.pool_min = c->db_pool_min;
    int err = store_open_opts(c->database_url, &so, &st);
    if (err != OK) {
        log_error("main", "cannot open the database (%s)", err_name(err));
        return NULL;
    }
    struct store_schema sch;
    err = store_schema_status(st, &sch);
    if (err != OK) {
        log_error("main", "cannot read the schema version (%s)", err_name(err));
        goto fail;
    }
    if (sch.state == STORE_SCHEMA_NEWER) {
        log_error(
            "main",
            "the database was migrated by a newer pace (schema %d, this build knows %d); refusing to start",
            sch.db_version, sch.code_version);
        goto fail;
    }
    if (sch.state == STORE_SCHEMA_PENDING) {
        if (!migrate) {
            log_error("main",
                      "the database schema is at %d, this build needs %d: run `pace migrate` or set "
                      "PACE_AUTO_MIGRATE=on",
                      sch.db_version, sch.code_version);
            goto fail;
        }
        int applied = 0;
        err = store_migrate(st, &applied);
        if (err != OK) {
            log_error("main", "migration failed (%s)", err_name(err));
            goto fail;
        }
        log_info("main", "applied %d migrations (schema now %d)", applied, sch.code_version);
    }
    return st;
fail:
    store_close(st);
    return NULL;
}

static int
ensure_data_dir(const struct config *c)
{
    if (mkdir(c->data_dir, 0700) != 0 && errno != EEXIST) {
        log_error("main", "cannot create data directory %s: %s", c->data_dir, strerror(errno));
        return ERR_UNAVAILABLE;
    }
    return OK;
}

/* The Redis layer from the settings (disabled without PACE_REDIS_URL or
 * Sentinels); NULL after logging. Its keys are hashed with a seed derived
 * from PACE_REDIS_KEY_SECRET, else from PACE_JWT_SECRET, which every
 * instance shares (rotating access-token keys with PACE_JWT_KEYS leaves it
 * alone; the watcher warns when instances disagree). */
static struct cache *
open_cache(const struct config *c)
{
    const char *secret = c->redis_key_secret != NULL ? c->redis_key_secret : c->jwt_secret;
    uint8_t seed[32];
    static const uint8_t context[] = "pace redis key seed v1";
    crypto_generichash(seed, sizeof(seed), context, sizeof(context) - 1, (const uint8_t *)secret,
                       secret != NULL ? (strlen(secret) > crypto_generichash_KEYBYTES_MAX
                                             ? crypto_generichash_KEYBYTES_MAX
                                             : strlen(secret))
                                      : 0);
    struct cache_opts o = {
        .url = c->redis_url,
        .sentinels = c->redis_sentinels,
        .master = c->redis_master,
        .timeout_ms = c->redis_timeout_ms,
        .max_staleness_ms = c->revocation_max_staleness_ms,
        .cache_bytes = (size_t)c->cache_mb * 1024 * 1024,
        .key_seed = seed,
    };
    const char *why = NULL;
    struct cache *cc = cache_new(&o, &why);
    sodium_memzero(seed, sizeof(seed));
    if (cc == NULL)
        log_error("main", "invalid Redis settings: %s", why);
    return cc;
}

/* The accounts layer from the settings; NULL after logging. */
static struct auth *
open_auth(const struct config *c, struct store *st, struct cache *cache)
{
    if (c->access_token_ttl < 60)
        log_warn("auth",
                 "PACE_ACCESS_TOKEN_TTL=%d: access tokens this short are for tests; clients will "
                 "refresh every few seconds",
                 c->access_token_ttl);
    struct auth_opts o = {
        .jwt =
            {
                .keys = c->jwt_keys,
                .secret = c->jwt_secret,
                .issuer = c->jwt_issuer,
                .audience = c->jwt_audience,
                .ttl = c->access_token_ttl,
                .leeway = c->jwt_leeway,
            },
        .password = {.iterations = (unsigned long long)c->argon2_iterations,
                     .memory_kib = (size_t)c->argon2_memory_kib,
                     .idle_priority = c->hash_priority == 0},
        .limits =
            {
                .enabled = c->rate_limits,
                .per_ip = {[AUTH_RL_REGISTER] = c->rate_limit_register,
                           [AUTH_RL_LOGIN] = c->rate_limit_login,
                           [AUTH_RL_REFRESH] = c->rate_limit_refresh,
                           [AUTH_RL_MAIL] = c->rate_limit_mail_ip},
                .per_account = {[AUTH_RL_REGISTER] = 5,
                                [AUTH_RL_LOGIN] = c->rate_limit_login_account,
                                [AUTH_RL_REFRESH] = c->rate_limit_refresh_account,
                                [AUTH_RL_WRITE] = c->rate_limit_writes,
                                [AUTH_RL_MAIL] = c->rate_limit_mail},
                .login_failures = c->rate_limit_login_failures,
                .cache = cache,
            },
        .trusted_proxies = c->trusted_proxies,
        .refresh_ttl = c->refresh_token_ttl,
        .refresh_grace = c->refresh_grace_seconds,
        .session_max = c->session_max_seconds,
        .common_passwords = c->common_passwords_files,
    };
    return auth_new(&o, st);
}

/* Outgoing mail from the settings; NULL after logging. Payloads are sealed
 * with the server secret (the one api_deps.secret carries). */
static struct mail *
open_mail(const struct config *c, struct store *st)
{
    struct mail_opts o = {
        .smtp_url = c->smtp_url,
        .smtp_user = c->smtp_user,
        .smtp_password = c->smtp_password,
        .from = c->mail_from,
        .public_url = c->public_url,
        .timeout_ms = c->smtp_timeout * 1000,
        .secret = c->jwt_secret,
    };
    struct mail *m = NULL;
    const char *why = "invalid settings";
    if (mail_new(&o, st, &m, &why) != OK) {
        log_error("main", "invalid mail settings: %s", why);
        return NULL;
    }
    return m;
}

/* The job system with the plan generator (and its LLM provider, when one
 * is configured), the mail sender and the account jobs registered; NULL
 * after logging. */
static struct jobs *
open_jobs(const struct config *c, struct store *st, struct mail *mail, struct plan_llm **llm)
{
    struct jobs_opts o;
    jobs_opts_default(&o);
    o.workers = c->job_workers;
    o.max_attempts = c->job_max_attempts;
    o.lease_ms = c->job_lease_seconds * 1000;
    o.purge_interval_ms = (int64_t)c->job_purge_seconds * 1000;
    o.retention_ms = (int64_t)c->job_retention_seconds * 1000;
    o.max_queued_per_user = c->max_queued_jobs_per_user;
    /* A revoked session must outlive the access tokens it issued. */
    o.token_keep_ms = ((int64_t)c->access_token_ttl + c->jwt_leeway) * 1000 + 60 * 1000;
    struct plan_llm_opts lo = {
        .url = c->llm_url,
        .model = c->llm_model,
        .api_key = c->llm_api_key,
        .timeout_ms = c->llm_timeout_ms,
        .circuit_failures = c->llm_circuit_failures,
        .circuit_cooldown_ms = (long)c->llm_circuit_cooldown * 1000,
    };
    *llm = plan_llm_new(&lo);
    struct jobs *j = jobs_new(st, &o);
    if (j != NULL && (plan_job_register(j, st, *llm) != OK || mail_register(mail, j) != OK ||
                      api_account_register_jobs(j) != OK)) {
        jobs_free(j);
        j = NULL;
    }
    return j;
}

/* What the loops' on_round and on_loop_end hooks work on. */
struct loop_deps {
    struct store *store;
    struct cache *cache;
};

/* After each round of an event loop (store_reads_round_end): on SQLite its
 * reads of the next round start from a fresh snapshot; on PostgreSQL the
 * reads it sent this round go out. */
static void
on_loop_round(void *arg)
{
    store_reads_round_end(((struct loop_deps *)arg)->store);
}

static void
on_loop_end(void *arg)
{
    struct loop_deps *d = arg;
    store_loop_end(d->store);
    cache_loop_end(d->cache);
}

/* The cmd_* functions return the process's exit status (0 or 1). */

/* `pace serve` (the API and PACE_JOB_WORKERS job workers) and `pace
 * worker` (job workers only; its HTTP server answers /health, /ready and
 * /metrics): one start-up and one drain for both roles. */
static int
cmd_run(struct config *c, bool worker)
{
    if (worker && c->job_workers < 1) {
        log_error("main", "pace worker runs job workers: PACE_JOB_WORKERS must be at least 1");
        return 1;
    }
    if (ensure_data_dir(c) != OK || config_secret_load(c) != OK)
        return 1;
    struct cache *cache = open_cache(c);
    if (cache == NULL)
        return 1;
    struct store_ryw_shared ryw = {ryw_note, ryw_recent, cache};
    struct store *st = open_store(c, c->auto_migrate, true, cache_enabled(cache) ? &ryw : NULL);
    if (st == NULL) {
        cache_free(cache);
        return 1;
    }
    struct auth *au = open_auth(c, st, cache);
    if (au == NULL) {
        cache_free(cache);
        store_close(st);
        return 1;
    }
    struct loop_deps loops = {st, cache};

    int rc = 1;
    struct http_pool *hash = http_pool_new("hash", c->hash_threads, c->hash_queue);
    struct http_pool *blocking = http_pool_new("blocking", c->blocking_threads, c->blocking_queue);
    http_pool_yield_to_loops(hash);
    struct http_router *rt = http_router_new();
    struct plan_llm *llm = NULL;
    struct mail *mail = open_mail(c, st);
    struct jobs *jobs = mail != NULL ? open_jobs(c, st, mail, &llm) : NULL;
    struct api_deps deps = {
        .store = st,
        .hash_pool = hash,
        .auth = au,
        .dev_endpoints = c->dev_endpoints,
        .version = PACE_VERSION,
        .commit = PACE_COMMIT,
        .secret = c->jwt_secret,
        .jobs = jobs,
        .cache = cache,
        .ops_only = worker,
        .mail = mail,
        .require_verified_email = c->require_verified_email,
        .verify_token_ttl = c->verify_token_ttl,
        .reset_token_ttl = c->reset_token_ttl,
        .mfa_token_ttl = c->mfa_token_ttl,
    };
    if (api_init(&deps, rt) != OK || auth_start(au) != OK || jobs == NULL || jobs_start(jobs) != OK)
        goto out;
    store_set_loop_io(st, http_loop_io()); /* PostgreSQL reads on the loops */
    struct cache_hooks hooks;
    auth_cache_hooks(au, &hooks);
    if (cache_start(cache, http_loop_io(), &hooks) != OK)
        goto out;
    struct store_caps caps;
    store_caps(st, &caps);
    struct http_server_opts o = {
        .host = c->listen_host,
        .port = c->listen_port,
        .threads = c->threads,
        .max_body_bytes = c->max_body_bytes,
        .max_header_bytes = c->max_header_bytes,
        .max_connections = c->max_connections,
        .keepalive_requests = c->keepalive_requests,
        .request_timeout = c->request_timeout,
        .send_timeout = c->send_timeout,
        .shutdown_timeout = c->shutdown_timeout,
        .drain_seconds = c->drain_seconds,
        .access_log = c->access_log,
        .metrics_allow = c->metrics_allow,
        .metrics_listen = c->metrics_listen,
        .web = c->web && !worker,
        .cors_origins = c->cors_origins,
        .reads_block = caps.reads_block,
        .reads_async = caps.reads_async,
        .writes_async = caps.writes_async,
        .pool_wait_ms = c->pool_wait_ms,
        .on_round = on_loop_round,
        .on_round_arg = &loops,
        .on_loop_end = on_loop_end,
        .hash_pool = hash,
        .blocking_pool = blocking,
    };
    struct http_server *srv = http_server_start(&o, rt, api_auth_hook);
    if (srv == NULL)
        goto out;
    if (worker)
        log_info("main", "running %d job workers (no API on this instance)", c->job_workers);
    bool drained = http_server_run_until_signal(srv);
    /* Then the jobs: no more claims; running ones get the same timeout to
     * finish, else they are handed back to the queue. */
    if (!jobs_stop(jobs, (long)c->shutdown_timeout * 1000))
        drained = false;
    if (!drained) {
        /* Requests or jobs still run on their threads: leave them to the process exit. */
        log_info("main", "stopped with requests or jobs in flight");
        log_flush();
        _exit(0);
    }
    http_server_free(srv);
    rc = 0;
    log_info("main", "stopped");
out:
    if (!jobs_stop(jobs, (long)c->shutdown_timeout * 1000)) {
        log_flush();
        _exit(rc);
    }
    jobs_free(jobs);
    mail_free(mail);
    plan_llm_free(llm);
    http_pool_free(hash);
    http_pool_free(blocking);
    http_router_free(rt);
    cache_stop(cache);
    auth_free(au);
    cache_free(cache);
    store_close(st);
    log_flush();
    return rc;
}

static int
cmd_migrate(struct config *c)
{
    if (ensure_data_dir(c) != OK)
        return 1;
    struct store *st = open_store(c, true, false, NULL);
    if (st == NULL)
        return 1;
    store_close(st);
    return 0;
}

static int
cmd_user_import(struct config *c, const char *path)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        log_error("main", "cannot open %s: %s", path, strerror(errno));
        return 1;
    }
    struct store *st = ensure_data_dir(c) == OK ? open_store(c, c->auto_migrate, false, NULL) : NULL;
    size_t imported = 0, skipped = 0;
    int err = st != NULL ? auth_user_import(st, in, stderr, &imported, &skipped) : ERR_UNAVAILABLE;
    store_close(st);
    if (in != stdin)
        fclose(in);
    if (err != OK) {
        log_error("main", "import from %s stopped after %zu users (%s)", path, imported, err_name(err));
        return 1;
    }
    log_info("main", "imported %zu users from %s, skipped %zu", imported, path, skipped);
    return skipped == 0 ? 0 : 1;
}

static int
cmd_backup(struct config *c, const char *path)
{
    struct store *st = NULL;
    struct store_opts so;
    store_opts_from(c, &so);
    int err = store_open_opts(c->database_url, &so, &st);
    if (err == OK)
        err = store_backup(st, path);
    store_close(st);
    if (err != OK) {
        log_error("main", "backup to %s failed (%s)", path, err_name(err));
        return 1;
    }
    log_info("main", "wrote a consistent copy of the database to %s", path);
    return 0;
}

int
main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "pace: libsodium failed to initialise\n");
        return 1;
    }
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (cmd == NULL || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return cmd == NULL ? 2 : 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("pace %s (%s)\n", PACE_VERSION, PACE_COMMIT);
        return 0;
    }
    int first = 2;
    const char *backup_path = NULL, *import_path = NULL;
    if (strcmp(cmd, "user") == 0) {
        if (argc < 4 || strcmp(argv[2], "import") != 0 || strncmp(argv[3], "--", 2) == 0) {
            if (!wants_help(argc - 2, argv + 2)) {
                fprintf(stderr, "pace: usage: pace user import FILE [--setting value ...]\n");
                return 2;
            }
        } else {
            import_path = argv[3];
            first = 4;
        }
    } else if (strcmp(cmd, "backup") == 0) {
        if (argc < 3 || strncmp(argv[2], "--", 2) == 0) {
            if (!wants_help(argc - 2, argv + 2)) {
                fprintf(stderr, "pace: backup needs a FILE (pace backup FILE)\n");
                return 2;
            }
        } else {
            backup_path = argv[2];
            first = 3;
        }
    } else if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "worker") != 0 && strcmp(cmd, "migrate") != 0) {
        fprintf(stderr, "pace: unknown command \"%s\" (see pace --help)\n", cmd);
        return 2;
    }
    if (wants_help(argc - first, argv + first)) {
        usage(stdout);
        return 0;
    }

    struct config c;
    if (config_load(&c, argc - first, argv + first, stderr) != OK) {
        config_cleanup(&c);
        return 1;
    }
    log_init(c.log_level, c.log_format);
    int rc;
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "worker") == 0)
        rc = cmd_run(&c, strcmp(cmd, "worker") == 0);
    else if (strcmp(cmd, "migrate") == 0)
        rc = cmd_migrate(&c);
    else if (strcmp(cmd, "user") == 0)
        rc = cmd_user_import(&c, import_path);
    else
        rc = cmd_backup(&c, backup_path);
    config_cleanup(&c);
    return rc;
}
