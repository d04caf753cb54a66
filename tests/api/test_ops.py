"""Operational endpoints: /health, /ready, /metrics, the OpenAPI document,
and the agreement between the route table and docs/openapi.json."""

import json
import math
import re
import subprocess

import requests

from harness import (
    OPENAPI_FILE,
    PACE_BIN,
    REQUEST_ID_RE,
    expected_ready_checks,
    metric_value,
    metric_values,
    parse_metrics,
    scrape,
    wait_until,
)

OPENAPI_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def media_type(resp):
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


# ---------------------------------------------------------------- health / ready

def test_health(server):
    r = requests.get(server.url + "/health", timeout=5)
    assert r.status_code == 200
    assert media_type(r) == "application/json"
    assert r.json() == {"status": "ok"}
    assert REQUEST_ID_RE.match(r.headers.get("X-Request-Id", "")), r.headers


def test_ready(server):
    r = requests.get(server.url + "/ready", timeout=5)
    assert r.status_code == 200, r.text
    assert media_type(r) == "application/json"
    assert r.json() == {"status": "ready", "checks": expected_ready_checks()}
    assert REQUEST_ID_RE.match(r.headers.get("X-Request-Id", "")), r.headers


# ---------------------------------------------------------------- metrics

def test_metrics_format_parses(server):
    requests.get(server.url + "/health", timeout=5)
    r = requests.get(server.url + "/metrics", timeout=5)
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers.get("Content-Type")
    families, samples = parse_metrics(r.text)  # raises with every problem found
    assert samples, "no samples at all"
    for name in ("pace_build_info", "pace_http_requests_total", "pace_http_request_duration_seconds",
                 "pace_http_requests_in_flight", "pace_http_connections_open", "pace_pool_queue_depth",
                 "pace_pool_queue_capacity"):
        assert name in families, f"no # HELP/# TYPE for {name}"
    assert families["pace_http_requests_total"]["type"] == "counter"
    assert families["pace_http_request_duration_seconds"]["type"] == "histogram"
    for g in ("pace_http_requests_in_flight", "pace_http_connections_open", "pace_pool_queue_depth",
              "pace_pool_queue_capacity"):
        assert families[g]["type"] == "gauge", (g, families[g])


def test_metrics_abandoned_requests(server):
    """The requests whose connection went away while their work was pending
    elsewhere (their memory stays with the work until it completes): a
    counter, 0 while every client waits for its answer."""
    requests.get(server.url + "/health", timeout=5)
    r = requests.get(server.url + "/metrics", timeout=5)
    families, samples = parse_metrics(r.text)
    assert families["pace_http_requests_abandoned_total"]["type"] == "counter"
    assert metric_values(samples, "pace_http_requests_abandoned_total") == [0]


def test_metrics_build_info(server):
    samples = scrape(server.url)
    info = [(ls, v) for n, ls, v in samples if n == "pace_build_info"]
    assert len(info) == 1, info
    labels, value = info[0]
    assert value == 1
    assert labels.get("version"), labels
    assert labels.get("commit"), labels


def test_version_matches_build_info(server):
    """`pace version` and /metrics tell the same build: both halves of the
    binary are compiled with the version and the commit."""
    out = subprocess.run([PACE_BIN, "version"], capture_output=True, text=True, timeout=10).stdout
    m = re.match(r"pace (\S+) \((\S+)\)", out)
    assert m, out
    labels = [ls for n, ls, v in scrape(server.url) if n == "pace_build_info"][0]
    assert (labels["version"], labels["commit"]) == (m.group(1), m.group(2)), (labels, out)
    assert m.group(1) != "0.0.0", out


def test_metrics_request_counter_grows(server):
    requests.get(server.url + "/health", timeout=5)
    before = metric_value(scrape(server.url), "pace_http_requests_total", route="GET /health", status="200")
    for _ in range(3):
        assert requests.get(server.url + "/health", timeout=5).status_code == 200

    def grown():
        v = metric_value(scrape(server.url), "pace_http_requests_total", route="GET /health", status="200")
        return v if v >= before + 3 else None

    wait_until(grown, 5, "pace_http_requests_total{route=\"GET /health\"} to grow by 3")


