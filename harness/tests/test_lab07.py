"""Lab 07: Lab 03's chat over WebSocket (RFC 6455), one poll() loop. Tests for ws_chat_server, with points.

Each test starts the student's ws_chat_server on loopback (ephemeral port) with the kit's chat
page, and talks to it with the harness's frame-level client (harness.labs.lab07.WsClient: what
libraries never send), python3-websockets (a strict, independent client) and headless
Chromium. Section numbers (§) and labels [R..] refer to labs/07-ws-chat/README.md.
"""
from __future__ import annotations

import asyncio
import signal
import socket
import struct
import threading
import time

import pytest

from harness import feedback as fb
from harness import timing, tools
from harness.labs.lab07 import (CLOSE_TIMEOUT, PAGE, RFC_KEY, WsClient, accept_for, chromium_chat,
                                close_payload, frame, strict_recv, strict_run)

LAB = "07"
#: The tests fit to run under valgrind memcheck (grade --valgrind): functional, not timing or scale.
VALGRIND_SELECT = "page or bad_requests or handshake or server_frames or chat or commands or lengths or unmasked or reserved or top_bit or fragment or control or max_message or binary or ping or utf8 or close_handshake or bad_close or quit or log_lines or sigterm or frees_everything"

TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


def pair(s, hint="§5.1 [R5.1-1]"):
    """Two clients in the chat; a has read '* guest2 joined'."""
    a = s.join()
    b = s.join()
    s.expect_text(a, f"* {b.nick} joined", "the first client, after the second joined", hint)
    return a, b


def expect_failed(s, c, code, what, hint, others=()):
    """c's connection is failed with `code`: the close frame, then EOF; the server stays up."""
    s.expect_close(c, code, what, hint)
    s.expect_eof(c, what + ", after the close frame", hint)
    for o in others:
        s.expect_text(o, f"* {c.nick} left", f"another client, after {what}", "§5.1 [R5.1-3]")


# ---- §3 HTTP and the handshake ----------------------------------------------------------------
@pytest.mark.spec("R3.1-2", "R3.1-3", "R3.1-5", "R3.1-6", "R2.1-2")
@pytest.mark.points(3)
def test_page(ws_chat):
    """GET / serves the chat page; other targets 404, other methods 405; each answer then closes"""
    s = ws_chat()
    hint = "GET / answers 200 with the page (--page FILE), byte for byte; other targets 404, other methods 405 (§3.1)"
    cases = [("GET / HTTP/1.1", 200, "R3.1-2"), ("GET /nosuch HTTP/1.1", 404, "R3.1-3"),
             ("GET /chat.html HTTP/1.1", 404, "R3.1-3"), ("POST / HTTP/1.1", 405, "R3.1-6"),
             ("HEAD /chat HTTP/1.1", 405, "R3.1-6")]
    for line, want, label in cases:
        c = s.connect()
        status, head, body = c.request(f"{line}\r\nHost: x\r\n\r\n".encode())
        fb.expect(status == want, f"{line}: status {status or 'none'}, expected {want}.", details=s.details(c),
                  hint=f"{hint} [{label}]")
        if want == 200:
            fb.expect_bytes(body, PAGE.read_bytes(), what="the body of GET /", details=s.details(c), hint=hint + " [R2.1-2]")
            ctype = (c.header("Content-Type") or "").lower()
            fb.expect(ctype.startswith("text/html"), f"Content-Type of GET / is {ctype!r}; expected text/html.",
                      details=s.details(c), hint=hint + " [R3.1-2]")
        if want == 405:
            fb.expect((c.header("Allow") or "").replace(" ", "") == "GET", f"{line}: Allow is {c.header('Allow')!r}; "
                      "expected 'GET'.", details=s.details(c), hint=hint + " [R3.1-6]")
        fb.expect(c.header("Content-Length") is not None and "close" in (c.header("Connection") or "").lower(),
                  f"{line}: the answer lacks Content-Length or 'Connection: close'.", details=s.details(c),
                  hint="every answer but 101 has a Content-Length and says Connection: close (§3.1) [R3.1-5]")
        s.expect_eof(c, f"after the answer to {line}", "the server closes the connection after each answer (§3.1) [R3.1-5]")


