"""Lab 02: UDP requests with timeout and retransmission. The specification of udp_server and
udp_client, as tests with points.

Server tests talk to the student's udp_server through trusted Python sockets. Client tests run
the student's udp_client against a trusted echo peer, usually through a seeded fault-injecting
proxy that drops, delays, duplicates or reorders chosen datagrams and records when each arrived.
Every timing verdict is judged from the proxy's own kernel timestamps by harness/timing.py:
early fails at once, late is measured again. The peers, fixtures and helpers are in
harness/labs/lab02.py. Section numbers (§) and labels [R3.2-4] refer to labs/02-udp-retry/README.md.
"""
from __future__ import annotations

import re
import signal
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest

from harness import feedback as fb
from harness import timing
from harness.labs.lab02 import (HOST, MAX_PAYLOAD, Faults, Holder, Premise, Run, delay_by_seq, drive_lossy_server,
                                expect_client, expect_exit, expect_lines, expect_rtts, expect_summary,
                                fail_client, gap_check, gated, header, judge, parse_output, receive,
                                receive_stamped, replies_to, request_bytes, rfc6298_replay, rtt_stats, run_client,
                                sends_of, stale_stream, start_server, transcript, udp_socket)
from harness.textsafe import printable_bytes

LAB = "02"
#: The tests the kit's self-test runs under valgrind memcheck (not the timing-heavy ones).
VALGRIND_SELECT = ("echo_sizes or server_max_datagram or replies_to_each or server_ipv6 or bind_options or "
                   "loss_seeded or random_seed or stop_summary or server_errors or frees_everything or "
                   "duplicated or invalid_replies or strangers or client_errors or client_max_datagram or "
                   "adaptive_floor or rto_rfc6298")


# ==== udp_server ===============================================================================
@pytest.mark.spec("R2.1-1", "R3.4-3")
@pytest.mark.points(3)
def test_server_echo_sizes(spawn):
    """udp_server: datagrams of 0, 1, 100, 1472 and 9000 bytes come back unchanged"""
    server, host, port = start_server(spawn)
    with udp_socket() as s:
        for size in (0, 1, 100, 1472, 9000):
            payload = bytes((i * 7 + size) & 0xFF for i in range(size))
            s.sendto(payload, (host, port))
            got, sender = receive(s, 2.0)
            if got is None:
                fb.fail(f"udp_server did not echo a {size}-byte datagram within 2 s.",
                        sent=payload, details=[server.describe()],
                        hint="a 0-byte datagram is a datagram, not an end of file: echo it too (§2.1) [R2.1-1]"
                        if size == 0 else "recvfrom() a datagram, sendto() it back to the address recvfrom() "
                                          "gave (§4.1) [R3.4-3]")
            fb.expect_bytes(got, payload, what=f"the echo of a {size}-byte datagram", sent=payload,
                            details=[server.describe()],
                            hint="send back exactly the bytes received: use recvfrom()'s return value (§3.4) [R3.4-3]")


@pytest.mark.spec("R2.2-1", "R3.4-3")
@pytest.mark.points(3)
def test_server_max_datagram(spawn):
    """udp_server: a 65507-byte datagram, the largest over IPv4, comes back whole"""
    server, host, port = start_server(spawn)
    payload = bytes((i * 31) & 0xFF for i in range(MAX_PAYLOAD))
    with udp_socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.sendto(payload, (host, port))
        got, _ = receive(s, 3.0)
    if got is None:
        fb.fail("udp_server did not echo a 65507-byte datagram within 3 s.", details=[server.describe()],
                hint="the receive buffer must hold the largest datagram (§2.2) [R2.2-1]")
    fb.expect_bytes(got, payload, what="the echo of a 65507-byte datagram", details=[server.describe()],
                    hint="a datagram longer than the buffer given to recvfrom() is cut short, silently "
                         "(MSG_TRUNC): make the buffer hold 65507 bytes at least (§2.2) [R2.2-1]")


@pytest.mark.spec("R3.4-3", "R3.4-4")
@pytest.mark.points(3)
def test_server_replies_to_each_sender(spawn):
    """udp_server: two clients take turns; each gets its own replies, from the server's address"""
    server, host, port = start_server(spawn)
    with udp_socket() as a, udp_socket() as b:
        for i in range(3):
            for name, s in (("A", a), ("B", b)):
                payload = f"client {name} request {i}".encode()
                s.sendto(payload, (host, port))
                got, sender = receive(s, 2.0)
                other = f" (client A is {a.getsockname()[0]}:{a.getsockname()[1]}, "\
                        f"client B is {b.getsockname()[0]}:{b.getsockname()[1]})"
                if got != payload or sender != (host, port):
                    fb.fail(f"client {name}'s request {i + 1} got "
                            + ("no reply within 2 s" if got is None else f"a reply from {sender}")
                            + other + ".", sent=payload, received=got, expected=payload,
                            details=[server.describe()],
                            hint="reply with sendto() to the address that recvfrom() filled in for "
                                 "this datagram, not to an address kept from an earlier one (§4.1) [R3.4-3]")


@pytest.mark.spec("R3.4-1", "R3.4-2", "R3.2-1")
@pytest.mark.points(3)
def test_server_ipv6(spawn):
    """udp_server -6 on ::1, shown as [::1]:PORT (and udp_client -6 through it)"""
    server, host, port = spawn.server("udp_server", "-6", "-b", "::1", "-p", "0",
                                      hint="use getaddrinfo() with the family from -4/-6; never hard-code "
                                           "AF_INET (§4.1) [R3.4-1]")
    fb.expect(f"listening on [::1]:{port}" in printable_bytes(server.stdout),
              f"udp_server -6 -b ::1 printed {printable_bytes(server.stdout).strip()!r}; expected "
              f"'listening on [::1]:{port}'.", details=[server.describe()],
              hint="an IPv6 address is printed in brackets: [::1]:PORT (§3.4) [R3.4-2]")
    with udp_socket(socket.AF_INET6) as s:
        s.sendto(b"over IPv6", ("::1", port))
        got, _ = receive(s, 2.0)
    fb.expect_bytes(got or b"", b"over IPv6", what="IPv6 echo", details=[server.describe()],
                    hint="the server must work with AF_INET6 addresses: use sockaddr_storage for the sender "
                         "(§4.1) [R3.4-3]")
    run = run_client(spawn, port, "-6", "-c", "3", "-t", "1000", host="::1")
    expect_client(run.summary.replied == 3, run, "udp_client -6 did not get 3 replies from udp_server -6.",
                  hint="§4.1", label="R3.2-1")


@pytest.mark.spec("R3.4-1", "R3.4-2")
@pytest.mark.points(2)
def test_server_bind_options(spawn):
    """udp_server: -b ADDR is the address printed; -4 and -6 without -b bind every address of that family"""
    server, host, port = start_server(spawn)
    out = printable_bytes(server.stdout).strip()
    fb.expect(out == f"listening on 127.0.0.1:{port}",
              f"`udp_server -b 127.0.0.1 -p 0` printed {out!r}; expected 'listening on 127.0.0.1:{port}'.",
              details=[server.describe()],
              hint="bind the address -b names, and print what getsockname() says (§3.4) [R3.4-1, R3.4-2]")
    for flag, wildcard, dest, family in (("-4", "0.0.0.0", "127.0.0.1", socket.AF_INET),
                                         ("-6", "[::]", "::1", socket.AF_INET6)):
        server, _, port = spawn.server("udp_server", flag, "-p", "0",
                                       hint=f"udp_server {flag} -p 0 must bind and print 'listening on ...' (§3.4)")
        out = printable_bytes(server.stdout).strip()
        fb.expect(out == f"listening on {wildcard}:{port}",
                  f"`udp_server {flag} -p 0` printed {out!r}; expected 'listening on {wildcard}:{port}': "
                  f"without -b it binds every local address of the family {flag} asks for.",
                  details=[server.describe()],
                  hint="getaddrinfo(NULL, port) with AI_PASSIVE and ai_family from -4/-6 (§3.4, §4.1) [R3.4-1]")
        with udp_socket(family) as s:
            s.sendto(b"to the wildcard", (dest, port))
            got, _ = receive(s, 2.0)
        fb.expect_bytes(got or b"", b"to the wildcard", what=f"the echo through {dest} of `udp_server {flag}`",
                        details=[server.describe()], hint="§3.4 [R3.4-1]")


@pytest.mark.spec("R3.4-5", "R3.4-7")
@pytest.mark.points(4)
def test_server_loss_seeded(spawn):
    """udp_server --loss 0.3 --seed 42: about 30% dropped, each drop reported, the same ones on every run"""
    first, host, port1 = start_server(spawn, "--loss", "0.3", "--seed", "42")
    dropped1, lines, me = drive_lossy_server(first, host, port1)
    second, host, port2 = start_server(spawn, "--loss", "0.3", "--seed", "42")
    dropped2, _, _ = drive_lossy_server(second, host, port2)
    fb.expect(15 <= len(dropped1) <= 45,
              f"udp_server --loss 0.3 dropped {len(dropped1)} of 100 datagrams (expected about 30).",
              details=[first.describe()],
              hint="drop each datagram when a uniform random number in [0, 1) is below P (§4.6) [R3.4-5]")
    want = sorted((i + 1, 12, me) for i in dropped1)
    fb.expect(sorted(lines) == want,
              "udp_server's 'dropped datagram N (B bytes from ADDR:PORT): --loss' lines do not match what "
              f"it dropped.\n  expected (N, B, ADDR:PORT): {want[:6]}{' ...' if len(want) > 6 else ''}\n"
              f"  printed:                   {sorted(lines)[:6]}{' ...' if len(lines) > 6 else ''}",
              details=[first.describe()],
              hint="N counts every datagram received, from 1; B is its size; ADDR:PORT its sender (§3.4) [R3.4-5]")
    fb.expect(dropped1 == dropped2,
              f"two runs of udp_server --loss 0.3 --seed 42 dropped different datagrams:\n"
              f"  first run:  {sorted(dropped1)}\n  second run: {sorted(dropped2)}",
              details=[first.describe(), second.describe()],
              hint="seed your random generator with --seed once, before the loop, and draw once per datagram "
                   "(§4.6) [R3.4-7]")


