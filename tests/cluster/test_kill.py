"""One instance killed with SIGKILL under load through nginx: GETs that
were on it are retried by nginx on another instance (no GET fails); the
non-idempotent requests that fail (POST, PATCH: nginx must not send them
twice) are counted, and they are at most the requests that were in flight
on that instance when it died."""

import time

from kit import Load, failures, report, summary


def test_sigkill_loses_only_requests_in_flight(healthy_kit):
    k = healthy_kit
    victim = "pace2"
    victim_addr = f"127.0.0.1:{k.port(victim)}"
    threads = 6
    load = Load(k.url, threads=threads, pause=0.002).start()
    try:
        load.wait_for(150)
        tk = time.monotonic()
        pid = k.kill(victim)
        load.wait_for(300)
    finally:
        results = load.stop()
    k.sh("restart", victim)

    bad = failures(results)
    log = k.nginx_log()
    gets = [r for r in bad if r.method == "GET"]
    non_idem = [r for r in bad if r.method != "GET"]
    after = [r for r in results if r.t0 > tk]
    # Requests nginx tried on the dead instance first and answered from another.
    moved = [r for r in after if r.rid in log and len(log[r.rid][1]) > 1 and log[r.rid][1][0] == victim_addr]
    report(f"SIGKILL of {victim} (PID {pid}) under load ({threads} client threads): {summary(results)}; "
           f"failed GETs: {len(gets)}; failed non-idempotent requests: {len(non_idem)} "
           f"(bound: requests in flight on it, at most {threads}); sent to the dead instance first and "
           f"answered by another: {len(moved)} ({sorted({r.method for r in moved})})")
    for r in bad:
        report(f"  failed: {r.op} {r.method} {r.status} {r.error or ''} started {r.t0 - tk:+.3f} s "
               f"from the kill, nginx={log.get(r.rid)}")

    assert len(after) >= 200, "the load did not go on after the kill"
    assert not gets, f"GETs failed (nginx should retry them elsewhere): {gets}"
    assert len(non_idem) <= threads, non_idem
    for r in non_idem:
        # In flight on the victim when it died: nginx answered 502 from it
        # (the request had been sent: not retried), and the request was
        # under way at the moment of the kill.
        assert r.status == 502, r
        assert r.rid in log and log[r.rid][1][-1] == victim_addr, (r, log.get(r.rid))
        assert r.t0 <= tk + 0.2 and r.t1 >= tk, r
