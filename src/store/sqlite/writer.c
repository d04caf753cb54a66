/* Group commit. One writer thread owns the write connection; callers queue
 * operations (bounded: full is ERR_OVERLOADED) and sleep until the batch
 * holding theirs has committed, or (asynchronous operations) get a callback
 * on the writer thread once it has. The writer takes everything queued, runs it
 * in one transaction with a SAVEPOINT per operation (one failing operation
 * does not fail the others), commits once (one fsync per batch) and wakes
 * each caller with its own result. A second thread runs PASSIVE WAL
 * checkpoints, so no request ever waits for one. */
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>

#include "store/sqlite/sqlite_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/ticker.h"

struct wop {
    store_sqlite_op_fn *fn;
    void *arg;
    int result;
    bool alone;
    sem_t done; /* synchronous: posted once result is set; the writer never touches the op after */
    store_done_fn *callback; /* asynchronous: called with the result, then the op is freed */
    void *callback_arg;
    struct wop *next;
};

/* Queues op; OK, or ERR_UNAVAILABLE (stopping) / ERR_OVERLOADED (full). */
static int
enqueue(struct sqlite_store *st, struct wop *op)
{
    pthread_mutex_lock(&st->mu);
    if (st->stop) {
        pthread_mutex_unlock(&st->mu);
        return ERR_UNAVAILABLE;
    }
    if (st->queued >= WRITE_QUEUE_MAX) {
        pthread_mutex_unlock(&st->mu);
        int64_t now = clock_mono_ms();
        int64_t last = atomic_load(&st->last_overload_log);
        if (now - last >= 1000 && atomic_compare_exchange_strong(&st->last_overload_log, &last, now))
            log_warn("store", "write queue full (%d queued): shedding writes", WRITE_QUEUE_MAX);
        return ERR_OVERLOADED;
    }
    if (st->tail != NULL)
        st->tail->next = op;
    else
        st->head = op;
    st->tail = op;
    st->queued++;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return OK;
}

int
store_sqlite_write(struct sqlite_store *st, store_sqlite_op_fn *fn, void *arg, bool alone)
{
    struct wop op = {.fn = fn, .arg = arg, .result = ERR_INTERNAL, .alone = alone};
    sem_init(&op.done, 0, 0);
    int err = enqueue(st, &op);
    if (err == OK) {
        while (sem_wait(&op.done) != 0 && errno == EINTR) {
        }
        err = op.result;
    }
    sem_destroy(&op.done);
    return err;
}

int
store_sqlite_write_async(struct sqlite_store *st, store_sqlite_op_fn *fn, void *arg, store_done_fn *done,
                         void *done_arg)
{
    struct wop *op = xcalloc(1, sizeof(*op));
    op->fn = fn;
    op->arg = arg;
    op->result = ERR_INTERNAL;
    op->callback = done;
    op->callback_arg = done_arg;
    int err = enqueue(st, op);
    if (err != OK)
        free(op);
    return err;
}

/* The writer's clock never goes back, so created_at follows commit order
 * within this process. */
static int64_t
op_now(struct sqlite_store *st)
{
    int64_t now = clock_wall_ms();
    if (now < st->last_now)
        now = st->last_now;
    st->last_now = now;
    return now;
}

static void
fail_all(struct wop *batch, int err)
{
    for (struct wop *op = batch; op != NULL; op = op->next)
        op->result = err;
}

