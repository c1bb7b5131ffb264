"""Lab 02: UDP requests with timeout and retransmission. Tests for udp_server and udp_client, with points.

Server tests talk to the student's udp_server through trusted Python sockets. Client tests
run the student's udp_client against a trusted Python echo peer (harness.udpproxy.UdpEchoPeer),
usually through a seeded fault-injecting proxy (harness.udpproxy.UdpProxy) that drops, delays,
duplicates or reorders chosen datagrams and records when each one arrived. Timing checks
use the proxy's timestamps (the kernel's, on the monotonic clock the C programs read too)
and tolerances, never tight absolute bounds. Section numbers (§) refer to
labs/02-udp-retry/README.md.
"""
from __future__ import annotations

import re
import socket
import statistics
import struct
import time
from dataclasses import dataclass
from typing import Optional

import pytest

from harness.plugin import closing_factory
from harness import feedback as fb
from harness.udpproxy import Datagram, Faults, UdpEchoPeer, UdpProxy, recv_stamped, stamped_socket

LAB = "02"
HOST = "127.0.0.1"
MAX_PAYLOAD = 65507
HEADER = struct.Struct("!2sIH")  # magic "SL", sequence number, attempt number (§3.1)
MAGIC = b"SL"


# ---- fixtures -----------------------------------------------------------------------------
@pytest.fixture
def udp_proxy():
    """A factory for UdpProxy(target, c2s=Faults(...), s2c=Faults(...), seed=0); closed at teardown."""
    yield from closing_factory(UdpProxy)


@pytest.fixture
def udp_echo():
    """A factory for trusted UDP echo peers, UdpEchoPeer(family=..., reply=...); closed at teardown."""
    yield from closing_factory(UdpEchoPeer)


@pytest.fixture
def lossy_path(udp_echo, udp_proxy):
    """lossy_path(c2s=Faults(...), s2c=Faults(...), seed=0): a trusted echo peer behind a proxy.

    Returns the proxy; the client is pointed at (proxy.host, proxy.port).
    """
    def make(**kwargs) -> UdpProxy:
        echo = udp_echo()
        return udp_proxy((echo.host, echo.port), **kwargs)

    return make


# ---- the wire format and the client's output ------------------------------------------------
def header(data: bytes) -> Optional[tuple[int, int]]:
    """(seq, attempt) of a request or echo, or None if it has no valid header (§3.1)."""
    if len(data) < HEADER.size:
        return None
    magic, seq, attempt = HEADER.unpack_from(data)
    return (seq, attempt) if magic == MAGIC else None


def request_bytes(seq: int, attempt: int, size: int) -> bytes:
    """The exact request udp_client must send (§3.1)."""
    return HEADER.pack(MAGIC, seq, attempt) + bytes(i & 0xFF for i in range(HEADER.size, size))


@dataclass
class Request:
    """One request line of udp_client's output (§3.2)."""

    seq: int
    replied: bool
    attempts: int
    size: Optional[int] = None
    rtt_ms: Optional[float] = None
    rto_ms: Optional[float] = None


@dataclass
class Summary:
    requests: int
    replied: int
    lost_pct: str
    retransmissions: int
    duplicates: int
    rtt: Optional[tuple[float, float, float, float]]


REPLIED_LINE = re.compile(r"seq=(\d+) bytes=(\d+) rtt=(\d+\.\d{3}) ms attempts=(\d+)(?: rto=(\d+\.\d{3}) ms)?")
LOST_LINE = re.compile(r"seq=(\d+) lost after (\d+) attempts(?: rto=(\d+\.\d{3}) ms)?")
SUMMARY_LINE = re.compile(
    r"(\d+) requests, (\d+) replied, (\d+\.\d)% lost, (\d+) retransmissions, (\d+) duplicates"
    r"(?:, rtt min/avg/max/mdev = (\d+\.\d{3})/(\d+\.\d{3})/(\d+\.\d{3})/(\d+\.\d{3}) ms)?")
FORMATS = ("  expected lines like:\n"
           "    seq=3 bytes=64 rtt=0.412 ms attempts=2\n"
           "    seq=4 lost after 4 attempts\n"
           "    10 requests, 9 replied, 10.0% lost, 3 retransmissions, 1 duplicates, "
           "rtt min/avg/max/mdev = 0.010/0.020/0.052/0.011 ms")


@dataclass
class Run:
    """A finished udp_client: the program, its exit status, its parsed output, when it was seen to exit."""

    client: object
    rc: int
    requests: list[Request]
    summary: Summary
    exited: float

    def line(self, seq: int) -> Request:
        return next(r for r in self.requests if r.seq == seq)


