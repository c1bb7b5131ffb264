"""Lab 04: socket options, measured. Tests for sockopt_lab, with points.

Each experiment prints what it measured as JSON lines; these tests check every claim
against the kernel and against the harness's own clock, not just against itself:

- reuseaddr: the harness sees the port in TIME-WAIT with ss, and its own bind() gets the
  same answers as the program's;
- nodelay: the tenfold gap, the round and warm-up counts, the statistics recomputed from the
  rounds, and every round placed inside the harness's own view of the run (CLOCK_MONOTONIC);
- bufsize: each read-back equals what the kernel gives the harness for the same request, and
  the throughput figures add up and fit in the run's wall time;
- linger: what the peer saw, and ss afterwards (TIME-WAIT after a FIN, nothing after a RST);
- keepalive: the read-backs, and ss -o shows the keepalive timer the program set;
- rcvtimeo: EAGAIN after about the timeout, by the harness's clock too;
- states: at each pause the harness runs ss itself and compares.

Timing claims use ratios with wide margins, never raw speed. Section numbers (§) refer
to labs/04-sockopts/README.md.
"""
from __future__ import annotations

import errno
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness import feedback as fb
from harness.paths import time_scale

LAB = "04"
HOST = "127.0.0.1"
#: The tests fit to run under valgrind memcheck (the kit's self-test): no timing claims among them.
VALGRIND_SELECT = "reuseaddr or bufsize_readback or linger or keepalive or states"

#: nodelay runs: small enough to be quick (about 1 s), enough rounds for a p99 of the steady state.
ROUNDS, WARMUP = 20, 3


# ---- running the program ---------------------------------------------------------------
class Run:
    """One finished run of sockopt_lab: its program, JSON lines, and the harness's clock around it."""

    def __init__(self, prog, lines, t0_ns, t1_ns):
        self.prog = prog
        self.lines = lines
        self.t0_ns = t0_ns
        self.t1_ns = t1_ns

    def of(self, experiment, kind=None):
        """The lines of one experiment (and kind), in order."""
        return [l for l in self.lines if l.get("experiment") == experiment
                and (kind is None or l.get("kind") == kind)]

    def show(self, experiment=None, limit=12):
        """The program's JSON lines (of one experiment), for a failure message."""
        lines = self.lines if experiment is None else self.of(experiment)
        text = [json.dumps(l) for l in lines[:limit]]
        if len(lines) > limit:
            text.append(f"... ({len(lines) - limit} more lines)")
        return "  the program printed:\n    " + ("\n    ".join(text) if text else "(no JSON lines)")


def parse_lines(prog, hint):
    """Every line of stdout as a JSON object; fail on the first that is not one."""
    lines = []
    for i, raw in enumerate(prog.stdout.decode("utf-8", "replace").splitlines()):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as e:
            fb.fail(f"line {i + 1} of sockopt_lab's stdout is not a JSON object ({e}).",
                    received=raw.encode(), details=[prog.describe()], hint=hint)
        if not isinstance(obj, dict) or "experiment" not in obj or "kind" not in obj:
            fb.fail(f"line {i + 1} of stdout is not an object with \"experiment\" and \"kind\".",
                    received=raw.encode(), details=[prog.describe()],
                    hint="every line is one JSON object that starts with experiment and kind (§3.2)")
        lines.append(obj)
    return lines


def run_lab(spawn, *args, timeout=20.0, hint="§3"):
    """Run `sockopt_lab ARGS` to the end (stdin at EOF); fail unless it exits 0 in time."""
    t0 = time.monotonic_ns()
    prog = spawn("sockopt_lab", *args, stdin=b"")
    rc = prog.wait(timeout)
    t1 = time.monotonic_ns()
    if rc is None:
        fb.fail(f"`sockopt_lab {' '.join(map(str, args))}` did not finish within "
                f"{timeout * time_scale():.0f} s.", details=[prog.describe()],
                hint=f"every experiment must end by itself; a recv() with no timeout waits forever ({hint})")
    if rc != 0:
        fb.fail(f"`sockopt_lab {' '.join(map(str, args))}` ended with {prog.exit_text()}, expected "
                "exit status 0.", details=[prog.describe()],
                hint=f"the message on stderr says which call failed ({hint})")
    return Run(prog, parse_lines(prog, hint), t0, t1)


