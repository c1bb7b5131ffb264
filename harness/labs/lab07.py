"""Lab 07 (WebSocket chat, RFC 6455): the page, a frame-level client, a strict client, Chromium.

Loaded as a pytest plugin for every run (harness/plugin.py), so hidden tests get the fixtures
`ws_page` and `ws_chat` by name and may import the helpers:

    from harness.labs.lab07 import WsClient, frame, Frame, accept_for, strict_run, chromium_chat

Three kinds of client talk to the server:
- `WsClient`, the harness's frame-level client on a plain socket: it sends what libraries
  never send (unmasked frames, reserved bits, a 2^63 length, broken UTF-8, one byte per
  segment) and parses every server frame strictly (no mask, no RSV bit, shortest length);
- python3-websockets (Debian), the strict independent client, through `strict_run()`;
- headless Chromium driven over the DevTools protocol (`chromium_chat()`): two tabs of the
  served page, each sends a line, each must show the other's.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

import pytest

from harness import feedback as fb
from harness import paths, timing
from harness.paths import time_scale

try:  # python3-websockets; tests that need it skip with the package to install
    import websockets
    import websockets.exceptions
except ImportError:  # pragma: no cover - depends on the machine
    websockets = None

PROG = "ws_chat_server"
READY_HINT = "ws_chat_server must print 'listening on ADDR:PORT' (and fflush) once listen() succeeded (§2.2)"
#: The chat page, given in the lab folder: the kit's copy is the one served in every test.
PAGE = paths.LABS / "07-ws-chat" / "chat.html"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
#: The handout's values (labs/07-ws-chat/README.md).
CLOSE_TIMEOUT = 1.0
OUT_LIMIT = 256 * 1024
DEFAULT_MAX_MESSAGE = 65536

OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def accept_for(key: str) -> str:
    """Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2): base64(SHA-1(key + GUID))."""
    return base64.b64encode(hashlib.sha1(key.encode("latin-1") + GUID).digest()).decode()


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def frame(opcode: int, payload: bytes = b"", fin: bool = True, mask: bool = True, rsv: int = 0,
          length: Optional[int] = None, form: Optional[int] = None, key: Optional[bytes] = None) -> bytes:
    """One client frame. `length` claims another payload length than the payload's; `form`
    forces the length form (7, 16 or 64 bits); `rsv` sets RSV bits (0..7)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    if form is None:
        form = 7 if n <= 125 else 16 if n <= 0xFFFF else 64
    if form == 7:
        head = bytes([b0, mbit | n])
    elif form == 16:
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code: Optional[int], reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack(">H", code) + reason


@dataclass
class Frame:
    """One frame from the server, as received."""

    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes
    header: bytes

    @property
    def code(self) -> Optional[int]:
        """The status code of a close frame (None when it has none)."""
        return struct.unpack(">H", self.payload[:2])[0] if self.opcode == 8 and len(self.payload) >= 2 else None

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", "replace")

    def summary(self) -> str:
        name = OPCODES.get(self.opcode, f"opcode {self.opcode}")
        if self.opcode == 8:
            return f"close {self.code if self.code is not None else '(no code)'}"
        body = fb.quote(self.payload, 60)
        return f"{name} {body}" + ("" if self.fin else " (FIN clear)")


class BadServerFrame(Exception):
    """A server frame that breaks RFC 6455 §5 (masked, RSV set, reserved opcode, long form for a short length)."""


