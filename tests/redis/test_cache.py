"""The payload cache across instances (issue 12, point 5): GET /users/me,
GET /profile and final plans are kept in each instance's memory and
validated against a per-user version in Redis that every write bumps
before it is acknowledged. What is proved here, with three pace instances
on one PostgreSQL database and one Redis:

- no stale read: a read that starts after a write's answer came back, on
  any instance, returns that write's value or a newer one, while writes
  race fills (reads of the same user on the other instances at the same
  moment); and the cache is really used (hits on every instance);
- conditional requests (If-None-Match, ETag, Cache-Control) answer from
  the cache exactly as from the database, and a write elsewhere changes
  them;
- a plan is cached only once it is final; a deleted plan is 404 on every
  instance at once; an entry is bound to its user (another user gets 404);
- FLUSHALL and a Redis restart (with a write while Redis is down) leave no
  stale entry behind, and the cache works again afterwards;
- PACE_CACHE_MB=0 caches nothing; a tiny budget evicts and stays right;
- an instance cut off from Redis while the others reach it (a partial
  partition, a documented limit): it acknowledges writes and reads them
  back, counts its failed version bumps, and once it reaches Redis again
  its retried bumps land within seconds, so every instance serves the new
  values (stale reads elsewhere during the cut are allowed, and counted);
- an instance that lost Redis for a while (breaker open, probes failing)
  uses it again each time and the bumps it owed land.

PostgreSQL only: several instances need one shared database, and on SQLite
reads run on the event loop, where the cache is never consulted.
"""

import collections
import random
import threading
import time

import pytest
import requests

import cluster
from cluster import NEEDS_POSTGRES, POSTGRES, report, scrape, wait_until
from fake_llm import FakeLLM  # tests/api
from harness import metric_values
from helpers import PROFILE, auth

pytestmark = [pytest.mark.cluster, pytest.mark.skipif(
    not POSTGRES, reason=NEEDS_POSTGRES + "; and on SQLite reads run on the event loop, where the payload cache "
                                          "is never consulted")]

ME = "/api/v1/users/me"
PROF = "/api/v1/profile"
PLANS = "/api/v1/plans"
KINDS = ("user", "profile", "plan")
TIMEOUT = 10


# ---------------------------------------------------------------- helpers

def counters(srv):
    """{(metric, cache): value} of the payload cache on one instance (a
    metric an instance does not show counts 0)."""
    samples = scrape(srv.url)
    out = {}
    for m in ("hits", "misses", "evictions"):
        for k in KINDS:
            v = metric_values(samples, f"pace_cache_{m}_total", cache=k)
            out[(m, k)] = v[0] if v else 0.0
    v = metric_values(samples, "pace_cache_bytes")
    out["bytes"] = v[0] if v else 0.0
    v = metric_values(samples, "pace_cache_version_bump_failures_total")
    out["bump_failures"] = v[0] if v else 0.0
    for kind in ("timeout", "refused"):  # Redis commands past their deadline, refused by the open breaker
        v = metric_values(samples, "pace_redis_errors_total", kind=kind)
        out[kind] = v[0] if v else 0.0
    return out


def hits(srv, kind):
    return counters(srv)[("hits", kind)]


def get(srv, path, user, headers=None, session=requests):
    return session.get(srv.url + path, headers=auth(user["access"], headers), timeout=TIMEOUT)


def get_hit(srv, path, user, kind, headers=None, tries=10):
    """GETs path until an answer comes from the cache (the hit counter of
    `kind` rises across the request); returns that answer. The first
    requests of an instance may miss: each event loop opens its Redis
    connection on first use, and a new connection drops the entries."""
    for _ in range(tries):
        before = hits(srv, kind)
        r = get(srv, path, user, headers)
        if hits(srv, kind) > before:
            return r
    raise AssertionError(f"{path} on :{srv.port} never came from the cache in {tries} tries")


