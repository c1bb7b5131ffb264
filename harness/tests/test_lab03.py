"""Lab 03: a multi-client chat server around one select() loop. Tests for chat_server, with points.

Each test starts the student's chat_server on loopback (ephemeral port) and talks to it through
trusted Python clients (harness.chatpeers: non-blocking sockets read by one selector in the test's
thread) and, once, through ncat. Section numbers (§) refer to labs/03-select-chat/README.md.
"""
from __future__ import annotations

import math
import re
import resource
import signal
import socket
import time
from typing import Iterable, Optional, Union

import pytest

from harness import feedback as fb
from harness.chatpeers import ChatClient, ChatRoom
from harness.paths import time_scale
from harness.procs import Limits, Program, open_fds

LAB = "03"
#: The tests fit to run under valgrind memcheck (grade --valgrind): everything but timing and scale.
VALGRIND_SELECT = "welcome or two_clients or leave_and or fragmented or many_lines or crlf or interleaved or nick_rules or who_and or quit or too_long or reset_mid or max_clients or fd_leak or ncat or ipv6 or bytes_relayed or arguments or sigterm"
HOST = "127.0.0.1"
GUEST = re.compile(rb"guest\d+")
READY_HINT = "chat_server must print 'listening on ADDR:PORT' (and fflush) once listen() succeeded (§2.2)"

Expected = Union[bytes, re.Pattern]


class Session:
    """One chat_server and the room of Python clients talking to it, for one test.

    Every check fails through harness.feedback with the transcripts of the clients involved
    and the server's stderr.
    """

    def __init__(self, server: Program, host: str, port: int):
        self.server = server
        self.host = host
        self.port = port
        self.room = ChatRoom(host, port)

    def details(self, clients: Iterable[ChatClient] = ()) -> list[str]:
        return [c.transcript() for c in clients] + [self.server.describe()]

    # ---- joining -----------------------------------------------------------------------
    def settle(self) -> None:
        """Something went wrong: if chat_server is on its way out, let it finish (up to 1 s),
        so that the report says how it ended."""
        self.server.wait(1)

    def connect(self, name: str, **kwargs) -> ChatClient:
        """A connection, without waiting for the welcome."""
        try:
            return self.room.connect(name, **kwargs)
        except OSError as e:
            problem = e.strerror or str(e)
        self.settle()
        state = "" if self.server.alive() else f" (chat_server has exited: {self.server.exit_text()})"
        fb.fail(f"{name} could not connect to chat_server at {self.host}:{self.port}: {problem}{state}.",
                details=self.details(),
                hint="the server must keep accepting newcomers while it serves the others (§4.1)")

    def join(self, name: str, timeout: float = 5.0, **kwargs) -> ChatClient:
        """Connect and check the first line is '* welcome guestN'."""
        c = self.connect(name, **kwargs)
        self.room.pump_until(lambda: len(c.lines) >= 1 or c.done, timeout)
        first = c.lines[0] if c.lines else None
        if c.nick is None or not GUEST.fullmatch(c.nick.encode()):
            if first is not None:
                why = "its first line is not '* welcome guestN'"
            elif c.done:
                why = f"the server closed the connection ({c.error or 'EOF'}) before sending any line"
                self.settle()
            else:
                why = f"no line came within {timeout * time_scale():g} s"
            fb.fail(f"{name} connected, but {why}.",
                    received=first if first is not None else b"", expected=b"* welcome guestN",
                    details=self.details([c]),
                    hint="greet each newcomer with '* welcome guestN': accept it, queue the line, "
                         "and let the loop send it (§3.2, §5.2)")
        c.pos = 1
        return c

    def join_all(self, n: int, names: Optional[list[str]] = None, timeout: float = 10.0) -> list[ChatClient]:
        """n clients join one after another; each must then be told of every later join, in order."""
        names = names or [f"client {chr(65 + i)}" if n <= 26 else f"client {i + 1}" for i in range(n)]
        clients = [self.join(names[i]) for i in range(n)]
        joined = [b"* %s joined" % c.nick.encode() for c in clients]
        index = {id(c): i for i, c in enumerate(clients)}
        self.room.wait_lines(clients, lambda c: n - index[id(c)], timeout)
        for i, c in enumerate(clients):
            want = joined[i + 1:]
            got = c.lines[1:1 + len(want)]
            if got != want:
                k = next((j for j in range(len(want)) if j >= len(got) or got[j] != want[j]), 0)
                fb.fail(f"{c.name} ({c.nick}) was not told of every client that joined after it, in order: "
                        f"line {k + 2} of what it received is wrong.",
                        received=got[k] if k < len(got) else b"", expected=want[k],
                        details=self.details([c, clients[i + 1 + k]]),
                        hint="when a client joins, every other client gets '* NICK joined' (§3.2)")
            c.pos = 1 + len(want)
        return clients

    # ---- talking -----------------------------------------------------------------------
    def say(self, c: ChatClient, data: bytes, timeout: float = 5.0) -> None:
        """Client c sends data (reading every client meanwhile)."""
        if not self.room.send(c, data, timeout):
            fb.fail(f"{c.name} could not send {fb.quote(data)} to chat_server"
                    + (f" ({c.error})" if c.error else f" within {timeout:g} s") + ".",
                    details=self.details([c]),
                    hint="read every client that select() reports readable, every pass (§4.1)")

    def expect(self, c: ChatClient, expected: Expected, *, what: str, hint: str,
               others: Iterable[ChatClient] = (), timeout: float = 3.0) -> bytes:
        """c's next line must be `expected` (bytes, or a regex it must match in full)."""
        line = self.room.next_line(c, timeout)
        if isinstance(expected, bytes):
            ok = line == expected
            shown = expected
        else:
            ok = line is not None and expected.fullmatch(line) is not None
            shown = expected.pattern
        if not ok:
            if line is None:
                how = f"{c.name} received nothing more within {timeout * time_scale():g} s"
                if c.done:
                    how = f"{c.name}'s connection was closed ({c.error or 'EOF'})"
                    self.settle()
            else:
                how = f"{c.name} ({c.nick}) received another line"
            fb.fail(f"{what}: {how}.", received=line if line is not None else b"", expected=shown,
                    details=self.details([c, *others]), hint=hint)
        return line

    def expect_lines(self, c: ChatClient, expected: list[bytes], *, what: str, hint: str,
                     others: Iterable[ChatClient] = (), timeout: float = 5.0) -> None:
        """c's next len(expected) lines must be exactly `expected`, in order."""
        self.room.pump_until(lambda: len(c.lines) >= c.pos + len(expected) or c.done, timeout)
        got = c.lines[c.pos:c.pos + len(expected)]
        if got != expected:
            k = next(j for j in range(len(expected)) if j >= len(got) or got[j] != expected[j])
            if k >= len(got):
                summary = (f"{what}: {c.name} received {len(got)} of the {len(expected)} lines expected "
                           f"within {timeout * time_scale():g} s; line {k + 1} never came.")
            else:
                summary = f"{what}: line {k + 1} of the {len(expected)} expected is wrong at {c.name}."
            fb.fail(summary, received=got[k] if k < len(got) else b"", expected=expected[k],
                    details=self.details([c, *others]), hint=hint)
        c.pos += len(expected)

    def expect_eof(self, c: ChatClient, *, what: str, hint: str, timeout: float = 3.0) -> None:
        if not self.room.wait_eof(c, timeout):
            fb.fail(f"{what}: chat_server did not close {c.name}'s connection within {timeout * time_scale():g} s.",
                    details=self.details([c]), hint=hint)

    def expect_alive(self, why: str, hint: str) -> None:
        if not self.server.alive():
            fb.fail(f"chat_server died {why}: {self.server.exit_text()}.", details=self.details(), hint=hint)


