"""socklab's pytest plugin: options, markers, the build, and the fixtures every lab's tests use.

Loaded with `-p harness.plugin` (pytest.ini does it), so hidden test modules kept outside
the kit get the same fixtures.

Under the grader, one option carries every setting: `--run-spec OUT/run.json`
(harness/runspec.py; apply_run_spec() reads it first of all, in each xdist worker too).
Without it (the kit's own tests, a user at the terminal), --impl, --bin-dir, --evidence and
--pcap (or SOCKLAB_PCAP=1) still work.

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

import errno
import os
import re
import traceback
from pathlib import Path
from typing import Optional

import pytest

from . import build as building
from . import feedback, paths, pcap, runspec, sandbox, textsafe
from .build import Build, ProgramNotBuilt, build_lab  # noqa: F401 (build_lab was here once)
from .compat import NodeKey
from .feedback import Diagnosis, FeedbackFailure
from .peers import EchoPeer
from .procs import Program, ProgramError
from .proxy import FragmentingProxy

# Per-test state on the item (pytest.StashKey needs pytest 7; harness/compat.py works on 6.0 too).
PROGRAMS_KEY = NodeKey("programs")
CALL_FAILED_KEY = NodeKey("call_failed")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
#: A user's switch for --pcap in a plain pytest run (the grader reads it once into run.json).
PCAP_ENV = "SOCKLAB_PCAP"


# ---- options and markers -----------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("socklab")
    g.addoption("--run-spec", default=None, metavar="PATH",
                help="the grader's run.json (harness/runspec.py): the lab, the build, the flags, the sandbox, "
                     "the time scale and the output paths; the grader passes this and nothing else")
    # For a plain pytest run without the grader (the kit's own tests, a user at the terminal);
    # under the grader, run.json sets them (apply_run_spec()).
    g.addoption("--impl", default=os.environ.get("SOCKLAB_IMPL", "labs"),
                help="sources to test: labs (the student's, default), solutions, or a folder")
    g.addoption("--bin-dir", default=None,
                help="use programs already built in this folder (with --run-spec, run.json's)")
    g.addoption("--evidence", default=None,
                help="folder where a failing test's program output is kept (with --run-spec, run.json's)")
    g.addoption("--spec-report", default=None,
                help="write each collected test's points and spec labels to this JSON file (harness/spec.py)")
    g.addoption("--pcap", action="store_true", default=os.environ.get(PCAP_ENV) == "1",
                help=f"record each test's loopback traffic with tcpdump; keep it when the test fails (pcap.py); "
                     f"also {PCAP_ENV}=1 (with --run-spec, run.json's)")


def apply_run_spec(config: pytest.Config) -> Optional[runspec.RunSpec]:
    """Read --run-spec's run.json, make it this process's run spec (timing.py, paths.time_scale(),
    sandbox.current() read it), and set the options the rest of the harness reads from it."""
    where = config.getoption("--run-spec", None)
    if not where:
        return None
    spec = runspec.load(Path(where))
    if spec is None:
        raise pytest.UsageError(f"--run-spec {where}: not a readable run.json")
    runspec.activate(spec)
    config.option.bin_dir = spec.bin_dir or None
    config.option.evidence = str(spec.evidence)
    config.option.pcap = spec.flags.pcap
    config.option.results_json = [str(spec.results_json), *spec.results_copies,
                                  *(config.getoption("--results-json", None) or [])]
    return spec


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # First of every plugin's pytest_configure: results.py and pcap.py read the options it sets.
    apply_run_spec(config)
    pcap.register(config, lambda item: PROGRAMS_KEY.get(item, []))
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
# Building lives in harness/build.py (no pytest there); Build and build_lab stay importable
# from here for older callers.
_builds: dict[str, Build] = {}


def _lab_of(request: pytest.FixtureRequest) -> paths.Lab:
    spec = runspec.active()
    if spec is not None:
        return paths.find_lab(spec.lab)  # the grader's: its tests and hidden ones are of one lab
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

    Each program is built on its own (harness/build.py): a program that failed to build fails
    only the tests that start it (Build.path raises ProgramNotBuilt, which the report turns
    into one "did not build" diagnosis), so the other programs' tests still count.
    """
    lab = _lab_of(request)
    config = request.config
    if lab.id not in _builds:
        spec = runspec.active()
        bin_dir = config.getoption("--bin-dir")
        if spec is not None and spec.build is not None:
            # The grader built the programs; run.json says which ones built (harness/build.py).
            b = building.from_json(spec.build, lab, Path(spec.bin_dir))
            _builds[lab.id] = b or Build(lab, Path(spec.bin_dir), Path(spec.bin_dir), False,
                                         "the grader's build report in run.json is malformed")
        elif bin_dir:
            _builds[lab.id] = Build(lab, Path(bin_dir), Path(bin_dir), True, "")
        else:
            src = paths.resolve_impl(lab, config.getoption("--impl"))
            _builds[lab.id] = build_lab(lab, src, tmp_path_factory.mktemp(f"build{lab.id}"))
    return _builds[lab.id]


