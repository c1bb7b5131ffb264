"""Failure messages that a student can act on: what was sent, what came back, what was expected.

Every check here fails the test with pytest.fail(..., pytrace=False), so the message is the
whole report: no Python traceback for the student to wade through.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterable, Optional

import pytest

from . import textsafe

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
         expected: Optional[bytes] = None, details: Iterable[str] = (), hint: str = "",
         cause: Optional[str] = None) -> None:
    """Fail the test with a transcript: summary, sent/received/expected, details, hint.

    `cause`: the test's own diagnosis, one sentence ("the timeout never grows: every
    retransmission came 40 ms after the one before"). It is said first, before what the harness
    found about the programs, and the hint is kept (see Diagnosis and harness/README.md).
    """
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
    diagnosis = Diagnosis("specific", cause, withhold_hint=False) if cause else None
    raise FeedbackFailure("\n".join(parts), diagnosis)


def expect_bytes(received: bytes, expected: bytes, *, what: str, sent: Optional[bytes] = None,
                 details: Iterable[str] = (), hint: str = "", cause: Optional[str] = None) -> None:
    """Pass if `received == expected`; otherwise fail with the transcript and a hexdump."""
    if received == expected:
        return
    fail(f"{what}: the bytes received differ from the bytes expected.", sent=sent,
         received=received, expected=expected, details=details, hint=hint, cause=cause)


def expect(condition: bool, summary: str, *, details: Iterable[str] = (), hint: str = "",
           cause: Optional[str] = None) -> None:
    """Pass if `condition`; otherwise fail with `summary`, details, hint (and the test's own `cause`)."""
    if not condition:
        fail(summary, details=details, hint=hint, cause=cause)


# ---- diagnosis: what happened to the programs, before any hint --------------------------------
#: The skeleton's stub message: "serve: not written yet (TODO in chat_server.c, handout §4.1)".
STUB = re.compile(r"(?P<func>[A-Za-z_]\w*)(?:\(\))?: not written yet \(TODO in (?P<file>[\w./-]+), "
                  r"handout (?P<section>§[\d.]+)\)")
#: A sanitizer's headline ("ERROR: AddressSanitizer: heap-buffer-overflow on address ...").
_SAN_KIND = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|MemorySanitizer|ThreadSanitizer): ([\w-]+)")
#: A stack frame in the student's code: "#1 0x55d1 in on_readable /path/chat.c:123:9".
_FRAME = re.compile(r"#\d+ 0x[0-9a-f]+ in (\w+) (?:\S*/)?([\w.-]+\.c):(\d+)")
_UBSAN = re.compile(r"(?:\S*/)?([\w.-]+\.c):(\d+):\d+: runtime error: ([^\n]*)")
#: Lines a withheld hint is made of.
_HINT_LINE = re.compile(r"^Hint: .*$\n?", re.M)


@dataclass
class Diagnosis:
    """What happened to the programs of a failed test, said before anything else.

    kind: "build" (a program did not build), "never-started", "stub" (it reached a gap of the
    skeleton), "crashed", "exited" (it ended on its own while the test still needed it),
    "silent" (still running but said nothing in time), "timeout", "internal" (the harness
    itself failed), or a test's own kind ("specific").
    sentence: one grammatical sentence for the student (ends with a full stop).
    key: the cause's identity: failures with the same key are one block on the console.
    withhold_hint: True when the test's topic hint would point the wrong way (the programs did
    not behave normally); False for a test's own specific diagnosis.
    todo: for a stub, {"func", "file", "section"}.
    """

    kind: str
    sentence: str
    key: str = ""
    withhold_hint: bool = True
    todo: Optional[dict] = None
    detail: str = ""

    def __post_init__(self) -> None:
        self.sentence = textsafe.one_line(self.sentence.strip(), 400)
        if self.sentence and self.sentence[-1] not in ".!?":
            self.sentence += "."
        if not self.key:
            self.key = f"{self.kind}:{re.sub(r'[0-9]+', 'N', self.sentence)}"

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "sentence": self.sentence, "key": self.key,
                           "withhold_hint": self.withhold_hint, "todo": self.todo})

    @staticmethod
    def from_json(text: str) -> Optional["Diagnosis"]:
        try:
            d = json.loads(text)
            return Diagnosis(d["kind"], d["sentence"], d.get("key", ""), d.get("withhold_hint", True),
                             d.get("todo"))
        except (ValueError, KeyError, TypeError):
            return None


