"""Lab 01: TCP echo (RFC 862). Tests for echo_server and echo_client, with points.

Server tests talk to the student's echo_server through trusted Python clients; client
tests run the student's echo_client against a trusted Python echo server; the end-to-end
tests use both student programs. Section numbers (§) refer to labs/01-tcp-echo/README.md.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import struct
import time

import pytest

from harness import feedback as fb
from harness.peers import connect, exchange
from harness.procs import open_fds

LAB = "01"
HOST = "127.0.0.1"
#: The tests the kit's self-test runs under valgrind memcheck (not the timing-heavy ones).
VALGRIND_SELECT = "one_message or many_lines or all_byte or bad_clients or fd_count or logs or ipv6 or closes_early"


def start_server(spawn, *args, host=HOST):
    """The student's echo_server on host, ephemeral port; returns (program, host, port)."""
    return spawn.server("echo_server", "-b", host, "-p", "0", *args,
                        hint="the server must print 'listening on ADDR:PORT' after listen() (§3.1, §4.1)")


def check_echo(server, host, port, payload, *, what, hint, timeout=2.0):
    """Send payload to the server, half-close, and check the echo byte for byte."""
    got, problem = exchange(host, port, payload, timeout=timeout)
    details = [f"  problem: {problem}"] if problem else []
    details.append(server.describe())
    if problem and got == payload:
        fb.fail(f"{what}: the echo was complete, but then {problem}.", details=details, hint=hint)
    fb.expect_bytes(got, payload, what=what, sent=payload, details=details, hint=hint)


# ---- echo_server ------------------------------------------------------------------------
@pytest.mark.points(5)
def test_server_one_message(spawn):
    """echo_server: one message comes back, then EOF"""
    server, host, port = start_server(spawn)
    check_echo(server, host, port, b"hello, echo\n", what="one message",
               hint="echo every byte with send_all(), and close the connected socket when recv() returns 0 (§4.3)")


@pytest.mark.points(5)
def test_server_many_lines(spawn):
    """echo_server: 2000 lines sent while the echo is read"""
    server, host, port = start_server(spawn)
    payload = b"".join(b"line %04d of the many-lines test\n" % i for i in range(2000))
    check_echo(server, host, port, payload, what="many lines",
               hint="keep calling recv() until it returns 0; one recv() is not one message (§4.3)")


@pytest.mark.points(6)
def test_server_all_byte_values(spawn):
    """echo_server: all 256 byte values, NUL included, come back unchanged"""
    server, host, port = start_server(spawn)
    payload = bytes(range(256)) * 16
    check_echo(server, host, port, payload, what="binary data",
               hint="the data is bytes, not a C string: use recv()'s return value, never strlen() (§6)")


@pytest.mark.points(10)
def test_server_fragmented(spawn, fragmenting_proxy):
    """echo_server: a stream delivered one byte per segment, both ways"""
    server, host, port = start_server(spawn)
    proxy = fragmenting_proxy((host, port), chunk=1, delay_s=0.0005)
    payload = b"split into 1-byte segments\nand still one stream\n"
    check_echo(server, proxy.host, proxy.port, payload, what="1-byte fragments through the proxy",
               hint="TCP is a byte stream: loop on recv() until EOF instead of assuming one recv() gets it all (§4.3)")


@pytest.mark.points(4)
def test_server_sequential_clients(spawn):
    """echo_server: 200 clients one after another, each gets its own echo"""
    server, host, port = start_server(spawn)
    for i in range(200):
        payload = b"client %03d says hello\n" % i
        got, problem = exchange(host, port, payload, timeout=3)
        if got != payload or problem:
            fb.fail(f"client {i + 1} of 200 did not get its echo back cleanly"
                    + (f" ({problem})" if problem else "") + ".",
                    sent=payload, received=got, expected=payload, details=[server.describe()],
                    hint="after a client half-closes, close its socket and go back to accept() (§4.3)")


def _reset_mid_stream(host, port):
    s = connect(host, port)
    s.sendall(b"x" * 100000)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def _connect_and_leave(host, port):
    connect(host, port).close()


def _half_close_silently(host, port):
    s = connect(host, port)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()


@pytest.mark.points(3)
@pytest.mark.parametrize("misbehave", [_reset_mid_stream, _connect_and_leave, _half_close_silently],
                         ids=["reset-mid-stream", "connect-and-leave", "empty-session"])
