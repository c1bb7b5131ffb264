"""socklab's benchmarks: the reference solutions measured beside real peers and the loopback limit.

    /usr/bin/python3 bench/bench.py [--smoke] [--only echo,udp,chat,http,tls,ws,harness] [--reps N] [--out DIR]

`make bench` runs the full set and writes bench/results.md and its PNG plots; `make test`
runs a smoke version (--smoke: tiny sizes, about 5 s, into a temporary folder) to check that
every part still runs and produces numbers. A benchmark is not a timed test: a missed target
is reported in results.md, never turned into a failure. The exit status is 1 only when a part
could not produce its numbers at all (a tool failed or timed out).

What runs, all over loopback, each process in its own process group with a deadline:
    echo     Lab 01's echo_server, socat as an echo peer (default buffer and -b 65536), and
             iperf3's single stream, with the same C load tools (bench/tools) for the echo servers
    udp      Lab 02's udp_server and udp_client beside socat as a UDP echo peer, and the time
             of 1000 requests under seeded loss beside what the backoff policy predicts
    chat     Lab 03's chat_server beside `ncat --chat`: joins, delivered lines per second,
             broadcast latency, and the latency the others see while one client stops reading
    http     Lab 05's http_server beside nginx (one worker) and lighttpd under wrk: 1 KiB and 1 MiB
             files at 1, 64 and 1000 connections, and one active client beside 10,000 idle
             keep-alive connections (bench/http_bench.py)
    tls      Lab 06's tls_echo_server beside openssl s_server (handshakes per second, openssl
             s_time) and socat's OpenSSL listener (echo throughput) (bench/tls_bench.py)
    ws       Lab 07's ws_chat_server beside Lab 03's chat_server and a python3-websockets broadcast
             server: join time for 1000 clients, broadcast latency to 100 (bench/ws_bench.py)
    harness  the wall time of grading each lab's solution, and of `make test` (full run only)

The reference solutions are built plain (no sanitizers) with the kit's own lab Makefiles; the
load tools with -O2. Repetitions are interleaved (ours, peer, ours, peer ...) so that other load
on the machine falls on both alike; tables show the median and the range.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))

import psutil  # noqa: E402

from harness import paths, procs  # noqa: E402
from harness.build import build_lab  # noqa: E402

TOOLS = KIT / "bench" / "tools"
TOOL_NAMES = ("echo_stream", "echo_ping", "chat_load")
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
HOST = "127.0.0.1"
MiB = 1 << 20
GiB = 1 << 30
#: Open files for the chat servers and the chat load tool: 1000 clients and more.
NOFILE = 20000
#: The pid of every server and peer started, so that a test can check that none outlived the run.
STARTED: list[int] = []


@dataclass
class Sizes:
    """How much each part does: the full bench, or the smoke run of `make test`."""

    reps: int = 5
    echo_reps: int = 9
    stream_bytes: int = 256 * MiB
    pings: int = 20000
    iperf_bytes: str = "256M"
    udp_requests: int = 50000
    loss_requests: int = 1000
    loss_timeout_ms: int = 10
    loss_retries: int = 3
    join_sizes: tuple = (10, 100, 1000)
    join_reps: int = 5
    join_windows: tuple = (1, 64)   # besides the default 8, for the largest join only
    rate_clients: int = 100
    rate_rounds: int = 200
    bcast_clients: int = 100
    bcast_count: int = 1000
    slow_clients: int = 100
    slow_count: int = 6000
    slow_size: int = 1000
    capacity_clients: int = 1100
    chat_deadline: float = 120.0
    harness: bool = True
    make_test: bool = True


SMOKE = Sizes(reps=1, echo_reps=1, join_windows=(), stream_bytes=8 * MiB, pings=300, iperf_bytes="16M", udp_requests=300,
              loss_requests=40, loss_timeout_ms=5, join_sizes=(10, 50), join_reps=1, rate_clients=10,
              rate_rounds=10, bcast_clients=10, bcast_count=30, slow_clients=10, slow_count=40,
              capacity_clients=0, chat_deadline=20.0, harness=False, make_test=False)


class BenchError(Exception):
    """A part could not produce its numbers: a tool failed, a peer never became ready."""


# ---- processes -----------------------------------------------------------------------------
def _raise_nofile() -> None:
    """In a child before exec: as many open files as the hard limit allows (up to NOFILE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class Server:
    """A server or peer in its own process group, output to files, ready when a line appears."""

    def __init__(self, name: str, cmd: list[str], work: Path, ready: str, timeout: float = 5.0):
        self.name = name
        self.cmd = cmd
        self.out = work / f"{name}.out"
        self.err = work / f"{name}.err"
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                                         start_new_session=True, preexec_fn=_raise_nofile)
        STARTED.append(self.proc.pid)
        self.port = self._wait_ready(re.compile(ready), timeout)

    def _wait_ready(self, pattern: re.Pattern, timeout: float) -> int:
        stop = time.monotonic() + timeout
        while time.monotonic() < stop:
            text = self.out.read_text(errors="replace") + self.err.read_text(errors="replace")
            m = pattern.search(text)
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                self.stop()
                raise BenchError(f"{self.name} exited with status {self.proc.returncode} before it was "
                                 f"ready: {shlex.join(self.cmd)}\n{text[-600:]}")
            time.sleep(0.01)
        self.stop()
        raise BenchError(f"{self.name} not ready after {timeout} s: {shlex.join(self.cmd)}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_text(self) -> str:
        return self.err.read_text(errors="replace")

    def stop(self) -> None:
        procs.kill_group(self.proc, grace=2.0)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free a moment ago, for peers that need a number (socat, iperf3, ncat).

    Another process may take it before the peer binds it: start_peer() retries.
    """
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_peer(name: str, make_cmd: Callable[[int], list[str]], work: Path, ready: str,
               kind: int = socket.SOCK_STREAM, tries: int = 5) -> Server:
    """Start a peer on a free port; on a lost race for the port (it exits at once), try another."""
    last = None
    for _ in range(tries):
        try:
            return Server(name, make_cmd(free_port(kind)), work, ready)
        except BenchError as e:
            last = e
    raise BenchError(f"{name} could not start in {tries} tries: {last}")


def start_ours(name: str, prog: Path, args: list[str], work: Path) -> Server:
    """A socklab server on an ephemeral port: it prints "listening on ADDR:PORT" when ready."""
    return Server(name, [str(prog), "-b", HOST, "-p", "0", *args], work, r"listening on \S+:(\d+)")


@dataclass
class Run:
    """One finished command: its output, status and wall time."""

    cmd: list[str]
    rc: int
    out: str
    err: str
    seconds: float


def run(cmd: list[str], timeout: float, cwd: Path = KIT, env: Optional[dict] = None,
        stdout_file: Optional[Path] = None) -> Run:
    """Run `cmd` in its own process group; kill the group after `timeout` s (rc is then -9).

    With `stdout_file` the program writes its output there instead of into a pipe that this
    process must keep reading: a client that prints a line per request then pays for its
    own writes only, not for a reader's wake-ups on the other core.
    """
    r = procs.run_bounded(cmd, timeout, capture=True, stdout_file=stdout_file, cwd=cwd, env=env,
                          preexec_fn=_raise_nofile, grace=0.5)
    rc, out, err, seconds = (-9 if r.timed_out else r.rc), r.out, r.err, r.seconds
    return Run(cmd, rc, out.decode(errors="replace"), err.decode(errors="replace"), seconds)


def keyvals(text: str) -> dict[str, str]:
    """The key=value pairs of the last line that has any (the load tools' output)."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("error="):
            return {"error": line[len("error="):].strip()}
        pairs = dict(re.findall(r"(\w+)=(\S+)", line))
        if pairs:
            return pairs
    return {}


def tool(r: Run, what: str) -> dict[str, str]:
    """The load tool's numbers, or a BenchError that says what went wrong."""
    kv = keyvals(r.out)
    if r.rc != 0 or not kv or "error" in kv:
        why = "timed out" if r.rc == -9 else kv.get("error") or f"exit status {r.rc}"
        raise BenchError(f"{what}: {why}: {shlex.join(r.cmd)}\n{(r.err or r.out)[-500:]}")
    return kv


# ---- statistics and formatting --------------------------------------------------------------
@dataclass
class Stat:
    """The values of one measure over the repetitions."""

    values: list = field(default_factory=list)
    note: str = ""

    def add(self, v: float) -> None:
        self.values.append(v)

    @property
    def ok(self) -> bool:
        return bool(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def fmt(self, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
        if not self.values:
            return self.note or "n/a"
        med = f"{self.median * scale:.{digits}f}{unit}"
        if len(self.values) > 1:
            lo, hi = min(self.values) * scale, max(self.values) * scale
            med += f" ({lo:.{digits}f}–{hi:.{digits}f})"
        return med + (f" {self.note}" if self.note else "")


def ratio(a: Stat, b: Stat) -> float:
    """Ours ÷ the peer: the median of the ratios of the repetitions, which ran back to back
    (other load on the machine drifts, and a pair sees about the same); the ratio of the
    medians when the two were not measured in pairs."""
    if not (a.ok and b.ok):
        return float("nan")
    if len(a.values) == len(b.values) and all(b.values):
        return statistics.median(x / y for x, y in zip(a.values, b.values))
    return a.median / b.median if b.median else float("nan")


def fmt_ratio(r: float) -> str:
    return "n/a" if r != r else f"{r:.2f}"


class Report:
    """Collects the sections of results.md, the headline rows and the plots."""

    def __init__(self, out: Path, smoke: bool):
        self.out = out
        self.smoke = smoke
        self.sections: list[str] = []
        self.headline: list[tuple] = []   # (measure, ours, peer, ratio, target, met)
        self.problems: list[str] = []
        self.plots: list[str] = []
        self.data: dict = {}
        #: Printed on every figure: a figure copied out of results.md still says where and when.
        self.stamp = figure_stamp()

    def section(self, text: str) -> None:
        self.sections.append(text.rstrip() + "\n")

    def head(self, measure: str, ours: str, peer: str, r: float, target: str, met: Optional[bool]) -> None:
        verdict = "n/a" if met is None else ("met" if met else "**not met**")
        self.headline.append((measure, ours, peer, fmt_ratio(r) if isinstance(r, float) else r, target, verdict))


def rel(path: Path) -> str:
    """A path as the kit sees it (out/bench/lab01), or as it is when it is elsewhere."""
    try:
        return str(path.resolve().relative_to(KIT))
    except ValueError:
        return str(path)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def commands_block(cmds: list[str]) -> str:
    return "```\n" + "\n".join(cmds) + "\n```\n"


# ---- the machine ------------------------------------------------------------------------------
def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    distro = ""
    try:
        m = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())
        distro = m.group(1) if m else ""
    except OSError:
        pass
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, {distro}, {date}; "
            f"load average at the start {load}")


def figure_stamp() -> str:
    """A short line naming the machine and the date, for the foot of each figure."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = " ".join(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return f"measured on {platform.node() or 'this machine'}: {cpu}, {os.cpu_count()} cores, Linux {platform.release()}; {date}"


def busy_processes(interval: float = 0.5, threshold: float = 20.0) -> list[str]:
    """Other processes using more than `threshold` % of a core now: they skew every number."""
    others = [p for p in psutil.process_iter(["name"]) if p.pid != os.getpid()]
    for p in others:
        try:
            p.cpu_percent(None)  # the first call starts the measurement
        except psutil.Error:
            pass
    time.sleep(interval)
    busy = []
    for p in others:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if pct > threshold:
            busy.append(f"{p.info['name']} (pid {p.pid}, {pct:.0f}% of a core)")
    return busy


# ---- builds ---------------------------------------------------------------------------------
def build_all(work: Path, labs: list[str]) -> dict[str, Path]:
    """Build the load tools (-O2) and the labs' reference solutions (plain), all at once."""
    out = work / "tools"
    out.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        tools = {name: pool.submit(run, ["cc", *CFLAGS, "-o", str(out / name), str(TOOLS / f"{name}.c")], 120)
                 for name in TOOL_NAMES}
        for lab in labs:
            pool.submit(build_solution, lab, work)
    for name, fut in tools.items():
        r = fut.result()
        if r.rc != 0:
            raise BenchError(f"building bench/tools/{name}.c failed:\n{r.err[-2000:]}")
    return {name: out / name for name in TOOL_NAMES}


_built: dict[str, tuple[Optional[Path], str]] = {}


def build_solution(lab_id: str, work: Path) -> tuple[Optional[Path], str]:
    """The lab's reference programs, built plain; (folder, "") or (None, why not)."""
    if lab_id not in _built:
        _built[lab_id] = _build_solution(lab_id, work)
    return _built[lab_id]


def _build_solution(lab_id: str, work: Path) -> tuple[Optional[Path], str]:
    try:
        lab = paths.find_lab(lab_id)
    except KeyError:
        return None, f"there is no lab {lab_id} in labs/"
    if not lab.solution.is_dir():
        return None, f"there is no reference solution {lab.solution.relative_to(KIT)}"
    b = build_lab(lab, lab.solution, work / f"lab{lab_id}", sanitize=False)
    if not b.ok:
        return None, f"the reference solution of lab {lab_id} does not build:\n{b.log.strip()[-800:]}"
    return b.bin_dir, ""


def missing_tools(*names: str) -> list[str]:
    return [n for n in names if shutil.which(n) is None]


# ---- echo (Lab 01) ----------------------------------------------------------------------------
def bench_echo(rep: Report, sz: Sizes, tools: dict, work: Path) -> None:
    bindir, why = build_solution("01", work)
    if bindir is None:
        rep.section(f"## Echo (Lab 01)\n\nSkipped: {why}\n")
        return
    peers_missing = missing_tools("socat", "iperf3")
    servers: dict[str, Server] = {}
    try:
        servers["echo_server (ours)"] = start_ours("echo_server", bindir / "echo_server", [], work)
        if "socat" not in peers_missing:
            servers["socat"] = start_peer("socat", lambda p: [
                "socat", "-d", "-d", f"TCP-LISTEN:{p},bind={HOST},reuseaddr,fork", "EXEC:cat"], work,
                r"listening on \S+ \S+:(\d+)")
            servers["socat -b 65536"] = start_peer("socat-b65536", lambda p: [
                "socat", "-d", "-d", "-b", "65536", f"TCP-LISTEN:{p},bind={HOST},reuseaddr,fork", "EXEC:cat"],
                work, r"listening on \S+ \S+:(\d+)")
        if "iperf3" not in peers_missing:
            servers["iperf3"] = start_peer("iperf3", lambda p: [
                "iperf3", "-s", "-B", HOST, "-p", str(p), "--forceflush"], work, r"Server listening on (\d+)")
        thr = {name: Stat() for name in servers}
        lat50 = {name: Stat() for name in servers if name != "iperf3"}
        lat99 = {name: Stat() for name in lat50}
        stream_cmd = lambda port: [str(tools["echo_stream"]), HOST, str(port), str(sz.stream_bytes)]  # noqa: E731
        ping_cmd = lambda port: [str(tools["echo_ping"]), HOST, str(port), str(sz.pings)]  # noqa: E731
        iperf_cmd = lambda port: ["iperf3", "-c", HOST, "-p", str(port), "-n", sz.iperf_bytes, "-J"]  # noqa: E731
        for _ in range(sz.echo_reps):
            for name, srv in servers.items():
                if name == "iperf3":
                    r = run(iperf_cmd(srv.port), timeout=60)
                    try:
                        bps = json.loads(r.out)["end"]["sum_received"]["bits_per_second"]
                    except (ValueError, KeyError) as e:
                        raise BenchError(f"iperf3 gave no result ({e}): {r.out[-300:]} {r.err[-300:]}")
                    thr[name].add(bps / 8)
                    continue
                kv = tool(run(stream_cmd(srv.port), timeout=60), f"echo_stream to {name}")
                thr[name].add(float(kv["bytes_per_s"]))
                kv = tool(run(ping_cmd(srv.port), timeout=60), f"echo_ping to {name}")
                lat50[name].add(float(kv["p50_us"]))
                lat99[name].add(float(kv["p99_us"]))
        for name, srv in servers.items():
            if not srv.alive():
                raise BenchError(f"{name} died during the echo bench:\n{srv.stderr_text()[-500:]}")
    finally:
        for srv in servers.values():
            srv.stop()

    ours = "echo_server (ours)"
    rows = []
    for name in thr:
        rows.append([name, thr[name].fmt(1 / GiB), lat50[name].fmt(digits=1) if name in lat50 else "—",
                     lat99[name].fmt(digits=1) if name in lat99 else "—",
                     fmt_ratio(ratio(thr[ours], thr[name])) if name != ours else "1"])
    for t in peers_missing:
        rows.append([t, "not installed (`make bench` installs it)", "", "", ""])
    r_socat = ratio(thr[ours], thr.get("socat -b 65536", Stat()))
    r_iperf = ratio(thr[ours], thr.get("iperf3", Stat()))
    rep.head(f"Echo throughput, {sz.stream_bytes // MiB} MiB echoed",
             thr[ours].fmt(1 / GiB, unit=" GiB/s"),
             "socat -b 65536: " + thr.get("socat -b 65536", Stat(note="n/a")).fmt(1 / GiB, unit=" GiB/s"),
             r_socat, "≥ 1.5", None if r_socat != r_socat else r_socat >= 1.5)
    rep.head("Echo throughput vs the loopback limit", thr[ours].fmt(1 / GiB, unit=" GiB/s"),
             "iperf3, 1 stream: " + thr.get("iperf3", Stat(note="n/a")).fmt(1 / GiB, unit=" GiB/s"),
             r_iperf, "≥ 0.5", None if r_iperf != r_iperf else r_iperf >= 0.5)
    if "socat" in lat50:
        rep.head("Echo 1-byte round trip, p50 (lower is better)", lat50[ours].fmt(digits=1, unit=" µs"),
                 "socat -b 65536: " + lat50["socat -b 65536"].fmt(digits=1, unit=" µs"),
                 ratio(lat50[ours], lat50["socat -b 65536"]), "—", None)
    rep.data["echo"] = {"throughput": {k: v.values for k, v in thr.items()},
                        "p50": {k: v.values for k, v in lat50.items()},
                        "p99": {k: v.values for k, v in lat99.items()}}
    cmds = [f"{rel(bindir)}/echo_server -b {HOST} -p 0",
            f"socat TCP-LISTEN:PORT,bind={HOST},reuseaddr,fork EXEC:cat",
            f"socat -b 65536 TCP-LISTEN:PORT,bind={HOST},reuseaddr,fork EXEC:cat",
            f"iperf3 -s -B {HOST} -p PORT",
            f"echo_stream {HOST} PORT {sz.stream_bytes}        # each echo server; bench/tools/echo_stream.c",
            f"echo_ping {HOST} PORT {sz.pings}                # each echo server; bench/tools/echo_ping.c",
            f"iperf3 -c {HOST} -p PORT -n {sz.iperf_bytes} -J"]
    rep.section(
        "## Echo (Lab 01)\n\n"
        f"Throughput: {sz.stream_bytes // MiB} MiB pushed through the echo server and read back "
        "concurrently by one poll() loop (bench/tools/echo_stream.c, 256 KiB send()s and recv()s, "
        "contents of one recv() in 16 checked), bytes echoed per second from connect to the last byte. "
        "iperf3 moves its bytes one way only: it is the ceiling of one TCP stream on this loopback. "
        f"Latency: {sz.pings} round trips of 1 byte with TCP_NODELAY after 100 of warm-up "
        f"(bench/tools/echo_ping.c). {sz.echo_reps} repetitions, interleaved; median (min–max).\n\n"
        + commands_block(cmds) + "\n"
        + table(["server", "throughput, GiB/s", "round trip p50, µs", "round trip p99, µs",
                 "ours ÷ this (throughput)"], rows)
        + "\n![echo](echo.png)\n")
    plot_echo(rep, thr, lat50, lat99)


# ---- UDP (Lab 02) -----------------------------------------------------------------------------
def predicted_ms(attempts: list[int], lost: int, timeout_ms: float, retries: int, backoff: float = 2.0) -> float:
    """What the waiting costs when request i took attempts[i] sends: the timeouts that expired."""
    wait = lambda k: sum(timeout_ms * backoff ** j for j in range(k))  # noqa: E731
    return sum(wait(a - 1) for a in attempts) + lost * wait(retries + 1)


def expected_ms(n: int, p: float, timeout_ms: float, retries: int, backoff: float = 2.0) -> float:
    """The policy's expectation: timeout j (T·F^j) expires when sends 0..j are all dropped (p^(j+1))."""
    return n * sum(p ** (j + 1) * timeout_ms * backoff ** j for j in range(retries + 1))


def bench_udp(rep: Report, sz: Sizes, tools: dict, work: Path) -> None:
    bindir, why = build_solution("02", work)
    if bindir is None:
        rep.section(f"## UDP (Lab 02)\n\nSkipped: {why}\n")
        return
    client = str(bindir / "udp_client")
    rate = {"udp_server (ours)": Stat(), "socat UDP echo": Stat()}
    floor = Stat()
    have_socat = shutil.which("socat") is not None
    if not have_socat:
        rate["socat UDP echo"].note = "socat not installed"

    def socat_udp() -> Server:
        # UDP-LISTEN answers the first client only (it connects its socket to it): one per run.
        return start_peer("socat-udp", lambda p: ["socat", "-d", "-d", f"UDP-LISTEN:{p},bind={HOST}", "PIPE"],
                          work, r"listening on \S+ \S+ \S+:(\d+)", kind=socket.SOCK_DGRAM)

    def requests_per_s(name: str, port: int) -> None:
        r = run([client, "-c", str(sz.udp_requests), HOST, str(port)], timeout=120,
                stdout_file=work / "udp_client.out")
        summary = re.search(r"(\d+) requests, (\d+) replied", r.out)
        if r.rc != 0 or not summary or summary.group(1) != summary.group(2):
            raise BenchError(f"udp_client to {name}: exit {r.rc}: {r.out[-300:]} {r.err[-300:]}")
        rate[name].add(sz.udp_requests / r.seconds)

    with start_ours("udp_server", bindir / "udp_server", [], work) as ours_srv:
        for _ in range(sz.reps):
            requests_per_s("udp_server (ours)", ours_srv.port)
            if have_socat:
                with socat_udp() as peer:
                    requests_per_s("socat UDP echo", peer.port)
            kv = tool(run([str(tools["echo_ping"]), "-u", HOST, str(ours_srv.port), str(sz.pings)], timeout=60),
                      "echo_ping -u to udp_server")
            floor.add(1e6 / float(kv["mean_us"]))

    loss_rows, loss_data = [], {}
    for p in (0.1, 0.3):
        meas, pred = Stat(), Stat()
        expect = expected_ms(sz.loss_requests, p, sz.loss_timeout_ms, sz.loss_retries) / 1000
        detail = ""
        for _ in range(max(1, min(sz.reps, 2))):
            with start_ours(f"udp_server-loss{p}", bindir / "udp_server",
                            ["--loss", str(p), "--seed", "1"], work) as srv:
                r = run([client, "-c", str(sz.loss_requests), "-t", str(sz.loss_timeout_ms),
                         "-r", str(sz.loss_retries), HOST, str(srv.port)], timeout=300)
            attempts = [int(a) for a in re.findall(r"^seq=\d+ .*attempts=(\d+)", r.out, re.M)]
            lost = len(re.findall(r"^seq=\d+ lost after", r.out, re.M))
            if r.rc not in (0, 1) or len(attempts) + lost != sz.loss_requests:
                raise BenchError(f"udp_client under {p:.0%} loss: exit {r.rc}, {len(attempts)} replies and "
                                 f"{lost} lost of {sz.loss_requests}: {r.out[-300:]} {r.err[-300:]}")
            meas.add(r.seconds)
            pred.add(predicted_ms(attempts, lost, sz.loss_timeout_ms, sz.loss_retries) / 1000)
            detail = f"{sum(a - 1 for a in attempts) + lost * sz.loss_retries} retransmissions, {lost} lost"
        loss_rows.append([f"{p:.0%}", meas.fmt(digits=3), f"{expect:.3f}", pred.fmt(digits=3),
                          fmt_ratio(ratio(meas, pred)), detail])
        loss_data[p] = {"measured": meas.values, "predicted": pred.values, "expected": expect}

    ours, peer = rate["udp_server (ours)"], rate["socat UDP echo"]
    r_udp = ratio(ours, peer)
    rep.head("UDP requests/s at 0% loss (udp_client → server)", ours.fmt(digits=0),
             "socat UDP echo: " + peer.fmt(digits=0), r_udp, "—", None)
    p30 = loss_data[0.3]
    rep.head(f"UDP {sz.loss_requests} requests at 30% loss: time ÷ backoff prediction",
             f"{statistics.median(p30['measured']):.3f} s", f"predicted {statistics.median(p30['predicted']):.3f} s",
             statistics.median(p30["measured"]) / statistics.median(p30["predicted"]), "—", None)
    rep.data["udp"] = {"rate": {k: v.values for k, v in rate.items()}, "floor": floor.values,
                       "loss": {str(k): v for k, v in loss_data.items()}}
    cmds = [f"{rel(bindir)}/udp_server -b {HOST} -p 0",
            f"socat UDP-LISTEN:PORT,bind={HOST} PIPE",
            f"udp_client -c {sz.udp_requests} {HOST} PORT                 # each server",
            f"echo_ping -u {HOST} PORT {sz.pings}                          # bench/tools/echo_ping.c",
            f"udp_server -b {HOST} -p 0 --loss P --seed 1                   # P = 0.1, 0.3",
            f"udp_client -c {sz.loss_requests} -t {sz.loss_timeout_ms} -r {sz.loss_retries} {HOST} PORT"]
    rate_rows = [[name, s.fmt(digits=0), fmt_ratio(ratio(ours, s)) if s is not ours else "1"]
                 for name, s in rate.items()]
    rate_rows.append(["loopback floor: 1-byte C ping-pong (echo_ping -u) → udp_server",
                      floor.fmt(digits=0), fmt_ratio(ratio(ours, floor))])
    rep.section(
        "## UDP (Lab 02)\n\n"
        f"Requests per second: the reference udp_client sends {sz.udp_requests} requests of 64 bytes one "
        "at a time (wall time of the whole client run, exec included; its line per request goes to a "
        "file) to the reference udp_server and to socat as a UDP echo peer. The floor is one round trip "
        "of a minimal C client (send, blocking recv), 1 / mean RTT; udp_client makes four system calls "
        "per request (sendto, poll for its timeout, recvfrom, and the write of its line), the floor two."
        "\n\n"
        + commands_block(cmds) + "\n"
        + table(["server", "requests/s", "ours ÷ this"], rate_rows)
        + f"\nUnder seeded loss (the server drops each datagram with probability P, seed 1), "
        f"{sz.loss_requests} requests with a first timeout of {sz.loss_timeout_ms} ms, doubling, "
        f"{sz.loss_retries} retransmissions at most. *Expected*: the policy's expectation, "
        "N · Σⱼ P^(j+1) · T · 2^j (timeout j expires when sends 0..j are all dropped). *Predicted*: the same "
        "sum over the attempts this run actually took (from the client's `attempts=` lines), so "
        "measured ÷ predicted shows the cost of the timers and the round trips themselves.\n\n"
        + table(["loss", "measured, s", "expected by the policy, s", "predicted from the attempts, s",
                 "measured ÷ predicted", "this run"], loss_rows)
        + "\n![udp](udp.png)\n")
    plot_udp(rep, rate, floor, loss_data)


# ---- chat (Lab 03) ----------------------------------------------------------------------------
def chat_servers(bindir: Path) -> dict[str, Callable[[Path, str], Server]]:
    def ours(work: Path, tag: str) -> Server:
        return start_ours(f"chat_server-{tag}", bindir / "chat_server", [], work)

    def ncat(work: Path, tag: str) -> Server:
        return start_peer(f"ncat-{tag}", lambda p: ["ncat", "-v", "-l", "--chat", "-m", "2000", HOST, str(p)],
                          work, r"Listening on \S+:(\d+)")
    found = {"chat_server (ours)": ours}
    if shutil.which("ncat"):
        found["ncat --chat"] = ncat
    return found


def chat_run(tools: dict, srv: Server, mode: str, args: list, deadline: float,
             opts: tuple = ()) -> tuple[dict, str]:
    """One chat_load run; returns (numbers, "") or ({}, what went wrong), and notes a dead server."""
    r = run([str(tools["chat_load"]), "-d", str(deadline), *opts, mode, HOST, str(srv.port), *map(str, args)],
            timeout=deadline + 15)
    kv = keyvals(r.out)
    if r.rc == 0 and kv and "error" not in kv:
        return kv, ""
    why = "timed out" if r.rc == -9 else kv.get("error", f"exit status {r.rc}: {r.err.strip()[-200:]}")
    if not srv.alive():
        why += f"; the server died (status {srv.proc.returncode})"
        tail = [l for l in srv.stderr_text().splitlines() if l.strip()][-1:]
        if tail:
            why += f": “{tail[0][:120]}”"
    return {}, why


def bench_chat(rep: Report, sz: Sizes, tools: dict, work: Path) -> None:
    bindir, why = build_solution("03", work)
    if bindir is None:
        rep.section(f"## Chat (Lab 03)\n\nSkipped: {why}\n")
        return
    servers = chat_servers(bindir)
    names = list(servers)
    join = {(name, n): Stat() for name in names for n in sz.join_sizes}
    joinp99 = {k: Stat() for k in join}
    rate = {name: Stat() for name in names}
    b50 = {name: Stat() for name in names}
    b99 = {name: Stat() for name in names}
    s50 = {name: Stat() for name in names}
    s99 = {name: Stat() for name in names}
    slow_note = {name: "" for name in names}
    slow_kv: dict[str, dict] = {}
    failures: dict = {}

    def measure(name: str, tag: str, mode: str, args: list) -> dict:
        with servers[name](work, tag) as srv:
            kv, why = chat_run(tools, srv, mode, args, sz.chat_deadline)
        if why:
            failures[(name, tag)] = why
        return kv

    for n in sz.join_sizes:
        for _ in range(sz.join_reps):
            for name in names:
                kv = measure(name, f"join{n}", "join", [n])
                if kv:
                    join[name, n].add(float(kv["seconds"]))
                    joinp99[name, n].add(float(kv["join_p99_us"]) / 1000)
                else:
                    join[name, n].note = f"failed: {failures[(name, f'join{n}')]}"
    for _ in range(sz.join_reps):
        for name in names:
            kv = measure(name, "rate", "rate", [sz.rate_clients, sz.rate_rounds])
            if kv:
                rate[name].add(float(kv["per_s"]))
            kv = measure(name, "bcast", "bcast", [sz.bcast_clients, sz.bcast_count])
            if kv:
                b50[name].add(float(kv["p50_us"]))
                b99[name].add(float(kv["p99_us"]))
    for name in names:
        kv = measure(name, "slow", "slow", [sz.slow_clients, sz.slow_count, sz.slow_size])
        if not kv:
            s99[name].note = f"failed: {failures[(name, 'slow')]}"
            continue
        slow_kv[name] = kv
        if int(kv["delivered"]) > 0:
            s50[name].add(float(kv["p50_us"]) / 1000)
            s99[name].add(float(kv["p99_us"]) / 1000)
        if kv["stalled"] == "1":
            slow_note[name] = (f"stalled: message {int(kv['delivered']) + 1} of {kv['sent']}/{sz.slow_count} "
                               "never reached the readers (1 s)")
        else:
            slow_note[name] = (f"all {kv['delivered']} delivered; the silent client was "
                               f"{kv.get('slow_client', '?')}")
    top = max(sz.join_sizes)
    windows: dict = {}
    for w in sz.join_windows:
        for name in names:
            with servers[name](work, f"join{top}w{w}") as srv:
                kv, why = chat_run(tools, srv, "join", [top], 30.0, ("-w", str(w)))
            windows[name, w] = (f"{float(kv['seconds']):.3f} s" if kv else f"failed: {why}")
    capacity = {}
    if sz.capacity_clients:
        for name in names:
            with servers[name](work, "capacity") as srv:
                kv, why = chat_run(tools, srv, "join", [sz.capacity_clients], sz.chat_deadline)
                alive = srv.alive()
            capacity[name] = (f"{sz.capacity_clients - int(kv['refused'])} joined, {kv['refused']} refused "
                              f"with a message, server {'running' if alive else 'dead'}" if kv else
                              f"failed: {why}")

    ours, peer = names[0], (names[1] if len(names) > 1 else None)
    def pstat(d: dict, key) -> Stat:
        return d.get(key, Stat(note="ncat not installed"))
    r_join = ratio(join[ours, top], pstat(join, (peer, top)))
    rep.head(f"Chat: {top} clients join, time", join[ours, top].fmt(unit=" s", digits=3),
             "ncat --chat: " + pstat(join, (peer, top)).fmt(unit=" s", digits=3), r_join,
             "< 0.1", None if r_join != r_join else r_join < 0.1)
    r_b = ratio(b50[ours], pstat(b50, peer))
    rep.head(f"Chat: broadcast to {sz.bcast_clients} clients, p50", b50[ours].fmt(digits=0, unit=" µs"),
             "ncat --chat: " + pstat(b50, peer).fmt(digits=0, unit=" µs"), r_b, "≤ 1",
             None if r_b != r_b else r_b <= 1.0)
    ok_slow = s99[ours].ok and s99[ours].median < 10 and slow_kv.get(ours, {}).get("stalled") == "0"
    rep.head("Chat: the others' p99 while one client stops reading", s99[ours].fmt(unit=" ms"),
             "ncat --chat: " + (s99[peer].fmt(unit=" ms") + ", then " + slow_note[peer] if peer else "n/a"),
             "—", "< 10 ms", ok_slow if s99[ours].ok else None)
    for w in sz.join_windows:
        rep.head(f"Chat: {top} clients join, {w} at a time", windows[ours, w],
                 "ncat --chat: " + windows.get((peer, w), "n/a"), "—", "—", None)
    r_rate = ratio(rate[ours], pstat(rate, peer))
    rep.head(f"Chat: lines delivered per second, {sz.rate_clients} clients", rate[ours].fmt(digits=0),
             "ncat --chat: " + pstat(rate, peer).fmt(digits=0), r_rate, "—", None)

    join_rows = []
    for n in sz.join_sizes:
        row = [str(n)]
        for name in names:
            row += [join[name, n].fmt(1000, digits=1), joinp99[name, n].fmt(digits=1)]
        if peer:
            row.append(fmt_ratio(ratio(join[ours, n], join[peer, n])))
        join_rows.append(row)
    head = ["clients"]
    for name in names:
        head += [f"{name}: all joined, ms", f"{name}: one join p99, ms"]
    if peer:
        head.append("ours ÷ ncat")
    lat_rows = []
    for name in names:
        lat_rows.append([name, rate[name].fmt(digits=0), b50[name].fmt(digits=0), b99[name].fmt(digits=0),
                         s50[name].fmt(digits=2), s99[name].fmt(digits=2), slow_note[name]])
    cap_rows = [[name, text] for name, text in capacity.items()]
    win_rows = [[str(w)] + [windows[name, w] for name in names] for w in sz.join_windows]
    rep.data["chat"] = {"join": {f"{k[0]}|{k[1]}": v.values for k, v in join.items()},
                        "rate": {k: v.values for k, v in rate.items()},
                        "bcast_p50": {k: v.values for k, v in b50.items()},
                        "bcast_p99": {k: v.values for k, v in b99.items()},
                        "slow": slow_kv, "capacity": capacity,
                        "windows": {f"{k[0]}|{k[1]}": v for k, v in windows.items()},
                        "failures": {f"{k[0]}|{k[1]}": v for k, v in failures.items()}}
    cmds = [f"{rel(bindir)}/chat_server -b {HOST} -p 0",
            f"ncat -l --chat -m 2000 {HOST} PORT                 # RLIMIT_NOFILE {NOFILE} for both",
            f"chat_load join {HOST} PORT N                     # N = {', '.join(map(str, sz.join_sizes))}",
            f"chat_load rate {HOST} PORT {sz.rate_clients} {sz.rate_rounds}",
            f"chat_load bcast {HOST} PORT {sz.bcast_clients} {sz.bcast_count}",
            f"chat_load slow {HOST} PORT {sz.slow_clients} {sz.slow_count} {sz.slow_size}"]
    if sz.join_windows:
        cmds.append(f"chat_load -d 30 -w W join {HOST} PORT {max(sz.join_sizes)}          "
                    f"# W = {', '.join(map(str, sz.join_windows))} clients joining at once (default 8)")
    if sz.capacity_clients:
        cmds.append(f"chat_load join {HOST} PORT {sz.capacity_clients}")
    text = (
        "## Chat (Lab 03)\n\n"
        "One C client driver on epoll (bench/tools/chat_load.c) against a fresh server for every run. "
        "*Join*: N clients connect, 8 at a time at most (ncat's listen backlog is 10: no SYN is dropped); "
        "a client has joined when its first line arrives; the time stops when a line sent by the last "
        "client has reached every other one (the server has said everything the joins made it say). "
        f"*Rate*: {sz.rate_clients} clients each send {sz.rate_rounds} short lines, at most 4 rounds ahead "
        "of what they have received; lines delivered per second. "
        f"*Broadcast*: one sender and {sz.bcast_clients} receivers; {sz.bcast_count} lines one at a time, "
        "each timed until the last receiver has it. "
        f"*Slow reader*: {sz.slow_clients} clients, one of which never reads (SO_RCVBUF 4096); the sender "
        f"sends {sz.slow_count} lines of {sz.slow_size} bytes, each when the {sz.slow_clients - 2} readers "
        "have the previous one; a line still missing after 1 s is a stall and ends the run. "
        f"Joins, rate and broadcast: {sz.join_reps} repetitions, interleaved; median (min–max).\n\n"
        + commands_block(cmds) + "\n"
        + table(head, join_rows) + "\n"
        + table(["server", "lines delivered/s", "broadcast p50, µs", "broadcast p99, µs",
                 "slow reader: others' p50, ms", "others' p99, ms", "slow reader: outcome"], lat_rows))
    if win_rows:
        text += (f"\nThe same {top} joins with other numbers of clients joining at once (one run each; "
                 "the table above uses 8). With one at a time, every join is a pass of the select() loop "
                 "that tells all the others; with more at once, one pass takes several joins and tells "
                 "everyone once. Beyond 10 at once, ncat's listen queue (backlog 10) overflows, SYNs are "
                 "dropped and connects wait for the kernel's retries.\n\n"
                 + table(["joining at once"] + [f"{name}: all joined" for name in names], win_rows))
    if cap_rows:
        text += (f"\nCapacity: {sz.capacity_clients} clients try to join (select()'s FD_SETSIZE is 1024).\n\n"
                 + table(["server", "outcome"], cap_rows))
    if failures:
        text += "\nRuns that failed:\n\n" + "".join(f"- {k[0]}, {k[1]}: {v}\n" for k, v in failures.items())
    rep.section(text + "\n![chat](chat.png)\n")
    plot_chat(rep, names, sz, join, b50, b99, s50, s99, slow_kv)


# ---- the harness ------------------------------------------------------------------------------
def bench_harness(rep: Report, sz: Sizes, work: Path) -> None:
    rows, data = [], {}
    labs = [lab for lab in paths.all_labs() if lab.solution.is_dir() and lab.test_module.is_file()]
    for lab in labs:
        out = work / f"grade-{lab.id}"
        cmd = ["make", "--no-print-directory", "grade", f"LAB={lab.id}", "IMPL=solutions",
               f"GRADE_FLAGS=--out {out} --quiet"]
        r = run(cmd, timeout=600)
        score = re.search(r"TOTAL\s+(\S+)", r.out)
        data[lab.id] = r.seconds
        rows.append([f"`make grade LAB={lab.id} IMPL=solutions`", f"{r.seconds:.1f}",
                     score.group(1) if score else f"exit {r.rc}", "< 15 s",
                     "met" if r.seconds < 15 else "**not met**"])
        rep.head(f"Grading lab {lab.id}'s solution", f"{r.seconds:.1f} s", "—", "—", "< 15 s", r.seconds < 15)
    if sz.make_test:
        r = run(["make", "--no-print-directory", "test"], timeout=1800)
        tail = [l for l in r.out.strip().splitlines() if l.strip()][-1:] or [""]
        data["make test"] = r.seconds
        rows.append(["`make test`", f"{r.seconds:.0f}", f"exit {r.rc}: {tail[0][:80]}", "< 300 s",
                     "met" if r.seconds < 300 else "**not met**"])
        rep.head("`make test`", f"{r.seconds:.0f} s", "—", "—", "< 5 min", r.seconds < 300)
    rep.data["harness"] = data
    rep.section(
        "## The harness\n\nWall time of each command, run once, from the top of the kit (`make grade` with "
        "`GRADE_FLAGS=--out out/bench/... --quiet`, so that the bench does not overwrite anyone's "
        "out/grade-NN-solutions); `make test` includes the smoke run of this bench.\n\n"
        + table(["command", "seconds", "result", "target", ""], rows))


# ---- plots ------------------------------------------------------------------------------------
def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _bars(ax, labels: list[str], stats: list[Stat], scale: float = 1.0, colors=None) -> None:
    """Bars at the median with the range of the runs as error bars; each value is written above
    the top of its error bar (never across it), with headroom left for it."""
    meds = [s.median * scale if s.ok else 0 for s in stats]
    lo = [(s.median - min(s.values)) * scale if s.ok else 0 for s in stats]
    hi = [(max(s.values) - s.median) * scale if s.ok else 0 for s in stats]
    ax.bar(range(len(labels)), meds, yerr=[lo, hi], capsize=4,
           color=colors or ["#2b6cb0"] + ["#a0aec0"] * (len(labels) - 1))
    ax.set_xticks(range(len(labels)), labels, rotation=15, ha="right")
    for i, m in enumerate(meds):
        ax.annotate(f"{m:.3g}", (i, m + hi[i]), ha="center", va="bottom", fontsize=8, xytext=(0, 3),
                    textcoords="offset points")
    top = max([m + h for m, h in zip(meds, hi)] or [0])
    if top > 0:
        ax.set_ylim(0, top * 1.15)


def _save(rep: Report, fig, name: str) -> None:
    # The machine and the date at the foot of the figure, inside the image.
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.text(0.01, 0.012, rep.stamp, fontsize=7, color="#4a5568", ha="left", va="bottom")
    fig.savefig(rep.out / name, dpi=90)
    _plt().close(fig)
    rep.plots.append(name)


def plot_echo(rep: Report, thr: dict, lat50: dict, lat99: dict) -> None:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    names = list(thr)
    _bars(a, names, [thr[n] for n in names], 1 / GiB,
          ["#2b6cb0"] + ["#a0aec0"] * (len(names) - 2) + ["#e53e3e"] if "iperf3" in thr else None)
    a.set_ylabel("GiB/s")
    a.set_title("Echo throughput (iperf3: one way, the ceiling)")
    names = list(lat50)
    x = range(len(names))
    b.bar([i - 0.2 for i in x], [lat50[n].median for n in names], 0.4, label="p50")
    b.bar([i + 0.2 for i in x], [lat99[n].median for n in names], 0.4, label="p99")
    b.set_xticks(list(x), names, rotation=15, ha="right")
    b.set_ylabel("µs")
    b.set_title("1-byte round trip (lower is better)")
    b.legend()
    _save(rep, fig, "echo.png")


def plot_udp(rep: Report, rate: dict, floor: Stat, loss: dict) -> None:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    labels = list(rate) + ["C ping-pong floor"]
    _bars(a, labels, list(rate.values()) + [floor], 1 / 1000)
    a.set_ylabel("thousand requests/s")
    a.set_title("UDP requests per second, 0% loss")
    ps = list(loss)
    x = range(len(ps))
    b.bar([i - 0.27 for i in x], [statistics.median(loss[p]["measured"]) for p in ps], 0.27, label="measured")
    b.bar(list(x), [statistics.median(loss[p]["predicted"]) for p in ps], 0.27, label="predicted (attempts)")
    b.bar([i + 0.27 for i in x], [loss[p]["expected"] for p in ps], 0.27, label="expected (policy)")
    b.set_xticks(list(x), [f"{p:.0%} loss" for p in ps])
    b.set_ylabel("seconds")
    b.set_title("Time for the requests under seeded loss")
    b.legend()
    _save(rep, fig, "udp.png")


def plot_chat(rep: Report, names: list, sz: Sizes, join: dict, b50: dict, b99: dict, s50: dict, s99: dict,
              slow_kv: dict) -> None:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in names:
        xs = [n for n in sz.join_sizes if join[name, n].ok]
        a.plot(xs, [join[name, n].median for n in xs], "o-", label=name)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xticks(list(sz.join_sizes), [str(n) for n in sz.join_sizes])
    a.minorticks_off()
    a.set_xlabel("clients")
    a.set_ylabel("seconds until all have joined")
    a.set_title("Join time")
    a.legend()
    groups = [("broadcast p50", b50, 1), ("broadcast p99", b99, 1), ("slow reader: p50", s50, 1000),
              ("slow reader: p99", s99, 1000)]
    # The values span four decades, so the axis is logarithmic; a bar on a log axis has no
    # meaningful base (its length depends on where the axis starts), so each value is a point
    # at the median with the range of the runs, side by side per server.
    width = 0.8 / max(1, len(names))
    for k, name in enumerate(names):
        stats = [(g[1][name], g[2]) for g in groups]
        xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(groups))]
        pts = [(x, st.median * f, (st.median - min(st.values)) * f, (max(st.values) - st.median) * f)
               for x, (st, f) in zip(xs, stats) if st.ok and st.median > 0]
        if pts:
            b.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[[p[2] for p in pts], [p[3] for p in pts]],
                       fmt="o", capsize=3, label=name)
        st, f = stats[3]
        if slow_kv.get(name, {}).get("stalled") == "1" and st.ok:
            b.annotate("then stalled", (xs[3], max(st.values) * f), ha="center", va="bottom", color="#c53030",
                       fontsize=8, xytext=(0, 3), textcoords="offset points")
    b.axhline(10000, color="#c53030", lw=0.8, ls="--")
    b.annotate("10 ms target (slow reader p99)", (-0.4, 10000), fontsize=7, color="#c53030", va="bottom",
               xytext=(0, 2), textcoords="offset points")
    b.set_yscale("log")
    b.set_xlim(-0.5, len(groups) - 0.5)
    b.set_xticks(range(len(groups)), [g[0] for g in groups], rotation=10)
    b.set_ylabel("µs until the last receiver has the line")
    b.set_title(f"Latency of one line to {sz.bcast_clients} clients")
    b.legend()
    _save(rep, fig, "chat.png")


