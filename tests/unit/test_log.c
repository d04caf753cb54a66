/* Unit tests for util/log: stdout is redirected to a temporary file; each
 * event must be exactly one line, valid JSON with the documented keys in
 * JSON format, plain text otherwise; levels below the minimum are dropped. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "util/log.h"

static FILE *cap;
static int saved_stdout = -1;

static void
capture_start(void)
{
    fflush(stdout);
    cap = tmpfile();
    if (cap == NULL) {
        perror("tmpfile");
        exit(2);
    }
    saved_stdout = dup(STDOUT_FILENO);
    dup2(fileno(cap), STDOUT_FILENO);
}

/* Restores stdout and returns what was written (caller frees). */
static char *
capture_stop(size_t *len)
{
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
    saved_stdout = -1;
    long n = lseek(fileno(cap), 0, SEEK_END);
    char *s = malloc((size_t)n + 1);
    ssize_t got = pread(fileno(cap), s, (size_t)n, 0);
    s[got > 0 ? got : 0] = '\0';
    *len = got > 0 ? (size_t)got : 0;
    fclose(cap);
    cap = NULL;
    return s;
}

static size_t
count_lines(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\n')
            n++;
    return n;
}

/* Parses the one line in s (which must end with its only newline). */
static json_t *
one_json_line(const char *s, size_t len)
{
    if (len == 0 || s[len - 1] != '\n' || count_lines(s, len) != 1) {
        fprintf(stderr, "not one line: \"%s\"\n", s);
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(s, len - 1, 0, &je);
    if (v == NULL)
        fprintf(stderr, "not JSON (%s): %s", je.text, s);
    return v;
}

static bool
time_ok(json_t *v)
{
    const char *t = json_string_value(json_object_get(v, "time"));
    if (t == NULL || strlen(t) != 24)
        return false;
    int y, mo, d, h, mi, sec, ms;
    char z = 0;
    return sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z) == 8 && z == 'Z' &&
           y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec <= 60;
}

static bool
str_is(json_t *v, const char *key, const char *want)
{
    const char *s = json_string_value(json_object_get(v, key));
    return s != NULL && strcmp(s, want) == 0;
}

static void
test_json_write(void)
{
    log_init(LOG_INFO, LOG_JSON);
    size_t len;
    capture_start();
    log_write(LOG_INFO, "store", "req-123", "opened %s with %d connections", "pace.db", 4);
    char *s = capture_stop(&len);
    json_t *v = one_json_line(s, len);
    CHECK(v != NULL);
    CHECK(time_ok(v));
    CHECK(str_is(v, "level", "info"));
    CHECK(str_is(v, "component", "store"));
    CHECK(str_is(v, "request_id", "req-123"));
    CHECK(str_is(v, "msg", "opened pace.db with 4 connections"));
    CHECK_EQ_INT(json_object_size(v), 5);
    /* the keys come in the documented order */
    CHECK(strncmp(s, "{\"time\":", 8) == 0);
    CHECK(strstr(s, "\"level\"") < strstr(s, "\"component\""));
    CHECK(strstr(s, "\"request_id\"") < strstr(s, "\"msg\""));
    json_decref(v);
    free(s);

    /* no request id: no key */
    capture_start();
    log_error("http", "cannot bind");
    s = capture_stop(&len);
    v = one_json_line(s, len);
    CHECK(v != NULL);
    CHECK(str_is(v, "level", "error"));
    CHECK(str_is(v, "component", "http"));
    CHECK(json_object_get(v, "request_id") == NULL);
    CHECK(str_is(v, "msg", "cannot bind"));
    CHECK_EQ_INT(json_object_size(v), 4);
    json_decref(v);
    free(s);

    /* each level's name */
    log_init(LOG_DEBUG, LOG_JSON);
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int l = LOG_DEBUG; l <= LOG_ERROR; l++) {
        capture_start();
        log_write((enum log_level)l, "x", NULL, "m");
        s = capture_stop(&len);
        v = one_json_line(s, len);
        CHECK(v != NULL && str_is(v, "level", names[l]));
        json_decref(v);
        free(s);
    }
    log_init(LOG_INFO, LOG_JSON);
}

