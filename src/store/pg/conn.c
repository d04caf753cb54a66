/* Connections to PostgreSQL: a pool per server (the primary and each
 * replica), and every call bounded by its own deadline. libpq runs in
 * non-blocking mode and we poll its socket with the time left, so a server
 * that is down fails at once and one that is frozen (it completes TCP
 * handshakes and acknowledges data, but never answers) fails at the
 * deadline: the query is cancelled from a helper thread and the connection
 * dropped. An idle connection is checked before reuse, so a restarted
 * server costs no failed request. At most PG_CONNECTING_MAX connection
 * attempts per pool run at once, so a burst of callers does not storm the
 * server; a pool with a minimum has a keeper thread that opens it at
 * start-up and refills it after a restart. Replicas serve the reads that
 * tolerate lag, except for users who wrote within the read-your-writes
 * window; a replica that fails is skipped for PG_REPLICA_RETRY_MS. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/pg/pg_int.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

enum { WAIT_TIMEOUT = 1 };

static int64_t
mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
store_pg_now(void)
{
    static _Atomic int64_t last;
    int64_t now = store_now_ms();
    int64_t prev = atomic_load(&last);
    while (now > prev)
        if (atomic_compare_exchange_weak(&last, &prev, now))
            return now;
    return prev > now ? prev : now;
}

/* While a server is down every call fails: one warning per second per
 * server, the rest at debug level. */
static void __attribute__((format(printf, 2, 3))) log_trouble(struct pg_pool *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    int64_t now = clock_mono_ms();
    int64_t last = atomic_load(&p->last_log);
    bool loud = now - last >= 1000 && atomic_compare_exchange_strong(&p->last_log, &last, now);
    log_write(loud ? LOG_WARN : LOG_DEBUG, "store", NULL, "%s: %s", p->label, msg);
}

/* ---- parameters and columns ---- */

static void
p_text(struct pg_params *p, const char *v, int len, int fmt)
{
    if (p->n >= PG_MAX_PARAMS)
        abort(); /* a statement with more parameters than the table allows: a bug */
    p->values[p->n] = v;
    p->lengths[p->n] = len;
    p->formats[p->n] = fmt;
    p->n++;
}

void
pg_p_i64(struct pg_params *p, int64_t v)
{
    if (p->n >= PG_MAX_PARAMS)
        abort();
    snprintf(p->text[p->n], sizeof(p->text[0]), "%lld", (long long)v);
    p_text(p, p->text[p->n], 0, 0);
}

void
pg_p_i64_or_null(struct pg_params *p, int64_t v)
{
    if (v == 0)
        p_text(p, NULL, 0, 0);
    else
        pg_p_i64(p, v);
}

void
pg_p_int(struct pg_params *p, int v)
{
    pg_p_i64(p, v);
}

void
pg_p_double(struct pg_params *p, double v)
{
    if (p->n >= PG_MAX_PARAMS)
        abort();
    snprintf(p->text[p->n], sizeof(p->text[0]), "%.17g", v);
    p_text(p, p->text[p->n], 0, 0);
}

void
pg_p_bool(struct pg_params *p, bool v)
{
    p_text(p, v ? "t" : "f", 0, 0);
}

void
pg_p_str(struct pg_params *p, const char *s)
{
    p_text(p, s, 0, 0);
}

void
pg_p_bytes(struct pg_params *p, const void *b, size_t n)
{
    if (n > INT_MAX)
        abort();
    p_text(p, b, (int)n, 1);
}

int64_t
pg_col_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int
pg_col_int(const PGresult *r, int row, int col)
{
    return (int)pg_col_i64(r, row, col);
}

bool
pg_col_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes bytea's hex output ("\x0a1b..."); returns the bytes written. */
static size_t
unhex(const char *s, size_t len, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (len < 2 || s[0] != '\\' || s[1] != 'x')
        return 0;
    for (size_t i = 2; i + 1 < len && n < cap; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            break;
        out[n++] = (uint8_t)(hi << 4 | lo);
    }
    return n;
}

void
pg_p_params(struct pg_params *p, const struct store_param *params, int n)
{
    for (int i = 0; i < n; i++) {
        if (params[i].kind == STORE_PARAM_I64)
            pg_p_i64(p, params[i].i);
        else
            pg_p_str(p, params[i].kind == STORE_PARAM_TEXT ? params[i].s : NULL);
    }
}

static bool
row_is_null(const struct store_row *r, int col)
{
    return PQgetisnull(r->res, r->row, col);
}

static int64_t
row_i64(const struct store_row *r, int col)
{
    return pg_col_i64(r->res, r->row, col);
}

static double
row_f64(const struct store_row *r, int col)
{
    if (PQgetisnull(r->res, r->row, col))
        return 0;
    return strtod(PQgetvalue(r->res, r->row, col), NULL);
}

static const char *
row_peek(const struct store_row *r, int col)
{
    if (PQgetisnull(r->res, r->row, col))
        return NULL;
    return PQgetvalue(r->res, r->row, col);
}

static const char *
row_text(const struct store_row *r, int col, struct arena *a)
{
    if (PQgetisnull(r->res, r->row, col))
        return NULL;
    return arena_strndup(a, PQgetvalue(r->res, r->row, col), (size_t)PQgetlength(r->res, r->row, col));
}

