"""The run spec (harness/runspec.py): one file, OUT/run.json, carries every setting of a
grading run from the command line to the tests (issue 15, "One run spec").

- a grading run writes run.json with the lab, the flags, the time scale, the sandbox and the
  build's results, and the tests ran with them;
- the grader sets no environment variable for its children and passes pytest no socklab
  option but --run-spec;
- the plugin takes its settings from run.json, over the user's environment.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(KIT))

from harness import grade, paths, runspec  # noqa: E402
from harness.results import test_id as result_id  # noqa: E402
from harness.selftest.kitutil import assert_no_traceback  # noqa: E402

PYTHON = sys.executable
SELECT = "client_one_message or server_bad_port"


@pytest.mark.timeout(300)
def test_grading_run_writes_run_json(tmp_path):
    """grade -k ... (no --valgrind) with SOCKLAB_TIME_SCALE=2: run.json holds what was asked,
    and the run graded exactly the tests -k selects, with the built programs."""
    out = tmp_path / "out"
    copy = tmp_path / "copy.json"
    cmd = [PYTHON, "-m", "harness.grade", "--lab", "01", "--impl", "solutions", "--out", str(out),
           "--jobs", "1", "--quiet", "--timeout", "200", "-k", SELECT, "--results-json", str(copy)]
    env = dict(os.environ, SOCKLAB_TIME_SCALE="2")
    env.pop("SOCKLAB_PCAP", None)
    r = subprocess.run(cmd, cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=290,
                       start_new_session=True, env=env)
    text = r.stdout.decode("utf-8", "replace")
    data = json.loads((out / "results.json").read_text())
    assert_no_traceback(text, data)
    assert r.returncode == 0, text

    raw = json.loads((out / runspec.NAME).read_text())
    spec = runspec.load(out / runspec.NAME)
    assert spec is not None, raw
    assert (spec.lab, spec.impl) == ("01", "solutions")
    assert Path(spec.source) == paths.find_lab("01").solution.resolve()
    assert raw["flags"] == {"select": SELECT, "exitfirst": False, "last_failed": False, "jobs": 1,
                            "valgrind": False, "pcap": False, "timeout": 200, "quiet": True}
    assert spec.time_scale == 2.0, "SOCKLAB_TIME_SCALE is read once into run.json"
    assert spec.sched_delay is not None and spec.sched_delay >= 0
    assert spec.sandbox and spec.sandbox["mode"] in ("off", "user", "namespaces", "bwrap")
    assert spec.hidden == [] and spec.results_copies == [str(copy.resolve())]
    assert Path(spec.out) == out.resolve()
    assert spec.build_ok is True and set(spec.build["programs"]) == {"echo_server", "echo_client"}
    assert not (out / "build.json").exists(), "the build's results are in run.json only"
    assert "time scale 2" in text

    names = {result_id(t) for t in data["tests"]}
    assert names and all("client_one_message" in n or "server_bad_port" in n for n in names), names
    assert all(t["status"] == "passed" for t in data["tests"]), data
    assert json.loads(copy.read_text())["tests"], "the --results-json copy from run.json was written"


def _assigns_environ(tree: ast.AST) -> list[str]:
    """Lines that change os.environ (assignment, del, update/setdefault/pop/clear) or call putenv."""
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for t in targets:
            if isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ":
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if (owner == "os.environ" and node.func.attr in ("update", "setdefault", "pop", "clear", "popitem")) \
                    or (owner == "os" and node.func.attr in ("putenv", "unsetenv")):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("module", ["grade.py", "plugin.py", "runspec.py", "batch.py", "autograder/run.py",
                                    "timing.py", "sandbox/box.py", "sandbox/limits.py", "sandbox/config.py"])
def test_no_setting_travels_through_the_environment(module):
    """The grader and the modules between it and the tests never change os.environ."""
    tree = ast.parse((KIT / "harness" / module).read_text())
    assert _assigns_environ(tree) == [], f"harness/{module} changes the environment"


def test_pytest_gets_only_the_run_spec(tmp_path):
    """The child pytest's command line: --run-spec and pytest's own options, no socklab option."""
    spec = runspec.RunSpec(lab="01", impl="labs", source="/src", build_source="/src", out=str(tmp_path),
                           flags=runspec.Flags(select="x", exitfirst=True, last_failed=True, jobs=2, pcap=True,
                                               valgrind=True))
    cmd = grade.pytest_command(spec, [paths.find_lab("01").test_module])
    assert cmd[cmd.index("--run-spec") + 1] == str(tmp_path / runspec.NAME)
    for gone in ("--bin-dir", "--build-log", "--evidence", "--results-json", "--pcap", "--impl",
                 "--inside-sandbox", "--source-label"):
        assert gone not in cmd, cmd
    assert cmd[cmd.index("-k") + 1] == "x" and "-x" in cmd and "--lf" in cmd and cmd[cmd.index("-n") + 1] == "2"
    src = (KIT / "harness" / "grade.py").read_text()
    assert "*args.argv" not in src and "--inside-sandbox" not in src and "BUILD FAILED" not in src


PROBE = '''
import os
from harness import paths, runspec, sandbox, timing

def test_settings_come_from_run_json(request, lab_build):
    assert os.environ.get("SOCKLAB_TIME_SCALE") == "9"   # the user's, overridden by run.json
    assert paths.time_scale() == 3.5
    assert timing.sched_delay() == 0.0123
    assert sandbox.current() is not None and sandbox.current().mode == "off"
    assert runspec.active().lab == "01" and runspec.active().flags.valgrind is False
    assert lab_build.built("echo_client") and not lab_build.built("echo_server")
    assert request.config.getoption("--evidence") == os.path.join(runspec.active().out, "evidence")
'''


@pytest.mark.timeout(120)
def test_plugin_reads_run_json(tmp_path):
    """pytest --run-spec: time scale, scheduling delay, sandbox, build and output paths come
    from run.json (over SOCKLAB_TIME_SCALE), and results.json goes where run.json says."""
    from harness import sandbox
    out = tmp_path / "out"
    out.mkdir()
    cfg = sandbox.Config(mode="off", root=str(tmp_path / "box"))
    build = {"lab": "01", "src": "/nowhere", "bin_dir": str(tmp_path), "ok": False,
             "programs": {"echo_server": {"ok": False, "log": "echo_server.c:1:1: error: no"},
                          "echo_client": {"ok": True, "log": ""}}}
    spec = runspec.RunSpec(lab="01", impl="labs", source="/nowhere", build_source="/nowhere", out=str(out),
                           time_scale=3.5, sched_delay=0.0123, sandbox=cfg.to_dict(), bin_dir=str(tmp_path),
                           build=build)
    spec.save()
    probe = tmp_path / "test_lab01_probe.py"
    probe.write_text(PROBE)
    r = subprocess.run([PYTHON, "-m", "pytest", "-c", str(KIT / "pytest.ini"), "--rootdir", str(KIT), str(probe),
                        "-p", "harness.results", "--run-spec", str(spec.path), "-p", "no:randomly", "-q"],
                       cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=100,
                       start_new_session=True, env=dict(os.environ, SOCKLAB_TIME_SCALE="9"))
    text = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, text
    data = json.loads((out / "results.json").read_text())
    names = [result_id(t) for t in data["tests"]]
    assert "build" in names, f"the build entry comes from run.json's build: {names}"