def build_diagnosis(prog: str, log: str) -> Diagnosis:
    """The one cause of every test that needed a program that did not build."""
    return Diagnosis("build", f"{prog} did not build: {building.error_summary(log)}", key=f"build:{prog}")


# ---- programs ----------------------------------------------------------------------------
_never_ready: dict[str, str] = {}

#: With the grader's --valgrind (run.json's flags.valgrind), every program runs under memcheck;
#: a memory error makes it exit 99, which crash_report() turns into a failure. Definite leaks
#: are reported (Program.leak_report()) but keep the exit status, as under LeakSanitizer.
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=none", "--show-leak-kinds=definite"]


class Spawner:
    """Starts programs for one test and remembers them, so that teardown can stop and check them."""

    def __init__(self, build: Build, programs: list):
        self.build = build
        self.programs = programs
        self.shared: list[Path] = []  # shared_file() and shared_dir() paths, removed at teardown

    def _shared_place(self) -> tuple[Optional[Path], Optional[int]]:
        cfg = sandbox.current()
        if cfg is None:
            return None, None
        uid = cfg.uid_for_worker()
        return cfg.workdir(uid), uid

    def shared_file(self, prefix: str = "socklab-") -> Path:
        """An empty file that the programs this test starts can write (by its absolute path) and
        the harness can read afterwards: in the sandbox, inside the programs' own working
        folder (the only place of the harness's filesystem they see); otherwise in /tmp.
        Removed at the end of the test."""
        import tempfile
        folder, uid = self._shared_place()
        fd, name = tempfile.mkstemp(prefix=prefix, dir=folder)
        os.close(fd)
        if uid is not None:
            os.chown(name, uid, -1)
        os.chmod(name, 0o666)
        self.shared.append(Path(name))
        return Path(name)

    def shared_dir(self, prefix: str = "socklab-") -> Path:
        """A new folder, root's, that the programs this test starts can read (files the harness
        puts there for them: a document root, input files): like shared_file(), in their own
        working folder under the sandbox. Removed, with what is in it, at the end of the test."""
        import tempfile
        folder, _ = self._shared_place()
        name = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
        os.chmod(name, 0o755)
        self.shared.append(name)
        return name

    def __call__(self, prog: str, *args, **kwargs) -> Program:
        """Start the lab's program `prog` with `args`; keyword arguments go to procs.Program."""
        if not self.build.built(prog):
            log = self.build.logs.get(prog, self.build.log)
            raise FeedbackFailure(
                f"Not run: {prog} did not build, so this test could not start it "
                f"(the compiler's messages are in the \"build\" entry and in build.log).",
                build_diagnosis(prog, log))
        path = self.build.path(prog)
        spec = runspec.active()
        if spec is not None and spec.flags.valgrind:
            kwargs["wrapper"] = VALGRIND + list(kwargs.get("wrapper", ()))
        # Under the grader: the sandbox's user id, limits, working folder, view (harness/sandbox/).
        kwargs = sandbox.program_defaults(path, kwargs)
        try:
            p = Program([str(path), *map(str, args)], name=kwargs.pop("name", prog), **kwargs)
        except OSError as e:
            why = e.strerror or str(e)
            raise FeedbackFailure(f"{prog} could not be started: {why}.",
                                  Diagnosis("never-started", f"{prog} could not be started ({why})",
                                            key=f"never-started:{prog}:{why}")) from None
        self.programs.append(p)
        return p

    def server(self, prog: str, *args, ready_timeout: float = 3.0, hint: str = "", **kwargs) -> tuple[Program, str, int]:
        """Start a server with `args` and wait for "listening on"; returns (program, host, port).

        When the same server already failed to become ready in this session, fail at once
        ("parent failed") instead of waiting for the deadline again.
        """
        if prog in _never_ready:
            raise FeedbackFailure(f"Not run: {prog} never became ready in an earlier test.\n{_never_ready[prog]}",
                                  _silent(prog))
        p = self(prog, *args, **kwargs)
        p.is_server = True
        problem = None
        try:
            host, port = p.wait_ready(ready_timeout, hint=hint)
        except ProgramError as e:
            problem = str(e)
        if problem is not None:
            # Only a silent, living server is worth remembering: waiting again would cost the same.
            if p.alive():
                _never_ready[prog] = problem
                raise FeedbackFailure(problem, _silent(prog))
            pytest.fail(problem, pytrace=False)
        return p, host, port


