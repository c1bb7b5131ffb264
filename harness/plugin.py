"""socklab's pytest plugin: options, markers, the build, and the fixtures every lab's tests use.

Loaded with `-p harness.plugin` (pytest.ini does it), so hidden test modules kept outside
the kit get the same fixtures.

Markers:
    points(n)        what the test is worth in the grade (every graded test has one)
    spec(*labels)    the handout requirements the test checks, e.g. spec("R3.2-4") (harness/spec.py)
    visibility(v)    Gradescope visibility: visible (default), hidden, after_due_date, after_published

Fixtures:
    lab_build   the lab's programs, built from the sources under test (a Build)
    spawn       start a program (procs.Program); stopped, reaped and checked for crashes at teardown;
                spawn.server(...) also waits for "listening on" and returns (program, host, port)
    echo_peer   a trusted Python echo server (peers.EchoPeer)
    fragmenting_proxy   a TCP proxy that delivers one byte per segment (proxy.FragmentingProxy)
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from . import paths, sandbox
from .peers import EchoPeer
from .procs import Program, ProgramError
from .proxy import FragmentingProxy

PROGRAMS_KEY = pytest.StashKey[list]()
CALL_FAILED_KEY = pytest.StashKey[bool]()
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


# ---- options and markers -----------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("socklab")
    g.addoption("--impl", default=os.environ.get("SOCKLAB_IMPL", "labs"),
                help="sources to test: labs (the student's, default), solutions, or a folder")
    g.addoption("--bin-dir", default=os.environ.get("SOCKLAB_BIN"),
                help="use programs already built in this folder (the grader builds them)")
    g.addoption("--build-log", default=os.environ.get("SOCKLAB_BUILD_LOG"),
                help="the grader's build log; when it marks a failed build every test fails with it")
    g.addoption("--evidence", default=os.environ.get("SOCKLAB_EVIDENCE"),
                help="folder where a failing test's program output is kept")
    g.addoption("--spec-report", default=None,
                help="write each collected test's points and spec labels to this JSON file (harness/spec.py)")
    g.addoption("--pcap", action="store_true", default=os.environ.get("SOCKLAB_PCAP") == "1",
                help="record each test's loopback traffic with tcpdump; keep it when the test fails (pcap.py)")


def pytest_configure(config: pytest.Config) -> None:
    from . import pcap
    pcap.register(config)
    config.addinivalue_line("markers", "points(n): points the test is worth in the grade")
    config.addinivalue_line(
        "markers", "spec(*labels): the handout requirements the test checks, such as spec('R3.2-4')")
    # Each lab's peers, proxies and fixtures (harness/labs/labNN.py), for its tests and hidden ones.
    for name in lab_plugins():
        if not config.pluginmanager.has_plugin(name):
            config.pluginmanager.import_plugin(name)
    config.addinivalue_line(
        "markers", "visibility(v): Gradescope visibility (visible, hidden, after_due_date, after_published)")


def lab_plugins() -> list[str]:
    """The module names of the per-lab support plugins: harness.labs.lab01, harness.labs.lab02, ..."""
    return [f"harness.labs.{p.stem}" for p in sorted((Path(__file__).parent / "labs").glob("lab[0-9][0-9].py"))]


def spec_labels(item: pytest.Item) -> list[str]:
    """The requirement labels a test names with @pytest.mark.spec (every spec marker, in order)."""
    labels: list[str] = []
    for m in item.iter_markers("spec"):
        labels.extend(a for a in m.args if a not in labels)
    return labels


def _marker_arg(item: pytest.Item, name: str, default):
    m = item.get_closest_marker(name)
    return m.args[0] if m and m.args else default


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Attach points and visibility to each test, so they travel with its report (also under xdist)."""
    for item in items:
        points = _marker_arg(item, "points", 0)
        vis = _marker_arg(item, "visibility", "visible")
        if vis not in VISIBILITIES:
            raise pytest.UsageError(f"{item.nodeid}: visibility must be one of {VISIBILITIES}, not {vis!r}")
        item.user_properties.append(("points", float(points)))
        item.user_properties.append(("visibility", vis))
        doc = (getattr(item, "function", None).__doc__ or "").strip().splitlines() if hasattr(item, "function") else []
        if doc:
            item.user_properties.append(("title", doc[0]))
        labels = spec_labels(item)
        if labels:
            item.user_properties.append(("spec", " ".join(labels)))
    if items:
        where = items[0].config.getoption("--spec-report")
        if where:
            import json
            Path(where).write_text(json.dumps([
                {"name": i.nodeid.split("::", 1)[-1], "points": _marker_arg(i, "points", 0),
                 "spec": spec_labels(i)} for i in items]))


# ---- the build ---------------------------------------------------------------------------
@dataclass
class Build:
    """The programs built for one lab from one folder of sources."""

    lab: paths.Lab
    src: Path
    bin_dir: Path
    ok: bool
    log: str

    def path(self, prog: str) -> Path:
        """The built program `prog` (for example "echo_server")."""
        return self.bin_dir / prog


