"""What a student program gets: its user, its limits, its view, its environment; and the
per-run bound on memory and processes (cgroups).

Per program (procs.Limits): CPU seconds, file size, open files, processes (RLIMIT_NPROC, per
user id) and memory: RLIMIT_AS for a plain build; for an ASan build, which reserves terabytes
of address space, ASan's own hard_rss_limit_mb. Both bind one process only; where the host
offers cgroups (v2 with the memory and pids controllers, else v1's memory and pids
hierarchies), each program also runs in a memory cgroup of its own (memory_mb), which binds
its children and anything it execs (a forked ASan child, python3), inside the run's cgroup
(run_memory_mb, and nproc per user id in processes). Without cgroups the bound on a run is
per user id: RLIMIT_NPROC, and memory per process only (the grader says so).
"""
from __future__ import annotations

import hashlib
import itertools
import os
from dataclasses import replace
from pathlib import Path
from typing import Optional

from .config import Config, current
from .uids import kill_uid

#: Environment variables a student program inherits (everything else is dropped).
#: (The user's own SOCKLAB_* variables pass too; the grader's settings travel in run.json, not here.)
# PYTHONPATH: the grader inside the sandbox must import the same pytest as outside (a pytest
# installed with pip --target, or the old one `make compat-check` unpacks).
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TERM", "TZ", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
DROP_ENV = ("SOCKLAB_HIDDEN", "SOCKLAB_AUTOGRADER_ROOT")

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "socklab-"


# ---- cgroups ---------------------------------------------------------------------------------
def cgroup_kind() -> Optional[str]:
    """"v2", "v1" or None: which cgroups with a memory and a pids controller this host offers."""
    try:
        if {"memory", "pids"} <= set((CGROUP_ROOT / "cgroup.controllers").read_text().split()):
            return "v2" if os.access(CGROUP_ROOT, os.W_OK) else None
    except OSError:
        pass
    if all((CGROUP_ROOT / c / "cgroup.procs").is_file() and os.access(CGROUP_ROOT / c, os.W_OK)
           for c in ("memory", "pids")):
        return "v1"
    return None


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def make_run_cgroups(name: str, memory_mb: int, pids: int) -> list[str]:
    """The run's cgroups (memory, pids); [] where the host has none or refuses."""
    kind = cgroup_kind()
    made: list[str] = []
    try:
        if kind == "v2":
            try:
                _write(CGROUP_ROOT / "cgroup.subtree_control", "+memory +pids")
            except OSError:
                pass
            d = CGROUP_ROOT / (CGROUP_PREFIX + name)
            d.mkdir()
            made.append(str(d))
            _write(d / "memory.max", str(memory_mb << 20))
            _write(d / "pids.max", str(pids))
            _write(d / "cgroup.subtree_control", "+memory +pids")
        elif kind == "v1":
            m, p = CGROUP_ROOT / "memory" / (CGROUP_PREFIX + name), CGROUP_ROOT / "pids" / (CGROUP_PREFIX + name)
            m.mkdir()
            made.append(str(m))
            p.mkdir()
            made.append(str(p))
            try:
                _write(m / "memory.use_hierarchy", "1")
            except OSError:
                pass
            _write(m / "memory.limit_in_bytes", str(memory_mb << 20))
            _write(p / "pids.max", str(pids))
    except OSError:
        remove_cgroups(made)
        return []
    return made


def make_program_cgroups(cfg: Config, memory_mb: int) -> list[str]:
    """Cgroups for one program: a memory cgroup of its own inside the run's, and the run's pids
    cgroup. [] without run cgroups."""
    if not cfg.cgroups:
        return []
    name = f"p{os.getpid()}-{next(_counter)}"
    memory = next((Path(c) for c in cfg.cgroups if "/pids/" not in c), None)
    try:
        if memory is None or not all(Path(c).is_dir() for c in cfg.cgroups):
            return []
        d = memory / name
        d.mkdir()
        _created.append(str(d))
        limit = "memory.max" if (d / "memory.max").exists() else "memory.limit_in_bytes"
        _write(d / limit, str(memory_mb << 20))
    except OSError:
        return list(cfg.cgroups)
    return [str(d)] + [c for c in cfg.cgroups if "/pids/" in c]


_counter = itertools.count()
_created: list[str] = []