def field(run, line, key, types, hint):
    """line[key], checked to be of the given type(s) (never a JSON true/false)."""
    value = line.get(key)
    if isinstance(value, bool) or not isinstance(value, types):
        fb.fail(f"a {line.get('experiment')} line lacks the field \"{key}\" (or it has the wrong type).",
                received=json.dumps(line).encode(), details=[run.prog.describe()], hint=hint)
    return value


def wait_pauses(prog, n, timeout=10.0):
    """Wait until the program has printed its n-th "pause" line (or has exited, or time ran out)."""
    return prog.wait_stdout(re.compile(rb'(?s)(?:.*?"kind":\s*"pause"){%d}' % n), timeout)


def split_addr(text):
    """'127.0.0.1:80' or '[::1]:80' -> (host, port)."""
    m = re.fullmatch(r"\[?([^\]]*)\]?:(\d+)", text or "")
    if not m:
        return None, None
    return m.group(1), int(m.group(2))


# ---- the kernel's view -------------------------------------------------------------------
def ss_rows(port, *flags):
    """Rows of `ss -tanH` for sockets with local or remote port `port`: (state, local, peer, rest)."""
    if shutil.which("ss") is None:
        fb.fail("These tests need ss, from Debian's iproute2 package, to see the kernel's sockets.",
                hint="install it: sudo apt-get install -y iproute2")
    cmd = ["ss", "-tanH", *flags, "state", "all", f"( sport = :{port} or dport = :{port} )"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10).stdout
    rows = []
    for line in out.decode("utf-8", "replace").splitlines():
        parts = line.split(None, 5)
        if len(parts) >= 5:
            rows.append((parts[0], parts[3], parts[4], parts[5] if len(parts) > 5 else ""))
    return rows


def ss_state(local, peer):
    """The state ss shows for the socket local<->peer (peer None: a listener), or None."""
    _, port = split_addr(local)
    if port is None:
        return None
    for state, l, p, _ in ss_rows(port):
        if l == local and (p == peer or (peer is None and p.endswith(":*"))):
            return state
    return None


def wait_ss_state(local, peer, want, timeout=3.0):
    """Poll ss (with a deadline) until local<->peer shows `want`; the last state seen."""
    deadline = time.monotonic() + timeout * time_scale()
    while True:
        state = ss_state(local, peer)
        if state == want or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def harness_bind(host, port, reuse):
    """bind() a fresh socket to host:port, with or without SO_REUSEADDR: 'OK' or the errno name."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))
    return "OK"


def kernel_bufsizes(size):
    """What this kernel reads back after SO_SNDBUF/SO_RCVBUF = size, asked by the harness itself."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        return s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF), s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def sysctl(name):
    return int(Path("/proc/sys/" + name.replace(".", "/")).read_text())


# ---- reuseaddr ---------------------------------------------------------------------------
@pytest.mark.points(10)
def test_reuseaddr(spawn):
    """reuseaddr: EADDRINUSE without SO_REUSEADDR, success with it, on a port really in TIME_WAIT"""
    hint = "§4"
    run = run_lab(spawn, "reuseaddr", hint=hint)
    binds = run.of("reuseaddr", "bind")
    fb.expect(len(binds) == 2 and [b.get("so_reuseaddr") for b in binds] == [0, 1],
              f"expected two \"bind\" lines, so_reuseaddr 0 then 1; got {len(binds)}.",
              details=[run.show("reuseaddr")], hint="one line per bind() attempt (§4.2)")
    addr = field(run, binds[0], "addr", str, hint)
    peer = field(run, binds[0], "peer", str, hint)
    host, port = split_addr(addr)
    fb.expect(port is not None and port != 0 and binds[1].get("addr") == addr,
              f"both bind lines must name the same ADDR:PORT of the old listener (got {addr!r} and "
              f"{binds[1].get('addr')!r}).", details=[run.show("reuseaddr")], hint="§4.2")
    # The kernel's view first: the old connection must be in TIME-WAIT on the listener's port.
    seen = wait_ss_state(addr, peer, "TIME-WAIT")
    fb.expect(seen == "TIME-WAIT",
              f"ss shows the old connection {addr} <-> {peer} as {seen or 'absent'}, not TIME-WAIT: "
              "the port was not put into TIME_WAIT on the server's side.",
              details=[run.show("reuseaddr"), run.prog.describe()],
              hint="the server side must close first (active close), and the client close after (§4.2)")
    fb.expect(binds[0].get("ss") == "TIME-WAIT",
              f"the program reports ss state {binds[0].get('ss')!r} for the old connection; ss says TIME-WAIT.",
              details=[run.show("reuseaddr")], hint="look the old connection up with ss_state() (§4.2)")
    theirs = [b.get("result") for b in binds]
    ours = [harness_bind(host, port, False), harness_bind(host, port, True)]
    fb.expect(theirs == ["EADDRINUSE", "OK"] and theirs == ours,
              f"bind() results, without then with SO_REUSEADDR: the program reports {theirs}, "
              f"the harness's own bind() of {addr} gets {ours}; expected ['EADDRINUSE', 'OK'].",
              details=[run.show("reuseaddr")],
              hint="set SO_REUSEADDR between socket() and bind(): bind() is the call that checks (§2.4, §4.1)")


