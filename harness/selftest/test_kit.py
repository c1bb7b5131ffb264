"""The kit's own tests: the graders grade correctly.

For every lab (found from labs/NN-*):
    - the reference solution scores full marks;
    - the skeleton compiles with -Werror, scores 0, and does so without hanging;
    - every mutant in solutions/NN-*/mutants/*.patch compiles and fails the test it names.

A mutant is a unified diff against the solution folder, with a header the patch tool ignores:

    Mutant: one recv() taken for the whole message
    Catches: test_server_fragmented
    Lesson: §4.3: TCP is a byte stream

    --- a/echo_server.c
    +++ b/echo_server.c
    ...

`Catches` names one or more tests (comma-separated); each must fail on the mutant.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import paths
from harness.build import build_lab
from harness.results import test_id as result_id
from harness.selftest.kitutil import (assert_no_build_running, assert_no_traceback, assert_nothing_left,
                                      patch_header, zoo_marks)

LABS = [lab for lab in paths.all_labs() if lab.solution.is_dir()]
MUTANTS = [(lab, p) for lab in LABS for p in sorted((lab.solution / "mutants").glob("*.patch"))]
#: Each mutant as a parametrized case: a sample runs in make test, every one in make test-zoo.
MUTANT_CASES = [pytest.param(lab, p, id=f"{lab.id}-{p.stem}", marks=zoo_marks(i))
                for lab in LABS for i, p in enumerate(sorted((lab.solution / "mutants").glob("*.patch")))]

#: The least number of mutants each lab's bug zoo holds (the issues ask for 8 at least).
MIN_MUTANTS = 8


def grade(lab: paths.Lab, impl: Path, out: Path, select: str | None = None, timeout: float = 240):
    """Run the grader as a student would; returns (exit status, results.json data, seconds, stdout)."""
    cmd = [sys.executable, "-m", "harness.grade", "--lab", lab.id, "--impl", str(impl), "--out", str(out),
           "--jobs", "1", "--quiet", "--timeout", str(timeout)]
    if select:
        cmd += ["-k", select]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=paths.KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout + 60, start_new_session=True)
    seconds = time.monotonic() - t0
    data = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {"tests": []}
    stdout = r.stdout.decode("utf-8", "replace")
    assert_no_build_running(out)
    assert_no_traceback(stdout, data)
    if re.search(r"^sandbox: .*; folder \S+$", stdout, re.M):
        assert_nothing_left(stdout)
    return r.returncode, data, seconds, stdout


def failed_names(data: dict) -> set[str]:
    return {result_id(t) for t in data["tests"] if t["status"] == "failed"}


@pytest.mark.timeout(400)
@pytest.mark.parametrize("lab", LABS, ids=[l.name for l in LABS])
def test_solution_scores_full_marks(lab, tmp_path):
    rc, data, seconds, stdout = grade(lab, lab.solution, tmp_path / "out")
    score = sum(t["score"] for t in data["tests"])
    top = sum(t["max_score"] for t in data["tests"])
    assert rc == 0 and top > 0 and score == top, (
        f"the reference solution of lab {lab.id} scored {score:g}/{top:g} in {seconds:.1f} s:\n{stdout}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lab", LABS, ids=[l.name for l in LABS])
def test_skeleton_scores_zero_quickly(lab, tmp_path):
    rc, data, seconds, stdout = grade(lab, lab.skeleton, tmp_path / "out", timeout=90)
    score = sum(t["score"] for t in data["tests"])
    assert data["tests"], f"no tests ran on the skeleton of lab {lab.id}:\n{stdout}"
    assert rc == 1 and score == 0, f"the skeleton of lab {lab.id} scored {score:g} (expected 0):\n{stdout}"
    not_run = [result_id(t) for t in data["tests"] if t["extra_data"]["outcome"] == "not run"]
    assert not not_run, f"grading the skeleton ran out of time before: {not_run}"
    print(f"lab {lab.id}: skeleton graded 0 in {seconds:.1f} s")


@pytest.mark.parametrize("lab", [l for l in paths.all_labs()], ids=[l.name for l in paths.all_labs()])
@pytest.mark.parametrize("sanitize", [True, False], ids=["sanitizers", "plain"])
def test_skeleton_compiles_with_werror(lab, sanitize, tmp_path):
    b = build_lab(lab, lab.skeleton, tmp_path / "build", sanitize=sanitize)
    assert b.ok, f"the skeleton of lab {lab.id} does not compile cleanly:\n{b.log}"


@pytest.mark.parametrize("lab", [l for l in paths.all_labs()], ids=[l.name for l in paths.all_labs()])
def test_skeleton_marks_its_gaps(lab):
    sources = sorted(lab.skeleton.glob("*.c"))
    todos = sum(p.read_text().count("TODO(student):") for p in sources)
    assert todos > 0, f"the skeleton of lab {lab.id} has no 'TODO(student):' markers"
    for p in sources:
        text = p.read_text()
        for m in re.finditer(r"TODO\(student\):", text):
            end = text.find("*/", m.end())
            comment = text[m.start(): end if end != -1 else m.end() + 400]
            assert "§" in comment or "handout" in comment.lower(), (
                f"{p.name}: a TODO(student) comment without a pointer to the handout: {comment[:120]!r}")


@pytest.mark.parametrize("lab", LABS, ids=[l.name for l in LABS])
def test_bug_zoo_is_big_enough(lab):
    n = len(list((lab.solution / "mutants").glob("*.patch")))
    assert n >= MIN_MUTANTS, f"lab {lab.id} has {n} mutants; the bug zoo needs {MIN_MUTANTS} at least"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("lab,patch", MUTANT_CASES)
def test_mutant_is_caught(lab, patch, tmp_path):
    head = patch_header(patch)
    assert head.get("mutant") and head.get("catches"), f"{patch} needs 'Mutant:' and 'Catches:' header lines"
    catches = [c.strip() for c in head["catches"].split(",") if c.strip()]
    src = tmp_path / "src"
    shutil.copytree(lab.solution, src, ignore=shutil.ignore_patterns("mutants", "build"))
    r = subprocess.run(["patch", "-p1", "-s", "-d", str(src), "-i", str(patch)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode == 0, f"{patch.name} does not apply to the solution:\n{r.stdout.decode()}"
    b = build_lab(lab, src, tmp_path / "check-build")
    assert b.ok, f"mutant {patch.name} does not compile, so it proves nothing:\n{b.log}"
    select = " or ".join(c.split("[")[0] for c in catches)
    rc, data, seconds, stdout = grade(lab, src, tmp_path / "out", select=select)
    failed = failed_names(data)
    missed = [c for c in catches if not any(f == c or f.startswith(c + "[") for f in failed)]
    assert not missed, (f"mutant '{head['mutant']}' ({patch.name}) was NOT caught by {missed}; "
                        f"the grader said:\n{stdout}")


def valgrind_selection(lab: paths.Lab) -> str | None:
    """The lab's VALGRIND_SELECT: a -k expression of tests fit to run under memcheck (not timing tests)."""
    if not lab.test_module.exists():
        return None
    m = re.search(r'^VALGRIND_SELECT\s*=\s*"([^"]+)"', lab.test_module.read_text(), re.M)
    return m.group(1) if m else None


VALGRIND_LABS = [lab for lab in LABS if valgrind_selection(lab)]


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.parametrize("lab", VALGRIND_LABS, ids=[l.name for l in VALGRIND_LABS])
def test_solution_is_valgrind_clean(lab, tmp_path):
    """The reference, built without sanitizers, passes its functional tests under valgrind memcheck."""
    cmd_select = valgrind_selection(lab)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "harness.grade", "--lab", lab.id, "--impl", str(lab.solution),
                        "--out", str(out), "--jobs", "1", "--valgrind", "-k", cmd_select, "--timeout", "240"],
                       cwd=paths.KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=280,
                       start_new_session=True)
    assert_no_build_running(out)
    assert r.returncode == 0, f"lab {lab.id}'s solution is not clean under valgrind:\n{r.stdout.decode()}"