static void
test_levels(void)
{
    size_t len;
    log_init(LOG_WARN, LOG_JSON);
    CHECK(!log_enabled(LOG_DEBUG));
    CHECK(!log_enabled(LOG_INFO));
    CHECK(log_enabled(LOG_WARN));
    CHECK(log_enabled(LOG_ERROR));
    capture_start();
    log_debug("x", "dropped debug");
    log_info("x", "dropped info");
    log_warn("x", "kept warn");
    log_error("x", "kept error");
    char *s = capture_stop(&len);
    CHECK_EQ_INT(count_lines(s, len), 2);
    CHECK(strstr(s, "dropped") == NULL);
    CHECK(strstr(s, "kept warn") != NULL);
    CHECK(strstr(s, "kept error") != NULL);
    free(s);

    log_init(LOG_ERROR, LOG_TEXT);
    capture_start();
    log_warn("x", "dropped");
    log_error("x", "kept");
    s = capture_stop(&len);
    CHECK_EQ_INT(count_lines(s, len), 1);
    CHECK(strstr(s, "kept") != NULL);
    free(s);

    log_init(LOG_DEBUG, LOG_JSON);
    CHECK(log_enabled(LOG_DEBUG));
    capture_start();
    log_debug("x", "now kept");
    s = capture_stop(&len);
    CHECK_EQ_INT(count_lines(s, len), 1);
    free(s);
    log_init(LOG_INFO, LOG_JSON);
}

static void
test_json_escaping(void)
{
    log_init(LOG_INFO, LOG_JSON);
    size_t len;
    const char *nasty = "say \"hi\"\nnext line\r\\ tab\t bell\x07 caf\xC3\xA9";
    capture_start();
    log_write(LOG_WARN, "co\"mp\nonent", "id\"\n1", "%s", nasty);
    char *s = capture_stop(&len);
    json_t *v = one_json_line(s, len);
    CHECK(v != NULL);
    CHECK(str_is(v, "msg", nasty));
    CHECK(str_is(v, "component", "co\"mp\nonent"));
    CHECK(str_is(v, "request_id", "id\"\n1"));
    json_decref(v);
    free(s);

    /* invalid UTF-8 is replaced, the line stays valid */
    capture_start();
    log_info("x", "bad \xFF\xC3 bytes");
    s = capture_stop(&len);
    v = one_json_line(s, len);
    CHECK(v != NULL);
    CHECK(str_is(v, "msg", "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes"));
    json_decref(v);
    free(s);

    /* a long message is cut, still one valid line; a cut multibyte
     * character does not break the JSON */
    char *big = malloc(5001);
    memset(big, 'a', 5000);
    big[1022] = '\xC3';
    big[1023] = '\xA9';
    big[5000] = '\0';
    capture_start();
    log_info("x", "%s", big);
    s = capture_stop(&len);
    v = one_json_line(s, len);
    CHECK(v != NULL);
    const char *m = json_string_value(json_object_get(v, "msg"));
    CHECK(m != NULL && strlen(m) >= 1000 && strlen(m) < 1100);
    json_decref(v);
    free(s);
    free(big);
}

