"""The kit's layout holds (issue 15):

- every function a skeleton gives (no TODO(student) in it) is byte for byte the solution's;
- every valid variant solutions/NN-*/variants/*.patch applies and scores full marks;
- the harness's import graph has no cycle, lab support modules (harness/labs/labNN.py) sit
  on top of the shared mechanisms, and nothing imports a test module;
- a hidden test gets a lab's fixtures by name and its helpers from harness.labs: the
  example in harness/README.md is graded here as an instructor would.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import csource, paths, results
from harness.selftest.kitutil import patch_header, zoo_marks

KIT = paths.KIT
HARNESS = KIT / "harness"
LABS = [lab for lab in paths.all_labs() if lab.solution.is_dir()]


def grade(lab: paths.Lab, src: Path, out: Path, *extra: str, timeout: float = 240) -> tuple[int, dict, str]:
    """The grader, as an instructor runs it; returns (exit status, results.json, output)."""
    cmd = [sys.executable, "-m", "harness.grade", "--lab", lab.id, "--impl", str(src), "--out", str(out),
           "--jobs", "1", "--quiet", "--timeout", str(timeout), *extra]
    r = subprocess.run(cmd, cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout + 60, start_new_session=True)
    data = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {"tests": []}
    return r.returncode, data, r.stdout.decode("utf-8", "replace")


# ---- given code --------------------------------------------------------------------------------
@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_given_code_is_the_solutions(lab):
    """A function the skeleton gives (no TODO(student) in it) is the solution's, byte for byte."""
    problems = []
    for skel in sorted(lab.skeleton.glob("*.[ch]")):
        sol = lab.solution / skel.name
        if not sol.is_file():
            problems.append(f"labs/{lab.name}/{skel.name}: no such file in solutions/{lab.name}")
            continue
        # A function may be defined more than once, under #ifdef (a Linux one and a portable
        # one): compare the n-th definition of a name with the solution's n-th.
        theirs: dict[str, list] = {}
        for f in csource.functions(sol.read_text()):
            theirs.setdefault(f.name, []).append(f)
        seen: dict[str, int] = {}
        for f in csource.functions(skel.read_text()):
            n = seen[f.name] = seen.get(f.name, -1) + 1
            if "TODO(student)" in f.text or n >= len(theirs.get(f.name, [])):
                continue  # the student's to write, or a helper of the skeleton's stubs
            mine = theirs[f.name][n]
            if f.text != mine.text:
                problems.append(f"{skel.name}: {f.name}() is given in the skeleton but differs from the "
                                f"solution's:\n{_diff(mine.text, f.text, skel.name)}")
    assert not problems, "\n".join(problems)


def _diff(a: str, b: str, name: str) -> str:
    import difflib
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), f"solutions/{name}",
                                        f"labs/{name}", n=1))[:2000]


# ---- valid variants ----------------------------------------------------------------------------
def _variants() -> list:
    cases = []
    for lab in LABS:
        found = sorted((lab.solution / "variants").glob("*.patch"))
        cases += [pytest.param(lab, p, id=f"{lab.id}-{p.stem}", marks=zoo_marks(i, every=len(found) or 1))
                  for i, p in enumerate(found)]
        if not found:
            cases.append(pytest.param(lab, None, id=f"{lab.id}-none",
                                      marks=pytest.mark.skip(reason=f"lab {lab.id} has no variants yet")))
    return cases