@pytest.mark.spec("R3.4-7")
@pytest.mark.points(2)
def test_server_random_seed_printed(spawn):
    """udp_server --loss 0.5 without --seed prints its seed; --seed with it drops the same datagrams"""
    first, host, port = start_server(spawn, "--loss", "0.5")
    m = first.wait_stderr(re.compile(rb"seed (\d+)"), 2.0)
    fb.expect(m is not None, "udp_server --loss 0.5 without --seed printed no 'seed S' on stderr.",
              details=[first.describe()],
              hint="without --seed, take the seed from the clock and print it, so that the run can be "
                   "repeated with --seed S (§3.4) [R3.4-7]")
    seed = m[1].decode()
    dropped1, _, _ = drive_lossy_server(first, host, port, n=40)
    second, host, port = start_server(spawn, "--loss", "0.5", "--seed", seed)
    dropped2, _, _ = drive_lossy_server(second, host, port, n=40)
    fb.expect(dropped1 == dropped2,
              f"udp_server printed 'seed {seed}', but `udp_server --loss 0.5 --seed {seed}` dropped other "
              f"datagrams:\n  without --seed:  {sorted(dropped1)}\n  with --seed {seed}: {sorted(dropped2)}",
              details=[first.describe(), second.describe()],
              hint="print the seed that the generator really starts from (§3.4, §4.6) [R3.4-7]")


@pytest.mark.spec("R3.4-6")
@pytest.mark.points(3)
def test_server_delay_keeps_serving(spawn):
    """udp_server --delay-ms 200: echoes come 200 ms late, and a second client is not held up meanwhile"""
    server, host, port = start_server(spawn, "--delay-ms", "200")

    def scenario():
        with udp_socket() as a, udp_socket() as b:
            t0 = time.monotonic()
            a.sendto(b"first", (host, port))
            b.sendto(b"second", (host, port))
            # Arrival times are the kernel's: a test thread that runs late cannot skew them.
            got_a, _, ta = receive_stamped(a, 3.0)
            got_b, _, tb = receive_stamped(b, 3.0)
        fb.expect(got_a == b"first" and got_b == b"second",
                  f"udp_server --delay-ms 200 did not echo both datagrams within 3 s (got {got_a!r} and "
                  f"{got_b!r}).", details=[server.describe()],
                  hint="keep delayed echoes in a queue and send them when due (§4.6) [R3.4-6]")
        # A server that sleeps per datagram sends the second echo one whole delay (200 ms) later.
        return [timing.Check("the first echo's delay", got=ta - t0, expected=0.200, tol=0.0, abs_tol=0.010,
                             lo=0.199),
                timing.Check("the second client's echo after the first client's", got=abs(tb - ta),
                             expected=0.0, tol=0.0, abs_tol=0.040, lo=0.0,
                             hi=min(timing.upper(0.0, 0.040), 0.150))]

    judge(scenario, label="R3.4-6", details=lambda: [server.describe()],
          hint="due time = arrival + delay, on the monotonic clock; do not sleep per datagram: poll() with a "
               "timeout until the first due echo, and keep receiving (§4.6)",
          diagnose=lambda c: ("Both datagrams were sent together, but the second echo came much later: the "
                              "server waited out one delay before it received the next datagram."
                              if "second" in c.what else None))
    delay_stream(server, host, port, delay=0.200)


def delay_stream(server, host, port, delay: float, n: int = 6, every: float = 0.060) -> None:
    """Send n datagrams `every` s apart to a server with --delay-ms: the held echoes overlap
    (new ones arrive while older ones are due and sent), as in a queue that fills and drains at
    once. Each must come back once, unchanged, in order, and not before its delay (§4.6) [R3.4-6]."""
    with udp_socket() as s:
        sent_at = []
        for i in range(n):
            if i:
                time.sleep(every)  # the pace of the traffic, not synchronisation
            sent_at.append(time.monotonic())
            s.sendto(b"stream %d" % i, (host, port))
        echoes = []
        for _ in range(n):
            got, _, t = receive_stamped(s, 3.0)
            if got is None:
                break
            echoes.append((got, t))
    want = [b"stream %d" % i for i in range(n)]
    got = [e[0] for e in echoes]
    fb.expect(got == want,
              f"{n} datagrams sent {every * 1000:.0f} ms apart to udp_server --delay-ms {delay * 1000:.0f} (so that "
              f"new ones arrive while older echoes are held and sent): the echoes that came back within 3 s "
              f"were {got!r}, expected {want!r}.", details=[server.describe()],
              hint="hold every echo in a FIFO queue (arrival + delay) and send each one when due; the queue "
                   "must stay whole while it fills and drains at once: head, tail and the byte count (§4.6) "
                   "[R3.4-6]")
    for i, (data, t) in enumerate(echoes):
        fb.expect(t - sent_at[i] >= delay - 0.001,
                  f"the echo of datagram {i + 1} of {n} came back {(t - sent_at[i]) * 1000:.1f} ms after it was "
                  f"sent, before the {delay * 1000:.0f} ms of --delay-ms.", details=[server.describe()],
                  hint="each echo is due at its own arrival + delay, on the monotonic clock (§4.6) [R3.4-6]")


@pytest.mark.spec("R3.4-9")
@pytest.mark.points(1)
def test_server_idle_sleeps(spawn):
    """udp_server --delay-ms 50, idle after one delayed echo: under 30 ms of CPU time in 1 s"""
    server, host, port = start_server(spawn, "--delay-ms", "50")
    with udp_socket() as s:
        s.sendto(b"one delayed echo", (host, port))
        receive(s, 2.0)
    # Whether the echo came back is test_server_delay_keeps_serving's business; here the queue is
    # empty again (or never filled), and nothing arrives: the server must sleep in poll().
    try:
        proc = psutil.Process(server.pid)
        before, t0 = sum(proc.cpu_times()[:2]), time.monotonic()  # user + system, from /proc/PID/stat
        # Measuring an interval of idleness, not synchronising: nothing is awaited here.
        time.sleep(1.0)
        used, elapsed = sum(proc.cpu_times()[:2]) - before, time.monotonic() - t0
    except psutil.Error:
        used = elapsed = None
    if used is None or not server.alive():
        fb.fail(f"udp_server ended while idle: {server.exit_text()}.", details=[server.describe()],
                hint="an idle server waits in poll() until a datagram arrives (§4.6) [R3.4-9]")
    fb.expect(used < 0.030,
              f"idle (nothing to receive, no echo held back), udp_server --delay-ms 50 used {used * 1000:.0f} ms "
              f"of CPU time in {elapsed:.1f} s (from /proc/PID/stat); under 30 ms expected.",
              details=[server.describe()],
              hint="with no echo held back, poll() waits with no timeout (-1); a timeout of 0, or one computed "
                   "from an empty queue, makes a busy loop (§4.6) [R3.4-9]")


@pytest.mark.spec("R3.4-4", "R3.2-9")
@pytest.mark.points(3)
def test_server_interleaved_clients(spawn):
    """udp_server with 20 udp_clients at once: every client gets all its 20 replies"""
    def attempt():
        """One round: a fresh server and 20 clients. Returns None, or (client, why) for the first
        client that did not get its 20 replies."""
        server, host, port = start_server(spawn)
        # Generous retries: on a loaded machine a correct server may be descheduled for a while.
        clients = [spawn("udp_client", "-c", "20", "-t", "250", "-r", "5", "-s", str(64 + 8 * i), host, port,
                         stdin=b"") for i in range(20)]
        for i, client in enumerate(clients):
            rc = client.wait(timing.upper(25))
            if not (rc == 0 and re.search(rb"^20 requests, 20 replied", client.stdout, re.M)):
                for c in clients:
                    c.stop()
                server.stop()
                return i, client, server
        server.stop()
        return None

    # A server that answers the wrong address fails every round; a correct one that the machine
    # starved long enough for a client to give up (every retry lost) passes the next round.
    tries = 3
    for _ in range(tries):
        failure = attempt()
        if failure is None:
            return
    i, client, server = failure
    fb.fail(f"client {i + 1} of 20, sharing udp_server with the others, ended with "
            f"{client.exit_text()} and did not get its 20 replies (in {tries} of {tries} tries, "
            f"load {timing.load():.1f}).",
            details=[client.describe(), server.describe()],
            hint="one socket serves every client: recvfrom() gives each datagram's sender; "
                 "reply to that address (§4.1, §3.4) [R3.4-4]")


SERVER_SUMMARY = re.compile(rb"(\d+) datagrams received, (\d+) echoed, (\d+) dropped")


