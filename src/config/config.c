/* The one table of settings and the code that fills struct config from it.
 * Precedence: flag > environment > ./.env > default. Every value is parsed
 * and range-checked here, so the rest of the program trusts struct config. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config/config.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/netlist.h"

enum kind { K_STRING, K_INT, K_LONG, K_ENUM, K_BOOL, K_LISTEN };

struct setting {
    const char *name; /* PACE_<name>; the flag is --<name lowercased, '_' -> '-'> */
    enum kind kind;
    const char *def; /* NULL: computed (see help) */
    const char *help;
    size_t offset;
    long min, max;             /* K_INT, K_LONG */
    const char *const *values; /* K_ENUM: NULL-terminated; the index is stored */
};

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"json", "text", NULL};
static const char *const hash_priorities[] = {"idle", "low", NULL};

#define OFF(f) offsetof(struct config, f)

static const struct setting settings[] = {
    {"LISTEN", K_LISTEN, "127.0.0.1:8080", "address and port to listen on (host:port, [v6]:port)",
     OFF(listen), 0, 0, NULL},
    {"THREADS", K_INT, NULL, "event-loop threads (default: number of online CPUs)", OFF(threads), 1, 256,
     NULL},
    {"DATA_DIR", K_STRING, "./data", "directory for the database and generated secrets", OFF(data_dir), 0, 0,
     NULL},
    {"DATABASE_URL", K_STRING, NULL, "sqlite:PATH or postgresql://... (default: sqlite:<data dir>/pace.db)",
     OFF(database_url), 0, 0, NULL},
    {"AUTO_MIGRATE", K_BOOL, "on", "apply pending migrations at start-up (on|off)", OFF(auto_migrate), 0, 0,
     NULL},
    {"DATABASE_REPLICA_URLS", K_STRING, "",
     "PostgreSQL read replicas: postgresql://... URLs separated by commas (default: none)",
     OFF(database_replica_urls), 0, 0, NULL},
    {"DB_POOL_SIZE", K_INT, "16", "PostgreSQL: connections per database server per process",
     OFF(db_pool_size), 1, 1000, NULL},
    {"DB_POOL_MIN", K_INT, NULL,
     "PostgreSQL: connections to the primary that `pace serve` opens at start-up and keeps open "
     "(default: PACE_DB_POOL_SIZE; 0: on demand)",
     OFF(db_pool_min), 0, 1000, NULL},
    {"DB_CONNECT_TIMEOUT", K_INT, "1000", "PostgreSQL: milliseconds a connection attempt may take",
     OFF(db_connect_timeout), 1, 600000, NULL},
    {"DB_STATEMENT_TIMEOUT", K_INT, "1500",
     "PostgreSQL: milliseconds a request's database work may take, waiting for a worker thread and a "
     "connection included (then 503)",
     OFF(db_statement_timeout), 1, 3600000, NULL},
    {"READ_YOUR_WRITES_SECONDS", K_INT, "5",
     "with replicas: seconds a user's reads stay on the primary after they write",
     OFF(read_your_writes_seconds), 0, 3600, NULL},
    {"DB_PREPARED_STATEMENTS", K_BOOL, "on",
     "PostgreSQL: named prepared statements (on|off; off sends every statement unnamed, as "
     "transaction-mode poolers such as PgBouncer need)",
     OFF(db_prepared_statements), 0, 0, NULL},
    {"REDIS_URL", K_STRING, "",
     "Redis shared by the instances: redis://[:password@]host:port[/db] or unix:///path (default: none, "
     "one instance)",
     OFF(redis_url), 0, 0, NULL},
    {"REDIS_SENTINELS", K_STRING, "",
     "Redis Sentinels (host:port, comma-separated) that name the master; with PACE_REDIS_MASTER",
     OFF(redis_sentinels), 0, 0, NULL},
    {"REDIS_MASTER", K_STRING, "", "the master's name in Sentinel", OFF(redis_master), 0, 0, NULL},
    {"REDIS_TIMEOUT_MS", K_INT, "25", "milliseconds a Redis command may take before pace goes on without it",
     OFF(redis_timeout_ms), 1, 10000, NULL},
    {"REVOCATION_MAX_STALENESS_MS", K_INT, "1000",
     "with Redis: access tokens get 503 when revocations are not confirmed up to date within this",
     OFF(revocation_max_staleness_ms), 750, 600000, NULL},
    {"REDIS_KEY_SECRET", K_STRING, NULL,
     "secret the Redis key names are hashed with; the same on every instance (default: derived from "
     "PACE_JWT_SECRET)",
     OFF(redis_key_secret), 0, 0, NULL},
    {"CACHE_MB", K_INT, "64", "with Redis: megabytes of process memory for cached payloads (0: none)",
     OFF(cache_mb), 0, 65536, NULL},
    {"LOG_LEVEL", K_ENUM, "info", "debug|info|warn|error", OFF(log_level), 0, 0, log_levels},
    {"LOG_FORMAT", K_ENUM, "json", "json|text", OFF(log_format), 0, 0, log_formats},
    {"ACCESS_LOG", K_BOOL, "on", "one log line per request (on|off)", OFF(access_log), 0, 0, NULL},
    {"MAX_BODY_BYTES", K_LONG, "1048576", "largest request body accepted (bytes)", OFF(max_body_bytes), 1,
     64L * 1024 * 1024, NULL},
    {"MAX_HEADER_BYTES", K_LONG, "8192", "largest request line plus headers accepted (bytes)",
     OFF(max_header_bytes), 1024, 262144, NULL},
    {"MAX_CONNECTIONS", K_LONG, "10000", "open connections per event loop", OFF(max_connections), 1, 1000000,
     NULL},
    {"KEEPALIVE_REQUESTS", K_LONG, "1000", "requests one keep-alive connection serves before it is closed",
     OFF(keepalive_requests), 1, 100000000, NULL},
    {"REQUEST_TIMEOUT", K_INT, "10", "seconds a client may take to send a request, or stay idle between them",
     OFF(request_timeout), 1, 3600, NULL},
    {"SEND_TIMEOUT", K_INT, "30",
     "seconds a client may read nothing of a response before its connection is closed", OFF(send_timeout), 1,
     3600, NULL},
    {"SHUTDOWN_TIMEOUT", K_INT, "30", "seconds to let requests in flight finish on SIGTERM",
     OFF(shutdown_timeout), 0, 3600, NULL},
    {"DRAIN_SECONDS", K_INT, "0",
     "on SIGTERM: seconds /ready answers 503 while requests are still served, before the listener "
     "closes (behind a load balancer: a few health-check periods)",
     OFF(drain_seconds), 0, 3600, NULL},
    {"JWT_SECRET", K_STRING, NULL,
     "HMAC secret for access tokens (default: generated once into the data dir)", OFF(jwt_secret), 0, 0,
     NULL},
    {"HASH_THREADS", K_INT, NULL, "password-hashing threads (default: number of online CPUs)",
     OFF(hash_threads), 1, 256, NULL},
    {"HASH_PRIORITY", K_ENUM, "idle",
     "CPU priority of hashing threads: idle (only CPU the event loops leave; best isolation) or low "
     "(nice 10: logins keep a share when the loops are saturated)",
     OFF(hash_priority), 0, 0, hash_priorities},
    {"HASH_QUEUE", K_INT, "64", "password hashes that may wait; more get 503", OFF(hash_queue), 1, 100000,
     NULL},
    {"BLOCKING_THREADS", K_INT, NULL,
     "threads for handlers that wait on the database (default: 64 on SQLite; on PostgreSQL one per "
     "pooled connection, PACE_DB_POOL_SIZE x servers)",
     OFF(blocking_threads), 1, 1024, NULL},
    {"BLOCKING_QUEUE", K_INT, "4096", "requests that may wait for a blocking thread; more get 503",
     OFF(blocking_queue), 1, 1000000, NULL},
    {"POOL_WAIT_MS", K_INT, "1000",
     "milliseconds a request waits for room when its pool's queue is full, then 503 (0: answer at once)",
     OFF(pool_wait_ms), 0, 60000, NULL},
    {"DEV_ENDPOINTS", K_BOOL, "off", "test-only endpoints under /_dev (never in production)",
     OFF(dev_endpoints), 0, 0, NULL},
    {"JWT_KEYS", K_STRING, NULL,
     "access-token keys for rotation: kid=secret,kid2=secret2 (the first signs, all verify; "
     "replaces PACE_JWT_SECRET)",
     OFF(jwt_keys), 0, 0, NULL},
    {"JWT_ISSUER", K_STRING, "pace", "iss claim of access tokens (checked on every request)", OFF(jwt_issuer),
     0, 0, NULL},
    {"JWT_AUDIENCE", K_STRING, "pace", "aud claim of access tokens (checked on every request)",
     OFF(jwt_audience), 0, 0, NULL},
    {"ACCESS_TOKEN_TTL", K_INT, "900", "seconds an access token is valid (below 60: tests only, warned)",
     OFF(access_token_ttl), 5, 86400, NULL},
    {"JWT_LEEWAY", K_INT, "30", "seconds of clock skew allowed on exp, nbf and iat", OFF(jwt_leeway), 0, 300,
     NULL},
    {"REFRESH_TOKEN_TTL", K_INT, "2592000", "seconds a refresh token (and an unused session) lives",
     OFF(refresh_token_ttl), 1, 31536000, NULL},
    {"REFRESH_GRACE_SECONDS", K_INT, "0",
     "seconds a just-rotated refresh token may be presented again for a new pair (0: strict)",
     OFF(refresh_grace_seconds), 0, 300, NULL},
    {"SESSION_MAX_SECONDS", K_INT, "7776000",
     "seconds a session lives at most after its login, however often its refresh token rotates",
     OFF(session_max_seconds), 1, 315360000, NULL},
    {"ARGON2_MEMORY_KIB", K_LONG, "19456", "argon2id memory per password hash (KiB)", OFF(argon2_memory_kib),
     8, 1048576, NULL},
    {"ARGON2_ITERATIONS", K_INT, "2", "argon2id passes per password hash", OFF(argon2_iterations), 1, 64,
     NULL},
    {"COMMON_PASSWORDS_FILES", K_STRING,
     "/usr/share/john/password.lst,/usr/lib/python3/dist-packages/zxcvbn/frequency_lists.py",
     "published common-password lists refused as passwords, comma-separated (john-data, python3-zxcvbn; "
     "empty: none)",
     OFF(common_passwords_files), 0, 0, NULL},
    {"RATE_LIMITS", K_BOOL, "on", "rate limits on register, login, token, refresh and writes (on|off)",
     OFF(rate_limits), 0, 0, NULL},
    {"TRUSTED_PROXIES", K_STRING, "",
     "comma list of proxy IPs/CIDRs whose X-Forwarded-For names the client (default: none)",
     OFF(trusted_proxies), 0, 0, NULL},
    {"METRICS_ALLOW", K_STRING, "127.0.0.0/8,::1",
     "comma list of IPs/CIDRs that may read /metrics on the API listener (the TCP peer; others get 404)",
     OFF(metrics_allow), 0, 0, NULL},
    {"METRICS_LISTEN", K_STRING, "",
     "host:port of a second listener serving only /metrics, /health and /ready; when set, the API "
     "listener has no /metrics (default: none)",
     OFF(metrics_listen), 0, 0, NULL},
    {"WEB", K_BOOL, "on", "serve the web client (/app/) and the API reference (/docs) (on|off)", OFF(web), 0,
     0, NULL},
    {"CORS_ORIGINS", K_STRING, "",
     "comma list of exact origins (scheme://host[:port]) allowed to call the API from a browser; "
     "default: none (CORS off)",
     OFF(cors_origins), 0, 0, NULL},
    {"RATE_LIMIT_REGISTER", K_INT, "10", "registrations per minute per client IP", OFF(rate_limit_register),
     1, 1000000, NULL},
    {"RATE_LIMIT_LOGIN", K_INT, "30", "login attempts per minute per client IP", OFF(rate_limit_login), 1,
     1000000, NULL},
    {"RATE_LIMIT_LOGIN_ACCOUNT", K_INT, "20",
     "failed logins per minute per account before the IPs that failed on it must wait",
     OFF(rate_limit_login_account), 1, 1000000, NULL},
    {"RATE_LIMIT_LOGIN_FAILURES", K_INT, "5",
     "failed logins from one IP on one account before that IP backs off (1 s, 2 s, 4 s ... 15 min)",
     OFF(rate_limit_login_failures), 1, 1000, NULL},
    {"RATE_LIMIT_REFRESH", K_INT, "60", "token refreshes per minute per client IP", OFF(rate_limit_refresh),
     1, 1000000, NULL},
    {"RATE_LIMIT_REFRESH_ACCOUNT", K_INT, "120", "token refreshes per minute per account",
     OFF(rate_limit_refresh_account), 1, 1000000, NULL},
    {"RATE_LIMIT_WRITES", K_INT, "600",
     "writes (POST, PUT, PATCH, DELETE of tasks, profile, plans) per minute per user, in bursts of as many "
     "(0: no limit)",
     OFF(rate_limit_writes), 0, 1000000, NULL},
    {"SMTP_URL", K_STRING, "",
     "smtp://host:port (STARTTLS when offered) or smtps://host:port for outgoing mail (default: none, mail "
     "is written to the log)",
     OFF(smtp_url), 0, 0, NULL},
    {"SMTP_USER", K_STRING, "", "SMTP authentication user (default: none)", OFF(smtp_user), 0, 0, NULL},
    {"SMTP_PASSWORD", K_STRING, NULL, "SMTP authentication password (default: none)", OFF(smtp_password), 0,
     0, NULL},
    {"MAIL_FROM", K_STRING, "pace <no-reply@localhost>", "the From of every message", OFF(mail_from), 0, 0,
     NULL},
    {"SMTP_TIMEOUT", K_INT, "30", "seconds one SMTP conversation may take", OFF(smtp_timeout), 1, 600, NULL},
    {"PUBLIC_URL", K_STRING, NULL,
     "base of every link in mail, http(s)://host[:port][/path] (default: http://<PACE_LISTEN>)",
     OFF(public_url), 0, 0, NULL},
    {"REQUIRE_VERIFIED_EMAIL", K_BOOL, "off", "login refuses accounts whose email is not verified (on|off)",
     OFF(require_verified_email), 0, 0, NULL},
    {"VERIFY_TOKEN_TTL", K_INT, "172800", "seconds an email-verification link works", OFF(verify_token_ttl),
     300, 2592000, NULL},
    {"RESET_TOKEN_TTL", K_INT, "1800", "seconds a password-reset link works", OFF(reset_token_ttl), 60, 86400,
     NULL},
    {"MFA_TOKEN_TTL", K_INT, "300", "seconds an mfa_token (second login step) works", OFF(mfa_token_ttl), 30,
     3600, NULL},
    {"RATE_LIMIT_MAIL", K_INT, "5", "mail-sending requests per hour per address or account",
     OFF(rate_limit_mail), 1, 1000000, NULL},
    {"RATE_LIMIT_MAIL_IP", K_INT, "30", "mail-sending requests per hour per client IP",
     OFF(rate_limit_mail_ip), 1, 1000000, NULL},
    {"JOB_WORKERS", K_INT, "4", "background job worker threads (0: this instance runs no jobs)",
     OFF(job_workers), 0, 256, NULL},
    {"MAX_QUEUED_JOBS_PER_USER", K_INT, "20",
     "plan generations one user may have queued or running at once; past it POST /plans is 429 "
     "too_many_jobs (0: no bound)",
     OFF(max_queued_jobs_per_user), 0, 1000000, NULL},
    {"JOB_MAX_ATTEMPTS", K_INT, "5", "attempts before a failing job is given up (dead)",
     OFF(job_max_attempts), 1, 100, NULL},
    {"JOB_LEASE_SECONDS", K_INT, "30",
     "seconds a claimed job is leased; renewed while it runs, claimed again when its worker died",
     OFF(job_lease_seconds), 1, 3600, NULL},
    {"JOB_PURGE_SECONDS", K_INT, "3600",
     "period of the purges of expired sessions, tokens, idempotency keys and finished jobs",
     OFF(job_purge_seconds), 1, 604800, NULL},
    {"JOB_RETENTION_SECONDS", K_INT, "604800", "seconds finished jobs are kept before they are purged",
     OFF(job_retention_seconds), 1, 31536000, NULL},
    {"LLM_URL", K_STRING, "",
     "OpenAI-compatible chat-completions endpoint for plans (default: none, built-in only)", OFF(llm_url), 0,
     0, NULL},
    {"LLM_MODEL", K_STRING, "gpt-4o-mini", "model name sent to the LLM provider", OFF(llm_model), 0, 0, NULL},
    {"LLM_API_KEY", K_STRING, NULL, "Bearer key for the LLM provider (default: none)", OFF(llm_api_key), 0, 0,
     NULL},
    {"LLM_TIMEOUT_MS", K_INT, "20000", "milliseconds to wait for the LLM provider before the built-in engine",
     OFF(llm_timeout_ms), 100, 600000, NULL},
    {"LLM_CIRCUIT_FAILURES", K_INT, "5", "consecutive LLM failures that open its circuit breaker",
     OFF(llm_circuit_failures), 1, 1000, NULL},
    {"LLM_CIRCUIT_COOLDOWN", K_INT, "60", "seconds the open LLM circuit skips the provider before one trial",
     OFF(llm_circuit_cooldown), 1, 86400, NULL},
};

