/* libFuzzer target for the framing check on raw request heads
 * (http/framing.c), the check every HTTP/1 request passes before a handler
 * runs. Bytes in: a request head as a client sends it. Aborts when the
 * check crashes or reads out of bounds (ASan), when it disagrees with
 * picohttpparser (the parser h2o itself uses) on where the head ends and
 * what its target is, when it accepts a head that a plain recount of the
 * parsed header list shows to be ambiguous (folding, Content-Length twice
 * or not decimal, Transfer-Encoding with Content-Length or other than
 * chunked, an HTTP/1.1 request without exactly one Host), or when an
 * absolute target it splits points outside the target.
 *
 * Why not the whole server in-process: the rest of the request path is
 * h2o's own parser (the same picohttpparser call, fuzzed upstream) and
 * pace's handlers, which the API suite and the body/query/cursor targets
 * cover; what pace adds between the two is this check. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
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
    return 0;
}
