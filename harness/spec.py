"""Traceability from a handout's requirements to the tests that check them.

Every testable requirement in a handout (`labs/NN-*/README.md`: each "must", output line,
option, exit code, log line, limit, error case) carries a label written next to it:

    The server prints `listening on ADDR:PORT` once it is ready. [R3.1-2]

`R3.1-2` is requirement 2 of handout section 3.1. Labels are unique within a handout and
never renumbered once published (a removed requirement leaves a gap). A requirement that no
test can check says so, with the reason, in the same brackets:

    Comments say why, not what. [R4.2-3 not tested: a matter of judgement, read by the marker]

Each test names the labels it checks with a marker (parametrized cases may add their own
with `pytest.param(..., marks=pytest.mark.spec(...))`):

    @pytest.mark.spec("R3.1-2", "R3.3-1")
    @pytest.mark.points(5)
    def test_server_ready_line(spawn): ...

`python -m harness.spec --lab NN` (`make spec LAB=NN`) prints the matrix: requirement,
section, the tests that check it and their points. `--check` exits 1 when a label has no
test (and is not marked "not tested"), when a marker names a label that the handout does not
have, or when a graded test names no label at all; the kit's self-test runs it for every lab.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import paths

#: A label in a handout: [R3.2-4] or [R3.2-4 not tested: why].
LABEL_RE = re.compile(r"\[(R\d+(?:\.\d+)*-\d+)(?:\s+not tested:\s*([^\]]+))?\]")
#: What a spec marker's argument must look like.
LABEL_SHAPE = re.compile(r"^R\d+(?:\.\d+)*-\d+$")
_HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s")


@dataclass
class Requirement:
    """One labelled requirement of a handout."""

    label: str
    section: str
    line: int
    text: str
    untested: str = ""  # the reason, when the handout marks it "not tested"
    tests: list = field(default_factory=list)  # (test name, points)


def handout_requirements(handout: Path) -> tuple[dict[str, Requirement], list[str]]:
    """The labelled requirements of a handout, by label; and the problems found (duplicates)."""
    reqs: dict[str, Requirement] = {}
    problems: list[str] = []
    section = ""
    fence = False
    for n, line in enumerate(handout.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence:
            continue  # a label inside a code block is an example, not a requirement
        m = _HEADING.match(line)
        if m:
            section = m.group(1)
        for lm in LABEL_RE.finditer(line):
            label, why = lm.group(1), (lm.group(2) or "").strip()
            if label in reqs:
                problems.append(f"{handout.name}:{n}: {label} is used twice (first on line {reqs[label].line})")
                continue
            text = LABEL_RE.sub("", line).strip(" -*|")
            reqs[label] = Requirement(label, section, n, text, why)
    return reqs, problems


def collect_markers(modules: list[Path]) -> list[dict]:
    """Each collected test of `modules`: {"name", "points", "spec": [labels]} (a pytest collection)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "spec.json"
        cmd = [sys.executable, "-m", "pytest", "-c", str(paths.KIT / "pytest.ini"), "--rootdir",
               str(paths.KIT), "--collect-only", "-q", "-p", "no:randomly", "--spec-report", str(report),
               *map(str, modules)]
        r = subprocess.run(cmd, cwd=paths.KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=120)
        if not report.exists():
            raise RuntimeError("collecting the tests failed:\n" + r.stdout.decode("utf-8", "replace")[-3000:])
        return json.loads(report.read_text())


def matrix(lab: paths.Lab, modules: list[Path] | None = None) -> tuple[dict[str, Requirement], list[str]]:
    """The handout's requirements with their tests filled in, and every traceability problem."""
    reqs, problems = handout_requirements(lab.skeleton / "README.md")
    tests = collect_markers(modules or [lab.test_module])
    for t in tests:
        if not t["spec"] and t["points"] > 0:
            problems.append(f"{t['name']}: a graded test with no @pytest.mark.spec label")
        for label in t["spec"]:
            if not LABEL_SHAPE.match(label):
                problems.append(f"{t['name']}: {label!r} is not a label (R<section>-<n>, e.g. R3.2-4)")
            elif label not in reqs:
                problems.append(f"{t['name']}: names {label}, which the handout of lab {lab.id} does not have")
            else:
                reqs[label].tests.append((t["name"], t["points"]))
    for r in reqs.values():
        if not r.tests and not r.untested:
            problems.append(f"{r.label} (§{r.section}, README.md:{r.line}): no test checks it: "
                            f"{r.text[:90]}")
    return reqs, problems


def print_matrix(lab: paths.Lab, reqs: dict[str, Requirement], problems: list[str]) -> None:
    def key(label: str):
        sec, n = label[1:].split("-")
        return [int(x) for x in sec.split(".")], int(n)

    print(f"Lab {lab.id} ({lab.title}): {len(reqs)} requirements")
    print(f"{'label':<10} {'§':<6} {'points':>6}  tests")
    for label in sorted(reqs, key=key):
        r = reqs[label]
        if r.untested:
            print(f"{label:<10} {r.section:<6} {'-':>6}  not tested: {r.untested}")
            continue
        pts = sum(p for _, p in r.tests)
        names = ", ".join(n for n, _ in r.tests) or "NONE"
        print(f"{label:<10} {r.section:<6} {pts:>6g}  {names}")
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print(f"  {p}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.spec", description=__doc__.split("\n\n")[0])
    ap.add_argument("--lab", action="append", help="lab id (repeatable; default: every lab)")
    ap.add_argument("--check", action="store_true", help="print only the problems; exit 1 if any")
    ap.add_argument("--hidden", help="also count the hidden test modules test_labNN*.py in this folder")
    args = ap.parse_args(argv)
    labs = [paths.find_lab(i) for i in args.lab] if args.lab else paths.all_labs()
    bad = 0
    for lab in labs:
        modules = [lab.test_module]
        if args.hidden:
            modules += sorted(Path(args.hidden).glob(f"test_lab{lab.id}*.py"))
        reqs, problems = matrix(lab, modules)
        if args.check:
            for p in problems:
                print(f"lab {lab.id}: {p}")
        else:
            print_matrix(lab, reqs, problems)
            print()
        bad += len(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