enum { NSETTINGS = sizeof(settings) / sizeof(settings[0]) };

static void
flag_name(const struct setting *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s->name[i] != '\0' && i + 1 < n; i++)
        out[i] = s->name[i] == '_' ? '-' : (char)tolower((unsigned char)s->name[i]);
    out[i] = '\0';
}

void
config_help(FILE *out)
{
    fprintf(out, "Settings (flag, environment variable, default). A flag wins over the environment,\n"
                 "which wins over a .env file in the working directory, which wins over the default.\n\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        char flag[64];
        flag_name(s, flag, sizeof(flag));
        fprintf(out, "  --%-18s PACE_%-18s default: %s\n      %s\n", flag, s->name,
                s->def != NULL ? s->def : "(see below)", s->help);
    }
}

/* ---- .env ---- */

struct dotenv {
    char *keys[128];
    char *values[128];
    size_t n;
};

static void
dotenv_load(struct dotenv *d)
{
    d->n = 0;
    FILE *f = fopen(".env", "r");
    if (f == NULL)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) != -1 && d->n < 128) {
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#' || *p == '\0')
            continue;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        char *eq = strchr(p, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strcspn(v, "\r\n");
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        v[vl] = '\0';
        for (char *e = eq - 1; e >= p && isspace((unsigned char)*e); e--)
            *e = '\0';
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
            v[vl - 1] = '\0';
            v++;
        }
        d->keys[d->n] = xstrdup(p);
        d->values[d->n] = xstrdup(v);
        d->n++;
    }
    free(line);
    fclose(f);
}

