/* The Redis client: one pipelined hiredis connection per event loop, on the
 * loop's poller (util/loopio.h), the way the store's PostgreSQL reads run.
 *
 * Code off the loops (the pools, the watcher) formats its command, posts
 * it to a loop in turn and waits on its own condition variable up to the
 * command's deadline; the loop writes it with the other commands of the
 * round (one write, replies in order). A command and its waiter share a
 * reference-counted `struct call`, so a waiter that gave up never leaves
 * the loop a dangling pointer.
 *
 * Deadlines: hiredis 0.14 has none for async commands. Each command in
 * flight is on the connection's FIFO with its deadline; the loop's 10 ms
 * tick fails the ones past it (their replies, if they come, are dropped).
 * A connection whose oldest command has waited STALL_MS gets dropped, and
 * a new one is made after a back-off (50 ms doubling to 2 s).
 *
 * The breaker: BREAKER_FAILURES failures in a row open it; while open,
 * commands fail at once (the callers fall back); after open_ms one command
 * gets through (half-open) and its result closes it or opens it for twice
 * as long (up to OPEN_MAX_MS). State changes are logged once each; error
 * replies once each 10 s.
 *
 * Every connection loads the function library first (FUNCTION LOAD
 * REPLACE), so a restarted or promoted Redis always has it. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "cache/internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/embedded.h"
#include "util/err.h"
#include "util/log.h"

enum {
    BREAKER_FAILURES = 3,
    OPEN_MIN_MS = 100,
    OPEN_MAX_MS = 2000,
    BACKOFF_MIN_MS = 50,
    BACKOFF_MAX_MS = 2000,
    STALL_MIN_MS = 500,
    PEND_MAX = 4096, /* commands in flight on one connection; beyond: refused */
    WAIT_SLACK_MS = 25
};

const double cache_lat_bounds[LAT_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.5,    1.0};

void
cache_observe(atomic_ullong *count, atomic_ullong *sum_us, atomic_ullong *buckets, int64_t us)
{
    if (us < 0)
        us = 0;
    atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(sum_us, (unsigned long long)us, memory_order_relaxed);
    double s = (double)us / 1e6;
    for (int i = 0; i < LAT_BUCKETS; i++)
        if (s <= cache_lat_bounds[i]) {
            atomic_fetch_add_explicit(&buckets[i], 1, memory_order_relaxed);
            break;
        }
}

/* ---- calls: a command and the thread waiting for it ---- */

struct call {
    atomic_int refs; /* the waiter (when it waits) and the loop */
    struct cache *c;
    char *cmd; /* hiredis-formatted */
    int len;
    int64_t deadline; /* monotonic ms */
    int64_t sent_us;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done; /* guarded by mu */
    int err;
    struct cache_reply reply;
};

static void
call_unref(struct call *k)
{
    if (atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    redisFreeCommand(k->cmd);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k);
}

/* Flattens a reply into out; OK, or ERR_INVALID for an error reply. */
static int
flatten(const redisReply *r, struct cache_reply *out)
{
    memset(out, 0, sizeof(*out));
    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        out->type = CACHE_INT;
        out->integer = r->integer;
        return OK;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: {
        out->type = r->type == REDIS_REPLY_STRING ? CACHE_STR : CACHE_STATUS;
        size_t n = r->len < CACHE_REPLY_STR - 1 ? r->len : CACHE_REPLY_STR - 1;
        memcpy(out->str, r->str, n);
        out->integer = strtoll(out->str, NULL, 10);
        return OK;
    }
    case REDIS_REPLY_ARRAY:
        out->type = CACHE_ARRAY;
        for (size_t i = 0; i < r->elements && out->n < CACHE_REPLY_INTS; i++) {
            const redisReply *e = r->element[i];
            out->ints[out->n++] = e->type == REDIS_REPLY_INTEGER  ? e->integer
                                  : e->type == REDIS_REPLY_STRING ? strtoll(e->str, NULL, 10)
                                                                  : 0;
        }
        return OK;
    case REDIS_REPLY_ERROR:
        out->type = CACHE_STR;
        snprintf(out->str, sizeof(out->str), "%.*s", (int)r->len, r->str);
        return ERR_INVALID;
    default:
        out->type = CACHE_NIL;
        return OK;
    }
}

