"""A real SMTP server for the API tests: aiosmtpd on 127.0.0.1 behind a
small front listener of our own, so that one port can also misbehave.

    from smtp_sink import smtp, token_from  # noqa: F401  (smtp is a fixture)

    def test_x(smtp, make_server):
        srv = make_server(env={"PACE_SMTP_URL": smtp.url})
        ...
        msg = smtp.wait_for(lambda m: m.to == ["a@example.com"])
        token = token_from(msg)

Sink(tls_context=ctx) offers STARTTLS; Sink(auth=(user, password))
requires authentication.

Modes, each for the next `count` connections (or messages), then normal:
- smtp.tempfail(count, at="DATA"|"RCPT"): answer 451 there;
- smtp.permfail(count, at="DATA"|"RCPT"): answer 550 there;
- smtp.hang(count): accept the connection and never say a word;
- smtp.drop(count): speak SMTP up to DATA, read part of the message, close.
smtp.messages holds every accepted message (a Message: to, mail_from,
subject, text, html, headers, raw), smtp.connections counts connections.
"""

import email
import email.policy
import re
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

TOKEN_RE = re.compile(r"#token=([A-Za-z0-9_-]{43})")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Message:
    def __init__(self, mail_from, rcpt_tos, raw):
        self.mail_from = mail_from
        self.to = list(rcpt_tos)
        self.raw = raw
        self.msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.subject = str(self.msg.get("Subject", ""))
        self.headers = self.msg
        self.text = None
        self.html = None
        for part in self.msg.walk():
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            if ctype == "text/plain" and self.text is None:
                self.text = part.get_content()
            elif ctype == "text/html" and self.html is None:
                self.html = part.get_content()

    def header(self, name):
        v = self.msg.get(name)
        return None if v is None else str(v)

    def __repr__(self):
        return f"<Message to={self.to} subject={self.subject!r}>"


def token_from(msg):
    """The token of the link in msg's text part (fails the test without one)."""
    m = TOKEN_RE.search(msg.text or "")
    assert m, f"no #token= link in the text part of {msg!r}:\n{msg.text}"
    return m.group(1)


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink._failure("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.sink._failure("DATA")
        if reply:
            return reply
        self.sink._accept(Message(envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 Message accepted for delivery"


class Sink:
    def __init__(self, tls_context=None, auth=None):
        """tls_context: an ssl.SSLContext to offer STARTTLS with; auth:
        (user, password) the client must authenticate with (AUTH PLAIN or
        LOGIN, allowed without TLS here)."""
        self.messages = []
        self.connections = 0
        self._cond = threading.Condition()
        self._mode = None  # None, "tempfail", "permfail", "hang", "drop"
        self._count = 0
        self._at = "DATA"
        self._open = []  # sockets held open (hang) or proxied, closed at stop
        self._stopping = False
        self._backend_port = _free_port()
        kw = {}
        if tls_context is not None:
            kw["tls_context"] = tls_context
        if auth is not None:
            kw.update(authenticator=self._authenticator, auth_required=True, auth_require_tls=False)
        self._auth = auth
        self.auth_attempts = []  # (login, success)
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self._backend_port, **kw)
        self._controller.start()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.url = f"smtp://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
        password = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
        ok = (login, password) == tuple(self._auth)
        with self._cond:
            self.auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False)

    # -- modes
    def normal(self):
        with self._cond:
            self._mode, self._count = None, 0

    def tempfail(self, count=1, at="DATA"):
        self._set("tempfail", count, at)

    def permfail(self, count=1, at="DATA"):
        self._set("permfail", count, at)

    def hang(self, count=1):
        self._set("hang", count)

    def drop(self, count=1):
        self._set("drop", count)

    def _set(self, mode, count, at="DATA"):
        assert at in ("DATA", "RCPT")
        with self._cond:
            self._mode, self._count, self._at = mode, count, at

    def _take(self, modes, at=None):
        """True (and one fewer left) when the current mode is one of modes."""
        with self._cond:
            if self._mode in modes and self._count > 0 and (at is None or at == self._at):
                self._count -= 1
                mode = self._mode
                if self._count == 0:
                    self._mode = None
                return mode
            return None

    def _failure(self, at):
        mode = self._take(("tempfail", "permfail"), at)
        if mode == "tempfail":
            return "451 4.3.0 Temporary failure, try again later"
        if mode == "permfail":
            return "550 5.1.1 Mailbox unavailable"
        return None

    def _accept(self, msg):
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    # -- results
    def wait_for(self, predicate=lambda m: True, timeout=10.0):
        """The first accepted message for which predicate(msg) holds,
        waiting up to timeout seconds (fails the test otherwise)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message within {timeout}s; got {self.messages}")
                self._cond.wait(min(left, 0.2))

    def wait_count(self, n, timeout=10.0, predicate=lambda m: True):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.messages if predicate(m)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(got)} of {n} messages within {timeout}s: {self.messages}")
                self._cond.wait(min(left, 0.2))

    def to(self, address):
        with self._cond:
            return [m for m in self.messages if address in m.to]

    # -- the front listener
    def _accept_loop(self):
        while not self._stopping:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._cond:
                self.connections += 1
                self._open.append(conn)
            mode = self._take(("hang", "drop"))
            if mode == "hang":
                continue  # held open, never answered, closed at stop()
            target = self._drop if mode == "drop" else self._proxy
            threading.Thread(target=target, args=(conn,), daemon=True).start()

    def _drop(self, conn):
        """SMTP up to DATA, then the connection closes in the middle of the message."""
        try:
            conn.settimeout(10)
            f = conn.makefile("rb")
            conn.sendall(b"220 sink ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250-sink\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    f.readline()  # part of the message, then gone
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def _proxy(self, conn):
        try:
            up = socket.create_connection(("127.0.0.1", self._backend_port), timeout=10)
        except OSError:
            conn.close()
            return
        with self._cond:
            self._open.append(up)
        # Forward each small SMTP line at once: without this, Nagle's
        # algorithm meets delayed ACKs and every message waits ~40 ms.
        for s in (conn, up):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        t = threading.Thread(target=pump, args=(up, conn), daemon=True)
        t.start()
        pump(conn, up)
        t.join(5)
        conn.close()
        up.close()

    def stop(self):
        self._stopping = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        try:
            self._listener.close()
        except OSError:
            pass
        with self._cond:
            socks, self._open = self._open, []
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        self._controller.stop()


@pytest.fixture
def smtp():
    sink = Sink()
    yield sink
    sink.stop()