@pytest.mark.spec("R3.4-8", "R3.3-5")
@pytest.mark.points(3)
def test_server_stop_summary(spawn):
    """udp_server: SIGTERM and SIGINT print 'N datagrams received, M echoed, K dropped' (0-byte ones too), exit 0"""
    for sig, args, n in ((signal.SIGTERM, ("--loss", "0.3", "--seed", "42"), 30), (signal.SIGINT, (), 5)):
        server, host, port = start_server(spawn, *args)
        dropped, _, _ = drive_lossy_server(server, host, port, n=n)
        empty_echoed = None
        if not args:
            # A 0-byte datagram is received and echoed like any other (sendto() returns 0 for it). A
            # server that does not echo it loses points in test_server_echo_sizes, not here again.
            with udp_socket() as s:
                s.sendto(b"", (host, port))
                got, _ = receive(s, 2.0)
            empty_echoed = got == b""
        server.send_signal(sig)
        rc = server.wait(3)
        name = signal.Signals(sig).name
        fb.expect(rc == 0, f"after {name}, udp_server ended with {server.exit_text()}; expected exit status 0.",
                  details=[server.describe()],
                  hint="catch SIGINT and SIGTERM with sigaction() (no SA_RESTART), leave the loop when poll() "
                       "returns EINTR, print the summary and return 0 (§3.4) [R3.4-8]")
        want = (n, n - len(dropped), len(dropped))
        m = SERVER_SUMMARY.search(server.stderr)
        got = tuple(int(x) for x in m.groups()) if m else None
        if empty_echoed:
            want = (n + 1, n + 1, 0)
        elif empty_echoed is False and got in ((n + 1, n + 1, 0), (n + 1, n, 1), (n, n, 0)):
            # No echo of the 0-byte datagram seen in time: echoed late (a loaded machine), counted as
            # dropped, or not counted at all; test_server_echo_sizes is about the echo itself.
            want = got
        fb.expect(got == want,
                  f"after {name}, udp_server's stderr should end with '{want[0]} datagrams received, {want[1]} "
                  f"echoed, {want[2]} dropped' (what the harness sent and got back); "
                  + (f"it printed '{m[0].decode()}'." if m else "it printed no such line."),
                  details=[server.describe()],
                  hint="count every datagram received, echoed and dropped; print the counts on stderr at "
                       "the end (§3.4) [R3.4-8]")


@pytest.mark.spec("R3.3-5")
@pytest.mark.points(3)
def test_server_errors(spawn):
    """udp_server: bad arguments give usage and exit 2; a port in use is reported, exit 1"""
    cases = [("-p", "0", "--loss", "1.5"), ("-p", "0", "--delay-ms", "60001"), ("-p", "70000"),
             ("-b", HOST), ("-p", "0", "--seed", "x"), ("-p", "0", "extra")]
    progs = [(args, spawn("udp_server", *args, stdin=b"")) for args in cases]
    for args, prog in progs:
        rc = prog.wait(5)
        err = printable_bytes(prog.stderr)
        fb.expect(rc == 2 and "usage:" in err,
                  f"`udp_server {' '.join(args)}` should print a 'usage:' line on stderr and exit 2; it ended "
                  f"with {prog.exit_text()}.", details=[prog.describe()],
                  hint="check every option's value and range; on a bad one say which, print usage, "
                       "exit 2 (§3.3, §3.4) [R3.3-5]")
    with udp_socket() as taken:
        port = taken.getsockname()[1]
        prog = spawn("udp_server", "-b", HOST, "-p", port, stdin=b"")
        rc = prog.wait(5)
    err = printable_bytes(prog.stderr)
    want = re.compile(rf"^udp_server: bind 127\.0\.0\.1:{port}: \S.*$", re.M)
    fb.expect(rc == 1 and want.search(err) is not None and "listening on" not in printable_bytes(prog.stdout),
              f"`udp_server -b 127.0.0.1 -p {port}` on a port already in use should print "
              f"'udp_server: bind 127.0.0.1:{port}: Address already in use' and exit 1; it ended with "
              f"{prog.exit_text()}.", details=[prog.describe()],
              hint="report a failed bind() as 'udp_server: bind ADDR:PORT: strerror(errno)' and exit 1 (§3.3) [R3.3-5]")


def _rx_queue_empty(port: int) -> bool:
    """True when no datagram waits in the receive queue of the UDP socket on `port` (/proc/net/udp)."""
    try:
        rows = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return True
    for row in rows:
        f = row.split()
        if len(f) > 4 and int(f[1].split(":")[1], 16) == port:
            return int(f[4].split(":")[1], 16) == 0
    return True


@pytest.mark.spec("R3.3-6")
@pytest.mark.points(2)
def test_server_frees_everything_at_exit(spawn):
    """udp_server: frees everything at exit, delayed echoes still queued included (LeakSanitizer)"""
    server, host, port = start_server(spawn, "--delay-ms", "150")
    with udp_socket() as s:
        for i in range(2):
            s.sendto(b"echoed %d" % i, (host, port))
        for _ in range(2):
            receive(s, 3.0)
        for i in range(3):
            s.sendto(b"still queued %d" % i, (host, port))
        deadline = time.monotonic() + 1.0
        while not _rx_queue_empty(port) and time.monotonic() < deadline:
            time.sleep(0.005)  # polling the kernel's queue length, with a deadline: not a synchronisation sleep
        server.send_signal(signal.SIGTERM)
        rc = server.wait(3)
    fb.expect(rc is not None, "udp_server did not exit within 3 s of SIGTERM.", details=[server.describe()],
              hint="§3.4 [R3.4-8]")
    leak = server.leak_report()
    fb.expect(leak is None, "udp_server did not free everything it allocated before it exited:\n" + (leak or ""),
              details=[server.describe()],
              hint="free() each queued echo once it is sent, and the ones still queued at SIGTERM (§4.6) [R3.3-6]")


# ==== udp_client ===============================================================================
@pytest.mark.spec("R3.1-1", "R3.1-2", "R3.1-3", "R3.1-4", "R3.1-5", "R3.2-2", "R3.2-8", "R3.2-9", "R3.2-16", "R3.2-17",
                  "R3.2-19", "R3.2-20", "R3.3-1")
@pytest.mark.points(3)
def test_client_no_loss(spawn, lossy_path):
    """udp_client, no loss: exact wire format, one attempt each, RTTs and summary"""
    last = Holder()

    def scenario():
        proxy = lossy_path()
        run = run_client(spawn, proxy.port, "-c", "10", "-t", "1000", "-s", "100", proxy=proxy)
        last.runs.append(run)
        sent = proxy.datagrams("c2s")
        for i, d in enumerate(sent[:10]):
            fb.expect_bytes(d.data, request_bytes(i + 1, 1, 100), what=f"request {i + 1} as the proxy saw it",
                            details=[transcript(proxy)],
                            hint="header: 'S' 'L', then seq and attempt, big-endian; payload byte i is i mod 256; "
                                 "-s SIZE bytes in all (§3.1) [R3.1-1..5]")
        expect_client(len(sent) == 10, run, f"the proxy saw {len(sent)} requests; udp_client -c 10 on a perfect "
                      "network must send 10.", hint="send the next request only after the reply to this one (§3.2)",
                      label="R3.2-2")
        expect_lines(run, [(i, True, 1) for i in range(1, 11)], hint="one line per request (§3.2)")
        expect_summary(run, 10, 10, 0, 0, hint="§3.2")
        expect_exit(run, 0)
        replies = proxy.datagrams("s2c")
        for n in range(1, min(len(sent), len(replies) + 1)):
            expect_client(bool(replies[n - 1].sent) and sent[n].t >= replies[n - 1].sent[0] - 0.001, run,
                          f"request {n + 1} reached the proxy before the reply to request {n} had been passed on: "
                          "the requests were not sent one at a time.", label="R3.2-9",
                          hint="send request n + 1 only when request n is answered or given up (§3.2)")
        for r in run.requests:
            expect_client(r.size == 100, run, f"seq={r.seq} printed bytes={r.size}; the reply had 100 bytes.",
                          hint="bytes= is the size of the reply datagram (§3.2)", label="R3.2-17")
        expect_stats(run)
        return expect_rtts(run, proxy, {r.seq: (sent[r.seq - 1], replies[r.seq - 1]) for r in run.requests})

    judge(scenario, label="R3.2-17", details=last.details, last=last,
          hint="RTT = time the reply arrived - time that transmission was sent, both from "
               "clock_gettime(CLOCK_MONOTONIC), taken right around send() and recv() (§4.4)")


def expect_stats(run) -> None:
    """The summary's min/avg/max/mdev must be those of the request lines' RTTs (§3.2)."""
    rtts = [r.rtt_ms for r in run.requests if r.replied]
    if not rtts:
        return
    want = rtt_stats(rtts)
    expect_client(run.summary.rtt is not None and all(abs(a - b) <= 0.0025 for a, b in zip(run.summary.rtt, want)),
                  run, f"the summary says rtt min/avg/max/mdev = {run.summary.rtt}, but the RTTs printed for the "
                  f"{len(rtts)} answered requests give {'/'.join(f'{x:.3f}' for x in want)} ms.",
                  hint="statistics of the answered requests only; mdev is the population standard deviation: "
                       "sqrt(mean of squares - square of mean) (§3.2)", label="R3.2-20")