def _silent(prog: str) -> Diagnosis:
    return Diagnosis("silent", f"{prog} is still running but never printed 'listening on ADDR:PORT'",
                     key=f"silent:{prog}")


@pytest.fixture
def spawn(request: pytest.FixtureRequest, lab_build: Build):
    """A factory for the lab's programs: spawn("echo_client", host, port, stdin=b"hi").

    Every program it starts is stopped (SIGTERM to its group, then SIGKILL) and reaped
    at teardown. A program that crashed or tripped a sanitizer fails the test.
    """
    programs: list[Program] = []
    PROGRAMS_KEY.set(request.node, programs)
    spawner = Spawner(lab_build, programs)
    yield spawner
    crashes = []
    for p in programs:
        p.stop()
        report = p.crash_report()
        if report:
            crashes.append(report)
    # Whatever escaped its process group (setsid, a double fork) dies here too.
    sandbox.after_test()
    import shutil
    for path in spawner.shared:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if crashes and not CALL_FAILED_KEY.get(request.node, False):
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
    return Path(base) / paths.evidence_name(item.nodeid)



# ---- diagnosis, then the report ---------------------------------------------------------
class DiagnosisHooks:
    """Hooks a lab's plugin (harness/labs/labNN.py) or a hidden test's conftest may implement."""

    @pytest.hookspec(firstresult=True)
    def pytest_socklab_diagnose(self, item, call, programs):
        """A test-specific diagnosis of a failed test, or None to let the harness classify.

        item: the pytest.Item; call: the pytest.CallInfo of the failed phase (call.excinfo);
        programs: the procs.Program objects the test started (state, stdout, stderr).
        Return a harness.feedback.Diagnosis: its sentence is said first; withhold_hint=True
        drops the test's topic hint. The first non-None answer wins.
        """


def pytest_addhooks(pluginmanager) -> None:
    pluginmanager.add_hookspecs(DiagnosisHooks)


#: The errors of the harness's own sockets that a misbehaving program can cause.
_NET_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT,
               errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENOTCONN}

#: Section titles that only the log shows (never results.json or the console).
LOG_ONLY = "log only: "


def _message(call: pytest.CallInfo, report: pytest.TestReport) -> tuple[str, Optional[Diagnosis], str]:
    """(message for the student, a diagnosis the exception itself implies, details for the log only)."""
    exc = call.excinfo.value if call.excinfo else None
    if exc is None:
        return report.longreprtext or "", None, ""
    if isinstance(exc, ProgramNotBuilt):
        return (f"Not run: {exc.prog} did not build, so this test could not use it "
                f"(the compiler's messages are in the \"build\" entry and in build.log).",
                build_diagnosis(exc.prog, exc.log), "")
    if isinstance(exc, (pytest.fail.Exception, ProgramError)):
        text = str(getattr(exc, "msg", None) or exc)
        if text.startswith("Timeout >"):
            limit = text.split(">", 1)[1].split()[0]
            return (f"The test did not finish within its time limit ({limit}): a program under test "
                    "probably blocked (a hang or a deadlock).",
                    Diagnosis("timeout", f"the test ran out of time ({limit}) while its programs were still running",
                              key="timeout", withhold_hint=False),
                    report.longreprtext or "")
        return text, None, ""
    if isinstance(exc, (pytest.skip.Exception,)):
        return report.longreprtext or "", None, ""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, (ConnectionError, TimeoutError)) or (
            isinstance(exc, OSError) and exc.errno in _NET_ERRNOS):
        # The harness's own socket to a program failed (refused, reset): say so plainly; the
        # programs' diagnosis (an exit, a crash) comes first when there is one.
        why = exc.strerror or str(exc)
        return (f"The test's connection to the program under test failed: {why}.",
                Diagnosis("connection", f"the test could not talk to the program under test ({why})",
                          key=f"connection:{why}", withhold_hint=False), tb)
    if isinstance(exc, AssertionError):
        return (f"A check of the test failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}.",
                None, tb)
    what = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    return (f"Internal error in the test harness ({what}). This is not a verdict on your code: please "
            "report it, with the grader's pytest.log.",
            Diagnosis("internal", f"the harness itself failed ({what}); please report it", key=f"internal:{what}",
                      withhold_hint=False), tb)


