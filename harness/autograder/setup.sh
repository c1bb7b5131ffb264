#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04 by
# default; Debian works the same): install every package that grading uses.
# The packages come from the kit's one dependency list, harness/deps.txt (group `grade`), which
# make grade and the GitHub Classroom workflows install too. Where the distribution's pytest,
# pytest-xdist or pytest-timeout is older than socklab's minimum (harness/compat.py), a
# supported one is installed with pip, which Gradescope's build machines can reach.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
here=$(cd "$(dirname "$0")" && pwd)
KIT="$here/socklab"
PY=/usr/bin/python3
apt-get update -q
# shellcheck disable=SC2046  # one word per package; sh: a zip may not keep the x bit
apt-get install -y -q $(sh "$KIT/harness/bin/ensure-deps" --list-req grade)
# Optional packages one by one: a distribution without one (Ubuntu's chromium is a snap, for
# example) keeps the rest, and the tests that need it are skipped with the reason.
for pkg in $(sh "$KIT/harness/bin/ensure-deps" --list-opt grade); do
    apt-get install -y -q "$pkg" || echo "socklab: optional package $pkg not installed: the tests that need it are skipped"
done
cd "$KIT"
if ! "$PY" -m harness.compat; then
    echo "socklab: the distribution's pytest is too old; installing a supported one with pip"
    apt-get install -y -q $(sh harness/bin/ensure-deps --list pip)
    reqs=$("$PY" -c 'from harness.compat import requirement_lines; print(" ".join(requirement_lines()))')
    # Debian 12 and later mark the system Python as externally managed (PEP 668); older pips
    # do not know the flag that overrides it.
    "$PY" -m pip install -q $reqs || "$PY" -m pip install -q --break-system-packages $reqs
    "$PY" -m harness.compat
fi
# The grader runs student programs as unprivileged user ids (61000 and up): no account is
# needed for a numeric id. Namespaces and bubblewrap's allow-list view need a container that
# allows unshare(2) and mount(2); where it does not, the grader says so and keeps the other
# protections.
"$PY" -c 'import harness.plugin' && echo "socklab: setup done"