/* The loop's answer for k: wakes its waiter. */
static void
call_complete(struct call *k, int err, const redisReply *r)
{
    struct cache *c = k->c;
    pthread_mutex_lock(&k->mu);
    if (!k->done) {
        k->err = err;
        if (err == OK && r != NULL) {
            k->err = flatten(r, &k->reply);
            if (k->err != OK)
                atomic_fetch_add_explicit(&c->reply_errors, 1, memory_order_relaxed);
        } else if (err == OK) {
            k->err = ERR_UNAVAILABLE;
        }
        k->done = true;
        pthread_cond_signal(&k->cv);
    }
    pthread_mutex_unlock(&k->mu);
}

/* ---- the breaker ---- */

void
cache_breaker_result(struct cache *c, bool ok)
{
    if (ok) {
        atomic_store(&c->failures, 0);
        int was = atomic_exchange(&c->breaker, BREAKER_CLOSED);
        if (was != BREAKER_CLOSED) {
            atomic_store(&c->open_ms, OPEN_MIN_MS);
            log_info("cache", "Redis answers again: shared limits and caches are back");
        }
        return;
    }
    int f = atomic_fetch_add(&c->failures, 1) + 1;
    int state = atomic_load(&c->breaker);
    if (state == BREAKER_OPEN || (state == BREAKER_CLOSED && f < BREAKER_FAILURES))
        return; /* a half-open probe that failed reopens it */
    int open_ms = atomic_load(&c->open_ms);
    atomic_store(&c->open_until_ms, clock_mono_ms() + open_ms);
    atomic_fetch_add(&c->openings, 1);
    atomic_store(&c->open_ms, open_ms * 2 > OPEN_MAX_MS ? OPEN_MAX_MS : open_ms * 2);
    if (atomic_exchange(&c->breaker, BREAKER_OPEN) == BREAKER_CLOSED) {
        log_warn("cache",
                 "Redis does not answer within %d ms: falling back to local limits and no shared cache "
                 "until it does",
                 c->timeout_ms);
        cache_new_generation(c);
    }
}

/* Whether a command may be tried now: always while closed; while open,
 * none until open_until, then exactly one (the half-open probe, whose
 * result closes or reopens the breaker). */
static bool
breaker_allows(struct cache *c)
{
    int state = atomic_load(&c->breaker);
    if (state == BREAKER_CLOSED)
        return true;
    if (state == BREAKER_HALF_OPEN || clock_mono_ms() < atomic_load(&c->open_until_ms))
        return false;
    int expected = BREAKER_OPEN;
    return atomic_compare_exchange_strong(&c->breaker, &expected, BREAKER_HALF_OPEN);
}

/* A command let through as the half-open probe was never sent: the next
 * command may probe instead. */
static void
breaker_unprobe(struct cache *c)
{
    int expected = BREAKER_HALF_OPEN;
    atomic_compare_exchange_strong(&c->breaker, &expected, BREAKER_OPEN);
}

/* ---- targets ---- */

bool
cache_parse_hostport(const char *s, size_t len, struct target *t)
{
    memset(t, 0, sizeof(*t));
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(t->host))
        return false;
    memcpy(t->host, s, (size_t)(colon - s));
    char port[8] = {0};
    size_t pl = len - (size_t)(colon + 1 - s);
    if (pl == 0 || pl >= sizeof(port))
        return false;
    memcpy(port, colon + 1, pl);
    char *end;
    long p = strtol(port, &end, 10);
    if (*end != '\0' || p < 1 || p > 65535)
        return false;
    t->port = (int)p;
    return true;
}

bool
cache_target_get(struct cache *c, struct target *t, unsigned *gen)
{
    pthread_mutex_lock(&c->target_mu);
    *t = c->current;
    *gen = atomic_load(&c->target_gen);
    pthread_mutex_unlock(&c->target_mu);
    return t->port != 0 || t->path[0] != '\0';
}

