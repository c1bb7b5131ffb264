"""Text from untrusted programs, made safe to show: no escape sequences, no control characters.

A student's program may print anything, including terminal escape sequences that move the
cursor and draw a fake "TOTAL 100/100" over the real table. Everything a program wrote passes
through printable() before it reaches a terminal, a feedback file, results.json or junit.xml.
"""
from __future__ import annotations

import re

#: Every C0 control character but tab and newline, DEL, and the C1 controls (U+0080..U+009F),
#: which include the 8-bit CSI (U+009B).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with each control character (escape, carriage return, backspace, bell ...) shown
    as a visible escape such as `\\x1b`; tabs and newlines are kept."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def printable_bytes(data: bytes) -> str:
    """Program output (bytes, any encoding) decoded as UTF-8 with replacements, then printable()."""
    return printable(data.decode("utf-8", "replace"))


def one_line(text: str, limit: int = 200) -> str:
    """A name or message for one line of a report: printable(), newlines shown escaped, cut at `limit`."""
    s = printable(text).replace("\n", "\\n").replace("\t", "\\t")
    return s if len(s) <= limit else s[:limit] + "..."