/* A bytea column (hex output) decoded into a, NUL-terminated. */
static const char *
row_bytes(const struct store_row *r, int col, struct arena *a, size_t *len)
{
    *len = 0;
    if (PQgetisnull(r->res, r->row, col))
        return NULL;
    size_t tl = (size_t)PQgetlength(r->res, r->row, col);
    size_t cap = tl / 2;
    char *out = arena_alloc(a, cap + 1);
    *len = unhex(PQgetvalue(r->res, r->row, col), tl, (uint8_t *)out, cap);
    out[*len] = '\0';
    return out;
}

const struct store_row_ops store_pg_row_ops = {
    .is_null = row_is_null,
    .i64 = row_i64,
    .f64 = row_f64,
    .text = row_text,
    .peek = row_peek,
    .bytes = row_bytes,
};

int64_t
pg_changes(const PGresult *r)
{
    const char *t = PQcmdTuples((PGresult *)(uintptr_t)r); /* libpq's signature lacks const */
    return t != NULL && *t != '\0' ? strtoll(t, NULL, 10) : 0;
}

/* ---- cancellation ---- */

/* PQcancel blocks until the server closes the cancel connection, which a
 * frozen server never does: one detached thread sends them, from a
 * bounded queue (a full queue drops the request; the server's own
 * statement_timeout ends the query anyway). Process-wide, so that it may
 * outlive any store. */
enum { CANCEL_QUEUE = 64 };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    PGcancel *q[CANCEL_QUEUE];
    size_t head, n;
    bool started;
} cancels = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, false};

static void *
canceller_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&cancels.mu);
        while (cancels.n == 0)
            pthread_cond_wait(&cancels.cv, &cancels.mu);
        PGcancel *c = cancels.q[cancels.head];
        cancels.head = (cancels.head + 1) % CANCEL_QUEUE;
        cancels.n--;
        pthread_mutex_unlock(&cancels.mu);
        char err[256];
        if (!PQcancel(c, err, sizeof(err)))
            log_debug("store", "cancel request failed: %s", err);
        PQfreeCancel(c);
    }
    return NULL;
}

void
store_pg_cancel(PGconn *pg)
{
    PGcancel *c = PQgetCancel(pg);
    if (c == NULL)
        return;
    pthread_mutex_lock(&cancels.mu);
    if (!cancels.started) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        cancels.started = pthread_create(&t, &attr, canceller_main, NULL) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!cancels.started || cancels.n == CANCEL_QUEUE) {
        pthread_mutex_unlock(&cancels.mu);
        PQfreeCancel(c);
        return;
    }
    cancels.q[(cancels.head + cancels.n) % CANCEL_QUEUE] = c;
    cancels.n++;
    pthread_cond_signal(&cancels.cv);
    pthread_mutex_unlock(&cancels.mu);
}

/* ---- one connection ---- */

static void
conn_close(struct pg_conn *c)
{
    if (c == NULL)
        return;
    PQfinish(c->pg);
    free(c);
}

static int
poll_ms(int fd, short events, int64_t deadline, short *revents)
{
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return WAIT_TIMEOUT;
        struct pollfd pfd = {fd, events, 0};
        int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0) {
            *revents = pfd.revents;
            return OK;
        }
        if (r < 0 && errno != EINTR)
            return ERR_UNAVAILABLE;
    }
}

/* Connects within the deadline, without blocking past it. */
static int
conn_open(struct pg_pool *p, int64_t deadline, struct pg_conn **out)
{
    *out = NULL;
    atomic_fetch_add(&p->connects, 1);
    PGconn *pg = PQconnectStartParams(p->kw, p->vals, 0);
    if (pg == NULL)
        abort(); /* out of memory */
    const char *why = NULL;
    PostgresPollingStatusType ps =
        PQstatus(pg) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (ps != PGRES_POLLING_OK) {
        if (ps == PGRES_POLLING_FAILED)
            goto fail;
        short rev;
        int w = poll_ms(PQsocket(pg), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, &rev);
        if (w == WAIT_TIMEOUT) {
            why = "no answer within the deadline";
            goto fail;
        }
        if (w != OK)
            goto fail;
        ps = PQconnectPoll(pg);
    }
    if (PQsetnonblocking(pg, 1) != 0)
        goto fail;
    struct pg_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->pg = pg;
    c->pool = p;
    c->opened_at = clock_mono_ms();
    *out = c;
    return OK;
fail:
    atomic_fetch_add(&p->connect_failures, 1);
    log_trouble(p, "cannot connect: %s", why != NULL ? why : PQerrorMessage(pg));
    PQfinish(pg);
    return ERR_UNAVAILABLE;
}

void
store_pg_conn_lost(struct pg_pool *p)
{
    atomic_store(&p->lost_at, clock_mono_ms());
}

/* An idle connection is usable unless the server closed it meanwhile (a
 * restart, an idle timeout, a terminated backend): checked without waiting.
 * One opened before another connection last broke in the middle of a call
 * is not trusted: what ends a connection under a query (a restart, a
 * failover, an operator's pg_terminate_backend) usually ends them all, and
 * one whose end has not reached this side yet would look alive. Idle
 * timeouts end idle connections, which this check catches without that. A
 * false alarm costs one reopening of the pool, at most PG_CONNECTING_MAX
 * connects at a time. */