def parse_output(client, details=()) -> tuple[list[Request], Summary]:
    """Parse udp_client's stdout strictly; fail with the offending line if it is not as in §3.2."""
    text = client.stdout.decode("utf-8", "replace")
    requests, summary = [], None
    for n, line in enumerate(text.splitlines(), 1):
        if summary is not None:
            fb.fail(f"udp_client printed line {n} after the summary line: {line!r}.",
                    details=[FORMATS, client.describe(), *details],
                    hint="the summary is the last line of stdout; errors go to stderr (§3.2)")
        if m := REPLIED_LINE.fullmatch(line):
            requests.append(Request(int(m[1]), True, int(m[4]), int(m[2]), float(m[3]),
                                    float(m[5]) if m[5] else None))
        elif m := LOST_LINE.fullmatch(line):
            requests.append(Request(int(m[1]), False, int(m[2]), rto_ms=float(m[3]) if m[3] else None))
        elif m := SUMMARY_LINE.fullmatch(line):
            rtt = tuple(float(x) for x in m.groups()[5:]) if m[6] else None
            summary = Summary(int(m[1]), int(m[2]), m[3], int(m[4]), int(m[5]), rtt)
        else:
            fb.fail(f"line {n} of udp_client's stdout is not in the documented format: {line!r}.",
                    details=[FORMATS, client.describe(), *details],
                    hint="print exactly the formats of §3.2 (three decimals for times, one for the percentage)")
    if summary is None:
        fb.fail("udp_client's stdout has no summary line.", details=[FORMATS, client.describe(), *details],
                hint="after the last request print the summary line of §3.2")
    return requests, summary


def transcript(proxy, limit: int = 40) -> str:
    """What a proxy or peer saw, one datagram a line, times from the first datagram."""
    seen = proxy.datagrams()
    if not seen:
        return "  the proxy saw no datagram at all"
    t0 = seen[0].t
    lines = ["  what the proxy saw (seconds since the first datagram, direction, index, size, header, fate):"]
    for d in seen[:limit]:
        h = header(d.data)
        what = f"seq={h[0]} attempt={h[1]}" if h else "(no valid header)"
        lines.append(f"    {d.t - t0:7.3f} s  {d.direction} #{d.index:<3} {d.size:5d} B  {what:<22} {d.fate}")
    if len(seen) > limit:
        lines.append(f"    ... and {len(seen) - limit} more")
    return "\n".join(lines)


def run_client(spawn, port, *args, host=HOST, timeout=10.0, proxy=None, hint="") -> Run:
    """Run udp_client HOST PORT with args; fail if it does not exit within `timeout` s."""
    client = spawn("udp_client", *args, host, port, stdin=b"")
    rc = client.wait(timeout)
    exited = time.monotonic()
    details = [client.describe()] + ([transcript(proxy)] if proxy else [])
    if rc is None:
        fb.fail(f"udp_client did not exit within {timeout:g} s. Its stdout so far:\n"
                f"{client.stdout.decode('utf-8', 'replace')[-800:]}", details=details,
                hint=hint or "every wait for a reply needs a timeout; after RETRIES retransmissions give up (§4.2, §4.3)")
    requests, summary = parse_output(client, details=[transcript(proxy)] if proxy else [])
    return Run(client, rc, requests, summary, exited)


def expect_lines(run: Run, expected: list[tuple], proxy, hint: str) -> None:
    """Check the request lines: expected is [(seq, replied, attempts)] in order."""
    got = [(r.seq, r.replied, r.attempts) for r in run.requests]
    if got != expected:
        show = lambda rows: "\n".join(f"    seq={s} {'replied' if ok else 'lost'} attempts={a}" for s, ok, a in rows)
        fb.fail("udp_client's request lines are not what this network allowed.\n"
                f"  expected:\n{show(expected)}\n  printed:\n{show(got) or '    (nothing)'}",
                details=[run.client.describe(), transcript(proxy)], hint=hint)


def expect_summary(run: Run, requests, replied, retransmissions, duplicates, proxy, hint: str) -> None:
    s = run.summary
    lost = requests - replied
    want = (requests, replied, f"{100.0 * lost / requests:.1f}", retransmissions, duplicates)
    got = (s.requests, s.replied, s.lost_pct, s.retransmissions, s.duplicates)
    if got != want:
        fb.fail("udp_client's summary line has the wrong counts.\n"
                f"  expected: {want[0]} requests, {want[1]} replied, {want[2]}% lost, "
                f"{want[3]} retransmissions, {want[4]} duplicates\n"
                f"  printed:  {got[0]} requests, {got[1]} replied, {got[2]}% lost, "
                f"{got[3]} retransmissions, {got[4]} duplicates",
                details=[run.client.describe(), transcript(proxy)], hint=hint)


def expect_exit(run: Run, want: int, proxy=None, hint: str = "exit 0 when every request was answered, 1 if any was lost (§3.3)"):
    fb.expect(run.rc == want, f"udp_client ended with {run.client.exit_text()}, expected exit status {want}.",
              details=[run.client.describe()] + ([transcript(proxy)] if proxy else []), hint=hint)


def sends_of(proxy, seq: int) -> list[Datagram]:
    """The client's transmissions of request seq that the proxy saw, in order."""
    return [d for d in proxy.datagrams("c2s") if header(d.data) and header(d.data)[0] == seq]


def expect_gap(measured_s: float, nominal_ms: float, what: str, details, hint: str) -> None:
    """A gap between two datagrams, in seconds, must be near nominal_ms: a loaded machine may add, not take away."""
    low = 0.9 * nominal_ms - 3
    high = 1.5 * nominal_ms + 50
    ms = measured_s * 1000
    fb.expect(low <= ms <= high,
              f"{what}: {ms:.1f} ms, expected about {nominal_ms:.0f} ms (accepted: {low:.0f} to {high:.0f} ms).",
              details=details, hint=hint)


