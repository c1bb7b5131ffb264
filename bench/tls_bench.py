"""Lab 06's benchmark: the reference tls_echo_server beside openssl s_server and socat.

    /usr/bin/python3 bench/bench.py --only tls [--smoke]

Handshakes per second: `openssl s_time -new` (one full handshake per connection, TLS 1.3,
sequential) against the reference tls_echo_server (plain build) and against `openssl s_server`,
both with the same P-256 key and certificate. Echo throughput: a Python ssl client writes 64 KiB
blocks and reads them back, at most 4 in flight, N MiB in all (one thread), against tls_echo_server and socat's OPENSSL-LISTEN
relaying to cat (openssl s_server has no plain echo mode: -rev reverses lines; gnutls-serv --echo
stalls on a stream; nginx as a TLS stream proxy was not set up). Runs are interleaved so that other
load falls on both alike. The goal of issue 17: handshakes per second within 0.8 x openssl
s_server's. A benchmark reports ratios; it never fails on a missed goal.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import time
from pathlib import Path

from harness import paths
from harness.plugin import build_lab

MiB = 1 << 20


def _certs(work: Path) -> Path:
    from harness.labs.lab06 import make_certs
    d = work / "certs"
    d.mkdir(parents=True, exist_ok=True)
    for name, data in make_certs().items():
        (d / name).write_bytes(data)
    return d


def _listening_port(pid: int, deadline: float):
    import psutil
    while time.monotonic() < deadline:
        try:
            for c in psutil.Process(pid).connections("tcp4"):
                if c.status == psutil.CONN_LISTEN:
                    return c.laddr[1]
        except psutil.Error:
            return None
        time.sleep(0.02)
    return None


def _start(name: str, cmd: list, work: Path, bench_error):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(work / f"lab06-{name}.out", "wb"),
                         stderr=open(work / f"lab06-{name}.err", "wb"), start_new_session=True)
    port = _listening_port(p.pid, time.monotonic() + 10)
    if port is None:
        _stop(p)
        raise bench_error(f"{name} did not listen: see {work}/lab06-{name}.err")
    return p, port


def _stop(p) -> None:
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(5)


def handshakes(port: int, seconds: int) -> float:
    """Full handshakes per second measured by `openssl s_time -new` (wall clock)."""
    t0 = time.monotonic()
    r = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds)],
                       capture_output=True, text=True, timeout=seconds + 30)
    m = re.search(r"(\d+) connections in ([\d.]+)s", r.stdout)
    if not m:
        return float("nan")
    took = float(m.group(2)) or (time.monotonic() - t0)
    return int(m.group(1)) / max(took, 1e-9) if took else float("nan")


def throughput(port: int, ca: Path, nbytes: int) -> float:
    """MiB/s of echo over one TLS connection: 64 KiB blocks written with at most 4 of them (256
    KiB, far less than the socket buffers hold) not yet read back, until `nbytes` have made the
    round trip. One thread: an SSL object must not be used by two threads at once (a reader
    thread beside sendall() ended in "[SSL] internal error" now and then), and a block in flight
    at all times keeps delayed ACKs out of the figure."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60), server_hostname="localhost")
    block = bytes(range(256)) * 256
    sent = got = 0
    t0 = time.monotonic()
    try:
        while got < nbytes:
            while sent < nbytes and sent - got < 4 * len(block):
                s.sendall(block)
                sent += len(block)
            d = s.recv(1 << 16)
            if not d:
                return float("nan")
            got += len(d)
    finally:
        s.close()
    return got / MiB / (time.monotonic() - t0)


def bench_tls(rep, sz, work: Path, server_cls, bench_error) -> None:
    """The Lab 06 part of bench.py: fills `rep` (bench.Report) with a table and a headline row."""
    if not shutil.which("openssl"):
        raise bench_error("openssl is not installed (apt-get install -y openssl)")
    lab = paths.find_lab("06")
    w = work / "lab06"
    b = build_lab(lab, lab.solution, w, sanitize=False)
    if not b.ok:
        raise bench_error(f"the reference tls_echo_server does not build:\n{b.log}")
    certs = _certs(w)
    cert, key, ca = certs / "good.pem", certs / "good.key", certs / "ca.pem"
    smoke = sz.reps == 1
    seconds = 1 if smoke else 3
    reps = 1 if smoke else 3
    nbytes = (4 if smoke else 128) * MiB
    hs: dict = {}
    tp: dict = {}
    for _ in range(reps):   # interleaved: ours, s_server, ours ...
        p, port = _start("tls_echo_server", [str(b.path("tls_echo_server")), "-4", "-b", "127.0.0.1", "-p", "0",
                                             "--cert", str(cert), "--key", str(key)], w, bench_error)
        try:
            hs.setdefault("tls_echo_server", []).append(handshakes(port, seconds))
            tp.setdefault("tls_echo_server", []).append(throughput(port, ca, nbytes))
        finally:
            _stop(p)
        p, port = _start("s_server", ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", str(cert),
                                      "-key", str(key), "-quiet"], w, bench_error)
        try:
            hs.setdefault("openssl s_server", []).append(handshakes(port, seconds))
        finally:
            _stop(p)
        if shutil.which("socat"):
            p, port = _start("socat", ["socat", "-b", "65536", f"OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,fork,"
                                       f"cert={cert},key={key},verify=0", "EXEC:cat"], w, bench_error)
            try:
                tp.setdefault("socat OPENSSL-LISTEN", []).append(throughput(port, ca, nbytes))
            finally:
                _stop(p)

    def med(d, k):
        vals = [v for v in d.get(k, []) if v == v]
        return statistics.median(vals) if vals else float("nan")

    rows = [f"| handshakes/s (`openssl s_time -new`, {seconds} s) | {med(hs, 'tls_echo_server'):,.0f} | "
            f"{med(hs, 'openssl s_server'):,.0f} (openssl s_server) |",
            f"| echo throughput, {nbytes // MiB} MiB pushed and read back (MiB/s) | {med(tp, 'tls_echo_server'):,.0f} | "
            f"{med(tp, 'socat OPENSSL-LISTEN'):,.0f} (socat OPENSSL-LISTEN ... EXEC:cat) |"]
    rep.section(
        "## Lab 06: tls_echo_server beside openssl s_server and socat\n\n"
        f"The median of {reps} interleaved runs over loopback, every server with the same P-256 certificate "
        "(made by harness/labs/lab06.py). tls_echo_server is the reference solution built plain. Handshakes: "
        "`openssl s_time -new` (sequential full TLS 1.3 handshakes, wall clock). Throughput: one Python ssl "
        "client writing 16 KiB blocks while a second thread reads the echo, against tls_echo_server and "
        "socat's OpenSSL listener relaying to cat (openssl s_server has no plain echo mode, gnutls-serv --echo "
        "stalls on a stream); the Python client itself bounds both figures.\n\n"
        "| measure | tls_echo_server | peer |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n")
    ours, theirs = med(hs, "tls_echo_server"), med(hs, "openssl s_server")
    r = ours / theirs if theirs == theirs and theirs else float("nan")
    rep.head("Lab 06: TLS handshakes per second", f"{ours:,.0f}", f"openssl s_server {theirs:,.0f}", r,
             ">= 0.8x openssl s_server", (r >= 0.8) if r == r else None)
    rep.data["lab06"] = {"handshakes_per_s": hs, "echo_mib_per_s": tp}
