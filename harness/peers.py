"""Trusted peers written in Python: an echo server for testing clients, and client helpers.

They run in threads of the test process, bind only to loopback and an ephemeral port,
and are closed by the fixtures that made them.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Optional

from .paths import time_scale


def loopback(family: int = socket.AF_INET) -> str:
    """The loopback address for a family: 127.0.0.1 or ::1."""
    return "::1" if family == socket.AF_INET6 else "127.0.0.1"


class EchoPeer:
    """A TCP echo server (RFC 862) on loopback, a thread per connection.

    Args:
        family: AF_INET or AF_INET6.
        behaviour: None to echo everything; or a function(conn) that serves one connection
            its own way (for example: read a little, then close early).
        bufsize: SO_RCVBUF and SO_SNDBUF for every connection, in bytes (None: the kernel's
            autotuning). The kernel doubles the value (socket(7)).
    """

    def __init__(self, family: int = socket.AF_INET, behaviour: Optional[Callable] = None,
                 bufsize: Optional[int] = None):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if bufsize:
            # Set before listen() so accepted sockets inherit them; fixed sizes turn autotuning off,
            # so a client that never reads fills the path after a few MiB instead of tens.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, bufsize)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, bufsize)
        self.sock.bind((loopback(family), 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.host = loopback(family)
        self.behaviour = behaviour or self._echo
        self.received = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def _echo(self, conn: socket.socket) -> None:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            with self._lock:
                self.received += len(data)
            conn.sendall(data)

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            for c in self._conns:
                try:
                    c.close()
                except OSError:
                    pass
        self._thread.join(2)


def connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to host:port, with a per-operation timeout of `timeout` s (scaled)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout * time_scale())
    try:
        s.connect((host, port))
    except OSError as e:
        s.close()
        # The same exception type (tests may catch it), with the address in its message, so
        # that the report says where the program under test was not listening.
        if e.errno is None:
            raise
        raise type(e)(e.errno, f"connect to {host}:{port}: {e.strerror}") from None
    return s


def exchange(host: str, port: int, payload: bytes, timeout: float = 10.0) -> tuple[bytes, Optional[str]]:
    """Send `payload` while reading the echo, half-close, read until EOF.

    Returns (received, problem): problem is None after a clean EOF, otherwise why
    the exchange stopped ("timed out after 10 s", "connection reset").
    The whole exchange is bounded by `timeout` seconds (scaled).
    """
    deadline = time.monotonic() + timeout * time_scale()
    got = bytearray()
    try:
        s = connect(host, port, timeout)
    except OSError as e:
        return b"", f"connect {host}:{port} failed: {e.strerror or e}"
    problem = None
    sender_error: list[str] = []

    def send_all() -> None:
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            sender_error.append(str(e.strerror or e))

    t = threading.Thread(target=send_all, daemon=True)
    t.start()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = f"timed out after {timeout * time_scale():.0f} s without EOF"
                break
            s.settimeout(min(left, 1.0))
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            if not data:
                break
            got += data
    except ConnectionResetError:
        problem = "the connection was reset (RST)"
    except OSError as e:
        problem = f"recv failed: {e.strerror or e}"
    finally:
        # The sender may still be in sendall() or shutdown(): stop it, then wait for it before
        # closing, so that it never calls into a closed (or reused) descriptor.
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        t.join(2)
        s.close()
    if problem is None and sender_error:
        problem = f"sending failed: {sender_error[0]}"
    return bytes(got), problem
