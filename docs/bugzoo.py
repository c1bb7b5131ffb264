"""Write the instructor site's bug-zoo page: every mutant of every lab, its header and its diff.

    python3 docs/bugzoo.py > out/docs/bugzoo.md      (make docs-instructor does it)

A mutant is solutions/NN-name/mutants/<slug>.patch: a header (Mutant:, Catches:, Lesson:)
and a unified diff against the solution (see harness/README.md, "The bug zoo").
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent


def header_and_diff(patch: Path) -> tuple[dict[str, str], str]:
    """The header fields (lower-case keys) and the diff that follows them."""
    head: dict[str, str] = {}
    lines = patch.read_text(encoding="utf-8", errors="replace").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("--- "):
            return head, "\n".join(lines[i:])
        m = re.match(r"(\w+):\s*(.*)", line)
        if m:
            head[m.group(1).lower()] = m.group(2).strip()
    return head, ""


def page() -> str:
    out = ["# The bug zoo {#bugzoo}", "",
           "Each lab's reference solution comes with mutants: copies with one classic mistake "
           "each, kept as patches in `solutions/NN-name/mutants/`. `make test` applies every "
           "one, builds it and checks that the tests named under *Catches* fail on it. "
           "They make good exercises too: hand a student the mutant and the failing test's "
           "message, and ask for the fix.", ""]
    labs = sorted(p for p in (KIT / "solutions").glob("[0-9][0-9]-*") if p.is_dir())
    for lab in labs:
        patches = sorted((lab / "mutants").glob("*.patch"))
        out += [f"## Lab {lab.name[:2]}: {lab.name[3:].replace('-', ' ')} {{#bugzoo_{lab.name[:2]}}}", ""]
        if not patches:
            out += ["No mutants yet.", ""]
            continue
        out += [f"{len(patches)} mutants.", ""]
        for patch in patches:
            head, diff = header_and_diff(patch)
            out += [f"### {patch.stem}: {head.get('mutant', '(no Mutant: line)')}", ""]
            out += [f"- Catches: `{head.get('catches', '?')}`"]
            if head.get("lesson"):
                out += [f"- Lesson: {head['lesson']}"]
            # A tilde fence: a diff may itself contain backquotes.
            out += [f"- File: `{patch.relative_to(KIT)}`", "", "~~~~~~~~~~{.unparsed}", diff, "~~~~~~~~~~", ""]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(page())
