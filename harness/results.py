"""A pytest plugin that writes a Gradescope results.json as each test finishes.

Loaded by the grader with `-p harness.results --results-json PATH`. With --collect-only it
writes the plan: every test with its points, marked "not run", so that a run that is killed
part-way still leaves a complete results.json in which unfinished tests score 0.

The file follows Gradescope's autograder specification: top-level score, execution_time,
output, visibility, stdout_visibility and tests; each test has name (the test's readable
title, the first line of its docstring), number, score, max_score, status, output and
visibility. extra_data keeps the test's id ("test": test_x[a], "nodeid"), its outcome,
seconds, the evidence folder's name and the diagnosed cause of a failure ("cause", see
harness/feedback.py), which the grader's console groups by.
When a program does not build, one entry named "build" (0 points) holds the compiler's
messages, and each test that needed the program says so in one line.
No output names a path: a student on Gradescope cannot open any.
See https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from . import runspec

if TYPE_CHECKING:  # only annotations use it: the grader imports this module without pytest's cost
    import pytest

#: Output longer than this is cut (characters); Gradescope shows it all, students read the start.
MAX_OUTPUT = 6000


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("socklab")
    g.addoption("--results-json", action="append", default=None,
                help="write Gradescope results.json here as tests finish (repeat: more copies, "
                     "for example /autograder/results/results.json)")


def pytest_configure(config: pytest.Config) -> None:
    where = config.getoption("--results-json")
    # Only the controller writes (under xdist, workers send their reports to it).
    if where and not hasattr(config, "workerinput"):
        writer = ResultsWriter(Path(where[0]), config, copies=[Path(p) for p in where[1:]])
        config.pluginmanager.register(writer, "socklab-results")


def short_name(nodeid: str) -> str:
    """'harness/tests/test_lab01.py::test_x[a]' -> 'test_x[a]' (hidden modules keep their module name)."""
    module, _, name = nodeid.partition("::")
    mod = Path(module).stem
    return name if mod.startswith("test_lab") and "/harness/tests/" in f"/{module}" else f"{mod}::{name}"


def _trim(text: str) -> str:
    if len(text) <= MAX_OUTPUT:
        return text
    return text[:MAX_OUTPUT] + f"\n... ({len(text) - MAX_OUTPUT} more characters in the log)"


def test_id(t: dict) -> str:
    """A results.json entry's test id ("test_x[a]"): extra_data["test"], else its name."""
    return (t.get("extra_data") or {}).get("test") or t.get("name", "")


def failure_text(report: pytest.TestReport) -> str:
    """What a student should read about a failed phase: the message and the harness's sections
    (never the log-only ones, the captured output or the evidence folder)."""
    text = report.longreprtext or ""
    # xdist prefixes "[gw0] linux -- Python ..." to each report: noise for a student.
    text = "\n".join(line for line in text.splitlines() if not line.startswith("[gw"))
    if "Timeout" in text and "+++++" in text:
        first = text.strip().splitlines()[0] if text.strip() else ""
        text = (f"The test did not finish within its time limit ({first.strip('+ ')}): "
                "a program under test probably blocked (a hang or a deadlock).")
    parts = [text.strip()]
    for title, body in report.sections:
        if title.startswith(("Captured", "log only", "evidence")):
            continue
        parts.append(f"--- {title} ---\n{body.strip()}")
    return "\n".join(p for p in parts if p)