static const char *
dotenv_get(const struct dotenv *d, const char *key)
{
    for (size_t i = d->n; i > 0; i--)
        if (strcmp(d->keys[i - 1], key) == 0)
            return d->values[i - 1];
    return NULL;
}

static void
dotenv_free(struct dotenv *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->keys[i]);
        free(d->values[i]);
    }
    d->n = 0;
}

/* ---- parsing ---- */

static bool
parse_long(const char *v, long *out)
{
    if (*v == '\0' || isspace((unsigned char)*v))
        return false;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = x;
    return true;
}

static int
parse_listen(struct config *c, const char *v)
{
    const char *colon = strrchr(v, ':');
    if (colon == NULL || colon == v)
        return ERR_INVALID;
    size_t hl = (size_t)(colon - v);
    const char *h = v;
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']')
            return ERR_INVALID;
        h++;
        hl -= 2;
    }
    long port;
    if (!parse_long(colon + 1, &port) || port < 1 || port > 65535)
        return ERR_INVALID;
    free(c->listen_host);
    c->listen_host = xstrndup(h, hl);
    c->listen_port = (int)port;
    return OK;
}

/* Stores v into c per s; returns OK or ERR_INVALID after printing the complaint. */
static int
apply(struct config *c, const struct setting *s, const char *v, const char *source, FILE *err)
{
    char *field = (char *)c + s->offset;
    long x;
    switch (s->kind) {
    case K_STRING:
    case K_LISTEN: {
        if (s->kind == K_LISTEN && parse_listen(c, v) != OK) {
            fprintf(err,
                    "pace: invalid PACE_%s=\"%s\" (%s): expected host:port with a port from 1 to 65535\n",
                    s->name, v, source);
            return ERR_INVALID;
        }
        char **dst = (char **)(void *)field;
        free(*dst);
        *dst = xstrdup(v);
        return OK;
    }
    case K_INT:
    case K_LONG:
        if (!parse_long(v, &x) || x < s->min || x > s->max) {
            fprintf(err, "pace: invalid PACE_%s=\"%s\" (%s): must be an integer from %ld to %ld\n", s->name,
                    v, source, s->min, s->max);
            return ERR_INVALID;
        }
        if (s->kind == K_INT)
            *(int *)(void *)field = (int)x;
        else
            *(long *)(void *)field = x;
        return OK;
    case K_ENUM:
        for (int i = 0; s->values[i] != NULL; i++) {
            if (strcmp(v, s->values[i]) == 0) {
                *(int *)(void *)field = i;
                return OK;
            }
        }
        fprintf(err, "pace: invalid PACE_%s=\"%s\" (%s): must be one of %s\n", s->name, v, source, s->help);
        return ERR_INVALID;
    case K_BOOL:
        if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
            *(bool *)(void *)field = true;
            return OK;
        }
        if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
            *(bool *)(void *)field = false;
            return OK;
        }
        fprintf(err, "pace: invalid PACE_%s=\"%s\" (%s): must be on or off\n", s->name, v, source);
        return ERR_INVALID;
    }
    return ERR_INVALID;
}

