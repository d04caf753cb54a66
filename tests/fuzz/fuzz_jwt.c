/* libFuzzer target for access-token verification (auth/jwt.c): any bytes
 * as a token, against a key ring of two keys. Never crashes, never reads
 * out of bounds, never accepts a token without the right MAC. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct auth_jwt *jwt;

static void
setup(void)
{
    if (sodium_init() < 0)
        abort();
    struct auth_jwt_opts o = {
        .keys = "k1=0123456789abcdef0123456789abcdef-one,default=0123456789abcdef0123456789abcdef-two",
        .issuer = "pace",
        .audience = "pace",
        .ttl = 900,
        .leeway = 30,
    };
    const char *why = NULL;
    if (auth_jwt_new(&o, &jwt, &why) != OK)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (jwt == NULL)
        setup();
    /* A copy of exactly size bytes, so reading past it is caught. */
    char *tok = malloc(size > 0 ? size : 1);
    if (tok == NULL)
        return 0;
    memcpy(tok, data, size);
    struct auth_claims c;
    enum auth_jwt_status st = auth_jwt_verify(jwt, tok, size, 1800000000, &c);
    if (st == AUTH_JWT_OK && (c.user_id <= 0 || c.session_id <= 0))
        abort();
    (void)auth_jwt_status_name(st);
    free(tok);
    return 0;
}
