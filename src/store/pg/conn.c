/* Connections to PostgreSQL, one at a time. Every call is bounded by its
 * own deadline: libpq runs in non-blocking mode and we poll its socket with
 * the time left, so a server that is down fails at once and one that is
 * frozen (it completes TCP handshakes and acknowledges data, but never
 * answers) fails at the deadline: the query is cancelled from a helper
 * thread (here) and the connection dropped. An idle connection is checked
 * before reuse, so a restarted server costs no failed request. Pools (one
 * per server: the primary and each replica) and their keepers are in
 * pool.c, statements in exec.c, which server a call uses in route.c. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg/pg_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/thread.h"

int64_t
store_pg_now(void)
{
    static _Atomic int64_t last;
    int64_t now = clock_wall_ms();
    int64_t prev = atomic_load(&last);
    while (now > prev)
        if (atomic_compare_exchange_weak(&last, &prev, now))
            return now;
    return prev > now ? prev : now;
}

/* While a server is down every call fails: one warning per second per
 * server, the rest at debug level. */
void
store_pg_log_trouble(struct pg_pool *p, const char *fmt, ...)
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
        cancels.started = thread_start(&t, &(struct thread_opts){.detached = true}, "query canceller",
                                       canceller_main, NULL) == OK;
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

void
store_pg_conn_close(struct pg_conn *c)
{
    if (c == NULL)
        return;
    PQfinish(c->pg);
    free(c);
}

int
store_pg_poll_ms(int fd, short events, int64_t deadline, short *revents)
{
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            *revents = 0;
            return OK;
        }
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
int
store_pg_conn_open(struct pg_pool *p, int64_t deadline, struct pg_conn **out)
{
    *out = NULL;
    atomic_fetch_add(&p->connects, 1);
    PGconn *pg = PQconnectStartParams(p->kw, p->vals, 0);
    if (pg == NULL)
        alloc_fail();
    const char *why = NULL;
    PostgresPollingStatusType ps =
        PQstatus(pg) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (ps != PGRES_POLLING_OK) {
        if (ps == PGRES_POLLING_FAILED)
            goto fail;
        short rev;
        int w =
            store_pg_poll_ms(PQsocket(pg), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, &rev);
        if (w != OK)
            goto fail;
        if (rev == 0) {
            why = "no answer within the deadline";
            goto fail;
        }
        ps = PQconnectPoll(pg);
    }
    if (PQsetnonblocking(pg, 1) != 0)
        goto fail;
    struct pg_conn *c = xcalloc(1, sizeof(*c));
    c->pg = pg;
    c->pool = p;
    c->opened_at = clock_mono_ms();
    *out = c;
    return OK;
fail:
    atomic_fetch_add(&p->connect_failures, 1);
    store_pg_log_trouble(p, "cannot connect: %s", why != NULL ? why : PQerrorMessage(pg));
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
bool
store_pg_conn_alive(struct pg_conn *c)
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
