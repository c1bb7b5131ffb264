"""Student handouts, and the GitHub Classroom workflows that travel with them.

    make handout
    python -m harness.handout [--out dist] [--hidden DIR] [--workflows-only]

writes
    dist/socklab-handout.tar.gz           the whole kit for students: every lab
    dist/socklab-labNN-handout.tar.gz     one lab: labs/NN-name and labs/common, its tests,
                                          the harness, docs, Makefile, README
    .github/workflows/classroom-labNN.yml one GitHub Classroom workflow per lab (regenerated
                                          first, from the lab's tests and points)

A handout holds the labs, the harness, the docs, the Makefile and the README; never
solutions/, a mutant (*.patch), the kit's self-tests (harness/selftest: they need the
solutions), instructor documentation, the grading output, or hidden tests (a folder named
"hidden", the --hidden folder and $SOCKLAB_HIDDEN, wherever they are). Each tarball is
checked before it is written (check_tarball): no path from those places, and no line that
only a solution holds. In a handout `make test` grades every lab on the student's code.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Iterable, Optional

from . import paths

#: What a handout holds, from the kit's top level.
TOP_FILES = ("Makefile", "README.md", "pytest.ini", ".gitignore", "Dockerfile",
             ".devcontainer/devcontainer.json")
TOP_DIRS = ("labs", "harness", "docs")
#: Never in a handout: folders by name anywhere, paths from the top, and file patterns.
SKIP_NAMES = {"solutions", "mutants", "hidden", "out", "dist", "build", "__pycache__", ".git",
              ".pytest_cache", "node_modules"}
SKIP_PATHS = ("harness/selftest", "docs/html", "docs/html-instructor", "docs/Doxyfile.instructor",
              "docs/bugzoo.py")
SKIP_SUFFIXES = (".patch", ".pyc", ".o", ".orig", ".rej", ".pcap")
#: A file sharing this many lines with the solutions (and not with the skeletons) is a copy.
COPIED_LINES = 5


def _skipped(rel: str, hidden: list[Path], kit: Path) -> bool:
    parts = rel.split("/")
    if any(p in SKIP_NAMES for p in parts) or rel.endswith(SKIP_SUFFIXES):
        return True
    if any(rel == s or rel.startswith(s + "/") for s in SKIP_PATHS):
        return True
    full = (kit / rel).resolve()
    return any(full == h or h in full.parents for h in hidden)


def hidden_dirs(extra: Optional[str], kit: Path) -> list[Path]:
    """Folders of hidden tests to keep out: --hidden, $SOCKLAB_HIDDEN (when they exist)."""
    found = []
    for d in (extra, os.environ.get("SOCKLAB_HIDDEN")):
        if d and Path(d).is_dir():
            found.append(Path(d).resolve())
    return found


def kit_files(kit: Path, lab: Optional[paths.Lab], hidden: list[Path]) -> list[str]:
    """The kit's files (relative paths) that go into a handout: all labs, or just `lab`."""
    out: list[str] = []
    for name in TOP_FILES:
        if (kit / name).is_file():
            out.append(name)
    for top in TOP_DIRS:
        for dirpath, dirnames, filenames in os.walk(kit / top):
            rel_dir = Path(dirpath).relative_to(kit).as_posix()
            dirnames[:] = sorted(d for d in dirnames if not _skipped(f"{rel_dir}/{d}", hidden, kit))
            for f in sorted(filenames):
                rel = f"{rel_dir}/{f}"
                if not _skipped(rel, hidden, kit) and not (kit / rel).is_symlink():
                    out.append(rel)
    wf = kit / ".github" / "workflows"
    for f in sorted(wf.glob("classroom-lab*.yml")) if wf.is_dir() else []:
        out.append(f".github/workflows/{f.name}")
    if lab is None:
        return out
    other_labs = {l.name for l in paths.all_labs() if l.id != lab.id}

    def mine(rel: str) -> bool:
        parts = rel.split("/")
        if parts[0] == "labs" and len(parts) > 1 and parts[1] in other_labs:
            return False
        m = re.fullmatch(r"harness/tests/test_lab(\d\d)\w*\.py", rel)
        if m and m.group(1) != lab.id:
            return False
        m = re.fullmatch(r"\.github/workflows/classroom-lab(\d\d)\.yml", rel)
        return not (m and m.group(1) != lab.id)

    return [r for r in out if mine(r)]


# ---- the leak check ------------------------------------------------------------------------
def _significant(line: str) -> Optional[str]:
    """A line worth comparing: not blank, not a brace or a lone keyword, not an #include."""
    s = line.strip()
    if len(s) < 16 or s.startswith("#include") or re.fullmatch(r"[{}()\[\];,*/\\\s]*", s):
        return None
    return s


def _text_lines(data: bytes) -> list[str]:
    if b"\0" in data[:4096]:
        return []
    return data.decode("utf-8", "replace").splitlines()


