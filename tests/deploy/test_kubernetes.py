"""deploy/kubernetes: every manifest validates offline against the
Kubernetes API schemas of the npm package kubernetes-models
(tests/deploy/validate-k8s.js: types, required fields, and no field the API
does not have). node_modules is installed with `npm ci` from the committed
lockfile when missing or older than it (tests/deploy/node_modules is
git-ignored)."""

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DEPLOY

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def node_modules():
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "node and npm are needed (Debian: nodejs, npm)"
    stamp = HERE / "node_modules" / ".package-lock.json"
    lock = HERE / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
    return node


def validate(node, *paths):
    return subprocess.run([node, str(HERE / "validate-k8s.js"), *map(str, paths)],
                          cwd=HERE, capture_output=True, text=True, timeout=120)


def test_manifests_validate(node_modules):
    p = validate(node_modules, DEPLOY / "kubernetes")
    assert p.returncode == 0, p.stdout + p.stderr
    kinds = {line.split()[3] for line in p.stdout.splitlines() if line.startswith("ok ")}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
            "ConfigMap", "Secret"} <= kinds, p.stdout


def test_validator_rejects_broken_manifests(node_modules, tmp_path):
    api = (DEPLOY / "kubernetes" / "api.yaml").read_text()
    cases = {
        # A field the API does not have: the schemas alone let it through.
        "unknown-field.yaml": (api.replace("readinessProbe:", "readinesProbe:", 1), "readinesProbe"),
        # A wrong type.
        "wrong-type.yaml": (api.replace("containerPort: 8080", "containerPort: eighty", 1), "containerPort"),
        # A required field missing (a Deployment's selector).
        "missing.yaml": (api.replace("  selector:\n    matchLabels:", "  selectorx:\n    matchLabels:", 1),
                         "selector"),
        # A kind of a version that does not exist.
        "bad-version.yaml": (api.replace("autoscaling/v2\nkind: HorizontalPodAutoscaler",
                                         "autoscaling/v9\nkind: HorizontalPodAutoscaler", 1), "autoscaling/v9"),
    }
    for name, (text, needle) in cases.items():
        assert text != api, name
        path = tmp_path / name
        path.write_text(text)
        p = validate(node_modules, path)
        assert p.returncode == 1, f"{name}: {p.stdout}"
        assert needle in p.stdout, f"{name}: {p.stdout}"
