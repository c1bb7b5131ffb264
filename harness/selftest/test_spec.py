"""Traceability: every labelled requirement of every handout has a test, and every test's
spec marker names a requirement that exists (harness/spec.py)."""
from __future__ import annotations

import pytest

from harness import paths, spec


@pytest.mark.parametrize("lab", paths.all_labs(), ids=lambda lab: lab.id)
def test_every_requirement_has_a_test(lab):
    reqs, problems = spec.matrix(lab)
    assert reqs, f"labs/{lab.name}/README.md has no requirement labels such as [R3.1-1]"
    assert not problems, f"lab {lab.id}: traceability problems:\n" + "\n".join(problems)


def test_labels_parse(tmp_path):
    h = tmp_path / "README.md"
    h.write_text("# Lab\n## 3. Spec\n### 3.1 Server\nIt must listen. [R3.1-1]\n"
                 "Style. [R3.1-2 not tested: judgement]\n```\n[R9.9-9] in code is not a label\n```\n"
                 "Twice. [R3.1-1]\n")
    reqs, problems = spec.handout_requirements(h)
    assert set(reqs) == {"R3.1-1", "R3.1-2"}
    assert reqs["R3.1-1"].section == "3.1" and reqs["R3.1-2"].untested == "judgement"
    assert len(problems) == 1 and "used twice" in problems[0]