@pytest.mark.spec("R3.1-1", "R3.1-4", "R3.1-7")
@pytest.mark.points(3)
def test_bad_requests(ws_chat, fragmenting_proxy):
    """Malformed requests get 400, huge heads 431; a request one byte per segment is served"""
    s = ws_chat()
    cases = [(b"GARBAGE\r\n\r\n", 400), (b"GET /\r\n\r\n", 400), (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 400),
             (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
             (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
             (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(70)) + b"\r\n", 431)]
    for raw, want in cases:
        c = s.connect()
        status, _, _ = c.request(raw)
        fb.expect(status == want, f"the request {fb.quote(raw, 60)}: status {status or 'none'}, expected {want}.",
                  details=s.details(c), hint=f"a malformed head gets 400; one over 8192 bytes or 64 fields 431 (§3.1) [{'R3.1-4' if want == 400 else 'R3.1-7'}]")
        s.expect_eof(c, f"after the {want}", "the server closes the connection after each answer (§3.1) [R3.1-5]")
    proxy = fragmenting_proxy((s.host, s.port), chunk=1, delay_s=0.0005)
    c = WsClient(proxy.host, proxy.port)
    s.clients.append(c)
    status, _, body = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    fb.expect(status == 200 and body == PAGE.read_bytes(), f"GET / one byte per segment: status {status}, "
              f"{len(body)} bytes of body.", details=s.details(c),
              hint="a request head may arrive in any number of pieces: parse it once the blank line is there (§3.1) [R3.1-1]")


@pytest.mark.spec("R3.2-1", "R3.2-2", "R3.2-3")
@pytest.mark.points(4)
def test_bad_handshakes(ws_chat):
    """Bad handshakes on /chat get 400 with a reason; a version other than 13 gets 426"""
    s = ws_chat()
    k = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
    base = ["GET /chat HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade", k, "Sec-WebSocket-Version: 13"]

    def without(prefix, *add):
        return [ln for ln in base if not ln.startswith(prefix)] + list(add)

    cases = [
        ("no Upgrade", without("Upgrade:"), 400), ("Upgrade: h2c", without("Upgrade:", "Upgrade: h2c"), 400),
        ("no Connection", without("Connection:"), 400),
        ("Connection: keep-alive", without("Connection:", "Connection: keep-alive"), 400),
        ("no key", without("Sec-WebSocket-Key"), 400),
        ("a short key", without("Sec-WebSocket-Key", "Sec-WebSocket-Key: abc"), 400),
        ("a key of 24 characters without '=='", without("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQab"), 400),
        ("no version", without("Sec-WebSocket-Version"), 400), ("no Host", without("Host:"), 400),
        ("HTTP/1.0", ["GET /chat HTTP/1.0"] + base[1:], 400),
        ("version 8", without("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), 426),
    ]
    for what, lines, want in cases:
        c = s.connect()
        status = c.handshake(lines=lines)
        label = "R3.2-3" if want == 426 else "R3.2-2"
        fb.expect(status == want, f"a handshake with {what}: status {status or 'none'}, expected {want}.",
                  details=s.details(c), hint=f"check every field of the handshake before answering 101 (§3.2) [R3.2-1] [{label}]")
        if want == 426:
            fb.expect(c.header("Sec-WebSocket-Version") == "13", f"the 426 answer has Sec-WebSocket-Version "
                      f"{c.header('Sec-WebSocket-Version')!r}; expected '13'.", details=s.details(c), hint="§3.2 [R3.2-3]")
        else:
            fb.expect(c.body.strip() != b"", f"the 400 answer to a handshake with {what} has no body; expected "
                      "the reason in it.", details=s.details(c), hint="a 400 says why in its body (§3.2) [R3.2-2]")
        s.expect_eof(c, f"after the {want} to a handshake with {what}", "§3.1 [R3.1-5]")


@pytest.mark.spec("R3.2-4", "R5.1-1", "R2.2-1")
@pytest.mark.points(4)
def test_handshake(ws_chat):
    """The handshake: 101 with the right Sec-WebSocket-Accept, for the RFC's key and for python3-websockets"""
    s = ws_chat()
    hint = "Sec-WebSocket-Accept = base64(SHA-1(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')) (§3.2) [R3.2-4]"
    c = s.connect()
    status = c.handshake(key=RFC_KEY)
    fb.expect(status == 101, f"the RFC's example handshake got status {status or 'none'}; expected 101.",
              details=s.details(c), hint=hint)
    fb.expect(c.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
              f"Sec-WebSocket-Accept is {c.header('Sec-WebSocket-Accept')!r} for the RFC's key; expected "
              "'s3pPLMBiTxaQ9kYGzzhZRbK+xOo='.", details=s.details(c), hint=hint)
    fb.expect((c.header("Upgrade") or "").lower() == "websocket" and "upgrade" in (c.header("Connection") or "").lower(),
              "the 101 answer lacks 'Upgrade: websocket' or 'Connection: Upgrade'.", details=s.details(c), hint=hint)
    s.expect_text(c, "* welcome guest1", "the first client's welcome", "§5.1 [R5.1-1]")

    async def scenario(url):
        import websockets
        async with websockets.connect(url, open_timeout=5) as ws:
            got = await strict_recv(ws, "the welcome of the second client")
            assert got == "* welcome guest2", f"the second client got {got!r}; expected '* welcome guest2'"
            return True
    strict_run(s, scenario, "python3-websockets (a strict client) opening a WebSocket", hint)
    s.expect_text(c, "* guest2 joined", "the first client, after the second joined", "§5.1 [R5.1-1]")


@pytest.mark.spec("R3.2-1", "R3.2-4", "R3.2-5")
@pytest.mark.points(3)
def test_handshake_fields(ws_chat):
    """Field names in any case, token lists, a key with spaces around it, frames in the same segment"""
    s = ws_chat()
    key = "x3JJHMbDL1EzLkh9GBhXDw=="
    lines = ["GET /chat HTTP/1.1", "host: x", "upgrade: WebSocket", "connection: keep-alive, Upgrade",
             f"sec-websocket-key:    {key}  ", "Origin: http://x", "sec-websocket-version: 13"]
    c = s.connect()
    status = c.handshake(lines=lines)
    fb.expect(status == 101, f"a handshake with lower-case names, 'Connection: keep-alive, Upgrade' and spaces "
              f"around the key: status {status or 'none'}, expected 101.", details=s.details(c),
              hint="field names are case-insensitive; Upgrade and Connection are lists (§3.2) [R3.2-1]")
    fb.expect(c.header("Sec-WebSocket-Accept") == accept_for(key), f"Sec-WebSocket-Accept is "
              f"{c.header('Sec-WebSocket-Accept')!r}; expected {accept_for(key)!r} (the key without its spaces).",
              details=s.details(c), hint="the key is the field's value without the spaces around it (§3.2) [R3.2-4]")
    s.texts(c, 1, "the welcome", "§5.1")
    b = s.connect()
    status = b.handshake(extra=frame(TEXT, b"in the same segment"))
    fb.expect(status == 101, f"handshake: status {status}.", details=s.details(b), hint="§3.2")
    s.texts(b, 1, "the welcome", "§5.1")
    s.expect_text(c, "* guest2 joined", "the first client", "§5.1")
    s.expect_text(c, "<guest2> in the same segment", "a frame sent in the same segment as the handshake",
                  "bytes after the blank line are frames already: keep them in the buffer (§3.2) [R3.2-5]")


# ---- §4 frames --------------------------------------------------------------------------------
@pytest.mark.spec("R4.2-1")
@pytest.mark.points(2)
def test_server_frames(ws_chat):
    """Server frames: FIN set, never masked, the shortest length form"""
    s = ws_chat("--max-message", "100000")
    a, b = pair(s)
    hint = "a server frame has FIN set, no mask, and the shortest length form (§4.2) [R4.2-1]"
    for n in (3, 116, 117, 300, 65526, 65527, 70000):
        a.send(TEXT, b"m" * n)
        f = s.frame(b, f"a message of {n + 9} bytes from the server", hint)
        want = 2 if n + 9 <= 125 else 4 if n + 9 <= 0xFFFF else 10
        fb.expect(f.fin and f.opcode == TEXT and len(f.header) == want and f.payload == b"<guest1> " + b"m" * n,
                  f"a message of {n + 9} bytes came as {f.summary()} with a header of {len(f.header)} bytes "
                  f"({f.header.hex(' ')}); expected FIN, text and a {want}-byte header.", details=s.details(b), hint=hint)


@pytest.mark.spec("R4.1-2")
@pytest.mark.points(4)
def test_lengths(ws_chat):
    """Payload lengths in the 7-, 16- and 64-bit forms, read in network byte order"""
    s = ws_chat("--max-message", "100000")
    a, b = pair(s)
    for n, form in ((0, 7), (1, 7), (125, 7), (126, 16), (300, 16), (4097, 16), (65535, 16), (65536, 64),
                    (70000, 64), (20, 16), (20, 64)):
        text = bytes(0x41 + i % 26 for i in range(n))
        a.send(TEXT, text, form=form)
        if n == 0:
            continue  # an empty message is ignored; the next one proves it
        s.expect_text(b, "<guest1> " + text.decode(), f"a message of {n} bytes, its length in the {form}-bit form",
                      "lengths 126 and 127 say that 2 or 8 bytes of length follow, big-endian (§4.1) [R4.1-2]")


@pytest.mark.spec("R4.1-1", "R3.2-5")
@pytest.mark.points(4)
def test_byte_per_segment(ws_chat, fragmenting_proxy):
    """Handshake and frames delivered one byte per segment (the fragmenting proxy)"""
    s = ws_chat()
    b = s.join()
    proxy = fragmenting_proxy((s.host, s.port), chunk=1, delay_s=0.0005)
    a = WsClient(proxy.host, proxy.port)
    s.clients.append(a)
    hint = "a frame may arrive in any number of pieces: wait until it is whole (§4.1) [R4.1-1]"
    status = a.handshake(extra=frame(TEXT, b"first"))
    fb.expect(status == 101, f"the handshake through the proxy: status {status or 'none'}.", details=s.details(a), hint=hint)
    s.expect_text(b, "* guest2 joined", "the first client", "§5.1")
    s.expect_text(b, "<guest2> first", "a frame right after the handshake, one byte per segment", hint)
    for i, n in enumerate((5, 200, 1000)):
        a.send(TEXT, bytes([0x61 + i]) * n)
        s.expect_text(b, "<guest2> " + chr(0x61 + i) * n, f"a {n}-byte message one byte per segment", hint)


@pytest.mark.spec("R4.1-1")
@pytest.mark.points(3)
def test_thousand_frames_one_segment(ws_chat):
    """1,000 small frames in one segment: 1,000 messages, in order"""
    s = ws_chat()
    a, b = pair(s)
    a.send_raw(b"".join(frame(TEXT, b"m%d" % i) for i in range(1000)), "1000 text frames 'm0' .. 'm999' in one send()")
    got = s.texts(b, 1000, "1000 frames sent in one segment", "after one frame, look for the next one in the same "
                  "buffer: one recv() may hold many frames (§4.1) [R4.1-1]")
    want = [f"<guest1> m{i}" for i in range(1000)]
    bad = next((i for i in range(1000) if got[i] != want[i]), None)
    if bad is not None:
        fb.fail(f"message {bad} of 1000 is {got[bad]!r}; expected {want[bad]!r}.", details=s.details(b),
                hint="frames are handled in the order they came (§4.1) [R4.1-1]")


@pytest.mark.spec("R4.1-3", "R4.5-3", "R5.1-3")
@pytest.mark.points(3)
def test_unmasked_frame(ws_chat):
    """An unmasked client frame: close 1002, the connection ends, the others go on"""
    s = ws_chat()
    a, b = pair(s)
    a.send(TEXT, b"not masked", mask=False)
    expect_failed(s, a, 1002, "an unmasked text frame", "every client frame must be masked: close 1002 (§4.1) [R4.1-3]",
                  others=[b])
    for what, raw in (("an unmasked text frame of 5 bytes", frame(TEXT, b"odd 5", mask=False)),
                      ("an unmasked empty ping (2 bytes in all)", frame(PING, b"", mask=False))):
        c = s.join()
        c.send_raw(raw, what)
        expect_failed(s, c, 1002, what, "every client frame must be masked: the MASK bit is the top bit of "
                      "the second byte (§4.1) [R4.1-3]")
    s.expect_alive("an unmasked frame", "a protocol error ends that connection only (§4.5) [R4.5-3]")


@pytest.mark.spec("R4.1-4")
@pytest.mark.points(3)
def test_reserved_bits_and_opcodes(ws_chat):
    """RSV bits and reserved opcodes: close 1002"""
    s = ws_chat()
    for what, f in (("RSV1 set", frame(TEXT, b"x", rsv=4)), ("RSV3 set", frame(TEXT, b"x", rsv=1)),
                    ("opcode 3", frame(3, b"x")), ("opcode 0xB", frame(0xB, b""))):
        c = s.join()
        c.send_raw(f, what)
        expect_failed(s, c, 1002, f"a frame with {what}", "no extension is negotiated: RSV bits and unknown "
                      "opcodes are protocol errors (§4.1) [R4.1-4]")


@pytest.mark.spec("R4.1-5")
@pytest.mark.points(2)
def test_length_top_bit(ws_chat):
    """A 64-bit length with its top bit set: close 1002"""
    s = ws_chat()
    c = s.join()
    c.send_raw(frame(TEXT, b"hello", length=0x8000000000000005, form=64), "text, 64-bit length 0x8000000000000005")
    expect_failed(s, c, 1002, "a 64-bit length with its most significant bit set",
                  "the most significant bit of a 64-bit length must be 0 (§4.1) [R4.1-5]")


# ---- §4.3 fragments and control frames ---------------------------------------------------------
@pytest.mark.spec("R4.3-1", "R4.3-2")
@pytest.mark.points(4)
def test_fragmented_message(ws_chat):
    """A message in three fragments, a ping between them: one chat line, and the pong"""
    s = ws_chat()
    a, b = pair(s)
    hint = "reassemble the fragments; deliver the message once, at the frame with FIN (§4.3) [R4.3-1]"
    a.send(TEXT, b"hel", fin=False)
    a.send(PING, b"between")
    a.send(CONT, b"lo ", fin=False)
    a.send(CONT, b"world")
    f = s.frame(a, "a ping between two fragments", "§4.3 [R4.3-2]")
    fb.expect(f.opcode == PONG and f.payload == b"between", f"a ping between fragments got {f.summary()}; expected "
              "a pong 'between'.", details=s.details(a), hint="control frames between fragments are handled at once (§4.3) [R4.3-2]")
    a.send(TEXT, b"next")
    s.expect_text(b, "<guest1> hello world", "a message sent in three fragments", hint)
    s.expect_text(b, "<guest1> next", "the message after the fragmented one", hint)


@pytest.mark.spec("R4.3-3")
@pytest.mark.points(2)
def test_bad_fragment_order(ws_chat):
    """A continuation with no message open, or a new message inside one: close 1002"""
    s = ws_chat()
    c = s.join()
    c.send(CONT, b"orphan")
    expect_failed(s, c, 1002, "a continuation frame with no message open", "§4.3 [R4.3-3]")
    c = s.join()
    c.send(TEXT, b"one", fin=False)
    c.send(TEXT, b"two")
    expect_failed(s, c, 1002, "a text frame while a fragmented message is open", "§4.3 [R4.3-3]")


@pytest.mark.spec("R4.3-4")
@pytest.mark.points(3)
def test_bad_control_frames(ws_chat):
    """A 126-byte ping, a fragmented ping, a 126-byte close: close 1002"""
    s = ws_chat()
    for what, raw in (("a ping with 126 bytes of payload", frame(PING, b"p" * 126)),
                      ("a fragmented ping (FIN clear)", frame(PING, b"p", fin=False)),
                      ("a close with 126 bytes of payload", frame(CLOSE, close_payload(1000, b"r" * 124)))):
        c = s.join()
        c.send_raw(raw, what)
        expect_failed(s, c, 1002, what, "control frames carry at most 125 bytes and are never fragmented (§4.3) [R4.3-4]")


@pytest.mark.spec("R4.3-5", "R2.1-4")
@pytest.mark.points(4)
def test_max_message(ws_chat):
    """--max-message 1000: 1000 bytes pass, whole or in fragments; 1001 bytes or a claimed 2^40: close 1009"""
    s = ws_chat("--max-message", "1000")
    a, b = pair(s)
    hint = "a message of up to --max-message bytes (all fragments together) is accepted; one byte more: 1009 (§4.3) [R4.3-5]"
    a.send(TEXT, b"x" * 1000)
    s.expect_text(b, "<guest1> " + "x" * 1000, "a message of exactly --max-message bytes", hint)
    a.send(TEXT, b"y" * 400, fin=False)
    a.send(CONT, b"y" * 600)
    s.expect_text(b, "<guest1> " + "y" * 1000, "a message of exactly --max-message bytes in two fragments", hint)
    a.send(TEXT, b"z" * 1001)
    expect_failed(s, a, 1009, "a message of --max-message + 1 bytes", hint, others=[b])
    c = s.join()
    c.send(TEXT, b"w" * 600, fin=False)
    c.send(CONT, b"w" * 401)
    expect_failed(s, c, 1009, "--max-message + 1 bytes in two fragments", hint)
    c = s.join()
    c.send_raw(frame(TEXT, b"", length=1 << 40, form=64), "text, 64-bit length 2^40, no payload")
    expect_failed(s, c, 1009, "a frame claiming 2^40 bytes (none sent)",
                  "decide from the header, before reading the payload (§4.3) [R4.3-5]")


@pytest.mark.spec("R4.3-6")
@pytest.mark.points(1)
def test_binary(ws_chat):
    """A binary message: close 1003"""
    s = ws_chat()
    c = s.join()
    c.send(BINARY, b"\x00\x01\x02")
    expect_failed(s, c, 1003, "a binary message", "this chat has no use for binary messages: 1003 (§4.3) [R4.3-6]")


@pytest.mark.spec("R4.3-7")
@pytest.mark.points(3)
def test_ping_pong(ws_chat):
    """A ping gets a pong with the same payload (empty, short, 125 bytes); a pong is ignored"""
    s = ws_chat()
    a, b = pair(s)
    hint = "answer a ping with a pong carrying the same payload (§4.3) [R4.3-7]"
    for payload in (b"abc", b"", bytes(range(125))):
        a.send(PING, payload)
        f = s.frame(a, f"a ping of {len(payload)} bytes", hint)
        fb.expect(f.opcode == PONG and f.payload == payload, f"a ping {fb.quote(payload, 40)} got {f.summary()}; "
                  f"expected a pong with the same payload.", details=s.details(a), hint=hint)
    a.send(PONG, b"unsolicited")
    a.send(TEXT, b"after the pong")
    s.expect_text(b, "<guest1> after the pong", "a message after an unsolicited pong", hint)
    a.send(PING, b"last")
    f = s.frame(a, "a ping after an unsolicited pong", hint)
    fb.expect(f.opcode == PONG and f.payload == b"last", f"the answer is {f.summary()}; expected pong 'last' "
              "(nothing is sent for a pong).", details=s.details(a), hint=hint)


@pytest.mark.spec("R4.4-1", "R4.4-2")
@pytest.mark.points(4)
def test_utf8(ws_chat):
    """UTF-8: valid text passes (characters split between fragments too); invalid text gets close 1007"""
    s = ws_chat()
    a, b = pair(s)
    hint = "check UTF-8 across the fragments of a message, not per fragment (§4.4) [R4.4-2]"
    text = "héllo € 𝄞 ✓".encode()
    a.send(TEXT, text)
    s.expect_text(b, "<guest1> " + text.decode(), "valid UTF-8 in one frame", "§4.4 [R4.4-1]")
    # The first and last code point of each length, and the edges of the ranges that E0, ED, F0, F4 restrict.
    edges = "\u0080 \u00bf \u00ff \u07ff \u0800 \ud7ff \ue000 \uffff \U00010000 \U0010ffff \x7f"
    a.send(TEXT, edges.encode())
    s.expect_text(b, "<guest1> " + edges, "valid UTF-8 at the edges: U+0080, U+00BF, U+07FF, U+0800, U+D7FF, "
                  "U+E000, U+FFFF, U+10000, U+10FFFF", "every continuation byte 80..BF is valid after a lead byte (§4.4) [R4.4-1]")
    euro, clef = "€".encode(), "𝄞".encode()
    pieces = [b"a" + euro[:1], euro[1:2], euro[2:] + clef[:1], clef[1:3], clef[3:] + b"z"]
    for i, p in enumerate(pieces):
        a.send(TEXT if i == 0 else CONT, p, fin=i == len(pieces) - 1)
    s.expect_text(b, "<guest1> a€𝄞z", "€ and 𝄞 split between five fragments", hint)
    invalid = [("an overlong '/' (C0 AF)", [b"ab\xc0\xaf"]), ("a surrogate (ED A0 80)", [b"\xed\xa0\x80"]),
               ("a code point above U+10FFFF (F4 90 80 80)", [b"\xf4\x90\x80\x80"]), ("a byte FF", [b"ok\xff"]),
               ("a stray continuation byte", [b"\x80"]), ("a character cut at the end (E2 82)", [b"abc\xe2\x82"]),
               ("E2 82 then 'A' in the next fragment", [b"ok\xe2\x82", b"A"]),
               ("E2 at the end of the last fragment", [b"ok", b"\xe2"])]
    for what, frags in invalid:
        c = s.join()
        for i, p in enumerate(frags):
            c.send(TEXT if i == 0 else CONT, p, fin=i == len(frags) - 1)
        expect_failed(s, c, 1007, f"a text message with {what}", "§4.4 [R4.4-1]")
    c = s.join()
    c.send(TEXT, b"\xff and more to come", fin=False)
    expect_failed(s, c, 1007, "a first fragment with an invalid byte (the rest never sent)",
                  "fail as soon as the bytes cannot be valid, without waiting for the end of the message (§4.4) [R4.4-2]")


# ---- §4.5 closing ----------------------------------------------------------------------------
@pytest.mark.spec("R4.5-1", "R5.1-3")
@pytest.mark.points(4)
def test_close_handshake(ws_chat):
    """The client closes: the same status code back, then the server closes TCP"""
    s = ws_chat()
    hint = "answer a close frame with a close frame (the same code), then close the connection (§4.5) [R4.5-1]"
    a, b = pair(s)
    a.send(TEXT, "é".encode() * 20)  # leaves non-ASCII bytes in the buffer: a reason read too far shows
    s.expect_text(b, "<guest1> " + "é" * 20, "a message", "§5.1")
    a.send(CLOSE, close_payload(4000, b"bye now"))
    s.expect_close(a, 4000, "a close frame 4000 'bye now'", hint)
    s.expect_eof(a, "after the close handshake", "the server closes the TCP connection first (§4.5) [R4.5-1]")
    s.expect_text(b, f"* {a.nick} left", "another client, after a close handshake", "§5.1 [R5.1-3]")
    c = s.join()
    s.texts(b, 1, "the next join", "§5.1")
    c.send(CLOSE, b"")
    s.expect_close(c, None, "a close frame without a status code", hint, codes={None, 1000})
    s.expect_eof(c, "after the close handshake", hint)

    async def scenario(url):
        import websockets
        ws = await websockets.connect(url, open_timeout=5, close_timeout=3)
        await strict_recv(ws, "the welcome")
        await ws.close(1000, "done")
        assert ws.close_code == 1000, f"after python3-websockets closed with 1000, the close code is {ws.close_code} " \
                                      f"(1006: no close frame came back)"
        return True
    strict_run(s, scenario, "python3-websockets closing the connection (code 1000)", hint)


@pytest.mark.spec("R4.5-2")
@pytest.mark.points(3)
def test_bad_close_frames(ws_chat):
    """A 1-byte close payload or a forbidden code: close 1002; a reason that is not UTF-8: close 1007"""
    s = ws_chat()
    hint = "§4.5 [R4.5-2]"
    for what, payload, code in (("a 1-byte payload", b"\x03", 1002), ("code 1005", close_payload(1005), 1002),
                                ("code 999", close_payload(999), 1002), ("code 2999", close_payload(2999), 1002),
                                ("code 1004", close_payload(1004), 1002),
                                ("code 1000 and a reason that is not UTF-8", close_payload(1000, b"\xff\xfe"), 1007)):
        c = s.join()
        c.send(CLOSE, payload)
        s.expect_close(c, code, f"a close frame with {what}", hint)
        s.expect_eof(c, f"after a close frame with {what}", hint)


@pytest.mark.spec("R4.5-4", "R5.1-5")
@pytest.mark.points(3)
def test_quit(ws_chat):
    """/quit: '* bye', close 1000; the client's close frame ends it at once"""
    s = ws_chat()
    a, b = pair(s)
    hint = "/quit: '* bye', then a close frame 1000; when the client's close frame comes, close (§4.5) [R4.5-4]"
    a.send(TEXT, b"/quit")
    s.expect_text(a, "* bye", "/quit", "§5.1 [R5.1-5]")
    s.expect_close(a, 1000, "/quit", hint)
    s.expect_text(b, f"* {a.nick} left", "another client, after /quit", "§5.1 [R5.1-3]")
    a.send(TEXT, b"dropped: sent after the server's close frame")
    a.send(CLOSE, close_payload(1000))
    s.expect_eof(a, "after the client's answering close frame", hint)
    b.send(TEXT, b"/who")
    s.expect_text(b, f"* users: {b.nick}", "/who after the other client quit", hint)


@pytest.mark.spec("R4.5-5")
@pytest.mark.points(3)
def test_close_timeout(ws_chat):
    """/quit from a client that never answers the close frame: TCP closed 1 s later"""
    s = ws_chat()
    hint = (f"after its close frame the server waits {CLOSE_TIMEOUT * 1000:.0f} ms for the client's, then "
            "closes the connection anyway (§4.5) [R4.5-5]")
    clients = []

    def scenario():
        c = s.join()
        clients.append(c)
        c.send(TEXT, b"/quit")
        s.expect_text(c, "* bye", "/quit", "§5.1")
        s.expect_close(c, 1000, "/quit", hint)
        t0 = time.monotonic()
        c.wait_eof(timing.upper(CLOSE_TIMEOUT, 1.5))
        return [timing.Check("TCP closed after the close frame", time.monotonic() - t0 if c.eof else 99.0,
                             expected=CLOSE_TIMEOUT, tol=0.3, abs_tol=0.05)]
    v = timing.judge(scenario)
    fb.expect(v.ok, v.message + ".", details=s.details(clients[-1]), hint=hint)


# ---- §5 the chat ------------------------------------------------------------------------------
@pytest.mark.spec("R5.1-2", "R5.1-3")
@pytest.mark.points(4)
def test_chat(ws_chat):
    """Three python3-websockets clients chat: every message to the others, in order, never back"""
    s = ws_chat()
    hint = "a message goes to every other client as '<NICK> text', in order, never back to its sender (§5.1) [R5.1-2]"

    async def scenario(url):
        import websockets
        a = await websockets.connect(url, open_timeout=5)
        assert await strict_recv(a, "a's welcome") == "* welcome guest1"
        b = await websockets.connect(url, open_timeout=5)
        assert await strict_recv(b, "b's welcome") == "* welcome guest2"
        c = await websockets.connect(url, open_timeout=5)
        assert await strict_recv(c, "c's welcome") == "* welcome guest3"
        for who, want in ((a, "* guest2 joined"), (a, "* guest3 joined"), (b, "* guest3 joined")):
            got = await strict_recv(who, "a join")
            assert got == want, f"got {got!r}; expected {want!r}"
        for i in range(20):
            await a.send(f"line {i} é")
        await a.send("")
        await a.send("after the empty one")
        for who in (b, c):
            for i in range(20):
                got = await strict_recv(who, f"a's line {i}")
                assert got == f"<guest1> line {i} é", f"got {got!r}; expected '<guest1> line {i} é'"
            got = await strict_recv(who, "the line after an empty message")
            assert got == "<guest1> after the empty one", f"after an empty message, got {got!r}; expected " \
                                                          "'<guest1> after the empty one' (an empty message is ignored)"
        await b.send("from b")
        got = await strict_recv(a, "b's line")
        assert got == "<guest2> from b", f"a got {got!r}; expected '<guest2> from b' (its own lines never come back)"
        await strict_recv(c, "b's line")
        await b.close()
        for who in (a, c):
            got = await strict_recv(who, "b's departure")
            assert got == "* guest2 left", f"after b closed, got {got!r}; expected '* guest2 left'"
        c.transport.abort()  # a reset, without a close frame
        got = await strict_recv(a, "c's departure")
        assert got == "* guest3 left", f"after c's connection was reset, got {got!r}; expected '* guest3 left'"
        await a.close()
        return True
    strict_run(s, scenario, "three clients of python3-websockets chatting", hint, timeout=15)


@pytest.mark.spec("R5.1-4", "R5.1-1", "R5.1-2")
@pytest.mark.points(3)
def test_commands(ws_chat):
    """/nick, /who, /msg and unknown commands, as in Lab 03"""
    s = ws_chat()
    page = s.connect()
    page.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n")  # an HTTP request still coming while the chat goes on
    first = s.connect()
    fb.expect(first.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200, "GET / failed.",
              details=s.details(first), hint="§3.1")
    a, b = pair(s)
    fb.expect(a.nick == "guest1", f"after a page load, the first WebSocket is {a.nick}; expected guest1.",
              details=s.details(a), hint="guest numbers count the WebSockets that joined, not the page loads (§5.1) [R5.1-1]")
    hint = "the commands are Lab 03's (§5.1) [R5.1-4]"
    a.send(TEXT, b"/nick alice")
    s.expect_text(a, "* guest1 is now alice", "/nick alice, to the sender", hint)
    s.expect_text(b, "* guest1 is now alice", "/nick alice, to the other", hint)
    for line, want in ((b"/nick alice", "! nick taken"), (b"/nick bad nick", "! invalid nick"),
                       (b"/msg nobody hi", "! no such nick"), (b"/msg alice", "! usage: /msg NICK text"),
                       (b"/frobnicate", "! unknown command"), (b"/whox", "! unknown command")):
        b.send(TEXT, line)
        s.expect_text(b, want, line.decode(), hint)
    b.send(TEXT, b"/who")
    got = s.texts(b, 1, "/who", hint)[0]
    fb.expect(got.startswith("* users:") and sorted(got[len("* users:"):].split()) == sorted(["alice", b.nick]),
              f"/who answered {got!r}; expected '* users: alice {b.nick}' in any order.", details=s.details(b), hint=hint)
    b.send(TEXT, b"/msg alice psst, only you")
    s.expect_text(a, f"*{b.nick}* psst, only you", "/msg alice psst, only you", hint)
    status, _, body = page.request(b"\r\n")
    page.wait_eof(timing.deadline(2))
    fb.expect(status == 200 and body == PAGE.read_bytes() and not page.buf,
              f"an HTTP connection open during the chat got status {status}, {len(body)} bytes of body and "
              f"{len(page.buf)} bytes more; expected the page alone.", details=s.details(page),
              hint="only the WebSockets in the chat get its messages, never a connection still in HTTP (§5.1) [R5.1-2]")


@pytest.mark.spec("R5.2-1")
@pytest.mark.points(4)
def test_browser(ws_chat):
    """Headless Chromium opens the page in two tabs; each tab shows the other's line"""
    chromium = tools.require("chromium", "a real browser opens the chat page")
    s = ws_chat()
    lines = ["hello from tab one", "hello from tab two"]
    hint = "the page opens ws://HOST/chat; each message it sends must reach the other tab (§5.2) [R5.2-1]"
    from harness.labs.lab07 import BrowserProblem
    c = s.connect()  # the page first, without a browser: a server that cannot serve it fails at once
    status, _, _ = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    fb.expect(status == 200, f"GET / got status {status or 'nothing'}: no page for the browser to open.",
              details=s.details(c), hint="GET / serves the chat page (§3.1) [R3.1-2]")
    try:
        logs = chromium_chat(chromium, f"http://{s.host}:{s.port}/", lines, give_up=lambda: not s.server.alive())
    except (BrowserProblem, asyncio.TimeoutError, OSError) as e:
        fb.fail(f"Chromium could not be driven: {e}.", details=[s.server.describe()], hint=hint)
    for i, log in enumerate(logs):
        other = lines[1 - i]
        fb.expect(other in log, f"tab {i + 1} does not show {other!r}; its status and chat log:\n{log[:600]}",
                  details=[s.server.describe()], hint=hint)


@pytest.mark.spec("R5.3-1")
@pytest.mark.points(4)
def test_slow_reader(ws_chat):
    """A client that stops reading is dropped; the others' messages keep flowing"""
    s = ws_chat("--max-message", "100000")
    hint = ("sends never block: queue per client, and drop a client whose queue passes 256 KiB (§5.3) [R5.3-1]")
    slow = s.connect()
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    fb.expect(slow.handshake() == 101, "the slow client's handshake failed.", details=s.details(slow), hint="§3.2")
    a, b = pair(s)
    count, size = 160, 60000
    payload = b"s" * size
    sender_error = []
    # The reader B is never more than WINDOW messages (about 1 MB) behind the sender A, so a
    # correct server never has a reason to drop B, whatever its write strategy; the client that
    # never reads falls 9.6 MB behind and must be dropped.
    WINDOW = 16
    progress = threading.Condition()
    got, left, stop = 0, False, False

    def send_all():
        try:
            for i in range(count):
                with progress:
                    progress.wait_for(lambda: stop or i - got <= WINDOW, timeout=timing.deadline(10))
                    if stop:
                        return
                a.sock.sendall(frame(TEXT, payload))
        except OSError as e:
            sender_error.append(e)
    t = threading.Thread(target=send_all, daemon=True)
    t0 = time.monotonic()
    t.start()
    end = t0 + timing.deadline(15)
    try:
        while got < count and time.monotonic() < end:
            f = b.recv_frame(max(0.1, end - time.monotonic()))
            if f is None or f == "timeout":
                break
            if f.opcode == TEXT and f.payload.startswith(b"<guest2> "):
                with progress:
                    got += 1
                    progress.notify_all()
            elif f.opcode == TEXT and f.payload == b"* guest1 left":
                left = True
    finally:
        with progress:
            stop = True
            progress.notify_all()
        t.join(5)
    fb.expect(got == count, f"while one client did not read, another got {got} of {count} messages of "
              f"{size} bytes in {time.monotonic() - t0:.1f} s.", details=s.details(b), hint=hint)
    if not left:
        f = b.recv_frame(timing.deadline(2))
        left = f not in (None, "timeout") and f.opcode == TEXT and f.payload == b"* guest1 left"
    fb.expect(left, f"{count * size // 1000} kB later, the client that never reads was not dropped "
              "(no '* guest1 left').", details=s.details(b), hint=hint)


@pytest.mark.spec("R5.3-2")
@pytest.mark.points(2)
def test_hundred_clients(ws_chat):
    """100 clients: each gets every message of the others"""
    s = ws_chat()
    clients = [s.join() for _ in range(100)]
    senders = clients[:10]
    for c in senders:
        c.send(TEXT, f"hello from {c.nick}".encode())
    for i, c in enumerate(clients):
        want = {f"<{o.nick}> hello from {o.nick}" for o in senders if o is not c}
        seen = set()
        while want - seen:
            f = s.frame(c, f"client {i + 1} of 100 waiting for {len(want - seen)} more messages",
                        "every message reaches every other client (§5.3) [R5.3-2]")
            if f.opcode == TEXT and f.text.startswith("<"):
                seen.add(f.text)
        fb.expect(seen == want, f"client {i + 1} got unexpected messages: {sorted(seen - want)[:3]}.",
                  details=[s.server.describe()], hint="§5.1 [R5.1-2]")


# ---- §2 the program ---------------------------------------------------------------------------
@pytest.mark.spec("R2.1-1", "R2.1-2", "R2.1-3", "R2.1-4", "R2.1-5", "R2.2-4")
@pytest.mark.points(2)
def test_arguments(spawn, ws_chat, ws_page):
    """Options accepted; bad arguments: usage and exit 2; no page or a taken port: exit 1"""
    s = ws_chat("-4", "--max-clients", "5", "--max-message", "100")
    a, b = pair(s)
    a.send(TEXT, b"options work")
    s.expect_text(b, "<guest1> options work", "a message with -4 --max-clients 5 --max-message 100", "§2.1 [R2.1-1]")
    page = str(ws_page)
    cases = [([], 2, "usage", "R2.1-5"), (["-p", "x", "--page", page], 2, "usage", "R2.1-5"),
             (["-p", "70000", "--page", page], 2, "usage", "R2.1-5"),
             (["-p", "0", "--page", page, "extra"], 2, "usage", "R2.1-5"),
             (["-p", "0", "--page", page, "-x"], 2, "usage", "R2.1-5"),
             (["-p", "0", "--page", page, "--max-clients", "0"], 2, "usage", "R2.1-3"),
             (["-p", "0", "--page", page, "--max-clients", "many"], 2, "usage", "R2.1-3"),
             (["-p", "0", "--page", page, "--max-message", "0"], 2, "usage", "R2.1-4"),
             (["-p", "0", "--page", page, "--max-message", "16777217"], 2, "usage", "R2.1-4"),
             (["-p", "0", "--page", page + ".nosuch"], 1, "ws_chat_server: ", "R2.1-2")]
    for args, code, text, label in cases:
        p = spawn("ws_chat_server", *args)
        rc = p.wait(5)
        err = p.stderr.decode("utf-8", "replace")
        fb.expect(rc == code and text in err, f"ws_chat_server {' '.join(args)}: exit {rc}, stderr {err.strip()[:200]!r}; "
                  f"expected exit {code} and {text!r} on stderr.", details=[p.describe()],
                  hint=f"bad arguments: a usage line and exit 2; a page that cannot be read: exit 1 (§2.1) [{label}]")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    p = spawn("ws_chat_server", "-b", "127.0.0.1", "-p", str(port), "--page", page)
    rc = p.wait(5)
    err = p.stderr.decode("utf-8", "replace")
    taken.close()
    fb.expect(rc == 1 and f"ws_chat_server: bind 127.0.0.1:{port}: " in err,
              f"ws_chat_server on a taken port: exit {rc}, stderr {err.strip()[:200]!r}.", details=[p.describe()],
              hint=f"expected 'ws_chat_server: bind 127.0.0.1:{port}: Address already in use' and exit 1 (§2.2) [R2.2-4]")


@pytest.mark.spec("R2.1-1")
@pytest.mark.points(1)
def test_ipv6(ws_chat):
    """-6 -b ::1: the chat over IPv6"""
    s = ws_chat("-6", host="::1")
    fb.expect(f"listening on [::1]:{s.port}" in s.server.stdout.decode("utf-8", "replace"),
              "the listening line for ::1 is not 'listening on [::1]:PORT'.", details=[s.server.describe()], hint="§2.2")
    a, b = pair(s)
    a.send(TEXT, b"over IPv6")
    s.expect_text(b, "<guest1> over IPv6", "a message over IPv6", "getaddrinfo gives IPv6 addresses too (§2.1) [R2.1-1]")


@pytest.mark.spec("R2.1-3")
@pytest.mark.points(2)
def test_max_clients(ws_chat):
    """--max-clients 2: a third connection gets 503; room again once one leaves"""
    s = ws_chat("--max-clients", "2")
    a, b = pair(s)
    hint = "beyond --max-clients connections, a newcomer gets 503 and is closed (§2.1) [R2.1-3]"
    c = s.connect()
    status, _, _ = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    fb.expect(status == 503, f"a third connection with --max-clients 2 got status {status or 'none'}; expected 503.",
              details=s.details(c), hint=hint)
    b.send(CLOSE, close_payload(1000))
    s.expect_close(b, 1000, "closing the second client", "§4.5")
    s.expect_eof(b, "closing the second client", "§4.5")
    b.close()
    s.expect_text(a, f"* {b.nick} left", "the first client", "§5.1")
    end = time.monotonic() + timing.deadline(2)
    while True:  # the server frees the slot once it has seen the close
        c = s.connect()
        status, _, _ = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        if status == 200 or time.monotonic() > end:
            break
    fb.expect(status == 200, f"after one of two clients left, a newcomer got {status or 'nothing'}; expected 200.",
              details=s.details(c), hint=hint)


@pytest.mark.spec("R2.2-2", "R2.2-3", "R2.2-7")
@pytest.mark.points(2)
def test_log_lines(ws_chat):
    """'accepted ADDR:PORT as NICK', 'closed NICK ADDR:PORT (why)', a reset logged as a recv error"""
    s = ws_chat()
    a = s.join()
    addr = "%s:%d" % a.sock.getsockname()[:2]
    want = f"accepted {addr} as {a.nick}"
    end = time.monotonic() + timing.deadline(2)
    while want not in s.server.stderr.decode("utf-8", "replace") and time.monotonic() < end:
        time.sleep(0.02)
    fb.expect(want in s.server.stderr.decode("utf-8", "replace"), f"no line {want!r} on stderr.",
              details=[s.server.describe()], hint="log each newcomer as 'accepted ADDR:PORT as NICK' (§2.2) [R2.2-2]")
    a.send(CLOSE, close_payload(1000))
    s.expect_close(a, 1000, "closing", "§4.5")
    s.expect_eof(a, "closing", "§4.5")
    a.close()  # our EOF ends the server's wait at once (§6.3)
    import re
    pat = re.compile(r"^closed " + re.escape(f"{a.nick} {addr}") + r" \(.+\)$", re.M)
    end = time.monotonic() + timing.deadline(2)
    while not pat.search(s.server.stderr.decode("utf-8", "replace")) and time.monotonic() < end:
        time.sleep(0.02)
    fb.expect(bool(pat.search(s.server.stderr.decode("utf-8", "replace"))),
              f"no line 'closed {a.nick} {addr} (why)' on stderr.", details=[s.server.describe()],
              hint="log each departure as 'closed NICK ADDR:PORT (why)' (§2.2) [R2.2-3]")
    quiet = s.join()
    qaddr = "%s:%d" % quiet.sock.getsockname()[:2]
    quiet.sock.shutdown(socket.SHUT_WR)  # an EOF: no error
    rst = s.join()
    raddr = "%s:%d" % rst.sock.getsockname()[:2]
    rst.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    rst.close()  # a reset
    want = f"ws_chat_server: recv {raddr}: Connection reset by peer"
    end = time.monotonic() + timing.deadline(2)
    while want not in s.server.stderr.decode("utf-8", "replace") and time.monotonic() < end:
        time.sleep(0.02)
    err = s.server.stderr.decode("utf-8", "replace")
    fb.expect(want in err, f"no line {want!r} on stderr after a client's reset.", details=[s.server.describe()],
              hint="a recv() error is logged as 'ws_chat_server: recv ADDR:PORT: reason' (§2.2) [R2.2-7]")
    fb.expect(f"ws_chat_server: recv {qaddr}" not in err, "an EOF was logged as a recv error.",
              details=[s.server.describe()], hint="recv() returning 0 is an EOF, not an error (§2.2) [R2.2-7]")


@pytest.mark.spec("R2.2-5")
@pytest.mark.points(2)
def test_sigterm(ws_chat):
    """SIGTERM and SIGINT: a close frame 1001 to each client, exit 0"""
    hint = "SIGINT and SIGTERM: a close frame 1001 to each chat client, close everything, exit 0 (§2.2) [R2.2-5]"
    for sig in (signal.SIGTERM, signal.SIGINT):
        s = ws_chat()
        a = s.join()
        s.server.send_signal(sig)
        s.expect_close(a, 1001, f"after {sig.name}", hint)
        rc = s.server.wait(timing.upper(2.0, 1.0))
        fb.expect(rc == 0, f"after {sig.name}: {s.server.exit_text()}.", details=[s.server.describe()], hint=hint)


@pytest.mark.spec("R2.2-6")
@pytest.mark.points(2)
def test_frees_everything_at_exit(ws_chat):
    """ws_chat_server frees everything at exit (SIGTERM mid-session)"""
    s = ws_chat()
    hint = "free every connection's buffers and close every fd before exiting (§2.2) [R2.2-6]"
    a, b = pair(s)
    a.send(TEXT, b"hello")
    s.texts(b, 1, "a message", "§5.1")
    a.send(TEXT, b"a fragment", fin=False)  # a message still being reassembled at exit
    b.send_raw(frame(TEXT, b"half a frame")[:5])  # a frame cut in half at exit
    c = s.connect()
    c.send_raw(b"GET /chat HTTP/1.1\r\nHo")  # a request head cut in half at exit
    q = s.join()
    q.send(TEXT, b"/quit")  # a connection closing at exit
    s.texts(q, 1, "/quit", "§5.1")
    a.send(PING, b"sync")
    s.frame(a, "a ping", "§4.3")
    s.server.send_signal(signal.SIGTERM)
    rc = s.server.wait(timing.upper(3.0, 2.0))
    fb.expect(rc == 0, f"after SIGTERM: {s.server.exit_text()}.", details=[s.server.describe()], hint=hint)
    leak = s.server.leak_report()
    fb.expect(leak is None, "ws_chat_server did not free everything at exit:\n" + (leak or ""),
              details=[s.server.describe()], hint=hint)
