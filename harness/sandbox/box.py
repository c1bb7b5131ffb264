"""One grading run's sandbox, seen from the grader outside it: its private folder, its user
ids, its cgroups, and the namespaces its inner run is started in.

The run's folder (SOCKLAB_SANDBOX_TMP or /tmp)/socklab-sbx-XXXX is root-owned, of the run's
group (its first user id), mode 0750: the run's own programs may enter it, no other run's may.
The submission's copy in it is readable by that group alone (0640); each program's working
folder is its user's alone (0700). The grader holds an flock on .lock inside it while it runs:
a folder whose lock nobody holds was left by a killed grader, and the next run sweeps it
(with its processes, its cgroups and its user ids' lock files).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from .. import intake, paths, procs
from .config import (DEFAULT_MEMORY_MB, DEFAULT_NICE, DEFAULT_NPROC, DEFAULT_RUN_MEMORY_MB, DEFAULT_TMPFS_MB,
                     NS_FLAGS, Config, env_int, probe)
from .limits import make_run_cgroups, remove_cgroups, run_cgroup_name, sweep_cgroups
from .uids import UidPool, sweep_locks
from .view import write_etc

PREFIX = "socklab-sbx-"
#: Where student programs may write besides their working folder: small fresh tmpfs each.
SCRATCH_DIRS = ("/dev/shm", "/var/tmp", "/run/lock")


def reap_strays(*prefixes: Path) -> list[str]:
    """Kill (SIGKILL) any process whose executable lies under one of `prefixes`; returns what it killed."""
    return procs.kill_running_from(*prefixes)


def private_folder(folder: Path) -> Path:
    """Make `folder` (and its parents) and, as root, make it root's alone (0700): what the kit
    builds there (reference programs, grades) is then out of reach of every sandbox user id.
    Only for folders the kit owns: the kit's out/, a build folder it made."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and not folder.is_symlink():
        os.chmod(folder, 0o700)
    return folder


#: A folder without a lock file (a grader starting up, or one of an older version) is swept
#: only when it is this old (seconds).
UNLOCKED_AGE = 6 * 3600


def _held(folder: Path) -> bool:
    """True while a grader may still use its sandbox folder (it holds the lock)."""
    try:
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            return time.time() - os.lstat(folder).st_mtime < UNLOCKED_AGE
        except OSError:
            return True
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def sweep(base: Path) -> list[str]:
    """Remove the sandbox folders (and cgroups, and uid lock files) of graders that were killed."""
    swept = []
    if os.geteuid() != 0:
        return swept
    try:
        found = [d for d in base.iterdir() if d.name.startswith(PREFIX)]
    except OSError:
        return swept
    for d in found:
        try:
            st = os.lstat(d)
        except OSError:
            continue
        if not os.path.isdir(d) or os.path.islink(d) or st.st_uid != 0:
            continue
        if _held(d):
            continue
        reap_strays(d)
        shutil.rmtree(d, ignore_errors=True)
        swept.append(str(d))
    sweep_locks()          # kills what still runs as a free user id
    sweep_cgroups(base)
    return swept


def _own(folder: Path, gid, dir_mode: int = 0o750, file_mode: int = 0o640) -> None:
    """root:gid and the given modes, for a folder and everything in it (never following a link).
    Not root: the grader's own user, 0700 and 0600."""
    if os.geteuid() != 0:
        gid, dir_mode, file_mode = None, 0o700, 0o600
    for dirpath, dirnames, files in os.walk(folder, followlinks=False):
        for name in [*dirnames, *files]:
            p = Path(dirpath) / name
            if p.is_symlink():
                p.unlink()
                continue
            if gid is not None:
                os.chown(p, 0, gid, follow_symlinks=False)
            os.chmod(p, dir_mode if p.is_dir() else file_mode)
    if gid is not None:
        os.chown(folder, 0, gid)
    os.chmod(folder, dir_mode)


def copy_kit_build_files(lab: paths.Lab, kit: Path) -> None:
    """The files the kit's lab Makefile needs: the Makefile itself (and any *.mk), the given unit
    tests (*_test.c, built from the kit's copy, never the submission's) and labs/common."""
    dest = kit / "labs" / lab.name
    dest.mkdir(parents=True, exist_ok=True)
    for f in [lab.makefile, *lab.skeleton.glob("*.mk"), *lab.skeleton.glob("*_test.c")]:
        if f.is_file():
            shutil.copy2(f, dest / f.name)
    common = paths.LABS / "common"
    if common.is_dir():
        shutil.copytree(common, kit / "labs" / "common", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("build", "*.o", "__pycache__"))


