"""Run a program under test: its own process group, captured output, deadlines, and a clean end.

A Program is started with start_new_session, so that it and anything it forks share one
process group that can be signalled at once. Its stdout and stderr are read by threads
into bounded buffers (a program that floods its output cannot exhaust memory), and
readiness is a line the program prints, never a sleep.

Student programs are untrusted: each one runs with resource limits (see Limits).
"""
from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import psutil

from .paths import time_scale

#: The line every server prints once it is ready: "listening on ADDR:PORT".
LISTENING = re.compile(rb"listening on (\S+):(\d+)\s*$", re.M)

#: Sanitizer and crash reports worth quoting when a program fails (memory leaks excepted:
#: see _LEAK).
_SANITIZER = re.compile(
    rb"(==\d+==\s*ERROR: AddressSanitizer|runtime error:|==\d+==\s*ABORTING"
    rb"|==\d+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param"
    rb"|Mismatched free))"
)
#: A memory leak found at exit (LeakSanitizer, or valgrind's definite leaks). A leak is charged
#: once, in the lab's dedicated "frees everything at exit" test (Program.leak_report()), never
#: at every test's teardown.
_LEAK = re.compile(rb"==\d+==\s*ERROR: LeakSanitizer|==\d+== [\d,]+ bytes in [\d,]+ blocks are definitely lost")

#: Environment for sanitizer builds: print stacks, never hide a report. A memory error aborts
#: the program (SIGABRT, a crash); undefined behaviour exits 87. A leak only prints its report
#: and keeps the program's own exit status (exitcode=0 is LeakSanitizer's "report, do not
#: die", shared by ASan's common flags, hence abort_on_error for the real errors), so that one
#: leaked buffer costs points in one test, not in every test that checks an exit status.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:disable_coredump=1:exitcode=0:print_summary=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=87",
    "LSAN_OPTIONS": "exitcode=0",
}


class ProgramError(AssertionError):
    """A program did something a test can report: exited early, never became ready, crashed."""


@dataclass
class Limits:
    """Resource limits applied to a student program before exec (setrlimit(2)).

    cpu_s: CPU seconds (RLIMIT_CPU). fsize: bytes a program may write to one file
    (RLIMIT_FSIZE). nofile: open files (RLIMIT_NOFILE). data: bytes of heap and data
    (RLIMIT_DATA; RLIMIT_AS cannot bound an ASan build, which reserves terabytes of
    virtual space). nproc: processes for the user (RLIMIT_NPROC; ignored for root).
    address_space: bytes of virtual memory (RLIMIT_AS), for plain builds only.
    None leaves a limit as inherited.

    uid, gid: when set (the grader runs as root), the program drops to this unprivileged
    user and group, with no supplementary groups and no way back (PR_SET_NO_NEW_PRIVS),
    after the limits are set. See harness/sandbox/.
    nice: added to the program's nice value (a program that spins yields to the harness).
    cgroups: cgroup folders the program joins before exec (harness/sandbox/limits.py).
    """

    cpu_s: Optional[int] = 60
    fsize: Optional[int] = 64 << 20
    nofile: Optional[int] = 4096
    data: Optional[int] = None
    nproc: Optional[int] = None
    core: int = 0
    address_space: Optional[int] = None
    uid: Optional[int] = None
    gid: Optional[int] = None
    nice: Optional[int] = None
    cgroups: tuple = ()

    def apply(self) -> None:
        """Set the limits in the calling process (runs in the child, before exec)."""
        for cg in self.cgroups:
            fd = os.open(os.path.join(cg, "cgroup.procs"), os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
        pairs = [
            (resource.RLIMIT_CPU, self.cpu_s),
            (resource.RLIMIT_FSIZE, self.fsize),
            (resource.RLIMIT_NOFILE, self.nofile),
            (resource.RLIMIT_DATA, self.data),
            (resource.RLIMIT_NPROC, self.nproc),
            (resource.RLIMIT_CORE, self.core),
            (resource.RLIMIT_AS, self.address_space),
        ]
        for which, value in pairs:
            if value is None:
                continue
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            # Lower the hard limit too, so the program cannot raise its own soft limit back.
            resource.setrlimit(which, (value, value))
        if self.nice:
            os.nice(self.nice)
        if self.gid is not None:
            os.setgroups([])
            os.setresgid(self.gid, self.gid, self.gid)
        if self.uid is not None:
            _no_new_privs()
            os.setresuid(self.uid, self.uid, self.uid)


try:  # loaded here, not in the forked child: importing after fork() can deadlock
    import ctypes
    _LIBC = ctypes.CDLL(None, use_errno=True)
except (ImportError, OSError):
    _LIBC = None


def _no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS): a set-user-ID program run later cannot regain privileges."""
    if _LIBC is not None:
        _LIBC.prctl(38, 1, 0, 0, 0)


class _Capture:
    """Reads one pipe in a thread into a buffer of at most `cap` bytes; the rest is counted and dropped."""

    def __init__(self, pipe, cap: int):
        self.buf = bytearray()
        self.dropped = 0
        self.cap = cap
        self.closed = False
        self.cond = threading.Condition()
        self._pipe = pipe
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = self._pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self.cond:
                if not chunk:
                    self.closed = True
                    self.cond.notify_all()
                    break
                room = self.cap - len(self.buf)
                self.buf += chunk[:room]
                self.dropped += max(0, len(chunk) - room)
                self.cond.notify_all()
        self._pipe.close()

    def wait_until(self, test, deadline: float, alive):
        """Wait until test(buffer) is truthy, the deadline (monotonic s) passes, or EOF; returns test's last value."""
        with self.cond:
            while True:
                value = test(self.buf)
                if value or self.closed or not alive():
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return value
                self.cond.wait(min(left, 0.05))

    def wait_for(self, pattern: re.Pattern, deadline: float, alive) -> Optional[re.Match]:
        """The first match of `pattern`, waiting until `deadline` (monotonic s) or EOF."""
        return self.wait_until(pattern.search, deadline, alive)

    def wait_len(self, n: int, deadline: float) -> bool:
        """Wait until at least n bytes were captured; False at the deadline or EOF."""
        with self.cond:
            while len(self.buf) < n:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return len(self.buf) >= n
                self.cond.wait(min(left, 0.05))
            return True

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def snapshot(self) -> bytes:
        with self.cond:
            return bytes(self.buf)


