"""Lab 02 (UDP requests with timeout and retransmission): peers, fixtures, output parsing,
timing judgement and diagnoses for harness/tests/test_lab02.py and for hidden tests.

Loaded as a pytest plugin by harness.plugin, so its fixtures (`udp_proxy`, `udp_echo`,
`lossy_path`, `stranger`) reach every test by name; helpers are imported with
`from harness.labs.lab02 import run_client, Faults, ...`.

The UDP mechanism itself (the seeded fault-injecting proxy, the echo peer, kernel receive
timestamps) is generic and lives in harness/udpproxy.py; what is Lab 02's (the wire format of
handout §3.1, the output format of §3.2, what a mistake looks like on the wire) is here.

Timing: every timing verdict goes through `judge()` (harness/timing.py). Times come from the
proxy's or the peer's kernel receive timestamps, never from when a Python thread woke up. Early
fails at once (load cannot hurry a program); late is measured again, and a check that was on time
in any try is proven (load, not the program, made it late elsewhere). Where a scenario relies on
a delay that the harness itself injects, it verifies that delay from its own timestamps
(`Premise`); a distorted run is measured again rather than blamed on the student.
"""
from __future__ import annotations

import re
import socket
import statistics
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import pytest

from harness import feedback as fb
from harness import timing
from harness.plugin import closing_factory
from harness.textsafe import printable_bytes
from harness.udpproxy import (Datagram, Faults, UdpEchoPeer, UdpProxy, recv_stamped,  # noqa: F401
                              stamped_socket)

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

    Returns the proxy; the client is pointed at (proxy.host, proxy.port). The echo peer is
    `proxy.echo`.
    """
    def make(**kwargs) -> UdpProxy:
        echo = udp_echo()
        proxy = udp_proxy((echo.host, echo.port), **kwargs)
        proxy.echo = echo
        return proxy

    return make


@pytest.fixture
def stranger():
    """A UDP socket on loopback that is neither the client nor its server (to forge replies)."""
    s = stamped_socket(socket.AF_INET)
    yield s
    s.close()


# ---- the wire format ----------------------------------------------------------------------
def header(data: bytes) -> Optional[tuple[int, int]]:
    """(seq, attempt) of a request or echo, or None if it has no valid header (§3.1)."""
    if len(data) < HEADER.size:
        return None
    magic, seq, attempt = HEADER.unpack_from(data)
    return (seq, attempt) if magic == MAGIC else None


def request_bytes(seq: int, attempt: int, size: int) -> bytes:
    """The exact request udp_client must send (§3.1)."""
    return HEADER.pack(MAGIC, seq, attempt) + bytes(i & 0xFF for i in range(HEADER.size, size))


def sends_of(proxy, seq: int) -> list[Datagram]:
    """The client's transmissions of request seq that a proxy (or a peer) saw, in order."""
    seen = proxy.datagrams("c2s") if isinstance(proxy, UdpProxy) else proxy.datagrams()
    return [d for d in seen if header(d.data) and header(d.data)[0] == seq]


def replies_to(proxy: UdpProxy, seq: int) -> list[Datagram]:
    """The replies for request seq that the proxy passed on to the client, in order."""
    return [d for d in proxy.datagrams("s2c") if header(d.data) and header(d.data)[0] == seq and d.sent]


# ---- the client's output (§3.2) ------------------------------------------------------------
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
    proxy: object = None

    def line(self, seq: int) -> Request:
        return next(r for r in self.requests if r.seq == seq)

    def details(self, limit: int = 40) -> list[str]:
        return [self.client.describe()] + ([transcript(self.proxy, limit)] if self.proxy else [])


def stdout_text(program) -> str:
    return printable_bytes(program.stdout)