class Sandbox:
    """The sandbox of one grading run.

    Sandbox(jobs) sweeps what killed runs left, probes the machine, takes `jobs` user ids
    (root modes) and makes the run's folder and cgroups; prepare() takes the sources in
    (harness/intake.py) with the kit's build files; command() wraps the inner grader in the
    namespaces; close() kills what is left and removes the folder, cgroups and locks.
    """

    def __init__(self, jobs: int = 1, enabled: bool = True):
        mode, reason = probe() if enabled else ("off", "disabled with --no-sandbox")
        base = Path(os.environ.get("SOCKLAB_SANDBOX_TMP") or tempfile.gettempdir())
        # A SOCKLAB_SANDBOX_TMP not made yet; others may pass through it (the sandbox users do).
        base.mkdir(mode=0o755, parents=True, exist_ok=True)
        sweep(base)
        # Made under a name the sweep ignores, locked, then renamed into place: another grader's
        # sweep never sees this folder without its lock held.
        making = Path(tempfile.mkdtemp(prefix="." + PREFIX, dir=base))
        os.chmod(making, 0o700)
        self._lock = os.open(making / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.root = making.with_name(making.name[1:])
        os.rename(making, self.root)
        self.pool = UidPool()
        uids: list[int] = []
        if mode != "off":
            try:
                uids = self.pool.take(max(1, jobs))
            except (OSError, RuntimeError) as e:
                mode, reason = "off", f"no user id for the sandbox: {e}"
        gid = uids[0] if uids else None
        nproc = env_int("SOCKLAB_NPROC", DEFAULT_NPROC)
        self.config = Config(mode=mode, root=str(self.root), uids=uids, gid=gid, reason=reason, nproc=nproc,
                             memory_mb=env_int("SOCKLAB_MEMORY_MB", DEFAULT_MEMORY_MB),
                             run_memory_mb=env_int("SOCKLAB_RUN_MEMORY_MB", DEFAULT_RUN_MEMORY_MB),
                             tmpfs_mb=env_int("SOCKLAB_TMPFS_MB", DEFAULT_TMPFS_MB),
                             nice=env_int("SOCKLAB_NICE", DEFAULT_NICE))
        if mode == "bwrap":
            from .view import userns_works
            self.config.userns = os.environ.get("SOCKLAB_BWRAP_USERNS", "1") != "0" and userns_works()
        if mode != "off":
            self.config.cgroups = make_run_cgroups(run_cgroup_name(self.root), self.config.run_memory_mb,
                                                   nproc * len(uids) + 16)
            write_etc(self.config.etc, uids, gid)
            os.chown(self.root, 0, gid)
            os.chmod(self.root, 0o750)
        self.config.run.mkdir(mode=0o750)
        if gid is not None:
            os.chown(self.config.run, 0, gid)

    @property
    def mode(self) -> str:
        return self.config.mode

    def describe(self) -> str:
        text = self.config.describe()
        if self.mode != "off" and not self.config.cgroups:
            text += ("\nsandbox: no cgroups here: memory is bounded per process (RLIMIT_AS, ASan's RSS limit) "
                     "and processes per user id (RLIMIT_NPROC), not per run")
        if self.mode in ("user", "namespaces"):
            text += ("\nsandbox: programs see the host's files (only their permissions protect other checkouts, "
                     "out/, dist/ and .git); install bubblewrap and run as root with namespaces for the "
                     "allow-list view")
        return text

    def prepare(self, lab: paths.Lab, src: Path) -> list[str]:
        """Take the submission's sources in (no links followed, bounded) with the kit's build files."""
        notes = intake.copy_tree(Path(src), self.config.src)
        copy_kit_build_files(lab, self.config.kit)
        gid = self.config.gid
        _own(self.config.src, gid)
        _own(self.config.kit, gid)
        return notes

    def command(self, cmd: list[str], writable: list[Path], hide: list[Path]) -> list[str]:
        """`cmd` wrapped to run inside fresh namespaces, under the sandbox's init."""
        keep = [Path(p).resolve() for p in [*writable, self.root, paths.KIT]]
        hidden = []
        for h in hide:
            h = Path(h).resolve()
            # Never hide a folder the run itself needs (the kit, the output, the sandbox).
            if h.is_dir() and not any(k == h or h in k.parents for k in keep):
                hidden.append(str(h))
        spec = {"tmpfs": [[str(self.config.run), self.config.tmpfs_mb, "0750", self.config.gid]],
                "readonly": ["/tmp"] if Path("/tmp").is_dir() else [],
                "writable": [str(Path(w).resolve()) for w in writable],
                "hide": hidden, "scratch": [d for d in SCRATCH_DIRS if Path(d).is_dir()]}
        return [shutil.which("unshare") or "unshare", *NS_FLAGS, sys.executable, "-m", "harness.sandbox",
                "init", "--spec", json.dumps(spec), "--", *cmd]

    def close(self) -> None:
        self.pool.release()
        reap_strays(self.root)
        remove_cgroups(self.config.cgroups)
        shutil.rmtree(self.root, ignore_errors=True)
        os.close(self._lock)
