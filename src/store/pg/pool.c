/* Connection pools, one per server: handing out a connection within the
 * caller's deadline (an idle one checked alive, or a new one, at most
 * PG_CONNECTING_MAX connecting at once), taking it back, and the keeper
 * that keeps a pool's minimum open and drops idle connections the server
 * closed. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/pg/pg_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/ticker.h"

static int64_t
mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const double store_pg_wait_bounds[PG_WAIT_BUCKETS] = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5};

static void
record_wait(struct pg_pool *p, int64_t us)
{
    double s = (double)us / 1e6;
    int b = 0;
    while (b < PG_WAIT_BUCKETS && s > store_pg_wait_bounds[b])
        b++;
    p->wait_buckets[b]++;
    p->wait_count++;
    p->wait_us += (uint64_t)us;
}

int
store_pg_pool_acquire(struct pg_pool *p, struct pgx *x)
{
    /* A request's calls share one deadline: its start plus the statement
     * timeout (store_request_started), whatever each call was given. */
    int64_t started = store_request_started_at();
    if (started > 0 && started + p->st->statement_timeout_ms < x->deadline)
        x->deadline = started + p->st->statement_timeout_ms;
    if (clock_mono_ms() >= x->deadline) {
        /* Spent queueing or on earlier calls: no connection is taken (a
         * statement sent now would only be cancelled). */
        atomic_fetch_add(&p->timeouts, 1);
        store_pg_log_trouble(p, "the request's deadline passed before it could have a connection");
        return ERR_UNAVAILABLE;
    }
    int64_t t0 = mono_us();
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->idle != NULL) {
            struct pg_conn *c = p->idle;
            p->idle = c->next;
            c->next = NULL;
            p->busy++;
            pthread_mutex_unlock(&p->mu);
            if (store_pg_conn_alive(c)) {
                pthread_mutex_lock(&p->mu);
                record_wait(p, mono_us() - t0);
                pthread_mutex_unlock(&p->mu);
                x->c = c;
                x->reused = true;
                return OK;
            }
            log_debug("store", "%s: dropped a connection the server had closed", p->label);
            store_pg_conn_close(c);
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
            int err = store_pg_conn_open(p, x->deadline, &c);
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
            store_pg_log_trouble(p,
                                 "no free connection within the deadline (%d in use, %d of them connecting)",
                                 busy, connecting);
            return ERR_UNAVAILABLE;
        }
        p->waiting++;
        clock_cond_wait_until(&p->cv, &p->mu, deadline_ms);
        p->waiting--;
    }
}

void
store_pg_pool_release(struct pg_pool *p, struct pg_conn *c)
{
    bool keep = !c->broken && PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_IDLE;
    if (!keep)
        store_pg_conn_close(c);
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
    if (c == NULL || store_pg_conn_alive(c))
        return c;
    c->broken = true;
    store_pg_pool_release(p, c);
    return NULL;
}

void
store_pg_pool_put(struct pg_pool *p, struct pg_conn *c)
{
    store_pg_pool_release(p, c);
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
    struct pg_pool *p = xcalloc(1, sizeof(*p));
    p->kw = xcalloc(n + 8, sizeof(*p->kw));
    p->vals = xcalloc(n + 8, sizeof(*p->vals));
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
        p->kw[k] = xstrdup(o->keyword);
        p->vals[k] = xstrdup(o->val);
        k++;
    }
    /* Every connection: the server ends a statement that runs past the
     * statement timeout (pace gives up at the same time), commits wait for
     * the WAL flush, bytea comes back as hex, and prepared statements run
     * their generic plan (planned once per connection; the plans the
     * query-plan test checks) instead of being planned again each time.
     * Not with unnamed statements: a transaction-mode pooler runs each
     * transaction on whichever server connection is free, so a client's
     * session settings mean nothing there (PgBouncer refuses the options
     * parameter, or drops it when told to ignore it); the server's own
     * settings apply (see store_pg_open's check) and the URL's options, if
     * any, go through as they are. */
    char options[1024];
    if (st->unnamed)
        snprintf(options, sizeof(options), "%s", user_options != NULL ? user_options : "");
    else
        snprintf(options, sizeof(options),
                 "%s%s-c statement_timeout=%d -c synchronous_commit=on -c bytea_output=hex "
                 "-c plan_cache_mode=force_generic_plan",
                 user_options != NULL ? user_options : "", user_options != NULL ? " " : "",
                 st->statement_timeout_ms);
    if (options[0] != '\0') {
        p->kw[k] = xstrdup("options");
        p->vals[k] = xstrdup(options);
        k++;
    }
    p->kw[k] = xstrdup("fallback_application_name");
    p->vals[k] = xstrdup("pace");
    k++;
    p->kw[k] = xstrdup("client_encoding");
    p->vals[k] = xstrdup("UTF8");
    k++;
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", (st->connect_timeout_ms + 999) / 1000);
    p->kw[k] = xstrdup("connect_timeout");
    p->vals[k] = xstrdup(timeout);
    k++;
    p->kw[k] = NULL;
    p->vals[k] = NULL;
    PQconninfoFree(opts);
    pthread_mutex_init(&p->mu, NULL);
    clock_cond_init(&p->cv);
    *out = p;
    return OK;
}

void
store_pg_pool_free(struct pg_pool *p)
{
    if (p == NULL)
        return;
    if (p->keeper != NULL) {
        pthread_mutex_lock(&p->mu);
        p->stopping = true; /* keep_fill stops between attempts */
        pthread_mutex_unlock(&p->mu);
        ticker_stop(p->keeper);
    }
    struct pg_conn *c = p->idle;
    while (c != NULL) {
        struct pg_conn *next = c->next;
        store_pg_conn_close(c);
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
    free(p);
}

int
store_pg_pool_check(struct pg_pool *p, int timeout_ms)
{
    struct pgx x = {.st = p->st, .deadline = clock_mono_ms() + timeout_ms};
    int err = store_pg_pool_acquire(p, &x);
    if (err == OK)
        store_pg_pool_release(p, x.c);
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
        if (store_pg_conn_alive(c)) {
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
        store_pg_conn_close(dead);
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
        int err = store_pg_conn_open(p, clock_mono_ms() + p->st->connect_timeout_ms, &c);
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

/* One round of the keeper, every PG_KEEP_INTERVAL_MS. */
static void
keep(void *arg)
{
    struct pg_pool *p = arg;
    keep_prune(p);
    keep_fill(p);
}

void
store_pg_pool_keep(struct pg_pool *p, int min)
{
    if (min <= 0 || p->keeper != NULL)
        return;
    p->min = min < p->size ? min : p->size;
    p->keeper = ticker_start("pool keeper", PG_KEEP_INTERVAL_MS, true, keep, p);
    if (p->keeper == NULL) {
        p->min = 0;
        log_warn("store", "%s: cannot start the pool keeper: connections open on demand", p->label);
    }
}
