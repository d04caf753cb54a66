/* Structured logging to stdout, one line per event: JSON (default) or text.
 * Access lines are buffered per thread and written whole by log_flush(),
 * which each event loop calls once per iteration; other lines are written
 * at once. Never pass bodies, tokens or password hashes to these. */
#ifndef PACE_UTIL_LOG_H
#define PACE_UTIL_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_JSON, LOG_TEXT };

void log_init(enum log_level level, enum log_format format);
bool log_enabled(enum log_level level);

/* One event. request_id may be NULL; component names the module ("store"). */
void log_write(enum log_level level, const char *component, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(comp, ...) log_write(LOG_DEBUG, comp, NULL, __VA_ARGS__)
#define log_info(comp, ...)  log_write(LOG_INFO, comp, NULL, __VA_ARGS__)
#define log_warn(comp, ...)  log_write(LOG_WARN, comp, NULL, __VA_ARGS__)
#define log_error(comp, ...) log_write(LOG_ERROR, comp, NULL, __VA_ARGS__)

/* One security event (docs/operations.md, "Security events"): a line at
 * info of component "security" whatever the level's other settings allow
 * at info, with the event's name ("login.failed", "password.reset_completed"),
 * the user (0: none known), the client address and the request id (both
 * may be NULL), and an optional detail (never a secret: no token, code,
 * password or hash). */
struct log_security {
    const char *event;
    int64_t user_id;
    const char *client;
    const char *request_id;
    const char *detail; /* may be NULL */
};

void log_security(const struct log_security *e);

struct log_access {
    const char *request_id;
    const char *method;
    const char *path; /* without the query string */
    size_t path_len;
    const char *client; /* address, no port */
    int64_t user_id;    /* 0 when not known */
    int status;
    uint64_t bytes;
    double duration_ms;
};

/* Buffers one access line in the calling thread's buffer. */
void log_access(const struct log_access *a);
/* Writes the calling thread's buffered lines. */
void log_flush(void);
/* Flushes and frees the calling thread's buffer (at thread exit). */
void log_thread_cleanup(void);

#endif
