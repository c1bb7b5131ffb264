"""Grade a whole class: every submission in a folder, in parallel, each one isolated.

    make grade-batch LAB=01 SUBMISSIONS=DIR [BATCH_FLAGS="-j 4 --force --hidden DIR"]
    python -m harness.batch --lab 01 --submissions DIR [--out DIR] [-j N] [--force]
                            [--hidden DIR] [-k EXPR] [--timeout S]

Input: SUBMISSIONS holds one entry per student: a folder with their lab files, or an archive
(.zip, .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz). The student's name is the entry's name. The
lab's files are found wherever they are inside (for example alice/labs/01-tcp-echo/ or
alice.zip:lab1/); a file the student did not hand in is taken from the skeleton (and the
feedback says so), so that finished parts still earn their points.

Output (default out/batch-LAB, readable by root only when run as root):
    grades.csv            student, points per test, total, max, seconds, status
    feedback/NAME.txt     what each student gets: the table and the failures of visible tests
    summary.txt, .json    mean, median, distribution, and the tests failed most
    students/NAME/        the prepared sources (src/) and the grader's output (grade/)

Each submission is graded by its own grader process (python -m harness.grade), in its own
sandbox (harness/sandbox/), bounded by --timeout: one that fails to compile, hangs,
crashes, forks without end or floods its output gets its own score and nothing else.

Resuming: a submission already graded (students/NAME/done.json, for the same sources,
tests and options) is skipped; --force grades everything again. Progress (done/total,
rate, time left) goes to stderr as submissions finish.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import intake, paths, procs, results, runspec, sandbox

ARCHIVES = intake.ARCHIVES
#: Version of the way a submission is prepared and graded: a change makes resumed runs regrade.
FORMAT = 2


# ---- finding and preparing a submission's sources -------------------------------------------
def safe_name(name: str) -> str:
    """A student's name as a file name: letters, digits, '.', '_' and '-' only."""
    for ext in sorted(ARCHIVES, key=len, reverse=True):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "student"
    return clean[:80]


def lab_files(lab: paths.Lab) -> list[str]:
    """The file names a student hands in for `lab`: the skeleton's .c and .h files."""
    return sorted(p.name for p in lab.skeleton.iterdir() if p.suffix in (".c", ".h") and p.is_file())


def find_sources(root: Path, wanted: list[str], max_depth: int = 5) -> Optional[Path]:
    """The folder under `root` holding the most of the `wanted` files (the shallowest on a tie)."""
    best, best_count, best_depth = None, 0, 99
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("__MACOSX", "build"))
        if depth >= max_depth:
            dirnames[:] = []
        n = sum(1 for w in wanted if w in filenames)
        if n > best_count or (n == best_count and n and depth < best_depth):
            best, best_count, best_depth = Path(dirpath), n, depth
    return best


def prepare(lab: paths.Lab, entry: Path, work: Path) -> tuple[Optional[Path], list[str]]:
    """Make work/src: the student's .c and .h files, and the skeleton's for any missing one.

    Returns (the src folder, or None if the submission holds none of the lab's files; notes).
    """
    # A folder or an archive, taken in the same way (harness/intake.py): no link followed,
    # bounded, names checked; everything after works on this private copy.
    root = work / "unpacked"
    shutil.rmtree(root, ignore_errors=True)
    notes = intake.take(entry, root)
    wanted = lab_files(lab)
    found = find_sources(root, wanted)
    src = work / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    if found is None:
        notes.append(f"none of the lab's files ({', '.join(wanted)}) was found in the submission")
        return None, notes
    notes += intake.copy_tree(found, src, want=lambda name: name.endswith((".c", ".h")), recurse=False)
    for name in wanted:
        if not (src / name).exists():
            shutil.copy2(lab.skeleton / name, src / name)
            notes.append(f"{name} was not handed in: the skeleton's was used")
    return src, notes


def fingerprint(src: Optional[Path], extra: list[str]) -> str:
    """A hash of the prepared sources and of everything else that decides the grade."""
    h = hashlib.sha256(json.dumps([FORMAT, *extra]).encode())
    if src is not None:
        for p in sorted(src.iterdir()):
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def tests_fingerprint(lab: paths.Lab, hidden: Optional[str]) -> str:
    """A hash of the lab's test module, the hidden tests and the kit's Makefile: a change regrades."""
    h = hashlib.sha256()
    files = [lab.test_module, lab.makefile, paths.LABS / "common" / "lab.mk"]
    if hidden and Path(hidden).is_dir():
        files += sorted(Path(hidden).glob(f"test_lab{lab.id}*.py"))
    for f in files:
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