def build_lab(lab: paths.Lab, src: Path, out: Path, sanitize: bool = True, timeout: float = 120,
              limits=None, makefile: Optional[Path] = None, env: Optional[dict] = None,
              cwd: Optional[Path] = None, wrapper: tuple = ()) -> Build:
    """Compile the lab's programs from `src` into `out` with the kit's own Makefile.

    The kit's Makefile (never the submission's) decides the flags: -Werror, and
    ASan + UBSan unless `sanitize` is False. Returns a Build whose log holds the
    compiler's messages; `ok` is False when make failed or timed out.
    The grader's sandbox passes `limits` (procs.Limits, with the user to build as), a copy
    of the kit's `makefile`, a small `env`, a `cwd` and a `wrapper` (its view: see sandbox.build).
    """
    out.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        return Build(lab, src, out, False, f"no such folder: {src}")
    cmd = [*wrapper, "make", "--no-print-directory", "-s", "-f", str(makefile or lab.makefile), f"SRCDIR={src}",
           f"OUT={out}", f"SANITIZE={1 if sanitize else 0}", "-B", "all"]
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           start_new_session=True, preexec_fn=limits.apply if limits else None,
                           env=env, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Build(lab, src, out, False, f"the build took more than {timeout:.0f} s")
    return Build(lab, src, out, r.returncode == 0, r.stdout.decode("utf-8", "replace"))


_builds: dict[str, Build] = {}


def _lab_of(request: pytest.FixtureRequest) -> paths.Lab:
    lab_id = getattr(request.module, "LAB", None)
    if lab_id is None:
        m = re.search(r"lab(\d\d)", Path(str(request.node.fspath)).name)
        lab_id = m.group(1) if m else None
    if lab_id is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the test module must set LAB = \"NN\"")
    return paths.find_lab(lab_id)


