"""The grader: build one lab from a folder of sources, run its tests, report and score.

    python -m harness.grade --lab 01 [--impl labs|solutions|PATH] [--out DIR] [--jobs N]
                            [--hidden DIR] [-k EXPR] [-x] [--lf] [--timeout S] [--quiet]
                            [--valgrind] [--pcap]

-k EXPR runs only the tests whose names match; -x stops at the first failure; --lf runs only
the tests that failed in the previous run of the same lab and sources (pytest's cache, kept in
out/.cache-grade-LAB-IMPL).

--valgrind builds without sanitizers and runs every program under memcheck; --pcap keeps a
packet capture of the loopback traffic of each failing test (where tcpdump runs).

It writes into the output folder (default out/grade-LAB-IMPL):
    run.json       every setting of the run (harness/runspec.py): the lab, the sources, the flags,
                   the time scale, the sandbox, the hidden tests, the output paths, and once built
                   which programs built (a program that did not build fails only the tests that
                   need it). The run inside the sandbox, pytest and its plugins read it.
    build.log      the compiler's messages, program by program
    results.json   Gradescope's format, rewritten as each test finishes
    junit.xml      JUnit XML (pytest's own writer)
    pytest.log     pytest's full output
    evidence/      stdout and stderr of the programs of each failing test

It prints the feedback (print_report): what happened first, then one block per cause
(tests that failed for the same diagnosed reason are listed together with the points they
cost), the table (test, points, status, seconds), the total and a "next step" line: the
earliest handout step whose tests fail and the TODO that blocks it. Exit status: 0 only on
full marks; 1 otherwise; 2 for bad arguments.

Student code is untrusted: the build and every program run in the sandbox of
harness/sandbox/ (as root: an unprivileged user of their own, the run's own network, PID
and mount namespaces, and bubblewrap's allow-list view of the files; otherwise rlimits
only). The first lines of output name the mode and what it does not protect.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import build as building
from . import compat, paths, procs, results, runspec, sandbox, textsafe, timing
from .results import test_id

#: Hidden tests: modules named test_labNN*.py in this folder also count (read once, into run.json).
HIDDEN_ENV = "SOCKLAB_HIDDEN"


def hidden_modules(lab: paths.Lab, folder: str | None) -> list[Path]:
    """Instructor test modules for `lab` in `folder` (test_labNN*.py), sorted."""
    if not folder:
        return []
    root = Path(folder)
    if not root.is_dir():
        raise SystemExit(f"grade: hidden tests folder {root} does not exist")
    return sorted(root.glob(f"test_lab{lab.id}*.py"))


def cache_dir(out: Path) -> Path:
    """pytest's cache for --lf, inside the output folder (grade() keeps it from one run to the next)."""
    return out / ".pytest-cache"


def _addopts_with_cache() -> str:
    """pytest.ini's addopts without "-p no:cacheprovider" (a later "-p cacheprovider" cannot undo it)."""
    import configparser
    ini = configparser.ConfigParser()
    ini.read(paths.KIT / "pytest.ini")
    opts = ini.get("pytest", "addopts", fallback="-p harness.plugin --strict-markers")
    return re.sub(r"-p\s+no:cacheprovider\b", "", opts).strip()


def pytest_command(spec: runspec.RunSpec, modules: list[Path], collect_only: bool = False) -> list[str]:
    """The pytest command line the grader runs (in a child process, in its own process group).

    The plugin reads every socklab setting from `--run-spec` (run.json); what remains here are
    pytest's own options, from the same spec. pytest's cache provider is on (pytest.ini turns
    it off for the kit's own runs), so that the next run's --lf knows which tests failed.
    """
    out, flags = Path(spec.out), spec.flags
    cmd = [sys.executable, "-m", "pytest", "-c", str(paths.KIT / "pytest.ini"), "--rootdir", str(paths.KIT),
           *map(str, modules), "-p", "harness.results", "--run-spec", str(spec.path), "-q", "-p", "no:randomly",
           "-o", f"addopts={_addopts_with_cache()}", "-o", f"cache_dir={cache_dir(out)}"]
    if spec.sandbox:
        cmd += ["--basetemp", str(sandbox.Config.from_dict(spec.sandbox).basetemp)]
    if flags.select:
        cmd += ["-k", flags.select]
    if flags.last_failed:
        cmd += ["--lf"]  # with nothing failed last time (or no last time), all of them
    if flags.exitfirst and not collect_only:
        cmd += ["-x"]
    if collect_only:
        return cmd + ["--collect-only"]
    cmd += ["--junitxml", str(spec.junit), "-o", "junit_family=xunit2"]
    if flags.jobs > 1:
        cmd += ["-n", str(flags.jobs)]
    return cmd