StdinSpec = Union[None, bytes, str, Path, int]


class _SignalStatusPopen(subprocess.Popen):
    """A Popen whose exit status 128+N (how a wrapper such as bwrap reports that the program
    died of signal N) reads as -N, like a program run directly."""

    @staticmethod
    def _as_signal(rc: Optional[int]) -> Optional[int]:
        return -(rc - 128) if rc is not None and 128 < rc < 128 + 65 else rc

    def poll(self):
        return self._as_signal(super().poll())

    def wait(self, timeout=None):
        return self._as_signal(super().wait(timeout))


class Program:
    """A program under test, in its own process group.

    Args:
        argv: the command; argv[0] is a path to the binary.
        name: how messages name it (default: the binary's file name).
        stdin: None (an open pipe: use write_stdin/close_stdin), bytes (written by a
            thread, then closed), a Path (the file is opened as stdin) or subprocess.DEVNULL.
        env: extra environment variables, on top of SANITIZER_ENV.
        limits: resource limits (Limits); None for none.
        wrapper: a command prefix (for example a sandbox: unshare, setpriv).
        stdout_cap: bytes of stdout kept in memory (default 64 MiB); stderr keeps 1 MiB.
        signal_status: the wrapper reports death by signal N as exit status 128+N (bwrap).
        depth: how many generations below the started process the program itself runs (2
            under bwrap, whose monitor forks the PID namespace's init, which forks the program):
            `pid` is then the program's, for /proc/PID, and its process group (a new one: bwrap
            --new-session) is what send_signal() signals (SIGKILL goes to the wrapper's too).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: Optional[str] = None,
        stdin: StdinSpec = None,
        env: Optional[dict] = None,
        cwd: Optional[Path] = None,
        limits: Optional[Limits] = None,
        wrapper: Sequence[str] = (),
        stdout_cap: int = 64 << 20,
        signal_status: bool = False,
        depth: int = 0,
    ):
        self.argv = [str(a) for a in argv]
        self.name = name or Path(self.argv[0]).name
        full_env = dict(os.environ)
        full_env.update(SANITIZER_ENV)
        full_env.update(env or {})
        self._stdin_bytes = None
        stdin_arg = subprocess.PIPE
        self._stdin_file = None
        if isinstance(stdin, (bytes, bytearray)):
            self._stdin_bytes = bytes(stdin)
        elif isinstance(stdin, (str, Path)):
            self._stdin_file = open(stdin, "rb")
            stdin_arg = self._stdin_file
        elif isinstance(stdin, int):
            stdin_arg = stdin
        lim = limits if limits is not None else Limits()
        self.started = time.monotonic()
        self.signals_sent: list[int] = []
        #: For the diagnosis of a failed test (feedback.program_diagnosis): did the program
        #: announce "listening on" (a server), and did a test wait for its end (wait())?
        self.was_ready = False
        self.awaited = False
        popen = _SignalStatusPopen if signal_status else subprocess.Popen
        for attempt in range(3):
            try:
                self.proc = popen(list(wrapper) + self.argv, stdin=stdin_arg, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, cwd=cwd, env=full_env, start_new_session=True,
                                  preexec_fn=lim.apply, close_fds=True)
                break
            except subprocess.SubprocessError:
                # Limits.apply() failed in the child: on a loaded machine a cgroup write or
                # setresuid() can fail for a moment (EAGAIN, EBUSY; seen at load 15 by the stress
                # check). Python does not say which step; a second try after a pause succeeds.
                if attempt == 2:
                    raise
                time.sleep(0.1 * (attempt + 1))
        self.pgid = self.proc.pid
        self._depth = depth
        self._inner: Optional[int] = None
        self._out = _Capture(self.proc.stdout, stdout_cap)
        self._err = _Capture(self.proc.stderr, 1 << 20)
        if self._stdin_bytes is not None:
            threading.Thread(target=self._feed, args=(self._stdin_bytes,), daemon=True).start()

    # ---- input -----------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
        except (BrokenPipeError, OSError, ValueError):
            pass
        finally:
            self.close_stdin()

    def write_stdin(self, data: bytes) -> None:
        """Write bytes to the program's stdin now (raises ProgramError if it has exited)."""
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as e:
            raise ProgramError(f"{self.name} stopped reading its stdin ({e}).\n{self.describe()}")

    def close_stdin(self) -> None:
        """Close the program's stdin: it reads EOF."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    # ---- output ----------------------------------------------------------------------
    @property
    def pid(self) -> int:
        """The program's process id (below its wrapper, if it has one that forks: see `depth`)."""
        if not self._depth:
            return self.proc.pid
        if self._inner is None:
            pid = self.proc.pid
            for _ in range(self._depth):
                kids = _children(pid)
                if not kids:
                    return self.proc.pid
                pid = kids[0]
            self._inner = pid
        return self._inner

    @property
    def stdout(self) -> bytes:
        """Everything captured from stdout so far."""
        return self._out.snapshot()

    @property
    def stderr(self) -> bytes:
        """Everything captured from stderr so far."""
        return self._err.snapshot()

    def stderr_tail(self, lines: int = 15) -> str:
        """The last lines of stderr, as text, for a failure message."""
        text = self.stderr.decode("utf-8", "replace").rstrip("\n").splitlines()
        if not text:
            return "(stderr was empty)"
        tail = text[-lines:]
        more = f"... ({len(text) - len(tail)} earlier lines)\n" if len(text) > len(tail) else ""
        return more + "\n".join(tail)

    def alive(self) -> bool:
        """True while the program has not exited."""
        return self.proc.poll() is None

    def wait_stdout(self, pattern: Union[re.Pattern, bytes], timeout: float) -> Optional[re.Match]:
        """Wait up to `timeout` seconds (scaled) for `pattern` on stdout; None if it never came."""
        if isinstance(pattern, bytes):
            pattern = re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout * time_scale()
        m = self._out.wait_for(pattern, deadline, self.alive)
        if m is None and (self._out.closed or not self.alive()):
            # stdout reached EOF: the program is exiting. Let it finish and the reader drain,
            # so that the caller reports "exited" rather than "still running".
            try:
                self.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
            self._out.join(0.5)
            m = pattern.search(self._out.snapshot())
        return m

    def wait_stderr(self, pattern: Union[re.Pattern, bytes], timeout: float) -> Optional[re.Match]:
        """Wait up to `timeout` seconds (scaled) for `pattern` on stderr; None if it never came."""
        if isinstance(pattern, bytes):
            pattern = re.compile(re.escape(pattern))
        return self._err.wait_for(pattern, time.monotonic() + timeout * time_scale(), self.alive)

    def wait_stderr_count(self, pattern: re.Pattern, count: int, timeout: float) -> int:
        """Wait up to `timeout` s (scaled) until `pattern` occurs `count` times on stderr; returns the count seen."""
        n = self._err.wait_until(lambda buf: len(pattern.findall(buf)) >= count,
                                 time.monotonic() + timeout * time_scale(), self.alive)
        return count if n else len(pattern.findall(self.stderr))

    def wait_stdout_len(self, n: int, timeout: float) -> bool:
        """Wait up to `timeout` s (scaled) until stdout holds at least n bytes."""
        return self._out.wait_len(n, time.monotonic() + timeout * time_scale())

    def wait_ready(self, timeout: float = 3.0, hint: str = "") -> tuple[str, int]:
        """Wait for "listening on ADDR:PORT"; returns (addr, port) without IPv6 brackets.

        Raises ProgramError saying whether the program exited, crashed or just stayed silent.
        """
        m = self.wait_stdout(LISTENING, timeout)
        if m:
            self.was_ready = True
            return m.group(1).decode().strip("[]"), int(m.group(2))
        if self.alive():
            why = f"{self.name} never printed 'listening on ADDR:PORT' within {timeout * time_scale():.0f} s."
            why += " Does it reach listen(), and does it fflush(stdout) after printing?"
        else:
            why = f"{self.name} exited before printing 'listening on ADDR:PORT' ({self.exit_text()})."
        raise ProgramError(f"{why}\n{self.describe()}" + (f"\nHint: {hint}" if hint else ""))

    # ---- ending ----------------------------------------------------------------------
    def wait(self, timeout: float) -> Optional[int]:
        """Wait up to `timeout` s (scaled) for the program to exit; its returncode, or None."""
        try:
            rc = self.proc.wait(timeout * time_scale())
        except subprocess.TimeoutExpired:
            return None
        self.awaited = True
        # Children still in the group may have output to flush; a process that left the group
        # (setsid, a double fork) and holds the pipes open is not worth waiting for.
        drain = 2.0 if self._group_alive() else 0.5
        self._out.join(drain)
        self._err.join(drain)
        return rc

    def _group_alive(self) -> bool:
        """True while any process is left in the program's process group."""
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def send_signal(self, sig: int) -> None:
        """Send `sig` to the program's whole process group."""
        self.signals_sent.append(sig)
        groups = [self.pgid]
        if self._depth and self.pid != self.proc.pid:
            # The program's own group (its wrapper's PID-namespace init leads it, and only
            # SIGKILL reaches an init from outside); the wrapper itself gets SIGKILL only.
            try:
                inner = os.getpgid(self.pid)
            except OSError:
                inner = self.pgid
            groups = [inner] + ([self.pgid] if sig == signal.SIGKILL and inner != self.pgid else [])
        for g in groups:
            try:
                os.killpg(g, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self, sig: int = signal.SIGTERM, grace: float = 1.0) -> int:
        """Signal the group, wait `grace` s, then SIGKILL the group; always reaps. Returns the exit code."""
        # The leader may be gone while others in its group live on: kill_group kills the group regardless.
        self.signals_sent += kill_group(self.proc, grace * time_scale(), sig)
        rc = self.proc.returncode
        self.close_stdin()
        # Every writer in the group is dead, so the pipes drain at once; only a process that
        # left the group (setsid, a double fork) could hold them open: don't wait for it.
        self._out.join(0.5)
        self._err.join(0.5)
        if self._stdin_file:
            self._stdin_file.close()
        return rc

    def state(self) -> str:
        """The program's state as a phrase that fits after its name: "is still running",
        "exited with status 1", "was killed by SIGSEGV" (always grammatical, unlike
        "ended with still running")."""
        rc = self.proc.poll()
        if rc is None:
            return "is still running"
        text = self.exit_text()
        return f"was {text}" if text.startswith("killed") else f"exited with {text}"

    def exit_text(self) -> str:
        """How the program ended, in words: "exit status 1" or "killed by SIGSEGV"."""
        rc = self.proc.poll()
        if rc is None:
            return "still running"
        if rc < 0:
            try:
                return f"killed by {signal.Signals(-rc).name}"
            except ValueError:
                return f"killed by signal {-rc}"
        extra = {87: " (UndefinedBehaviorSanitizer found an error)", 99: " (valgrind found errors)"}.get(rc, "")
        return f"exit status {rc}{extra}"

    def crash_report(self) -> Optional[str]:
        """A description if the program crashed or a sanitizer fired; None if it ended cleanly.

        A signal the harness sent itself (SIGTERM, SIGKILL, SIGINT) is not a crash.
        """
        rc = self.proc.poll()
        report = self.sanitizer_report(40)
        if report:
            return f"{self.name}: a sanitizer or valgrind reported an error ({self.exit_text()}):\n{report}"
        if rc is not None and rc < 0 and -rc not in self.signals_sent:
            return f"{self.name} crashed: {self.exit_text()}.\n--- {self.name} stderr (tail) ---\n{self.stderr_tail()}"
        return None

    def sanitizer_report(self, lines: int = 30) -> Optional[str]:
        """The first `lines` lines of a sanitizer or valgrind report on stderr, or None."""
        return self._report(_SANITIZER, lines)

    def leak_report(self, lines: int = 40) -> Optional[str]:
        """The first `lines` lines of a memory-leak report (LeakSanitizer at exit, or valgrind's
        definitely lost blocks) on stderr, or None. Only meaningful once the program has exited."""
        return self._report(_LEAK, lines)

    def _report(self, start_line: re.Pattern, lines: int) -> Optional[str]:
        """`lines` lines of stderr from the line where `start_line` first matches, or None."""
        err = self.stderr
        m = start_line.search(err)
        if not m:
            return None
        start = err.rfind(b"\n", 0, m.start()) + 1
        return "\n".join(err[start:].decode("utf-8", "replace").splitlines()[:lines])

    def describe(self) -> str:
        """The program's command line, state and stderr (the head of a sanitizer report, else the tail)."""
        report = self.sanitizer_report()
        if report and self.alive():
            # The sanitizer is still writing its report and exiting: let it finish.
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                pass
        body = f"(its sanitizer report, first lines)\n{report}" if report else self.stderr_tail()
        # The program by name, not by path: a student cannot open the grader's build folder.
        command = " ".join([self.name, *self.argv[1:]])
        return f"--- {command} ({self.exit_text()}) ---\n{body}"


