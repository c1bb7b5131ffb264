"""The grader's sandbox: what untrusted student code may touch while it is built and tested.

Student code is untrusted: it may hang, crash, fork without end, flood its output, try to
reach the network, delete files or fake a result. The grader confines it in one of three
modes, the strongest the machine allows (`Sandbox.mode`, printed by the grader):

``namespaces`` (root, and unshare(1) works)
    The whole grading run (build and pytest) runs inside
    ``unshare --net --pid --mount --ipc --fork --kill-child --mount-proc``, under a small
    init (``python -m harness.sandbox init``) that brings up loopback, reaps orphans and
    sets up the mounts below. The harness and the student's programs share that network
    namespace, which holds only ``lo``: the host's loopback services are out of reach.
    When the run ends (or is killed at its time bound) the init exits and the kernel kills
    every process left in the PID namespace, including any that escaped its process group
    with setsid() or a double fork.
    Mounts, private to the run: a size-bounded tmpfs for the run's files (the built
    programs, their working folders, pytest's temporary files); /tmp bound read-only (but
    the output folder stays writable for the grader); fresh small tmpfs on /dev/shm,
    /var/tmp and /run/lock; an empty read-only tmpfs over the reference solutions, the
    hidden tests and any --hide folder, so that neither the compiler (#include) nor a
    program can read them.
``user`` (root, no namespaces)
    As below, but without namespaces: no network isolation, and escaped processes are
    still killed (per test, by user id).
``off`` (not root)
    Programs run as the grader's own user, with rlimits only; any process left running
    from the build folder is killed at the end. Say so in the output.

In both root modes the compiler and every student program run as an unprivileged user
(setresuid, no supplementary groups, PR_SET_NO_NEW_PRIVS) with a user id of their own:
one per pytest-xdist worker of one grading run, taken from a pool (61000 and up) under a
lock, so that parallel grading runs never share one. That makes RLIMIT_NPROC bound a fork
bomb per worker, lets the harness kill everything a test left behind (kill(-1) as that
user), and keeps the grader's files out of reach: the output folder (results.json,
junit.xml, evidence) is root-owned with mode 700, and scores come only from what pytest
observed.

Limits on every student program (procs.Limits): CPU seconds, file size, open files,
processes (per user id) and memory: RLIMIT_AS for a plain build; for an ASan build, which
reserves terabytes of address space (so RLIMIT_AS and RLIMIT_DATA would stop it at
start-up), ASan's own hard_rss_limit_mb. Programs also run 5 nicer than the harness, so that
one spinning in a loop (recv() == 0 taken for data) slows the grader's own processes less.
Programs get a small environment (PATH, LANG, HOME and TMPDIR in their own folder, the
SOCKLAB_* settings), not the grader's.

Environment: SOCKLAB_SANDBOX_MODE=off|user (ask for less), SOCKLAB_NPROC (64),
SOCKLAB_MEMORY_MB (1024), SOCKLAB_TMPFS_MB (384), SOCKLAB_NICE (5), SOCKLAB_UID_BASE (61000),
SOCKLAB_SANDBOX_TMP (where the run's folder is made; default /tmp).
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from . import paths, procs

#: Environment variable that carries the sandbox configuration to the grader's children.
CONFIG_ENV = "SOCKLAB_SANDBOX"
#: Set to "off" (or "user") to ask for a weaker sandbox than the machine allows.
MODE_ENV = "SOCKLAB_SANDBOX_MODE"

NS_FLAGS = ["--net", "--pid", "--mount", "--ipc", "--fork", "--kill-child", "--mount-proc"]
UID_BASE = int(os.environ.get("SOCKLAB_UID_BASE", "61000"))
UID_COUNT = 512
LOCK_DIR = Path(os.environ.get("SOCKLAB_UID_LOCKS", "/tmp/.socklab-uids"))

#: Defaults; each can be changed with an environment variable of the same name in capitals
#: (SOCKLAB_NPROC, SOCKLAB_MEMORY_MB, SOCKLAB_TMPFS_MB, SOCKLAB_NICE).
DEFAULT_NPROC = 64
DEFAULT_MEMORY_MB = 1024
DEFAULT_TMPFS_MB = 384
#: Student programs run this much nicer than the harness: one that spins in a loop (a classic
#: bug) then slows the grader's own processes less (SOCKLAB_NICE).
DEFAULT_NICE = 5
#: Where student programs may write besides their working folder: small fresh tmpfs each.
SCRATCH_DIRS = ("/dev/shm", "/var/tmp", "/run/lock")
#: Environment variables a student program inherits (everything else is dropped).
#: (The grader's own SOCKLAB_* settings pass too, such as SOCKLAB_TIME_SCALE or SOCKLAB_PCAP.)
# PYTHONPATH: the grader inside the sandbox must import the same pytest as outside (a pytest
# installed with pip --target, or the old one `make compat-check` unpacks).
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TERM", "TZ", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
DROP_ENV = ("SOCKLAB_HIDDEN", "SOCKLAB_AUTOGRADER_ROOT")


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


# ---- configuration shared by the grader, its inner run and the pytest plugin ----------------
@dataclass
class Config:
    """Where a grading run's sandboxed files live, and as whom its programs run.

    root/src      a copy of the submission's sources (read-only for the student's user)
    root/kit      the kit's lab Makefile and labs/common (the build needs them)
    root/run      the run's files (a tmpfs in namespaces mode): bin/, work-UID/, pytest/
    """

    mode: str
    root: str
    uids: list = field(default_factory=list)
    reason: str = ""
    nproc: int = DEFAULT_NPROC
    memory_mb: int = DEFAULT_MEMORY_MB
    tmpfs_mb: int = DEFAULT_TMPFS_MB
    nice: int = DEFAULT_NICE

    @property
    def src(self) -> Path:
        return Path(self.root) / "src"

    @property
    def kit(self) -> Path:
        return Path(self.root) / "kit"

    @property
    def run(self) -> Path:
        return Path(self.root) / "run"

    @property
    def bin_dir(self) -> Path:
        return self.run / "bin"

    @property
    def basetemp(self) -> Path:
        return self.run / "pytest"

    def makefile(self, lab: paths.Lab) -> Path:
        return self.kit / "labs" / lab.name / "Makefile"

    def uid_for_worker(self) -> Optional[int]:
        """The user id for this pytest-xdist worker (gw0, gw1, ...), or None without one."""
        if not self.uids:
            return None
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        try:
            index = int(worker.lstrip("gw"))
        except ValueError:
            index = 0
        return self.uids[index % len(self.uids)]

    def workdir(self, uid: Optional[int]) -> Path:
        """A program's working folder: its own, writable only by its user; made on first use."""
        d = self.run / (f"work-{uid}" if uid is not None else "work")
        if not d.is_dir():
            d.mkdir(parents=True, exist_ok=True)
            if uid is not None:
                os.chown(d, uid, uid)
            os.chmod(d, 0o700)
        return d

    def to_env(self) -> dict:
        return {CONFIG_ENV: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls) -> Optional["Config"]:
        raw = os.environ.get(CONFIG_ENV)
        if not raw:
            return None
        try:
            return cls(**json.loads(raw))
        except (TypeError, ValueError):
            return None

    def describe(self) -> str:
        text = {
            "namespaces": "sandbox: namespaces (own network with loopback only, own PIDs), "
                          f"unprivileged user ids {', '.join(map(str, self.uids))}",
            "user": f"sandbox: unprivileged user ids {', '.join(map(str, self.uids))}, no namespaces",
            "off": "sandbox: OFF, programs run as this user with resource limits only",
        }[self.mode]
        return text + (f" ({self.reason})" if self.reason else "") + f"; folder {self.root}"


