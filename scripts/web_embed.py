#!/usr/bin/python3
"""Builds the web assets table compiled into pace (docs/internals/web.md).

    web_embed.py --web DIR --out FILE.c      the table from DIR/app, DIR/docs
                                             and DIR/node_modules
    web_embed.py --empty --out FILE.c        an empty table (no web parts)
    web_embed.py --npm-ci NPM --web DIR      npm ci in DIR unless its install is
                                             newer than the lockfile (one build
                                             tree at a time: a lock)

Two sites: app (DIR/app, the web client, at /app/) and docs (DIR/docs, the
API reference, at /docs). Each site's index.html names its files as
"{{ASSETS}}/<path>"; the build replaces {{ASSETS}} with /app/assets/<V> or
/docs/assets/<V>, where V is a short hash of everything served, so every
asset URL changes when any asset does and assets are cached for a year.

What is served, per site:
- index.html, and every file its <script src>, <link href> and <img src>
  name (relative to the site's directory);
- for module scripts, every file reached through static imports
  (import ... from './x.js', import './x.js', export ... from './x.js'),
  transitively; relative specifiers only (a bare one fails the build);
- url(...) references of the CSS files served;
- every other non-script file of the site's own directory (styles, icons,
  JSON: a script may name one through import.meta.url);
- the third parties' license files.
A path "vendor/<package>/<file>" is <file> of DIR/node_modules/<package>;
the docs site's swagger-ui-bundle.js and swagger-ui.css are those of
swagger-ui-dist. A reference to a file that does not exist fails the build.

Each file gets its content type, its bytes gzipped at level 9 (mtime 0, so
the output is reproducible; kept only when smaller) and a strong ETag from
its hash. Standard library only.
"""

import argparse
import gzip
import hashlib
import html.parser
import json
import os
import posixpath
import re
import sys

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
SCRIPT_EXTS = (".js", ".mjs")
PLACEHOLDER = "{{ASSETS}}"

# Files of a site's own directory never served: editor and tooling leftovers.
SKIP_OWN = re.compile(r"(^|/)(\.[^/]*|node_modules|.*\.map|.*~|README(\.md)?|.*\.test\.m?js)(/|$)")

# Static imports and re-exports, as written by hand or minified:
#   import x from "./a.js"  import {a as b}from"./a.js"  import "./a.js"
#   export * from './a.js'  export{a}from"./a.js"
# Dynamic import("...") is not followed (no quote right after the keyword).
IMPORT_RE = re.compile(r"""(?<![\w$.])(?:import|export)\s*(?:[^'";()]*?\bfrom\s*)?(["'])([^"'\n]*)\1""")
BLOCK_COMMENT_RE = re.compile(r"/\*.*?\*/", re.S)
LINE_COMMENT_RE = re.compile(r"^\s*//.*$", re.M)
CSS_URL_RE = re.compile(r"""url\(\s*(["']?)([^"')]*)\1\s*\)""")
SOURCE_MAP_RE = re.compile(rb"\n?(//# sourceMappingURL=[^\n]*|/\*# sourceMappingURL=[^*]*\*/)\s*$")


class BuildError(Exception):
    pass


class Site:
    def __init__(self, name, own_dir, modules_dir, aliases, licenses):
        self.name = name
        self.own_dir = own_dir
        self.modules_dir = modules_dir
        self.aliases = aliases  # served path -> file under node_modules
        self.licenses = licenses  # served path -> [files under node_modules]
        self.files = {}  # served path (relative to the assets root) -> bytes
        self.index = None  # index.html's bytes, placeholder not yet replaced

    def disk_path(self, rel):
        """The file served as rel, or None when rel names none."""
        if rel in self.aliases:
            return os.path.join(self.modules_dir, self.aliases[rel])
        parts = rel.split("/")
        if parts[0] == "vendor" and len(parts) >= 3:
            return os.path.join(self.modules_dir, *parts[1:])
        return os.path.join(self.own_dir, *parts)

    def read(self, rel, referrer):
        path = self.disk_path(rel)
        if not os.path.isfile(path):
            raise BuildError(f"web/{self.name}: {referrer} refers to {rel!r}, but {path} does not exist"
                             + (" (run npm ci in web/?)" if rel.startswith("vendor/") else ""))
        with open(path, "rb") as f:
            data = f.read()
        if not path.startswith(self.own_dir + os.sep):
            data = SOURCE_MAP_RE.sub(b"\n", data)  # the maps are not served
        return data