@pytest.mark.spec("R3.2-2", "R3.2-3", "R3.2-4", "R3.2-5", "R3.2-8")
@pytest.mark.points(2)
def test_client_defaults(spawn, lossy_path):
    """udp_client with no options: 10 requests of 64 bytes, first timeout 1000 ms, 3 retries doubling"""
    last = Holder()

    def scenario():
        proxy = lossy_path(c2s=Faults(drop={0}))
        run = run_client(spawn, proxy.port, proxy=proxy, timeout=8)
        last.runs.append(run)
        sent = proxy.datagrams("c2s")
        fb.expect(len(sent) >= 1 and sent[0].data == request_bytes(1, 1, 64),
                  f"without -s, the first request should be the 64 bytes of §3.1; the proxy saw "
                  f"{sent[0].size if sent else 0} bytes.", details=run.details(), hint="-s defaults to 64 (§3.2) [R3.2-8]")
        expect_lines(run, [(1, True, 2)] + [(i, True, 1) for i in range(2, 11)],
                     hint="-c defaults to 10 (§3.2)", label="R3.2-2")
        first = sends_of(proxy, 1)
        return [gap_check("time between request 1 and its retransmission, without -t", first[0], first[1], 1000)]

    judge(scenario, label="R3.2-3", details=last.details, last=last, hint="-t defaults to 1000 ms (§3.2)")

    def all_lost():
        proxy = lossy_path(c2s=Faults(drop_rate=1.0))
        run = run_client(spawn, proxy.port, "-c", "1", "-t", "20", proxy=proxy, timeout=5)
        last.runs.append(run)
        sent = proxy.datagrams("c2s")
        expect_lines(run, [(1, False, 4)], hint="-r defaults to 3: 4 sends in all (§3.2)", label="R3.2-4")
        return [gap_check(f"gap between transmissions {k + 1} and {k + 2}, without --backoff", sent[k], sent[k + 1],
                          nominal, abs_ms=4) for k, nominal in enumerate([20, 40, 80])]

    judge(all_lost, label="R3.2-5", details=last.details, last=last, hint="--backoff defaults to 2 (§3.2)")


@pytest.mark.spec("R3.2-3", "R3.2-11", "R3.1-4", "R3.2-19")
@pytest.mark.points(3)
def test_client_first_request_dropped(spawn, lossy_path):
    """udp_client: the first request is dropped: retransmitted after the timeout"""
    last = Holder()

    def scenario():
        proxy = lossy_path(c2s=Faults(drop={0}))
        run = run_client(spawn, proxy.port, "-c", "3", "-t", "200", "-r", "3", proxy=proxy, timeout=5)
        last.runs.append(run)
        hint = "wait for the reply with a deadline; when it passes, send the request again (§4.2, §4.3)"
        expect_lines(run, [(1, True, 2), (2, True, 1), (3, True, 1)], hint=hint, label="R3.2-11")
        expect_summary(run, 3, 3, 1, 0, hint="retransmissions counts the sends after the first of each request (§3.2)")
        first = sends_of(proxy, 1)
        expect_client([header(d.data)[1] for d in first] == [1, 2], run,
                      f"the proxy saw request 1 sent with attempt numbers {[header(d.data)[1] for d in first]}, "
                      "expected [1, 2].", hint="the attempt field counts the transmissions of one request, from 1 "
                      "(§3.1)", label="R3.1-4")
        return [gap_check("time between request 1 and its retransmission", first[0], first[1], 200)]

    judge(scenario, label="R3.2-3", details=last.details, last=last,
          hint="the first timeout is -t TIMEOUT_MS, counted from the send (§4.3)")


@pytest.mark.spec("R3.2-11", "R3.2-19", "R3.1-4")
@pytest.mark.points(3)
def test_client_reply_dropped(spawn, udp_echo, udp_proxy):
    """udp_client: a reply is dropped: the server sees the request twice, the client counts it once"""
    echo = udp_echo()
    proxy = udp_proxy((echo.host, echo.port), s2c=Faults(drop={0}))
    run = run_client(spawn, proxy.port, "-c", "2", "-t", "200", proxy=proxy, timeout=5)
    expect_lines(run, [(1, True, 2), (2, True, 1)], label="R3.2-11",
                 hint="a lost reply looks like a lost request: time out and retransmit (§4.3)")
    expect_summary(run, 2, 2, 1, 0, hint="§3.2")
    at_server = [header(d.data) for d in echo.datagrams()]
    expect_client(at_server == [(1, 1), (1, 2), (2, 1)], run,
                  f"the echo server received (seq, attempt) {at_server}, expected [(1, 1), (1, 2), (2, 1)]: "
                  "request 1 twice, as attempts 1 and 2.", label="R3.1-4",
                  hint="a retransmission carries the same seq and the next attempt number (§3.1)")


@pytest.mark.spec("R3.2-12", "R3.2-19")
@pytest.mark.points(3)
def test_client_reply_delayed_past_timeout(spawn, lossy_path):
    """udp_client: a reply delayed past the timeout arrives after the retransmission: counted once, right RTT"""
    last = Holder()

    def scenario():
        # Reply #0 (to attempt 1) is 300 ms late; reply #1 (to attempt 2, sent at 200 ms) is dropped.
        proxy = lossy_path(s2c=Faults(delays={0: 0.300}, drop={1}))
        run = run_client(spawn, proxy.port, "-c", "2", "-t", "200", "-r", "3", proxy=proxy, timeout=5)
        last.runs.append(run)
        s2c = proxy.datagrams("s2c")
        att = sends_of(proxy, 1)
        late = s2c[0]
        # The scenario needs the retransmission before the late reply is passed on (at 300 ms).
        before = [d for d in att[1:] if late.sent and d.t < late.sent[0]]
        pre = [Premise("the proxy's own 300 ms delay of the first reply", got=late.sent[0] - late.t,
                       expected=0.300, tol=0.0, abs_tol=0.050, lo=0.0)] if late.sent else []
        pre.append(timing.Check("request 1's retransmission", got=(before[0].t if before else late.sent[0]) - att[0].t,
                                expected=0.200, tol=0.25, abs_tol=0.005, hi=0.295))

        def functional():
            expect_lines(run, [(1, True, 2), (2, True, 1)], label="R3.2-12",
                         hint="a late reply to an earlier attempt of the current request is still its reply (§4.5)")
            expect_summary(run, 2, 2, 1, 0, hint="one reply, one count (§3.2)")
            return expect_rtts(run, proxy, {1: (att[0], late)}, label="R3.2-12",
                               hint="the reply echoes attempt 1: measure the RTT from the send of that attempt, "
                                    "not from the last one (§4.5, §5.3)")
        return gated(pre, functional)

    judge(scenario, label="R3.2-12", details=last.details, last=last,
          hint="the reply echoes the attempt number: measure the RTT from the send of that attempt (§4.5, §5.3)")


@pytest.mark.spec("R3.2-12", "R3.2-10", "R3.2-19")
@pytest.mark.points(3)
def test_client_reordered_replies(spawn, lossy_path):
    """udp_client: replies reordered: the retransmission's reply first, then the stale one"""
    last = Holder()

    def scenario():
        # Reply #0 (to attempt 1) is held back until reply #1 (to attempt 2) has gone: the client gets
        # attempt 2's reply, then attempt 1's while it waits for request 2.
        proxy = lossy_path(s2c=Faults(hold={0: 1}))
        run = run_client(spawn, proxy.port, "-c", "2", "-t", "200", proxy=proxy, timeout=5)
        last.runs.append(run)
        expect_lines(run, [(1, True, 2), (2, True, 1)], hint="§4.5", label="R3.2-12")
        expect_summary(run, 2, 2, 1, 1,
                       hint="the late reply to request 1 arrives while request 2 is outstanding: it does not match "
                            "seq 2, so count it as a duplicate and keep waiting (§4.5)", label="R3.2-10")
        return expect_rtts(run, proxy, {1: (sends_of(proxy, 1)[1], proxy.datagrams("s2c")[1])}, label="R3.2-12",
                           hint="the reply that came echoes attempt 2: the RTT runs from the retransmission, not "
                                "from the first send (Karn's ambiguity, §5.3)")

    judge(scenario, label="R3.2-12", details=last.details, last=last,
          hint="measure the RTT from the send of the attempt that the reply echoes (§5.3)")


@pytest.mark.spec("R3.2-10", "R3.2-19")
@pytest.mark.points(3)
def test_client_duplicated_replies(spawn, lossy_path):
    """udp_client: duplicated replies are counted and ignored"""
    proxy = lossy_path(s2c=Faults(duplicate={0: 2, 1: 1}))
    run = run_client(spawn, proxy.port, "-c", "3", "-t", "200", proxy=proxy, timeout=5)
    expect_lines(run, [(1, True, 1), (2, True, 1), (3, True, 1)], label="R3.2-10",
                 hint="a copy of an earlier reply must not be taken as the reply to the current request (§4.5)")
    expect_summary(run, 3, 3, 0, 3, hint="every reply whose seq is not the current request's is a duplicate (§3.2, §4.5)")


