"""Failure messages that a student can act on: what was sent, what came back, what was expected.

Every check here fails the test with pytest.fail(..., pytrace=False), so the message is the
whole report: no Python traceback for the student to wade through.
"""
from __future__ import annotations

from typing import Iterable, Optional

import pytest

#: How many bytes of a payload a message quotes before it abbreviates.
QUOTE = 80


def quote(data: bytes, limit: int = QUOTE) -> str:
    """bytes as a short Python literal with its length: "12 bytes b'hello\\nworld\\n'"."""
    shown = repr(bytes(data[:limit]))
    more = f" ... (+{len(data) - limit} more)" if len(data) > limit else ""
    return f"{len(data)} bytes {shown}{more}"


def first_difference(got: bytes, expected: bytes) -> Optional[int]:
    """The offset of the first byte where `got` and `expected` differ, or None if equal."""
    if got == expected:
        return None
    n = min(len(got), len(expected))
    for i in range(n):
        if got[i] != expected[i]:
            return i
    return n


def hexdump(data: bytes, start: int, length: int = 32) -> str:
    """`length` bytes of `data` from `start`, as "offset  hex  |ascii|" lines of 16 bytes."""
    lines = []
    start -= start % 16
    for off in range(start, min(len(data), start + length), 16):
        row = data[off:off + 16]
        hexes = " ".join(f"{b:02x}" for b in row)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"    {off:08x}  {hexes:<47}  |{text}|")
    return "\n".join(lines) or "    (nothing)"


def describe_difference(got: bytes, expected: bytes) -> str:
    """Where `got` first departs from `expected`, with a hexdump of both around that offset."""
    i = first_difference(got, expected)
    if i is None:
        return "(identical)"
    if i >= len(got):
        where = f"the data received stops at byte {len(got)}, but {len(expected) - len(got)} more bytes were expected"
    elif i >= len(expected):
        where = f"{len(got) - len(expected)} extra bytes were received after the expected {len(expected)}"
    else:
        where = f"first difference at byte offset {i}: received 0x{got[i]:02x}, expected 0x{expected[i]:02x}"
    return f"{where}\n  expected around offset {i}:\n{hexdump(expected, i)}\n  received around offset {i}:\n{hexdump(got, i)}"


def fail(summary: str, *, sent: Optional[bytes] = None, received: Optional[bytes] = None,
         expected: Optional[bytes] = None, details: Iterable[str] = (), hint: str = "") -> None:
    """Fail the test with a transcript: summary, sent/received/expected, details, hint."""
    parts = [summary]
    if sent is not None:
        parts.append(f"  sent:     {quote(sent)}")
    if received is not None:
        parts.append(f"  received: {quote(received)}")
    if expected is not None:
        parts.append(f"  expected: {quote(expected)}")
    if received is not None and expected is not None:
        parts.append("  " + describe_difference(received, expected))
    parts.extend(d for d in details if d)
    if hint:
        parts.append(f"Hint: {hint}")
    pytest.fail("\n".join(parts), pytrace=False)


def expect_bytes(received: bytes, expected: bytes, *, what: str, sent: Optional[bytes] = None,
                 details: Iterable[str] = (), hint: str = "") -> None:
    """Pass if `received == expected`; otherwise fail with the transcript and a hexdump."""
    if received == expected:
        return
    fail(f"{what}: the bytes received differ from the bytes expected.", sent=sent,
         received=received, expected=expected, details=details, hint=hint)


def expect(condition: bool, summary: str, *, details: Iterable[str] = (), hint: str = "") -> None:
    """Pass if `condition`; otherwise fail with `summary`, details and hint."""
    if not condition:
        fail(summary, details=details, hint=hint)
