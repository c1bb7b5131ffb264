"""The grader: build one lab from a folder of sources, run its tests, report and score.

    python -m harness.grade --lab 01 [--impl labs|solutions|PATH] [--out DIR] [--jobs N]
                            [--hidden DIR] [-k EXPR] [--timeout S] [--quiet]
                            [--valgrind] [--pcap]

--valgrind builds without sanitizers and runs every program under memcheck; --pcap keeps a
packet capture of the loopback traffic of each failing test (where tcpdump runs).

It writes into the output folder (default out/grade-LAB-IMPL):
    build.log      the compiler's messages
    results.json   Gradescope's format, rewritten as each test finishes
    junit.xml      JUnit XML (pytest's own writer)
    pytest.log     pytest's full output
    evidence/      stdout and stderr of the programs of each failing test

It prints the feedback for each failed test, then a table (test, points, status, seconds)
and the total. Exit status: 0 only on full marks; 1 otherwise; 2 for bad arguments.

Student code is untrusted: the build and every program run in the sandbox of
harness/sandbox/ (as root: an unprivileged user of their own, the run's own network, PID
and mount namespaces, and bubblewrap's allow-list view of the files; otherwise rlimits
only). The first lines of output name the mode and what it does not protect.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import paths, results, sandbox

#: Hidden tests: modules named test_labNN*.py in this folder also count.
HIDDEN_ENV = "SOCKLAB_HIDDEN"


def hidden_modules(lab: paths.Lab, folder: str | None) -> list[Path]:
    """Instructor test modules for `lab` in `folder` (test_labNN*.py), sorted."""
    if not folder:
        return []
    root = Path(folder)
    if not root.is_dir():
        raise SystemExit(f"grade: hidden tests folder {root} does not exist")
    return sorted(root.glob(f"test_lab{lab.id}*.py"))


def pytest_command(lab: paths.Lab, out: Path, modules: list[Path], jobs: int, select: str | None,
                   collect_only: bool = False, bin_dir: Path | None = None,
                   extra: list[str] | None = None) -> list[str]:
    """The pytest command line the grader runs (in a child process, in its own process group)."""
    cmd = [sys.executable, "-m", "pytest", "-c", str(paths.KIT / "pytest.ini"), "--rootdir", str(paths.KIT),
           *map(str, modules), "-p", "harness.results", "--results-json", str(out / "results.json"),
           "--bin-dir", str(bin_dir or out / "build"), "--build-log", str(out / "build.log"),
           "--evidence", str(out / "evidence"), "-q", "-p", "no:randomly", *(extra or [])]
    if select:
        cmd += ["-k", select]
    if collect_only:
        return cmd + ["--collect-only"]
    cmd += ["--junitxml", str(out / "junit.xml"), "-o", "junit_family=xunit2"]
    if jobs > 1:
        cmd += ["-n", str(jobs)]
    return cmd


#: Bytes of a child's output kept in its log (pytest.log, a batch's grade.txt): the rest is cut.
LOG_CAP = 8 << 20


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


_LIBC = ctypes.CDLL(None)   # loaded here, not in the forked child


def _die_with_parent() -> None:
    """In the child: SIGKILL when the grader dies (even by SIGKILL), so that no run outlives it."""
    _LIBC.prctl(1, int(signal.SIGKILL), 0, 0, 0)   # PR_SET_PDEATHSIG


def run_bounded(cmd: list[str], log: Path | None, timeout: float, env: dict | None = None,
                cap: int = LOG_CAP) -> int | None:
    """Run `cmd` with output to `log` (at most `cap` bytes; None: to our stdout), in its own
    process group, killed if we die; kill the group after `timeout` s.

    Returns the exit status, or None if time ran out.
    """
    import threading
    with open(log if log else os.devnull, "ab") as f:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE if log else None,
                             stderr=subprocess.STDOUT if log else None,
                             stdin=subprocess.DEVNULL, cwd=paths.KIT, start_new_session=True, env=env,
                             preexec_fn=_die_with_parent)
        pump = threading.Thread(target=_pump, args=(p.stdout, f, cap), daemon=True) if log else None
        if pump:
            pump.start()
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
            if pump:
                pump.join(5)


def print_report(lab: paths.Lab, src: Path, data: dict, out: Path, seconds: float, verbose: bool) -> None:
    """The feedback for failed tests, then the table and the total."""
    tests = data.get("tests", [])
    failed = [t for t in tests if t["status"] == "failed"]
    if verbose and failed:
        print()
        seen: dict[str, str] = {}
        for t in failed:
            head = f"FAILED {t['name']} ({t['score']:g}/{t['max_score']:g})"
            body = t["output"].rstrip()
            # Many tests fail the same way when one step is missing: say it once.
            key = re.sub(r"\d+", "N", body)
            if key in seen:
                print(f"{head}: the same failure as {seen[key]}")
                continue
            seen[key] = t["name"]
            print(f"=== {head} ===\n{body}\n")
    width = max([len(t["name"]) for t in tests] + [24])
    print(f"Lab {lab.id} ({lab.title}), sources: {src}")
    print(f"  {'test':<{width}}  {'points':>7}  {'status':<7}  {'seconds':>7}")
    for t in tests:
        extra = t.get("extra_data", {})
        status = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "not run": "NOT RUN"}.get(
            extra.get("outcome"), t["status"].upper())
        if t["visibility"] != "visible":
            status += "*"
        pts = f"{t['score']:g}/{t['max_score']:g}"
        print(f"  {t['name']:<{width}}  {pts:>7}  {status:<7}  {extra.get('seconds', 0):>7.2f}")
    score = sum(t["score"] for t in tests)
    top = sum(t["max_score"] for t in tests)
    print(f"  {'TOTAL':<{width}}  {f'{score:g}/{top:g}':>7}  {'':<7}  {seconds:>7.2f}")
    if any(t["visibility"] != "visible" for t in tests):
        print("  (* a hidden test: students see it according to its visibility)")
    print(f"results: {out / 'results.json'}  junit: {out / 'junit.xml'}  log: {out / 'pytest.log'}")


def grade(args: argparse.Namespace) -> int:
    """Build, test and report; returns the exit status (0 only on full marks)."""
    try:
        lab = paths.find_lab(args.lab)
    except KeyError as e:
        print(f"grade: {e.args[0]}", file=sys.stderr)
        return 2
    src = paths.resolve_impl(lab, args.impl)
    tag = {lab.skeleton.resolve(): "labs", lab.solution.resolve(): "solutions"}.get(src.resolve(), "path")
    out = Path(args.out or paths.KIT / "out" / f"grade-{lab.id}-{tag}").resolve()
    if not args.inside_sandbox:
        sandbox.private_folder(paths.KIT / "out")
    started = time.monotonic()
    if args.inside_sandbox:
        # The second half of a namespaces run: the outer grader has set everything up.
        cfg = sandbox.current()
        if cfg is None:
            print("grade: --inside-sandbox without a sandbox configuration", file=sys.stderr)
            return 2
        return run_grading(lab, Path(args.source_label or src), out, args, cfg,
                           hidden_modules(lab, args.hidden), started)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    # Nothing in the output folder is for the student's programs to read or write.
    os.chmod(out, 0o700)
    print(f"grading lab {lab.id} ({lab.title}) from {src} ...", flush=True)
    hidden_dir = args.hidden or os.environ.get(HIDDEN_ENV)
    hidden = hidden_modules(lab, hidden_dir)
    box = sandbox.Sandbox(jobs=max(1, args.jobs), enabled=not args.no_sandbox)
    try:
        print(box.describe(), flush=True)
        for note in box.prepare(lab, src):
            print(f"note: {note}")
        # Instructors' hidden tests: a private copy, which pytest (as root) reads; the original
        # folder is hidden from the sandbox.
        copies = []
        if hidden:
            (out / "hidden").mkdir(mode=0o700)
            for m in hidden:
                shutil.copy2(m, out / "hidden" / m.name)
                copies.append(out / "hidden" / m.name)
            if (hidden[0].parent / "conftest.py").is_file():
                shutil.copy2(hidden[0].parent / "conftest.py", out / "hidden" / "conftest.py")
        if not box.config.outer_namespaces:
            if hidden and box.mode == "user" and Path(hidden_dir).stat().st_mode & 0o005:
                print(f"note: without namespaces the student's programs can read {hidden_dir}: "
                      f"make it root-only (chmod 700) to keep the hidden tests hidden")
            return run_grading(lab, src, out, args, box.config, copies, started)
        hide = [paths.SOLUTIONS, *([Path(hidden_dir)] if hidden_dir else []), *map(Path, args.hide or [])]
        writable = [out, *[Path(p).resolve().parent for p in args.results_json or []]]
        inner = [sys.executable, "-m", "harness.grade", *args.argv, "--impl", str(box.config.src),
                 "--out", str(out), "--hidden", str(out / "hidden") if copies else "",
                 "--timeout", f"{max(10.0, args.timeout - (time.monotonic() - started)):.1f}",
                 "--source-label", str(src), "--inside-sandbox"]
        rc = run_bounded(box.command(inner, writable, hide), None, args.timeout + 30,
                         env=sandbox.child_env(box.config))
        data = results.load(out / "results.json")
        if rc in (0, 1) and data is not None:
            return rc  # the run inside reported (and wrote results.json) itself
        # The run inside did not finish its report: killed at the time bound, or it failed.
        why = ("The grading run was stopped after its time bound" if rc is None else
               f"The grading run failed (exit status {rc})")
        note = f"{why}; unfinished tests score 0."
        print(note)
        data = results.write_stub(out / "results.json", note, data)
        for p in args.results_json or []:
            results.write_stub(Path(p), note, data | {"output": ""})
        if data["tests"]:
            print_report(lab, src, data, out, time.monotonic() - started, not args.quiet)
        return 1
    finally:
        box.close()


def run_grading(lab: paths.Lab, src: Path, out: Path, args: argparse.Namespace, cfg: sandbox.Config,
                hidden: list[Path], started: float) -> int:
    """Build, test and report, in the sandbox `cfg` describes; returns the exit status."""
    build = sandbox.build(cfg, lab, out / "build", sanitize=not args.valgrind)
    if args.valgrind:
        # memcheck needs a plain build and runs programs 10-50 times slower: stretch the deadlines.
        os.environ["SOCKLAB_VALGRIND"] = "1"
        scale = float(os.environ.get("SOCKLAB_TIME_SCALE", "1"))
        os.environ["SOCKLAB_TIME_SCALE"] = str(max(scale, 5.0))
    (out / "build.log").write_text(("" if build.ok else "BUILD FAILED\n") + build.log)
    if not build.ok:
        print(f"The build failed:\n{build.log.strip()[-3000:]}\n", flush=True)

    # The hidden modules' folder, not its files: pytest names a file given outside the kit
    # "::test_x", and two hidden modules' tests would then share names.
    modules = [lab.test_module] + sorted({m.parent for m in hidden})
    log = out / "pytest.log"
    env = sandbox.child_env(cfg)
    extra = ["--basetemp", str(cfg.basetemp)]
    for p in args.results_json or []:
        extra += ["--results-json", str(Path(p).resolve())]
    if args.jobs > 1:
        # Under xdist the controller collects nothing: a collect-only pass writes the plan, so
        # that a killed run still lists every test (without xdist the run itself writes it).
        run_bounded(pytest_command(lab, out, modules, 1, args.k, collect_only=True, bin_dir=cfg.bin_dir,
                                   extra=extra), log, 60, env=env)
    budget = max(10.0, args.timeout - (time.monotonic() - started))
    rc = run_bounded(pytest_command(lab, out, modules, args.jobs, args.k, bin_dir=cfg.bin_dir, extra=extra),
                     log, budget, env=env)
    if not cfg.outer_namespaces:
        for stray in sandbox.reap_strays(cfg.root):
            print(f"note: killed a program left running: {stray}")
    data = results.load(out / "results.json") or {"tests": []}
    if rc is None:
        note = f"The grading run was stopped after {args.timeout:.0f} s; unfinished tests score 0."
        print(note)
        data = results.write_stub(out / "results.json", note, data)
        for p in args.results_json or []:
            results.write_stub(Path(p), note, data | {"output": ""})
    if not data["tests"]:
        print(f"grade: no test ran; see {log}", file=sys.stderr)
        print(log.read_text()[-3000:], file=sys.stderr)
        note = "No test ran: the grader could not collect the tests (see pytest.log)."
        for p in [out / "results.json", *(args.results_json or [])]:
            results.write_stub(Path(p), note)
        return 1
    print_report(lab, src, data, out, time.monotonic() - started, not args.quiet)
    score = sum(t["score"] for t in data["tests"])
    top = sum(t["max_score"] for t in data["tests"])
    return 0 if top > 0 and score == top else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.grade", description=__doc__.split("\n\n")[0])
    ap.add_argument("--lab", default=os.environ.get("LAB", "01"), help="lab id, for example 01")
    ap.add_argument("--impl", default="labs", help="labs (default), solutions, or a folder of sources")
    ap.add_argument("--out", help="output folder (default out/grade-LAB-IMPL)")
    ap.add_argument("--jobs", "-j", type=int, default=2, help="tests run in parallel (pytest-xdist); default 2")
    ap.add_argument("--hidden", help=f"folder of hidden test modules test_labNN*.py (or ${HIDDEN_ENV})")
    ap.add_argument("-k", help="only tests matching this pytest -k expression")
    ap.add_argument("--timeout", type=float, default=600, help="bound on the whole run, seconds (default 600)")
    ap.add_argument("--quiet", "-q", action="store_true", help="the table only, without failure feedback")
    ap.add_argument("--valgrind", action="store_true",
                    help="build without sanitizers and run every program under valgrind memcheck (slow)")
    ap.add_argument("--pcap", action="store_true",
                    help="keep each failing test's loopback traffic as a .pcap in OUT/evidence (tcpdump, root)")
    ap.add_argument("--no-sandbox", action="store_true",
                    help="run student programs as this user, without namespaces (see harness/sandbox/)")
    ap.add_argument("--hide", action="append", metavar="DIR",
                    help="a folder the student's code must not read (namespaces mode); repeatable")
    ap.add_argument("--results-json", action="append", metavar="PATH",
                    help="also keep a copy of results.json here, rewritten as tests finish; repeatable")
    ap.add_argument("--source-label", help=argparse.SUPPRESS)
    ap.add_argument("--inside-sandbox", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.pcap:
        os.environ["SOCKLAB_PCAP"] = "1"  # the child pytest's --pcap (harness/pcap.py)
    return grade(args)


if __name__ == "__main__":
    sys.exit(main())