def invalid_replies(data: bytes, index: int) -> list:
    """Answer attempt 1 of request 1 with ten invalid replies 15 ms apart, then the real one at 150 ms."""
    h = header(data)
    if h is None or h != (1, 1):
        return [(0.0, data)]
    size = len(data)
    corrupt = bytearray(data)
    corrupt[size - 1] ^= 0xFF
    return [(0.000, data[:-1]),                                          # one byte short
            (0.015, request_bytes(1, 1, size + 8)),                      # 8 bytes too long
            (0.030, b"XL" + data[2:]),                                   # bad magic
            (0.045, bytes(corrupt)),                                     # payload pattern broken
            (0.060, request_bytes(1, 0, size)),                          # attempt 0
            (0.075, request_bytes(1, 2, size)),                          # attempt 2, never sent
            (0.090, b"SX" + data[2:]),                                   # bad second magic byte
            (0.105, request_bytes(1 + (1 << 16), 1, size)),              # seq 65537: 1 in its low 16 bits
            (0.120, request_bytes(1 + (1 << 24), 1, size)),              # seq 16777217: 1 in its low 24 bits
            (0.135, request_bytes(1, 1 + (1 << 8), size)),               # attempt 257: 1 in its low byte
            (0.150, data)]


INVALID_NAMES = ["one byte short", "8 bytes too long", "a bad magic", "a broken payload pattern", "attempt 0",
                 "attempt 2 (only attempt 1 had been sent)", "a bad second magic byte ('SX')",
                 "seq 65537 (seq 1 in its low 16 bits: all 4 bytes of seq count)",
                 "seq 16777217 (seq 1 in its low 24 bits: all 4 bytes of seq count)",
                 "attempt 257 (attempt 1 in its low byte: both bytes of attempt count)"]


@pytest.mark.spec("R3.1-6", "R3.2-21")
@pytest.mark.points(3)
def test_client_rejects_invalid_replies(spawn, udp_echo):
    """udp_client: short, long, bad-magic, corrupted, wrong-seq and wrong-attempt replies are not taken for the reply"""
    peer = udp_echo(reply=invalid_replies)
    run = run_client(spawn, peer.port, "-c", "2", "-t", "1000", "-s", "64", proxy=peer, timeout=5)
    expect_lines(run, [(1, True, 1), (2, True, 1)], label="R3.1-6",
                 hint="a valid reply has SIZE bytes, the magic, the payload pattern, the seq and an attempt "
                      "from 1 to the number of sends so far (§3.1)")
    real = 0.150
    rtt = run.line(1).rtt_ms / 1000
    if rtt < real - 0.002:
        guess = min(range(len(INVALID_NAMES)), key=lambda k: abs(0.015 * k - rtt))
        fail_client(run.client, peer, f"udp_client printed rtt={rtt * 1000:.3f} ms for seq=1, but the only valid "
                    f"reply was sent {real * 1000:.0f} ms after the request arrived: it accepted an invalid one, "
                    f"probably the one with {INVALID_NAMES[guess]} (sent at {15 * guess} ms).",
                    details=run.details(), label="R3.1-6",
                    hint="check the length, both magic bytes, the payload pattern (wire_decode), all four bytes of "
                         "seq and both bytes of the attempt number before you accept a reply (§3.1)")


@pytest.mark.spec("R3.2-15")
@pytest.mark.points(2)
def test_client_ignores_strangers(spawn, udp_echo, stranger):
    """udp_client: a perfect reply from another address is not the server's reply"""
    def forged(data: bytes, index: int) -> list:
        if header(data) == (1, 1):
            stranger.sendto(data, peer.datagrams()[index].peer)
            return [(0.150, data)]
        return [(0.0, data)]

    peer = udp_echo(reply=forged)
    run = run_client(spawn, peer.port, "-c", "2", "-t", "1000", proxy=peer, timeout=5)
    expect_lines(run, [(1, True, 1), (2, True, 1)], label="R3.2-15", hint="§4.1")
    rtt = run.line(1).rtt_ms / 1000
    expect_client(rtt >= 0.148, run,
                  f"udp_client printed rtt={rtt * 1000:.3f} ms for seq=1, but the server answered 150 ms after the "
                  f"request arrived; a copy sent at once from another address ({stranger.getsockname()[0]}:"
                  f"{stranger.getsockname()[1]}) was taken for the reply.", label="R3.2-15",
                  hint="connect() the client's UDP socket: the kernel then drops datagrams from any other "
                       "address (or compare recvfrom()'s address with the server's) (§4.1)")


def lost_scenario(spawn, lossy_path, last: Holder, args: list, count: int, attempts: int, gaps: list,
                  backoff: float = 2.0, last_wait: float = 0.0, check_exit: bool = False):
    """A scenario: every request is dropped; check the lines, the summary, the exit status, and
    return the gaps between transmissions and the time to give up as Checks."""
    def scenario():
        proxy = lossy_path(c2s=Faults(drop_rate=1.0))
        run = run_client(spawn, proxy.port, "-c", str(count), *args, proxy=proxy, timeout=5, backoff=backoff)
        last.runs.append(run)
        sent = proxy.datagrams("c2s")
        want = [(seq, a) for seq in range(1, count + 1) for a in range(1, attempts + 1)]
        expect_client([header(d.data) for d in sent] == want, run,
                      f"with {' '.join(args)}, the client must send each request {attempts} time(s) "
                      f"(seq, attempt): {want}; the proxy saw {[header(d.data) for d in sent]}.",
                      hint="RETRIES counts retransmissions: RETRIES + 1 sends in all (§3.2, §4.3)", label="R3.2-4",
                      backoff=backoff)
        expect_lines(run, [(seq, False, attempts) for seq in range(1, count + 1)], label="R3.2-16",
                     hint=f"print 'seq=N lost after {attempts} attempts' (§3.2)")
        expect_summary(run, count, 0, count * (attempts - 1), 0, hint="§3.2")
        if check_exit:  # the exit status is test_client_all_lost's business (one mistake, one deduction)
            expect_exit(run, 1, hint="exit 1 when a request was lost (§3.3)")
        checks = []
        for seq in range(1, count + 1):
            mine = sends_of(proxy, seq)
            checks += [gap_check(f"request {seq}: gap between transmissions {k + 1} and {k + 2}", mine[k], mine[k + 1],
                                 nominal) for k, nominal in enumerate(gaps)]
            if seq < count and gaps and last_wait:
                checks.append(gap_check(f"request {seq}: from its last transmission to request {seq + 1}",
                                        mine[-1], sends_of(proxy, seq + 1)[0], last_wait))
        return checks, sent, run
    return scenario


def diagnose_gaps(check: timing.Check, cap_ms: float | None = None, uncapped: dict | None = None) -> str | None:
    """A cause for a wrong backoff gap: no growth, or a cap not applied; None when only load can tell."""
    got = check.got * 1000
    if check.early:
        return ("A retransmission came early: the wait before it was shorter than the timeout of that attempt; "
                "each expiry multiplies the timeout by --backoff.")
    if cap_ms and uncapped and check.what in uncapped and got > 0.8 * uncapped[check.what]:
        return (f"The wait grew to about {got:.0f} ms, past --max-timeout {cap_ms:.0f}: no timeout may be longer "
                "than --max-timeout.")
    return None


@pytest.mark.spec("R3.2-4", "R3.2-11", "R3.2-16", "R3.2-19", "R3.2-20", "R3.3-1")
@pytest.mark.points(3)
def test_client_all_lost(spawn, lossy_path):
    """udp_client, 100% loss: gives up after RETRIES, after the sum of the timeouts, exit 1"""
    last = Holder()
    inner = lost_scenario(spawn, lossy_path, last, ["-t", "40", "-r", "3"], 1, 4, [], check_exit=True)

    def scenario():
        _, sent, run = inner()
        # The gaps themselves are test_client_backoff_gaps' business: here only the last wait,
        # which must be at least as long as the one before it (320 ms after a 160 ms gap).
        before = sent[3].t - sent[2].t
        return [timing.Check("from the last transmission to the client's exit (the last wait)",
                             got=run.exited - sent[3].t, expected=0.320, tol=0.05, abs_tol=0.005,
                             lo=timing.lower(before, 0.005), hi=timing.upper(0.320, 0.300))]

    judge(scenario, label="R3.2-11", details=last.details,
          hint="after the last retransmission, wait out its (backed-off) timeout before reporting the loss: "
               "40 + 80 + 160 + 320 ms (§4.3)")


@pytest.mark.parametrize("args,gaps,cap", [
    pytest.param(["-t", "40", "-r", "3"], [40, 80, 160], None, marks=pytest.mark.spec("R3.2-3", "R3.2-11")),
    pytest.param(["-t", "30", "-r", "4", "--backoff", "3", "--max-timeout", "100"], [30, 90, 100, 100], 100,
                 marks=pytest.mark.spec("R3.2-5", "R3.2-6", "R3.2-11")),
    pytest.param(["-t", "40", "-r", "3", "--backoff", "1.5"], [40, 60, 90], None,
                 marks=pytest.mark.spec("R3.2-5", "R3.2-11")),
], ids=["t40-x2", "t30-x3-max100", "t40-x1.5"])
@pytest.mark.points(2)
def test_client_backoff_gaps(spawn, lossy_path, args, gaps, cap):
    """udp_client: retransmissions spaced t, F*t, F*F*t..., capped by --max-timeout"""
    factor = float(args[args.index("--backoff") + 1]) if "--backoff" in args else 2.0
    last = Holder(backoff=factor)
    inner = lost_scenario(spawn, lossy_path, last, args, 1, len(gaps) + 1, gaps, backoff=factor)
    t = float(args[1])
    uncapped = {f"request 1: gap between transmissions {k + 1} and {k + 2}": t * factor ** k for k in range(len(gaps))}

    def scenario():
        return inner()[0]

    judge(scenario, label="R3.2-11", details=last.details, last=last,
          diagnose=lambda c: diagnose_gaps(c, cap, uncapped),
          hint="after each expiry multiply the timeout by --backoff, and never wait longer than --max-timeout (§4.3)")


