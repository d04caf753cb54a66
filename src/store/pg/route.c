/* Which server a call runs on: the primary for writes and for the reads
 * that must see them, a replica in turn for reads that tolerate lag unless
 * the user wrote within the read-your-writes window (a replica that fails
 * is skipped for PG_REPLICA_RETRY_MS and the read retried on the primary).
 * The window is this instance's memory of its own writes, and with a
 * shared marker (store_ryw_shared: Redis) every instance's. */
#include <string.h>

#include "store/pg/pg_int.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

/* Runs fn on a connection of pool p, inside a transaction when tx. */
static int
run_on(struct pg_pool *p, int64_t deadline, int64_t user_id, bool tx, pg_fn *fn, void *arg, struct pgx *x)
{
    *x = (struct pgx){.st = p->st, .deadline = deadline, .ryw_user = user_id};
    int err = store_pg_pool_acquire(p, x);
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
    store_pg_pool_release(p, x->c);
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
    if (mode == PG_READ_LAGGED && st->nreplicas > 0 && !store_reading_from_primary() &&
        !store_pg_ryw_recent(st, user_id)) {
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
    if (mode == PG_WRITE && err == OK)
        store_note_write_ok(&st->base); /* the storage takes writes (health.c) */
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
    if (st->ryw_shared.note != NULL)
        st->ryw_shared.note(st->ryw_shared.arg, user_id, st->ryw_ms);
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
    if (!recent && st->ryw_shared.recent != NULL)
        recent = st->ryw_shared.recent(st->ryw_shared.arg, user_id) != 0; /* unknown: the primary */
    return recent;
}
