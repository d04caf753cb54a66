"""The PostgreSQL primary stopped (scripts/pg.sh halt) and started again
(resume) under load through nginx: meanwhile every request answers, with
503 when it needs the primary, within 2 s (plus the way through nginx);
afterwards everything works again without restarting pace."""

import time

from kit import EXPECTED, Load, report, summary, wait_until

# pace answers a request that needs an unreachable database within
# PACE_DB_STATEMENT_TIMEOUT (1.5 s, waiting for a connection included);
# the bound is 2 s; the rest is the way through nginx and a busy
# two-core machine.
ANSWER_BOUND = 2.5


def test_primary_down_then_back(healthy_kit):
    k = healthy_kit
    before = k.pids()
    load = Load(k.url, threads=4).start()
    try:
        load.wait_for(50)
        th = time.monotonic()
        k.pg("halt", k.pg_state("primary"))
        # A few seconds of outage under load.
        wait_until(lambda: time.monotonic() - th > 5 and
                   sum(1 for r in load.snapshot() if r.t0 > th) >= 40, 30, "load during the outage")
        tr = time.monotonic()
        k.pg("resume", k.pg_state("primary"))
        # Writes succeed again, by themselves.
        wait_until(lambda: any(r.op == "create" and r.status == 201 and r.t0 > tr for r in load.snapshot()),
                   30, "a task created after the primary came back")
        recovered = time.monotonic()
        load.wait_for(100)
    finally:
        results = load.stop()

    during = [r for r in results if th < r.t0 < tr]
    later = [r for r in results if r.t0 > recovered]
    slow = [r for r in during if r.t1 - r.t0 > ANSWER_BOUND]
    wrong = [r for r in during if r.error is not None or r.status not in (EXPECTED[r.op], 503)]
    unavailable = [r for r in during if r.status == 503]
    report(f"primary down {tr - th:.1f} s under load: {summary(during)}; slowest answer "
           f"{max((r.t1 - r.t0 for r in during), default=0):.2f} s; writes back {recovered - tr:.1f} s "
           f"after the primary; after: {summary(later)}")

    assert unavailable, "no request noticed the primary was down"
    assert not wrong, f"answers other than success or 503 during the outage: {wrong[:10]}"
    assert not slow, f"answers slower than {ANSWER_BOUND} s: {slow[:10]}"
    bad_later = [r for r in later if r.error is not None or r.status != EXPECTED[r.op]]
    assert not bad_later, f"failures after recovery: {bad_later[:10]}"
    assert k.pids() == before, "pace was restarted"