@pytest.mark.parametrize("args,count,attempts,gaps,factor", [
    pytest.param(["-t", "50", "-r", "0"], 2, 1, [], 2.0, marks=pytest.mark.spec("R3.2-4")),
    pytest.param(["-t", "50", "-r", "1"], 1, 2, [50], 2.0, marks=pytest.mark.spec("R3.2-4")),
    pytest.param(["-t", "200", "--max-timeout", "50", "-r", "2"], 1, 3, [50, 50], 2.0,
                 marks=pytest.mark.spec("R3.2-6")),
    pytest.param(["-t", "30", "--backoff", "1", "-r", "3"], 1, 4, [30, 30, 30], 1.0,
                 marks=pytest.mark.spec("R3.2-5")),
], ids=["r0", "r1", "first-timeout-above-cap", "backoff1"])
@pytest.mark.points(1)
def test_client_retry_edges(spawn, lossy_path, args, count, attempts, gaps, factor):
    """udp_client at the edges: -r 0 and -r 1, a first timeout above --max-timeout, --backoff 1"""
    last = Holder(backoff=factor if "--max-timeout" not in args else 1.0)
    inner = lost_scenario(spawn, lossy_path, last, args, count, attempts, gaps, backoff=factor)
    first = min(float(args[1]), float(args[args.index("--max-timeout") + 1]) if "--max-timeout" in args else 1e9)

    def scenario():
        checks, sent, run = inner()
        if attempts == 1:
            # -r 0: one send, then one whole timeout before the next request.
            checks.append(gap_check("from request 1 to request 2 (-r 0: one wait of -t, no retransmission)",
                                    sent[0], sent[1], first))
        return checks

    judge(scenario, label="R3.2-11", details=last.details, last=last,
          diagnose=lambda c: ("The first wait was longer than --max-timeout: the cap applies to the first "
                              "timeout too." if "--max-timeout" in args and c.late and c.got > 0.15 else
                              diagnose_gaps(c)),
          hint="RETRIES + 1 sends; waits of -t, times --backoff after each expiry, never above --max-timeout (§4.3)")


@pytest.mark.spec("R3.2-10")
@pytest.mark.points(3)
def test_client_stale_replies_do_not_extend_timeout(spawn, udp_echo):
    """udp_client: a stream of wrong replies every 20 ms does not extend the timeout"""
    last = Holder()

    def scenario():
        peer = udp_echo(reply=stale_stream(duration_s=2.0))
        run = run_client(spawn, peer.port, "-c", "1", "-t", "100", "-r", "1", proxy=peer, timeout=6,
                         hint="the deadline is fixed when the request is sent; a wrong reply must not restart the "
                              "wait: poll() with the time left until the deadline (§4.2)")
        last.runs.append(run)
        expect_lines(run, [(1, False, 2)], hint="§4.2", label="R3.2-10")
        expect_client(run.summary.duplicates >= 3, run,
                      f"wrong replies arrived every 20 ms, but the summary counts {run.summary.duplicates} duplicates.",
                      hint="count every reply that does not match the current request (§3.2, §4.5)", label="R3.2-19")
        sent = peer.datagrams()
        return [gap_check("time between request 1 and its retransmission, while wrong replies arrive every 20 ms",
                          sent[0], sent[1], 100)]

    judge(scenario, label="R3.2-10", details=last.details, last=last,
          diagnose=lambda c: ("The wait was restarted by every wrong reply: the deadline must be fixed when the "
                              "request is sent." if c.late and c.got > 0.5 else None),
          hint="fix the deadline when you send, and before each wait compute the time left until it (§4.2)")


@pytest.mark.spec("R3.2-16", "R3.2-17", "R3.2-19")
@pytest.mark.points(3)
def test_client_loss_30_percent(spawn, lossy_path):
    """udp_client, 30% seeded loss each way, 200 requests: every request accounted for, counts agree with the proxy"""
    proxy = lossy_path(c2s=Faults(drop_rate=0.3), s2c=Faults(drop_rate=0.3), seed=2024)
    run = run_client(spawn, proxy.port, "-c", "200", "-t", "8", "-r", "3", "--backoff", "1.25",
                     proxy=proxy, timeout=20)
    details = [run.client.describe(), transcript(proxy, limit=20)]
    seqs = [r.seq for r in run.requests]
    expect_client(seqs == list(range(1, 201)), run,
                  f"udp_client must print one line per request, seq=1 to seq=200 in order; it printed {len(seqs)} "
                  "lines" + (f", the first out of place being seq={next((s for i, s in enumerate(seqs, 1) if s != i), '?')}"
                             if seqs != list(range(1, 201)) else "") + ".",
                  details=details, hint="each request ends with a reply line or a 'lost after' line (§3.2)",
                  label="R3.2-16", backoff=1.25)
    for r in run.requests:
        c2s = sends_of(proxy, r.seq)
        expect_client(len(c2s) == r.attempts, run,
                      f"seq={r.seq}: the client printed attempts={r.attempts}, but the proxy saw {len(c2s)} "
                      "transmissions.", details=details, hint="count every transmission of the request (§3.2)",
                      label="R3.2-17", backoff=1.25)
        if r.replied:
            expect_client(bool(replies_to(proxy, r.seq)), run,
                          f"seq={r.seq} is reported replied, but the proxy passed no reply for it on.",
                          details=details, hint="accept only a reply whose seq matches (§4.5)", label="R3.2-16",
                          backoff=1.25)
        else:
            expect_client(r.attempts == 4, run, f"seq={r.seq} is reported lost after {r.attempts} attempts; "
                          "-r 3 means 4.", details=details, hint="§4.3", label="R3.2-16", backoff=1.25)
    replied = sum(r.replied for r in run.requests)
    retrans = sum(r.attempts - 1 for r in run.requests)
    # The percentage is test_client_summary_statistics' business: one mistake, one deduction.
    expect_summary(run, 200, replied, retrans, run.summary.duplicates, check_pct=False,
                   hint="the summary must add up the request lines (§3.2)")
    delivered = sum(1 for d in proxy.datagrams("s2c") if d.sent)
    unread = delivered - replied - run.summary.duplicates
    expect_client(0 <= unread <= 3, run,
                  f"the proxy passed {delivered} replies on; the client reports {replied} replied and "
                  f"{run.summary.duplicates} duplicates, which leaves {unread} unaccounted for.",
                  details=details, hint="every reply the client reads is either the answer or a duplicate (§4.5)",
                  label="R3.2-19", backoff=1.25)


@pytest.mark.spec("R3.2-19", "R3.2-20", "R3.2-17")
@pytest.mark.points(3)
def test_client_summary_statistics(spawn, udp_echo):
    """udp_client: one request of 3 lost (33.3%), RTTs of 10 and 60 ms: the summary's numbers are right"""
    last = Holder()
    delays = {1: 0.010, 3: 0.060}

    def reply(data: bytes, index: int) -> list:
        h = header(data)
        return [(delays[h[0]], data)] if h and h[0] in delays else []

    def scenario():
        peer = udp_echo(reply=reply)
        run = run_client(spawn, peer.port, "-c", "3", "-t", "150", "-r", "1", proxy=peer, timeout=5)
        last.runs.append(run)
        got = peer.datagrams()
        pre = [Premise(f"the peer's own {delays[header(d.data)[0]] * 1000:.0f} ms delay", got=d.sent[0] - d.t,
                       expected=delays[header(d.data)[0]], tol=0.0, abs_tol=0.060, lo=0.0)
               for d in got if header(d.data) and header(d.data)[0] in delays and d.sent]

        def functional():
            expect_lines(run, [(1, True, 1), (2, False, 2), (3, True, 1)], hint="§3.2", label="R3.2-16")
            expect_summary(run, 3, 2, 1, 0, hint="lost is a percentage of the requests with one decimal: 1 of 3 is "
                           "33.3%; retransmissions count the sends after the first, lost requests included (§3.2)")
            expect_stats(run)
            answered = {header(d.data)[0]: d for d in got if header(d.data) and header(d.data)[0] in delays}
            return expect_rtts(run, peer, {seq: (d, d) for seq, d in answered.items()})
        return gated(pre, functional)

    judge(scenario, label="R3.2-20", details=last.details, last=last,
          hint="RTT statistics over the answered requests; mdev is the population standard deviation (§3.2)")


@pytest.mark.spec("R3.2-7", "R3.2-14", "R5.2-1", "R5.3-2")
@pytest.mark.points(3)
def test_client_adaptive_no_spurious(spawn, lossy_path):
    """udp_client --adaptive, 50 ms added delay: retransmits while warming up, then never"""
    last = Holder()

    def scenario():
        proxy = lossy_path(s2c=Faults(delay_s=0.050))
        run = run_client(spawn, proxy.port, "--adaptive", "-t", "20", "-c", "6", "-r", "5", proxy=proxy, timeout=10)
        last.runs.append(run)
        s2c = [d for d in proxy.datagrams("s2c") if d.sent]
        # The harness's own 50 ms delay must hold: a late proxy would make a correct RTO look too short.
        pre = [Premise("the proxy's own 50 ms delay", got=max(d.sent[0] - d.t for d in s2c), expected=0.050,
                       tol=0.0, abs_tol=0.030, lo=0.0)] if s2c else []
        att = sends_of(proxy, 1)
        first_reply = replies_to(proxy, 1)
        if att and first_reply:
            passed = first_reply[0].sent[0]
            second = [d for d in att[1:] if d.t < passed]
            pre.append(timing.Check("request 1's first retransmission (RTO = -t 20 ms, the reply comes at 50 ms)",
                                    got=(second[0].t if second else passed) - att[0].t, expected=0.020, tol=0.25,
                                    abs_tol=0.004, hi=0.045))
        return gated(pre, lambda: adaptive_functional(run))

    judge(scenario, label="R3.2-14", details=last.details, last=last, tries=4,
          hint="with --adaptive, the first RTO is -t TIMEOUT_MS (§5.2)")


