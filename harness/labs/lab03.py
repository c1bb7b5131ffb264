"""Lab 03 (select chat): the harness's chat clients, the step language of the tests, and fixtures.

Loaded as a pytest plugin for every run (harness/plugin.py), so that Lab 03's tests and an
instructor's hidden tests get the fixture `chat` by name, and may import the helpers:

    from harness.labs.lab03 import ChatRoom, Session, said, rename

* ChatClient / ChatRoom: trusted chat clients in Python (from ten to a thousand), all
  non-blocking, all read by one `selectors` loop in the test's own thread: no threads, and a
  client that the test wants to be slow simply is not registered for reading. Every client
  keeps what it sent and received (lines, each with the monotonic time it arrived), so that a
  failing test can show the transcript. Every wait takes a deadline in seconds, scaled by
  SOCKLAB_TIME_SCALE; nothing here sleeps.
* Session: one chat_server and its room, with the steps a test is written in (join, say,
  expect, expect_lines, expect_eof); every failed step goes through harness.feedback with the
  transcripts of the clients involved and the server's stderr. When the server is no longer
  running, the failure says so first and withholds the test's topic hint (issue 13).
* Flooder: a client that sends a burst of lines from its own thread as fast as the server
  takes them (fairness under a flood, handout §4.1).

Section numbers (§) refer to labs/03-select-chat/README.md.
"""
from __future__ import annotations

import errno
import math
import re
import resource
import selectors
import socket
import struct
import threading
import time
from typing import Callable, Iterable, Optional, Union

import pytest

from harness import feedback as fb
from harness.feedback import quote
from harness.paths import time_scale
from harness.textsafe import printable
from harness.procs import Program

HOST = "127.0.0.1"
GUEST = re.compile(rb"guest\d+")
READY_HINT = "chat_server must print 'listening on ADDR:PORT' (and fflush) once listen() succeeded (§2.2)"
#: What a test may expect: exact bytes, or a regex the whole line must match.
Expected = Union[bytes, re.Pattern]

#: Bytes of raw input and output each client keeps for transcripts.
KEEP = 1 << 20


def scaled(seconds: float) -> float:
    return seconds * time_scale()


class ChatClient:
    """One connection to the chat server, as the harness sees it.

    Attributes:
        name: how failure messages call it ("client 3", "the slow client").
        lines: every complete line received, without its LF (bytes), in order.
        times: time.monotonic() at which each line of `lines` was read.
        pos: how many of `lines` next_line() has already handed out.
        eof: True once the server closed the connection (recv returned 0);
        error: the errno name if the connection failed (for example "ECONNRESET").
        nick: the nick from "* welcome NICK", once it came.
    """

    def __init__(self, sock: socket.socket, name: str):
        self.sock = sock
        self.name = name
        self.lines: list[bytes] = []
        self.times: list[float] = []
        self.pos = 0
        self.partial = bytearray()
        self.received = bytearray()
        self.sent = bytearray()
        self.bytes_in = 0
        self.eof = False
        self.error: Optional[str] = None
        self.nick: Optional[str] = None
        self.reading = True
        self.closed = False
        self.room: Optional["ChatRoom"] = None

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def done(self) -> bool:
        """True once nothing more can arrive (EOF, error, or closed by the test)."""
        return self.eof or self.error is not None or self.closed

    # ---- reading (called by the room's selector loop) ----------------------------------
    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.error = errno.errorcode.get(e.errno, str(e))
            return
        if not data:
            self.eof = True
            return
        now = time.monotonic()
        self.bytes_in += len(data)
        if len(self.received) < KEEP:
            self.received += data[:KEEP - len(self.received)]
        self.partial += data
        if b"\n" in data:
            parts = self.partial.split(b"\n")
            self.partial = bytearray(parts.pop())
            self.lines.extend(bytes(p) for p in parts)
            self.times.extend([now] * len(parts))
            if self.nick is None and self.lines[0].startswith(b"* welcome "):
                self.nick = self.lines[0][len(b"* welcome "):].decode("ascii", "replace")

    # ---- lines -------------------------------------------------------------------------
    def unread(self) -> list[bytes]:
        """The lines not yet taken with next_line()."""
        return self.lines[self.pos:]

    def transcript(self) -> str:
        """What this client sent and received, quoted, for a failure message."""
        state = "open"
        if self.eof:
            state = "closed by the server (EOF)"
        elif self.error:
            state = f"failed ({self.error})"
        return (f"  {self.name}{f' ({self.nick})' if self.nick else ''}, connection {state}:\n"
                f"    sent:     {quote(bytes(self.sent), 160)}\n"
                f"    received: {quote(bytes(self.received), 240)}")

    # ---- the test closes it ------------------------------------------------------------
    def close(self) -> None:
        """A normal close (FIN). The room stops watching the socket first: the fd number may be reused."""
        if not self.closed:
            self.closed = True
            if self.room is not None:
                self.room._unregister(self)
            self.sock.close()

    def reset(self) -> None:
        """An abortive close: SO_LINGER {1, 0}, so close() sends RST."""
        if not self.closed:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close()


