/* util/thread.h: threads inherit the creator's signal mask, so the mask is
 * widened around pthread_create and restored after. */
#include <signal.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"
#include "util/thread.h"

int
thread_start(pthread_t *t, const struct thread_opts *o, const char *name, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (o != NULL && o->stack_size > 0)
        pthread_attr_setstacksize(&attr, o->stack_size);
    if (o != NULL && o->detached)
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("thread", "cannot start the %s thread: %s", name, strerror(rc));
        return ERR_INTERNAL;
    }
    return OK;
}
