"""A pytest plugin that writes a Gradescope results.json as each test finishes.

Loaded by the grader with `-p harness.results --results-json PATH`. With --collect-only it
writes the plan: every test with its points, marked "not run", so that a run that is killed
part-way still leaves a complete results.json in which unfinished tests score 0.

The file follows Gradescope's autograder specification: top-level score, execution_time,
output, visibility, stdout_visibility and tests; each test has name, number, score,
max_score, status, output and visibility.
See https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

import pytest

#: Output longer than this is cut (characters); Gradescope shows it all, students read the start.
MAX_OUTPUT = 6000


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("socklab")
    g.addoption("--results-json", default=None, help="write Gradescope results.json here as tests finish")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--results-json")
    # Only the controller writes (under xdist, workers send their reports to it).
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(ResultsWriter(Path(path), config), "socklab-results")


def short_name(nodeid: str) -> str:
    """'harness/tests/test_lab01.py::test_x[a]' -> 'test_x[a]' (hidden modules keep their module name)."""
    module, _, name = nodeid.partition("::")
    mod = Path(module).stem
    return name if mod.startswith("test_lab") and "/harness/tests/" in f"/{module}" else f"{mod}::{name}"


def _trim(text: str) -> str:
    if len(text) <= MAX_OUTPUT:
        return text
    return text[:MAX_OUTPUT] + f"\n... ({len(text) - MAX_OUTPUT} more characters in the log)"


def failure_text(report: pytest.TestReport) -> str:
    """What a student should read about a failed phase: the message and the harness's sections."""
    text = report.longreprtext or ""
    # xdist prefixes "[gw0] linux -- Python ..." to each report: noise for a student.
    text = "\n".join(line for line in text.splitlines() if not line.startswith("[gw"))
    if "Timeout" in text and "+++++" in text:
        first = text.strip().splitlines()[0] if text.strip() else ""
        text = (f"The test did not finish within its time limit ({first.strip('+ ')}): "
                "a program under test probably blocked (a hang or a deadlock).")
    parts = [text.strip()]
    for title, body in report.sections:
        if title.startswith("Captured"):
            continue
        parts.append(f"--- {title} ---\n{body.strip()}")
    return "\n".join(p for p in parts if p)


class ResultsWriter:
    """Collects per-test outcomes and rewrites results.json after each test."""

    def __init__(self, path: Path, config: pytest.Config):
        self.path = path
        self.config = config
        self.started = time.monotonic()
        self.tests: dict[str, dict] = {}
        if path.exists():
            try:
                for t in json.loads(path.read_text()).get("tests", []):
                    self.tests[t["extra_data"]["nodeid"]] = t
            except (ValueError, KeyError):
                self.tests = {}

    # -- the plan (collect-only) --
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.config.getoption("collectonly"):
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
                "name": short_name(nodeid),
                "number": str(len(self.tests) + 1),
                "score": 0.0,
                "max_score": float(props.get("points", 0)),
                "status": "failed",
                "output": "Not run: the grading run ended before this test finished.",
                "visibility": props.get("visibility", "visible"),
                "extra_data": {"nodeid": nodeid, "seconds": 0.0, "outcome": "not run",
                               "title": props.get("title", "")},
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
        extra["seconds"] = round(extra["seconds"] + report.duration, 3)
        if report.failed:
            extra["failed"] = True
            text = failure_text(report)
            if report.when == "teardown" and entry["output"]:
                text = "And at teardown:\n" + text
            entry["output"] = _trim("\n".join(x for x in (entry["output"], text) if x))
        elif report.skipped and report.when in ("setup", "call"):
            extra["skipped"] = True
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            entry["output"] = f"Skipped: {reason}"
        if report.when == "teardown":
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
        self.write()

    def summary(self) -> dict:
        tests = list(self.tests.values())
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
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.summary(), indent=2))
        os.replace(tmp, self.path)


def load(path: Path) -> Optional[dict]:
    """Read a results.json; None if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