static void
test_access_json(void)
{
    log_init(LOG_INFO, LOG_JSON);
    size_t len;
    const char *path = "/api/v1/tasks/42?ignored";
    struct log_access a = {
        .request_id = "r-1",
        .method = "GET",
        .path = path,
        .path_len = strlen("/api/v1/tasks/42"),
        .client = "127.0.0.1",
        .user_id = 0,
        .status = 200,
        .bytes = 1234,
        .duration_ms = 12.5,
    };
    capture_start();
    log_access(&a);
    /* buffered: nothing written before the flush */
    off_t before = lseek(STDOUT_FILENO, 0, SEEK_CUR);
    CHECK_EQ_INT(before, 0);
    log_flush();
    char *s = capture_stop(&len);
    json_t *v = one_json_line(s, len);
    CHECK(v != NULL);
    CHECK(time_ok(v));
    CHECK(str_is(v, "level", "info"));
    CHECK(str_is(v, "component", "access"));
    CHECK(str_is(v, "request_id", "r-1"));
    CHECK(str_is(v, "method", "GET"));
    CHECK(str_is(v, "path", "/api/v1/tasks/42"));
    CHECK(json_integer_value(json_object_get(v, "status")) == 200);
    CHECK(json_integer_value(json_object_get(v, "bytes")) == 1234);
    CHECK(json_is_number(json_object_get(v, "duration_ms")));
    CHECK(json_number_value(json_object_get(v, "duration_ms")) == 12.5);
    CHECK(json_is_null(json_object_get(v, "user_id")));
    CHECK(str_is(v, "client", "127.0.0.1"));
    CHECK_EQ_INT(json_object_size(v), 11);
    json_decref(v);
    free(s);

    /* a known user, no request id, an odd path */
    a.request_id = NULL;
    a.user_id = 77;
    a.path = "/x\"y\n\\z";
    a.path_len = strlen(a.path);
    a.status = 404;
    a.bytes = 0;
    a.duration_ms = 0.25;
    capture_start();
    log_access(&a);
    log_flush();
    log_flush(); /* a second flush writes nothing more */
    s = capture_stop(&len);
    v = one_json_line(s, len);
    CHECK(v != NULL);
    CHECK(json_object_get(v, "request_id") == NULL);
    CHECK(json_integer_value(json_object_get(v, "user_id")) == 77);
    CHECK(str_is(v, "path", "/x\"y\n\\z"));
    CHECK(json_integer_value(json_object_get(v, "status")) == 404);
    CHECK_EQ_INT(json_object_size(v), 10);
    json_decref(v);
    free(s);

    /* several lines go out together, each whole */
    capture_start();
    for (int i = 0; i < 10; i++) {
        a.status = 200 + i;
        log_access(&a);
    }
    log_flush();
    s = capture_stop(&len);
    CHECK_EQ_INT(count_lines(s, len), 10);
    int ok = 0;
    for (char *line = s; *line != '\0';) {
        char *nl = strchr(line, '\n');
        json_error_t je;
        json_t *x = json_loadb(line, (size_t)(nl - line), 0, &je);
        if (x != NULL)
            ok++;
        json_decref(x);
        line = nl + 1;
    }
    CHECK_EQ_INT(ok, 10);
    free(s);

    /* a big backlog flushes itself before growing without bound */
    capture_start();
    for (int i = 0; i < 1000; i++)
        log_access(&a);
    off_t early = lseek(STDOUT_FILENO, 0, SEEK_CUR);
    log_flush();
    s = capture_stop(&len);
    CHECK(early > 0);
    CHECK_EQ_INT(count_lines(s, len), 1000);
    free(s);
}

static void
test_text(void)
{
    log_init(LOG_INFO, LOG_TEXT);
    size_t len;
    capture_start();
    log_write(LOG_WARN, "store", "req-9", "slow query: %d ms", 250);
    char *s = capture_stop(&len);
    CHECK_EQ_INT(count_lines(s, len), 1);
    json_error_t je;
    json_t *v = json_loadb(s, len, 0, &je);
    CHECK(v == NULL); /* not JSON */
    json_decref(v);
    CHECK(strstr(s, "warn") != NULL);
    CHECK(strstr(s, "store") != NULL);
    CHECK(strstr(s, "[req-9]") != NULL);
    CHECK(strstr(s, "slow query: 250 ms") != NULL);
    CHECK(len > 24 && s[4] == '-' && s[10] == 'T' && s[23] == 'Z');
    free(s);

    struct log_access a = {"r-2", "POST", "/api/v1/login", 13, "10.0.0.1", 5, 201, 99, 3.5};
    capture_start();
    log_access(&a);
    log_flush();
    s = capture_stop(&len);
    CHECK_EQ_INT(count_lines(s, len), 1);
    CHECK(s[0] != '{');
    CHECK(strstr(s, "access") != NULL);
    CHECK(strstr(s, "POST /api/v1/login 201 99") != NULL);
    CHECK(strstr(s, "10.0.0.1") != NULL);
    free(s);

    /* a path with a newline stays on one line */
    a.path = "/a\nb";
    a.path_len = 4;
    capture_start();
    log_access(&a);
    log_flush();
    s = capture_stop(&len);
    CHECK_EQ_INT(count_lines(s, len), 1);
    free(s);

    /* so does a message with a newline: "one line per event" holds in
     * text format too, or a value could forge a log line */
    capture_start();
    log_warn("auth", "login failed for %s", "eve\n2030-01-01T00:00:00.000Z info  auth forged");
    s = capture_stop(&len);
    CHECK_EQ_INT(count_lines(s, len), 1);
    free(s);
    log_init(LOG_INFO, LOG_JSON);
}

int
main(void)
{
    test_json_write();
    test_levels();
    test_json_escaping();
    test_access_json();
    test_text();
    log_thread_cleanup();
    return check_done();
}
