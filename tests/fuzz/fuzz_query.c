/* libFuzzer target for query-string parsing (http/query.c), which decodes
 * bytes straight from the request line. The input is "NAME\nQUERY": the
 * bytes before the first newline are the parameter name (cut at a NUL, as a
 * C string would be), the rest the query; without a newline the whole input
 * is the query and the name is "q". Checks: no read outside the query; a
 * result is NUL-terminated and no longer than the query; it is what a plain
 * reference decoder finds; and without '%' or '+' in the query, a value is
 * returned unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The reference: the decoded first value of name into out (room for qlen
 * bytes), its length in *outlen; 0 when absent. Written independently of
 * query.c, as the rules in query.h read. */
static int
reference(const unsigned char *q, size_t qlen, const char *name, unsigned char *out, size_t *outlen)
{
    size_t nl = strlen(name), start = 0;
    while (start < qlen) {
        size_t stop = start;
        while (stop < qlen && q[stop] != '&')
            stop++;
        size_t eq = start;
        while (eq < stop && q[eq] != '=')
            eq++;
        if (eq - start == nl && memcmp(q + start, name, nl) == 0) {
            size_t o = 0;
            for (size_t i = eq < stop ? eq + 1 : stop; i < stop; i++) {
                if (q[i] == '%' && i + 2 < stop && hex(q[i + 1]) >= 0 && hex(q[i + 2]) >= 0) {
                    out[o++] = (unsigned char)(hex(q[i + 1]) * 16 + hex(q[i + 2]));
                    i += 2;
                } else {
                    out[o++] = q[i] == '+' ? ' ' : q[i];
                }
            }
            *outlen = o;
            return 1;
        }
        start = stop + 1;
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nlp = memchr(data, '\n', size);
    size_t namelen = nlp != NULL ? (size_t)(nlp - data) : 0;
    const uint8_t *qstart = nlp != NULL ? nlp + 1 : data;
    size_t qlen = size - (size_t)(qstart - data);

    char *name = malloc(namelen + 2); /* room for "q" too */
    /* Exactly qlen bytes (at least one for malloc), so a read past them is caught. */
    unsigned char *query = malloc(qlen > 0 ? qlen : 1);
    unsigned char *want = malloc(qlen > 0 ? qlen : 1);
    if (name == NULL || query == NULL || want == NULL)
        abort();
    if (nlp != NULL) {
        memcpy(name, data, namelen);
        name[namelen] = '\0';
    } else {
        strcpy(name, "q");
    }
    memcpy(query, qstart, qlen);

    struct arena a;
    arena_init(&a);
    const char *v = http_query_get(&a, (const char *)query, qlen, name);
    size_t wantlen = 0;
    int found = reference(query, qlen, name, want, &wantlen);
    if ((v != NULL) != found)
        abort(); /* found or missed where the reference did not */
    if (v != NULL) {
        size_t vlen = strnlen(v, qlen + 1);
        if (vlen > qlen)
            abort(); /* longer than the query, or not NUL-terminated */
        /* The C string ends at the first decoded NUL, if any. */
        const unsigned char *nul = memchr(want, '\0', wantlen);
        size_t expect = nul != NULL ? (size_t)(nul - want) : wantlen;
        if (vlen != expect || memcmp(v, want, vlen) != 0)
            abort(); /* decoded differently from the reference */
        if (memchr(query, '%', qlen) == NULL && memchr(query, '+', qlen) == NULL && vlen > 0 &&
            memmem(query, qlen, v, vlen) == NULL)
            abort(); /* nothing to decode, yet the value is not in the query */
    }

    /* A value with nothing to decode comes back unchanged: "k=" + the query
     * with every '%', '+' and '&' dropped. */
    size_t plen = 2;
    char *plain = malloc(qlen + 2);
    if (plain == NULL)
        abort();
    memcpy(plain, "k=", 2);
    for (size_t i = 0; i < qlen; i++)
        if (query[i] != '%' && query[i] != '+' && query[i] != '&' && query[i] != '\0')
            plain[plen++] = (char)query[i];
    const char *same = http_query_get(&a, plain, plen, "k");
    if (same == NULL || strlen(same) != plen - 2 || memcmp(same, plain + 2, plen - 2) != 0)
        abort();

    /* Strict decoding of the whole query (the OAuth2 form's values): NULL,
     * or a value without NUL bytes that is the lenient decoding exactly. */
    size_t slen = 0, llen = 0;
    const char *strict = http_form_decode(&a, (const char *)query, qlen, true, &slen);
    const char *lenient = http_form_decode(&a, (const char *)query, qlen, false, &llen);
    if (lenient == NULL || llen > qlen || lenient[llen] != '\0')
        abort();
    if (strict != NULL &&
        (slen != llen || memchr(strict, '\0', slen) != NULL || memcmp(strict, lenient, slen) != 0))
        abort();

    arena_cleanup(&a);
    free(plain);
    free(want);
    free(query);
    free(name);
    return 0;
}
