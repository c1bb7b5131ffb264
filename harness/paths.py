"""Where the kit, its labs, the reference solutions and the build outputs are."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import runspec

KIT = Path(__file__).resolve().parent.parent
LABS = KIT / "labs"
SOLUTIONS = KIT / "solutions"
TESTS = KIT / "harness" / "tests"


@dataclass(frozen=True)
class Lab:
    """One lab: its two-digit id ("01") and folder name ("01-tcp-echo")."""

    id: str
    name: str

    @property
    def skeleton(self) -> Path:
        """The student's folder, labs/NN-name."""
        return LABS / self.name

    @property
    def solution(self) -> Path:
        """The reference folder, solutions/NN-name (absent from a student handout)."""
        return SOLUTIONS / self.name

    @property
    def makefile(self) -> Path:
        """The kit's own copy of the lab's Makefile: the harness never runs a submission's."""
        return self.skeleton / "Makefile"

    @property
    def test_module(self) -> Path:
        """harness/tests/test_labNN.py."""
        return TESTS / f"test_lab{self.id}.py"

    @property
    def title(self) -> str:
        """A human name, from the folder: "tcp echo"."""
        return self.name.split("-", 1)[1].replace("-", " ")


def all_labs() -> list[Lab]:
    """Every lab folder labs/NN-name, in order."""
    return [Lab(p.name[:2], p.name) for p in sorted(LABS.glob("[0-9][0-9]-*")) if p.is_dir()]


def find_lab(lab_id: str) -> Lab:
    """The lab with id "01" (or "1"). Raises KeyError with the known ids."""
    want = lab_id.zfill(2)
    for lab in all_labs():
        if lab.id == want:
            return lab
    raise KeyError(f"no lab {lab_id!r}; known labs: {', '.join(l.id for l in all_labs())}")


def resolve_impl(lab: Lab, impl: str) -> Path:
    """The folder of sources to test: "labs" (default), "solutions", or a path.

    A path may be the sources' folder itself, or a folder that holds a
    sub-folder named like the lab (a whole checkout or an unpacked handout).
    """
    if impl in ("", "labs", "skeleton"):
        return lab.skeleton
    if impl in ("solutions", "solution", "reference"):
        return lab.solution
    # Absolute, but links not resolved: a submission's link is refused at intake (harness/intake.py).
    path = Path(os.path.abspath(Path(impl).expanduser()))
    for candidate in (path / "labs" / lab.name, path / lab.name):
        if candidate.is_dir():
            return candidate
    return path


def evidence_name(nodeid: str) -> str:
    """The file or folder name for one test's evidence (its program output, its packet capture):
    the test's id without its module, with anything but letters, digits, _ . - turned into _."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1]).strip("._") or "test"


def time_scale() -> float:
    """A factor for every deadline: the run spec's (harness/runspec.py), else SOCKLAB_TIME_SCALE
    (default 1; raise it on a slow machine)."""
    return runspec.time_scale()
