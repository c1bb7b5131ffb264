"""make mutate: a mutation sweep of a lab's reference solution, for the kit's own authors.

    python -m harness.mutate --lab 01 [-n 40] [--seed 1] [-j 2] [--out DIR] [--list]
    make mutate LAB=01 [N=40] [JOBS=2]

It makes simple mutants of the reference solution automatically, one change each:
    rel      a relational or logical operator swapped (< and <=, > and >=, == and !=, && and ||)
    arith    an arithmetic operator swapped (+ and -, * and /, % to /, ++ and --, += and -=)
    const    an integer constant plus or minus one
    delete   a simple statement deleted (an expression, return, break or continue)
    negate   the condition of an if, while or for negated
    ignore   a call's result ignored: f(x) becomes ((void)f(x), 0) where the result is used

Only code that a student writes is mutated: the solution's lines that the skeleton
(labs/NN-*/) does not have, inside functions whose skeleton holds a TODO(student), and
functions that the skeleton lacks. Comments, strings and preprocessor lines never are.
-n N grades a seeded sample of N mutants (the same N and seed give the same sample).

Each mutant is graded like a submission, in the sandbox, in parallel (-j):
`python -m harness.grade --impl DIR --out DIR --jobs 1 --quiet`. A mutant is killed when it
loses a point, killed by the compiler when it does not build (-Werror), and survives with
full marks. A survivor is a change that the tests cannot see: a test to write (or a bug-zoo
entry when the mistake is a classic), or an equivalent mutant, to list in
solutions/NN-*/mutants/equivalent.txt, one per line:

    FILE | LINE | CHANGE | REASON
    rtt.c | if (rto > max) | rel: '>' -> '>=' | equal values give the same RTO either way

where LINE is the mutated source line (whitespace collapsed) and CHANGE is as the report
shows it. A line such as `return 0;` occurs in many places, not all of them equivalent: FILE may
then be FILE:N (the line number the report shows), to match that occurrence only. The report lists equivalent mutants apart, and does not count them in the rate.

Output in out/mutate-NN/: report.md (survivors: file:line, the change, the score; the
mutants killed by the compiler; the equivalent ones), report.json, and survivors/*.patch
(each survivor as a patch in the bug zoo's format, ready for a Catches: header).
It is a tool for writing tests, not part of make test.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import difflib
import json
import random
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import csource, paths, procs, runspec
from .csource import KEYWORDS, Token

OPERATORS = ("rel", "arith", "const", "delete", "negate", "ignore")

REL_SWAPS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==", "&&": "||", "||": "&&"}
ARITH_SWAPS = {"+": "-", "-": "+", "*": "/", "/": "*", "%": "/", "++": "--", "--": "++",
               "+=": "-=", "-=": "+=", "*=": "/=", "/=": "*="}
#: A token after which a + - * is a binary operator (an operand ends there).
_OPERAND_END = {"id", "num", "str", "chr"}
#: Tokens that end a statement or a block: the next token may start a statement.
_STMT_BEFORE = {";", "{", "}"}
_COMPARE = {"<", "<=", ">", ">=", "==", "!="}
_NOT_CALLS = KEYWORDS | {"defined"}


@dataclass
class Mutant:
    """One change to one file of the solution: replace text[start:end] with `new`."""

    file: str
    line: int
    op: str
    old: str
    new: str
    start: int
    end: int
    source_line: str = ""
    id: str = ""

    @property
    def change(self) -> str:
        """How the report names the change: "rel: '<' -> '<='"."""
        return f"{self.op}: {_short(self.old)!r} -> {_short(self.new)!r}"

    def apply(self, text: str) -> str:
        return text[:self.start] + self.new + text[self.end:]


def _short(s: str, width: int = 60) -> str:
    s = " ".join(s.split())
    return s if len(s) <= width else s[:width - 3] + "..."


# ---- which code a student writes --------------------------------------------------------
def student_lines(solution: str, skeleton: str | None) -> set[int]:
    """The 1-based lines of `solution` that a student writes.

    Inside each function: if the skeleton's function of the same name holds a TODO(student),
    the solution's lines that the skeleton's function lacks (a line diff); if the skeleton has
    no such function, all of it. Without a skeleton file, every function.
    """
    lines: set[int] = set()
    skel = {f.name: f for f in csource.functions(skeleton)} if skeleton is not None else {}
    for f in csource.functions(solution):
        first = solution.count("\n", 0, f.start) + 1
        body = f.text.splitlines()
        if skeleton is not None and f.name in skel:
            if "TODO(student)" not in skel[f.name].text:
                continue  # given code
            theirs = [l.strip() for l in skel[f.name].text.splitlines()]
            ours = [l.strip() for l in body]
            sm = difflib.SequenceMatcher(None, theirs, ours, autojunk=False)
            for tag, _i1, _i2, j1, j2 in sm.get_opcodes():
                if tag in ("replace", "insert") or (tag == "equal" and _stub_like(ours[j1:j2])):
                    lines.update(range(first + j1, first + j2))
        else:
            lines.update(range(first, first + len(body)))
    return lines


def _stub_like(block: list[str]) -> bool:
    """True if lines the skeleton shares with the solution are too slight to be given code: a
    stub's `return -1;` matches the solution's by chance. Given code is two real lines or more,
    or one long line."""
    real = [l for l in block if l not in ("", "{", "}", "};")]
    return len(real) < 2 and not any(len(l) >= 30 for l in real)


# ---- the mutation operators --------------------------------------------------------------
def _is_binary(toks: list[Token], i: int) -> bool:
    """True if the + - * at toks[i] is a binary operator, not a sign, a dereference or a declarator."""
    if i == 0:
        return False
    prev = toks[i - 1]
    if prev.kind == "punct":
        return prev.text in (")", "]")
    if prev.kind == "id":
        if prev.text in KEYWORDS or prev.text.endswith("_t"):
            return False
        if i >= 2 and toks[i - 2].text in ("struct", "union", "enum"):
            return False
        if toks[i].text == "*" and prev.text[:1].isupper() and i + 1 < len(toks) and toks[i + 1].kind == "id":
            return False  # `Type *name`: a typedef'd pointer declaration
    return prev.kind in _OPERAND_END


def _statement_starts(toks: list[Token], body: int, last: int) -> list[int]:
    """Indices of the tokens that begin a statement inside a function body toks[body..last]."""
    starts = []
    depth = 0  # parentheses
    in_label = False
    for i in range(body + 1, last):
        t = toks[i]
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
        if depth:
            continue
        prev = toks[i - 1].text
        if prev in _STMT_BEFORE or prev in ("else", "do") or (prev == ":" and in_label):
            starts.append(i)
            in_label = False
        elif prev == ")" and _closes_header(toks, i - 1):
            starts.append(i)
        if t.text in ("case", "default"):
            in_label = True
        if t.kind == "id" and i + 1 < last and toks[i + 1].text == ":" and prev in _STMT_BEFORE:
            in_label = True  # a goto label
    return starts


def _closes_header(toks: list[Token], i: int) -> bool:
    """True if the ")" at toks[i] closes the header of an if, while, for or switch."""
    depth = 0
    for k in range(i, -1, -1):
        if toks[k].text == ")":
            depth += 1
        elif toks[k].text == "(":
            depth -= 1
            if depth == 0:
                return k > 0 and toks[k - 1].text in ("if", "while", "for", "switch")
    return False


def _simple_statement(toks: list[Token], i: int, last: int) -> int | None:
    """The index of the ";" ending a deletable simple statement that starts at toks[i], or None.

    Deletable: an expression statement, a return, break or continue. Not a declaration,
    a compound or control statement, a label, or a `(void)x;` that only silences a warning.
    """
    t0 = toks[i]
    t1 = toks[i + 1] if i + 1 < last else None
    if t0.kind == "id":
        if t0.text in ("return", "break", "continue"):
            pass
        elif t0.text in KEYWORDS or t0.text.endswith("_t"):
            return None
        elif t1 is None or t1.kind == "id" or t1.text == ":":
            return None  # `type name` (a declaration) or a label
        elif t1.text == "*" and i + 3 < last and toks[i + 2].kind == "id" and toks[i + 3].text in "=;[,)":
            return None  # `Type *name = ...`
    elif t0.text == "(":
        if t1 is not None and t1.text == "void":
            return None
    elif t0.text not in ("*", "++", "--"):
        return None
    depth = 0
    for k in range(i, last):
        t = toks[k].text
        if t in ("(", "["):
            depth += 1
        elif t in (")", "]"):
            depth -= 1
        elif t == "{":
            return None
        elif t == ";" and depth == 0:
            return k
    return None


def _const_variants(text: str) -> list[str]:
    m = re.fullmatch(r"(0[xX][0-9a-fA-F]+|\d+)([uUlL]*)", text)
    if not m:
        return []  # floating point, or something odd: leave it
    digits, suffix = m.groups()
    value = int(digits, 0) if not (len(digits) > 1 and digits[0] == "0" and digits[1] not in "xX") else int(digits, 8)
    out = []
    for v in (value + 1, value - 1):
        if v < 0:
            out.append("(-1)")  # never "-1u": keep it a plain int
        elif digits.lower().startswith("0x"):
            out.append(f"{v:#x}{suffix}")
        else:
            out.append(f"{v}{suffix}")
    return out


def mutants_of(file: str, text: str, mutable: set[int] | None = None) -> list[Mutant]:
    """Every mutant of C source `text` on the lines in `mutable` (None: every line in a function)."""
    toks = csource.tokenize(text)
    out: list[Mutant] = []
    src_lines = text.splitlines()

    def add(line: int, op: str, start: int, end: int, new: str) -> None:
        if mutable is not None and line not in mutable:
            return
        out.append(Mutant(file, line, op, text[start:end], new, start, end,
                          " ".join(src_lines[line - 1].split()) if line - 1 < len(src_lines) else ""))

    for f in csource.functions(text, toks):
        for i in range(f.body + 1, f.last):
            t = toks[i]
            # relational and logical operators
            if t.kind == "punct" and t.text in REL_SWAPS:
                add(t.line, "rel", t.start, t.end, REL_SWAPS[t.text])
            # arithmetic
            if t.kind == "punct" and t.text in ARITH_SWAPS:
                if t.text in ("+", "-", "*", "/", "%"):
                    if t.text in ("/", "%") or _is_binary(toks, i):
                        add(t.line, "arith", t.start, t.end, ARITH_SWAPS[t.text])
                else:
                    add(t.line, "arith", t.start, t.end, ARITH_SWAPS[t.text])
            # constants
            if t.kind == "num" and not (i > 0 and toks[i - 1].text in ("[",) and toks[i + 1].text == "]"
                                        and _in_declaration(toks, i)):
                for new in _const_variants(t.text):
                    add(t.line, "const", t.start, t.end, new)
            # negated conditions
            if t.kind == "id" and t.text in ("if", "while") and toks[i + 1].text == "(":
                close = csource.matching(toks, i + 1)
                if close < f.last:
                    a, b = toks[i + 2].start, toks[close - 1].end
                    add(t.line, "negate", a, b, f"!({text[a:b]})")
            if t.kind == "id" and t.text == "for" and toks[i + 1].text == "(":
                close = csource.matching(toks, i + 1)
                semis = [k for k in range(i + 2, close) if toks[k].text == ";"]
                if len(semis) == 2 and semis[1] > semis[0] + 1:
                    a, b = toks[semis[0] + 1].start, toks[semis[1] - 1].end
                    add(t.line, "negate", a, b, f"!({text[a:b]})")
            # a call's result ignored, where it is used
            if t.kind == "id" and t.text not in _NOT_CALLS and i + 1 < f.last and toks[i + 1].text == "(":
                close = csource.matching(toks, i + 1)
                if close >= f.last:
                    continue
                before = toks[i - 1].text
                after = toks[close + 1].text if close + 1 < f.last else ""
                if before in (".", "->"):
                    continue
                used = (after in _COMPARE or before == "!" or (before == "=" and after == ";")
                        or (before == "(" and after == ")" and toks[i - 2].text in ("if", "while")))
                if used:
                    add(t.line, "ignore", t.start, toks[close].end, f"((void){text[t.start:toks[close].end]}, 0)")
        # deleted statements
        for i in _statement_starts(toks, f.body, f.last):
            semi = _simple_statement(toks, i, f.last)
            if semi is not None and not (toks[i].text == "return" and semi + 1 == f.last):
                # (the last return of a function: without it, -Werror=return-type says so)
                add(toks[i].line, "delete", toks[i].start, toks[semi].end, "{}")
    out.sort(key=lambda m: (m.file, m.start, m.op, m.new))
    return out


def _in_declaration(toks: list[Token], i: int) -> bool:
    """True if the array size toks[i] (between [ and ]) belongs to a declaration."""
    k = i - 2
    return k >= 0 and toks[k].kind == "id" and k >= 1 and (toks[k - 1].kind == "id" or toks[k - 1].text == "*")


def lab_mutants(lab: paths.Lab) -> list[Mutant]:
    """Every mutant of the lab's reference solution, in student code only, in a stable order."""
    found: list[Mutant] = []
    for path in sorted(lab.solution.glob("*.c")):
        text = path.read_text()
        skel_path = lab.skeleton / path.name
        skeleton = skel_path.read_text() if skel_path.is_file() else None
        found += mutants_of(path.name, text, student_lines(text, skeleton))
    for n, m in enumerate(found, 1):
        m.id = f"m{n:04d}"
    return found