static bool
conn_alive(struct pg_conn *c)
{
    if (c->opened_at <= atomic_load(&c->pool->lost_at))
        return false;
    struct pollfd pfd = {PQsocket(c->pg), POLLIN, 0};
    if (PQstatus(c->pg) != CONNECTION_OK || pfd.fd < 0)
        return false;
    int r = poll(&pfd, 1, 0);
    if (r == 0)
        return true;
    if (r < 0 || (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
        return false;
    if (!PQconsumeInput(c->pg))
        return false;
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL)
        PQfreemem(n);
    return PQstatus(c->pg) == CONNECTION_OK && !PQisBusy(c->pg);
}

/* ---- pools ---- */

static const double wait_bounds[PG_WAIT_BUCKETS] = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5};

static void
record_wait(struct pg_pool *p, int64_t us)
{
    double s = (double)us / 1e6;
    int b = 0;
    while (b < PG_WAIT_BUCKETS && s > wait_bounds[b])
        b++;
    p->wait_buckets[b]++;
    p->wait_count++;
    p->wait_us += (uint64_t)us;
}

static int
pool_acquire(struct pg_pool *p, struct pgx *x)
{
    int64_t t0 = mono_us();
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->idle != NULL) {
            struct pg_conn *c = p->idle;
            p->idle = c->next;
            c->next = NULL;
            p->busy++;
            pthread_mutex_unlock(&p->mu);
            if (conn_alive(c)) {
                pthread_mutex_lock(&p->mu);
                record_wait(p, mono_us() - t0);
                pthread_mutex_unlock(&p->mu);
                x->c = c;
                x->reused = true;
                return OK;
            }
            log_debug("store", "%s: dropped a connection the server had closed", p->label);
            conn_close(c);
            pthread_mutex_lock(&p->mu);
            p->busy--;
            p->open--;
            continue;
        }
        /* Below the pool size, connect; unless PG_CONNECTING_MAX attempts
         * are in flight: then wait for one of them, or for an idle
         * connection, whichever comes first. A caller past its deadline
         * starts no attempt. */
        int64_t deadline_ms = x->deadline;
        bool late = clock_mono_ms() >= deadline_ms;
        if (!late && p->open < p->size && p->connecting < PG_CONNECTING_MAX) {
            p->open++;
            p->busy++;
            p->connecting++;
            pthread_mutex_unlock(&p->mu);
            struct pg_conn *c;
            int err = conn_open(p, x->deadline, &c);
            pthread_mutex_lock(&p->mu);
            record_wait(p, mono_us() - t0);
            p->connecting--;
            pthread_cond_signal(&p->cv); /* a free attempt (and, on failure, room) for a waiter */
            if (err != OK) {
                p->open--;
                p->busy--;
                pthread_mutex_unlock(&p->mu);
                x->conn_failed = true;
                return err;
            }
            pthread_mutex_unlock(&p->mu);
            x->c = c;
            x->reused = false;
            return OK;
        }
        if (late) {
            record_wait(p, mono_us() - t0);
            int busy = p->busy, connecting = p->connecting;
            pthread_cond_signal(&p->cv); /* pass on a wake-up this caller may have taken */
            pthread_mutex_unlock(&p->mu);
            log_trouble(p, "no free connection within the deadline (%d in use, %d of them connecting)", busy,
                        connecting);
            return ERR_UNAVAILABLE;
        }
        struct timespec ts = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L};
        p->waiting++;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        p->waiting--;
    }
}

static void
pool_release(struct pg_pool *p, struct pg_conn *c)
{
    bool keep = !c->broken && PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_IDLE;
    if (!keep)
        conn_close(c);
    pthread_mutex_lock(&p->mu);
    p->busy--;
    if (keep) {
        c->next = p->idle;
        p->idle = c;
    } else {
        p->open--;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

struct pg_conn *
store_pg_pool_take_idle(struct pg_pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct pg_conn *c = p->idle;
    if (c != NULL) {
        p->idle = c->next;
        c->next = NULL;
        p->busy++;
    }
    pthread_mutex_unlock(&p->mu);
    if (c == NULL || conn_alive(c))
        return c;
    c->broken = true;
    pool_release(p, c);
    return NULL;
}

void
store_pg_pool_put(struct pg_pool *p, struct pg_conn *c)
{
    pool_release(p, c);
}

static int
strdup_into(const char **slot, const char *s)
{
    *slot = strdup(s);
    if (*slot == NULL)
        abort();
    return 0;
}

int
store_pg_pool_new(struct pg_store *st, const char *url, const char *label, bool replica, struct pg_pool **out)
{
    char *msg = NULL;
    *out = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    if (opts == NULL) {
        log_error("store", "invalid PostgreSQL URL for the %s: %s", label,
                  msg != NULL ? msg : "out of memory");
        PQfreemem(msg);
        return ERR_INVALID;
    }
    size_t n = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        n++;
    struct pg_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        abort();
    p->kw = calloc(n + 8, sizeof(*p->kw));
    p->vals = calloc(n + 8, sizeof(*p->vals));
    if (p->kw == NULL || p->vals == NULL)
        abort();
    p->st = st;
    p->replica = replica;
    snprintf(p->label, sizeof(p->label), "%s", label);
    p->size = 0;
    const char *user_options = NULL;
    size_t k = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "options") == 0) {
            user_options = o->val;
            continue;
        }
        strdup_into(&p->kw[k], o->keyword);
        strdup_into(&p->vals[k], o->val);
        k++;
    }
    /* Every connection: the server ends a statement that runs past the
     * statement timeout (pace gives up at the same time), commits wait for
     * the WAL flush, bytea comes back as hex, and prepared statements run
     * their generic plan (planned once per connection; the plans the
     * query-plan test checks) instead of being planned again each time. */
    char options[1024];
    snprintf(options, sizeof(options),
             "%s%s-c statement_timeout=%d -c synchronous_commit=on -c bytea_output=hex "
             "-c plan_cache_mode=force_generic_plan",
             user_options != NULL ? user_options : "", user_options != NULL ? " " : "",
             st->statement_timeout_ms);
    strdup_into(&p->kw[k], "options");
    strdup_into(&p->vals[k], options);
    k++;
    strdup_into(&p->kw[k], "fallback_application_name");
    strdup_into(&p->vals[k], "pace");
    k++;
    strdup_into(&p->kw[k], "client_encoding");
    strdup_into(&p->vals[k], "UTF8");
    k++;
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", (st->connect_timeout_ms + 999) / 1000);
    strdup_into(&p->kw[k], "connect_timeout");
    strdup_into(&p->vals[k], timeout);
    k++;
    p->kw[k] = NULL;
    p->vals[k] = NULL;
    PQconninfoFree(opts);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_cond_init(&p->keeper_cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = p;
    return OK;
}

