"""docs/openapi.json's security against the running server: the two
security schemes (bearerAuth, oauth2Password) and where they apply, the
relative server entry that lets /docs "try it" call the pace that serves
it, and the web pages. The live check: every documented operation called
without a token answers 401 `unauthorized` (the Bearer hook of the route
table's ROUTE_AUTH routes) exactly when the document lists the two
schemes on it."""

import json
import re
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
OPENAPI = REPO / "docs" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch")
BEARER = [{"bearerAuth": []}, {"oauth2Password": []}]


def doc():
    return json.loads(OPENAPI.read_text())


def operations(d):
    for path, item in d["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def is_web(op):
    return "web" in op.get("tags", [])


def test_security_schemes():
    schemes = doc()["components"]["securitySchemes"]
    assert set(schemes) == {"bearerAuth", "oauth2Password"}, schemes
    b = schemes["bearerAuth"]
    assert (b["type"], b["scheme"], b.get("bearerFormat")) == ("http", "bearer", "JWT")
    flow = schemes["oauth2Password"]["flows"]
    assert set(flow) == {"password"}
    assert flow["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert flow["password"]["refreshUrl"] == "/api/v1/auth/token"


def test_servers_is_relative_and_paths_are_absolute():
    d = doc()
    assert d["servers"] == [{"url": "/", "description": d["servers"][0].get("description")}], d["servers"]
    for path in d["paths"]:
        assert path.startswith("/") and not path.startswith("//"), path


def test_every_operation_is_public_or_lists_both_schemes():
    d = doc()
    assert "security" not in d, "no document-wide security: each operation says its own"
    wrong = [f"{m.upper()} {p}: {op.get('security')!r}" for p, m, op in operations(d)
             if op.get("security") not in ([], BEARER)]
    assert not wrong, "operations with another security than [] or bearerAuth|oauth2Password:\n  " + \
        "\n  ".join(wrong)


def test_web_pages_are_public_html():
    d = doc()
    web = {(m, p) for p, m, op in operations(d) if is_web(op)}
    assert web == {("get", "/"), ("get", "/app/{path}"), ("get", "/docs")}, web
    for p, m, op in operations(d):
        if is_web(op):
            assert op["security"] == []
            assert "PACE_WEB=off" in op["description"]
            ok = op["responses"].get("200") or op["responses"].get("302")
            assert ok, p
    assert "text/html" in d["paths"]["/docs"]["get"]["responses"]["200"]["content"]
    assert "text/html" in d["paths"]["/app/{path}"]["get"]["responses"]["200"]["content"]


def test_forbidden_origin_is_documented():
    d = doc()
    assert "forbidden_origin" in d["components"]["schemas"]["Problem"]["properties"]["code"]["description"]
    for what in ("login", "refresh", "logout", "mfa"):
        op = d["paths"][f"/api/v1/auth/web/{what}"]["post"]
        # A web login can also be refused for an unverified address.
        want = "WebLoginForbidden" if what == "login" else "ForbiddenOrigin"
        assert op["responses"]["403"] == {"$ref": f"#/components/responses/{want}"}
        assert op["security"] == []
    both = d["components"]["responses"]["WebLoginForbidden"]["description"]
    assert "forbidden_origin" in both and "email_not_verified" in both
    for what in ("refresh", "logout"):
        params = d["paths"][f"/api/v1/auth/web/{what}"]["post"]["parameters"]
        assert {"$ref": "#/components/parameters/RefreshCookie"} in params
    cookie = d["components"]["parameters"]["RefreshCookie"]
    assert (cookie["in"], cookie["name"]) == ("cookie", "pace_refresh")


def _call_without_token(srv, method, path):
    url = srv.url + re.sub(r"\{[^}]+\}", "1", path)
    kw = {"json": {}} if method in ("post", "put", "patch", "delete") else {}
    return requests.request(method.upper(), url, timeout=10, **kw)


def test_operations_needing_a_token_are_the_ones_that_say_so(server):
    """Without a token, a ROUTE_AUTH route answers 401 unauthorized before
    its handler; no other route does. The document must agree."""
    d = doc()
    wrong = []
    for path, method, op in operations(d):
        if is_web(op):
            continue  # pages, perhaps not built in: checked above
        r = _call_without_token(server, method, path)
        needs_token = r.status_code == 401 and r.headers.get("content-type", "").startswith(
            "application/problem+json") and r.json().get("code") == "unauthorized"
        declared = op.get("security") == BEARER
        if needs_token != declared:
            wrong.append(f"{method.upper()} {path}: answered {r.status_code} without a token, "
                         f"but the document says security {op.get('security')!r}")
    assert not wrong, "docs/openapi.json's security and the server disagree:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("path", ["/api/v1/openapi.json"])
def test_served_document_has_the_schemes(server, path):
    served = requests.get(server.url + path, timeout=5).json()
    assert served["servers"][0]["url"] == "/"
    assert set(served["components"]["securitySchemes"]) == {"bearerAuth", "oauth2Password"}