def adaptive_functional(run) -> None:
    """Warm-up, then no retransmission: what a 50 ms path allows (§5.2, §5.3)."""
    attempts = [r.attempts for r in run.requests]
    first_sample = next((i for i, a in enumerate(attempts) if a == 1), None)
    expect_client(first_sample is not None and first_sample <= 4, run,
                  f"no request among the first 5 was answered at its first attempt (attempts: {attempts}): "
                  "the RTO never grew past the 50 ms round trip.", label="R5.3-2",
                  hint="Karn: keep the backed-off RTO for the next request until a valid RTT sample; do not "
                       "reset it to -t after each request (§5.3)")
    later = attempts[first_sample + 1:]
    expect_client(all(a == 1 for a in later), run,
                  f"after the first RTT sample (request {first_sample + 1}) every request should be answered at "
                  f"its first attempt, since the RTT stays 50 ms; attempts were {attempts}.", label="R5.2-1",
                  hint="RTO = SRTT + max(G, 4 RTTVAR), from RFC 6298 (§5.1, §5.2)")


def expect_rto_replay(run, t_ms: float, max_ms: float, backoff: float = 2.0) -> None:
    """Every printed rto= must be RFC 6298's, recomputed from the client's own RTTs and attempts."""
    if any(r.rto_ms is None for r in run.requests):
        fail_client(run.client, run.proxy, "with --adaptive every request line must end with ' rto=R ms'.",
                    details=run.details(), hint="§3.2", label="R3.2-18")
    for r, want in rfc6298_replay(run.requests, t_ms, max_ms, backoff):
        if abs(r.rto_ms - want) > 0.0015 + 1e-5 * want:
            rows = "\n".join(f"    seq={q.seq} attempts={q.attempts} rtt={q.rtt_ms} printed rto={q.rto_ms:.3f} "
                             f"expected rto={w:.3f}" for q, w in rfc6298_replay(run.requests, t_ms, max_ms, backoff))
            fail_client(run.client, run.proxy, f"after seq={r.seq} udp_client printed rto={r.rto_ms:.3f} ms; "
                        f"RFC 6298 with its own RTTs (-t {t_ms:g}, --max-timeout {max_ms:g}) gives {want:.3f} ms.\n"
                        f"{rows}", details=[run.client.describe()], label="R5.2-1",
                        hint="first sample: SRTT = R, RTTVAR = R/2; then RTTVAR (with the old SRTT) before SRTT; "
                             "RTO = SRTT + max(G, 4 RTTVAR) within [-t, --max-timeout]; no sample from a "
                             "retransmitted request; multiply the RTO by --backoff on each timeout and keep it (§5)")


@pytest.mark.spec("R5.1-1", "R5.2-1", "R5.3-1", "R5.3-2", "R3.2-18", "R3.2-6")
@pytest.mark.points(3)
def test_client_adaptive_rto_rfc6298(spawn, udp_echo):
    """udp_client --adaptive: the printed RTO follows RFC 6298 and Karn's rule, within -t and --max-timeout"""
    peer = udp_echo(reply=delay_by_seq([0.030, 0.012, 0.045, 0.020, 0.008, 0.035, 0.025, 0.015, 0.040, 0.010]))
    run = run_client(spawn, peer.port, "--adaptive", "-t", "5", "-c", "10", "-r", "6", "--max-timeout", "60",
                     proxy=peer, timeout=10)
    expect_rto_replay(run, 5, 60)


@pytest.mark.spec("R5.2-1", "R3.2-6", "R3.2-18")
@pytest.mark.points(1)
def test_client_adaptive_floor(spawn, udp_echo):
    """udp_client --adaptive -t 100 on a fast path: the RTO never goes below -t; a lost request's line has rto= too"""
    peer = udp_echo()
    run = run_client(spawn, peer.port, "--adaptive", "-c", "5", "-t", "100", proxy=peer, timeout=5)
    expect_rto_replay(run, 100, 60000)
    # Request 1 is never answered: its line says "lost" and carries the twice backed-off RTO.
    silent = udp_echo(reply=lambda data, index: [] if header(data) and header(data)[0] == 1 else [(0.0, data)])
    run = run_client(spawn, silent.port, "--adaptive", "-c", "2", "-t", "20", "-r", "1", proxy=silent, timeout=5)
    expect_lines(run, [(1, False, 2), (2, True, 1)], hint="§3.2", label="R3.2-16")
    expect_rto_replay(run, 20, 60000)


@pytest.mark.spec("R5.2-1", "R3.2-6", "R3.2-18")
@pytest.mark.points(1)
def test_client_adaptive_first_rto_above_cap(spawn, udp_echo):
    """udp_client --adaptive -t 500 --max-timeout 100: the first RTO is already capped at 100 ms"""
    last = Holder()

    def scenario():
        peer = udp_echo(reply=delay_by_seq([0.250, 0.0]))
        run = run_client(spawn, peer.port, "--adaptive", "-c", "2", "-t", "500", "--max-timeout", "100",
                         "-r", "5", proxy=peer, timeout=5)
        last.runs.append(run)
        att = sends_of(peer, 1)
        answer = att[0].sent[0] if att and att[0].sent else att[0].t + 0.250
        second = [d for d in att[1:] if d.t < answer]
        check = timing.Check("request 1's first retransmission (first RTO = min(-t 500, --max-timeout 100))",
                              got=(second[0].t if second else answer) - att[0].t, expected=0.100, tol=0.25,
                              abs_tol=0.005, hi=0.240)

        def functional():
            expect_rto_replay(run, 500, 100)
        return gated([check], functional)

    judge(scenario, label="R3.2-6", details=last.details, last=last,
          hint="--max-timeout bounds every RTO, the first one included: rto_init() clamps -t too (§3.2, §5.2)")