def sample(mutants: list[Mutant], n: int | None, seed: int) -> list[Mutant]:
    """`n` of the mutants, chosen with `seed` (all of them when n is None or too large)."""
    if n is None or n >= len(mutants):
        return list(mutants)
    picked = random.Random(seed).sample(range(len(mutants)), n)
    return [mutants[i] for i in sorted(picked)]


# ---- known equivalents -------------------------------------------------------------------
@dataclass
class Equivalent:
    file: str
    line: str
    change: str
    reason: str
    lineno: int | None = None  # FILE:N in equivalent.txt: only the occurrence at line N


def load_equivalents(lab: paths.Lab) -> list[Equivalent]:
    """solutions/NN-*/mutants/equivalent.txt: `FILE | LINE | CHANGE | REASON` per line, # comments."""
    path = lab.solution / "mutants" / "equivalent.txt"
    if not path.is_file():
        return []
    found = []
    for raw in path.read_text().splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in raw.split(" | ")]
        if len(parts) != 4:
            raise SystemExit(f"mutate: {path}: expected FILE | LINE | CHANGE | REASON, got: {raw}")
        name, _, num = parts[0].partition(":")
        if num and not num.isdigit():
            raise SystemExit(f"mutate: {path}: FILE or FILE:LINENO, got: {parts[0]}")
        found.append(Equivalent(name, " ".join(parts[1].split()), parts[2], parts[3], int(num) if num else None))
    return found


