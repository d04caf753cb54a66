/* Structured log lines. Each line is built in memory and handed to one
 * write(2), so lines from different threads never interleave. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/jw.h"
#include "util/log.h"

static enum log_level min_level = LOG_INFO;
static enum log_format format = LOG_JSON;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

enum { ACCESS_FLUSH_AT = 32 * 1024 };
static __thread struct buf access_buf;

void
log_init(enum log_level level, enum log_format fmt)
{
    min_level = level;
    format = fmt;
}

bool
log_enabled(enum log_level level)
{
    return level >= min_level;
}

static void
write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* RFC 3339 UTC with milliseconds into out (at least 32 bytes); returns the length. */
static size_t
format_time(char *out)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
    int ms = (int)(ts.tv_nsec / 1000000);
    out[n++] = '.';
    out[n++] = (char)('0' + ms / 100);
    out[n++] = (char)('0' + ms / 10 % 10);
    out[n++] = (char)('0' + ms % 10);
    out[n++] = 'Z';
    out[n] = '\0';
    return n;
}

static void
begin_line(struct buf *b, struct jw *w, enum log_level level, const char *component, const char *rid)
{
    char t[32];
    size_t tl = format_time(t);
    if (format == LOG_JSON) {
        jw_init(w, b);
        jw_obj_begin(w);
        jw_key(w, "time");
        jw_strn(w, t, tl);
        jw_key(w, "level");
        jw_str(w, level_names[level]);
        jw_key(w, "component");
        jw_str(w, component);
        if (rid != NULL) {
            jw_key(w, "request_id");
            jw_str(w, rid);
        }
    } else {
        buf_append(b, t, tl);
        buf_printf(b, " %-5s %s", level_names[level], component);
        if (rid != NULL)
            buf_printf(b, " [%s]", rid);
    }
}

void
log_write(enum log_level level, const char *component, const char *rid, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;

    char storage[1536];
    struct buf b = {storage, 0, sizeof(storage), NULL};
    struct jw w;
    begin_line(&b, &w, level, component, rid);
    if (format == LOG_JSON) {
        jw_key(&w, "msg");
        jw_strn(&w, msg, (size_t)n);
        jw_obj_end(&w);
    } else {
        buf_appendc(&b, ' ');
        jw_escape(&b, msg, (size_t)n); /* one event stays one line */
    }
    buf_appendc(&b, '\n');
    write_all(b.data, b.len);
    if (b.data != storage)
        buf_cleanup(&b);
}

void
log_security(const struct log_security *e)
{
    if (LOG_INFO < min_level)
        return;
    char storage[1024];
    struct buf b = {storage, 0, sizeof(storage), NULL};
    struct jw w;
    begin_line(&b, &w, LOG_INFO, "security", e->request_id);
    if (format == LOG_JSON) {
        jw_key(&w, "event");
        jw_str(&w, e->event);
        jw_key(&w, "user_id");
        if (e->user_id != 0)
            jw_int(&w, e->user_id);
        else
            jw_null(&w);
        jw_key(&w, "client");
        jw_str_or_null(&w, e->client);
        if (e->detail != NULL) {
            jw_key(&w, "msg");
            jw_str(&w, e->detail);
        }
        jw_obj_end(&w);
    } else {
        buf_printf(&b, " event=%s user=%lld client=%s", e->event, (long long)e->user_id,
                   e->client != NULL ? e->client : "-");
        if (e->detail != NULL) {
            buf_appendc(&b, ' ');
            jw_escape(&b, e->detail, strlen(e->detail));
        }
    }
    buf_appendc(&b, '\n');
    write_all(b.data, b.len);
    if (b.data != storage)
        buf_cleanup(&b);
}

void
log_access(const struct log_access *a)
{
    struct buf *b = &access_buf;
    struct jw w;
    begin_line(b, &w, LOG_INFO, "access", a->request_id);
    if (format == LOG_JSON) {
        jw_key(&w, "method");
        jw_str(&w, a->method);
        jw_key(&w, "path");
        jw_strn(&w, a->path, a->path_len);
        jw_key(&w, "status");
        jw_int(&w, a->status);
        jw_key(&w, "bytes");
        jw_uint(&w, a->bytes);
        jw_key(&w, "duration_ms");
        jw_double(&w, a->duration_ms);
        jw_key(&w, "user_id");
        if (a->user_id != 0)
            jw_int(&w, a->user_id);
        else
            jw_null(&w);
        jw_key(&w, "client");
        jw_str(&w, a->client);
        jw_obj_end(&w);
    } else {
        buf_printf(b, " %s ", a->method);
        jw_escape(b, a->path, a->path_len);
        buf_printf(b, " %d %llu %.3fms user=%lld client=%s", a->status, (unsigned long long)a->bytes,
                   a->duration_ms, (long long)a->user_id, a->client);
    }
    buf_appendc(b, '\n');
    if (b->len >= ACCESS_FLUSH_AT)
        log_flush();
}

void
log_thread_cleanup(void)
{
    log_flush();
    buf_cleanup(&access_buf);
}

void
log_flush(void)
{
    if (access_buf.len == 0)
        return;
    write_all(access_buf.data, access_buf.len);
    access_buf.len = 0;
}