def test_server_survives_bad_clients(spawn, misbehave):
    """echo_server: carries on after a client resets, leaves at once, or sends nothing"""
    server, host, port = start_server(spawn)
    for _ in range(3):
        misbehave(host, port)
    if not server.alive():
        fb.fail(f"echo_server died after a client misbehaved ({misbehave.__name__.strip('_')}): "
                f"{server.exit_text()}.", details=[server.describe()],
                hint="ECONNRESET and EPIPE end one connection, not the server; ignore SIGPIPE or use MSG_NOSIGNAL (§4.5)")
    check_echo(server, host, port, b"still there?\n", what="a good client after bad ones",
               hint="on recv()/send() errors, log, close that client's socket and accept the next one (§4.3)")


@pytest.mark.points(6)
def test_server_ipv6(spawn):
    """echo_server -6 on ::1 (and echo_client -6 through it)"""
    server, host, port = spawn.server("echo_server", "-6", "-b", "::1", "-p", "0",
                                      hint="use getaddrinfo() with the family from -4/-6; never hard-code AF_INET (§4.1)")
    check_echo(server, "::1", port, b"over IPv6\n", what="IPv6 echo",
               hint="the server must work with AF_INET6 addresses (§4.1)")
    client = spawn("echo_client", "-6", "::1", port, stdin=b"client over IPv6\n")
    rc = client.wait(4)
    fb.expect(rc == 0, f"echo_client -6 ::1 {port} ended with {client.exit_text()}, expected exit status 0.",
              details=[client.describe()], hint="resolve HOST with getaddrinfo() so ::1 works (§4.1)")
    fb.expect_bytes(client.stdout, b"client over IPv6\n", what="echo_client over IPv6",
                    hint="print every byte the server returns (§3.2)")


@pytest.mark.points(8)
def test_server_restart_time_wait(spawn):
    """echo_server: restarts on the same port while the old connection is in TIME_WAIT"""
    server, host, port = start_server(spawn)
    s = connect(host, port)
    s.sendall(b"hold this connection open\n")
    s.recv(100)
    # Stopping the server closes the connected socket from the server's side first (active
    # close), so once the client closes too, the server's port is left in TIME_WAIT.
    server.stop()
    s.close()
    second = spawn("echo_server", "-b", host, "-p", port)
    m = second.wait_stdout(re.compile(rb"listening on"), 3)
    if not m:
        fb.fail(f"echo_server could not restart on port {port} right after a connection "
                f"({second.exit_text()}).", details=[second.describe()],
                hint="set SO_REUSEADDR on the listening socket before bind(); TIME_WAIT holds the port otherwise (§2.3)")
    check_echo(second, host, port, b"after restart\n", what="echo after restart",
               hint="the restarted server must serve clients normally (§3.1)")


@pytest.mark.points(6)
def test_server_stable_fd_count(spawn):
    """echo_server: as many open fds after 200 clients (some resetting) as after 1"""
    server, host, port = start_server(spawn)
    check_echo(server, host, port, b"first\n", what="the first client",
               hint="close the connected socket when its client half-closes (§4.3)")
    before = open_fds(server.pid)
    for i in range(200):
        if i % 4 == 3:
            _reset_mid_stream(host, port)
            continue
        payload = b"%d\n" % i
        got, problem = exchange(host, port, payload, timeout=3)
        if got != payload or problem:
            fb.fail(f"client {i + 2} did not get its echo back cleanly ({problem or 'wrong bytes'}).",
                    sent=payload, received=got, expected=payload, details=[server.describe()],
                    hint="close() the connected socket when its client is done (§4.3)")
    # The last client may still be closing on the server's side: wait for its log line.
    server.wait_stderr_count(re.compile(rb"^closed ", re.M), 201, 3)
    after = open_fds(server.pid)
    fb.expect(after == before,
              f"echo_server had {before} open file descriptors after 1 client and {after} after 201 "
              "(every fourth of them reset its connection).",
              details=[f"  open fds now: {sorted(os.listdir(f'/proc/{server.pid}/fd'), key=int)}"],
              hint="close() the connected socket when its client is done, on every path, errors included (§4.3)")


@pytest.mark.points(3)
def test_server_logs_and_sigterm(spawn):
    """echo_server: logs accepted/closed lines, and exits 0 on SIGTERM"""
    server, host, port = start_server(spawn)
    check_echo(server, host, port, b"12345\n", what="one message",
               hint="echo every byte (§4.3)")
    closed = server.wait_stderr(re.compile(rb"closed 127\.0\.0\.1:\d+ \(6 bytes\)"), 3)
    accepted = re.search(rb"accepted 127\.0\.0\.1:\d+", server.stderr)
    fb.expect(accepted is not None and closed is not None,
              "echo_server's stderr lacks 'accepted ADDR:PORT' and 'closed ADDR:PORT (6 bytes)' for the client.",
              details=[server.describe()], hint="log both lines on stderr, with the peer's address (§3.1)")
    server.send_signal(signal.SIGTERM)
    rc = server.wait(3)
    fb.expect(rc == 0, f"after SIGTERM echo_server ended with {server.exit_text()}, expected exit status 0.",
              details=[server.describe()],
              hint="catch SIGTERM with sigaction() (no SA_RESTART), close the listening socket and return 0 (§4.5)")


