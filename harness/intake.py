"""Untrusted intake: a student's files brought into the grader without trusting them.

One routine for every way a submission arrives: a folder (`make grade IMPL=PATH`, a batch
entry) or an archive (.zip, .tar and its compressed kinds, in a batch). The same rules hold
for all of them:
- links are never followed: a symbolic link (file or folder), a hard link (a file with more
  than one name), a device, a FIFO or a socket is left out and named in a note; a folder is opened with O_NOFOLLOW relative to its parent's
  descriptor, so that no link swapped in while copying is followed either;
- one set of limits (LIMITS): files, bytes per file, bytes in all, folder depth; a file is
  read in bounded chunks and never more than the limit of one file, whatever its size says;
- names are sanitized: a member name with a control character, "..", an absolute path or
  anything outside [A-Za-z0-9._+-] is left out, and a note names it escaped (textsafe.one_line),
  so that it cannot inject a line into a student's feedback.

The copy is written with O_EXCL and O_NOFOLLOW, mode 0600 (the sandbox then gives it to the
run's user id: harness/sandbox/box.py).
"""
from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Optional

from .textsafe import one_line

ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
#: Folders never taken from a submission (build output, version control, caches).
SKIP_DIRS = {"build", ".git", "__pycache__", "out", "node_modules", "__MACOSX"}
#: A file or folder name taken from a submission (anything else is left out, with a note).
NAME = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,99}$")
CHUNK = 64 << 10


@dataclass(frozen=True)
class Limits:
    """What one submission may bring in: files, bytes per file, bytes in all, folder depth."""

    files: int = 500
    file_bytes: int = 2 << 20
    total_bytes: int = 32 << 20
    depth: int = 6


LIMITS = Limits()


def clean(name: str) -> str:
    """A name from a submission, safe to print on one line of a note."""
    return one_line(name, 120)


def safe_member(name: str) -> Optional[PurePosixPath]:
    """An archive member's relative path if every part of it is an acceptable name, else None."""
    p = PurePosixPath(name.replace("\\", "/"))
    parts = [x for x in p.parts if x not in ("", ".")]
    if not parts or p.is_absolute() or any(not NAME.match(x) for x in parts):
        return None
    return PurePosixPath(*parts)


class Intake:
    """Writes a submission's files into `dest` within one set of limits, collecting notes."""

    def __init__(self, dest: Path, limits: Limits = LIMITS):
        self.dest = Path(dest)
        self.limits = limits
        self.files = 0
        self.bytes = 0
        self.notes: list[str] = []
        self.dest.mkdir(parents=True, exist_ok=True)

    def note(self, name: str, why: str) -> None:
        if len(self.notes) < 50:
            self.notes.append(f"{clean(name)}: {why}")
        elif len(self.notes) == 50:
            self.notes.append("... (more files left out)")

    def room(self, name: str, size: Optional[int]) -> bool:
        """True if a file of `size` bytes (None: unknown) still fits; else a note."""
        lim = self.limits
        if self.files >= lim.files or self.bytes >= lim.total_bytes:
            self.note(name, f"over the limit of {lim.files} files or {lim.total_bytes >> 20} MiB, left out")
            return False
        if size is not None and size > lim.file_bytes:
            self.note(name, f"larger than {lim.file_bytes >> 10} KiB, left out")
            return False
        return True

    def put(self, rel: PurePosixPath, read: Callable[[int], bytes], name: str) -> bool:
        """Write `rel` from `read(n)` (chunks until b""); False (and a note) if it did not fit."""
        if len(rel.parts) > self.limits.depth:
            self.note(name, "too deep in folders, left out")
            return False
        lim = self.limits
        left = min(lim.file_bytes, lim.total_bytes - self.bytes) + 1
        parts: list[bytes] = []
        got = 0
        while left > 0:
            chunk = read(min(CHUNK, left))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
            left -= len(chunk)
        if got > lim.file_bytes or self.bytes + got > lim.total_bytes:
            self.note(name, f"larger than {lim.file_bytes >> 10} KiB (or over the total), left out")
            return False
        target = self.dest.joinpath(*rel.parts)
        parent = self.dest
        for part in rel.parts[:-1]:
            parent = parent / part
            try:
                os.mkdir(parent, 0o700)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(parent).st_mode):
                    self.note(name, "clashes with a file of the same name, left out")
                    return False
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError:
            self.note(name, "a second file of the same name, left out")
            return False
        with os.fdopen(fd, "wb") as f:
            for chunk in parts:
                f.write(chunk)
        self.files += 1
        self.bytes += got
        return True