def expect_rtt(run: Run, seq: int, sent: Datagram, reply: Datagram, proxy, hint: str, slack_ms: float = 50.0) -> None:
    """The RTT printed for seq must be measured from `sent` (a c2s datagram) to `reply` (an s2c one).

    The client sent before the proxy received, and received after the proxy sent: its RTT
    can only be longer than the proxy's span, and only by scheduling delays.
    """
    span = (reply.sent[0] - sent.t) * 1000
    rtt = run.line(seq).rtt_ms
    fb.expect(span - 1.0 <= rtt <= span + slack_ms,
              f"udp_client printed rtt={rtt:.3f} ms for seq={seq}, but the reply it accepted answered the "
              f"transmission that reached the proxy {span:.3f} ms before the proxy passed the reply on "
              f"(accepted: {span - 1:.3f} to {span + slack_ms:.3f} ms).",
              details=[run.client.describe(), transcript(proxy)], hint=hint)


# ---- udp_server ---------------------------------------------------------------------------
def start_server(spawn, *args, host=HOST):
    """The student's udp_server on host, ephemeral port; returns (program, host, port)."""
    return spawn.server("udp_server", "-b", host, "-p", "0", *args,
                        hint="the server must print 'listening on ADDR:PORT' after bind() and fflush(stdout) (§3.4)")


def udp_socket(family=socket.AF_INET) -> socket.socket:
    """A client socket on loopback whose datagrams carry the kernel's arrival time."""
    return stamped_socket(family)


def receive(sock: socket.socket, timeout: float) -> tuple[Optional[bytes], Optional[tuple]]:
    """One datagram within `timeout` s: (data, sender), or (None, None)."""
    data, sender, _ = receive_stamped(sock, timeout)
    return data, sender


def receive_stamped(sock: socket.socket, timeout: float) -> tuple[Optional[bytes], Optional[tuple], Optional[float]]:
    """One datagram within `timeout` s: (data, sender, kernel arrival time on the monotonic clock)."""
    sock.settimeout(timeout)
    try:
        return recv_stamped(sock)
    except (socket.timeout, OSError):
        return None, None, None


@pytest.mark.points(5)
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
                        hint="a 0-byte datagram is a datagram, not an end of file: echo it too (§2.1)"
                        if size == 0 else "recvfrom() a datagram, sendto() it back to the address recvfrom() gave (§4.1)")
            fb.expect_bytes(got, payload, what=f"the echo of a {size}-byte datagram", sent=payload,
                            details=[server.describe()], hint="send back exactly the bytes received: use recvfrom()'s return value (§3.4)")


@pytest.mark.points(5)
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
                hint="the receive buffer must hold the largest datagram (§2.2)")
    fb.expect_bytes(got, payload, what="the echo of a 65507-byte datagram", details=[server.describe()],
                    hint="a datagram longer than the buffer given to recvfrom() is cut short, silently "
                         "(MSG_TRUNC): make the buffer hold 65507 bytes at least (§2.2)")


@pytest.mark.points(6)
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
                                 "this datagram, not to an address kept from an earlier one (§4.1)")


@pytest.mark.points(3)
def test_server_ipv6(spawn):
    """udp_server -6 on ::1 (and udp_client -6 through it)"""
    server, host, port = spawn.server("udp_server", "-6", "-b", "::1", "-p", "0",
                                      hint="use getaddrinfo() with the family from -4/-6; never hard-code AF_INET (§4.1)")
    with udp_socket(socket.AF_INET6) as s:
        s.sendto(b"over IPv6", ("::1", port))
        got, _ = receive(s, 2.0)
    fb.expect_bytes(got or b"", b"over IPv6", what="IPv6 echo", details=[server.describe()],
                    hint="the server must work with AF_INET6 addresses: use sockaddr_storage for the sender (§4.1)")
    run = run_client(spawn, port, "-6", "-c", "3", "-t", "1000", host="::1")
    expect_exit(run, 0, hint="udp_client -6 ::1 PORT must resolve ::1 with getaddrinfo() (§4.1)")
    fb.expect(run.summary.replied == 3, "udp_client -6 did not get 3 replies from udp_server -6.",
              details=[run.client.describe(), server.describe()], hint="§4.1")


def drive_lossy_server(server, host, port, n=100, timeout=5.0) -> set[int]:
    """Send n numbered datagrams in a burst; return the numbers that did not come back.

    Completion is known without waiting for silence: the server reports every drop on stderr.
    """
    echoed = set()
    with udp_socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for i in range(n):
            s.sendto(b"datagram %03d" % i, (host, port))
        deadline = time.monotonic() + timeout
        drops = []
        while time.monotonic() < deadline:
            drops = re.findall(rb"dropped datagram (\d+)", server.stderr)
            if len(echoed) + len(drops) >= n:
                break
            got, _ = receive(s, 0.05)
            m = re.fullmatch(rb"datagram (\d{3})", got or b"")
            if m:
                echoed.add(int(m[1]))
    if len(echoed) + len(drops) != n:
        fb.fail(f"of {n} datagrams sent to udp_server --loss, {len(echoed)} came back and its stderr "
                f"reports {len(drops)} dropped: {n - len(echoed) - len(drops)} are unaccounted for after {timeout:g} s.",
                details=[server.describe()],
                hint="for each datagram --loss drops, print 'dropped datagram N (B bytes from ADDR:PORT): --loss' on stderr (§3.4)")
    return set(range(n)) - echoed


