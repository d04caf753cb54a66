#!/usr/bin/python3
"""CPU of each process class during one load run, for bench/load.sh.

  load_cpu.py OUT ROOT [ROOT ...]

A ROOT is a PID, or match:TEXT for every process whose command line holds
TEXT (looked for at each sample: say a state directory's path). Every
LOAD_CPU_INTERVAL seconds (0.5) it reads /proc/<pid>/stat of every
descendant of the roots (and the roots) and classes each by its command
name: pace, nginx, postgres, pgbouncer, redis, and the load generator (wrk,
locust, python3). It stops on SIGTERM or SIGINT and writes OUT, one line:

  seconds busy% pace=<% of one core> nginx=... postgres=... generator=... other=...

where busy% is the share of all CPUs busy over the run (from /proc/stat),
and each class's figure is its CPU time over the run divided by the run's
wall time (100 = one core). A process first seen after the first sample
counts from zero (it started during the run); the CPU a process spent in
its last interval before it exited is lost (at most one interval).
"""
import os
import signal
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
CLASSES = {"pace": "pace", "nginx": "nginx", "postgres": "postgres", "pgbouncer": "pgbouncer",
           "redis-server": "redis", "wrk": "generator", "locust": "generator",
           "python3": "generator", "timeout": "generator"}


def stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15
    return comm, int(rest[1]), int(rest[11]) + int(rest[12])


def cpu_total():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v), v[3] + v[4]


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def snapshot(roots):
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = stat(int(d))
            if s:
                procs[int(d)] = s
    texts = [r[6:] for r in roots if isinstance(r, str)]
    roots = [r for r in roots if not isinstance(r, str)]
    if texts:
        for pid in procs:
            c = cmdline(pid)
            if any(t in c for t in texts):
                roots.append(pid)
    children = {}
    for pid, (_, ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = {}, [r for r in roots if r in procs]
    while todo:
        p = todo.pop()
        if p in seen or p == os.getpid():
            continue
        comm, _, ticks = procs[p]
        seen[p] = (CLASSES.get(comm, "other"), ticks)
        todo.extend(children.get(p, []))
    return seen


def main():
    out = sys.argv[1]
    roots = [x if x.startswith("match:") else int(x) for x in sys.argv[2:]]
    interval = float(os.environ.get("LOAD_CPU_INTERVAL", "0.5"))
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    t0, (tot0, idle0) = time.monotonic(), cpu_total()
    base = {p: t for p, (_, t) in snapshot(roots).items()}
    last = {}
    while not stop:
        for p, (cls, t) in snapshot(roots).items():
            last[p] = (cls, t)
        time.sleep(interval)
    for p, (cls, t) in snapshot(roots).items():
        last[p] = (cls, t)
    wall = time.monotonic() - t0
    tot1, idle1 = cpu_total()
    busy = 100.0 * (1 - (idle1 - idle0) / max(tot1 - tot0, 1))
    used = {}
    for p, (cls, t) in last.items():
        used[cls] = used.get(cls, 0) + t - base.get(p, 0)
    parts = " ".join("%s=%.0f" % (c, 100.0 * used.get(c, 0) / TICK / wall)
                     for c in ("pace", "nginx", "postgres", "pgbouncer", "redis", "generator", "other"))
    with open(out, "w") as f:
        f.write("%.1f %.0f %s\n" % (wall, busy, parts))


if __name__ == "__main__":
    main()
