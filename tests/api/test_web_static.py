"""The web client (/app/) and the API reference (/docs) as pace serves
them (docs/internals/web.md): routes, HEAD, ETags and 304, gzip and
identity, immutable assets and revalidated pages, 404 for unknown assets,
PACE_WEB=off, and the security headers of each class of response.

Generic checks only: whatever web/app and web/docs hold, every file their
index.html names (and every module those import) must load. A binary built
with -DPACE_WEB_ASSETS=OFF (or without a site's index.html) skips them."""

import gzip
import html.parser
import re

import pytest
import requests

from harness import DEV, assert_problem
from helpers import BASE_ENV, login, post, register

CSP_APP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
           "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
           "frame-ancestors 'none'")
CSP_DOCS = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
CSP_API = "default-src 'none'; frame-ancestors 'none'"
IMMUTABLE = "public, max-age=31536000, immutable"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json",
         ".txt": "text/plain; charset=utf-8", ".html": "text/html; charset=utf-8"}
IMPORT_RE = re.compile(r"""(?<![\w$.])(?:import|export)\s*(?:[^'";()]*?\bfrom\s*)?(["'])(\.{1,2}/[^"'\n]*)\1""")


def fetch(srv, path, method="GET", headers=None):
    return requests.request(method, srv.url + path, headers=headers or {}, timeout=30, allow_redirects=False)


def raw_body(srv, path, accept_encoding):
    """The body as sent (not decoded) and the response."""
    r = requests.get(srv.url + path, headers={"Accept-Encoding": accept_encoding}, timeout=30, stream=True)
    return r.raw.read(decode_content=False), r


class Refs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []  # (path, is module)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.refs.append((a["src"], a.get("type") == "module"))
        elif tag == "link" and a.get("href"):
            self.refs.append((a["href"], False))
        elif tag == "img" and a.get("src"):
            self.refs.append((a["src"], False))


def index_refs(body):
    p = Refs()
    p.feed(body)
    return p.refs


@pytest.fixture(scope="module")
def site(server):
    """{'app': (index body, assets prefix) or None, 'docs': ...}"""
    out = {}
    for name, path in (("app", "/app/"), ("docs", "/docs")):
        r = fetch(server, path)
        if r.status_code == 404:
            out[name] = None
            continue
        assert r.status_code == 200, r.text
        m = re.search(rf"/{name}/assets/([0-9a-f]+)/", r.text)
        out[name] = (r.text, f"/{name}/assets/{m.group(1)}" if m else None)
    return out


def need(site, name):
    if site.get(name) is None:
        pytest.skip(f"this pace serves no /{name} (built with -DPACE_WEB_ASSETS=OFF or without web/{name})")
    if site[name][1] is None:
        pytest.skip(f"/{name}'s index.html names no asset")
    return site[name]


def an_asset(srv, site, name):
    """A path of an asset of the site (the largest one its index names)."""
    body, prefix = need(site, name)
    best = None
    for ref, _ in index_refs(body):
        if ref.startswith(prefix + "/"):
            r = fetch(srv, ref, "HEAD")
            n = int(r.headers["Content-Length"])
            if best is None or n > best[1]:
                best = (ref, n)
    if best is None:
        pytest.skip(f"/{name}'s index.html names no asset")
    return best[0]


# ---------------------------------------------------------------- routes

def test_root_and_app_redirect(server, site):
    need(site, "app")
    for method in ("GET", "HEAD"):
        r = fetch(server, "/", method)
        assert r.status_code == 302 and r.headers["Location"] == "/app/", r.headers
        r = fetch(server, "/app", method)
        assert r.status_code == 301 and r.headers["Location"] == "/app/", r.headers
    r = fetch(server, "/app?tab=tasks")
    assert r.headers["Location"] == "/app/?tab=tasks", r.headers


