/* Names of the error enum, for log lines. */
#include "util/err.h"

const char *
err_name(int err)
{
    switch (err) {
    case OK:
        return "ok";
    case ERR_INVALID:
        return "invalid";
    case ERR_NOT_FOUND:
        return "not_found";
    case ERR_CONFLICT:
        return "conflict";
    case ERR_UNAVAILABLE:
        return "unavailable";
    case ERR_OVERLOADED:
        return "overloaded";
    case ERR_TOO_LARGE:
        return "too_large";
    case ERR_PRECONDITION:
        return "precondition_failed";
    case ERR_CORRUPT:
        return "corrupt";
    case ERR_NOMEM:
        return "nomem";
    case ERR_INTERNAL:
        return "internal";
    case ERR_WOULD_BLOCK:
        return "would_block";
    }
    return "unknown";
}
