"""Configuration: --help, invalid values stop start-up, precedence
flag > environment > .env > default, flag spellings, dev endpoints off by
default, and the generated JWT secret."""

import json
import os
import re
import stat

import pytest
import requests

from harness import DEV, free_port, run_pace, wait_until

SETTINGS = [
    "PACE_LISTEN", "PACE_THREADS", "PACE_DATA_DIR", "PACE_DATABASE_URL", "PACE_LOG_LEVEL",
    "PACE_LOG_FORMAT", "PACE_ACCESS_LOG", "PACE_MAX_BODY_BYTES", "PACE_SHUTDOWN_TIMEOUT",
    "PACE_JWT_SECRET", "PACE_REQUEST_TIMEOUT", "PACE_MAX_CONNECTIONS", "PACE_HASH_THREADS",
    "PACE_HASH_QUEUE", "PACE_BLOCKING_THREADS", "PACE_BLOCKING_QUEUE", "PACE_DEV_ENDPOINTS",
    "PACE_SMTP_URL", "PACE_SMTP_USER", "PACE_SMTP_PASSWORD", "PACE_MAIL_FROM", "PACE_SMTP_TIMEOUT",
    "PACE_PUBLIC_URL", "PACE_REQUIRE_VERIFIED_EMAIL", "PACE_VERIFY_TOKEN_TTL", "PACE_RESET_TOKEN_TTL",
    "PACE_MFA_TOKEN_TTL", "PACE_RATE_LIMIT_MAIL", "PACE_RATE_LIMIT_MAIL_IP",
]


# ---------------------------------------------------------------- --help

@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"]], ids=["pace", "serve"])
def test_help_lists_every_setting_with_default(tmp_path, args):
    rc, out, err = run_pace(args, tmp_path)
    assert rc == 0, f"exit {rc}\n{err}"
    text = out + err
    positions = {}
    for name in SETTINGS:
        m = re.search(r"\b" + re.escape(name) + r"\b", text)
        assert m, f"{name} not in `pace {' '.join(args)}` output:\n{text}"
        positions[name] = m.start()
    # each setting's entry (up to the next setting) states a default
    starts = sorted(positions.values()) + [len(text)]
    for name, pos in positions.items():
        end = min(s for s in starts if s > pos)
        entry = text[pos:end]
        assert "default" in entry.lower(), f"no default shown for {name}: {entry!r}"
        if name == "PACE_MAX_BODY_BYTES":
            assert re.search(r"1048576|1 ?MiB", entry), f"default of {name} is 1 MiB: {entry!r}"
        if name == "PACE_DEV_ENDPOINTS":
            assert "off" in entry.lower(), f"dev endpoints default off: {entry!r}"


# ---------------------------------------------------------------- invalid values

def start_fails(tmp_path, env=None, args=None, listen=True, dotenv=None):
    port = free_port()
    cmd = ["serve", "--data-dir", str(tmp_path / "data")]
    if listen:
        cmd += ["--listen", f"127.0.0.1:{port}"]
    rc, out, err = run_pace(cmd + (args or []), tmp_path, env=env, dotenv=dotenv,
                            health_port=port if listen else None)
    assert rc is not None, f"pace started despite env={env} args={args}\nstderr: {err}\nstdout: {out}"
    assert rc == 1, f"exit code {rc} (expected 1) for env={env} args={args}\nstderr: {err}"
    return err


@pytest.mark.parametrize("name,value", [
    ("PACE_THREADS", "abc"),
    ("PACE_THREADS", "0"),
    ("PACE_THREADS", "2x"),
    ("PACE_MAX_BODY_BYTES", "-5"),
    ("PACE_REQUEST_TIMEOUT", "soon"),
    ("PACE_ACCESS_LOG", "maybe"),
    ("PACE_HASH_QUEUE", "0"),
    ("PACE_ACCESS_TOKEN_TTL", "4"),
    ("PACE_WEB", "maybe"),
    ("PACE_SMTP_TIMEOUT", "601"),
    ("PACE_REQUIRE_VERIFIED_EMAIL", "maybe"),
    ("PACE_VERIFY_TOKEN_TTL", "299"),
    ("PACE_RESET_TOKEN_TTL", "86401"),
    ("PACE_MFA_TOKEN_TTL", "3601"),
    ("PACE_RATE_LIMIT_MAIL", "0"),
    ("PACE_RATE_LIMIT_MAIL_IP", "x"),
])
def test_invalid_env_value_stops_startup(tmp_path, name, value):
    err = start_fails(tmp_path, env={name: value})
    assert name in err, f"stderr does not name {name}: {err!r}"


def test_invalid_log_format_lists_choices(tmp_path):
    err = start_fails(tmp_path, env={"PACE_LOG_FORMAT": "xml"})
    assert "PACE_LOG_FORMAT" in err, err
    assert "json" in err and "text" in err, f"stderr should list json and text: {err!r}"


def test_invalid_listen_stops_startup(tmp_path):
    err = start_fails(tmp_path, env={"PACE_LISTEN": "nonsense"}, listen=False)
    assert "PACE_LISTEN" in err, err


def test_invalid_flag_value_stops_startup(tmp_path):
    err = start_fails(tmp_path, args=["--threads", "abc"])
    assert "--threads" in err or "PACE_THREADS" in err, err


def test_unknown_flag_stops_startup(tmp_path):
    err = start_fails(tmp_path, args=["--bogus"])
    assert "bogus" in err, err


def test_invalid_dotenv_value_stops_startup(tmp_path):
    err = start_fails(tmp_path, dotenv="PACE_MAX_BODY_BYTES=lots\n")
    assert "PACE_MAX_BODY_BYTES" in err, err