void
store_pg_pool_free(struct pg_pool *p)
{
    if (p == NULL)
        return;
    if (p->keeping) {
        pthread_mutex_lock(&p->mu);
        p->stopping = true;
        pthread_cond_signal(&p->keeper_cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->keeper, NULL);
    }
    struct pg_conn *c = p->idle;
    while (c != NULL) {
        struct pg_conn *next = c->next;
        conn_close(c);
        c = next;
    }
    for (size_t i = 0; p->kw[i] != NULL; i++) {
        free((void *)(uintptr_t)p->kw[i]);
        free((void *)(uintptr_t)p->vals[i]);
    }
    free(p->kw);
    free(p->vals);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->keeper_cv);
    free(p);
}

int
store_pg_pool_check(struct pg_pool *p, int timeout_ms)
{
    struct pgx x = {.st = p->st, .deadline = clock_mono_ms() + timeout_ms};
    int err = pool_acquire(p, &x);
    if (err == OK)
        pool_release(p, x.c);
    return err;
}

/* ---- the keeper ---- */

/* Drops the idle connections the server closed (a restart, a terminated
 * backend), so that keep_fill replaces them before a caller needs them.
 * Checked under the lock: conn_alive does not wait, and an idle
 * connection stays out of callers' hands meanwhile. */
static void
keep_prune(struct pg_pool *p)
{
    struct pg_conn *dead = NULL;
    pthread_mutex_lock(&p->mu);
    for (struct pg_conn **pc = &p->idle; *pc != NULL;) {
        struct pg_conn *c = *pc;
        if (conn_alive(c)) {
            pc = &c->next;
            continue;
        }
        *pc = c->next;
        c->next = dead;
        dead = c;
        p->open--;
        pthread_cond_signal(&p->cv); /* room for a new connection */
    }
    pthread_mutex_unlock(&p->mu);
    while (dead != NULL) {
        struct pg_conn *next = dead->next;
        log_debug("store", "%s: dropped an idle connection the server had closed", p->label);
        conn_close(dead);
        dead = next;
    }
}

/* Opens connections one at a time until min are open; stops at the first
 * failure (the next round tries again) or when callers already have
 * PG_CONNECTING_MAX attempts in flight. */
static void
keep_fill(struct pg_pool *p)
{
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (p->stopping || p->open >= p->min || p->connecting >= PG_CONNECTING_MAX) {
            pthread_mutex_unlock(&p->mu);
            return;
        }
        p->open++;
        p->busy++;
        p->connecting++;
        pthread_mutex_unlock(&p->mu);
        struct pg_conn *c;
        int err = conn_open(p, clock_mono_ms() + p->st->connect_timeout_ms, &c);
        pthread_mutex_lock(&p->mu);
        p->connecting--;
        p->busy--;
        if (err == OK) {
            c->next = p->idle;
            p->idle = c;
        } else {
            p->open--;
        }
        pthread_cond_signal(&p->cv); /* a connection, or a free attempt, for a waiter */
        pthread_mutex_unlock(&p->mu);
        if (err != OK)
            return;
    }
}