class LeakCheck:
    """What must not be in a handout, computed from a kit that has solutions/."""

    def __init__(self, kit: Path, hidden: list[Path]):
        self.kit = kit
        self.hidden_contents = set()
        for h in hidden:
            for f in h.rglob("*"):
                if f.is_file():
                    self.hidden_contents.add(f.read_bytes())
        # What the skeletons give away: for each solution file, the lines of the skeleton's
        # file of the same name (never just any file under labs/: a solution copied there by
        # mistake must not vouch for itself).
        solution_lines: set[str] = set()
        given: set[str] = set()
        sol_root = kit / "solutions"
        for f in sol_root.rglob("*") if sol_root.is_dir() else []:
            if not f.is_file() or "mutants" in f.parts:
                continue
            solution_lines |= {s for s in map(_significant, _text_lines(f.read_bytes())) if s}
            twin = kit / "labs" / f.relative_to(sol_root)
            if twin.is_file():
                given |= {l.strip() for l in _text_lines(twin.read_bytes())}
        # Lines written elsewhere in the kit's own prose and tools (docs, the harness) are not a
        # solution's: a guide may show `ssize_t n = recv(fd, buf, sizeof buf, 0);`.
        # The same for the handouts' prose (labs/*/README.md), but not for code under labs/.
        elsewhere = set(given)
        for top in ("harness", "docs", "labs"):
            for f in (kit / top).rglob("*") if (kit / top).is_dir() else []:
                if top == "labs" and f.suffix in (".c", ".h"):
                    continue
                if f.is_file() and not any(p in ("html", "html-instructor", "selftest") for p in f.parts):
                    elsewhere |= {l.strip() for l in _text_lines(f.read_bytes())}
        for name in TOP_FILES:
            if (kit / name).is_file():
                elsewhere |= {l.strip() for l in (kit / name).read_text(errors="replace").splitlines()}
        #: Lines that only a solution holds: in no skeleton, doc or harness file.
        self.only_solution = solution_lines - elsewhere
        #: Lines of the solutions that the skeletons do not give away.
        self.not_in_skeleton = solution_lines - given

    def problems(self, name: str, data: bytes) -> list[str]:
        """Why the member `name` with contents `data` must not be in a handout ([] if it may)."""
        found = []
        parts = name.split("/")
        if "solutions" in parts or "mutants" in parts or name.endswith(".patch"):
            found.append(f"{name}: from solutions/ or the bug zoo")
        if "hidden" in parts or data in self.hidden_contents:
            found.append(f"{name}: a hidden test")
        lines = [s for s in map(_significant, _text_lines(data)) if s]
        only = sorted({s for s in lines if s in self.only_solution})
        if only:
            found.append(f"{name}: {len(only)} line(s) that only a solution holds, "
                         f"for example: {only[0]!r}")
        copied = {s for s in lines if s in self.not_in_skeleton}
        if len(copied) >= COPIED_LINES:
            found.append(f"{name}: {len(copied)} lines of a solution that the skeleton does not have, "
                         f"for example: {sorted(copied)[0]!r}")
        return found


def check_tarball(tarball: Path, check: LeakCheck) -> list[str]:
    """Every reason why `tarball` leaks something ([] when it is clean)."""
    problems: list[str] = []
    with tarfile.open(tarball) as tf:
        for m in tf:
            if not m.isfile():
                continue
            name = m.name.split("/", 1)[1] if "/" in m.name else m.name
            problems += check.problems(name, tf.extractfile(m).read())
    return problems


# ---- writing a handout -----------------------------------------------------------------------
def write_tarball(kit: Path, files: Iterable[str], top: str, dest: Path) -> None:
    """A reproducible tar.gz of `files` under the folder `top`: sorted, root-owned, fixed times."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or int(time.time())
    with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for rel in sorted(set(files)):
            path = kit / rel
            info = tarfile.TarInfo(f"{top}/{rel}")
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.mtime = mtime
            info.uname = info.gname = "root"
            tf.addfile(info, io.BytesIO(data))
    os.replace(tmp, dest)


def build_handouts(kit: Path, out: Path, hidden: list[Path]) -> list[Path]:
    """Write the kit's handout and one per lab into `out`; raises SystemExit on a leak."""
    check = LeakCheck(kit, hidden)
    made = []
    jobs = [(None, "socklab", out / "socklab-handout.tar.gz")]
    jobs += [(lab, f"socklab-lab{lab.id}", out / f"socklab-lab{lab.id}-handout.tar.gz")
             for lab in paths.all_labs()]
    for lab, top, dest in jobs:
        write_tarball(kit, kit_files(kit, lab, hidden), top, dest)
        problems = check_tarball(dest, check)
        if problems:
            dest.unlink()
            raise SystemExit(f"handout: {dest.name} would leak:\n  " + "\n  ".join(problems[:20]))
        made.append(dest)
    return made