def resolve(base_rel, spec, site, referrer):
    """A relative reference from the served file base_rel, as a served path."""
    if not (spec.startswith("./") or spec.startswith("../")):
        raise BuildError(f"web/{site.name}: {referrer} imports {spec!r}: only relative specifiers "
                         f"('./x.js', '../vendor/lit-html/lit-html.js') can be served; no bare or "
                         f"absolute ones")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(base_rel), spec))
    if joined.startswith("../") or joined == ".." or joined.startswith("/"):
        raise BuildError(f"web/{site.name}: {referrer} refers to {spec!r}, outside the site's assets")
    return joined


def strip_comments(text):
    return LINE_COMMENT_RE.sub("", BLOCK_COMMENT_RE.sub(" ", text))


class IndexParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs = []  # (kind, value): kind "module", "script", "link", "img"
        self.problems = []
        self.in_inline_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in a:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>: inline event handlers are refused by the CSP")
        if tag == "script":
            src = a.get("src")
            if src is None:
                self.in_inline_script = True
                if a.get("type") not in ("application/ld+json",):
                    self.problems.append("an inline <script>: refused by the CSP; use <script src>")
                return
            self.refs.append(("module" if a.get("type") == "module" else "script", src))
        elif tag == "link" and a.get("href") is not None:
            self.refs.append(("link", a["href"]))
        elif tag in ("img", "source") and a.get("src") is not None:
            self.refs.append(("img", a["src"]))

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_inline_script = False


def collect_site(site):
    index_path = os.path.join(site.own_dir, "index.html")
    if not os.path.isfile(index_path):
        return False
    with open(index_path, "rb") as f:
        site.index = f.read()
    p = IndexParser()
    p.feed(site.index.decode("utf-8"))
    p.close()
    if p.problems:
        raise BuildError(f"web/{site.name}/index.html: " + "; ".join(p.problems))

    queue = []  # (served path, is module, referrer)
    for kind, ref in p.refs:
        if ref.startswith("data:"):
            continue
        if not ref.startswith(PLACEHOLDER + "/"):
            raise BuildError(f"web/{site.name}/index.html: {ref!r} must be written {PLACEHOLDER}/<path> "
                             f"(an asset of the site) so that it gets the versioned URL; nothing is "
                             f"loaded from elsewhere")
        rel = posixpath.normpath(ref[len(PLACEHOLDER) + 1:].split("?")[0].split("#")[0])
        if rel.startswith("..") or rel.startswith("/"):
            raise BuildError(f"web/{site.name}/index.html: {ref!r} leaves the site's assets")
        queue.append((rel, kind == "module", "index.html"))

    modules = set()
    while queue:
        rel, is_module, referrer = queue.pop()
        if rel in site.files and (not is_module or rel in modules):
            continue
        data = site.files.get(rel)
        if data is None:
            data = site.read(rel, referrer)
            site.files[rel] = data
        if is_module and rel.endswith(SCRIPT_EXTS):
            modules.add(rel)
            text = strip_comments(data.decode("utf-8"))
            for m in IMPORT_RE.finditer(text):
                queue.append((resolve(rel, m.group(2), site, rel), True, rel))
        elif rel.endswith(".css"):
            for m in CSS_URL_RE.finditer(strip_comments(data.decode("utf-8"))):
                u = m.group(2).strip()
                if u == "" or u.startswith(("data:", "#")):
                    continue
                if re.match(r"^[a-z][a-z0-9+.-]*:|^//", u, re.I):
                    raise BuildError(f"web/{site.name}: {rel} loads {u!r} from elsewhere")
                target = u.split("?")[0].split("#")[0]
                if not target.startswith(("./", "../")):
                    target = "./" + target
                queue.append((resolve(rel, target, site, rel), False, rel))

    # The site's own other files (not scripts: those are served when reached).
    for dirpath, dirnames, filenames in os.walk(site.own_dir):
        dirnames.sort()
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            rel = os.path.relpath(full, site.own_dir).replace(os.sep, "/")
            if rel == "index.html" or rel in site.files or SKIP_OWN.search(rel):
                continue
            if rel.endswith(SCRIPT_EXTS):
                continue
            if os.path.splitext(rel)[1] not in CONTENT_TYPES:
                continue
            with open(full, "rb") as f:
                site.files[rel] = f.read()

    for served, sources in site.licenses.items():
        parts = []
        for s in sources:
            path = os.path.join(site.modules_dir, s)
            if not os.path.isfile(path):
                raise BuildError(f"web/{site.name}: license file {path} does not exist (run npm ci in web/?)")
            with open(path, "rb") as f:
                parts.append(f"==> {s} <==\n\n".encode() + f.read().rstrip(b"\n") + b"\n")
        site.files[served] = b"\n".join(parts)

    for rel in site.files:
        if os.path.splitext(rel)[1] not in CONTENT_TYPES:
            raise BuildError(f"web/{site.name}: no content type for {rel!r} (extensions: "
                             + " ".join(sorted(CONTENT_TYPES)) + ")")
    return True


