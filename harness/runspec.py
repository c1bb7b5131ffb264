"""The run spec: every setting of one grading run, in one file, OUT/run.json.

The outer grader (harness/grade.py) reads the command line and the environment variables a
user sets (SOCKLAB_TIME_SCALE, SOCKLAB_HIDDEN, SOCKLAB_SANDBOX_MODE through the sandbox's
probe) once, writes run.json before the build, and writes it again with the build's results.
Everything after it reads the file and nothing else:

    grade.py (outer) -> run.json -> grade.py (inner, `--run-spec`, namespaces modes)
        -> pytest `--run-spec` -> plugin.py / results.py (activate()) -> timing.py, paths.time_scale(),
        sandbox.current(), the lab's fixtures and the tests;
    batch.py and autograder/run.py read the run.json of each grading run they start.

No pytest import here, and no import of the rest of the harness (everything imports this).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

#: The file's name in the output folder.
NAME = "run.json"
#: The user's own factor for every deadline (read by the outer grader, or by a plain pytest run).
TIME_SCALE_ENV = "SOCKLAB_TIME_SCALE"
#: --valgrind runs programs 10-50 times slower: its deadlines are stretched at least this much.
VALGRIND_TIME_SCALE = 5.0


def parse_time_scale(text: Optional[str]) -> float:
    """The one parser of a time scale: a positive factor (at least 0.1); 1 when unset or bad."""
    try:
        return max(0.1, float(text)) if text not in (None, "") else 1.0
    except ValueError:
        return 1.0


@dataclass
class Flags:
    """The grader's command-line flags that change what runs and how."""
    select: Optional[str] = None     # -k EXPR
    exitfirst: bool = False          # -x
    last_failed: bool = False        # --lf
    jobs: int = 2
    valgrind: bool = False
    pcap: bool = False
    timeout: float = 600.0           # seconds for the whole run, from the outer grader's start
    quiet: bool = False


@dataclass
class RunSpec:
    """One grading run's settings (OUT/run.json); see the module's docstring for who reads it."""
    lab: str
    impl: str                        # as asked: labs, solutions or a folder
    source: str                      # the sources' folder as the outer grader sees it (the label)
    build_source: str                # the folder the build reads (a sandbox's copy, or `source`)
    out: str
    flags: Flags = field(default_factory=Flags)
    time_scale: float = 1.0          # the user's SOCKLAB_TIME_SCALE, raised for valgrind
    sched_delay: Optional[float] = None  # seconds, measured once by the outer grader (timing.py)
    sandbox: Optional[dict] = None   # harness.sandbox.Config's fields
    hidden: list = field(default_factory=list)   # the private copies of the hidden test modules
    hidden_origin: Optional[str] = None          # the folder they were copied from
    results_copies: list = field(default_factory=list)  # more results.json (--results-json)
    bin_dir: str = ""
    build: Optional[dict] = None     # harness/build.py's report (Build.to_json()), once built
    started: float = 0.0             # the outer grader's start (time.time()): --timeout counts from it
    version: int = 1

    # ---- output paths, all inside `out` ----
    @property
    def results_json(self) -> Path:
        return Path(self.out) / "results.json"

    @property
    def evidence(self) -> Path:
        return Path(self.out) / "evidence"

    @property
    def junit(self) -> Path:
        return Path(self.out) / "junit.xml"

    @property
    def log(self) -> Path:
        return Path(self.out) / "pytest.log"

    @property
    def build_log(self) -> Path:
        return Path(self.out) / "build.log"

    @property
    def path(self) -> Path:
        return Path(self.out) / NAME

    @property
    def build_ok(self) -> Optional[bool]:
        """None before the build; else True when every program built."""
        if self.build is None:
            return None
        return bool(self.build.get("ok"))

    def save(self, path: Optional[Path] = None) -> Path:
        """Write the spec (atomically: a reader never sees half a file)."""
        where = Path(path or self.path)
        tmp = where.with_name(where.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, where)
        return where


def load(path: Path) -> Optional[RunSpec]:
    """The spec in `path`, or None when it is missing or unreadable."""
    try:
        raw = json.loads(Path(path).read_text())
        flags = Flags(**raw.pop("flags", {}))
        known = {f.name for f in fields(RunSpec)}
        return RunSpec(flags=flags, **{k: v for k, v in raw.items() if k in known})
    except (OSError, ValueError, TypeError):
        return None


_active: list[RunSpec] = []


def activate(spec: Optional[RunSpec]) -> None:
    """Make `spec` this process's run spec (the inner grader and every pytest process do it)."""
    _active[:] = [spec] if spec is not None else []


def active() -> Optional[RunSpec]:
    """This process's run spec, or None outside a grading run (a plain pytest, `make test-kit`)."""
    return _active[0] if _active else None


def time_scale() -> float:
    """The factor for every deadline: the run spec's, else the user's SOCKLAB_TIME_SCALE."""
    spec = active()
    if spec is not None:
        return spec.time_scale
    return parse_time_scale(os.environ.get(TIME_SCALE_ENV))
