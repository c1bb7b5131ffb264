"""Lab 01: TCP echo (RFC 862). Tests for echo_server and echo_client, with points.

Server tests talk to the student's echo_server through trusted Python clients; client
tests run the student's echo_client against a trusted Python echo server; the end-to-end
test uses both student programs. Each test names the handout requirements it checks
(`spec`); section numbers (§) refer to labs/01-tcp-echo/README.md. The peers and steps are
in harness/labs/lab01.py.
"""
from __future__ import annotations

import errno
import os
import re
import signal
import socket

import pytest

from harness import feedback as fb
from harness import timing
from harness.labs.lab01 import (HOST, check_echo, close_after_4_bytes, connect_and_leave, connect_and_wait_accept,
                                echo_after_eof,
                                echo_session, expect_exit, expect_stderr_line, free_port, gai_reason,
                                half_close_silently, linger_reset, log_entries, need_ipv6, patient,
                                reset_after_4_bytes,
                                reset_mid_stream, run_client, slow_echo, start_server, talking_to,
                                vanish_while_echoing)
from harness.paths import time_scale
from harness.peers import connect, exchange
from harness.procs import open_fds

LAB = "01"
#: The tests the kit's self-test runs under valgrind memcheck (not the timing-heavy ones).
VALGRIND_SELECT = "one_message or many_lines or all_byte or bad_clients or fd_count or log_lines or ipv6 or closes_early or frees_everything"


# ---- echo_server: the echo ----------------------------------------------------------------
@pytest.mark.spec("R3.1-8")
@pytest.mark.points(3)
def test_server_one_message(spawn):
    """echo_server: one message comes back, then EOF"""
    server, host, port = start_server(spawn)
    check_echo(server, host, port, b"hello, echo\n", what="one message",
               hint="echo every byte with send_all(), and close the connected socket when recv() returns 0 "
                    "(R3.1-8, §4.3)")


@pytest.mark.spec("R3.1-6")
@pytest.mark.points(1)
def test_server_ready_line(spawn):
    """echo_server: prints exactly 'listening on ADDR:PORT' with the real port"""
    server, host, port = start_server(spawn)
    expected = f"listening on {HOST}:{port}\n".encode()
    fb.expect(port != 0, "echo_server printed port 0: it must print the port the kernel chose, from "
              "getsockname() after bind().", details=[server.describe()], hint="R3.1-6, §3.1")
    fb.expect_bytes(server.stdout, expected, what="echo_server's stdout (-b 127.0.0.1 -p 0)",
                    details=[server.describe()],
                    hint="print exactly one line 'listening on ADDR:PORT' and nothing else on stdout (R3.1-6, §3.1)")
    check_echo(server, host, port, b"at the port it printed\n", what="echo at the printed port",
               hint="the port printed must be the one the server listens on (R3.1-6)")


@pytest.mark.spec("R3.1-8")
@pytest.mark.points(2)
def test_server_many_lines(spawn):
    """echo_server: 2000 lines sent while the echo is read"""
    server, host, port = start_server(spawn)
    payload = b"".join(b"line %04d of the many-lines test\n" % i for i in range(2000))
    check_echo(server, host, port, payload, what="many lines",
               hint="keep calling recv() until it returns 0; one recv() is not one message (R3.1-8, §4.3)")


@pytest.mark.spec("R3.1-8")
@pytest.mark.points(4)
def test_server_all_byte_values(spawn):
    """echo_server: all 256 byte values, NUL included, come back unchanged"""
    server, host, port = start_server(spawn)
    payload = bytes(range(256)) * 16
    check_echo(server, host, port, payload, what="binary data",
               hint="the data is bytes, not a C string: use recv()'s return value, never strlen() (R3.1-8, §6)")


@pytest.mark.spec("R3.1-8")
@pytest.mark.points(4)
def test_server_fragmented(spawn, fragmenting_proxy):
    """echo_server: a stream delivered one byte per segment, both ways"""
    server, host, port = start_server(spawn)
    proxy = fragmenting_proxy((host, port), chunk=1, delay_s=0.0005)
    payload = b"split into 1-byte segments\nand still one stream\n"
    check_echo(server, proxy.host, proxy.port, payload, what="1-byte fragments through the proxy",
               hint="TCP is a byte stream: loop on recv() until EOF instead of assuming one recv() gets it all "
                    "(R3.1-8, §4.3)")


@pytest.mark.spec("R3.1-7")
@pytest.mark.points(3)
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
                    hint="after a client half-closes, close its socket and go back to accept() (R3.1-7, §4.3)")