# ---- echo_client ------------------------------------------------------------------------
def run_client(spawn, port, data, host=HOST, timeout=4):
    client = spawn("echo_client", host, port, stdin=data)
    rc = client.wait(timeout)
    if rc is None:
        fb.fail(f"echo_client did not exit within {timeout} s of its stdin reaching EOF.",
                received=client.stdout, expected=data, details=[client.describe()],
                hint="at EOF on stdin, shutdown(SHUT_WR), then read until recv() returns 0 (§4.4)")
    return client, rc


@pytest.mark.points(5)
def test_client_one_message(spawn, echo_peer):
    """echo_client: prints the echo of its stdin and exits 0"""
    peer = echo_peer()
    client, rc = run_client(spawn, peer.port, b"hello from the client\n")
    fb.expect_bytes(client.stdout, b"hello from the client\n", what="echo_client's stdout",
                    sent=b"hello from the client\n", details=[client.describe()],
                    hint="write every byte you receive to stdout (§3.2)")
    fb.expect(rc == 0, f"echo_client ended with {client.exit_text()}, expected exit status 0.",
              details=[client.describe()], hint="return 0 when the whole echo came back (§3.3)")


@pytest.mark.points(5)
def test_client_interactive(spawn, echo_peer):
    """echo_client: sends each line as soon as it is read, not at EOF"""
    peer = echo_peer()
    client = spawn("echo_client", HOST, peer.port)
    expected = b""
    for i in range(5):
        line = b"interactive line %d\n" % i
        client.write_stdin(line)
        expected += line
        if not client.wait_stdout_len(len(expected), 3):
            fb.fail(f"after line {i + 1} was written to echo_client's stdin (stdin still open), "
                    "its echo did not appear on stdout within 3 s.",
                    sent=line, received=client.stdout, expected=expected, details=[client.describe()],
                    hint="send what read() returns right away; do not wait for EOF on stdin (§4.4)")
    client.close_stdin()
    rc = client.wait(5)
    fb.expect(rc == 0, f"echo_client ended with {client.exit_text()} after stdin closed, expected exit status 0.",
              details=[client.describe()], hint="at EOF on stdin, shutdown(SHUT_WR), drain, exit 0 (§4.4)")


@pytest.mark.points(6)
def test_end_to_end_8mib(spawn, tmp_path):
    """echo_client and echo_server: 8 MiB from a file, through both, byte for byte"""
    server, host, port = start_server(spawn)
    data = os.urandom(8 << 20)
    src = tmp_path / "input.bin"
    src.write_bytes(data)
    client = spawn("echo_client", host, port, stdin=src)
    rc = client.wait(10)
    if rc is None:
        fb.fail(f"echo_client with 8 MiB of input did not finish within 10 s: it had printed "
                f"{len(client.stdout)} of {len(data)} bytes. Deadlock?",
                details=[client.describe(), server.describe()],
                hint="interleave sending and receiving in one poll()/select() loop; writing all before reading "
                     "fills both socket buffers and both programs block (§4.4)")
    fb.expect(rc == 0, f"echo_client ended with {client.exit_text()}, expected exit status 0.",
              details=[client.describe(), server.describe()], hint="§3.3")
    fb.expect_bytes(client.stdout, data, what="8 MiB round trip",
                    details=[server.describe()], hint="every byte must come back, in order (§4.2, §4.3)")


def _slow_echo(conn):
    """Echo at about 32 MB/s: a consumer slower than any client, so the client's send buffer
    fills and its send() calls take only part of a chunk, however loaded the machine is."""
    while True:
        data = conn.recv(16384)
        if not data:
            return
        conn.sendall(data)
        time.sleep(0.0005)  # the pace of a slow network, not synchronisation