# ---- one submission ---------------------------------------------------------------------------
@dataclass
class Outcome:
    """What the batch knows about one student once graded (also done.json)."""

    student: str
    status: str                      # graded, build failed, timed out, no sources, error
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    tests: list = field(default_factory=list)   # [{name, score, max_score, status, visibility, output}]
    notes: list = field(default_factory=list)
    fingerprint: str = ""
    skipped: bool = False            # taken from an earlier run


def _status(data: Optional[dict], out: Path, rc: Optional[int]) -> str:
    if rc is None:
        return "timed out"
    if not data or not data.get("tests"):
        return "error"
    spec = runspec.load(out / runspec.NAME)  # the grading run's settings and build report
    if spec is not None and spec.build_ok is False:
        return "build failed"
    if "stopped after" in (data.get("output") or "") or "time bound" in (data.get("output") or ""):
        return "timed out"
    return "graded"


def grade_one(lab: paths.Lab, student: str, entry: Path, work: Path, opts: argparse.Namespace,
              tests_fp: str) -> Outcome:
    """Prepare and grade one submission in a grader process of its own; never raises."""
    t0 = time.monotonic()
    try:
        src, notes = prepare(lab, entry, work)
        fp = fingerprint(src, [lab.id, tests_fp, opts.k or "", str(opts.timeout)])
        done = work / "done.json"
        if not opts.force and done.is_file():
            try:
                old = Outcome(**json.loads(done.read_text()))
                if old.fingerprint == fp:
                    old.skipped = True
                    return old
            except (TypeError, ValueError):
                pass
        if src is None:
            o = Outcome(student, "no sources", notes=notes, fingerprint=fp, seconds=time.monotonic() - t0)
            done.write_text(json.dumps(o.__dict__, indent=1))
            return o
        out = work / "grade"
        cmd = [sys.executable, "-m", "harness.grade", "--lab", lab.id, "--impl", str(src), "--out", str(out),
               "--jobs", str(opts.grade_jobs), "--timeout", str(opts.timeout), "--quiet"]
        if opts.hidden:
            cmd += ["--hidden", opts.hidden]
        if opts.k:
            cmd += ["-k", opts.k]
        if opts.no_sandbox:
            cmd += ["--no-sandbox"]
        cmd += ["--hide", str(Path(opts.submissions).resolve())]
        (work / "grade.txt").unlink(missing_ok=True)
        rc: Optional[int] = procs.run_bounded(cmd, opts.timeout + 90, log=work / "grade.txt",
                                                         cwd=paths.KIT).rc
        data = results.load(out / "results.json")
        status = _status(data, out, rc)
        # Columns by test id (results.json's "name" is the readable title); the "build" entry
        # (0 points) shows in the feedback only.
        tests = [{k: t.get(k) for k in ("score", "max_score", "status", "visibility", "output")}
                 | {"name": results.test_id(t), "outcome": t.get("extra_data", {}).get("outcome", "")}
                 for t in (data or {}).get("tests", []) if results.test_id(t) != "build"]
        notes += [t.get("output") or "" for t in (data or {}).get("tests", []) if results.test_id(t) == "build"]
        if status == "error":
            notes.append("the grader failed; see " + str(work / "grade.txt"))
        o = Outcome(student, status, score=round(sum(t["score"] or 0 for t in tests), 2),
                    max_score=round(sum(t["max_score"] or 0 for t in tests), 2),
                    seconds=round(time.monotonic() - t0, 2), tests=tests, notes=notes, fingerprint=fp)
        done.write_text(json.dumps(o.__dict__, indent=1))
        return o
    except Exception as e:  # one submission must never stop the batch
        return Outcome(student, "error", notes=[f"the batch could not grade it: {type(e).__name__}: {e}"],
                       seconds=round(time.monotonic() - t0, 2))


