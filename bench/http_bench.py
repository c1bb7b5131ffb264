"""Lab 05's benchmark: the reference http_server beside nginx and lighttpd, measured with wrk.

    /usr/bin/python3 bench/bench.py --only http [--smoke]

For a 1 KiB and a 1 MiB file at 1, 64 and 1000 connections: requests/s and latency (p50, p99)
from `wrk --latency`, for the reference http_server (plain build, one process, one poll()
loop), nginx (nginx-light: one worker, keep-alive, access log on) and lighttpd (one process,
access log on), all serving the same folder over loopback. Runs are interleaved (ours, nginx,
lighttpd, ours ...) so that other load falls on all alike. A benchmark reports ratios; it
never fails on a missed goal. The goals of issue 16, for the reference: at least 0.7 x nginx's
requests/s for the 1 KiB file at 64 connections, and a p99 under 2 x nginx's.
"""
from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from harness import paths
from harness.plugin import build_lab

KiB = 1024
MiB = 1 << 20


def _free_port() -> int:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _docroot(work: Path) -> Path:
    root = work / "www"
    root.mkdir(parents=True, exist_ok=True)
    (root / "1k.bin").write_bytes(bytes(range(256)) * 4)
    (root / "1m.bin").write_bytes((bytes(range(256)) * 4096)[:MiB])
    (root / "index.html").write_bytes(b"<p>bench</p>\n")
    return root


def _nginx_conf(work: Path, root: Path, port: int) -> Path:
    conf = work / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
