/* Sessions, refresh tokens, revocation, and the accounts context. Refresh
 * tokens are 32 random bytes stored only as SHA-256, rotated on every use
 * (the store picks the one winner of a race); a spent token presented again
 * revokes its session unless the grace window applies. Revoked session ids
 * live in an in-process set (O(1) under a rwlock) refreshed from the store
 * every 500 ms by a background thread. Expired rows are purged by the
 * periodic purge.tokens job (src/jobs), once per period per deployment.
 *
 * With Redis, every revocation is also published on the revocation channel
 * (src/cache): "s <session id> <ms>" for one session, "u <user id> <ms>"
 * when several of a user's sessions end (the receivers pull them from the
 * database). Every instance applies them as they arrive, and pulls from
 * the database on every (re)subscribe, so a message lost while it was away
 * costs nothing; the 500 ms poll stays as the backstop.
 *
 * A session ends at the latest session_max after its login: every expiry
 * written (the session's at creation, each refresh token's) is capped at
 * created_at + session_max, so the session's own expires_at, which a
 * rotation only moves up to its new token's, never passes that end. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth/auth.h"
#include "cache/cache.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/ticker.h"

enum {
    REFRESH_BYTES = 32,
    SYNC_INTERVAL_MS = 500,
    SYNC_OVERLAP_MS = 5000, /* revocations committed out of timestamp order */
    SYNC_PAGE = 2000,
    SYNC_PAGES_MAX = 50,
    PRUNE_INTERVAL_MS = 60 * 1000,
    DELETE_SESSIONS_MAX = 1000
};

struct rev {
    int64_t sid; /* 0: empty */
    int64_t at;
};

struct revset {
    pthread_rwlock_t lock;
    struct rev *slots;
    size_t cap; /* a power of two */
    size_t n;
};

struct auth {
    struct store *st;
    struct cache *cache; /* borrowed; the revocation channel (NULL or disabled: none) */
    struct auth_jwt *jwt;
    struct auth_ratelimit *rl;
    struct auth_proxies *proxies;
    int refresh_ttl;
    int grace;
    int64_t session_max_ms; /* 0: no absolute end */
    int64_t keep_ms;        /* how long a revocation matters: an access token's life */

    struct revset revoked;
    pthread_mutex_t sync_mu;
    /* Guarded by sync_mu. */
    int64_t cursor;    /* newest revoked_at seen */
    bool resume;       /* the last sync stopped at SYNC_PAGES_MAX pages */
    int64_t resume_at; /* the key of that sync's last row */
    int64_t resume_id;
    bool sync_failing;

    struct ticker *sync;   /* runs sync_tick while started */
    int64_t next_prune_ms; /* monotonic; only sync_tick uses it */
};

/* ---- the revoked-session set ---- */

static size_t
rev_index(int64_t sid, size_t cap)
{
    return (size_t)(((uint64_t)sid * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static void
rev_put(struct rev *slots, size_t cap, int64_t sid, int64_t at, size_t *n)
{
    size_t i = rev_index(sid, cap);
    while (slots[i].sid != 0 && slots[i].sid != sid)
        i = (i + 1) & (cap - 1);
    if (slots[i].sid == 0) {
        slots[i].sid = sid;
        slots[i].at = at;
        (*n)++;
    } else if (at > slots[i].at) {
        slots[i].at = at;
    }
}

/* Rebuilds the table at capacity cap keeping entries revoked at or after
 * keep_from (write lock held). */
static void
rev_rebuild(struct revset *s, size_t cap, int64_t keep_from)
{
    struct rev *slots = xcalloc(cap, sizeof(*slots));
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].sid != 0 && s->slots[i].at >= keep_from)
            rev_put(slots, cap, s->slots[i].sid, s->slots[i].at, &n);
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->n = n;
}

static void
rev_add(struct revset *s, const struct store_revoked *rows, size_t n)
{
    pthread_rwlock_wrlock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].session_id <= 0)
            continue;
        if ((s->n + 1) * 2 > s->cap)
            rev_rebuild(s, s->cap * 2, INT64_MIN);
        rev_put(s->slots, s->cap, rows[i].session_id, rows[i].revoked_at, &s->n);
    }
    pthread_rwlock_unlock(&s->lock);
}