def equivalent_reason(m: Mutant, known: list[Equivalent]) -> str | None:
    for e in known:
        if (e.file == m.file and e.line == m.source_line and e.change == m.change
                and (e.lineno is None or e.lineno == m.line)):
            return e.reason
    return None


# ---- grading ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    status: str          # "survived", "killed", "compiler", "timeout", "error", "equivalent"
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)
    note: str = ""


def grade_tree(src: Path, out: Path, lab: paths.Lab, timeout: float) -> Outcome:
    """Grade the sources in `src` with the kit's grader (sandboxed); the outcome in brief."""
    started = time.monotonic()
    cmd = [sys.executable, "-m", "harness.grade", "--lab", lab.id, "--impl", str(src), "--out", str(out),
           "--jobs", "1", "--quiet", "--timeout", str(timeout)]
    log = out.parent / "grade.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    rc = procs.run_bounded(cmd, timeout + 60, log=log, cwd=paths.KIT).rc
    seconds = time.monotonic() - started
    build_log = out / "build.log"
    spec = runspec.load(out / runspec.NAME)  # the grading run's settings and build report
    if spec is not None and spec.build_ok is False and build_log.is_file():
        return Outcome("compiler", seconds=seconds, note=_first_error(build_log.read_text()))
    try:
        data = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return Outcome("error", seconds=seconds, note=f"no results.json (grader exit {rc})")
    tests = data.get("tests", [])
    score = sum(t["score"] for t in tests)
    top = sum(t["max_score"] for t in tests)
    failed = [t["name"] for t in tests if t["score"] < t["max_score"]]
    if top == 0:
        return Outcome("error", seconds=seconds, note=f"no test ran (grader exit {rc}): see {log}")
    if rc is None or "stopped after" in data.get("output", ""):
        return Outcome("timeout", score, top, seconds, failed, "the grading run hit its time bound")
    status = "survived" if top > 0 and score == top else "killed"
    return Outcome(status, score, top, seconds, failed)


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if "error:" in line:
            return re.sub(r"^\S*/", "", line.strip())[:200]  # without the sandbox's folder
    return ""