static void *
keeper_main(void *arg)
{
    struct pg_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        pthread_mutex_unlock(&p->mu);
        keep_prune(p);
        keep_fill(p);
        pthread_mutex_lock(&p->mu);
        int64_t until = clock_mono_ms() + PG_KEEP_INTERVAL_MS;
        struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
        while (!p->stopping && clock_mono_ms() < until)
            pthread_cond_timedwait(&p->keeper_cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void
store_pg_pool_keep(struct pg_pool *p, int min)
{
    if (min <= 0 || p->keeping)
        return;
    p->min = min < p->size ? min : p->size;
    sigset_t all, old;
    sigfillset(&all);
    /* Threads inherit the mask: signals stay with the thread that waits for them. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    p->keeping = pthread_create(&p->keeper, NULL, keeper_main, p) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!p->keeping) {
        p->min = 0;
        log_warn("store", "%s: cannot start the pool keeper: connections open on demand", p->label);
    }
}

/* ---- running statements ---- */

/* The connection is in an unknown state: it will be closed on release. */
static int
conn_lost(struct pgx *x, const char *what, const char *why)
{
    x->c->broken = true;
    x->conn_failed = true;
    atomic_fetch_add(&x->c->pool->errors, 1);
    store_pg_conn_lost(x->c->pool);
    log_trouble(x->c->pool, "%s: connection lost: %s", what, why != NULL ? why : PQerrorMessage(x->c->pg));
    return ERR_UNAVAILABLE;
}

/* The deadline passed with a command in flight: cancel it on the server
 * (off this thread) and drop the connection. */
static int
deadline_passed(struct pgx *x, const char *what)
{
    x->c->broken = true;
    x->conn_failed = true;
    atomic_fetch_add(&x->c->pool->timeouts, 1);
    store_pg_cancel(x->c->pg);
    log_trouble(x->c->pool, "%s: no answer within the deadline; cancelled, connection dropped", what);
    return ERR_UNAVAILABLE;
}

/* Flushes the command queued on x's connection and collects its results:
 * *res gets the first error result, else the last one. */
static int
roundtrip(struct pgx *x, PGresult **res, const char *what)
{
    PGconn *pg = x->c->pg;
    PGresult *keep = NULL;
    short rev;
    int w;
    *res = NULL;
    for (;;) {
        int f = PQflush(pg);
        if (f == 0)
            break;
        if (f < 0)
            return conn_lost(x, what, NULL);
        w = poll_ms(PQsocket(pg), POLLOUT | POLLIN, x->deadline, &rev);
        if (w == WAIT_TIMEOUT)
            return deadline_passed(x, what);
        if (w != OK)
            return conn_lost(x, what, strerror(errno));
        if ((rev & POLLIN) && !PQconsumeInput(pg))
            return conn_lost(x, what, NULL);
    }
    for (;;) {
        while (!PQisBusy(pg)) {
            PGresult *r = PQgetResult(pg);
            if (r == NULL) {
                if (keep == NULL)
                    return conn_lost(x, what, "no result");
                *res = keep;
                return OK;
            }
            if (keep != NULL && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
                PQclear(r);
            } else {
                PQclear(keep);
                keep = r;
            }
            if (PQstatus(pg) == CONNECTION_BAD)
                break;
        }
        if (PQstatus(pg) == CONNECTION_BAD) {
            /* The error result says why; keep it for the mapping. */
            x->c->broken = true;
            x->conn_failed = true;
            *res = keep;
            return keep != NULL ? OK : conn_lost(x, what, NULL);
        }
        w = poll_ms(PQsocket(pg), POLLIN, x->deadline, &rev);
        if (w != OK) {
            PQclear(keep);
            return w == WAIT_TIMEOUT ? deadline_passed(x, what) : conn_lost(x, what, strerror(errno));
        }
        if (!PQconsumeInput(pg)) {
            PQclear(keep);
            return conn_lost(x, what, NULL);
        }
    }
}

static bool
state_is(const char *state, const char *prefix)
{
    return strncmp(state, prefix, strlen(prefix)) == 0;
}

/* Maps a failed result to ERR_*; logs what is not an ordinary outcome. */
static int
map_error(struct pgx *x, const PGresult *r, const char *what)
{
    struct pg_pool *p = x->c->pool;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *msg = primary != NULL ? primary : PQresultErrorMessage(r);
    if (state == NULL || PQstatus(x->c->pg) == CONNECTION_BAD || state_is(state, "08") ||
        state_is(state, "57P")) {
        /* Generated by libpq, a lost connection, or the server going away. */
        return conn_lost(x, what, msg);
    }
    if (strcmp(state, "23505") == 0) {
        const char *name = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
        snprintf(x->constraint, sizeof(x->constraint), "%s", name != NULL ? name : "");
        return ERR_CONFLICT;
    }
    if (strcmp(state, "23503") == 0)
        return ERR_NOT_FOUND; /* the row it belongs to is gone */
    atomic_fetch_add(&p->errors, 1);
    if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0 || state_is(state, "40") ||
        state_is(state, "53") || strcmp(state, "25006") == 0) {
        /* Statement timeout, lock timeout, serialization failure or
         * deadlock, out of resources (disk, connections), read-only. */
        log_trouble(p, "%s: %s (SQLSTATE %s)", what, msg, state);
        return ERR_UNAVAILABLE;
    }
    if (strcmp(state, "XX001") == 0 || strcmp(state, "XX002") == 0) {
        log_error("store", "%s: %s: data is corrupt: %s", p->label, what, msg);
        return ERR_CORRUPT;
    }
    if (state_is(state, "22") || state_is(state, "23") || state_is(state, "54")) {
        log_error("store", "%s: %s: %s (SQLSTATE %s)", p->label, what, msg, state);
        return ERR_INVALID;
    }
    log_error("store", "%s: %s: %s (SQLSTATE %s)", p->label, what, msg, state);
    return ERR_INTERNAL;
}

/* Checks a result: OK for a command or rows; else the mapped error and
 * the result is freed. */
int
store_pg_check_result(struct pgx *x, PGresult *r, const char *what)
{
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return OK;
    int err = map_error(x, r, what);
    PQclear(r);
    return err;
}

void
store_pg_param_types(const char *types, Oid *out, int *n)
{
    *n = 0;
    for (const char *t = types; *t != '\0' && *n < PG_MAX_PARAMS; t++) {
        switch (*t) {
        case 'l':
            out[(*n)++] = 20; /* int8 */
            break;
        case 'i':
            out[(*n)++] = 23; /* int4 */
            break;
        case 'b':
            out[(*n)++] = 17; /* bytea */
            break;
        case 'd':
            out[(*n)++] = 701; /* float8 */
            break;
        case 'B':
            out[(*n)++] = 16; /* bool */
            break;
        default:
            out[(*n)++] = 25; /* text */
            break;
        }
    }
}

static int
prepare(struct pgx *x, const char *name, const char *sql, const char *types, const char *what)
{
    Oid oids[PG_MAX_PARAMS];
    int n;
    store_pg_param_types(types, oids, &n);
    if (!PQsendPrepare(x->c->pg, name, sql, n, oids))
        return conn_lost(x, what, NULL);
    PGresult *r;
    int err = roundtrip(x, &r, what);
    if (err != OK)
        return err;
    err = store_pg_check_result(x, r, what);
    if (err != OK)
        return err == ERR_UNAVAILABLE || err == ERR_CORRUPT ? err : ERR_INTERNAL;
    PQclear(r);
    return OK;
}

static int
exec_prepared(struct pgx *x, const char *name, const struct pg_params *p, const char *what, PGresult **res)
{
    static const struct pg_params none;
    if (p == NULL)
        p = &none;
    *res = NULL;
    atomic_fetch_add(&x->c->pool->queries, 1);
    if (!PQsendQueryPrepared(x->c->pg, name, p->n, p->values, p->lengths, p->formats, 0))
        return conn_lost(x, what, NULL);
    PGresult *r;
    int err = roundtrip(x, &r, what);
    if (err != OK)
        return err;
    err = store_pg_check_result(x, r, what);
    if (err == OK)
        *res = r;
    return err;
}

struct pg_prep
store_pg_prep(struct pg_conn *c, int stmt, enum store_task_sort sort, unsigned filters)
{
    struct pg_prep pp = {.stmt = stmt, .sort = sort, .filters = filters};
    if (stmt == PG_STMT_TASK_LIST) {
        snprintf(pp.name, sizeof(pp.name), "t%d_%u", (int)sort, filters);
        pp.what = "task list";
        pp.types = store_pg_task_list_types;
        pp.prepared = &c->tl_prepared[sort][filters];
    } else {
        snprintf(pp.name, sizeof(pp.name), "s%d", stmt);
        pp.what = store_pg_stmts[stmt].name;
        pp.types = store_pg_stmts[stmt].types;
        pp.prepared = &c->prepared[stmt];
    }
    return pp;
}

const char *
store_pg_prep_sql(const struct pg_prep *pp, char buf[PG_SQL_MAX])
{
    if (pp->stmt != PG_STMT_TASK_LIST)
        return store_pg_stmts[pp->stmt].sql;
    store_task_list_sql(STORE_PLACEHOLDER_DOLLAR, pp->sort, pp->filters, buf, PG_SQL_MAX);
    return buf;
}

/* Runs a statement, prepared on x's connection first if need be. */
static int
exec_stmt(struct pgx *x, int stmt, enum store_task_sort sort, unsigned filters, const struct pg_params *p,
          PGresult **res)
{
    struct pg_prep pp = store_pg_prep(x->c, stmt, sort, filters);
    if (!*pp.prepared) {
        char buf[PG_SQL_MAX];
        int err = prepare(x, pp.name, store_pg_prep_sql(&pp, buf), pp.types, pp.what);
        if (err != OK)
            return err;
        *pp.prepared = true;
    }
    return exec_prepared(x, pp.name, p, pp.what, res);
}

int
store_pg_exec(struct pgx *x, enum pg_stmt id, const struct pg_params *p, PGresult **res)
{
    return exec_stmt(x, (int)id, 0, 0, p, res);
}

int
store_pg_exec_changes(struct pgx *x, enum pg_stmt id, const struct pg_params *p, int64_t *changes)
{
    PGresult *r;
    int err = store_pg_exec(x, id, p, &r);
    if (err != OK)
        return err;
    if (changes != NULL)
        *changes = pg_changes(r);
    PQclear(r);
    return OK;
}

int
store_pg_exec_task_list(struct pgx *x, enum store_task_sort sort, unsigned filters, const struct pg_params *p,
                        PGresult **res)
{
    return exec_stmt(x, PG_STMT_TASK_LIST, sort, filters, p, res);
}

int
store_pg_exec_sql(struct pgx *x, const char *sql, PGresult **res)
{
    if (res != NULL)
        *res = NULL;
    atomic_fetch_add(&x->c->pool->queries, 1);
    if (!PQsendQuery(x->c->pg, sql))
        return conn_lost(x, "query", NULL);
    PGresult *r;
    int err = roundtrip(x, &r, "query");
    if (err != OK)
        return err;
    err = store_pg_check_result(x, r, "query");
    if (err != OK)
        return err;
    if (res != NULL)
        *res = r;
    else
        PQclear(r);
    return OK;
}

/* ---- calls ---- */

/* Runs fn on a connection of pool p, inside a transaction when tx. */
static int
run_on(struct pg_pool *p, int64_t deadline, int64_t user_id, bool tx, pg_fn *fn, void *arg, struct pgx *x)
{
    *x = (struct pgx){.st = p->st, .deadline = deadline, .ryw_user = user_id};
    int err = pool_acquire(p, x);
    if (err != OK)
        return err;
    if (tx) {
        err = store_pg_exec_sql(x, "BEGIN", NULL);
        if (err == OK)
            err = fn(x, arg);
        if (err == OK)
            err = store_pg_exec_sql(x, "COMMIT", NULL);
        else if (!x->c->broken && PQtransactionStatus(x->c->pg) != PQTRANS_IDLE)
            store_pg_exec_sql(x, "ROLLBACK", NULL);
    } else {
        err = fn(x, arg);
    }
    pool_release(p, x->c);
    x->c = NULL;
    return err;
}

/* The next replica in turn that is not being skipped, or NULL. */
static struct pg_pool *
pick_replica(struct pg_store *st)
{
    int64_t now = clock_mono_ms();
    unsigned start = atomic_fetch_add(&st->next_replica, 1);
    for (int i = 0; i < st->nreplicas; i++) {
        struct pg_pool *p = st->replicas[(start + (unsigned)i) % (unsigned)st->nreplicas];
        if (atomic_load(&p->down_until) <= now)
            return p;
    }
    return NULL;
}

static int
run(struct pg_store *st, enum pg_mode mode, int64_t user_id, bool tx, int timeout_ms, pg_fn *fn, void *arg)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    struct pgx x;
    int err;
    if (mode == PG_READ_LAGGED && st->nreplicas > 0 && !store_pg_ryw_recent(st, user_id)) {
        struct pg_pool *rp = pick_replica(st);
        if (rp != NULL) {
            /* Half the time for the replica, the rest for the primary. */
            int64_t now = clock_mono_ms();
            err = run_on(rp, now + (deadline - now) / 2, user_id, false, fn, arg, &x);
            if (err != ERR_UNAVAILABLE)
                return err;
            if (x.conn_failed) {
                atomic_store(&rp->down_until, clock_mono_ms() + PG_REPLICA_RETRY_MS);
                log_warn("store", "%s is unavailable: reads go to the primary; retrying it in %d s",
                         rp->label, PG_REPLICA_RETRY_MS / 1000);
            }
        }
    }
    err = run_on(st->primary, deadline, user_id, tx, fn, arg, &x);
    /* A connection the server closed between the idle check and its use:
     * a read may be retried on another one while time is left (a few
     * times: a server ending every connection at once, as an operator's
     * pg_terminate_backend or a failover does, leaves several such). */
    for (int retries = 0; retries < PG_READ_RETRIES && err == ERR_UNAVAILABLE && mode != PG_WRITE &&
                          x.conn_failed && x.reused && clock_mono_ms() < deadline;
         retries++)
        err = run_on(st->primary, deadline, user_id, tx, fn, arg, &x);
    if (mode == PG_WRITE && x.ryw_user != 0)
        store_pg_ryw_note(st, x.ryw_user);
    return err;
}

int
store_pg_run(struct pg_store *st, enum pg_mode mode, int64_t user_id, pg_fn *fn, void *arg)
{
    return run(st, mode, user_id, false, st->statement_timeout_ms, fn, arg);
}

int
store_pg_run_tx(struct pg_store *st, int64_t user_id, pg_fn *fn, void *arg)
{
    return run(st, PG_WRITE, user_id, true, st->statement_timeout_ms, fn, arg);
}

int
store_pg_run_for(struct pg_store *st, int timeout_ms, pg_fn *fn, void *arg)
{
    return run(st, PG_READ, 0, false, timeout_ms, fn, arg);
}

/* ---- read-your-writes ---- */

static size_t
ryw_set_of(int64_t user_id)
{
    uint64_t h = (uint64_t)user_id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) % RYW_SETS;
}

