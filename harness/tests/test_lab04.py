"""Lab 04: socket options, measured. Tests for sockopt_lab, with points.

Each experiment prints what it measured as JSON lines; these tests check every claim
against the kernel and against the harness's own clock, not just against itself:

- reuseaddr: the harness sees the port in TIME-WAIT with ss, and its own bind() gets the
  same answers as the program's;
- nodelay: the tenfold gap, the round and warm-up counts, the statistics recomputed from the
  rounds, and every round placed against the harness's own timestamps of its send() and
  recv() calls (a round must start before its first send() and end after its reply is read);
- bufsize: each read-back equals what the kernel gives the harness for the same request,
  the throughput figures add up, and each transfer's clock and byte count match what the
  harness saw of its send() and recv() calls;
- linger: what the peer saw, and ss afterwards (TIME-WAIT after a FIN, nothing after a RST);
- keepalive: the read-backs, and ss -o shows the keepalive timer the program set;
- rcvtimeo: EAGAIN after about the timeout, by the harness's clock too;
- states: at each pause the harness runs ss itself and compares;
- the program: usage errors, a failed call, signals, EOF at a pause, leaks.

The helpers (running the program, ss, the tracer) are in harness/labs/lab04.py. Every
timing judgement goes through harness/timing.py: early fails at once, late is measured
again. Labels such as [R5.4-2] and sections (§) refer to labs/04-sockopts/README.md.
"""
from __future__ import annotations

import json
import re
import signal

import pytest

from harness import feedback as fb
from harness import timing
from harness.labs.lab04 import (Run, addr_text, field, harness_bind, kernel_bufsizes, need_ss,
                                parse_lines, run_lab, split_addr, ss_rows, ss_state, ss_timer_seconds,
                                sysctl, wait_pauses, wait_ss_state)

LAB = "04"
HOST = "127.0.0.1"
#: The tests fit to run under valgrind memcheck (the kit's self-test): no timing claims among them.
VALGRIND_SELECT = "reuseaddr or bufsize_readback or linger or keepalive or states or frees_everything"

#: nodelay runs: small enough to be quick (about 1 s), enough rounds for a p99 of the steady state.
ROUNDS, WARMUP = 20, 3
#: The statistics test: 100 rounds, so that the nearest-rank p99 is not simply the maximum.
STAT_ROUNDS, STAT_WARMUP = 100, 2
#: One round of §5.1: a 10-byte header and a 10-byte body, then a 10-byte reply.
REQUEST, REPLY = 20, 10


def us(ns):
    return f"{ns / 1000:.1f} µs"


# ---- reuseaddr -----------------------------------------------------------------------------
@pytest.mark.spec("R4.2-1", "R4.2-2", "R4.2-3", "R3.2-3")
@pytest.mark.points(8)
def test_reuseaddr(spawn):
    """reuseaddr: EADDRINUSE without SO_REUSEADDR, success with it, on a port really in TIME_WAIT"""
    need_ss()
    hint = "§4"
    run = run_lab(spawn, "reuseaddr", hint=hint)
    binds = run.of("reuseaddr", "bind")
    fb.expect(len(binds) == 2 and [b.get("so_reuseaddr") for b in binds] == [0, 1],
              f"expected two \"bind\" lines, so_reuseaddr 0 then 1; got {len(binds)} [R4.2-1].",
              details=[run.show("reuseaddr")], hint="one line per bind() attempt (§4.2)")
    addr = field(run, binds[0], "addr", str, hint)
    peer = field(run, binds[0], "peer", str, hint)
    host, port = split_addr(addr)
    fb.expect(port is not None and port != 0 and binds[1].get("addr") == addr,
              f"both bind lines must name the same ADDR:PORT of the old listener (got {addr!r} and "
              f"{binds[1].get('addr')!r}) [R4.2-1].", details=[run.show("reuseaddr")], hint="§4.2")
    # The kernel's view first: the old connection must be in TIME-WAIT on the listener's port.
    seen = wait_ss_state(addr, peer, "TIME-WAIT")
    fb.expect(seen == "TIME-WAIT",
              f"ss shows the old connection {addr} <-> {peer} as {seen or 'absent'}, not TIME-WAIT: "
              "the port was not put into TIME_WAIT on the server's side [R4.2-2].",
              details=[run.show("reuseaddr"), run.prog.describe()],
              hint="the server side must close first (active close), and the client close after (§4.2)")
    fb.expect(binds[0].get("ss") == "TIME-WAIT",
              f"the program reports ss state {binds[0].get('ss')!r} for the old connection; ss says "
              "TIME-WAIT [R4.2-2].", details=[run.show("reuseaddr")],
              hint="look the old connection up with ss_state() (§4.2)")
    theirs = [b.get("result") for b in binds]
    ours = [harness_bind(host, port, False), harness_bind(host, port, True)]
    fb.expect(theirs == ["EADDRINUSE", "OK"] and theirs == ours,
              f"bind() results, without then with SO_REUSEADDR: the program reports {theirs}, "
              f"the harness's own bind() of {addr} gets {ours}; expected ['EADDRINUSE', 'OK'] [R4.2-3].",
              details=[run.show("reuseaddr")],
              hint="set SO_REUSEADDR between socket() and bind(): bind() is the call that checks (§2.4, §4.1)")


# ---- nodelay -------------------------------------------------------------------------------
def nodelay_run(spawn, rounds=ROUNDS, warmup=WARMUP, tracer=None):
    return run_lab(spawn, "nodelay", "--rounds", rounds, "--warmup", warmup, timeout=30, hint="§5",
                   tracer=tracer)


def summary(run, nodelay):
    found = [s for s in run.of("nodelay", "summary") if s.get("nodelay") == nodelay]
    if len(found) != 1:
        fb.fail(f"expected one nodelay \"summary\" line with \"nodelay\": {nodelay}; found {len(found)} [R5.4-1].",
                details=[run.show("nodelay", 4)] + [json.dumps(s) for s in run.of("nodelay", "summary")],
                hint="each half ends with a summary line (§5.4)")
    return found[0]


def rounds_of(run, nodelay, warmup):
    return [r for r in run.of("nodelay", "round") if r.get("nodelay") == nodelay and r.get("warmup") is warmup]


