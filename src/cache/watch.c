/* The watcher: one thread per process that keeps
 *
 * - the subscriber connection on the revocation channel. On every
 *   (re)subscribe it has the accounts layer pull revocations from the
 *   database (hooks.resync) before it vouches for anything, since messages
 *   published while it was away are lost. A PING every PING_MS on the same
 *   connection confirms it: when the PONG comes back, every message
 *   published before the PING was sent has arrived, so the revocation
 *   state is known up to that moment (pubsub_ok_ms);
 * - the instance heartbeat: this instance's entry in the instance set and
 *   the count of live instances, which sizes the local limiters' share;
 * - with Sentinel, the master's address, asked every SENTINEL_MS: a change
 *   is a failover; the loops reconnect and the caches drop.
 *
 * Its own connections are blocking hiredis ones with timeouts; it never
 * runs on a loop. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "cache/internal.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/thread.h"

enum {
    TICK_MS = 20,
    PING_MS = 200,
    HEARTBEAT_MS = 1000,
    INSTANCE_TTL_MS = 5000,
    SENTINEL_MS = 500,
    BUMP_RETRY_MS = 100,
    SUB_BACKOFF_MAX_MS = 1000
};

#define CHANNEL "pace:revocations"

struct sub {
    redisContext *rc;
    bool resynced;
    bool ping_out;
    int64_t ping_sent;
    int64_t retry_at;
    int backoff_ms;
    bool failing; /* logged */
};