static bool
rev_contains(struct revset *s, int64_t sid)
{
    bool found = false;
    pthread_rwlock_rdlock(&s->lock);
    size_t i = rev_index(sid, s->cap);
    while (s->slots[i].sid != 0) {
        if (s->slots[i].sid == sid) {
            found = true;
            break;
        }
        i = (i + 1) & (s->cap - 1);
    }
    pthread_rwlock_unlock(&s->lock);
    return found;
}

static void
rev_prune(struct revset *s, int64_t keep_from)
{
    pthread_rwlock_wrlock(&s->lock);
    size_t cap = s->cap;
    while (cap > 1024 && s->n * 8 < cap)
        cap /= 2;
    rev_rebuild(s, cap, keep_from);
    pthread_rwlock_unlock(&s->lock);
}

/* Tells the other instances (no wait: the database poll is the backstop). */
static void
publish(struct auth *a, char kind, int64_t id)
{
    if (!cache_enabled(a->cache))
        return;
    char msg[64];
    snprintf(msg, sizeof(msg), "%c %lld %lld", kind, (long long)id, (long long)clock_wall_ms());
    (void)cache_send(a->cache, "PUBLISH pace:revocations %s", msg);
}

static void
mark_revoked(struct auth *a, int64_t sid)
{
    struct store_revoked row = {sid, clock_wall_ms()};
    rev_add(&a->revoked, &row, 1);
    publish(a, 's', sid);
}

bool
auth_session_is_revoked(struct auth *a, int64_t session_id)
{
    return rev_contains(&a->revoked, session_id);
}

/* Reads new revocations into the set, in pages by (revoked_at, id), each
 * page after the last row of the one before: nothing is skipped however
 * many rows share one revoked_at (an account deletion or a logout-all
 * revokes all of a user's sessions at one time).
 *
 * A sync starts SYNC_OVERLAP_MS before the newest revoked_at seen: a
 * revocation can commit after newer ones were read, and the overlap reads
 * it then. One sync reads at most SYNC_PAGES_MAX pages; when it stops
 * there, the next one goes on after its last row (a->resume_*), since
 * starting over at cursor - overlap could meet the same pages every time
 * and never pass them. Rows behind that row can still commit late only
 * while it is less than SYNC_OVERLAP_MS old, and then the sync starts at
 * now - overlap instead, before it; the clock moves on even when nothing
 * new is read, so after SYNC_OVERLAP_MS (plus the clock skew between
 * instances) the syncs go on from the row again. The row only moves
 * forward, and only a sync that reads to the end drops it: every row after
 * it is read by a later sync. */
int
auth_revoked_sync(struct auth *a)
{
    pthread_mutex_lock(&a->sync_mu);
    struct arena ar;
    arena_init(&ar);
    /* Session ids are positive: id 0 includes the millisecond `at`. */
    int64_t at = a->cursor - SYNC_OVERLAP_MS, id = 0;
    if (a->resume) {
        int64_t recent = clock_wall_ms() - SYNC_OVERLAP_MS;
        at = a->resume_at < recent ? a->resume_at : recent;
        id = a->resume_at < recent ? a->resume_id : 0;
    }
    int err = OK;
    bool full = false;
    int64_t started = clock_mono_ms();
    for (int page = 0; page < SYNC_PAGES_MAX; page++) {
        struct store_revoked *rows = NULL;
        size_t n = 0;
        err = store_session_revoked_since(a->st, at, id, SYNC_PAGE, &ar, &rows, &n);
        if (err != OK)
            break;
        rev_add(&a->revoked, rows, n);
        if (n > 0) {
            at = rows[n - 1].revoked_at;
            id = rows[n - 1].session_id;
            if (at > a->cursor)
                a->cursor = at;
        }
        full = n == SYNC_PAGE;
        arena_cleanup(&ar);
        if (!full)
            break;
    }
    if (err == OK && !full) {
        a->resume = false;
    } else if (err == OK) {
        if (!a->resume || at > a->resume_at || (at == a->resume_at && id > a->resume_id)) {
            a->resume_at = at;
            a->resume_id = id;
        }
        a->resume = true;
    }
    arena_cleanup(&ar);
    if (err != OK && !a->sync_failing)
        log_warn("auth", "cannot read revoked sessions (%s); retrying every %d ms", err_name(err),
                 SYNC_INTERVAL_MS);
    else if (err == OK && a->sync_failing)
        log_info("auth", "reading revoked sessions again");
    a->sync_failing = err != OK;
    pthread_mutex_unlock(&a->sync_mu);
    if (err == OK)
        cache_note_db_sync(a->cache, started);
    return err;
}