@pytest.mark.points(5)
def test_server_loss_seeded(spawn):
    """udp_server --loss 0.3 --seed 42: about 30% dropped, the same ones on every run"""
    first, host, port1 = start_server(spawn, "--loss", "0.3", "--seed", "42")
    dropped1 = drive_lossy_server(first, host, port1)
    second, host, port2 = start_server(spawn, "--loss", "0.3", "--seed", "42")
    dropped2 = drive_lossy_server(second, host, port2)
    fb.expect(15 <= len(dropped1) <= 45,
              f"udp_server --loss 0.3 dropped {len(dropped1)} of 100 datagrams (expected about 30).",
              details=[first.describe()], hint="drop each datagram when a uniform random number in [0, 1) is below P (§4.6)")
    fb.expect(dropped1 == dropped2,
              f"two runs of udp_server --loss 0.3 --seed 42 dropped different datagrams:\n"
              f"  first run:  {sorted(dropped1)}\n  second run: {sorted(dropped2)}",
              details=[first.describe(), second.describe()],
              hint="seed your random generator with --seed once, before the loop, and draw once per datagram (§4.6)")


@pytest.mark.points(4)
def test_server_delay_keeps_serving(spawn):
    """udp_server --delay-ms 80: echoes come 80 ms late, and a second client is not held up meanwhile"""
    server, host, port = start_server(spawn, "--delay-ms", "80")
    with udp_socket() as a, udp_socket() as b:
        t0 = time.monotonic()
        a.sendto(b"first", (host, port))
        b.sendto(b"second", (host, port))
        # Arrival times are the kernel's: a test thread that runs late cannot skew them.
        got_a, _, ta = receive_stamped(a, 3.0)
        got_b, _, tb = receive_stamped(b, 3.0)
    fb.expect(got_a == b"first" and got_b == b"second",
              f"udp_server --delay-ms 80 did not echo both datagrams within 3 s (got {got_a!r} and {got_b!r}).",
              details=[server.describe()], hint="keep delayed echoes in a queue and send them when due (§4.6)")
    fb.expect(ta - t0 >= 0.079,
              f"the echo came back after {(ta - t0) * 1000:.1f} ms; --delay-ms 80 asks for 80 ms at least.",
              details=[server.describe()], hint="due time = arrival + delay, on the monotonic clock (§4.6)")
    fb.expect(abs(tb - ta) < 0.040,
              f"the second client's echo came {(tb - ta) * 1000:.1f} ms after the first client's, though both "
              "were sent together: the server waited out one delay before receiving the next datagram.",
              details=[server.describe()],
              hint="do not sleep per datagram: poll() with a timeout until the first due echo, and keep receiving (§4.6)")


@pytest.mark.points(5)
def test_server_interleaved_clients(spawn):
    """udp_server with 20 udp_clients at once: every client gets all its 20 replies"""
    server, host, port = start_server(spawn)
    clients = [spawn("udp_client", "-c", "20", "-t", "200", "-r", "3", "-s", str(64 + 8 * i), host, port, stdin=b"")
               for i in range(20)]
    for i, client in enumerate(clients):
        rc = client.wait(20)
        ok = rc == 0 and re.search(rb"^20 requests, 20 replied", client.stdout, re.M)
        if not ok:
            fb.fail(f"client {i + 1} of 20, sharing udp_server with the others, ended with "
                    f"{client.exit_text()} and did not get its 20 replies.",
                    details=[client.describe(), server.describe()],
                    hint="one socket serves every client: recvfrom() gives each datagram's sender; "
                         "reply to that address (§4.1, §3.4)")


