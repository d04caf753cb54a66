/* Idempotency-Key handling on top of store_idem_*: reserve, do the work,
 * store the response; replays come from the store. Invariant: a key is
 * only released when the work failed, never after it may have succeeded,
 * so a response that could not be stored leaves the key "in use" (409)
 * rather than open to a second execution. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api/api.h"
#include "api/idempotency.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

static const char REPLAYED[] = "idempotent-replayed";

/* Printable ASCII, 1 to 64 characters. */
static bool
key_ok(const char *k, size_t n)
{
    if (n == 0 || n > API_IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return false;
    return true;
}

static void
request_hash(struct http_req *r, uint8_t out[STORE_HASH_LEN])
{
    crypto_hash_sha256_state st;
    const char *m = http_method_name(r->method);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)m, strlen(m));
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)r->path, r->path_len);
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    if (r->body != NULL)
        crypto_hash_sha256_update(&st, (const unsigned char *)r->body, r->body_len);
    crypto_hash_sha256_final(&st, out);
}

/* Replays a stored response: its status, content type, body and headers. */
static void
replay(struct http_req *r, const struct store_idem *e)
{
    const char *ct = "application/json";
    const char *h = e->response_headers != NULL ? e->response_headers : "";
    /* The first line names the content type; the others are headers. */
    static const char ctp[] = "content-type: ";
    const char *nl = strchr(h, '\n');
    if (strncmp(h, ctp, sizeof(ctp) - 1) == 0 && nl != NULL) {
        ct = arena_strndup(&r->arena, h + sizeof(ctp) - 1, (size_t)(nl - h - (sizeof(ctp) - 1)));
        h = nl + 1;
    }
    http_reply_raw(r, e->status, ct, e->response_body != NULL ? e->response_body : "", e->response_len);
    while (*h != '\0' && r->nres_headers + 1 < HTTP_MAX_RES_HEADERS) {
        nl = strchr(h, '\n');
        size_t len = nl != NULL ? (size_t)(nl - h) : strlen(h);
        const char *colon = memchr(h, ':', len);
        if (colon != NULL) {
            const char *v = colon + 1;
            while (v < h + len && *v == ' ')
                v++;
            http_reply_header(r, arena_strndup(&r->arena, h, (size_t)(colon - h)),
                              arena_strndup(&r->arena, v, (size_t)(h + len - v)));
        }
        h += len + (nl != NULL ? 1 : 0);
    }
    http_reply_header(r, REPLAYED, "true");
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

bool
api_idem_begin(struct http_req *r, struct api_idem *idem)
{
    idem->key = NULL;
    idem->owned = false;
    size_t kl = 0;
    const char *k = http_req_header(r, "idempotency-key", &kl);
    if (k == NULL)
        return true;
    if (!key_ok(k, kl)) {
        http_reply_problem(r, 400, "invalid_parameter", "Invalid header",
                           "Idempotency-Key: must be 1 to 64 printable ASCII characters");
        return false;
    }
    idem->key = arena_strndup(&r->arena, k, kl);
    uint8_t hash[STORE_HASH_LEN];
    request_hash(r, hash);
    struct store *st = api_deps()->store;
    long waited = 0, step = 2;
    for (;;) {
        struct store_idem e;
        int err = store_idem_reserve(st, r->user_id, idem->key, hash, clock_wall_ms() + API_IDEM_TTL_MS,
                                     &r->arena, &e);
        if (err == OK) {
            idem->owned = true;
            return true;
        }
        if (err != ERR_CONFLICT) {
            api_reply_error(r, err);
            return false;
        }
        /* The key is taken; poll it until it holds a response, is released
         * (the first request failed: try to take it) or we give up. */
        for (;;) {
            if (sodium_memcmp(e.request_hash, hash, STORE_HASH_LEN) != 0) {
                api_reply_idem_reused(r);
                return false;
            }
            if (e.status != 0) {
                replay(r, &e);
                return false;
            }
            if (waited >= API_IDEM_WAIT_MS) {
                api_reply_idem_in_use(r);
                return false;
            }
            sleep_ms(step);
            waited += step;
            step = step * 2 > 50 ? 50 : step * 2;
            store_request_started(clock_mono_ms()); /* the wait is not database time */
            err = store_idem_get(st, r->user_id, idem->key, &r->arena, &e);
            if (err == ERR_NOT_FOUND)
                break;
            if (err != OK) {
                api_reply_error(r, err);
                return false;
            }
        }
    }
}

/* "content-type: <ct>\n" then "<name>: <value>\n" per response header. */
static const char *
stored_headers(struct http_req *r)
{
    struct buf b;
    buf_init(&b, &r->arena, 256);
    buf_appends(&b, "content-type: ");
    buf_appends(&b, r->content_type != NULL ? r->content_type : "application/json");
    buf_appendc(&b, '\n');
    for (size_t i = 0; i < r->nres_headers; i++) {
        buf_appends(&b, r->res_headers[i].name);
        buf_append(&b, ": ", 2);
        buf_append(&b, r->res_headers[i].value, r->res_headers[i].value_len);
        buf_appendc(&b, '\n');
    }
    buf_appendc(&b, '\0');
    return b.data;
}

void
api_idem_finish(struct http_req *r, struct api_idem *idem)
{
    if (!idem->owned)
        return;
    idem->owned = false;
    struct store *st = api_deps()->store;
    if (r->status < 200 || r->status > 299) {
        int err = store_idem_release(st, r->user_id, idem->key);
        if (err != OK && err != ERR_NOT_FOUND)
            log_write(LOG_WARN, "api", r->request_id, "idempotency key not released (%s)", err_name(err));
        return;
    }
    int err =
        store_idem_complete(st, r->user_id, idem->key, r->status, stored_headers(r), r->out.data, r->out.len);
    if (err != OK)
        log_write(LOG_WARN, "api", r->request_id,
                  "response for an idempotency key not stored (%s); the key stays in use until it expires",
                  err_name(err));
}