# ---- reports ------------------------------------------------------------------------------
def feedback_text(lab: paths.Lab, o: Outcome) -> str:
    """The feedback file a student gets: status, table, and the failures of the tests they may see."""
    lines = [f"Lab {lab.id} ({lab.title}): {o.score:g}/{o.max_score:g} points", f"Status: {o.status}"]
    lines += [f"Note: {n}" for n in o.notes]
    shown = [t for t in o.tests if t["visibility"] != "hidden"]
    hidden = [t for t in o.tests if t["visibility"] == "hidden"]
    if shown:
        width = max(len(t["name"]) for t in shown)
        lines += ["", f"  {'test':<{width}}  {'points':>7}  status"]
        for t in shown:
            st = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "not run": "NOT RUN"}.get(
                t.get("outcome"), (t["status"] or "").upper())
            pts = f"{t['score']:g}/{t['max_score']:g}"
            lines.append(f"  {t['name']:<{width}}  {pts:>7}  {st}")
    if hidden:
        got = sum(t["score"] for t in hidden)
        top = sum(t["max_score"] for t in hidden)
        lines.append(f"  ({len(hidden)} hidden tests: {got:g}/{top:g} points)")
    for t in shown:
        if t["status"] == "failed":
            lines += ["", f"=== FAILED {t['name']} ({t['score']:g}/{t['max_score']:g}) ===",
                      (t.get("output") or "").rstrip()]
    if not o.tests and o.status != "no sources":
        lines.append("\nNo test ran. " + ("" if o.status == "error" else f"({o.status})"))
    return "\n".join(lines) + "\n"


def write_csv(path: Path, outcomes: list[Outcome]) -> None:
    names: list[str] = []
    for o in outcomes:
        for t in o.tests:
            if t["name"] not in names:
                names.append(t["name"])
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", *names, "total", "max", "seconds", "status"])
        for o in sorted(outcomes, key=lambda o: o.student):
            by = {t["name"]: t["score"] for t in o.tests}
            w.writerow([o.student, *[f"{by[n]:g}" if n in by else "" for n in names],
                        f"{o.score:g}", f"{o.max_score:g}", f"{o.seconds:.1f}", o.status])
    os.replace(tmp, path)


def summarize(lab: paths.Lab, outcomes: list[Outcome], seconds: float, graded_now: int) -> tuple[str, dict]:
    """The summary: counts, mean, median, distribution, the tests failed most."""
    scores = [o.score for o in outcomes]
    top = max([o.max_score for o in outcomes] + [0]) or 100
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    fails: dict[str, int] = {}
    ran: dict[str, int] = {}
    for o in outcomes:
        for t in o.tests:
            ran[t["name"]] = ran.get(t["name"], 0) + 1
            if t["status"] == "failed":
                fails[t["name"]] = fails.get(t["name"], 0) + 1
    bins = [0] * 10
    for s in scores:
        bins[min(9, int(10 * s / top))] += 1
    rate = graded_now / seconds * 60 if seconds > 0 and graded_now else 0.0
    data = {
        "lab": lab.id, "submissions": len(outcomes), "status": by_status,
        "mean": round(statistics.fmean(scores), 2) if scores else 0,
        "median": statistics.median(scores) if scores else 0,
        "stdev": round(statistics.pstdev(scores), 2) if scores else 0,
        "min": min(scores, default=0), "max": max(scores, default=0), "max_score": top,
        "distribution": [{"from": round(i * top / 10, 1), "to": round((i + 1) * top / 10, 1), "count": n}
                         for i, n in enumerate(bins)],
        "most_failed": [{"test": n, "failed": c, "of": ran[n]}
                        for n, c in sorted(fails.items(), key=lambda kv: (-kv[1], kv[0]))],
        "seconds": round(seconds, 1), "graded_this_run": graded_now, "per_minute": round(rate, 1),
    }
    lines = [f"Lab {lab.id} ({lab.title}): {len(outcomes)} submissions ("
             + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) + ")",
             f"graded {graded_now} in this run in {seconds:.0f} s"
             + (f" ({rate:.1f} per minute)" if graded_now else ""),
             "",
             f"mean {data['mean']:g}  median {data['median']:g}  stdev {data['stdev']:g}  "
             f"min {data['min']:g}  max {data['max']:g}  (out of {top:g})",
             "", "distribution:"]
    widest = max(bins + [1])
    for d in data["distribution"]:
        bar = "#" * round(40 * d["count"] / widest)
        lines.append(f"  {d['from']:>5g} - {d['to']:<5g} {d['count']:>4}  {bar}")
    lines += ["", "tests failed most:"]
    for m in data["most_failed"][:15]:
        lines.append(f"  {m['test']:<50} {m['failed']:>4} of {m['of']:<4} ({100 * m['failed'] / m['of']:.0f}%)")
    if not data["most_failed"]:
        lines.append("  (none)")
    return "\n".join(lines) + "\n", data


