"""Lab 04 (socket options, measured): running sockopt_lab, the kernel's view, the harness's clock.

Loaded as a pytest plugin for every run (harness/plugin.py), so Lab 04's tests and an
instructor's hidden tests get the fixture `lab04_tracer` by name and may import the helpers:

    from harness.labs.lab04 import run_lab, ss_state, Trace

What is here:
- running the program: `run_lab()` runs `sockopt_lab ARGS` to the end and parses its JSON
  lines into a `Run` (with the harness's own monotonic clock around it);
- the kernel's view: `ss_rows()`, `ss_state()`, `harness_bind()`, `kernel_bufsizes()`,
  `sysctl()`; a test that needs `ss` is skipped, with the reason, where ss is missing;
- the harness's own clock inside the program: `lab04_trace.c`, preloaded (LD_PRELOAD),
  logs when each socket call began and returned (CLOCK_MONOTONIC, the clock the
  program's `start_ns` reads). `Trace` turns that log into the rounds and transfers the
  harness observed, so that a round that claims to start after its first send(), or to
  end before its reply was read, is caught. Where the log is empty (a statically linked
  sanitizer runtime, as clang's) the checks that need it are skipped, never failed.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from harness import feedback as fb
from harness.paths import time_scale
from harness.procs import SANITIZER_ENV

HERE = Path(__file__).resolve().parent


# ---- running the program -------------------------------------------------------------------
class Run:
    """One finished run of sockopt_lab: its program, JSON lines, the harness's clock around it,
    and what the tracer saw (a Trace, or None)."""

    def __init__(self, prog, lines, t0_ns, t1_ns, trace=None):
        self.prog = prog
        self.lines = lines
        self.t0_ns = t0_ns
        self.t1_ns = t1_ns
        self.trace = trace

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
    """Every line of stdout as a JSON object; fail on the first that is not one (§3.2)."""
    lines = []
    for i, raw in enumerate(prog.stdout.decode("utf-8", "replace").splitlines()):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as e:
            fb.fail(f"line {i + 1} of sockopt_lab's stdout is not a JSON object ({e}) [R3.2-1].",
                    received=raw.encode(), details=[prog.describe()],
                    hint=f"stdout carries JSON lines and nothing else; messages go to stderr (§3.2, {hint})")
        if not isinstance(obj, dict) or "experiment" not in obj or "kind" not in obj:
            fb.fail(f"line {i + 1} of stdout is not an object with \"experiment\" and \"kind\" [R3.2-1].",
                    received=raw.encode(), details=[prog.describe()],
                    hint="every line is one JSON object that starts with experiment and kind (§3.2)")
        lines.append(obj)
    return lines


def run_lab(spawn, *args, timeout=20.0, hint="§3", tracer=None, env=None):
    """Run `sockopt_lab ARGS` to the end (stdin at EOF); fail unless it exits 0 in time.

    With `tracer` (the lab04_tracer fixture) the run is traced: Run.trace holds what the
    harness saw of its socket calls (or None where tracing is not possible)."""
    env = dict(env or {})
    trace_path = tracer.prepare(env, spawn) if tracer is not None else None
    t0 = time.monotonic_ns()
    prog = spawn("sockopt_lab", *args, stdin=b"", env=env)
    rc = prog.wait(timeout)
    t1 = time.monotonic_ns()
    command = f"sockopt_lab {' '.join(map(str, args))}"
    if rc is None:
        fb.fail(f"`{command}` did not finish within {timeout * time_scale():.0f} s.",
                details=[prog.describe()],
                hint=f"every experiment must end by itself; a recv() with no timeout waits forever ({hint})")
    if rc != 0:
        fb.fail(f"`{command}` ended with {prog.exit_text()}, expected exit status 0 [R3.1-3].",
                details=[prog.describe()], hint=f"the message on stderr says which call failed ({hint})")
    trace = Trace.load(trace_path) if trace_path is not None else None
    return Run(prog, parse_lines(prog, hint), t0, t1, trace)


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
    """'127.0.0.1:80' or '[::1]:80' -> (host, port); (None, None) if it is neither."""
    m = re.fullmatch(r"\[?([^\]]*)\]?:(\d+)", text or "")
    if not m:
        return None, None
    return m.group(1), int(m.group(2))


def addr_text(host: str, port: int) -> str:
    """(host, port) -> 'ADDR:PORT', with brackets for IPv6 (§3.2)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---- the kernel's view ---------------------------------------------------------------------
