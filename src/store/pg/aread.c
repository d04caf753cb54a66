/* Loop connections: the hot reads (a task list page, one task) sent from
 * the event loop threads without waiting, pipelined on one connection per
 * loop thread.
 *
 * A blocking read crosses threads twice (loop -> blocking pool -> loop)
 * and waits for the server on a pool thread; on a small machine the
 * wake-ups cost more than the query. Here a loop thread borrows one idle
 * connection of the primary's pool (never connecting itself: the pool's
 * keeper reopens connections), puts it in pipeline mode and has the loop's
 * poller watch it. The loops together keep at most a quarter of the pool
 * (the rest serves the blocking calls); a loop without one reads through
 * the blocking pool. Reads sent during one round of events go out together
 * at the round's end, after one Sync (store_pg_reads_round_end); results
 * come back in order and each op's done runs on the loop.
 *
 * When the connection breaks (an error, the server gone) it is dropped and
 * the reads in flight get ERR_WOULD_BLOCK: their callers retry them as
 * blocking reads, which find a live connection or fail fast. When the
 * oldest read has had no answer within PACE_DB_STATEMENT_TIMEOUT (a frozen
 * server) the reads in flight get ERR_UNAVAILABLE: the server does not
 * answer, and a retry would only double the wait. The next read borrows
 * another idle connection. With read replicas configured, reads keep to
 * the blocking path (it knows replicas and read-your-writes). */
#include <string.h>

#include "store/pg/pg_int.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#define STORE(s) ((struct pg_store *)(s))

enum {
    AOP_MAX_PENDING = 1024, /* ops in flight on one loop connection; beyond: blocking reads */
    RETRY_MS = 100          /* after no idle connection was free, do not look again before this */
};

struct lconn {
    struct pg_store *st;
    struct pg_conn *c; /* borrowed from the primary's pool; NULL: none */
    void *w;           /* the loop's watch on its socket */
    struct pg_aop *head, **tail;
    int pending;
    int synced;    /* of them, the first ones, sent before the last Sync */
    bool unsynced; /* ops sent since the last Sync */
    int64_t retry_at;
};

static _Thread_local struct lconn tl;

void
store_pg_set_loop_io(struct store *s, const struct loop_io *io)
{
    STORE(s)->loop_io = io;
}

/* The connection goes back to the pool (closed there when broken). */
static void
give_back(struct lconn *l)
{
    l->st->loop_io->close(l->w);
    l->w = NULL;
    store_pg_pool_put(l->st->primary, l->c);
    l->c = NULL;
    atomic_fetch_sub(&l->st->primary->loop_held, 1);
}

static void
complete(struct pg_aop *op, int err)
{
    if (op->failed != NULL)
        PQclear(op->failed);
    op->failed = NULL;
    op->done(op->done_arg, err);
}

/* Drops the connection; every op in flight gets err (none when the loop
 * is exiting: no reply can go out any more). */
static void
drop(struct lconn *l, int err, bool complete_ops)
{
    struct pg_aop *ops = l->head;
    l->head = NULL;
    l->tail = &l->head;
    l->pending = 0;
    l->synced = 0;
    l->unsynced = false;
    if (l->c != NULL) {
        l->c->broken = true;
        give_back(l);
    }
    l->retry_at = clock_mono_ms() + RETRY_MS;
    while (ops != NULL) {
        struct pg_aop *next = ops->next;
        if (complete_ops)
            complete(ops, err);
        else if (ops->failed != NULL)
            PQclear(ops->failed);
        ops = next;
    }
}

static void
lost(struct lconn *l, const char *why)
{
    atomic_fetch_add(&l->st->primary->errors, 1);
    store_pg_conn_lost(l->st->primary);
    log_warn("store", "primary: loop connection lost: %s", why);
    drop(l, ERR_WOULD_BLOCK, true);
}

