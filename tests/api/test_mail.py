"""Outgoing mail (src/mail/): the "mail.send" job against a real SMTP
server (smtp_sink.py) and without one (the log).

Most tests queue mail.send jobs straight into the jobs table, with the
payload sealed as mail_job seals it (libsodium through ctypes, the server
secret given by PACE_JWT_SECRET): the job is what is under test here,
whatever route queues it. One test goes through the API (a verification
link) when the account routes are there.

Retries are quick: the job queue's first backoff is about a second, doubling."""

import base64
import ctypes
import ctypes.util
import json
import os
import re
import sqlite3
import ssl
import subprocess
import time

import pytest
import requests

import harness
from harness import DEV, metric_value, scrape, wait_until
from helpers import new_user
from smtp_sink import Sink, smtp, token_from  # noqa: F401  (smtp is a fixture)

# The sink's AUTH runs without TLS on loopback, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SECRET = "test-mail-secret-0123456789abcdef0123456789"
TOKEN = "A" * 20 + "b-_" + "Z" * 20  # 43 characters of base64url

_sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
_sodium.sodium_init()
_sodium.crypto_generichash.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                       ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_size_t]
_sodium.crypto_kdf_derive_from_key.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64,
                                               ctypes.c_char_p, ctypes.c_char_p]
_sodium.crypto_secretbox_easy.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong,
                                          ctypes.c_char_p, ctypes.c_char_p]


def seal(plain, secret=SECRET, context=b"mailjob1"):
    """util/seal.c's seal(): "s1." + base64url(nonce || secretbox)."""
    s = secret.encode()
    master = ctypes.create_string_buffer(32)
    assert _sodium.crypto_generichash(master, 32, s, len(s), None, 0) == 0
    key = ctypes.create_string_buffer(32)
    assert _sodium.crypto_kdf_derive_from_key(key, 32, 1, context, master.raw) == 0
    nonce = os.urandom(24)
    box = ctypes.create_string_buffer(len(plain) + 16)
    assert _sodium.crypto_secretbox_easy(box, plain, len(plain), nonce, key.raw) == 0
    return "s1." + base64.urlsafe_b64encode(nonce + box.raw).rstrip(b"=").decode()


def payload(kind="verify_email", to="ann@example.com", username="ann", link=None, new_email=None,
            valid_minutes=30, request_id="req-test", message_id=None, public_url="http://mail.test"):
    if link is None and kind in ("verify_email", "password_reset"):
        page = "verify-email" if kind == "verify_email" else "reset-password"
        link = f"{public_url}/app/{page}#token={TOKEN}"
    body = {"kind": kind, "to": to, "username": username, "link": link, "new_email": new_email,
            "valid_minutes": valid_minutes, "request_id": request_id,
            "message_id": message_id or os.urandom(12).hex()}
    return seal(json.dumps(body).encode())


def sql(srv, statement, params=()):
    """Runs one statement on the server's database; returns the rows."""
    if harness.BACKEND == "postgres":
        for p in params:
            v = "NULL" if p is None else ("'" + str(p).replace("'", "''") + "'" if isinstance(p, str) else str(p))
            statement = statement.replace("?", v, 1)
        out = harness.pg_query(srv.database, statement)
        return [tuple(line.split("|")) for line in out.splitlines() if line]
    con = sqlite3.connect(str(srv.data_dir / "pace.db"), timeout=10)
    try:
        rows = con.execute(statement, params).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def enqueue(srv, **kw):
    """Queues a mail.send job as mail_queue does; returns its id."""
    now = int(time.time() * 1000)
    sealed = payload(**kw)
    sql(srv, "INSERT INTO jobs (kind, payload, state, run_at, created_at, updated_at) "
             "VALUES ('mail.send', ?, 'queued', ?, ?, ?)", (sealed, now, now, now))
    rows = sql(srv, "SELECT id FROM jobs WHERE payload = ?", (sealed,))
    return int(rows[0][0])


