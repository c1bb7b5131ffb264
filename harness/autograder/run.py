"""Gradescope's run: copy the submission into the lab, build and grade it, write results.json.

    python3 -m harness.autograder.run        (from run_autograder, in /autograder/source/socklab)

The lab, the time bound and the hidden tests come from socklab/autograder.json (written by
build.py). /autograder/results/results.json exists from the first second on (saying that
grading did not finish), is rewritten by the grader as each test finishes, and is completed
here at the end: it is there even when the build fails, the time runs out, or the student's
code misbehaves. The root /autograder can be moved with $SOCKLAB_AUTOGRADER_ROOT.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from .. import batch, paths, procs, results, runspec

ROOT_ENV = "SOCKLAB_AUTOGRADER_ROOT"


def config() -> dict:
    """socklab/autograder.json: {"lab": "01", "timeout": 540, "jobs": 2}."""
    try:
        return json.loads((paths.KIT / "autograder.json").read_text())
    except (OSError, ValueError):
        return {}


def run() -> int:
    ag = Path(os.environ.get(ROOT_ENV, "/autograder"))
    out_dir = ag / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # Root-only: the student's programs must neither write nor read the results (hidden
        # tests' names and messages are in there while the run goes on).
        os.chmod(out_dir, 0o700)
    res = out_dir / "results.json"
    results.write_stub(res, "Grading did not finish: the autograder was stopped before the end.")
    cfg = config()
    lab = paths.find_lab(os.environ.get("SOCKLAB_LAB") or cfg.get("lab", "01"))
    timeout = float(os.environ.get("SOCKLAB_TIMEOUT") or cfg.get("timeout", 540))
    jobs = int(os.environ.get("SOCKLAB_JOBS") or cfg.get("jobs", 2))
    started = time.monotonic()
    print(f"socklab autograder: lab {lab.id} ({lab.title}), time bound {timeout:.0f} s", flush=True)

    # The student's files go into the lab's folder; the skeleton's stand in for missing ones.
    work = out_dir / "socklab-submission"
    src, notes = batch.prepare(lab, ag / "submission", work)
    if src is None:
        src = work / "src"
        for name in batch.lab_files(lab):
            shutil.copy2(lab.skeleton / name, src / name)
    for f in src.iterdir():
        shutil.copy2(f, lab.skeleton / f.name)
    for n in notes:
        print(f"note: {n}", flush=True)

    cmd = [sys.executable, "-m", "harness.grade", "--lab", lab.id, "--impl", "labs",
           "--out", str(out_dir / "socklab"), "--jobs", str(jobs), "--timeout", f"{timeout:.0f}",
           "--results-json", str(res), "--hide", str(ag / "source" / "socklab" / "hidden")]
    hidden = paths.KIT / "hidden"
    if hidden.is_dir():
        cmd += ["--hidden", str(hidden)]
        if os.geteuid() == 0:
            # Where the container forbids namespaces the tests cannot be mounted out of sight:
            # keep them root-only, so the student's programs cannot print them.
            os.chmod(hidden, 0o700)
    rc = procs.run_bounded(cmd, timeout + 60, cwd=paths.KIT).rc

    # What the grader ran with (its run.json: harness/runspec.py), for the instructor's log.
    spec = runspec.load(out_dir / "socklab" / runspec.NAME)
    if spec is not None:
        mode = (spec.sandbox or {}).get("mode", "none")
        built = {None: "not built", True: "built", False: "build failed"}[spec.build_ok]
        print(f"socklab autograder: sandbox {mode}, time scale {spec.time_scale:g}, {built}", flush=True)
    data = results.load(res)
    if not data or not isinstance(data.get("tests"), list) or not data["tests"]:
        why = ("the grader was stopped at its time bound" if rc is None
               else f"the grader failed (exit status {rc})")
        if spec is not None and spec.build is None:
            why += " before the build ended"
        data = results.write_stub(res, f"No test result: {why}. Your instructor can see the log.", data)
    text = "\n".join(f"Note: {n}" for n in notes)
    if text:
        data["output"] = text + ("\n" + data["output"] if data.get("output") else "")
    data["score"] = round(sum(float(t.get("score", 0)) for t in data["tests"]), 2)
    data["execution_time"] = round(time.monotonic() - started, 1)
    data.setdefault("visibility", "visible")
    data.setdefault("stdout_visibility", "hidden")
    tmp = res.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, res)
    top = sum(float(t.get("max_score", 0)) for t in data["tests"])
    print(f"socklab autograder: {data['score']:g}/{top:g} in {data['execution_time']:g} s", flush=True)
    return 0


def main() -> int:
    try:
        return run()
    except Exception as e:  # whatever happens, Gradescope gets a results.json
        ag = Path(os.environ.get(ROOT_ENV, "/autograder"))
        results.write_stub(ag / "results" / "results.json",
                           f"The autograder failed ({type(e).__name__}: {e}). Please tell your instructor.")
        raise


if __name__ == "__main__":
    sys.exit(main())
