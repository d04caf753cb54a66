/* libFuzzer target for the request path: bytes in, well-formed HTTP out.
 *
 * Each input is, first, a request head for the framing check
 * (http/framing.c): it must not crash or read out of bounds (ASan), must
 * agree with picohttpparser (the parser h2o itself uses) on where the head
 * ends and what its target is, must refuse any head that a plain recount
 * of the parsed header list shows to be ambiguous (folding, Content-Length
 * twice or not decimal, Transfer-Encoding with Content-Length or other
 * than chunked, an HTTP/1.1 request without exactly one Host), and an
 * absolute target it splits must stay inside the target.
 *
 * Then the same bytes go to a real pace HTTP server started in this
 * process (h2o, the framing check, the router, JSON bodies, the
 * problem+json filter, the replaced 400), over loopback, as one client
 * connection that sends them and ends its half. What comes back must be a
 * sequence of well-formed HTTP/1.1 responses (status line, token header
 * names, no stray bytes, a body framed by Content-Length or chunks), every
 * error problem+json with X-Request-Id, nothing after a Connection: close
 * answer, and the server must close within 5 s. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/internal.h"
#include "util/jw.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* picohttpparser in libh2o-evloop (see http/framing.c). */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, struct phr_header *headers, size_t *num_headers,
                      size_t last_len);

static bool
is(const struct phr_header *h, const char *name)
{
    size_t n = strlen(name);
    if (h->name_len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h->name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != name[i])
            return false;
    }
    return true;
}

static bool
all_digits(const char *v, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

static void
check_framing(const uint8_t *data, size_t size)
{
    /* An exact-size copy: ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        abort();
    memcpy(buf, data, size);

    struct http_framing f;
    const char *why = http_framing_check(buf, size, &f);

    struct phr_header h[100];
    size_t nh = 100;
    const char *method, *target;
    size_t method_len, target_len;
    int minor;
    int n = phr_parse_request(buf, size, &method, &method_len, &target, &target_len, &minor, h, &nh, 0);
    if (n <= 0) {
        if (why == NULL)
            abort(); /* accepted what the parser refuses */
        goto out;
    }
    if (f.head_len != (size_t)n || f.target != target || f.target_len != target_len ||
        f.minor_version != minor)
        abort();

    size_t hosts = 0, lengths = 0, codings = 0;
    bool folded = false, bad_length = false, bad_coding = false;
    for (size_t i = 0; i < nh; i++) {
        if (h[i].name == NULL || h[i].name_len == 0) {
            folded = true;
        } else if (is(&h[i], "host")) {
            hosts++;
        } else if (is(&h[i], "content-length")) {
            lengths++;
            bad_length |= !all_digits(h[i].value, h[i].value_len);
        } else if (is(&h[i], "transfer-encoding")) {
            codings++;
            bad_coding |= !(h[i].value_len == 7 && strncasecmp(h[i].value, "chunked", 7) == 0);
        }
    }
    bool ambiguous = folded || lengths > 1 || bad_length || (codings > 0 && lengths > 0) || codings > 1 ||
                     bad_coding || (codings > 0 && minor == 0) || hosts > 1 || (hosts == 0 && minor >= 1);
    if (ambiguous && why == NULL)
        abort();

    struct http_framing_target t;
    if (http_framing_split_absolute(target, target_len, &t)) {
        const char *end = target + target_len;
        if (t.authority < target || t.authority + t.authority_len > end || t.path < target ||
            t.path + t.path_len != end || t.authority_len == 0)
            abort();
    }
out:
    free(buf);
}

/* ---- the live server ---- */

static void
health(struct http_req *r)
{
    struct jw *w = http_reply_json_begin(r, 200);
    jw_obj_begin(w);
    jw_key(w, "status");
    jw_str(w, "ok");
    jw_obj_end(w);
}

static void
echo(struct http_req *r)
{
    http_reply_raw(r, 200, "application/json", r->body != NULL ? r->body : "{}",
                   r->body != NULL ? r->body_len : 2);
}

static void
item(struct http_req *r)
{
    if (strcmp(http_req_param(r, "id"), "1") != 0) {
        http_reply_problem(r, 404, "not_found", "Not found", NULL);
        return;
    }
    http_reply_empty(r, 204);
}

static const struct http_route routes[] = {
    {HTTP_GET, "/health", health, 0, NULL},
    {HTTP_POST, "/echo", echo, ROUTE_JSON, NULL},
    {HTTP_DELETE, "/items/{id}", item, 0, NULL},
    {HTTP_GET, "/private", health, ROUTE_AUTH, NULL},
};

static int port;

static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

