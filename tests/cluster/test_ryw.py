"""Read-your-writes through nginx with the replica 2 s behind
(recovery_min_apply_delay): a user who has just created or changed a task
sees it at once in every read, on whichever instance nginx sends the read
to, while the replica itself does not have it yet."""

import threading
import time

from kit import User, report, wait_until

DELAY = "2s"


def test_read_your_writes_with_a_delayed_replica(healthy_kit):
    k = healthy_kit
    k.psql("replica", f"ALTER SYSTEM SET recovery_min_apply_delay = '{DELAY}'")
    k.psql("replica", "SELECT pg_reload_conf()")
    try:
        wait_until(lambda: k.psql("replica", "SHOW recovery_min_apply_delay") == DELAY, 10, "the delay in effect")
        # The replica is behind: a task just created is not there yet, and
        # arrives about 2 s later.
        u = User(k.url, tag="ryw")
        rid, r = u.request("POST", "/api/v1/tasks", json={"title": "probe"})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        t0 = time.monotonic()
        assert k.psql("replica", f"SELECT count(*) FROM tasks WHERE id = {tid}") == "0", \
            "the replica already has the write: it is not delayed"
        wait_until(lambda: k.psql("replica", f"SELECT count(*) FROM tasks WHERE id = {tid}") == "1", 20,
                   "the write on the replica")
        lag = time.monotonic() - t0
        assert lag > 1.0, f"the replica caught up after {lag:.2f} s"

        stale = []
        reads = []
        lock = threading.Lock()

        def user_loop(n):
            user = User(k.url, tag="ryw")
            for i in range(n):
                rid, r = user.request("POST", "/api/v1/tasks", json={"title": f"t{i}"})
                assert r.status_code == 201, r.text
                tid = r.json()["id"]
                title = f"changed {i}"
                checks = []
                rid, r = user.request("GET", f"/api/v1/tasks/{tid}")
                checks.append((rid, "get after create", r.status_code == 200 and r.json()["id"] == tid))
                rid, r = user.request("GET", "/api/v1/tasks?limit=5")
                checks.append((rid, "list after create", r.status_code == 200 and
                               tid in [t["id"] for t in r.json()["items"]]))
                rid, r = user.request("PATCH", f"/api/v1/tasks/{tid}", json={"title": title})
                assert r.status_code == 200, r.text
                rid, r = user.request("GET", f"/api/v1/tasks/{tid}")
                checks.append((rid, "get after update", r.status_code == 200 and r.json()["title"] == title))
                rid, r = user.request("GET", "/api/v1/tasks?limit=5")
                checks.append((rid, "list after update", r.status_code == 200 and any(
                    t["id"] == tid and t["title"] == title for t in r.json()["items"])))
                with lock:
                    reads.extend(rid for rid, _, _ in checks)
                    stale.extend((what, rid) for rid, what, ok in checks if not ok)

        errors = []

        def run(n):
            try:
                user_loop(n)
            except Exception as e:  # reported below; a thread cannot fail the test itself
                errors.append(repr(e))

        threads = [threading.Thread(target=run, args=(15,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors

        log = k.nginx_log()
        addrs = k.addr_names()
        by = {}
        for rid in reads:
            if rid in log:
                name = addrs.get(log[rid][1][-1])
                by[name] = by.get(name, 0) + 1
        report(f"read-your-writes, replica {DELAY} behind (measured {lag:.1f} s): {len(reads)} reads right after "
               f"the user's own write, stale: {len(stale)}; served by {dict(sorted(by.items(), key=str))}")
        assert not stale, stale[:10]
        assert set(by) >= set(k.names), f"the reads did not reach every instance: {by}"
    finally:
        k.psql("replica", "ALTER SYSTEM RESET recovery_min_apply_delay")
        k.psql("replica", "SELECT pg_reload_conf()")
