"""make mutate's generator (harness/mutate.py, harness/csource.py), on small C snippets: fast,
no grading. The sweep itself is a tool for the kit's authors and is not run here."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from harness import csource, mutate, paths

SNIPPET = r'''#include <stdio.h>
#define LIMIT 10 /* a < b in a macro is never mutated */

struct pair { int a, b; };
static const char *names[] = { "x < y", "a - b" };

/* Given code: identical in the skeleton. if (a < b) return 1; */
static int given(int a, int b)
{
    return a < b ? a + b : a - b;
}

int student(int n, const char *s)
{
    int total = 0;
    size_t *p = NULL;

    (void)p;
    for (int i = 0; i < n; i++) {
        if (s[i] == '<')   /* a comment: x > y */
            continue;
        total += i * 2;
    }
    while (total > LIMIT)
        total -= 3;
    if (puts("done < here") < 0)
        return -1;
    return total;
}
'''

# The skeleton: the same given code, and a stub where the student writes.
SKELETON = SNIPPET[:SNIPPET.index("int student(")] + r'''int student(int n, const char *s)
{
    /* TODO(student): add things up (handout §1). */
    (void)n; (void)s;
    return -1;
}
'''


def test_tokenizer_skips_comments_strings_and_preprocessor():
    toks = csource.tokenize(SNIPPET)
    texts = [t.text for t in toks]
    assert "LIMIT" in texts and "include" not in texts  # LIMIT is used in code; #include is not code
    assert '"x < y"' in texts and "'<'" in texts
    assert not any("comment" in t or "macro" in t for t in texts)
    assert "->" not in texts and "+=" in texts and "++" in texts
    line_of = {t.text: t.line for t in toks}
    assert line_of["student"] == SNIPPET.splitlines().index("int student(int n, const char *s)") + 1


def test_functions_are_found_with_their_text():
    fs = csource.functions(SNIPPET)
    assert [f.name for f in fs] == ["given", "student"]
    assert fs[0].text.startswith("static int given(int a, int b)\n{") and fs[0].text.endswith("}")
    assert fs[1].text.endswith("return total;\n}")


def test_only_student_code_is_mutated():
    lines = mutate.student_lines(SNIPPET, SKELETON)
    given = csource.functions(SNIPPET)[0]
    first = SNIPPET.count("\n", 0, given.start) + 1
    assert not lines & set(range(first, first + given.text.count("\n") + 1))
    ms = mutate.mutants_of("s.c", SNIPPET, lines)
    assert ms and all(m.line in lines for m in ms)
    src = SNIPPET.splitlines()
    for m in ms:
        assert m.old != m.new
        assert "comment" not in m.old and '"' not in m.old.replace('"done < here"', ""), m
        assert not src[m.line - 1].lstrip().startswith("#"), m
    # Without a skeleton, every function is the student's.
    assert {m.line for m in mutate.mutants_of("s.c", SNIPPET)} > {m.line for m in ms}


def test_every_operator_is_generated():
    ms = mutate.mutants_of("s.c", SNIPPET, mutate.student_lines(SNIPPET, SKELETON))
    got = {(m.op, m.old, m.new) for m in ms}
    for want in [("rel", "<", "<="), ("rel", "==", "!="), ("rel", ">", ">="), ("arith", "*", "/"),
                 ("arith", "+=", "-="), ("arith", "-=", "+="), ("arith", "++", "--"),
                 ("const", "2", "3"), ("const", "2", "1"), ("const", "0", "1"), ("const", "0", "(-1)"),
                 ("negate", "s[i] == '<'", "!(s[i] == '<')"), ("negate", "i < n", "!(i < n)"),
                 ("negate", "total > LIMIT", "!(total > LIMIT)"),
                 ("delete", "continue;", "{}"), ("delete", "total += i * 2;", "{}"),
                 ("delete", "total -= 3;", "{}"), ("delete", "return -1;", "{}"),
                 ("ignore", 'puts("done < here")', '((void)puts("done < here"), 0)')]:
        assert want in got, f"missing {want}; got {sorted(got)}"
    # Never: a declaration deleted, `(void)p;` deleted, a pointer declarator or a sign swapped,
    # the last return deleted (the compiler would reject it anyway).
    assert not any(m.op == "delete" and m.old.startswith(("int total", "size_t", "(void)", "return total"))
                   for m in ms)
    assert not any(m.op == "arith" and m.old == "*" and "size_t" in m.source_line for m in ms)
    assert not any(m.op == "arith" and m.old == "-" and "return -1" in m.source_line for m in ms)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_mutants_are_still_c(tmp_path):
    """Each mutant of the snippet is valid C (syntax): the changes are well-formed."""
    bad = []
    for m in mutate.mutants_of("s.c", SNIPPET, mutate.student_lines(SNIPPET, SKELETON)):
        f = tmp_path / "m.c"
        f.write_text(m.apply(SNIPPET))
        r = subprocess.run(["cc", "-std=c11", "-fsyntax-only", "-w", str(f)], stderr=subprocess.PIPE, timeout=30)
        if r.returncode:
            bad.append(f"{m.change}: {r.stderr.decode()[:300]}")
    assert not bad, "\n".join(bad)


def test_sample_is_seeded_and_equivalents_match(tmp_path):
    ms = mutate.mutants_of("s.c", SNIPPET)
    a, b = mutate.sample(ms, 5, 7), mutate.sample(ms, 5, 7)
    assert [m.start for m in a] == [m.start for m in b] and len(a) == 5
    assert mutate.sample(ms, None, 1) == ms
    m = next(m for m in ms if m.op == "rel" and m.old == ">")
    known = [mutate.Equivalent("s.c", m.source_line, m.change, "no difference")]
    assert mutate.equivalent_reason(m, known) == "no difference"
    assert mutate.equivalent_reason(next(x for x in ms if x is not m), known) is None


@pytest.mark.parametrize("lab", [l for l in paths.all_labs() if l.solution.is_dir()], ids=lambda l: l.id)
def test_each_lab_has_mutants_in_student_code(lab):
    ms = mutate.lab_mutants(lab)
    assert len(ms) >= 50, f"lab {lab.id}: only {len(ms)} mutants in student code"
    assert len({m.id for m in ms}) == len(ms)
    # Each entry of mutants/equivalent.txt names exactly one of them (make mutate refuses others).
    assert not mutate.ambiguous_equivalents(mutate.load_equivalents(lab), ms)


def test_equivalent_entries_name_one_mutant():
    """`return -1;` deleted twice in one function: the function and #K tell them apart."""
    src = "int f(int a)\n{\n    if (a)\n        return -1;\n    if (a > 2)\n        return -1;\n    return 0;\n}\n"
    ms = mutate.mutants_of("s.c", src)
    for m in ms:
        m.function = "f"
    dels = [m for m in ms if m.op == "delete" and m.source_line == "return -1;"]
    assert len(dels) == 2
    dels[0].occurrence, dels[1].occurrence = 1, 2
    loose = [mutate.Equivalent("s.c", "return -1;", dels[0].change, "x")]
    assert "matches 2 mutants" in mutate.ambiguous_equivalents(loose, ms)[0]
    exact = [mutate.Equivalent("s.c:f#2", "return -1;", dels[0].change, "x")]
    assert not mutate.ambiguous_equivalents(exact, ms)
    assert mutate.equivalent_reason(dels[1], exact) == "x" and mutate.equivalent_reason(dels[0], exact) is None
