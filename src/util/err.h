/* The program's one error enum. Functions return OK (0) or a negative ERR_*.
 * Only api/errors.c turns these into HTTP statuses. */
#ifndef PACE_UTIL_ERR_H
#define PACE_UTIL_ERR_H

enum err {
    OK = 0,
    ERR_INVALID = -1,      /* bad input (validation) */
    ERR_NOT_FOUND = -2,    /* no such row, or not the caller's */
    ERR_CONFLICT = -3,     /* unique key taken; see the conflict detail */
    ERR_UNAVAILABLE = -4,  /* database or dependency down, deadline passed */
    ERR_OVERLOADED = -5,   /* a bounded queue is full */
    ERR_TOO_LARGE = -6,    /* over a size cap */
    ERR_PRECONDITION = -7, /* optimistic concurrency check failed */
    ERR_CORRUPT = -8,      /* stored data cannot be read */
    ERR_NOMEM = -9,
    ERR_INTERNAL = -10,    /* a bug; logged where it happens */
    ERR_WOULD_BLOCK = -11, /* cannot go on without waiting here: use the blocking call */
};

/* Short stable name of an error ("not_found"), for logs. */
const char *err_name(int err);

#endif