# ---------------------------------------------------------------- precedence

def log_format_of(srv):
    """'json' or 'text': make a request, wait for its access line (found by
    its request id in the raw output), then classify every stdout line."""
    r_id = "fmt-" + os.urandom(6).hex()
    assert requests.get(srv.url + "/health", headers={"X-Request-Id": r_id}, timeout=5).status_code == 200
    wait_until(lambda: any(r_id in ln for ln in srv.stdout_lines()), 5, f"a log line with {r_id}")
    lines = srv.stdout_lines()

    def is_json(ln):
        try:
            return isinstance(json.loads(ln), dict)
        except ValueError:
            return False

    kinds = {is_json(ln) for ln in lines}
    assert len(kinds) == 1, f"mixed JSON and text lines: {lines[:10]}"
    return "json" if kinds == {True} else "text"


def test_dotenv_applies(make_server):
    srv = make_server(dotenv="PACE_LOG_FORMAT=text\n")
    assert log_format_of(srv) == "text"


def test_dotenv_comments_blank_lines_and_quotes(make_server):
    srv = make_server(dotenv="# settings for this box\n\nPACE_LOG_FORMAT=\"text\"\n")
    assert log_format_of(srv) == "text"


def test_env_overrides_dotenv(make_server):
    srv = make_server(dotenv="PACE_LOG_FORMAT=text\n", env={"PACE_LOG_FORMAT": "json"})
    assert log_format_of(srv) == "json"


def test_flag_overrides_env(make_server):
    srv = make_server(env={"PACE_LOG_FORMAT": "json"}, args=["--log-format", "text"])
    assert log_format_of(srv) == "text"


def test_flag_overrides_dotenv_and_env(make_server):
    srv = make_server(dotenv="PACE_LOG_FORMAT=json\n", env={"PACE_LOG_FORMAT": "json"},
                      args=["--log-format=text"])
    assert log_format_of(srv) == "text"


def post_echo(srv, body):
    return requests.post(srv.url + "/_dev/echo", data=body, headers={"Content-Type": "application/json"},
                         timeout=5)


@pytest.mark.parametrize("args", [["--max-body-bytes", "10"], ["--max-body-bytes=10"]],
                         ids=["separate", "equals"])
def test_flag_spellings(make_server, args):
    srv = make_server(env=DEV, args=args)
    assert post_echo(srv, '{"a":1}').status_code == 200         # 7 bytes
    assert post_echo(srv, '{"a":12345}').status_code == 413     # 11 bytes


def test_flag_beats_env_for_limits(make_server):
    srv = make_server(env={**DEV, "PACE_MAX_BODY_BYTES": "10"}, args=["--max-body-bytes", "100"])
    assert post_echo(srv, '{"a":"' + "x" * 40 + '"}').status_code == 200


def test_env_beats_dotenv_for_limits(make_server):
    srv = make_server(env={**DEV, "PACE_MAX_BODY_BYTES": "100"}, dotenv="PACE_MAX_BODY_BYTES=10\n")
    assert post_echo(srv, '{"a":"' + "x" * 40 + '"}').status_code == 200
    assert post_echo(srv, '{"a":"' + "x" * 100 + '"}').status_code == 413


# ---------------------------------------------------------------- dev endpoints

def test_dev_endpoints_off_by_default(make_server):
    srv = make_server()
    for method, path in (("GET", "/_dev/routes"), ("POST", "/_dev/echo"), ("GET", "/_dev/sleep?ms=0")):
        r = requests.request(method, srv.url + path, json={"a": 1} if method == "POST" else None, timeout=5)
        assert r.status_code == 404, f"{method} {path} -> {r.status_code} with dev endpoints off"


# ---------------------------------------------------------------- JWT secret

def test_jwt_secret_generated_and_kept(make_server, tmp_path):
    srv = make_server()
    path = srv.data_dir / "jwt_secret"
    assert path.is_file(), f"{path} not created"
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, f"mode {oct(mode)}"
    first = path.read_bytes()
    assert len(first) >= 16, "secret too short"
    srv.stop()
    srv2 = make_server()  # same tmp_path, hence the same data dir
    assert srv2.data_dir == srv.data_dir
    assert requests.get(srv2.url + "/health", timeout=5).status_code == 200
    assert path.read_bytes() == first, "jwt_secret changed across a restart"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    srv2.stop()
    secret = first.decode("latin-1").strip()
    if secret.isprintable():
        for s in (srv, srv2):
            assert secret not in s.stdout() and secret not in s.stderr(), "the JWT secret was logged"


def test_short_access_token_ttl_is_allowed_with_a_warning(make_server):
    # Down to 5 s, for tests of token expiry (the browser tests); below 60 s
    # the log says it is meant for tests. The token's own lifetime says so.
    from helpers import BASE_ENV, login, register
    srv = make_server(env={**BASE_ENV, "PACE_ACCESS_TOKEN_TTL": "5"})
    r, username, _ = register(srv)
    assert r.status_code == 201, r.text
    r = login(srv, username)
    assert r.status_code == 200 and r.json()["expires_in"] == 5, r.text
    warned = [x for x in srv.log_lines() if "PACE_ACCESS_TOKEN_TTL=5" in x.get("msg", json.dumps(x))]
    assert warned and all(x.get("level") == "warn" for x in warned), srv.log_lines()[-10:]
    quiet = make_server(env={**BASE_ENV, "PACE_ACCESS_TOKEN_TTL": "60"})
    assert not [x for x in quiet.log_lines() if "PACE_ACCESS_TOKEN_TTL" in json.dumps(x)]
