/* Request framing, never more lenient than nginx: the raw request head is
 * parsed again before any handler runs, because h2o keeps only the first
 * Content-Length, lets Transfer-Encoding win over it, keeps the last Host
 * and passes obsolete line folding on. And the one answer h2o writes
 * without any filter (its plain-text 400 for a head it cannot parse) is
 * replaced on its way to the socket by a problem+json 400 with a request
 * id. Invariants: one pass over the head, no allocation on the request
 * path; an ambiguous head is refused and its connection closed. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"
#include "util/alloc.h"

/* picohttpparser, compiled into libh2o-evloop (h2o 2.2.5 installs no header
 * for it): the declarations of its deps/picohttpparser/picohttpparser.h. */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, struct phr_header *headers, size_t *num_headers,
                      size_t last_len);

enum { MAX_HEADERS = 100 }; /* H2O_MAX_HEADERS: h2o refuses a head with more */

static bool
name_is(const struct phr_header *h, const char *lower, size_t n)
{
    return h->name_len == n && h2o_lcstris(h->name, n, lower, n);
}

/* 1*DIGIT, at most 18 of them (no sign, no list, no spaces). */
static bool
content_length_is_valid(const char *v, size_t n)
{
    if (n == 0 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

/* uri-host [":" port] of RFC 3986: reg-name, IPv4 or an IP literal in
 * brackets; nothing that could end an authority or start a path. */
static bool
host_is_valid(const char *v, size_t n)
{
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("-._~!$&'()*+,;=:[]%", c) != NULL;
        if (!ok || c == '\0')
            return false;
    }
    return true;
}

const char *
http_framing_check(const char *buf, size_t len, struct http_framing *f)
{
    struct phr_header h[MAX_HEADERS];
    size_t nh = MAX_HEADERS;
    const char *method, *target;
    size_t method_len, target_len;
    int minor;
    memset(f, 0, sizeof(*f));
    int n = phr_parse_request(buf, len, &method, &method_len, &target, &target_len, &minor, h, &nh, 0);
    if (n <= 0)
        return "the request line and headers could not be parsed";
    f->head_len = (size_t)n;
    f->target = target;
    f->target_len = target_len;
    f->minor_version = minor;

    size_t hosts = 0, lengths = 0, codings = 0;
    const struct phr_header *host = NULL, *length = NULL, *coding = NULL;
    for (size_t i = 0; i < nh; i++) {
        const struct phr_header *x = &h[i];
        if (x->name == NULL || x->name_len == 0)
            return "obsolete line folding is not accepted";
        if (name_is(x, "host", 4)) {
            hosts++;
            host = x;
        } else if (name_is(x, "content-length", 14)) {
            lengths++;
            length = x;
        } else if (name_is(x, "transfer-encoding", 17)) {
            codings++;
            coding = x;
        }
    }
    if (lengths > 1)
        return "more than one Content-Length header";
    if (length != NULL && !content_length_is_valid(length->value, length->value_len))
        return "Content-Length must be a decimal number";
    if (codings > 0 && lengths > 0)
        return "Transfer-Encoding and Content-Length together";
    if (codings > 1)
        return "more than one Transfer-Encoding header";
    if (coding != NULL && minor == 0)
        return "Transfer-Encoding in an HTTP/1.0 request";
    if (coding != NULL && !h2o_lcstris(coding->value, coding->value_len, H2O_STRLIT("chunked")))
        return "the only transfer coding accepted is chunked";
    if (hosts > 1)
        return "more than one Host header";
    if (hosts == 0 && minor >= 1)
        return "an HTTP/1.1 request must have a Host header";
    if (host != NULL && !host_is_valid(host->value, host->value_len))
        return "the Host header is not a valid host";
    return NULL;
}

bool
http_framing_split_absolute(const char *target, size_t len, struct http_framing_target *t)
{
    size_t skip;
    if (len >= 7 && h2o_lcstris(target, 7, H2O_STRLIT("http://")))
        skip = 7;
    else if (len >= 8 && h2o_lcstris(target, 8, H2O_STRLIT("https://")))
        skip = 8;
    else
        return false;
    const char *auth = target + skip, *end = target + len;
    const char *p = auth;
    while (p < end && *p != '/' && *p != '?')
        p++;
    t->authority = auth;
    t->authority_len = (size_t)(p - auth);
    t->path = p;
    t->path_len = (size_t)(end - p);
    return t->authority_len > 0 && host_is_valid(auth, t->authority_len) &&
           memchr(auth, '@', t->authority_len) == NULL;
}

/* ---- h2o's plain-text 400 becomes problem+json ----
 *
 * When picohttpparser refuses a head (garbage, a control character, a
 * header over h2o's 400 KiB), h2o's lib/http1.c writes this constant with
 * h2o_socket_write directly: no request exists, so no filter sees it.
 * libh2o-evloop calls h2o_socket_write through its PLT, so this definition
 * in the executable takes its place (symbol interposition); every other
 * write goes straight on to h2o's. The substitute lives until h2o's
 * completion callback, which closes the connection. */
static const char h2o_bad_request[] = "HTTP/1.1 400 Bad Request\r\n"
                                      "Content-Type: text/plain; charset=utf-8\r\n"
                                      "Connection: close\r\n"
                                      "Content-Length: 11\r\n"
                                      "\r\n"
                                      "Bad Request";

typedef void socket_write_fn(h2o_socket_t *sock, h2o_iovec_t *bufs, size_t bufcnt, h2o_socket_cb cb);

struct bad_request {
    struct bad_request *next;
    h2o_socket_t *sock;
    h2o_socket_cb cb;
    size_t len;
    char text[768];
};

static socket_write_fn *real_write;
static pthread_once_t real_write_once = PTHREAD_ONCE_INIT;
static _Thread_local struct bad_request *writing; /* substitutes under way on this thread */

static void
find_real_write(void)
{
    real_write = (socket_write_fn *)dlsym(RTLD_NEXT, "h2o_socket_write");
    if (real_write == NULL) { /* h2o linked statically: nothing to pass writes on to */
        fprintf(stderr, "pace: h2o_socket_write not found in a shared library\n");
        abort();
    }
}

static void
on_bad_request_written(h2o_socket_t *sock, const char *err)
{
    struct bad_request **pp = &writing, *e;
    while ((e = *pp) != NULL && e->sock != sock)
        pp = &e->next;
    if (e == NULL)
        abort(); /* a completion for a write this file never made */
    *pp = e->next;
    h2o_socket_cb cb = e->cb;
    free(e);
    cb(sock, err);
}

void h2o_socket_write(h2o_socket_t *sock, h2o_iovec_t *bufs, size_t bufcnt, h2o_socket_cb cb);

void
h2o_socket_write(h2o_socket_t *sock, h2o_iovec_t *bufs, size_t bufcnt, h2o_socket_cb cb)
{
    pthread_once(&real_write_once, find_real_write);
    struct loop *L = http_loop_here();
    if (bufcnt != 1 || bufs[0].len != sizeof(h2o_bad_request) - 1 || L == NULL ||
        memcmp(bufs[0].base, h2o_bad_request, sizeof(h2o_bad_request) - 1) != 0) {
        real_write(sock, bufs, bufcnt, cb);
        return;
    }
    struct bad_request *e = xcalloc(1, sizeof(*e));
    e->len = http_raw_problem(L, e->text, sizeof(e->text), 400, "Bad Request", "bad_request", "Bad request",
                              "the request line and headers could not be parsed", "");
    e->sock = sock;
    e->cb = cb;
    e->next = writing;
    writing = e;
    http_metrics_observe(L->index, SIZE_MAX, 400, 0);
    h2o_iovec_t v = h2o_iovec_init(e->text, e->len);
    real_write(sock, &v, 1, on_bad_request_written);
}

/* ---- the length of a chunk's size line ----
 *
 * h2o's chunked decoder (picohttpparser's phr_decode_chunked) skips a
 * chunk extension, and a trailer line, byte by byte without any limit, so
 * one line could stream for as long as the request timeout allows. Like
 * the write above, the decoder is called through libh2o's PLT, and the
 * definition here takes its place: it runs h2o's over the input in slices
 * and fails the decoding when a line grows past CHUNK_LINE_MAX. h2o then
 * answers its 400 for a broken chunked encoding (problem+json through the
 * filter in request.c) and closes the connection.
 *
 * The decoder's state is read from the fields and states of
 * picohttpparser as h2o 2.2.5 ships it (deps/picohttpparser). */
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};
enum { CHUNKED_IN_CHUNK_SIZE = 0, CHUNKED_IN_CHUNK_EXT = 1, CHUNKED_IN_TRAILERS_LINE_MIDDLE = 5 };

