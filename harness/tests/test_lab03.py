"""Lab 03: a multi-client chat server around one select() loop. Tests for chat_server, with points.

The tests follow the handout's steps (labs/03-select-chat/README.md §8), so that the score
rises at each one: chatbuf.c's unit tests (steps 1 and 2), the loop and its signals (3),
accepting (4), welcoming (5), chatting (6), commands (7). Each names the requirement labels
[R§-n] of the handout it checks. The clients, the step language (Session: join, say, expect)
and the fixture `chat` live in harness/labs/lab03.py.
"""
from __future__ import annotations

import re
import signal
import socket
import time

import pytest

from harness import feedback as fb
from harness import timing
from harness.labs.lab03 import (GUEST, ChatClient, Flooder, addr_of, cpu_seconds, percentile,
                                raise_own_nofile, rename, said)
from harness.paths import time_scale
from harness.procs import Limits, Program, open_fds
from harness.textsafe import printable

LAB = "03"
#: The tests fit to run under valgrind memcheck (grade --valgrind): everything but timing and scale.
VALGRIND_SELECT = "unit or stops_on or accept_log or welcome or two_clients or leave_and or fragmented or many_lines or partial_sends or crlf or interleaved or nick_rules or test_who or test_msg or command_words or log_lines or quit or too_long or reset_mid or max_clients or fd_leak or ncat or ipv6 or bytes_relayed or arguments or frees_everything"


# ---- steps 1 and 2: chatbuf.c on its own --------------------------------------------------------
#: How many checks each group of chatbuf_test.c makes (all must print "ok - ...").
UNIT_CHECKS = {"outq": 12, "linebuf": 30}


def run_unit(spawn, group: str, hint: str) -> None:
    """Run the given C unit test chatbuf_test on one group of checks; fail with its FAIL lines."""
    p = spawn("chatbuf_test", group, stdin=b"")
    rc = p.wait(20)
    out = printable(p.stdout.decode("utf-8", "replace"))
    fails = [ln for ln in out.splitlines() if ln.startswith("FAIL")]
    oks = [ln for ln in out.splitlines() if ln.startswith("ok - ")]
    if (rc == 0 and not fails and len(oks) == UNIT_CHECKS[group]
            and re.search(r"^passed: 0 checks failed$", out, re.M)):
        return
    if rc is None:
        why = "did not finish within 20 s (an endless loop?)"
    elif fails:
        why = f"found {len(fails)} failed check(s); the first: {fails[0]}"
    elif rc == 0 and len(oks) != UNIT_CHECKS[group]:
        why = f"reported {len(oks)} passed checks, not {UNIT_CHECKS[group]} (was chatbuf_test.c edited?)"
    else:
        why = f"stopped before its summary line ({p.exit_text()})"
    fb.fail(f"`chatbuf_test {group}` (the unit tests of chatbuf.c, run alone with `make unit`) {why}.",
            details=[f"  checks passed before that: {len(oks)}" + (f" (the last: {oks[-1][5:]})" if oks else ""),
                     p.describe()], hint=hint)


@pytest.mark.spec("R5.2-1")
@pytest.mark.points(3)
def test_unit_outq(spawn):
    """Step 1: chatbuf.c's output queue (outq_push, outq_consume) passes its unit tests"""
    run_unit(spawn, "outq", "outq_push() appends after data[head .. head + len), growing as needed; "
                            "outq_consume(n) drops n bytes from the front (§5.2)")


@pytest.mark.spec("R3.1-1", "R3.1-5", "R3.1-6")
@pytest.mark.points(3)
def test_unit_linebuf(spawn):
    """Step 2: chatbuf.c's line framing (linebuf_space, linebuf_next) passes its unit tests"""
    run_unit(spawn, "linebuf", "one line per linebuf_next() call, up to an LF found with memchr(); CR before LF "
                               "removed; over 1024 bytes: LINE_TOO_LONG at once, then drop up to the LF (§6.2-§6.4)")


