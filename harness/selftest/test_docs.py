"""The documentation is true: it builds, it is complete, and its examples do what it says.

- `make docs` and `make docs-instructor` build with Doxygen without a single warning; every
  handout and every concept page is a page; the student site holds no solution, the
  instructor site holds the solutions and every mutant of the bug zoo. Each handout is the
  page labNN.html with a table of contents.
- `make docs` fails on markup that leaked into the pages (harness/docscheck.py): fed a page with
  one of each fault (raw \\ilinebr, literal **, <tt> in a heading, \\| in code, an image outside
  html/, a repeated project name in a title), it fails and names each one.
- Every function in the labs' headers (skeletons and labs/common) has @brief, @param for
  each parameter, @return unless it returns void, and @see.
- Every command and file name that a handout (or the README, or a docs page) gives exists:
  programs on PATH or built by the lab, make targets, files of the kit. A page that shows a
  tool the kit does not install names it in a comment: <!-- optional tools: tshark -->.
- Every example of the error catalog (docs/errors.md) and of the WebSocket page produces the
  output the page shows, error line and exit status included; tcp_states shows every state;
  ws_accept computes RFC 6455's value, and agrees with Python's hashlib on other keys.
"""
from __future__ import annotations

import base64
import errno
import functools
import hashlib
import html
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import paths

KIT = paths.KIT
DOCS = KIT / "docs"
EXAMPLES = DOCS / "examples"
HANDOUTS = sorted(KIT.glob("labs/[0-9][0-9]-*/README.md"))
LAB_PAGES = sorted(KIT.glob("labs/[0-9][0-9]-*/*.md"))
DOC_PAGES = sorted(DOCS.glob("*.md"))
CHECKED_PAGES = [p for p in [KIT / "README.md", *LAB_PAGES, *DOC_PAGES] if p.exists()]
HEADERS = sorted([*KIT.glob("labs/[0-9][0-9]-*/*.h"), *KIT.glob("labs/common/*.h")])


def rel(path: Path) -> str:
    return str(path.relative_to(KIT)) if path.is_relative_to(KIT) else str(path)


