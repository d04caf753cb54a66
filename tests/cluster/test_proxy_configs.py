"""The shipped proxy configurations are valid for the servers Debian ships:
deploy/nginx/pace.conf under `nginx -t` (in a prefix of its own, as a
non-root user would run it) and deploy/haproxy/pace.cfg under
`haproxy -c`; and they keep the settings that make a rolling restart lose
nothing."""

import re
import shutil
import subprocess

import pytest

from kit import REPO

NGINX_DIR = REPO / "deploy" / "nginx"
HAPROXY_CFG = REPO / "deploy" / "haproxy" / "pace.cfg"

MAIN = """
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 64; }
http {
    include pace.conf;
    access_log logs/access.log pace;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
}
"""


def directives(text):
    """The directives of a configuration, comments removed."""
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def test_nginx_config_is_valid(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    for d in ("conf", "logs", "tmp"):
        (tmp_path / d).mkdir()
    shutil.copy(NGINX_DIR / "pace.conf", tmp_path / "conf" / "pace.conf")
    shutil.copy(NGINX_DIR / "pace-upstream.conf", tmp_path / "conf" / "pace-upstream.conf")
    (tmp_path / "conf" / "nginx.conf").write_text(MAIN)
    p = subprocess.run([nginx, "-t", "-p", f"{tmp_path}/", "-e", "logs/error.log",
                        "-c", str(tmp_path / "conf" / "nginx.conf")], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "syntax is ok" in p.stderr and "test is successful" in p.stderr, p.stderr

    # And nginx -t does fail on a broken file (the check can fail).
    (tmp_path / "conf" / "pace.conf").write_text((NGINX_DIR / "pace.conf").read_text() + "\nbogus_directive 1;\n")
    p = subprocess.run([nginx, "-t", "-p", f"{tmp_path}/", "-e", "logs/error.log",
                        "-c", str(tmp_path / "conf" / "nginx.conf")], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "bogus_directive" in p.stderr


def test_nginx_config_retries_only_what_is_safe():
    d = directives((NGINX_DIR / "pace.conf").read_text())
    nu = [x for x in d if x.startswith("proxy_next_upstream ")]
    assert nu == ["proxy_next_upstream error timeout;"], nu
    assert not any("non_idempotent" in x for x in d)
    for want in ("least_conn;", "keepalive_timeout 4s;", "proxy_http_version 1.1;", 'proxy_set_header Connection "";',
                 "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;", "client_max_body_size 1m;",
                 "large_client_header_buffers 4 8k;"):
        assert want in d, want
    # The upstream keep-alive timeout stays below pace's idle timeout
    # (PACE_REQUEST_TIMEOUT, 10 s by default).
    ka = [int(re.match(r"keepalive_timeout (\d+)s;", x).group(1)) for x in d if x.startswith("keepalive_timeout")]
    assert ka and max(ka) < 10


def test_haproxy_config_is_valid(tmp_path):
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not shutil.which(haproxy):
        pytest.fail("haproxy is not installed (the haproxy package: make deps)")
    p = subprocess.run([haproxy, "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    d = directives(HAPROXY_CFG.read_text())
    for want in ("balance leastconn", "option httpchk GET /ready", "http-check expect status 200", "http-reuse safe",
                 "option forwardfor", "retry-on conn-failure empty-response", "timeout http-keep-alive 4s"):
        assert want in d, want
    assert any(x.startswith("http-request disable-l7-retry unless METH_GET") for x in d)
    assert any("slowstart" in x and "inter" in x and "fall" in x and "rise" in x for x in d)

    broken = tmp_path / "broken.cfg"
    broken.write_text(HAPROXY_CFG.read_text() + "\n    bogus_keyword 1\n")
    p = subprocess.run([haproxy, "-c", "-f", str(broken)], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
