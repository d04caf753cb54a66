"""The differential corpus (corpus.txt) and what it takes to replay it: a
real nginx on a free loopback port as a plain static server (200 for every
request), raw-socket exchanges run side by side, and the classification of
an answer as accepted or rejected.

    python3 tests/framing/nginx_runner.py PACE_PORT

prints, for every entry, what nginx and the pace on PACE_PORT made of it.
tests/api/test_framing.py runs the same against a pace of its own."""

import codecs
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus.txt"

# A first answer with one of these statuses (or none at all) refuses the
# request; any other status below 500 serves it.
REJECTING = {400, 411, 413, 414, 431, 501}


def load_corpus(path=CORPUS):
    """[(name, bytes)] in file order."""
    entries, name, lines = [], None, []

    def flush():
        if name is not None:
            text = "".join(lines)
            text = re.sub(r"\{\{(.)\*(\d+)\}\}", lambda m: m.group(1) * int(m.group(2)), text)
            entries.append((name, codecs.escape_decode(text.encode("latin-1"))[0]))

    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith("### "):
            flush()
            name, lines = line[4:].strip(), []
        elif name is not None and not line.startswith("#"):
            lines.append(line)
    flush()
    return entries


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> [values]
        self.body = body

    def header(self, name):
        v = self.headers.get(name)
        return v[0] if v else None

    def __repr__(self):
        return f"<{self.status} {self.body[:80]!r}>"


def parse_responses(data, head_request=False):
    """The responses in data, in order (interim 1xx ones left out); stops at
    the first bytes that are not a complete response."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        lines = data[:end].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            break
        status = int(m.group(1))
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        rest = data[end + 4:]
        if 100 <= status < 200:
            data = rest
            continue
        if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
            body = b""
            while True:
                i = rest.find(b"\r\n")
                if i < 0:
                    return out
                size = int(rest[:i].split(b";")[0], 16)
                rest = rest[i + 2:]
                if size == 0:
                    j = rest.find(b"\r\n")
                    rest = rest[j + 2:] if j >= 0 else b""
                    break
                body += rest[:size]
                rest = rest[size + 2:]
        else:
            n = int(headers.get("content-length", ["0"])[0])
            if len(rest) < n:
                break
            body, rest = rest[:n], rest[n:]
        out.append(Response(status, headers, body))
        data = rest
    return out


def exchange(port, data, quiet=0.4, limit=4.0):
    """Sends data on a new connection and collects what comes back until the
    server closes or stays quiet for `quiet` seconds. Returns (bytes,
    closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=limit)
    got, closed = b"", False
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + limit
        s.settimeout(quiet)
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
    finally:
        s.close()
    return got, closed


def classify(responses):
    """'accepted' when the first answer serves the request (or a request
    behind it was answered too), else 'rejected'."""
    if not responses:
        return "rejected"
    if len(responses) > 1:
        return "accepted"
    st = responses[0].status
    return "accepted" if 200 <= st < 500 and st not in REJECTING else "rejected"


def replay(port, entries, workers=16):
    """{name: (responses, closed, raw bytes)}, the exchanges run side by side."""
    def one(entry):
        name, data = entry
        raw, closed = exchange(port, data)
        return name, (parse_responses(raw), closed, raw)

    with ThreadPoolExecutor(max_workers=workers) as ex:
        return dict(ex.map(one, entries))


NGINX_CONF = """
daemon off;
master_process off;
pid logs/nginx.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    server {
        listen 127.0.0.1:%PORT%;
        location / { return 200 "ok\\n"; }
    }
}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx in the foreground in a prefix of its own; stopped (by its pid)
    on exit, the prefix removed."""

    def __init__(self):
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.prefix = pathlib.Path(tempfile.mkdtemp(prefix="pace-framing-nginx-"))
        self.port = free_port()
        self.proc = None

    def __enter__(self):
        for d in ("conf", "logs", "tmp"):
            (self.prefix / d).mkdir()
        conf = self.prefix / "conf" / "nginx.conf"
        conf.write_text(NGINX_CONF.replace("%PORT%", str(self.port)))
        self.proc = subprocess.Popen([self.binary, "-p", f"{self.prefix}/", "-e", "logs/error.log", "-c", str(conf)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
                    self.__exit__()
                    raise RuntimeError(f"nginx did not start: {err}")
                time.sleep(0.05)

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.prefix, ignore_errors=True)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    entries = load_corpus()
    with Nginx() as ngx:
        theirs = replay(ngx.port, entries)
    ours = replay(int(argv[1]), entries)
    bad = 0
    for name, _ in entries:
        n, p = theirs[name], ours[name]
        cn, cp = classify(n[0]), classify(p[0])
        flag = "LENIENT" if cp == "accepted" and cn == "rejected" else ""
        bad += bool(flag)
        print(f"{name:40} nginx {cn:8} {[r.status for r in n[0]]!s:12} pace {cp:8} "
              f"{[r.status for r in p[0]]!s:12} {flag}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