class FastEcho:
    """A bare trusted echo on loopback, fast enough for tens of thousands of requests: it echoes
    every datagram at once and records each request's (seq, attempt); `stuck` is set when one
    request came a 4th time although each of its sends was echoed at once. Stopped by close()."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.seen: list[tuple[int, int]] = []
        self.stuck = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
                self.sock.sendto(data, addr)
            except socket.timeout:
                continue
            except OSError:
                return
            h = header(data) or (-1, -1)
            self.seen.append(h)
            if h[1] >= 4:
                self.stuck.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.mark.spec("R3.1-3", "R3.2-2")
@pytest.mark.points(1)
def test_client_seq_past_255(spawn):
    """udp_client -c 65540: seq is 4 bytes, big-endian: requests from 256 and from 65536 on are numbered and matched right"""
    # Past 255 the second-lowest byte of seq counts, past 65535 the third: 65,540 round trips with
    # an echo that answers at once (about 2.5 s on a quiet machine; the deadline stretches with the
    # load, and only a client that stops making progress fails).
    count = 65540
    args = ["-c", str(count), "-s", "8", "-t", "1000", "-r", "3"]
    peer = FastEcho()
    try:
        client = spawn("udp_client", *args, HOST, peer.port, stdin=b"")
        deadline = time.monotonic() + timing.upper(20)
        rc, progress = None, 0
        while rc is None and time.monotonic() < deadline and not peer.stuck.is_set():
            rc = client.wait(0.2)
            if len(peer.seen) > progress:  # still making progress: a loaded machine is slow, not wrong
                progress = len(peer.seen)
                deadline = max(deadline, time.monotonic() + timing.upper(5))
    finally:
        peer.close()
    firsts = [seq for seq, attempt in peer.seen if attempt == 1]
    wrong = next((i for i, seq in enumerate(firsts) if seq != i + 1), None)
    if wrong is not None:
        fail_client(client, None, f"request {wrong + 1} of udp_client {' '.join(args)} carried seq={firsts[wrong]} "
                    f"in its header (bytes 2 to 5, big-endian); it should be {wrong + 1}.",
                    details=[client.describe()], label="R3.1-3",
                    hint="seq is 4 bytes, big-endian: buf[2] = seq >> 24, buf[3] = seq >> 16, buf[4] = seq >> 8, "
                         "buf[5] = seq; keep it in a uint32_t (§3.1)")
    if rc is None:
        stuck = next((h for h in peer.seen if h[1] >= 4), None)
        why = (f"request seq={stuck[0]} came 4 times, and the echo had sent each copy straight back: the client "
               "did not take them for the reply" if stuck else
               f"it had not finished after {timing.upper(20):.0f} s ({len(firsts)} requests sent)")
        fail_client(client, None, f"udp_client {' '.join(args)} against an echo that answers at once: {why}.",
                    details=[client.describe()], label="R3.1-3",
                    hint="decode all 4 bytes of seq (big-endian) and compare them with the request's number "
                         "(§3.1)")
    requests, summary = parse_output(client)
    run = Run(client, rc, requests, summary, time.monotonic(), None)
    lost = [r.seq for r in requests if not r.replied]
    expect_client(len(requests) == count and not lost and summary.requests == count and summary.replied == count,
                  run, f"udp_client {' '.join(args)} against an echo that answers every request at once printed "
                  f"{len(requests)} request lines, {len(lost)} of them lost"
                  + (f" (the first lost: seq={lost[0]})" if lost else "")
                  + f", and the summary '{summary.requests} requests, {summary.replied} replied'.", label="R3.1-3",
                  hint="decode all 4 bytes of seq (big-endian) and compare them with the request's number "
                       "(§3.1)")
    expect_exit(run, 0)


@pytest.mark.spec("R2.2-2", "R3.2-8")
@pytest.mark.points(2)
def test_client_max_datagram(spawn, udp_echo):
    """udp_client -s 65507 and -s 8: the largest datagram and a header alone, sent and received whole"""
    for size in (MAX_PAYLOAD, 8):
        peer = udp_echo()
        run = run_client(spawn, peer.port, "-s", str(size), "-c", "2", "-t", "1000", proxy=peer)
        expect_lines(run, [(1, True, 1), (2, True, 1)], label="R2.2-2",
                     hint=f"-s {size}: the receive buffer must hold 65507 bytes, and a reply of SIZE bytes is valid (§2.2)")
        got = peer.datagrams()
        expect_client(len(got) >= 1 and got[0].size == size and got[0].data == request_bytes(1, 1, size), run,
                      f"with -s {size} the echo peer received {[d.size for d in got]} bytes; expected whole "
                      f"{size}-byte requests.", hint="§2.2, §3.1", label="R3.2-8")
        expect_client(all(r.size == size for r in run.requests), run,
                      f"with -s {size} the lines print bytes={[r.size for r in run.requests]}.",
                      hint="bytes= is the size of the reply (§3.2)", label="R3.2-17")


BAD_ARGS = [
    (["-c", "0"], "'0'"), (["-c", "zero"], "'zero'"), (["-c", "1000001"], "'1000001'"),
    (["-t", "0"], "'0'"), (["-t", "3600001"], "'3600001'"), (["-r", "101"], "'101'"), (["-r", "-1"], "'-1'"),
    (["--backoff", "0.5"], "'0.5'"), (["--backoff", "17"], "'17'"), (["--max-timeout", "0"], "'0'"),
    (["-s", "7"], "'7'"), (["-s", "65508"], "'65508'"), (["-x"], None),
]


@pytest.mark.spec("R3.3-2", "R3.3-3", "R3.2-1", "R3.2-2", "R3.2-3", "R3.2-4", "R3.2-5", "R3.2-6", "R3.2-8")
@pytest.mark.points(3)
def test_client_errors(spawn, udp_echo):
    """udp_client: bad or out-of-range arguments: named, usage, exit 2; edge values accepted; -4/-6 obeyed"""
    runs = [(args, want, spawn("udp_client", *args, HOST, "7", stdin=b"")) for args, want in BAD_ARGS]
    runs.append((["(no PORT)"], None, spawn("udp_client", HOST, stdin=b"")))
    for args, want, prog in runs:
        rc = prog.wait(5)
        err = printable_bytes(prog.stderr)
        cmd = f"udp_client {' '.join(args)} 127.0.0.1 7"
        fb.expect(rc == 2 and "usage:" in err,
                  f"`{cmd}` should print a 'usage:' line on stderr and exit 2; it ended with {prog.exit_text()}.",
                  details=[prog.describe()], hint="check each option's value and its range (§3.2, §3.3) [R3.3-2]")
        if want:
            named = [ln for ln in err.splitlines() if ln.startswith("udp_client:") and want in ln]
            fb.expect(bool(named), f"`{cmd}` printed usage, but no line 'udp_client: ... {want}' naming the value "
                      "that was wrong.", details=[prog.describe()],
                      hint="say which value was wrong before the usage line, e.g. "
                           "\"udp_client: -c wants a count from 1 to 1000000, not '0'\" (§3.3) [R3.3-2]")
    peer = udp_echo()
    edges = ["-c", "1", "-r", "100", "-t", "3600000", "--backoff", "16", "--max-timeout", "3600000", "-s", "8"]
    prog = spawn("udp_client", *edges, HOST, peer.port, stdin=b"")
    rc = prog.wait(5)
    fb.expect(rc is not None and rc != 2 and "usage:" not in printable_bytes(prog.stderr),
              f"`udp_client {' '.join(edges)} 127.0.0.1 PORT` (every value at the end of its range) was rejected: "
              f"it ended with {prog.exit_text()}.", details=[prog.describe()],
              hint="the ranges include their ends: -r 100, -t 3600000, --backoff 16, -s 8 are valid (§3.2) [R3.2-4]")
    for flag, host in (("-4", "::1"), ("-6", "127.0.0.1")):
        prog = spawn("udp_client", flag, "-c", "1", "-t", "50", host, "7", stdin=b"")
        rc = prog.wait(5)
        err = printable_bytes(prog.stderr)
        shape = re.compile(rf"^udp_client: getaddrinfo {re.escape(host)}:7: \S", re.M)
        fb.expect(rc == 1 and shape.search(err) is not None,
                  f"`udp_client {flag} {host} 7` cannot resolve {host} as an {'IPv4' if flag == '-4' else 'IPv6'} "
                  f"address: it should print 'udp_client: getaddrinfo {host}:7: <gai_strerror>' and exit 1; it "
                  f"ended with {prog.exit_text()}.", details=[prog.describe()],
                  hint="pass the family of -4/-6 to getaddrinfo() in ai_family, and report its failure with "
                       "gai_strerror() and the name you looked up (§3.3, §4.1) [R3.2-1, R3.3-3]")


@pytest.mark.spec("R3.3-4", "R3.3-3", "R3.2-21")
@pytest.mark.points(2)
def test_client_connection_refused(spawn):
    """udp_client to a closed port: reports 'Connection refused', carries on, every request lost, exit 1"""
    with udp_socket() as s:
        port = s.getsockname()[1]
    run = run_client(spawn, port, "-c", "2", "-r", "1", "-t", "50", timeout=5)
    expect_lines(run, [(1, False, 2), (2, False, 2)], label="R3.3-4",
                 hint="ECONNREFUSED from send() or recv() reports an ICMP error for an earlier datagram: say so "
                      "on stderr and carry on; the request is lost when nothing answers (§3.3, §4.1)")
    err = printable_bytes(run.client.stderr)
    shape = re.compile(rf"^udp_client: (send|recv|recvfrom|sendto) 127\.0\.0\.1:{port}: Connection refused$", re.M)
    expect_client(shape.search(err) is not None, run,
                  f"udp_client's stderr has no line 'udp_client: recv 127.0.0.1:{port}: Connection refused' "
                  "(or send).", label="R3.3-3",
                  hint="errors have one shape: 'udp_client: call ADDR:PORT: strerror(errno)' (§3.3)")
    elapsed = run.exited - run.client.started
    expect_client(elapsed >= 0.95 * 0.3, run,
                  f"udp_client exited {elapsed * 1000:.0f} ms after it started; two requests of two sends each "
                  "wait 50 + 100 ms each, 300 ms in all, even when the port is closed.", label="R3.3-4",
                  hint="an ECONNREFUSED does not end the wait: keep waiting until the deadline (§3.3)")


@pytest.mark.spec("R3.3-6")
@pytest.mark.points(2)
def test_client_frees_everything_at_exit(spawn, lossy_path):
    """udp_client: frees everything at exit after a session with losses and copies (LeakSanitizer)"""
    proxy = lossy_path(c2s=Faults(drop={1}), s2c=Faults(duplicate={0: 1}))
    # A generous bound: LeakSanitizer's check at exit is slow on a loaded machine, and an equivalent
    # mutant once lost these points in a mutation sweep at load 9.
    run = run_client(spawn, proxy.port, "-c", "4", "-t", "100", "--adaptive", proxy=proxy,
                     timeout=timing.deadline(10) / timing.time_scale())
    leak = run.client.leak_report()
    expect_client(leak is None, run, "udp_client did not free everything it allocated before it exited:\n" + (leak or ""),
                  label="R3.3-6", hint="free() what you malloc(), on every path to exit (§3.3)")


@pytest.mark.points(0)
def test_rtt_unit(spawn):
    """rtt.c on its own: test_rtt.c's checks of the statistics and of RFC 6298 (not graded: `make unit`)"""
    if not spawn.build.path("test_rtt").exists():
        fb.fail("test_rtt was not built: labs/02-udp-retry/test_rtt.c is missing from your folder.",
                hint="restore test_rtt.c from the handout; `make unit` builds and runs it")
    prog = spawn("test_rtt", stdin=b"")
    rc = prog.wait(10)
    fails = [line for line in printable_bytes(prog.stdout).splitlines() if line.startswith("FAIL")]
    shown = "\n".join(fails[:5]) + (f"\n... and {len(fails) - 5} more FAIL lines (`make unit` shows them all)"
                                   if len(fails) > 5 else "")
    fb.expect(rc == 0, f"test_rtt (the unit test of rtt.c) ended with {prog.exit_text()}; its first failed checks:\n"
              + shown, details=[prog.describe()],
              hint="run `make unit` in labs/02-udp-retry: each FAIL line names the function, the input and what "
                   "was expected (§3.2, §5)")
