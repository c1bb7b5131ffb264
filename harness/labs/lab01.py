"""Lab 01 (TCP echo): the trusted peers, misbehaving clients and steps that its tests use.

Loaded as a pytest plugin for every run (harness/plugin.py), so the lab's tests and an
instructor's hidden tests may import these helpers: `from harness.labs.lab01 import
start_server, check_echo`. Section numbers (§) refer to labs/01-tcp-echo/README.md.
"""
from __future__ import annotations

import re
import socket
import struct
import threading
import time
from contextlib import contextmanager
from typing import Optional

import pytest

from harness import feedback as fb
from harness import timing
from harness.paths import time_scale
from harness.procs import open_fds
from harness.peers import connect, exchange

#: The loopback address the tests use unless a test is about addresses.
HOST = "127.0.0.1"

#: The server's log lines (§3.1): "accepted ADDR:PORT" and "closed ADDR:PORT (N bytes)".
ACCEPTED = re.compile(rb"^accepted (\S+):(\d+)\s*$", re.M)
CLOSED = re.compile(rb"^closed (\S+):(\d+) \((\d+) bytes?\)\s*$", re.M)


# ---- steps -------------------------------------------------------------------------------
def patient(seconds: float) -> float:
    """`seconds` for a wait on what a correct program does at once (start, echo, exit), stretched
    by the load as timing.deadline() stretches it: on a busy machine a correct program must not
    lose points. For callees that scale by SOCKLAB_TIME_SCALE themselves (Program.wait, exchange)."""
    return timing.deadline(seconds) / time_scale()


def start_server(spawn, *args, host: Optional[str] = HOST, hint: str = ""):
    """The student's echo_server, bound to `host` (None: no -b) on an ephemeral port unless
    `args` give -p; returns (program, host, port)."""
    argv = (["-b", host] if host else []) + (["-p", "0"] if "-p" not in args else []) + list(args)
    return spawn.server("echo_server", *argv, ready_timeout=patient(3.0),
                        hint=hint or "the server must print 'listening on ADDR:PORT' after listen() and "
                                     "fflush(stdout) (§3.1, §4.1)")


def check_echo(server, host, port, payload: bytes, *, what: str, hint: str, timeout: float = 2.0) -> None:
    """Send payload to the server, half-close, and check the echo byte for byte, then EOF."""
    got, problem = exchange(host, port, payload, timeout=patient(timeout))
    details = [f"  problem: {problem}"] if problem else []
    details.append(server.describe())
    if problem and got == payload:
        fb.fail(f"{what}: the echo was complete, but then {problem}.", details=details, hint=hint)
    fb.expect_bytes(got, payload, what=what, sent=payload, details=details, hint=hint)


def run_client(spawn, *args, data: bytes, timeout: float = 4, hint: str = ""):
    """Run echo_client with `args` and stdin `data` until it exits; returns (program, exit status).
    A client still running `timeout` s (scaled) after its stdin reached EOF fails the test."""
    client = spawn("echo_client", *args, stdin=data)
    rc = client.wait(patient(timeout))
    if rc is None:
        fb.fail(f"echo_client did not exit within {timeout} s of its stdin reaching EOF.",
                sent=data, received=client.stdout, details=[client.describe()],
                hint=hint or "at EOF on stdin, shutdown(SHUT_WR), then read until recv() returns 0 (§3.2, §4.4)")
    return client, rc


def expect_exit(prog, rc, expected: int, *, situation: str, hint: str) -> None:
    """Fail unless `prog` ended with exit status `expected` (one sentence either way)."""
    fb.expect(rc == expected, f"{situation}: {prog.name} should exit with status {expected}, "
              f"but it ended with {prog.exit_text()}.", details=[prog.describe()], hint=hint)


def expect_stderr_line(prog, pattern: str, *, situation: str, shown: str, hint: str) -> None:
    """Fail unless one line of `prog`'s stderr matches the regex `pattern` (whole line)."""
    err = prog.stderr.decode("utf-8", "replace")
    if not re.search(rf"^{pattern}\s*$", err, re.M):
        fb.fail(f"{situation}: {prog.name} should print a line like '{shown}' on stderr; it did not.",
                details=[prog.describe()], hint=hint)


def echo_session(host: str, port: int, payload: bytes, timeout: float = 4.0):
    """One client session: send `payload` while reading, half-close, read to EOF.
    Returns (received, problem or None, the client's own port)."""
    deadline = time.monotonic() + timeout * time_scale()
    s = connect(host, port, timeout)
    cport = s.getsockname()[1]
    got, problem = bytearray(), None
    sender = threading.Thread(target=_send_then_shut, args=(s, payload), daemon=True)
    sender.start()
    try:
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            data = s.recv(65536)
            if not data:
                break
            got += data
    except socket.timeout:
        problem = f"no EOF within {timeout * time_scale():.0f} s"
    except OSError as e:
        problem = f"recv failed: {e.strerror or e}"
    finally:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sender.join(2)
        s.close()
    return bytes(got), problem, cport