def explain(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport, programs: list) -> None:
    """Rewrite a failed report: what happened to the programs first (a Diagnosis), the test's
    message next, its topic hint only when the programs behaved normally; every byte printable;
    no traceback except in a log-only section. The cause travels in user_properties."""
    if item.get_closest_marker("points") is None and not programs:
        # Not a graded test (the kit's own self-tests): keep pytest's report, made printable.
        report.sections = [(title, textsafe.printable(body)) for title, body in report.sections]
        return
    text, implied, log_detail = _message(call, report)
    diag = None
    try:
        diag = item.config.hook.pytest_socklab_diagnose(item=item, call=call, programs=programs)
    except Exception:  # a lab's diagnosis must never be what breaks the report
        log_detail += "\n(pytest_socklab_diagnose raised)\n" + traceback.format_exc()
    if diag is None and implied is not None and implied.kind in ("build", "internal"):
        diag = implied
    if diag is None:
        diag = feedback.diagnose(programs, call.excinfo) or implied
    if diag is not None and diag.kind == "timeout" and programs:
        # Which programs were still running, and whether they had said anything at all.
        states = [f"{p.name} {p.state()}" + ("" if p.proc.poll() is not None else
                  " and had written nothing" if not (p.stdout or p.stderr) else "") for p in programs]
        diag = Diagnosis("timeout", f"{diag.sentence.rstrip('.')}: {', '.join(states)}", key=diag.key,
                         withhold_hint=False)
    if diag is not None and diag.withhold_hint:
        text = feedback.withhold_hint(text)
    lines = [textsafe.printable(text).rstrip()]
    if diag is not None and diag.sentence.rstrip(".") not in lines[0]:
        lines.insert(0, f"What happened: {diag.sentence}")
    report.longrepr = "\n".join(l for l in lines if l)
    report.sections = [(title, textsafe.printable(body)) for title, body in report.sections]
    if log_detail:
        report.sections.append((LOG_ONLY + "details for the kit's maintainers", textsafe.printable(log_detail)))
    props = list(report.user_properties)
    if diag is not None:
        props.append(("cause", diag.to_json()))
    report.user_properties = props


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Diagnose a failing test, add each program's crash report or stderr tail; keep the evidence."""
    outcome = yield
    report = outcome.get_result()
    programs = PROGRAMS_KEY.get(item, [])
    if report.when == "call":
        CALL_FAILED_KEY.set(item, report.failed)
    if report.failed:
        try:
            if report.when == "call":
                for p in programs:
                    crash = p.crash_report()
                    if crash and (p.sanitizer_report(5) or "") not in report.longreprtext:
                        report.sections.append((f"{p.name} crashed", crash))
                    elif p.stderr and p.stderr_tail() not in report.longreprtext:
                        report.sections.append((f"{p.name} stderr (tail)", p.stderr_tail()))
            explain(item, call, report, programs)
        except Exception:  # the report itself must never end in a traceback for the student
            report.longrepr = ("Internal error in the test harness while it wrote this report. This is not a "
                               "verdict on your code: please report it, with the grader's pytest.log.")
            report.sections = [(LOG_ONLY + "details for the kit's maintainers", traceback.format_exc())]
            report.user_properties = list(report.user_properties) + [("cause", Diagnosis(
                "internal", "the harness itself failed while it wrote the report; please report it",
                key="internal:report", withhold_hint=False).to_json())]
    if report.when == "teardown" and programs and (report.failed or CALL_FAILED_KEY.get(item, False)):
        where = _evidence_dir(item)
        if where:
            try:
                where.mkdir(parents=True, exist_ok=True)
                room = min(EVIDENCE_TEST_CAP, max(0, EVIDENCE_RUN_CAP - _folder_bytes(where.parent)))
                for i, p in enumerate(programs):
                    stem = f"{i}-{paths.evidence_name(p.name)}"
                    for kind, data in (("stdout", p.stdout), ("stderr", p.stderr)):
                        kept = _capped(data, min(EVIDENCE_CAP, room))
                        room = max(0, room - min(len(data), EVIDENCE_CAP))
                        (where / f"{stem}.{kind}").write_bytes(kept)
                    (where / f"{stem}.cmd").write_text(textsafe.printable(" ".join(p.argv)) + f"\n{p.exit_text()}\n")
            except OSError as e:
                report.sections.append((LOG_ONLY + "evidence", f"could not keep the evidence: {e}"))
            else:
                report.sections.append(("evidence", where.name))
    _cap_report(report)