# ---- udp_client ---------------------------------------------------------------------------
@pytest.mark.points(6)
def test_client_no_loss(spawn, lossy_path):
    """udp_client, no loss: one attempt each, exact wire format, correct summary"""
    proxy = lossy_path()
    run = run_client(spawn, proxy.port, "-c", "10", "-t", "1000", "-s", "100", proxy=proxy)
    sent = proxy.datagrams("c2s")
    for i, d in enumerate(sent[:10]):
        fb.expect_bytes(d.data, request_bytes(i + 1, 1, 100), what=f"request {i + 1} as the proxy saw it",
                        details=[transcript(proxy)],
                        hint="header: 'S' 'L', then seq and attempt, big-endian; payload byte i is i mod 256 (§3.1)")
    fb.expect(len(sent) == 10, f"the proxy saw {len(sent)} requests; udp_client -c 10 on a perfect network must send 10.",
              details=[transcript(proxy)], hint="send the next request only after the reply to this one (§3.2)")
    expect_lines(run, [(i, True, 1) for i in range(1, 11)], proxy, hint="one line per request (§3.2)")
    expect_summary(run, 10, 10, 0, 0, proxy, hint="§3.2")
    expect_exit(run, 0, proxy)
    replies = proxy.datagrams("s2c")
    for r in run.requests:
        fb.expect(r.size == 100, f"seq={r.seq} printed bytes={r.size}; the reply had 100 bytes.",
                  details=[run.client.describe()], hint="bytes= is the size of the reply datagram (§3.2)")
        expect_rtt(run, r.seq, sent[r.seq - 1], replies[r.seq - 1], proxy,
                   hint="RTT = time the reply arrived - time that transmission was sent, both from "
                        "clock_gettime(CLOCK_MONOTONIC) (§4.4)", slack_ms=200)
    rtts = [r.rtt_ms for r in run.requests]
    mn, avg, mx, mdev = run.summary.rtt or (None,) * 4
    want = (min(rtts), statistics.fmean(rtts), max(rtts), statistics.pstdev(rtts))
    fb.expect(run.summary.rtt is not None and all(abs(a - b) <= 0.003 for a, b in zip(run.summary.rtt, want)),
              f"the summary says rtt min/avg/max/mdev = {run.summary.rtt}, but the lines give "
              f"{'/'.join(f'{x:.3f}' for x in want)} ms.",
              details=[run.client.describe()],
              hint="mdev is the population standard deviation: sqrt(mean of squares - square of mean) (§3.2)")


@pytest.mark.points(5)
def test_client_first_request_dropped(spawn, lossy_path):
    """udp_client: the first request is dropped: retransmitted after the timeout"""
    proxy = lossy_path(c2s=Faults(drop={0}))
    run = run_client(spawn, proxy.port, "-c", "3", "-t", "200", "-r", "3", proxy=proxy, timeout=5)
    hint = "wait for the reply with a deadline; when it passes, send the request again (§4.2, §4.3)"
    expect_lines(run, [(1, True, 2), (2, True, 1), (3, True, 1)], proxy, hint=hint)
    expect_summary(run, 3, 3, 1, 0, proxy, hint="retransmissions counts the sends after the first of each request (§3.2)")
    expect_exit(run, 0, proxy)
    first = sends_of(proxy, 1)
    fb.expect([header(d.data)[1] for d in first] == [1, 2],
              "the proxy saw request 1 sent with attempt numbers "
              f"{[header(d.data)[1] for d in first]}, expected [1, 2].",
              details=[transcript(proxy)], hint="the attempt field counts the transmissions of one request, from 1 (§3.1)")
    expect_gap(first[1].t - first[0].t, 200, "time between request 1 and its retransmission",
               [transcript(proxy)], hint="the first timeout is -t TIMEOUT_MS, counted from the send (§4.3)")


@pytest.mark.points(5)
def test_client_reply_dropped(spawn, udp_echo, udp_proxy):
    """udp_client: a reply is dropped: the server sees the request twice, the client counts it once"""
    echo = udp_echo()
    proxy = udp_proxy((echo.host, echo.port), s2c=Faults(drop={0}))
    run = run_client(spawn, proxy.port, "-c", "2", "-t", "200", proxy=proxy, timeout=5)
    expect_lines(run, [(1, True, 2), (2, True, 1)], proxy,
                 hint="a lost reply looks like a lost request: time out and retransmit (§4.3)")
    expect_summary(run, 2, 2, 1, 0, proxy, hint="§3.2")
    expect_exit(run, 0, proxy)
    at_server = [header(d.data) for d in echo.datagrams()]
    fb.expect(at_server == [(1, 1), (1, 2), (2, 1)],
              f"the echo server received (seq, attempt) {at_server}, expected [(1, 1), (1, 2), (2, 1)]: "
              "request 1 twice, as attempts 1 and 2.",
              details=[transcript(proxy)], hint="a retransmission carries the same seq and the next attempt number (§3.1)")


@pytest.mark.points(5)
def test_client_reply_delayed_past_timeout(spawn, lossy_path):
    """udp_client: a reply delayed past the timeout arrives after the retransmission: counted once, right RTT"""
    # Reply #0 (to attempt 1) is 300 ms late; reply #1 (to attempt 2, sent at 200 ms) is dropped.
    proxy = lossy_path(s2c=Faults(delays={0: 0.300}, drop={1}))
    run = run_client(spawn, proxy.port, "-c", "2", "-t", "200", "-r", "3", proxy=proxy, timeout=5)
    expect_lines(run, [(1, True, 2), (2, True, 1)], proxy,
                 hint="a late reply to an earlier attempt of the current request is still its reply (§4.5)")
    expect_summary(run, 2, 2, 1, 0, proxy, hint="one reply, one count (§3.2)")
    expect_exit(run, 0, proxy)
    expect_rtt(run, 1, sends_of(proxy, 1)[0], proxy.datagrams("s2c")[0], proxy,
               hint="the reply echoes the attempt number: measure the RTT from the send of that attempt, "
                    "not from the last one (§4.5, §5.3)")


