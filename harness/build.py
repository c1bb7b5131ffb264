"""Building a lab: each program on its own, with the kit's own Makefile. No pytest here.

Each program of a lab (PROGS in labs/NN-name/Makefile) is built by its own `make` run, so that
a compiler error in one program (a -Werror warning in udp_client.c) fails only the tests that
need that program; the others still run and score. The grader records the outcome in
OUT/run.json's "build" (Build.to_json(); harness/runspec.py), and the plugin's lab_build fixture
reads it back (from_json()).
"""
from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import paths, textsafe

#: A compiler diagnostic: "udp_client.c:42:5: error: unused variable 'x' [-Werror=unused-variable]".
_DIAG = re.compile(r"^(?:\S*/)?([\w.-]+\.[ch]):(\d+):(?:\d+:)? (?:fatal )?error: (.*)$", re.M)


class ProgramNotBuilt(Exception):
    """A test asked for a program whose build failed (the plugin turns it into a diagnosis)."""

    def __init__(self, prog: str, log: str):
        super().__init__(f"{prog} did not build")
        self.prog = prog
        self.log = log


@dataclass
class Build:
    """The programs built for one lab from one folder of sources.

    ok: every program built. programs: prog -> True/False. logs: prog -> the compiler's
    messages for that program. log: all of them, for build.log.
    """

    lab: paths.Lab
    src: Path
    bin_dir: Path
    ok: bool
    log: str
    programs: dict = field(default_factory=dict)
    logs: dict = field(default_factory=dict)

    def built(self, prog: str) -> bool:
        """True if `prog` built (a program the lab does not list counts as built if present)."""
        if prog in self.programs:
            return bool(self.programs[prog])
        return self.ok

    def path(self, prog: str) -> Path:
        """The built program `prog` (for example "echo_server"); ProgramNotBuilt if it failed."""
        if not self.built(prog):
            raise ProgramNotBuilt(prog, self.logs.get(prog, self.log))
        return self.bin_dir / prog

    def failed(self) -> list[str]:
        """The programs that did not build, in the lab's order."""
        return [p for p, ok in self.programs.items() if not ok]

    def to_json(self) -> dict:
        return {"lab": self.lab.id, "src": str(self.src), "bin_dir": str(self.bin_dir), "ok": self.ok,
                "programs": {p: {"ok": bool(ok), "log": self.logs.get(p, "")} for p, ok in self.programs.items()}}


def programs_of(lab: paths.Lab, makefile: Optional[Path] = None) -> list[str]:
    """The lab's programs: the PROGS line of its Makefile, then its UNIT_PROGS line (the given
    C unit tests, such as chatbuf_test), in order."""
    text = Path(makefile or lab.makefile).read_text()
    progs = []
    for var in ("PROGS", "UNIT_PROGS"):
        m = re.search(rf"^{var}\s*[:?]?=\s*(.*)$", text, re.M)
        progs += m.group(1).split() if m else []
    return progs


def first_error(log: str, lines: int = 4) -> str:
    """The first compiler error of `log` and the lines after it (printable), for the console."""
    m = _DIAG.search(log)
    body = log[m.start():] if m else log.strip()
    return textsafe.printable("\n".join(body.strip().splitlines()[:lines]))


def error_summary(log: str) -> str:
    """The first error in one phrase: "udp_client.c:42: unused variable 'x'"."""
    m = _DIAG.search(log)
    if not m:
        tail = [l for l in log.strip().splitlines() if l.strip()]
        return textsafe.one_line(tail[-1], 160) if tail else "the compiler gave no message"
    return textsafe.one_line(f"{m.group(1)}:{m.group(2)}: {m.group(3)}", 200)


def tidy(log: str, src: Path) -> str:
    """The compiler's messages as a student reads them: file names relative to their folder
    (the grader's copy is a path they cannot open), without make's own "*** Error" lines."""
    log = log.replace(f"{src}/", "")
    return "\n".join(l for l in log.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\*", l))


def build_lab(lab: paths.Lab, src: Path, out: Path, sanitize: bool = True, timeout: float = 120,
              limits=None, makefile: Optional[Path] = None, env: Optional[dict] = None,
              cwd: Optional[Path] = None, wrapper: tuple = ()) -> Build:
    """Compile each of the lab's programs from `src` into `out` with the kit's own Makefile.

    The kit's Makefile (never the submission's) decides the flags: -Werror, and ASan + UBSan
    unless `sanitize` is False. Each program is its own `make` run (two at a time), with its
    own log: one that fails leaves the others usable. Returns a Build; `ok` is True only if
    every program built. The grader's sandbox passes `limits` (procs.Limits, with the user to
    build as), a copy of the kit's `makefile`, a small `env`, a `cwd` and a `wrapper` (the
    command that puts make in the sandbox's allow-list view: see sandbox.build).
    """
    out.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        return Build(lab, src, out, False, f"no such folder: {src}")
    mk = makefile or lab.makefile
    progs = programs_of(lab, mk)
    base = [*wrapper, "make", "--no-print-directory", "-s", "-f", str(mk), f"SRCDIR={src}", f"OUT={out}",
            f"SANITIZE={1 if sanitize else 0}", "-B"]

    def one(target: str) -> tuple[bool, str]:
        try:
            r = subprocess.run(base + [target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=timeout, start_new_session=True,
                               preexec_fn=limits.apply if limits else None, env=env, cwd=cwd,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, f"the build took more than {timeout:.0f} s"
        return r.returncode == 0, tidy(r.stdout.decode("utf-8", "replace"), src)

    if not progs:
        ok, log = one("all")
        return Build(lab, src, out, ok, log)
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(one, [str(out / p) for p in progs]))
    programs = {p: ok for p, (ok, _) in zip(progs, outcomes)}
    logs = {p: log for p, (_, log) in zip(progs, outcomes)}
    log = "\n".join(f"--- {p}: {'built' if ok else 'FAILED'} ---\n{logs[p].strip()}".rstrip()
                    for p, ok in programs.items())
    return Build(lab, src, out, all(programs.values()), log, programs, logs)


def from_json(d: Optional[dict], lab: paths.Lab, bin_dir: Path) -> Optional[Build]:
    """The Build that Build.to_json() described (run.json's "build"); None if malformed."""
    try:
        progs = d["programs"]
        programs = {p: bool(v.get("ok")) for p, v in progs.items()}
        logs = {p: str(v.get("log", "")) for p, v in progs.items()}
    except (KeyError, TypeError, AttributeError):
        return None
    log = "\n".join(logs[p] for p in programs if not programs[p])
    return Build(lab, Path(d.get("src", bin_dir)), bin_dir, bool(d.get("ok")), log, programs, logs)