# ---- main -------------------------------------------------------------------------------------
NOTES = """## Reading the numbers

- **Echo beside iperf3.** An echo moves every byte through four copies between the programs and
  the kernel (the client's send, the server's recv and send, the client's recv), iperf3's one-way
  stream through two. With both cores busy, half of iperf3's rate is about the most an echo
  through recv() and send() can reach on two cores; the 0.5 target sits at that bound, so load from
  other processes decides on which side of it a run falls.
- **Joins.** The reference tells every client `* guestN joined`, one send() per client per pass of
  its select() loop: 1000 joins cost about 1000²/k send()s, where k is the number of joins one pass
  takes, and every client must read them. The driver lets 8 clients join at once (ncat's listen
  backlog is 10), so k ≤ 8; the table of joins at once shows how the time falls as k grows. ncat
  sends every client the whole `already connected` list at every join: about 8 GB for 1000 joins.
  Its time is bandwidth, ours is wake-ups, and wake-ups suffer more from other load on the machine.
- **Latency** is measured until the last receiver has the line, by one driver that reads 100
  sockets in turn: a few µs of each broadcast figure are the driver's own recv() calls, the same
  for both servers. A p99 of about 40 ms from ncat, where it shows, fits Nagle's algorithm holding a
  line until the delayed ACK of the one before (ncat relays each line with one send() and does not
  set TCP_NODELAY; the reference does).
- **Noise.** This is a shared two-core virtual machine: the load average at the start and the
  end, and the busy processes, say how quiet the run was. Ranges wider than a factor of two in a
  row mean that other processes took the CPU during it; the ratios, from back-to-back pairs, move
  less than the values.
"""