class ChatRoom:
    """Many chat clients of one server, read by one selector.

    Args:
        host, port: the server (or a proxy in front of it).
    """

    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sel = selectors.DefaultSelector()
        self.clients: list[ChatClient] = []

    def __enter__(self) -> "ChatRoom":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- joining -----------------------------------------------------------------------
    def connect(self, name: Optional[str] = None, *, read: bool = True, rcvbuf: Optional[int] = None,
                host: Optional[str] = None, port: Optional[int] = None, timeout: float = 5.0) -> ChatClient:
        """Open one connection (it does not wait for the welcome: see join()).

        read=False makes a client that never reads; rcvbuf sets SO_RCVBUF before connect()
        (a small one makes a non-reader's window fill quickly). host/port override the room's
        (to go through a proxy).
        """
        s = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(scaled(timeout))
            s.connect((host or self.host, port or self.port))
            s.setblocking(False)
        except OSError:
            s.close()
            raise
        c = ChatClient(s, name or f"client {len(self.clients) + 1}")
        c.reading = read
        c.room = self
        self.clients.append(c)
        if read:
            self.sel.register(s, selectors.EVENT_READ, c)
        return c

    def join(self, name: Optional[str] = None, timeout: float = 5.0, **kwargs) -> ChatClient:
        """connect(), then wait up to `timeout` s (scaled) for the server's first line.

        Returns the client either way: its .nick is set if that line was "* welcome NICK".
        Raises OSError if connect() itself fails."""
        c = self.connect(name, timeout=timeout, **kwargs)
        self.pump_until(lambda: len(c.lines) >= 1 or c.done, timeout)
        return c

    # ---- the loop ----------------------------------------------------------------------
    def pump(self, timeout: float, write: Optional[ChatClient] = None) -> None:
        """Read whatever is ready, waiting at most `timeout` s (unscaled) for something."""
        if write is not None and not write.closed:
            events = selectors.EVENT_WRITE | (selectors.EVENT_READ if write.reading and not write.done else 0)
            try:
                self.sel.modify(write.sock, events, write)
            except KeyError:
                self.sel.register(write.sock, events, write)
        try:
            for key, mask in self.sel.select(max(0.0, timeout)):
                c = key.data
                if mask & selectors.EVENT_READ:
                    c._on_readable()
                    if c.done:
                        self._unregister(c)
        finally:
            if write is not None and not write.closed and write.sock.fileno() != -1:
                try:
                    if write.reading and not write.done:
                        self.sel.modify(write.sock, selectors.EVENT_READ, write)
                    else:
                        self.sel.unregister(write.sock)
                except (KeyError, ValueError):
                    pass

    def _unregister(self, c: ChatClient) -> None:
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass

    def pump_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Read until condition() holds or `timeout` s (scaled) pass; returns condition()."""
        deadline = time.monotonic() + scaled(timeout)
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                return condition()
            if not self.sel.get_map():
                return condition()
            self.pump(min(left, 0.25))
        return True

    def pump_for(self, seconds: float) -> None:
        """Keep reading for `seconds` (unscaled): a quiet period the test observes."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            # An empty selector simply waits out its timeout.
            self.pump(min(left, 0.25))

    # ---- talking -----------------------------------------------------------------------
    def send(self, c: ChatClient, data: bytes, timeout: float = 5.0) -> bool:
        """Send all of `data` from client c, reading every client meanwhile (so that the
        server is never stuck writing to us). False if it did not all go within `timeout` s."""
        deadline = time.monotonic() + scaled(timeout)
        view = memoryview(data)
        while view:
            try:
                n = c.sock.send(view)
                c.sent += view[:n] if len(c.sent) < KEEP else b""
                view = view[n:]
                continue
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                c.error = errno.errorcode.get(e.errno, str(e))
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.pump(min(left, 0.25), write=c)
        return True

    def next_line(self, c: ChatClient, timeout: float = 3.0) -> Optional[bytes]:
        """The next line c received that the test has not looked at yet; None after `timeout` s."""
        if not self.pump_until(lambda: len(c.lines) > c.pos or c.done, timeout) or len(c.lines) <= c.pos:
            return None
        c.pos += 1
        return c.lines[c.pos - 1]

    def wait_lines(self, clients: Iterable[ChatClient], count: Callable[[ChatClient], int], timeout: float) -> bool:
        """Wait until every client holds at least count(client) lines (or is done)."""
        group = list(clients)
        return self.pump_until(lambda: all(len(c.lines) >= count(c) or c.done for c in group), timeout)

    def stop_reading(self, c: ChatClient) -> None:
        """From now on nobody reads c's socket: its receive buffer fills, then the server's queue."""
        if c.reading:
            self._unregister(c)
            c.reading = False

    def wait_eof(self, c: ChatClient, timeout: float = 3.0) -> bool:
        """Wait until the server closes c's connection (EOF or reset); True if it did."""
        if not c.reading:
            self.sel.register(c.sock, selectors.EVENT_READ, c)
            c.reading = True
        return self.pump_until(lambda: c.eof or c.error is not None, timeout)

    # ---- ending ------------------------------------------------------------------------
    def close(self) -> None:
        """Close every client's socket and the selector."""
        for c in self.clients:
            self._unregister(c)
            try:
                c.close()
            except OSError:
                pass
        self.clients.clear()
        self.sel.close()


