"""The allow-list view: what a student program (and the compiler) sees, on bubblewrap.

A program launched through view_command() sees exactly this, and nothing else of the host:
- the toolchain and its libraries, read-only: /usr, and /bin, /sbin, /lib* (as links into
  /usr, or read-only binds where they are separate folders);
- a minimal /etc, read-only: copies of ETC_FILES (the dynamic linker's cache, the resolver's
  hosts and nsswitch.conf, services and protocols, the time zone, the alternatives links of
  the compiler) and a passwd and group of its own (root, nobody, the sandbox's users), made
  once per run (write_etc) and bound as one folder;
- the paths the caller lists: read-only (the submission's copy and the kit's lab Makefile and
  labs/common for a build; the built programs for a test) and writable (its working folder;
  the build folder for a build);
- a fresh private /tmp (a small tmpfs), /proc of its own PID namespace, and /dev with only
  DEVICES (null, zero, full, random, urandom).

It runs in fresh PID, IPC, UTS and cgroup namespaces and shares only the network namespace of
the grading run (loopback only: harness/sandbox/nsinit.py), so that the harness reaches it
over loopback. The program runs as its unprivileged user id and group with no supplementary
groups, no capabilities and PR_SET_NO_NEW_PRIVS: where unprivileged user namespaces work,
the harness drops to that user before bwrap, which then maps only that user; elsewhere bwrap
starts as root and setpriv drops to the user inside. The program leads a session and process group of its own (bwrap
--new-session: no terminal to push input into), so that procs.Program(depth=2) signals it
and its children there, while bwrap, which must not die of a SIGTERM meant for the program,
is killed only with SIGKILL (the PID namespace then dies with it). bwrap reports a program
killed by signal N as exit status 128+N: procs.Program(signal_status=True) turns it back
into a signal.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterable, Optional

#: What of /etc a program sees (those that exist here).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "hosts", "host.conf", "gai.conf",
             "services", "protocols", "localtime", "alternatives")
#: The top-level folders of the toolchain: linked into /usr where the host links them, else bound.
TOP_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: The devices in a program's /dev.
DEVICES = ("null", "zero", "full", "random", "urandom")
#: Size of a program's private /tmp.
TMP_BYTES = 64 << 20


def bwrap() -> Optional[str]:
    return shutil.which("bwrap")


def _toolchain() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in TOP_DIRS:
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    return args


#: Folders of /etc bound as they are (too many files to copy at each run).
ETC_BOUND = ("alternatives",)


def _etc(own_etc: Optional[Path]) -> list[str]:
    if own_etc is not None and own_etc.is_dir():
        args = ["--ro-bind", str(own_etc), "/etc"]      # few mounts: a start costs less
        for name in ETC_BOUND:
            if (own_etc / name).is_dir() and (Path("/etc") / name).is_dir():
                args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        return args
    args = ["--dir", "/etc"]
    for name in ETC_FILES:
        p = Path("/etc") / name
        if p.exists():
            args += ["--ro-bind", str(p), str(p)]
    return args


def write_etc(folder: Path, uids: list[int], gid: Optional[int]) -> None:
    """The /etc of the view: copies of ETC_FILES (links kept as links), and passwd and group
    files of its own (root, nobody and the sandbox's users only)."""
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    for name in ETC_FILES:
        src, dest = Path("/etc") / name, folder / name
        try:
            if name in ETC_BOUND:
                dest.mkdir(exist_ok=True)       # a mount point: bound from the host by _etc()
            elif src.is_symlink():
                dest.symlink_to(os.readlink(src))
            elif src.is_dir():
                shutil.copytree(src, dest, symlinks=True)
            elif src.is_file():
                shutil.copyfile(src, dest)
        except OSError:
            pass
    users = ["root:x:0:0:root:/nonexistent:/usr/sbin/nologin",
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"]
    users += [f"socklab{u}:x:{u}:{gid if gid is not None else u}:socklab sandbox:/tmp:/usr/sbin/nologin"
              for u in uids]
    groups = ["root:x:0:", "nogroup:x:65534:"]
    groups += [f"socklab{g}:x:{g}:" for g in sorted({gid} if gid is not None else set(uids))]
    (folder / "passwd").write_text("\n".join(users) + "\n")
    (folder / "group").write_text("\n".join(groups) + "\n")
    for dirpath, dirnames, files in os.walk(folder):
        for n in dirnames:
            os.chmod(Path(dirpath) / n, 0o755)
        for n in files:
            if not (Path(dirpath) / n).is_symlink():
                os.chmod(Path(dirpath) / n, 0o644)


def view_command(uid: int, gid: int, ro: Iterable[Path] = (), rw: Iterable[Path] = (),
                 cwd: Optional[Path] = None, own_etc: Optional[Path] = None, share_net: bool = True,
                 tmp_bytes: int = TMP_BYTES, userns: bool = False) -> list[str]:
    """The command prefix that runs a program in the allow-list view, as `uid`:`gid`.

    userns False: bwrap starts as root and setpriv drops to `uid`:`gid` inside. userns True
    (where unprivileged user namespaces work, see userns_works()): the caller has already
    dropped to `uid`:`gid` (procs.Limits), and bwrap sets the view up in a user namespace of
    its own that maps only that user (one exec less per program), with no nested one allowed.
    """
    args = [bwrap() or "bwrap"]
    if userns:
        args += ["--unshare-user", "--disable-userns"]
    args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    args += ["--share-net"] if share_net else ["--unshare-net"]
    args += ["--die-with-parent", *_toolchain(), *_etc(own_etc), "--proc", "/proc", "--dir", "/dev"]
    for dev in DEVICES:
        args += ["--dev-bind", f"/dev/{dev}", f"/dev/{dev}"]
    args += ["--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    ro, rw = [Path(p) for p in ro], [Path(p) for p in rw]
    # The folders above each bound path, traversable (bwrap would make them 0700, root's).
    above = sorted({a for p in [*ro, *rw] for a in p.parents if a not in (Path("/"), Path("/tmp"))},
                   key=lambda a: len(a.parts))
    for a in above:
        args += ["--perms", "0755", "--dir", str(a)]
    for p in ro:
        args += ["--ro-bind", str(p), str(p)]
    for p in rw:
        args += ["--bind", str(p), str(p)]
    if cwd is not None:
        args += ["--chdir", str(cwd)]
    args += ["--new-session", "--"]
    if not userns:
        args += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                 "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
    return args


_userns_cache: list = []


def userns_works() -> bool:
    """True if bwrap can set the view up as an unprivileged user (in a user namespace)."""
    if not _userns_cache:
        ok = False
        if bwrap():
            try:
                ok = subprocess.run(view_command(65534, 65534, share_net=False, userns=True) + ["/usr/bin/true"],
                                    user=65534, group=65534, extra_groups=[], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=20).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
        _userns_cache.append(ok)
    return _userns_cache[0]


def bwrap_probe_command() -> Optional[list[str]]:
    """A harmless command that works only where the view can be set up (None: no bwrap)."""
    if not bwrap() or not Path("/usr/bin/setpriv").exists():
        return None
    return view_command(65534, 65534, share_net=False) + ["/usr/bin/true"]
