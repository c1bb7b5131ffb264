"""Building a submission in the sandbox: as the run's first user id, in the allow-list view
(bwrap mode: the compiler sees the toolchain, the submission's copy and the kit's build files,
read-only, and writes only the build folder and its working folder), with limits and a
small environment."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import paths
from .config import Config
from .limits import make_program_cgroups
from .uids import kill_uid

#: Bytes of compiler messages kept (the rest is cut with a marker).
LOG_CAP = 256 << 10


def cap_text(text: str, cap: int) -> str:
    """`text` cut to about `cap` bytes (head and tail kept) with a "[... N bytes cut]" marker."""
    data = text.encode("utf-8", "replace")
    if len(data) <= cap:
        return text
    head, tail = data[: cap // 2], data[-cap // 2:]
    return (head.decode("utf-8", "replace") + f"\n[... {len(data) - len(head) - len(tail)} bytes cut]\n"
            + tail.decode("utf-8", "replace"))


def build(cfg: Config, lab: paths.Lab, record: Path, sanitize: bool = True):
    """Build the lab from cfg.src into cfg.bin_dir; then make the programs root's, executable by
    the run's group only, and copy them into `record` (the grader's OUT/build) for the evidence.
    Returns a build.Build."""
    from ..build import build_lab
    from ..procs import Limits

    bin_dir = cfg.bin_dir
    bin_dir.mkdir(parents=True, exist_ok=True)
    uid = cfg.uids[0] if cfg.uids else None
    gid = cfg.gid if cfg.gid is not None else uid
    limits = Limits(cpu_s=120, fsize=64 << 20, nofile=1024, data=2 << 30,
                    nproc=cfg.nproc if uid is not None else None,
                    cgroups=tuple(make_program_cgroups(cfg, cfg.memory_mb)))
    work = cfg.workdir(uid)
    if uid is not None:
        os.chown(bin_dir, uid, gid)
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    env.update(HOME=str(work), TMPDIR=str(work))
    wrapper: tuple = ()
    if cfg.view and uid is not None:
        from .view import view_command
        wrapper = tuple(view_command(uid, gid, ro=[cfg.src, cfg.kit], rw=[bin_dir, work], cwd=work,
                                     own_etc=cfg.etc, userns=cfg.userns))
    if uid is not None and (not cfg.view or cfg.userns):
        limits.uid, limits.gid = uid, gid
    b = build_lab(lab, cfg.src, bin_dir, sanitize=sanitize, limits=limits, makefile=cfg.makefile(lab),
                  env=env, cwd=work, wrapper=wrapper)
    b.log = cap_text(b.log, LOG_CAP)
    if uid is not None:
        kill_uid(uid)
        for dirpath, dirnames, files in os.walk(bin_dir):
            for name in [*dirnames, *files]:
                p = Path(dirpath) / name
                if p.is_symlink() or not (p.is_file() or p.is_dir()):
                    p.unlink()
                    continue
                os.chown(p, 0, gid)
                os.chmod(p, 0o750)
        os.chown(bin_dir, 0, gid)
    os.chmod(bin_dir, 0o750 if uid is not None else 0o755)
    record.mkdir(parents=True, exist_ok=True)
    for p in bin_dir.iterdir():
        if p.is_file() and not p.is_symlink():
            shutil.copy2(p, record / p.name)
    b.bin_dir = bin_dir
    return b