def test_client_routes_serve_the_index(server, site):
    body, _ = need(site, "app")
    assert "{{ASSETS}}" not in body
    first = fetch(server, "/app/")
    for path in ("/app/tasks", "/app/tasks/42/edit", "/app/plans?kind=workout", "/app/index.html"):
        r = fetch(server, path)
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers["Content-Type"] == "text/html; charset=utf-8", path
        assert r.headers["Cache-Control"] == "no-cache", path
        assert r.headers["ETag"] == first.headers["ETag"] and r.content == first.content, path


def test_docs_page(server, site):
    body, _ = need(site, "docs")
    assert "{{ASSETS}}" not in body
    for path in ("/docs", "/docs/"):
        r = fetch(server, path)
        assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8", path
        assert r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"].startswith('"'), path
    assert_problem(fetch(server, "/docs/other"), 404, "not_found")


def test_every_referenced_asset_loads(server, site):
    """Each file an index.html names, and each module those import
    (transitively), is served immutably with its content type."""
    checked = 0
    for name in ("app", "docs"):
        if site.get(name) is None or site[name][1] is None:
            continue
        body, prefix = site[name]
        queue = list(index_refs(body))
        seen = set()
        for ref, _ in queue:
            assert ref.startswith(prefix + "/") or ref.startswith("data:"), \
                f"/{name} loads {ref} from outside its assets"
        while queue:
            path, is_module = queue.pop()
            if path in seen or path.startswith("data:"):
                continue
            seen.add(path)
            r = fetch(server, path)
            assert r.status_code == 200, (path, r.status_code)
            assert r.headers["Cache-Control"] == IMMUTABLE, path
            ext = "." + path.rsplit(".", 1)[-1]
            if ext in TYPES:
                assert r.headers["Content-Type"] == TYPES[ext], path
            checked += 1
            if is_module and ext == ".js":
                base = path.rsplit("/", 1)[0]
                for m in IMPORT_RE.finditer(r.text):
                    target = requests.compat.urljoin(server.url + base + "/", m.group(2))
                    queue.append((target[len(server.url):], True))
    if checked == 0:
        pytest.skip("no web assets served")


def test_licenses(server, site):
    for name, lic in (("app", "lit-html.txt"), ("docs", "swagger-ui.txt")):
        if site.get(name) is None or site[name][1] is None:
            continue
        r = fetch(server, f"{site[name][1]}/licenses/{lic}")
        assert r.status_code == 200 and r.headers["Content-Type"] == "text/plain; charset=utf-8", lic
        assert "license" in r.text.lower(), lic


def test_unknown_assets_are_404(server, site):
    _, prefix = need(site, "app")
    asset = an_asset(server, site, "app")
    rest = asset[len(prefix):]
    for path in (prefix + "/no-such-file.js", "/app/assets/0123456789ab" + rest, "/app/assets/",
                 "/app/assets", prefix + "/", prefix + "/../index.html/x"):
        r = fetch(server, path)
        assert_problem(r, 404, "not_found")
        assert r.headers["Cache-Control"] == "no-store", path


def test_other_methods_405(server, site):
    need(site, "app")
    asset = an_asset(server, site, "app")
    for path in ("/app/", asset, "/"):
        r = fetch(server, path, "POST")
        assert_problem(r, 405, "method_not_allowed")
        assert r.headers["Allow"] == "GET, HEAD", path


# ---------------------------------------------------------------- HEAD, ETag, gzip

def test_head_is_get_without_body(server, site):
    need(site, "app")
    for path in ("/app/", an_asset(server, site, "app")):
        for enc in ("identity", "gzip"):
            g = fetch(server, path, "GET", {"Accept-Encoding": enc})
            h = fetch(server, path, "HEAD", {"Accept-Encoding": enc})
            assert h.status_code == 200 and h.content == b"", path
            for k in ("Content-Length", "Content-Type", "ETag", "Cache-Control", "Content-Encoding"):
                assert h.headers.get(k) == g.headers.get(k), (path, enc, k)


