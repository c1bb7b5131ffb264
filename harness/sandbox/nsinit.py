"""The init of the namespace modes: PID 1 of the grading run's own network, PID and mount
namespaces (``unshare --net --pid --mount --ipc --fork --kill-child --mount-proc``).

It brings up loopback (the run's network holds only ``lo``: the host's loopback services are
out of reach), applies the run's mounts (a size-bounded tmpfs for the run's files, /tmp
read-only except the output folder, small fresh tmpfs on /dev/shm, /var/tmp and /run/lock,
and in "namespaces" mode an empty tmpfs over each hidden folder), runs the inner grader and
reaps orphans. When it exits, the kernel kills every process left in the PID namespace,
including any that escaped its process group with setsid() or a double fork.
"""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import sys
from typing import Optional

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18


def _mount(source: Optional[str], target: str, fstype: Optional[str], flags: int, data: Optional[str]) -> None:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {target}: {os.strerror(e)}")


def loopback_up() -> None:
    """ip link set lo up, without iproute2: SIOCGIFFLAGS / SIOCSIFFLAGS on an AF_INET socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, 0x8913, ifr))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 0x1 | 0x40, b""))


def setup_mounts(spec: dict) -> list[str]:
    """Apply a mount spec inside a fresh mount namespace; returns the problems (best effort)."""
    problems = []

    def attempt(what, fn, *a):
        try:
            fn(*a)
        except OSError as e:
            problems.append(f"{what}: {e.strerror or e}")

    attempt("private mounts", _mount, None, "/", None, _MS_REC | _MS_PRIVATE, None)
    for path in spec.get("readonly", []):
        def ro(p=path):
            _mount(p, p, None, _MS_BIND | _MS_REC, None)
            _mount(None, p, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None)
        attempt(f"read-only {path}", ro)
    for path, size_mb, mode, *gid in spec.get("tmpfs", []):
        owner = f",gid={gid[0]}" if gid and gid[0] is not None else ""
        attempt(f"tmpfs {path}", _mount, "tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV,
                f"size={size_mb}m,mode={mode}{owner}")
    for path in spec.get("writable", []):
        def rw(p=path):
            _mount(p, p, None, _MS_BIND, None)
            _mount(None, p, None, _MS_REMOUNT | _MS_BIND, None)
        if any(path == r or path.startswith(r.rstrip("/") + "/") for r in spec.get("readonly", [])):
            attempt(f"writable {path}", rw)
    for path in spec.get("scratch", []):
        attempt(f"tmpfs {path}", _mount, "tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=16m,mode=1777")
    for path in spec.get("hide", []):
        attempt(f"hide {path}", _mount, "tmpfs", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV,
                "size=4k,mode=700")
    return problems


def init_main(spec: dict, cmd: list[str]) -> int:
    """PID 1 of the sandbox: set up, run `cmd`, reap every orphan, exit with cmd's status.

    When this process exits, the kernel kills everything else in the PID namespace.
    """
    problems = []
    try:
        loopback_up()
    except OSError as e:
        problems.append(f"loopback: {e}")
    problems += setup_mounts(spec)
    for p in problems:
        print(f"sandbox: warning: {p}", file=sys.stderr, flush=True)
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    # Pass on a polite stop; SIGKILL from outside needs no help.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: os.kill(pid, s))
    while True:
        try:
            wpid, status = os.wait()
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if wpid == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