static const struct setting *
find_flag(const char *arg, size_t len)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        char flag[64];
        flag_name(&settings[i], flag, sizeof(flag));
        if (strlen(flag) == len && memcmp(flag, arg, len) == 0)
            return &settings[i];
    }
    return NULL;
}

/* On PostgreSQL a blocking thread holds a pooled connection while it waits,
 * so more threads than connections only queue on the pool's lock (and, on
 * a small machine, spend their time waking each other): one thread per
 * connection, to the primary and to each replica. */
static int
default_blocking_threads(const struct config *c)
{
    const char *url = c->database_url != NULL ? c->database_url : "";
    if (strncmp(url, "postgres", 8) != 0)
        return 64;
    /* Replica URLs: pieces between commas or spaces that start with a
     * scheme (a piece without one continues a multi-host URL). */
    long servers = 1;
    for (const char *r = c->database_replica_urls != NULL ? c->database_replica_urls : ""; *r != '\0';) {
        size_t len = strcspn(r, ", \t\r\n");
        servers += len > 0 && strncmp(r, "postgres", 8) == 0;
        r += len > 0 ? len : 1;
    }
    long n = (long)c->db_pool_size * servers;
    return (int)(n > 1024 ? 1024 : n);
}

int
config_load(struct config *c, int argc, char **argv, FILE *err)
{
    memset(c, 0, sizeof(*c));
    c->db_pool_min = -1; /* unset: the pool size */
    const char *flags[NSETTINGS] = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            fprintf(err, "pace: unexpected argument \"%s\" (see pace --help)\n", a);
            return ERR_INVALID;
        }
        a += 2;
        const char *eq = strchr(a, '=');
        size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);
        const struct setting *s = find_flag(a, len);
        if (s == NULL) {
            fprintf(err, "pace: unknown flag --%.*s (see pace --help)\n", (int)len, a);
            return ERR_INVALID;
        }
        const char *v = eq != NULL ? eq + 1 : NULL;
        if (v == NULL) {
            if (i + 1 >= argc) {
                fprintf(err, "pace: flag --%.*s needs a value\n", (int)len, a);
                return ERR_INVALID;
            }
            v = argv[++i];
        }
        flags[s - settings] = v;
    }

    struct dotenv d;
    dotenv_load(&d);
    int rc = OK;
    for (size_t i = 0; i < NSETTINGS && rc == OK; i++) {
        const struct setting *s = &settings[i];
        char var[64];
        snprintf(var, sizeof(var), "PACE_%s", s->name);
        const char *v = flags[i];
        const char *source = "flag";
        if (v == NULL && (v = getenv(var)) != NULL)
            source = "environment";
        if (v == NULL && (v = dotenv_get(&d, var)) != NULL)
            source = ".env";
        if (v == NULL && (v = s->def) != NULL)
            source = "default";
        if (v != NULL)
            rc = apply(c, s, v, source, err);
    }
    dotenv_free(&d);
    if (rc != OK)
        return rc;

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    if (c->threads == 0)
        c->threads = (int)(ncpu > 256 ? 256 : ncpu);
    if (c->hash_threads == 0)
        c->hash_threads = (int)(ncpu > 256 ? 256 : ncpu);
    if (c->db_pool_min < 0) {
        c->db_pool_min = c->db_pool_size;
    } else if (c->db_pool_min > c->db_pool_size) {
        fprintf(err, "pace: invalid PACE_DB_POOL_MIN=%d: must not exceed PACE_DB_POOL_SIZE (%d)\n",
                c->db_pool_min, c->db_pool_size);
        return ERR_INVALID;
    }
    if (c->blocking_threads == 0)
        c->blocking_threads = default_blocking_threads(c);
    if (c->data_dir[0] == '\0') {
        fprintf(err, "pace: invalid PACE_DATA_DIR=\"\": must not be empty\n");
        return ERR_INVALID;
    }
    if (c->database_url == NULL || c->database_url[0] == '\0') {
        free(c->database_url);
        size_t n = strlen(c->data_dir) + 16;
        c->database_url = xmalloc(n);
        snprintf(c->database_url, n, "sqlite:%s/pace.db", c->data_dir);
    }
    struct netlist allow;
    if (netlist_parse(c->metrics_allow, &allow) != OK) {
        fprintf(err,
                "pace: invalid PACE_METRICS_ALLOW=\"%s\": must be a comma list of IP addresses and CIDR "
                "ranges\n",
                c->metrics_allow);
        return ERR_INVALID;
    }
    if (c->jwt_secret != NULL && c->jwt_secret[0] == '\0') {
        free(c->jwt_secret);
        c->jwt_secret = NULL;
    }
    if (c->public_url == NULL || c->public_url[0] == '\0') {
        free(c->public_url);
        size_t n = strlen(c->listen) + 8;
        c->public_url = xmalloc(n);
        snprintf(c->public_url, n, "http://%s", c->listen);
    }
    return OK;
}