/* ---- the background sync ---- */

/* One tick of the sync (util/ticker.h, every SYNC_INTERVAL_MS): read new
 * revocations, and forget old ones every PRUNE_INTERVAL_MS. */
static void
sync_tick(void *arg)
{
    struct auth *a = arg;
    auth_revoked_sync(a);
    int64_t now = clock_mono_ms();
    if (now >= a->next_prune_ms) {
        rev_prune(&a->revoked, clock_wall_ms() - a->keep_ms);
        a->next_prune_ms = now + PRUNE_INTERVAL_MS;
    }
}

/* ---- the context ---- */

struct auth *
auth_new(const struct auth_opts *o, struct store *st)
{
    struct auth *a = xcalloc(1, sizeof(*a));
    a->st = st;
    a->refresh_ttl = o->refresh_ttl;
    a->grace = o->refresh_grace;
    a->session_max_ms = o->session_max * 1000;
    a->keep_ms = ((int64_t)o->jwt.ttl + o->jwt.leeway) * 1000 + 60 * 1000;
    pthread_rwlock_init(&a->revoked.lock, NULL);
    a->revoked.cap = 1024;
    a->revoked.slots = xcalloc(a->revoked.cap, sizeof(*a->revoked.slots));
    pthread_mutex_init(&a->sync_mu, NULL);

    const char *why = NULL;
    if (auth_jwt_new(&o->jwt, &a->jwt, &why) != OK) {
        log_error("auth", "invalid access-token settings: %s", why);
        goto fail;
    }
    if (auth_proxies_new(o->trusted_proxies, &a->proxies, &why) != OK) {
        log_error("auth", "invalid PACE_TRUSTED_PROXIES: %s", why);
        goto fail;
    }
    if (auth_password_init(&o->password) != OK) {
        log_error("auth", "invalid argon2id parameters (memory %zu KiB, %llu iterations)",
                  o->password.memory_kib, o->password.iterations);
        goto fail;
    }
    if (auth_policy_init() != OK || auth_policy_load(o->common_passwords) != OK)
        goto fail;
    a->rl = auth_ratelimit_new(&o->limits);
    a->cache = o->limits.cache;
    a->cursor = clock_wall_ms() - a->keep_ms;
    int err = auth_revoked_sync(a);
    if (err != OK) {
        log_error("auth", "cannot load the revoked sessions (%s)", err_name(err));
        goto fail;
    }
    return a;
fail:
    auth_free(a);
    return NULL;
}

int
auth_start(struct auth *a)
{
    if (a->sync != NULL)
        return OK;
    a->next_prune_ms = clock_mono_ms() + PRUNE_INTERVAL_MS;
    a->sync = ticker_start("revocation sync", SYNC_INTERVAL_MS, true, sync_tick, a);
    return a->sync != NULL ? OK : ERR_INTERNAL; /* ticker_start logged */
}

void
auth_stop(struct auth *a)
{
    if (a == NULL)
        return;
    ticker_stop(a->sync);
    a->sync = NULL;
}

void
auth_free(struct auth *a)
{
    if (a == NULL)
        return;
    auth_stop(a);
    auth_jwt_free(a->jwt);
    auth_proxies_free(a->proxies);
    auth_ratelimit_free(a->rl);
    auth_policy_cleanup();
    free(a->revoked.slots);
    pthread_rwlock_destroy(&a->revoked.lock);
    pthread_mutex_destroy(&a->sync_mu);
    free(a);
}

