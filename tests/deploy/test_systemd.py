"""deploy/systemd: the units load in systemd (systemd-analyze verify, with
ExecStart pointed at the built binary) without a single complaint, and
their sandboxing rates as systemd's own `security` check expects of a
hardened service."""

import re
import shutil
import subprocess

import pytest

from conftest import DEPLOY, PACE_BIN

UNITS = ["pace.service", "pace-worker.service"]


def analyze(*args):
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze missing (Debian package systemd)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


def local_copy(tmp_path, name, extra=""):
    text = (DEPLOY / "systemd" / name).read_text().replace("/usr/local/bin/pace", PACE_BIN)
    path = tmp_path / name
    path.write_text(text + extra)
    return path


@pytest.mark.parametrize("name", UNITS)
def test_unit_verifies(tmp_path, name):
    p = analyze("verify", str(local_copy(tmp_path, name)))
    assert p.returncode == 0 and p.stdout.strip() == "" and p.stderr.strip() == "", p.stdout + p.stderr


def test_verify_complains_about_a_broken_unit(tmp_path):
    # The check above can fail: a misspelt key and a bad value are reported.
    path = local_copy(tmp_path, "pace.service", "\n[Service]\nProtectSystme=strict\nRestart=sometimes\n")
    p = analyze("verify", str(path))
    out = p.stdout + p.stderr
    assert "ProtectSystme" in out and "sometimes" in out, out


@pytest.mark.parametrize("name", UNITS)
def test_unit_exposure_is_low(tmp_path, name):
    p = analyze("security", "--offline=true", "--no-pager", str(local_copy(tmp_path, name)))
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout + p.stderr)
    assert m, p.stdout + p.stderr
    # 0 is a fully locked-down service, 10 an unprotected one; systemd calls
    # up to 2.0 "OK".
    assert float(m.group(1)) <= 2.0, p.stdout