void
cache_target_set(struct cache *c, const struct target *t)
{
    pthread_mutex_lock(&c->target_mu);
    bool changed = memcmp(&c->current, t, sizeof(*t)) != 0;
    if (changed) {
        c->current = *t;
        atomic_fetch_add(&c->target_gen, 1);
    }
    pthread_mutex_unlock(&c->target_mu);
    if (changed)
        cache_new_generation(c);
}

void
cache_new_generation(struct cache *c)
{
    atomic_fetch_add(&c->generation, 1);
}

uint64_t
cache_generation(struct cache *c)
{
    return atomic_load(&c->generation);
}

/* ---- the loop's connection ---- */

struct pend {
    struct pend *next, *prev;
    struct conn *cn;
    struct call *call; /* NULL once failed by its deadline or for setup commands */
    int64_t deadline;
    bool setup; /* AUTH, SELECT, FUNCTION LOAD: the connection is ready after them */
    bool last_setup;
};

struct conn {
    struct cache *c;
    redisAsyncContext *ac; /* NULL: none */
    void *watch;
    bool want_write;
    bool ready;       /* the setup commands answered */
    unsigned gen;     /* the target generation it was made for */
    int64_t retry_at; /* monotonic ms: no new connection before */
    int backoff_ms;
    struct pend *head, *tail; /* commands in flight, oldest first */
    size_t npend;
};

static _Thread_local struct conn *here;

static void conn_drop(struct conn *cn, const char *why);

static void
arm(struct conn *cn)
{
    if (cn->watch != NULL)
        cn->c->io->arm(cn->watch, cn->want_write, cn->npend > 0);
}

static void
pend_unlink(struct conn *cn, struct pend *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        cn->head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    else
        cn->tail = p->prev;
    cn->npend--;
}

/* Fails the commands past their deadline; drops a stalled connection. */
static void
check_deadlines(struct conn *cn)
{
    int64_t now = clock_mono_ms();
    /* Deadlines differ (cache_call_must waits longer): look at every one. */
    for (struct pend *p = cn->head; p != NULL; p = p->next) {
        if (p->call == NULL || p->deadline > now)
            continue;
        atomic_fetch_add_explicit(&cn->c->timeouts, 1, memory_order_relaxed);
        cache_breaker_result(cn->c, false);
        call_complete(p->call, ERR_UNAVAILABLE, NULL);
        call_unref(p->call);
        p->call = NULL;
    }
    int stall = cn->c->timeout_ms * 10 > STALL_MIN_MS ? cn->c->timeout_ms * 10 : STALL_MIN_MS;
    if (cn->head != NULL && cn->head->deadline + stall <= now)
        conn_drop(cn, "no answer");
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct pend *p = privdata;
    struct conn *cn = p->cn;
    const redisReply *r = reply;
    pend_unlink(cn, p);
    if (p->setup) {
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            if (r != NULL)
                log_warn("cache", "Redis refused the connection's set-up: %.*s", (int)r->len, r->str);
            free(p);
            if (r != NULL)
                conn_drop(cn, NULL);
            return;
        }
        if (p->last_setup) {
            cn->ready = true;
            cn->backoff_ms = 0;
        }
        free(p);
        return;
    }
    if (p->call != NULL) {
        struct cache *c = cn->c;
        int64_t us = clock_mono_us() - p->call->sent_us;
        cache_observe(&c->lat_count, &c->lat_sum_us, c->lat_buckets, us);
        cache_breaker_result(c, r != NULL);
        if (r == NULL)
            atomic_fetch_add_explicit(&c->conn_errors, 1, memory_order_relaxed);
        call_complete(p->call, OK, r);
        call_unref(p->call);
    }
    bool reload = r != NULL && r->type == REDIS_REPLY_ERROR &&
                  (strstr(r->str, "Function not found") != NULL || strncmp(r->str, "READONLY", 8) == 0);
    free(p);
    if (reload)
        conn_drop(cn, "the server lost the functions or is a replica now");
}

/* hiredis's event hooks: our poller always watches reads. */
static void
ev_add_write(void *arg)
{
    struct conn *cn = arg;
    cn->want_write = true;
    arm(cn);
}