/* One result for the head op. */
static void
take_result(struct lconn *l, PGresult *r)
{
    struct pg_aop *op = l->head;
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_PIPELINE_ABORTED)
        op->aborted = true;
    else if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && op->failed == NULL) {
        op->failed = r;
        op->failed_step = op->prepared_flag != NULL ? 2 - op->steps : 1;
        r = NULL;
    }
    if (--op->steps > 0) {
        PQclear(r);
        return;
    }
    l->head = op->next;
    if (l->head == NULL)
        l->tail = &l->head;
    l->pending--;
    if (l->synced > 0)
        l->synced--; /* results come in order: the synced ops' first */
    int err;
    if (op->failed != NULL) {
        struct pgx x = {.st = l->st, .c = l->c};
        PGresult *f = op->failed;
        op->failed = NULL;
        err = store_pg_check_result(&x, f, "loop read");
        PQclear(r);
        if (op->prepared_flag != NULL && op->failed_step == 0)
            *op->prepared_flag = false; /* its prepare failed: prepare again next time */
        if (x.conn_failed) {
            /* The connection is gone: a blocking read tries again, with its
             * own deadline, as do the reads after this one. */
            complete(op, ERR_WOULD_BLOCK);
            if (l->c != NULL)
                drop(l, ERR_WOULD_BLOCK, true);
            return;
        }
        /* A statement error on a live connection (the server's statement
         * timeout, a serialization failure) is this read's answer. The
         * commands after it until the Sync were skipped, prepares included,
         * so which statements exist on the connection is no longer known:
         * it is dropped (as the blocking path drops a connection whose
         * statement timed out), and the reads still pending on it go to
         * the blocking path. */
        if (l->c != NULL)
            drop(l, ERR_WOULD_BLOCK, true);
        complete(op, err);
        return;
    } else if (op->aborted) {
        err = ERR_WOULD_BLOCK;
    } else {
        err = op->read(op->read_arg, r);
    }
    PQclear(r);
    complete(op, err);
}

/* Hands out the results libpq has read. False when the connection was
 * dropped. */
static bool
take_results(struct lconn *l)
{
    PGconn *pg = l->c->pg;
    /* Each command's results end with a NULL; an idle connection answers
     * NULL every time: two in a row mean nothing more for now. */
    int nulls = 0;
    while (l->c != NULL && !PQisBusy(pg)) {
        PGresult *r = PQgetResult(pg);
        if (r == NULL) {
            if (++nulls == 2)
                break;
            continue;
        }
        nulls = 0;
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            continue;
        }
        if (l->head == NULL) {
            PQclear(r);
            lost(l, "a result no read asked for");
            return false;
        }
        take_result(l, r);
    }
    return l->c != NULL;
}

static void
on_ready(void *arg)
{
    struct lconn *l = arg;
    if (l->c == NULL)
        return;
    PGconn *pg = l->c->pg;
    int f = PQflush(pg);
    if (f < 0 || !PQconsumeInput(pg)) {
        lost(l, PQerrorMessage(pg));
        return;
    }
    if (!take_results(l))
        return;
    if (PQstatus(pg) == CONNECTION_BAD) {
        lost(l, PQerrorMessage(pg));
        return;
    }
    if (l->head != NULL && clock_mono_ms() - l->head->sent > l->st->statement_timeout_ms) {
        atomic_fetch_add(&l->st->primary->timeouts, 1);
        store_pg_cancel(pg);
        log_warn("store", "primary: loop read: no answer within the deadline; cancelled, connection dropped");
        drop(l, ERR_UNAVAILABLE, true);
        return;
    }
    l->st->loop_io->arm(l->w, f == 1, l->head != NULL);
}

