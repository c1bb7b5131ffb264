"""The sandbox's settings, the mode this machine allows, and the configuration a grading run
passes to its children (the inner grader, pytest and the plugin) in run.json (harness/runspec.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from .. import paths, runspec

#: Set to "off", "user" or "namespaces" to ask for a weaker sandbox than the machine allows.
MODE_ENV = "SOCKLAB_SANDBOX_MODE"
#: The modes, weakest first.
MODES = ("off", "user", "namespaces", "bwrap")

NS_FLAGS = ["--net", "--pid", "--mount", "--ipc", "--fork", "--kill-child", "--mount-proc"]

#: Defaults; each can be changed with an environment variable of the same name in capitals
#: (SOCKLAB_NPROC, SOCKLAB_MEMORY_MB, SOCKLAB_RUN_MEMORY_MB, SOCKLAB_TMPFS_MB, SOCKLAB_NICE).
DEFAULT_NPROC = 64
DEFAULT_MEMORY_MB = 1024
DEFAULT_RUN_MEMORY_MB = 2048
DEFAULT_TMPFS_MB = 384
#: Student programs run this much nicer than the harness: one that spins in a loop (a classic
#: bug) then slows the grader's own processes less (SOCKLAB_NICE).
DEFAULT_NICE = 5


def env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class Config:
    """Where a grading run's sandboxed files live, and as whom its programs run.

    root/src      the submission's copy (root:gid 0750, files 0640: the run's user ids alone)
    root/kit      the kit's lab Makefile and labs/common (the build needs them)
    root/etc      the passwd and group files of the programs' view
    root/run      the run's files (a tmpfs in the namespace modes): bin/, work-UID/, pytest/
    """

    mode: str
    root: str
    uids: list = field(default_factory=list)
    gid: Optional[int] = None
    reason: str = ""
    nproc: int = DEFAULT_NPROC
    memory_mb: int = DEFAULT_MEMORY_MB
    run_memory_mb: int = DEFAULT_RUN_MEMORY_MB
    tmpfs_mb: int = DEFAULT_TMPFS_MB
    nice: int = DEFAULT_NICE
    cgroups: list = field(default_factory=list)   # the run's cgroup folders (memory, pids)
    userns: bool = False                           # bwrap runs unprivileged (view.userns_works())

    @property
    def src(self) -> Path:
        return Path(self.root) / "src"

    @property
    def kit(self) -> Path:
        return Path(self.root) / "kit"

    @property
    def etc(self) -> Path:
        return Path(self.root) / "etc"

    @property
    def run(self) -> Path:
        return Path(self.root) / "run"

    @property
    def bin_dir(self) -> Path:
        return self.run / "bin"

    @property
    def basetemp(self) -> Path:
        return self.run / "pytest"

    @property
    def view(self) -> bool:
        """True when every student program sees only the allow-list view (bubblewrap)."""
        return self.mode == "bwrap"

    @property
    def outer_namespaces(self) -> bool:
        """True when the whole run is inside its own network, PID and mount namespaces."""
        return self.mode in ("bwrap", "namespaces")

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
        """A program's working folder: its own, mode 0700, owned by its user; made on first use."""
        d = self.run / (f"work-{uid}" if uid is not None else "work")
        if not d.is_dir():
            d.mkdir(parents=True, exist_ok=True)
            if uid is not None:
                os.chown(d, uid, self.gid if self.gid is not None else uid)
            os.chmod(d, 0o700)
        return d

    def to_dict(self) -> dict:
        """The fields, for run.json's "sandbox" (harness/runspec.py)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Optional[dict]) -> Optional["Config"]:
        if not raw:
            return None
        try:
            return cls(**raw)
        except TypeError:
            return None

    def describe(self) -> str:
        ids = ", ".join(map(str, self.uids))
        text = {
            "bwrap": "sandbox: bwrap (each program sees only the toolchain, its own files and a private /tmp; "
                     f"own network with loopback only, own PIDs), unprivileged user ids {ids}",
            "namespaces": "sandbox: namespaces (own network with loopback only, own PIDs; programs see the "
                          f"host's files except the hidden folders), unprivileged user ids {ids}",
            "user": f"sandbox: unprivileged user ids {ids}, no namespaces",
            "off": "sandbox: OFF, programs run as this user with resource limits only",
        }[self.mode]
        return text + (f" ({self.reason})" if self.reason else "") + f"; folder {self.root}"


_config_cache: dict = {}


def current() -> Optional[Config]:
    """The configuration of the grading run this process belongs to: the run spec's "sandbox"
    (harness/runspec.py); None outside the grader."""
    spec = runspec.active()
    key = id(spec)
    if key not in _config_cache:
        _config_cache.clear()
        _config_cache[key] = Config.from_dict(spec.sandbox) if spec is not None else None
    return _config_cache[key]


# ---- probing ---------------------------------------------------------------------------------
_probe_cache: list = []


def _works(cmd: list[str]) -> tuple[bool, str]:
    try:
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=20)
        return r.returncode == 0, r.stderr.decode("utf-8", "replace").strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)


def probe() -> tuple[str, str]:
    """The strongest mode this machine allows (or the one asked for), and why it is not
    stronger ("" when it is the strongest)."""
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
        from .view import bwrap_probe_command
        view = bwrap_probe_command() if want != "namespaces" else None
        if not unshare:
            result = ("user", "unshare(1) not found: install util-linux for namespaces")
        elif view is not None and _works([unshare, *NS_FLAGS, *view])[0]:
            result = ("bwrap", "")      # one probe for both: the view inside the run's namespaces
        else:
            ok, why = _works([unshare, *NS_FLAGS, "true"])
            if not ok:
                result = ("user", f"unshare failed: {why or 'unknown error'}")
            elif want == "namespaces":
                result = ("namespaces", f"{MODE_ENV}=namespaces")
            elif view is None:
                result = ("namespaces", "bubblewrap not found: apt-get install bubblewrap for the allow-list view")
            else:
                why = _works([unshare, *NS_FLAGS, *view])[1]
                result = ("namespaces", f"bwrap cannot set up its view here ({why or 'unknown error'}): "
                                        "it needs root with mount and PID namespaces")
    _probe_cache.append(result)
    return result
