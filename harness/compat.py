"""What the harness needs from pytest and its plugins, on every version it supports.

The oldest supported versions are those of Ubuntu 22.04, Gradescope's default image: pytest
6.2.5, pytest-xdist 2.5.0, pytest-timeout 2.1.0 (`make compat-check` grades every lab with
exactly those). Older ones are not supported: Debian 11's pytest 6.0.2 cannot even import a
test module on Python 3.10 or later (its assertion rewriter predates Python 3.10's ast).
MINIMUM below is what the grader checks at start (`too_old`), and what the README,
harness/autograder/setup.sh and its pip fallback name.

Per-test state: `pytest.StashKey` and `item.stash` came in pytest 7.0. `NodeKey` keeps a value on
a node (a test item) under a private attribute name instead, which works on every version.
"""
from __future__ import annotations

import re
import sys
from typing import Any

#: The oldest Python (Ubuntu 22.04's); 3.9 lacks what the harness uses (X | Y types at run time).
PYTHON_MINIMUM = (3, 10)
#: Distribution name (as pip knows it), import name, minimum version.
MINIMUM = (
    ("pytest", "pytest", "6.2.5"),
    ("pytest-xdist", "xdist", "2.5"),
    ("pytest-timeout", "pytest_timeout", "2.1"),
)

#: What to do about a missing or too old package (the README says the same).
INSTALL_HINT = ("install them with: sudo apt-get install -y python3-pytest python3-pytest-xdist "
                "python3-pytest-timeout; where the distribution's are too old: python3 -m pip install "
                + " ".join(f"'{d}>={m}'" for d, _, m in MINIMUM))


class NodeKey:
    """A slot for one value on a pytest node: `KEY.set(item, v)`, `KEY.get(item, default)`."""

    def __init__(self, name: str) -> None:
        self.attr = f"_socklab_{name}"

    def get(self, node: Any, default: Any = None) -> Any:
        return getattr(node, self.attr, default)

    def set(self, node: Any, value: Any) -> None:
        setattr(node, self.attr, value)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for p in text.split("."):
        m = re.match(r"\d+", p)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


def installed_version(dist: str, module: str) -> str | None:
    """The installed version of `dist`, or None when its module does not import."""
    try:
        mod = __import__(module)
    except ImportError:
        return None
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:  # an unpacked copy without metadata (PYTHONPATH): ask the module
        return str(getattr(mod, "__version__", "0"))


def too_old() -> list[str]:
    """One line per missing or too old package; empty when everything is recent enough."""
    problems = []
    if sys.version_info < PYTHON_MINIMUM:
        problems.append(f"Python {sys.version.split()[0]} is too old (socklab needs Python >= "
                        f"{'.'.join(map(str, PYTHON_MINIMUM))}: pip cannot fix that, use a newer image)")
    for dist, module, minimum in MINIMUM:
        have = installed_version(dist, module)
        if have is None:
            problems.append(f"{dist} is not installed (socklab needs {dist} >= {minimum})")
        elif _version_tuple(have) < _version_tuple(minimum):
            problems.append(f"{dist} {have} is too old (socklab needs {dist} >= {minimum})")
    return problems


def versions_line() -> str:
    """The interpreter and the versions in use: "python 3.11.2, pytest 7.2.1, ..."."""
    import platform
    return ", ".join([f"python {platform.python_version()}"]
                     + [f"{d} {installed_version(d, m)}" for d, m, _ in MINIMUM])


def requirement_lines() -> list[str]:
    """pip requirement specifiers for the minimum versions: ["pytest>=6.0", ...]."""
    return [f"{dist}>={minimum}" for dist, _, minimum in MINIMUM]


if __name__ == "__main__":  # python3 -m harness.compat: exit 1 and say what is too old
    bad = too_old()
    for line in bad:
        print(f"socklab: {line}", file=sys.stderr)
    if not bad:
        print(f"socklab: {versions_line()}")
    sys.exit(1 if bad else 0)