static void
ev_del_write(void *arg)
{
    struct conn *cn = arg;
    cn->want_write = false;
}

static void
ev_noop(void *arg)
{
    (void)arg;
}

static void
ev_cleanup(void *arg)
{
    struct conn *cn = arg;
    if (cn->watch != NULL)
        cn->c->io->close(cn->watch);
    cn->watch = NULL;
    cn->want_write = false;
}

/* The connection is gone (hiredis frees it): back off before the next. */
static void
mark_down(struct conn *cn)
{
    cn->ac = NULL;
    cn->ready = false;
    cache_new_generation(cn->c);
    int b = cn->backoff_ms == 0 ? BACKOFF_MIN_MS : cn->backoff_ms * 2;
    cn->backoff_ms = b > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b;
    cn->retry_at = clock_mono_ms() + cn->backoff_ms;
}

/* hiredis: the connection ended (every pending callback has had NULL). */
static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *cn = ac->data;
    if (cn == NULL)
        return;
    if (status != REDIS_OK) { /* lost, not closed by us */
        atomic_fetch_add_explicit(&cn->c->conn_errors, 1, memory_order_relaxed);
        cache_breaker_result(cn->c, false);
    }
    mark_down(cn);
}

/* hiredis: connect(2) finished; on failure hiredis frees the context
 * without calling on_disconnect. */
static void
on_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK && ac->data != NULL) {
        struct conn *cn = ac->data;
        atomic_fetch_add_explicit(&cn->c->conn_errors, 1, memory_order_relaxed);
        cache_breaker_result(cn->c, false);
        mark_down(cn);
    }
}

static void
on_ready(void *arg)
{
    struct conn *cn = arg;
    if (cn->ac != NULL && cn->want_write)
        redisAsyncHandleWrite(cn->ac);
    if (cn->ac != NULL)
        redisAsyncHandleRead(cn->ac);
    check_deadlines(cn);
    arm(cn);
}

/* Drops the connection now, failing what is in flight on it. */
static void
conn_drop(struct conn *cn, const char *why)
{
    redisAsyncContext *ac = cn->ac;
    if (ac == NULL)
        return;
    if (why != NULL)
        log_warn("cache", "dropping a Redis connection: %s", why);
    atomic_fetch_add_explicit(&cn->c->conn_errors, 1, memory_order_relaxed);
    if (cn->watch != NULL)
        cn->c->io->close(cn->watch);
    cn->watch = NULL;
    cn->want_write = false;
    ac->ev.addWrite = ev_noop;
    ac->ev.cleanup = NULL;
    ac->data = NULL;
    mark_down(cn);
    redisAsyncFree(ac); /* every pending callback gets NULL (deferred when inside one) */
}

/* Sends a set-up command (printf-like); false when hiredis refused it. */
static bool
send_setup(struct conn *cn, bool last, const char *fmt, ...)
{
    struct pend *p = xcalloc(1, sizeof(*p));
    p->cn = cn;
    p->setup = true;
    p->last_setup = last;
    p->deadline = clock_mono_ms() + cn->c->timeout_ms * 4 + 1000;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(cn->ac, on_reply, p, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(p);
        return false;
    }
    p->prev = cn->tail;
    if (cn->tail != NULL)
        cn->tail->next = p;
    else
        cn->head = p;
    cn->tail = p;
    cn->npend++;
    return true;
}

/* The connection of this loop, connecting when there is none and the
 * back-off allows; NULL when there is nothing to send on. */
