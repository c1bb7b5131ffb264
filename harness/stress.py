"""The stress check: grade every lab's reference solution many times on a loaded machine.

    python -m harness.stress [--runs 20] [--labs 01,02,03,04] [--cpu 4] [--jobs 2] [--out DIR]
    make stress [STRESS_FLAGS="--runs 5 --labs 02"]

While `stress-ng --cpu N` spins and a second grader grades the solutions in a loop (as on a
grading server, where several submissions run at once), each lab's solution is graded
`--runs` times. A correct program must never lose a point to load (issue 13), so the report
lists every point lost, by lab and test, with the load average and the scheduling delay seen.
For maintainers: it takes 15 to 30 minutes and is not part of `make test`.
Exit status 0 when no point was lost, 1 otherwise, 2 when it could not run (no stress-ng).

It writes OUT/report.md (default out/stress/) and prints the same table.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import paths, results


@dataclass
class Run:
    lab: str
    score: float
    top: float
    seconds: float
    load: float
    sched_ms: float
    lost: dict = field(default_factory=dict)  # test id -> points lost
    note: str = ""


def grade_once(lab: paths.Lab, out: Path, jobs: int, timeout: float) -> Run:
    """One grading of the lab's solution; the points it lost, with the load around it."""
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "harness.grade", "--lab", lab.id, "--impl", "solutions", "--out", str(out),
           "--jobs", str(jobs), "--quiet", "--timeout", str(timeout)]
    try:
        p = subprocess.run(cmd, cwd=paths.KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout + 120, start_new_session=True)
        text = p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        text = "the grader did not end in time"
    seconds = time.monotonic() - t0
    load = max(load0, os.getloadavg()[0])
    m = re.search(r"scheduling delay ([\d.]+) ms", text)
    data = results.load(out / "results.json") or {"tests": []}
    tests = [t for t in data["tests"] if results.test_id(t) != "build"]
    lost = {results.test_id(t): t["max_score"] - t["score"] for t in tests if t["score"] < t["max_score"]}
    run = Run(lab.id, sum(t["score"] for t in tests), sum(t["max_score"] for t in tests), seconds, load,
              float(m.group(1)) if m else 0.0, lost)
    if not tests:
        run.note = text.strip().splitlines()[-1] if text.strip() else "no results"
    if lost:
        # Keep the evidence of a run that lost points: it is what a maintainer reads next.
        keep = out.parent / f"lost-{out.name}"
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(out, keep, ignore=shutil.ignore_patterns("build", ".pytest-cache"))
    return run