void
config_cleanup(struct config *c)
{
    free(c->listen);
    free(c->listen_host);
    free(c->data_dir);
    free(c->database_url);
    free(c->database_replica_urls);
    if (c->jwt_secret != NULL)
        sodium_memzero(c->jwt_secret, strlen(c->jwt_secret));
    free(c->jwt_secret);
    if (c->jwt_keys != NULL)
        sodium_memzero(c->jwt_keys, strlen(c->jwt_keys));
    free(c->jwt_keys);
    free(c->jwt_issuer);
    free(c->jwt_audience);
    free(c->common_passwords_files);
    free(c->trusted_proxies);
    free(c->metrics_allow);
    free(c->metrics_listen);
    free(c->cors_origins);
    if (c->redis_url != NULL)
        sodium_memzero(c->redis_url, strlen(c->redis_url)); /* may hold a password */
    free(c->redis_url);
    free(c->redis_sentinels);
    if (c->redis_key_secret != NULL)
        sodium_memzero(c->redis_key_secret, strlen(c->redis_key_secret));
    free(c->redis_key_secret);
    free(c->redis_master);
    if (c->smtp_url != NULL)
        sodium_memzero(c->smtp_url, strlen(c->smtp_url)); /* may hold a password */
    free(c->smtp_url);
    free(c->smtp_user);
    if (c->smtp_password != NULL)
        sodium_memzero(c->smtp_password, strlen(c->smtp_password));
    free(c->smtp_password);
    free(c->mail_from);
    free(c->public_url);
    free(c->llm_url);
    free(c->llm_model);
    if (c->llm_api_key != NULL)
        sodium_memzero(c->llm_api_key, strlen(c->llm_api_key));
    free(c->llm_api_key);
    memset(c, 0, sizeof(*c));
}

int
config_secret_load(struct config *c)
{
    if (c->jwt_secret != NULL)
        return OK;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/jwt_secret", c->data_dir);
    char secret[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, secret, sizeof(secret) - 1);
        close(fd);
        if (n < 32) {
            log_error("config", "%s is shorter than 32 bytes; delete it to generate a new secret", path);
            return ERR_CORRUPT;
        }
        secret[n] = '\0';
        secret[strcspn(secret, "\r\n")] = '\0';
    } else {
        unsigned char raw[32];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2base64(secret, sizeof(secret), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        sodium_memzero(raw, sizeof(raw));
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            log_error("config", "cannot create %s: %s", path, strerror(errno));
            return ERR_UNAVAILABLE;
        }
        size_t len = strlen(secret);
        if (write(fd, secret, len) != (ssize_t)len || fsync(fd) != 0) {
            log_error("config", "cannot write %s: %s", path, strerror(errno));
            close(fd);
            unlink(path);
            return ERR_UNAVAILABLE;
        }
        close(fd);
        log_info("config", "generated a new JWT secret in %s", path);
    }
    c->jwt_secret = xstrdup(secret);
    sodium_memzero(secret, sizeof(secret));
    return OK;
}