#: Bytes of a child's output kept in its log (pytest.log, a batch's grade.txt): the rest is cut.
LOG_CAP = 8 << 20


#: Lines of one test's message shown on the console in a cause's block (the rest: results.json, pytest.log).
BLOCK_LINES = 24
#: Test names listed in a cause's block before "and N more".
BLOCK_NAMES = 8
#: Tests stopped by one gap of the skeleton that the table shows as one row.
STUB_ROWS = 3


def _cause(t: dict) -> dict:
    extra = t.get("extra_data") or {}
    if extra.get("outcome") in ("not run", "running") and not extra.get("cause"):
        return {"kind": "not-run", "key": "not-run",
                "sentence": "these tests did not run to the end (the run stopped early), so they score 0"}
    return extra.get("cause") or {}


def _body(t: dict) -> list[str]:
    """A test's message without its "What happened" line."""
    return [l for l in (t.get("output") or "").rstrip().splitlines() if not l.startswith("What happened: ")]


def _names(tests: list[dict]) -> str:
    names = [test_id(t) for t in tests]
    shown = ", ".join(names[:BLOCK_NAMES])
    return shown + (f" and {len(names) - BLOCK_NAMES} more" if len(names) > BLOCK_NAMES else "")


def _points(tests: list[dict]) -> str:
    pts = sum(t["max_score"] for t in tests)
    n = len(tests)
    return f"{pts:g} point{'s' if pts != 1 else ''} in {n} test{'s' if n != 1 else ''}"


def group_failures(tests: list[dict]) -> list[tuple[dict, list[dict]]]:
    """Failed tests grouped by cause, in the order of their first test: [(cause, tests)].

    Tests with a diagnosed cause group by its key; the others by their message with numbers
    (ports, timings) blurred, so that a test that failed its own way stays on its own."""
    groups: dict[str, tuple[dict, list[dict]]] = {}
    for t in tests:
        if t["status"] != "failed" or (t.get("extra_data") or {}).get("outcome") == "skipped":
            continue
        cause = _cause(t)
        key = cause.get("key") or "msg:" + re.sub(r"\d+", "N", "\n".join(_body(t)))
        groups.setdefault(key, (cause, []))[1].append(t)
    return list(groups.values())


def feedback_blocks(tests: list[dict], build: dict | None) -> list[str]:
    """The console's feedback: one block per cause, most costly kinds first in test order."""
    blocks = []
    for cause, group in group_failures(tests):
        kind = cause.get("kind", "")
        head = cause.get("sentence") or ""
        first = group[0]
        lines = []
        if head:
            first_word = head.split(" ", 1)[0]
            lines.append(f"=== {head[:1].upper() + head[1:] if first_word in ('the', 'a', 'an') else head}")
            lines.append(f"    This costs {_points(group)}: {_names(group)}.")
        else:
            title = test_id(first) if len(group) == 1 else f"{len(group)} tests that failed the same way"
            lines.append(f"=== FAILED {title} ({_points(group)})")
            if len(group) > 1:
                lines.append(f"    {_names(group)}")
        if kind == "build" and build:
            lines += ["    " + l for l in building.first_error(_build_log(build, cause)).splitlines()]
        elif kind not in ("stub", "not-run"):
            body = _body(first)
            if len(group) > 1 and body:
                lines.append(f"    What {test_id(first)} saw:")
            shown = body[:BLOCK_LINES]
            lines += shown
            if len(body) > len(shown):
                lines.append(f"    ... ({len(body) - len(shown)} more lines in results.json and pytest.log)")
        blocks.append("\n".join(lines))
    return blocks


def _build_log(build: dict, cause: dict) -> str:
    """The compiler's messages for the program a "build" cause names, from the "build" entry."""
    out = build.get("output", "")
    prog = cause.get("key", "").partition(":")[2]
    if prog and f"--- {prog} ---" in out:
        out = out.split(f"--- {prog} ---", 1)[1].split("\n--- ", 1)[0]
    return out