@pytest.fixture
def chat(spawn):
    """A factory: chat(*extra_args, host=HOST, limits=...) starts chat_server and returns a Session."""
    sessions: list[Session] = []

    def start(*args, host: str = HOST, **kwargs) -> Session:
        server, _, port = spawn.server("chat_server", "-b", host, "-p", "0", *args, hint=READY_HINT, **kwargs)
        s = Session(server, host, port)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.room.close()


def said(c: ChatClient, text: bytes) -> bytes:
    """The line the others get when c says text."""
    return b"<%s> %s" % (c.nick.encode(), text)


def rename(c: ChatClient, new: bytes) -> bytes:
    """The line everyone gets when c becomes `new` (c.nick is updated)."""
    line = b"* %s is now %s" % (c.nick.encode(), new)
    c.nick = new.decode()
    return line


# ---- joining, talking, leaving -------------------------------------------------------------
@pytest.mark.points(4)
def test_welcome_and_join(chat):
    """Each newcomer gets '* welcome guestN' with its own nick; the others get '* guestN joined'"""
    s = chat()
    a = s.join("client A")
    b = s.join("client B")
    fb.expect(a.nick != b.nick, f"two clients got the same nick {a.nick!r}.", details=s.details([a, b]),
              hint="hand out guest1, guest2, ...: a counter, skipping nicks already taken (§3.3)")
    join_hint = "on accept, queue '* NICK joined' for every client except the newcomer (§3.2)"
    s.expect(a, b"* %s joined" % b.nick.encode(), what="A is told that B joined", hint=join_hint)
    c = s.join("client C")
    for x in (a, b):
        s.expect(x, b"* %s joined" % c.nick.encode(), what=f"{x.name} is told that C joined", hint=join_hint)
    s.say(a, b"hi\n")
    for x in (b, c):
        s.expect(x, said(a, b"hi"), what=f"{x.name}'s next line after A said hi", others=[a],
                 hint="a newcomer is not told of its own join; a line goes to every other client (§3.2, §3.5)")


@pytest.mark.points(6)
def test_two_clients_chat(chat):
    """Two clients chat: each line reaches the other as '<NICK> text', never back to its sender"""
    s = chat()
    a, b = s.join_all(2)
    relay_hint = "relay each complete line to every client but its sender, as '<NICK> text' (§3.5)"
    s.say(a, b"hello, B\n")
    s.expect(b, said(a, b"hello, B"), what="B receives A's line", others=[a], hint=relay_hint)
    s.say(b, b"hi, A\n")
    s.expect(a, said(b, b"hi, A"), what="A's next line (A must not get its own 'hello, B' back)",
             others=[b], hint="broadcast() skips the sender (§3.5, §10)")
    lines = [b"line %d of a conversation" % i for i in range(5)]
    s.say(a, b"".join(x + b"\n" for x in lines))
    s.expect_lines(b, [said(a, x) for x in lines], what="five more lines from A", others=[a], hint=relay_hint)