def test_if_none_match_gives_304(server, site):
    need(site, "app")
    for path in ("/app/", an_asset(server, site, "app")):
        r = fetch(server, path)
        tag = r.headers["ETag"]
        assert re.fullmatch(r'"[^"]+"', tag), tag
        for inm in (tag, f"W/{tag}", f'"nope", {tag}', "*"):
            nm = fetch(server, path, headers={"If-None-Match": inm})
            assert nm.status_code == 304 and nm.content == b"", (path, inm)
            assert nm.headers["ETag"] == tag and nm.headers["Cache-Control"] == r.headers["Cache-Control"]
        assert fetch(server, path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_gzip_and_identity_are_the_same_bytes(server, site):
    """The license files: over 1 KiB, so the stored gzip is smaller."""
    paths = [f"{site[name][1]}/licenses/{lic}" for name, lic in (("app", "lit-html.txt"),
                                                                  ("docs", "swagger-ui.txt"))
             if site.get(name) and site[name][1]]
    if not paths:
        pytest.skip("no web assets served")
    for path in paths:
        plain, rp = raw_body(server, path, "identity")
        zipped, rz = raw_body(server, path, "gzip;q=1, br;q=0.5")
        assert rp.headers.get("Content-Encoding") is None, path
        assert rz.headers["Content-Encoding"] == "gzip", path
        assert gzip.decompress(zipped) == plain and len(zipped) < len(plain), path
        assert int(rz.headers["Content-Length"]) == len(zipped), path
        for r in (rp, rz):
            assert "accept-encoding" in r.headers["Vary"].lower(), path
        assert rp.headers["ETag"] != rz.headers["ETag"], "two representations, one strong tag"
        # gzip refused by weight: identity
        _, r0 = raw_body(server, path, "gzip;q=0, identity")
        assert r0.headers.get("Content-Encoding") is None, path


# ---------------------------------------------------------------- PACE_WEB=off

def test_web_off_serves_nothing(make_server):
    srv = make_server(env={**DEV, "PACE_WEB": "off"})
    for path in ("/", "/app", "/app/", "/app/tasks", "/docs", "/docs/", "/app/assets/0123/app.js"):
        assert_problem(fetch(srv, path), 404, "not_found")
    assert fetch(srv, "/health").status_code == 200


# ---------------------------------------------------------------- security headers

def test_security_headers_per_class(server, site):
    pages = []
    if site.get("app"):
        pages += [("/app/", CSP_APP), ("/app/tasks", CSP_APP)]
        if site["app"][1]:
            pages.append((an_asset(server, site, "app"), CSP_APP))
    if site.get("docs"):
        pages.append(("/docs", CSP_DOCS))
    for path, csp in pages:
        r = fetch(server, path)
        assert r.headers["Content-Security-Policy"] == csp, path
        assert r.headers["X-Frame-Options"] == "DENY", path
    others = [fetch(server, "/health"), fetch(server, "/nope"), fetch(server, "/api/v1/openapi.json"),
              fetch(server, "/api/v1/users/me"), fetch(server, "/health", "DELETE")]
    for r in others:
        assert r.headers["Content-Security-Policy"] == CSP_API, r.url
    for r in others + [fetch(server, p) for p, _ in pages]:
        assert r.headers["X-Content-Type-Options"] == "nosniff", r.url
        assert r.headers["Referrer-Policy"] == "no-referrer", r.url


def test_token_responses_are_no_store(make_server):
    srv = make_server(env=dict(BASE_ENV))
    r, username, _ = register(srv)
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    tokens = login(srv, username)
    assert tokens.status_code == 200 and tokens.headers["Cache-Control"] == "no-store"
    refreshed = post(srv, "/api/v1/auth/refresh", {"refresh_token": tokens.json()["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.headers["Cache-Control"] == "no-store"
    assert refreshed.headers["Content-Security-Policy"] == CSP_API
