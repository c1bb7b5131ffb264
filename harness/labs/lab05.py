"""Lab 05 (HTTP/1.1 file server around poll()): the document root, clients and fixtures.

Loaded as a pytest plugin for every run (harness/plugin.py), so hidden tests get the fixtures
`http_docroot` and `http_server` by name and may import the helpers:

    from harness.labs.lab05 import HttpClient, blast, parse_responses

The strict client is h11 (Debian python3-h11): every response is parsed the way a real
client parses it, so a wrong Content-Length, a body after HEAD or a missing CRLF shows up as
a framing error, not as a vague mismatch.
"""
from __future__ import annotations

import calendar
import email.utils
import hashlib
import os
import re
import selectors
import socket
import struct
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from harness import feedback as fb
from harness import timing
from harness.paths import time_scale

try:  # python3-h11; tests that need it skip with the package to install (harness/tools.py style)
    import h11
except ImportError:  # pragma: no cover - depends on the machine
    h11 = None

PROG = "http_server"
READY_HINT = "http_server must print 'listening on ADDR:PORT' (and fflush) once listen() succeeded (§2.2)"
SECRET = b"top secret: outside DOCROOT\n"
INDEX = (b"<!doctype html>\n<html><head><title>socklab</title>"
         b"<link rel=\"stylesheet\" href=\"/style.css\"></head>\n"
         b"<body><h1>It works</h1><img id=\"logo\" src=\"/img/logo.png\" alt=\"logo\">"
         b"<p id=\"out\">waiting</p><script src=\"/app.js\"></script></body></html>\n")
#: The page's script fetches two more resources and writes what it got into the DOM.
APP_JS = (b"(async () => {\n"
          b"  const out = document.getElementById('out');\n"
          b"  try {\n"
          b"    const data = await (await fetch('/data.json')).json();\n"
          b"    const text = await (await fetch('/sub/note.txt')).text();\n"
          b"    const img = document.getElementById('logo');\n"
          b"    const css = getComputedStyle(document.body).backgroundColor;\n"
          b"    out.textContent = 'loaded ' + data.word + ' ' + text.trim() + ' img=' + img.naturalWidth"
          b" + ' css=' + css;\n"
          b"  } catch (e) { out.textContent = 'error ' + e; }\n"
          b"})();\n")
STYLE = b"body { background-color: rgb(1, 2, 3); color: white; }\n"
DATA_JSON = b'{"word": "poll"}\n'
NOTE = b"fetched over keep-alive\n"