# ---- the step language of the tests ----------------------------------------------------------
class Session:
    """One chat_server and the room of Python clients talking to it, for one test.

    Every check fails through harness.feedback (self.fail) with the transcripts of the clients
    involved and the server's stderr.
    """

    def __init__(self, server: Program, host: str, port: int):
        self.server = server
        self.host = host
        self.port = port
        self.room = ChatRoom(host, port)

    def details(self, clients: Iterable[ChatClient] = ()) -> list[str]:
        return [c.transcript() for c in clients] + [self.server.describe()]

    def settle(self) -> None:
        """Something went wrong: if chat_server is on its way out, let it finish (up to 1 s),
        so that the report says how it ended."""
        self.server.wait(1)

    def fail(self, summary: str, *, clients: Iterable[ChatClient] = (), hint: str = "",
             received: Optional[bytes] = None, expected: Optional[bytes] = None) -> None:
        """Fail the test. When chat_server is no longer running, say that first: the test's own
        topic hint would point the wrong way (a server that exited, say, with `select: Bad file
        descriptor` is not "stalled"), so it is replaced by one about the exit."""
        self.settle()
        if not self.server.alive():
            lines = [ln for ln in printable(self.server.stderr.decode("utf-8", "replace")).splitlines() if ln.strip()]
            # The fatal error, rather than what close_all() logged on the way out.
            last = next((ln for ln in reversed(lines) if ln.startswith("chat_server: select ")),
                        lines[-1] if lines else "")
            said_ = f", after printing {last.strip()!r}" if last else ""
            if self.server.sanitizer_report(3):
                said_ = ", with the sanitizer report shown below"
            summary = f"chat_server is no longer running ({self.server.exit_text()}{said_}). {summary}"
            if "not written yet" in last:
                hint = ("the server stopped at a gap that is not filled yet: fill it first, in the order of "
                        "the handout's steps (§8)")
            else:
                hint = ("the server must keep running whatever its clients do: fix what made it stop (its "
                        "stderr is below) before anything else (§2.2, §4.1)")
        fb.fail(summary, received=received, expected=expected, details=self.details(clients), hint=hint)

    def check(self, condition: bool, summary: str, *, clients: Iterable[ChatClient] = (), hint: str = "") -> None:
        """Pass if `condition`; otherwise self.fail() (which first says if the server has exited)."""
        if not condition:
            self.fail(summary, clients=clients, hint=hint)

    # ---- joining -----------------------------------------------------------------------
    def connect(self, name: str, **kwargs) -> ChatClient:
        """A connection, without waiting for the welcome."""
        try:
            return self.room.connect(name, **kwargs)
        except OSError as e:
            problem = e.strerror or str(e)
        self.fail(f"{name} could not connect to chat_server at {self.host}:{self.port}: {problem}.",
                  hint="the server must keep accepting newcomers while it serves the others (§4.1)")

    def join(self, name: str, timeout: float = 5.0, **kwargs) -> ChatClient:
        """ChatRoom.join(), then check that the first line is '* welcome guestN'."""
        problem = None
        try:
            c = self.room.join(name, timeout, **kwargs)
        except OSError as e:
            problem = e.strerror or str(e)
        if problem is not None:
            self.fail(f"{name} could not connect to chat_server at {self.host}:{self.port}: {problem}.",
                      hint="the server must keep accepting newcomers while it serves the others (§4.1)")
        first = c.lines[0] if c.lines else None
        if c.nick is None or not GUEST.fullmatch(c.nick.encode()):
            if first is not None:
                why = "its first line is not '* welcome guestN'"
            elif c.done:
                why = f"the server closed the connection ({c.error or 'EOF'}) before sending any line"
            else:
                why = f"no line came within {timeout * time_scale():g} s"
            self.fail(f"{name} connected, but {why}.", clients=[c],
                      received=first if first is not None else b"", expected=b"* welcome guestN",
                      hint="greet each newcomer with '* welcome guestN': accept it, queue the line, "
                           "and let the loop send it (§3.2, §5.2)")
        c.pos = 1
        return c

    def join_all(self, n: int, names: Optional[list[str]] = None, timeout: float = 10.0) -> list[ChatClient]:
        """n clients join one after another; each must then be told of every later join, in order."""
        names = names or [f"client {chr(65 + i)}" if n <= 26 else f"client {i + 1}" for i in range(n)]
        clients = [self.join(names[i]) for i in range(n)]
        joined = [b"* %s joined" % c.nick.encode() for c in clients]
        index = {id(c): i for i, c in enumerate(clients)}
        self.room.wait_lines(clients, lambda c: n - index[id(c)], timeout)
        for i, c in enumerate(clients):
            want = joined[i + 1:]
            got = c.lines[1:1 + len(want)]
            if got != want:
                k = next((j for j in range(len(want)) if j >= len(got) or got[j] != want[j]), 0)
                self.fail(f"{c.name} ({c.nick}) was not told of every client that joined after it, in order: "
                          f"line {k + 2} of what it received is wrong.",
                          received=got[k] if k < len(got) else b"", expected=want[k],
                          clients=[c, clients[i + 1 + k]],
                          hint="when a client joins, every other client gets '* NICK joined' (§3.2)")
            c.pos = 1 + len(want)
        return clients

    # ---- talking -----------------------------------------------------------------------
    def say(self, c: ChatClient, data: bytes, timeout: float = 5.0) -> None:
        """Client c sends data (reading every client meanwhile)."""
        if not self.room.send(c, data, timeout):
            self.fail(f"{c.name} could not send {fb.quote(data)} to chat_server"
                      + (f" ({c.error})" if c.error else f" within {timeout * time_scale():g} s") + ".",
                      clients=[c], hint="read every client that select() reports readable, every pass (§4.1)")

    def expect(self, c: ChatClient, expected: Expected, *, what: str, hint: str,
               others: Iterable[ChatClient] = (), timeout: float = 3.0) -> bytes:
        """c's next line must be `expected` (bytes, or a regex it must match in full)."""
        line = self.room.next_line(c, timeout)
        if isinstance(expected, bytes):
            ok = line == expected
            shown = expected
        else:
            ok = line is not None and expected.fullmatch(line) is not None
            shown = expected.pattern
        if not ok:
            if line is None:
                how = f"{c.name} received nothing more within {timeout * time_scale():g} s"
                if c.done:
                    how = f"{c.name}'s connection was closed ({c.error or 'EOF'})"
            else:
                how = f"{c.name} ({c.nick}) received another line"
            self.fail(f"{what}: {how}.", received=line if line is not None else b"", expected=shown,
                      clients=[c, *others], hint=hint)
        return line

    def expect_lines(self, c: ChatClient, expected: list[bytes], *, what: str, hint: str,
                     others: Iterable[ChatClient] = (), timeout: float = 5.0) -> None:
        """c's next len(expected) lines must be exactly `expected`, in order."""
        self.room.pump_until(lambda: len(c.lines) >= c.pos + len(expected) or c.done, timeout)
        got = c.lines[c.pos:c.pos + len(expected)]
        if got != expected:
            k = next(j for j in range(len(expected)) if j >= len(got) or got[j] != expected[j])
            if k >= len(got):
                summary = (f"{what}: {c.name} received {len(got)} of the {len(expected)} lines expected "
                           f"within {timeout * time_scale():g} s; line {k + 1} never came.")
            else:
                summary = f"{what}: line {k + 1} of the {len(expected)} expected is wrong at {c.name}."
            self.fail(summary, received=got[k] if k < len(got) else b"", expected=expected[k],
                      clients=[c, *others], hint=hint)
        c.pos += len(expected)

    def expect_quiet(self, clients: Iterable[ChatClient], *, what: str, hint: str) -> None:
        """None of `clients` holds a line the test has not looked at yet."""
        for c in clients:
            if len(c.lines) > c.pos:
                self.fail(f"{what}: {c.name} ({c.nick}) received a line it should not have.",
                          received=c.lines[c.pos], clients=[c], hint=hint)

    def expect_eof(self, c: ChatClient, *, what: str, hint: str, timeout: float = 3.0) -> None:
        if not self.room.wait_eof(c, timeout):
            self.fail(f"{what}: chat_server did not close {c.name}'s connection within "
                      f"{timeout * time_scale():g} s.", clients=[c], hint=hint)

    def expect_alive(self, why: str, hint: str) -> None:
        if not self.server.alive():
            self.fail(f"chat_server died {why}.", hint=hint)

    def expect_log(self, pattern: re.Pattern, *, what: str, hint: str, timeout: float = 3.0) -> re.Match:
        """A line of chat_server's stderr must match `pattern` (searched per line)."""
        m = self.server.wait_stderr(pattern, timeout)
        if m is None:
            self.fail(f"{what}: no line of chat_server's stderr matches {pattern.pattern.decode(errors='replace')!r} "
                      f"within {timeout * time_scale():g} s.", hint=hint)
        return m


