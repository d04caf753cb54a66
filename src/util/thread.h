/* Starting the program's own threads: every one runs with all signals
 * blocked, so SIGTERM and SIGINT reach only the thread that waits for them
 * (the server's main thread, with sigwait). */
#ifndef PACE_UTIL_THREAD_H
#define PACE_UTIL_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct thread_opts {
    size_t stack_size; /* 0: the default */
    bool detached;     /* nobody joins it */
};

/* pthread_create with every signal blocked in the new thread; o may be
 * NULL (joinable, default stack). OK, or ERR_INTERNAL when the system
 * refuses (logged with name). */
int thread_start(pthread_t *t, const struct thread_opts *o, const char *name, void *(*fn)(void *), void *arg);

#endif