def make_png(width: int = 2, height: int = 1) -> bytes:
    """A valid RGB PNG of width x height (so a browser decodes it: naturalWidth == width)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PNG = make_png(2, 1)


@dataclass
class DocRoot:
    """The files the tests serve, with what each must contain."""

    path: Path
    files: dict = field(default_factory=dict)  # URL path -> bytes
    secret: Path = Path()
    big: bytes = b""

    def mtime(self, rel: str) -> float:
        return (self.path / rel.lstrip("/")).stat().st_mtime


def _open_up(path: Path) -> None:
    """Let another user id (the grader's sandbox) reach `path`: o+x on each folder above it."""
    for p in [path, *path.parents]:
        if str(p) in ("/", "/tmp") or p.is_symlink():
            continue
        try:
            st = p.stat()
            if st.st_uid == os.getuid():
                os.chmod(p, (st.st_mode & 0o7777) | 0o011)
        except OSError:
            pass


def make_docroot(base: Path) -> DocRoot:
    """A document root under `base` (and a secret file beside it, outside)."""
    root = base / "www"
    (root / "sub").mkdir(parents=True)
    (root / "img").mkdir()
    (root / "empty").mkdir()
    secret = base / "secret.txt"
    secret.write_bytes(SECRET)
    outside = base / "outside"
    outside.mkdir()
    (outside / "index.html").write_bytes(SECRET)
    rng = hashlib.sha256(b"socklab lab05")
    blob = bytearray()
    while len(blob) < 200_000:
        rng.update(b"x")
        blob += rng.digest()
    binary = bytes(blob[:200_000])
    big = (binary * 42)[: 8 << 20]
    files = {
        "/index.html": INDEX,
        "/style.css": STYLE,
        "/app.js": APP_JS,
        "/data.json": DATA_JSON,
        "/sub/note.txt": NOTE,
        "/sub/index.html": b"<p>sub index</p>\n",
        "/img/logo.png": PNG,
        "/bin.dat": b"\x00\x01\x00NUL\x00" + binary,
        "/big.bin": big,
        "/noext": b"no extension\n",
        "/UPPER.TXT": b"upper case extension\n",
        "/a b.txt": b"a space in the name\n",
        "/photo.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
        "/anim.gif": b"GIF89a not really a gif",
        "/logo.svg": b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
        "/empty.txt": b"",
        "/page.htm": b"<p>htm</p>\n",
        "/pic.jpeg": b"\xff\xd8\xff\xe0 jpeg",
        "/favicon.ico": b"\x00\x00\x01\x00 ico",
        "/doc.pdf": b"%PDF-1.4 not really",
        "/mod.wasm": b"\x00asm\x01\x00\x00\x00",
        "/a+b.txt": b"a plus, not a space\n",
    }
    for rel, data in files.items():
        (root / rel.lstrip("/")).write_bytes(data)
    os.symlink(secret, root / "link.txt")                   # a symlink out of DOCROOT
    os.symlink(outside, root / "linkdir")                    # a directory symlink out
    os.symlink(root / "sub" / "note.txt", root / "inside.txt")  # a symlink that stays inside
    os.mkfifo(root / "fifo")                                 # not a regular file: 403
    for p in [base, root, outside, *root.rglob("*")]:
        if p.is_symlink():
            continue
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.chmod(secret, 0o644)
    _open_up(base)
    return DocRoot(root, files, secret, big)


@pytest.fixture
def http_docroot(spawn) -> DocRoot:
    """A fresh document root for one test (index.html, CSS, JS, images, binaries, symlinks),
    where the server can read it (spawn.shared_dir(): in the sandbox, its own working folder)."""
    return make_docroot(spawn.shared_dir("lab05-"))


# ---- responses -----------------------------------------------------------------------------
@dataclass
class Response:
    """One response as h11 parsed it."""

    status: int
    reason: bytes
    version: bytes
    headers: list  # [(name lower-case bytes, value bytes)]
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        """The value of header `name` (the last one), or None."""
        key = name.lower().encode()
        vals = [v for k, v in self.headers if k == key]
        return vals[-1].decode("latin-1") if vals else None

    def all(self, name: str) -> list:
        key = name.lower().encode()
        return [v.decode("latin-1") for k, v in self.headers if k == key]

    def summary(self) -> str:
        return f"{self.status} {self.reason.decode('latin-1')}"


class ProtocolProblem(Exception):
    """The bytes received are not a valid HTTP/1.1 response (h11 says why)."""


def _fake_request(method: str, version: str):
    # h11 only sends HTTP/1.1: an HTTP/1.0 request is one that closes after its response.
    headers = [("Host", "x")] if version == "1.1" else [("Host", "x"), ("Connection", "close")]
    return h11.Request(method=method, target="/", headers=headers)


class H11Reader:
    """Parses the responses to requests sent by other means (raw bytes), in order.

    h11 must know each request's method (a response to HEAD has no body) and version; the
    requests themselves are sent by the test, byte for byte.
    """

    def __init__(self):
        self.conn = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=64 * 1024)
        self.pending: deque = deque()
        self.closed = False
        self._resp: Optional[Response] = None
        self._body: list = []

    def expect(self, method: str = "GET", version: str = "1.1") -> None:
        self.pending.append((method, version))

    def _arm(self) -> None:
        if self.conn.our_state is h11.IDLE and self.conn.their_state is h11.IDLE and self.pending:
            m, v = self.pending.popleft()
            self.conn.send(_fake_request(m, v))
            self.conn.send(h11.EndOfMessage())

    def feed(self, data: bytes) -> None:
        self.conn.receive_data(data)

    def next(self):
        """The next complete Response, "need" if more bytes are needed, or None at EOF."""
        try:
            while True:
                self._arm()
                ev = self.conn.next_event()
                if ev is h11.NEED_DATA:
                    return "need"
                if isinstance(ev, h11.ConnectionClosed):
                    self.closed = True
                    return None
                if ev is h11.PAUSED:
                    if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                        self.conn.start_next_cycle()
                        continue
                    if self.conn.their_state in (h11.MUST_CLOSE, h11.CLOSED):
                        # More bytes after a response that said it closes the connection.
                        raise ProtocolProblem("bytes arrived after a response with 'Connection: close'")
                    return "need"
                if isinstance(ev, h11.InformationalResponse):
                    continue
                if isinstance(ev, h11.Response):
                    self._resp = Response(ev.status_code, ev.reason, ev.http_version, list(ev.headers))
                    self._body = []
                elif isinstance(ev, h11.Data):
                    self._body.append(bytes(ev.data))
                elif isinstance(ev, h11.EndOfMessage):
                    resp, self._resp = self._resp, None
                    resp.body = b"".join(self._body)
                    if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                        self.conn.start_next_cycle()
                    return resp
        except h11.RemoteProtocolError as e:
            raise ProtocolProblem(f"h11 (a strict HTTP/1.1 client) cannot parse it: {e}") from None