class Background:
    """stress-ng on `cpu` workers and a second grader in a loop, until stop()."""

    def __init__(self, cpu: int, labs: list[paths.Lab], out: Path, jobs: int):
        self.stop_flag = threading.Event()
        self.procs: list[subprocess.Popen] = []
        self.second_runs = 0
        self.second_lost: list[str] = []
        self.stress = subprocess.Popen(["stress-ng", "--cpu", str(cpu), "--timeout", "0", "--quiet"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self.thread = threading.Thread(target=self._second_grader, args=(labs, out, jobs), daemon=True)
        self.thread.start()

    def _second_grader(self, labs: list[paths.Lab], out: Path, jobs: int) -> None:
        i = 0
        while not self.stop_flag.is_set():
            lab = labs[i % len(labs)]
            i += 1
            p = subprocess.Popen([sys.executable, "-m", "harness.grade", "--lab", lab.id, "--impl", "solutions",
                                  "--out", str(out / "second-grader"), "--jobs", str(jobs), "--quiet"],
                                 cwd=paths.KIT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
            self.procs.append(p)
            while p.poll() is None and not self.stop_flag.wait(0.5):
                pass
            if p.poll() is None:
                _kill(p)
                continue
            self.procs.remove(p)
            self.second_runs += 1
            # The second grader's scores count too: it is graded under the same load.
            data = results.load(out / "second-grader" / "results.json") or {"tests": []}
            self.second_lost += [f"lab {lab.id} {results.test_id(t)}" for t in data["tests"]
                                 if results.test_id(t) != "build" and t["score"] < t["max_score"]]

    def stop(self) -> None:
        self.stop_flag.set()
        for p in list(self.procs):
            _kill(p)
        self.thread.join(30)
        _kill(self.stress)


def _kill(p: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to the process group of `p` (one we started), and reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            break
        try:
            p.wait(5)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass


def report(runs: list[Run], labs: list[paths.Lab], cpu: int, second_runs: int, wall: float,
           second_lost: list[str] = ()) -> str:
    lines = [f"# Stress check: solutions graded under `stress-ng --cpu {cpu}` and a second grader",
             "",
             f"{time.strftime('%Y-%m-%d %H:%M')} on {os.uname().nodename} ({os.cpu_count()} cores); "
             f"{second_runs} gradings by the second grader meanwhile; {wall / 60:.1f} min in all.",
             "",
             "| lab | runs | full marks | points lost | load (min-max) | scheduling delay ms (max) | seconds (median, max) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for lab in labs:
        rs = [r for r in runs if r.lab == lab.id]
        if not rs:
            continue
        full = sum(1 for r in rs if r.top > 0 and r.score == r.top)
        lost = sum(sum(r.lost.values()) for r in rs)
        secs = [r.seconds for r in rs]
        lines.append(f"| {lab.id} | {len(rs)} | {full} | {lost:g} | {min(r.load for r in rs):.1f}-"
                     f"{max(r.load for r in rs):.1f} | {max(r.sched_ms for r in rs):.1f} | "
                     f"{statistics.median(secs):.1f}, {max(secs):.1f} |")
    losses: dict[tuple, list] = {}
    for r in runs:
        for test, pts in r.lost.items():
            losses.setdefault((r.lab, test), []).append((pts, r.load))
        if r.note:
            losses.setdefault((r.lab, f"(no result: {r.note})"), []).append((r.top, r.load))
    lines.append("")
    if losses:
        lines.append("Points lost, by test (each loss's evidence is kept in lost-LAB-N/):")
        for (lab, test), items in sorted(losses.items()):
            loads = ", ".join(f"{l:.1f}" for _, l in items)
            lines.append(f"- lab {lab} {test}: {len(items)} time(s), {sum(p for p, _ in items):g} points "
                         f"(load {loads})")
    else:
        lines.append("No point was lost.")
    lines.append(f"The second grader lost points in: {', '.join(second_lost)}." if second_lost
                 else "The second grader lost no point either.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.stress", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="gradings per lab (default 20)")
    ap.add_argument("--labs", default="", help="comma-separated lab ids (default: every lab)")
    ap.add_argument("--cpu", type=int, default=4, help="stress-ng --cpu workers (default 4)")
    ap.add_argument("--jobs", type=int, default=2, help="the grader's --jobs (default 2)")
    ap.add_argument("--timeout", type=float, default=300, help="bound on one grading, seconds")
    ap.add_argument("--out", default=str(paths.KIT / "out" / "stress"), help="output folder")
    args = ap.parse_args(argv)
    if not shutil.which("stress-ng"):
        print("stress: stress-ng is not installed (apt-get install stress-ng)", file=sys.stderr)
        return 2
    labs = [paths.find_lab(x) for x in args.labs.split(",") if x] or paths.all_labs()
    missing = [lab.id for lab in labs if not lab.solution.is_dir()]
    if missing:
        print(f"stress: no reference solution for lab {', '.join(missing)} (a student handout has none)",
              file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.monotonic()
    bg = Background(args.cpu, labs, out, args.jobs)
    runs: list[Run] = []
    try:
        for i in range(1, args.runs + 1):
            for lab in labs:  # round robin: every lab meets every phase of the load
                r = grade_once(lab, out / f"{lab.id}-{i}", args.jobs, args.timeout)
                runs.append(r)
                lost = sum(r.lost.values())
                print(f"run {i:>2}/{args.runs} lab {lab.id}: {r.score:g}/{r.top:g} in {r.seconds:.1f} s, "
                      f"load {r.load:.1f}, scheduling delay {r.sched_ms:.1f} ms"
                      + (f"  LOST {lost:g}: {', '.join(r.lost)}" if lost else "") + (f"  {r.note}" if r.note else ""),
                      flush=True)
                shutil.rmtree(out / f"{lab.id}-{i}", ignore_errors=True)
    except KeyboardInterrupt:
        print("stress: interrupted; the report covers the runs so far")
    finally:
        bg.stop()
    text = report(runs, labs, args.cpu, bg.second_runs, time.monotonic() - started, bg.second_lost)
    (out / "report.md").write_text(text)
    print()
    print(text)
    print(f"report: {out / 'report.md'}")
    bad = any(r.lost or r.note for r in runs) or bool(bg.second_lost)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