@pytest.mark.spec("R3.1-11")
@pytest.mark.points(1)
@pytest.mark.parametrize("misbehave", [
    reset_mid_stream, connect_and_leave, half_close_silently,
    pytest.param(vanish_while_echoing, marks=pytest.mark.spec("R4.5-1")),
], ids=["reset-mid-stream", "connect-and-leave", "empty-session", "vanish-while-echoing"])
def test_server_survives_bad_clients(spawn, misbehave):
    """echo_server: carries on after a client resets, leaves at once, sends nothing or vanishes"""
    server, host, port = start_server(spawn)
    bad = misbehave.__name__.replace("_", " ")
    with talking_to(server, f"a misbehaving client ({bad})",
                    hint="ECONNRESET and EPIPE end one connection, not the server (R3.1-11, §4.5)"):
        for _ in range(3):
            misbehave(host, port)
    if not server.alive():
        fb.fail(f"echo_server died after a client misbehaved ({misbehave.__name__.replace('_', ' ')}): "
                f"{server.exit_text()}.", details=[server.describe()],
                hint="ECONNRESET and EPIPE end one connection, not the server; ignore SIGPIPE or use MSG_NOSIGNAL "
                     "(R3.1-11, §4.5)")
    check_echo(server, host, port, b"still there?\n", what="a good client after bad ones",
               hint="on recv()/send() errors, log, close that client's socket and accept the next one "
                    "(R3.1-11, §4.3)")


# ---- echo_server: options and addresses ---------------------------------------------------
@pytest.mark.spec("R3.1-1", "R3.1-6")
@pytest.mark.points(3)
def test_server_ipv6(spawn):
    """echo_server -6 -b ::1: 'listening on [::1]:PORT', and the echo over IPv6"""
    need_ipv6()
    server, host, port = spawn.server("echo_server", "-6", "-b", "::1", "-p", "0",
                                      hint="use getaddrinfo() with the family from -4/-6; never hard-code "
                                           "AF_INET (R3.1-1, §4.1)")
    fb.expect(re.search(rb"^listening on \[::1\]:%d\s*$" % port, server.stdout, re.M) is not None,
              f"echo_server -6 -b ::1 should print 'listening on [::1]:{port}' (IPv6 in brackets).",
              details=[f"  stdout: {fb.quote(server.stdout)}", server.describe()],
              hint="format the address with sockaddr_str() (R3.1-6, §3.1)")
    check_echo(server, "::1", port, b"over IPv6\n", what="IPv6 echo",
               hint="the server must work with AF_INET6 addresses (R3.1-1, §4.1)")


@pytest.mark.spec("R3.1-1")
@pytest.mark.points(1)
@pytest.mark.parametrize("flag,wildcard,reach", [("-6", "[::]", "::1"), ("-4", "0.0.0.0", HOST)],
                         ids=["-6", "-4"])
def test_server_family_options(spawn, flag, wildcard, reach):
    """echo_server -4/-6 without -b: every address of that family"""
    if flag == "-6":
        need_ipv6()
    server, _, port = start_server(spawn, flag, host=None)
    shown = f"listening on {wildcard}:{port}"
    fb.expect(re.search(rb"^%s\s*$" % re.escape(shown.encode()), server.stdout, re.M) is not None,
              f"`echo_server {flag} -p 0` should listen on every {'IPv6' if flag == '-6' else 'IPv4'} "
              f"address and print '{shown}'.",
              details=[f"  stdout: {fb.quote(server.stdout)}", server.describe()],
              hint=f"pass the family of {flag} to getaddrinfo() in hints.ai_family (R3.1-1, §4.1)")
    check_echo(server, reach, port, b"any address of the family\n", what=f"echo via {reach}",
               hint=f"with {flag} and no -b, bind the wildcard address of that family (R3.1-1, §4.1)")


@pytest.mark.spec("R3.1-2")
@pytest.mark.points(2)
def test_server_bind_address(spawn):
    """echo_server -b 127.0.0.2: reachable there, and only there"""
    server, host, port = start_server(spawn, host="127.0.0.2")
    fb.expect(host == "127.0.0.2", f"`echo_server -b 127.0.0.2 -p 0` printed 'listening on {host}:{port}'; "
              "it should bind 127.0.0.2 and print that address.", details=[server.describe()],
              hint="pass the -b address to getaddrinfo() as the node (R3.1-2, §4.1)")
    check_echo(server, "127.0.0.2", port, b"bound to one address\n", what="echo via 127.0.0.2",
               hint="bind the address given with -b (R3.1-2)")
    try:
        s = connect(HOST, port, timeout=2)
    except OSError:
        return
    s.close()
    fb.fail(f"`echo_server -b 127.0.0.2 -p 0` accepted a connection at 127.0.0.1:{port}: it listens on "
            "more than the address it was given.", details=[server.describe()],
            hint="with -b ADDR, getaddrinfo(ADDR, ...) and bind only that address, not NULL (R3.1-2, §4.1)")


@pytest.mark.spec("R3.1-3")
@pytest.mark.points(1)
def test_server_default_address(spawn):
    """echo_server without -b: reachable at 127.0.0.1 and 127.0.0.2"""
    server, _, port = start_server(spawn, host=None)
    for addr in (HOST, "127.0.0.2"):
        check_echo(server, addr, port, b"any local address\n", what=f"echo via {addr} (no -b)",
                   hint="without -b, pass NULL to getaddrinfo() with AI_PASSIVE: the wildcard address (R3.1-3, §4.1)")