def job(srv, job_id):
    rows = sql(srv, "SELECT state, attempts, last_error FROM jobs WHERE id = ?", (job_id,))
    state, attempts, last_error = rows[0]
    return {"state": state, "attempts": int(attempts), "last_error": last_error}


def wait_job(srv, job_id, state, timeout=20):
    return wait_until(lambda: job(srv, job_id)["state"] == state and job(srv, job_id), timeout,
                      f"job {job_id} {state}: {job(srv, job_id)}")


def mail_lines(srv):
    return [x for x in srv.log_lines() if x.get("component") == "mail"]


def metrics(srv):
    return scrape(srv.url)


def start(make_server, env=None, **kw):
    base = {"PACE_JWT_SECRET": SECRET, "PACE_PUBLIC_URL": "http://mail.test", "PACE_JOB_MAX_ATTEMPTS": "4",
            **DEV}
    base.update(env or {})
    return make_server(env=base, **kw)


def assert_no_token(srv):
    out = srv.stdout() + srv.stderr()
    assert TOKEN not in out and TOKEN[:10] not in out, "the token reached the log"


# ---------------------------------------------------------------- log mode

def test_without_smtp_mail_is_logged_with_links_redacted(make_server):
    srv = start(make_server)
    jid = enqueue(srv, to="bob.smith@example.com", username="bob")
    wait_job(srv, jid, "done")
    lines = mail_lines(srv)
    assert any("written to the log" in x["msg"] for x in lines), lines
    sent = [x for x in lines if "Subject:" in x["msg"]]
    assert len(sent) == 1, lines
    line = sent[0]
    assert line["level"] == "info" and line.get("request_id") == "req-test", line
    msg = line["msg"]
    assert "Confirm your email address" in msg and "Hello bob" in msg, msg
    assert "http://mail.test/app/verify-email#token=AAAA\u2026" in msg, msg
    assert "bob.smith@" not in msg and "b***@example.com" in msg, msg
    assert_no_token(srv)
    assert metric_value(metrics(srv), "pace_mail_logged_total") == 1


def test_log_mode_masks_every_address(make_server):
    srv = start(make_server)
    jid = enqueue(srv, kind="email_changed", to="old.addr@example.com", new_email="new.addr@example.org")
    wait_job(srv, jid, "done")
    msg = [x for x in mail_lines(srv) if "Subject:" in x["msg"]][0]["msg"]
    assert "email address was changed" in msg and "n***@example.org" in msg, msg
    assert "old.addr" not in msg and "new.addr" not in msg, msg


def test_a_payload_that_does_not_open_is_dead_at_once(make_server):
    srv = start(make_server)
    now = int(time.time() * 1000)
    sql(srv, "INSERT INTO jobs (kind, payload, state, run_at, created_at, updated_at) "
             "VALUES ('mail.send', ?, 'queued', ?, ?, ?)", ('{"kind":"verify_email"}', now, now, now))
    jid = int(sql(srv, "SELECT max(id) FROM jobs WHERE kind = 'mail.send'")[0][0])
    j = wait_job(srv, jid, "dead")
    assert j["attempts"] == 1 and "payload" in j["last_error"], j
    wait_until(lambda: any("given up" in x["msg"] and x["level"] == "error" for x in mail_lines(srv)), 5,
               "the given-up line")


# ---------------------------------------------------------------- SMTP