class FeedbackFailure(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """A test failure raised by fail(); it may carry the test's own Diagnosis."""

    def __init__(self, msg: str, diagnosis: Optional[Diagnosis] = None):
        super().__init__(msg, pytrace=False)
        self.diagnosis = diagnosis


def find_stub(text: str) -> Optional[dict]:
    """The first "X: not written yet (TODO in F, handout §N)" in `text`, as {"func", "file", "section"}.

    The regular expression runs only around each occurrence of the fixed words: a program may
    write megabytes of one long word on stderr, and a search from every offset is quadratic."""
    text = text or ""
    at = text.find(": not written yet (")
    while at != -1:
        m = STUB.search(text, max(0, at - 120), at + 300)
        if m:
            return m.groupdict()
        at = text.find(": not written yet (", at + 1)
    return None


_LEAK_START = re.compile(rb"^=+\d+=+\s*(ERROR: LeakSanitizer|HEAP SUMMARY)", re.M)


def _last_line(data: bytes) -> str:
    """The last line the program wrote on stderr, before any leak report at its exit."""
    m = _LEAK_START.search(data)
    lines = [l.strip() for l in textsafe.printable_bytes(data[:m.start()] if m else data).splitlines() if l.strip()]
    return textsafe.one_line(lines[-1], 160) if lines else ""


def crash_site(stderr: bytes) -> tuple[str, str]:
    """What a sanitizer found and where, as two phrases: ("AddressSanitizer found a
    heap-buffer-overflow", "in on_readable (chat.c:123)"), or ("UndefinedBehaviorSanitizer found
    undefined behaviour", "at chat.c:76 (index 1025 out of bounds ...)"); ("", "") if none."""
    text = textsafe.printable_bytes(stderr)
    san = _SAN_KIND.search(text)
    if san:
        site = ""
        for f in _FRAME.finditer(text, san.end()):
            if not f.group(2).startswith(("asan_", "ubsan_", "sanitizer_")):
                site = f"in {f.group(1)} ({f.group(2)}:{f.group(3)})"
                break
        return f"{san.group(1)} found a {san.group(2)}", site
    m = _UBSAN.search(text)
    if m:
        return ("UndefinedBehaviorSanitizer found undefined behaviour",
                f"at {m.group(1)}:{m.group(2)} ({textsafe.one_line(m.group(3).strip(), 100)})")
    if "==" in text and "Invalid" in text:
        return "valgrind found a memory error", ""
    return "", ""


def program_diagnosis(p) -> Optional[Diagnosis]:
    """What happened to one program (a procs.Program), if it did not behave normally; else None.

    Normal: still running when the test failed (and it had said something), stopped by the
    harness, or exited in a way the test waited for. Not normal, in this order: it reached a
    gap of the skeleton, crashed (a signal it did not get from the harness, or a sanitizer
    report), or ended on its own while the test was not waiting for its end.
    """
    _settle(p)
    err = p.stderr
    stub = find_stub(textsafe.printable_bytes(err))
    if stub:
        return Diagnosis(
            "stub", f"{p.name} stopped at a gap of the skeleton: {stub['func']}() is not written yet "
                    f"(TODO in {stub['file']}, handout {stub['section']})",
            key=f"stub:{stub['file']}:{stub['func']}", todo=stub)
    rc = p.proc.poll()
    if p.sanitizer_report(5):
        what, site = crash_site(err)
        what = what or "a sanitizer or valgrind found an error"
        return Diagnosis("crashed", f"{p.name} crashed: {what}{' ' + site if site else ''}",
                         key=f"crashed:{p.name}:{what}:{re.sub(r'[0-9]{3,}', 'N', site)}")
    if rc is not None and rc < 0 and -rc not in p.signals_sent:
        return Diagnosis("crashed", f"{p.name} crashed: it was killed by {_signame(-rc)}",
                         key=f"crashed:{p.name}:{-rc}")
    if rc is None or p.signals_sent:
        return None
    # It ended on its own. A server (it said "listening on") must not end before the harness
    # stops it; a client may, with status 0 or when the test waited for its end.
    server = getattr(p, "was_ready", False) or getattr(p, "is_server", False)
    if not server and (rc == 0 or getattr(p, "awaited", False)):
        return None
    last = _last_line(err)
    said = f"; the last line on its stderr: \"{last}\"" if last else "; it wrote nothing on stderr"
    return Diagnosis("exited", f"{p.name} exited with status {rc} while the test still needed it{said}",
                     key=f"exited:{p.name}:{rc}:{re.sub(r'[0-9]+', 'N', last)}")


def _settle(p) -> None:
    """A program whose output pipes reached EOF is exiting: reap it (up to 1 s), so that the
    diagnosis says how it ended rather than "still running"."""
    try:
        if p.proc.poll() is None and p._out.closed and p._err.closed:
            p.proc.wait(1.0)
        elif p.proc.poll() is None:
            # It may be on its way out: a skeleton's stub writes its line, closes its sockets
            # (the test sees a reset at once) and exits, while our reader has not read the line
            # yet. A program that really runs on costs this wait once per failed test.
            try:
                p.proc.wait(0.3)
            except Exception:  # noqa: BLE001 - still running: fine
                pass
        if p.proc.poll() is not None:
            # It has exited: let the readers drain what it wrote last (its stub or error line).
            p._err.join(0.5)
            p._out.join(0.2)
    except Exception:  # noqa: BLE001 - a diagnosis never fails on a program's state
        pass


def _signame(sig: int) -> str:
    import signal
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def diagnose(programs: Iterable, excinfo=None) -> Optional[Diagnosis]:
    """The first abnormal thing that happened to `programs` (procs.Program), a test's own
    diagnosis carried by its FeedbackFailure, or None when every program behaved normally.

    A stub wins over a crash, a crash over the test's own diagnosis (it cannot be right about a
    program that never got that far), and that over an exit: the earliest cause first.
    """
    exc = getattr(excinfo, "value", None)
    own = getattr(exc, "diagnosis", None)
    found = [d for d in (program_diagnosis(p) for p in programs) if d]
    if isinstance(own, Diagnosis):
        found.append(own)
    order = {"stub": 0, "crashed": 1, "build": 2, "never-started": 2, "silent": 3, "specific": 4, "exited": 5}
    found.sort(key=lambda d: order.get(d.kind, 4))
    return found[0] if found else None


def withhold_hint(text: str) -> str:
    """`text` without its "Hint: ..." lines (the test's topic hint, when it would mislead)."""
    return _HINT_LINE.sub("", text)