static struct conn *
conn_get(struct cache *c)
{
    struct conn *cn = here;
    if (cn == NULL) {
        cn = here = xcalloc(1, sizeof(*cn));
        cn->c = c;
    }
    struct target t;
    unsigned gen;
    bool known = cache_target_get(c, &t, &gen);
    if (cn->gen != gen) { /* a failover: the master moved; connect there at once */
        conn_drop(cn, NULL);
        cn->gen = gen;
        cn->backoff_ms = 0;
        cn->retry_at = 0;
    }
    if (cn->ac != NULL)
        return cn;
    if (!known) {
        cache_breaker_result(c, false); /* no master known (Sentinel): Redis is out */
        return NULL;
    }
    if (clock_mono_ms() < cn->retry_at)
        return NULL;
    redisAsyncContext *ac =
        t.path[0] != '\0' ? redisAsyncConnectUnix(t.path) : redisAsyncConnect(t.host, t.port);
    if (ac == NULL || ac->err) {
        if (ac != NULL)
            redisAsyncFree(ac);
        atomic_fetch_add_explicit(&c->conn_errors, 1, memory_order_relaxed);
        mark_down(cn);
        cache_breaker_result(c, false);
        return NULL;
    }
    cn->ac = ac;
    cn->gen = gen;
    cn->ready = false;
    ac->data = cn;
    cn->watch = c->io->watch(ac->c.fd, on_ready, cn);
    if (cn->watch == NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
        mark_down(cn);
        return NULL;
    }
    ac->ev.data = cn;
    ac->ev.addRead = ev_noop;
    ac->ev.delRead = ev_noop;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    size_t flen;
    const char *lib = cache_functions(&flen);
    bool ok = true;
    if (c->password[0] != '\0' && c->username[0] != '\0')
        ok = send_setup(cn, false, "AUTH %s %s", c->username, c->password);
    else if (c->password[0] != '\0')
        ok = send_setup(cn, false, "AUTH %s", c->password);
    if (ok && c->db != 0)
        ok = send_setup(cn, false, "SELECT %d", c->db);
    if (ok)
        ok = send_setup(cn, true, "FUNCTION LOAD REPLACE %b", lib, flen);
    if (!ok) {
        conn_drop(cn, "cannot send the set-up commands");
        return NULL;
    }
    cache_new_generation(c);
    arm(cn);
    return cn;
}

/* On a loop: sends k (or fails it at once). Takes the loop's reference. */
static void
call_run(void *arg)
{
    struct call *k = arg;
    struct cache *c = k->c;
    struct conn *cn = conn_get(c);
    if (cn == NULL || cn->npend >= PEND_MAX || clock_mono_ms() >= k->deadline) {
        /* Every command that passed the breaker is judged, or a half-open
         * probe refused here would leave it half-open for good. */
        atomic_fetch_add_explicit(&c->rejected, 1, memory_order_relaxed);
        cache_breaker_result(c, false);
        call_complete(k, ERR_UNAVAILABLE, NULL);
        call_unref(k);
        return;
    }
    struct pend *p = xcalloc(1, sizeof(*p));
    p->cn = cn;
    p->call = k;
    p->deadline = k->deadline;
    k->sent_us = clock_mono_us();
    if (redisAsyncFormattedCommand(cn->ac, on_reply, p, k->cmd, (size_t)k->len) != REDIS_OK) {
        free(p);
        cache_breaker_result(c, false);
        call_complete(k, ERR_UNAVAILABLE, NULL);
        call_unref(k);
        return;
    }
    p->prev = cn->tail;
    if (cn->tail != NULL)
        cn->tail->next = p;
    else
        cn->head = p;
    cn->tail = p;
    cn->npend++;
    atomic_fetch_add_explicit(&c->commands, 1, memory_order_relaxed);
    arm(cn);
}