def need_ss() -> None:
    """Skip the test, saying why, where `ss` (iproute2) is missing."""
    if shutil.which("ss") is None:
        pytest.skip("needs ss (Debian's iproute2 package) to see the kernel's sockets: "
                    "install it with `sudo apt-get install -y iproute2`")


def ss_rows(port, *flags):
    """Rows of `ss -tanH` for sockets with local or remote port `port`: (state, local, peer, rest)."""
    need_ss()
    cmd = ["ss", "-tanH", *flags, "state", "all", f"( sport = :{port} or dport = :{port} )"]
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10 * time_scale(),
                             stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"the harness could not run ss to see the kernel's sockets ({e})")
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


def ss_timer_seconds(text):
    """'timer:(keepalive,4min59sec,0)' -> ('keepalive', 299.0), or (None, None)."""
    m = re.search(r"timer:\((\w+),([^,]*),", text)
    if not m:
        return None, None
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(min|sec|ms)", m.group(2)):
        total += float(value) * {"min": 60, "sec": 1, "ms": 0.001}[unit]
    return m.group(1), total


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
    """A number from /proc/sys (net.core.rmem_max), or None where there is no such file."""
    try:
        return int(Path("/proc/sys/" + name.replace(".", "/")).read_text())
    except (OSError, ValueError):
        return None


# ---- the harness's clock inside the program (lab04_trace.c) --------------------------------
@dataclass
class Call:
    """One traced socket call: who, what, on which fd, its result, and when (CLOCK_MONOTONIC ns)."""

    pid: int
    call: str
    fd: int
    ret: int
    t0: int
    t1: int


@dataclass
class Span:
    """What the harness saw of one round or transfer: from the entry of its first send() to the
    return of the recv() that completed it, and the bytes each way."""

    first_send: int
    last_recv: int
    sent: int = 0
    received: int = 0
    sends: int = 0
    last_send_start: int = 0
    after: int = 0  # when the connection it used existed (accept() returned)