enum {
    CHUNK_LINE_MAX = 4096, /* a chunk's size and extensions, or a trailer line, CRLF excluded */
    CHUNK_LINES = 64,      /* decoders per thread between calls inside a size line */
};

typedef ssize_t decode_chunked_fn(struct phr_chunked_decoder *d, char *buf, size_t *bufsz);
ssize_t phr_decode_chunked(struct phr_chunked_decoder *d, char *buf, size_t *bufsz);

static decode_chunked_fn *real_decode;
static pthread_once_t real_decode_once = PTHREAD_ONCE_INIT;

/* The size lines under way on this thread: a decoder whose last call ended
 * inside one, and the bytes of it seen so far. */
static _Thread_local struct {
    const struct phr_chunked_decoder *d;
    size_t len;
} lines[CHUNK_LINES];
static _Thread_local unsigned lines_next;

static void
find_real_decode(void)
{
    real_decode = (decode_chunked_fn *)dlsym(RTLD_NEXT, "phr_decode_chunked");
    if (real_decode == NULL) {
        fprintf(stderr, "pace: phr_decode_chunked not found in a shared library\n");
        abort();
    }
}

/* The slot of d's size line, or -1. */
static int
line_of(const struct phr_chunked_decoder *d)
{
    for (int i = 0; i < CHUNK_LINES; i++)
        if (lines[i].d == d)
            return i;
    return -1;
}