class ResultsWriter:
    """Collects per-test outcomes and rewrites results.json after each test."""

    def __init__(self, path: Path, config: pytest.Config, copies: Optional[list] = None):
        self.path = path
        self.copies = list(copies or [])
        self.config = config
        self.started = time.monotonic()
        self.tests: dict[str, dict] = {}
        if path.exists():
            try:
                for t in json.loads(path.read_text()).get("tests", []):
                    if t["extra_data"]["nodeid"] != "build":
                        self.tests[t["extra_data"]["nodeid"]] = t
            except (ValueError, KeyError):
                self.tests = {}

    # -- the plan (collect-only) --
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.config.getoption("collectonly"):
            # Without xdist this process collected the tests itself: write the plan now (the
            # grader then needs no collect-only pass). Under xdist the controller has no items.
            for item in session.items:
                self._entry(item.nodeid, dict(item.user_properties))
            if session.items:
                self.write()
            return
        self.tests = {}
        for item in session.items:
            props = dict(item.user_properties)
            self._entry(item.nodeid, props)
        self.write()

    def _entry(self, nodeid: str, props: dict) -> dict:
        entry = self.tests.get(nodeid)
        if entry is None:
            entry = {
                "name": props.get("title") or short_name(nodeid),
                "number": str(len(self.tests) + 1),
                "score": 0.0,
                "max_score": float(props.get("points", 0)),
                "status": "failed",
                "output": "Not run: the grading run ended before this test finished.",
                "visibility": props.get("visibility", "visible"),
                "extra_data": {"test": short_name(nodeid), "nodeid": nodeid, "seconds": 0.0,
                               "outcome": "not run", "title": props.get("title", "")},
            }
            self.tests[nodeid] = entry
        return entry

    # -- the run --
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        entry = self._entry(report.nodeid, props)
        extra = entry["extra_data"]
        if report.when == "setup":
            extra["outcome"] = "running"
            extra["seconds"] = 0.0
            entry["output"] = ""
            extra["failed"] = False
            extra.pop("cause", None)
            extra.pop("evidence", None)
        extra["seconds"] = round(extra["seconds"] + report.duration, 3)
        if report.failed:
            extra["failed"] = True
            if "cause" in props and "cause" not in extra:
                try:
                    extra["cause"] = json.loads(props["cause"])
                except ValueError:
                    pass
            text = failure_text(report)
            if report.when == "teardown" and entry["output"]:
                text = "And at teardown:\n" + text
            entry["output"] = _trim("\n".join(x for x in (entry["output"], text) if x))
        elif report.skipped and report.when in ("setup", "call"):
            extra["skipped"] = True
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            entry["output"] = f"Skipped: {reason}"
        if report.when == "teardown":
            # The plugin names the kept evidence (a folder name under OUT/evidence) on the teardown report.
            notes = [body for title, body in report.sections if title == "evidence"]
            if extra.get("failed") and notes:
                extra["evidence"] = notes[-1]
            self._finish(entry)
            self.write()

    def _finish(self, entry: dict) -> None:
        extra = entry["extra_data"]
        if extra.pop("failed", False):
            extra["outcome"] = "failed"
            entry["status"], entry["score"] = "failed", 0.0
        elif extra.pop("skipped", False):
            # A test the harness cannot run here (no IPv6, no tcpdump) neither costs nor earns points.
            extra["outcome"] = "skipped"
            entry["status"], entry["score"], entry["max_score"] = "passed", 0.0, 0.0
        else:
            extra["outcome"] = "passed"
            entry["status"], entry["score"] = "passed", entry["max_score"]
            entry["output"] = entry["output"] or "Passed."

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # A test whose phases did not all report (-x under xdist stops the workers): a failure
        # seen counts as failed; otherwise it did not run to the end.
        for entry in self.tests.values():
            extra = entry["extra_data"]
            if extra.get("outcome") == "running":
                if extra.get("failed"):
                    self._finish(entry)
                else:
                    extra.pop("failed", None)
                    extra.pop("skipped", None)
                    extra["outcome"] = "not run"
                    entry["output"] = entry["output"] or "Not run: the run stopped before this test finished."
        self.write()

    def build_entry(self) -> Optional[dict]:
        """One "build" entry when a program did not build (run.json's build report), else None."""
        spec = runspec.active()
        if spec is None or not spec.build:
            return None
        return build_entry(spec.build)

    def summary(self) -> dict:
        tests = list(self.tests.values())
        build = self.build_entry()
        if build:
            tests = [build] + tests
        score = sum(t["score"] for t in tests)
        top = sum(t["max_score"] for t in tests)
        return {
            "score": round(score, 2),
            "execution_time": round(time.monotonic() - self.started, 2),
            "output": f"{score:g} / {top:g} points",
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": tests,
        }

    def write(self) -> None:
        """Write atomically: a reader never sees half a file."""
        text = json.dumps(self.summary(), indent=2)
        for path in [self.path, *self.copies]:
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)


def build_entry(data: dict) -> Optional[dict]:
    """The results.json entry for a build that failed (`data`: run.json's "build"), or None if every program built."""
    from .textsafe import printable
    failed = {p: v for p, v in (data.get("programs") or {}).items() if not v.get("ok")}
    if not failed and data.get("ok", True):
        return None
    parts = [f"{', '.join(failed) or 'The lab'} did not build, so the tests that need "
             f"{'them' if len(failed) > 1 else 'it'} score 0. Fix the first error first; `make` in the "
             "lab's folder shows the messages again."]
    for prog, v in failed.items():
        parts.append(f"--- {prog} ---\n{printable(str(v.get('log', '')).strip())[-2500:]}")
    return {"name": "build", "number": "0", "score": 0.0, "max_score": 0.0, "status": "failed",
            "output": _trim("\n".join(parts)), "visibility": "visible",
            "extra_data": {"test": "build", "nodeid": "build", "seconds": 0.0, "outcome": "failed",
                           "cause": {"kind": "build", "key": "build", "sentence": "the build failed"}}}


def load(path: Path) -> Optional[dict]:
    """Read a results.json; None if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_stub(path: Path, message: str, data: Optional[dict] = None) -> dict:
    """Make sure `path` holds a valid results.json: `data` (or an empty run) with `message` first.

    For the cases where pytest could not write one: the run was killed before the plan was
    written, or the grader itself failed. Gradescope shows "output" to the student.
    """
    data = dict(data or {})
    tests = data.get("tests") or []
    data["tests"] = tests
    data["score"] = round(sum(t.get("score", 0) for t in tests), 2)
    data["output"] = message + ("\n" + data["output"] if data.get("output") else "")
    data.setdefault("execution_time", 0)
    data.setdefault("visibility", "visible")
    data.setdefault("stdout_visibility", "hidden")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    return data


def passed(path: Path, name: str) -> bool:
    """True if the test `name` (as in results.json, or its nodeid) passed with its full points."""
    data = load(path) or {}
    for t in data.get("tests", []):
        if name in (t.get("name"), test_id(t), t.get("extra_data", {}).get("nodeid")):
            return t.get("status") == "passed" and t.get("score", 0) >= t.get("max_score", 0)
    return False


def main(argv: Optional[list] = None) -> int:
    """python -m harness.results passed RESULTS_JSON TEST_NAME: exit 0 if that test passed.

    Used by the GitHub Classroom workflows: one grading run, then one step per test.
    """
    import argparse
    ap = argparse.ArgumentParser(prog="python -m harness.results")
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("passed", help="exit 0 if the named test passed")
    p.add_argument("results_json")
    p.add_argument("test")
    args = ap.parse_args(argv)
    ok = passed(Path(args.results_json), args.test)
    data = load(Path(args.results_json)) or {}
    for t in data.get("tests", []):
        if args.test in (t.get("name"), test_id(t)):
            print(f"{test_id(t)}: {t['score']:g}/{t['max_score']:g} ({t['status']})")
            if not ok:
                print(t.get("output", ""))
            break
    else:
        print(f"{args.test}: not in {args.results_json} (did the grading run finish?)")
    return 0 if ok else 1


if __name__ == "__main__":
    import sys
    sys.exit(main())