struct auth_ratelimit *
auth_limits(struct auth *a)
{
    return a->rl;
}

const struct auth_proxies *
auth_proxies(const struct auth *a)
{
    return a->proxies;
}

int
auth_refresh_ttl(const struct auth *a)
{
    return a->refresh_ttl;
}

int
auth_access_ttl(const struct auth *a)
{
    return auth_jwt_ttl(a->jwt);
}

enum auth_jwt_status
auth_access_verify(struct auth *a, const char *tok, size_t len, struct auth_claims *out, bool *revoked,
                   bool *unsure)
{
    *revoked = false;
    *unsure = false;
    enum auth_jwt_status st = auth_jwt_verify_cached(a->jwt, tok, len, (int64_t)time(NULL), out);
    if (st == AUTH_JWT_OK) {
        *revoked = rev_contains(&a->revoked, out->session_id);
        *unsure = !*revoked && !cache_revocations_fresh(a->cache);
    }
    return st;
}

/* ---- the revocation channel ---- */

/* A message on the channel (the watcher thread): "s <sid> <ms>" or "u <uid> <ms>". */
static void
on_revocation(void *arg, const char *text, size_t len)
{
    struct auth *a = arg;
    char buf[64];
    if (len < 3 || len >= sizeof(buf))
        return;
    memcpy(buf, text, len);
    buf[len] = '\0';
    long long id = 0, at = 0;
    char kind = 0;
    if (sscanf(buf, "%c %lld %lld", &kind, &id, &at) != 3 || id <= 0)
        return;
    if (kind == 's') {
        struct store_revoked row = {id, at};
        rev_add(&a->revoked, &row, 1);
    } else if (kind == 'u') {
        /* Several sessions: the database has them; the sync thread reads
         * them now (the watcher must not wait on the database). */
        if (a->sync != NULL)
            ticker_poke(a->sync);
        else
            (void)auth_revoked_sync(a);
    } else {
        return;
    }
    cache_note_revocation_lag(a->cache, at);
}

static bool
on_resubscribe(void *arg)
{
    return auth_revoked_sync(arg) == OK;
}

void
auth_cache_hooks(struct auth *a, struct cache_hooks *h)
{
    *h = (struct cache_hooks){.message = on_revocation, .resync = on_resubscribe, .arg = a};
}

/* ---- tokens and sessions ---- */

struct fresh {
    char text[AUTH_REFRESH_TEXT];
    uint8_t hash[AUTH_REFRESH_HASH];
};

