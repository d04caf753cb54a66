/* The monotonic clock in milliseconds: for deadlines, intervals and rate
 * windows (never for timestamps that are stored or shown). */
#ifndef PACE_UTIL_CLOCK_H
#define PACE_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