class Trace:
    """The socket calls of one traced run, in order."""

    def __init__(self, calls: list[Call]):
        self.calls = calls

    @classmethod
    def load(cls, path: Path) -> Optional["Trace"]:
        """The calls logged in `path` (then removed); None when there are none, or when a
        line could not be written (the tracer then leaves PATH.overflow): a partial trace
        would misjudge a correct program."""
        overflow = Path(str(path) + ".overflow")
        try:
            text = None if overflow.exists() else path.read_text()
        except OSError:
            text = None
        finally:
            for p in (path, overflow):
                try:
                    p.unlink()
                except OSError:
                    pass
        if text is None:
            return None
        calls = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 6:
                try:
                    calls.append(Call(int(parts[0]), parts[1], int(parts[2]), int(parts[3]),
                                      int(parts[4]), int(parts[5])))
                except ValueError:
                    continue
        return cls(calls) if calls else None

    def connections(self):
        """Each connection the main process made: (connect Call, accept Call or None, its calls).

        A connection's calls run from its connect() to the next connect() of the main process;
        the child processes' calls (bufsize's receiver) are kept with the connection they
        served (the one whose accepted fd they use)."""
        main = self.calls[0].pid
        starts = [i for i, c in enumerate(self.calls) if c.pid == main and c.call == "connect"]
        out = []
        for k, i in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(self.calls)
            chunk = self.calls[i:end]
            acc = next((c for c in chunk if c.pid == main and c.call == "accept" and c.ret >= 0), None)
            out.append((self.calls[i], acc, chunk))
        return out

    def rounds(self, request: int, reply: int) -> list[list[Span]]:
        """Per connection, the request/response rounds: the client (the connect()ed fd) sends
        `request` bytes and reads `reply` bytes back. A round begins at the client's first
        send() after the previous reply was complete and ends when the client has read its
        reply's last byte."""
        halves = []
        for conn, acc, chunk in self.connections():
            cfd, spans, cur, got = conn.fd, [], None, 0
            for c in chunk:
                if c.pid != conn.pid or c.fd != cfd or c.ret <= 0:
                    continue
                if c.call == "send":
                    if cur is None:
                        cur = Span(first_send=c.t0, last_recv=0, after=acc.t1 if acc else conn.t1)
                    cur.sent += c.ret
                    cur.sends += 1
                    cur.last_send_start = c.t0
                elif c.call == "recv" and cur is not None:
                    cur.received += c.ret
                    got += c.ret
                    if cur.received >= reply:
                        cur.last_recv = c.t1
                        spans.append(cur)
                        cur = None
            halves.append(spans)
        return halves

    def transfers(self) -> list[Span]:
        """Per connection, a bulk transfer: the client's data sends (all but a last small reply
        read), and the bytes that any process received on the accepted fd."""
        out = []
        for conn, acc, chunk in self.connections():
            sends = [c for c in chunk if c.pid == conn.pid and c.fd == conn.fd and c.call == "send" and c.ret > 0]
            recvs = [c for c in chunk if c.pid == conn.pid and c.fd == conn.fd and c.call == "recv" and c.ret > 0]
            if not sends:
                continue
            span = Span(first_send=sends[0].t0, last_recv=recvs[-1].t1 if recvs else 0,
                        sent=sum(c.ret for c in sends), last_send_start=sends[-1].t0,
                        after=acc.t1 if acc else conn.t1)
            if acc is not None:
                span.received = sum(c.ret for c in chunk if c.pid != conn.pid and c.fd == acc.ret
                                    and c.call == "recv" and c.ret > 0)
            out.append(span)
        return out

    def unclosed_sockets(self) -> list[Call]:
        """The socket() and accept() calls of the main process whose socket was never closed
        (fd numbers are reused, so the calls are followed in order)."""
        main = self.calls[0].pid
        open_now: dict[int, Call] = {}
        for c in self.calls:
            if c.pid != main:
                continue
            if c.call in ("socket", "accept") and c.ret >= 0:
                open_now[c.ret] = c
            elif c.call == "close" and c.ret == 0:
                open_now.pop(c.fd, None)
        return list(open_now.values())

    def calls_on_client(self, call: str):
        """Every `call` on a connect()ed fd of the main process: (connection's accept/connect, Call)."""
        out = []
        for conn, acc, chunk in self.connections():
            for c in chunk:
                if c.pid == conn.pid and c.fd == conn.fd and c.call == call:
                    out.append((acc or conn, c))
        return out


class Tracer:
    """Builds lab04_trace.so once per session next to the lab's programs; prepares traced runs."""

    _built: dict = {}

    def __init__(self, bin_dir: Path):
        self.lib = self._build(bin_dir)

    @classmethod
    def _build(cls, bin_dir: Path) -> Optional[Path]:
        key = str(bin_dir)
        if key not in cls._built:
            lib = bin_dir / "lab04_trace.so"
            cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
            result = None
            if cc:
                tmp = bin_dir / f".lab04_trace.{os.getpid()}.so"
                try:
                    r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(HERE / "lab04_trace.c"),
                                        "-ldl"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
                    if r.returncode == 0:
                        os.chmod(tmp, 0o755)
                        os.replace(tmp, lib)
                        result = lib
                except (OSError, subprocess.SubprocessError):
                    result = None
            cls._built[key] = result
        return cls._built[key]

    def prepare(self, env: dict, spawn) -> Optional[Path]:
        """Add the preload to `env`; return the (empty) trace file that the traced program can
        write (spawn.shared_file(): in the sandbox, its own working folder), or None."""
        if self.lib is None:
            return None
        try:
            name = spawn.shared_file("lab04-trace-")
        except OSError:
            return None
        env["LD_PRELOAD"] = str(self.lib)
        env["SOCKLAB_TRACE"] = str(name)
        # gcc's ASan runtime wants to come first; the tracer only forwards to it.
        asan = env.get("ASAN_OPTIONS", SANITIZER_ENV["ASAN_OPTIONS"])
        env["ASAN_OPTIONS"] = asan + ":verify_asan_link_order=0"
        return name


@pytest.fixture
def lab04_tracer(lab_build) -> Tracer:
    """Traces sockopt_lab's socket calls with the harness's own clock: pass as run_lab(tracer=...)."""
    return Tracer(lab_build.bin_dir)