def remove_cgroups(dirs: list[str]) -> None:
    """rmdir each cgroup (children first); one that still holds a process stays."""
    for d in sorted(dirs, key=len, reverse=True):
        p = Path(d)
        for child in sorted((c for c in p.iterdir() if c.is_dir()), reverse=True) if p.is_dir() else []:
            try:
                child.rmdir()
            except OSError:
                pass
        try:
            p.rmdir()
        except OSError:
            pass


def _tag(runs: Path) -> str:
    return hashlib.sha1(str(Path(runs).resolve()).encode()).hexdigest()[:8]


def run_cgroup_name(run_dir: Path) -> str:
    """The name of a run's cgroups: a tag of the folder that holds its run folder, then the run
    folder's name. Cgroups are machine-wide, but graders with different SOCKLAB_SANDBOX_TMP
    folders cannot see each other's run folders: each sweeps only the cgroups of its own folder."""
    return f"{_tag(run_dir.parent)}-{run_dir.name}"


def sweep_cgroups(runs: Path) -> None:
    """Remove the socklab cgroups of runs in the folder `runs` whose run folder is gone. (A run
    makes its folder before its cgroups and removes it after them, so a live run's cgroups are
    never taken; another folder's runs are never looked at: their run folders are not in `runs`.)"""
    prefix = CGROUP_PREFIX + _tag(runs) + "-"
    for base in (CGROUP_ROOT, CGROUP_ROOT / "memory", CGROUP_ROOT / "pids"):
        try:
            found = [d for d in base.iterdir() if d.name.startswith(prefix) and d.is_dir()]
        except OSError:
            continue
        remove_cgroups([str(d) for d in found if not (runs / d.name[len(prefix):]).exists()])


# ---- a program's settings --------------------------------------------------------------------
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

    Sets the user id (through the view in bwrap mode), the process and memory limits and
    cgroups, a working folder of its own and a small environment; keeps whatever the test
    passed itself. Outside a grading run (no sandbox configuration) returns kwargs unchanged.
    """
    from ..procs import SANITIZER_ENV, Limits

    cfg = current()
    if cfg is None:
        return kwargs
    out = dict(kwargs)
    uid = cfg.uid_for_worker()
    gid = cfg.gid if cfg.gid is not None else uid
    asan = is_sanitized(binary)
    limits = replace(out["limits"]) if out.get("limits") is not None else Limits()
    if limits.nice is None:
        limits.nice = cfg.nice
    if uid is not None and limits.nproc is None:
        limits.nproc = cfg.nproc
    env = dict(out.get("env") or {})
    if asan:
        base = env.get("ASAN_OPTIONS", SANITIZER_ENV["ASAN_OPTIONS"])
        if "hard_rss_limit_mb" not in base:
            env["ASAN_OPTIONS"] = f"{base}:hard_rss_limit_mb={cfg.memory_mb}"
    elif limits.address_space is None and not out.get("wrapper"):
        # Address space, not resident memory: leave room for thread stacks and libraries.
        limits.address_space = (4 * cfg.memory_mb) << 20
    limits.cgroups = tuple(make_program_cgroups(cfg, cfg.memory_mb))
    work = Path(out["cwd"]) if out.get("cwd") is not None else cfg.workdir(uid)
    out["cwd"] = work
    env.setdefault("HOME", str(work))
    env.setdefault("TMPDIR", str(work))
    if cfg.view and uid is not None:
        from .view import view_command
        folders = {Path(binary).parent, cfg.bin_dir}
        out["wrapper"] = view_command(uid, gid, ro=sorted(folders), rw=[work], cwd=work, own_etc=cfg.etc,
                                      userns=cfg.userns) + list(out.get("wrapper") or ())
        out["signal_status"] = True
        out["depth"] = 2              # bwrap, the PID namespace's init (bwrap), the program
    if uid is not None and (not cfg.view or cfg.userns):
        limits.uid = uid if limits.uid is None else limits.uid
        limits.gid = gid if limits.gid is None else limits.gid
    out["limits"] = limits
    out["env"] = env
    return out


def after_test() -> None:
    """At a test's teardown: kill whatever the test's programs left behind (setsid, double fork),
    and remove their cgroups."""
    cfg = current()
    if cfg is None:
        return
    uid = cfg.uid_for_worker()
    if uid is not None:
        kill_uid(uid)
    if _created:
        remove_cgroups(_created)
        _created[:] = [d for d in _created if Path(d).is_dir()]


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
    env["TMPDIR"] = str(cfg.basetemp)
    env.update(extra or {})
    return env