# ---- nodelay -----------------------------------------------------------------------------
def nodelay_run(spawn):
    return run_lab(spawn, "nodelay", "--rounds", ROUNDS, "--warmup", WARMUP, timeout=30, hint="§5")


def summary(run, nodelay):
    found = [s for s in run.of("nodelay", "summary") if s.get("nodelay") == nodelay]
    if len(found) != 1:
        fb.fail(f"expected one nodelay \"summary\" line with \"nodelay\": {nodelay}; found {len(found)}.",
                details=[run.show("nodelay", 4)] + [json.dumps(s) for s in run.of("nodelay", "summary")],
                hint="each half ends with a summary line (§5.4)")
    return found[0]


def rounds_of(run, nodelay, warmup):
    return [r for r in run.of("nodelay", "round") if r.get("nodelay") == nodelay and r.get("warmup") is warmup]


@pytest.mark.points(12)
def test_nodelay_gap(spawn):
    """nodelay: TCP_NODELAY on the client cuts the round-trip latency at least tenfold"""
    run = nodelay_run(spawn)
    off, on = summary(run, 0), summary(run, 1)
    fb.expect(off.get("readback") == 0 and on.get("readback") == 1,
              f"the TCP_NODELAY read back from the client socket: {off.get('readback')!r} without, "
              f"{on.get('readback')!r} with; expected 0 and 1.", details=[json.dumps(off), json.dumps(on)],
              hint="read it back with getsockopt(IPPROTO_TCP, TCP_NODELAY) on the same socket (§5.1)")
    p50_off = field(run, off, "p50_us", (int, float), "§5.4")
    p50_on = field(run, on, "p50_us", (int, float), "§5.4")
    ratio = p50_off / p50_on if p50_on > 0 else float("inf")
    fb.expect(p50_on > 0 and ratio >= 10,
              f"median round trip {p50_off:.1f} us without TCP_NODELAY and {p50_on:.1f} us with it: "
              f"{ratio:.1f} times, expected at least 10 (Nagle + delayed ACK stall each round ~40 ms).",
              details=[json.dumps(off), json.dumps(on)],
              hint="set TCP_NODELAY at level IPPROTO_TCP on the socket that sends the two small writes: "
                   "the client's (§5.1, §2.2)")


