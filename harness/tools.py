"""External tools the tests run (ss, ncat, tcpdump, valgrind...): find them, or skip clearly.

A student may run `make test` without root, in WSL2 or in a container without `ss` or apt.
A test that needs a tool calls `require` (or `require_root`) first: where the tool is missing,
the test is skipped, and the skip reason names the tool, the package from harness/deps.txt that
provides it, and the command that installs it. A skipped test neither costs nor earns points
(harness/results.py), and `make test` lists every reason at the end (pytest -rs).

    from harness import tools
    ss = tools.require("ss", "to read the kernel's TCP states")      # the path, or a skip
    tools.require_root("tcpdump captures loopback traffic")

Every command the harness runs must be in harness/deps.txt (harness/selftest/test_platform.py
checks it).
"""
from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Optional

DEPS = Path(__file__).resolve().parent / "deps.txt"


@lru_cache(maxsize=None)
def dependency_rows() -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """(group, package, need, whats) for each line of harness/deps.txt."""
    rows = []
    for line in DEPS.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        group, package, need, *whats = line.split()
        rows.append((group, package, need, tuple(whats)))
    return tuple(rows)


def packages(*groups: str) -> list[str]:
    """The packages of these groups (every group when none is given), in the list's order, once each."""
    out: list[str] = []
    for group, package, _, _ in dependency_rows():
        if (not groups or group in groups) and package not in out:
            out.append(package)
    return out


def package_of(command: str) -> Optional[str]:
    """The package of harness/deps.txt that provides `command` (a `bin:` entry), or None."""
    for _, package, _, whats in dependency_rows():
        if f"bin:{command}" in whats:
            return package
    return None


def which(command: str) -> Optional[str]:
    """The path of `command`: on PATH, or in /usr/sbin or /sbin (not on a user's PATH everywhere)."""
    found = shutil.which(command)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin"):
        p = Path(d) / command
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def missing_reason(command: str, purpose: str = "") -> Optional[str]:
    """Why a test that needs `command` cannot run here, or None when it can."""
    if which(command):
        return None
    pkg = package_of(command)
    install = f" (Debian/Ubuntu package {pkg}: sudo apt-get install -y {pkg})" if pkg else ""
    return f"{command} is not installed{install}" + (f"; it is needed {purpose}" if purpose else "")


def require(command: str, purpose: str = "") -> str:
    """The path of `command`; where it is missing, skip the calling test and say why."""
    why = missing_reason(command, purpose)
    if why:
        import pytest
        pytest.skip(why)
    return which(command)  # type: ignore[return-value]


def require_root(purpose: str) -> None:
    """Skip the calling test unless it runs as root, saying what needs root."""
    if os.geteuid() != 0:
        import pytest
        pytest.skip(f"not running as root: {purpose} needs root")
