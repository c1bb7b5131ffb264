"""The feedback itself (issue 13): diagnosis before hints, one block per cause, nothing raw.

A failed test first says what happened to the programs (never started, exited, crashed,
silent, stopped at a gap of the skeleton), in one grammatical sentence; the test's topic hint
comes only when the programs behaved normally. Failures with one cause make one block on the
console. Nothing a program wrote reaches a terminal or a file unescaped, and no traceback of
harness code reaches a student.

The graded cases are patches in harness/selftest/feedback/, applied to a copy of a solution:
    lab03-select-closed-fd   select() on a closed fd: chat_server exits with EBADF
    lab02-no-backoff         no backoff: the client behaves normally, the topic hint stays
    lab01-crash              a write past a buffer: AddressSanitizer aborts echo_server
    lab02-client-build-error a -Werror warning in udp_client.c only
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import feedback, grade, paths, plugin
from harness.procs import Program
from harness.results import test_id as result_id
from harness.selftest.kitutil import assert_no_traceback

CASES = Path(__file__).parent / "feedback"
#: The most lines an untouched skeleton may print on the console (issue 13: "about 40").
SKELETON_LINES = 45


def patched(lab_id: str, case: str, tmp_path: Path) -> Path:
    """A copy of the lab's solution with harness/selftest/feedback/<case>.patch applied."""
    lab = paths.find_lab(lab_id)
    src = tmp_path / "src"
    shutil.copytree(lab.solution, src, ignore=shutil.ignore_patterns("mutants", "variants"))
    r = subprocess.run(["patch", "-p1", "-s", "-F3", "-i", str(CASES / f"{case}.patch")], cwd=src,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode == 0, f"{case}.patch no longer applies to solutions/{lab.name}:\n{r.stdout.decode()}"
    return src


def run_grader(lab_id: str, src: Path, out: Path, select: str | None = None, timeout: float = 120):
    """Grade like a student (with the feedback); returns (results.json data, console output)."""
    cmd = [sys.executable, "-m", "harness.grade", "--lab", lab_id, "--impl", str(src), "--out", str(out),
           "--jobs", "2", "--timeout", str(timeout)]
    if select:
        cmd += ["-k", select]
    r = subprocess.run(cmd, cwd=paths.KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout + 60, start_new_session=True)
    output = r.stdout.decode("utf-8", "replace")
    data = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {"tests": []}
    assert data["tests"], f"nothing was graded:\n{output}"
    assert_no_traceback(output, data)
    return data, output


def failed(data: dict) -> list[dict]:
    return [t for t in data["tests"] if t["status"] == "failed" and result_id(t) != "build"]


def console_blocks(output: str) -> list[str]:
    return [l for l in output.splitlines() if l.startswith("=== ")]


# ---- the parts, without grading --------------------------------------------------------------
def test_stub_message_is_parsed():
    text = "chat_server: serve: not written yet (TODO in chat_server.c, handout §4.1)\n"
    assert feedback.find_stub(text) == {"func": "serve", "file": "chat_server.c", "section": "§4.1"}
    assert feedback.find_stub("chat_server: select: Bad file descriptor") is None


def _program(script: str, **kw) -> Program:
    return Program(["/bin/sh", "-c", script], name=kw.pop("name", "prog"), **kw)


def test_each_kind_of_program_is_diagnosed():
    stub = _program("echo 'prog: on_accept: not written yet (TODO in chat.c, handout §4.3)' >&2; exit 1")
    crash = _program("kill -SEGV $$")
    server = _program("echo 'prog: select: Bad file descriptor' >&2; exit 1")
    server.is_server = True
    client_done = _program("exit 0")
    client_waited = _program("exit 1")
    running = _program("sleep 30")
    try:
        for p in (stub, crash, server, client_done):
            p.proc.wait(10)
        assert client_waited.wait(10) == 1
        d = feedback.program_diagnosis(stub)
        assert d.kind == "stub" and d.todo == {"func": "on_accept", "file": "chat.c", "section": "§4.3"}
        assert d.sentence == ("prog stopped at a gap of the skeleton: on_accept() is not written yet "
                              "(TODO in chat.c, handout §4.3).")
        d = feedback.program_diagnosis(crash)
        assert d.kind == "crashed" and "SIGSEGV" in d.sentence and d.withhold_hint
        d = feedback.program_diagnosis(server)
        assert d.kind == "exited" and '"prog: select: Bad file descriptor"' in d.sentence
        assert "still running" not in d.sentence
        # Behaving normally: a client that finished, one whose end the test waited for, one still running.
        assert feedback.program_diagnosis(client_done) is None
        assert feedback.program_diagnosis(client_waited) is None
        assert feedback.program_diagnosis(running) is None
        assert running.state() == "is still running" and server.state() == "exited with exit status 1"
        assert feedback.diagnose([running, server, stub]).kind == "stub"  # the earliest cause first
    finally:
        for p in (stub, crash, server, client_done, client_waited, running):
            p.stop()


class _Item:
    """Just enough of a graded pytest.Item for plugin.explain()."""

    @staticmethod
    def get_closest_marker(name):
        return pytest.mark.points(1).mark if name == "points" else None

    class config:
        class hook:
            @staticmethod
            def pytest_socklab_diagnose(**kw):
                return None


def _report(exc: BaseException) -> tuple[pytest.TestReport, pytest.CallInfo]:
    try:
        raise exc
    except BaseException:
        info = pytest.ExceptionInfo.from_current()
    call = pytest.CallInfo(None, info, 0.0, 0.0, 0.0, "call", _ispytest=True)
    report = pytest.TestReport("t.py::test_x", ("t.py", 1, "test_x"), {}, "failed", str(exc), "call",
                               sections=[("prog stderr (tail)", "bell\x07 esc\x1b[2J")], user_properties=[])
    return report, call


def test_report_is_printable_and_hint_withheld_after_a_crash():
    prog = _program("printf 'evil\\033]0;title\\007\\n' >&2; kill -SEGV $$")
    prog.proc.wait(10)
    try:
        with pytest.raises(feedback.FeedbackFailure) as e:
            feedback.fail("the server sent \x1b[31mred\x1b[0m", hint="the topic (§4.3)")
        report, call = _report(e.value)
        plugin.explain(_Item(), call, report, [prog])
        text = report.longreprtext
        assert text.startswith("What happened: prog crashed: it was killed by SIGSEGV.")
        assert "Hint:" not in text and "\x1b" not in text and "\\x1b[31m" in text
        assert all("\x1b" not in body and "\x07" not in body for _, body in report.sections)
        cause = json.loads(dict(report.user_properties)["cause"])
        assert cause["kind"] == "crashed"
    finally:
        prog.stop()


def test_topic_hint_kept_when_programs_behaved():
    prog = _program("sleep 30")
    try:
        with pytest.raises(feedback.FeedbackFailure) as e:
            feedback.fail("wrong bytes", hint="the topic (§4.3)")
        report, call = _report(e.value)
        plugin.explain(_Item(), call, report, [prog])
        assert report.longreprtext == "wrong bytes\nHint: the topic (§4.3)"
    finally:
        prog.stop()


def test_a_tests_own_cause_comes_first_unless_a_program_crashed():
    running = _program("sleep 30")
    crashed = _program("kill -SEGV $$")
    crashed.proc.wait(10)
    try:
        with pytest.raises(feedback.FeedbackFailure) as e:
            feedback.fail("gap 2->3: 40 ms", hint="double it (§4.3)", cause="the timeout never grows")
        report, call = _report(e.value)
        plugin.explain(_Item(), call, report, [running])
        assert report.longreprtext == ("What happened: the timeout never grows.\ngap 2->3: 40 ms\n"
                                       "Hint: double it (§4.3)")
        report, call = _report(e.value)
        plugin.explain(_Item(), call, report, [running, crashed])
        assert report.longreprtext.startswith("What happened: prog crashed") and "Hint" not in report.longreprtext
    finally:
        running.stop()
        crashed.stop()


def test_a_harness_exception_becomes_an_internal_error():
    report, call = _report(KeyError("oops"))
    plugin.explain(_Item(), call, report, [])
    assert report.longreprtext.startswith("What happened: the harness itself failed (KeyError: 'oops')")
    assert "Traceback" not in report.longreprtext
    assert any(t.startswith(plugin.LOG_ONLY) and "Traceback" in b for t, b in report.sections)
    report, call = _report(ConnectionRefusedError(111, "Connection refused"))
    plugin.explain(_Item(), call, report, [])
    assert "Connection refused" in report.longreprtext and "Traceback" not in report.longreprtext


def test_a_timeout_says_which_program_was_silent():
    prog = _program("sleep 30", name="echo_server")
    try:
        report, call = _report(pytest.fail.Exception("Timeout >60.0s"))
        plugin.explain(_Item(), call, report, [prog])
        assert report.longreprtext.startswith(
            "What happened: the test ran out of time (60.0s) while its programs were still running: "
            "echo_server is still running and had written nothing."), report.longreprtext
    finally:
        prog.stop()


def test_one_cause_is_one_block(capsys):
    lab = paths.find_lab("03")
    cause = {"kind": "stub", "key": "stub:chat_server.c:serve", "withhold_hint": True,
             "sentence": "chat_server stopped at a gap of the skeleton: serve() is not written yet "
                         "(TODO in chat_server.c, handout §4.1).",
             "todo": {"func": "serve", "file": "chat_server.c", "section": "§4.1"}}
    tests = [{"name": f"Title {i}", "score": 0.0, "max_score": 4.0, "status": "failed", "visibility": "visible",
              "output": "What happened: ...\nlong message\nHint: x",
              "extra_data": {"test": f"test_{i}", "outcome": "failed", "cause": cause, "seconds": 0.1}}
             for i in range(25)]
    grade.print_report(lab, lab.skeleton, {"tests": tests}, Path("/tmp/out"), 1.0, True)
    out = capsys.readouterr().out
    assert len(console_blocks(out)) == 1 and "This costs 100 points in 25 tests" in out
    assert "Hint:" not in out and len(out.splitlines()) <= 25 + 12
    assert re.search(r"^Next step: step \d+ .*serve\(\) in chat_server\.c .*§4\.1", out, re.M), out


# ---- graded cases --------------------------------------------------------------------------
@pytest.mark.timeout(200)
def test_lab03_select_on_closed_fd_is_reported_as_an_exit(tmp_path):
    src = patched("03", "lab03-select-closed-fd", tmp_path)
    data, output = run_grader("03", src, tmp_path / "out", "leave_and_rejoin or quit or reset_mid_line")
    bad = failed(data)
    assert bad, f"the patched server passed:\n{output}"
    for t in bad:
        cause = t["extra_data"].get("cause") or {}
        assert cause.get("kind") == "exited", f"{result_id(t)}: {cause}\n{t['output']}"
        assert "Bad file descriptor" in cause["sentence"], cause
        assert t["output"].startswith("What happened: chat_server exited with status 1"), t["output"]
        assert "Hint:" not in t["output"], f"{result_id(t)} kept its topic hint:\n{t['output']}"
    assert len(console_blocks(output)) == 1, output
    assert "Hint:" not in output and "still running" not in output, output


@pytest.mark.timeout(200)
def test_lab02_no_backoff_is_named_first(tmp_path):
    """A client that never backs off ran and ended as a client does: the program is not to
    blame (no crash, exit or stub diagnosis), and the first thing said is the real cause,
    the wait that never grew, never a hint about exit statuses."""
    src = patched("02", "lab02-no-backoff", tmp_path)
    data, output = run_grader("02", src, tmp_path / "out", "backoff_gaps")
    bad = failed(data)
    assert bad, f"the client without backoff passed:\n{output}"
    for t in bad:
        cause = t["extra_data"].get("cause") or {}
        assert cause.get("kind") not in ("crashed", "exited", "stub", "silent", "internal"), cause
        assert t["output"].lstrip().startswith("No backoff seen"), t["output"]
        assert "exit 0 when every request" not in t["output"], t["output"]
        assert "--backoff" in t["output"], t["output"]
    assert "No backoff seen" in output, output


@pytest.mark.timeout(200)
def test_lab01_crash_is_reported_with_its_site(tmp_path):
    src = patched("01", "lab01-crash", tmp_path)
    data, output = run_grader("01", src, tmp_path / "out", "server_one_message or server_many_lines")
    bad = failed(data)
    assert bad, output
    for t in bad:
        cause = t["extra_data"].get("cause") or {}
        assert cause.get("kind") == "crashed", f"{result_id(t)}: {cause}\n{t['output']}"
        assert re.search(r"(in echo_loop \(|at )echo_server\.c:\d+", cause["sentence"]), cause
        assert "Hint:" not in t["output"], t["output"]
    assert len(console_blocks(output)) == 1, output
    junit = (tmp_path / "out" / "junit.xml").read_text()
    for where, text in (("the console", output), ("results.json", json.dumps(data, ensure_ascii=False)),
                        ("junit.xml", junit)):
        assert "\x1b" not in text and "\r" not in text.replace("\r\n", "\n"), f"a raw escape in {where}"
    assert "\\x1b[2J" in json.dumps(data) or "x1b[2J" in junit, "the escape was dropped, not shown escaped"


@pytest.mark.timeout(200)
def test_lab02_build_error_in_one_program_fails_only_its_tests(tmp_path):
    src = patched("02", "lab02-client-build-error", tmp_path)
    data, output = run_grader("02", src, tmp_path / "out", "server_echo_sizes or client_no_loss")
    by_id = {result_id(t): t for t in data["tests"]}
    assert by_id["test_server_echo_sizes"]["status"] == "passed", output
    client = by_id["test_client_no_loss"]
    assert client["status"] == "failed" and client["extra_data"]["cause"]["kind"] == "build", client
    builds = [t for t in data["tests"] if result_id(t) == "build"]
    assert len(builds) == 1 and "unused" in builds[0]["output"] and builds[0]["max_score"] == 0, builds
    assert len(client["output"].splitlines()) <= 2, "the compiler's messages are repeated in a test's output"
    # Gradescope: readable titles as names; no path a student cannot open.
    assert all(not t["name"].startswith("test_") for t in data["tests"]), [t["name"] for t in data["tests"]]
    text = json.dumps([t["output"] for t in data["tests"]])
    assert "/autograder/" not in text and "socklab-sbx" not in text and str(tmp_path) not in text
    assert "udp_client did not build" in output and "unused" in output, output


@pytest.mark.timeout(200)
@pytest.mark.parametrize("lab", paths.all_labs(), ids=[l.name for l in paths.all_labs()])
def test_untouched_skeleton_is_short_and_names_its_first_todo(lab, tmp_path):
    t0 = time.monotonic()
    data, output = run_grader(lab.id, lab.skeleton, tmp_path / "out")
    lines = output.splitlines()
    assert len(lines) <= SKELETON_LINES, f"{len(lines)} lines:\n{output}"
    heads = console_blocks(output)
    assert len(heads) == len(set(heads)), f"repeated blocks:\n{output}"
    assert "Hint:" not in output, output
    step = next((l for l in lines if l.startswith("Next step:")), "")
    assert re.search(r"write \w+\(\) in [\w.]+ \(its TODO, handout §[\d.]+\)", step), output
    print(f"lab {lab.id}: skeleton: {len(lines)} lines in {time.monotonic() - t0:.1f} s")