@pytest.mark.points(6)
def test_client_reordered_replies(spawn, lossy_path):
    """udp_client: replies reordered: the retransmission's reply first, then the stale one"""
    # Reply #0 (to attempt 1) is held back until reply #1 (to attempt 2) has gone: the client gets
    # attempt 2's reply, then attempt 1's while it waits for request 2.
    proxy = lossy_path(s2c=Faults(hold={0: 1}))
    run = run_client(spawn, proxy.port, "-c", "2", "-t", "200", proxy=proxy, timeout=5)
    expect_lines(run, [(1, True, 2), (2, True, 1)], proxy, hint="§4.5")
    expect_summary(run, 2, 2, 1, 1, proxy,
                   hint="the late reply to request 1 arrives while request 2 is outstanding: it does not match "
                        "seq 2, so count it as a duplicate and keep waiting (§4.5)")
    expect_exit(run, 0, proxy)
    expect_rtt(run, 1, sends_of(proxy, 1)[1], proxy.datagrams("s2c")[1], proxy,
               hint="the reply that came echoes attempt 2: the RTT runs from the retransmission, not from the "
                    "first send (Karn's ambiguity, §5.3)", slack_ms=100)


@pytest.mark.points(4)
def test_client_duplicated_replies(spawn, lossy_path):
    """udp_client: duplicated replies are counted and ignored"""
    proxy = lossy_path(s2c=Faults(duplicate={0: 2, 1: 1}))
    run = run_client(spawn, proxy.port, "-c", "3", "-t", "200", proxy=proxy, timeout=5)
    expect_lines(run, [(1, True, 1), (2, True, 1), (3, True, 1)], proxy,
                 hint="a copy of an earlier reply must not be taken as the reply to the current request (§4.5)")
    expect_summary(run, 3, 3, 0, 3, proxy, hint="every reply whose seq is not the current request's is a duplicate (§3.2, §4.5)")
    expect_exit(run, 0, proxy)


@pytest.mark.points(5)
def test_client_all_lost(spawn, lossy_path):
    """udp_client, 100% loss: gives up after RETRIES, after the sum of the timeouts, exit 1"""
    proxy = lossy_path(c2s=Faults(drop_rate=1.0))
    run = run_client(spawn, proxy.port, "-c", "1", "-t", "40", "-r", "3", proxy=proxy, timeout=5)
    sent = proxy.datagrams("c2s")
    fb.expect([header(d.data) for d in sent] == [(1, 1), (1, 2), (1, 3), (1, 4)],
              f"with -r 3 the client must send request 1 four times (attempts 1 to 4); the proxy saw "
              f"{[header(d.data) for d in sent]}.",
              details=[transcript(proxy)], hint="RETRIES counts retransmissions: RETRIES + 1 sends in all (§3.2, §4.3)")
    expect_lines(run, [(1, False, 4)], proxy, hint="print 'seq=1 lost after 4 attempts' (§3.2)")
    expect_summary(run, 1, 0, 3, 0, proxy, hint="§3.2")
    expect_exit(run, 1, proxy)
    total = (run.exited - sent[0].t) * 1000
    fb.expect(0.95 * 600 - 5 <= total <= 600 + 1000,
              f"udp_client exited {total:.0f} ms after its first send; the timeouts 40 + 80 + 160 + 320 ms add up to 600 ms.",
              details=[run.client.describe(), transcript(proxy)],
              hint="after the last retransmission, wait out its (backed-off) timeout before reporting the loss (§4.3)")


@pytest.mark.points(3)
@pytest.mark.parametrize("args,gaps", [
    (["-t", "40", "-r", "3"], [40, 80, 160]),
    (["-t", "30", "-r", "3", "--backoff", "3", "--max-timeout", "100"], [30, 90, 100]),
], ids=["t40-x2", "t30-x3-max100"])
def test_client_backoff_gaps(spawn, lossy_path, args, gaps):
    """udp_client: retransmissions spaced t, F*t, F*F*t..., capped by --max-timeout"""
    proxy = lossy_path(c2s=Faults(drop_rate=1.0))
    run_client(spawn, proxy.port, "-c", "1", *args, proxy=proxy, timeout=5)
    sent = proxy.datagrams("c2s")
    fb.expect(len(sent) == 4, f"the proxy saw {len(sent)} transmissions; -r 3 means 4.",
              details=[transcript(proxy)], hint="§4.3")
    for k, nominal in enumerate(gaps):
        expect_gap(sent[k + 1].t - sent[k].t, nominal, f"gap between transmissions {k + 1} and {k + 2}",
                   [transcript(proxy)],
                   hint="multiply the timeout by --backoff after each expiry, and never exceed --max-timeout (§4.3)")


def stale_stream(data: bytes, index: int) -> list:
    """Answer each request with a wrong reply (its seq minus 1) every 20 ms for 3 s, and never the right one."""
    h = header(data)
    if h is None:
        return []
    stale = data[:2] + struct.pack("!I", (h[0] - 1) & 0xFFFFFFFF) + data[6:]
    return [(0.02 * k, stale) for k in range(1, 151)]