@pytest.mark.spec("R3.1-4")
@pytest.mark.points(1)
def test_server_fixed_port(spawn):
    """echo_server -p PORT: listens on that port"""
    want = free_port()
    server, host, port = start_server(spawn, "-p", str(want))
    fb.expect(port == want, f"`echo_server -b {HOST} -p {want}` printed port {port}; it should listen on {want}.",
              details=[server.describe()], hint="pass the -p value to getaddrinfo() as the service (R3.1-4, §3.1)")
    check_echo(server, host, want, b"fixed port\n", what=f"echo at port {want}",
               hint="listen on the port given with -p (R3.1-4)")


@pytest.mark.spec("R3.1-5")
@pytest.mark.points(4)
def test_server_restart_time_wait(spawn):
    """echo_server: restarts on the same port while the old connection is in TIME_WAIT"""
    server, host, port = start_server(spawn)
    with talking_to(server, "a client holding a connection open", hint="accept() clients (R3.1-7)"):
        s = connect_and_wait_accept(server, host, port)
    # Stopping the server closes the connected socket from the server's side first (active
    # close), so once the client closes too, the server's port is left in TIME_WAIT.
    server.stop()
    s.close()
    second = spawn("echo_server", "-b", host, "-p", port)
    m = second.wait_stdout(re.compile(rb"listening on"), 3)
    if not m:
        fb.fail(f"echo_server could not restart on port {port} right after a connection "
                f"({second.exit_text()}).", details=[second.describe()],
                hint="set SO_REUSEADDR on the listening socket before bind(); TIME_WAIT holds the port otherwise "
                     "(R3.1-5, §2.3)")
    check_echo(second, host, port, b"after restart\n", what="echo after restart",
               hint="the restarted server must serve clients normally (§3.1)")


# ---- echo_server: resources, log, signals, errors ------------------------------------------
@pytest.mark.spec("R4.3-1")
@pytest.mark.points(4)
def test_server_stable_fd_count(spawn):
    """echo_server: as many open fds after 200 clients (some resetting) as after 1"""
    server, host, port = start_server(spawn)
    check_echo(server, host, port, b"first\n", what="the first client",
               hint="close the connected socket when its client half-closes (R4.3-1, §4.3)")
    before = open_fds(server.pid)
    for i in range(200):
        if i % 4 == 3:
            with talking_to(server, f"client {i + 2}, which resets its connection",
                            hint="a reset ends one connection, not the server (R3.1-11)"):
                reset_mid_stream(host, port)
            continue
        payload = b"%d\n" % i
        got, problem = exchange(host, port, payload, timeout=3)
        if got != payload or problem:
            fb.fail(f"client {i + 2} did not get its echo back cleanly ({problem or 'wrong bytes'}).",
                    sent=payload, received=got, expected=payload, details=[server.describe()],
                    hint="close() the connected socket when its client is done (R4.3-1, §4.3)")
    # The last client may still be closing on the server's side: wait for its log line.
    server.wait_stderr_count(re.compile(rb"^closed ", re.M), 201, 3)
    after = open_fds(server.pid)
    fb.expect(after == before,
              f"echo_server had {before} open file descriptors after 1 client and {after} after 201 "
              "(every fourth of them reset its connection).", details=[server.describe()],
              hint="close() the connected socket when its client is done, on every path, errors included "
                   "(R4.3-1, §4.3)")


@pytest.mark.spec("R3.1-9", "R3.1-10")
@pytest.mark.points(3)
def test_server_log_lines(spawn):
    """echo_server: 'accepted ADDR:PORT' and 'closed ADDR:PORT (N bytes)' for each client"""
    server, host, port = start_server(spawn)
    sessions = []
    for n in (6, 0, 1, 200000):
        payload = os.urandom(n)
        with talking_to(server, f"a client sending {n} bytes", hint="accept the next client (R3.1-7)"):
            got, problem, cport = echo_session(host, port, payload)
        fb.expect(got == payload and problem is None, f"a client sending {n} bytes did not get its echo back "
                  f"cleanly ({problem or 'wrong bytes'}).", details=[server.describe()],
                  hint="echo every byte, then close (R3.1-8)")
        sessions.append((cport, n))
    server.wait_stderr_count(re.compile(rb"^closed ", re.M), len(sessions), 3)
    accepted, closed = log_entries(server.stderr)
    expected = "\n".join(f"    accepted {HOST}:{p}\n    closed {HOST}:{p} ({n} bytes)" for p, n in sessions)
    details = [f"  expected on stderr, in this order (other lines may come between):\n{expected}",
               server.describe()]
    fb.expect(len(accepted) == len(closed) == len(sessions),
              f"{len(sessions)} clients came and went one after another; echo_server logged {len(accepted)} "
              f"'accepted ADDR:PORT' and {len(closed)} 'closed ADDR:PORT (N bytes)' lines on stderr.",
              details=details,
              hint="log 'accepted ADDR:PORT' after accept() and 'closed ADDR:PORT (N bytes)' when done "
                   "(R3.1-9, R3.1-10, §3.1)")
    for (cport, n), acc, clo in zip(sessions, accepted, closed):
        fb.expect(acc == (HOST, cport) and clo[:2] == (HOST, cport),
                  f"a client connected from {HOST}:{cport}; echo_server logged 'accepted {acc[0]}:{acc[1]}' and "
                  f"'closed {clo[0]}:{clo[1]} (...)'.", details=details,
                  hint="log the CLIENT's address and port, from accept()'s address argument, in both lines "
                       "(R3.1-9, §3.1)")
        fb.expect(clo[2] == n, f"the client at {HOST}:{cport} sent {n} bytes and got them all back, but "
                  f"echo_server logged 'closed {HOST}:{cport} ({clo[2]} bytes)'.", details=details,
                  hint="add every chunk that recv() returned and send_all() echoed to the total (R3.1-10, §3.1)")