# ---- step 3: the loop, the listener, the signals ------------------------------------------------
def busy_port() -> socket.socket:
    """A socket listening on an ephemeral port of 127.0.0.1 (the caller closes it)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


@pytest.mark.spec("R2.2-1", "R2.2-7", "R2.2-8")
@pytest.mark.points(3)
def test_stops_on_signal(spawn):
    """Step 3: the loop runs (no client yet) until SIGTERM or SIGINT, then chat_server exits 0"""
    with busy_port() as taken:
        port = taken.getsockname()[1]
        p = spawn("chat_server", "-b", "127.0.0.1", "-p", str(port), stdin=b"")
        rc = p.wait(5)
        want = re.compile(rb"^chat_server: bind 127\.0\.0\.1:%d: Address already in use$" % port, re.M)
        fb.expect(rc == 1 and want.search(p.stderr) is not None,
                  f"`chat_server -b 127.0.0.1 -p {port}` on a port already taken should print "
                  f"'chat_server: bind 127.0.0.1:{port}: Address already in use' and exit 1; "
                  f"it ended with {p.exit_text()}.", details=[p.describe()],
                  hint="a listener that cannot be set up is a fatal error: message, exit status 1 (§2.2)")
    for sig in (signal.SIGTERM, signal.SIGINT):
        server, host, port = spawn.server("chat_server", "-b", "127.0.0.1", "-p", "0", stdin=b"")
        fb.expect(re.search(rb"^listening on 127\.0\.0\.1:%d\n" % port, server.stdout, re.M) is not None
                  and port > 0,
                  f"chat_server -b 127.0.0.1 -p 0 printed {fb.quote(server.stdout)}; expected "
                  "'listening on 127.0.0.1:PORT' with the port the kernel chose.", details=[server.describe()],
                  hint="§2.2")
        # Idle, with no client: the loop must be asleep in pselect(), not gone.
        rc = server.wait(0.3)
        fb.expect(rc is None, f"with no client at all, chat_server ended by itself ({server.exit_text()}).",
                  details=[server.describe()],
                  hint="serve() loops until a signal sets stop_requested: drop_gone(), flush_all(), "
                       "build_fdsets(), pselect(), dispatch() (§4.1); finish step 3 of §8 first")
        server.send_signal(sig)
        rc = server.wait(3)
        fb.expect(rc == 0, f"after {sig.name}, chat_server ended with {server.exit_text()}; "
                  "expected exit status 0.", details=[server.describe()],
                  hint="pselect() returns -1 with errno EINTR when the signal arrives: that is not an error; "
                       "go round, see stop_requested, and return 0 (§4.5)")


# ---- step 4: accepting ------------------------------------------------------------------------
@pytest.mark.spec("R2.2-2")
@pytest.mark.points(2)
def test_accept_log(chat):
    """Step 4: a newcomer is accepted and logged as 'accepted ADDR:PORT as guest1' on stderr"""
    s = chat()
    c = s.connect("the first client")
    want = re.compile(rb"^accepted %s as guest1$" % re.escape(addr_of(c).encode()), re.M)
    if s.server.wait_stderr(want, 3) is None:
        got = [ln for ln in s.server.stderr.splitlines() if ln.startswith(b"accepted")]
        s.fail(f"the first client (from {addr_of(c)}) connected, but chat_server did not log "
               f"'accepted {addr_of(c)} as guest1'.", received=got[0] if got else b"",
               expected=b"accepted %s as guest1" % addr_of(c).encode(), clients=[c],
               hint="on_accept(): accept() the newcomer, then add_client() logs it with the peer's address "
                    "(sockaddr_str) and its guest nick (§2.2, §7.1)")


# ---- step 5: welcoming (queues and sends) ---------------------------------------------------
@pytest.mark.spec("R3.2-1", "R3.2-3")
@pytest.mark.points(4)
def test_welcome_and_join(chat):
    """Step 5: newcomers get '* welcome guest1', 'guest2', ...; the others get '* guestN joined'"""
    s = chat()
    a = s.join("client A")
    b = s.join("client B")
    s.check((a.nick, b.nick) == ("guest1", "guest2"),
              f"the first two clients of a new server were welcomed as {a.nick!r} and {b.nick!r}; "
              "expected 'guest1' and 'guest2'.", clients=[a, b],
              hint="N counts connections from 1: guest1, guest2, ... (pick_guest_nick(), §3.2)")
    join_hint = "on accept, queue '* NICK joined' for every client except the newcomer (§3.2)"
    s.expect(a, b"* guest2 joined", what="A is told that B joined", hint=join_hint)
    c = s.join("client C")
    for x in (a, b):
        s.expect(x, b"* %s joined" % c.nick.encode(), what=f"{x.name} is told that C joined", hint=join_hint)
    d = s.join("client D")
    for x in (a, b, c):
        s.expect(x, b"* %s joined" % d.nick.encode(), what=f"{x.name} is told that D joined",
                 hint="a newcomer is not told of its own join; every other client is (§3.2)")
    s.check(len({a.nick, b.nick, c.nick, d.nick}) == 4, "two clients got the same nick.",
              clients=[a, b, c, d], hint="§3.2")
    s.check(len(d.lines) == 1, f"client D received {len(d.lines)} lines; only its welcome was due.",
              clients=[d], hint="the newcomer gets '* welcome NICK' and is not told of its own join (§3.2)")


@pytest.mark.spec("R3.2-5", "R4.3-1")
@pytest.mark.points(3)
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
            s.fail(f"with {len(clients)} clients connected, {late.name} got no line within {10 * time_scale():g} s "
                   "(a welcome or '! server full').", clients=[late], hint=hint)
    for k, c in enumerate(clients):
        if not c.lines:
            s.fail(f"{c.name}'s connection was closed ({c.error or 'EOF'}) before any line (a welcome or "
                   "'! server full').", clients=[c], hint=hint)
        if c.nick is None and c.lines[0] != b"! server full":
            s.fail(f"{c.name}'s first line is neither '* welcome NICK' nor '! server full'.",
                   received=c.lines[0], clients=[c], hint=hint)
        if k < 1000 and c.nick is None:
            s.fail(f"only {k} clients were welcomed before the server refused {c.name}; 1000 must fit.",
                   received=c.lines[0], expected=b"* welcome guestN", clients=[c], hint=hint)
    welcomed = [c for c in clients if c.nick is not None]
    refused = [c for c in clients if c.nick is None]
    s.check(len(refused) > 0,
              f"all {total} clients were welcomed: the last ones must have had fds >= FD_SETSIZE, which "
              "select() cannot watch.", clients=[], hint=hint)
    if not s.room.pump_until(lambda: all(c.done for c in refused), 5):
        s.fail("a refused client was not closed.", clients=[c for c in refused if not c.done][:1], hint=hint)
    s.expect_alive("after refusing clients at FD_SETSIZE", hint)
    n = len(welcomed)
    index = {id(c): k for k, c in enumerate(welcomed)}
    joined = [b"* %s joined" % c.nick.encode() for c in welcomed]
    s.room.wait_lines(welcomed, lambda c: n - index[id(c)], timeout=20)
    for k, c in enumerate(welcomed):
        if c.lines[1:] != joined[k + 1:]:
            s.fail(f"{c.name} ({c.nick}) was not told of exactly the {n - 1 - k} clients welcomed after it: "
                   f"it has {len(c.lines) - 1} lines after its welcome.", clients=[c],
                   hint="announce each welcomed client to all the others; a refused one never joined (§3.2)")


@pytest.mark.spec("R4.1-1")
@pytest.mark.points(3)
def test_idle_server_sleeps(chat):
    """An idle server with 3 clients uses under 20 ms of CPU time in 2 s"""
    s = chat()
    clients = s.join_all(3)
    before, t0 = cpu_seconds(s.server.pid), time.monotonic()
    s.room.pump_for(2.0)
    used, elapsed = cpu_seconds(s.server.pid) - before, time.monotonic() - t0
    s.expect_alive("while idle", "§4.1")
    s.check(used < 0.020,
              f"with 3 idle clients, chat_server used {used * 1000:.0f} ms of CPU time in {elapsed:.1f} s "
              "(from /proc/PID/stat); under 20 ms expected.", clients=[],
              hint="select() with no timeout (NULL) sleeps until something happens; a zero timeout, or a socket "
                   "in the write set with nothing to write, makes a busy loop (§4.1, §5.2)")
    s.expect_quiet(clients, what="while nobody spoke", hint="§3.2")


@pytest.mark.spec("R2.1-1", "R2.1-3", "R2.1-4")
@pytest.mark.points(2)
def test_arguments(chat, spawn):
    """Arguments: -4 and --max-clients work; bad ones give a usage line and exit status 2"""
    s = chat("-4", "--max-clients", "2")
    s.join_all(2)
    extra = s.connect("a third client (--max-clients 2)")
    s.expect(extra, b"! server full", what="a third client with --max-clients 2",
             hint="refuse newcomers once --max-clients are connected (§2.1, §3.2)")
    for args in ([], ["-p", "x"], ["-p", "70000"], ["-p", "0", "extra"], ["-p", "0", "--max-clients", "0"],
                 ["-p", "0", "--max-clients", "1025"], ["-p", "0", "--max-clients", "lots"], ["-p", "0", "-z"]):
        p = spawn("chat_server", *args, stdin=b"")
        rc = p.wait(5)
        fb.expect(rc == 2 and re.search(rb"^usage: chat_server ", p.stderr, re.M) is not None,
                  f"`chat_server {' '.join(args)}` should print 'usage: chat_server ...' on stderr and exit 2; "
                  f"it ended with {p.exit_text()}.", details=[p.describe()],
                  hint="check every argument: parse_port(), and parse_uint() for --max-clients, 1 to "
                       "FD_SETSIZE (§2.1)")


# ---- step 6: chatting ------------------------------------------------------------------------------
@pytest.mark.spec("R3.5-1", "R4.2-1")
@pytest.mark.points(4)
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


@pytest.mark.spec("R3.2-4", "R4.2-1")
@pytest.mark.points(4)
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


@pytest.mark.spec("R3.5-2")
@pytest.mark.points(4)
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
            s.fail(f"100 clients, 10 lines each: {c.name} ({c.nick}): {problem}.",
                    clients=[c], hint=hint)


@pytest.mark.spec("R3.1-6")
@pytest.mark.points(4)
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


@pytest.mark.spec("R3.1-6")
@pytest.mark.points(4)
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


@pytest.mark.spec("R3.1-1", "R3.1-2", "R3.1-4")
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
    s.check(b"\r" not in bytes(b.received) and b"\r" not in bytes(a.received),
              "a line from the server ends in CRLF: the server ends its own lines with LF alone.",
              clients=[a, b], hint="§3.1")


@pytest.mark.spec("R3.1-6")
@pytest.mark.points(4)
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


@pytest.mark.spec("R3.4-6", "R3.2-4")
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


@pytest.mark.spec("R3.1-3", "R3.1-5")
@pytest.mark.points(3)
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
    s.say(a, b"v" * 1025 + b"\r\n")
    s.expect(a, b"! line too long", what="a line of 1025 bytes ending in CRLF", hint=hint)
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


@pytest.mark.spec("R3.1-7", "R3.2-4", "R2.2-6")
@pytest.mark.points(3)
def test_reset_mid_line(chat):
    """A client resets in the middle of a line: the others get '* NICK left', never the half line"""
    s = chat()
    a, b, c = s.join_all(3)
    s.say(a, b"this line never ends")
    a_addr = addr_of(a)
    a.reset()
    hint = ("ECONNRESET from recv() ends one client, not the server; a line without its LF is not a "
            "message (§3.2, §6.2)")
    for x in (b, c):
        s.expect(x, b"* %s left" % a.nick.encode(), what=f"{x.name} after A reset its connection", hint=hint)
    s.expect_log(re.compile(rb"^chat_server: (recv|send) %s: (Connection reset by peer|Broken pipe)$"
                            % re.escape(a_addr.encode()), re.M),
                 what="a reset is an error, logged as 'chat_server: recv ADDR:PORT: Connection reset by peer'",
                 hint="recv() failing with ECONNRESET is not an EOF: leave_on_error(s, c, \"recv\") (§2.2)")
    s.say(b, b"after the reset\n")
    s.expect(c, said(b, b"after the reset"), what="C's next line", others=[b], hint=hint)
    s.say(b, b"half a line, then EOF")
    b.close()
    s.expect(c, b"* %s left" % b.nick.encode(), what="C after B closed in the middle of a line",
             hint="at EOF, bytes without their LF are dropped: a line without its LF is not a line (§3.1)")
    s.expect_alive("after a client reset mid-line", hint)


# ---- fairness, limits, scale -------------------------------------------------------------
@pytest.mark.spec("R5.3-1")
@pytest.mark.points(6)
def test_slow_reader(chat):
    """A client that never reads: the others' lines arrive within 100 ms (p99), and it is dropped"""
    s = chat()
    sender, r1, r2 = s.join_all(3, names=["the sender", "reader 1", "reader 2"])
    stall_hint = ("never block on one client: non-blocking sockets, and what a client cannot take yet waits in "
                  "its own output queue (§5.1, §5.2)")
    limit_hint = "disconnect a client whose output queue passes its limit (256 KiB), and tell the others (§5.3)"
    tries = {"n": 0}

    def scenario():
        tries["n"] += 1
        k = tries["n"]
        # A small receive buffer, set before connect(), so that its window fills after a few KiB.
        for x in (sender, r1, r2):
            x.pos = len(x.lines)  # a retry starts afresh
        slow = s.join(f"non-reader {k}", rcvbuf=4096)
        for x in (r1, r2):
            s.expect(x, b"* %s joined" % slow.nick.encode(), what=f"{x.name} is told the non-reader joined",
                     hint="§3.2")
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

        rounds_after_drop = 0
        i = 0
        while True:
            batch = b"".join(b"%s %d\n" % (filler, k) for k in range(8)) + b"probe %d\n" % i
            sent_at[i] = time.monotonic()
            s.say(sender, batch, timeout=5)
            sent_bytes += len(batch)
            if not s.room.pump_until(lambda: (absorb(), all(i in arrived[r] for r in readers))[1], 2.0):
                late = [r.name for r in readers if i not in arrived[r]]
                s.fail(f"while the non-reader's queue filled ({sent_bytes} bytes sent so far), {' and '.join(late)} "
                        f"did not receive probe {i} within {2 * time_scale():g} s: the server is stalled.",
                        clients=[*readers, sender], hint=stall_hint)
            if strange:
                s.fail("a reader received an unexpected line while the non-reader's queue filled.",
                        received=strange[0], clients=(readers), hint="§3.5")
            if len(dropped_after) == len(readers):
                rounds_after_drop += 1
                if rounds_after_drop >= 20 and i >= 150:
                    break
            elif sent_bytes > 16 << 20:
                s.fail(f"the non-reader was never dropped: 16 MiB were sent to it, and nobody was told "
                        f"'{left.decode()}'.", clients=(readers), hint=limit_hint)
            i += 1
        latencies = [arrived[r][n] - sent_at[n] for r in readers for n in arrived[r]]
        p99 = percentile(latencies, 99)
        worst = max(latencies)
        # Shown with `pytest -s` (or -rP): the figures the handout quotes in §5.3.
        print(f"test_slow_reader try {k}: non-reader dropped after {min(dropped_after.values())} bytes were sent to it; "
              f"{len(latencies)} samples: p50 {percentile(latencies, 50) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
              f"worst {worst * 1000:.2f} ms")
        s.expect_eof(slow, what="the non-reader, once dropped", hint=limit_hint, timeout=5)
        return [timing.Check("while one client did not read, the 99th percentile of the others' delay",
                             got=p99, expected=0.100, lo=0.0, hi=timing.upper(0.100))]

    verdict = timing.judge(scenario)
    s.check(verdict.ok, f"{verdict.message}.", clients=[r1, r2],
            hint=stall_hint)