def test_metrics_duration_histogram(server):
    for _ in range(2):
        requests.get(server.url + "/health", timeout=5)
    samples = scrape(server.url)
    buckets = [(ls["le"], v) for n, ls, v in samples
               if n == "pace_http_request_duration_seconds_bucket" and ls.get("route") == "GET /health"]
    assert buckets, "no duration buckets for GET /health"
    les = [b[0] for b in buckets]
    assert "+Inf" in les, les
    ordered = sorted(buckets, key=lambda b: math.inf if b[0] == "+Inf" else float(b[0]))
    counts = [v for _, v in ordered]
    assert counts == sorted(counts), f"bucket counts not cumulative: {ordered}"
    count = metric_values(samples, "pace_http_request_duration_seconds_count", route="GET /health")
    total = metric_values(samples, "pace_http_request_duration_seconds_sum", route="GET /health")
    assert len(count) == 1 and len(total) == 1, (count, total)
    assert count[0] >= 2
    assert dict(buckets)["+Inf"] == count[0]
    assert total[0] >= 0


def test_metrics_gauges_and_pools(server):
    samples = scrape(server.url)
    assert metric_values(samples, "pace_http_requests_in_flight"), "no pace_http_requests_in_flight"
    assert metric_values(samples, "pace_http_connections_open"), "no pace_http_connections_open"
    for pool in ("hash", "blocking"):
        depth = metric_values(samples, "pace_pool_queue_depth", pool=pool)
        cap = metric_values(samples, "pace_pool_queue_capacity", pool=pool)
        assert len(depth) == 1, f"pace_pool_queue_depth{{pool={pool!r}}}: {depth}"
        assert len(cap) == 1, f"pace_pool_queue_capacity{{pool={pool!r}}}: {cap}"
        assert 0 <= depth[0] <= cap[0] and cap[0] >= 1, (pool, depth, cap)
    # the open-connection gauge counts at least the scrape's own connection
    assert metric_values(samples, "pace_http_connections_open")[0] >= 1


def test_metrics_unmatched_route(server):
    probe = "/no-such-path-7d1f"
    r = requests.get(server.url + probe, timeout=5)
    assert r.status_code == 404
    # A request is counted when h2o has finished writing it (its logger),
    # which can come after the client has the answer: the scrape may have
    # to look again.
    texts = []

    def counted():
        texts.append(requests.get(server.url + "/metrics", timeout=5).text)
        _, samples = parse_metrics(texts[-1])
        return metric_values(samples, "pace_http_requests_total", route="unmatched", status="404")

    wait_until(counted, 5, 'pace_http_requests_total{route="unmatched",status="404"}')
    # raw paths never become label values (unbounded cardinality)
    assert probe not in texts[-1]


# ---------------------------------------------------------------- OpenAPI

def openapi_operations(doc):
    ops = set()
    for path, item in doc.get("paths", {}).items():
        for method in item:
            if method.lower() in OPENAPI_METHODS:
                ops.add((method.upper(), path))
    return ops


def test_openapi_document(server):
    r = requests.get(server.url + "/api/v1/openapi.json", timeout=5)
    assert r.status_code == 200
    assert media_type(r) == "application/json"
    doc = r.json()
    assert isinstance(doc.get("openapi"), str) and doc["openapi"].startswith("3.1"), doc.get("openapi")
    assert isinstance(doc.get("info"), dict) and doc["info"].get("title") and doc["info"].get("version")
    assert doc.get("paths"), "no paths"


def test_openapi_served_matches_file(server):
    served = requests.get(server.url + "/api/v1/openapi.json", timeout=5).json()
    on_disk = json.loads(OPENAPI_FILE.read_text())
    assert openapi_operations(served) == openapi_operations(on_disk), \
        "the served OpenAPI document lists other operations than docs/openapi.json (stale build?)"


def test_routes_match_openapi(server):
    r = requests.get(server.url + "/_dev/routes", timeout=5)
    assert r.status_code == 200, r.text
    routes = r.json()["routes"]
    assert routes, "empty route table"
    for rt in routes:
        assert set(rt) >= {"method", "path"}, rt
    from_server = {(rt["method"].upper(), rt["path"]) for rt in routes if not rt["path"].startswith("/_dev")}
    doc = json.loads(OPENAPI_FILE.read_text())
    from_doc = openapi_operations(doc)
    # The web pages (tagged web) may be served outside the route table, and
    # a build without the web assets has none.
    web = {(m.upper(), p) for p, item in doc["paths"].items() for m, op in item.items()
           if m.lower() in OPENAPI_METHODS and "web" in op.get("tags", [])}
    only_server = sorted(from_server - from_doc)
    only_doc = sorted(from_doc - from_server - web)
    assert not only_server and not only_doc, (
        "route table and docs/openapi.json disagree\n"
        + "  routed but not documented: " + (", ".join(f"{m} {p}" for m, p in only_server) or "-") + "\n"
        + "  documented but not routed: " + (", ".join(f"{m} {p}" for m, p in only_doc) or "-")
    )
    for op in (("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics"), ("GET", "/api/v1/openapi.json")):
        assert op in from_server, f"{op} missing from the route table"
