"""The README's settings table against the settings table in
src/config/config.c, both ways: the same settings, and the same default
wherever the README writes the default as a literal value. Like the check
of docs/openapi.json against the routes, it keeps a document honest; it
reads both files and needs no server.

README rows: | `PACE_NAME` | default | meaning |. A default cell that is
one code span (`8192`) is a literal and must equal the default in
config.c; `none` stands for an empty default; any other text (online
CPUs, the pool size) describes a default config.c computes (NULL)."""

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
CONFIG_C = REPO / "src" / "config" / "config.c"

TABLE_HEADER = "| variable | default | meaning |"


def readme_settings():
    """{name without PACE_: default cell} from the README's settings table."""
    lines = README.read_text().splitlines()
    assert TABLE_HEADER in lines, f"README.md has no settings table (a line {TABLE_HEADER!r})"
    i = lines.index(TABLE_HEADER) + 2  # the header and its |---| line
    rows = {}
    while i < len(lines) and lines[i].startswith("|"):
        cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
        assert len(cells) >= 3, f"README.md settings row without three cells: {lines[i]!r}"
        names = re.findall(r"`PACE_([A-Z0-9_]+)`", cells[0])
        assert len(names) == 1, f"README.md settings row must name one PACE_ variable: {lines[i]!r}"
        assert names[0] not in rows, f"PACE_{names[0]} is listed twice in README.md"
        rows[names[0]] = cells[1]
        i += 1
    assert rows, "README.md's settings table is empty"
    return rows


def c_string(literal):
    """The value of a C string literal written with simple escapes."""
    return re.sub(r'\\(.)', r"\1", literal)


def config_settings():
    """{name: default or None (computed)} from `settings[]` in config.c."""
    text = CONFIG_C.read_text()
    m = re.search(r"static const struct setting settings\[\] = \{(.*?)\n\};", text, re.S)
    assert m, "no `static const struct setting settings[] = {...};` in src/config/config.c"
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    entries = re.findall(r'\{\s*"([A-Z0-9_]+)"\s*,\s*K_[A-Z]+\s*,\s*(NULL|"(?:[^"\\]|\\.)*")', body)
    assert entries, "no settings parsed from src/config/config.c"
    out = {}
    for name, default in entries:
        assert name not in out, f"{name} is twice in config.c"
        out[name] = None if default == "NULL" else c_string(default[1:-1])
    return out


def test_readme_lists_every_setting_and_nothing_else():
    documented = set(readme_settings())
    configured = set(config_settings())
    missing = sorted(configured - documented)
    unknown = sorted(documented - configured)
    assert not missing and not unknown, (
        "README.md's settings table and src/config/config.c disagree\n"
        + "  in config.c, not in README.md: " + (", ".join("PACE_" + n for n in missing) or "-") + "\n"
        + "  in README.md, not in config.c: " + (", ".join("PACE_" + n for n in unknown) or "-")
    )


def test_readme_defaults_match_config():
    documented = readme_settings()
    configured = config_settings()
    wrong = []
    for name in sorted(set(documented) & set(configured)):
        cell, default = documented[name], configured[name]
        literal = re.fullmatch(r"`([^`]*)`", cell)
        if default is None:
            if literal:
                wrong.append(f"PACE_{name}: README.md says {cell}, config.c computes it (NULL)")
        elif default == "":
            if cell != "none":
                wrong.append(f"PACE_{name}: README.md says {cell!r}, config.c's default is empty (write none)")
        elif not literal or literal.group(1) != default:
            wrong.append(f"PACE_{name}: README.md says {cell!r}, config.c's default is `{default}`")
    assert not wrong, "README.md's defaults differ from src/config/config.c:\n  " + "\n  ".join(wrong)


# ---------------------------------------------------------------- docs/openapi.json: statuses

OPENAPI = REPO / "docs" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Routes that need no token and touch neither the database nor a pool.
INFRASTRUCTURE = {"/health", "/ready", "/metrics", "/api/v1/openapi.json"}
# The web pages (tagged web) are files embedded in the binary.
NO_DATABASE = {"/health", "/metrics", "/api/v1/openapi.json", "/", "/app/{path}", "/docs"}
# What any request can get, whatever its operation: a framing error (400,
# h2o's and pace's), a target over PACE_MAX_HEADER_BYTES (414), a head over
# it (431). The shared responses, so that one description serves them all.
EVERY_OPERATION = {"400": None, "414": "UriTooLong", "431": "HeadersTooLarge"}