@pytest.mark.spec("R2.1-3", "R3.2-5")
@pytest.mark.points(3)
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


@pytest.mark.spec("R5.4-1", "R3.2-5")
@pytest.mark.points(2)
def test_out_of_fds(chat):
    """Out of fds (RLIMIT_NOFILE 32, accept() fails with EMFILE): newcomers get '! server full'"""
    s = chat(limits=Limits(nofile=32))
    hint = ("when accept() fails with EMFILE the newcomer stays in the backlog and the listener stays readable: "
            "free the spare fd, accept and refuse it, take the spare back (refuse_without_fds, §5.4)")
    clients = [s.connect(f"client {k + 1}") for k in range(40)]
    if not s.room.wait_lines(clients, lambda c: 1, timeout=5):
        late = [c for c in clients if not c.lines]
        s.fail(f"with only 32 fds allowed, {len(late)} of 40 clients got no line at all within {5 * time_scale():g} s "
                f"(neither a welcome nor '! server full').", clients=(late[:1]), hint=hint)
    welcomed = [c for c in clients if c.nick is not None]
    refused = [c for c in clients if c.nick is None]
    for c in refused:
        s.expect(c, b"! server full", what="a newcomer when no fd is left", hint=hint)
    s.check(welcomed and refused, f"{len(welcomed)} clients were welcomed and {len(refused)} refused; "
              "with 32 fds some must be refused.", clients=[], hint=hint)
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


