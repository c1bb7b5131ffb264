"""A small C tokenizer and function finder, for the kit's own tools (make mutate, the layout self-test).

Not a C parser: it knows enough to skip comments, string and character literals and
preprocessor lines, to match brackets, and to find top-level function definitions
(`type name(...) {` ... the matching `}`). The lab sources are plain C11, which is all it
has to read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: Punctuators, longest first, so that `<<=` is one token and `->` is never `-` then `>`.
PUNCTUATORS = sorted(
    "... <<= >>= -> ++ -- << >> <= >= == != && || += -= *= /= %= &= |= ^= ## "
    "[ ] ( ) { } . & * + - ~ ! / % < > ^ | ? : ; = , #".split(), key=len, reverse=True)

KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic "
    "_Generic _Noreturn _Static_assert _Thread_local".split())
TYPE_KEYWORDS = frozenset(
    "char const double enum float int long short signed static struct union unsigned void volatile "
    "extern register restrict inline _Bool _Atomic".split())

_NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)[uUlLfF]*")
_IDENT = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Token:
    kind: str   # "id", "num", "str", "chr", "punct"
    text: str
    start: int  # offset in the source text
    end: int
    line: int   # 1-based


def tokenize(text: str) -> list[Token]:
    """The tokens of C source `text`, without comments and preprocessor lines."""
    toks: list[Token] = []
    i, n, line = 0, len(text), 1
    at_line_start = True
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            at_line_start = True
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            line += text.count("\n", i, j)
            i = j
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "#" and at_line_start:
            # A preprocessor line, with its backslash continuations: never code to mutate.
            j = i
            while True:
                k = text.find("\n", j)
                if k < 0:
                    j = n
                    break
                if text[k - 1] == "\\":
                    j = k + 1
                    continue
                j = k
                break
            line += text.count("\n", i, j)
            i = j
            continue
        at_line_start = False
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            toks.append(Token("str" if c == '"' else "chr", text[i:j], i, j, line))
            line += text.count("\n", i, j)
            i = j
            continue
        m = _IDENT.match(text, i)
        if m:
            toks.append(Token("id", m.group(), i, m.end(), line))
            i = m.end()
            continue
        m = _NUMBER.match(text, i)
        if m and (c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit())):
            toks.append(Token("num", m.group(), i, m.end(), line))
            i = m.end()
            continue
        for p in PUNCTUATORS:
            if text.startswith(p, i):
                toks.append(Token("punct", p, i, i + len(p), line))
                i += len(p)
                break
        else:
            toks.append(Token("punct", c, i, i + 1, line))  # a stray character: keep going
            i += 1
    return toks


def matching(toks: list[Token], i: int) -> int:
    """The index of the bracket that closes toks[i] (one of ( [ {); len(toks) if unbalanced."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    open_, close = toks[i].text, pairs[toks[i].text]
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j].text
        if toks[j].kind != "punct":
            continue
        if t == open_:
            depth += 1
        elif t == close:
            depth -= 1
            if depth == 0:
                return j
    return len(toks)


@dataclass(frozen=True)
class Function:
    """A top-level function definition: `name`, the token range of its whole definition
    (first = the first token of its declaration, body = its `{`, last = its `}`) and the text."""

    name: str
    first: int
    body: int
    last: int
    start: int      # offsets in the source text
    end: int
    text: str       # the definition, from its first token to its closing brace


def functions(text: str, toks: list[Token] | None = None) -> list[Function]:
    """The top-level function definitions of C source `text`, in order."""
    toks = tokenize(text) if toks is None else toks
    found: list[Function] = []
    first = 0
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "punct" and t.text in ("(", "["):
            i = matching(toks, i) + 1
            continue
        if t.kind == "punct" and t.text == ";":
            first = i + 1
        elif t.kind == "punct" and t.text == "{":
            close = matching(toks, i)
            if i > 0 and toks[i - 1].text == ")":
                # name(...) {: find the name before the parameter list's "(".
                depth, k = 0, i - 1
                while k >= 0:
                    if toks[k].text == ")":
                        depth += 1
                    elif toks[k].text == "(":
                        depth -= 1
                        if depth == 0:
                            break
                    k -= 1
                if k > 0 and toks[k - 1].kind == "id":
                    end = toks[min(close, len(toks) - 1)].end
                    found.append(Function(toks[k - 1].text, first, i, close, toks[first].start, end,
                                          text[toks[first].start:end]))
            i = close + 1
            first = i
            continue
        i += 1
    return found