class WsClient:
    """The harness's frame-level WebSocket client: one TCP connection, blocking with deadlines.

    `handshake()` sends the opening request and reads the response head; then `send()` /
    `send_raw()` send frames (or any bytes) and `recv_frame()` returns the next server frame,
    None at EOF or "timeout". Every frame sent and received is logged for the feedback."""

    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.host, self.port = host, port
        self.timeout = timeout
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timing.deadline(timeout))
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False
        self.error: Optional[str] = None
        self.log: list[str] = []
        self.status = 0
        self.head = ""
        self.body = b""

    # ---- bytes --------------------------------------------------------------------------------
    def send_raw(self, data: bytes, note: str = "") -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.error = e.strerror or str(e)
        self.log.append(f"> {note or fb.quote(data, 80)}")

    def send(self, opcode: int, payload: bytes = b"", **kw) -> None:
        name = OPCODES.get(opcode, f"opcode {opcode}")
        extra = ", ".join(f"{k}={v}" for k, v in kw.items())
        note = f"{name} {fb.quote(payload, 60)}" + (f" ({extra})" if extra else "")
        if opcode == 8:
            note = f"close {fb.quote(payload, 60)}"
        self.send_raw(frame(opcode, payload, **kw), note)

    def _fill(self, deadline: float) -> bool:
        """Read more bytes; False on timeout or EOF."""
        if self.eof:
            return False
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
            return False
        self.buf += data
        return True

    def _need(self, n: int, deadline: float) -> bool:
        while len(self.buf) < n:
            if not self._fill(deadline):
                return False
        return True

    # ---- HTTP ---------------------------------------------------------------------------------
    def request(self, raw: bytes, timeout: Optional[float] = None) -> tuple[int, str, bytes]:
        """Send raw request bytes; read the response head (and, for a non-101 answer, the body
        up to EOF or Content-Length). Returns (status, head, body); status 0 if none came."""
        self.send_raw(raw, fb.quote(raw, 200))
        deadline = time.monotonic() + timing.deadline(timeout or self.timeout)
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                break
        i = self.buf.find(b"\r\n\r\n")
        if i < 0:
            self.log.append(f"< {fb.quote(bytes(self.buf), 200)} (no complete response head)")
            return 0, bytes(self.buf).decode("latin-1"), b""
        head = bytes(self.buf[:i]).decode("latin-1")
        del self.buf[:i + 4]
        self.head = head
        try:
            self.status = int(head.split(" ", 2)[1])
        except (IndexError, ValueError):
            self.status = -1
        body = b""
        if self.status != 101:
            length = self.header("Content-Length")
            want = int(length) if length and length.isdigit() else None
            while (want is None or len(self.buf) < want) and self._fill(deadline):
                pass
            body = bytes(self.buf[:want] if want is not None else self.buf)
            del self.buf[:len(body)]
        self.body = body
        self.log.append("< " + head.replace("\r\n", " | ") + (f" || {fb.quote(body, 120)}" if body else ""))
        return self.status, head, body

    def header(self, name: str) -> Optional[str]:
        for line in self.head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return None

    def handshake(self, key: Optional[str] = None, lines: Optional[list] = None, extra: bytes = b"") -> int:
        """The opening handshake on /chat (lines: the header lines, default a correct set);
        `extra` bytes go in the same send() right after the blank line. Returns the status."""
        self.key = key or new_key()
        if lines is None:
            lines = ["GET /chat HTTP/1.1", f"Host: {self.host}", "Upgrade: websocket", "Connection: Upgrade",
                     f"Sec-WebSocket-Key: {self.key}", "Sec-WebSocket-Version: 13"]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + extra
        return self.request(raw)[0]

    # ---- frames -------------------------------------------------------------------------------
    def recv_frame(self, timeout: Optional[float] = None):
        """The next server frame; None at EOF; "timeout" if none came. Raises BadServerFrame."""
        deadline = time.monotonic() + timing.deadline(timeout or self.timeout)
        if not self._need(2, deadline):
            return None if self.eof else "timeout"
        b0, b1 = self.buf[0], self.buf[1]
        n, hl = b1 & 0x7F, 2
        if n == 126:
            if not self._need(4, deadline):
                return None if self.eof else "timeout"
            n, hl = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            if not self._need(10, deadline):
                return None if self.eof else "timeout"
            n, hl = struct.unpack(">Q", self.buf[2:10])[0], 10
        masked = bool(b1 & 0x80)
        if masked:
            hl += 4
        header = bytes(self.buf[:hl])
        problem = None
        if masked:
            problem = "the MASK bit is set: a server must never mask its frames (§4.2)"
        elif b0 & 0x70:
            problem = "an RSV bit is set (§4.2)"
        elif (b0 & 0x0F) not in OPCODES:
            problem = f"opcode {b0 & 0x0F} is reserved"
        elif (hl == 4 and n <= 125) or (hl == 10 and n <= 0xFFFF):
            problem = f"a length of {n} in the {'16' if hl == 4 else '64'}-bit form: the shortest form is required (§4.2)"
        elif n > 64 << 20:
            problem = f"a frame of {n} bytes"
        if problem:
            self.log.append(f"< frame header {fb.quote(header)}: {problem}")
            raise BadServerFrame(f"the server sent a frame whose header is {header.hex(' ')}: {problem}")
        if not self._need(hl + n, deadline):
            return None if self.eof else "timeout"
        f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, masked, bytes(self.buf[hl:hl + n]), header)
        del self.buf[:hl + n]
        self.log.append(f"< {f.summary()}")
        return f

    def wait_eof(self, timeout: float) -> bool:
        """True once the server closed the connection (bytes before it are dropped)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._fill(deadline) and not self.eof:
                return False
        return True

    def transcript(self, last: int = 30) -> str:
        lines = self.log[-last:]
        cut = f"  ({len(self.log) - last} earlier lines not shown)\n" if len(self.log) > last else ""
        return (f"  the frame-level client's exchange (> sent, < received):\n{cut}"
                + "\n".join("    " + textsafe(line) for line in lines)
                + (f"\n    ({self.error})" if self.error else "")
                + ("\n    (EOF)" if self.eof else ""))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def textsafe(s: str) -> str:
    from harness.textsafe import printable
    return printable(s)


# ---- the server, for one test ----------------------------------------------------------------
class ChatSession:
    """One ws_chat_server for one test, with the clients the test opened."""

    def __init__(self, server, host: str, port: int):
        self.server, self.host, self.port = server, host, port
        self.clients: list[WsClient] = []

    @property
    def url(self) -> str:
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{h}:{self.port}/chat"

    def connect(self, timeout: float = 5.0) -> WsClient:
        try:
            c = WsClient(self.host, self.port, timeout)
        except OSError as e:
            self.server.wait(1)
            state = "" if self.server.alive() else f" (ws_chat_server has exited: {self.server.exit_text()})"
            fb.fail(f"Could not connect to ws_chat_server at {self.host}:{self.port}: {e.strerror or e}{state}.",
                    details=[self.server.describe()],
                    hint="the server must keep accepting newcomers while it serves the others (§6.1)")
        self.clients.append(c)
        return c

    def details(self, *clients: WsClient) -> list:
        return [c.transcript() for c in clients] + [self.server.describe()]

    def join(self, hint: str = "§3.2, §5.1 [R3.2-4] [R5.1-1]") -> WsClient:
        """A new client through the handshake, with its welcome read: it is in the chat."""
        c = self.connect()
        status = c.handshake()
        if status != 101:
            fb.fail(f"The opening handshake got status {status or 'nothing'}; expected 101 Switching Protocols.",
                    details=self.details(c), hint=hint)
        want = c.header("Sec-WebSocket-Accept")
        if want != accept_for(c.key):
            fb.fail(f"Sec-WebSocket-Accept is {want!r} for the key {c.key!r}; expected {accept_for(c.key)!r}.",
                    details=self.details(c), hint="base64(SHA-1(key + GUID)), the key without spaces (§3.2) [R3.2-4]")
        f = self.frame(c, "the welcome after the handshake", hint)
        if f.opcode != 1 or not f.text.startswith("* welcome "):
            fb.fail(f"After the handshake the first frame is {f.summary()}; expected the text message "
                    "'* welcome guestN'.", details=self.details(c), hint=hint)
        c.nick = f.text[len("* welcome "):]
        return c

    def frame(self, c: WsClient, what: str, hint: str, timeout: Optional[float] = None) -> Frame:
        """c's next frame, which must come and be well-formed."""
        try:
            f = c.recv_frame(timeout)
        except BadServerFrame as e:
            fb.fail(f"{what}: {e}.", details=self.details(c), hint="§4.2 [R4.2-1]")
        if f is None or f == "timeout":
            why = ("the server closed the connection" if f is None
                   else f"nothing came within {timing.deadline(timeout or c.timeout):.1f} s")
            if not self.server.alive():
                self.server.wait(0.5)
                why += f" (ws_chat_server has exited: {self.server.exit_text()})"
            fb.fail(f"{what}: {why}.", details=self.details(c), hint=hint)
        return f

    def texts(self, c: WsClient, count: int, what: str, hint: str, timeout: Optional[float] = None) -> list:
        """The next `count` text messages of c (pings and pongs skipped)."""
        out = []
        while len(out) < count:
            f = self.frame(c, f"{what} (message {len(out) + 1} of {count})", hint, timeout)
            if f.opcode == 1:
                out.append(f.text)
            elif f.opcode == 8:
                fb.fail(f"{what}: a close frame ({f.summary()}) came after {len(out)} of {count} messages.",
                        details=self.details(c), hint=hint)
        return out

    def expect_text(self, c: WsClient, want: str, what: str, hint: str) -> None:
        got = self.texts(c, 1, what, hint)[0]
        if got != want:
            fb.fail(f"{what}: the message received is {got!r}; expected {want!r}.", details=self.details(c),
                    hint=hint)

    def expect_close(self, c: WsClient, code: Optional[int], what: str, hint: str,
                     codes: Optional[set] = None) -> Frame:
        """Read frames until the server's close frame: its code must be `code` (or one of `codes`);
        then the server must close the TCP connection (we send nothing more)."""
        while True:
            f = self.frame(c, f"{what}: waiting for a close frame with status {code}", hint)
            if f.opcode == 8:
                break
        ok = f.code in codes if codes else f.code == code
        if not ok:
            fb.fail(f"{what}: the server's close frame has status {f.code}; expected "
                    f"{sorted(codes) if codes else code}.", details=self.details(c), hint=hint)
        return f

    def expect_eof(self, c: WsClient, what: str, hint: str, within: float = CLOSE_TIMEOUT) -> None:
        if not c.wait_eof(timing.upper(within, 1.0)):
            fb.fail(f"{what}: the server did not close the TCP connection within {timing.upper(within, 1.0):.1f} s.",
                    details=self.details(c), hint=hint)

    def expect_alive(self, why: str, hint: str) -> None:
        """The server still runs, and a newcomer joins."""
        if not self.server.alive():
            self.server.wait(1)
            fb.fail(f"ws_chat_server is no longer running after {why}: {self.server.exit_text()}.",
                    details=[self.server.describe()], hint=hint)
        c = self.join(hint)
        c.close()

    def close(self) -> None:
        for c in self.clients:
            c.close()


