/* Periodic background work: one thread that calls fn(arg) every interval,
 * or sooner when poked, until stopped. The jobs keeper, the revocation
 * sync, the PostgreSQL pool keeper and the SQLite checkpointer each run on
 * one. fn runs on the ticker's thread (every signal blocked there), never
 * twice at once; it may block (a database round trip) but should finish
 * well within the interval. */
#ifndef PACE_UTIL_TICKER_H
#define PACE_UTIL_TICKER_H

#include <stdbool.h>
#include <stdint.h>

struct ticker;
typedef void ticker_fn(void *arg);

/* Starts the thread; fn first runs at once (immediately: true) or after one
 * interval. NULL after logging when the thread cannot be started. */
struct ticker *ticker_start(const char *name, int64_t interval_ms, bool immediately, ticker_fn *fn,
                            void *arg);
/* Runs fn as soon as the thread is free (any thread may call it). */
void ticker_poke(struct ticker *t);
/* Changes the interval from the next wait on. */
void ticker_set_interval(struct ticker *t, int64_t interval_ms);
/* Waits for a running fn to return, stops and joins the thread, frees t.
 * NULL is a no-op. */
void ticker_stop(struct ticker *t);

#endif