def handout_steps(lab: paths.Lab) -> list[dict]:
    """The handout's "What you write" table, in order: [{"step", "file", "functions", "section"}].

    Reads the first table after a heading that contains "What you write": a "step" column
    if it has one (else the row's place), the `file`, every `function` named in backquotes,
    and the sections. [] when the handout has no such table."""
    try:
        text = (lab.skeleton / "README.md").read_text()
    except OSError:
        return []
    m = re.search(r"^#+ .*What you write.*$", text, re.M | re.I)
    if not m:
        return []
    rows = []
    header: list[str] = []
    for line in text[m.end():].splitlines():
        if line.startswith("#"):
            break
        if not line.startswith("|"):
            if rows or header:
                if not line.strip() and rows:
                    break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not header:
            header = [c.lower() for c in cells]
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        row = dict(zip(header, cells))
        col = next((h for h in header if h.startswith("function")), None)
        funcs = re.findall(r"`(\w+)(?:\(\))?`", row.get(col, "")) if col else []
        file_col = next((h for h in header if h.startswith("file")), None)
        fname = re.findall(r"`([\w./-]+)`", row.get(file_col, "")) if file_col else []
        step = row.get("step", "")
        rows.append({"step": step if step.isdigit() else str(len(rows) + 1), "file": fname[0] if fname else "",
                     "functions": funcs, "section": row.get("section", "")})
    return rows


def next_step(lab: paths.Lab, tests: list[dict]) -> str | None:
    """One line: the earliest handout step whose tests fail, and the first TODO that blocks it."""
    failed = [t for t in tests if t["status"] == "failed" and (t.get("extra_data") or {}).get("outcome") != "skipped"]
    if not failed:
        return None
    steps = handout_steps(lab)
    stubs = [c["todo"] for c in map(_cause, failed) if c.get("kind") == "stub" and c.get("todo")]
    if stubs:
        def place(todo: dict) -> int:
            for i, s in enumerate(steps):
                if todo["func"] in s["functions"] and (not s["file"] or s["file"] == todo["file"]):
                    return i
            return len(steps)
        todo = min(stubs, key=place)
        i = place(todo)
        where = f"step {steps[i]['step']} of the handout's \"What you write\" table: " if i < len(steps) else ""
        return (f"Next step: {where}write {todo['func']}() in {todo['file']} (its TODO, handout "
                f"{todo['section']}), then run `make test` again.")
    first = failed[0]
    cause = _cause(first)
    sections = re.findall(r"§[\d.]+", first.get("output", ""))
    see = f" (handout {', '.join(dict.fromkeys(sections))})" if sections else ""
    what = {"crashed": "the crash", "exited": "what made the program exit", "build": "the build error",
            "silent": "why the server never said it was listening"}.get(cause.get("kind", ""))
    if what:
        return f"Next step: fix {what} (the first block above), then run `make test` again."
    return f"Next step: make {test_id(first)} pass{see}; it is the first test that fails."


