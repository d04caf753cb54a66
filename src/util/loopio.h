/* An event loop's poller, lent to clients of other servers that run on the
 * loops without blocking them: the store's PostgreSQL connections and the
 * Redis connections (src/cache). The http module provides it (main.c wires
 * it); the clients know nothing of h2o. */
#ifndef PACE_UTIL_LOOPIO_H
#define PACE_UTIL_LOOPIO_H

#include <stdbool.h>

struct loop_io {
    /* On a loop thread: makes ready(arg) run on that thread whenever fd is
     * readable, also when it is writable while arm()ed with write, and about
     * every 10 ms while armed with tick. Returns the watch, or NULL. The
     * watch does not own fd; close the watch before closing fd. */
    void *(*watch)(int fd, void (*ready)(void *arg), void *arg);
    void (*arm)(void *w, bool write, bool tick);
    void (*close)(void *w);
    /* From any thread: runs fn(arg) soon on one of the loop threads (in
     * turn). false when no loop runs (fn is not called). May be NULL in
     * clients that never post. */
    bool (*post)(void (*fn)(void *arg), void *arg);
    /* True on a loop thread. */
    bool (*on_loop)(void);
};

#endif