static bool
inside_line(const struct phr_chunked_decoder *d)
{
    return d->_state == CHUNKED_IN_CHUNK_EXT || d->_state == CHUNKED_IN_TRAILERS_LINE_MIDDLE ||
           (d->_state == CHUNKED_IN_CHUNK_SIZE && d->_hex_count > 0);
}

static void
forget(int slot)
{
    if (slot >= 0)
        lines[slot].d = NULL;
}

/* h2o's decoder, given at most CHUNK_LINE_MAX bytes at a time: at the end
 * of each slice that leaves the decoder inside a line, the line's bytes so
 * far are those after the slice's last LF (the decoder moves chunk data
 * only towards the start, never over what follows it), plus the bytes
 * carried when the slice has no LF. So a line of up to CHUNK_LINE_MAX
 * bytes always passes and one of over twice that never does. The decoded
 * slices are joined at the start of buf as one call would leave them; on
 * completion the bytes after the body follow them. */
ssize_t
phr_decode_chunked(struct phr_chunked_decoder *d, char *buf, size_t *bufsz)
{
    pthread_once(&real_decode_once, find_real_decode);
    size_t in = *bufsz, out = 0, s = 0;
    int slot = line_of(d);
    size_t carried = slot >= 0 && inside_line(d) ? lines[slot].len : 0;
    do {
        size_t n = in - s < CHUNK_LINE_MAX ? in - s : CHUNK_LINE_MAX;
        size_t dec = n;
        ssize_t ret = real_decode(d, buf + s, &dec);
        if (ret == -1) {
            forget(slot);
            return -1;
        }
        if (ret >= 0) { /* complete: its data, what followed it in the slice, then the rest */
            size_t rest = in - (s + n);
            memmove(buf + out, buf + s, dec + (size_t)ret);
            memmove(buf + out + dec + (size_t)ret, buf + s + n, rest);
            *bufsz = out + dec;
            forget(slot);
            return ret + (ssize_t)rest;
        }
        if (inside_line(d)) {
            size_t k = n;
            while (k > 0 && buf[s + k - 1] != '\n')
                k--;
            carried = n - k + (k == 0 ? carried : 0);
            if (carried > CHUNK_LINE_MAX) {
                forget(slot);
                return -1;
            }
        } else {
            carried = 0;
        }
        memmove(buf + out, buf + s, dec);
        out += dec;
        s += n;
    } while (s < in);
    *bufsz = out;
    if (!inside_line(d)) {
        forget(slot);
    } else {
        if (slot < 0) {
            slot = (int)(lines_next++ % CHUNK_LINES); /* full: the oldest is forgotten (and not bounded) */
            lines[slot].d = d;
        }
        lines[slot].len = carried;
    }
    return -2;
}