# ---- a folder ----------------------------------------------------------------------------------
def _open_dir(path: str, dir_fd: Optional[int] = None) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def copy_tree(src: Path, dest: Path, limits: Limits = LIMITS, want: Optional[Callable[[str], bool]] = None,
              intake: Optional[Intake] = None, recurse: bool = True) -> list[str]:
    """Copy the folder `src` into `dest`: regular files only, links never followed, within
    `limits`; `want(name)` (if given) selects the files; `recurse` False takes the top folder's
    files only. Returns the notes on what was left out.

    `src` itself must be a real folder, not a link to one (else nothing is copied).
    """
    box = intake or Intake(dest, limits)
    try:
        top = _open_dir(str(src))
    except OSError as e:
        box.notes.append(f"{clean(str(src))}: not a folder (or a link to one), nothing taken ({e.strerror})")
        return box.notes
    try:
        _copy_dir(top, PurePosixPath(), box, want, recurse)
    finally:
        os.close(top)
    return box.notes


def _copy_dir(fd: int, rel: PurePosixPath, box: Intake, want, recurse: bool = True) -> None:
    if len(rel.parts) >= box.limits.depth:
        box.note(str(rel), "too deep in folders, left out")
        return
    with os.scandir(fd) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        name = str(rel / e.name)
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if e.name in SKIP_DIRS or e.name.startswith(".") or not recurse:
                continue
            if not NAME.match(e.name):
                box.note(name, "a folder name with unusual characters, left out")
                continue
            try:
                sub = _open_dir(e.name, dir_fd=fd)
            except OSError:
                box.note(name, "not a folder any more (a link?), left out")
                continue
            try:
                _copy_dir(sub, rel / e.name, box, want)
            finally:
                os.close(sub)
            continue
        if e.name.startswith("."):
            continue                    # .gitignore and the like: never needed to build
        if not stat.S_ISREG(st.st_mode):
            box.note(name, "not a regular file (a link, a FIFO, a device?), left out")
            continue
        if not NAME.match(e.name):
            box.note(name, "a file name with unusual characters, left out")
            continue
        if st.st_nlink > 1:
            # A hard link may be another name of a file the student could never read.
            box.note(name, "a hard link (a file with several names), left out")
            continue
        if want is not None and not want(e.name):
            continue
        if not box.room(name, st.st_size):
            continue
        try:
            ffd = os.open(e.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            box.note(name, "could not be opened (a link?), left out")
            continue
        with os.fdopen(ffd, "rb", buffering=0) as f:
            if not stat.S_ISREG(os.fstat(ffd).st_mode):
                box.note(name, "not a regular file, left out")
                continue
            box.put(rel / e.name, f.read, name)


# ---- an archive --------------------------------------------------------------------------------
def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVES)


def unpack(archive: Path, dest: Path, limits: Limits = LIMITS) -> list[str]:
    """Unpack an archive: regular files and folders only, each member name checked (no path
    outside `dest`, no control characters), no links or devices, within `limits`, members read
    in bounded chunks (a zip bomb stops at the limit). Returns notes on what was left out."""
    box = Intake(dest, limits)

    def member(name: str, size: int, opener) -> None:
        rel = safe_member(name)
        if rel is None:
            box.note(name, "an unacceptable member name (a path outside, or unusual characters), left out")
            return
        if any(p in SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1]) or rel.name.startswith("."):
            return
        if not box.room(name, size):
            return
        with opener() as f:
            box.put(rel, f.read, name)

    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    mode = (info.external_attr >> 16) & 0o170000
                    if mode and mode != 0o100000:
                        box.note(info.filename, "not a regular file (a link?), left out")
                        continue
                    member(info.filename, info.file_size, lambda i=info: zf.open(i))
        else:
            with tarfile.open(archive) as tf:
                for m in tf:
                    if m.isdir():
                        continue
                    if not m.isreg():
                        box.note(m.name, "not a regular file (a link or device?), left out")
                        continue
                    member(m.name, m.size, lambda m=m: tf.extractfile(m))
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError, NotImplementedError) as e:
        box.notes.append(f"could not unpack {clean(archive.name)}: {clean(str(e))}")
    return box.notes


def take(entry: Path, dest: Path, limits: Limits = LIMITS) -> list[str]:
    """A submission, whatever its form (a folder or an archive), copied or unpacked into `dest`."""
    if os.path.islink(entry):
        Intake(dest, limits)
        return [f"{clean(entry.name)}: a link, not a submission: nothing taken"]
    if is_archive(entry) and entry.is_file():
        return unpack(entry, dest, limits)
    return copy_tree(entry, dest, limits)