@pytest.fixture
def lab_build(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The lab's programs built from the sources under test (once per session and lab).

    A failed build fails every test with the compiler's messages.
    """
    lab = _lab_of(request)
    config = request.config
    if lab.id not in _builds:
        bin_dir = config.getoption("--bin-dir")
        if bin_dir:
            log_path = config.getoption("--build-log")
            log = Path(log_path).read_text() if log_path and Path(log_path).exists() else ""
            ok = not log.startswith("BUILD FAILED")
            _builds[lab.id] = Build(lab, Path(bin_dir), Path(bin_dir), ok, log)
        else:
            src = paths.resolve_impl(lab, config.getoption("--impl"))
            _builds[lab.id] = build_lab(lab, src, tmp_path_factory.mktemp(f"build{lab.id}"))
    b = _builds[lab.id]
    if not b.ok:
        log = b.log.replace("BUILD FAILED\n", "", 1).strip()
        pytest.fail(f"The build failed, so no test can run. The compiler said:\n{log[-3000:]}\n"
                    f"Hint: fix the first error first; run `make` in labs/{lab.name} to see it again.",
                    pytrace=False)
    return b


# ---- programs ----------------------------------------------------------------------------
_never_ready: dict[str, str] = {}

#: With SOCKLAB_VALGRIND=1 (the grader's --valgrind), every program runs under memcheck;
#: a memory error makes it exit 99, which crash_report() turns into a failure. Definite leaks
#: are reported (Program.leak_report()) but keep the exit status, as under LeakSanitizer.
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=none", "--show-leak-kinds=definite"]


class Spawner:
    """Starts programs for one test and remembers them, so that teardown can stop and check them."""

    def __init__(self, build: Build, programs: list):
        self.build = build
        self.programs = programs

    def __call__(self, prog: str, *args, **kwargs) -> Program:
        """Start the lab's program `prog` with `args`; keyword arguments go to procs.Program."""
        path = self.build.path(prog)
        if os.environ.get("SOCKLAB_VALGRIND") == "1":
            kwargs["wrapper"] = VALGRIND + list(kwargs.get("wrapper", ()))
        # Under the grader: the sandbox's user id, limits, working folder, view (harness/sandbox/).
        kwargs = sandbox.program_defaults(path, kwargs)
        p = Program([str(path), *map(str, args)], **kwargs)
        self.programs.append(p)
        return p

    def server(self, prog: str, *args, ready_timeout: float = 3.0, hint: str = "", **kwargs) -> tuple[Program, str, int]:
        """Start a server with `args` and wait for "listening on"; returns (program, host, port).

        When the same server already failed to become ready in this session, fail at once
        ("parent failed") instead of waiting for the deadline again.
        """
        if prog in _never_ready:
            pytest.fail(f"Not run: {prog} never became ready in an earlier test.\n{_never_ready[prog]}",
                        pytrace=False)
        p = self(prog, *args, **kwargs)
        problem = None
        try:
            host, port = p.wait_ready(ready_timeout, hint=hint)
        except ProgramError as e:
            problem = str(e)
        if problem is not None:
            # Only a silent, living server is worth remembering: waiting again would cost the same.
            if p.alive():
                _never_ready[prog] = problem
            pytest.fail(problem, pytrace=False)
        return p, host, port


@pytest.fixture
def spawn(request: pytest.FixtureRequest, lab_build: Build):
    """A factory for the lab's programs: spawn("echo_client", host, port, stdin=b"hi").

    Every program it starts is stopped (SIGTERM to its group, then SIGKILL) and reaped
    at teardown. A program that crashed or tripped a sanitizer fails the test.
    """
    programs: list[Program] = []
    request.node.stash[PROGRAMS_KEY] = programs
    yield Spawner(lab_build, programs)
    crashes = []
    for p in programs:
        p.stop()
        report = p.crash_report()
        if report:
            crashes.append(report)
    # Whatever escaped its process group (setsid, a double fork) dies here too.
    sandbox.after_test()
    if crashes and not request.node.stash.get(CALL_FAILED_KEY, False):
        pytest.fail("\n\n".join(crashes), pytrace=False)


def closing_factory(cls):
    """A fixture body: yield a factory for `cls` objects, then close() every one it made.

    Use it as `yield from closing_factory(EchoPeer)` in a fixture.
    """
    made = []

    def make(*args, **kwargs):
        obj = cls(*args, **kwargs)
        made.append(obj)
        return obj

    yield make
    for obj in made:
        obj.close()


@pytest.fixture
def echo_peer():
    """A factory for trusted Python echo servers on loopback: echo_peer(family=..., behaviour=...)."""
    yield from closing_factory(EchoPeer)


@pytest.fixture
def fragmenting_proxy():
    """A factory for FragmentingProxy((host, port), chunk=1, delay_s=0.001); closed at teardown."""
    yield from closing_factory(FragmentingProxy)


# ---- reports -----------------------------------------------------------------------------
#: Bytes of output kept as evidence, per program stream, per test and per run: a program that
#: floods its output must not fill the grader's disk (a batch keeps the evidence of every
#: failing test). What is over is cut, with a "[... N bytes cut]" marker.
EVIDENCE_CAP = 256 << 10
EVIDENCE_TEST_CAP = 1 << 20
EVIDENCE_RUN_CAP = 8 << 20
#: Characters of one test's report (message, each section) kept for junit.xml, results.json
#: and pytest.log.
REPORT_CAP = 64 << 10


def _capped(data: bytes, cap: int = EVIDENCE_CAP) -> bytes:
    if len(data) <= cap:
        return data
    return data[:cap] + b"\n[... %d bytes cut]\n" % (len(data) - cap)


def _cap_text(text: str, cap: int = REPORT_CAP) -> str:
    if len(text) <= cap:
        return text
    return text[: cap // 2] + f"\n[... {len(text) - cap} bytes cut]\n" + text[-cap // 2:]


def _cap_report(report: pytest.TestReport) -> None:
    """One test's report within REPORT_CAP, in every place it is written."""
    if report.longrepr is not None and len(report.longreprtext) > REPORT_CAP:
        report.longrepr = _cap_text(report.longreprtext)
    report.sections = [(title, _cap_text(body)) for title, body in report.sections]


def _folder_bytes(folder: Path) -> int:
    try:
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    except OSError:
        return 0


def _evidence_dir(item: pytest.Item) -> Optional[Path]:
    base = item.config.getoption("--evidence")
    if not base:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::", 1)[-1])
    return Path(base) / safe


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Add each program's crash report and stderr tail to a failing test's report; keep the evidence."""
    outcome = yield
    report = outcome.get_result()
    programs = item.stash.get(PROGRAMS_KEY, [])
    if report.when == "call":
        item.stash[CALL_FAILED_KEY] = report.failed
        if report.failed:
            for p in programs:
                crash = p.crash_report()
                if crash and (p.sanitizer_report(5) or "") not in report.longreprtext:
                    report.sections.append((f"{p.name} crashed", crash))
                elif p.stderr and p.stderr_tail() not in report.longreprtext:
                    report.sections.append((f"{p.name} stderr (tail)", p.stderr_tail()))
    if report.when == "teardown" and programs and (report.failed or item.stash.get(CALL_FAILED_KEY, False)):
        where = _evidence_dir(item)
        if where:
            where.mkdir(parents=True, exist_ok=True)
            room = min(EVIDENCE_TEST_CAP, max(0, EVIDENCE_RUN_CAP - _folder_bytes(where.parent)))
            for i, p in enumerate(programs):
                stem = f"{i}-{p.name}"
                for kind, data in (("stdout", p.stdout), ("stderr", p.stderr)):
                    kept = _capped(data, min(EVIDENCE_CAP, room))
                    room = max(0, room - min(len(data), EVIDENCE_CAP))
                    (where / f"{stem}.{kind}").write_bytes(kept)
                (where / f"{stem}.cmd").write_text(" ".join(p.argv) + f"\n{p.exit_text()}\n")
            report.sections.append(("evidence", f"program output kept in {where}"))
    _cap_report(report)