@pytest.mark.timeout(400)
@pytest.mark.parametrize("lab,patch", _variants())
def test_variant_scores_full_marks(lab, patch, tmp_path):
    """A different but correct solution (a valid variant) loses no point: the tests check what the
    handout says, not how the reference solution does it."""
    head = patch_header(patch)
    assert head.get("variant"), f"{patch}: needs a 'Variant: what differs and why it is still correct' line"
    src = tmp_path / "src"
    shutil.copytree(lab.solution, src, ignore=shutil.ignore_patterns("mutants", "variants", "build"))
    r = subprocess.run(["patch", "-p1", "-s", "-d", str(src), "-i", str(patch)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert r.returncode == 0, f"{patch.name} does not apply to the solution:\n{r.stdout.decode()}"
    rc, data, output = grade(lab, src, tmp_path / "out")
    lost = [f"{t['name']}: {t['score']:g}/{t['max_score']:g}" for t in data["tests"] if t["score"] < t["max_score"]]
    assert rc == 0 and data["tests"] and not lost, (
        f"the valid variant '{head['variant']}' ({patch.name}) lost points: {lost}\n{output[-4000:]}")


# ---- the import graph --------------------------------------------------------------------------
def harness_modules() -> dict[str, Path]:
    """harness's own modules (not its tests or self-tests), by dotted name."""
    found = {}
    for p in sorted(HARNESS.rglob("*.py")):
        rel = p.relative_to(KIT)
        if rel.parts[1] in ("tests", "selftest"):
            continue
        name = ".".join(rel.with_suffix("").parts)
        found[name[:-len(".__init__")] if name.endswith(".__init__") else name] = p
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The harness modules `name` imports anywhere in it (inside functions too): `from . import x`
    counts as harness.x, not as the package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known]
            targets = subs if subs and len(subs) == len(node.names) else [mod, *subs]
        else:
            continue
        for t in targets:
            # `import harness.tests.test_lab02` names a module that may not be in `known`.
            while t and t not in known and "." in t:
                if t.startswith("harness.tests"):
                    break
                t = t.rpartition(".")[0]
            if t.startswith("harness") and t != name:
                found.add(t)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = harness_modules()
    return {n: imports_of(n, p, set(mods)) for n, p in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if m not in graph:
                continue
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if not state.get(m):
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if not state.get(n):
            found = visit(n)
            if found:
                return found
    return None


def test_import_graph_has_no_cycle():
    """No import cycle in the harness, counting imports inside functions too."""
    cycle = find_cycle(import_graph())
    assert cycle is None, ("an import cycle in the harness: " + " -> ".join(cycle)
                           + "\nMove what both need into a shared module below both (harness/README.md, Layout).")


def test_labs_sit_on_top_of_shared_mechanisms():
    """Lab support modules (harness/labs/labNN.py) import shared mechanisms only; no shared module
    imports a lab module, and nothing imports a test module (hidden tests could not)."""
    graph = import_graph()
    problems = []
    for n, deps in sorted(graph.items()):
        is_lab = n.startswith("harness.labs.")
        for d in sorted(deps):
            if d.startswith("harness.tests"):
                problems.append(f"{n} imports the test module {d}: move what it needs into harness/labs/")
            elif d.startswith("harness.labs.") and not is_lab:
                problems.append(f"the shared module {n} imports the lab module {d}")
            elif d.startswith("harness.labs.") and is_lab:
                problems.append(f"the lab module {n} imports another lab's module {d}: share it in harness/")
    assert graph["harness"] == set(), f"harness/__init__.py imports {graph['harness']}: keep it empty"
    assert not problems, "\n".join(problems)


def test_graph_checker_sees_cycles_and_local_imports(tmp_path):
    """The checker itself: a cycle hidden in a function-local import is found."""
    (tmp_path / "a.py").write_text("from . import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from .a import x\n")
    known = {"harness.a", "harness.b"}
    graph = {"harness.a": imports_of("harness.a", tmp_path / "a.py", known),
             "harness.b": imports_of("harness.b", tmp_path / "b.py", known)}
    assert graph == {"harness.a": {"harness.b"}, "harness.b": {"harness.a"}}
    assert find_cycle(graph) in (["harness.a", "harness.b", "harness.a"], ["harness.b", "harness.a", "harness.b"])


# ---- hidden tests ------------------------------------------------------------------------------
def readme_hidden_examples() -> list:
    """The hidden-test examples in harness/README.md: [(file name, lab id, code)]."""
    text = (HARNESS / "README.md").read_text()
    found = re.findall(r"```python\n# (test_lab(\d\d)_\w+\.py)\n(.*?)```", text, re.S)
    assert found, "harness/README.md has no hidden-test example (a ```python block starting '# test_labNN_x.py')"
    return found


EXAMPLES = readme_hidden_examples()


@pytest.mark.parametrize("name,lab_id,code", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_readme_hidden_example_imports_from_harness_labs(name, lab_id, code):
    assert "harness.tests" not in code, "a hidden test never imports from harness.tests"
    assert f"harness.labs.lab{lab_id}" in code, "the example shows a helper imported from harness.labs"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name,lab_id,code", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_readme_hidden_example_grades(tmp_path, name, lab_id, code):
    """Each README hidden test, in a folder of its own, graded with --hidden on the solution:
    it finds the lab's fixtures by name, and counts with its points and visibility."""
    lab = paths.find_lab(lab_id)
    if not (HARNESS / "labs" / f"lab{lab_id}.py").is_file():
        pytest.skip(f"harness/labs/lab{lab_id}.py is not there yet")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / name).write_text(code)
    tests = re.findall(r"^def (test_\w+)", code, re.M)
    assert tests
    rc, data, output = grade(lab, lab.solution, tmp_path / "out", "--hidden", str(hidden), "-k", " or ".join(tests))
    # Hidden tests are named MODULE::TEST in the results, so that two modules' tests never clash.
    got = {results.test_id(t).rpartition("::")[2]: t for t in data["tests"]}
    for t in tests:
        assert t in got, f"the hidden test {t} did not run:\n{output[-4000:]}"
        assert got[t]["score"] == got[t]["max_score"] > 0, f"{t} failed on the solution:\n{got[t]['output']}"
        assert got[t]["visibility"] != "visible", f"{t}: the example's visibility marker was lost"
    assert rc == 0, output[-4000:]