void
store_pg_ryw_note(struct pg_store *st, int64_t user_id)
{
    if (st->ryw == NULL || user_id == 0)
        return;
    int64_t now = clock_mono_ms();
    size_t si = ryw_set_of(user_id);
    struct ryw_set *set = &st->ryw[si];
    pthread_mutex_t *mu = &st->ryw_mu[si % RYW_LOCKS];
    pthread_mutex_lock(mu);
    struct ryw_entry *victim = &set->e[0];
    for (int i = 0; i < RYW_WAYS; i++) {
        if (set->e[i].user_id == user_id) {
            victim = &set->e[i];
            break;
        }
        if (set->e[i].at < victim->at)
            victim = &set->e[i];
    }
    if (victim->user_id != user_id && victim->user_id != 0 && victim->at + st->ryw_ms > now &&
        victim->at + st->ryw_ms > set->overflow_until)
        set->overflow_until = victim->at + st->ryw_ms; /* dropped while still inside its window */
    victim->user_id = user_id;
    victim->at = now;
    pthread_mutex_unlock(mu);
}

bool
store_pg_ryw_recent(struct pg_store *st, int64_t user_id)
{
    if (st->ryw == NULL || user_id == 0)
        return false;
    int64_t now = clock_mono_ms();
    size_t si = ryw_set_of(user_id);
    struct ryw_set *set = &st->ryw[si];
    pthread_mutex_t *mu = &st->ryw_mu[si % RYW_LOCKS];
    bool recent = false;
    pthread_mutex_lock(mu);
    if (set->overflow_until > now)
        recent = true;
    for (int i = 0; i < RYW_WAYS && !recent; i++)
        recent = set->e[i].user_id == user_id && set->e[i].at + st->ryw_ms > now;
    pthread_mutex_unlock(mu);
    return recent;
}