def _stop(server, sig, situation: str) -> None:
    """Send `sig`; a second one after 1 s if the first landed in the window that §4.5 allows
    (after the loop's check of the flag, before the call blocks)."""
    name = signal.Signals(sig).name
    server.send_signal(sig)
    rc = server.wait(1)
    if rc is None:
        server.send_signal(sig)
        rc = server.wait(2)
    if rc is None:
        fb.fail(f"{situation}, echo_server got {name} twice and was still running 3 s later.",
                details=[server.describe()],
                hint=f"catch {name} with sigaction() WITHOUT SA_RESTART, so that the blocked accept() or recv() "
                     "returns EINTR, and then look at the stop flag before trying again (R3.1-12, §4.5)")
    expect_exit(server, rc, 0, situation=f"{situation}, after {name}",
                hint="close the listening socket and return 0 from main() (R3.1-12, §4.5)")


@pytest.mark.spec("R3.1-12")
@pytest.mark.points(2)
def test_server_logs_and_sigterm(spawn):
    """echo_server: exits 0 on SIGTERM while it waits in accept()"""
    server, host, port = start_server(spawn)
    check_echo(server, host, port, b"12345\n", what="one message", hint="echo every byte (§4.3)")
    server.wait_stderr(re.compile(rb"^closed ", re.M), 2)
    _stop(server, signal.SIGTERM, "waiting for the next client")


@pytest.mark.spec("R3.1-12")
@pytest.mark.points(1)
def test_server_sigint(spawn):
    """echo_server: exits 0 on SIGINT (Ctrl-C)"""
    server, host, port = start_server(spawn)
    _stop(server, signal.SIGINT, "waiting for a client")


@pytest.mark.spec("R3.1-12")
@pytest.mark.points(2)
def test_server_stop_during_session(spawn):
    """echo_server: exits 0 on SIGTERM while a connected client sends nothing"""
    server, host, port = start_server(spawn)
    with talking_to(server, "a client that connects and waits", hint="accept() clients (R3.1-7)"):
        s = connect_and_wait_accept(server, host, port)
    try:
        _stop(server, signal.SIGTERM, "with a client connected and silent (the server blocked in recv())")
    finally:
        s.close()


@pytest.mark.spec("R3.1-8")
@pytest.mark.points(2)
def test_server_echoes_at_once(spawn):
    """echo_server: each line comes back at once, before the client half-closes"""
    server, host, port = start_server(spawn)
    with talking_to(server, "a client that sends lines one by one", hint="echo what recv() returns at once (R3.1-8)"):
        s = connect(host, port)
        try:
            sent = got = b""
            for i in range(3):
                line = b"line %d, the connection still open\n" % i
                s.sendall(line)
                sent += line
                s.settimeout(3 * time_scale())
                try:
                    while len(got) < len(sent):
                        data = s.recv(65536)
                        if not data:
                            break
                        got += data
                except socket.timeout:
                    pass
                if got != sent:
                    fb.fail(f"after line {i + 1} was sent (the connection still open, no half-close), its echo "
                            "did not come back within 3 s.", sent=line, received=got, expected=sent,
                            details=[server.describe()],
                            hint="send_all() what each recv() returned right away; do not wait for EOF to echo "
                                 "(R3.1-8, §4.3)")
        finally:
            s.close()


@pytest.mark.spec("R4.3-2")
@pytest.mark.points(2)
def test_server_reports_reset(spawn):
    """echo_server: a client's reset is reported as 'recv ADDR:PORT: Connection reset by peer'"""
    server, host, port = start_server(spawn)
    with talking_to(server, "a new client", hint="accept() clients (R3.1-7)"):
        s = connect_and_wait_accept(server, host, port)
    cport = s.getsockname()[1]
    with talking_to(server, "a client resetting its connection", hint="R4.3-2"):
        linger_reset(s)  # the server is blocked in recv(): it gets ECONNRESET
    server.wait_stderr(re.compile(rb"Connection reset by peer", re.M), 3)
    expect_stderr_line(server, rf"echo_server: recv {re.escape(HOST)}:{cport}: Connection reset by peer",
                       situation=f"a client ({HOST}:{cport}) reset its connection while the server waited in recv()",
                       shown=f"echo_server: recv {HOST}:{cport}: Connection reset by peer",
                       hint="recv() returning -1 is an error, not an EOF: print it with strerror(errno), then close "
                            "that socket and go on (R4.3-2, §4.3)")
    check_echo(server, host, port, b"next\n", what="a client after the reset",
               hint="after a reset, close that socket and accept() the next client (R3.1-11)")