def openapi_doc():
    return json.loads(OPENAPI.read_text())


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def resolve(doc, obj):
    seen = 0
    while "$ref" in obj:
        ref = obj["$ref"]
        assert ref.startswith("#/"), ref
        obj = doc
        for part in ref[2:].split("/"):
            assert part in obj, f"dangling $ref {ref}"
            obj = obj[part]
        seen += 1
        assert seen < 10, f"$ref loop at {ref}"
    return obj


def test_every_operation_lists_the_statuses_any_request_can_get():
    doc = openapi_doc()
    missing = []
    for path, method, op in operations(doc):
        responses = op.get("responses", {})
        name = f"{method.upper()} {path}"
        need = set(EVERY_OPERATION)
        if "requestBody" in op:
            need.add("413")
        if path not in NO_DATABASE:
            need.add("503")
        if op.get("security", doc.get("security")) != []:
            need.add("401")
        for code in sorted(need - set(responses)):
            missing.append(f"{name}: no {code}")
        for code, component in EVERY_OPERATION.items():
            if component and code in responses and responses[code] != {"$ref": f"#/components/responses/{component}"}:
                missing.append(f"{name}: {code} is not the shared components/responses/{component}")
    assert not missing, "docs/openapi.json:\n  " + "\n  ".join(missing)


def test_every_documented_status_has_a_response_object():
    doc = openapi_doc()
    wrong = []
    for path, method, op in operations(doc):
        name = f"{method.upper()} {path}"
        assert op.get("responses"), f"{name} has no responses"
        for code, resp in op["responses"].items():
            if not re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", code):
                wrong.append(f"{name}: {code!r} is no status code")
                continue
            obj = resolve(doc, resp)
            if not isinstance(obj.get("description"), str) or not obj["description"].strip():
                wrong.append(f"{name} {code}: no description")
            if code[0] in "45" and code not in ("401",) and "content" not in obj:
                wrong.append(f"{name} {code}: an error without a body schema")
            for media, body in obj.get("content", {}).items():
                if code[0] in "45" and media == "application/problem+json":
                    schema = resolve(doc, body.get("schema", {}))
                    assert "status" in schema.get("properties", {}), f"{name} {code}: Problem schema lacks status"
    for cname, comp in doc["components"]["responses"].items():
        if not comp.get("description"):
            wrong.append(f"components/responses/{cname}: no description")
    assert not wrong, "docs/openapi.json:\n  " + "\n  ".join(wrong)


def test_infrastructure_routes_declare_no_security():
    doc = openapi_doc()
    for path, method, op in operations(doc):
        if path in INFRASTRUCTURE:
            assert op.get("security") == [], f"{method.upper()} {path}: declare \"security\": []"
        else:
            assert "security" in op or "security" in doc, f"{method.upper()} {path}: no security declared"


def test_statuses_outside_operations_are_described():
    """404 for an unknown path and 405 for a wrong method belong to no
    operation: the document says so at the top and has their responses."""
    doc = openapi_doc()
    text = doc["info"]["description"]
    for code, component in (("404", "NotFound"), ("405", "MethodNotAllowed"), ("500", None)):
        assert code in text, f"info.description does not mention {code}"
        if component:
            assert component in doc["components"]["responses"], component


# ---------------------------------------------------------------- error codes: docs/api.md and docs/openapi.json

API_MD = REPO / "docs" / "api.md"


def api_md_error_codes():
    """The codes of docs/api.md's error table (### Error codes), in order."""
    text = API_MD.read_text()
    assert "### Error codes" in text, "docs/api.md has no ### Error codes table"
    table = text.split("### Error codes", 1)[1].split("\n#", 1)[0]
    codes = []
    for line in table.splitlines():
        m = re.match(r"\| (\d{3}) \| (.*?) \| ", line)
        if m:
            codes += [c for c in re.findall(r"`([a-z_]+)`", m.group(2)) if c not in codes]
    assert codes, "docs/api.md's error table lists no code"
    return codes


def test_openapi_names_every_error_code_of_the_table():
    """Each code a client may meet (docs/api.md's table) is named in the
    Problem schema's code description, so that the OpenAPI document
    alone tells a client generator every code."""
    described = openapi_doc()["components"]["schemas"]["Problem"]["properties"]["code"]["description"]
    named = set(re.findall(r"[a-z_]+", described))
    missing = [c for c in api_md_error_codes() if c not in named]
    assert not missing, "docs/openapi.json's Problem.code does not name: " + ", ".join(missing)