def run_one(m: Mutant, lab: paths.Lab, work: Path, timeout: float, keep: bool) -> Outcome:
    where = work / m.id
    shutil.rmtree(where, ignore_errors=True)
    src = where / "src"
    shutil.copytree(lab.solution, src, ignore=shutil.ignore_patterns("mutants", "variants", "build"))
    target = src / m.file
    target.write_text(m.apply(target.read_text()))
    try:
        return grade_tree(src, where / "grade", lab, timeout)
    finally:
        if not keep:
            shutil.rmtree(where, ignore_errors=True)


def patch_text(lab: paths.Lab, m: Mutant, outcome: Outcome) -> str:
    """The mutant as a bug-zoo patch (header, then a unified diff against the solution)."""
    before = (lab.solution / m.file).read_text()
    after = m.apply(before)
    diff = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        f"a/{m.file}", f"b/{m.file}"))
    return (f"Mutant: {m.change} at {m.file}:{m.line} (make mutate {m.id}, survived with "
            f"{outcome.score:g}/{outcome.max_score:g})\nCatches: \nSpec: \nLesson: \n\n{diff}")


# ---- the report -----------------------------------------------------------------------------
def write_report(lab: paths.Lab, out: Path, results: list[tuple[Mutant, Outcome]], total: int,
                 args: argparse.Namespace, seconds: float) -> dict:
    counts = {s: sum(1 for _, o in results if o.status == s)
              for s in ("survived", "killed", "compiler", "timeout", "error", "equivalent")}
    judged = counts["survived"] + counts["killed"] + counts["timeout"]
    rate = counts["survived"] / judged if judged else 0.0
    summary = {"lab": lab.id, "version": _tree_version(), "mutants_in_student_code": total, "graded": len(results),
               "sample": args.n, "seed": args.seed, "seconds": round(seconds, 1), **counts,
               "survivor_rate": round(rate, 4)}
    (out / "survivors").mkdir(exist_ok=True)
    for old in (out / "survivors").glob("*.patch"):
        old.unlink()
    for m, o in results:
        if o.status == "survived":
            (out / "survivors" / f"{m.id}.patch").write_text(patch_text(lab, m, o))
    (out / "report.json").write_text(json.dumps(
        {"summary": summary,
         "mutants": [{**{k: v for k, v in asdict(m).items() if k not in ("start", "end")},
                      "change": m.change, **asdict(o)} for m, o in results]}, indent=1))

    def rows(status: str, extra) -> list[str]:
        return [f"| {m.file}:{m.line} | `{m.change}` | `{_short(m.source_line, 70)}` | {extra(m, o)} |"
                for m, o in results if o.status == status]

    md = [f"# Mutation sweep of Lab {lab.id} ({lab.title})", "",
          f"Generated by `make mutate LAB={lab.id}"
          + (f" N={args.n}" if args.n else "") + f"` (seed {args.seed}) in {seconds:.0f} s"
          + f", on {_tree_version()}.", "",
          f"- mutants in student code: {total}; graded: {len(results)}",
          f"- killed by a test: {counts['killed']}; by the time bound: {counts['timeout']}",
          f"- killed by the compiler: {counts['compiler']}",
          f"- equivalent (listed in mutants/equivalent.txt): {counts['equivalent']}",
          f"- **survived: {counts['survived']}**; survivor rate "
          f"{counts['survived']}/{judged} = **{rate:.0%}** (of the mutants that build and are not equivalent)"]
    if counts["error"]:
        md.append(f"- not graded (a grader error): {counts['error']}")
    md += ["", "## Survivors", "",
           "Each one scored full marks. Write the test that fails it (or add it to the bug zoo, or list",
           f"it as equivalent). Its patch is in out/mutate-{lab.id}/survivors/ID.patch.", "",
           "| where | change | line | score (id) |", "| --- | --- | --- | --- |",
           *rows("survived", lambda m, o: f"{o.score:g}/{o.max_score:g} ({m.id})")]
    md += ["", "## Killed by the compiler", "", "| where | change | line | error |", "| --- | --- | --- | --- |",
           *rows("compiler", lambda m, o: _short(o.note, 80).replace("|", "\\|"))]
    md += ["", "## Equivalent", "", "| where | change | line | reason |", "| --- | --- | --- | --- |",
           *rows("equivalent", lambda m, o: o.note)]
    md += ["", "## Killed", "", "| where | change | line | score, first failed test |", "| --- | --- | --- | --- |",
           *rows("killed", lambda m, o: f"{o.score:g}/{o.max_score:g}, {o.failed[0] if o.failed else ''}"),
           *rows("timeout", lambda m, o: f"{o.score:g}/{o.max_score:g}, time bound")]
    if counts["error"]:
        md += ["", "## Not graded", "", "| where | change | line | why |", "| --- | --- | --- | --- |",
               *rows("error", lambda m, o: o.note)]
    (out / "report.md").write_text("\n".join(md) + "\n")
    return summary


