"""Build a Gradescope autograder zip for one lab.

    make autograder LAB=01 [HIDDEN=DIR]
    python -m harness.autograder.build --lab 01 [--hidden DIR] [--timeout 540] [--out dist/autograder-lab01.zip]

The zip holds, at its root, setup.sh and run_autograder (Gradescope's two required files),
and socklab/: the lab's handout (never solutions or mutants), the hidden tests in
socklab/hidden/, and socklab/autograder.json (lab, time bound, jobs). The zip is mode 0600:
it holds the hidden tests. Upload it as the
assignment's autograder ("Zip file upload"); set Gradescope's own timeout above --timeout.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Optional

from .. import handout, paths

HERE = Path(__file__).resolve().parent


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.external_attr = ((0o100755 if executable else 0o100644) << 16)
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build(lab: paths.Lab, hidden: Optional[Path], out: Path, timeout: float, jobs: int) -> Path:
    kit = paths.KIT
    keep_out = handout.hidden_dirs(str(hidden) if hidden else None, kit)
    files = handout.kit_files(kit, lab, keep_out)
    check = handout.LeakCheck(kit, [])
    problems = [p for rel in files for p in check.problems(rel, (kit / rel).read_bytes())]
    if problems:
        raise SystemExit("autograder: the zip would leak:\n  " + "\n  ".join(problems[:20]))
    modules = sorted(hidden.glob(f"test_lab{lab.id}*.py")) if hidden else []
    if hidden and not modules:
        print(f"autograder: warning: no test_lab{lab.id}*.py in {hidden}", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    # The zip holds the hidden tests: the instructor's alone (0600) from the first byte.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as zf:
        _add(zf, "setup.sh", (HERE / "setup.sh").read_bytes(), executable=True)
        _add(zf, "run_autograder", (HERE / "run_autograder").read_bytes(), executable=True)
        for rel in files:
            path = kit / rel
            _add(zf, f"socklab/{rel}", path.read_bytes(), executable=os.access(path, os.X_OK))
        for m in modules:
            _add(zf, f"socklab/hidden/{m.name}", m.read_bytes())
        if hidden and (hidden / "conftest.py").is_file():
            _add(zf, "socklab/hidden/conftest.py", (hidden / "conftest.py").read_bytes())
        cfg = {"lab": lab.id, "timeout": timeout, "jobs": jobs, "hidden_tests": [m.name for m in modules]}
        _add(zf, "socklab/autograder.json", (json.dumps(cfg, indent=2) + "\n").encode())
    os.replace(tmp, out)
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.autograder.build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--lab", default=os.environ.get("LAB", "01"))
    ap.add_argument("--hidden", default=os.environ.get("SOCKLAB_HIDDEN") or None,
                    help="folder of hidden test modules test_labNN*.py (or $SOCKLAB_HIDDEN)")
    ap.add_argument("--timeout", type=float, default=540,
                    help="the grader's bound, seconds (default 540: under Gradescope's default 10 min)")
    ap.add_argument("--jobs", type=int, default=2, help="tests run in parallel on Gradescope (default 2)")
    ap.add_argument("--out", help="the zip (default dist/autograder-labNN.zip)")
    args = ap.parse_args(argv)
    lab = paths.find_lab(args.lab)
    hidden = Path(args.hidden).resolve() if args.hidden else None
    if hidden and not hidden.is_dir():
        ap.error(f"--hidden {hidden}: no such folder")
    out = Path(args.out or paths.KIT / "dist" / f"autograder-lab{lab.id}.zip").resolve()
    build(lab, hidden, out, args.timeout, args.jobs)
    with zipfile.ZipFile(out) as zf:
        n = len(zf.namelist())
    print(f"autograder: {out} ({n} files, {out.stat().st_size // 1024} KiB)"
          + (f", hidden tests from {hidden}" if hidden else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