@pytest.mark.points(5)
def test_client_stale_replies_do_not_extend_timeout(spawn, udp_echo):
    """udp_client: a stream of wrong replies every 20 ms does not extend the timeout"""
    peer = udp_echo(reply=stale_stream)
    run = run_client(spawn, peer.port, "-c", "1", "-t", "100", "-r", "1", timeout=1.5, proxy=peer,
                     hint="the deadline is fixed when the request is sent; a wrong reply must not restart "
                          "the wait: poll() with the time left until the deadline (§4.2)")
    expect_lines(run, [(1, False, 2)], peer, hint="§4.2")
    expect_exit(run, 1, peer)
    total = (run.exited - peer.datagrams()[0].t) * 1000
    fb.expect(0.95 * 300 - 5 <= total,
              f"udp_client gave up {total:.0f} ms after its first send; the timeouts 100 + 200 ms add up to 300 ms.",
              details=[run.client.describe(), transcript(peer)], hint="§4.2, §4.3")
    fb.expect(run.summary.duplicates >= 3,
              f"wrong replies arrived every 20 ms, but the summary counts {run.summary.duplicates} duplicates.",
              details=[run.client.describe()], hint="count every reply that does not match (§3.2, §4.5)")


@pytest.mark.points(6)
def test_client_loss_30_percent(spawn, lossy_path):
    """udp_client, 30% seeded loss each way, 200 requests: every request accounted for, counts agree with the proxy"""
    proxy = lossy_path(c2s=Faults(drop_rate=0.3), s2c=Faults(drop_rate=0.3), seed=2024)
    run = run_client(spawn, proxy.port, "-c", "200", "-t", "8", "-r", "3", "--backoff", "1.25",
                     proxy=proxy, timeout=20)
    details = [run.client.describe(), transcript(proxy, limit=20)]
    seqs = [r.seq for r in run.requests]
    fb.expect(seqs == list(range(1, 201)),
              f"udp_client must print one line per request, seq=1 to seq=200 in order; it printed {len(seqs)} lines"
              + (f", the first out of place being seq={next((s for i, s in enumerate(seqs, 1) if s != i), '?')}"
                 if seqs != list(range(1, 201)) else "") + ".",
              details=details, hint="each request ends with a reply line or a 'lost after' line (§3.2)")
    for r in run.requests:
        c2s = sends_of(proxy, r.seq)
        fb.expect(len(c2s) == r.attempts,
                  f"seq={r.seq}: the client printed attempts={r.attempts}, but the proxy saw {len(c2s)} transmissions.",
                  details=details, hint="count every transmission of the request (§3.2)")
        if r.replied:
            answered = [d for d in proxy.datagrams("s2c") if header(d.data) and header(d.data)[0] == r.seq and d.sent]
            fb.expect(answered, f"seq={r.seq} is reported replied, but the proxy passed no reply for it on.",
                      details=details, hint="accept only a reply whose seq matches (§4.5)")
        else:
            fb.expect(r.attempts == 4, f"seq={r.seq} is reported lost after {r.attempts} attempts; -r 3 means 4.",
                      details=details, hint="§4.3")
    replied = sum(r.replied for r in run.requests)
    retrans = sum(r.attempts - 1 for r in run.requests)
    fb.expect(len(proxy.datagrams("c2s")) == 200 + retrans,
              f"the proxy saw {len(proxy.datagrams('c2s'))} requests; 200 + {retrans} retransmissions were printed.",
              details=details, hint="§3.2")
    expect_summary(run, 200, replied, retrans, run.summary.duplicates, proxy,
                   hint="the summary must add up the request lines (§3.2)")
    delivered = sum(1 for d in proxy.datagrams("s2c") if d.sent)
    unread = delivered - replied - run.summary.duplicates
    fb.expect(0 <= unread <= 3,
              f"the proxy passed {delivered} replies on; the client reports {replied} replied and "
              f"{run.summary.duplicates} duplicates, which leaves {unread} unaccounted for.",
              details=details, hint="every reply the client reads is either the answer or a duplicate (§4.5)")
    expect_exit(run, 0 if replied == 200 else 1, proxy)


@pytest.mark.points(5)
def test_client_adaptive_no_spurious(spawn, lossy_path):
    """udp_client --adaptive, 50 ms added delay: retransmits while warming up, then never"""
    proxy = lossy_path(s2c=Faults(delay_s=0.050))
    run = run_client(spawn, proxy.port, "--adaptive", "-t", "20", "-c", "6", "-r", "5", proxy=proxy, timeout=10)
    expect_exit(run, 0, proxy)
    attempts = [r.attempts for r in run.requests]
    details = [run.client.describe(), transcript(proxy)]
    fb.expect(attempts and attempts[0] > 1,
              f"with -t 20 and replies 50 ms late, request 1 must time out at least once; attempts were {attempts}.",
              details=details, hint="with --adaptive, the first RTO is -t TIMEOUT_MS (§5.2)")
    first_sample = next((i for i, a in enumerate(attempts) if a == 1), None)
    fb.expect(first_sample is not None and first_sample <= 4,
              f"no request among the first 5 was answered at its first attempt (attempts: {attempts}): "
              "the RTO never grew past the 50 ms round trip.",
              details=details,
              hint="Karn: keep the backed-off RTO for the next request until a valid RTT sample; do not reset "
                   "it to -t after each request (§5.3)")
    later = attempts[first_sample + 1:]
    fb.expect(all(a == 1 for a in later),
              f"after the first RTT sample (request {first_sample + 1}) every request should be answered at its "
              f"first attempt, since the RTT stays 50 ms; attempts were {attempts}.",
              details=details, hint="RTO = SRTT + max(G, 4 RTTVAR), from RFC 6298 (§5.1, §5.2)")