@pytest.mark.points(5)
def test_leave_and_rejoin(chat):
    """A client leaves (the others get '* NICK left'); a newcomer reuses its fd; everyone still chats"""
    s = chat()
    a, b, c = s.join_all(3)
    a.close()
    left_hint = "on EOF, mark the client gone, close its fd, forget it, and tell the others '* NICK left' (§3.2, §7.2)"
    for x in (b, c):
        s.expect(x, b"* %s left" % a.nick.encode(), what=f"{x.name} is told that A left", hint=left_hint)
    d = s.join("client D")
    fd_hint = ("the newcomer likely got the lowest free fd, A's old one: select() must still watch every higher "
               "fd, so recompute maxfd from the clients still there (§4.2)")
    for x in (b, c):
        s.expect(x, b"* %s joined" % d.nick.encode(), what=f"{x.name} is told that D joined", hint=fd_hint)
    for speaker, listeners in ((c, (b, d)), (d, (b, c)), (b, (c, d))):
        text = b"%s speaking after A left" % speaker.name.encode()
        s.say(speaker, text + b"\n")
        for x in listeners:
            s.expect(x, said(speaker, text), what=f"{x.name} receives {speaker.name}'s line",
                     others=[speaker], hint=fd_hint)
    s.expect_alive("after a client left", left_hint)


@pytest.mark.points(8)
def test_hundred_clients(chat):
    """100 clients send 10 lines each: every client gets exactly the others' 990, each sender in order"""
    s = chat()
    clients = s.join_all(100, timeout=20)
    for r in range(10):
        for c in clients:
            s.say(c, b"msg %d from %s\n" % (r, c.nick.encode()))
    s.room.wait_lines(clients, lambda c: c.pos + 990, timeout=20)
    pattern = re.compile(rb"<([^>]*)> msg (\d) from (\S+)")
    nicks = [c.nick.encode() for c in clients]
    hint = ("each client needs its own input buffer and output queue; every complete line goes to every "
            "other client, in the order its sender sent it (§5.2, §6.2)")
    for c in clients:
        got = c.lines[c.pos:]
        seen: dict[bytes, list[int]] = {}
        strange = []
        for line in got:
            m = pattern.fullmatch(line)
            if m and m.group(1) == m.group(3):
                seen.setdefault(m.group(1), []).append(int(m.group(2)))
            else:
                strange.append(line)
        problem = None
        if strange:
            problem = f"it received a line that is not '<NICK> msg R from NICK': {fb.quote(strange[0])}"
        elif c.nick.encode() in seen:
            problem = f"it received its own lines back ({len(seen[c.nick.encode()])} of them)"
        else:
            for other in nicks:
                if other != c.nick.encode() and seen.get(other) != list(range(10)):
                    problem = (f"from {other.decode()} it received rounds {seen.get(other, [])} "
                               f"instead of [0, 1, ..., 9]")
                    break
            if problem is None and len(got) != 990:
                problem = f"it received {len(got)} lines instead of 990"
        if problem:
            fb.fail(f"100 clients, 10 lines each: {c.name} ({c.nick}): {problem}.",
                    details=s.details([c]), hint=hint)


@pytest.mark.points(5)
def test_fragmented_through_proxy(chat, fragmenting_proxy):
    """Lines delivered one byte per segment (through a proxy) are relayed whole"""
    s = chat()
    d = s.join("the direct client")
    proxy = fragmenting_proxy((s.host, s.port), chunk=1, delay_s=0.0005)
    p = s.join("the client behind the fragmenting proxy", host=proxy.host, port=proxy.port)
    hint = ("recv() may return any part of a line: keep the bytes in the client's input buffer and "
            "handle a line only once its LF has arrived (§6.1, §6.2)")
    s.expect(d, b"* %s joined" % p.nick.encode(), what="the direct client is told of the proxied one", hint=hint)
    s.say(p, b"first line, one byte per segment\nsecond line\n")
    s.expect_lines(d, [said(p, b"first line, one byte per segment"), said(p, b"second line")],
                   what="two lines sent one byte at a time", others=[p], hint=hint)
    s.say(p, b"/nick sliced\n")
    line = rename(p, b"sliced")
    s.expect(d, line, what="a /nick command sent one byte at a time", others=[p], hint=hint)
    s.expect(p, line, what="the proxied client's own rename", hint=hint, timeout=5)
    s.say(d, b"back to you, byte by byte\n")
    s.expect(p, said(d, b"back to you, byte by byte"), what="a line to the proxied client", others=[d],
             hint=hint, timeout=5)


@pytest.mark.points(5)
def test_many_lines_one_segment(chat):
    """Many lines in one segment are all handled, in order"""
    s = chat()
    a, b = s.join_all(2)
    hint = ("one recv() may bring many lines: after each recv(), handle every complete line in the buffer, "
            "not just the first (§6.2)")
    short = [b"short %d" % i for i in range(50)]
    s.say(a, b"".join(x + b"\n" for x in short))
    s.expect_lines(b, [said(a, x) for x in short], what="50 lines sent in one segment", others=[a], hint=hint)
    long = [b"line %03d %s" % (i, b"x" * 60) for i in range(200)]
    s.say(a, b"".join(x + b"\n" for x in long))
    s.expect_lines(b, [said(a, x) for x in long], what="200 lines (14 KB) in one send()", others=[a],
                   hint=hint + "; a line may also straddle two recv()s (§6.1)")