@pytest.mark.spec("R3.3-3")
@pytest.mark.points(2)
def test_server_port_in_use(spawn):
    """echo_server: 'bind ADDR:PORT: Address already in use' and exit 1"""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind((HOST, 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        server = spawn("echo_server", "-b", HOST, "-p", port)
        rc = server.wait(5)
    finally:
        holder.close()
    situation = f"with port {port} of {HOST} already listening"
    if rc is None:
        fb.fail(f"{situation}, `echo_server -b {HOST} -p {port}` was still running after 5 s; it should fail.",
                details=[server.describe()], hint="check bind()'s result (R3.3-3, §4.1)")
    expect_stderr_line(server, rf"echo_server: bind {re.escape(HOST)}:{port}: Address already in use",
                       situation=situation, shown=f"echo_server: bind {HOST}:{port}: Address already in use",
                       hint="report a failed call as 'prog: call ADDR:PORT: strerror(errno)' (R3.3-3, §3.3)")
    expect_exit(server, rc, 1, situation=situation, hint="a failed system call is exit status 1 (R3.3-3, §3.3)")


@pytest.mark.spec("R4.1-1")
@pytest.mark.points(2)
def test_server_frees_everything(spawn):
    """echo_server: frees everything at exit (no leak report after SIGTERM)"""
    server, host, port = start_server(spawn)
    check_echo(server, host, port, b"a normal session\n", what="one message", hint="echo every byte (§4.3)")
    server.send_signal(signal.SIGTERM)
    server.wait(5)
    report = server.leak_report()
    if report:
        fb.fail("after a normal session and SIGTERM, echo_server exited with memory still allocated "
                "(LeakSanitizer's report below).", details=[report],
                hint="freeaddrinfo() the list on every path of the getaddrinfo loop (R4.1-1, §4.1)")


# ---- echo_client --------------------------------------------------------------------------
@pytest.mark.spec("R3.2-4", "R3.3-1")
@pytest.mark.points(3)
def test_client_one_message(spawn, echo_peer):
    """echo_client: prints the echo of its stdin and exits 0"""
    peer = echo_peer()
    client, rc = run_client(spawn, HOST, peer.port, data=b"hello from the client\n")
    fb.expect_bytes(client.stdout, b"hello from the client\n", what="echo_client's stdout",
                    sent=b"hello from the client\n", details=[client.describe()],
                    hint="write every byte you receive to stdout (R3.2-4, §3.2)")
    expect_exit(client, rc, 0, situation="the whole echo came back",
                hint="return 0 when the whole echo came back (R3.3-1, §3.3)")


@pytest.mark.spec("R3.2-4")
@pytest.mark.points(2)
def test_client_all_byte_values(spawn, echo_peer):
    """echo_client: all 256 byte values, NUL included, reach stdout unchanged"""
    peer = echo_peer()
    data = bytes(range(256)) * 8
    client, rc = run_client(spawn, HOST, peer.port, data=data)
    fb.expect_bytes(client.stdout, data, what="echo_client's stdout (binary)", sent=data,
                    details=[client.describe()],
                    hint="the data is bytes: write() the count that recv() returned, never printf(\"%s\") or "
                         "strlen() (R3.2-4, §3.2)")


@pytest.mark.spec("R3.2-3")
@pytest.mark.points(4)
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
                    hint="send what read() returns right away; do not wait for EOF on stdin (R3.2-3, §4.4)")
    client.close_stdin()
    rc = client.wait(5)
    expect_exit(client, rc, 0, situation="after its stdin closed",
                hint="at EOF on stdin, shutdown(SHUT_WR), drain, exit 0 (R3.2-5, §4.4)")


@pytest.mark.spec("R3.2-5")
@pytest.mark.points(3)
def test_client_half_close(spawn, echo_peer):
    """echo_client: half-closes at EOF and still reads an echo that starts only then"""
    peer = echo_peer(behaviour=echo_after_eof)
    data = b"".join(b"line %d, echoed only after EOF\n" % i for i in range(100))
    client, rc = run_client(spawn, HOST, peer.port, data=data,
                            hint="at EOF on stdin, shutdown(SHUT_WR) (not close()), so the server sees EOF, then "
                                 "keep reading until recv() returns 0 (R3.2-5, §4.4)")
    fb.expect_bytes(client.stdout, data, what="the echo sent after the client's half-close", sent=data,
                    details=[client.describe()],
                    hint="after shutdown(SHUT_WR) keep reading until recv() returns 0; close() or exit would lose "
                         "the echo (R3.2-5, §4.4)")
    expect_exit(client, rc, 0, situation="the whole echo came back",
                hint="return 0 when the whole echo came back (R3.3-1)")


@pytest.mark.spec("R3.2-5", "R3.2-6")
@pytest.mark.points(4)
def test_end_to_end_8mib(spawn, tmp_path):
    """echo_client and echo_server: 8 MiB from a file, through both, byte for byte"""
    server, host, port = start_server(spawn)
    data = os.urandom(8 << 20)
    src = tmp_path / "input.bin"
    src.write_bytes(data)
    client = spawn("echo_client", host, port, stdin=src)
    rc = client.wait(timing.upper(10))
    if rc is None:
        fb.fail(f"echo_client with 8 MiB of input did not finish within 10 s: it had printed "
                f"{len(client.stdout)} of {len(data)} bytes. Deadlock?",
                details=[client.describe(), server.describe()],
                hint="interleave sending and receiving in one poll()/select() loop; writing all before reading "
                     "fills both socket buffers and both programs block (R3.2-6, §4.4)")
    expect_exit(client, rc, 0, situation="8 MiB through both programs",
                hint="exit 0 when the whole echo came back (R3.3-1)")
    fb.expect_bytes(client.stdout, data, what="8 MiB round trip",
                    details=[server.describe()], hint="every byte must come back, in order (R3.2-5, §4.2, §4.3)")


@pytest.mark.spec("R3.2-6", "R4.4-1")
@pytest.mark.points(5)
def test_client_slow_server(spawn, echo_peer, tmp_path):
    """echo_client: 8 MiB against a server with small buffers: no deadlock, no lost bytes"""
    # Small fixed buffers on the server's side: the path holds only a few MiB, so a client that
    # writes everything before reading deadlocks, and its send() calls often take part of a chunk.
    peer = echo_peer(bufsize=16384, behaviour=slow_echo)
    data = os.urandom(8 << 20)
    src = tmp_path / "input.bin"
    src.write_bytes(data)
    client = spawn("echo_client", HOST, peer.port, stdin=src)
    rc = client.wait(timing.upper(10))
    if rc is None:
        fb.fail(f"echo_client did not finish 8 MiB within 10 s against a server with small buffers: "
                f"it had printed {len(client.stdout)} of {len(data)} bytes and the server had received "
                f"{peer.received}. Deadlock?", details=[client.describe()],
                hint="interleave sending and receiving in one poll() loop; a client that writes all before "
                     "reading fills both socket buffers and both sides block for ever (R3.2-6, §4.4)")
    expect_exit(client, rc, 0, situation="8 MiB through a slow server", hint="R3.3-1, §3.3")
    fb.expect_bytes(client.stdout, data, what="8 MiB through a slow server",
                    details=[client.describe()],
                    hint="send() may take only part of a chunk: keep the rest and send it when poll() "
                         "says POLLOUT (R4.4-1, §4.2, §4.4)")


@pytest.mark.spec("R3.2-1", "R3.2-2")
@pytest.mark.points(2)
def test_client_ipv6(spawn, echo_peer):
    """echo_client -6 ::1: the echo over IPv6"""
    need_ipv6()
    peer = echo_peer(family=socket.AF_INET6)
    client, rc = run_client(spawn, "-6", "::1", peer.port, data=b"client over IPv6\n")
    fb.expect_bytes(client.stdout, b"client over IPv6\n", what="echo_client -6 ::1",
                    details=[client.describe()],
                    hint="resolve HOST with getaddrinfo() and create each socket with ai->ai_family (R3.2-2, §4.1)")
    expect_exit(client, rc, 0, situation="over IPv6", hint="R3.3-1")


@pytest.mark.spec("R3.2-2")
@pytest.mark.points(1)
def test_client_host_name(spawn, echo_peer):
    """echo_client localhost PORT: HOST may be a name"""
    # Where localhost is also ::1, a client tries it first and is refused: the loop goes on (§4.1).
    v4 = echo_peer()
    client, rc = run_client(spawn, "localhost", v4.port, data=b"by name\n")
    fb.expect_bytes(client.stdout, b"by name\n", what="echo_client localhost", details=[client.describe()],
                    hint="resolve HOST with getaddrinfo(), which takes names as well as addresses (R3.2-2, §4.1)")
    expect_exit(client, rc, 0, situation="echo_client localhost PORT", hint="R3.3-1")


@pytest.mark.spec("R3.3-3")
@pytest.mark.points(1)
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
    situation = "with nothing listening on the port"
    expect_stderr_line(client, rf"echo_client: connect {re.escape(HOST)}:{port}: Connection refused",
                       situation=situation, shown=f"echo_client: connect {HOST}:{port}: Connection refused",
                       hint="report errors as 'prog: call ADDR:PORT: strerror(errno)' (R3.3-3, §3.3)")
    expect_exit(client, rc, 1, situation=situation, hint="a failed system call is exit status 1 (R3.3-3, §3.3)")


@pytest.mark.spec("R3.3-3")
@pytest.mark.points(1)
def test_client_stdin_error(spawn, echo_peer):
    """echo_client: a failed read() of stdin is reported ('echo_client: read ...: reason'), exit 1"""
    # stdin is a directory: poll() says readable, and every read() fails with EISDIR. A client
    # that takes the failure for EOF, retries it, or says nothing must lose this point.
    peer = echo_peer()
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        client = spawn("echo_client", HOST, peer.port, stdin=fd)
    finally:
        os.close(fd)
    rc = client.wait(patient(5))
    reason = os.strerror(errno.EISDIR)
    situation = "with a directory as stdin (every read() fails with EISDIR)"
    if rc is None:
        fb.fail(f"{situation}, echo_client was still running after 5 s: a failed read() must end it.",
                details=[client.describe()],
                hint="read() returning -1 is an error (only EINTR means try again): report it and exit 1 "
                     "(R3.3-3, §3.3)")
    expect_stderr_line(client, rf"echo_client: read\b.*: {re.escape(reason)}", situation=situation,
                       shown=f"echo_client: read stdin: {reason}",
                       hint="read() returning -1 is an error, not an EOF: print it with strerror(errno) "
                            "(R3.3-3, §3.3)")
    expect_exit(client, rc, 1, situation=situation, hint="a failed system call is exit status 1 (R3.3-3, §3.3)")


@pytest.mark.spec("R3.3-4")
@pytest.mark.points(1)
@pytest.mark.parametrize("prog,args,host", [
    pytest.param("echo_client", ["-4", "::1", "PORT"], "::1", marks=pytest.mark.spec("R3.2-1")),
    pytest.param("echo_client", ["-6", HOST, "PORT"], HOST, marks=pytest.mark.spec("R3.2-1")),
    pytest.param("echo_server", ["-4", "-b", "::1", "-p", "PORT"], "::1", marks=pytest.mark.spec("R3.1-1")),
    pytest.param("echo_server", ["-6", "-b", HOST, "-p", "PORT"], HOST, marks=pytest.mark.spec("R3.1-1")),
], ids=["client-4-ipv6-host", "client-6-ipv4-host", "server-4-ipv6-address", "server-6-ipv4-address"])
def test_getaddrinfo_errors(spawn, echo_peer, prog, args, host):
    """-4/-6 with an address of the other family: 'getaddrinfo HOST:PORT: reason', exit 1"""
    family = socket.AF_INET if "-4" in args else socket.AF_INET6
    if family == socket.AF_INET6:
        need_ipv6()  # the control case below uses ::1
    port = str(free_port())
    args = [port if a == "PORT" else a for a in args]
    p = spawn(prog, *args, stdin=b"wrong family\n")
    rc = p.wait(5)
    command = f"{prog} {' '.join(args)}"
    if rc is None:
        fb.fail(f"`{command}` was still running after 5 s; {args[0]} forbids the address {host}, so "
                "getaddrinfo() fails and the program should exit 1.", details=[p.describe()],
                hint=f"put the family of {args[0]} in hints.ai_family (R3.1-1, R3.2-1, §4.1)")
    reason = gai_reason(host, port, family, passive=prog == "echo_server") or "(a gai_strerror() message)"
    shown = f"{prog}: getaddrinfo {host}:{port}: {reason}"
    expect_stderr_line(p, rf"{prog}: getaddrinfo \[?{re.escape(host)}\]?:{port}: {re.escape(reason)}",
                       situation=f"`{command}`", shown=shown,
                       hint=f"pass the family of {args[0]} in hints.ai_family, and report getaddrinfo's error with "
                            "gai_strerror(rc), not strerror(errno) (R3.3-4, §3.3, §4.1)")
    expect_exit(p, rc, 1, situation=f"`{command}`", hint="a failed getaddrinfo is exit status 1 (R3.3-4, §3.3)")
    # The control case: the same option with an address of its own family works.
    good = "::1" if host == HOST else HOST
    if prog == "echo_server":
        start_server(spawn, args[0], host=good,
                     hint=f"with `{args[0]} -b {good}` the server must start and print 'listening on' (R3.1-1)")
    else:
        ok = echo_peer(family=socket.AF_INET6 if good == "::1" else socket.AF_INET)
        client, rc = run_client(spawn, args[0], good, ok.port, data=b"right family\n")
        fb.expect_bytes(client.stdout, b"right family\n", what=f"`echo_client {args[0]} {good} {ok.port}`",
                        sent=b"right family\n", details=[client.describe()],
                        hint=f"{args[0]} allows {good} (R3.2-1, §3.2)")
        expect_exit(client, rc, 0, situation=f"`echo_client {args[0]} {good} {ok.port}`",
                    hint=f"{args[0]} allows {good} (R3.2-1, §3.2)")


@pytest.mark.spec("R3.3-5", "R3.2-7")
@pytest.mark.points(2)
def test_client_server_closes_early(spawn, echo_peer):
    """echo_client: 'server closed the connection after echoing 4 of 28 bytes', exit 1"""
    data = b"echo this whole line please\n"
    peer = echo_peer(behaviour=close_after_4_bytes)
    client, rc = run_client(spawn, HOST, peer.port, data=data)
    situation = f"the server read all {len(data)} bytes, echoed 4 and closed the connection (FIN)"
    expect_stderr_line(client, r"echo_client: server closed the connection after echoing 4 of 28 bytes",
                       situation=situation,
                       shown="echo_client: server closed the connection after echoing 4 of 28 bytes",
                       hint="count the bytes sent and received; EOF before they match is an error, with both "
                            "counts in the message (R3.2-7, R3.3-5, §3.3)")
    expect_exit(client, rc, 1, situation=situation, hint="an incomplete echo is exit status 1 (R3.3-5, §3.3)")


@pytest.mark.spec("R3.3-6")
@pytest.mark.points(2)
def test_client_reports_reset(spawn, echo_peer):
    """echo_client: a reset is 'recv: Connection reset by peer', exit 1 (not an EOF)"""
    data = b"echo this whole line please\n"
    peer = echo_peer(behaviour=reset_after_4_bytes)
    client, rc = run_client(spawn, HOST, peer.port, data=data)
    situation = f"the server read all {len(data)} bytes, echoed 4 and reset the connection (RST)"
    expect_stderr_line(client, r"echo_client: recv( \S+)?: Connection reset by peer", situation=situation,
                       shown="echo_client: recv: Connection reset by peer",
                       hint="recv() returning -1 is an error, not an EOF: report it with strerror(errno) "
                            "(R3.3-6, §3.3)")
    expect_exit(client, rc, 1, situation=situation, hint="a failed recv() is exit status 1 (R3.3-6, §3.3)")


@pytest.mark.spec("R4.1-1")
@pytest.mark.points(2)
def test_client_frees_everything(spawn, echo_peer):
    """echo_client: frees everything at exit (no leak report after EOF)"""
    peer = echo_peer()
    client, rc = run_client(spawn, HOST, peer.port, data=b"a normal session\n")
    if rc != 0 or client.stdout != b"a normal session\n":
        fb.fail(f"Not checked: this test needs a normal session first, and echo_client ended with "
                f"{client.exit_text()} after printing {fb.quote(client.stdout)}.", details=[client.describe()],
                hint="make test_client_one_message pass first (R3.2-4, §3.2)")
    report = client.leak_report()
    if report:
        fb.fail("after a normal session, echo_client exited with memory still allocated "
                "(LeakSanitizer's report below).", details=[report],
                hint="freeaddrinfo() the list on every path of the getaddrinfo loop (R4.1-1, §4.1)")


# ---- both: arguments ----------------------------------------------------------------------
@pytest.mark.spec("R3.3-2")
@pytest.mark.points(1)
@pytest.mark.parametrize("prog,args", [
    ("echo_client", ["127.0.0.1"]),
    ("echo_client", ["127.0.0.1", "notaport"]),
    ("echo_client", ["127.0.0.1", "70000"]),
    ("echo_client", ["-x", "127.0.0.1", "7"]),
    ("echo_client", ["127.0.0.1", "7", "extra"]),
    ("echo_server", []),
    ("echo_server", ["-p", "x"]),
    ("echo_server", ["-p", "0", "extra"]),
    ("echo_server", ["-x", "-p", "0"]),
    ("echo_server", ["-p", "0", "-b"]),
], ids=["client-no-port", "client-bad-port", "client-port-range", "client-unknown-option", "client-extra-arg",
        "server-no-port", "server-bad-port", "server-extra-arg", "server-unknown-option", "server-b-no-value"])
def test_bad_arguments(spawn, echo_peer, prog, args):
    """Bad arguments: a usage line on stderr and exit status 2 (good ones still work)"""
    p = spawn(prog, *args, stdin=b"")
    rc = p.wait(patient(5))
    err = p.stderr.decode("utf-8", "replace")
    fb.expect(rc == 2 and re.search(rf"^usage: \S*{prog}\b", err, re.M | re.I) is not None,
              f"`{prog} {' '.join(args)}` should print 'usage: {prog} ...' on stderr and exit 2; "
              f"it ended with {p.exit_text()}.",
              details=[p.describe()], hint="check argc and parse the port with parse_port() (R3.3-2, §3.3)")
    # The control case: a program that always prints usage must not pass.
    if prog == "echo_server":
        start_server(spawn, hint="with good arguments the server must start and print 'listening on' (§3.1)")
    else:
        peer = echo_peer()
        good, rc = run_client(spawn, HOST, peer.port, data=b"good arguments\n")
        fb.expect(rc == 0 and good.stdout == b"good arguments\n",
                  f"with good arguments (`echo_client {HOST} {peer.port}`) the client should echo and "
                  f"exit 0; it ended with {good.exit_text()}.", details=[good.describe()],
                  hint="only bad arguments are a usage error; see §3.2")