def write_results(rep: Report, machine: str, busy: list[str], argv: list[str], seconds: float) -> Path:
    lines = ["# socklab benchmarks" + (" (smoke run)" if rep.smoke else ""), "",
             f"Machine: {machine}.", ""]
    if busy:
        lines += [f"Other busy processes at the start (they take CPU from every measurement): "
                  f"{'; '.join(busy)}.", ""]
    end_load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    lines += [f"Written by `{' '.join(argv)}` (bench/bench.py) in {seconds:.0f} s; load average at the end "
              f"{end_load}. "
              "Benchmarks are not tests: a missed target is reported here and never fails CI.", "",
              "A ratio is the median of the per-repetition ratios: ours and the peer ran back to back "
              "in each repetition, so that load from other processes falls on both alike. "
              "Values are medians, with the range (min–max) in parentheses.", "",
              "## Headline: ours ÷ the peer, from the same run", "",
              table(["measure", "ours", "beside", "ratio", "target", ""], [list(h) for h in rep.headline])]
    if rep.problems:
        lines += ["## Parts that did not run", ""] + [f"- {p}" for p in rep.problems] + [""]
    lines += rep.sections
    lines += [NOTES]
    path = rep.out / "results.md"
    path.write_text("\n".join(lines))
    rep.data["pids"] = STARTED
    (rep.out / "results.json").write_text(json.dumps(rep.data, indent=1, default=str) + "\n")
    return path


