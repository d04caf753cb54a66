/* Unit tests for auth/ratelimit.c: the token buckets and their headers,
 * the login backoff per (account, IP) that leaves other IPs alone, the
 * account-wide failure limit, limits off, a flood of keys in the bounded
 * table, and client addresses behind trusted proxies. Time is passed in. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "check.h"
#include "util/err.h"

static const int64_t T0 = 1800000000000;

static struct auth_ratelimit *
make_with(bool enabled, int account_failures)
{
    struct auth_ratelimit_opts o = {
        .enabled = enabled,
        .per_ip = {[AUTH_RL_REGISTER] = 3, [AUTH_RL_LOGIN] = 6, [AUTH_RL_REFRESH] = 60},
        .per_account = {[AUTH_RL_REGISTER] = 2, [AUTH_RL_LOGIN] = account_failures, [AUTH_RL_REFRESH] = 60},
        .login_failures = 3,
    };
    return auth_ratelimit_new(&o);
}

static struct auth_ratelimit *
make(bool enabled)
{
    return make_with(enabled, 4);
}

static void
test_bucket(void)
{
    struct auth_ratelimit *rl = make(true);
    struct auth_rl_verdict v;
    for (int i = 0; i < 3; i++) {
        auth_ratelimit_hit(rl, AUTH_RL_REGISTER, true, "10.0.0.1", T0, &v);
        CHECK(v.applies && !v.limited);
        CHECK_EQ_INT(v.limit, 3);
        CHECK_EQ_INT(v.remaining, 2 - i);
        CHECK(v.reset > 0 && v.reset <= 60);
    }
    auth_ratelimit_hit(rl, AUTH_RL_REGISTER, true, "10.0.0.1", T0, &v);
    CHECK(v.limited);
    CHECK_EQ_INT(v.remaining, 0);
    CHECK_EQ_INT(v.retry_after, 20); /* one attempt comes back every 20 s */
    /* A refused attempt does not count: 20 s later one is allowed again. */
    auth_ratelimit_hit(rl, AUTH_RL_REGISTER, true, "10.0.0.1", T0 + 19000, &v);
    CHECK(v.limited);
    auth_ratelimit_hit(rl, AUTH_RL_REGISTER, true, "10.0.0.1", T0 + 20000, &v);
    CHECK(!v.limited);
    CHECK_EQ_INT(v.remaining, 0);
    /* Other keys and classes are separate. */
    auth_ratelimit_hit(rl, AUTH_RL_REGISTER, true, "10.0.0.2", T0, &v);
    CHECK(!v.limited && v.remaining == 2);
    auth_ratelimit_hit(rl, AUTH_RL_LOGIN, true, "10.0.0.1", T0, &v);
    CHECK(!v.limited && v.limit == 6);
    auth_ratelimit_hit(rl, AUTH_RL_REGISTER, false, "10.0.0.1", T0, &v);
    CHECK(!v.limited && v.limit == 2);
    /* A minute later the bucket is full again. */
    auth_ratelimit_hit(rl, AUTH_RL_REGISTER, true, "10.0.0.1", T0 + 90000, &v);
    CHECK(!v.limited && v.remaining == 2);
    auth_ratelimit_free(rl);
}

static void
test_off(void)
{
    struct auth_ratelimit *rl = make(false);
    struct auth_rl_verdict v;
    for (int i = 0; i < 100; i++) {
        auth_ratelimit_hit(rl, AUTH_RL_REGISTER, true, "10.0.0.1", T0, &v);
        CHECK(!v.applies && !v.limited);
    }
    for (int i = 0; i < 10; i++)
        auth_ratelimit_login_result(rl, "u:1", "10.0.0.1", false, T0);
    auth_ratelimit_login_check(rl, "u:1", "10.0.0.1", T0, &v);
    CHECK(!v.applies && !v.limited);
    auth_ratelimit_free(rl);
}

static void
test_backoff(void)
{
    /* The account-wide limit is high here: only the per-IP backoff acts. */
    struct auth_ratelimit *rl = make_with(true, 1000);
    struct auth_rl_verdict v;
    const char *acct = "u:7", *attacker = "203.0.113.9", *owner = "198.51.100.4";
    for (int i = 0; i < 3; i++) {
        auth_ratelimit_login_check(rl, acct, attacker, T0, &v);
        CHECK(!v.limited);
        auth_ratelimit_login_result(rl, acct, attacker, false, T0);
    }
    /* The third failure starts the backoff for that IP only. */
    auth_ratelimit_login_check(rl, acct, attacker, T0 + 500, &v);
    CHECK(v.limited);
    CHECK_EQ_INT(v.retry_after, 1);
    auth_ratelimit_login_check(rl, acct, owner, T0 + 500, &v);
    CHECK(!v.limited);
    auth_ratelimit_login_check(rl, "u:8", attacker, T0 + 500, &v);
    CHECK(!v.limited);
    /* After the delay one more try; failing doubles it. */
    auth_ratelimit_login_check(rl, acct, attacker, T0 + 1000, &v);
    CHECK(!v.limited);
    auth_ratelimit_login_result(rl, acct, attacker, false, T0 + 1000);
    auth_ratelimit_login_check(rl, acct, attacker, T0 + 2500, &v);
    CHECK(v.limited);
    CHECK_EQ_INT(v.retry_after, 1);
    auth_ratelimit_login_check(rl, acct, attacker, T0 + 3000, &v);
    CHECK(!v.limited);
    for (int i = 0; i < 20; i++)
        auth_ratelimit_login_result(rl, acct, attacker, false, T0 + 3000);
    auth_ratelimit_login_check(rl, acct, attacker, T0 + 3000 + 14 * 60 * 1000, &v);
    CHECK(v.limited); /* capped at 15 minutes */
    CHECK(v.retry_after <= 60);
    /* The owner logs in from elsewhere meanwhile. */
    auth_ratelimit_login_check(rl, acct, owner, T0 + 3000, &v);
    CHECK(!v.limited);
    auth_ratelimit_login_result(rl, acct, owner, true, T0 + 3000);
    /* A success from the failing IP clears its record. */
    auth_ratelimit_login_result(rl, acct, attacker, true, T0 + 3000);
    auth_ratelimit_login_check(rl, acct, attacker, T0 + 3000, &v);
    CHECK(!v.limited);
    auth_ratelimit_free(rl);
}