def test_sent_over_smtp_multipart_with_headers(make_server, smtp):
    srv = start(make_server, env={"PACE_SMTP_URL": smtp.url, "PACE_MAIL_FROM": "Pace Mail <robot@pace.test>"})
    assert any(f"127.0.0.1:{smtp.port}" in x["msg"] for x in mail_lines(srv)), mail_lines(srv)
    jid = enqueue(srv, kind="password_reset", to="cat@example.com", username="<cat & co>", valid_minutes=30)
    msg = smtp.wait_for(lambda m: m.to == ["cat@example.com"])
    wait_job(srv, jid, "done")
    assert msg.mail_from == "robot@pace.test"
    assert msg.subject == "Reset your pace password"
    assert msg.header("From") == "Pace Mail <robot@pace.test>"
    assert msg.header("To") == "cat@example.com"
    assert msg.header("MIME-Version") == "1.0"
    assert msg.header("Auto-Submitted") == "auto-generated"
    assert re.fullmatch(r"<[0-9a-f]{24}@pace\.test>", msg.header("Message-ID")), msg.header("Message-ID")
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", msg.header("Date"))
    assert msg.msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.msg.iter_parts()]
    assert parts == ["text/plain", "text/html"], parts
    assert all(p.get_content_charset() == "utf-8" for p in msg.msg.iter_parts())
    assert token_from(msg) == TOKEN
    assert f"http://mail.test/app/reset-password#token={TOKEN}" in msg.text
    assert "Hello <cat & co>," in msg.text and "30 minutes" in msg.text
    assert "&lt;cat &amp; co&gt;" in msg.html and "<cat" not in msg.html
    assert f'href="http://mail.test/app/reset-password#token={TOKEN}"' in msg.html
    assert "not ask for this" in msg.text
    assert_no_token(srv)
    assert metric_value(metrics(srv), "pace_mail_sent_total") == 1


@pytest.mark.parametrize("at", ["DATA", "RCPT"])
def test_tempfail_is_retried_and_delivered_once(make_server, smtp, at):
    srv = start(make_server, env={"PACE_SMTP_URL": smtp.url})
    smtp.tempfail(2, at=at)
    jid = enqueue(srv, kind="mfa_enabled", to="dan@example.com")
    j = wait_job(srv, jid, "done", timeout=30)
    assert j["attempts"] == 3, j
    time.sleep(0.5)
    got = smtp.to("dan@example.com")
    assert len(got) == 1 and "turned on" in got[0].subject, got
    m = metrics(srv)
    assert metric_value(m, "pace_mail_failed_total", reason="retry") == 2
    assert metric_value(m, "pace_mail_sent_total") == 1


@pytest.mark.parametrize("at", ["DATA", "RCPT"])
def test_permfail_is_given_up(make_server, smtp, at):
    srv = start(make_server, env={"PACE_SMTP_URL": smtp.url})
    smtp.permfail(1, at=at)
    jid = enqueue(srv, kind="password_changed", to="eve.long@example.com", request_id="req-550")
    j = wait_job(srv, jid, "dead")
    assert j["attempts"] == 1 and "550" in j["last_error"], j
    line = wait_until(lambda: [x for x in mail_lines(srv) if "given up" in x["msg"]], 5, "the given-up line")[0]
    assert line["level"] == "error" and line.get("request_id") == "req-550", line
    assert "e***@example.com" in line["msg"] and "eve.long" not in line["msg"], line
    assert metric_value(metrics(srv), "pace_mail_failed_total", reason="gave_up") == 1
    assert smtp.to("eve.long@example.com") == []


def test_hang_times_out_and_is_retried(make_server, smtp):
    srv = start(make_server, env={"PACE_SMTP_URL": smtp.url, "PACE_SMTP_TIMEOUT": "1"})
    smtp.hang(1)
    jid = enqueue(srv, kind="mfa_disabled", to="fay@example.com")
    msg = smtp.wait_for(lambda m: m.to == ["fay@example.com"], timeout=20)
    j = wait_job(srv, jid, "done")
    assert j["attempts"] == 2, j
    assert "turned off" in msg.subject
    assert len(smtp.to("fay@example.com")) == 1


def test_drop_mid_message_is_retried(make_server, smtp):
    srv = start(make_server, env={"PACE_SMTP_URL": smtp.url})
    smtp.drop(1)
    jid = enqueue(srv, kind="email_changed", to="gus@example.com", new_email="gus@new.example")
    msg = smtp.wait_for(lambda m: m.to == ["gus@example.com"], timeout=20)
    j = wait_job(srv, jid, "done")
    assert j["attempts"] == 2, j
    assert "gus@new.example" in msg.text and "gus@new.example" in msg.html
    assert len(smtp.to("gus@example.com")) == 1