/* ---- metrics ---- */

static void
family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct snapshot {
    int open, busy, waiting, size;
    uint64_t buckets[PG_WAIT_BUCKETS + 1], count, us;
};

static void
snap(struct pg_pool *p, struct snapshot *s)
{
    pthread_mutex_lock(&p->mu);
    s->open = p->open;
    s->busy = p->busy;
    s->waiting = p->waiting;
    s->size = p->size;
    memcpy(s->buckets, p->wait_buckets, sizeof(s->buckets));
    s->count = p->wait_count;
    s->us = p->wait_us;
    pthread_mutex_unlock(&p->mu);
}

void
store_pg_metrics_render(struct store *s, struct buf *out)
{
    struct pg_store *st = (struct pg_store *)s;
    int np = 1 + st->nreplicas;
    struct pg_pool *pools[1 + 64];
    struct snapshot snaps[1 + 64];
    if (np > 1 + 64)
        np = 1 + 64;
    pools[0] = st->primary;
    for (int i = 1; i < np; i++)
        pools[i] = st->replicas[i - 1];
    for (int i = 0; i < np; i++)
        snap(pools[i], &snaps[i]);

    family(out, "pace_db_pool_size", "gauge", "Connections each database server's pool may open.");
    for (int i = 0; i < np; i++)
        buf_printf(out, "pace_db_pool_size{server=\"%s\"} %d\n", pools[i]->label, snaps[i].size);
    family(out, "pace_db_connections_open", "gauge", "Connections open to each database server.");
    for (int i = 0; i < np; i++)
        buf_printf(out, "pace_db_connections_open{server=\"%s\"} %d\n", pools[i]->label, snaps[i].open);
    family(out, "pace_db_connections_busy", "gauge", "Connections in use by a call (or connecting).");
    for (int i = 0; i < np; i++)
        buf_printf(out, "pace_db_connections_busy{server=\"%s\"} %d\n", pools[i]->label, snaps[i].busy);
    family(out, "pace_db_pool_waiting", "gauge", "Calls waiting for a free connection.");
    for (int i = 0; i < np; i++)
        buf_printf(out, "pace_db_pool_waiting{server=\"%s\"} %d\n", pools[i]->label, snaps[i].waiting);
    family(out, "pace_db_pool_wait_seconds", "histogram", "Time a call waited for its connection.");
    for (int i = 0; i < np; i++) {
        uint64_t cum = 0;
        for (int b = 0; b < PG_WAIT_BUCKETS; b++) {
            cum += snaps[i].buckets[b];
            buf_printf(out, "pace_db_pool_wait_seconds_bucket{server=\"%s\",le=\"%g\"} %llu\n",
                       pools[i]->label, wait_bounds[b], (unsigned long long)cum);
        }
        cum += snaps[i].buckets[PG_WAIT_BUCKETS];
        buf_printf(out, "pace_db_pool_wait_seconds_bucket{server=\"%s\",le=\"+Inf\"} %llu\n", pools[i]->label,
                   (unsigned long long)cum);
        buf_printf(out, "pace_db_pool_wait_seconds_sum{server=\"%s\"} %.6f\n", pools[i]->label,
                   (double)snaps[i].us / 1e6);
        buf_printf(out, "pace_db_pool_wait_seconds_count{server=\"%s\"} %llu\n", pools[i]->label,
                   (unsigned long long)snaps[i].count);
    }
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"pace_db_queries_total", "Statements sent to each database server.",
         offsetof(struct pg_pool, queries)},
        {"pace_db_errors_total",
         "Statements that failed for another reason than a conflict or a missing row.",
         offsetof(struct pg_pool, errors)},
        {"pace_db_timeouts_total", "Calls that reached their deadline (cancelled, connection dropped).",
         offsetof(struct pg_pool, timeouts)},
        {"pace_db_connects_total", "Connection attempts.", offsetof(struct pg_pool, connects)},
        {"pace_db_connect_failures_total", "Connection attempts that failed.",
         offsetof(struct pg_pool, connect_failures)},
    };
    for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
        family(out, counters[c].name, "counter", counters[c].help);
        for (int i = 0; i < np; i++) {
            _Atomic uint64_t *v = (_Atomic uint64_t *)(void *)((char *)pools[i] + counters[c].off);
            buf_printf(out, "%s{server=\"%s\"} %llu\n", counters[c].name, pools[i]->label,
                       (unsigned long long)atomic_load(v));
        }
    }
    if (st->nreplicas > 0) {
        family(out, "pace_db_replica_up", "gauge", "1 while a replica serves reads, 0 while it is skipped.");
        int64_t now = clock_mono_ms();
        for (int i = 1; i < np; i++)
            buf_printf(out, "pace_db_replica_up{server=\"%s\"} %d\n", pools[i]->label,
                       atomic_load(&pools[i]->down_until) <= now);
    }
}
