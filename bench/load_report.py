#!/usr/bin/python3
"""Rows and tables of bench/load.sh.

  load_report.py locust JSON ROWS TARGET SCENARIO CPU LOAD NOTE
      append one row per request name of a locust summary (bench/locust/common.py)
      to the TSV file ROWS ("all" first, as "all requests")
  load_report.py wrk RAW ROWS TARGET SCENARIO NAME CPU LOAD NOTE
      append one row for a wrk run (its raw output: --latency, and the
      "status:" and "p95:" lines of bench/locust/hold.lua or probe.lua)
  load_report.py extra JSON KEY
      print one value of a locust summary's extra part (JSON text)
  load_report.py table ROWS
      print the Markdown tables: results, then the CPU of each process class

CPU is load_cpu.py's line; LOAD the load average (1, 5, 15 min) at the start.
Errors: wrk's non-2xx/3xx answers plus socket errors (timeouts included),
except 503s a scenario counts as answers; locust's failures (unexpected
status, no answer within the client timeout, connection errors).
"""
import json
import os
import re
import sys

COLS = ["target", "scenario", "name", "n", "rate", "p50", "p95", "p99", "errors", "status",
        "cpu", "load", "note"]


def ms(v):
    m = re.match(r"([0-9.]+)(us|ms|s|m)$", v)
    n = float(m.group(1))
    return {"us": n / 1000, "ms": n, "s": n * 1000, "m": n * 60000}[m.group(2)]


def append(rows, row):
    with open(rows, "a") as f:
        f.write("\t".join(str(row.get(c, "")) for c in COLS) + "\n")


def from_locust(path, rows, target, scenario, cpu, load, note):
    d = json.load(open(path))
    reqs = d["requests"]
    names = sorted(k for k in reqs if k not in ("all", "all but login"))
    order = ["all"]
    if any(k.startswith("POST /auth/login") for k in names) and len(names) > 1:
        order.append("all but login")
    for name in order + names:
        if name not in reqs:
            continue
        s = reqs[name]
        status = " ".join("%s:%d" % kv for kv in sorted(s["status"].items()))
        append(rows, dict(target=target, scenario=scenario,
                          name="all requests" if name == "all" else name,
                          n=s["n"], rate=s["rate"], p50=s["p50"], p95=s["p95"], p99=s["p99"],
                          errors=s["errors"], status=status,
                          cpu=cpu if name == "all" else "", load=load if name == "all" else "",
                          note=note if name == "all" else ""))


def from_wrk(raw, rows, target, scenario, name, cpu, load, note):
    text = open(raw).read()
    g = lambda rx: (re.search(rx, text, re.M) or [None, None])[1]
    n = int(g(r"^\s*(\d+) requests in") or 0)
    rate = float(g(r"^Requests/sec:\s+([0-9.]+)") or 0)
    p50, p99 = g(r"^\s+50%\s+(\S+)"), g(r"^\s+99%\s+(\S+)")
    p95 = g(r"^p95: ([0-9.]+)")
    status = g(r"^status: (.*)$") or ""
    non2xx = int(g(r"Non-2xx or 3xx responses: (\d+)") or 0)
    sock = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", g(r"Socket errors: (.*)$") or ""))
    timeouts = int(g(r"Socket errors:.*timeout (\d+)") or 0)
    if status:
        status = " ".join(kv.replace("=", ":") for kv in status.split())
    if sock:
        status += " socket-errors:%d (timeouts %d)" % (sock, timeouts)
    append(rows, dict(target=target, scenario=scenario, name=name, n=n, rate=round(rate, 1),
                      p50=round(ms(p50), 3) if p50 else "", p95=p95 or "",
                      p99=round(ms(p99), 3) if p99 else "", errors=non2xx + sock, status=status,
                      cpu=cpu, load=load, note=note))


def fmt_ms(v):
    if v in ("", "None", None):
        return "–"
    v = float(v)
    return "%.0f ms" % v if v >= 100 else "%.1f ms" % v if v >= 10 else "%.2f ms" % v


def limit_of(cpu, scenario):
    """A first guess at the limiting resource from the CPU line; the notes judge."""
    if not cpu:
        return ""
    f = cpu.split()
    busy = float(f[1])
    parts = dict(p.split("=") for p in f[2:])
    parts = {k: float(v) for k, v in parts.items()}
    top = sorted(((v, k) for k, v in parts.items() if k != "other"), reverse=True)
    share = ", ".join("%s %.0f%%" % (k, v) for v, k in top if v >= 5)
    ours = sum(v for k, v in parts.items() if k != "other")
    if busy >= 90 and ours < 0.5 * busy * (os.cpu_count() or 1):
        return "NOT CLEAN: CPU %.0f%% busy, mostly with work outside this run (%s)" % (busy, share or "ours < 5%")
    if busy >= 90:
        return "CPU (both cores %.0f%% busy: %s)" % (busy, share)
    if parts.get("generator", 0) >= 90 and scenario != "hold":
        return "load generator (locust: one core, %.0f%%); CPU %.0f%% busy: %s" % (parts["generator"], busy, share)
    return "none saturated (CPU %.0f%% busy: %s)" % (busy, share)


def table(rows):
    data = [dict(zip(COLS, line.rstrip("\n").split("\t"))) for line in open(rows) if line.strip()]
    print("| target | scenario | requests | n | rate (req/s) | p50 | p95 | p99 | errors | answers | load avg |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in data:
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["target"], r["scenario"], r["name"], r["n"], r["rate"], fmt_ms(r["p50"]),
            fmt_ms(r["p95"]), fmt_ms(r["p99"]), r["errors"], r["status"], r["load"]))
    print()
    print("CPU during each run, %% of one core (%d cores = %d%%; busy: share of all cores; rest of "
          "the machine: busy minus this run's processes: kernel work not charged to a process, "
          "and anything else running), and the limiting resource:" % (os.cpu_count() or 1, 100 * (os.cpu_count() or 1)))
    print()
    print("| target | scenario | run | seconds | CPU busy | pace | nginx | PostgreSQL | Redis | load generator | rest of the machine | limit | note |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in data:
        if not r["cpu"]:
            continue
        f = r["cpu"].split()
        p = dict(x.split("=") for x in f[2:])
        ours = sum(int(v) for k, v in p.items() if k != "other")
        rest = max(0, round(float(f[1]) * (os.cpu_count() or 1) - ours))
        print("| %s | %s | %s | %s | %s%% | %s%% | %s%% | %s%% | %s%% | %s%% | %d%% | %s | %s |" % (
            r["target"], r["scenario"], r["name"], f[0], f[1], p["pace"], p["nginx"],
            int(p["postgres"]) + int(p["pgbouncer"]), p["redis"], p["generator"], rest,
            limit_of(r["cpu"], r["scenario"]), r["note"]))


def main():
    a = sys.argv[1:]
    if a and a[0] == "locust" and len(a) == 8:
        from_locust(*a[1:])
    elif a and a[0] == "wrk" and len(a) == 9:
        from_wrk(*a[1:])
    elif a and a[0] == "extra" and len(a) == 3:
        print(json.dumps(json.load(open(a[1]))["extra"].get(a[2]), sort_keys=True))
    elif a and a[0] == "table" and len(a) == 2:
        table(a[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
