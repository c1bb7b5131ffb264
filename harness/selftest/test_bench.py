"""The bench still works: `bench/bench.py --smoke` runs every part and produces numbers.

This is a smoke run of about 5 s (tiny sizes, one repetition), not a timed test: it checks
that each part ran, that every measure has a number, that the plots were drawn, and that no
server or peer outlived the run. The numbers themselves are never judged here.
"""
from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys

import psutil
import pytest

from harness import paths

BENCH = paths.KIT / "bench" / "bench.py"
PEERS = ("iperf3", "socat", "ncat")


def _labs_with_solutions() -> set[str]:
    return {lab.id for lab in paths.all_labs() if lab.solution.is_dir()}


def _numbers(values) -> list[float]:
    out = []
    if isinstance(values, dict):
        for v in values.values():
            out += _numbers(v)
    elif isinstance(values, list):
        for v in values:
            out += _numbers(v)
    elif isinstance(values, (int, float)):
        out.append(float(values))
    return out


@pytest.mark.timeout(120)
def test_bench_smoke(tmp_path):
    missing = [p for p in PEERS if shutil.which(p) is None]
    if importlib.util.find_spec("matplotlib") is None:
        missing.append("python3-matplotlib")
    if missing:
        pytest.fail(f"the bench needs {', '.join(missing)}: run `make bench-deps` (make test installs them)",
                    pytrace=False)
    r = subprocess.run([sys.executable, str(BENCH), "--smoke", "--out", str(tmp_path)], cwd=paths.KIT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=100, start_new_session=True)
    log = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, f"bench.py --smoke failed (exit {r.returncode}):\n{log[-3000:]}"

    results = (tmp_path / "results.md").read_text()
    data = json.loads((tmp_path / "results.json").read_text())
    assert "Parts that did not run" not in results, results
    assert "| Echo throughput, " in results

    # Every server the bench started is gone, peers included.
    alive = [pid for pid in data["pids"] if _alive(pid)]
    assert not alive, f"processes left running after the bench: {alive}"

    labs = _labs_with_solutions()
    expected = {"01": ("echo", "echo.png"), "02": ("udp", "udp.png"), "03": ("chat", "chat.png")}
    for lab, (part, png) in expected.items():
        if lab not in labs:
            assert "Skipped: there is no reference solution" in results
            continue
        assert part in data, f"the {part} part produced nothing:\n{results}"
        nums = _numbers(data[part])
        assert nums and all(math.isfinite(x) and x >= 0 for x in nums), f"{part}: {data[part]}"
        assert (tmp_path / png).stat().st_size > 5000, f"{png} was not drawn"
    if "03" in labs:
        assert not data["chat"]["failures"], f"chat runs failed: {data['chat']['failures']}"
        for server in ("chat_server (ours)", "ncat --chat"):
            assert data["chat"]["bcast_p50"][server], f"no broadcast latency for {server}"
    if "01" in labs:
        for server in ("echo_server (ours)", "socat", "socat -b 65536", "iperf3"):
            assert data["echo"]["throughput"][server], f"no echo throughput for {server}"


def _alive(pid: int) -> bool:
    """True if process `pid` runs (a zombie does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