def put_profile(srv, user, n, session=requests):
    r = session.put(srv.url + PROF, json={**PROFILE, "exclude_foods": [f"c{n}"]}, headers=auth(user["access"]),
                    timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r


def patch_name(srv, user, n, session=requests):
    r = session.patch(srv.url + ME, json={"username": f"{user['username']}.{n}"}, headers=auth(user["access"]),
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r


def written(field, body):
    """The counter a write embedded in the value (0: the initial value)."""
    if field == "user":
        name = body["username"]
        return int(name.rsplit(".", 1)[1]) if "." in name else 0
    return int(body["exclude_foods"][0][1:])


def wait_final(srv, user, plan_id, timeout=30):
    def final():
        r = get(srv, f"{PLANS}/{plan_id}", user)
        assert r.status_code == 200, r.text
        return r if r.json()["state"] in ("ready", "failed") else None
    return wait_until(final, timeout, f"plan {plan_id} to be final", interval=0.05)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def llm():
    fake = FakeLLM().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def trio(redis, llm, tmp_path_factory):
    """Three instances on one database and the module's Redis; plans are
    asked of the fake LLM first (a slow answer keeps a plan running)."""
    c = cluster.Cluster(tmp_path_factory.mktemp("trio"), n=3, redis=redis,
                        env={"PACE_LLM_URL": llm.url, "PACE_LLM_MODEL": "fake-model",
                             "PACE_LLM_API_KEY": "sk-test-123", "PACE_LLM_TIMEOUT_MS": "10000"})
    yield c
    c.stop()


# ---------------------------------------------------------------- stale reads

class StaleRun:
    """Writers (one thread per user, so that a user's writes are ordered)
    change the username (PATCH /users/me) and the profile (PUT /profile)
    on random instances, each value carrying a counter that grows with
    every write; right after each answer the writer reads the value back on
    the two other instances. Readers read random users on random instances
    meanwhile, so fills race the writes. Before every read starts, the
    counter of the user's last acknowledged write is noted: a read that
    returns an older counter is stale."""

    def __init__(self, c, users, readers, pause):
        self.c, self.users, self.nreaders, self.pause = c, users, readers, pause
        self.lock = threading.Lock()
        self.acked = [{"user": 0, "profile": 0} for _ in users]
        self.stop = threading.Event()
        self.stale = []
        self.errors = []
        self.n = collections.Counter()

    def read(self, session, i, field, srv, who):
        with self.lock:
            floor = self.acked[i][field]
        t0 = time.monotonic()
        r = get(srv, ME if field == "user" else PROF, self.users[i], session=session)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        if field == "user":
            assert body["id"] == self.users[i]["id"], body  # bound to its user
        got = written(field, body)
        with self.lock:
            self.n["reads"] += 1
            if who == "writer":
                self.n["after_write"] += 1
            if got < floor:
                self.stale.append(f"user {i} {field} on :{srv.port} ({who}) at +{t0 - self.t0:.3f}s: "
                                  f"read {got} after {floor} was acknowledged")

    def writer(self, i):
        s = requests.Session()
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                k = random.randrange(len(self.c))
                field = "user" if n % 2 else "profile"
                if field == "user":
                    patch_name(self.c[k], self.users[i], n, session=s)
                else:
                    put_profile(self.c[k], self.users[i], n, session=s)
                with self.lock:
                    self.acked[i][field] = n
                    self.n["writes"] += 1
                for j in range(len(self.c)):
                    if j != k:
                        self.read(s, i, field, self.c[j], "writer")
                self.stop.wait(random.uniform(0, self.pause))
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(f"writer {i}: {e!r}")
            self.stop.set()

    def reader(self, _):
        s = requests.Session()
        try:
            while not self.stop.is_set():
                i = random.randrange(len(self.users))
                self.read(s, i, random.choice(("user", "profile")), random.choice(self.c.instances), "reader")
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"reader: {e!r}")
            self.stop.set()

    def run(self, seconds):
        threads = [threading.Thread(target=self.writer, args=(i,)) for i in range(len(self.users))]
        threads += [threading.Thread(target=self.reader, args=(k,)) for k in range(self.nreaders)]
        self.t0 = time.monotonic()
        for t in threads:
            t.start()
        self.stop.wait(seconds)
        self.stop.set()
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "a client thread hung"
        return time.monotonic() - self.t0


def test_no_stale_reads_across_three_instances(trio):
    users = [trio.new_user(i % 3) for i in range(6)]
    for i, u in enumerate(users):
        put_profile(trio[i % 3], u, 0)
    before = [counters(s) for s in trio]
    run = StaleRun(trio, users, readers=6, pause=0.04)
    seconds = run.run(15)
    after = [counters(s) for s in trio]

    assert not run.errors, run.errors[:5]
    h = [sum(a[("hits", k)] - b[("hits", k)] for k in ("user", "profile")) for a, b in zip(after, before)]
    m = [sum(a[("misses", k)] - b[("misses", k)] for k in ("user", "profile")) for a, b in zip(after, before)]
    bumps_failed = sum(a["bump_failures"] - b["bump_failures"] for a, b in zip(after, before))
    redis_failed = {k: int(sum(a[k] - b[k] for a, b in zip(after, before))) for k in ("timeout", "refused")}
    ratio = sum(h) / max(1, sum(h) + sum(m))
    line = (f"stale reads: {len(run.stale)} of {run.n['reads']} reads "
            f"({run.n['after_write']} at once after a write on another instance), "
            f"{run.n['writes']} writes in {seconds:.1f} s; cache hits {int(sum(h))} misses {int(sum(m))} "
            f"(hit ratio {ratio:.2f}; per instance {[int(x) for x in h]}); failed version bumps {int(bumps_failed)} "
            f"(Redis commands timed out {redis_failed['timeout']}, refused by the breaker {redis_failed['refused']})")
    print(line)
    report(line)
    assert run.n["writes"] >= 50 and run.n["after_write"] >= 100, run.n
    assert run.stale == [], (f"{len(run.stale)} stale reads ({int(bumps_failed)} version bumps failed):\n"
                             + "\n".join(run.stale[:20]))
    # Not vacuous: every instance answered from its cache.
    assert all(x > 0 for x in h), f"hits per instance {h}"


# ---------------------------------------------------------------- conditional requests

@pytest.mark.parametrize("kind, path", [("user", ME), ("profile", PROF)])
def test_etag_and_304_from_the_cache(trio, kind, path):
    user = trio.new_user(0)
    put_profile(trio[0], user, 0)
    a, b = trio[1], trio[2]

    fill = get(a, path, user)
    assert fill.status_code == 200, fill.text
    hit = get_hit(a, path, user, kind)
    # The cached answer is the database's, byte for byte, headers included.
    assert hit.status_code == 200
    assert hit.content == fill.content
    for h in ("ETag", "Cache-Control", "Content-Type"):
        assert hit.headers.get(h) == fill.headers.get(h), (h, hit.headers, fill.headers)
    assert hit.headers["Cache-Control"] == "private, no-cache"
    etag = hit.headers["ETag"]

    # If-None-Match answered from the cache: 304 with the tag, no body.
    for inm in (etag, f'"nope", {etag}', "*"):
        r = get_hit(a, path, user, kind, headers={"If-None-Match": inm})
        assert r.status_code == 304, (inm, r.status_code, r.text)
        assert r.content == b"" and r.headers.get("ETag") == etag, r.headers
    r = get_hit(a, path, user, kind, headers={"If-None-Match": '"something-else"'})
    assert r.status_code == 200 and r.content == fill.content

    # A write on another instance: the old tag no longer matches anywhere.
    w = patch_name(b, user, 1) if kind == "user" else put_profile(b, user, 1)
    new_tag = w.headers.get("ETag")
    assert new_tag and new_tag != etag, w.headers
    for srv in (a, trio[0]):
        r = get(srv, path, user, headers={"If-None-Match": etag})
        assert r.status_code == 200, (srv.port, r.status_code)
        assert written(kind, r.json()) == 1 and r.headers["ETag"] == new_tag, r.headers
    r = get_hit(a, path, user, kind, headers={"If-None-Match": new_tag})
    assert r.status_code == 304 and r.headers["ETag"] == new_tag


# ---------------------------------------------------------------- plans

def test_plan_cached_once_final_bound_to_its_user_and_gone_after_delete(trio, llm):
    alice, bob = trio.new_user(0), trio.new_user(1)
    put_profile(trio[0], alice, 0)
    put_profile(trio[1], bob, 0)
    a, b = trio[1], trio[2]

    llm.mode, llm.delay = "slow", 1.5  # the plan stays running this long
    try:
        r = requests.post(trio[0].url + PLANS, json={"kind": "workout", "weeks": 1},
                          headers=auth(alice["access"]), timeout=TIMEOUT)
        assert r.status_code == 202, r.text
        pid = r.json()["id"]
        path = f"{PLANS}/{pid}"
        # While it is not final, no answer comes from the cache.
        unfinished = 0
        while True:
            before = counters(a)
            r = get(a, path, alice)
            after = counters(a)
            assert r.status_code == 200, r.text
            if r.json()["state"] in ("ready", "failed"):
                break
            unfinished += 1
            assert after[("hits", "plan")] == before[("hits", "plan")], f"a {r.json()['state']} plan was a hit"
            assert unfinished < 400, "the plan never became final"
            time.sleep(0.05)
        assert unfinished >= 3, f"only {unfinished} answers before the plan was final: the check proved nothing"
    finally:
        llm.mode, llm.delay = "good", 0.0
    final = r
    assert final.json()["state"] == "ready" and final.json()["content"], final.json()

    # Final: the next GET is a hit, the same bytes and tag.
    hit = get_hit(a, path, alice, "plan")
    assert hit.status_code == 200 and hit.content == final.content
    assert hit.headers["ETag"] == final.headers["ETag"]
    r = get_hit(a, path, alice, "plan", headers={"If-None-Match": final.headers["ETag"]})
    assert r.status_code == 304

    # Another user never gets it, not even as a 304, while it is cached.
    for headers in (None, {"If-None-Match": final.headers["ETag"]}, {"If-None-Match": "*"}):
        r = get(a, path, bob, headers=headers)
        assert r.status_code == 404, (headers, r.status_code, r.text)
    assert get_hit(a, path, alice, "plan").content == final.content  # still cached for alice

    # Deleted on one instance: 404 at once on the instance that has it cached.
    get(b, path, alice)
    get_hit(b, path, alice, "plan")
    r = requests.delete(trio[0].url + path, headers=auth(alice["access"]), timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    for srv in (a, b, trio[0]):
        r = get(srv, path, alice)
        assert r.status_code == 404, (srv.port, r.status_code, r.text)


# ---------------------------------------------------------------- Redis loses its data

def warm(c, users):
    """Every instance holds every user's /users/me and /profile."""
    for srv in c:
        for u in users:
            get_hit(srv, ME, u, "user")
            get_hit(srv, PROF, u, "profile")


def check_reads(c, users, expect, what):
    for srv in c:
        for i, u in enumerate(users):
            for field, path in (("user", ME), ("profile", PROF)):
                r = get(srv, path, u)
                assert r.status_code == 200, (what, srv.port, r.status_code, r.text)
                got = written(field, r.json())
                assert got == expect[i][field], (f"{what}: user {i} {field} on :{srv.port} read {got}, "
                                                 f"expected {expect[i][field]}")


def write_all(c, users, expect, n, k=0):
    """Writes value n for every user (name and profile) through instance k."""
    for i, u in enumerate(users):
        patch_name(c[k], u, n)
        put_profile(c[k], u, n)
        expect[i] = {"user": n, "profile": n}


def test_flushall_and_restart_leave_no_stale_entry(make_cluster, fresh_redis):
    c = make_cluster(n=3, redis=fresh_redis)
    users = [c.new_user(i % 3) for i in range(3)]
    expect = [None] * len(users)
    write_all(c, users, expect, 1)
    warm(c, users)

    # FLUSHALL: every version is gone; the old entries must not match again.
    fresh_redis.cli("FLUSHALL")
    check_reads(c, users, expect, "right after FLUSHALL")
    # The entries now carry versions Redis made after the flush. Flushed
    # again, one write: a version scheme that starts over (a counter from
    # 1) would hand the writer's bump the very version of the old entries.
    warm(c, users)
    fresh_redis.cli("FLUSHALL")
    for i, u in enumerate(users):
        patch_name(c[0], u, 2)
        expect[i]["user"] = 2
    check_reads(c, users, expect, "one write after FLUSHALL")
    warm(c, users)
    fresh_redis.cli("FLUSHALL")
    for i, u in enumerate(users):
        put_profile(c[1], u, 2)
        expect[i]["profile"] = 2
    check_reads(c, users, expect, "one write after FLUSHALL")
    warm(c, users)  # the cache works again

    # Restart, with a write while Redis is down (its bump cannot reach Redis).
    fresh_redis.halt()
    write_all(c, users, expect, 3, k=1)
    check_reads(c, users, expect, "Redis down")
    fresh_redis.resume()
    c.wait_redis("ok")
    check_reads(c, users, expect, "Redis back")
    write_all(c, users, expect, 4, k=2)
    check_reads(c, users, expect, "a write after the restart")
    warm(c, users)  # the cache works again


# ---------------------------------------------------------------- budget

def test_cache_mb_zero_caches_nothing(make_cluster, redis):
    c = make_cluster(n=2, redis=redis, env={"PACE_CACHE_MB": "0"})
    user = c.new_user(0)
    put_profile(c[0], user, 0)
    for n in range(1, 4):
        patch_name(c[n % 2], user, n)
        put_profile(c[n % 2], user, n)
        for _ in range(5):
            for srv in c:
                assert written("user", get(srv, ME, user).json()) == n
                assert written("profile", get(srv, PROF, user).json()) == n
    for srv in c:
        k = counters(srv)
        assert all(k[("hits", kind)] == 0 for kind in KINDS), k
        assert k["bytes"] == 0, k


def test_tiny_budget_evicts_and_stays_right(make_cluster, redis):
    c = make_cluster(n=2, redis=redis, env={"PACE_CACHE_MB": "1"})
    users = [c.new_user(i % 2) for i in range(3)]
    for i, u in enumerate(users):
        r = requests.put(c[0].url + PROF, json={**PROFILE, "goal": ("lose_fat", "maintain", "build_muscle")[i]},
                         headers=auth(u["access"]), timeout=TIMEOUT)
        assert r.status_code == 200, r.text
    # 12-week workout plans are about 34 kB: two of them overflow a shard's
    # share of 1 MB (1/16), and 24 of them in 16 shards must evict.
    plans = []
    for n in range(24):
        u = users[n % 3]
        r = requests.post(c[0].url + PLANS, json={"kind": "workout", "weeks": 12}, headers=auth(u["access"]),
                          timeout=TIMEOUT)
        assert r.status_code == 202, r.text
        plans.append((u, r.json()["id"]))
    ref = {}
    for u, pid in plans:
        r = wait_final(c[0], u, pid)
        assert r.json()["state"] == "ready", r.json()
        assert 20_000 < len(r.content) < 60_000, len(r.content)  # fits a shard, two do not
        ref[pid] = r
    srv = c[1]
    before = counters(srv)
    order = plans * 3
    random.Random(12).shuffle(order)
    for u, pid in order + plans[:4] * 3:
        r = get(srv, f"{PLANS}/{pid}", u)
        assert r.status_code == 200, r.text
        assert r.content == ref[pid].content and r.headers["ETag"] == ref[pid].headers["ETag"], pid
        other = users[(users.index(u) + 1) % 3]
        assert get(srv, f"{PLANS}/{pid}", other).status_code == 404
    after = counters(srv)
    evicted = after[("evictions", "plan")] - before[("evictions", "plan")]
    hit = after[("hits", "plan")] - before[("hits", "plan")]
    report(f"tiny budget (PACE_CACHE_MB=1): {len(order) + 12} plan reads, {int(hit)} hits, "
           f"{int(evicted)} evictions, {int(after['bytes'])} bytes held")
    assert evicted > 0, (before, after)
    assert hit > 0, (before, after)
    assert after["bytes"] <= 1 << 20, after


# ---------------------------------------------------------------- one instance cut off from Redis

# How long after the relay carries bytes again the cut-off instance's owed
# bumps must have landed: its connection back-off is at most 2 s (it kept
# trying through the dead relay) and the watcher retries every 100 ms.
HEAL_S = 3.0


def cut_cluster(make_cluster, redis, relay, n):
    """n instances on the module's Redis, instance 0 through the relay."""
    return make_cluster(n=n, redis=redis, instance_env={0: {"PACE_REDIS_URL": relay.url}})


def breaker(c, i):
    return c.metric(c[i], "pace_redis_breaker_state")


def test_a_writer_cut_off_from_redis_is_seen_everywhere_once_its_bumps_land(relay, make_cluster, redis):
    """Instance 0 loses Redis (its relay stops carrying bytes), 1 and 2 keep
    it: a partial partition, a documented limit (docs/internals/cache.md,
    "Known limits"). While cut off, instance 0 acknowledges writes (no 5xx),
    reads its own writes, and counts every bump Redis did not take; 1 and 2
    may serve the old payload meanwhile (allowed, only counted). Once the
    relay carries bytes again, the watcher's retried bumps land within
    HEAL_S: every instance serves the new values, instance 0's breaker
    closes, and a new write is seen everywhere at once again."""
    c = cut_cluster(make_cluster, redis, relay, 3)
    users = [c.new_user(1) for _ in range(2)]
    for u in users:
        put_profile(c[1], u, 0)
        for srv in c[1], c[2]:
            get_hit(srv, ME, u, "user")
            get_hit(srv, PROF, u, "profile")

    def wrong(n, instances):
        """Reads on `instances` of a value other than write n."""
        out = []
        for i, u in enumerate(users):
            for field, path in (("user", ME), ("profile", PROF)):
                for srv in instances:
                    r = get(srv, path, u)
                    assert r.status_code == 200, (srv.port, r.status_code, r.text)
                    got = written(field, r.json())
                    if got != n:
                        out.append(f"user {i} {field} on :{srv.port} read {got}, write {n} was acknowledged")
        return out

    failures0 = counters(c[0])["bump_failures"]
    stale = []
    writes = 0
    relay.freeze()
    try:
        for n in (1, 2):
            for u in users:
                patch_name(c[0], u, n)  # acknowledged: 200, nothing else
                put_profile(c[0], u, n)
                writes += 2
            assert wrong(n, [c[0]]) == [], "the writer does not read its own writes"
            stale += wrong(n, [c[1], c[2]])
        failures = counters(c[0])["bump_failures"] - failures0
    finally:
        relay.thaw()
    t_thaw = time.monotonic()
    assert failures >= writes, f"{writes} writes while cut off, {failures} failed bumps counted"
    left = []

    def healed():
        left[:] = wrong(2, list(c))
        return not left
    try:
        wait_until(healed, HEAL_S, "every instance to serve the writes made while cut off", interval=0.05)
    except AssertionError:
        raise AssertionError(f"{HEAL_S} s after the relay carried bytes again (breaker of instance 0: "
                             f"{breaker(c, 0):.0f}): " + "; ".join(left[:8])) from None
    heal = time.monotonic() - t_thaw
    wait_until(lambda: breaker(c, 0) == 0, HEAL_S, "instance 0's breaker to close")

    line = (f"writes on an instance cut off from Redis: {writes} acknowledged, {int(failures)} failed bumps; "
            f"{len(stale)} stale reads on the other instances while it was cut off (allowed), "
            f"none {heal:.2f} s after it was back")
    print(line)
    report(line)

    # Back to normal: instance 0 caches again and its writes are seen at once.
    for u in users:
        get_hit(c[0], ME, u, "user")
        patch_name(c[0], u, 3)
    for i, u in enumerate(users):
        for srv in c:
            got = written("user", get(srv, ME, u).json())
            assert got == 3, f"user {i} on :{srv.port} read {got} after write 3"


def test_an_instance_that_lost_redis_for_a_while_uses_it_again_and_its_bumps_land(relay, make_cluster, redis):
    """Instance 0 loses Redis for 3 s while it serves (its breaker opens,
    its stalled connections are dropped, its half-open probes fail) and
    acknowledges a write meanwhile; then it gets Redis back. Within HEAL_S
    it uses Redis again (breaker closed: every probe that passed the
    breaker is judged, so it cannot stay half-open) and the write's retried
    bump has landed (instance 1 no longer serves the old payload). Three
    rounds."""
    c = cut_cluster(make_cluster, redis, relay, 2)
    user = c.new_user(1)
    for n in range(1, 4):
        get_hit(c[1], ME, user, "user")  # instance 1 holds the current name
        stop = threading.Event()
        errors = []

        def traffic():  # requests that make instance 0 try Redis (its probes)
            s = requests.Session()
            while not stop.is_set():
                r = get(c[0], ME, user, session=s)
                if r.status_code != 200:
                    errors.append(r.status_code)
                stop.wait(0.02)
        t = threading.Thread(target=traffic)
        t.start()
        try:
            relay.freeze()
            patch_name(c[0], user, n)
            time.sleep(3)
        finally:
            relay.thaw()
            stop.set()
            t.join(timeout=30)
        assert not errors, errors[:10]
        state = {}

        def back():
            state["breaker"] = breaker(c, 0)
            state["read on 1"] = written("user", get(c[1], ME, user).json())
            return state["breaker"] == 0 and state["read on 1"] == n
        try:
            wait_until(back, HEAL_S, f"round {n} to heal", interval=0.1)
        except AssertionError:
            raise AssertionError(f"round {n}: {HEAL_S} s after the relay carried bytes again, instance 0 does "
                                 f"not use Redis or instance 1 does not read write {n}: {state}") from None
    report("an instance that lost Redis three times recovered each time and its bumps landed")