static int
call_v(struct cache *c, struct cache_reply *out, bool wait, int timeout_ms, bool force, const char *fmt,
       va_list ap)
{
    if (c == NULL || !c->enabled || c->io == NULL)
        return ERR_UNAVAILABLE;
    if (wait && c->io->on_loop())
        return ERR_WOULD_BLOCK;
    if (!force && !breaker_allows(c)) {
        atomic_fetch_add_explicit(&c->rejected, 1, memory_order_relaxed);
        return ERR_UNAVAILABLE;
    }
    struct call *k = xcalloc(1, sizeof(*k));
    k->len = redisvFormatCommand(&k->cmd, fmt, ap);
    if (k->len < 0) {
        free(k);
        if (!force)
            breaker_unprobe(c);
        return ERR_INVALID;
    }
    k->c = c;
    k->deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : c->timeout_ms);
    pthread_mutex_init(&k->mu, NULL);
    clock_cond_init(&k->cv);
    atomic_store(&k->refs, wait ? 2 : 1);
    if (!c->io->post(call_run, k)) { /* no loop runs: not Redis's fault */
        atomic_store(&k->refs, 1);
        call_unref(k);
        if (!force)
            breaker_unprobe(c);
        return ERR_UNAVAILABLE;
    }
    if (!wait)
        return OK;
    /* The loop fails it at its deadline (within a tick); the slack is a
     * backstop. A long wait (cache_call_must) also ends when the breaker
     * opens: Redis is out for this instance, and what it was for is
     * retried later. */
    unsigned openings = atomic_load(&c->openings);
    pthread_mutex_lock(&k->mu);
    int64_t until = k->deadline + WAIT_SLACK_MS;
    while (!k->done && clock_mono_ms() < until) {
        int64_t step = timeout_ms > c->timeout_ms ? clock_mono_ms() + 10 : until;
        clock_cond_wait_until(&k->cv, &k->mu, step < until ? step : until);
        if (timeout_ms > c->timeout_ms && atomic_load(&c->openings) != openings)
            break;
    }
    int err = k->done ? k->err : ERR_UNAVAILABLE;
    if (k->done && out != NULL)
        *out = k->reply;
    if (k->done && err == ERR_INVALID) {
        long long now = clock_mono_ms(), last = atomic_load(&c->errors_logged_ms);
        if (now - last >= 10000 && atomic_compare_exchange_strong(&c->errors_logged_ms, &last, now))
            log_warn("cache", "Redis answered an error (logged once each 10 s): %s", k->reply.str);
    }
    pthread_mutex_unlock(&k->mu);
    call_unref(k);
    return err;
}

int
cache_call(struct cache *c, struct cache_reply *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int err = call_v(c, out, true, 0, false, fmt, ap);
    va_end(ap);
    return err;
}

int
cache_call_must(struct cache *c, struct cache_reply *out, const char *fmt, ...)
{
    /* While the breaker is closed, up to CACHE_MUST_TIMEOUT_MS: a write
     * that is about to be acknowledged waits for what other instances
     * depend on. While it is open, one try at the usual timeout, past the
     * breaker, so a Redis that is back is noticed at the first write. */
    bool closed = c != NULL && atomic_load(&c->breaker) == BREAKER_CLOSED;
    int timeout = closed && c->timeout_ms < CACHE_MUST_TIMEOUT_MS ? CACHE_MUST_TIMEOUT_MS : 0;
    va_list ap;
    va_start(ap, fmt);
    int err = call_v(c, out, true, timeout, true, fmt, ap);
    va_end(ap);
    return err;
}

int
cache_send(struct cache *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int err = call_v(c, NULL, false, 0, false, fmt, ap);
    va_end(ap);
    return err;
}

void
cache_loop_end(struct cache *c)
{
    (void)c;
    struct conn *cn = here;
    if (cn == NULL)
        return;
    if (cn->ac != NULL) {
        cn->ac->data = NULL; /* on_disconnect must not touch cn */
        redisAsyncFree(cn->ac);
    }
    free(cn);
    here = NULL;
}

const char *
cache_functions(size_t *len)
{
    const struct embedded_file *f = embedded_find("src/cache/functions.lua");
    *len = f != NULL ? f->len : 0;
    return f != NULL ? (const char *)f->data : "";
}

/* ---- keys ---- */

void
cache_key(const struct cache *c, const char *kind, const char *in, size_t len, char out[CACHE_KEY_MAX])
{
    uint8_t h[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, c->seed, sizeof(c->seed), sizeof(h));
    crypto_generichash_update(&st, (const uint8_t *)kind, strlen(kind) + 1);
    crypto_generichash_update(&st, (const uint8_t *)in, len);
    crypto_generichash_final(&st, h, sizeof(h));
    char b64[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof(b64), h, sizeof(h), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, CACHE_KEY_MAX, "pace:%s:%s", kind, b64);
}

void
cache_key_id(const struct cache *c, const char *kind, int64_t id, char out[CACHE_KEY_MAX])
{
    char s[24];
    int n = snprintf(s, sizeof(s), "%lld", (long long)id);
    cache_key(c, kind, s, (size_t)n, out);
}