/* Runs one batch in one transaction. On return every op has its result. */
static void
run_batch(struct sqlite_store *st, struct wop *batch)
{
    struct conn *c = st->wconn;
    int err = store_sqlite_exec(c, STMT_BEGIN);
    if (err != OK) {
        fail_all(batch, err == ERR_CORRUPT ? err : ERR_UNAVAILABLE);
        return;
    }
    for (struct wop *op = batch; op != NULL; op = op->next) {
        c->now = op_now(st);
        err = store_sqlite_exec(c, STMT_SAVEPOINT);
        if (err == OK) {
            op->result = op->fn(c, op->arg);
            if (op->result == OK)
                err = store_sqlite_exec(c, STMT_RELEASE);
            else if ((err = store_sqlite_exec(c, STMT_ROLLBACK_TO)) == OK)
                err = store_sqlite_exec(c, STMT_RELEASE);
        }
        if (err != OK || sqlite3_get_autocommit(c->db)) {
            /* The transaction itself failed (I/O error, disk full): nothing
             * of this batch is durable. */
            if (err == OK)
                err = op->result;
            fail_all(batch, err == ERR_CORRUPT ? err : ERR_UNAVAILABLE);
            if (!sqlite3_get_autocommit(c->db))
                store_sqlite_exec(c, STMT_ROLLBACK);
            return;
        }
    }
    err = store_sqlite_exec(c, STMT_COMMIT);
    if (err == OK) {
        atomic_fetch_add_explicit(&st->commits, 1, memory_order_release);
        store_note_write_ok(&st->base);
    }
    if (err != OK) {
        if (!sqlite3_get_autocommit(c->db))
            store_sqlite_exec(c, STMT_ROLLBACK);
        fail_all(batch, err == ERR_CORRUPT ? err : ERR_UNAVAILABLE);
    }
}

static void *
writer_main(void *arg)
{
    struct sqlite_store *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (st->head == NULL && !st->stop)
            pthread_cond_wait(&st->cv, &st->mu);
        if (st->head == NULL)
            break; /* stopping, and the queue is drained */
        /* Take the queue: all of it, up to the batch cap and up to (or just)
         * an operation that wants a transaction of its own. */
        struct wop *batch = st->head, *last = st->head;
        size_t n = 1;
        if (!batch->alone) {
            while (last->next != NULL && !last->next->alone && n < WRITE_BATCH_MAX) {
                last = last->next;
                n++;
            }
        }
        st->head = last->next;
        if (st->head == NULL)
            st->tail = NULL;
        last->next = NULL;
        st->queued -= n;
        pthread_mutex_unlock(&st->mu);

        run_batch(st, batch);

        /* Wake the callers without holding the queue's lock, so that a
         * woken caller does not block on it at once. */
        for (struct wop *op = batch; op != NULL;) {
            struct wop *next = op->next; /* a synchronous op lives on its caller's stack */
            if (op->callback != NULL) {
                op->callback(op->callback_arg, op->result);
                free(op);
            } else {
                sem_post(&op->done);
            }
            op = next;
        }
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* After each commit: wake the checkpointer once the WAL has grown. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct sqlite_store *st = arg;
    if (frames >= CHECKPOINT_FRAMES)
        ticker_poke(st->checkpointer);
    return SQLITE_OK;
}

/* A PASSIVE checkpoint, every CHECKPOINT_EVERY_MS or when poked. */
static void
checkpoint(void *arg)
{
    struct sqlite_store *st = arg;
    int log_frames = 0, done_frames = 0;
    int rc =
        sqlite3_wal_checkpoint_v2(st->cconn->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done_frames);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        store_sqlite_error(st->cconn, rc, "checkpoint");
}

int
store_sqlite_writer_start(struct sqlite_store *st)
{
    st->checkpointer = ticker_start("checkpointer", CHECKPOINT_EVERY_MS, false, checkpoint, st);
    if (st->checkpointer == NULL)
        return ERR_INTERNAL;
    sqlite3_wal_hook(st->wconn->db, wal_hook, st);
    if (thread_start(&st->writer, NULL, "store writer", writer_main, st) != OK) {
        sqlite3_wal_hook(st->wconn->db, NULL, NULL);
        ticker_stop(st->checkpointer);
        st->checkpointer = NULL;
        return ERR_INTERNAL;
    }
    return OK;
}

void
store_sqlite_writer_stop(struct sqlite_store *st)
{
    pthread_mutex_lock(&st->mu);
    st->stop = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->writer, NULL);
    ticker_stop(st->checkpointer);
    st->checkpointer = NULL;
}
