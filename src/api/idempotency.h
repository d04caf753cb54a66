/* Idempotency-Key for authenticated POSTs (any handler can use it): the
 * same key with the same request (SHA-256 of method, path and body) within
 * 24 hours replays the first response (status, body, and headers such as
 * Location) without doing the work again; the same key with another
 * request is 422 idempotency_key_reused. Of concurrent requests with one
 * key exactly one does the work; the others wait for its response (up to
 * API_IDEM_WAIT_MS) and replay it, or get 409 idempotency_key_in_use.
 * Keys belong to the user: two users never share one. */
#ifndef PACE_API_IDEMPOTENCY_H
#define PACE_API_IDEMPOTENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"

enum {
    API_IDEM_KEY_MAX = 64,
    API_IDEM_WAIT_MS = 3000 /* how long a duplicate waits for the first to finish */
};

enum { API_IDEM_TTL_MS = 24 * 3600 * 1000 };

struct api_idem {
    const char *key; /* NULL: the request has no Idempotency-Key */
    bool owned;      /* this request reserved the key and must finish it */
};

/* Call after validating the body and before doing any work (on a pool
 * thread: it may wait). Returns true when the handler goes on: without a
 * key, or with the key reserved for this request (then call
 * api_idem_finish once the reply is set). Returns false after replying: a
 * replay of the stored response, 400 for a malformed key, 422
 * idempotency_key_reused, 409 idempotency_key_in_use, or a store error. */
bool api_idem_begin(struct http_req *r, struct api_idem *idem);

/* Stores the reply of an owned key when it is a success (2xx), so that
 * retries replay it; any other reply releases the key, so that a retry
 * does the work. A no-op when the request has no key. */
void api_idem_finish(struct http_req *r, struct api_idem *idem);

#endif