def c_string(data):
    """data as adjacent C string literals, 3-digit octal escapes for
    anything not plain printable ASCII (also '?': trigraphs)."""
    out = []
    line = []
    width = 0
    for b in data:
        if 0x20 <= b < 0x7F and b not in (0x22, 0x5C, 0x3F):
            s = chr(b)
        elif b == 0x0A:
            s = "\\n"
        else:
            s = "\\%03o" % b
        line.append(s)
        width += len(s)
        if width >= 120 or b == 0x0A and width >= 60:
            out.append('"' + "".join(line) + '"')
            line = []
            width = 0
    if line or not out:
        out.append('"' + "".join(line) + '"')
    return "\n".join(out)


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def emit(entries, version, out):
    """entries: [(url path, content type, bytes)] sorted by path."""
    parts = ["/* generated by scripts/web_embed.py; do not edit */\n#include \"util/embedded.h\"\n\n"]
    rows = []
    for i, (path, ctype, data) in enumerate(entries):
        z = gz(data)
        etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
        parts.append(f"/* {path} */\nstatic const unsigned char d{i}[] =\n{c_string(data)};\n")
        gzname = "NULL"
        gzlen = 0
        if len(z) < len(data):
            parts.append(f"static const unsigned char z{i}[] =\n{c_string(z)};\n")
            gzname = f"z{i}"
            gzlen = len(z)
        c_etag = etag.replace('"', '\\"')
        rows.append(f'    {{"{path}", "{ctype}", d{i}, {len(data)}, {gzname}, {gzlen}, "{c_etag}"}},\n')
    parts.append(f'\nconst char embedded_web_version[] = "{version}";\n')
    parts.append("const struct embedded_web_file embedded_web_files[] = {\n")
    parts.extend(rows)
    parts.append("    {NULL, NULL, NULL, 0, NULL, 0, NULL},\n};\n")
    text = "".join(parts)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
    os.replace(tmp, out)


def check_installed(web, nm, packages):
    """The installed packages are the lockfile's versions (a stale
    node_modules, or one copied from elsewhere, fails the build)."""
    with open(os.path.join(web, "package-lock.json"), encoding="utf-8") as f:
        lock = json.load(f)["packages"]
    for p in packages:
        want = lock.get(f"node_modules/{p}", {}).get("version")
        try:
            with open(os.path.join(nm, p, "package.json"), encoding="utf-8") as f:
                have = json.load(f).get("version")
        except FileNotFoundError:
            have = None
        if have != want:
            raise BuildError(f"web/node_modules/{p} is version {have or '(not installed)'}, the lockfile's "
                             f"is {want}: run `npm ci --ignore-scripts` in web/")