@pytest.mark.points(3)
def test_crlf_and_empty_lines(chat):
    """CRLF line ends are accepted (the CR is not relayed); empty lines are ignored"""
    s = chat()
    a, b = s.join_all(2)
    s.say(a, b"with crlf\r\n\r\n\n/nick crlf_user\r\nafter rename\r\n")
    hint = "a CR just before the LF belongs to the terminator: drop it; an empty line is not a message (§3.1, §6.4)"
    s.expect(b, said(a, b"with crlf"), what="a line ending in CRLF", others=[a], hint=hint)
    s.expect(b, rename(a, b"crlf_user"), what="'/nick crlf_user' ending in CRLF (after two empty lines)",
             others=[a], hint=hint)
    s.expect(b, said(a, b"after rename"), what="a line after the rename", others=[a], hint=hint)


@pytest.mark.points(5)
def test_interleaved_partial_lines(chat):
    """Two clients' half-lines interleave: each line is put together from its own sender's bytes"""
    s = chat()
    a, b = s.join_all(2)
    hint = "each client has its own input buffer, in its own struct: never one buffer for all (§6.2, §7.1)"
    s.say(a, b"hel")
    s.say(b, b"ping\n")
    s.expect(a, said(b, b"ping"), what="B's line while A's 'hel' waits in A's buffer", others=[b], hint=hint)
    s.say(b, b"wor")
    s.say(a, b"lo\n")
    s.expect(b, said(a, b"hello"), what="A's 'hel' + 'lo\\n' while B's 'wor' waits", others=[a], hint=hint)
    s.say(b, b"ld\n")
    s.expect(a, said(b, b"world"), what="B's 'wor' + 'ld\\n'", others=[b], hint=hint)


@pytest.mark.points(6)
def test_nick_rules(chat):
    """/nick: everyone gets '* OLD is now NEW'; taken or invalid nicks get an error, to the sender only"""
    s = chat()
    a, b, c = s.join_all(3)
    hint = "§3.3: 1 to 16 of [A-Za-z0-9_-], unique; errors go to the sender only"
    s.say(a, b"/nick alice\n")
    line = rename(a, b"alice")
    for x in (a, b, c):
        s.expect(x, line, what=f"{x.name} is told of A's rename", others=[a],
                 hint="a successful /nick is announced to everyone, the renamed client included (§3.3)")
    s.say(b, b"/nick alice\n")
    s.expect(b, b"! nick taken", what="B asks for 'alice', which A has", hint=hint)
    for bad in (b"x" * 17, b"bad!name", b"two words", b"caf\xc3\xa9", b""):
        s.say(b, (b"/nick " + bad if bad else b"/nick") + b"\n")
        s.expect(b, b"! invalid nick", what=f"B asks for {bad!r}", hint=hint)
    longest = b"Bob-2_abcdefghij"
    s.say(b, b"/nick " + longest + b"\n")
    line = rename(b, longest)
    for x in (a, b, c):
        s.expect(x, line, what=f"{x.name}'s next line: B's rename to a valid 16-character nick "
                 "(B's errors must not reach the others)", others=[b], hint=hint)
    s.say(a, b"hi from alice\n")
    for x in (b, c):
        s.expect(x, said(a, b"hi from alice"), what="a line after a rename carries the new nick", others=[a],
                 hint="use the client's current nick in '<NICK> text' (§3.5)")
    m = GUEST.fullmatch(c.nick.encode())
    nxt = b"guest%d" % (int(c.nick[5:]) + 1) if m else b"guest99"
    s.say(c, b"/nick " + nxt + b"\n")
    line = rename(c, nxt)
    for x in (a, b, c):
        s.expect(x, line, what=f"{x.name} is told of C's rename to {nxt.decode()}", others=[c], hint=hint)
    d = s.join("client D")
    fb.expect(d.nick not in (a.nick, b.nick, c.nick),
              f"client D was welcomed as {d.nick!r}, a nick another client already has.",
              details=s.details([c, d]), hint="a guest nick must be unique too: skip guestN if it is taken (§3.3)")


@pytest.mark.points(5)
def test_who_and_msg(chat):
    """/who lists the nicks; /msg NICK text reaches NICK only; errors and unknown commands"""
    s = chat()
    a, b, c = s.join_all(3)
    s.say(a, b"/nick alice\n")
    line = rename(a, b"alice")
    for x in (a, b, c):
        s.expect(x, line, what=f"{x.name} is told of A's rename", hint="§3.3")
    s.say(a, b"/who\n")
    who = s.expect(a, re.compile(rb"\* users:( [A-Za-z0-9_-]+)+"), what="/who",
                   hint="answer /who with one line: '* users:' and each nick after a space (§3.4)")
    names = set(who.split()[2:])
    want = {a.nick.encode(), b.nick.encode(), c.nick.encode()}
    fb.expect(names == want, f"/who listed {sorted(names)}, expected {sorted(want)} (in any order).",
              details=s.details([a]), hint="list every client still connected, once (§3.4)")
    s.say(a, b"/msg %s psst, only you\n" % b.nick.encode())
    s.expect(b, b"*alice* psst, only you", what="B receives A's private message", others=[a],
             hint="/msg NICK text sends '*SENDER* text' to NICK only (§3.4)")
    for cmd, reply in ((b"/msg nobody hello", b"! no such nick"), (b"/msg " + b.nick.encode(), b"! usage: /msg NICK text"),
                       (b"/frobnicate now", b"! unknown command"), (b"/Who", b"! unknown command")):
        s.say(a, cmd + b"\n")
        s.expect(a, reply, what=f"A sends {cmd!r}", hint="§3.4, §3.6: the error goes to the sender only")
    s.say(b, b"public again\n")
    for x in (a, c):
        s.expect(x, said(b, b"public again"), what=f"{x.name}'s next line (nothing private or in error may reach it)",
                 others=[b], hint="a private message and an error reach one client only (§3.4)")