@pytest.mark.spec("R5.1-1", "R5.4-3")
@pytest.mark.points(8)
def test_nodelay_gap(spawn):
    """nodelay: TCP_NODELAY on the client cuts the round-trip latency at least tenfold"""
    seen = []

    def scenario():
        run = nodelay_run(spawn)
        off, on = summary(run, 0), summary(run, 1)
        fb.expect(off.get("readback") == 0 and on.get("readback") == 1,
                  f"the TCP_NODELAY read back from the client socket: {off.get('readback')!r} without, "
                  f"{on.get('readback')!r} with; expected 0 and 1 [R5.1-1].",
                  details=[json.dumps(off), json.dumps(on)],
                  hint="read it back with getsockopt(IPPROTO_TCP, TCP_NODELAY) on the same socket (§5.1)")
        p50_off = field(run, off, "p50_us", (int, float), "§5.4")
        p50_on = field(run, on, "p50_us", (int, float), "§5.4")
        seen[:] = [off, on]
        ratio = p50_off / p50_on if p50_on > 0 else float("inf")
        # No stall without the option, or the stall still there with it (a median of 10 ms or
        # more): load cannot cause either, so they fail at once.
        fb.expect(ratio >= 10 or (p50_off >= 10000 and 0 < p50_on < 10000),
                  f"median round trip {p50_off:.1f} us without TCP_NODELAY and {p50_on:.1f} us with it: "
                  f"{ratio:.1f} times, expected at least 10 (Nagle + delayed ACK stall each round about "
                  "40 ms; TCP_NODELAY removes the stall) [R5.4-3].",
                  details=[json.dumps(off), json.dumps(on)],
                  hint="set TCP_NODELAY at level IPPROTO_TCP on the socket that sends the two small writes: "
                       "the client's (§5.1, §2.2)")
        # The stall is there and the option removed it; only a slow "with" half remains, which load
        # can cause: it is late, and measured again.
        return [timing.Check("median round with TCP_NODELAY", got=p50_on / 1e6, expected=0.0,
                             lo=0.0, hi=timing.upper(p50_off / 1e6 / 10))]

    verdict = timing.judge(scenario)
    fb.expect(verdict.ok, f"{verdict.message}: not ten times faster than without it [R5.4-3].",
              details=[json.dumps(s) for s in seen],
              hint="TCP_NODELAY on the client's socket at level IPPROTO_TCP (§5.1, §2.2)")


@pytest.mark.spec("R5.2-1", "R5.2-2", "R5.4-1", "R3.1-8", "R3.1-9")
@pytest.mark.points(6)
def test_nodelay_rounds_and_warmup(spawn):
    """nodelay: the requested warm-up and rounds are run and numbered, the fast first round unmeasured"""
    run = nodelay_run(spawn)
    for nodelay in (0, 1):
        s = summary(run, nodelay)
        warm = rounds_of(run, nodelay, True)
        measured = rounds_of(run, nodelay, False)
        fb.expect(len(warm) == WARMUP and len(measured) == ROUNDS,
                  f"with --warmup {WARMUP} --rounds {ROUNDS}, the TCP_NODELAY={nodelay} half printed "
                  f"{len(warm)} warm-up and {len(measured)} measured round lines [R5.2-1].",
                  details=[run.show("nodelay", 6)],
                  hint="run the warm-up rounds first (unmeasured, \"warmup\": true), then exactly --rounds "
                       "measured ones (§5.2)")
        order = [r.get("warmup") for r in run.of("nodelay", "round") if r.get("nodelay") == nodelay]
        fb.expect(order == [True] * WARMUP + [False] * ROUNDS,
                  f"the TCP_NODELAY={nodelay} half must print its {WARMUP} warm-up rounds before its measured "
                  f"ones; the order of \"warmup\" was {order[:WARMUP + 3]}... [R5.2-1].",
                  details=[run.show("nodelay", 6)], hint="warm up first, then measure (§5.2)")
        fb.expect([r.get("round") for r in warm] == list(range(WARMUP)) and
                  [r.get("round") for r in measured] == list(range(ROUNDS)) and
                  s.get("rounds") == ROUNDS and s.get("warmup") == WARMUP,
                  f"warm-up rounds must be numbered 0..{WARMUP - 1}, measured rounds 0..{ROUNDS - 1}, and "
                  f"the summary must say rounds {ROUNDS}, warmup {WARMUP}; it says rounds "
                  f"{s.get('rounds')!r}, warmup {s.get('warmup')!r} [R5.4-1].",
                  details=[json.dumps(s), run.show("nodelay", 6)],
                  hint="round counts from 0, separately for warm-up and measured rounds (§5.4)")
    # The first round of a connection is fast even with Nagle: the warm-up must have absorbed it.
    off_rounds = rounds_of(run, 0, False)
    p50 = field(run, summary(run, 0), "p50_us", (int, float), "§5.4")
    first = field(run, off_rounds[0], "latency_us", (int, float), "§5.4")
    fb.expect(first >= p50 / 4,
              f"without TCP_NODELAY the first measured round took {first:.1f} us against a median of "
              f"{p50:.1f} us: it is the fast first round of the connection, which belongs in the warm-up "
              "[R5.2-2].", details=[run.show("nodelay", 6)],
              hint="warm up on the same connection before measuring (§5.2)")