static struct timeval
tv_of(int ms)
{
    return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

static int
io_timeout(const struct cache *c)
{
    return c->timeout_ms * 4 > 250 ? c->timeout_ms * 4 : 250;
}

static redisContext *
connect_to(const struct target *t, int timeout_ms)
{
    redisContext *rc = t->path[0] != '\0' ? redisConnectUnixWithTimeout(t->path, tv_of(timeout_ms))
                                          : redisConnectWithTimeout(t->host, t->port, tv_of(timeout_ms));
    if (rc == NULL)
        return NULL;
    if (rc->err || redisSetTimeout(rc, tv_of(timeout_ms)) != REDIS_OK) {
        redisFree(rc);
        return NULL;
    }
    return rc;
}

/* A command on a blocking connection: true when it answered without an error. */
static bool
command_ok(redisContext *rc, const char *fmt, const char *arg, const char *arg2)
{
    redisReply *r = arg2 != NULL  ? redisCommand(rc, fmt, arg, arg2)
                    : arg != NULL ? redisCommand(rc, fmt, arg)
                                  : redisCommand(rc, fmt);
    bool ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

/* ---- Sentinel ---- */

/* The watcher's connection to one Sentinel, kept between questions. */
struct sentinel {
    redisContext *rc; /* NULL: none */
    int at;           /* the Sentinel it is to */
};

/* One Sentinel's answer on rc: true with *out when it names the master. */
static bool
ask_master(struct cache *c, redisContext *rc, struct target *out)
{
    redisReply *r = redisCommand(rc, "SENTINEL get-master-addr-by-name %s", c->master);
    bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
              r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING;
    if (ok) {
        char hp[HOST_MAX + 8];
        snprintf(hp, sizeof(hp), "%s:%s", r->element[0]->str, r->element[1]->str);
        ok = cache_parse_hostport(hp, strlen(hp), out);
    }
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

/* The master's address from the Sentinel the watcher talks to, or from
 * the next ones in turn when it does not answer or does not know. */
static bool
sentinel_master(struct cache *c, struct sentinel *sn, struct target *out)
{
    for (int tries = 0; tries < c->nsentinels; tries++) {
        if (sn->rc == NULL)
            sn->rc = connect_to(&c->sentinels[sn->at], io_timeout(c));
        if (sn->rc != NULL && ask_master(c, sn->rc, out))
            return true;
        if (sn->rc != NULL)
            redisFree(sn->rc);
        sn->rc = NULL;
        sn->at = (sn->at + 1) % c->nsentinels;
    }
    return false;
}

static void
follow_sentinels(struct cache *c, struct sentinel *sn, struct sub *s)
{
    struct target t, cur;
    unsigned gen;
    if (!sentinel_master(c, sn, &t))
        return;
    bool known = cache_target_get(c, &cur, &gen);
    if (known && memcmp(&cur, &t, sizeof(t)) == 0)
        return;
    log_info("cache", "Redis master is %s:%d (Sentinel \"%s\")%s", t.host, t.port, c->master,
             known ? ": a failover" : "");
    cache_target_set(c, &t);
    if (s->rc != NULL) {
        redisFree(s->rc);
        s->rc = NULL;
    }
    s->retry_at = 0; /* subscribe on the new master at once */
    s->resynced = false;
    s->ping_out = false;
}

/* ---- the subscriber ---- */

static void
sub_close(struct cache *c, struct sub *s, const char *why)
{
    if (s->rc != NULL) {
        redisFree(s->rc);
        s->rc = NULL;
        cache_new_generation(c);
    }
    s->resynced = false;
    s->ping_out = false;
    s->backoff_ms = s->backoff_ms == 0 ? 50 : s->backoff_ms * 2;
    if (s->backoff_ms > SUB_BACKOFF_MAX_MS)
        s->backoff_ms = SUB_BACKOFF_MAX_MS;
    s->retry_at = clock_mono_ms() + s->backoff_ms;
    if (why != NULL && !s->failing) {
        log_warn("cache", "revocation channel lost (%s): relying on the database poll", why);
        s->failing = true;
    }
}

static void
sub_open(struct cache *c, struct sub *s)
{
    struct target t;
    unsigned gen;
    if (!cache_target_get(c, &t, &gen))
        return;
    redisContext *rc = connect_to(&t, io_timeout(c));
    if (rc == NULL) {
        sub_close(c, s, "cannot connect");
        return;
    }
    bool ok = true;
    if (c->password[0] != '\0' && c->username[0] != '\0')
        ok = command_ok(rc, "AUTH %s %s", c->username, c->password);
    else if (c->password[0] != '\0')
        ok = command_ok(rc, "AUTH %s", c->password, NULL);
    if (ok && c->db != 0) {
        char db[12];
        snprintf(db, sizeof(db), "%d", c->db);
        ok = command_ok(rc, "SELECT %s", db, NULL);
    }
    if (ok)
        ok = command_ok(rc, "SUBSCRIBE " CHANNEL, NULL, NULL);
    if (!ok) {
        redisFree(rc);
        sub_close(c, s, "cannot subscribe");
        return;
    }
    s->rc = rc;
    /* What was published while no subscriber listened is lost: pull it
     * from the database before vouching for anything. */
    s->resynced = c->hooks.resync == NULL || c->hooks.resync(c->hooks.arg);
    if (s->resynced) {
        atomic_store(&c->pubsub_ok_ms, clock_mono_ms());
        s->backoff_ms = 0;
        if (s->failing)
            log_info("cache", "revocation channel subscribed again");
        s->failing = false;
    }
    cache_new_generation(c);
}

static void
on_message(struct cache *c, struct sub *s, redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "message") == 0 && r->elements == 3 && r->element[2]->type == REDIS_REPLY_STRING) {
        if (c->hooks.message != NULL)
            c->hooks.message(c->hooks.arg, r->element[2]->str, r->element[2]->len);
    } else if (strcmp(kind, "pong") == 0) {
        s->ping_out = false;
        if (!s->resynced) /* the database was not reachable at subscribe: try again */
            s->resynced = c->hooks.resync == NULL || c->hooks.resync(c->hooks.arg);
        if (s->resynced)
            atomic_store(&c->pubsub_ok_ms, s->ping_sent);
    }
}

/* Handles every reply hiredis has read; false after closing on an error. */
static bool
sub_drain(struct cache *c, struct sub *s)
{
    void *reply = NULL;
    while (redisGetReplyFromReader(s->rc, &reply) == REDIS_OK && reply != NULL) {
        on_message(c, s, reply);
        freeReplyObject(reply);
        reply = NULL;
    }
    if (s->rc->err) {
        sub_close(c, s, "protocol error");
        return false;
    }
    return true;
}

/* One round: read what came, ping when due, wait up to TICK_MS for more. */
static void
sub_round(struct cache *c, struct sub *s)
{
    if (!sub_drain(c, s))
        return;
    int64_t now = clock_mono_ms();
    if (s->ping_out && now - s->ping_sent > io_timeout(c)) {
        sub_close(c, s, "no answer to PING");
        return;
    }
    if (!s->ping_out && now - s->ping_sent >= PING_MS) {
        int done = 0;
        if (redisAppendCommand(s->rc, "PING") != REDIS_OK) {
            sub_close(c, s, "write failed");
            return;
        }
        while (!done)
            if (redisBufferWrite(s->rc, &done) != REDIS_OK) {
                sub_close(c, s, "write failed");
                return;
            }
        s->ping_out = true;
        s->ping_sent = now;
    }
    struct pollfd pfd = {.fd = s->rc->fd, .events = POLLIN};
    if (poll(&pfd, 1, TICK_MS) <= 0)
        return;
    if (redisBufferRead(s->rc) != REDIS_OK) {
        sub_close(c, s, "connection closed");
        return;
    }
    (void)sub_drain(c, s);
}

/* ---- the heartbeat ---- */

/* Every instance must hash key names with the same secret, or they share
 * nothing: each leaves a fingerprint of its secret (a key name made with
 * it) and warns, once, when it finds another. */
static void
check_key_secret(struct cache *c, bool *warned)
{
    char fp[CACHE_KEY_MAX];
    cache_key(c, "keycheck", "pace", 4, fp);
    struct cache_reply r;
    if (*warned || cache_call(c, &r, "SET pace:keycheck %s NX GET PX %d", fp, INSTANCE_TTL_MS) != OK)
        return;
    if (r.type == CACHE_STR && strcmp(r.str, fp) != 0) {
        log_error("cache",
                  "another instance hashes Redis keys with another secret: limits, revocation markers and "
                  "cache versions are not shared; set the same PACE_REDIS_KEY_SECRET (or PACE_JWT_SECRET) "
                  "on every instance");
        *warned = true;
    }
}

static void
heartbeat(struct cache *c, bool *warned)
{
    struct cache_reply r;
    int err = cache_call(c, &r, "FCALL pace_heartbeat 1 pace:instances %s %d", c->instance, INSTANCE_TTL_MS);
    if (err == OK && r.type == CACHE_INT && r.integer > 0)
        atomic_store(&c->instances, (int)r.integer);
    if (err == OK)
        check_key_secret(c, warned);
}

static void *
watcher_main(void *arg)
{
    struct cache *c = arg;
    struct sub s = {0};
    struct sentinel sentinel = {0};
    int64_t next_sentinel = 0, next_beat = 0, next_bumps = 0;
    bool warned = false;
    while (!atomic_load(&c->stop)) {
        int64_t now = clock_mono_ms();
        if (c->nsentinels > 0 && now >= next_sentinel) {
            follow_sentinels(c, &sentinel, &s);
            next_sentinel = now + SENTINEL_MS;
        }
        if (s.rc == NULL && now >= s.retry_at)
            sub_open(c, &s);
        if (now >= next_beat) {
            heartbeat(c, &warned);
            next_beat = now + HEARTBEAT_MS;
        }
        if (now >= next_bumps) {
            cache_bumps_retry(c);
            next_bumps = now + BUMP_RETRY_MS;
        }
        if (s.rc != NULL) {
            sub_round(c, &s);
        } else {
            struct timespec ts = {0, TICK_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    (void)cache_call(c, NULL, "FCALL pace_leave 1 pace:instances %s", c->instance);
    if (s.rc != NULL)
        redisFree(s.rc);
    if (sentinel.rc != NULL)
        redisFree(sentinel.rc);
    return NULL;
}

int
cache_watch_start(struct cache *c)
{
    atomic_store(&c->stop, false);
    if (c->nsentinels > 0) {
        struct sub none = {0};
        struct sentinel first = {0};
        follow_sentinels(c, &first, &none); /* the first requests find a master */
        if (first.rc != NULL)
            redisFree(first.rc);
    }
    return thread_start(&c->watcher, NULL, "redis watcher", watcher_main, c);
}

void
cache_watch_stop(struct cache *c)
{
    atomic_store(&c->stop, true);
    pthread_join(c->watcher, NULL);
}