def print_report(lab: paths.Lab, src: Path, data: dict, out: Path, seconds: float, verbose: bool) -> None:
    """The feedback (one block per cause), then the table, the total and the next step."""
    every = data.get("tests", [])
    build = next((t for t in every if test_id(t) == "build"), None)
    tests = [t for t in every if test_id(t) != "build"]
    # An ungraded check (0 points, such as a unit test a student may run alone) never takes a
    # block on the console while graded tests fail: it is named in one line under the table.
    graded_failed = any(t["status"] == "failed" and t["max_score"] > 0 for t in tests)
    ungraded = [t for t in tests if t["status"] == "failed" and t["max_score"] == 0] if graded_failed else []
    if verbose and any(t["status"] == "failed" for t in tests):
        print()
        for block in feedback_blocks([t for t in tests if t not in ungraded], build):
            print(textsafe.printable(block) + "\n")
    width = max([len(test_id(t)) for t in tests] + [24])
    print(f"Lab {lab.id} ({lab.title}), sources: {src}")
    print(f"  {'test':<{width}}  {'points':>7}  {'status':<7}  {'seconds':>7}")
    # Tests stopped by the same gap of the skeleton take one row (each one is in results.json).
    stubbed: dict[str, list[dict]] = {}
    for t in tests:
        cause = _cause(t)
        if t["status"] == "failed" and cause.get("kind") == "stub" and cause.get("todo"):
            stubbed.setdefault(cause.get("key", ""), []).append(t)
    stubbed = {k: g for k, g in stubbed.items() if len(g) >= STUB_ROWS}
    shown: set = set()
    for t in tests:
        key = _cause(t).get("key", "")
        if key in stubbed:
            if key not in shown:
                shown.add(key)
                group = stubbed[key]
                todo = _cause(t)["todo"]
                label = textsafe.one_line(f"{len(group)} tests: {todo['func']}() not written yet", 120)
                pts = f"0/{sum(g['max_score'] for g in group):g}"
                secs = sum((g.get("extra_data") or {}).get("seconds", 0) for g in group)
                print(f"  {label:<{width}}  {pts:>7}  {'TODO':<7}  {secs:>7.2f}")
            continue
        extra = t.get("extra_data", {})
        status = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "not run": "NOT RUN",
                  "running": "FAIL" if extra.get("cause") else "NOT RUN"}.get(extra.get("outcome"),
                                                                              t["status"].upper())
        if t["visibility"] != "visible":
            status += "*"
        pts = f"{t['score']:g}/{t['max_score']:g}"
        print(f"  {textsafe.one_line(test_id(t), 120):<{width}}  {pts:>7}  {status:<7}  {extra.get('seconds', 0):>7.2f}")
    score = sum(t["score"] for t in tests)
    top = sum(t["max_score"] for t in tests)
    print(f"  {'TOTAL':<{width}}  {f'{score:g}/{top:g}':>7}  {'':<7}  {seconds:>7.2f}")
    if any(t["visibility"] != "visible" for t in tests):
        print("  (* a hidden test: students see it according to its visibility)")
    if verbose and ungraded:
        print(f"  (not graded, and failed: {', '.join(test_id(t) for t in ungraded)}; details in pytest.log)")
    if verbose:
        step = next_step(lab, tests)
        if step:
            print(step)
    kept = any((t.get("extra_data") or {}).get("evidence") for t in tests)
    print(f"results: {out / 'results.json'}  log: {out / 'pytest.log'}"
          + (f"  your programs' output in failing tests: {out / 'evidence'}" if kept else ""))


