"""Building a lab: the kit's own copy of the lab's Makefile, on a folder of sources.

No pytest here: the grader, the sandbox, the benchmarks and the plots build with it too.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import paths


@dataclass
class Build:
    """The programs built for one lab from one folder of sources."""

    lab: paths.Lab
    src: Path
    bin_dir: Path
    ok: bool
    log: str

    def path(self, prog: str) -> Path:
        """The built program `prog` (for example "echo_server")."""
        return self.bin_dir / prog


def build_lab(lab: paths.Lab, src: Path, out: Path, sanitize: bool = True, timeout: float = 120,
              limits=None, makefile: Optional[Path] = None, env: Optional[dict] = None,
              cwd: Optional[Path] = None) -> Build:
    """Compile the lab's programs from `src` into `out` with the kit's own Makefile.

    The kit's Makefile (never the submission's) decides the flags: -Werror, and
    ASan + UBSan unless `sanitize` is False. Returns a Build whose log holds the
    compiler's messages; `ok` is False when make failed or timed out.
    The grader's sandbox passes `limits` (procs.Limits, with the user to build as), a copy
    of the kit's `makefile`, a small `env` and a `cwd` (see sandbox.build).
    """
    out.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        return Build(lab, src, out, False, f"no such folder: {src}")
    cmd = ["make", "--no-print-directory", "-s", "-f", str(makefile or lab.makefile), f"SRCDIR={src}",
           f"OUT={out}", f"SANITIZE={1 if sanitize else 0}", "-B", "all"]
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           start_new_session=True, preexec_fn=limits.apply if limits else None,
                           env=env, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Build(lab, src, out, False, f"the build took more than {timeout:.0f} s")
    return Build(lab, src, out, r.returncode == 0, r.stdout.decode("utf-8", "replace"))
