"""Shared helpers of the deployment checks (tests/deploy/).

- REPO, DEPLOY: the repository and its deploy/ folder.
- PACE_BIN: the pace binary (env PACE_BIN, else build/pace).
- settings(): every setting `pace --help` lists, name -> default text.
- load_yaml_docs(path): every document of a YAML file (python3-yaml).
- nginx_conf(): deploy/nginx/pace.conf (env DEPLOY_NGINX_CONF overrides
  the path, for trying another file).
"""

import functools
import os
import re
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PACE_BIN = os.environ.get("PACE_BIN") or str(REPO / "build" / "pace")

HELP_LINE = re.compile(r"^\s+--[a-z0-9-]+\s+(PACE_[A-Z0-9_]+)\s+default:\s?(.*)$")


@functools.lru_cache(maxsize=None)
def settings():
    """Every setting of `pace --help`: {"PACE_LISTEN": "127.0.0.1:8080", ...}
    (the default as printed; "" or "(see below)" when it has none)."""
    assert os.access(PACE_BIN, os.X_OK), f"pace binary not found at {PACE_BIN} (build it, or set PACE_BIN)"
    out = subprocess.run([PACE_BIN, "--help"], capture_output=True, text=True, timeout=10)
    text = out.stdout + out.stderr
    found = {}
    for line in text.splitlines():
        m = HELP_LINE.match(line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    assert len(found) >= 40, f"`pace --help` listed only {len(found)} settings:\n{text}"
    return found


def default(name):
    """The default of a setting whose default is a plain value."""
    value = settings()[name]
    assert value and not value.startswith("("), f"{name} has no literal default ({value!r})"
    return value


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def nginx_conf_path():
    return Path(os.environ.get("DEPLOY_NGINX_CONF") or DEPLOY / "nginx" / "pace.conf")


def port_of(listen):
    """The port of a host:port or [v6]:port."""
    return int(listen.rsplit(":", 1)[1])