@pytest.fixture
def ws_page(spawn):
    """The kit's chat page (labs/07-ws-chat/chat.html), copied where the server can read it."""
    d = spawn.shared_dir("lab07-")
    p = d / "chat.html"
    shutil.copyfile(PAGE, p)
    os.chmod(p, 0o644)
    return p


@pytest.fixture
def ws_chat(spawn, ws_page):
    """start(*extra_args, host="127.0.0.1", **program_kwargs) -> ChatSession (ws_chat_server
    with --page set to the kit's chat page)."""
    sessions: list = []

    def start(*args, host: str = "127.0.0.1", **kwargs) -> ChatSession:
        server, h, port = spawn.server(PROG, "-b", host, "-p", "0", "--page", str(ws_page), *args,
                                       hint=READY_HINT, **kwargs)
        s = ChatSession(server, host, port)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.close()


# ---- the strict client: python3-websockets ---------------------------------------------------
def need_websockets() -> None:
    if websockets is None:
        pytest.skip("needs the python3-websockets package (a strict WebSocket client): "
                    "sudo apt-get install -y python3-websockets")


def strict_run(session: ChatSession, scenario, what: str, hint: str, timeout: float = 10.0):
    """Run `await scenario(url)` with python3-websockets; its failures become feedback."""
    need_websockets()

    async def main():
        return await asyncio.wait_for(scenario(session.url), timing.deadline(timeout))

    problem = None
    try:
        return asyncio.run(main())
    except asyncio.TimeoutError:
        problem = f"the scenario did not finish within {timing.deadline(timeout):.1f} s"
    except websockets.exceptions.InvalidHandshake as e:
        problem = f"python3-websockets refused the handshake: {e}"
    except websockets.exceptions.ConnectionClosed as e:
        problem = f"the connection closed early: {e}"
    except (OSError, EOFError) as e:
        problem = f"{type(e).__name__}: {e}"
    except AssertionError as e:
        problem = str(e)
    if not session.server.alive():
        session.server.wait(0.5)
        problem += f" (ws_chat_server has exited: {session.server.exit_text()})"
    fb.fail(f"{what}: {problem}.", details=[session.server.describe()], hint=hint)


