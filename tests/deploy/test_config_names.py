"""The deployment files agree with pace: every PACE_* name in deploy/ is a
real setting, and probes, ports and timeouts fit pace's defaults and the
values set next to them (drain + 2 x shutdown below every stop timeout, proxy
keep-alive below PACE_REQUEST_TIMEOUT, body limits, probe paths)."""

import re

import pytest

from conftest import DEPLOY, REPO, default, load_yaml_docs, nginx_conf_path, port_of, settings

NAME = re.compile(r"\bPACE_[A-Z0-9_]*[A-Z0-9]\b")


def deploy_files():
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file())


def duration_seconds(text):
    """systemd / nginx / compose / haproxy durations: 45, 45s, 4s, 1m30s, 500ms."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        return float(text)
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h|min|sec)", text):
        assert m.start() == pos, f"cannot read duration {text!r}"
        n, unit = float(m.group(1)), m.group(2)
        total += n * {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[unit]
        pos = m.end()
    assert pos == len(text) and pos > 0, f"cannot read duration {text!r}"
    return total


def stop_budget(env):
    """Seconds pace may take after SIGTERM with these settings: the drain,
    then PACE_SHUTDOWN_TIMEOUT for requests in flight and as long again for
    running jobs (docs/operations.md, "Stop and restart")."""
    drain = int(env.get("PACE_DRAIN_SECONDS", default("PACE_DRAIN_SECONDS")))
    shutdown = int(env.get("PACE_SHUTDOWN_TIMEOUT", default("PACE_SHUTDOWN_TIMEOUT")))
    return drain + 2 * shutdown


# ------------------------------------------------------------------ names

def test_deploy_has_the_files():
    names = {p.relative_to(DEPLOY).as_posix() for p in deploy_files()}
    for f in ("systemd/pace.service", "systemd/pace-worker.service", "container/Dockerfile",
              "container/compose.yaml", "kubernetes/api.yaml", "kubernetes/worker.yaml",
              "monitoring/prometheus.yml", "monitoring/alerts.yml", "monitoring/grafana-dashboard.json"):
        assert f in names


def test_every_pace_name_in_deploy_is_a_setting():
    known = settings()
    unknown = {}
    seen = set()
    for path in deploy_files():
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for name in NAME.findall(line):
                seen.add(name)
                if name not in known:
                    unknown.setdefault(name, []).append(f"{path.relative_to(REPO)}:{n}")
    assert not unknown, f"not settings of `pace --help`: {unknown}"
    # The check saw the settings the files are about.
    assert {"PACE_DRAIN_SECONDS", "PACE_SHUTDOWN_TIMEOUT", "PACE_LISTEN", "PACE_JWT_SECRET"} <= seen


def test_the_name_check_can_fail(tmp_path):
    assert "PACE_DRAIN_SECOND" not in settings()
    assert NAME.findall("Environment=PACE_DRAIN_SECOND=5") == ["PACE_DRAIN_SECOND"]


# ---------------------------------------------------------------- systemd

def unit(path):
    """A unit file as {(section, key): [values]} (repeated keys kept in order)."""
    out, section = {}, None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def env_file(path):
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            env[k.strip()] = v.strip().strip('"')
    return env


@pytest.mark.parametrize("name,role", [("pace.service", "serve"), ("pace-worker.service", "worker")])
def test_systemd_unit(name, role):
    u = unit(DEPLOY / "systemd" / name)
    s = lambda k: u.get(("Service", k), [])  # noqa: E731
    assert s("ExecStart")[0].split()[1:2] == [role]
    assert s("KillSignal") == ["SIGTERM"]
    assert s("Restart") == ["on-failure"]
    assert s("ProtectSystem") == ["strict"]
    assert s("ProtectHome") == ["yes"]
    assert s("PrivateTmp") == ["yes"]
    assert s("NoNewPrivileges") == ["yes"]
    assert s("CapabilityBoundingSet") == [""]
    assert s("DynamicUser") == ["yes"] or s("User")
    assert s("StateDirectory")
    assert "/etc/pace/pace.env" in s("EnvironmentFile")
    # What pace sees: its defaults, the unit's Environment=, then the
    # environment file (systemd lets EnvironmentFile= win).
    env = dict(v.split("=", 1) for v in s("Environment"))
    env.update(env_file(DEPLOY / "systemd" / "pace.env"))
    assert duration_seconds(s("TimeoutStopSec")[0]) > stop_budget(env)


# -------------------------------------------------------------- container

def dockerfile(path):
    """Instructions of a Dockerfile as (KEYWORD, text), continuation lines joined."""
    out, cur = [], ""
    for raw in path.read_text().splitlines():
        if raw.lstrip().startswith("#") and not cur:
            continue
        cur += raw.rstrip("\\").strip() + " " if raw.rstrip().endswith("\\") else raw.strip()
        if raw.rstrip().endswith("\\"):
            continue
        if cur.strip():
            kw, _, rest = cur.strip().partition(" ")
            out.append((kw.upper(), rest.strip()))
        cur = ""
    return out


def test_dockerfiles_build_from_debian_slim_without_a_registry():
    for path in sorted((DEPLOY / "container").glob("*Dockerfile")):
        text = path.read_text()
        assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I), path
        froms = [rest.split()[0] for kw, rest in dockerfile(path) if kw == "FROM"]
        assert froms and set(froms) == {"debian:bookworm-slim"}, (path, froms)


def test_pace_image():
    ins = dockerfile(DEPLOY / "container" / "Dockerfile")
    last_from = max(i for i, (kw, _) in enumerate(ins) if kw == "FROM")
    runtime = ins[last_from:]
    get = lambda k: [rest for kw, rest in runtime if kw == k]  # noqa: E731
    env = {}
    for rest in get("ENV"):
        env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    port = port_of(env["PACE_LISTEN"])
    assert get("EXPOSE") == [str(port)]
    user = get("USER")[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert get("STOPSIGNAL") == ["SIGTERM"]
    (health,) = get("HEALTHCHECK")
    assert "/health" in health and "PACE_LISTEN" in health
    assert get("ENTRYPOINT") == ['["/usr/local/bin/pace"]'] and get("CMD") == ['["serve"]']
    # The Kubernetes pods run as that user.
    for doc in load_yaml_docs(DEPLOY / "kubernetes" / "api.yaml"):
        if doc["kind"] == "Deployment":
            assert doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(user)


def compose():
    return load_yaml_docs(DEPLOY / "container" / "compose.yaml")[0]


def pace_services(c):
    return {n: s for n, s in c["services"].items() if s.get("image", "").startswith("pace:")}


def test_compose_pace_services():
    c = compose()
    assert str(c["version"]).startswith(("2", "3"))
    svcs = pace_services(c)
    roles = sorted(s["command"][0] for s in svcs.values())
    assert roles.count("serve") >= 2 and roles.count("worker") == 1, roles
    upstream = (DEPLOY / "container" / "nginx-upstream.conf").read_text()
    for name, s in svcs.items():
        env = s["environment"]
        assert set(env) <= set(settings()), name
        assert duration_seconds(s["stop_grace_period"]) > stop_budget(env), name
        assert s["healthcheck"]["test"][-1].endswith(f":{port_of(env['PACE_LISTEN'])}/ready"), name
        if s["command"][0] == "serve":
            assert re.search(rf"^server {name}:{port_of(env['PACE_LISTEN'])}\b", upstream, re.M), name
            assert env["PACE_JOB_WORKERS"] == "0"
        else:
            assert int(env["PACE_JOB_WORKERS"]) >= 1
        # nginx's fixed address is the one trusted proxy.
        assert env["PACE_TRUSTED_PROXIES"] == c["services"]["nginx"]["networks"]["pace"]["ipv4_address"]
    for name, s in c["services"].items():
        assert "build" in s, f"{name}: every image is built here (no registry)"


def nginx_directives(text):
    """(directive, args) of an nginx config, comments removed."""
    text = re.sub(r"#[^\n]*", "", text)
    return [(m.group(1), (m.group(2) or "").strip())
            for m in re.finditer(r"(\w+)(?:\s+([^;{}]*))?;", text)]


def size_bytes(text):
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", text)
    assert m, text
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]


def test_nginx_fits_pace():
    path = nginx_conf_path()
    assert path.is_file(), f"{path} missing (deploy/nginx is the cluster kit's)"
    text = path.read_text()
    d = nginx_directives(text)
    upstream = re.search(r"upstream\s+\w+\s*\{(.*?)\n\}", re.sub(r"#[^\n]*", "", text), re.S)
    assert upstream, "no upstream block"
    up = nginx_directives(upstream.group(1))
    # The upstream keep-alive ends before pace's idle timeout, with the
    # values the compose file gives pace (its defaults otherwise).
    env = next(iter(pace_services(compose()).values()))["environment"]
    for request_timeout in (int(default("PACE_REQUEST_TIMEOUT")), int(env.get("PACE_REQUEST_TIMEOUT", 10))):
        (kt,) = [a for k, a in up if k == "keepalive_timeout"]
        assert duration_seconds(kt) < request_timeout
    assert ("least_conn", "") in [(k, a) for k, a in up]
    (body,) = [a for k, a in d if k == "client_max_body_size"]
    assert size_bytes(body) >= int(env.get("PACE_MAX_BODY_BYTES", default("PACE_MAX_BODY_BYTES")))
    assert ("proxy_http_version", "1.1") in d
    nxt = [a for k, a in d if k == "proxy_next_upstream"]
    assert nxt and all("non_idempotent" not in a for a in nxt)


def test_haproxy_fits_pace():
    path = DEPLOY / "haproxy" / "pace.cfg"
    if not path.is_file():
        pytest.skip("deploy/haproxy/pace.cfg not there (the cluster kit's)")
    text = re.sub(r"#[^\n]*", "", path.read_text())
    assert re.search(r"(option\s+httpchk\b.*\s/ready\b|http-check\s+send\b.*uri\s+/ready\b)", text)
    m = re.search(r"timeout\s+http-keep-alive\s+(\S+)", text)
    assert m and duration_seconds(m.group(1)) < int(default("PACE_REQUEST_TIMEOUT"))


# ------------------------------------------------------------- kubernetes

def k8s_docs():
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += load_yaml_docs(path)
    return docs


def test_kubernetes_deployments_fit_the_drain():
    docs = k8s_docs()
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    (cm,) = by_kind["ConfigMap"]
    (secret,) = by_kind["Secret"]
    assert set(cm["data"]) | set(secret["stringData"]) <= set(settings())
    deployments = {d["metadata"]["name"]: d for d in by_kind["Deployment"]}
    assert {"pace-api", "pace-worker"} <= set(deployments)
    roles = set()
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        roles.add(c["args"][0])
        refs = {r.get("configMapRef", r.get("secretRef"))["name"] for r in c["envFrom"]}
        assert refs == {cm["metadata"]["name"], secret["metadata"]["name"]}
        env = dict(cm["data"])
        env.update({e["name"]: e["value"] for e in c.get("env", [])})
        assert set(env) <= set(settings())
        port = port_of(env["PACE_LISTEN"])
        (p,) = c["ports"]
        assert p["containerPort"] == port
        assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert c["livenessProbe"]["httpGet"]["path"] == "/health"
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in c:
                assert c[probe]["httpGet"]["port"] in (p["name"], port)
        budget = stop_budget(env)
        pre = c.get("lifecycle", {}).get("preStop")
        if pre:
            m = re.search(r"sleep\s+(\d+)", " ".join(pre.get("exec", {}).get("command", [])))
            budget += int(m.group(1)) if m else 0
        assert pod["terminationGracePeriodSeconds"] > budget, name
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert c["resources"]["requests"] and c["resources"]["limits"]
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        assert int(ann["prometheus.io/port"]) == port and ann["prometheus.io/path"] == "/metrics"
        if c["args"][0] == "serve":
            assert env["PACE_JOB_WORKERS"] == "0"
        else:
            assert int(env["PACE_JOB_WORKERS"]) >= 1
    assert roles == {"serve", "worker"}

    api = deployments["pace-api"]
    labels = api["spec"]["template"]["metadata"]["labels"]
    (svc,) = by_kind["Service"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    pdbs = {d["metadata"]["name"]: d for d in by_kind["PodDisruptionBudget"]}
    for name, dep in deployments.items():
        sel = pdbs[name]["spec"]["selector"]["matchLabels"]
        assert sel == dep["spec"]["selector"]["matchLabels"]
    (hpa,) = by_kind["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "pace-api"}
