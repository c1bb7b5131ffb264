"""The pool of unprivileged user ids: one per pytest-xdist worker of one grading run.

Each id is held under an flock on LOCK_DIR/UID, so that parallel runs (a batch, self-tests
under xdist) never share one. A run removes its lock files when it ends; a lock file left by
a run that was killed (SIGKILL) is unlocked, so the next run takes it, kills whatever still
runs as that user, and removes it in turn. After taking a lock, the holder checks that the
file it locked is still the one at that path (another run may have removed it in between).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .. import procs

UID_BASE = int(os.environ.get("SOCKLAB_UID_BASE", "61000"))
UID_COUNT = 512
LOCK_DIR = Path(os.environ.get("SOCKLAB_UID_LOCKS", "/tmp/.socklab-uids"))


def pids_of_uid(uid: int, zombies: bool = False) -> list[int]:
    """Processes whose real user id is `uid`: the live ones (and the zombies too if asked)."""
    return procs.pids_of_user(uid, zombies)


def _kill_all_as(uid: int) -> None:
    """kill(-1, SIGKILL) as user `uid`: every process that user owns (in this PID namespace and
    the ones below it, which hold each program's own)."""
    kill = shutil.which("kill") or "/bin/kill"
    if os.path.exists(kill):
        subprocess.run([kill, "-KILL", "-1"], user=uid, group=uid, extra_groups=[],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return
    pid = os.fork()
    if pid == 0:  # pragma: no cover (only without /bin/kill)
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def kill_uid(uid: int, rounds: int = 50, reaped_within: float = 3.0) -> bool:
    """Kill every process of user `uid`, again until none is left (a fork bomb races one kill),
    then wait (up to `reaped_within` s) until their zombies are reaped too: a zombie still counts
    against RLIMIT_NPROC, and the next test's program (or LeakSanitizer's helper) could not start."""
    for i in range(rounds):
        if not pids_of_uid(uid):
            break
        _kill_all_as(uid)
        if i:
            time.sleep(min(0.002 * i, 0.05))
    deadline = time.monotonic() + reaped_within
    while pids_of_uid(uid, zombies=True) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not pids_of_uid(uid)


def _lock(path: Path) -> int | None:
    """An flock on `path` (made if missing), or None if another run holds it or removed it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_ino != os.stat(path, follow_symlinks=False).st_ino:
            raise OSError("removed meanwhile")
    except OSError:
        os.close(fd)
        return None
    return fd


class UidPool:
    """Unprivileged user ids for one grading run, each held under an flock."""

    def __init__(self):
        self.uids: list[int] = []
        self._fds: list[int] = []

    def take(self, n: int) -> list[int]:
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        os.chmod(LOCK_DIR, 0o700)
        start = (os.getpid() * 7) % UID_COUNT
        for i in range(UID_COUNT):
            if len(self.uids) == n:
                break
            uid = UID_BASE + (start + i) % UID_COUNT
            fd = _lock(LOCK_DIR / str(uid))
            if fd is None:
                continue
            # Nobody holds it: anything still running under it is left over from a killed run.
            kill_uid(uid)
            self.uids.append(uid)
            self._fds.append(fd)
        if len(self.uids) < n:
            self.release()
            raise RuntimeError(f"no free sandbox user id in {UID_BASE}..{UID_BASE + UID_COUNT - 1}")
        return list(self.uids)

    def release(self) -> None:
        """Kill what runs as the pool's ids, remove their lock files, let them go."""
        for uid, fd in zip(self.uids, self._fds):
            kill_uid(uid)
            try:
                os.unlink(LOCK_DIR / str(uid))   # still locked: nobody can take it in between
            except OSError:
                pass
            os.close(fd)
        self.uids, self._fds = [], []


def live_uids() -> set[int]:
    """The real user ids of every live process (one pass over the process table)."""
    return procs.live_uids()


def sweep_locks() -> int:
    """Remove the lock files that no run holds (left by killed runs), after killing whatever
    still runs as their user ids; returns how many."""
    removed = 0
    try:
        names = [n for n in os.listdir(LOCK_DIR) if n.isdigit()]
    except OSError:
        return 0
    live: set[int] | None = None
    for name in names:
        fd = _lock(LOCK_DIR / name)
        if fd is None:
            continue
        live = live_uids() if live is None else live
        if int(name) in live:
            kill_uid(int(name))
        try:
            os.unlink(LOCK_DIR / name)
            removed += 1
        except OSError:
            pass
        os.close(fd)
    return removed