@pytest.mark.spec("R5.3-1")
@pytest.mark.points(6)
def test_nodelay_statistics(spawn):
    """nodelay: mean, nearest-rank p50 and p99, min and max come from the measured rounds only"""
    run = nodelay_run(spawn, STAT_ROUNDS, STAT_WARMUP)
    for nodelay in (0, 1):
        s = summary(run, nodelay)
        measured = rounds_of(run, nodelay, False)
        fb.expect(len(measured) == STAT_ROUNDS,
                  f"with --rounds {STAT_ROUNDS} the TCP_NODELAY={nodelay} half printed {len(measured)} "
                  "measured rounds [R5.2-1].", details=[run.show("nodelay", 4)], hint="§5.2")
        lat = sorted(field(run, r, "latency_us", (int, float), "§5.4") for r in measured)
        n = len(lat)
        expect = {"mean_us": sum(lat) / n, "p50_us": lat[(50 * n + 99) // 100 - 1],
                  "p99_us": lat[(99 * n + 99) // 100 - 1], "min_us": lat[0], "max_us": lat[-1]}
        wrong = {k: (s.get(k), round(v, 3)) for k, v in expect.items()
                 if isinstance(s.get(k), bool) or not isinstance(s.get(k), (int, float))
                 or abs(s[k] - v) > 0.01 + 1e-6 * v}
        fb.expect(not wrong,
                  f"the TCP_NODELAY={nodelay} summary does not match its own {n} measured rounds: "
                  + ", ".join(f"{k} reported {a!r}, computed {b}" for k, (a, b) in wrong.items()) + " [R5.3-1].",
                  details=[json.dumps(s), f"  sorted latencies (us): {lat[:3]} ... {lat[-3:]}"],
                  hint="mean, and nearest-rank p50/p99 (sorted[(p * n + 99) / 100 - 1]) over the measured "
                       "rounds only, warm-up excluded, in microseconds (§5.3)")


@pytest.mark.spec("R5.4-2", "R3.2-4", "R5.1-2", "R5.1-3")
@pytest.mark.points(7)
def test_nodelay_times_are_real(spawn, lab04_tracer):
    """nodelay: each round starts before its first send() and ends after its reply is read, by the harness's clock"""
    run = nodelay_run(spawn, tracer=lab04_tracer)
    rounds = run.of("nodelay", "round")
    fb.expect(len(rounds) == 2 * (ROUNDS + WARMUP),
              f"expected {2 * (ROUNDS + WARMUP)} round lines; got {len(rounds)} [R5.4-1].",
              details=[run.show("nodelay", 4)], hint="§5.4")
    prev_end, prev = run.t0_ns, None
    for r in rounds:
        start = field(run, r, "start_ns", int, "§3.2")
        end = start + round(field(run, r, "latency_us", (int, float), "§5.4") * 1000)
        if start < prev_end - 1000 or end > run.t1_ns:
            fb.fail("a round's start_ns and latency_us do not fit the run: rounds must follow each other "
                    "inside the harness's own view of the run (CLOCK_MONOTONIC) [R3.2-4].",
                    details=[f"  this round:     {json.dumps(r)}",
                             f"  previous round: {json.dumps(prev) if prev else '(start of the run)'}",
                             f"  run by the harness's clock: {run.t0_ns} .. {run.t1_ns} ns"],
                    hint="take start_ns from clock_gettime(CLOCK_MONOTONIC) just before the first send() "
                         "and the latency when the reply is in (§3.2, §5.1)")
        prev_end, prev = end, r
    if run.trace is None:
        return  # no trace on this build (a static sanitizer runtime): the checks above must do
    halves = run.trace.rounds(REQUEST, REPLY)
    fb.expect(len(halves) == 2,
              f"the harness saw {len(halves)} connections made by nodelay; expected 2, a fresh one for "
              "each half [R5.1-3].", details=[run.show("nodelay", 4)], hint="§5.1")
    for nodelay, spans in enumerate(halves):
        lines = [r for r in rounds if r.get("nodelay") == nodelay]
        fb.expect(len(spans) == len(lines),
                  f"TCP_NODELAY={nodelay}: the harness saw {len(spans)} complete rounds (the client sent "
                  f"{REQUEST} bytes and read a {REPLY}-byte reply), the program printed {len(lines)} round "
                  "lines [R5.1-2].", details=[run.show("nodelay", 4)],
                  hint="each round: a 10-byte header and a 10-byte body from the client, a 10-byte reply "
                       "that the client reads (§5.1)")
        after = None
        for k, (line, span) in enumerate(zip(lines, spans)):
            start = line["start_ns"]
            end = start + round(line["latency_us"] * 1000)
            what = f"TCP_NODELAY={nodelay}, {'warm-up' if line.get('warmup') else 'measured'} round {line.get('round')}"
            seen = (f"  the harness saw: the client's first send() began at {span.first_send} ns, the reply's "
                    f"last byte was read at {span.last_recv} ns ({us(span.last_recv - span.first_send)})")
            said = f"  the program said: start_ns {start}, latency_us {line['latency_us']} (ends at {end} ns)"
            problem = None
            if span.sent != REQUEST or span.sends < 2:
                problem = (f"the client sent {span.sent} bytes in {span.sends} send() calls; expected "
                           f"{REQUEST} bytes in two, the header and the body [R5.1-2]")
            elif start > span.first_send:
                problem = (f"the clock started {us(start - span.first_send)} after the round's first send() "
                           "began [R5.4-2]")
            elif start < (after if after is not None else span.after):
                problem = ("the clock started before the previous round's reply was read (or before the "
                           "connection existed) [R5.4-2]")
            elif end < span.last_recv - 2:
                problem = (f"the clock stopped {us(span.last_recv - end)} before the reply's last byte was "
                           "read: a round is the whole request and its reply [R5.4-2]")
            if problem:
                fb.fail(f"{what}: {problem}.", details=[said, seen, json.dumps(line)],
                        hint="start_ns just before the client's first send(); the latency when the client has "
                             "read the whole reply (§5.1, §5.4)")
            after = span.last_recv


# ---- bufsize -------------------------------------------------------------------------------
@pytest.mark.spec("R6.1-1", "R6.2-1", "R6.3-1", "R3.1-10")
@pytest.mark.points(8)
def test_bufsize_readback(spawn):
    """bufsize: each read-back is what the kernel gives (doubled, capped at rmem_max/wmem_max)"""
    sizes = [1024, 4096, 65536, 1 << 20, 8 << 20]
    run = run_lab(spawn, "bufsize", "--sizes", ",".join(map(str, sizes)), "--duration-ms", 20, hint="§6")
    lines = run.of("bufsize", "size")
    fb.expect([l.get("requested") for l in lines] == sizes,
              f"expected one \"size\" line per requested size {sizes}, in order; got "
              f"{[l.get('requested') for l in lines]} [R6.3-1].", details=[run.show("bufsize")], hint="§6.3")
    caps = {"wmem_max": sysctl("net.core.wmem_max"), "rmem_max": sysctl("net.core.rmem_max")}
    for l in lines:
        want_snd, want_rcv = kernel_bufsizes(l["requested"])
        got = (l.get("sndbuf"), l.get("rcvbuf"))
        fb.expect(got == (want_snd, want_rcv),
                  f"after asking for {l['requested']} bytes, the program read back SO_SNDBUF {got[0]!r} "
                  f"(client) and SO_RCVBUF {got[1]!r} (accepted socket); this kernel gives {want_snd} and "
                  f"{want_rcv} for that request (twice the request, capped at twice wmem_max/rmem_max) "
                  "[R6.1-1, R6.2-1].", details=[json.dumps(l)],
                  hint="set both on the listener before listen() and on the client before connect(); read "
                       "back with getsockopt() and an optlen of sizeof(int) (§2.3, §2.4, §6.1)")
        wrong = {k: l.get(k) for k, v in caps.items() if l.get(k) != v}
        fb.expect(not wrong, f"reported caps {wrong}; /proc/sys/net/core says {caps} [R6.3-1].",
                  details=[json.dumps(l)], hint="read them from /proc/sys/net/core (§6.3)")


@pytest.mark.spec("R6.2-5", "R6.3-2")
@pytest.mark.points(5)
def test_bufsize_throughput(spawn):
    """bufsize: throughput rises with buffer size, and MB/s is bytes / seconds"""
    # 2 KiB (the smallest buffers Linux allows, about) against 64 KiB and up: on a loaded
    # 2-core machine the gap was 10 to 40 times; the test asks for 3.
    sizes = [2048, 16384, 65536, 262144, 1 << 20]
    duration_ms = 150
    seen = []

    def scenario():
        run = run_lab(spawn, "bufsize", "--sizes", ",".join(map(str, sizes)), "--duration-ms", duration_ms,
                      timeout=30, hint="§6")
        lines = run.of("bufsize", "size")
        fb.expect([l.get("requested") for l in lines] == sizes,
                  f"expected one \"size\" line per size {sizes}; got {[l.get('requested') for l in lines]} "
                  "[R6.3-1].", details=[run.show("bufsize")], hint="§6.3")
        for l in lines:
            nbytes = field(run, l, "bytes", int, "§6.3")
            seconds = field(run, l, "seconds", (int, float), "§6.3")
            mbps = field(run, l, "mb_per_s", (int, float), "§6.3")
            fb.expect(seconds > 0 and abs(mbps - nbytes / seconds / 1e6) <= 0.01 * mbps + 0.1,
                      f"size {l['requested']}: mb_per_s {mbps} is not bytes / seconds / 1e6 "
                      f"({nbytes / seconds / 1e6 if seconds else float('inf'):.1f}) [R6.2-5].",
                      details=[json.dumps(l)], hint="MB is 10^6 bytes (§6.2)")
        by_size = {l["requested"]: l["mb_per_s"] for l in lines}
        seen[:] = [by_size, run]
        big = max(v for k, v in by_size.items() if k >= 65536)
        # A slow 2 KiB transfer is never load's doing in the wrong direction: only a slow big one is.
        return [timing.Check("the best throughput at 64 KiB and above, as time per byte",
                             got=1 / max(big, 1e-9), expected=0.0, lo=0.0,
                             hi=1 / max(3 * by_size[2048], 1e-9))]

    verdict = timing.judge(scenario)
    if not verdict.ok:
        by_size, run = seen
        big = max(v for k, v in by_size.items() if k >= 65536)
        fb.fail(f"throughput by buffer size (MB/s): {by_size}. The best at 64 KiB and above ({big:.0f}) should "
                f"be at least 3 times that at 2 KiB ({by_size[2048]:.0f}), in one of {verdict.tries} runs "
                "[R6.3-2].", details=[run.show("bufsize")],
                hint="both ends must use the requested size: SO_SNDBUF on the sender before connect(), "
                     "SO_RCVBUF on the listener before listen() (§6.2)")


@pytest.mark.spec("R6.2-2", "R6.2-3", "R6.2-4", "R3.1-11", "R3.2-4")
@pytest.mark.points(7)
def test_bufsize_times_are_real(spawn, lab04_tracer):
    """bufsize: each transfer's clock, duration and byte count match what the harness saw of its calls"""
    sizes, duration_ms = [16384, 1 << 20], 120
    run = run_lab(spawn, "bufsize", "--sizes", ",".join(map(str, sizes)), "--duration-ms", duration_ms,
                  timeout=30, hint="§6", tracer=lab04_tracer)
    lines = run.of("bufsize", "size")
    fb.expect([l.get("requested") for l in lines] == sizes,
              f"expected one \"size\" line per size {sizes}; got {[l.get('requested') for l in lines]} [R6.3-1].",
              details=[run.show("bufsize")], hint="§6.3")
    prev_end = run.t0_ns
    for l in lines:
        nbytes = field(run, l, "bytes", int, "§6.3")
        seconds = field(run, l, "seconds", (int, float), "§6.3")
        start = field(run, l, "start_ns", int, "§6.3")
        end = start + round(seconds * 1e9)
        fb.expect(seconds >= duration_ms / 1000 * 0.99 and nbytes > 0,
                  f"size {l['requested']}: {nbytes} bytes in {seconds} s; each transfer must last at least "
                  f"--duration-ms {duration_ms} [R6.2-2].", details=[json.dumps(l)], hint="§6.2")
        fb.expect(start >= prev_end - 1000 and end <= run.t1_ns,
                  f"size {l['requested']}: the transfer ({start} .. {end} ns) does not fit the run as the "
                  f"harness timed it ({run.t0_ns} .. {run.t1_ns} ns), or overlaps the one before [R3.2-4].",
                  details=[json.dumps(l)], hint="time each transfer with CLOCK_MONOTONIC (§3.2, §6.2)")
        prev_end = end
    if run.trace is None:
        return  # no trace on this build (a static sanitizer runtime): the checks above must do
    spans = run.trace.transfers()
    # A send() may begin just after the deadline when the program was preempted between its
    # clock check and the call: allow that much, stretched by the scheduling delay measured here.
    late_ok = round(timing.upper(0.0, 0.02) * 1e9)
    fb.expect(len(spans) == len(lines),
              f"the harness saw {len(spans)} transfers (connections on which the client sent data); the "
              f"program printed {len(lines)} size lines [R6.2-2].", details=[run.show("bufsize")], hint="§6.2")
    for l, span in zip(lines, spans):
        start, nbytes = l["start_ns"], l["bytes"]
        end = start + round(l["seconds"] * 1e9)
        deadline = start + duration_ms * 1_000_000
        said = f"  the program said: start_ns {start}, seconds {l['seconds']} (ends at {end} ns), bytes {nbytes}"
        seen = (f"  the harness saw: the connection ready at {span.after} ns; the client's sends from "
                f"{span.first_send} ns (last one began at {span.last_send_start} ns), {span.sent} bytes sent, "
                f"{span.received} bytes received by the receiver; the count read at {span.last_recv} ns")
        problem = None
        if start < span.after:
            problem = f"the clock started {us(span.after - start)} before the connection existed (it includes connect())"
        elif start > span.first_send:
            problem = f"the clock started {us(start - span.first_send)} after the first send() began"
        elif span.last_send_start >= deadline + late_ok:
            problem = (f"a send() began {us(span.last_send_start - deadline)} after --duration-ms {duration_ms} "
                       "had passed: sending must stop at the deadline")
        elif span.last_recv == 0 or end < span.last_recv - 1000:
            problem = ("the clock stopped before the receiver's count was read: data still in the buffers "
                       "had not been delivered")
        elif nbytes != span.sent or nbytes != span.received:
            problem = (f"it reports {nbytes} bytes; the client sent {span.sent} and the receiver got "
                       f"{span.received}: bytes is the receiver's count")
        if problem:
            fb.fail(f"size {l['requested']}: {problem} [R6.2-2, R6.2-3, R6.2-4].",
                    details=[said, seen, json.dumps(l)],
                    hint="start_ns just before the first send(); send CHUNK bytes while the deadline has not "
                         "passed; shutdown(SHUT_WR); read the 8-byte count; then stop the clock (§6.2)")


# ---- linger --------------------------------------------------------------------------------
LINGER_CASES = {
    # case: (what the peer's recv() sees, what ss shows for the closer afterwards)
    "default": ("EOF", "TIME-WAIT"),
    "linger_1_0": ("ECONNRESET", None),
    "unread_data": ("ECONNRESET", None),
}


@pytest.mark.spec("R7.2-1", "R7.2-2", "R7.2-3", "R7.2-4")
@pytest.mark.points(3)
@pytest.mark.parametrize("case", list(LINGER_CASES))
def test_linger(spawn, case):
    """linger: the peer sees EOF after a plain close, ECONNRESET after an abortive one"""
    need_ss()
    run = run_lab(spawn, "linger", hint="§7")
    cases = [l.get("case") for l in run.of("linger", "close")]
    fb.expect(cases == list(LINGER_CASES),
              f"expected three linger \"close\" lines, cases {list(LINGER_CASES)} in that order; got {cases} "
              "[R7.2-1].", details=[run.show("linger")], hint="one line per case, in the order of §7.2")
    line = run.of("linger", "close")[list(LINGER_CASES).index(case)]
    saw, after = LINGER_CASES[case]
    onoff = 1 if case == "linger_1_0" else 0
    fb.expect(line.get("so_linger_onoff") == onoff and line.get("so_linger_secs") == 0,
              f"SO_LINGER read back as {{{line.get('so_linger_onoff')!r}, {line.get('so_linger_secs')!r}}}; "
              f"expected {{{onoff}, 0}} for case {case} [R7.2-3].", details=[json.dumps(line)],
              hint="struct linger {l_onoff = 1, l_linger = 0}, optlen sizeof(struct linger) (§7.1)")
    expected_ret = 0 if saw == "EOF" else -1
    expected_errno = None if saw == "EOF" else saw
    fb.expect(line.get("peer_saw") == saw and line.get("peer_recv") == expected_ret
              and line.get("peer_errno") == expected_errno,
              f"case {case}: the peer's recv() returned {line.get('peer_recv')!r} with errno "
              f"{line.get('peer_errno')!r} ({line.get('peer_saw')!r}); expected {expected_ret}, "
              f"{expected_errno!r} ({saw}) [R7.2-2].", details=[json.dumps(line), run.prog.describe()],
              hint="SO_LINGER {1,0} then close() sends RST; so does close() with unread data; a plain "
                   "close() sends FIN. peer_sees() reports what one recv() returned, and its errno (§7.1, §7.2)")
    closer, peer = field(run, line, "closer", str, "§7.2"), field(run, line, "peer", str, "§7.2")
    state = wait_ss_state(closer, peer, after) if after else ss_state(closer, peer)
    fb.expect(state == after,
              f"after the run, ss shows the closer {closer} <-> {peer} as {state or 'absent'}; expected "
              f"{after or 'absent'} ({'a FIN leaves TIME_WAIT on the side that closed first' if after else 'a RST leaves no TIME_WAIT'}) "
              "[R7.2-4].", details=[json.dumps(line)], hint="the closer is the client socket (§7.2)")


# ---- keepalive -----------------------------------------------------------------------------
@pytest.mark.spec("R8.2-1", "R8.2-2", "R8.2-3", "R3.1-13", "R3.3-1")
@pytest.mark.points(7)
def test_keepalive(spawn):
    """keepalive: the four options read back as set, and ss shows the keepalive timer running"""
    need_ss()
    idle, intvl, count = 300, 7, 3
    prog = spawn("sockopt_lab", "keepalive", "--idle", idle, "--intvl", intvl, "--count", count, "--pause")
    m = wait_pauses(prog, 1)
    lines = parse_lines(prog, "§8")
    run = Run(prog, lines, 0, 0)
    if not m:
        fb.fail("sockopt_lab keepalive --pause never reached its pause point (a \"pause\" line) [R8.2-3].",
                details=[run.show("keepalive"), prog.describe()],
                hint="after the four option lines, call pause_point() with the connection still open (§8.2)")
    opts = {l.get("option"): l for l in run.of("keepalive", "option")}
    want = {"SO_KEEPALIVE": ("SOL_SOCKET", 1, "on/off"), "TCP_KEEPIDLE": ("IPPROTO_TCP", idle, "s"),
            "TCP_KEEPINTVL": ("IPPROTO_TCP", intvl, "s"), "TCP_KEEPCNT": ("IPPROTO_TCP", count, "probes")}
    for name, (level, value, unit) in want.items():
        l = opts.get(name, {})
        fb.expect(l.get("level") == level and l.get("requested") == value and l.get("readback") == value
                  and l.get("unit") == unit,
                  f"{name}: expected level {level}, requested and read back {value}, unit {unit}; the program "
                  f"printed {json.dumps(l) if l else 'no line for it'} [R8.2-1].", details=[run.show("keepalive")],
                  hint="SO_KEEPALIVE is at SOL_SOCKET, the three TCP_KEEP* at IPPROTO_TCP (§8.1)")
    local, remote = opts["SO_KEEPALIVE"].get("local"), opts["SO_KEEPALIVE"].get("remote")
    _, port = split_addr(local)
    rows = [r for r in ss_rows(port, "-o") if r[1] == local and r[2] == remote] if port else []
    kind, left = ss_timer_seconds(rows[0][3]) if rows else (None, None)
    fb.expect(kind == "keepalive" and idle - 60 < left <= idle,
              f"ss -tno shows the connection {local} <-> {remote} as "
              f"{' '.join(rows[0]) if rows else 'absent'}; expected timer:(keepalive,...) with at most "
              f"{idle} s left (TCP_KEEPIDLE) [R8.2-2].", details=[run.show("keepalive")],
              hint="set SO_KEEPALIVE (on) as well as TCP_KEEPIDLE, on the connected socket you report (§8.1)")
    prog.write_stdin(b"\n")
    prog.close_stdin()
    rc = prog.wait(10)
    fb.expect(rc == 0, f"after the pause, sockopt_lab keepalive ended with {prog.exit_text()}, expected 0 [R3.3-1].",
              details=[prog.describe()], hint="a line on stdin (or EOF) ends the pause (§3.3)")


# ---- rcvtimeo ------------------------------------------------------------------------------
@pytest.mark.spec("R9.2-1", "R9.2-2", "R3.1-12", "R3.2-4")
@pytest.mark.points(4)
# 300 ms: under a second (whole seconds alone give {0, 0}); 1000 ms: exactly a second, the edge
# where tv_usec must be 0 and tv_sec 1 (1000000 us is refused with EDOM).
@pytest.mark.parametrize("timeout_ms", [300, 1000])
def test_rcvtimeo(spawn, lab04_tracer, timeout_ms):
    """rcvtimeo: recv() on a silent peer fails with EAGAIN after the timeout, by the harness's clock too"""
    last = []

    def scenario():
        run = run_lab(spawn, "rcvtimeo", "--timeout-ms", timeout_ms, timeout=8, hint="§9", tracer=lab04_tracer)
        lines = run.of("rcvtimeo", "recv")
        fb.expect(len(lines) == 1, f"expected one rcvtimeo \"recv\" line; got {len(lines)} [R9.2-1].",
                  details=[run.show("rcvtimeo")], hint="§9.2")
        l = lines[0]
        last[:] = [l]
        fb.expect(l.get("result") in ("EAGAIN", "EWOULDBLOCK") and l.get("requested_ms") == timeout_ms,
                  f"recv() with SO_RCVTIMEO {timeout_ms} ms on a silent peer gave {l.get('result')!r} "
                  f"(requested_ms {l.get('requested_ms')!r}); expected EAGAIN (EWOULDBLOCK) [R9.2-1].",
                  details=[json.dumps(l)], hint="a recv() that times out returns -1 with errno EAGAIN (§9.1)")
        readback = field(run, l, "readback_ms", (int, float), "§9.2")
        measured = field(run, l, "measured_ms", (int, float), "§9.2")
        start, end = field(run, l, "start_ns", int, "§9.2"), field(run, l, "end_ns", int, "§9.2")
        fb.expect(abs(readback - timeout_ms) <= 10,
                  f"SO_RCVTIMEO read back as {readback} ms; {timeout_ms} ms was set [R9.2-1].",
                  details=[json.dumps(l)],
                  hint="a struct timeval: tv_sec = ms / 1000, tv_usec = (ms % 1000) * 1000 (§9.1)")
        fb.expect(run.t0_ns <= start <= end <= run.t1_ns and abs((end - start) / 1e6 - measured) < 0.01,
                  "start_ns .. end_ns must lie inside the run as the harness timed it and match measured_ms "
                  "[R9.2-2].", details=[json.dumps(l), f"  run by the harness's clock: {run.t0_ns} .. {run.t1_ns} ns"],
                  hint="CLOCK_MONOTONIC, nanoseconds (§3.2)")
        if run.trace is not None:
            recvs = [(ready, c) for ready, c in run.trace.calls_on_client("recv") if c.ret == -1]
            if recvs:
                ready, c = recvs[-1]
                fb.expect(ready.t1 <= start <= c.t0 and end >= c.t1,
                          f"the program timed {start} .. {end} ns; the harness saw the connection ready at "
                          f"{ready.t1} ns and the recv() that timed out run from {c.t0} to {c.t1} ns: the "
                          "measurement must cover that recv() and nothing before the connection [R9.2-2].",
                          details=[json.dumps(l)],
                          hint="measure from just before recv() to just after it (§9.2)")
        # Early (the recv() returned before the timeout) is wrong at once; late may be load.
        return [timing.Check("recv() with SO_RCVTIMEO", got=measured / 1000, expected=timeout_ms / 1000,
                             lo=(timeout_ms - 2) / 1000, hi=timing.upper(timeout_ms / 1000, 0.2))]

    verdict = timing.judge(scenario)
    fb.expect(verdict.ok, f"{verdict.message} [R9.2-2].", details=[json.dumps(l) for l in last],
              hint="the timeout is the struct timeval you set; recv() returns EAGAIN once it has passed (§9.1)")


# ---- states --------------------------------------------------------------------------------
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


@pytest.mark.spec("R10.1-1", "R10.2-1", "R10.2-2", "R3.2-5", "R3.3-1", "R3.1-14")
@pytest.mark.points(8)
def test_states(spawn):
    """states: the walk through LISTEN ... LAST_ACK, TIME_WAIT, by TCP_INFO and by the harness's ss"""
    need_ss()
    prog = spawn("sockopt_lab", "states", "--pause")
    for step, sockets in WALK.items():
        wait_pauses(prog, step)
        run = Run(prog, parse_lines(prog, "§10"), 0, 0)
        if len(run.of("states", "pause")) < step:
            fb.fail(f"sockopt_lab states --pause did not reach the pause after step {step} [R3.3-1].",
                    details=[run.show("states", 20), prog.describe()],
                    hint="report every socket of the step, then call pause_point() (§10.2)")
        lines = {l.get("socket"): l for l in run.of("states", "socket") if l.get("step") == step}
        for name, (tcp_info, ss_want) in sockets.items():
            l = lines.get(name)
            if l is None:
                fb.fail(f"step {step}: no line for the {name} socket [R10.2-1].", details=[run.show("states", 20)],
                        hint="§10.2 lists the sockets of each step")
            remote = l.get("remote") if name != "listener" else None
            ss_now = ss_state(l.get("local"), remote)
            problems = []
            if l.get("tcp_info") != tcp_info:
                problems.append(f"TCP_INFO reported {l.get('tcp_info')!r}, expected {tcp_info!r} [R10.1-1]")
            if ss_now != ss_want:
                problems.append(f"the harness's ss shows {ss_now or 'nothing'}, expected {ss_want or 'nothing'} [R10.2-1]")
            if l.get("ss") != ss_now:
                problems.append(f"the program's ss column says {l.get('ss')!r}, the harness's ss {ss_now!r} [R10.2-2]")
            if problems:
                fb.fail(f"step {step} ({l.get('action')}), {name} {l.get('local')} <-> {l.get('remote')}: "
                        + "; ".join(problems) + ".", details=[json.dumps(l), run.show("states", 20)],
                        hint="TCP states count from TCP_ESTABLISHED = 1; the steps and what each should "
                             "show are in §10.2")
        prog.write_stdin(b"\n")
    prog.close_stdin()
    rc = prog.wait(10)
    fb.expect(rc == 0, f"sockopt_lab states ended with {prog.exit_text()}, expected 0 [R3.1-3].",
              details=[prog.describe()], hint="§10.2")
    steps = [l.get("step") for l in Run(prog, parse_lines(prog, "§10"), 0, 0).of("states", "pause")]
    fb.expect(steps == list(WALK),
              f"the pause lines name the steps {steps}; expected {list(WALK)}, one pause after each step [R3.3-1].",
              details=[], hint="pause_point(..., step) after each step's lines (§3.3, §10.2)")


# ---- the whole program ---------------------------------------------------------------------
EXPERIMENTS = ["reuseaddr", "nodelay", "bufsize", "linger", "keepalive", "rcvtimeo", "states"]


@pytest.mark.spec("R3.1-2", "R3.1-3", "R3.1-7", "R3.2-1", "R3.2-2")
@pytest.mark.points(3)
def test_all_on_ipv6(spawn):
    """all (here with --host ::1) runs every experiment in order, every address on [::1]"""
    run = run_lab(spawn, "all", "--host", "::1", "--rounds", 3, "--warmup", 1, "--sizes", "4096,65536",
                  "--duration-ms", 30, "--timeout-ms", 50, timeout=30, hint="§3.1")
    order = []
    for l in run.lines:
        if not order or order[-1] != l.get("experiment"):
            order.append(l.get("experiment"))
    fb.expect(order == EXPERIMENTS,
              f"`sockopt_lab all` printed its experiments in the order {order}; expected each of "
              f"{EXPERIMENTS}, once, in that order [R3.1-2].",
              details=[run.prog.describe()], hint="all runs each experiment in turn (§3.1)")
    # Every address field names the loopback address asked for: [::1]:PORT.
    bad = []
    for l in run.lines:
        for key in ("addr", "peer", "closer", "local", "remote"):
            v = l.get(key)
            if v is not None and not re.fullmatch(r"\[::1\]:\d+", str(v)):
                bad.append(f"{l.get('experiment')} {l.get('kind')}: {key} = {v!r}")
    fb.expect(not bad, "with --host ::1 every address must be \"[::1]:PORT\" [R3.1-7, R3.2-2]; these are not: "
              + "; ".join(bad[:6]) + ".", details=[run.show(limit=6)],
              hint="--host goes to getaddrinfo(); IPv6 addresses are written in brackets (§3.1, §3.2)")


#: Bad command lines: unknown or missing experiments, bad numbers, values out of range (§3.1).
USAGE_ERRORS = [
    ["nosuch"], [], ["reuseaddr", "linger"], ["nodelay", "--rounds", "x"], ["nodelay", "--rounds", "0"],
    ["keepalive", "--count", "128"], ["keepalive", "--idle", "32768"], ["bufsize", "--sizes", "4096,0"],
    ["rcvtimeo", "--timeout-ms", "0"], ["nodelay", "--warmup", "-1"],
]
#: The edges of the same ranges, which must be accepted. reuseaddr ignores them all, so the
#: runs are quick and need only the first steps of §3.4 (one mistake, one test).
RANGE_EDGES = [
    ["reuseaddr", "--rounds", "1", "--warmup", "0", "--sizes", "1", "--duration-ms", "1", "--timeout-ms", "1",
     "--idle", "1", "--intvl", "1", "--count", "1"],
    ["reuseaddr", "--rounds", "1000000", "--warmup", "100000", "--sizes", ",".join(["268435456"] * 32),
     "--duration-ms", "600000", "--timeout-ms", "600000", "--idle", "32767", "--intvl", "32767", "--count", "127"],
]


@pytest.mark.spec("R3.1-1", "R3.1-4", "R3.1-15")
@pytest.mark.points(2)
def test_usage_errors(spawn):
    """values at the edges of their ranges run; bad arguments and values beyond them: a usage line, exit 2"""
    for args in RANGE_EDGES:
        run_lab(spawn, *args, timeout=10, hint="§3.1: the ranges of the options")
    for args in USAGE_ERRORS:
        p = spawn("sockopt_lab", *args, stdin=b"")
        rc = p.wait(5)
        err = p.stderr.decode("utf-8", "replace")
        fb.expect(rc == 2 and re.search(r"(?m)^usage: sockopt_lab", err) is not None and not p.stdout.strip(),
                  f"`sockopt_lab {' '.join(args)}` should print a line starting \"usage: sockopt_lab\" on "
                  f"stderr, nothing on stdout, and exit 2; it ended with {p.exit_text()} [R3.1-4, R3.1-15].",
                  details=[p.describe()], hint="§3.1 lists the experiments, the options and their ranges")


@pytest.mark.spec("R3.1-5")
@pytest.mark.points(2)
def test_failed_call_exits_1(spawn):
    """a system call that fails (bind() to an address not on this machine): its message, and exit 1"""
    host = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never a local address
    p = spawn("sockopt_lab", "linger", "--host", host, stdin=b"")
    rc = p.wait(10)
    err = p.stderr.decode("utf-8", "replace")
    m = re.search(r"(?m)^sockopt_lab: (\w+)[^\n]* 192\.0\.2\.1:\d+: (.+)$", err)
    fb.expect(rc == 1 and m is not None and "Cannot assign requested address" in m.group(2),
              f"`sockopt_lab linger --host {host}` (not an address of this machine) should print "
              "\"sockopt_lab: bind 192.0.2.1:0: Cannot assign requested address\" (call, ADDR:PORT, "
              f"strerror) and exit 1; it ended with {p.exit_text()} [R3.1-5].", details=[p.describe()],
              hint="report_error(call, addr) prints the message; the experiment returns -1 and main() exits 1 (§3.1, §3.3)")


@pytest.mark.spec("R3.1-6")
@pytest.mark.points(2)
def test_signal_ends_run(spawn):
    """SIGTERM or SIGINT at a pause ends the run with status 0"""
    for sig in (signal.SIGTERM, signal.SIGINT):
        prog = spawn("sockopt_lab", "states", "--pause")
        first = wait_pauses(prog, 1)
        prog.write_stdin(b"\n")
        if not first or not wait_pauses(prog, 2):
            fb.fail("sockopt_lab states --pause did not reach its second pause point [R3.3-1].",
                    details=[prog.describe()], hint="§10.2")
        prog.send_signal(sig)
        rc = prog.wait(5)
        fb.expect(rc == 0, f"after {signal.Signals(sig).name} at a pause, sockopt_lab ended with "
                  f"{prog.exit_text()}; expected exit status 0 [R3.1-6].", details=[prog.describe()],
                  hint="the signal interrupts the blocked call; main() exits 0 when a stop was requested (§3.1)")


@pytest.mark.spec("R3.3-2")
@pytest.mark.points(1)
def test_pause_at_eof(spawn):
    """--pause with stdin at EOF: one pause line, then the run goes on without pausing"""
    run = run_lab(spawn, "states", "--pause", timeout=10, hint="§3.3")
    pauses = run.of("states", "pause")
    steps = sorted({l.get("step") for l in run.of("states", "socket")})
    fb.expect(len(pauses) == 1 and steps == list(WALK),
              f"with --pause and stdin at EOF, expected one pause line and then every step {list(WALK)}; "
              f"got {len(pauses)} pause lines and steps {steps} [R3.3-2].", details=[run.show("states", 20)],
              hint="EOF on stdin ends the pausing for the rest of the run (§3.3)")


@pytest.mark.spec("R3.1-16")
@pytest.mark.points(1)
def test_defaults(spawn):
    """without options: 127.0.0.1, the keepalive knobs 120/15/4 and a 250 ms receive timeout"""
    run = run_lab(spawn, "keepalive", hint="§3.1")
    got = {l.get("option"): l.get("readback") for l in run.of("keepalive", "option")}
    want = {"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 120, "TCP_KEEPINTVL": 15, "TCP_KEEPCNT": 4}
    local = (run.of("keepalive", "option") or [{}])[0].get("local") or ""
    fb.expect(got == want and local.startswith("127.0.0.1:"),
              f"`sockopt_lab keepalive` read back {got} on {local!r}; the defaults are {want} on 127.0.0.1 [R3.1-16].",
              details=[run.show("keepalive")], hint="§3.1 lists the defaults")
    run = run_lab(spawn, "rcvtimeo", timeout=8, hint="§3.1")
    l = (run.of("rcvtimeo", "recv") or [{}])[0]
    fb.expect(l.get("requested_ms") == 250,
              f"`sockopt_lab rcvtimeo` requested {l.get('requested_ms')!r} ms; the default is 250 [R3.1-16].",
              details=[run.show("rcvtimeo")], hint="§3.1 lists the defaults")


@pytest.mark.spec("R3.1-17")
@pytest.mark.points(2)
def test_frees_everything_at_exit(spawn, lab04_tracer):
    """a short run of every experiment frees all its memory and closes every socket it opened"""
    run = run_lab(spawn, "all", "--rounds", 2, "--warmup", 1, "--sizes", "4096", "--duration-ms", 20,
                  "--timeout-ms", 20, timeout=30, hint="§3.1", tracer=lab04_tracer)
    report = run.prog.leak_report()
    fb.expect(report is None,
              "`sockopt_lab all` ended normally but leaked memory: LeakSanitizer (or valgrind) reported "
              f"blocks still allocated at exit [R3.1-17]:\n{report}", details=[],
              hint="free() on every path, including the error paths (goto end), what malloc() gave (§3.1)")
    if run.trace is None:
        return  # no trace on this build: the sockets cannot be followed
    left = run.trace.unclosed_sockets()
    fb.expect(not left,
              f"`sockopt_lab all` ended with {len(left)} socket(s) it never closed [R3.1-17]: "
              + "; ".join(f"fd {c.ret} from {c.call}()" for c in left[:5])
              + ". The harness followed every socket(), accept() and close() of the run.",
              details=[run.show(limit=4)],
              hint="close every socket you open, on every path: try_bind() closes its socket whether "
                   "bind() worked or not (§3.1, §4.2)")