def parse_responses(data: bytes, requests: list, eof: bool = True) -> tuple[list, bool]:
    """Parse `data` as the responses to `requests` [(method, version)]: (responses, closed)."""
    if not data:
        return [], eof
    r = H11Reader()
    for m, v in requests:
        r.expect(m, v)
    r.feed(data)
    if eof:
        r.feed(b"")
    out = []
    while True:
        resp = r.next()
        if resp is None or resp == "need":
            break
        out.append(resp)
        if len(out) == len(requests):
            break
    return out, r.closed


class HttpClient:
    """One TCP connection to the server, with h11 parsing what comes back.

    `send(raw, method, version)` sends bytes as they are (possibly malformed, possibly several
    requests) and records which responses to expect; `response()` returns the next one."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, connect: bool = True):
        self.host, self.port = host, port
        self.timeout = timing.deadline(timeout)  # stretched with the load (a reply comes at once)
        self.sent = bytearray()
        self.received = bytearray()
        self.reader = H11Reader()
        self.eof = False
        self.error: Optional[str] = None
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if connect:
            self.sock.settimeout(self.timeout)
            self.sock.connect((host, port))

    def send(self, raw: bytes, method: str = "GET", version: str = "1.1", count: int = 1) -> None:
        for _ in range(count):
            self.reader.expect(method, version)
        self.sock.sendall(raw)
        self.sent += raw

    def get(self, target: str, method: str = "GET", headers: tuple = (), version: str = "1.1",
            host: bool = True) -> None:
        lines = [f"{method} {target} HTTP/{version}"]
        if host:
            lines.append("Host: 127.0.0.1")
        lines += [f"{k}: {v}" for k, v in headers]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), method, version)

    def _recv(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 16)
        except socket.timeout:
            return False
        except OSError as e:
            self.error = e.strerror or str(e)
            data = b""
        if not data:
            self.eof = True
        self.received += data
        self.reader.feed(data)
        return True

    def response(self, timeout: Optional[float] = None):
        """The next Response; None if the server closed first; "timeout" if nothing came."""
        deadline = time.monotonic() + (timing.deadline(timeout) if timeout else self.timeout)
        while True:
            got = self.reader.next()
            if got != "need":
                return got
            if self.eof or not self._recv(deadline):
                if self.eof:
                    self.reader.feed(b"") if not self.reader.closed else None
                    got = self.reader.next()
                    return got if got != "need" else None
                return "timeout"

    def wait_eof(self, timeout: float = 3.0) -> bool:
        """True once the server has closed the connection (no more bytes), within timeout."""
        deadline = time.monotonic() + timing.deadline(timeout)
        while not self.eof:
            if not self._recv(deadline):
                return False
        return True

    def transcript(self) -> str:
        return (f"  connection sent:     {fb.quote(bytes(self.sent))}\n"
                f"  connection received: {fb.quote(bytes(self.received))}"
                + (f"\n  ({self.error})" if self.error else ""))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def blast(host: str, port: int, data: bytes, timeout: float = 5.0, shut: bool = False,
          until=None) -> tuple[bytes, str]:
    """Send `data` while reading whatever comes back, until the server closes or `timeout`.

    A server may answer (431, 400...) and close before it has read everything: sending then
    stops (EPIPE, ECONNRESET) and reading goes on. `until(received)` may end it early
    ("enough"). Returns (bytes received, how it ended: "eof", "reset", "timeout", "enough", or
    "refused (why)" when the connection could not be made)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout * time_scale())
    try:
        s.connect((host, port))
    except OSError as e:
        s.close()
        return b"", f"refused ({e.strerror or e})"
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    view = memoryview(data)
    sent = 0
    got = bytearray()
    how = "timeout"
    # A correct server answers at once: the wait stretches with the load (timing.deadline).
    deadline = time.monotonic() + timing.deadline(timeout)
    try:
        while time.monotonic() < deadline:
            for key, mask in sel.select(max(0.0, deadline - time.monotonic())):
                if mask & selectors.EVENT_WRITE and sent < len(data):
                    try:
                        sent += s.send(view[sent:sent + (1 << 16)])
                    except BlockingIOError:
                        pass
                    except OSError:
                        sent = len(data)
                    if sent >= len(data):
                        if shut:
                            try:
                                s.shutdown(socket.SHUT_WR)
                            except OSError:
                                pass
                        sel.modify(s, selectors.EVENT_READ)
                if mask & selectors.EVENT_READ:
                    try:
                        chunk = s.recv(1 << 16)
                    except BlockingIOError:
                        continue
                    except OSError:
                        how = "reset"
                        return bytes(got), how
                    if not chunk:
                        how = "eof"
                        return bytes(got), how
                    got += chunk
                    if until is not None and until(bytes(got)):
                        return bytes(got), "enough"
        return bytes(got), how
    finally:
        sel.close()
        s.close()