def _children(pid: int) -> list[int]:
    """The child process ids of `pid`, oldest first."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return sorted(int(x) for x in f.read().split())
    except (OSError, ValueError):
        return []


def open_fds(pid: int) -> int:
    """How many file descriptors process `pid` has open (from /proc/PID/fd); -1 if unknown."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


# ---- the one deadline-and-kill routine, and process walking -----------------------------------
def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_group(proc: subprocess.Popen, grace: float = 0.0, sig: int = signal.SIGTERM) -> list[int]:
    """End the process group that `proc` leads, and reap `proc`.

    With `grace` > 0 and `proc` still running: `sig` to the group first, and up to `grace` s for
    it to exit. Then SIGKILL to the group in any case (whatever else the group started dies too:
    the leader may be gone while others live on). Returns the signals sent while `proc` still ran.
    """
    sent = []
    if grace > 0 and proc.poll() is None:
        sent.append(sig)
        _killpg(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        sent.append(signal.SIGKILL)
    _killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return sent


@dataclass
class Finished:
    """How a run_bounded() command ended: rc is None when it was killed at its deadline."""

    rc: Optional[int]
    out: bytes
    err: bytes
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.rc is None


def _pump(src, dest, cap: int) -> None:
    """Copy `src` to `dest` in chunks up to `cap` bytes, count the rest, then say how much was cut."""
    kept = cut = 0
    while True:
        chunk = src.read1(65536) if hasattr(src, "read1") else src.read(65536)
        if not chunk:
            break
        room = max(0, cap - kept)
        if room:
            dest.write(chunk[:room])
            dest.flush()
        kept += min(room, len(chunk))
        cut += len(chunk) - min(room, len(chunk))
    if cut:
        dest.write(b"\n[... %d bytes cut]\n" % cut)
        dest.flush()


def _die_with_parent() -> None:
    """In the child: SIGKILL when the grader dies (even by SIGKILL), so that no run outlives it."""
    # libc was loaded at import (_LIBC): loading a library in a forked child of a threaded
    # process can deadlock or fail.
    if _LIBC is not None:
        _LIBC.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG


def run_bounded(cmd: Sequence[str], timeout: float, *, log: Optional[Path] = None, capture: bool = False,
                stdout_file: Optional[Path] = None, cwd: Optional[Path] = None, env: Optional[dict] = None,
                preexec_fn: Optional[Callable[[], None]] = None, grace: float = 0.0,
                log_cap: Optional[int] = None, die_with_parent: bool = False) -> Finished:
    """Run `cmd` in its own process group, stdin from /dev/null; after `timeout` s, end the group
    (`grace` s after SIGTERM, then SIGKILL: see kill_group). The group is killed when the command
    ends too, so nothing it started outlives it.

    Output: appended to `log` (stdout and stderr; at most `log_cap` bytes when given, then a
    "[... N bytes cut]" line), or stdout to `stdout_file`, or both kept in memory with `capture`
    (stderr always, then), or else inherited from this process. `die_with_parent`: the command
    is killed if this process dies (PR_SET_PDEATHSIG; a grader's child pytest, for example).
    """
    if die_with_parent:
        inner = preexec_fn

        def preexec_fn() -> None:  # noqa: F811 (wraps the caller's)
            _die_with_parent()
            if inner:
                inner()
    started = time.monotonic()
    pump = None
    with contextlib.ExitStack() as stack:
        stdout = stderr = None
        if log is not None and log_cap is not None:
            stdout, stderr = subprocess.PIPE, subprocess.STDOUT
            sink = stack.enter_context(open(log, "ab"))
        elif log is not None:
            stdout, stderr = stack.enter_context(open(log, "ab")), subprocess.STDOUT
        else:
            if stdout_file is not None:
                stdout = stack.enter_context(open(stdout_file, "wb"))
            elif capture:
                stdout = subprocess.PIPE
            if capture:
                stderr = subprocess.PIPE
        p = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=cwd,
                             env=env, start_new_session=True, preexec_fn=preexec_fn)
        if log is not None and log_cap is not None:
            pump = threading.Thread(target=_pump, args=(p.stdout, sink, log_cap), daemon=True)
            pump.start()
        rc: Optional[int] = None
        try:
            if pump is not None:
                rc = p.wait(timeout)
                out = err = None
            else:
                out, err = p.communicate(timeout=timeout)
                rc = p.returncode
        except subprocess.TimeoutExpired:
            kill_group(p, grace)
            out, err = (None, None) if pump is not None else p.communicate()
        finally:
            ended = time.monotonic()
            kill_group(p)
            if pump is not None:
                p.wait()
                pump.join(5)
    if stdout_file is not None:
        out = Path(stdout_file).read_bytes()
    return Finished(rc, out or b"", err or b"", ended - started)