def grade(args: argparse.Namespace) -> int:
    """Build, test and report; returns the exit status (0 only on full marks)."""
    if args.run_spec:
        # The second half of a namespaces run: the outer grader wrote run.json.
        spec = runspec.load(Path(args.run_spec))
        if spec is None or not spec.sandbox:
            print(f"grade: --run-spec {args.run_spec}: not a grading run's run.json", file=sys.stderr)
            return 2
        return run_grading(spec)
    try:
        lab = paths.find_lab(args.lab)
    except KeyError as e:
        print(f"grade: {e.args[0]}", file=sys.stderr)
        return 2
    if args.impl in ("solutions", "solution", "reference") and not lab.solution.is_dir():
        print(f"grade: this copy of socklab is a student handout: it has no solutions/ folder (the reference\n"
              f"solutions stay with the instructors). To grade your own code in {lab.skeleton.relative_to(paths.KIT)}:\n"
              f"    make test LAB={lab.id}        (or, in that folder: make test)", file=sys.stderr)
        return 2
    src = paths.resolve_impl(lab, args.impl)
    tag = {lab.skeleton.resolve(): "labs", lab.solution.resolve(): "solutions"}.get(src.resolve(), "path")
    out = Path(args.out or paths.KIT / "out" / f"grade-{lab.id}-{tag}").resolve()
    sandbox.private_folder(paths.KIT / "out")
    started = time.time()
    if not src.is_dir():
        print(f"grade: no folder of sources at {src} (IMPL is labs, solutions or a folder)", file=sys.stderr)
        return 2
    # A fresh output folder, but pytest's cache survives (for the next run's --lf).
    keep = None
    if cache_dir(out).is_dir():
        keep = Path(tempfile.mkdtemp(prefix="socklab-cache-"))
        shutil.move(str(cache_dir(out)), str(keep / "cache"))
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if keep is not None:
        shutil.move(str(keep / "cache"), str(cache_dir(out)))
        shutil.rmtree(keep, ignore_errors=True)
    # Nothing in the output folder is for the student's programs to read or write.
    os.chmod(out, 0o700)
    print(f"grading lab {lab.id} ({lab.title}) from {src} ...", flush=True)
    # The user's settings from the environment, read once here into run.json.
    scale = runspec.parse_time_scale(os.environ.get(runspec.TIME_SCALE_ENV))
    if args.valgrind:
        # memcheck needs a plain build and runs programs 10-50 times slower: stretch the deadlines.
        scale = max(scale, runspec.VALGRIND_TIME_SCALE)
    hidden_dir = args.hidden or os.environ.get(HIDDEN_ENV)
    hidden = hidden_modules(lab, hidden_dir)
    # The machine's scheduling delay, measured once here and passed on in run.json to every
    # test process: timing.upper() widens upper bounds by it (harness/timing.py).
    delay = timing.sched_delay()
    print(f"timing: scheduling delay {delay * 1000:.1f} ms (99th percentile of a 1 ms sleep), "
          f"load {timing.load():.1f}, time scale {scale:g}", flush=True)
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
        flags = runspec.Flags(select=args.k, exitfirst=args.x, last_failed=args.lf, jobs=args.jobs,
                              valgrind=args.valgrind, pcap=args.pcap or os.environ.get("SOCKLAB_PCAP") == "1",
                              timeout=args.timeout, quiet=args.quiet)
        spec = runspec.RunSpec(lab=lab.id, impl=args.impl, source=str(src), build_source=str(box.config.src),
                               out=str(out), flags=flags, time_scale=scale, sched_delay=round(delay, 6),
                               sandbox=box.config.to_dict(), hidden=[str(c) for c in copies],
                               hidden_origin=str(Path(hidden_dir).resolve()) if hidden else None,
                               results_copies=[str(Path(p).resolve()) for p in args.results_json or []],
                               bin_dir=str(box.config.bin_dir), started=started)
        spec.save()
        if not box.config.outer_namespaces:
            if hidden and box.mode == "user" and Path(hidden_dir).stat().st_mode & 0o005:
                print(f"note: without namespaces the student's programs can read {hidden_dir}: "
                      f"make it root-only (chmod 700) to keep the hidden tests hidden")
            return run_grading(spec)
        hide = [paths.SOLUTIONS, *([Path(hidden_dir)] if hidden_dir else []), *map(Path, args.hide or [])]
        writable = [out, *[Path(p).parent for p in spec.results_copies]]
        inner = [sys.executable, "-m", "harness.grade", "--run-spec", str(spec.path)]
        rc = procs.run_bounded(box.command(inner, writable, hide), args.timeout + 30, cwd=paths.KIT,
                               env=sandbox.child_env(box.config), die_with_parent=True).rc
        data = results.load(out / "results.json")
        if rc in (0, 1) and data is not None:
            return rc  # the run inside reported (and wrote results.json) itself
        # The run inside did not finish its report: killed at the time bound, or it failed.
        why = ("The grading run was stopped after its time bound" if rc is None else
               f"The grading run failed (exit status {rc})")
        stop_early(spec, f"{why}; unfinished tests score 0.", data)
        data = results.load(out / "results.json") or {"tests": []}
        if data["tests"]:
            print_report(lab, src, data, out, time.time() - started, not args.quiet)
        return 1
    finally:
        box.close()


def stop_early(spec: runspec.RunSpec, note: str, data: dict | None) -> None:
    """Say `note` and write it as the stub results (results.json and its copies), keeping the
    tests that `data` already has."""
    print(note)
    data = results.write_stub(spec.results_json, note, data)
    for p in spec.results_copies:
        results.write_stub(Path(p), note, (data or {}) | {"output": ""})