@pytest.mark.points(3)
def test_quit(chat):
    """/quit: '* bye', the server closes the connection, the others get '* NICK left'"""
    s = chat()
    a, b, c = s.join_all(3)
    s.say(a, b"/quit\nthis comes after quit\n")
    hint = "on /quit, queue '* bye', mark the client gone, and ignore whatever else it sent (§3.4, §7.2)"
    s.expect(a, b"* bye", what="A's /quit", hint=hint)
    s.expect_eof(a, what="after /quit", hint=hint)
    for x in (b, c):
        s.expect(x, b"* %s left" % a.nick.encode(), what=f"{x.name} is told that A quit", hint=hint)
    s.say(c, b"still here\n")
    s.expect(b, said(c, b"still here"), what="B's next line (A's line after /quit must not be relayed)",
             others=[c], hint=hint)


@pytest.mark.points(5)
def test_line_too_long(chat):
    """A line over 1024 bytes: '! line too long' to its sender, once, and the rest of it is dropped"""
    s = chat()
    a, b = s.join_all(2)
    hint = ("a line may hold 1024 bytes without its LF or CRLF; past that, tell the sender once and drop "
            "bytes up to the next LF (§3.1, §6.3)")
    for body, end in ((b"y" * 1024, b"\n"), (b"w" * 1024, b"\r\n")):
        s.say(a, body + end)
        s.expect(b, said(a, body), what=f"a line of exactly 1024 bytes ending in {end!r}", others=[a], hint=hint)
    s.say(a, b"x" * 1025 + b"\n")
    s.expect(a, b"! line too long", what="a line of 1025 bytes", hint=hint)
    s.say(a, b"z" * 2000)
    s.expect(a, b"! line too long", what="2000 bytes without an LF (yet)",
             hint="say so as soon as more than 1024 bytes have come without an LF: it may never come (§6.3)")
    s.say(a, b"z" * 1000 + b"tail of the long line\n")
    s.say(a, b"short again\n")
    s.expect(b, said(a, b"short again"),
             what="B's next line (no part of a line that was too long may be relayed)", others=[a], hint=hint)
    s.say(b, b"ping\n")
    s.expect(a, said(b, b"ping"), what="A's next line (one '! line too long' per long line)", others=[b],
             hint=hint)


@pytest.mark.points(3)
def test_reset_mid_line(chat):
    """A client resets in the middle of a line: the others get '* NICK left', never the half line"""
    s = chat()
    a, b, c = s.join_all(3)
    s.say(a, b"this line never ends")
    a.reset()
    hint = ("ECONNRESET from recv() ends one client, not the server; a line without its LF is not a "
            "message (§3.2, §6.2)")
    for x in (b, c):
        s.expect(x, b"* %s left" % a.nick.encode(), what=f"{x.name} after A reset its connection", hint=hint)
    s.say(b, b"after the reset\n")
    s.expect(c, said(b, b"after the reset"), what="C's next line", others=[b], hint=hint)
    s.expect_alive("after a client reset mid-line", hint)