def build(web):
    nm = os.path.join(web, "node_modules")
    check_installed(web, nm, ["lit-html", "swagger-ui-dist"])
    sites = [
        Site("app", os.path.join(web, "app"), nm, {},
             {"licenses/lit-html.txt": ["lit-html/LICENSE"]}),
        Site("docs", os.path.join(web, "docs"), nm,
             {"swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
              "swagger-ui.css": "swagger-ui-dist/swagger-ui.css"},
             {"licenses/swagger-ui.txt": ["swagger-ui-dist/LICENSE", "swagger-ui-dist/NOTICE",
                                          "swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt"]}),
    ]
    present = []
    for s in sites:
        if collect_site(s):
            present.append(s)
        else:
            print(f"web_embed: web/{s.name}/index.html does not exist: /{s.name} is not served",
                  file=sys.stderr)

    h = hashlib.sha256()
    for s in present:
        for rel in sorted(s.files):
            h.update(f"{s.name}/{rel}\0{len(s.files[rel])}\0".encode())
            h.update(s.files[rel])
        h.update(f"{s.name}/index.html\0{len(s.index)}\0".encode())
        h.update(s.index)
    version = h.hexdigest()[:12] if present else ""

    entries = []
    for s in present:
        base = f"/{s.name}/assets/{version}"
        index = s.index.replace(PLACEHOLDER.encode(), base.encode())
        entries.append((f"/{s.name}/", CONTENT_TYPES[".html"], index))
        for rel in sorted(s.files):
            entries.append((f"{base}/{rel}", CONTENT_TYPES[os.path.splitext(rel)[1]], s.files[rel]))
    for path, _, _ in entries:
        if '"' in path or "\\" in path or any(ord(c) < 0x20 or ord(c) > 0x7E for c in path):
            raise BuildError(f"web: file name {path!r}: only printable ASCII without quotes or backslashes")
    entries.sort(key=lambda e: e[0])
    return entries, version


def npm_ci(npm, web):
    """`npm ci --ignore-scripts` in web, then the stamp. Several build trees
    (build, build-asan, build-fuzz) may ask at once: under a lock, the
    second finds the first's install fresh and does nothing."""
    import fcntl
    import subprocess
    stamp = os.path.join(web, "node_modules", ".pace-npm-ci")
    inputs = [os.path.join(web, "package.json"), os.path.join(web, "package-lock.json")]
    with open(os.path.join(web, ".npm-ci.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            fresh = all(os.path.getmtime(stamp) >= os.path.getmtime(i) for i in inputs)
        except FileNotFoundError:
            fresh = False
        if not fresh:
            rc = subprocess.call([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                                 cwd=web)
            if rc != 0:
                print(f"web_embed: error: npm ci in {web} failed ({rc}); without network or npm, configure "
                      f"with -DPACE_WEB_ASSETS=OFF", file=sys.stderr)
                return 1
        with open(stamp, "a"):
            pass
        os.utime(stamp)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--web", help="the web/ directory")
    ap.add_argument("--out", help="the C file to write")
    ap.add_argument("--empty", action="store_true", help="an empty table")
    ap.add_argument("--npm-ci", metavar="NPM", help="install web/node_modules with this npm, then exit")
    a = ap.parse_args()
    if a.npm_ci:
        if not a.web:
            ap.error("--npm-ci needs --web")
        return npm_ci(a.npm_ci, os.path.abspath(a.web))
    if not a.out:
        ap.error("--out is required")
    if a.empty:
        emit([], "", a.out)
        return 0
    if not a.web:
        ap.error("--web is required without --empty")
    try:
        entries, version = build(os.path.abspath(a.web))
    except BuildError as e:
        print(f"web_embed: error: {e}", file=sys.stderr)
        return 1
    emit(entries, version, a.out)
    total = sum(len(e[2]) for e in entries)
    print(f"web_embed: {len(entries)} files, {total} bytes, version {version or '(none)'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
