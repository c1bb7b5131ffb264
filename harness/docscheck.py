"""Markup that leaked into the generated documentation: `make docs` fails on any of it.

    python -m harness.docscheck docs/html        (make docs runs it after doxygen)

Doxygen 1.9.4 builds the site without a warning yet shows some Markdown literally. This reads
every HTML page of the site and reports, with the page and the text around it:
    - a raw `\\ilinebr` (doxygen's internal line break, leaked from a table cell it could not parse);
    - a literal `**` in prose (bold markup around a code span, which doxygen does not render);
    - markup in a title or heading (`<tt>`, `<code>` shown as text), or a title that repeats the
      project's name ("socklab: socklab: ...");
    - a backslash-escaped pipe `\\|` inside code, which breaks the command when copied;
    - an image (img, object, embed, or the iframe doxygen shows an SVG graph in) whose file does not exist inside the site's folder, so that
      a copy of html/ elsewhere shows it (no ../ out of the folder, no absolute path, no URL).
Exit status 1 when anything is found, with one line per fault.
"""
from __future__ import annotations

import argparse
import html
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: Elements whose text is code: pipes are checked there, asterisks are not.
CODE_TAGS = {"code", "pre", "tt", "kbd", "samp"}
CODE_CLASSES = {"fragment", "line", "comment", "lineno", "keyword", "keywordtype", "preprocessor",
                "stringliteral", "charliteral", "codeline", "memname", "memproto", "memItemLeft", "memItemRight",
                "memTemplItemLeft", "memTemplItemRight", "paramtype", "paramname"}
SKIP_TAGS = {"script", "style"}
TITLE_TAGS = {"title", "h1", "h2", "h3", "h4", "h5", "h6"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
             "source", "track", "wbr"}
LEAKED_TAG = re.compile(r"</?(tt|code|b|em|strong|i)>", re.I)


class PageChecker(HTMLParser):
    def __init__(self, page: Path, root: Path, project: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page, self.root, self.project = page, root, project
        self.stack: list[tuple[str, bool, bool, bool]] = []  # tag, code, skip, title
        self.faults: list[str] = []
        self.title = ""

    # The state of the innermost element.
    def _state(self) -> tuple[bool, bool, bool]:
        return self.stack[-1][1:] if self.stack else (False, False, False)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        code, skip, title = self._state()
        code = code or tag in CODE_TAGS or bool(classes & CODE_CLASSES)
        skip = skip or tag in SKIP_TAGS
        title = title or tag in TITLE_TAGS or (tag == "div" and "title" in classes)
        source = {"img": "src", "object": "data", "embed": "src", "iframe": "src"}.get(tag)
        src = a.get(source) or "" if source else ""
        # An iframe is an image when doxygen shows an SVG graph in it (the search box's is not).
        if source and (tag != "iframe" or re.search(r"\.(svg|png|gif|jpe?g)$", src, re.I)):
            self._check_image(src)
        if tag not in VOID_TAGS:
            self.stack.append((tag, code, skip, title))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        # Pop to the matching element (HTML from doxygen is well nested, but be lenient).
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        code, skip, title = self._state()
        if skip:
            return
        if self.stack and self.stack[-1][0] == "title":
            self.title += data
        if "\\ilinebr" in data:
            self._fault("raw \\ilinebr (a table row doxygen could not parse)", data, "\\ilinebr")
        if code and "\\|" in data:
            self._fault("backslash-escaped pipe inside code (breaks the command when copied)", data, "\\|")
        if not code and "**" in data:
            self._fault("literal ** in the text (bold markup doxygen did not render)", data, "**")
        if title and LEAKED_TAG.search(data):
            self._fault("markup shown as text in a title or heading", data, LEAKED_TAG.search(data).group())

    def _fault(self, what: str, text: str, needle: str) -> None:
        i = text.find(needle)
        context = " ".join(text[max(0, i - 50): i + len(needle) + 50].split())
        self.faults.append(f"{self.page.relative_to(self.root)}: {what}: ...{context}...")

    def _check_image(self, src: str) -> None:
        if not src or src.startswith("data:"):
            return
        parts = urlsplit(src)
        if parts.scheme or parts.netloc or src.startswith("/"):
            self.faults.append(f"{self.page.relative_to(self.root)}: image {src} is outside the site "
                               f"(an absolute path or URL): copy it into the site with IMAGE_PATH")
            return
        target = (self.page.parent / unquote(parts.path)).resolve()
        if self.root.resolve() not in target.parents:
            self.faults.append(f"{self.page.relative_to(self.root)}: image {src} points outside html/ "
                               f"(breaks when the site is copied): use a bare file name from IMAGE_PATH")
        elif not target.is_file():
            self.faults.append(f"{self.page.relative_to(self.root)}: image {src} does not exist in the site")

    def close(self) -> None:
        super().close()
        t = " ".join(html.unescape(self.title).split())
        if self.project and t.lower().startswith(f"{self.project}: {self.project}".lower()):
            self.faults.append(f"{self.page.relative_to(self.root)}: the title repeats the project's name: {t}")


def check_site(root: Path, project: str = "socklab") -> list[str]:
    """Every fault of every page under `root` (an html/ folder)."""
    faults: list[str] = []
    pages = sorted(root.rglob("*.html"))
    if not pages:
        return [f"{root}: no HTML pages (was the site built?)"]
    for page in pages:
        checker = PageChecker(page, root, project)
        checker.feed(page.read_text(encoding="utf-8", errors="replace"))
        checker.close()
        faults += checker.faults
    return faults


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.docscheck", description=__doc__.split("\n\n")[0])
    ap.add_argument("site", help="the html/ folder doxygen wrote")
    ap.add_argument("--project", default="socklab", help="the PROJECT_NAME, to catch repeated titles")
    args = ap.parse_args(argv)
    faults = check_site(Path(args.site), args.project)
    for f in faults:
        print(f"docscheck: {f}", file=sys.stderr)
    if faults:
        print(f"docscheck: {len(faults)} rendering fault(s) in {args.site}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