@pytest.fixture
def chat(spawn):
    """A factory: chat(*extra_args, host=HOST, limits=...) starts chat_server on an ephemeral
    port of `host` and returns a Session; every client is closed at teardown."""
    sessions: list[Session] = []

    def start(*args, host: str = HOST, **kwargs) -> Session:
        server, _, port = spawn.server("chat_server", "-b", host, "-p", "0", *args, hint=READY_HINT, **kwargs)
        s = Session(server, host, port)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.room.close()


# ---- small helpers ---------------------------------------------------------------------------
def said(c: ChatClient, text: bytes) -> bytes:
    """The line the others get when c says text."""
    return b"<%s> %s" % (c.nick.encode(), text)


def rename(c: ChatClient, new: bytes) -> bytes:
    """The line everyone gets when c becomes `new` (c.nick is updated)."""
    line = b"* %s is now %s" % (c.nick.encode(), new)
    c.nick = new.decode()
    return line


def addr_of(c: ChatClient) -> str:
    """The client's own ADDR:PORT as the server logs it (IPv6 in brackets)."""
    host, port = c.sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile p (0..100) of values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process pid so far (psutil reads /proc/PID/stat)."""
    import psutil
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def raise_own_nofile(want: int) -> None:
    """Let the test process itself hold `want` sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class Flooder:
    """Client c sends `lines` (each with its LF) from its own thread, as fast as the server takes
    them, while the test's thread keeps reading every client. c's socket is non-blocking and
    stays registered for reading in the room: only this thread writes to it.

    Attributes: sent (bytes handed to the kernel), error (why it stopped early, or None),
    started / finished (time.monotonic()).
    """

    def __init__(self, c: ChatClient, lines: list[bytes], deadline_s: float):
        self.c = c
        self.data = b"".join(x + b"\n" for x in lines)
        self.deadline_s = deadline_s
        self.sent = 0
        self.error: Optional[str] = None
        self.started = self.finished = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"flood {c.name}", daemon=True)

    def start(self) -> "Flooder":
        self._thread.start()
        return self

    def _run(self) -> None:
        self.started = time.monotonic()
        deadline = self.started + self.deadline_s * time_scale()
        view = memoryview(self.data)
        sel = selectors.DefaultSelector()
        try:
            fd = self.c.sock.fileno()
            sel.register(fd, selectors.EVENT_WRITE)
            while view and not self._stop.is_set():
                if time.monotonic() > deadline:
                    self.error = "timed out"
                    break
                try:
                    n = self.c.sock.send(view[:65536])
                    view = view[n:]
                    self.sent += n
                except (BlockingIOError, InterruptedError):
                    sel.select(0.05)
                except OSError as e:
                    self.error = errno.errorcode.get(e.errno, str(e))
                    break
        finally:
            sel.close()
            self.finished = time.monotonic()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