def run(cmd, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run cmd in its own session (so a timeout kills all of it), capturing text output."""
    kwargs.setdefault("cwd", KIT)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                          stdin=subprocess.DEVNULL, **kwargs) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            pytest.fail(f"{cmd} took more than {timeout} s:\n{out.decode()[-2000:]}{err.decode()[-2000:]}",
                        pytrace=False)
    return subprocess.CompletedProcess(cmd, p.returncode, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


def page_title(md: Path) -> str:
    """The first heading of a markdown page, without its {#label}."""
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return re.sub(r"\s*\{#[\w-]+\}\s*$", "", line[2:]).strip()
    return md.stem


def html_titles(site: Path) -> set[str]:
    titles = set()
    for f in site.glob("*.html"):
        m = re.search(r"<title>socklab: (.*?)</title>", f.read_text(encoding="utf-8", errors="replace"))
        if m:
            titles.add(html.unescape(m.group(1)).strip())
    return titles


def warnings_of(r: subprocess.CompletedProcess) -> str:
    return "\n".join(line for line in (r.stdout + r.stderr).splitlines()
                     if re.search(r"(warning|error):", line))


# ---- the sites ---------------------------------------------------------------------------
@pytest.mark.timeout(180)
def test_student_site_builds_without_warnings(tmp_path):
    t0 = time.monotonic()
    r = run(["make", "--no-print-directory", "docs", f"DOCS_OUT={tmp_path}"], timeout=150)
    seconds = time.monotonic() - t0
    assert r.returncode == 0 and not warnings_of(r), (
        f"`make docs` failed or warned (exit {r.returncode}); a warning is an error:\n"
        f"{warnings_of(r) or (r.stdout + r.stderr)[-3000:]}")
    site = tmp_path / "html"
    titles = html_titles(site)
    missing = [f"{rel(p)} ({page_title(p)!r})" for p in [*LAB_PAGES, *DOC_PAGES] if page_title(p) not in titles]
    assert not missing, f"these pages are not in the site: {missing}"
    assert "socklab" in (site / "index.html").read_text() and (KIT / "README.md").exists(), "no main page"
    leaked = sorted(p.name for p in site.glob("*solutions*"))
    assert not leaked, f"the student site shows solution files: {leaked}"
    for dot in sorted((DOCS / "diagrams").glob("*.dot")):
        assert (site / f"dot_{dot.stem}.svg").exists(), f"the diagram {rel(dot)} was not drawn"
    # Each handout is a page of its own name (its {#labNN} label), with a table of contents
    # (docs/md-filter adds [TOC]); make docs has run harness/docscheck.py on every page.
    for handout in HANDOUTS:
        lab_id = handout.parent.name[:2]
        page = site / f"lab{lab_id}.html"
        assert page.is_file(), f"{rel(handout)} has no {{#lab{lab_id}}} label: its page is not lab{lab_id}.html"
        assert 'class="toc"' in page.read_text(encoding="utf-8"), f"{page.name} has no table of contents"
    assert "docscheck" in r.stdout + r.stderr, "make docs did not run harness/docscheck.py"
    print(f"make docs: {seconds:.1f} s")


@pytest.mark.timeout(180)
@pytest.mark.skipif(not (KIT / "solutions").is_dir(), reason="a student handout has no solutions/")
def test_instructor_site_builds_without_warnings(tmp_path):
    r = run(["make", "--no-print-directory", "docs-instructor", f"DOCS_OUT={tmp_path}"], timeout=150)
    assert r.returncode == 0 and not warnings_of(r), (
        f"`make docs-instructor` failed or warned (exit {r.returncode}); a warning is an error:\n"
        f"{warnings_of(r) or (r.stdout + r.stderr)[-3000:]}")
    site = tmp_path / "html-instructor"
    zoo = (site / "bugzoo.html").read_text(encoding="utf-8")
    mutants = sorted(KIT.glob("solutions/*/mutants/*.patch"))
    absent = [rel(p) for p in mutants if f"{p.stem}: " not in html.unescape(re.sub(r"<[^>]+>", "", zoo))]
    assert not absent, f"the bug zoo page misses these mutants: {absent}"
    files = (site / "files.html").read_text(encoding="utf-8")
    for lab in sorted(KIT.glob("solutions/[0-9][0-9]-*")):
        assert lab.name in files, f"the instructor site does not show {rel(lab)}"


# ---- leaked markup: harness/docscheck.py ---------------------------------------------------
#: Markdown that doxygen 1.9.4 renders wrongly without a warning, one of each fault that
#: `make docs` must catch (with the words docscheck uses for it).
FAULTY_PAGE = """# Faults for the docs check {#zzfaults}

1. **`getaddrinfo()`** with bold around code.

## 9.1 `udp_client` in a heading

| offset | value |
| ------ | ----- |
| 0      | `0x53` (`'S'`) |
| 1      | `0x4c` (`'L'`) |

| symptom | look at |
| ------- | ------- |
| many fds | `ls /proc/PID/fd \\| wc -l` |

![an image outside the site](../elsewhere/picture.png)
"""
FAULTS = {
    "ilinebr": "raw \\ilinebr",
    "bold": "literal ** in the text",
    "heading": "markup shown as text in a title or heading",
    "pipe": "backslash-escaped pipe inside code",
    "image": "points outside html/",
    "title": "the title repeats the project's name",
}


def kit_copy(dest: Path) -> Path:
    """What `make docs` reads, copied: the Makefile, README, docs, labs and the harness."""
    skip = shutil.ignore_patterns("build", "out", "html", "html-instructor", "__pycache__", "*.o")
    dest.mkdir()
    for name in ("Makefile", "README.md"):
        shutil.copy2(KIT / name, dest / name)
    for d in ("docs", "labs", "harness"):
        shutil.copytree(KIT / d, dest / d, ignore=skip, symlinks=True)
    return dest


@pytest.mark.timeout(180)
def test_make_docs_fails_on_leaked_markup(tmp_path):
    """`make docs` fails on each rendering fault (fed one of each, with no doxygen warning), and
    names it; the kit's own site passes (test_student_site_builds_without_warnings)."""
    kit = kit_copy(tmp_path / "kit")
    (kit / "docs" / "zz-faults.md").write_text(FAULTY_PAGE)
    (kit / "docs" / "zz-title.md").write_text("# socklab: a page whose title repeats the name {#zztitle}\n\nText.\n")
    r = run(["make", "--no-print-directory", "docs", f"DOCS_OUT={tmp_path / 'out'}"], timeout=150, cwd=kit)
    out = r.stdout + r.stderr
    assert r.returncode != 0, f"make docs passed a site with leaked markup:\n{out[-3000:]}"
    assert not warnings_of(r), f"doxygen itself warned, so the check was not reached:\n{warnings_of(r)}"
    missed = [k for k, words in FAULTS.items() if words not in out]
    assert not missed, f"make docs did not report these faults: {missed}\n{out[-3000:]}"


def _check(tmp_path: Path, body: str, title: str = "socklab: Page", files: tuple[str, ...] = ()) -> list[str]:
    from harness import docscheck
    site = tmp_path / "html"
    site.mkdir(parents=True)
    for f in files:
        (site / f).write_bytes(b"x")
    (site / "page.html").write_text(f"<html><head><title>{title}</title></head><body>{body}</body></html>")
    return docscheck.check_site(site)


@pytest.mark.parametrize("body,words", [
    ("<p>a \\ilinebr &lt;/td&gt;</p>", "ilinebr"),
    ("<p>**<code>socket()</code>** makes one</p>", "literal **"),
    ('<h2>3.2 &lt;tt&gt;udp_client&lt;/tt&gt;</h2>', "title or heading"),
    ('<div class="title">Lab &lt;code&gt;x&lt;/code&gt;</div>', "title or heading"),
    ("<p><code>ls /proc/PID/fd \\| wc -l</code></p>", "pipe inside code"),
    ('<div class="fragment"><div class="line">prog [-4\\|-6]</div></div>', "pipe inside code"),
    ('<img src="../../docs/img/x.png">', "points outside html/"),
    ('<img src="missing.png">', "does not exist in the site"),
    ('<img src="/usr/share/x.png">', "outside the site"),
    ('<object data="https://example.org/x.svg"></object>', "outside the site"),
])
def test_docscheck_finds_each_fault(tmp_path, body, words):
    faults = _check(tmp_path, body)
    assert faults and all(words in f for f in faults), faults


def test_docscheck_passes_clean_pages(tmp_path):
    """Code may hold ** (char **argv) and pipes; prose may say a|b; local images resolve."""
    body = ('<div class="fragment"><div class="line">int main(int argc, char **argv)</div></div>'
            '<td class="paramtype">const char **</td><p><code>ls | wc -l</code> and [R3.2-4]</p>'
            '<h2>3.2 udp_client</h2><img src="fig.png"><img src="data:image/png;base64,AA==">')
    assert _check(tmp_path, body, files=("fig.png",)) == []
    assert _check(tmp_path / "t", "<p>x</p>", title="socklab: socklab: kit")  # the repeated name


# ---- the API reference -------------------------------------------------------------------
def declarations(text: str):
    """Yield (doc comment or None, declaration, line) for each top-level declaration of a C header."""
    i, n, doc, depth = 0, len(text), None, 0
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("/**", i) and not text.startswith("/**<", i):
            end = text.index("*/", i) + 2
            doc, i = text[i:end], end
        elif text.startswith("/*", i):
            i, doc = text.index("*/", i) + 2, None
        elif text.startswith("//", i):
            i, doc = text.find("\n", i) % (n + 1), None
        elif text[i] == "#":
            while True:
                eol = text.find("\n", i)
                if eol == -1 or text[eol - 1] != "\\":
                    break
                i = eol + 1
            i, doc = (n if eol == -1 else eol + 1), None
        else:
            start, depth = i, 0
            while i < n and not (text[i] == ";" and depth == 0):
                if text.startswith("/*", i):
                    i = text.index("*/", i) + 2
                    continue
                depth += text[i] in "({"
                depth -= text[i] in ")}"
                i += 1
            yield doc, text[start:i], text.count("\n", 0, start) + 1
            i, doc = i + 1, None


def prototype(decl: str):
    """(name, parameter names, returns void) if decl is a function prototype, else None."""
    flat = re.sub(r"/\*.*?\*/", " ", decl, flags=re.S)
    flat = " ".join(flat.split())
    if flat.startswith(("typedef", "struct", "enum", "union", "extern \"C\"")) and "(" not in flat.split("{")[0]:
        return None
    m = re.match(r"^(.*?)\b(\w+)\s*\((.*)\)\s*(__attribute__\s*\(\(.*\)\))?$", flat)
    if not m or "{" in flat or "=" in flat or flat.startswith("typedef"):
        return None
    ret, name, params = m.group(1).strip(), m.group(2), m.group(3).strip()
    names = []
    if params not in ("", "void"):
        depth, cur, parts = 0, "", []
        for ch in params:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += ch in "(["
            depth -= ch in ")]"
            cur += ch
        parts.append(cur)
        for part in parts:
            part = re.sub(r"\[.*?\]", "", part).strip()
            if part == "...":
                continue
            fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", part)
            ident = fp.group(1) if fp else (re.findall(r"\w+", part) or ["?"])[-1]
            names.append(ident)
    returns_void = re.sub(r"\b(static|inline|extern|const)\b", "", ret).strip() == "void"
    return name, names, returns_void


@pytest.mark.parametrize("header", HEADERS, ids=[rel(h) for h in HEADERS])
def test_header_functions_are_documented(header):
    problems = []
    for doc, decl, line in declarations(header.read_text(encoding="utf-8")):
        proto = prototype(decl)
        if not proto:
            continue
        name, params, returns_void = proto
        where = f"{rel(header)}:{line} {name}()"
        if not doc:
            problems.append(f"{where}: no /** ... */ comment before it")
            continue
        tags = re.findall(r"[@\\](\w+)\s*(?:\[[^\]]*\])?\s*(\w*)", doc)
        kinds = {t for t, _ in tags}
        documented = {arg for t, arg in tags if t == "param"}
        if "brief" not in kinds:
            problems.append(f"{where}: no @brief")
        for p in params:
            if p not in documented:
                problems.append(f"{where}: no @param {p}")
        if not returns_void and not kinds & {"return", "returns", "retval"}:
            problems.append(f"{where}: no @return")
        if "see" not in kinds and "sa" not in kinds:
            problems.append(f"{where}: no @see (the handout section and the man page)")
    assert not problems, "incomplete API documentation:\n" + "\n".join(problems)


# ---- commands and file names in the pages ------------------------------------------------
BUILTINS = {"cd", "echo", "export", "for", "do", "done", "if", "then", "else", "fi", "while", "kill",
            "wait", "ulimit", "printf", "test", "[", "true", "false", "exec", "set", "read", "time",
            "source", ".", "trap", "exit", "umask", "command", "type", "sudo"}
SOURCE_EXT = (".c", ".h", ".md", ".py", ".patch", ".mk", ".dot", ".sh", ".ini")
KIT_TOPS = ("labs/", "harness/", "docs/", "solutions/", "bench/", "../")
PLACEHOLDER = re.compile(r"(\b(NN|PATH|PORT|PID|DIR|FILE|ADDR|HOST|PROG|N|X|TEST|NAME)\b|[*<>{}]|\.\.\.)")


def lab_programs() -> dict[str, Path]:
    """Every program a Makefile of the kit builds -> the folder of that Makefile."""
    progs = {}
    for mk in [*KIT.glob("labs/[0-9][0-9]-*/Makefile"), EXAMPLES / "Makefile"]:
        text = mk.read_text()
        for m in re.finditer(r"^(?:PROGS|ERRNO_PROGS|OTHER_PROGS)\s*:?=\s*((?:.*\\\n)*.*)$", text, re.M):
            for prog in m.group(1).replace("\\\n", " ").split():
                if not prog.startswith("$("):
                    progs[prog] = mk.parent
    return progs


PROGRAMS = lab_programs()


def code_blocks(md: Path):
    """Yield (first line number, info string, lines) of each fenced block, and ("span", ...) inline spans."""
    lines = md.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(`{3,}|~{3,})\s*(\S*)", lines[i])
        if m:
            fence, info, start = m.group(2), m.group(3), i + 1
            i += 1
            body = []
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i])
                i += 1
            yield start, info, body
        else:
            for span in re.findall(r"`([^`]+)`", lines[i]):
                yield i + 1, "span", [span]
        i += 1


def split_commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line, as word lists (pipes, &&, ||, ; split them)."""
    line = re.sub(r"\$\([^()]*\)", "X", line)                 # $(pidof prog): a placeholder word
    try:
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        lex.commenters = "#"
        words = list(lex)
    except ValueError:
        return []
    cmds, cur = [], []
    for w in words:
        if w in ("|", "||", "&&", ";", "&", "(", ")"):
            if cur:
                cmds.append(cur)
            cur = []
        elif re.fullmatch(r"[<>]+&?\d*|\d?[<>]+", w):
            cur.append(w)
        else:
            cur.append(w)
    if cur:
        cmds.append(cur)
    out = []
    for c in cmds:
        while c and re.match(r"^\w+=", c[0]):           # VAR=value prog ...
            c = c[1:]
        # drop redirection targets: `> file`, `2>/dev/null`
        clean, skip = [], False
        for w in c:
            if skip:
                skip = False
                continue
            if re.fullmatch(r"\d?[<>]+&?", w):
                skip = True
                continue
            if re.match(r"^\d?[<>]", w):
                continue
            clean.append(w)
        if clean:
            out.append(clean)
    return out


@functools.lru_cache(maxsize=None)
def _make_n(directory: Path, args: tuple[str, ...]) -> tuple[bool, str]:
    r = run(["make", "-n", "--no-print-directory", *args], cwd=directory, timeout=60)
    text = r.stdout + r.stderr
    ok = "No rule to make target" not in text and "No such file or directory" not in text.split("\n")[0]
    return ok, text.strip().splitlines()[-1] if text.strip() else ""


def make_target_exists(directory: Path, args: list[str]) -> tuple[bool, str]:
    """Does `make ARGS` know its targets when run in `directory`? (make -n, nothing is built)."""
    return _make_n(directory, tuple(args))


def check_command(words: list[str], cwd: Path, page: Path, optional: frozenset = frozenset()) -> str | None:
    """None if the command exists; else why not."""
    if words[0] == "sudo":
        words = words[1:]
    if not words:
        return None
    prog = words[0]
    if prog in BUILTINS:
        return None
    if prog == "make":
        directory, rest = cwd, []
        it = iter(words[1:])
        for w in it:
            if w == "-C":
                directory = (cwd / next(it, ".")).resolve()
            elif w.startswith("-C"):
                directory = (cwd / w[2:]).resolve()
            else:
                rest.append(w)
        if PLACEHOLDER.search(" ".join(rest)) and not any("=" in w for w in rest):
            return None
        candidates = [directory] if "-C" in " ".join(words) else [cwd, page.parent, KIT]
        why = ""
        for d in candidates:
            if d.is_dir():
                ok, why = make_target_exists(d, rest)
                if ok:
                    return None
        return f"`{' '.join(words)}`: {why}"
    if Path(prog).name in ("python", "python3") and len(words) > 2 and words[1] == "-m":
        module = words[2].replace(".", "/")
        if words[2].split(".")[0] in ("harness", "bench") and not (KIT / f"{module}.py").exists():
            return f"`{' '.join(words[:3])}`: no module {words[2]} in the kit"
        return None
    if "/" in prog:
        if PLACEHOLDER.search(prog):
            return None
        name = Path(prog).name
        if "build/" in prog and name in PROGRAMS:
            return None
        for base in (cwd, page.parent, KIT):
            if (base / prog).exists():
                return None
        if Path(prog).is_absolute() and Path(prog).exists():
            return None
        return f"`{prog}`: no such program (not in the kit, and no Makefile builds {name})"
    if prog in PROGRAMS or shutil.which(prog) or prog in optional:
        return None
    return (f"`{prog}`: not installed here, and not a program of the kit (a page that shows a tool "
            f"the kit does not install says so: <!-- optional tools: {prog} -->)")


def check_path(token: str, page: Path, cwd: Path) -> str | None:
    """None if a file name that the page gives exists (or is a build output); else why not."""
    token = token.rstrip(".,:;)").lstrip("(")
    if PLACEHOLDER.search(token) or "://" in token or token.startswith(("-", "$", "~")):
        return None
    looks_like_source = token.endswith(SOURCE_EXT) or Path(token).name == "Makefile"
    in_kit = token.startswith(KIT_TOPS)
    absolute = token.startswith(("/proc/sys/", "/etc/", "/usr/include/"))
    if not (looks_like_source or in_kit or absolute):
        return None
    if token.startswith(("out/", "build/", "dist/", "docs/html")) or "/build/" in token or "/out/" in token:
        return None                                              # made by a build or a run
    if absolute:
        return None if Path(token).exists() else f"`{token}`: no such file on this machine"
    for base in (cwd, page.parent, KIT, KIT / "labs" / "common", Path("/usr/include"),
                 Path("/usr/include/x86_64-linux-gnu")):
        if (base / token).exists():
            return None
    if "/" not in token and list(KIT.glob(f"**/{token}")):
        return None
    return f"`{token}`: no such file in the kit"


PATH_TOKEN = re.compile(r"(?<![\w@])((?:\.\.?/|/)?[\w.-]+(?:/[\w.-]*)*(?:\.[A-Za-z]+|/|Makefile))")


@pytest.mark.parametrize("page", CHECKED_PAGES, ids=[rel(p) for p in CHECKED_PAGES])
def test_commands_and_files_in_page_exist(page):
    """Every command in a code block (or a command-like inline span) and every file name exists."""
    problems = []
    lab_dir = page.parent if page.parent.parent.name == "labs" else KIT
    text_all = page.read_text(encoding="utf-8")
    optional = frozenset(w for m in re.findall(r"<!--\s*optional tools:([^>]*)-->", text_all) for w in m.split())
    for line_no, info, body in code_blocks(page):
        cwd = lab_dir
        is_span = info == "span"
        prompted = any(l.lstrip().startswith("$ ") for l in body)
        shell = info in ("sh", "bash", "shell", "console") or prompted
        if info not in ("", "span", "sh", "bash", "shell", "console"):
            continue                                             # c, dot, diff...
        pending = ""
        for offset, raw in enumerate(body):
            where = f"{rel(page)}:{line_no if is_span else line_no + 1 + offset}"
            text = raw.strip()
            if pending:
                text = pending + "\n" + text
                pending = ""
            if is_span:
                words = text.split()
                # Inline, only what is surely a command: make, or a program given by its path.
                command_like = words and not words[0].endswith("/") and (
                    words[0] == "make" or words[0].startswith(("./", "build/"))
                                          or "/build/" in words[0])
                if command_like and not PLACEHOLDER.search(words[0]) and "(" not in text:
                    for words_ in split_commands(text):
                        why = check_command(words_, cwd, page, optional)
                        if why:
                            problems.append(f"{where}: {why}")
                for tok in PATH_TOKEN.findall(text):
                    why = check_path(tok, page, cwd)
                    if why:
                        problems.append(f"{where}: {why}")
                continue
            if prompted and not text.startswith("$ "):
                continue                                         # output, not a command
            if text.startswith("$ "):
                text = text[2:]
            if not text or text.startswith("#"):
                continue
            try:
                shlex.split(text, comments=True)
            except ValueError:
                pending = text                                   # an open quote: the command goes on
                continue
            for words in split_commands(text):
                first = words[0]
                if not shell:
                    # an unlabelled block: only lines that clearly are commands
                    if not (first in ("make", "cd", "sudo", "python", "python3") or first.startswith("./")
                            or "/build/" in first or first.startswith(("build/", "docs/", "harness/"))
                            or (first in PROGRAMS and len(words) > 1)):
                        break
                if first == "cd" and len(words) > 1:
                    targets = [Path(words[1])] if words[1].startswith("/") else [cwd / words[1], KIT / words[1]]
                    found = [t.resolve() for t in targets if t.is_dir()]
                    if found:
                        cwd = found[0]
                    elif not PLACEHOLDER.search(words[1]):
                        problems.append(f"{where}: `cd {words[1]}`: no such folder")
                    continue
                why = check_command(words, cwd, page, optional)
                if why:
                    problems.append(f"{where}: {why}")
                for w in words[1:]:
                    for tok in PATH_TOKEN.findall(w):
                        why = check_path(tok, page, cwd)
                        if why:
                            problems.append(f"{where}: {why}")
    assert not problems, f"{rel(page)} names things that do not exist:\n" + "\n".join(sorted(set(problems)))


# ---- the examples of the error catalog ---------------------------------------------------
@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    """docs/examples built (with -Werror) into a folder of this test run."""
    out = tmp_path_factory.mktemp("examples") / "build"
    r = run(["make", "--no-print-directory", "-C", str(EXAMPLES), f"OUT={out}", "all"], timeout=120)
    assert r.returncode == 0, f"`make -C docs/examples` failed:\n{r.stdout}{r.stderr}"
    return out


def shown_runs(page: Path) -> list[tuple[str, list[str], int]]:
    """The commands a page runs in its code blocks ("$ ..." lines that use docs/examples/build,
    or that are self-contained shell recipes) with the output shown under each, and their line."""
    runs = []
    for line_no, info, body in code_blocks(page):
        if info == "span":
            continue
        cmd, out, start = None, [], 0
        for offset, raw in enumerate(body + ["$ "]):
            if raw.startswith("$ ") or (cmd is not None and _open_quote(cmd)):
                if cmd is not None and _open_quote(cmd):
                    cmd += "\n" + raw
                    continue
                if cmd is not None and _runnable(cmd):
                    runs.append((cmd, out, line_no + start))
                cmd, out, start = raw[2:], [], offset
            elif cmd is not None:
                out.append(raw)
    return runs


def _open_quote(cmd: str) -> bool:
    try:
        shlex.split(cmd)
        return False
    except ValueError:
        return True


def _runnable(cmd: str) -> bool:
    return ("docs/examples/build/" in cmd or cmd.startswith(("unshare ", "printf "))) and "make " not in cmd


CATALOG_RUNS = [(p, *r) for p in (DOCS / "errors.md", DOCS / "websocket.md") if p.exists() for r in shown_runs(p)]


def normalize(line: str) -> str:
    line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line.rstrip())
    return re.sub(r"after \d+\.\d+ s", "after N s", line)


def matches(expected: list[str], got: list[str]) -> bool:
    """Line by line, with "..." in the expected lines standing for any number of lines."""
    exp = [normalize(l) for l in expected if l.strip()]
    got = [normalize(l) for l in got if l.strip()]
    pattern = "\n".join(".*?" if l.strip() == "..." else re.escape(l) for l in exp)
    pattern = pattern.replace("\n.*?\n", "\n(?:.*\n)*?").replace(".*?\n", "(?:.*\n)*?")
    return re.fullmatch(pattern, "\n".join(got), re.S) is not None


@pytest.mark.timeout(120)
@pytest.mark.parametrize("page,cmd,expected,line", CATALOG_RUNS,
                         ids=[f"{p.stem}:{l}:" + re.sub(r"\s+", "_", c.replace("docs/examples/build/", ""))[:32]
                              for p, c, e, l in CATALOG_RUNS])
def test_catalog_example_shows_what_the_page_says(page, cmd, expected, line, examples):
    """Run the command exactly as the page shows it, and compare with the output shown."""
    if os.geteuid() != 0:
        if cmd.startswith("unshare "):
            pytest.skip("the recipe needs root (unshare -n)")
        cmd = re.sub(r"^setpriv \S+ \S+ \S+ ", "", cmd)
    run_cmd = cmd.replace("docs/examples/build/", f"{examples}/")
    # stdout and stderr in one pipe: the order a terminal shows (the examples flush stdout)
    r = run(["bash", "-c", f"{{ {run_cmd}\n}} 2>&1"], timeout=100)
    shown = r.stdout.splitlines()
    if r.returncode == 3 and "unshare" in r.stdout and os.geteuid() != 0:
        pytest.skip(f"no network namespace here: {r.stdout.strip()}")
    assert shown and matches(expected, shown), (
        f"{rel(page)}:{line}: `{cmd}` printed:\n" + "\n".join(shown) +
        "\nbut the page shows:\n" + "\n".join(expected))
    if "docs/examples/build/" in cmd and "echo" not in cmd and "ws_accept" not in cmd:
        assert r.returncode == 1, f"`{cmd}`: exit status {r.returncode}, the catalog says 1:\n{r.stdout}"


ERRNO_ROW = re.compile(r'^\| @ref errors_(\w+) "([^"]+)" \| (\d+) \| ([^|]+) \| [^|]+ \| `(\w+)` \|$', re.M)


def test_catalog_covers_every_errno_it_lists():
    """Each row of the catalog's table: the right value and text, an example, and a run that shows it."""
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    rows = ERRNO_ROW.findall(text)
    names = {n for _, title, _, _, _ in rows for n in re.findall(r"E[A-Z]+", title)}
    wanted = {"ECONNREFUSED", "ETIMEDOUT", "EADDRINUSE", "EACCES", "ENETUNREACH", "EHOSTUNREACH",
              "ECONNRESET", "EPIPE", "EAGAIN", "EWOULDBLOCK", "EINTR", "EMFILE"}
    assert wanted <= names, f"the catalog's table lacks {sorted(wanted - names)}"
    shown = "\n".join("\n".join(out) for p, c, out, l in CATALOG_RUNS if p.name == "errors.md")
    problems = []
    for anchor, title, value, text_, example in rows:
        name = title.split(",")[0]
        if int(value) != getattr(errno, name) or text_.strip() != os.strerror(getattr(errno, name)):
            problems.append(f"{name}: the table says {value} {text_.strip()!r}, Linux says "
                            f"{getattr(errno, name)} {os.strerror(getattr(errno, name))!r}")
        if example not in PROGRAMS or not (EXAMPLES / f"{example}.c").exists():
            problems.append(f"{name}: no example program {example} in docs/examples")
        if not re.search(rf"^{example}: \w+ [\d.:]+: {re.escape(os.strerror(getattr(errno, name)))}$", shown, re.M):
            problems.append(f"{name}: no run of {example} in the catalog shows the error line")
        if f"{{#errors_{anchor}}}" not in text:
            problems.append(f"{name}: no section {{#errors_{anchor}}}")
    assert not problems, "\n".join(problems)


def test_epipe_without_msg_nosignal_dies_of_sigpipe(examples):
    r = run([str(examples / "epipe"), "-s"], timeout=30)
    assert r.returncode == -signal.SIGPIPE, f"epipe -s: {r.returncode}, expected death by SIGPIPE:\n{r.stderr}"


def test_examples_report_what_did_not_happen(examples):
    """Exit status 3 when the error does not happen: eacces as root binds port 7 happily."""
    if os.geteuid() != 0:
        pytest.skip("only root can bind port 7 and so fail to reproduce EACCES")
    r = run([str(examples / "eacces")], timeout=30)
    assert r.returncode == 3 and "not reproduced" in r.stderr, (r.returncode, r.stderr)


# ---- ws_accept and tcp_states --------------------------------------------------------------
def test_ws_accept_rfc6455_value(examples):
    r = run([str(examples / "ws_accept")], timeout=10)
    assert r.returncode == 0 and r.stdout.strip() == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", (r.stdout, r.stderr)


@pytest.mark.parametrize("seed", range(8))
def test_ws_accept_agrees_with_hashlib(examples, seed):
    key = base64.b64encode(hashlib.sha256(bytes([seed])).digest()[:16]).decode()
    want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    r = run([str(examples / "ws_accept"), key], timeout=10)
    assert r.returncode == 0 and r.stdout.strip() == want, f"key {key}: got {r.stdout!r}, want {want}"


@pytest.mark.parametrize("key", ["", "short==", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ!=",
                                 "dGhlIHNhbXBsZSBub25jZQ==x"])
def test_ws_accept_refuses_bad_keys(examples, key):
    r = run([str(examples / "ws_accept"), key], timeout=10)
    assert r.returncode == 2 and "usage:" in r.stderr, (key, r.returncode, r.stderr)


SS_STATES = ("LISTEN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT",
             "CLOSING", "LAST-ACK", "TIME-WAIT")


def test_tcp_states_shows_every_state(examples):
    """Each scene's ss output shows the state(s) its title names, and the page shows them all."""
    r = run([str(examples / "tcp_states")], timeout=30)
    assert r.returncode == 0, f"tcp_states: exit {r.returncode}\n{r.stdout}{r.stderr}"
    scenes = re.split(r"^== ", r.stdout, flags=re.M)[1:]
    seen = set()
    for scene in scenes:
        title, _, body = scene.partition("\n")
        named = [s for s in SS_STATES if re.search(rf"(^|[ :]){s}([ :,]|$)", title.split(":")[0])]
        states = {line.split()[0] for line in body.splitlines()[2:] if line.strip()}
        for state in named:
            assert state in states, f"scene {title!r}: ss shows {sorted(states)}, not {state}:\n{body}"
        seen |= states
    assert set(SS_STATES) <= seen, f"tcp_states never showed {sorted(set(SS_STATES) - seen)}"
    page = (DOCS / "tcp-states.md").read_text(encoding="utf-8")
    absent = [s for s in SS_STATES if not re.search(rf"^{s}\s+\d+\s+\d+ ", page, re.M)]
    assert not absent, f"docs/tcp-states.md shows no ss line for {absent}"