# ---- fairness, limits, scale -------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile p (0..100) of values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@pytest.mark.points(9)
def test_slow_reader(chat):
    """A client that never reads: the others' lines arrive within 100 ms (p99), and it is dropped"""
    s = chat()
    sender, r1, r2 = s.join_all(3, names=["the sender", "reader 1", "reader 2"])
    # A small receive buffer, set before connect(), so that its window fills after a few KiB.
    slow = s.join("the non-reader", rcvbuf=4096)
    for x in (sender, r1, r2):
        s.expect(x, b"* %s joined" % slow.nick.encode(), what=f"{x.name} is told the non-reader joined", hint="§3.2")
    s.room.stop_reading(slow)
    readers = [r1, r2]
    prefix = b"<%s> " % sender.nick.encode()
    left = b"* %s left" % slow.nick.encode()
    filler = b"f" * 1000
    scan = {r: r.pos for r in readers}
    arrived: dict[ChatClient, dict[int, float]] = {r: {} for r in readers}
    dropped_after: dict[ChatClient, int] = {}
    strange: list[bytes] = []
    sent_at: dict[int, float] = {}
    sent_bytes = 0

    def absorb() -> None:
        for r in readers:
            while scan[r] < len(r.lines):
                line, t = r.lines[scan[r]], r.times[scan[r]]
                scan[r] += 1
                if line.startswith(prefix + b"probe "):
                    arrived[r][int(line[len(prefix) + 6:])] = t
                elif line == left:
                    dropped_after.setdefault(r, sent_bytes)
                elif not line.startswith(prefix + filler):
                    strange.append(line)

    stall_hint = ("never block on one client: non-blocking sockets, and what a client cannot take yet waits in "
                  "its own output queue (§5.1, §5.2)")
    limit_hint = "disconnect a client whose output queue passes its limit (256 KiB), and tell the others (§5.3)"
    rounds_after_drop = 0
    i = 0
    while True:
        batch = b"".join(b"%s %d\n" % (filler, k) for k in range(8)) + b"probe %d\n" % i
        sent_at[i] = time.monotonic()
        s.say(sender, batch, timeout=5)
        sent_bytes += len(batch)
        if not s.room.pump_until(lambda: (absorb(), all(i in arrived[r] for r in readers))[1], 2.0):
            late = [r.name for r in readers if i not in arrived[r]]
            fb.fail(f"while the non-reader's queue filled ({sent_bytes} bytes sent so far), {' and '.join(late)} "
                    f"did not receive probe {i} within {2 * time_scale():g} s: the server is stalled.",
                    details=s.details([*readers, sender]), hint=stall_hint)
        if strange:
            fb.fail("a reader received an unexpected line while the non-reader's queue filled.",
                    received=strange[0], details=s.details(readers), hint="§3.5")
        if len(dropped_after) == len(readers):
            rounds_after_drop += 1
            if rounds_after_drop >= 20 and i >= 150:
                break
        elif sent_bytes > 16 << 20:
            fb.fail(f"the non-reader was never dropped: 16 MiB were sent to it, and nobody was told "
                    f"'{left.decode()}'.", details=s.details(readers), hint=limit_hint)
        i += 1
    latencies = [arrived[r][n] - sent_at[n] for r in readers for n in arrived[r]]
    p99 = percentile(latencies, 99)
    worst = max(latencies)
    # Shown with `pytest -s` (or -rP): the figures the handout quotes in §5.3.
    print(f"test_slow_reader: non-reader dropped after {min(dropped_after.values())} bytes were sent to it; "
          f"{len(latencies)} samples: p50 {percentile(latencies, 50) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
          f"worst {worst * 1000:.2f} ms")
    fb.expect(p99 <= 0.100 * time_scale(),
              f"with one client not reading, the others' lines took {p99 * 1000:.1f} ms at the 99th percentile "
              f"(worst {worst * 1000:.1f} ms, {len(latencies)} samples); at most 100 ms expected.",
              details=s.details(readers), hint=stall_hint)
    s.expect_eof(slow, what="the non-reader, once dropped", hint=limit_hint, timeout=5)


@pytest.mark.points(4)
def test_max_clients(chat):
    """--max-clients 3: the 4th client gets '! server full' and is closed; the others carry on"""
    s = chat("--max-clients", "3")
    a, b, c = s.join_all(3)
    d = s.connect("client D (one too many)")
    s.room.pump_until(lambda: len(d.lines) >= 1 or d.done, 3)
    hint = "when --max-clients are connected, send '! server full' to the newcomer and close it (§3.2, §4.3)"
    s.expect(d, b"! server full", what="a 4th client with --max-clients 3", hint=hint)
    s.expect_eof(d, what="the refused client", hint=hint)
    s.say(c, b"just us three\n")
    for x in (a, b):
        s.expect(x, said(c, b"just us three"), what=f"{x.name}'s next line (a refused client never joined)",
                 others=[c], hint=hint)
    a.close()
    for x in (b, c):
        s.expect(x, b"* %s left" % a.nick.encode(), what=f"{x.name} is told A left", hint="§3.2")
    s.join("client E (after A left, there is room)")