def run_grading(spec: runspec.RunSpec) -> int:
    """Build, test and report, in the sandbox and with the settings of `spec` (run.json);
    returns the exit status."""
    runspec.activate(spec)
    cfg = sandbox.current()
    lab = paths.find_lab(spec.lab)
    out, flags = Path(spec.out), spec.flags
    build = sandbox.build(cfg, lab, out / "build", sanitize=not flags.valgrind)
    spec.build = build.to_json()
    spec.save()  # the build's results, for pytest's plugin, batch and the autograder
    spec.build_log.write_text(build.log)
    if not build.ok:
        failed = build.failed() or ["the lab"]
        print(f"note: {', '.join(failed)} did not build: the tests that need "
              f"{'them' if len(failed) > 1 else 'it'} score 0 (compiler's messages below and in build.log)", flush=True)

    # The hidden modules' folder, not its files: pytest names a file given outside the kit
    # "::test_x", and two hidden modules' tests would then share names.
    modules = [lab.test_module] + sorted({Path(m).parent for m in spec.hidden})
    log = spec.log
    # Which pytest graded (the old-pytest check, `make compat-check`, reads this line).
    with open(log, "a") as f:
        f.write(f"socklab: {compat.versions_line()}\n")
    env = sandbox.child_env(cfg)
    if flags.jobs > 1:
        # Under xdist the controller collects nothing: a collect-only pass writes the plan, so
        # that a killed run still lists every test (without xdist the run itself writes it).
        procs.run_bounded(pytest_command(spec, modules, collect_only=True), 60, log=log, cwd=paths.KIT, env=env)
    budget = max(10.0, flags.timeout - (time.time() - spec.started))
    rc = procs.run_bounded(pytest_command(spec, modules), budget, log=log, cwd=paths.KIT, env=env,
                           log_cap=LOG_CAP, die_with_parent=True).rc
    if not cfg.outer_namespaces:
        for stray in sandbox.reap_strays(cfg.root):
            print(f"note: killed a program left running: {stray}")
    data = results.load(spec.results_json) or {"tests": []}
    if rc == 2 and flags.exitfirst:
        rc = 1  # -x under xdist: "interrupted" after the first failure, as asked
    if rc not in (None, 0, 1) and data["tests"]:
        note = (f"The test run stopped with an error of its own (pytest exit status {rc}); unfinished tests "
                f"score 0. This is not a verdict on your code: please report it, with the grader's pytest.log.")
        print(note)
        data = results.write_stub(spec.results_json, note, data)
    if rc is None:
        stop_early(spec, f"The grading run was stopped after {flags.timeout:.0f} s; unfinished tests score 0.", data)
        data = results.load(spec.results_json) or {"tests": []}
    if not data["tests"]:
        print(f"grade: no test ran; see {log}", file=sys.stderr)
        print(log.read_text()[-3000:], file=sys.stderr)
        note = "No test ran: the grader could not collect the tests (see pytest.log)."
        for p in [spec.results_json, *spec.results_copies]:
            results.write_stub(Path(p), note)
        return 1
    print_report(lab, Path(spec.source), data, out, time.time() - spec.started, not flags.quiet)
    if flags.last_failed or flags.exitfirst or flags.select:
        print("note: " + ", ".join(w for w, on in (("-k: only the tests that match", flags.select),
                                                     ("-x: stopped at the first failure", flags.exitfirst),
                                                     ("--lf: only the tests that failed last time", flags.last_failed))
                                   if on)
              + "; the total counts the tests that ran")
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
    ap.add_argument("-x", "--exitfirst", dest="x", action="store_true", help="stop at the first failed test")
    ap.add_argument("--lf", "--last-failed", dest="lf", action="store_true",
                    help="run only the tests that failed in the previous run of this lab and sources")
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
    ap.add_argument("--run-spec", metavar="PATH", help=argparse.SUPPRESS)  # the run inside the sandbox
    args = ap.parse_args(argv)
    problems = compat.too_old()
    if problems:
        # Before anything else: an old pytest fails later in ways a student cannot read.
        print(f"grade: the Python packages of {sys.executable} cannot run the grader:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        print(f"  {compat.INSTALL_HINT}", file=sys.stderr)
        return 2
    try:
        return grade(args)
    except KeyboardInterrupt:
        print("grade: interrupted", file=sys.stderr)
        return 130
    except Exception:  # never a traceback for a student: one line here, the details in a file
        import traceback
        where = Path(tempfile.gettempdir()) / f"socklab-grade-error-{os.getpid()}.txt"
        try:
            where.write_text(traceback.format_exc())
        except OSError:
            where = None
        exc = sys.exc_info()[1]
        print(f"grade: internal error in the grader ({type(exc).__name__}: {textsafe.one_line(str(exc), 200)}). "
              f"This is not a verdict on your code: please report it"
              + (f", with {where}" if where else "") + ".", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
