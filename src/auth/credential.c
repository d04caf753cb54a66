/* The rate-limited password check shared by login, password change and
 * account deletion (auth/auth.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "util/clock.h"
#include "util/err.h"

enum { ACCOUNT_KEY_MAX = 2 + AUTH_EMAIL_MAX + 1 }; /* "l:", a login (an email at most), NUL */

/* The limit key of the account: "u:<id>", or "l:<login>" in lower case. */
static void
account_key(const struct auth_credential *c, char out[ACCOUNT_KEY_MAX])
{
    if (c->user_id != 0) {
        snprintf(out, ACCOUNT_KEY_MAX, "u:%lld", (long long)c->user_id);
        return;
    }
    snprintf(out, ACCOUNT_KEY_MAX, "l:%s", c->login != NULL ? c->login : "");
    for (char *p = out; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
}

enum auth_credential_result
auth_credential_check(struct auth *a, const struct auth_credential *c, bool *rehash,
                      struct auth_rl_verdict *limited)
{
    struct auth_ratelimit *rl = auth_limits(a);
    char account[ACCOUNT_KEY_MAX];
    account_key(c, account);
    *rehash = false;
    auth_ratelimit_login_check(rl, account, c->ip, clock_wall_ms(), limited);
    if (limited->limited)
        return AUTH_CREDENTIAL_LIMITED;
    int err = auth_password_verify(c->user_id != 0 ? c->hash : NULL, c->password, c->len, rehash);
    if (err == ERR_NOMEM)
        return AUTH_CREDENTIAL_NOMEM;
    auth_ratelimit_login_result(rl, account, c->ip, err == OK, clock_wall_ms());
    return err == OK ? AUTH_CREDENTIAL_OK : AUTH_CREDENTIAL_WRONG;
}