def test_unreachable_server_is_retried_then_given_up(make_server):
    port = harness.free_port()  # nothing listens there
    srv = start(make_server, env={"PACE_SMTP_URL": f"smtp://127.0.0.1:{port}", "PACE_JOB_MAX_ATTEMPTS": "2"})
    jid = enqueue(srv, kind="mfa_enabled", to="hal@example.com")
    j = wait_job(srv, jid, "dead", timeout=20)
    assert j["attempts"] == 2, j
    m = metrics(srv)
    assert metric_value(m, "pace_mail_failed_total", reason="retry") == 2
    assert metric_value(m, "pace_mail_failed_total", reason="gave_up") == 1


def test_sigkill_with_mail_queued_delivers_each_once_after_restart(make_server, smtp, tmp_path):
    env = {"PACE_SMTP_URL": smtp.url, "PACE_JOB_LEASE_SECONDS": "2", "PACE_JOB_MAX_ATTEMPTS": "10"}
    srv = start(make_server, env=env)
    smtp.hang(1000)  # every conversation hangs: the jobs are running when pace dies
    ids = [enqueue(srv, kind="mfa_enabled", to=f"u{i}@example.com") for i in range(3)]
    ids += [enqueue(srv, kind="mfa_enabled", to=f"u{i}@example.com") for i in range(3, 6)]
    wait_until(lambda: smtp.connections >= 2, 10, "hanging SMTP conversations")
    srv.kill()  # SIGKILL
    smtp.normal()
    srv2 = start(make_server, env=env, tmp_path=tmp_path)
    for jid in ids:
        wait_job(srv2, jid, "done", timeout=30)
    time.sleep(1)
    for i in range(6):
        got = smtp.to(f"u{i}@example.com")
        assert len(got) == 1, (i, got)
    assert len({m.header("Message-ID") for m in smtp.messages}) == 6


def test_shutdown_hands_a_hanging_send_back(make_server, smtp, tmp_path):
    env = {"PACE_SMTP_URL": smtp.url, "PACE_SHUTDOWN_TIMEOUT": "1"}
    srv = start(make_server, env=env)
    smtp.hang(1)
    jid = enqueue(srv, kind="mfa_enabled", to="ned@example.com")
    wait_until(lambda: smtp.connections >= 1 and job(srv, jid)["state"] == "running", 10, "a hanging send")
    t0 = time.monotonic()
    assert srv.stop(timeout=10) == 0
    assert time.monotonic() - t0 < 6
    j = job(srv, jid)
    assert j["state"] == "queued" and j["attempts"] == 0, j
    srv2 = start(make_server, env=env, tmp_path=tmp_path)
    wait_job(srv2, jid, "done")
    assert len(smtp.to("ned@example.com")) == 1


def test_worker_sends_mail(make_server, smtp):
    srv = start(make_server, env={"PACE_SMTP_URL": smtp.url}, role="worker")
    jid = enqueue(srv, kind="password_changed", to="oda@example.com")
    msg = smtp.wait_for(lambda m: m.to == ["oda@example.com"])
    wait_job(srv, jid, "done")
    assert "password was changed" in msg.subject


def test_authentication(make_server):
    sink = Sink(auth=("mailer", "s3cret-pass"))
    try:
        srv = start(make_server, env={"PACE_SMTP_URL": sink.url, "PACE_SMTP_USER": "mailer",
                                      "PACE_SMTP_PASSWORD": "s3cret-pass"})
        jid = enqueue(srv, kind="mfa_enabled", to="pat@example.com")
        sink.wait_for(lambda m: m.to == ["pat@example.com"])
        wait_job(srv, jid, "done")
        assert ("mailer", True) in sink.auth_attempts
        assert "s3cret-pass" not in srv.stdout() + srv.stderr()
    finally:
        sink.stop()


