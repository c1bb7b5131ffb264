"""--pcap (harness/pcap.py): a failing test leaves its loopback traffic as a pcap file that its
failure message names; a passing test leaves none; tcpdump never outlives the run; and the
grader passes the option through.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import paths, procs
from harness.pcap import is_pcap

KIT = paths.KIT
PAYLOAD = b"socklab-pcap-probe"

PROBE = f'''
import socket


def talk():
    """One loopback connection that carries a recognisable payload."""
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    conn, _ = server.accept()
    client.sendall({PAYLOAD!r})
    assert conn.recv(100) == {PAYLOAD!r}
    for s in (client, conn, server):
        s.close()


def test_fails():
    talk()
    assert False, "failed on purpose"


def test_passes():
    talk()
'''

needs_tcpdump = pytest.mark.skipif(shutil.which("tcpdump") is None or os.geteuid() != 0,
                                   reason="--pcap needs tcpdump and root")


def tcpdumps_writing_under(folder: Path) -> list[str]:
    return [p for p in procs.processes_mentioning(str(folder)) if "tcpdump" in p]


@needs_tcpdump
@pytest.mark.timeout(120)
def test_pcap_kept_for_the_failing_test_only(tmp_path):
    probe = tmp_path / "test_pcap_probe.py"
    probe.write_text(PROBE)
    evidence = tmp_path / "evidence"
    r = subprocess.run([sys.executable, "-m", "pytest", "-c", str(KIT / "pytest.ini"), "--rootdir", str(KIT),
                        str(probe), "--pcap", "--evidence", str(evidence), "-p", "no:randomly", "-q"],
                       cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=100,
                       start_new_session=True)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 1, f"expected one failure:\n{out}"
    pcap = evidence / "test_fails" / "loopback.pcap"
    assert pcap.exists(), f"no capture for the failing test:\n{out}"
    assert is_pcap(pcap), f"{pcap} does not start with a pcap header: {pcap.read_bytes()[:8]!r}"
    assert PAYLOAD in pcap.read_bytes(), "the capture does not hold the test's traffic"
    assert str(pcap) in out, f"the failure message does not name {pcap}:\n{out}"
    assert not list(evidence.glob("test_passes*/*.pcap")), "a passing test kept its capture"
    assert not tcpdumps_writing_under(tmp_path), "tcpdump outlived the run"


@needs_tcpdump
@pytest.mark.timeout(240)
def test_grader_passes_pcap_through(tmp_path):
    lab = paths.find_lab("01")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "harness.grade", "--lab", lab.id, "--impl", str(lab.skeleton),
                        "--out", str(out), "--jobs", "1", "--quiet", "--timeout", "150", "--pcap",
                        "-k", "test_server_one_message"],
                       cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=200,
                       start_new_session=True)
    log = r.stdout.decode("utf-8", "replace")
    pcap = out / "evidence" / "test_server_one_message" / "loopback.pcap"
    assert pcap.exists() and is_pcap(pcap), f"the grader kept no capture for the failing test:\n{log}"
    data = json.loads((out / "results.json").read_text())
    outputs = [t["output"] for t in data["tests"] if t["extra_data"]["test"] == "test_server_one_message"]
    assert outputs and str(pcap) in outputs[0], f"results.json does not name {pcap}:\n{outputs}"
    assert not tcpdumps_writing_under(tmp_path), "tcpdump outlived the grading run"
