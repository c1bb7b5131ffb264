"""The grader's sandbox: what untrusted student code may see and touch while it is built and tested.

Student code is untrusted: it may hang, crash, fork without end, flood its output, try to
reach the network, read what it must not (the reference solutions, a classmate's sources,
hidden tests, the kit's git history) or fake a result. The grader confines it in the
strongest of four modes the machine allows (`Sandbox.mode`, printed by the grader):

``bwrap`` (root; unshare(1) and bubblewrap work)
    The whole grading run (build and pytest) runs in its own network, PID, mount and IPC
    namespaces (``unshare``, under nsinit.py's init): loopback only, and every process left
    dies with the run. On top of that, the compiler and every student program are started
    through bubblewrap with the allow-list view (view.py): they see the toolchain read-only,
    a minimal /etc, their own files (the submission's copy and the kit's build files for the
    build, the built programs for a test) and a private /tmp and working folder, in a PID
    namespace of their own, and nothing else of the host: no checkout of the kit, no .git,
    out/, dist/, solutions/, hidden tests, home folders or other runs. pytest and the
    harness's peers and proxies keep their view; they share the run's loopback with the
    programs.
``namespaces`` (root, unshare(1) works, bwrap does not)
    The run's namespaces as above, but programs see the host's files, minus the folders
    hidden under an empty tmpfs (solutions/, the hidden tests, --hide). It does NOT protect
    what is not on that list (another checkout, the kit's .git, out/ and dist/ of other
    copies) beyond file permissions. Install bubblewrap (apt-get install bubblewrap) for bwrap.
``user`` (root, no namespaces: Docker's default seccomp profile, for example)
    Programs run as unprivileged user ids with limits; no network isolation (they can reach
    the host's loopback services), they see the host's files as that user, and a process
    that escapes is killed by user id. Run with --privileged or a seccomp profile that allows
    unshare and mount for the stronger modes.
``off`` (not root, or SOCKLAB_SANDBOX_MODE=off)
    Programs run as the grader's own user with rlimits only: they can read and write
    whatever that user can, the results files included. Run as root for a sandbox.

In every root mode the compiler and each program run as an unprivileged user with a user
id of their own (uids.py): one per pytest-xdist worker of one run, from a pool under locks,
no supplementary groups, no capabilities, PR_SET_NO_NEW_PRIVS. The run's files are the
run's alone (box.py): its folder is root's with the run's group (0750), the sources 0640,
each working folder 0700; the output folder (results.json, junit.xml, evidence) is root's,
0700. Limits (limits.py): rlimits per program (CPU, file size, open files, processes per
user id, RLIMIT_AS or ASan's RSS limit) and, where the host offers cgroups, a memory cgroup
per program (children and exec'd interpreters included) inside the run's memory and pids
cgroup. Programs run 5 nicer than the harness and get a small environment.

Untrusted files come in through harness/intake.py (links never followed, bounded).

Environment: SOCKLAB_SANDBOX_MODE=off|user|namespaces (ask for less), SOCKLAB_BWRAP_USERNS=0
(start bwrap as root and drop to the user with setpriv, even where user namespaces work), SOCKLAB_NPROC (64),
SOCKLAB_MEMORY_MB (1024 per program), SOCKLAB_RUN_MEMORY_MB (2048 per run), SOCKLAB_TMPFS_MB
(384), SOCKLAB_NICE (5), SOCKLAB_UID_BASE (61000), SOCKLAB_SANDBOX_TMP (where the run's
folder is made; default /tmp).

Modules: config (settings, modes, probe), uids (the user-id pool), view (the bwrap view),
limits (per-program settings, cgroups, environment), box (the run's folder and namespaces),
build (the build in the sandbox), nsinit (PID 1 of the namespace modes).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from .box import SCRATCH_DIRS, Sandbox, copy_kit_build_files, private_folder, reap_strays, sweep  # noqa: F401
from .build import build, cap_text  # noqa: F401
from .config import (DEFAULT_MEMORY_MB, DEFAULT_NICE, DEFAULT_NPROC,  # noqa: F401
                     DEFAULT_RUN_MEMORY_MB, DEFAULT_TMPFS_MB, MODE_ENV, MODES, NS_FLAGS, Config, current, probe)
from .limits import after_test, child_env, is_sanitized, program_defaults  # noqa: F401
from .uids import LOCK_DIR, UID_BASE, UID_COUNT, UidPool, kill_uid, pids_of_uid  # noqa: F401

#: The import surface of harness.sandbox (what the grader, batch, the plugin and the self-tests use).
__all__ = ["SCRATCH_DIRS", "Sandbox", "copy_kit_build_files", "private_folder", "reap_strays", "sweep", "build",
           "cap_text", "DEFAULT_MEMORY_MB", "DEFAULT_NICE", "DEFAULT_NPROC", "DEFAULT_RUN_MEMORY_MB",
           "DEFAULT_TMPFS_MB", "MODE_ENV", "MODES", "NS_FLAGS", "Config", "current", "probe", "after_test",
           "child_env", "is_sanitized", "program_defaults", "LOCK_DIR", "UID_BASE", "UID_COUNT", "UidPool",
           "kill_uid", "pids_of_uid", "at_least", "main"]


def at_least(mode: str, wanted: str) -> bool:
    """True if `mode` is `wanted` or stronger (MODES, weakest first)."""
    return MODES.index(mode) >= MODES.index(wanted)


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
    from .nsinit import init_main
    return init_main(json.loads(args.spec), cmd)


if __name__ == "__main__":
    sys.exit(main())