static void
test_account_under_attack(void)
{
    struct auth_ratelimit *rl = make(true);
    struct auth_rl_verdict v;
    char ip[32];
    /* Five IPs fail once each: more than 4 failures a minute on the account. */
    for (int i = 0; i < 5; i++) {
        snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
        auth_ratelimit_login_result(rl, "u:1", ip, false, T0);
    }
    auth_ratelimit_login_check(rl, "u:1", "192.0.2.1", T0, &v);
    CHECK(v.limited); /* it failed here before */
    CHECK(v.retry_after >= 1);
    auth_ratelimit_login_check(rl, "u:1", "192.0.2.200", T0, &v);
    CHECK(!v.limited); /* a clean IP (the owner) is not held back */
    auth_ratelimit_login_check(rl, "u:2", "192.0.2.1", T0, &v);
    CHECK(!v.limited);
    /* Later the account's failures have drained. */
    auth_ratelimit_login_check(rl, "u:1", "192.0.2.1", T0 + 60000, &v);
    CHECK(!v.limited);
    auth_ratelimit_free(rl);
}

static void
test_many_keys(void)
{
    /* Far more keys than slots: bounded memory, the newest keys still work. */
    struct auth_ratelimit *rl = make(true);
    struct auth_rl_verdict v;
    char key[32];
    for (int i = 0; i < 300000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        auth_ratelimit_hit(rl, AUTH_RL_REFRESH, true, key, T0 + i, &v);
    }
    CHECK(!v.limited);
    for (int i = 0; i < 60; i++)
        auth_ratelimit_hit(rl, AUTH_RL_REFRESH, true, "hot", T0 + 300000, &v);
    CHECK(!v.limited);
    auth_ratelimit_hit(rl, AUTH_RL_REFRESH, true, "hot", T0 + 300000, &v);
    CHECK(v.limited);
    auth_ratelimit_free(rl);
}

static const char *
client(const struct auth_proxies *p, const char *peer, const char *xff)
{
    static char out[64];
    auth_client_ip(p, peer, xff, xff != NULL ? strlen(xff) : 0, out, sizeof(out));
    return out;
}

static void
test_proxies(void)
{
    struct auth_proxies *p = NULL;
    const char *why = NULL;
    CHECK_EQ_INT(auth_proxies_new("127.0.0.1, 10.0.0.0/8,::1,fd00::/8", &p, &why), OK);
    CHECK_EQ_STR(client(p, "127.0.0.1", "203.0.113.5"), "203.0.113.5");
    CHECK_EQ_STR(client(p, "127.0.0.1", "198.51.100.1, 203.0.113.5"), "203.0.113.5");
    CHECK_EQ_STR(client(p, "127.0.0.1", "198.51.100.1, 203.0.113.5, 10.1.2.3"), "203.0.113.5");
    CHECK_EQ_STR(client(p, "127.0.0.1", "10.0.0.7, 10.1.2.3"), "10.0.0.7");
    CHECK_EQ_STR(client(p, "127.0.0.1", "203.0.113.5:4711"), "203.0.113.5");
    CHECK_EQ_STR(client(p, "127.0.0.1", "[2001:db8::1]:443"), "2001:db8::1");
    CHECK_EQ_STR(client(p, "127.0.0.1", "2001:db8::1"), "2001:db8::1");
    CHECK_EQ_STR(client(p, "127.0.0.1", "not-an-ip"), "127.0.0.1");
    CHECK_EQ_STR(client(p, "127.0.0.1", NULL), "127.0.0.1");
    CHECK_EQ_STR(client(p, "::ffff:127.0.0.1", "203.0.113.5"), "203.0.113.5");
    CHECK_EQ_STR(client(p, "::1", "203.0.113.5"), "203.0.113.5");
    /* An untrusted peer's header is ignored. */
    CHECK_EQ_STR(client(p, "203.0.113.77", "1.2.3.4"), "203.0.113.77");
    auth_proxies_free(p);

    CHECK_EQ_INT(auth_proxies_new("", &p, &why), OK);
    CHECK_EQ_STR(client(p, "127.0.0.1", "203.0.113.5"), "127.0.0.1");
    auth_proxies_free(p);
    CHECK_EQ_INT(auth_proxies_new(NULL, &p, &why), OK);
    auth_proxies_free(p);

    const char *bad[] = {"nonsense", "10.0.0.0/33", "10.0.0.0/", "::1/129", "1.2.3.4/x", NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        CHECK_EQ_INT(auth_proxies_new(bad[i], &p, &why), ERR_INVALID);
        CHECK(p == NULL);
    }
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_bucket();
    test_off();
    test_backoff();
    test_account_under_attack();
    test_many_keys();
    test_proxies();
    return check_done();
}
