"""Trusted chat clients for Lab 03, written in Python on one selector.

A ChatRoom holds any number of ChatClients connected to one server (from ten to a thousand),
all non-blocking, all read by one `selectors` loop in the test's own thread: no threads, and
a client that the test wants to be slow simply is not registered for reading.

Every client keeps what it sent and what it received (split into lines, each with the
monotonic time it arrived), so that a failing test can show the transcript. Every wait takes a
deadline in seconds (scaled by SOCKLAB_TIME_SCALE); nothing here sleeps. The room closes every
socket it opened (ChatRoom.close, or use it as a context manager).
"""
from __future__ import annotations

import errno
import selectors
import socket
import struct
import time
from typing import Callable, Iterable, Optional

from .feedback import quote
from .paths import time_scale

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
