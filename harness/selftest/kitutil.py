"""Helpers shared by the kit's self-tests: find processes a grading run left behind."""
from __future__ import annotations

import re
import time
from pathlib import Path

from harness import procs


def sandbox_folder(output: str) -> str:
    m = re.search(r"^sandbox: .*; folder (\S+)$", output, re.M)
    assert m, f"the grader did not name its sandbox:\n{output}"
    return m.group(1)


def leftovers(marker: str) -> list[str]:
    """Live processes whose command line or environment mentions `marker` (a sandbox folder)."""
    return procs.processes_mentioning(marker)


def patch_header(patch: Path) -> dict[str, str]:
    """The `Key: value` lines above a bug-zoo or variant patch's first `--- ` line, keys in lower case."""
    head = {}
    for line in patch.read_text().splitlines():
        if line.startswith("--- "):
            break
        m = re.match(r"(\w+):\s*(.*)", line)
        if m:
            head[m.group(1).lower()] = m.group(2).strip()
    return head


def assert_no_build_running(out: Path) -> None:
    """No process whose binary was built under `out` may outlive the grading run."""
    left = procs.running_from(out)
    assert not left, "processes left running after grading:\n" + "\n".join(left)


def assert_nothing_left(output: str) -> None:
    folder = sandbox_folder(output)
    deadline = time.monotonic() + 5
    while True:
        left = leftovers(folder)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, "processes left running after grading:\n" + "\n".join(left)


#: What a Python traceback looks like on a console or in a student's message.
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \"[^\"]+\", line \d+, in |^E\s{3}",
                        re.M)


def assert_no_traceback(output: str, data: dict | None = None) -> None:
    """No traceback of harness (or pytest) code reaches a student: neither the grader's console
    output nor any message in results.json (issue 13). Use it wherever a self-test grades."""
    where = []
    if _TRACEBACK.search(output or ""):
        where.append(("the console", output))
    for t in (data or {}).get("tests", []):
        if _TRACEBACK.search(t.get("output") or ""):
            where.append((f"results.json, {t.get('name')}", t["output"]))
    if _TRACEBACK.search((data or {}).get("output") or ""):
        where.append(("results.json's output", data["output"]))
    assert not where, "a traceback reached the student in " + where[0][0] + ":\n" + where[0][1][-3000:]


#: `make test` grades every ZOO_SAMPLE-th mutant of each lab's bug zoo (the first, then every
#: ZOO_SAMPLE-th in name order) and each lab's first valid variant; `make test-zoo` grades all
#: of them (marker `zoo`). Grading one takes 3 to 20 s, and the zoo holds over 150.
ZOO_SAMPLE = 12


def zoo_marks(index: int, every: int = ZOO_SAMPLE) -> list:
    """The marks for the `index`-th (0-based) entry of one lab's zoo: none if make test grades
    it, `zoo` (only make test-zoo) otherwise."""
    import pytest
    return [] if index % every == 0 else [pytest.mark.zoo]