async def strict_recv(ws, what: str, timeout: float = 5.0) -> str:
    """The next message on a python3-websockets connection, within the deadline."""
    try:
        return await asyncio.wait_for(ws.recv(), timing.deadline(timeout))
    except asyncio.TimeoutError:
        raise AssertionError(f"{what}: nothing came within {timing.deadline(timeout):.1f} s") from None


# ---- Chromium over the DevTools protocol ----------------------------------------------------
class BrowserProblem(Exception):
    """Chromium could not be started or driven (not the server's fault)."""


async def _chromium_chat(chromium: str, page_url: str, lines: list, timeout: float, give_up) -> list:
    prof = tempfile.mkdtemp(prefix="cr", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-proxy-server",
           "--disable-dev-shm-usage", "--disable-extensions", "--disable-background-networking",
           f"--user-data-dir={prof}", "--remote-debugging-port=0", "about:blank"]
    # A TMPDIR of its own with a short path (Chromium's singleton socket), as in Lab 05's test.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "TMPDIR": prof, "HOME": prof})
    try:
        port_file = os.path.join(prof, "DevToolsActivePort")
        end = time.monotonic() + timeout
        while True:
            try:
                port, path = open(port_file).read().split("\n")[:2]
                if port and path:
                    break
            except (OSError, ValueError):
                pass
            if proc.poll() is not None or time.monotonic() > end:
                raise BrowserProblem(f"Chromium did not start its DevTools endpoint (status {proc.poll()})")
            await asyncio.sleep(0.05)
        async with websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as cdp:
            ids = iter(range(1, 1 << 30))

            async def call(method, params=None, session=None):
                mid = next(ids)
                msg = {"id": mid, "method": method, "params": params or {}}
                if session:
                    msg["sessionId"] = session
                await cdp.send(json.dumps(msg))
                while True:
                    r = json.loads(await cdp.recv())
                    if r.get("id") == mid:
                        if "error" in r:
                            raise BrowserProblem(f"DevTools {method}: {r['error']}")
                        return r["result"]

            async def js(session, expr):
                r = await call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
                return r["result"].get("value")

            tabs = []
            for _ in lines:
                t = await call("Target.createTarget", {"url": page_url, "newWindow": True})
                a = await call("Target.attachToTarget", {"targetId": t["targetId"], "flatten": True})
                tabs.append(a["sessionId"])
            status = "document.getElementById('status') ? document.getElementById('status').textContent : ''"
            log = "document.getElementById('log') ? document.getElementById('log').innerText : ''"
            for tab in tabs:
                while (st := await js(tab, status)) != "connected":
                    # The socket failed or closed, or the server is gone: no point waiting.
                    if time.monotonic() > end or st == "error" or st.startswith("closed") or give_up():
                        return [await js(t, status) + "\n" + await js(t, log) for t in tabs]
                    await asyncio.sleep(0.05)
            for tab, line in zip(tabs, lines):
                await js(tab, f"say({json.dumps(line)})")
            while True:
                got = [await js(t, log) for t in tabs]
                done = all(other in got[i] for i in range(len(tabs)) for j, other in enumerate(lines) if j != i)
                if done or time.monotonic() > end or give_up():
                    return [await js(t, status) + "\n" + g for t, g in zip(tabs, got)]
                await asyncio.sleep(0.05)
    finally:
        try:
            os.killpg(proc.pid, 9)
        except OSError:
            pass
        proc.wait(5)
        shutil.rmtree(prof, ignore_errors=True)


def chromium_chat(chromium: str, page_url: str, lines: list, timeout: float = 20.0, give_up=lambda: False) -> list:
    """Open `page_url` in one headless Chromium as len(lines) tabs; once each says "connected",
    tab i sends lines[i] (the page's say()). Returns each tab's status and chat log (text),
    once every tab shows every other tab's line, `timeout` passed, or give_up() is true."""
    need_websockets()
    t = timeout * time_scale()
    return asyncio.run(asyncio.wait_for(_chromium_chat(chromium, page_url, lines, t, give_up), t + 10))