def parse_output(client, proxy=None) -> tuple[list[Request], Summary]:
    """Parse udp_client's stdout strictly; fail with the offending line if it is not as in §3.2."""
    text = client.stdout.decode("utf-8", "replace")
    requests, summary = [], None
    details = [FORMATS, client.describe()] + ([transcript(proxy)] if proxy else [])
    for n, line in enumerate(text.splitlines(), 1):
        shown = printable_bytes(line.encode())
        if summary is not None:
            fail_client(client, proxy, f"udp_client printed line {n} after the summary line: {shown!r}.",
                        details=details, label="R3.2-21",
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
            fail_client(client, proxy, f"line {n} of udp_client's stdout is not in the documented format: {shown!r}.",
                        details=details, label="R3.2-16",
                        hint="print exactly the formats of §3.2 (three decimals for times, one for the "
                             "percentage); notes and errors go to stderr")
    if summary is None:
        fail_client(client, proxy, "udp_client's stdout has no summary line.", details=details, label="R3.2-19",
                    hint="after the last request print the summary line of §3.2")
    return requests, summary


# ---- what the proxy saw ---------------------------------------------------------------------
def transcript(proxy, limit: int = 40) -> str:
    """What a proxy or peer saw, one datagram a line, times from the first datagram."""
    seen = proxy.datagrams()
    if not seen:
        return "  the proxy saw no datagram at all"
    t0 = seen[0].t
    lines = ["  what the proxy saw (ms since the first datagram, direction, index, size, header, fate):"]
    for d in seen[:limit]:
        h = header(d.data)
        what = f"seq={h[0]} attempt={h[1]}" if h else "(no valid header)"
        out = f", passed on at {(d.sent[0] - t0) * 1000:.1f}" if d.sent and d.direction == "s2c" else ""
        lines.append(f"    {(d.t - t0) * 1000:8.1f}  {d.direction} #{d.index:<3} {d.size:5d} B  {what:<22} {d.fate}{out}")
    if len(seen) > limit:
        lines.append(f"    ... and {len(seen) - limit} more")
    return "\n".join(lines)


# ---- diagnoses: the real cause first (issue 13) ------------------------------------------------
_NOT_WRITTEN = re.compile(rb"(\w+): not written yet \(TODO in (\S+), handout (\S+)\)")


def program_diagnosis(program) -> Optional[str]:
    """One sentence when a program did not behave like a program at all: crashed, tripped a
    sanitizer, or is a stub that says "not written yet". None when it ran normally."""
    if program is None:
        return None
    m = _NOT_WRITTEN.search(program.stderr)
    if m:
        return (f"{program.name} says that {m[1].decode()} is not written yet: write the TODO in "
                f"{m[2].decode()} (handout {m[3].decode()}) first.")
    crash = program.crash_report()
    if crash:
        return crash.splitlines()[0].rstrip(":") + "."
    return None


def backoff_diagnosis(proxy, backoff: float = 2.0) -> Optional[str]:
    """'no backoff seen' when the proxy saw a request retransmitted 3+ times at constant gaps."""
    if proxy is None or backoff <= 1.0:
        return None
    seen = proxy.datagrams("c2s") if isinstance(proxy, UdpProxy) else proxy.datagrams()
    by_seq: dict[int, list[float]] = {}
    for d in seen:
        h = header(d.data)
        if h:
            by_seq.setdefault(h[0], []).append(d.t)
    for seq, times in sorted(by_seq.items()):
        gaps = [b - a for a, b in zip(times, times[1:])]
        if len(gaps) >= 2 and all(g2 < 1.2 * g1 for g1, g2 in zip(gaps, gaps[1:])):
            at = ", ".join(f"{(t - times[0]) * 1000:.0f}" for t in times)
            return (f"No backoff seen: request {seq} was sent at {at} ms, so the wait never grew; "
                    f"each expiry must multiply the timeout by --backoff (here {backoff:g}) (§4.3).")
    return None


def fail_client(client, proxy, summary: str, *, details: Iterable[str] = (), hint: str = "",
                label: str = "", backoff: float = 2.0) -> None:
    """Fail a client test: a diagnosis of what went wrong first when there is one (crash, stub,
    no backoff), then the summary and details; the topic hint only when the program behaved."""
    why = program_diagnosis(client) or backoff_diagnosis(proxy, backoff)
    where = f" [{label}]" if label else ""
    if why:
        fb.fail(f"{why}\n{summary}", details=details, hint=f"fix that first; then: {hint}{where}" if hint else "")
    fb.fail(summary, details=details, hint=f"{hint}{where}" if hint else "")


def expect_client(cond: bool, run: Run, summary: str, *, hint: str, label: str = "", details=None,
                  backoff: float = 2.0) -> None:
    if not cond:
        fail_client(run.client, run.proxy, summary, details=details if details is not None else run.details(),
                    hint=hint, label=label, backoff=backoff)


# ---- running the client ---------------------------------------------------------------------
def run_client(spawn, port, *args, host=HOST, timeout=10.0, proxy=None, hint="", backoff: float = 2.0) -> Run:
    """Run udp_client [args] HOST PORT; fail if it does not exit within `timeout` s (scaled)."""
    client = spawn("udp_client", *args, host, port, stdin=b"")
    rc = client.wait(timeout)
    exited = time.monotonic()
    if rc is None:
        fail_client(client, proxy, f"udp_client did not exit within {timeout * timing.time_scale():g} s. "
                    f"Its stdout so far:\n{stdout_text(client)[-800:]}",
                    details=[client.describe()] + ([transcript(proxy)] if proxy else []), backoff=backoff,
                    hint=hint or "every wait for a reply needs a timeout; after RETRIES retransmissions give up "
                                 "(§4.2, §4.3)")
    requests, summary = parse_output(client, proxy)
    return Run(client, rc, requests, summary, exited, proxy)


def expect_lines(run: Run, expected: list[tuple], hint: str, label: str = "R3.2-16") -> None:
    """Check the request lines: expected is [(seq, replied, attempts)] in order."""
    got = [(r.seq, r.replied, r.attempts) for r in run.requests]
    if got != expected:
        show = lambda rows: "\n".join(f"    seq={s} {'replied' if ok else 'lost'} attempts={a}" for s, ok, a in rows)
        fail_client(run.client, run.proxy, "udp_client's request lines are not what this network allowed.\n"
                    f"  expected:\n{show(expected)}\n  printed:\n{show(got) or '    (nothing)'}",
                    details=run.details(), hint=hint, label=label)


def expect_summary(run: Run, requests, replied, retransmissions, duplicates, hint: str,
                   label: str = "R3.2-19", check_pct: bool = True) -> None:
    """The summary's counts; check_pct=False leaves the percentage to the test about it."""
    s = run.summary
    lost = requests - replied
    want = (requests, replied, f"{100.0 * lost / requests:.1f}" if check_pct else s.lost_pct, retransmissions,
            duplicates)
    got = (s.requests, s.replied, s.lost_pct, s.retransmissions, s.duplicates)
    if got != want:
        fail_client(run.client, run.proxy, "udp_client's summary line has the wrong counts.\n"
                    f"  expected: {want[0]} requests, {want[1]} replied, {want[2]}% lost, "
                    f"{want[3]} retransmissions, {want[4]} duplicates\n"
                    f"  printed:  {got[0]} requests, {got[1]} replied, {got[2]}% lost, "
                    f"{got[3]} retransmissions, {got[4]} duplicates",
                    details=run.details(), hint=hint, label=label)
    if replied == 0 and s.rtt is not None:
        fail_client(run.client, run.proxy, f"no request was answered, yet the summary prints rtt statistics "
                    f"{s.rtt}.", details=run.details(), label="R3.2-20",
                    hint="when no request was answered the summary line ends after 'duplicates' (§3.2)")
    if replied > 0 and s.rtt is None:
        fail_client(run.client, run.proxy, f"{replied} requests were answered, but the summary has no "
                    "'rtt min/avg/max/mdev = ...' part.", details=run.details(), label="R3.2-20",
                    hint="after the counts, print the RTT statistics of the answered requests (§3.2)")


def expect_exit(run: Run, want: int, hint: str = "", label: str = "R3.3-1") -> None:
    if run.rc == want:
        return
    lost = [r.seq for r in run.requests if not r.replied]
    if not hint:
        hint = ("exit 0 when every request was answered, 1 if any was lost (§3.3)" if not (want == 0 and lost)
                else f"requests {lost} were lost although this network answers every request after a "
                     "retransmission or two: the waits must grow (§4.3) and a late reply still counts (§4.5)")
    fail_client(run.client, run.proxy, f"udp_client ended with {run.client.exit_text()}, expected exit "
                f"status {want}.", details=run.details(), hint=hint, label=label)


def expect_rtts(run: Run, proxy, pairs: dict, label: str = "R3.2-17", hint: str = "") -> list[timing.Check]:
    """Early RTTs fail at once; returns late-side Checks for judge().

    pairs maps seq -> (sent, reply): the c2s Datagram the reply answers and the s2c Datagram the
    client accepted. The client sent before the proxy received and received after the proxy
    passed the reply on, so its RTT can only be longer than the proxy's span, and only by
    scheduling delays: shorter is a mistake, longer is judged as lateness."""
    checks = []
    for seq, (sent, reply) in pairs.items():
        span = reply.sent[0] - sent.t
        rtt = run.line(seq).rtt_ms / 1000
        c = timing.Check(f"rtt of seq={seq}", got=rtt, expected=span, tol=0.0, abs_tol=0.001,
                         lo=span - 0.001 * timing.time_scale())
        if c.early:
            fail_client(run.client, run.proxy, f"udp_client printed rtt={rtt * 1000:.3f} ms for seq={seq}, but "
                        f"the transmission that the accepted reply answers reached the proxy "
                        f"{span * 1000:.3f} ms before the proxy passed that reply on: an RTT cannot be shorter "
                        "than that.", details=run.details(), label=label,
                        hint=hint or "RTT = arrival of the reply - send of the attempt it echoes, both from "
                                     "clock_gettime(CLOCK_MONOTONIC) (§4.4, §5.3)")
        checks.append(timing.Check(f"rtt of seq={seq}", got=rtt, expected=span, tol=0.1, abs_tol=0.010))
    return checks


# ---- timing verdicts ------------------------------------------------------------------------
class Premise(timing.Check):
    """A condition of the scenario itself that only load can break: a delay that the harness
    injected, verified from its own timestamps. Never proven once for all: checked every try."""


def gated(gates: list, functional: Callable[[], Optional[Iterable[timing.Check]]]) -> list:
    """A scenario's verdict when some checks are conditions of the scenario (`gates`: the
    harness's own delays as Premises, or a timing that the rest relies on).

    Early gates fail at once. Gates on time: the functional checks run (they may fail the
    test) and their timing checks are added. A late gate means the run was distorted: the
    functional checks still run, and if they pass the run counts (load cannot hide a
    mistake there); if they fail, the gates are returned so that judge() measures again
    instead of blaming the student."""
    if any(c.early for c in gates):
        return gates
    if not any(c.late for c in gates):
        return gates + list(functional() or [])
    try:
        more = list(functional() or [])
    except pytest.fail.Exception:
        return gates
    return [c for c in gates if not isinstance(c, Premise)] + more


def gap_check(what: str, a: Datagram, b: Datagram, nominal_ms: float, tol: float = 0.25,
              abs_ms: float = 5.0) -> timing.Check:
    """The time between two datagrams seen by the proxy, against nominal_ms."""
    return timing.Check(what, got=b.t - a.t, expected=nominal_ms / 1000, tol=tol, abs_tol=abs_ms / 1000)


def judge(scenario: Callable[[], Iterable[timing.Check]], *, hint: str, label: str,
          details: Callable[[], list], tries: int = timing.DEFAULT_TRIES,
          diagnose: Optional[Callable[[timing.Check], Optional[str]]] = None,
          last: Optional["Holder"] = None) -> None:
    """timing.judge() for Lab 02: fail with the verdict's sentence, the details of the last try,
    and the hint; a check that was on time in one try is proven (load made it late elsewhere);
    `diagnose(check)` may name the cause of an early or late check (e.g. "the cap is ignored").
    With `last` (the scenario's Holder), a crash, a stub or a client that never backs off is
    named first."""
    proven: set[str] = set()

    def filtered():
        out = []
        for c in scenario():
            if isinstance(c, Premise):
                out.append(c)
                continue
            if c.what in proven and not c.early:
                continue
            if not c.early and not c.late:
                proven.add(c.what)
            out.append(c)
        return out

    verdict = timing.judge(filtered, tries)
    if verdict.ok:
        return
    bad = verdict.early or next((c for c in verdict.checks if c.late), None)
    if isinstance(bad, Premise):
        fb.fail(f"The machine is too busy to run this test: {verdict.message}. That delay is the harness's own, "
                f"so this is not your program's fault; grade again on a quieter machine, or with "
                f"SOCKLAB_TIME_SCALE=3.", details=details())
    why = None
    if last is not None and last.runs:
        run = last.runs[-1]
        why = program_diagnosis(run.client) or backoff_diagnosis(run.proxy, last.backoff)
    if why is None and diagnose and bad:
        why = diagnose(bad)
    text = verdict.message[:1].upper() + verdict.message[1:] + "."
    fb.fail(f"{why}\n{text}" if why else text, details=details(), hint=f"{hint} [{label}]")


# ---- udp_server -----------------------------------------------------------------------------
def start_server(spawn, *args, host=HOST):
    """The student's udp_server on host, ephemeral port; returns (program, host, port)."""
    return spawn.server("udp_server", "-b", host, "-p", "0", *args,
                        hint="the server must print 'listening on ADDR:PORT' after bind() and fflush(stdout) (§3.4)")


def udp_socket(family=socket.AF_INET) -> socket.socket:
    """A client socket on loopback whose datagrams carry the kernel's arrival time."""
    return stamped_socket(family)


def receive(sock: socket.socket, timeout: float) -> tuple[Optional[bytes], Optional[tuple]]:
    """One datagram within `timeout` s (scaled): (data, sender), or (None, None)."""
    data, sender, _ = receive_stamped(sock, timeout)
    return data, sender


def receive_stamped(sock: socket.socket, timeout: float) -> tuple[Optional[bytes], Optional[tuple], Optional[float]]:
    """One datagram within `timeout` s (scaled, and longer on a loaded machine: timing.deadline):
    (data, sender, kernel arrival time, monotonic)."""
    sock.settimeout(timing.deadline(timeout))
    try:
        return recv_stamped(sock)
    except (socket.timeout, OSError):
        return None, None, None


DROP_LINE = re.compile(rb"dropped datagram (\d+) \((\d+) bytes from ([^)]*)\): --loss")


def drive_lossy_server(server, host, port, n=100, timeout=5.0) -> tuple[set[int], list]:
    """Send n numbered datagrams in a burst; return (the numbers that did not come back, the
    drop lines parsed from stderr as (N, B, ADDR:PORT), and the sender's "ADDR:PORT").

    Completion is known without waiting for silence: the server reports every drop on stderr.
    """
    echoed = set()
    with udp_socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        me = "%s:%d" % s.getsockname()[:2]
        for i in range(n):
            s.sendto(b"datagram %03d" % i, (host, port))
        deadline = time.monotonic() + timeout * timing.time_scale()
        drops = []
        while time.monotonic() < deadline:
            drops = DROP_LINE.findall(server.stderr)
            if len(echoed) + len(drops) >= n:
                break
            got, _ = receive(s, 0.05)
            m = re.fullmatch(rb"datagram (\d{3})", got or b"")
            if m:
                echoed.add(int(m[1]))
    if len(echoed) + len(drops) != n:
        fb.fail(f"of {n} datagrams sent to udp_server --loss, {len(echoed)} came back and its stderr "
                f"reports {len(drops)} dropped: {n - len(echoed) - len(drops)} are unaccounted for after "
                f"{timeout * timing.time_scale():g} s.", details=[server.describe()],
                hint="for each datagram --loss drops, print 'dropped datagram N (B bytes from ADDR:PORT): --loss' "
                     "on stderr (§3.4) [R3.4-5]")
    parsed = [(int(a), int(b), c.decode("utf-8", "replace")) for a, b, c in drops]
    return set(range(n)) - echoed, parsed, me


# ---- reply functions for UdpEchoPeer -----------------------------------------------------------
def stale_stream(duration_s: float = 2.0, every_s: float = 0.020):
    """A reply function: answer attempt 1 of each request with a wrong reply (its seq minus 1)
    every `every_s` for `duration_s`, and never with the right one; later attempts get nothing."""
    def reply(data: bytes, index: int) -> list:
        h = header(data)
        if h is None or h[1] != 1:
            return []
        stale = data[:2] + struct.pack("!I", (h[0] - 1) & 0xFFFFFFFF) + data[6:]
        return [(every_s * k, stale) for k in range(1, int(duration_s / every_s) + 1)]
    return reply


def delay_by_seq(delays: list[float]):
    """A reply function: echo after delays[(seq - 1) % len], the same for every attempt."""
    def reply(data: bytes, index: int) -> list:
        h = header(data)
        return [(delays[(h[0] - 1) % len(delays)] if h else 0.0, data)]
    return reply


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


def rtt_stats(values: list[float]) -> tuple[float, float, float, float]:
    """min, mean, max and population standard deviation, as the summary line prints them."""
    return min(values), statistics.fmean(values), max(values), statistics.pstdev(values)


@dataclass
class Holder:
    """The last try of a scenario, for the failure details."""

    runs: list = field(default_factory=list)
    backoff: float = 2.0  #: the --backoff of the scenario, for the "no backoff seen" diagnosis

    def details(self) -> list:
        return self.runs[-1].details() if self.runs else []