def raise_own_nofile(want: int) -> None:
    """Let the test process itself hold `want` sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@pytest.mark.points(5)
def test_thousand_clients(chat):
    """1000 clients at once (RLIMIT_NOFILE raised to 2048), then '! server full' at FD_SETSIZE"""
    raise_own_nofile(4096)
    s = chat(limits=Limits(nofile=2048))
    total, wave = 1040, 100
    clients: list[ChatClient] = []
    hint = ("1040 connections need fds past FD_SETSIZE (1024): take 1000 clients, and refuse any fd >= "
            "FD_SETSIZE with '! server full' before FD_SET() ever sees it (§4.3)")
    for start in range(0, total, wave):
        batch = [s.connect(f"client {k + 1}") for k in range(start, min(total, start + wave))]
        clients += batch
        if not s.room.wait_lines(batch, lambda c: 1, timeout=10):
            late = next(c for c in batch if not c.lines)
            fb.fail(f"with {len(clients)} clients connected, {late.name} got no line within {10 * time_scale():g} s "
                    "(a welcome or '! server full').", details=s.details([late]), hint=hint)
    for k, c in enumerate(clients):
        if not c.lines:
            s.settle()
            fb.fail(f"{c.name}'s connection was closed ({c.error or 'EOF'}) before any line (a welcome or "
                    "'! server full').", details=s.details([c]), hint=hint)
        if c.nick is None and c.lines[0] != b"! server full":
            fb.fail(f"{c.name}'s first line is neither '* welcome NICK' nor '! server full'.",
                    received=c.lines[0], details=s.details([c]), hint=hint)
        if k < 1000 and c.nick is None:
            fb.fail(f"only {k} clients were welcomed before the server refused {c.name}; 1000 must fit.",
                    received=c.lines[0], expected=b"* welcome guestN", details=s.details([c]), hint=hint)
    welcomed = [c for c in clients if c.nick is not None]
    refused = [c for c in clients if c.nick is None]
    fb.expect(len(refused) > 0,
              f"all {total} clients were welcomed: the last ones must have had fds >= FD_SETSIZE, which "
              "select() cannot watch.", details=s.details(), hint=hint)
    if not s.room.pump_until(lambda: all(c.done for c in refused), 5):
        fb.fail("a refused client was not closed.", details=s.details([c for c in refused if not c.done][:1]),
                hint=hint)
    s.expect_alive("after refusing clients at FD_SETSIZE", hint)
    n = len(welcomed)
    index = {id(c): k for k, c in enumerate(welcomed)}
    joined = [b"* %s joined" % c.nick.encode() for c in welcomed]
    s.room.wait_lines(welcomed, lambda c: n - index[id(c)], timeout=20)
    for k, c in enumerate(welcomed):
        if c.lines[1:] != joined[k + 1:]:
            fb.fail(f"{c.name} ({c.nick}) was not told of exactly the {n - 1 - k} clients welcomed after it: "
                    f"it has {len(c.lines) - 1} lines after its welcome.", details=s.details([c]),
                    hint="announce each welcomed client once; a refused one never joined (§3.2)")
        c.pos = len(c.lines)
    first = welcomed[0]
    s.say(first, b"hello, crowd\n")
    s.room.wait_lines(welcomed[1:], lambda c: c.pos + 1, timeout=10)
    for c in welcomed[1:]:
        s.expect(c, said(first, b"hello, crowd"), what=f"a line to {n} clients, at {c.name}", others=[first],
                 hint="broadcast to every client still connected (§3.5)", timeout=1)


@pytest.mark.points(2)
def test_out_of_fds(chat):
    """Out of fds (RLIMIT_NOFILE 32, accept() fails with EMFILE): newcomers get '! server full'"""
    s = chat(limits=Limits(nofile=32))
    hint = ("when accept() fails with EMFILE the newcomer stays in the backlog and the listener stays readable: "
            "free the spare fd, accept and refuse it, take the spare back (refuse_without_fds, §5.4)")
    clients = [s.connect(f"client {k + 1}") for k in range(40)]
    if not s.room.wait_lines(clients, lambda c: 1, timeout=5):
        late = [c for c in clients if not c.lines]
        fb.fail(f"with only 32 fds allowed, {len(late)} of 40 clients got no line at all within {5 * time_scale():g} s "
                f"(neither a welcome nor '! server full').", details=s.details(late[:1]), hint=hint)
    welcomed = [c for c in clients if c.nick is not None]
    refused = [c for c in clients if c.nick is None]
    for c in refused:
        s.expect(c, b"! server full", what="a newcomer when no fd is left", hint=hint)
    fb.expect(welcomed and refused, f"{len(welcomed)} clients were welcomed and {len(refused)} refused; "
              "with 32 fds some must be refused.", details=s.details(), hint=hint)
    s.expect_alive("out of fds", hint)
    index = {id(c): k for k, c in enumerate(welcomed)}
    s.room.wait_lines(welcomed, lambda c: len(welcomed) - index[id(c)], 5)
    for c in welcomed:
        c.pos = len(welcomed) - index[id(c)]
    leaving = welcomed[0]
    leaving.close()
    s.room.wait_lines(welcomed[1:], lambda c: c.pos + 1, 5)
    for c in welcomed[1:]:
        s.expect(c, b"* %s left" % leaving.nick.encode(), what=f"{c.name} after one client left", hint="§3.2")
    s.join("a client after a slot was freed")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process pid so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / __import__("os").sysconf("SC_CLK_TCK")


@pytest.mark.points(3)
def test_idle_server_sleeps(chat):
    """An idle server with 3 clients uses under 20 ms of CPU time in 2 s"""
    s = chat()
    clients = s.join_all(3)
    s.say(clients[0], b"one line, then silence\n")
    for x in clients[1:]:
        s.expect(x, said(clients[0], b"one line, then silence"), what=f"{x.name} before the quiet period",
                 others=[clients[0]], hint="§3.5")
    before, t0 = cpu_seconds(s.server.pid), time.monotonic()
    s.room.pump_for(2.0)
    used, elapsed = cpu_seconds(s.server.pid) - before, time.monotonic() - t0
    fb.expect(used < 0.020,
              f"with 3 idle clients, chat_server used {used * 1000:.0f} ms of CPU time in {elapsed:.1f} s "
              "(from /proc/PID/stat); under 20 ms expected.", details=s.details(),
              hint="select() with no timeout (NULL) sleeps until something happens; a zero timeout, or a socket "
                   "in the write set with nothing to write, makes a busy loop (§4.1, §5.2)")
    stray = [c for c in clients if len(c.lines) > c.pos]
    fb.expect(not stray, "a client received a line while nobody spoke.",
              details=s.details(stray), hint="§3.5")


@pytest.mark.points(3)
def test_no_fd_leak(chat):
    """500 clients connect and leave (EOF, reset, /quit): no fd is leaked"""
    s = chat()
    watcher = s.join("the watcher")
    before = open_fds(s.server.pid)
    for wave in range(10):
        batch = [s.connect(f"client {wave * 50 + k + 1}") for k in range(50)]
        if not s.room.wait_lines(batch, lambda c: 1, timeout=10):
            late = next(c for c in batch if not c.lines)
            fb.fail(f"{late.name} was not welcomed within {10 * time_scale():g} s.", details=s.details([late]),
                    hint="§3.2")
        for k, c in enumerate(batch):
            if k % 3 == 0:
                c.reset()
            elif k % 3 == 1:
                s.say(c, b"/quit\n")
                c.close()
            else:
                c.close()
    ok = s.room.pump_until(lambda: sum(1 for x in watcher.lines if x.endswith(b" left")) >= 500, 15)
    n_left = sum(1 for x in watcher.lines if x.endswith(b" left"))
    fb.expect(ok, f"the watcher was told of {n_left} departures out of 500.", details=s.details([watcher]),
              hint="every EOF, reset and /quit must end in '* NICK left' (§3.2)")
    deadline = time.monotonic() + 3 * time_scale()
    while (after := open_fds(s.server.pid)) != before and time.monotonic() < deadline:
        s.room.pump(0.05)
    fb.expect(after == before,
              f"chat_server had {before} open fds with one client, and {after} after 500 more came and went.",
              details=[f"  open fds now: {sorted(__import__('os').listdir(f'/proc/{s.server.pid}/fd'), key=int)}",
                       s.server.describe()],
              hint="close() the fd of every client that leaves, whichever way it leaves (§7.3)")


# ---- real tools, addresses, arguments, signals -----------------------------------------------
@pytest.mark.points(2)
def test_ncat_client(chat):
    """ncat (Debian's nmap ncat) as a client: it joins, talks, and leaves at EOF"""
    s = chat()
    py = s.join("the Python client")
    nc = Program(["ncat", s.host, str(s.port)], name="ncat")
    try:
        hint = "any TCP client must work, whatever its way of writing: one line per write() here (§3)"
        line = s.expect(py, re.compile(rb"\* (guest\d+) joined"), what="the Python client sees ncat join", hint=hint)
        nick = line.split()[1]
        nc.write_stdin(b"hello from ncat\n")
        s.expect(py, b"<%s> hello from ncat" % nick, what="ncat's line", hint=hint)
        s.say(py, b"hello, ncat\n")
        m = nc.wait_stdout(b"<%s> hello, ncat\n" % py.nick.encode(), 3)
        fb.expect(m is not None and nc.stdout.startswith(b"* welcome %s\n" % nick),
                  "ncat's output lacks its welcome or the Python client's line.",
                  details=[f"  ncat printed: {fb.quote(nc.stdout)}", nc.describe(), s.server.describe()], hint=hint)
        nc.close_stdin()
        s.expect(py, b"* %s left" % nick, what="ncat half-closes at the end of its input", hint=hint)
        rc = nc.wait(3)
        fb.expect(rc == 0, f"ncat ended with {nc.exit_text()} after the server closed its connection.",
                  details=[nc.describe()], hint="on EOF from a client, close its connection (§3.2)")
    finally:
        nc.stop()


@pytest.mark.points(2)
def test_ipv6(chat):
    """chat_server -6 -b ::1: two clients chat over IPv6"""
    s = chat("-6", host="::1")
    a, b = s.join_all(2)
    s.say(a, b"over IPv6\n")
    s.expect(b, said(a, b"over IPv6"), what="a line over IPv6", others=[a],
             hint="resolve with getaddrinfo() and the family from -4/-6; never hard-code AF_INET (§2.1)")


@pytest.mark.points(2)
def test_bytes_relayed_unchanged(chat):
    """Any byte but LF (NUL, tab, bytes over 0x7f) is relayed unchanged"""
    s = chat()
    a, b = s.join_all(2)
    text = b"bin\x00ary\ttext \x80\xff\xfe and a lone \r inside"
    s.say(a, text + b"\n")
    s.expect(b, said(a, text), what="a line holding NUL and high bytes", others=[a],
             hint="a line is bytes with a length, not a C string: copy it with memcpy(), never strlen() or %s (§6.4)")


@pytest.mark.points(3)
def test_arguments(chat, spawn):
    """Arguments: -4 and --max-clients work; bad ones give a usage line and exit status 2"""
    s = chat("-4", "--max-clients", "2")
    a, b = s.join_all(2)
    s.say(a, b"arguments parsed\n")
    s.expect(b, said(a, b"arguments parsed"), what="with -4 --max-clients 2", others=[a], hint="§2.1")
    for args in ([], ["-p", "x"], ["-p", "0", "extra"], ["-p", "0", "--max-clients", "0"],
                 ["-p", "0", "--max-clients", "lots"]):
        p = spawn("chat_server", *args, stdin=b"")
        rc = p.wait(5)
        err = p.stderr.decode("utf-8", "replace")
        fb.expect(rc == 2 and "usage" in err.lower(),
                  f"`chat_server {' '.join(args)}` should print a usage line on stderr and exit 2; "
                  f"it ended with {p.exit_text()}.", details=[p.describe()],
                  hint="check every argument: parse_port(), and parse_uint() for --max-clients, 1 or more (§2.1)")


@pytest.mark.points(2)
def test_sigterm(chat):
    """SIGTERM with clients connected: every connection closed, exit status 0, nothing leaked"""
    s = chat()
    a, b = s.join_all(2)
    s.say(a, b"half a line")
    s.server.send_signal(signal.SIGTERM)
    rc = s.server.wait(3)
    fb.expect(rc == 0, f"after SIGTERM chat_server ended with {s.server.exit_text()}, expected exit status 0.",
              details=s.details(),
              hint="catch SIGTERM with sigaction(); let select() return EINTR, close everything, free every "
                   "client and return 0 (§4.5)")
    for x in (a, b):
        s.expect_eof(x, what="after SIGTERM", hint="§4.5")