# ---- the batch ----------------------------------------------------------------------------
def discover(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(student, entry) for every submission in `folder`, and notes on what was not one."""
    found: list[tuple[str, Path]] = []
    notes: list[str] = []
    used: set[str] = set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir() or (entry.is_file() and entry.name.lower().endswith(ARCHIVES)):
            name = safe_name(entry.name)
            base, i = name, 2
            while name in used:
                name, i = f"{base}-{i}", i + 1
            used.add(name)
            found.append((name, entry))
        else:
            notes.append(f"{entry.name}: neither a folder nor an archive, skipped")
    return found, notes


class Progress:
    """done/total, rate and time left, one line per finished submission (stderr)."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.graded = total, 0, 0
        self.started = time.monotonic()
        self.stream = stream
        self.lock = threading.Lock()

    def update(self, o: Outcome) -> None:
        with self.lock:
            self.done += 1
            if not o.skipped:
                self.graded += 1
            elapsed = time.monotonic() - self.started
            left = self.total - self.done
            if self.graded:
                rate = self.graded / elapsed * 60
                eta = left / (self.graded / elapsed) if elapsed > 0 else 0
                speed = f"{rate:5.1f}/min, {int(eta) // 60}m{int(eta) % 60:02d}s left"
            else:
                speed = "skipping graded ones"
            what = "skipped (already graded)" if o.skipped else f"{o.status} in {o.seconds:.1f} s"
            print(f"[{self.done:>{len(str(self.total))}}/{self.total}] {o.student:<24} "
                  f"{o.score:>5g}/{o.max_score:<4g} {what:<28} | {speed}", file=self.stream, flush=True)


def run(opts: argparse.Namespace) -> int:
    lab = paths.find_lab(opts.lab)
    subs = Path(opts.submissions)
    if not subs.is_dir():
        print(f"grade-batch: no folder {subs}", file=sys.stderr)
        return 2
    out = Path(opts.out or paths.KIT / "out" / f"batch-{lab.id}").resolve()
    sandbox.private_folder(paths.KIT / "out")   # as root 0700, like everything the kit builds there
    (out / "students").mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    if os.geteuid() == 0:
        # Sources and grades of the whole class: nothing here is for the sandboxed programs.
        os.chmod(out, 0o700)
    entries, notes = discover(subs)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    if not entries:
        print(f"grade-batch: no submissions in {subs}", file=sys.stderr)
        return 2
    tests_fp = tests_fingerprint(lab, opts.hidden)
    jobs = max(1, opts.jobs)
    print(f"grading {len(entries)} submissions of lab {lab.id} ({lab.title}) from {subs}, "
          f"{jobs} at a time, into {out}", file=sys.stderr, flush=True)
    mode, why = ("off", "--no-sandbox") if opts.no_sandbox else sandbox.probe()
    print(f"sandbox: {mode}" + (f" ({why})" if why else ""), file=sys.stderr, flush=True)
    progress = Progress(len(entries))
    outcomes: list[Outcome] = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_one, lab, name, entry, out / "students" / name, opts, tests_fp): name
                   for name, entry in entries}
        for fut in as_completed(futures):
            o = fut.result()
            outcomes.append(o)
            (out / "feedback" / f"{o.student}.txt").write_text(feedback_text(lab, o))
            progress.update(o)
    seconds = time.monotonic() - started
    write_csv(out / "grades.csv", outcomes)
    text, data = summarize(lab, outcomes, seconds, progress.graded)
    (out / "summary.txt").write_text(text)
    (out / "summary.json").write_text(json.dumps(data, indent=2))
    print(text)
    print(f"grades: {out / 'grades.csv'}  feedback: {out / 'feedback'}/  summary: {out / 'summary.txt'}")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.batch", description=__doc__.split("\n\n")[0])
    ap.add_argument("--lab", default=os.environ.get("LAB", "01"), help="lab id, for example 01")
    ap.add_argument("--submissions", "-s", required=True, help="folder of submissions (folders or archives)")
    ap.add_argument("--out", help="output folder (default out/batch-LAB)")
    ap.add_argument("--jobs", "-j", type=int, default=max(4, 6 * (os.cpu_count() or 1)),
                    help="submissions graded at once (default: six per core; most of a grading run "
                         "waits on the tests' deadlines)")
    ap.add_argument("--grade-jobs", type=int, default=1,
                    help="tests of one submission run in parallel (pytest-xdist); default 1")
    ap.add_argument("--force", action="store_true", help="grade again submissions already graded")
    ap.add_argument("--hidden", default=os.environ.get("SOCKLAB_HIDDEN"),
                    help="folder of hidden test modules test_labNN*.py (or $SOCKLAB_HIDDEN)")
    ap.add_argument("-k", help="only tests matching this pytest -k expression")
    ap.add_argument("--timeout", type=float, default=300, help="bound on one submission, seconds (default 300)")
    ap.add_argument("--no-sandbox", action="store_true", help="see python -m harness.grade --help")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
