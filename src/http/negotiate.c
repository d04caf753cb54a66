/* Content coding, RFC 9110 section 12.5.3. h2o 2.2.5's compress filter
 * looks for the bare token "gzip" in Accept-Encoding: it ignores weights
 * (so "gzip;q=1" gets no gzip, "gzip;q=0" gets it anyway and "*" never
 * does), and it adds Vary only to responses whose request named a coding.
 * Pace decides itself, rewrites the header to the filter's bare token,
 * and sends Vary on every variant of a compressible response. */
#include <string.h>

#include "http/internal.h"
#include "http/negotiate.h"

void
http_compress_register(h2o_pathconf_t *path)
{
    h2o_compress_args_t ca = {
        .min_size = HTTP_COMPRESS_MIN_SIZE, .gzip = {.quality = 1}, .brotli = {.quality = -1}};
    h2o_compress_register(path, &ca);
}

static bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), as 0..1000;
 * -1 when malformed. */
static int
parse_qvalue(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1)
        return q;
    if (s[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q <= 1000 ? q : -1;
}

/* One element "coding *( OWS ; OWS name=value )" of [s, s+n): its coding's
 * length in *cl and its weight (1000 when absent, -1 when malformed). */
static int
element_weight(const char *s, size_t n, size_t *cl)
{
    size_t i = 0;
    while (i < n && s[i] != ';' && !is_ows(s[i]))
        i++;
    *cl = i;
    int q = 1000;
    while (i < n) {
        while (i < n && is_ows(s[i]))
            i++;
        if (i == n)
            break;
        if (s[i] != ';')
            return -1;
        i++;
        while (i < n && is_ows(s[i]))
            i++;
        size_t p = i;
        while (i < n && s[i] != ';' && !is_ows(s[i]))
            i++;
        if (i - p >= 2 && (s[p] == 'q' || s[p] == 'Q') && s[p + 1] == '=')
            q = parse_qvalue(s + p + 2, i - p - 2);
        if (q < 0)
            return -1;
    }
    return q;
}

int
http_gzip_weight(const char *v, size_t n)
{
    int gzip = -1, star = -1;
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        if (i == start)
            break;
        size_t cl = 0;
        int q = element_weight(v + start, i - start, &cl);
        if (q < 0)
            q = 0; /* a malformed weight accepts nothing */
        const char *c = v + start;
        if (h2o_lcstris(c, cl, H2O_STRLIT("gzip")) || h2o_lcstris(c, cl, H2O_STRLIT("x-gzip")))
            gzip = gzip < 0 || q < gzip ? q : gzip;
        else if (cl == 1 && c[0] == '*')
            star = star < 0 || q < star ? q : star;
    }
    /* A coding not listed is acceptable only through "*". */
    return gzip >= 0 ? gzip : star >= 0 ? star : 0;
}

void
http_negotiate_encoding(h2o_req_t *req)
{
    /* Every Accept-Encoding line counts as one list (RFC 9110 5.3). */
    size_t total = 0, lines = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        if (req->headers.entries[i].name == &H2O_TOKEN_ACCEPT_ENCODING->buf) {
            total += req->headers.entries[i].value.len + 1;
            lines++;
        }
    if (lines > 0) {
        h2o_iovec_t all = h2o_iovec_init(h2o_mem_alloc_pool(&req->pool, total), 0);
        for (size_t i = 0; i < req->headers.size; i++)
            if (req->headers.entries[i].name == &H2O_TOKEN_ACCEPT_ENCODING->buf) {
                h2o_iovec_t v = req->headers.entries[i].value;
                memcpy(all.base + all.len, v.base, v.len);
                all.len += v.len;
                all.base[all.len++] = ',';
            }
        h2o_iovec_t verdict = http_gzip_weight(all.base, all.len) > 0
                                  ? h2o_iovec_init(H2O_STRLIT("gzip"))
                                  : h2o_iovec_init(H2O_STRLIT("identity"));
        for (size_t i = 0; i < req->headers.size; i++)
            if (req->headers.entries[i].name == &H2O_TOKEN_ACCEPT_ENCODING->buf)
                req->headers.entries[i].value = verdict;
    }

    /* The filter's own test for a response it would compress (status,
     * media type, size; HEAD is answered as GET would be). */
    if (req->res.status != 200 || req->res.content_length == SIZE_MAX ||
        req->res.content_length < HTTP_COMPRESS_MIN_SIZE)
        return;
    h2o_req_fill_mime_attributes(req);
    if (req->res.mime_attr->is_compressible)
        h2o_set_header_token(&req->pool, &req->res.headers, H2O_TOKEN_VARY, H2O_STRLIT("accept-encoding"));
}