@pytest.mark.points(10)
def test_nodelay_rounds_and_warmup(spawn):
    """nodelay: the requested warm-up and rounds are run, and the statistics come from them"""
    run = nodelay_run(spawn)
    for nodelay in (0, 1):
        s = summary(run, nodelay)
        warm = rounds_of(run, nodelay, True)
        measured = rounds_of(run, nodelay, False)
        fb.expect(len(warm) == WARMUP and len(measured) == ROUNDS,
                  f"with --warmup {WARMUP} --rounds {ROUNDS}, the TCP_NODELAY={nodelay} half printed "
                  f"{len(warm)} warm-up and {len(measured)} measured round lines.",
                  details=[run.show("nodelay", 6)],
                  hint="run the warm-up rounds first (unmeasured), then exactly --rounds measured ones; "
                       "a p99 needs many rounds (§5.2, §5.3)")
        fb.expect([r.get("round") for r in measured] == list(range(ROUNDS)) and
                  s.get("rounds") == ROUNDS and s.get("warmup") == WARMUP,
                  f"the measured rounds must be numbered 0..{ROUNDS - 1} and the summary must say "
                  f"rounds {ROUNDS}, warmup {WARMUP}; it says rounds {s.get('rounds')!r}, warmup {s.get('warmup')!r}.",
                  details=[json.dumps(s)], hint="§5.4")
        lat = sorted(field(run, r, "latency_us", (int, float), "§5.4") for r in measured)
        n = len(lat)
        expect = {"mean_us": sum(lat) / n, "p50_us": lat[(50 * n + 99) // 100 - 1],
                  "p99_us": lat[(99 * n + 99) // 100 - 1], "min_us": lat[0], "max_us": lat[-1]}
        wrong = {k: (s.get(k), round(v, 3)) for k, v in expect.items()
                 if not isinstance(s.get(k), (int, float)) or abs(s[k] - v) > 0.01 + 1e-6 * v}
        fb.expect(not wrong,
                  f"the TCP_NODELAY={nodelay} summary does not match its own measured rounds: "
                  + ", ".join(f"{k} reported {a!r}, computed {b}" for k, (a, b) in wrong.items()) + ".",
                  details=[json.dumps(s)],
                  hint="mean, and nearest-rank p50/p99 over the measured rounds only, warm-up excluded (§5.3)")
    # The first round of a connection is fast even with Nagle: the warm-up must have absorbed it.
    off_rounds = rounds_of(run, 0, False)
    p50 = summary(run, 0)["p50_us"]
    first = off_rounds[0]["latency_us"]
    fb.expect(first >= p50 / 4,
              f"without TCP_NODELAY the first measured round took {first:.1f} us against a median of "
              f"{p50:.1f} us: it is the fast first round of the connection, which belongs in the warm-up.",
              details=[run.show("nodelay", 6)],
              hint="warm up on the same connection before measuring (§5.2)")


@pytest.mark.points(6)
def test_nodelay_times_are_real(spawn):
    """nodelay: every round lies inside the run, by the harness's clock, and rounds do not overlap"""
    run = nodelay_run(spawn)
    rounds = run.of("nodelay", "round")
    fb.expect(len(rounds) == 2 * (ROUNDS + WARMUP),
              f"expected {2 * (ROUNDS + WARMUP)} round lines; got {len(rounds)}.",
              details=[run.show("nodelay", 4)], hint="§5.4")
    prev_end, prev = run.t0_ns, None
    for r in rounds:
        start = field(run, r, "start_ns", int, "§3.2")
        end = start + int(field(run, r, "latency_us", (int, float), "§5.4") * 1000)
        # 1 us of slack: latency_us is rounded to the nanosecond.
        if start < prev_end - 1000 or end > run.t1_ns:
            fb.fail("a round's start_ns and latency_us do not fit the run: rounds must follow each other "
                    "inside the harness's own view of the run (CLOCK_MONOTONIC).",
                    details=[f"  this round:     {json.dumps(r)}",
                             f"  previous round: {json.dumps(prev) if prev else '(start of the run)'}",
                             f"  run by the harness's clock: {run.t0_ns} .. {run.t1_ns} ns"],
                    hint="take start_ns from clock_gettime(CLOCK_MONOTONIC) just before the first send() "
                         "and the latency when the reply is in (§3.2, §5.1)")
        prev_end, prev = end, r


# ---- bufsize -----------------------------------------------------------------------------
@pytest.mark.points(10)
def test_bufsize_readback(spawn):
    """bufsize: each read-back is what the kernel gives (doubled, capped at rmem_max/wmem_max)"""
    sizes = [1024, 4096, 65536, 1 << 20, 8 << 20]
    run = run_lab(spawn, "bufsize", "--sizes", ",".join(map(str, sizes)), "--duration-ms", 20, hint="§6")
    lines = run.of("bufsize", "size")
    fb.expect([l.get("requested") for l in lines] == sizes,
              f"expected one \"size\" line per requested size {sizes}, in order; got "
              f"{[l.get('requested') for l in lines]}.", details=[run.show("bufsize")], hint="§6.3")
    caps = {"wmem_max": sysctl("net.core.wmem_max"), "rmem_max": sysctl("net.core.rmem_max")}
    for l in lines:
        want_snd, want_rcv = kernel_bufsizes(l["requested"])
        got = (l.get("sndbuf"), l.get("rcvbuf"))
        fb.expect(got == (want_snd, want_rcv),
                  f"after asking for {l['requested']} bytes, the program read back SO_SNDBUF {got[0]!r} "
                  f"(client) and SO_RCVBUF {got[1]!r} (accepted socket); this kernel gives {want_snd} and "
                  f"{want_rcv} for that request (twice the request, capped at twice wmem_max/rmem_max).",
                  details=[json.dumps(l)],
                  hint="set both on the listener before listen() and on the client before connect(); read "
                       "back with getsockopt() and an optlen of sizeof(int) (§2.3, §2.4, §6.1)")
        wrong = {k: l.get(k) for k, v in caps.items() if l.get(k) != v}
        fb.expect(not wrong, f"reported caps {wrong}; /proc/sys/net/core says {caps}.",
                  details=[json.dumps(l)], hint="read them from /proc/sys/net/core (§6.1)")


@pytest.mark.points(10)
def test_bufsize_throughput(spawn):
    """bufsize: throughput rises with buffer size, and the figures fit the run's own clock"""
    # 2 KiB (the smallest buffers Linux allows, about) against 64 KiB and up: on a loaded
    # 2-core machine the gap was 10 to 40 times; the test asks for 3.
    sizes = [2048, 16384, 65536, 262144, 1 << 20]
    duration_ms = 150
    run = run_lab(spawn, "bufsize", "--sizes", ",".join(map(str, sizes)), "--duration-ms", duration_ms,
                  timeout=30, hint="§6")
    lines = run.of("bufsize", "size")
    fb.expect([l.get("requested") for l in lines] == sizes,
              f"expected one \"size\" line per size {sizes}; got {[l.get('requested') for l in lines]}.",
              details=[run.show("bufsize")], hint="§6.3")
    prev_end = run.t0_ns
    for l in lines:
        nbytes = field(run, l, "bytes", int, "§6.3")
        seconds = field(run, l, "seconds", (int, float), "§6.3")
        mbps = field(run, l, "mb_per_s", (int, float), "§6.3")
        start = field(run, l, "start_ns", int, "§6.3")
        fb.expect(seconds >= duration_ms / 1000 * 0.99 and nbytes > 0,
                  f"size {l['requested']}: {nbytes} bytes in {seconds} s; each transfer must last at least "
                  f"--duration-ms {duration_ms}.", details=[json.dumps(l)], hint="§6.2")
        fb.expect(abs(mbps - nbytes / seconds / 1e6) <= 0.01 * mbps + 0.1,
                  f"size {l['requested']}: mb_per_s {mbps} is not bytes / seconds / 1e6 "
                  f"({nbytes / seconds / 1e6:.1f}).", details=[json.dumps(l)], hint="MB is 10^6 bytes (§6.3)")
        end = start + int(seconds * 1e9)
        fb.expect(start >= prev_end - 1000 and end <= run.t1_ns,
                  f"size {l['requested']}: the transfer ({start} .. {end} ns) does not fit the run as the "
                  f"harness timed it ({run.t0_ns} .. {run.t1_ns} ns), or overlaps the one before.",
                  details=[json.dumps(l)], hint="time each transfer with CLOCK_MONOTONIC (§3.2, §6.2)")
        prev_end = end
    by_size = {l["requested"]: l["mb_per_s"] for l in lines}
    big = max(v for k, v in by_size.items() if k >= 65536)
    fb.expect(big >= 3 * by_size[2048],
              f"throughput by buffer size (MB/s): {by_size}. The best at 64 KiB and above ({big:.0f}) should "
              f"be at least 3 times that at 2 KiB ({by_size[2048]:.0f}).",
              details=[run.show("bufsize")],
              hint="both ends must use the requested size: SO_SNDBUF on the sender before connect(), "
                   "SO_RCVBUF on the listener before listen() (§6.2)")


# ---- linger ------------------------------------------------------------------------------
LINGER_CASES = {
    # case: (what the peer's recv() sees, what ss shows for the closer afterwards)
    "default": ("EOF", "TIME-WAIT"),
    "linger_1_0": ("ECONNRESET", None),
    "unread_data": ("ECONNRESET", None),
}


@pytest.mark.points(4)
@pytest.mark.parametrize("case", list(LINGER_CASES))
def test_linger(spawn, case):
    """linger: the peer sees EOF after a plain close, ECONNRESET after an abortive one"""
    run = run_lab(spawn, "linger", hint="§7")
    found = [l for l in run.of("linger", "close") if l.get("case") == case]
    fb.expect(len(found) == 1, f"expected one linger \"close\" line with \"case\": \"{case}\"; found {len(found)}.",
              details=[run.show("linger")], hint="one line per case, in the order of §7.2")
    line = found[0]
    saw, after = LINGER_CASES[case]
    onoff = 1 if case == "linger_1_0" else 0
    fb.expect(line.get("so_linger_onoff") == onoff and line.get("so_linger_secs") == 0,
              f"SO_LINGER read back as {{{line.get('so_linger_onoff')!r}, {line.get('so_linger_secs')!r}}}; "
              f"expected {{{onoff}, 0}} for case {case}.", details=[json.dumps(line)],
              hint="struct linger {l_onoff = 1, l_linger = 0}, optlen sizeof(struct linger) (§7.1)")
    expected_ret = 0 if saw == "EOF" else -1
    fb.expect(line.get("peer_saw") == saw and line.get("peer_recv") == expected_ret,
              f"case {case}: the peer's recv() returned {line.get('peer_recv')!r} ({line.get('peer_saw')!r}); "
              f"expected {expected_ret} ({saw}).", details=[json.dumps(line), run.prog.describe()],
              hint="SO_LINGER {1,0} then close() sends RST; so does close() with unread data; a plain "
                   "close() sends FIN (§7.1)")
    closer, peer = field(run, line, "closer", str, "§7.2"), field(run, line, "peer", str, "§7.2")
    state = wait_ss_state(closer, peer, after) if after else ss_state(closer, peer)
    fb.expect(state == after,
              f"after the run, ss shows the closer {closer} <-> {peer} as {state or 'absent'}; expected "
              f"{after or 'absent'} ({'a FIN leaves TIME_WAIT on the side that closed first' if after else 'a RST leaves no TIME_WAIT'}).",
              details=[json.dumps(line)], hint="the closer is the client socket (§7.2)")


# ---- keepalive ---------------------------------------------------------------------------
def ss_timer_seconds(text):
    """'timer:(keepalive,4min59sec,0)' -> ('keepalive', 299.0), or (None, None)."""
    m = re.search(r"timer:\((\w+),([^,]*),", text)
    if not m:
        return None, None
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(min|sec|ms)", m.group(2)):
        total += float(value) * {"min": 60, "sec": 1, "ms": 0.001}[unit]
    return m.group(1), total


@pytest.mark.points(8)
def test_keepalive(spawn):
    """keepalive: the four options read back as set, and ss shows the keepalive timer running"""
    idle, intvl, count = 300, 7, 3
    prog = spawn("sockopt_lab", "keepalive", "--idle", idle, "--intvl", intvl, "--count", count, "--pause")
    m = wait_pauses(prog, 1)
    lines = parse_lines(prog, "§8")
    run = Run(prog, lines, 0, 0)
    if not m:
        fb.fail("sockopt_lab keepalive --pause never reached its pause point (a \"pause\" line).",
                details=[run.show("keepalive"), prog.describe()],
                hint="after the four option lines, call pause_point() with the connection still open (§8.2)")
    opts = {l.get("option"): l for l in run.of("keepalive", "option")}
    want = {"SO_KEEPALIVE": ("SOL_SOCKET", 1), "TCP_KEEPIDLE": ("IPPROTO_TCP", idle),
            "TCP_KEEPINTVL": ("IPPROTO_TCP", intvl), "TCP_KEEPCNT": ("IPPROTO_TCP", count)}
    for name, (level, value) in want.items():
        l = opts.get(name, {})
        fb.expect(l.get("level") == level and l.get("requested") == value and l.get("readback") == value,
                  f"{name}: expected level {level}, requested and read back {value}; the program printed "
                  f"{json.dumps(l) if l else 'no line for it'}.", details=[run.show("keepalive")],
                  hint="SO_KEEPALIVE is at SOL_SOCKET, the three TCP_KEEP* at IPPROTO_TCP (§8.1)")
    local, remote = opts["SO_KEEPALIVE"].get("local"), opts["SO_KEEPALIVE"].get("remote")
    _, port = split_addr(local)
    rows = [r for r in ss_rows(port, "-o") if r[1] == local and r[2] == remote] if port else []
    kind, left = ss_timer_seconds(rows[0][3]) if rows else (None, None)
    fb.expect(kind == "keepalive" and idle - 60 < left <= idle,
              f"ss -tno shows the connection {local} <-> {remote} as "
              f"{' '.join(rows[0]) if rows else 'absent'}; expected timer:(keepalive,...) with at most "
              f"{idle} s left (TCP_KEEPIDLE).", details=[run.show("keepalive")],
              hint="set SO_KEEPALIVE (on) as well as TCP_KEEPIDLE, on the connected socket you report (§8.1)")
    prog.write_stdin(b"\n")
    prog.close_stdin()
    rc = prog.wait(10)
    fb.expect(rc == 0, f"after the pause, sockopt_lab keepalive ended with {prog.exit_text()}, expected 0.",
              details=[prog.describe()], hint="a line on stdin (or EOF) ends the pause (§3.3)")


# ---- rcvtimeo ----------------------------------------------------------------------------
@pytest.mark.points(8)
def test_rcvtimeo(spawn):
    """rcvtimeo: recv() on a silent peer fails with EAGAIN after about the timeout"""
    timeout_ms = 300
    run = run_lab(spawn, "rcvtimeo", "--timeout-ms", timeout_ms, timeout=8, hint="§9")
    lines = run.of("rcvtimeo", "recv")
    fb.expect(len(lines) == 1, f"expected one rcvtimeo \"recv\" line; got {len(lines)}.",
              details=[run.show("rcvtimeo")], hint="§9.2")
    l = lines[0]
    fb.expect(l.get("result") in ("EAGAIN", "EWOULDBLOCK") and l.get("requested_ms") == timeout_ms,
              f"recv() with SO_RCVTIMEO {timeout_ms} ms on a silent peer gave {l.get('result')!r}; "
              "expected EAGAIN (EWOULDBLOCK).", details=[json.dumps(l)],
              hint="a recv() that times out returns -1 with errno EAGAIN (§9.1)")
    readback = field(run, l, "readback_ms", (int, float), "§9.2")
    measured = field(run, l, "measured_ms", (int, float), "§9.2")
    start, end = field(run, l, "start_ns", int, "§9.2"), field(run, l, "end_ns", int, "§9.2")
    slack = 700 * time_scale()
    fb.expect(abs(readback - timeout_ms) <= 10,
              f"SO_RCVTIMEO read back as {readback} ms; {timeout_ms} ms was set.", details=[json.dumps(l)],
              hint="a struct timeval: tv_sec = ms / 1000, tv_usec = (ms % 1000) * 1000 (§9.1)")
    fb.expect(timeout_ms - 2 <= measured <= timeout_ms + slack,
              f"recv() returned after {measured} ms; expected about {timeout_ms} ms.", details=[json.dumps(l)],
              hint="measure from just before recv() to just after it, with CLOCK_MONOTONIC (§9.2)")
    fb.expect(run.t0_ns <= start <= end <= run.t1_ns and abs((end - start) / 1e6 - measured) < 0.01,
              "start_ns .. end_ns must lie inside the run as the harness timed it and match measured_ms.",
              details=[json.dumps(l), f"  run by the harness's clock: {run.t0_ns} .. {run.t1_ns} ns"],
              hint="CLOCK_MONOTONIC, nanoseconds (§3.2)")


# ---- states ------------------------------------------------------------------------------
#: The walk of §10.2: per step, each socket's state from TCP_INFO (None: no fd) and from ss (None: absent).
WALK = {
    1: {"listener": ("LISTEN", "LISTEN")},
    2: {"client": ("ESTABLISHED", "ESTAB"), "server": ("ESTABLISHED", "ESTAB")},
    3: {"client": ("FIN_WAIT1", "FIN-WAIT-1"), "server": ("ESTABLISHED", "ESTAB")},
    4: {"client": ("FIN_WAIT2", "FIN-WAIT-2"), "server": ("CLOSE_WAIT", "CLOSE-WAIT")},
    5: {"client": ("FIN_WAIT2", "FIN-WAIT-2"), "server": ("LAST_ACK", "LAST-ACK")},
    6: {"client": ("CLOSE", "TIME-WAIT"), "server": ("CLOSE", None)},
    7: {"client": (None, "TIME-WAIT"), "server": (None, None)},
}


@pytest.mark.points(10)
def test_states(spawn):
    """states: the walk through LISTEN ... LAST_ACK, TIME_WAIT, by TCP_INFO and by the harness's ss"""
    prog = spawn("sockopt_lab", "states", "--pause")
    for step, sockets in WALK.items():
        wait_pauses(prog, step)
        run = Run(prog, parse_lines(prog, "§10"), 0, 0)
        if len(run.of("states", "pause")) < step:
            fb.fail(f"sockopt_lab states --pause did not reach the pause after step {step}.",
                    details=[run.show("states", 20), prog.describe()],
                    hint="report every socket of the step, then call pause_point() (§10.2)")
        lines = {l.get("socket"): l for l in run.of("states", "socket") if l.get("step") == step}
        for name, (tcp_info, ss_want) in sockets.items():
            l = lines.get(name)
            if l is None:
                fb.fail(f"step {step}: no line for the {name} socket.", details=[run.show("states", 20)],
                        hint="§10.2 lists the sockets of each step")
            remote = l.get("remote") if name != "listener" else None
            ss_now = ss_state(l.get("local"), remote)
            problems = []
            if l.get("tcp_info") != tcp_info:
                problems.append(f"TCP_INFO reported {l.get('tcp_info')!r}, expected {tcp_info!r}")
            if ss_now != ss_want:
                problems.append(f"the harness's ss shows {ss_now or 'nothing'}, expected {ss_want or 'nothing'}")
            if l.get("ss") != ss_now:
                problems.append(f"the program's ss column says {l.get('ss')!r}, the harness's ss {ss_now!r}")
            if problems:
                fb.fail(f"step {step} ({l.get('action')}), {name} {l.get('local')} <-> {l.get('remote')}: "
                        + "; ".join(problems) + ".", details=[json.dumps(l), run.show("states", 20)],
                        hint="TCP states count from TCP_ESTABLISHED = 1; the steps and what each should "
                             "show are in §10.2")
        prog.write_stdin(b"\n")
    prog.close_stdin()
    rc = prog.wait(10)
    fb.expect(rc == 0, f"sockopt_lab states ended with {prog.exit_text()}, expected 0.",
              details=[prog.describe()], hint="§10.2")


# ---- the whole program ---------------------------------------------------------------------
@pytest.mark.points(4)
def test_all_and_usage(spawn):
    """sockopt_lab all runs every experiment (here on ::1); bad arguments are a usage error"""
    run = run_lab(spawn, "all", "--host", "::1", "--rounds", 3, "--warmup", 1, "--sizes", "4096,65536",
                  "--duration-ms", 30, "--timeout-ms", 50, timeout=30, hint="§3.1")
    names = ["reuseaddr", "nodelay", "bufsize", "linger", "keepalive", "rcvtimeo", "states"]
    seen = [n for n in names if run.of(n)]
    fb.expect(seen == names, f"`sockopt_lab all` printed lines for {seen}; expected every one of {names}.",
              details=[run.prog.describe()], hint="all runs each experiment in turn (§3.1)")
    for args in (["nosuch"], ["nodelay", "--rounds", "x"], []):
        p = spawn("sockopt_lab", *args, stdin=b"")
        rc = p.wait(5)
        fb.expect(rc == 2 and "usage" in p.stderr.decode("utf-8", "replace").lower(),
                  f"`sockopt_lab {' '.join(args)}` should print a usage line on stderr and exit 2; it ended "
                  f"with {p.exit_text()}.", details=[p.describe()], hint="§3.1")