def bench_http(rep: Report, sz: Sizes, work: Path) -> None:
    """Lab 05: http_server beside nginx and lighttpd under wrk (bench/http_bench.py)."""
    sys.path.insert(0, str(KIT / "bench"))
    import http_bench
    http_bench.bench_http(rep, sz, work, Server, BenchError)


def bench_tls(rep: Report, sz: Sizes, work: Path) -> None:
    """Lab 06: tls_echo_server beside openssl s_server and socat (bench/tls_bench.py)."""
    sys.path.insert(0, str(KIT / "bench"))
    import tls_bench
    tls_bench.bench_tls(rep, sz, work, Server, BenchError)


def bench_ws(rep: Report, sz: Sizes, work: Path) -> None:
    """Lab 07: ws_chat_server beside Lab 03's chat_server and a Python peer (bench/ws_bench.py)."""
    sys.path.insert(0, str(KIT / "bench"))
    import ws_bench
    ws_bench.bench_ws(rep, sz, work, Server, BenchError)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check that every part runs (about 5 s)")
    ap.add_argument("--only", default="echo,udp,chat,http,tls,ws,harness", help="comma-separated parts to run")
    ap.add_argument("--reps", type=int, help="repetitions of each measure (default 5; 1 with --smoke)")
    ap.add_argument("--out", help="folder for results.md and the plots (default bench/, or a temporary folder "
                    "with --smoke)")
    ap.add_argument("--work", help="folder for builds and logs (default out/bench)")
    args = ap.parse_args(argv)
    sz = SMOKE if args.smoke else Sizes()
    if args.reps:
        sz.reps = sz.echo_reps = args.reps
        sz.join_reps = min(sz.join_reps, args.reps)
    out = Path(args.out) if args.out else (KIT / "bench" if not args.smoke else Path(tempfile.mkdtemp(prefix="bench-")))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else (out / "work" if args.smoke else KIT / "out" / "bench")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # The reference programs built here are root's alone: never executable by a sandbox user id.
    if os.geteuid() == 0:
        os.chmod(work, 0o700)
        if (KIT / "out").is_dir():
            os.chmod(KIT / "out", 0o700)
    _raise_nofile()
    started = time.monotonic()
    machine = machine_line()
    busy = busy_processes() if not args.smoke else []
    rep = Report(out, args.smoke)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    # Importing matplotlib takes most of a second: let it overlap the builds.
    importer = threading.Thread(target=_plt, daemon=True)
    importer.start()
    try:
        tools = build_all(work, [lab for part, lab in (("echo", "01"), ("udp", "02"), ("chat", "03"))
                                 if part in parts])
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    steps = {"echo": lambda: bench_echo(rep, sz, tools, work), "udp": lambda: bench_udp(rep, sz, tools, work),
             "chat": lambda: bench_chat(rep, sz, tools, work), "harness": lambda: bench_harness(rep, sz, work),
             "http": lambda: bench_http(rep, sz, work), "tls": lambda: bench_tls(rep, sz, work),
             "ws": lambda: bench_ws(rep, sz, work)}
    for part in parts:
        if part not in steps:
            print(f"bench: no part {part!r}; parts: {', '.join(steps)}", file=sys.stderr)
            return 2
        if part == "harness" and not sz.harness:
            continue
        t0 = time.monotonic()
        print(f"bench: {part} ...", flush=True)
        try:
            steps[part]()
        except BenchError as e:
            rep.problems.append(f"{part}: {e}")
            print(f"bench: {part} failed: {e}", file=sys.stderr)
        print(f"bench: {part} done in {time.monotonic() - t0:.1f} s", flush=True)
    cmd = ["make", "bench"] if not args.smoke else ["bench/bench.py", *(argv if argv is not None else sys.argv[1:])]
    path = write_results(rep, machine, busy, cmd, time.monotonic() - started)
    print(f"bench: {path}")
    for h in rep.headline:
        print(f"  {h[0]}: ours {h[1]}; {h[2]}; ratio {h[3]}; target {h[4]} {h[5]}")
    return 1 if rep.problems else 0


if __name__ == "__main__":
    sys.exit(main())