void
auth_token_new(char text[AUTH_REFRESH_TEXT], uint8_t hash[AUTH_REFRESH_HASH])
{
    unsigned char raw[REFRESH_BYTES];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(text, AUTH_REFRESH_TEXT, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(hash, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
}

static void
fresh_token(struct fresh *f)
{
    auth_token_new(f->text, f->hash);
}

int
auth_refresh_hash(const char *text, size_t len, uint8_t hash[AUTH_REFRESH_HASH])
{
    unsigned char raw[REFRESH_BYTES + 1];
    size_t n = 0;
    const char *end = NULL;
    if (len != AUTH_REFRESH_TEXT - 1 ||
        sodium_base642bin(raw, sizeof(raw), text, len, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != text + len || n != REFRESH_BYTES)
        return ERR_INVALID;
    crypto_hash_sha256(hash, raw, REFRESH_BYTES);
    sodium_memzero(raw, sizeof(raw));
    return OK;
}

/* When a refresh token issued at now_ms for a session created at
 * created_ms expires: refresh_ttl later, but not past the session's end. */
static int64_t
refresh_expiry(const struct auth *a, int64_t created_ms, int64_t now_ms)
{
    int64_t at = now_ms + (int64_t)a->refresh_ttl * 1000;
    if (a->session_max_ms > 0 && at > created_ms + a->session_max_ms)
        at = created_ms + a->session_max_ms;
    return at;
}

/* Fills the pair's access token and numbers; the refresh token expires at
 * refresh_at. */
static int
finish_pair(struct auth *a, int64_t user_id, int64_t session_id, int64_t now_ms, int64_t refresh_at,
            const struct fresh *f, struct auth_pair *out)
{
    out->user_id = user_id;
    out->session_id = session_id;
    out->expires_in = auth_jwt_ttl(a->jwt);
    out->refresh_expires_in = refresh_at > now_ms ? (int)((refresh_at - now_ms) / 1000) : 0;
    memcpy(out->refresh, f->text, sizeof(out->refresh));
    return auth_jwt_sign(a->jwt, user_id, session_id, now_ms / 1000, out->access, sizeof(out->access));
}

/* Printable ASCII only, capped: what a client calls itself is untrusted. */
static void
clean_copy(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s != NULL && s[n] != '\0' && n + 1 < cap; n++)
        out[n] = s[n] >= 0x20 && s[n] < 0x7f ? s[n] : '?';
    out[n] = '\0';
}

int
auth_session_create(struct auth *a, int64_t user_id, const char *user_agent, const char *ip, bool mfa,
                    struct auth_pair *out)
{
    char ua[AUTH_USER_AGENT_MAX + 1], addr[64];
    clean_copy(ua, sizeof(ua), user_agent);
    clean_copy(addr, sizeof(addr), ip);
    struct fresh f;
    fresh_token(&f);
    int64_t now = clock_wall_ms();
    struct store_session sess = {
        .user_id = user_id,
        .user_agent = ua[0] != '\0' ? ua : NULL,
        .ip = addr[0] != '\0' ? addr : NULL,
        .expires_at = refresh_expiry(a, now, now),
        .mfa = mfa,
    };
    struct store_refresh first = {.user_id = user_id, .expires_at = sess.expires_at};
    memcpy(first.hash, f.hash, sizeof(first.hash));
    int err = store_session_create(a->st, &sess, &first);
    if (err == OK)
        err = finish_pair(a, user_id, sess.id, now, first.expires_at, &f, out);
    sodium_memzero(&f, sizeof(f));
    return err;
}

int
auth_refresh_owner(struct auth *a, const uint8_t hash[AUTH_REFRESH_HASH], int64_t *user_id)
{
    struct store_refresh tok;
    int err = store_refresh_get(a->st, hash, &tok);
    if (err == OK)
        *user_id = tok.user_id;
    return err;
}

/* The grace window: the token was spent moments ago by this session's own
 * client racing itself; give it a fresh token in the same session. */
static int
refresh_in_grace(struct auth *a, const struct store_refresh *old, int64_t now, struct auth_pair *out,
                 enum auth_refresh_result *res)
{
    struct fresh f;
    fresh_token(&f);
    struct store_refresh tok = {
        .user_id = old->user_id,
        .session_id = old->session_id,
        .parent_id = old->id,
        .expires_at = refresh_expiry(a, old->session_created_at, now),
    };
    memcpy(tok.hash, f.hash, sizeof(tok.hash));
    int err = store_refresh_create(a->st, &tok);
    if (err == ERR_NOT_FOUND) {
        *res = AUTH_REFRESH_INVALID;
        err = OK;
    } else if (err == OK) {
        *res = AUTH_REFRESH_OK;
        err = finish_pair(a, old->user_id, old->session_id, now, tok.expires_at, &f, out);
    }
    sodium_memzero(&f, sizeof(f));
    return err;
}

int
auth_session_refresh(struct auth *a, const uint8_t hash[AUTH_REFRESH_HASH], struct auth_pair *out,
                     enum auth_refresh_result *res)
{
    *res = AUTH_REFRESH_INVALID;
    int64_t now = clock_wall_ms();
    /* The session's start bounds the new token's expiry: read it first (it
     * never changes, so no race with the rotation). */
    struct store_refresh cur;
    int err = store_refresh_get(a->st, hash, &cur);
    if (err == ERR_NOT_FOUND)
        return OK;
    if (err != OK)
        return err;
    if (a->session_max_ms > 0 && now >= cur.session_created_at + a->session_max_ms &&
        cur.session_revoked_at == 0 && cur.used_at == 0) {
        *res = AUTH_REFRESH_EXPIRED; /* rotation cannot take a session past its end */
        return OK;
    }
    struct fresh f;
    fresh_token(&f);
    struct store_refresh child = {.expires_at = refresh_expiry(a, cur.session_created_at, now)}, old = {0};
    memcpy(child.hash, f.hash, sizeof(child.hash));
    err = store_refresh_rotate(a->st, hash, now, &child, &old);
    switch (err) {
    case OK:
        *res = AUTH_REFRESH_OK;
        err = finish_pair(a, old.user_id, old.session_id, now, child.expires_at, &f, out);
        break;
    case ERR_NOT_FOUND:
        /* A known token whose session ran out with it is "expired". */
        if (old.id != 0 && old.session_revoked_at == 0 &&
            (old.expires_at <= now || old.session_expires_at <= now))
            *res = AUTH_REFRESH_EXPIRED;
        err = OK;
        break;
    case ERR_PRECONDITION:
        *res = AUTH_REFRESH_EXPIRED;
        err = OK;
        break;
    case ERR_CONFLICT:
        if (a->grace > 0 && old.session_revoked_at == 0 && old.session_expires_at > now &&
            old.used_at >= now - (int64_t)a->grace * 1000) {
            err = refresh_in_grace(a, &old, now, out, res);
            break;
        }
        *res = AUTH_REFRESH_REUSED;
        err = store_session_revoke(a->st, old.user_id, old.session_id);
        if (err == ERR_NOT_FOUND)
            err = OK;
        if (err == OK) {
            mark_revoked(a, old.session_id);
            log_warn("auth", "a spent refresh token was presented again: session %lld of user %lld revoked",
                     (long long)old.session_id, (long long)old.user_id);
        }
        break;
    default:
        break;
    }
    sodium_memzero(&f, sizeof(f));
    return err;
}

int
auth_session_logout(struct auth *a, const uint8_t hash[AUTH_REFRESH_HASH])
{
    struct store_refresh tok;
    int err = store_refresh_get(a->st, hash, &tok);
    if (err == ERR_NOT_FOUND)
        return OK;
    if (err == OK)
        err = store_session_revoke(a->st, tok.user_id, tok.session_id);
    if (err == ERR_NOT_FOUND)
        return OK;
    if (err == OK)
        mark_revoked(a, tok.session_id);
    return err;
}

int
auth_session_end(struct auth *a, int64_t user_id, int64_t session_id)
{
    int err = store_session_revoke(a->st, user_id, session_id);
    if (err == OK)
        mark_revoked(a, session_id);
    return err;
}

int
auth_session_end_all(struct auth *a, int64_t user_id, int64_t keep)
{
    int err = store_session_revoke_all(a->st, user_id, keep, NULL);
    /* Done; the pull makes it visible here at once (the thread retries). */
    if (err == OK) {
        (void)auth_revoked_sync(a);
        publish(a, 'u', user_id);
    }
    return err;
}

int
auth_session_password_changed(struct auth *a, int64_t user_id, const char *hash, int64_t keep)
{
    int err = store_user_set_password(a->st, user_id, hash, true, keep);
    if (err == OK) {
        (void)auth_revoked_sync(a);
        publish(a, 'u', user_id);
    }
    return err;
}

int
auth_user_delete(struct auth *a, int64_t user_id)
{
    struct arena ar;
    arena_init(&ar);
    struct store_session *rows = NULL;
    size_t n = 0;
    int err = store_session_list_active(a->st, user_id, clock_wall_ms(), DELETE_SESSIONS_MAX, &ar, &rows, &n);
    if (err == OK)
        err = store_user_delete(a->st, user_id);
    if (err == OK) {
        for (size_t i = 0; i < n; i++) {
            struct store_revoked row = {rows[i].id, clock_wall_ms()};
            rev_add(&a->revoked, &row, 1);
        }
        publish(a, 'u', user_id); /* the deletion left revocation records */
    }
    arena_cleanup(&ar);
    return err;
}