@pytest.mark.spec("R7.3-1")
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
            s.fail(f"{late.name} was not welcomed within {10 * time_scale():g} s.", clients=[late],
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
    s.check(ok, f"the watcher was told of {n_left} departures out of 500.", clients=[watcher],
              hint="every EOF, reset and /quit must end in '* NICK left' (§3.2)")
    deadline = time.monotonic() + 3 * time_scale()
    while (after := open_fds(s.server.pid)) != before and time.monotonic() < deadline:
        s.room.pump(0.05)
    fb.expect(after == before,
              f"chat_server had {before} open fds with one client, and {after} after 500 more came and went.",
              details=[s.server.describe()],
              hint="close() the fd of every client that leaves, whichever way it leaves (§7.3)")


# ---- real tools, addresses, arguments, signals -----------------------------------------------
@pytest.mark.spec("R3.1-1", "R3.2-4")
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


@pytest.mark.spec("R2.1-1", "R2.1-2", "R2.2-1")
@pytest.mark.points(2)
def test_ipv6(chat):
    """chat_server -6 -b ::1: two clients chat over IPv6"""
    s = chat("-6", host="::1")
    s.check(re.search(rb"^listening on \[::1\]:%d$" % s.port, s.server.stdout, re.M) is not None,
              f"chat_server -6 -b ::1 printed {fb.quote(s.server.stdout)}; expected 'listening on [::1]:{s.port}'.",
              clients=[], hint="an IPv6 address is written in brackets before its port (§2.2)")
    a, b = s.join_all(2)
    s.say(a, b"over IPv6\n")
    s.expect(b, said(a, b"over IPv6"), what="a line over IPv6", others=[a],
             hint="resolve with getaddrinfo() and the family from -4/-6; never hard-code AF_INET (§2.1)")


@pytest.mark.spec("R3.1-3")
@pytest.mark.points(2)
def test_bytes_relayed_unchanged(chat):
    """Any byte but LF (NUL, tab, bytes over 0x7f) is relayed unchanged"""
    s = chat()
    a, b = s.join_all(2)
    text = b"bin\x00ary\ttext \x80\xff\xfe and a lone \r inside"
    s.say(a, text + b"\n")
    s.expect(b, said(a, text), what="a line holding NUL and high bytes", others=[a],
             hint="a line is bytes with a length, not a C string: copy it with memcpy(), never strlen() or %s (§6.4)")




@pytest.mark.spec("R4.1-2", "R5.2-1")
@pytest.mark.points(3)
def test_flood_fairness(chat):
    """Two clients flood at full speed: every line arrives whole and in order, and a third client's
    lines still reach the others promptly"""
    s = chat()
    f1, f2, talker, listener = s.join_all(4, names=["flooder 1", "flooder 2", "the talker", "the listener"])
    everyone = [f1, f2, talker, listener]
    hint = ("one recv() per ready client per pass, then the next client: a client that sends without pause "
            "must not keep the loop to itself, nor fill the others' queues in one pass (§4.1); a partial "
            "send() keeps the rest of the queue (§5.2)")
    n_lines, bound, limit = 20000, 0.5, 8.0
    tries = {"n": 0}

    def scenario():
        tries["n"] += 1
        k = tries["n"]
        start = {c: len(c.lines) for c in everyone}
        floods = {f: [b"flood %d/%s/%05d %s" % (k, f.nick.encode(), i, b"x" * 80) for i in range(n_lines)]
                  for f in (f1, f2)}
        flooders = [Flooder(f, floods[f], deadline_s=limit).start() for f in (f1, f2)]
        sent_at: dict[int, float] = {}
        flood_at_listener = start[listener] + 2 * n_lines
        deadline = time.monotonic() + limit * time_scale()
        try:
            i, next_probe = 0, time.monotonic()
            while ((not all(fl.done for fl in flooders) or len(listener.lines) < flood_at_listener + i or i < 3)
                   and time.monotonic() < deadline):
                if time.monotonic() >= next_probe:
                    sent_at[i] = time.monotonic()
                    if not s.room.send(talker, b"probe %d/%d\n" % (k, i)):
                        break
                    i += 1
                    next_probe = sent_at[i - 1] + 0.02
                if any(c.done for c in everyone):
                    break
                s.room.pump(max(0.0, next_probe - time.monotonic()))
        finally:
            for fl in flooders:
                fl.stop()
        gone = [c for c in everyone if c.done]
        if gone:
            s.fail(f"{gone[0].name}'s connection was closed ({gone[0].error or 'EOF'}) during the flood, though "
                   "it read everything as fast as it came.", clients=gone[:1], hint=hint)
        stopped = next((fl for fl in flooders if fl.error and fl.error != "timed out"), None)
        if stopped is not None:
            s.fail(f"{stopped.c.name} could not send its flood ({stopped.error}) after {stopped.sent} bytes.",
                   clients=[stopped.c], hint=hint)
        now = time.monotonic()
        for c in everyone:
            got = c.lines[start[c]:]
            for f in (f1, f2):
                if f is c:
                    continue
                prefix = b"<%s> flood %d/" % (f.nick.encode(), k)  # this try's lines only
                mine = [ln for ln in got if ln.startswith(prefix)]
                want = [said(f, x) for x in floods[f]]
                if mine != want[:len(mine)]:
                    j = next(j for j in range(len(mine)) if mine[j] != want[j])
                    s.fail(f"{c.name} received {f.name}'s flood line {j + 1} wrong (lines lost, cut or out of "
                           "order).", received=mine[j], expected=want[j], clients=[c, f], hint=hint)
        probe = re.compile(rb"<%s> probe %d/(\d+)" % (re.escape(talker.nick.encode()), k))
        got = listener.lines[start[listener]:]
        times = listener.times[start[listener]:]
        seen = [(int(m.group(1)), t) for ln, t in zip(got, times) if (m := probe.fullmatch(ln))]
        if [n for n, _ in seen] != list(range(len(seen))):
            s.fail(f"the listener received the talker's probes {[n for n, _ in seen][:20]}; expected 0, 1, 2, ... "
                   "in order.", clients=[listener, talker], hint=hint)
        arrived = dict(seen)
        latencies = [arrived.get(n, now) - sent_at[n] for n in sent_at]
        p99, worst = percentile(latencies, 99), max(latencies)
        print(f"test_flood_fairness try {k}: {len(latencies)} probes ({len(arrived)} arrived), p50 "
              f"{percentile(latencies, 50) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, worst {worst * 1000:.1f} ms; "
              f"{sum(fl.sent for fl in flooders)} bytes of flood, the listener has "
              f"{len(listener.lines) - start[listener] - len(arrived)} of {2 * n_lines} flood lines")
        return [timing.Check("the talker's lines during the flood: the 99th percentile of their delay", got=p99,
                             expected=bound, lo=0.0, hi=timing.upper(bound, 0.5))]

    verdict = timing.judge(scenario)
    if not verdict.ok:
        s.fail(f"While two clients flooded the server, {verdict.message}.", clients=[listener, talker],
               hint=hint)


@pytest.mark.spec("R5.2-1")
@pytest.mark.points(2)
def test_partial_sends(chat):
    """A client with a small receive buffer gets 100 KB at once: send() takes part, the rest waits, all arrives"""
    s = chat()
    a = s.join("the sender")
    # A 4 KiB receive window keeps the server's send buffer for it small: send() takes part of the queue.
    b = s.join("the reader with a small receive buffer", rcvbuf=4096)
    s.expect(a, b"* %s joined" % b.nick.encode(), what="the sender is told the reader joined", hint="§3.2")
    lines = [b"burst %04d %s" % (i, b"y" * 90) for i in range(1000)]
    s.say(a, b"".join(x + b"\n" for x in lines), timeout=10)
    s.expect_lines(b, [said(a, x) for x in lines], what="1000 lines (100 KB) sent at once", others=[a],
                   timeout=10, hint="send() may take only part of the queue: outq_consume() exactly what it took, "
                                    "and send the rest on a later pass (§5.2)")


@pytest.mark.spec("R4.5-1")
@pytest.mark.points(2)
def test_frees_everything_at_exit(chat):
    """A client left, then SIGTERM mid-session: every connection is closed and every byte of memory freed"""
    s = chat()
    a, b, c, gone = s.join_all(4)
    gone.close()
    for x in (a, b, c):
        s.expect(x, b"* %s left" % gone.nick.encode(), what=f"{x.name} is told D left", hint="§3.2")
    s.say(a, b"a line before the end\n")
    for x in (b, c):
        s.expect(x, said(a, b"a line before the end"), what=f"{x.name} before SIGTERM", others=[a], hint="§3.5")
    s.say(b, b"half a line")
    slow = s.join("a client that stopped reading", rcvbuf=4096)
    s.room.stop_reading(slow)
    s.say(a, b"".join(b"line %d, queued for the one that does not read\n" % i for i in range(200)))
    s.server.send_signal(signal.SIGTERM)
    rc = s.server.wait(5)
    if rc is None:
        s.fail("chat_server did not exit within 5 s of SIGTERM.", hint="§4.5")
    for x in (a, b, c):
        s.expect_eof(x, what="after SIGTERM", hint="close_all(): every connection is closed at exit (§4.5)")
    leak = s.server.leak_report()
    if leak:
        fb.fail("chat_server exited after SIGTERM without freeing everything it allocated: LeakSanitizer "
                "reports memory that was never freed.", details=[leak],
                hint="at exit every client is freed with its output queue (close_all(), free_client()); a "
                     "client that left is freed in remove_client() (§4.5, §7.2)")


# ---- step 7: commands ------------------------------------------------------------------------------
@pytest.mark.spec("R3.3-1", "R3.3-2", "R3.3-3", "R3.3-4", "R3.3-5", "R3.2-2", "R3.2-4")
@pytest.mark.points(4)
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
    s.check(d.nick not in (a.nick, b.nick, c.nick),
              f"client D was welcomed as {d.nick!r}, a nick another client already has.",
              clients=[c, d], hint="a guest nick must be unique too: skip guestN if it is taken (§3.3)")
    for x in (a, b, c):
        s.expect(x, b"* %s joined" % d.nick.encode(), what=f"{x.name} is told D joined", hint="§3.2")
    # Edges: the sender's own nick is taken; case matters; a prefix of a nick is another nick.
    s.say(a, b"/nick alice\n")
    s.expect(a, b"! nick taken", what="A asks for 'alice', its own nick (the sender included, §3.3)", hint=hint)
    s.say(d, b"/nick Alice\n")
    line = rename(d, b"Alice")
    for x in (a, b, c, d):
        s.expect(x, line, what=f"{x.name}: D becomes 'Alice' while 'alice' exists (case matters, §3.3)",
                 others=[d], hint="compare nicks byte for byte, with their lengths: never strcasecmp() (§3.3)")
    s.say(c, b"/nick ali\n")
    line = rename(c, b"ali")
    for x in (a, b, c, d):
        s.expect(x, line, what=f"{x.name}: C becomes 'ali' while 'alice' exists (a prefix is another nick)",
                 others=[c], hint="two nicks are equal only with the same length and the same bytes (§3.3)")
    s.say(c, b"/nick alice_and_more\n")
    line = rename(c, b"alice_and_more")
    for x in (a, b, c, d):
        s.expect(x, line, what=f"{x.name}: C becomes 'alice_and_more' ('alice' is a prefix of it)",
                 others=[c], hint="two nicks are equal only with the same length and the same bytes (§3.3)")
    b.close()
    for x in (a, c, d):
        s.expect(x, b"* %s left" % b.nick.encode(), what=f"{x.name}: B leaves with its current nick",
                 hint="'* NICK left' names the client by its nick now, not its guest nick (§3.2)")




@pytest.mark.spec("R3.4-2")
@pytest.mark.points(2)
def test_who(chat):
    """/who: one line '* users:' and every connected client's nick, to the sender only"""
    s = chat()
    a, b, c, d = s.join_all(4)
    s.say(a, b"/nick alice\n")
    line = rename(a, b"alice")
    for x in (a, b, c, d):
        s.expect(x, line, what=f"{x.name} is told of A's rename", hint="§3.3")
    d.close()
    for x in (a, b, c):
        s.expect(x, b"* %s left" % d.nick.encode(), what=f"{x.name} is told D left", hint="§3.2")
    hint = "answer /who with one line: '* users:', then ' NICK' for each client still connected (§3.4)"
    s.say(b, b"/who\n")
    who = s.expect(b, re.compile(rb"\* users:( [A-Za-z0-9_-]+)+"), what="B's /who", hint=hint)
    names = who.split()[2:]
    want = sorted([a.nick.encode(), b.nick.encode(), c.nick.encode()])
    s.check(sorted(names) == want, f"/who listed {[n.decode() for n in names]}; expected {[w.decode() for w in want]}"
              " (in any order, each once; D has left).", clients=[b], hint=hint)
    s.say(c, b"public again\n")
    for x in (a, b):
        s.expect(x, said(c, b"public again"), what=f"{x.name}'s next line (a /who answer goes to its sender only)",
                 others=[c], hint="§3.4")


@pytest.mark.spec("R3.4-3", "R3.4-4", "R3.4-5")
@pytest.mark.points(3)
def test_msg(chat):
    """/msg NICK text: '*SENDER* text' to NICK alone; '! no such nick'; '! usage: /msg NICK text'"""
    s = chat()
    a, b, c = s.join_all(3)
    for x, new in ((a, b"alice"), (b, b"bob")):
        s.say(x, b"/nick " + new + b"\n")
        line = rename(x, new)
        for y in (a, b, c):
            s.expect(y, line, what=f"{y.name} is told of a rename", hint="§3.3")
    hint = "/msg NICK text: the nick up to the first space, the text is all the rest (§3.4)"
    s.say(a, b"/msg bob psst,  only you: a b c\n")
    s.expect(b, b"*alice* psst,  only you: a b c", what="bob receives alice's private message", others=[a],
             hint=hint)
    for cmd, reply, why in ((b"/msg ali hello", b"! no such nick", "'ali' is only a prefix of 'alice'"),
                            (b"/msg bobby hello", b"! no such nick", "nobody is 'bobby' ('bob' is a prefix of it)"),
                            (b"/msg Bob hello", b"! no such nick", "nicks are case-sensitive"),
                            (b"/msg bob", b"! usage: /msg NICK text", "no space after the nick"),
                            (b"/msg bob ", b"! usage: /msg NICK text", "no text after the space"),
                            (b"/msg", b"! usage: /msg NICK text", "no nick at all")):
        s.say(a, cmd + b"\n")
        s.expect(a, reply, what=f"alice sends {cmd!r} ({why})",
                 hint="§3.4: find_nick() compares whole nicks; errors go to the sender only")
    s.say(c, b"public again\n")
    for x in (a, b):
        s.expect(x, said(c, b"public again"),
                 what=f"{x.name}'s next line (nothing private or in error may reach it)", others=[c],
                 hint="a private message reaches one client only, and never comes back to its sender (§3.4)")


@pytest.mark.spec("R3.4-1", "R3.4-7")
@pytest.mark.points(3)
def test_command_words(chat):
    """A command is a whole first word: '/whox', '/msgfoo', '/Who', '/quitnow' are unknown commands"""
    s = chat()
    a, b = s.join_all(2)
    hint = ("the command is the whole first word, compared with its length: '/whox' is not '/who'; anything "
            "not exactly /nick, /who, /msg or /quit gets '! unknown command' (§3.4)")
    for cmd in (b"/whox", b"/msgfoo bar baz", b"/Who", b"/nickname bob", b"/quitnow", b"/frobnicate now", b"/",
                b"/ who"):
        s.say(a, cmd + b"\n")
        s.expect(a, b"! unknown command", what=f"A sends {cmd!r}", hint=hint)
    s.say(a, b"/who extra words\n")
    s.expect(a, re.compile(rb"\* users:( [A-Za-z0-9_-]+)+"), what="A sends '/who extra words' (the command is /who)",
             hint=hint)
    s.say(b, b"still here\n")
    s.expect(a, said(b, b"still here"), what="A's next line (no command may have ended A's session)", others=[b],
             hint=hint)
    s.expect_quiet([b], what="B, after A's commands", hint="a command's answer goes to its sender only (§3.4)")


@pytest.mark.spec("R2.2-3", "R2.2-4", "R2.2-5", "R2.2-10")
@pytest.mark.points(2)
def test_log_lines(chat):
    """stderr log: 'closed NICK ADDR:PORT (why)', 'refused ADDR:PORT: server full', 'OLD is now NEW'; no error line
    when nothing failed"""
    s = chat("--max-clients", "2")
    a, b = s.join_all(2)
    a_addr, old = addr_of(a), a.nick.encode()
    s.say(a, b"/nick logged\n")
    line = rename(a, b"logged")
    for x in (a, b):
        s.expect(x, line, what=f"{x.name} is told of A's rename", hint="§3.3")
    hint = "§2.2: the log lines have exactly these shapes, one per line on stderr"
    s.expect_log(re.compile(rb"^%s is now logged$" % re.escape(old), re.M), what="the rename is logged as 'OLD is now NEW'", hint=hint)
    extra = s.connect("a third client")
    extra_addr = addr_of(extra)
    s.expect(extra, b"! server full", what="a third client with --max-clients 2", hint="§3.2")
    s.expect_log(re.compile(rb"^refused %s: server full$" % re.escape(extra_addr.encode()), re.M),
                 what="the refusal is logged as 'refused ADDR:PORT: server full'", hint=hint)
    a.close()
    s.expect(b, b"* logged left", what="B is told A left", hint="§3.2")
    s.expect_log(re.compile(rb"^closed logged %s \(.+\)$" % re.escape(a_addr.encode()), re.M),
                 what="A's departure is logged as 'closed NICK ADDR:PORT (why)'", hint=hint)
    # Nothing failed in this session (a rename, a refusal, an EOF): no line may claim an error.
    errors = [ln for ln in s.server.stderr.splitlines() if ln.startswith(b"chat_server: ")]
    s.check(not errors, "nothing failed in this session (two clients joined, one was renamed, a third was "
            "refused, one left with an EOF), yet chat_server logged an error: "
            f"{fb.quote(errors[0]) if errors else ''}.", clients=[],
            hint="a 'chat_server: call ADDR:PORT: reason' line is for real errors only: EAGAIN (EWOULDBLOCK) means "
                 "'nothing now, ask select()', and an EOF is a normal end (§2.2, §5.1)")