def _send_then_shut(s: socket.socket, payload: bytes) -> None:
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@contextmanager
def talking_to(server, what: str, hint: str):
    """Turn a socket error of the harness's own client into feedback (never a traceback):
    `with talking_to(server, "a client resetting its connection", hint): ...`."""
    try:
        yield
    except OSError as e:
        reason = e.strerror or type(e).__name__
        if isinstance(e, socket.timeout):
            reason = "no answer before the deadline"
        state = "is still running" if server.alive() else f"had ended with {server.exit_text()}"
        fb.fail(f"{what}: the harness's client got '{reason}', and {server.name} {state}.",
                details=[server.describe()], hint=hint)


def connect_and_wait_accept(server, host: str, port: int, timeout: float = 3.0) -> socket.socket:
    """Connect, then wait (deadline `timeout` s, scaled) until the server holds one more open
    descriptor: it has accept()ed us. Needs neither the log nor the echo."""
    before = open_fds(server.pid)
    s = connect(host, port)
    deadline = time.monotonic() + timeout * time_scale()
    while open_fds(server.pid) <= before and time.monotonic() < deadline and server.alive():
        time.sleep(0.005)  # polling /proc with a deadline: the accept itself is not observable
    return s


def need_ipv6() -> None:
    """Skip the test (it neither costs nor earns points) where this machine has no ::1."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError as e:
        pytest.skip(f"this machine has no IPv6 loopback address ::1 ({e.strerror or e})")


def free_port(host: str = HOST) -> int:
    """A port that was free on `host` a moment ago (bound, then closed), for the tests of -p."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def gai_reason(host: str, port, family: int, passive: bool = False) -> Optional[str]:
    """What gai_strerror() says when getaddrinfo(host, port) fails for `family` (None: it works)."""
    try:
        socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE if passive else 0)
    except socket.gaierror as e:
        return e.strerror
    return None


def log_entries(stderr: bytes) -> tuple[list[tuple[str, int]], list[tuple[str, int, int]]]:
    """The server's log: [(addr, port)] of `accepted` lines, [(addr, port, bytes)] of `closed` lines."""
    acc = [(m.group(1).decode(errors="replace").strip("[]"), int(m.group(2))) for m in ACCEPTED.finditer(stderr)]
    clo = [(m.group(1).decode(errors="replace").strip("[]"), int(m.group(2)), int(m.group(3)))
           for m in CLOSED.finditer(stderr)]
    return acc, clo


def linger_reset(s: socket.socket) -> None:
    """Close `s` with SO_LINGER {1, 0}: the peer gets an RST, not a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


# ---- misbehaving clients (trusted code, for the server's tests) --------------------------
def reset_mid_stream(host: str, port: int) -> None:
    """Send 100 kB, then reset the connection (RST) without reading the echo."""
    s = connect(host, port)
    s.sendall(b"x" * 100000)
    linger_reset(s)


def connect_and_leave(host: str, port: int) -> None:
    """Connect and close at once, without a byte."""
    connect(host, port).close()


def half_close_silently(host: str, port: int) -> None:
    """An empty session: half-close at once, wait for the server's EOF."""
    s = connect(host, port)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()


def vanish_while_echoing(host: str, port: int) -> None:
    """Send without reading until the server blocks in send(), then close with its echo unread
    (an RST): the server's send() fails (ECONNRESET or EPIPE), which must end only this client."""
    s = connect(host, port)
    s.settimeout(0.2)
    sent = 0
    try:
        while sent < 64 << 20:
            sent += s.send(b"v" * 65536)
    except OSError:
        pass  # the server's echo filled our receive buffer and it stopped reading: vanish now
    s.close()


# ---- trusted echo peers' behaviours (for the client's tests) -----------------------------
def slow_echo(conn: socket.socket) -> None:
    """Echo at about 32 MB/s: a consumer slower than any client, so the client's send buffer
    fills and its send() calls take only part of a chunk, however loaded the machine is."""
    while True:
        data = conn.recv(16384)
        if not data:
            return
        conn.sendall(data)
        time.sleep(0.0005)  # the pace of a slow network, not synchronisation


def read_to_eof(conn: socket.socket) -> bytes:
    """Everything the client sends until it half-closes."""
    got = bytearray()
    while True:
        data = conn.recv(65536)
        if not data:
            return bytes(got)
        got += data


def echo_after_eof(conn: socket.socket) -> None:
    """Echo nothing until the client half-closes, then everything at once, then close."""
    conn.sendall(read_to_eof(conn))


def close_after_4_bytes(conn: socket.socket) -> None:
    """Read the whole request to EOF, echo only its first 4 bytes, close cleanly (FIN)."""
    conn.sendall(read_to_eof(conn)[:4])


def reset_after_4_bytes(conn: socket.socket) -> None:
    """Read the whole request to EOF, echo its first 4 bytes, then reset the connection (RST)."""
    conn.sendall(read_to_eof(conn)[:4])
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