daemon off;
user root;
pid {work}/nginx.pid;
error_log {work}/nginx.error.log;
events {{ worker_connections 4096; }}
http {{
    access_log {work}/nginx.access.log;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    keepalive_timeout 30s;
    keepalive_requests 1000000;
    sendfile off;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
""")
    return conf


def _lighttpd_conf(work: Path, root: Path, port: int) -> Path:
    conf = work / "lighttpd.conf"
    conf.write_text(f"""server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{work}/lighttpd.error.log"
server.max-fds = 8192
server.max-connections = 4000
server.max-keep-alive-requests = 1000000
server.modules += ( "mod_accesslog" )
accesslog.filename = "{work}/lighttpd.access.log"
""")
    return conf


def _wait_port(port: int, deadline: float) -> bool:
    import socket
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m[1]) * _UNIT[m[2]] if m else float("nan")


def run_wrk(wrk: str, url: str, conns: int, seconds: float) -> dict:
    """One wrk run: requests/s, p50 and p99 latency (ms), errors."""
    threads = min(2, conns)
    cmd = [wrk, f"-t{threads}", f"-c{conns}", f"-d{seconds:g}s", "--latency", "--timeout", "5s", url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, start_new_session=True)
    out = p.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    errs = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not rps:
        raise RuntimeError(f"wrk gave no numbers: {' '.join(cmd)}\n{out}\n{p.stderr}")
    return {"rps": float(rps[1]), "p50": _ms(p50[1]) if p50 else float("nan"),
            "p99": _ms(p99[1]) if p99 else float("nan"),
            "errors": (errs[1] if errs else "") + (f" non-2xx {non2xx[1]}" if non2xx else "")}


def bench_http(rep, sz, work: Path, server_cls, bench_error) -> None:
    """The Lab 05 part of bench.py: fills `rep` (bench.Report) with a table and headline rows."""
    wrk = shutil.which("wrk")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    lighttpd = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
    if not wrk:
        raise bench_error("wrk is not installed (apt-get install -y wrk)")
    lab = paths.find_lab("05")
    b = build_lab(lab, lab.solution, work / "lab05", sanitize=False)
    if not b.ok:
        raise bench_error(f"the reference http_server does not build:\n{b.log}")
    root = _docroot(work / "lab05")
    seconds = 1.0 if sz.reps == 1 else 4.0
    reps = 1 if sz.reps == 1 else 3
    conc = (1, 64) if sz.reps == 1 else (1, 64, 1000)
    files = (("1 KiB", "1k.bin"), ("1 MiB", "1m.bin"))
    servers = []
    ours_port = _free_port()
    servers.append(("http_server", [str(b.path("http_server")), "-b", "127.0.0.1", "-p", str(ours_port), "-r",
                                    str(root), "--max-clients", "4000"], ours_port))
    if Path(nginx).exists():
        port = _free_port()
        servers.append(("nginx", [nginx, "-c", str(_nginx_conf(work / "lab05", root, port)),
                                  "-p", str(work / "lab05")], port))
    if Path(lighttpd).exists():
        port = _free_port()
        servers.append(("lighttpd", [lighttpd, "-D", "-f", str(_lighttpd_conf(work / "lab05", root, port))], port))
    running = []
    results: dict = {}
    try:
        for name, cmd, port in servers:
            p = subprocess.Popen(cmd, stdout=open(work / f"lab05-{name}.out", "wb"),
                                 stderr=open(work / f"lab05-{name}.err", "wb"), start_new_session=True)
            running.append((name, p))
            if not _wait_port(port, time.monotonic() + 10):
                raise bench_error(f"{name} did not listen on {port}: see {work}/lab05-{name}.err")
        for label, fname in files:
            for c in conc:
                for _ in range(reps):
                    for name, _cmd, port in servers:   # interleaved
                        r = run_wrk(wrk, f"http://127.0.0.1:{port}/{fname}", c, seconds)
                        results.setdefault((label, c, name), []).append(r)
    finally:
        import os
        import signal
        for name, p in running:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
    names = [n for n, _, _ in servers]

    def med(key, field):
        vals = [r[field] for r in results.get(key, [])]
        return statistics.median(vals) if vals else float("nan")

    rows = []
    for label, _ in files:
        for c in conc:
            row = [label, str(c)]
            for n in names:
                row.append(f"{med((label, c, n), 'rps'):,.0f} req/s, p50 {med((label, c, n), 'p50'):.2f} ms, "
                           f"p99 {med((label, c, n), 'p99'):.2f} ms")
            errs = "; ".join(f"{n}: {results[(label, c, n)][0]['errors']}" for n in names
                             if results[(label, c, n)][0]["errors"])
            row.append(errs or "none")
            rows.append(row)
    header = ["size of the file", "connections", *names, "wrk errors"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    rep.section(
        "## Lab 05: http_server beside nginx and lighttpd\n\n"
        f"`wrk -t2 -cN -d{seconds:g}s --latency` over loopback, the median of {reps} interleaved runs. "
        "http_server is the reference solution built plain (one process, one poll() loop, 64 KiB chunks "
        "through its output queue, no sendfile); nginx-light runs one worker with keep-alive and its access log "
        "on (sendfile off, as ours); lighttpd one process with its access log on. All serve the same folder.\n\n"
        + "\n".join(lines) + "\n")
    if "nginx" in names:
        ours, theirs = med(("1 KiB", 64, "http_server"), "rps"), med(("1 KiB", 64, "nginx"), "rps")
        r = ours / theirs if theirs else float("nan")
        rep.head("Lab 05: 1 KiB file, 64 connections (req/s)", f"{ours:,.0f}", f"nginx {theirs:,.0f}", r,
                 ">= 0.7x nginx", r >= 0.7)
        ours99, theirs99 = med(("1 KiB", 64, "http_server"), "p99"), med(("1 KiB", 64, "nginx"), "p99")
        r99 = ours99 / theirs99 if theirs99 else float("nan")
        rep.head("Lab 05: 1 KiB file, 64 connections (p99 latency)", f"{ours99:.2f} ms", f"nginx {theirs99:.2f} ms",
                 r99, "< 2x nginx", r99 < 2.0)
    rep.data["lab05"] = {f"{k[0]} c={k[1]} {k[2]}": v for k, v in results.items()}