static void
start_server(void)
{
    log_init(LOG_ERROR, LOG_JSON);
    struct http_router *rt = http_router_new();
    if (http_router_add(rt, routes, sizeof(routes) / sizeof(routes[0])) != 0)
        abort();
    port = free_port();
    struct http_server_opts o = {
        .host = "127.0.0.1",
        .port = port,
        .threads = 1,
        .max_body_bytes = 65536,
        .max_header_bytes = 8192,
        .max_connections = 64,
        .keepalive_requests = 8,
        .request_timeout = 5,
        .shutdown_timeout = 1,
    };
    if (http_server_start(&o, rt, NULL) == NULL)
        abort();
}

static const char *
find(const char *p, const char *end, const char *what)
{
    size_t n = strlen(what);
    for (; p + n <= end; p++)
        if (memcmp(p, what, n) == 0)
            return p;
    return NULL;
}

static bool
is_tchar(char c)
{
    return c != '\0' && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                         strchr("!#$%&'*+-.^_`|~", c));
}

/* One response at p; returns its end, or aborts when it is not well-formed. */
static bool head_sent; /* the input has "HEAD": an answer may have Content-Length and no body */

static const char *
check_response(const char *p, const char *end, bool *close)
{
    const char *eoh = find(p, end, "\r\n\r\n");
    if (eoh == NULL || end - p < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0)
        abort();
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            abort();
        status = status * 10 + (p[i] - '0');
    }
    if (status < 100 || p[12] != ' ')
        abort();
    const char *line = find(p, eoh + 2, "\r\n") + 2;
    long length = -1;
    bool chunked = false, problem = false, request_id = false;
    while (line < eoh + 2) {
        const char *eol = find(line, eoh + 2, "\r\n");
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL || colon == line)
            abort();
        for (const char *c = line; c < colon; c++)
            if (!is_tchar(*c))
                abort();
        for (const char *c = colon + 1; c < eol; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t')
                abort();
        size_t nl = (size_t)(colon - line);
        const char *v = colon + 1;
        while (v < eol && *v == ' ')
            v++;
        size_t vl = (size_t)(eol - v);
        if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
            if (length >= 0 || vl == 0 || vl > 12)
                abort();
            length = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    abort();
                length = length * 10 + (v[i] - '0');
            }
        } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            chunked = vl == 7 && strncasecmp(v, "chunked", 7) == 0;
            if (!chunked)
                abort();
        } else if (nl == 12 && strncasecmp(line, "content-type", 12) == 0) {
            problem = vl >= 24 && strncasecmp(v, "application/problem+json", 24) == 0;
        } else if (nl == 12 && strncasecmp(line, "x-request-id", 12) == 0) {
            request_id = vl > 0;
        } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
            *close = vl == 5 && strncasecmp(v, "close", 5) == 0;
        }
        line = eol + 2;
    }
    const char *body = eoh + 4;
    if (status < 200)
        return body; /* 100 Continue: no body, a final answer follows */
    if (status >= 400 && (!problem || !request_id))
        abort();
    if (chunked && length >= 0)
        abort();
    if (chunked) {
        for (;;) {
            const char *eol = find(body, end, "\r\n");
            if (eol == NULL || eol == body)
                abort();
            long size = 0;
            for (const char *c = body; c < eol; c++) {
                int d = (*c >= '0' && *c <= '9') ? *c - '0' : (*c >= 'a' && *c <= 'f') ? *c - 'a' + 10 : -1;
                if (d < 0 || size > (1L << 40))
                    abort();
                size = size * 16 + d;
            }
            body = eol + 2;
            if (size == 0)
                break;
            if (end - body < size + 2 || memcmp(body + size, "\r\n", 2) != 0)
                abort();
            body += size + 2;
        }
        if (end - body < 2 || memcmp(body, "\r\n", 2) != 0)
            abort();
        return body + 2;
    }
    if (status == 204 || status == 304)
        return body;
    if (length < 0)
        abort();
    /* An answer to HEAD: no body (none of these bodies starts like a response). */
    if (head_sent && length > 0 && (body == end || (end - body >= 9 && memcmp(body, "HTTP/1.1 ", 9) == 0)))
        return body;
    if (end - body < length)
        abort();
    return body + length;
}

static void
check_server(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        abort();
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server refused and closed early */
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    static char out[1 << 20];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, out + got, sizeof(out) - got, 0);
        if (n == 0)
            break;
        if (n < 0 && errno == ECONNRESET)
            break;
        if (n < 0) {
            fprintf(stderr, "the server did not close within 5 s\n");
            abort();
        }
        got += (size_t)n;
        if (got == sizeof(out))
            abort();
    }
    close(fd);
    const char *p = out, *end = out + got;
    bool closing = false;
    while (p < end) {
        if (closing)
            abort(); /* bytes after a Connection: close answer */
        p = check_response(p, end, &closing);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool started;
    if (!started) {
        start_server();
        started = true;
    }
    check_framing(data, size);
    head_sent = memmem(data, size, "HEAD", 4) != NULL;
    check_server(data, size);
    return 0;
}