def test_refused_authentication_is_retried(make_server):
    sink = Sink(auth=("mailer", "s3cret-pass"))
    try:
        srv = start(make_server, env={"PACE_SMTP_URL": sink.url, "PACE_SMTP_USER": "mailer",
                                      "PACE_SMTP_PASSWORD": "wrong-pass", "PACE_JOB_MAX_ATTEMPTS": "2"})
        jid = enqueue(srv, kind="mfa_enabled", to="quin@example.com")
        j = wait_job(srv, jid, "dead", timeout=20)
        assert j["attempts"] == 2 and "535" in j["last_error"], j
        assert sink.messages == [] and ("mailer", False) in sink.auth_attempts
        assert "wrong-pass" not in srv.stdout() + srv.stderr()
    finally:
        sink.stop()


def test_starttls_offered_is_used_and_an_untrusted_certificate_sends_nothing(make_server, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    sink = Sink(tls_context=ctx)
    try:
        srv = start(make_server, env={"PACE_SMTP_URL": sink.url, "PACE_JOB_MAX_ATTEMPTS": "1"})
        jid = enqueue(srv, kind="mfa_enabled", to="rob@example.com")
        j = wait_job(srv, jid, "dead", timeout=20)
        # STARTTLS was offered, so pace went for TLS, and an unverified
        # certificate ends the conversation before any MAIL FROM.
        assert "certificate" in j["last_error"].lower() or "ssl" in j["last_error"].lower(), j
        assert sink.messages == []
    finally:
        sink.stop()


def test_invalid_mail_settings_stop_startup(tmp_path):
    for env in ({"PACE_SMTP_URL": "http://mail.example.com"}, {"PACE_MAIL_FROM": "nobody"},
                {"PACE_PUBLIC_URL": "ftp://x.example"}, {"PACE_SMTP_TIMEOUT": "0"},
                {"PACE_RESET_TOKEN_TTL": "59"}, {"PACE_VERIFY_TOKEN_TTL": "2592001"},
                {"PACE_MFA_TOKEN_TTL": "29"}):
        port = harness.free_port()
        rc, out, err = harness.run_pace(["serve", "--data-dir", str(tmp_path / "data"), "--listen",
                                         f"127.0.0.1:{port}"], tmp_path, env=env, health_port=port)
        assert rc == 1, (env, rc, out, err)
        name = next(iter(env))
        assert name in out + err, (env, out, err)


def test_smtp_password_never_shown(make_server, smtp, tmp_path):
    rc, out, err = harness.run_pace(["--help"], tmp_path, env={"PACE_SMTP_PASSWORD": "hunter2-secret"})
    assert rc == 0 and "PACE_SMTP_PASSWORD" in out and "hunter2" not in out + err
    srv = start(make_server, env={"PACE_SMTP_URL": smtp.url, "PACE_SMTP_USER": "mailer",
                                  "PACE_SMTP_PASSWORD": "hunter2-secret"})
    assert "hunter2" not in srv.stdout() + srv.stderr()


# ---------------------------------------------------------------- through the API

def test_verification_link_under_public_url(make_server, smtp):
    srv = start(make_server, env={"PACE_SMTP_URL": smtp.url, "PACE_PUBLIC_URL": "https://app.example.com/"})
    user = new_user(srv)
    access = user["access"]
    r = requests.post(srv.url + "/api/v1/users/me/verify-email", headers={"Authorization": f"Bearer {access}"},
                      timeout=10)
    if r.status_code == 404:
        pytest.skip("the account routes (verify-email) are not on this branch")
    assert r.status_code in (202, 409), r.text
    msg = smtp.wait_for(lambda m: m.to == [user["email"]])
    t = token_from(msg)
    assert f"https://app.example.com/app/verify-email#token={t}" in msg.text
    assert t not in srv.stdout() + srv.stderr()