def rfc6298_replay(requests: list[Request], t_ms: float, max_ms: float, backoff: float):
    """The RTO after each request, recomputed from the client's own RTTs and attempts (§5)."""
    srtt = rttvar = None
    rto = min(t_ms, max_ms)
    for r in requests:
        for _ in range(r.attempts - 1 if r.replied else r.attempts):
            rto = min(rto * backoff, max_ms)
        if r.replied and r.attempts == 1:
            R = r.rtt_ms
            if srtt is None:
                srtt, rttvar = R, R / 2
            else:
                rttvar = 0.75 * rttvar + 0.25 * abs(srtt - R)
                srtt = 0.875 * srtt + 0.125 * R
            rto = min(max(srtt + max(0.001, 4 * rttvar), t_ms), max_ms)
        yield r, rto


def delay_by_seq(data: bytes, index: int) -> list:
    """Echo after a delay that depends on the request's seq: RTTs that vary, the same for every attempt."""
    h = header(data)
    delays = [0.030, 0.012, 0.045, 0.020, 0.008, 0.035, 0.025, 0.015, 0.040, 0.010]
    return [(delays[(h[0] - 1) % len(delays)] if h else 0.0, data)]


@pytest.mark.points(4)
def test_client_adaptive_rto_rfc6298(spawn, udp_echo):
    """udp_client --adaptive: the printed RTO follows RFC 6298 and Karn's rule"""
    peer = udp_echo(reply=delay_by_seq)
    run = run_client(spawn, peer.port, "--adaptive", "-t", "5", "-c", "10", "-r", "6",
                     "--max-timeout", "400", proxy=peer, timeout=10)
    expect_exit(run, 0, peer)
    if any(r.rto_ms is None for r in run.requests):
        fb.fail("with --adaptive every request line must end with ' rto=R ms'.",
                details=[run.client.describe()], hint="§3.2")
    for r, want in rfc6298_replay(run.requests, 5, 400, 2.0):
        if abs(r.rto_ms - want) > 0.01 + 1e-4 * want:
            rows = "\n".join(f"    seq={q.seq} attempts={q.attempts} rtt={q.rtt_ms} printed rto={q.rto_ms:.3f} "
                             f"expected rto={w:.3f}" for q, w in rfc6298_replay(run.requests, 5, 400, 2.0))
            fb.fail(f"after seq={r.seq} udp_client printed rto={r.rto_ms:.3f} ms; RFC 6298 with its own RTTs gives "
                    f"{want:.3f} ms.\n{rows}", details=[run.client.describe()],
                    hint="first sample: SRTT = R, RTTVAR = R/2; then RTTVAR (with the old SRTT) before SRTT; "
                         "RTO = SRTT + max(G, 4 RTTVAR) within [-t, --max-timeout]; no sample from a "
                         "retransmitted request; double the RTO on each timeout (§5)")


@pytest.mark.points(2)
def test_client_max_datagram(spawn, udp_echo):
    """udp_client -s 65507: the largest datagram, sent and received whole"""
    peer = udp_echo()
    run = run_client(spawn, peer.port, "-s", "65507", "-c", "2", "-t", "1000", proxy=peer)
    expect_exit(run, 0, peer, hint="the receive buffer must hold 65507 bytes (§2.2)")
    got = peer.datagrams()
    fb.expect(len(got) >= 1 and got[0].size == MAX_PAYLOAD and got[0].data == request_bytes(1, 1, MAX_PAYLOAD),
              f"the echo peer received {[d.size for d in got]} bytes; expected a whole 65507-byte request.",
              details=[run.client.describe()], hint="§2.2, §3.1")


@pytest.mark.points(3)
def test_client_errors(spawn):
    """udp_client: a bad argument gives usage and exit 2; an unresolvable host is named, exit 1"""
    bad = spawn("udp_client", "-c", "zero", HOST, "7", stdin=b"")
    rc = bad.wait(5)
    err = bad.stderr.decode("utf-8", "replace")
    fb.expect(rc == 2 and "usage" in err.lower(),
              f"`udp_client -c zero 127.0.0.1 7` should print a usage line and exit 2; it ended with {bad.exit_text()}.",
              details=[bad.describe()], hint="§3.3")
    # ::1 needs no DNS and cannot resolve as IPv4: getaddrinfo fails at once.
    unres = spawn("udp_client", "-4", "-c", "1", "-t", "50", "::1", "7", stdin=b"")
    rc = unres.wait(5)
    err = unres.stderr.decode("utf-8", "replace")
    fb.expect(rc == 1 and err.startswith("udp_client: getaddrinfo") and "::1" in err,
              "`udp_client -4 ::1 7` cannot resolve ::1 as an IPv4 address: it should print "
              "'udp_client: getaddrinfo ::1:7: <gai_strerror>' and exit 1; it ended with "
              f"{unres.exit_text()}.", details=[unres.describe()],
              hint="report getaddrinfo() failures with gai_strerror() and the name you looked up (§3.3, §4.1)")
