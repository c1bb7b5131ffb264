"""--pcap: record the loopback traffic of each test with tcpdump; keep it when the test fails.

    pytest ... --pcap                      (or SOCKLAB_PCAP=1)
    python -m harness.grade --lab 01 --pcap

For every test, tcpdump captures all of `lo` from before the test's fixtures start until
after its programs are stopped. When the test passes the file is deleted; when it fails
the file stays in the test's evidence folder (OUT/evidence/<test>/loopback.pcap when the
grader runs, out/pcap/<test>.pcap otherwise) and the failure message names it, with the
ports to filter on. Open it with Wireshark, or `tcpdump -nn -r FILE`.

The port numbers are ephemeral, so they are known only once a server prints "listening
on": the capture cannot be filtered in advance. It holds everything on lo while the test
ran, including other tests running in parallel (-n 2); the message gives a display filter
for the test's own servers. Each packet is cut to SNAPLEN bytes, and a capture stops after
MAX_PACKETS packets, so a bulk-transfer test cannot fill the disk.

tcpdump needs root (or CAP_NET_RAW). Where it is missing or not allowed, --pcap records
nothing and says why in the report header and in each failing test's message; tests run
as usual.
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

from . import paths
from .compat import NodeKey
from .procs import LISTENING

#: Bytes kept of each packet: the headers and the first 200 or so bytes of payload.
SNAPLEN = 256
#: Packets per test, at most (about 30 MB with SNAPLEN 256).
MAX_PACKETS = 100_000
#: Seconds to wait for tcpdump to start capturing, and to exit after SIGTERM.
START_TIMEOUT = 5.0
STOP_TIMEOUT = 3.0

#: The first four bytes of a pcap file (microsecond timestamps), as written on little- and big-endian machines.
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")

CAPTURE_KEY = NodeKey("capture")
FAILED_KEY = NodeKey("pcap_failed")


class CaptureError(RuntimeError):
    """tcpdump is missing, not allowed, or did not start."""


class Capture:
    """One tcpdump process writing the traffic on lo to `path` (a pcap file)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        tcpdump = shutil.which("tcpdump") or "/usr/sbin/tcpdump"
        # -U with --immediate-mode: each packet reaches the file at once, so a run that is
        # killed still leaves a readable file. -Z root: Debian's tcpdump otherwise drops to
        # the user tcpdump, which may not write into our folders.
        cmd = [tcpdump, "-i", "lo", "-n", "-U", "--immediate-mode", "-s", str(SNAPLEN),
               "-c", str(MAX_PACKETS), "-w", str(path)]
        if os.geteuid() == 0:
            cmd[1:1] = ["-Z", "root"]
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, start_new_session=True)
        except OSError as e:
            raise CaptureError(f"cannot run tcpdump: {e}") from e
        self._wait_started()

    def _wait_started(self) -> None:
        """tcpdump says "listening on lo" on stderr once it captures; wait for that line."""
        deadline = time.monotonic() + START_TIMEOUT * paths.time_scale()
        seen = b""
        poller = select.poll()
        poller.register(self.proc.stderr.fileno(), select.POLLIN)
        while b"listening on" not in seen:
            left = deadline - time.monotonic()
            chunk = os.read(self.proc.stderr.fileno(), 4096) if left > 0 and poller.poll(left * 1000) else b""
            if not chunk:  # the deadline passed, or tcpdump exited
                self.stop()
                why = seen.decode("utf-8", "replace").strip() or "no message"
                raise CaptureError(f"tcpdump did not start capturing on lo: {why}")
            seen += chunk

    def stop(self) -> None:
        """SIGTERM to tcpdump's group (it flushes and closes the file), SIGKILL if it lingers; reap."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


def is_pcap(path: Path) -> bool:
    """True if `path` starts with a pcap file header."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in PCAP_MAGICS
    except OSError:
        return False


class PcapRecorder:
    """The pytest plugin behind --pcap: one Capture per test, kept only when the test fails."""

    def __init__(self, config: pytest.Config, programs_of: Callable[[pytest.Item], list]):
        self.config = config
        self.programs_of = programs_of
        self.broken: Optional[str] = None
        if shutil.which("tcpdump") is None and not Path("/usr/sbin/tcpdump").exists():
            self.broken = "tcpdump is not installed (apt-get install tcpdump)"

    def pytest_report_header(self, config: pytest.Config) -> str:
        if self.broken:
            return f"socklab --pcap: no captures: {self.broken}"
        return f"socklab --pcap: loopback traffic of failing tests kept in {self._base()}"

    def _base(self) -> Path:
        evidence = self.config.getoption("--evidence")
        return Path(evidence) if evidence else paths.KIT / "out" / "pcap"

    def _path(self, item: pytest.Item) -> Path:
        if self.config.getoption("--evidence"):
            return self._base() / paths.evidence_name(item.nodeid) / "loopback.pcap"
        return self._base() / f"{paths.evidence_name(item.nodeid)}.pcap"

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item):
        # Before the fixtures: servers started by fixtures are captured from their first SYN.
        if not self.broken:
            try:
                CAPTURE_KEY.set(item, Capture(self._path(item)))
            except CaptureError as e:
                # Not allowed here (no root, a sandbox): say so once and stop trying.
                self.broken = str(e)
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        capture = CAPTURE_KEY.get(item, None)
        if report.failed and not FAILED_KEY.get(item, False):
            # The first failed phase carries the note: the grader's results.json shows that one.
            FAILED_KEY.set(item, True)
            if capture is not None:
                report.sections.append(("packet capture", self._note(item, capture.path)))
            elif self.broken:
                report.sections.append(("packet capture", f"not recorded: {self.broken}"))
        if report.when == "teardown" and capture is not None:
            # The fixtures are torn down: the programs are stopped, their last FIN or RST sent.
            capture.stop()
            if not FAILED_KEY.get(item, False):
                capture.path.unlink(missing_ok=True)

    def _note(self, item: pytest.Item, path: Path) -> str:
        ports = []
        for p in self.programs_of(item):
            ports += [int(m.group(2)) for m in LISTENING.finditer(p.stdout)]
        text = (f"the loopback traffic of this test is in {path}\n"
                f"open it in Wireshark, or run: tcpdump -nn -A -r {path}")
        if ports:
            text += ("\nits servers' ports, to filter on: "
                     + " or ".join(f"tcp.port == {port}" for port in sorted(set(ports))))
        return text


def register(config: pytest.Config, programs_of: Callable[[pytest.Item], list]) -> None:
    """Turn the recorder on when --pcap (or SOCKLAB_PCAP=1) was given. `programs_of(item)` gives
    the programs (procs.Program) that a test started: the failure note names their ports."""
    if config.getoption("--pcap", False):
        config.pluginmanager.register(PcapRecorder(config, programs_of), "socklab-pcap")