# ---- the server ------------------------------------------------------------------------------
class HttpSession:
    """One http_server and its document root, for one test."""

    def __init__(self, server, host: str, port: int, root: DocRoot):
        self.server, self.host, self.port, self.root = server, host, port, root
        self.clients: list = []

    def client(self, timeout: float = 5.0) -> HttpClient:
        try:
            c = HttpClient(self.host, self.port, timeout)
        except OSError as e:
            self.server.wait(1)
            state = "" if self.server.alive() else f" (http_server has exited: {self.server.exit_text()})"
            fb.fail(f"Could not connect to http_server at {self.host}:{self.port}: {e.strerror or e}{state}.",
                    details=[self.server.describe()],
                    hint="the server must keep accepting newcomers while it serves the others (§4.1)")
        self.clients.append(c)
        return c

    def details(self, *clients: HttpClient) -> list:
        return [c.transcript() for c in clients] + [self.server.describe()]

    def fetch(self, c: HttpClient, what: str, hint: str, timeout: Optional[float] = None) -> Response:
        """c's next response, which must come and parse."""
        problem = None
        try:
            r = c.response(timeout)
        except ProtocolProblem as e:
            problem = str(e)
        if problem is not None:
            fb.fail(f"{what}: the response is not valid HTTP/1.1: {problem}.", details=self.details(c), hint=hint)
        if r is None or r == "timeout":
            if r is None:
                self.server.wait(0.5)
                why = "the server closed the connection without a complete response"
            else:
                why = f"no complete response within {timing.deadline(timeout) if timeout else c.timeout:.1f} s"
            if not self.server.alive():
                why += f" (http_server has exited: {self.server.exit_text()})"
            fb.fail(f"{what}: {why}.", details=self.details(c), hint=hint)
        return r

    def request(self, target: str, what: str, hint: str, method: str = "GET", headers: tuple = (),
                version: str = "1.1", c: Optional[HttpClient] = None) -> Response:
        """One request on a new connection (or on c); its response."""
        c = c or self.client()
        c.get(target, method, headers, version)
        return self.fetch(c, what, hint)

    def expect_status(self, r: Response, status: int, what: str, hint: str, c: Optional[HttpClient] = None) -> None:
        if r.status != status:
            fb.fail(f"{what}: status {r.status}, expected {status}.",
                    received=f"{r.summary()} {r.body[:200]!r}".encode(),
                    details=self.details(*( [c] if c else [])), hint=hint)

    def expect_alive(self, why: str, hint: str) -> None:
        """The server must still run and answer a plain GET on a new connection."""
        if not self.server.alive():
            self.server.wait(1)
            fb.fail(f"http_server is no longer running after {why}: {self.server.exit_text()}.",
                    details=[self.server.describe()], hint=hint)
        r = self.request("/index.html", f"after {why}, a new client's GET /index.html", hint)
        self.expect_status(r, 200, f"after {why}, a new client's GET /index.html", hint)

    def log_lines(self) -> list:
        """The lines on stdout after 'listening on'."""
        return self.server.stdout.decode("utf-8", "replace").splitlines()[1:]

    def close(self) -> None:
        for c in self.clients:
            c.close()


@pytest.fixture
def http_server(spawn, http_docroot):
    """start(*extra_args, host="127.0.0.1", family_flag=None, **program_kwargs) -> HttpSession."""
    sessions: list = []

    def start(*args, host: str = "127.0.0.1", root: Optional[DocRoot] = None, **kwargs) -> HttpSession:
        root = root or http_docroot
        server, h, port = spawn.server(PROG, "-b", host, "-p", "0", "-r", str(root.path), *args,
                                       hint=READY_HINT, **kwargs)
        s = HttpSession(server, host, port, root)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.close()


# ---- small checks used by several tests ---------------------------------------------------
CLF = re.compile(r'^(?P<host>\S+) - - \[(?P<day>\d\d)/(?P<mon>[A-Z][a-z]{2})/(?P<year>\d{4}):'
                 r'(?P<time>\d\d:\d\d:\d\d) \+0000\] "(?P<req>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-)$')


def clf_time(m: re.Match) -> float:
    """The epoch seconds of a CLF line's timestamp."""
    t = time.strptime(f"{m['day']} {m['mon']} {m['year']} {m['time']}", "%d %b %Y %H:%M:%S")
    return calendar.timegm(t)


def http_date_ok(value: Optional[str]) -> Optional[float]:
    """Epoch seconds of an IMF-fixdate, or None if `value` is not one."""
    if value is None or not re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", value):
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def imf(t: float) -> str:
    return email.utils.formatdate(t, usegmt=True)