# ---- GitHub Classroom workflows ---------------------------------------------------------------
def test_plan(lab: paths.Lab) -> Optional[list[tuple[str, float]]]:
    """(name, points) of every test of the lab, from a collect-only pass of the grader's pytest;
    None (with a warning) when the tests cannot be collected."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        res = Path(tmp) / "plan.json"
        cmd = [sys.executable, "-m", "pytest", "-c", str(paths.KIT / "pytest.ini"), "--rootdir", str(paths.KIT),
               str(lab.test_module), "-p", "harness.results", "--results-json", str(res), "-q",
               "--collect-only", "-p", "no:randomly", "--basetemp", str(Path(tmp) / "t")]
        r = subprocess.run(cmd, cwd=paths.KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if not res.is_file() or r.returncode not in (0, 5):
            print(f"handout: warning: cannot collect the tests of lab {lab.id}; its workflow is left as it is:\n"
                  f"{r.stdout.decode(errors='replace')[-1500:]}", file=sys.stderr)
            return None
        data = json.loads(res.read_text())
    from .results import test_id
    return [(test_id(t), t["max_score"]) for t in data["tests"]]


def _yaml_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def workflow_text(lab: paths.Lab, plan: list[tuple[str, float]]) -> str:
    """One GitHub Classroom workflow: grade once, then one command-grader step per test."""
    results = f"results-lab{lab.id}.json"
    lines = [
        f"# GitHub Classroom autograding for Lab {lab.id} ({lab.title}).",
        "# Generated by `make handout` (python -m harness.handout) from the lab's tests: do not edit.",
        "# The lab is graded once (as root, so the grader's sandbox is on); each step then gives",
        "# one test's points if it passed. The student sees the grader's output in the log.",
        f"name: Lab {lab.id} autograding",
        "on:",
        "  push:",
        "  workflow_dispatch:",
        "  repository_dispatch:",
        "permissions:",
        "  checks: write",
        "  actions: read",
        "  contents: read",
        "jobs:",
        "  run-autograding-tests:",
        "    runs-on: ubuntu-latest",
        "    if: github.actor != 'github-classroom[bot]'",
        "    timeout-minutes: 20",
        "    steps:",
        "      - name: Checkout code",
        "        uses: actions/checkout@v4",
        # The packages come from the kit's one list, harness/deps.txt (as for setup.sh and make).
        "      - name: Install the grader's packages",
        "        run: sudo make deps",
        f"      - name: Grade lab {lab.id}",
        f"        run: sudo make grade LAB={lab.id} GRADE_FLAGS=\"--timeout 600 --results-json $PWD/{results}\" || true",
    ]
    ids = []
    for i, (name, points) in enumerate(plan, 1):
        sid = f"t{i:02d}"
        ids.append(sid)
        lines += [
            f"      - name: {_yaml_str(name)}",
            f"        id: {sid}",
            "        uses: classroom-resources/autograding-command-grader@v1",
            "        with:",
            f"          test-name: {_yaml_str(name)}",
            # Quoted twice: for the shell (the name may hold spaces and quotes) and for YAML (a
            # plain scalar may not hold ": ", which a test's title may).
            f"          command: {_yaml_str(f'python3 -m harness.results passed {results} {shlex.quote(name)}')}",
            "          timeout: 1",
            f"          max-score: {points:g}",
        ]
    lines += [
        "      - name: Autograding Reporter",
        "        uses: classroom-resources/autograding-grading-reporter@v1",
        "        env:",
        *[f"          {sid.upper()}_RESULTS: \"${{{{steps.{sid}.outputs.result}}}}\"" for sid in ids],
        "        with:",
        f"          runners: {','.join(ids)}",
    ]
    return "\n".join(lines) + "\n"


def workflow_path(kit: Path, lab: paths.Lab) -> Path:
    return kit / ".github" / "workflows" / f"classroom-lab{lab.id}.yml"


def write_workflows(kit: Path) -> list[Path]:
    made = []
    for lab in paths.all_labs():
        if not lab.test_module.is_file():
            continue
        path = workflow_path(kit, lab)
        plan = test_plan(lab)
        if not plan:
            continue
        text = workflow_text(lab, plan)
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        made.append(path)
    return made


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.handout", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(paths.KIT / "dist"), help="where the tarballs go (default dist/)")
    ap.add_argument("--hidden", help="a folder of hidden tests to keep out (also $SOCKLAB_HIDDEN)")
    ap.add_argument("--workflows-only", action="store_true", help="only regenerate .github/workflows/classroom-*.yml")
    ap.add_argument("--no-workflows", action="store_true", help="do not regenerate the workflows")
    args = ap.parse_args(argv)
    kit = paths.KIT
    if not args.no_workflows:
        for p in write_workflows(kit):
            print(f"workflow: {p.relative_to(kit)}")
    if args.workflows_only:
        return 0
    if not (kit / "solutions").is_dir():
        print("handout: this kit has no solutions/ (it is a handout already); the leak check is limited",
              file=sys.stderr)
    for t in build_handouts(kit, Path(args.out).resolve(), hidden_dirs(args.hidden, kit)):
        with tarfile.open(t) as tf:
            n = sum(1 for m in tf if m.isfile())
        print(f"handout: {t} ({n} files, {t.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