_config_cache: dict = {}


def current() -> Optional[Config]:
    """The configuration of the grading run this process belongs to (None outside the grader)."""
    raw = os.environ.get(CONFIG_ENV)
    if raw not in _config_cache:
        _config_cache.clear()
        _config_cache[raw] = Config.from_env()
    return _config_cache[raw]


# ---- probing ---------------------------------------------------------------------------------
_probe_cache: list = []


def probe() -> tuple[str, str]:
    """The strongest mode this machine allows, and why it is not stronger ("" when it is the strongest)."""
    if _probe_cache:
        return _probe_cache[0]
    want = os.environ.get(MODE_ENV, "").strip().lower()
    if want in ("off", "0", "no", "none"):
        result = ("off", f"{MODE_ENV}={want}")
    elif os.geteuid() != 0:
        result = ("off", "not running as root: run the grader as root for user isolation and namespaces")
    elif want == "user":
        result = ("user", f"{MODE_ENV}=user")
    else:
        unshare = shutil.which("unshare")
        if not unshare:
            result = ("user", "unshare(1) not found: install util-linux for namespaces")
        else:
            try:
                r = subprocess.run([unshare, *NS_FLAGS, "true"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, timeout=20)
                ok, why = r.returncode == 0, r.stderr.decode("utf-8", "replace").strip()
            except (OSError, subprocess.TimeoutExpired) as e:
                ok, why = False, str(e)
            result = ("namespaces", "") if ok else ("user", f"unshare failed: {why or 'unknown error'}")
    _probe_cache.append(result)
    return result


# ---- user ids --------------------------------------------------------------------------------
def pids_of_uid(uid: int, zombies: bool = False) -> list[int]:
    """Processes whose real user id is `uid`: the live ones (and the zombies too if asked)."""
    return procs.pids_of_user(uid, zombies)


def _kill_all_as(uid: int) -> None:
    """kill(-1, SIGKILL) as user `uid`: every process that user owns (in this PID namespace)."""
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


class UidPool:
    """Unprivileged user ids for one grading run, each held under an flock so that parallel
    runs (a batch, or self-tests under xdist) never share one."""

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
            fd = os.open(LOCK_DIR / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            # Nobody holds it: anything still running under it is left over from a crashed run.
            kill_uid(uid)
            self.uids.append(uid)
            self._fds.append(fd)
        if len(self.uids) < n:
            self.release()
            raise RuntimeError(f"no free sandbox user id in {UID_BASE}..{UID_BASE + UID_COUNT - 1}")
        return list(self.uids)

    def release(self) -> None:
        for uid in self.uids:
            kill_uid(uid)
        for fd in self._fds:
            os.close(fd)
        self.uids, self._fds = [], []


# ---- what a student program gets ---------------------------------------------------------------
_asan_cache: dict = {}


def is_sanitized(binary: Path) -> bool:
    """True if `binary` was built with AddressSanitizer (it then needs its terabytes of address space)."""
    key = str(binary)
    if key not in _asan_cache:
        try:
            _asan_cache[key] = b"__asan_init" in Path(binary).read_bytes()
        except OSError:
            _asan_cache[key] = False
    return _asan_cache[key]


def program_defaults(binary: Path, kwargs: dict) -> dict:
    """Fill in procs.Program arguments for a student program under the current sandbox.

    Sets the user id, the process and memory limits, a working folder of its own and a
    small environment; keeps whatever the test passed itself. Outside a grading run
    (no sandbox configuration) returns kwargs unchanged.
    """
    from .procs import Limits  # here: procs imports nothing from us, keep it that way

    cfg = current()
    if cfg is None:
        return kwargs
    out = dict(kwargs)
    uid = cfg.uid_for_worker()
    asan = is_sanitized(binary)
    limits = out.get("limits")
    if limits is None:
        limits = Limits()
    else:
        from dataclasses import replace
        limits = replace(limits)
    if limits.nice is None:
        limits.nice = cfg.nice
    if uid is not None:
        limits.uid = uid if limits.uid is None else limits.uid
        limits.gid = uid if limits.gid is None else limits.gid
        if limits.nproc is None:
            limits.nproc = cfg.nproc
    env = dict(out.get("env") or {})
    if asan:
        from .procs import SANITIZER_ENV
        base = env.get("ASAN_OPTIONS", SANITIZER_ENV["ASAN_OPTIONS"])
        if "hard_rss_limit_mb" not in base:
            env["ASAN_OPTIONS"] = f"{base}:hard_rss_limit_mb={cfg.memory_mb}"
    elif limits.address_space is None and not out.get("wrapper"):
        # Address space, not resident memory: leave room for thread stacks and libraries.
        limits.address_space = (4 * cfg.memory_mb) << 20
    out["limits"] = limits
    if out.get("cwd") is None:
        work = cfg.workdir(uid)
        out["cwd"] = work
        env.setdefault("HOME", str(work))
        env.setdefault("TMPDIR", str(work))
    out["env"] = env
    return out


def after_test() -> None:
    """At a test's teardown: kill whatever the test's programs left behind (setsid, double fork)."""
    cfg = current()
    if cfg is None:
        return
    uid = cfg.uid_for_worker()
    if uid is not None:
        kill_uid(uid)


def child_env(cfg: Config, extra: Optional[dict] = None) -> dict:
    """The environment of the grader's pytest (and so of every student program): a small one."""
    if cfg.mode == "off":
        env = dict(os.environ)
    else:
        env = {k: v for k, v in os.environ.items()
               if k in KEEP_ENV or (k.startswith("SOCKLAB_") and k not in DROP_ENV)}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        env["HOME"] = str(cfg.run)
    env.pop("PYTEST_ADDOPTS", None)
    env.update(cfg.to_env())
    env["TMPDIR"] = str(cfg.basetemp)
    env.update(extra or {})
    return env


# ---- the stray-process safety net -----------------------------------------------------------
def reap_strays(*prefixes: Path) -> list[str]:
    """Kill (SIGKILL) any process whose executable lies under one of `prefixes`; returns what it killed."""
    return procs.kill_running_from(*prefixes)


# ---- copying sources without trusting them ------------------------------------------------
MAX_FILE = 2 << 20
MAX_TOTAL = 32 << 20
MAX_FILES = 500
SKIP_DIRS = {"build", ".git", "__pycache__", "out", "node_modules"}


def copy_sources(src: Path, dest: Path) -> list[str]:
    """Copy a folder of sources: regular files only, never following a symlink, within size limits.

    Returns notes about what was left out. The copy is root-owned and world-readable.
    """
    notes: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    total = count = 0
    src = Path(src)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = Path(dirpath).relative_to(src)
        if len(rel.parts) > 3:
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                notes.append(f"{rel / name}: not a regular file (a link?), left out")
                continue
            if st.st_size > MAX_FILE or total + st.st_size > MAX_TOTAL or count >= MAX_FILES:
                notes.append(f"{rel / name}: too big or too many files, left out")
                continue
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_FILE + 1)
            (dest / rel / name).write_bytes(data)
            os.chmod(dest / rel / name, 0o644)
            total += len(data)
            count += 1
    for dirpath, _, _ in os.walk(dest):
        os.chmod(dirpath, 0o755)
    return notes


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
    for dirpath, _, files in os.walk(kit):
        os.chmod(dirpath, 0o755)
        for f in files:
            os.chmod(Path(dirpath) / f, 0o644)


# ---- one grading run's sandbox ------------------------------------------------------------
class Sandbox:
    """The sandbox of one grading run, seen from the grader outside it.

    Sandbox(jobs) probes the machine, takes `jobs` user ids (root modes) and makes the
    run's folder; prepare() copies the sources and the kit's build files in; command()
    wraps a command in the namespaces; close() kills what is left and removes the folder.
    """

    def __init__(self, jobs: int = 1, enabled: bool = True):
        mode, reason = probe() if enabled else ("off", "disabled with --no-sandbox")
        base = os.environ.get("SOCKLAB_SANDBOX_TMP") or tempfile.gettempdir()
        self.root = Path(tempfile.mkdtemp(prefix="socklab-sbx-", dir=base))
        os.chmod(self.root, 0o711)
        self.pool = UidPool()
        uids: list[int] = []
        if mode != "off":
            try:
                uids = self.pool.take(max(1, jobs))
            except (OSError, RuntimeError) as e:
                mode, reason = "off", f"no user id for the sandbox: {e}"
        self.config = Config(mode=mode, root=str(self.root), uids=uids, reason=reason,
                             nproc=_env_int("SOCKLAB_NPROC", DEFAULT_NPROC),
                             memory_mb=_env_int("SOCKLAB_MEMORY_MB", DEFAULT_MEMORY_MB),
                             tmpfs_mb=_env_int("SOCKLAB_TMPFS_MB", DEFAULT_TMPFS_MB),
                             nice=_env_int("SOCKLAB_NICE", DEFAULT_NICE))
        self.config.run.mkdir(mode=0o711)
        os.chmod(self.config.run, 0o711)

    @property
    def mode(self) -> str:
        return self.config.mode

    def prepare(self, lab: paths.Lab, src: Path) -> list[str]:
        """Copy the submission's sources and the kit's build files into the sandbox folder."""
        notes = copy_sources(src, self.config.src) if Path(src).is_dir() else [f"no such folder: {src}"]
        copy_kit_build_files(lab, self.config.kit)
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
        spec = {"tmpfs": [[str(self.config.run), self.config.tmpfs_mb, "0711"]],
                "readonly": ["/tmp"] if Path("/tmp").is_dir() else [],
                "writable": [str(Path(w).resolve()) for w in writable],
                "hide": hidden, "scratch": [d for d in SCRATCH_DIRS if Path(d).is_dir()]}
        return [shutil.which("unshare") or "unshare", *NS_FLAGS, sys.executable, "-m", "harness.sandbox",
                "init", "--spec", json.dumps(spec), "--", *cmd]

    def close(self) -> None:
        self.pool.release()
        reap_strays(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


# ---- building under the sandbox ------------------------------------------------------------
def build(cfg: Config, lab: paths.Lab, record: Path, sanitize: bool = True):
    """Build the lab from cfg.src into cfg.bin_dir: as the sandbox's first user id when there
    is one, with limits and a small environment; then make the programs read-only for it and
    copy them into `record` (the grader's OUT/build) for the evidence. Returns a build.Build."""
    from .build import build_lab
    from .procs import Limits

    bin_dir = cfg.bin_dir
    bin_dir.mkdir(parents=True, exist_ok=True)
    uid = cfg.uids[0] if cfg.uids else None
    limits = Limits(cpu_s=120, fsize=64 << 20, nofile=1024, data=2 << 30,
                    nproc=cfg.nproc if uid is not None else None, uid=uid, gid=uid)
    work = cfg.workdir(uid)
    if uid is not None:
        os.chown(bin_dir, uid, uid)
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    env.update(HOME=str(work), TMPDIR=str(work))
    b = build_lab(lab, cfg.src, bin_dir, sanitize=sanitize, limits=limits, makefile=cfg.makefile(lab),
                  env=env, cwd=work)
    if uid is not None:
        kill_uid(uid)
        for dirpath, dirnames, files in os.walk(bin_dir):
            for name in [*dirnames, *files]:
                p = Path(dirpath) / name
                if p.is_symlink():
                    p.unlink()
                    continue
                os.chown(p, 0, 0)
        os.chown(bin_dir, 0, 0)
    os.chmod(bin_dir, 0o755)
    record.mkdir(parents=True, exist_ok=True)
    for p in bin_dir.iterdir():
        if p.is_file() and not p.is_symlink():
            os.chmod(p, 0o755)
            shutil.copy2(p, record / p.name)
    b.bin_dir = bin_dir
    return b


# ---- the init that runs inside the namespaces ------------------------------------------------
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
    for path, size_mb, mode in spec.get("tmpfs", []):
        attempt(f"tmpfs {path}", _mount, "tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV,
                f"size={size_mb}m,mode={mode}")
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


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.sandbox")
    sub = ap.add_subparsers(dest="what", required=True)
    i = sub.add_parser("init", help="(internal) PID 1 inside the grader's namespaces")
    i.add_argument("--spec", required=True)
    i.add_argument("cmd", nargs=argparse.REMAINDER)
    sub.add_parser("probe", help="print the sandbox mode this machine allows")
    args = ap.parse_args(argv)
    if args.what == "probe":
        mode, reason = probe()
        print(mode + (f" ({reason})" if reason else ""))
        return 0
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("init needs a command after --")
    return init_main(json.loads(args.spec), cmd)


if __name__ == "__main__":
    sys.exit(main())
