/* Clocks and deadlines in milliseconds. The monotonic clock is for
 * deadlines, intervals and rate windows; the wall clock for timestamps that
 * are stored or shown (unix milliseconds). A thread that waits on a
 * condition with a deadline uses clock_cond_init and clock_cond_wait_until,
 * so every deadline in the program is one monotonic number. */
#ifndef PACE_UTIL_CLOCK_H
#define PACE_UTIL_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

static inline int64_t
clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The monotonic clock in microseconds (round-trip latencies). */
static inline int64_t
clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Unix time in milliseconds. */
static inline int64_t
clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Initialises cv to measure deadlines on the monotonic clock. */
void clock_cond_init(pthread_cond_t *cv);
/* Waits on cv (initialised by clock_cond_init; mu held) until it is
 * signalled or clock_mono_ms() reaches deadline_ms. Returns false once the
 * deadline has passed, true otherwise (signalled or woken early: the caller
 * checks its condition again, as with any wait). */
bool clock_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms);

#endif