def pids_of_user(uid: int, zombies: bool = False) -> list[int]:
    """Processes whose real user id is `uid`: the live ones (and the zombies too if asked)."""
    found = []
    for p in psutil.process_iter(["uids", "status"]):
        uids, status = p.info["uids"], p.info["status"]
        if uids is not None and uids.real == uid and (zombies or status != psutil.STATUS_ZOMBIE):
            found.append(p.pid)
    return found


def live_uids() -> set[int]:
    """The real user ids of every live (not zombie) process."""
    return {p.info["uids"].real for p in psutil.process_iter(["uids", "status"])
            if p.info["uids"] is not None and p.info["status"] != psutil.STATUS_ZOMBIE}


def _running_from(prefixes: Sequence[Path]) -> list[psutil.Process]:
    roots = [str(p) for p in prefixes if p]
    return [p for p in psutil.process_iter(["exe"])
            if p.info["exe"] and any(p.info["exe"].startswith(r) for r in roots)]


def running_from(*prefixes: Path) -> list[str]:
    """The processes whose executable lies under one of `prefixes`: "PID EXE" each."""
    return [f"{p.pid} {p.info['exe']}" for p in _running_from(prefixes)]


def kill_running_from(*prefixes: Path) -> list[str]:
    """SIGKILL every process whose executable lies under one of `prefixes`; returns "PID EXE" of each."""
    killed = []
    for p in _running_from(prefixes):
        try:
            p.send_signal(signal.SIGKILL)
            killed.append(f"{p.pid} {p.info['exe']}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return killed


def processes_mentioning(marker: str) -> list[str]:
    """Live processes (not this one, not zombies) whose command line or environment holds `marker`:
    "PID: COMMAND" each."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.pid == os.getpid() or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            env = p.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            env = {}
        cmd = " ".join(p.info["cmdline"] or [])
        if marker in cmd or any(marker in k or marker in v for k, v in env.items()):
            found.append(f"{p.pid}: {cmd}")
    return found