/* This thread's connection, borrowed now if need be; NULL: none free. */
static struct lconn *
lconn_for(struct pg_store *st)
{
    struct lconn *l = &tl;
    if (st->loop_io == NULL || st->nreplicas > 0 || (l->st != NULL && l->st != st))
        return NULL;
    if (l->c != NULL)
        return l;
    int64_t now = clock_mono_ms();
    if (now < l->retry_at)
        return NULL;
    l->st = st;
    l->tail = &l->head;
    struct pg_pool *p = st->primary;
    if (atomic_fetch_add(&p->loop_held, 1) >= p->size / 4) {
        atomic_fetch_sub(&p->loop_held, 1); /* the loops have their quarter */
        l->retry_at = now + RETRY_MS;
        return NULL;
    }
    struct pg_conn *c = store_pg_pool_take_idle(p);
    if (c == NULL) {
        atomic_fetch_sub(&p->loop_held, 1);
        l->retry_at = now + RETRY_MS;
        return NULL;
    }
    void *w = PQenterPipelineMode(c->pg) ? st->loop_io->watch(PQsocket(c->pg), on_ready, l) : NULL;
    if (w == NULL) {
        c->broken = true; /* half in pipeline mode, or not watched: not for the pool either */
        store_pg_pool_put(p, c);
        atomic_fetch_sub(&p->loop_held, 1);
        l->retry_at = now + RETRY_MS;
        return NULL;
    }
    l->c = c;
    l->w = w;
    return l;
}

int
store_pg_aop_submit(struct pg_store *st, struct pg_aop *op)
{
    struct lconn *l = lconn_for(st);
    if (l == NULL || l->pending >= AOP_MAX_PENDING)
        return ERR_WOULD_BLOCK;
    /* Through a transaction-mode pooler, one batch at a time: PgBouncer
     * keeps a client on its server connection while Syncs are due, but a
     * batch that starts arriving as the one before it ends may be split
     * between two server connections. */
    if (st->unnamed && l->synced > 0)
        return ERR_WOULD_BLOCK;
    PGconn *pg = l->c->pg;
    struct pg_prep pp = store_pg_prep(l->c, op->stmt, op->sort, op->filters);
    op->steps = 1;
    op->failed = NULL;
    op->aborted = false;
    op->prepared_flag = NULL;
    if (pp.named && !*pp.prepared) {
        Oid oids[PG_MAX_PARAMS];
        int n;
        char buf[PG_SQL_MAX];
        store_pg_param_types(pp.types, oids, &n);
        if (!PQsendPrepare(pg, pp.name, store_pg_prep_sql(&pp, buf), n, oids)) {
            lost(l, PQerrorMessage(pg));
            return ERR_WOULD_BLOCK;
        }
        *pp.prepared = true; /* until its result says otherwise */
        op->prepared_flag = pp.prepared;
        op->steps++;
    }
    if (!store_pg_send(pg, &pp, &op->p)) {
        lost(l, PQerrorMessage(pg));
        return ERR_WOULD_BLOCK;
    }
    atomic_fetch_add(&st->primary->queries, 1);
    op->next = NULL;
    op->sent = clock_mono_ms();
    *l->tail = op;
    l->tail = &op->next;
    l->pending++;
    l->unsynced = true;
    return OK;
}

/* The round's reads go out: one Sync after them, and a flush. */
void
store_pg_reads_round_end(struct store *s)
{
    struct lconn *l = &tl;
    if (l->c == NULL || !l->unsynced || l->st != STORE(s))
        return;
    l->unsynced = false;
    l->synced = l->pending;
    if (!PQpipelineSync(l->c->pg)) {
        lost(l, PQerrorMessage(l->c->pg));
        return;
    }
    int f = PQflush(l->c->pg);
    if (f < 0) {
        lost(l, PQerrorMessage(l->c->pg));
        return;
    }
    /* A flush that had to wait may have read answers into libpq's buffer,
     * and the socket will not signal them again. */
    if (!PQisBusy(l->c->pg) && !take_results(l))
        return;
    l->st->loop_io->arm(l->w, f == 1, l->head != NULL);
}

void
store_pg_loop_end(struct store *s)
{
    struct lconn *l = &tl;
    if (l->st != STORE(s))
        return;
    if (l->c != NULL && l->head == NULL && !l->unsynced && PQexitPipelineMode(l->c->pg))
        give_back(l); /* idle and out of pipeline mode: good for the pool again */
    drop(l, ERR_UNAVAILABLE, false);
    l->st = NULL;
}