def _tree_version() -> str:
    """Which version of the solution and tests was swept: the git commit, when there is one."""
    try:
        r = procs.run_bounded(["git", "-C", str(paths.KIT), "describe", "--always", "--dirty"], 10, capture=True)
    except OSError:
        return "this copy of the kit"
    version = r.out.decode(errors="replace").strip()
    return f"commit {version}" if r.rc == 0 and version else "this copy of the kit"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.mutate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--lab", required=True, help="lab id, for example 01")
    ap.add_argument("-n", type=int, default=None, help="grade a seeded sample of N mutants (default: all)")
    ap.add_argument("--seed", type=int, default=1, help="the sample's seed (default 1)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="mutants graded at once (default 2)")
    ap.add_argument("--out", help="output folder (default out/mutate-NN)")
    ap.add_argument("--timeout", type=float, default=240, help="bound on one mutant's grading run, s (default 240)")
    ap.add_argument("--op", action="append", choices=OPERATORS, help="only these operators (repeatable)")
    ap.add_argument("--only", action="append", metavar="ID", help="only the mutant with this id (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the mutants (after sampling) and stop")
    ap.add_argument("--keep", action="store_true", help="keep each mutant's sources and grading output")
    args = ap.parse_args(argv)
    try:
        lab = paths.find_lab(args.lab)
    except KeyError as e:
        print(f"mutate: {e.args[0]}", file=sys.stderr)
        return 2
    if not lab.solution.is_dir():
        print(f"mutate: no reference solution in {lab.solution}", file=sys.stderr)
        return 2
    everything = [m for m in lab_mutants(lab) if not args.op or m.op in args.op]
    chosen = sample([m for m in everything if not args.only or m.id in args.only], args.n, args.seed)
    if args.list:
        for m in chosen:
            print(f"{m.id} {m.file}:{m.line} {m.change}")
        print(f"{len(chosen)} of {len(everything)} mutants")
        return 0
    out = Path(args.out or paths.KIT / "out" / f"mutate-{lab.id}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    known = load_equivalents(lab)
    started = time.monotonic()
    print(f"mutate: lab {lab.id}: {len(chosen)} of {len(everything)} mutants, {args.jobs} at a time", flush=True)
    # The unmutated solution must score full marks, or every mutant would look killed.
    base = grade_tree(lab.solution, work / "baseline" / "grade", lab, args.timeout)
    if base.status != "survived":
        print(f"mutate: the reference solution itself scores {base.score:g}/{base.max_score:g} "
              f"({base.status}: {base.note or ', '.join(base.failed)}); fix that first", file=sys.stderr)
        return 1
    results: list[tuple[Mutant, Outcome]] = []
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {pool.submit(run_one, m, lab, work, args.timeout, args.keep): m for m in chosen}
        for n, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            m = futures[fut]
            try:
                o = fut.result()
            except Exception as e:  # one broken mutant must not lose the sweep
                o = Outcome("error", note=f"{type(e).__name__}: {e}")
            reason = equivalent_reason(m, known)
            if reason is not None:
                if o.status == "survived":
                    o = Outcome("equivalent", o.score, o.max_score, o.seconds, note=reason)
                else:
                    o.note = (o.note + "; " if o.note else "") + "listed as equivalent, yet not a survivor"
            results.append((m, o))
            print(f"  [{n}/{len(chosen)}] {m.id} {m.file}:{m.line} {m.change}: {o.status} "
                  f"{o.score:g}/{o.max_score:g} ({o.seconds:.0f} s)", flush=True)
    results.sort(key=lambda r: r[0].id)
    summary = write_report(lab, out, results, len(everything), args, time.monotonic() - started)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"mutate: {summary['survived']} survivors, rate {summary['survivor_rate']:.0%}; "
          f"report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