@pytest.mark.points(8)
def test_client_slow_server(spawn, echo_peer, tmp_path):
    """echo_client: 8 MiB against a server with small buffers: no deadlock, no lost bytes"""
    # Small fixed buffers on the server's side: the path holds only a few MiB, so a client that
    # writes everything before reading deadlocks, and its send() calls often take part of a chunk.
    peer = echo_peer(bufsize=16384, behaviour=_slow_echo)
    data = os.urandom(8 << 20)
    src = tmp_path / "input.bin"
    src.write_bytes(data)
    client = spawn("echo_client", HOST, peer.port, stdin=src)
    rc = client.wait(10)
    if rc is None:
        fb.fail(f"echo_client did not finish 8 MiB within 10 s against a server with small buffers: "
                f"it had printed {len(client.stdout)} of {len(data)} bytes and the server had received "
                f"{peer.received}. Deadlock?", details=[client.describe()],
                hint="interleave sending and receiving in one poll() loop; a client that writes all before "
                     "reading fills both socket buffers and both sides block for ever (§4.4)")
    fb.expect(rc == 0, f"echo_client ended with {client.exit_text()}, expected exit status 0.",
              details=[client.describe()], hint="§3.3")
    fb.expect_bytes(client.stdout, data, what="8 MiB through a slow server",
                    details=[client.describe()],
                    hint="send() may take only part of a chunk: keep the rest and send it when poll() "
                         "says POLLOUT (§4.2, §4.4)")


@pytest.mark.points(4)
def test_client_connection_refused(spawn):
    """echo_client: 'connect ADDR:PORT: Connection refused' and exit 1"""
    # A bound socket that never listens: its port is ours, and connecting to it is refused.
    holder = socket.socket()
    holder.bind((HOST, 0))
    port = holder.getsockname()[1]
    try:
        client = spawn("echo_client", HOST, port, stdin=b"nobody there\n")
        rc = client.wait(5)
    finally:
        holder.close()
    expected = f"echo_client: connect {HOST}:{port}: Connection refused"
    err = client.stderr.decode("utf-8", "replace")
    fb.expect(rc == 1 and expected in err,
              f"with nothing listening, echo_client should print '{expected}' on stderr and exit 1; "
              f"it ended with {client.exit_text()}.",
              details=[client.describe()],
              hint="report errors as 'prog: call ADDR:PORT: strerror(errno)' and exit 1 (§3.3)")


@pytest.mark.points(1)
@pytest.mark.parametrize("prog,args", [
    ("echo_client", []),
    ("echo_client", ["127.0.0.1"]),
    ("echo_client", ["127.0.0.1", "notaport"]),
    ("echo_client", ["127.0.0.1", "70000"]),
    ("echo_server", []),
    ("echo_server", ["-p", "x"]),
    ("echo_server", ["-p", "0", "extra"]),
], ids=["client-no-args", "client-no-port", "client-bad-port", "client-port-range",
        "server-no-port", "server-bad-port", "server-extra-arg"])
def test_bad_arguments(spawn, echo_peer, prog, args):
    """Bad arguments: a usage line on stderr and exit status 2 (good ones still work)"""
    p = spawn(prog, *args, stdin=b"")
    rc = p.wait(5)
    err = p.stderr.decode("utf-8", "replace")
    fb.expect(rc == 2 and "usage" in err.lower(),
              f"`{prog} {' '.join(args)}` should print a usage line on stderr and exit 2; "
              f"it ended with {p.exit_text()}.",
              details=[p.describe()], hint="check argc and parse the port with parse_port() (§3.3)")
    # The control case: a program that always prints usage must not pass.
    if prog == "echo_server":
        spawn.server("echo_server", "-b", HOST, "-p", "0",
                     hint="with good arguments the server must start and print 'listening on' (§3.1)")
    else:
        peer = echo_peer()
        good, rc = run_client(spawn, peer.port, b"good arguments\n")
        fb.expect(rc == 0 and good.stdout == b"good arguments\n",
                  f"with good arguments (`echo_client {HOST} {peer.port}`) the client should echo and "
                  f"exit 0; it ended with {good.exit_text()}.", details=[good.describe()],
                  hint="only bad arguments are a usage error; see §3.2")


def _close_early(conn):
    conn.recv(4)
    conn.sendall(b"echo")


@pytest.mark.points(3)
def test_client_server_closes_early(spawn, echo_peer):
    """echo_client: the server closes before the echo is complete: a message, exit 1"""
    good_peer = echo_peer()
    control, rc = run_client(spawn, good_peer.port, b"echo this whole line please\n")
    fb.expect(rc == 0, f"against a server that echoes everything, echo_client should exit 0; it ended "
              f"with {control.exit_text()}.", details=[control.describe()],
              hint="exit 1 only when the echo is incomplete or an error happened (§3.3)")
    peer = echo_peer(behaviour=_close_early)
    client, rc = run_client(spawn, peer.port, b"echo this whole line please\n")
    err = client.stderr.decode("utf-8", "replace").strip()
    fb.expect(rc == 1 and err.startswith("echo_client:"),
              f"the server closed after echoing 4 of 28 bytes; echo_client should say so on stderr "
              f"('echo_client: ...') and exit 1, but it ended with {client.exit_text()}.",
              details=[client.describe()],
              hint="count bytes sent and received; EOF before they match is an error (§3.2, §3.3)")
