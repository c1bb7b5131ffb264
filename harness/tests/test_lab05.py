"""Lab 05: an HTTP/1.1 file server around one poll() loop. Tests for http_server, with points.

Each test starts the student's http_server on loopback (ephemeral port) over a fresh document
root (harness.labs.lab05.make_docroot) and talks to it with h11 (a strict HTTP/1.1 client),
raw sockets (hostile clients), curl and headless Chromium. Section numbers (§) and labels
[R..] refer to labs/05-http-poll/README.md.
"""
from __future__ import annotations

import hashlib
import os
import resource
import selectors
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from harness import feedback as fb
from harness import timing, tools
from harness.labs.lab05 import (CLF, SECRET, HttpClient, blast, clf_time, http_date_ok, imf,
                                parse_responses, ProtocolProblem)
from harness.paths import time_scale
from harness.procs import Limits, open_fds

LAB = "05"
#: The tests fit to run under valgrind memcheck (grade --valgrind): functional, not timing or scale.
VALGRIND_SELECT = ("get_file or content_types or binary or directory or head or modified or keep_alive "
                   "or connection_close or pipelined or single_bytes or half_close or bad_requests or methods "
                   "or version or limits or lengths or traversal or symlinks or come_and_go or log or "
                   "arguments or sigterm or frees_everything")

def need_h11():
    from harness.labs import lab05
    if lab05.h11 is None:
        pytest.skip("needs the python3-h11 package (a strict HTTP/1.1 client): sudo apt-get install -y python3-h11")


@pytest.fixture(autouse=True)
def _h11_present():
    need_h11()


# ---- §3.2 GET and HEAD ------------------------------------------------------------------------
@pytest.mark.spec("R3.2-1", "R3.2-3", "R3.2-4", "R3.1-1")
@pytest.mark.points(4)
def test_get_file(http_server):
    """GET /index.html: 200, the exact bytes, Content-Length, Date and Last-Modified"""
    s = http_server(env={"TZ": "NPT-5:45"})  # dates must be GMT whatever the local zone
    hint = "a 200 response carries the file's bytes, Content-Length, Date and Last-Modified (§3.2)"
    t0 = time.time()
    c = s.client()
    r = s.request("/index.html", "GET /index.html", hint, c=c)
    s.expect_status(r, 200, "GET /index.html", hint, c)
    want = s.root.files["/index.html"]
    fb.expect_bytes(r.body, want, what="the body of GET /index.html", details=s.details(c), hint=hint)
    fb.expect(r.header("content-length") == str(len(want)),
              f"Content-Length is {r.header('content-length')!r}, expected {len(want)}.", details=s.details(c), hint=hint)
    date = http_date_ok(r.header("date"))
    fb.expect(date is not None and t0 - 2 <= date <= time.time() + 2,
              f"Date is {r.header('date')!r}: expected the current time as an IMF-fixdate "
              f"such as {imf(time.time())!r}.", details=s.details(c), hint="Date: §3.2 [R3.2-3]")
    lm = http_date_ok(r.header("last-modified"))
    fb.expect(lm is not None and int(lm) == int(s.root.mtime("/index.html")),
              f"Last-Modified is {r.header('last-modified')!r}, expected the file's mtime "
              f"{imf(s.root.mtime('/index.html'))!r}.", details=s.details(c), hint="Last-Modified: §3.2 [R3.2-4]")
    fb.expect(r.version == b"1.1", f"the status line says HTTP/{r.version.decode()}, expected HTTP/1.1.",
              details=s.details(c), hint="§3.2")
    # A query string names the same file.
    r = s.request("/index.html?x=1&y=%2F", "GET /index.html?x=1&y=%2F (a query)", "the query (from '?') is ignored (§3.1)")
    s.expect_status(r, 200, "GET /index.html?x=1&y=%2F", "the query (from '?') is ignored when finding the file (§3.1) [R3.1-1]")


@pytest.mark.spec("R3.2-2")
@pytest.mark.points(2)
def test_content_types(http_server):
    """Content-Type from the extension table, case-insensitive, octet-stream otherwise"""
    s = http_server()
    c = s.client()
    cases = [("/index.html", "text/html"), ("/style.css", "text/css"), ("/app.js", "text/javascript"),
             ("/data.json", "application/json"), ("/sub/note.txt", "text/plain"), ("/img/logo.png", "image/png"),
             ("/photo.jpg", "image/jpeg"), ("/anim.gif", "image/gif"), ("/logo.svg", "image/svg+xml"),
             ("/UPPER.TXT", "text/plain"), ("/noext", "application/octet-stream"), ("/page.htm", "text/html"),
             ("/pic.jpeg", "image/jpeg"), ("/favicon.ico", "image/x-icon"), ("/doc.pdf", "application/pdf"),
             ("/mod.wasm", "application/wasm"),
             ("/bin.dat", "application/octet-stream")]
    for path, want in cases:
        r = s.request(path, f"GET {path}", "§3.2", c=c)
        got = (r.header("content-type") or "").split(";")[0].strip().lower()
        fb.expect(r.status == 200 and got == want,
                  f"GET {path}: {r.summary()}, Content-Type {r.header('content-type')!r}; expected 200 with {want!r}.",
                  details=s.details(c), hint="Content-Type comes from the table of §3.2, extension compared "
                                             "without case; anything else is application/octet-stream [R3.2-2]")


@pytest.mark.spec("R3.2-1")
@pytest.mark.points(3)
def test_binary_file(http_server):
    """A binary file with NUL bytes comes back whole, with its true length"""
    s = http_server()
    c = s.client()
    hint = "a file is bytes, not a C string: its length is st_size, and NULs are data (§3.2) [R3.2-1]"
    for path in ("/bin.dat", "/img/logo.png", "/empty.txt"):
        r = s.request(path, f"GET {path}", hint, c=c)
        s.expect_status(r, 200, f"GET {path}", hint, c)
        want = s.root.files[path]
        fb.expect(r.header("content-length") == str(len(want)),
                  f"GET {path}: Content-Length {r.header('content-length')!r}, the file has {len(want)} bytes.",
                  details=s.details(c), hint=hint)
        fb.expect(r.body == want, f"GET {path}: {len(r.body)} bytes came back that differ from the file's "
                                  f"{len(want)} (first difference at offset {fb.first_difference(r.body, want)}).",
                  details=s.details(c), hint=hint)


@pytest.mark.spec("R3.2-5")
@pytest.mark.points(2)
def test_directory_index(http_server):
    """A directory is served by its index.html; without one, 404"""
    s = http_server()
    hint = "a directory (with or without the final '/') is served by its index.html; none: 404 (§3.2) [R3.2-5]"
    for path, want in (("/", "/index.html"), ("/sub/", "/sub/index.html"), ("/sub", "/sub/index.html")):
        r = s.request(path, f"GET {path}", hint)
        s.expect_status(r, 200, f"GET {path}", hint)
        fb.expect_bytes(r.body, s.root.files[want], what=f"GET {path}", hint=hint)
    r = s.request("/empty/", "GET /empty/ (a directory without index.html)", hint)
    s.expect_status(r, 404, "GET /empty/ (a directory without index.html)", hint)


@pytest.mark.spec("R3.2-6")
@pytest.mark.points(3)
def test_head(http_server):
    """HEAD: the same headers as GET, no body (then a GET on the same connection)"""
    s = http_server()
    c = s.client()
    hint = "HEAD sends exactly the headers GET would send, and no body at all (§3.2) [R3.2-6]"
    for path in ("/bin.dat", "/index.html", "/nosuch.html"):
        get = s.request(path, f"GET {path}", hint, c=c)
        head = s.request(path, f"HEAD {path}", hint, method="HEAD", c=c)
        fb.expect(head.status == get.status and head.header("content-length") == get.header("content-length")
                  and head.header("content-type") == get.header("content-type"),
                  f"HEAD {path}: {head.summary()} Content-Length {head.header('content-length')}, but GET gave "
                  f"{get.summary()} Content-Length {get.header('content-length')}.", details=s.details(c), hint=hint)
    # A body after HEAD would be parsed as the next response: h11 catches it here.
    r = s.request("/sub/note.txt", "GET /sub/note.txt after HEAD requests on the same connection", hint, c=c)
    fb.expect(r.status == 200 and r.body == s.root.files["/sub/note.txt"],
              f"GET /sub/note.txt after the HEADs: {r.summary()} {r.body[:60]!r}.", details=s.details(c), hint=hint)


@pytest.mark.spec("R3.2-7", "R3.5-1")
@pytest.mark.points(3)
def test_if_modified_since(http_server):
    """If-Modified-Since: 304 without a body when not modified, 200 otherwise; per request"""
    s = http_server()
    c = s.client()
    hint = "If-Modified-Since at or after the file's mtime: 304 with no body; before it, or not an IMF-fixdate: 200 (§3.2) [R3.2-7]"
    mtime = s.root.mtime("/index.html")
    r = s.request("/index.html", "GET with If-Modified-Since = Last-Modified", hint,
                  headers=(("If-Modified-Since", imf(mtime)),), c=c)
    s.expect_status(r, 304, "GET /index.html with If-Modified-Since equal to its Last-Modified", hint, c)
    fb.expect(r.body == b"", f"the 304 response has a body {r.body[:60]!r}.", details=s.details(c), hint=hint)
    lm = http_date_ok(r.header("last-modified"))
    fb.expect(http_date_ok(r.header("date")) is not None and lm is not None and int(lm) == int(mtime),
              f"the 304 has Date {r.header('date')!r} and Last-Modified {r.header('last-modified')!r}; expected both, "
              f"Last-Modified {imf(mtime)!r}.", details=s.details(c),
              hint="a 304 carries Date and Last-Modified like the 200 would (§3.2) [R3.2-3] [R3.2-4]")
    r = s.request("/index.html", "GET with If-Modified-Since a day later", hint,
                  headers=(("If-Modified-Since", imf(mtime + 86400)),), c=c)
    s.expect_status(r, 304, "GET /index.html with If-Modified-Since a day after its mtime", hint, c)
    # Each request stands alone: the next one, without the header, gets the whole file.
    r = s.request("/index.html", "GET without If-Modified-Since, after a 304 on the same connection",
                  "each request on a connection starts from fresh state: reset everything per request (§3.5) [R3.5-1]", c=c)
    s.expect_status(r, 200, "a plain GET after a 304 on the same connection",
                    "each request on a connection starts from fresh state: reset everything per request (§3.5) [R3.5-1]", c)
    fb.expect_bytes(r.body, s.root.files["/index.html"], what="the body after a 304", details=s.details(c), hint="§3.5")
    for value in (imf(mtime - 86400), "yesterday", "Sunday, 06-Nov-94 08:49:37 GMT"):
        r = s.request("/index.html", f"GET with If-Modified-Since: {value}", hint,
                      headers=(("If-Modified-Since", value),), c=c)
        s.expect_status(r, 200, f"GET /index.html with If-Modified-Since: {value}", hint, c)


# ---- §3.5 connections ------------------------------------------------------------------------
@pytest.mark.spec("R3.5-1")
@pytest.mark.points(2)
def test_keep_alive(http_server):
    """Thirty requests of every kind on one persistent connection"""
    s = http_server()
    c = s.client()
    hint = "HTTP/1.1 connections stay open after each response (unless 'Connection: close'), and every request starts fresh (§3.5) [R3.5-1]"
    paths = ["/index.html", "/nosuch", "/bin.dat", "/style.css", "/../x", "/sub/", "/empty.txt"]
    for i in range(30):
        p = paths[i % len(paths)]
        method = "HEAD" if i % 5 == 4 else "GET"
        r = s.request(p, f"request {i + 1} on one connection ({method} {p})", hint, method=method, c=c)
        want = s.root.files.get(p if p != "/sub/" else "/sub/index.html")
        if want is not None and method == "GET":
            fb.expect(r.status == 200 and r.body == want, f"request {i + 1} ({method} {p}): {r.summary()}, "
                      f"{len(r.body)} bytes.", details=s.details(c), hint=hint)
        fb.expect(r.header("connection") is None or "close" not in r.header("connection").lower(),
                  f"request {i + 1}: the response says 'Connection: {r.header('connection')}'.",
                  details=s.details(c), hint=hint)


@pytest.mark.spec("R3.5-2", "R3.5-3", "R3.5-8")
@pytest.mark.points(2)
def test_connection_close(http_server):
    """'Connection: close' and HTTP/1.0: one response, sent whole, then the server closes"""
    s = http_server()
    hint = "after a request with 'Connection: close', or any HTTP/1.0 request, answer and close the connection (§3.5)"
    for headers, version, label in (((("Connection", "close"),), "1.1", "R3.5-2"),
                                     ((("Connection", "keep-alive, Close"),), "1.1", "R3.5-2"),
                                     ((), "1.0", "R3.5-3")):
        c = s.client()
        r = s.request("/index.html", f"GET HTTP/{version} {headers}", hint, headers=headers, version=version, c=c)
        s.expect_status(r, 200, f"GET /index.html HTTP/{version} {headers}", hint, c)
        fb.expect_bytes(r.body, s.root.files["/index.html"], what="the body", details=s.details(c), hint=hint)
        fb.expect(c.wait_eof(2), f"HTTP/{version} {headers}: the server did not close the connection after "
                  "the response.", details=s.details(c), hint=f"{hint} [{label}]")
        fb.expect("close" in (r.header("connection") or "").lower(),
                  f"HTTP/{version} {headers}: the response says Connection: {r.header('connection')!r}; it must say "
                  "'close' when the server will close.", details=s.details(c), hint=f"{hint} [{label}]")
    close_after_everything_sent(s)


def close_after_everything_sent(s) -> None:
    """GET /big.bin with 'Connection: close', followed at once by 64 KiB of pipelined requests
    the server must drop; the client reads in 4 KiB steps. The whole body must come, then EOF:
    the server sends everything due before it shuts down, then drains the client's bytes."""
    hint = ("when the server ends a connection, it first sends everything queued, then shutdown(SHUT_WR), then "
            "reads and drops what the client still sends until its EOF; a close() with unread bytes resets the "
            "connection and the kernel throws away the unsent response (§3.5) [R3.5-8]")
    extra = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n" * 1700  # 64 KiB, more than the server's buffer
    raw = b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + extra
    what = ("GET /big.bin with 'Connection: close' (8 MiB), then 64 KiB of pipelined requests on the same "
            "connection, read slowly")
    k = socket.create_connection((s.host, s.port), timeout=5 * time_scale())
    data, ending = bytearray(), "timeout"
    pending = memoryview(raw)
    sel = selectors.DefaultSelector()
    try:
        # (No small SO_RCVBUF here: under gVisor, epoll then sometimes misses queued bytes.)
        k.setblocking(False)
        # Send and read at once: a server that stops reading while it answers must not make
        # this client block in send() while the server blocks in its own send().
        sel.register(k, selectors.EVENT_READ | selectors.EVENT_WRITE)
        stop = time.monotonic() + timing.deadline(20.0)
        while ending == "timeout" and time.monotonic() < stop:
            for _key, ev in sel.select(max(0.01, stop - time.monotonic())):
                if ev & selectors.EVENT_WRITE and pending:
                    try:
                        pending = pending[k.send(pending[:65536]):]
                    except BlockingIOError:
                        pass
                    except OSError:
                        pending = pending[:0]  # the server closed: nothing more to send
                    if not pending:
                        sel.modify(k, selectors.EVENT_READ)
                if ev & selectors.EVENT_READ:
                    try:
                        d = k.recv(4096)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        ending = "reset"
                        break
                    if not d:
                        ending = "eof"
                        break
                    data += d
    finally:
        sel.close()
        k.close()
    got = bytes(data)
    head, _, body = got.partition(b"\r\n\r\n")
    sent = f"  sent: {fb.quote(raw)}"
    if ending == "timeout":
        fb.fail(f"{what}: after {len(got)} bytes, nothing more came and the connection stayed open.",
                details=[sent, s.server.describe()], hint=hint)
    fb.expect(head.startswith(b"HTTP/1.1 200") and body == s.root.big,
              f"{what}: the connection ended by {'a reset' if ending == 'reset' else 'EOF'} after {len(body)} of the "
              f"{len(s.root.big)} body bytes" + ("" if head.startswith(b"HTTP/1.1 200") else
                                                 f" (the response began {fb.quote(got[:60])})") + ".",
              details=[sent, s.server.describe()], hint=hint)
    fb.expect(ending == "eof", f"{what}: the whole body came, then a reset instead of EOF.",
              details=[sent, s.server.describe()], hint=hint)


@pytest.mark.spec("R3.5-4")
@pytest.mark.points(4)
def test_pipelined_one_segment(http_server):
    """Six pipelined requests in one segment are answered in order"""
    s = http_server()
    c = s.client()
    hint = "requests may arrive several in one recv(): answer each, in order, and keep what follows (§3.5) [R3.5-4]"
    paths = ["/index.html", "/nosuch", "/bin.dat", "/sub/note.txt", "/style.css", "/data.json"]
    raw = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths[:-1])
    raw += b"HEAD /data.json HTTP/1.1\r\nHost: x\r\n\r\n"
    for p in paths[:-1]:
        c.reader.expect("GET")
    c.reader.expect("HEAD")
    c.sock.sendall(raw)
    c.sent += raw
    for i, p in enumerate(paths):
        r = s.fetch(c, f"pipelined request {i + 1} of {len(paths)} ({p})", hint)
        if p in s.root.files and i < len(paths) - 1:
            fb.expect(r.status == 200 and r.body == s.root.files[p],
                      f"pipelined request {i + 1} ({p}): {r.summary()} {r.body[:40]!r}, expected that file.",
                      details=s.details(c), hint=hint)
        elif p == "/nosuch":
            s.expect_status(r, 404, f"pipelined request {i + 1} ({p})", hint, c)
        else:
            s.expect_status(r, 200, f"pipelined request {i + 1} (HEAD {p})", hint, c)


@pytest.mark.spec("R3.5-5")
@pytest.mark.points(4)
def test_single_bytes_through_proxy(http_server, fragmenting_proxy):
    """Two requests delivered one byte per segment (fragmenting proxy)"""
    s = http_server()
    proxy = fragmenting_proxy((s.host, s.port), chunk=1, delay_s=0.001)
    c = HttpClient(proxy.host, proxy.port)
    s.clients.append(c)
    hint = "a request may arrive in many pieces: keep what you have and parse again when more comes (§3.5) [R3.5-5]"
    raw = b"GET /sub/note.txt HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 40 + b"\r\n\r\n"
    for i in range(2):
        c.send(raw)
        r = s.fetch(c, f"request {i + 1} sent one byte at a time", hint, timeout=10)
        s.expect_status(r, 200, f"request {i + 1} sent one byte at a time", hint, c)
        fb.expect_bytes(r.body, s.root.files["/sub/note.txt"], what="the body", details=s.details(c), hint=hint)


@pytest.mark.spec("R3.5-6")
@pytest.mark.points(3)
def test_half_close(http_server):
    """A client that shuts down its side after two requests gets both answers, then EOF"""
    s = http_server()
    raw = (b"GET /sub/note.txt HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /data.json HTTP/1.1\r\nHost: x\r\n\r\n")
    got, how = blast(s.host, s.port, raw, timeout=5, shut=True)
    hint = ("EOF from the client (recv() returns 0) ends its requests, not your answers: send what is "
            "due, then close (§3.5) [R3.5-6]")
    problem = None
    try:
        rs, closed = parse_responses(got, [("GET", "1.1"), ("GET", "1.1")])
    except ProtocolProblem as e:
        problem = str(e)
    if problem is not None:  # failed outside the except block: no exception chain in the feedback
        fb.fail(f"after a half-close: the responses are not valid HTTP/1.1: {problem}.", sent=raw, received=got,
                details=[s.server.describe()], hint=hint)
    fb.expect(len(rs) == 2 and rs[0].body == s.root.files["/sub/note.txt"] and rs[1].body == s.root.files["/data.json"],
              f"after two requests and a half-close, {len(rs)} complete response(s) came back ({how}).",
              details=[f"  sent: {fb.quote(raw)}\n  received: {fb.quote(got)}", s.server.describe()], hint=hint)
    fb.expect(how == "eof", f"after answering a half-closed client the server must close: the connection ended by {how}.",
              details=[s.server.describe()], hint=hint)


# ---- §3.4 errors -----------------------------------------------------------------------------
def check_error(s, raw: bytes, status: int, what: str, hint: str, close: bool = True, method: str = "GET"):
    """Send raw bytes on a new connection; the response must be `status` with a small text body,
    and (for the errors that end a connection) the server must close."""
    def complete(got: bytes) -> bool:
        # Without a close to wait for, one whole response is enough.
        if close:
            return False
        try:
            return bool(parse_responses(got, [(method, "1.1")], eof=False)[0])
        except ProtocolProblem:
            return True
    got, how = blast(s.host, s.port, raw, timeout=3, until=complete)
    problem = None
    try:
        rs, closed = parse_responses(got, [(method, "1.1")], eof=(how in ("eof", "reset")))
    except ProtocolProblem as e:
        problem = str(e)
    if problem is not None:  # failed outside the except block: no exception chain in the feedback
        fb.fail(f"{what}: the response is not valid HTTP/1.1: {problem}.", sent=raw[:300], received=got[:500],
                details=[s.server.describe()], hint=hint)
    if SECRET in got:
        fb.fail(f"{what}: the response holds the secret file from outside DOCROOT.", sent=raw[:300],
                received=got[:400], details=[s.server.describe()],
                hint="percent-decode first, then resolve '.' and '..', then check the real path: no byte from "
                     "outside DOCROOT, ever (§4.1, §4.2) [R4.1-5]")
    if not rs:
        s.server.wait(0.5)
        state = "" if s.server.alive() else f" (http_server has exited: {s.server.exit_text()})"
        fb.fail(f"{what}: no response came ({how}){state}.", sent=raw[:300], received=got[:500],
                details=[s.server.describe()], hint=hint)
    r = rs[0]
    body_ok = method == "HEAD" or status < 400 or (r.body.startswith(str(status).encode()) and 0 < len(r.body) <= 512)
    fb.expect(r.status == status and body_ok,
              f"{what}: {r.summary()} with body {r.body[:80]!r}; expected {status} with a short text body that "
              f"starts with '{status}'.", details=[f"  sent: {fb.quote(raw[:300])}", s.server.describe()], hint=hint)
    if status >= 400:
        fb.expect((r.header("content-type") or "").lower().startswith("text/plain") and http_date_ok(r.header("date")),
                  f"{what}: the {status} has Content-Type {r.header('content-type')!r} and Date {r.header('date')!r}; "
                  "expected text/plain and an IMF-fixdate.", details=[s.server.describe()],
                  hint="every error response has Date, Content-Type: text/plain; charset=utf-8, Content-Length and "
                       "a short body (§3.4) [R3.4-1]")
    if close and status >= 400:
        fb.expect("close" in (r.header("connection") or "").lower(),
                  f"{what}: the {status} says Connection: {r.header('connection')!r}; expected 'close'.",
                  details=[s.server.describe()],
                  hint="an error that ends the connection says so: 'Connection: close' (§3.4) [R3.4-7]")
    if close:
        fb.expect(how in ("eof", "reset"), f"{what}: after a {status}, the server must close the connection "
                  f"(it stayed open).", details=[s.server.describe()],
                  hint="after 400, 408, 413, 414, 431 and 505 the rest of the stream cannot be trusted: close (§3.4) [R3.4-7]")
    return r


@pytest.mark.spec("R3.4-1", "R3.4-2", "R3.1-1", "R3.1-2", "R3.1-3", "R3.4-7")
@pytest.mark.points(5)
def test_bad_requests(http_server):
    """Malformed request lines and headers get 400 with a body, then close; the server stays up"""
    s = http_server()
    cases = [
        (b"GET /index.html\r\n\r\n", "a request line without a version"),
        (b"GET  /index.html HTTP/1.1\r\nHost: x\r\n\r\n", "two spaces in the request line"),
        (b"GET /index.html HTTP/1.1 extra\r\nHost: x\r\n\r\n", "a fourth word on the request line"),
        (b"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n", "a target that does not start with '/'"),
        (b"GET /index.html http/1.1\r\nHost: x\r\n\r\n", "a lower-case version"),
        (b"GET /index.html HTTP/1\r\nHost: x\r\n\r\n", "a version without a minor digit"),
        (b"G(T /index.html HTTP/1.1\r\nHost: x\r\n\r\n", "a method that is not a token"),
        (b"GET /index.html HTTP/1.1\r\n\r\n", "HTTP/1.1 without Host"),
        (b"GET /index.html HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "two Host fields"),
        (b"GET /index.html HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", "a field line without a colon"),
        (b"GET /index.html HTTP/1.1\r\nHost: x\r\nX-Name : v\r\n\r\n", "whitespace before the colon"),
        (b"GET /index.html HTTP/1.1\r\nHost: x\r\nX-A: b\r\n folded\r\n\r\n", "an obsolete folded line"),
        (b"GET /index.html HTTP/1.1\r\nHost: x\r\nX-A: b\x00c\r\n\r\n", "a NUL in a field value"),
        (b"GET\r\nHost: x\r\n\r\n", "a request line without any space"),
        (b"GET /ind\x01ex.html HTTP/1.1\r\nHost: x\r\n\r\n", "a control character (0x01) in the target"),
        (b"GET /index.html\x7f HTTP/1.1\r\nHost: x\r\n\r\n", "DEL (0x7f) in the target"),
        (b"GET /caf\xc3\xa9.html HTTP/1.1\r\nHost: x\r\n\r\n", "raw UTF-8 (not percent-encoded) in the target"),
    ]
    for raw, what in cases:
        check_error(s, raw, 400, what, "a malformed request gets 400 with a short body, then close (§3.1, §3.4) [R3.4-2]")
    # The server still serves, and tolerates what RFC 9112 says to tolerate.
    r = check_error(s, b"\r\n\n\r\nGET /index.html HTTP/1.1\nHost: x\n\n", 200, "empty lines before the request "
                    "line and bare-LF line ends", "empty lines before a request line are ignored; a bare LF ends a "
                    "line like CRLF (§3.1) [R3.1-1]", close=False)
    r = check_error(s, b"GET /index.html HTTP/1.0\r\n\r\n", 200, "HTTP/1.0 without Host",
                    "HTTP/1.0 does not need Host (§3.1) [R3.1-2]", close=True)
    r = check_error(s, b"GET /index.html HTTP/1.1\r\nhOsT: x\r\nX-Empty:\r\nX-Tab:\tv \t\r\n\r\n", 200,
                    "field names in mixed case, an empty value, tabs around a value",
                    "field names are case-insensitive; OWS around a value is not part of it (§3.1) [R3.1-3]", close=False)
    s.expect_alive(f"{len(cases)} malformed requests", "a malformed request must never stop the server (§3.4)")


@pytest.mark.spec("R3.4-4", "R3.4-5", "R3.4-1")
@pytest.mark.points(2)
def test_methods_405_501(http_server):
    """POST, PUT, DELETE... get 405 with 'Allow: GET, HEAD'; unknown methods 501"""
    s = http_server()
    for m in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"):
        raw = b"%s /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % m.encode()
        r = check_error(s, raw, 405, f"{m} /index.html", "a method of RFC 9110 other than GET and HEAD: 405 (§3.4) [R3.4-4]",
                        close=False)
        allow = {a.strip() for a in (r.header("allow") or "").split(",")}
        fb.expect(allow == {"GET", "HEAD"}, f"{m}: the 405 says Allow: {r.header('allow')!r}, expected 'GET, HEAD'.",
                  details=[s.server.describe()], hint="a 405 must carry 'Allow: GET, HEAD' (§3.4) [R3.4-4]")
    for m in ("BREW", "get", "FETCH"):
        check_error(s, b"%s /index.html HTTP/1.1\r\nHost: x\r\n\r\n" % m.encode(), 501, f"the unknown method {m}",
                    "a method the server does not know (methods are case-sensitive): 501 (§3.4) [R3.4-5]", close=False)


@pytest.mark.spec("R3.4-6", "R3.4-7")
@pytest.mark.points(2)
def test_version_505(http_server):
    """HTTP/2.0 and HTTP/0.9-style versions: 505; HTTP/1.2 is served as 1.1"""
    s = http_server()
    for v in (b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.1"):
        check_error(s, b"GET /index.html %s\r\nHost: x\r\n\r\n" % v, 505, f"a request with {v.decode()}",
                    "a well-formed version with a major number other than 1: 505, then close (§3.4) [R3.4-6]")
    check_error(s, b"GET /index.html HTTP/1.2\r\nHost: x\r\n\r\n", 200, "a request with HTTP/1.2",
                "HTTP/1.x with x > 1 is served as HTTP/1.1 (§3.4) [R3.4-6]", close=False)


@pytest.mark.spec("R3.3-1", "R3.3-2", "R3.3-3", "R3.4-7")
@pytest.mark.points(4)
def test_limits(http_server):
    """Long targets (404 at 8000 bytes, 414 past 8192), big header sections (431), 101 fields (431)"""
    s = http_server()
    hint = "§3.3"
    long_ok = b"/" + b"a" * 7990
    check_error(s, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % long_ok, 404, "a 7991-byte target (under the limit)",
                "a request line up to 8192 bytes is a request like any other: never copy it into a smaller "
                "fixed buffer (§3.3) [R3.3-1]", close=False)
    check_error(s, b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % (b"a" * 9000), 414, "a 9001-byte target",
                "a request line over 8192 bytes: 414 (§3.3) [R3.3-1]")
    check_error(s, b"GET /" + b"a" * 20000, 414, "20 KB of request line, no end yet",
                "414 as soon as the request line passes 8192 bytes, without waiting for its end (§3.3) [R3.3-1]")
    big = b"X-Big: " + b"b" * 17000 + b"\r\n"
    check_error(s, b"GET /index.html HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n", 431, "a 17 KB header field",
                "a header section over 16384 bytes: 431 (§3.3) [R3.3-2]")
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(99))
    check_error(s, b"GET /index.html HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n", 200, "100 header fields",
                "100 fields are allowed (§3.3) [R3.3-3]", close=False)
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(100))
    check_error(s, b"GET /index.html HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n", 431, "101 header fields",
                "more than 100 fields: 431 (§3.3) [R3.3-3]")
    s.expect_alive("over-long requests", hint)


@pytest.mark.spec("R3.3-4", "R3.4-7")
@pytest.mark.points(1)
def test_huge_headers(http_server):
    """1 MiB of headers: 431, the connection closed, the server still up"""
    s = http_server()
    raw = b"GET /index.html HTTP/1.1\r\nHost: x\r\n" + b"X-Flood: " + b"f" * (1 << 20) + b"\r\n\r\n"
    check_error(s, raw, 431, "1 MiB of header fields",
                "stop reading at the limit, answer 431, close; never grow the input buffer without bound (§3.3) [R3.3-4]")
    s.expect_alive("1 MiB of headers", "§3.3")


@pytest.mark.spec("R3.4-3", "R3.4-8", "R3.3-5")
@pytest.mark.points(3)
def test_lengths(http_server):
    """Content-Length + Transfer-Encoding, chunked, negative, huge and conflicting lengths; bodies dropped"""
    s = http_server()
    hint = "§3.4 [R3.4-3]"
    base = b"POST /index.html HTTP/1.1\r\nHost: x\r\n"
    check_error(s, base + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                "Content-Length with Transfer-Encoding", "Transfer-Encoding on a request (with or without "
                "Content-Length, the request-smuggling pair): 400 (§3.4) [R3.4-3]")
    check_error(s, b"GET /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                "a chunked GET", "any Transfer-Encoding on a request: 400 (§3.4) [R3.4-3]")
    for v in (b"-1", b"abc", b"1 2", b"+5", b""):
        check_error(s, base + b"Content-Length: " + v + b"\r\n\r\n", 400, f"Content-Length: {v.decode()!r}",
                    "Content-Length is digits only (§3.4) [R3.4-3]")
    check_error(s, base + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "two different Content-Lengths",
                "conflicting Content-Length fields: 400 (§3.4) [R3.4-3]")
    for v in (b"99999999999999999999999999", b"1048577"):
        check_error(s, base + b"Content-Length: " + v + b"\r\n\r\n", 413, f"Content-Length: {v.decode()}",
                    "a body over 1 MiB (1048576 bytes): 413 before reading it; huge numbers must not overflow (§3.3) [R3.3-5]")
    body = b"b" * (1 << 20)
    check_error(s, base + b"Content-Length: 1048576\r\n\r\n" + body, 405, "POST with a body of exactly 1 MiB",
                "a body of up to 1048576 bytes is read and dropped; only a longer one is 413 (§3.3) [R3.3-5]",
                close=False, method="POST")
    # A body within the limit is read and dropped: the next request on the connection is intact.
    c = s.client()
    body = b"GET /nosuch HTTP/1.1\r\nHost: x\r\n\r\n" * 3
    c.send(b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    r = s.fetch(c, "POST with a body that looks like requests", "§3.4 [R3.4-8]")
    s.expect_status(r, 405, "POST with a body", "§3.4 [R3.4-4]", c)
    c.send(b"GET /data.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    c.get("/sub/note.txt")
    r = s.fetch(c, "GET with a 2-byte body", "§3.4 [R3.4-8]")
    s.expect_status(r, 200, "GET /data.json with a 2-byte body, after the POST", "a request's body is read and "
                    "dropped: its bytes are not the next request (§3.4) [R3.4-8]", c)
    r = s.fetch(c, "the GET after it", "§3.4 [R3.4-8]")
    fb.expect(r.status == 200 and r.body == s.root.files["/sub/note.txt"],
              f"the request after two bodies: {r.summary()}; expected 200 /sub/note.txt.", details=s.details(c),
              hint="a request's body (Content-Length bytes) is read and dropped; the next request follows it (§3.4) [R3.4-8]")
    s.expect_alive("bad lengths", hint)


# ---- §4 paths --------------------------------------------------------------------------------
TRAVERSAL = [
    ("/../secret.txt", 403, "R4.1-3"),
    ("/sub/../../secret.txt", 403, "R4.1-3"),
    ("/%2e%2e/secret.txt", 403, "R4.1-3"),
    ("/%2E%2E/%2e%2e/secret.txt", 403, "R4.1-3"),
    ("/.%2e/secret.txt", 403, "R4.1-3"),
    ("/..%2fsecret.txt", 400, "R4.1-2"),
    ("/%2e%2e%2fsecret.txt", 400, "R4.1-2"),
    ("/sub%2f..%2f..%2fsecret.txt", 400, "R4.1-2"),
    ("/..\\secret.txt", 400, "R4.1-2"),
    ("/..%5csecret.txt", 400, "R4.1-2"),
    ("/index.html%00.txt", 400, "R4.1-2"),
    ("/%zz", 400, "R4.1-2"),
    ("/index.html%2", 400, "R4.1-2"),
    ("//secret.txt", 404, "R4.1-4"),
    ("//..//secret.txt", 403, "R4.1-3"),
    ("/sub/./../index.html", 200, "R4.1-1"),
    ("/nosuch/../index.html", 200, "R4.1-1"),
    ("/nosuch/%2e%2e/index.html", 200, "R4.1-1"),
    ("/sub//note.txt", 200, "R4.1-4"),
    ("/a%20b.txt", 200, "R4.1-1"),
    ("/%69ndex.html", 200, "R4.1-1"),
    ("/a+b.txt", 200, "R4.1-1"),
]


@pytest.mark.spec("R4.1-1", "R4.1-2", "R4.1-3", "R4.1-4", "R4.1-5")
@pytest.mark.points(6)
def test_traversal(http_server):
    """Traversal in every encoding (../ %2e%2e%2f ..%2f %2e%2e/ // \\ %00): never a byte outside DOCROOT"""
    s = http_server()
    for target, status, label in TRAVERSAL:
        raw = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode()
        hint = {"R4.1-1": "decode %XX, then remove '.' and '..' segments as text, before touching the disk (§4.1)",
                "R4.1-2": "a bad escape, a NUL, a backslash or an encoded slash ('%2F') in the path: 400 (§4.1)",
                "R4.1-3": "a '..' that climbs above the root, once decoded: 403 (§4.1)",
                "R4.1-4": "empty segments ('//') count as one '/' (§4.1)"}[label] + f" [{label}]"
        check_error(s, raw, status, f"GET {target}", hint, close=False)
    s.expect_alive("traversal attempts", "§4.1")


@pytest.mark.spec("R4.2-1", "R4.2-2", "R4.2-3", "R4.2-4")
@pytest.mark.points(3)
def test_symlinks(http_server):
    """Symbolic links out of DOCROOT (file, directory): 403; a link inside: served; a FIFO: 403"""
    s = http_server()
    for target, status, label, hint in (
            ("/link.txt", 403, "R4.2-1", "a symlink whose real path leaves DOCROOT: 403; check realpath() (§4.2)"),
            ("/linkdir/", 403, "R4.2-1", "a directory symlink out of DOCROOT: 403 (§4.2)"),
            ("/linkdir/index.html", 403, "R4.2-1", "a path through a directory symlink out of DOCROOT: 403 (§4.2)"),
            ("/inside.txt", 200, "R4.2-2", "a symlink that stays inside DOCROOT is served (§4.2)"),
            ("/fifo", 403, "R4.2-3", "only regular files are served: 403 for a FIFO, never open() it blocking (§4.2)"),
            ("/nosuch.html", 404, "R4.2-4", "a missing file: 404 (§4.2)")):
        raw = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode()
        r = check_error(s, raw, status, f"GET {target}", hint + f" [{label}]", close=False)
        if status == 200:
            fb.expect_bytes(r.body, s.root.files["/sub/note.txt"], what=f"GET {target}", hint=hint)
    # A file the server may not read (mode 000): open() fails with EACCES. Only a server that
    # runs as root (the grader without its sandbox) can read it anyway: nothing to check then.
    locked = s.root.path / "locked.txt"
    locked.write_bytes(b"not for you\n")
    locked.chmod(0)
    if psutil.Process(s.server.pid).uids().effective != 0:
        raw = b"GET /locked.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        check_error(s, raw, 403, "GET /locked.txt (a file of mode 000: open() fails with EACCES)",
                    "a file that exists but cannot be opened (EACCES) gets 403, with its own short body (§4.2) [R4.2-4]",
                    close=False)
    s.expect_alive("symlinks", "§4.2")


# ---- §5 the loop: hostile clients --------------------------------------------------------------
@pytest.mark.spec("R5.3-1", "R5.3-3", "R5.3-6", "R2.2-4")
@pytest.mark.points(4)
def test_idle_timeout(http_server):
    """--idle-timeout: a partial request gets 408 then close; an idle connection is closed silently"""
    T = 0.6
    s = http_server("--idle-timeout", str(int(T * 1000)))
    hint = "§5.3"

    def scenario():
        checks = []
        partial = s.client()
        silent = s.client()
        t0 = time.monotonic()
        partial.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\n")  # no blank line: incomplete
        r = s.fetch(partial, f"a partial request, then silence for {T} s", "the idle timer ends a request that "
                    "does not complete in time with 408 and close (§5.3) [R5.3-1]", timeout=T + 5)
        t408 = time.monotonic() - t0
        s.expect_status(r, 408, "a partial request, then silence", "§5.3 [R5.3-1]", partial)
        fb.expect(partial.wait_eof(2), "after the 408 the server must close the connection.",
                  details=s.details(partial), hint="§5.3 [R5.3-1]")
        ok = silent.wait_eof(T + 5)
        tsilent = time.monotonic() - t0
        fb.expect(ok and not silent.received, "a connection that sent nothing for the idle timeout: "
                  + ("it was not closed" if not ok else f"it received {fb.quote(bytes(silent.received))}"),
                  details=s.details(silent), hint="an idle connection without a request is closed without a response (§5.3) [R5.3-3]")
        checks.append(timing.Check("408 after a partial request", t408, T, tol=0.25, abs_tol=0.05))
        checks.append(timing.Check("close of an idle connection", tsilent, T, tol=0.25, abs_tol=0.05))
        return checks

    v = timing.judge(scenario)
    fb.expect(v.ok, f"idle timeout {T * 1000:.0f} ms: {v.message}.", details=[s.server.describe()],
              hint="restart a connection's timer at accept and after each request; close at expiry (§5.3)")
    # A slow but steady reader of a big file makes progress: it is not idle.
    slow = s.client(timeout=20)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    slow.get("/big.bin")
    t0, got = time.monotonic(), 0
    hint3 = "bytes sent restart the idle timer: a client that reads slowly but steadily is not idle (§5.3) [R5.3-6]"
    while time.monotonic() - t0 < 3 * T and not slow.eof:
        slow._recv(time.monotonic() + 0.05)
        time.sleep(0.1)  # the slow reader's pace, not a synchronisation
    fb.expect(not slow.eof, f"a client reading /big.bin slowly ({len(slow.received)} bytes in "
              f"{time.monotonic() - t0:.1f} s) was cut off by the {T} s idle timeout.", details=[s.server.describe()],
              hint=hint3)
    r = s.fetch(slow, "the slow reader reads the rest at full speed", hint3, timeout=20)
    fb.expect(r.status == 200 and len(r.body) == len(s.root.big), f"the slow reader got {r.summary()} with "
              f"{len(r.body)} of {len(s.root.big)} bytes.", details=[s.server.describe()], hint=hint3)
    # The 408 is logged with "-" for the request line it never received.
    lines = [l for l in s.log_lines() if '" 408 ' in l]
    fb.expect(any(CLF.match(l) and '"-" 408' in l for l in lines),
              f"no log line for the 408 with '\"-\"' as its request: {lines!r}.", details=[s.server.describe()],
              hint="a 408 is logged like any response, with \"-\" for the request line (§2.2) [R2.2-4]")


@pytest.mark.spec("R5.3-2", "R5.1-1")
@pytest.mark.points(3)
def test_slowloris(http_server):
    """Slowloris: header bytes trickled every 100 ms do not hold the connection past the timeout"""
    T = 0.8
    s = http_server("--idle-timeout", str(int(T * 1000)))
    hint = "bytes of an unfinished request do not restart the idle timer, or one byte a second holds a connection forever (§5.3) [R5.3-2]"
    c = s.client()
    c.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    deadline = t0 + timing.upper(T * 3, 0.5)
    other_ok = False
    while time.monotonic() < deadline and not c.eof:
        try:
            c.sock.sendall(b"X-a: b\r\n")
        except OSError:
            break
        if not other_ok:
            r = s.request("/sub/note.txt", "another client while the slowloris trickles", "§5.1 [R5.1-1]")
            s.expect_status(r, 200, "another client while the slowloris trickles", "§5.1 [R5.1-1]")
            other_ok = True
        c._recv(time.monotonic() + 0.1)
    elapsed = time.monotonic() - t0
    fb.expect(c.eof or c.error, f"a client trickling header lines every 100 ms was still connected after {elapsed:.1f} s "
              f"(idle timeout {T} s).", details=s.details(c), hint=hint)
    fb.expect(elapsed >= timing.lower(T, 0.2), f"the trickling client was closed after {elapsed:.2f} s, before the "
              f"{T} s idle timeout.", details=s.details(c), hint=hint)
    if c.received:
        problem = None
        try:
            rs, _ = parse_responses(bytes(c.received), [("GET", "1.1")])
        except ProtocolProblem as e:
            problem = str(e)
        if problem is not None:  # failed outside the except block: no exception chain in the feedback
            fb.fail(f"the slowloris's response is not valid HTTP/1.1: {problem}.", details=s.details(c), hint=hint)
        fb.expect(bool(rs) and rs[0].status == 408, f"the slowloris got {rs[0].summary() if rs else c.received[:80]!r}, expected 408.",
                  details=s.details(c), hint=hint)
    s.expect_alive("a slowloris", hint)


@pytest.mark.spec("R5.2-1")
@pytest.mark.points(3)
def test_big_file_does_not_block(http_server):
    """A client that does not read an 8 MiB file does not delay the others; it gets every byte later"""
    s = http_server()
    hint = ("send a file in chunks from the loop, only when poll() says the socket is writable; never a blocking "
            "loop over the whole file (§5.2) [R5.2-1]")
    a = s.client(timeout=20)
    a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    a.get("/big.bin")
    for i in range(5):
        t0 = time.monotonic()
        r = s.request("/sub/note.txt", f"client B's request {i + 1} while A holds an unread 8 MiB response", hint)
        dt = time.monotonic() - t0
        s.expect_status(r, 200, "client B's GET", hint)
        fb.expect(dt < timing.upper(1.0, 0.5), f"client B waited {dt:.2f} s for a 24-byte file while A was not reading.",
                  details=s.details(a), hint=hint)
    r = s.fetch(a, "client A reads its 8 MiB file at last", hint, timeout=20)
    s.expect_status(r, 200, "GET /big.bin", hint, a)
    fb.expect(hashlib.sha256(r.body).digest() == hashlib.sha256(s.root.big).digest(),
              f"/big.bin: {len(r.body)} bytes came back, not the file's {len(s.root.big)} bytes.",
              details=[s.server.describe()], hint=hint)


@pytest.mark.spec("R5.2-2", "R5.3-4")
@pytest.mark.points(4)
def test_pipeliner_never_reads(http_server):
    """A client that pipelines requests and never reads: the server stops reading it, serves others, drops it at the timeout;
    one that reads at last gets every response"""
    T = 1.5
    s = http_server("--idle-timeout", str(int(T * 1000)))
    hint = ("stop reading a client whose answers are not being read: bounded input and output per connection "
            "(§5.2) [R5.2-2]")
    base = open_fds(s.server.pid)
    hog = s.client().sock
    hog.setblocking(False)
    one = b"GET /bin.dat HTTP/1.1\r\nHost: x\r\n\r\n"
    chunk = one * 1000
    sent = 0
    cap = 48 << 20  # far more than loopback buffers hold: only a server that reads without bound takes it all
    stalled_since = None
    deadline = time.monotonic() + 8 * time_scale()
    while sent < cap and time.monotonic() < deadline:
        try:
            sent += hog.send(chunk)
            stalled_since = None
        except BlockingIOError:
            now = time.monotonic()
            stalled_since = stalled_since or now
            if now - stalled_since > 0.3:
                break
            time.sleep(0.005)
        except OSError:
            break
    t_stall = time.monotonic()
    fb.expect(sent < cap, f"the server read {sent >> 20} MiB of pipelined requests from a client that reads "
              "nothing back: its input (or output) is not bounded.", details=[s.server.describe()], hint=hint)
    r = s.request("/sub/note.txt", "another client while a pipeliner does not read", hint)
    s.expect_status(r, 200, "another client while a pipeliner does not read", hint)
    fb.expect(s.server.alive(), "http_server died while a client pipelined without reading.",
              details=[s.server.describe()], hint=hint)
    # At the idle timeout the stuck connection goes: its fd is closed.
    hint2 = "a response that makes no progress for the idle timeout: close the connection (§5.3) [R5.3-4]"
    end = time.monotonic() + timing.upper(T * 2 + 2, 1.0)
    while time.monotonic() < end and open_fds(s.server.pid) > base:
        time.sleep(0.05)
    fb.expect(open_fds(s.server.pid) <= base,
              f"{time.monotonic() - t_stall:.1f} s after the pipeliner stalled, the server still holds its connection "
              f"(idle timeout {T} s).", details=[s.server.describe()], hint=hint2)
    hog.close()
    pipeliner_reads_at_last(s)


def pipeliner_reads_at_last(s) -> None:
    """100 pipelined requests (50 KB) for a 200 KB file (20 MB of responses, far more than the
    socket buffers hold) sent without reading until the server stops taking them, then read: every
    response comes, whole and in order. The server must stop reading a full input buffer and read
    again once there is room, never take a full buffer (recv() of 0 bytes) for EOF."""
    n = 100
    hint = ("a full input buffer means: no POLLIN until a request is answered, then read again; recv() into 0 "
            "bytes of room returns 0, which is not the client's EOF (§5.2) [R5.2-2]")
    body = s.root.files["/bin.dat"]
    # 500 bytes each: the requests (50 KB) overflow any input buffer that holds one whole head.
    raw = (b"GET /bin.dat HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 450 + b"\r\n\r\n") * n
    k = socket.create_connection((s.host, s.port), timeout=5 * time_scale())
    got, pending = bytearray(), memoryview(raw)
    expected = n * len(body)
    closed = False
    try:
        k.setblocking(False)
        # First only send, until the server stops taking bytes for 0.3 s (its buffers are full).
        stalled = None
        while pending:
            try:
                pending = pending[k.send(pending[:65536]):]
                stalled = None
            except BlockingIOError:
                stalled = stalled or time.monotonic()
                if time.monotonic() - stalled > 0.3:
                    break
                time.sleep(0.005)
        # Then read everything, sending the rest as the server takes it.
        sel = selectors.DefaultSelector()
        sel.register(k, selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0))
        stop = time.monotonic() + timing.deadline(15.0)
        while time.monotonic() < stop and not closed:
            events = sel.select(0.2)
            if not events and len(got) >= expected and not pending:
                break  # the bodies are in (with their heads), and nothing more comes
            for _key, ev in events:
                if ev & selectors.EVENT_WRITE and pending:
                    try:
                        pending = pending[k.send(pending[:65536]):]
                    except BlockingIOError:
                        pass
                    if not pending:
                        sel.modify(k, selectors.EVENT_READ)
                if ev & selectors.EVENT_READ:
                    try:
                        d = k.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    except OSError:
                        d = b""
                    if not d:
                        closed = True
                        break
                    got += d
        sel.close()
    finally:
        k.close()
    problem = None
    try:
        rs, _ = parse_responses(bytes(got), [("GET", "1.1")] * n, eof=False)
    except ProtocolProblem as e:
        problem, rs = str(e), []
    whole = sum(1 for r in rs if r.status == 200 and r.body == body)
    if problem is not None or whole < n:
        fb.fail(f"{n} pipelined GET /bin.dat ({len(body)} bytes each), sent without reading until the server stopped "
                f"taking them, then read: {whole} whole responses came"
                + (f", then the response was not valid HTTP ({problem})" if problem else
                   f", then {'the server closed' if closed else 'nothing more'}")
                + f" ({len(raw) - len(pending)} of {len(raw)} request bytes were taken).",
                sent=raw[:120], details=[s.server.describe()], hint=hint)


def raise_own_nofile(want: int) -> None:
    """Let the test process itself hold `want` sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process pid so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.spec("R5.3-5")
@pytest.mark.points(2)
def test_idle_server_sleeps(http_server):
    """An idle server uses under 50 ms of CPU time in 1 s with no connection, and in 1.5 s with 3"""
    s = http_server("--idle-timeout", "20000")
    # No connection at all: no deadline, so poll() must wait without a timeout (-1).
    before, t0 = cpu_seconds(s.server.pid), time.monotonic()
    time.sleep(1.0)  # the measurement itself: nothing to synchronise with
    used, elapsed = cpu_seconds(s.server.pid) - before, time.monotonic() - t0
    fb.expect(used < 0.050, f"with no connection at all, http_server used {used * 1000:.0f} ms of CPU time in "
              f"{elapsed:.1f} s (from /proc/PID/stat); under 50 ms expected.", details=[s.server.describe()],
              hint="with no connection there is no deadline: poll()'s timeout is -1 (wait for ever), not 0 "
                   "(§5.3) [R5.3-5]")
    cs = [s.client() for _ in range(3)]
    for c in cs:
        s.request("/sub/note.txt", "a request before the quiet period", "§5.3", c=c)
    cs[0].send(b"GET /index.html HTTP/1.1\r\nHo")  # and one partial request
    before, t0 = cpu_seconds(s.server.pid), time.monotonic()
    time.sleep(1.5)  # the measurement itself: nothing to synchronise with
    used, elapsed = cpu_seconds(s.server.pid) - before, time.monotonic() - t0
    fb.expect(used < 0.050, f"with 3 idle connections, http_server used {used * 1000:.0f} ms of CPU time in "
              f"{elapsed:.1f} s (from /proc/PID/stat); under 50 ms expected.", details=[s.server.describe()],
              hint="poll()'s timeout is the time to the nearest deadline, never 0 while nothing is due; POLLOUT only "
                   "for connections with output (§5.3) [R5.3-5]")


@pytest.mark.spec("R5.1-2")
@pytest.mark.points(3)
def test_many_connections(http_server):
    """10,000 connections at once (far more than FD_SETSIZE), each answered"""
    raise_own_nofile(12000)
    n = 10000
    s = http_server("--max-clients", "11000", limits=Limits(nofile=12000))
    hint = "poll() takes any fd number: hold 10,000 connections at once, each with its own state (§5.1) [R5.1-2]"
    socks = []
    try:
        for i in range(n):
            try:
                socks.append(socket.create_connection((s.host, s.port), timeout=5 * time_scale()))
            except OSError as e:
                fb.fail(f"connection {i + 1} of {n} failed: {e}.", details=[s.server.describe()], hint=hint)
        req = b"GET /sub/note.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        for k in socks:
            k.sendall(req)
        want = len(s.root.files["/sub/note.txt"])
        # One selector over every connection, one deadline for all of them.
        bufs = [bytearray() for _ in socks]
        sel = selectors.DefaultSelector()
        for i, k in enumerate(socks):
            k.setblocking(False)
            sel.register(k, selectors.EVENT_READ, i)
        pending = len(socks)
        deadline = time.monotonic() + timing.upper(15.0, 5.0)
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
                try:
                    d = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                bufs[key.data].extend(d)
                _, sep, body = bytes(bufs[key.data]).partition(b"\r\n\r\n")
                if not d or (sep and len(body) >= want):
                    sel.unregister(key.fileobj)
                    pending -= 1
        sel.close()
        bad = [(i, bytes(b)) for i, b in enumerate(bufs) if not bytes(b).startswith(b"HTTP/1.1 200")]
        if bad:
            fb.fail(f"{len(bad)} of {n} connections did not get their 200 within the deadline (the first: connection "
                    f"{bad[0][0] + 1}, which received {fb.quote(bad[0][1])}).", details=[s.server.describe()], hint=hint)
    finally:
        for k in socks:
            k.close()


@pytest.mark.spec("R5.4-1")
@pytest.mark.points(2)
def test_max_clients(http_server):
    """--max-clients 3: a fourth client gets 503 and is closed; a freed slot is reused"""
    s = http_server("--max-clients", "3")
    hint = "beyond --max-clients connections, answer 503 and close the newcomer; the others are unaffected (§5.4) [R5.4-1]"
    cs = [s.client() for _ in range(3)]
    for c in cs:
        s.expect_status(s.request("/sub/note.txt", "one of 3 clients", hint, c=c), 200, "one of 3 clients", hint, c)
    got, how = blast(s.host, s.port, b"GET /sub/note.txt HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
    problem = None
    try:
        rs, _ = parse_responses(got, [("GET", "1.1")])
    except ProtocolProblem as e:
        problem = str(e)
    if problem is not None:  # failed outside the except block: no exception chain in the feedback
        fb.fail(f"the fourth client: not valid HTTP: {problem}.", received=got, details=[s.server.describe()], hint=hint)
    fb.expect(bool(rs) and rs[0].status == 503 and how in ("eof", "reset"),
              f"the fourth client got {rs[0].summary() if rs else fb.quote(got)} ({how}); expected 503 and close.",
              details=[s.server.describe()], hint=hint)
    cs[0].close()
    end = time.monotonic() + timing.upper(2.0, 1.0)
    while True:  # the server notices the close on its next pass
        got, how = blast(s.host, s.port, b"GET /sub/note.txt HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3,
                         until=lambda b: b.endswith(s.root.files["/sub/note.txt"]))
        if got.startswith(b"HTTP/1.1 200") or time.monotonic() > end:
            break
        time.sleep(0.05)
    fb.expect(got.startswith(b"HTTP/1.1 200"), f"after one of the 3 clients left, a newcomer got {fb.quote(got[:80])}.",
              details=[s.server.describe()], hint=hint)
    for c in cs[1:]:
        s.expect_status(s.request("/data.json", "a client that was there before", hint, c=c), 200,
                        "a client that was there before the 503", hint, c)


@pytest.mark.spec("R5.4-3")
@pytest.mark.points(2)
def test_out_of_fds(http_server):
    """RLIMIT_NOFILE 40 and 60 connections: EMFILE handled without a busy loop; served again after"""
    s = http_server(limits=Limits(nofile=40))
    hint = ("when accept() fails with EMFILE, close the spare fd, accept and close the newcomer, reopen the "
            "spare: the listener must not stay readable (a busy loop) (§5.4) [R5.4-3]")
    socks = []
    try:
        for _ in range(60):
            socks.append(s.client().sock)
        # Let the server take (or turn away) the whole backlog: its fd count stops changing.
        end, last, since = time.monotonic() + timing.upper(3.0, 2.0), -1, time.monotonic()
        while time.monotonic() < end and time.monotonic() - since < 0.3:
            now = open_fds(s.server.pid)
            if now != last:
                last, since = now, time.monotonic()
            time.sleep(0.02)
        before, t0 = cpu_seconds(s.server.pid), time.monotonic()
        time.sleep(1.0)  # the measurement itself: nothing to synchronise with
        used = cpu_seconds(s.server.pid) - before
        fb.expect(s.server.alive(), f"http_server died out of fds: {s.server.exit_text()}.",
                  details=[s.server.describe()], hint=hint)
        fb.expect(used < 0.2, f"out of fds with connections waiting, http_server used {used * 1000:.0f} ms of CPU in "
                  f"{time.monotonic() - t0:.1f} s: a busy loop.", details=[s.server.describe()], hint=hint)
    finally:
        for k in socks:
            k.close()
    end = time.monotonic() + timing.upper(3.0, 2.0)
    while True:  # the server notices the closes on its next passes
        got, how = blast(s.host, s.port, b"GET /sub/note.txt HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3,
                         until=lambda b: b.endswith(s.root.files["/sub/note.txt"]))
        if got.startswith(b"HTTP/1.1 200") or time.monotonic() > end:
            break
        time.sleep(0.05)
    fb.expect(got.startswith(b"HTTP/1.1 200"), f"after 60 connections closed, a newcomer got {fb.quote(got[:80])} ({how}).",
              details=[s.server.describe()], hint=hint)


@pytest.mark.spec("R5.4-2")
@pytest.mark.points(2)
def test_connections_come_and_go(http_server):
    """Clients leave in any order; the ones that stay are still served (poll array kept in step)"""
    s = http_server()
    hint = "when a connection closes, remove it from the pollfd array and its state together (§5.4) [R5.4-2]"
    cs = [s.client() for _ in range(8)]
    for i, c in enumerate(cs):
        s.expect_status(s.request("/sub/note.txt", f"client {i + 1}", hint, c=c), 200, f"client {i + 1}", hint, c)
    for round_, leave in enumerate(([0, 3, 7], [1], [6, 2])):
        for i in leave:
            cs[i].close()
        left = set(leave)
        # A new client each round, then every remaining one asks again.
        cs.append(s.client())
        for i, c in enumerate(cs):
            if c.sock.fileno() == -1:
                continue
            r = s.request("/data.json", f"round {round_ + 1}: client {i + 1} after clients {sorted(x + 1 for x in left)} left",
                          hint, c=c, )
            fb.expect(r.status == 200 and r.body == s.root.files["/data.json"],
                      f"round {round_ + 1}: client {i + 1}: {r.summary()}.", details=s.details(c), hint=hint)


@pytest.mark.spec("R5.2-3")
@pytest.mark.points(2)
def test_no_fd_leak(http_server):
    """200 requests of every kind (200, 304, 404, 403, HEAD, errors): no file descriptor left open"""
    s = http_server()
    hint = "close the file you opened on every path: 304, HEAD, errors after open() (§5.2) [R5.2-3]"
    c = s.client()
    s.request("/index.html", "warm-up", hint, c=c)
    base = open_fds(s.server.pid)
    mtime = s.root.mtime("/index.html")
    for i in range(25):
        s.request("/index.html", "GET", hint, c=c)
        s.request("/index.html", "GET If-Modified-Since", hint, headers=(("If-Modified-Since", imf(mtime + 10)),), c=c)
        s.request("/bin.dat", "HEAD", hint, method="HEAD", c=c)
        s.request("/empty.txt", "GET an empty file", hint, c=c)
        s.request("/nosuch", "404", hint, c=c)
        s.request("/link.txt", "403", hint, c=c)
        s.request("/fifo", "403", hint, c=c)
        s.request("/index.html", "POST", hint, method="POST", headers=(("Content-Length", "0"),), c=c)
    now = open_fds(s.server.pid)
    fb.expect(now <= base, f"http_server had {base} fds open before 200 requests on one connection and {now} after.",
              details=[s.server.describe()], hint=hint)


# ---- §2 output and conventions ---------------------------------------------------------------
@pytest.mark.spec("R2.2-1", "R2.2-2", "R2.2-3", "R2.2-4")
@pytest.mark.points(3)
def test_log_lines(http_server):
    """One Common Log Format line per response: host, time (UTC), request line, status, size"""
    # A time zone 5:45 east of UTC: a log written in local time shows up (POSIX TZ, no zoneinfo needed).
    s = http_server(env={"TZ": "NPT-5:45"})
    t0 = time.time()
    c = s.client()
    mtime = s.root.mtime("/index.html")
    sent = [("GET", "/index.html", (), 200, str(len(s.root.files["/index.html"]))),
            ("HEAD", "/bin.dat", (), 200, "-"),
            ("GET", "/nosuch", (), 404, None),
            ("GET", "/index.html", (("If-Modified-Since", imf(mtime)),), 304, "-"),
            ("GET", "/empty.txt", (), 200, "-"),
            ("GET", "/a%20b.txt?q=%22", (), 200, str(len(s.root.files["/a b.txt"])))]
    bodies = []
    for m, p, h, _, _ in sent:
        bodies.append(s.request(p, f"{m} {p}", "§2.2", method=m, headers=h, c=c).body)
    raw = b'GET /"quoted" HTTP/1.1\r\nHost: x\r\n\r\n'
    c.send(raw)
    s.fetch(c, "a request line with quotes", "§2.2")
    hint = ('each response adds one line to stdout: HOST - - [DD/Mon/YYYY:HH:MM:SS +0000] "REQUEST LINE" STATUS SIZE, '
            'SIZE the body bytes or "-" (§2.2)')
    want = len(sent) + 1
    s.server.wait_stdout_len(0, 0)
    end = time.monotonic() + timing.upper(2.0, 1.0)
    while len(s.log_lines()) < want and time.monotonic() < end:
        time.sleep(0.02)
    lines = s.log_lines()
    fb.expect(len(lines) == want, f"{want} requests, {len(lines)} log lines after 'listening on'.",
              details=["  stdout:\n" + "\n".join("    " + l for l in lines[:20]), s.server.describe()],
              hint=hint + " [R2.2-2]")
    for line, (m, p, _, status, size) in zip(lines, sent + [("GET", '/\\x22quoted\\x22', (), 404, None)]):
        mm = CLF.match(line)
        fb.expect(mm is not None, f"log line {line!r} is not in Common Log Format.", details=[s.server.describe()],
                  hint=hint + " [R2.2-2]")
        req = f"{m} {p} HTTP/1.1"
        fb.expect(mm["host"] == "127.0.0.1" and mm["req"] == req and int(mm["status"]) == status,
                  f"log line {line!r}: expected host 127.0.0.1, request \"{req}\", status {status}.",
                  details=[s.server.describe()], hint=hint + ' (a \'"\' in the request line is written \\x22) [R2.2-2] [R2.2-4]')
        if size is None:
            size = str(len(bodies[sent.index(next(x for x in sent if x[1] == p))])) if p == "/nosuch" else None
        if size is None:
            size_ok = mm["size"] != "-" and int(mm["size"]) > 0
        else:
            size_ok = mm["size"] == size
        fb.expect(size_ok, f"log line {line!r}: the size should be {size or 'the error body length'}.",
                  details=[s.server.describe()], hint=hint + " [R2.2-3]")
        fb.expect(t0 - 2 <= clf_time(mm) <= time.time() + 2, f"log line {line!r}: the time is not now (UTC).",
                  details=[s.server.describe()], hint=hint + " [R2.2-2]")


@pytest.mark.spec("R3.5-1", "R3.5-2")
@pytest.mark.points(1)
def test_curl(http_server):
    """curl fetches three files over one connection, and a HEAD"""
    curl = tools.require("curl", "an everyday HTTP client")
    s = http_server()
    base = f"http://{s.host}:{s.port}"
    hint = "curl must get each file whole and reuse the connection (§3.5) [R3.5-1]"
    try:
        p = subprocess.run([curl, "-sS", "--http1.1", "-v", "--max-time", str(10 * time_scale()),
                            f"{base}/index.html", f"{base}/bin.dat", f"{base}/sub/note.txt"],
                           capture_output=True, timeout=15 * time_scale())
    except subprocess.TimeoutExpired:
        fb.fail("curl did not finish within 15 s.", details=[s.server.describe()], hint=hint)
    want = s.root.files["/index.html"] + s.root.files["/bin.dat"] + s.root.files["/sub/note.txt"]
    fb.expect(p.returncode == 0 and p.stdout == want,
              f"curl exited {p.returncode} with {len(p.stdout)} bytes (expected {len(want)}): "
              f"{p.stderr.decode('utf-8', 'replace')[-600:]}", details=[s.server.describe()], hint=hint)
    fb.expect(b"Connected to" in p.stderr and p.stderr.count(b"Connected to") + p.stderr.count(b"Trying") <= 3,
              "curl opened more than one connection for three files.",
              details=[p.stderr.decode("utf-8", "replace")[-1500:]], hint=hint)


BROWSER_WANT = "loaded poll fetched over keep-alive img=2 css=rgb(1, 2, 3)"


@pytest.mark.spec("R3.5-7")
@pytest.mark.points(4)
def test_browser(http_server):
    """Headless Chromium renders the page: CSS, an image, and a script that fetches two more files"""
    chromium = tools.require("chromium", "a real browser loads a page from your server")
    s = http_server()
    hint = ("a browser sends several requests per connection and several connections at once; each file "
            "must come back whole with its Content-Type (§3.5) [R3.5-7]")
    with _tmp_profile() as prof:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-proxy-server",
               "--disable-dev-shm-usage", "--disable-extensions", "--disable-background-networking",
               f"--user-data-dir={prof}", "--virtual-time-budget=5000", "--run-all-compositor-stages-before-draw",
               "--dump-dom", f"http://{s.host}:{s.port}/"]
        try:
            # A TMPDIR of its own with a short path: Chromium makes its singleton's socket there
            # (a socket path has at most 107 bytes), and the grader's /tmp may be read-only.
            with _short_tmp() as tmp:
                p = subprocess.run(cmd, capture_output=True, timeout=40 * time_scale(), start_new_session=True,
                                   env={**os.environ, "TMPDIR": tmp, "HOME": prof})
        except subprocess.TimeoutExpired:
            fb.fail("Chromium did not finish loading the page within 40 s.", details=[s.server.describe()], hint=hint)
    dom = p.stdout.decode("utf-8", "replace")
    wrote = _between(dom, '<p id="out">', "</p>")
    fb.expect(BROWSER_WANT in dom,
              f"the page did not render complete in Chromium: the script wrote {wrote!r}, expected {BROWSER_WANT!r}.",
              details=["  Chromium's DOM (head):\n" + dom[:800], "  log:\n" + "\n".join(s.log_lines()[-12:]),
                       s.server.describe(),
                       "  Chromium's stderr (tail):\n" + "\n".join(p.stderr.decode("utf-8", "replace").splitlines()[-8:])],
              hint=hint)


def _between(text: str, a: str, b: str) -> str:
    i = text.find(a)
    if i < 0:
        return "(no <p id=out> element: the page itself did not load)"
    j = text.find(b, i)
    return text[i + len(a): j if j >= 0 else i + 200]


class _short_tmp:
    """A throw-away folder with a short path, in the first writable of /dev/shm, /var/tmp, /tmp."""

    def __enter__(self):
        import tempfile
        for base in ("/dev/shm", "/var/tmp", "/tmp", None):
            try:
                self.d = tempfile.TemporaryDirectory(prefix="cr", dir=base)
                return self.d.name
            except OSError:
                continue
        raise OSError("no writable folder for Chromium's TMPDIR")

    def __exit__(self, *exc):
        self.d.cleanup()


class _tmp_profile:
    """A throw-away Chromium profile folder."""

    def __enter__(self):
        import tempfile
        self.d = tempfile.TemporaryDirectory(prefix="lab05-chromium-")
        return self.d.name

    def __exit__(self, *exc):
        self.d.cleanup()


@pytest.mark.spec("R2.3-3")
@pytest.mark.points(1)
def test_ipv6(http_server):
    """-6 -b ::1: served over IPv6, logged with the IPv6 address"""
    s = http_server("-6", host="::1")
    r = s.request("/index.html", "GET over IPv6", "getaddrinfo gives IPv6 addresses too (§2.1) [R2.3-3]")
    s.expect_status(r, 200, "GET /index.html over IPv6", "§2.1 [R2.3-3]")
    end = time.monotonic() + timing.upper(1.0, 1.0)
    while not s.log_lines() and time.monotonic() < end:
        time.sleep(0.02)
    m = CLF.match(s.log_lines()[0]) if s.log_lines() else None
    fb.expect(m is not None and m["host"] == "::1", f"the log line for an IPv6 client is {s.log_lines()[:1]!r}; "
              "expected host '::1'.", details=[s.server.describe()], hint="the host field is the address alone (§2.2) [R2.3-3]")


@pytest.mark.spec("R2.1-1", "R2.1-2", "R2.1-3", "R2.1-4", "R2.1-5", "R2.1-6")
@pytest.mark.points(2)
def test_arguments(spawn, http_server, http_docroot):
    """Options accepted; bad arguments: usage and exit 2; missing DOCROOT or a taken port: exit 1"""
    root = str(http_docroot.path)
    s = http_server("-4", "--max-clients", "5", "--idle-timeout", "5000")
    r = s.request("/index.html", "GET with -4 --max-clients 5 --idle-timeout 5000", "§2.1 [R2.1-2]")
    s.expect_status(r, 200, "GET with -4 --max-clients 5 --idle-timeout 5000", "every option of §2.1 is accepted [R2.1-3] [R2.1-4]")
    cases = [
        ([], 2, "usage", "R2.1-1"),
        (["-p", "0"], 2, "usage", "R2.1-1"),
        (["-r", root], 2, "usage", "R2.1-1"),
        (["-p", "http", "-r", root], 2, "usage", "R2.1-1"),
        (["-p", "70000", "-r", root], 2, "usage", "R2.1-1"),
        (["-p", "0", "-r", root, "extra"], 2, "usage", "R2.1-1"),
        (["-p", "0", "-r", root, "-x"], 2, "usage", "R2.1-2"),
        (["-p", "0", "-r", root, "--max-clients", "0"], 2, "usage", "R2.1-3"),
        (["-p", "0", "-r", root, "--max-clients", "many"], 2, "usage", "R2.1-3"),
        (["-p", "0", "-r", root, "--idle-timeout", "0"], 2, "usage", "R2.1-4"),
        (["-p", "0", "-r", root, "--idle-timeout", "-5"], 2, "usage", "R2.1-4"),
        (["-p", "0", "-r", root + "/nosuch"], 1, "http_server: ", "R2.1-5"),
        (["-p", "0", "-r", root + "/index.html"], 1, "http_server: ", "R2.1-5"),
    ]
    for args, code, text, label in cases:
        p = spawn("http_server", *args)
        rc = p.wait(5)
        err = p.stderr.decode("utf-8", "replace")
        fb.expect(rc == code and text in err,
                  f"http_server {' '.join(args)}: exit {rc}, stderr {err.strip()[:200]!r}; expected exit {code} and "
                  f"{text!r} on stderr.", details=[p.describe()],
                  hint=f"bad arguments: a usage line and exit 2; a DOCROOT that is not a folder: "
                       f"'http_server: call PATH: reason' and exit 1 (§2.1) [{label}]")
    # A port that is taken: bind fails, exit 1.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    p = spawn("http_server", "-b", "127.0.0.1", "-p", str(port), "-r", root)
    rc = p.wait(5)
    err = p.stderr.decode("utf-8", "replace")
    taken.close()
    fb.expect(rc == 1 and f"http_server: bind 127.0.0.1:{port}: " in err,
              f"http_server on a taken port: exit {rc}, stderr {err.strip()[:200]!r}.", details=[p.describe()],
              hint=f"expected 'http_server: bind 127.0.0.1:{port}: Address already in use' and exit 1 (§2.1) [R2.1-6]")


@pytest.mark.spec("R2.3-1")
@pytest.mark.points(2)
def test_sigterm(http_server):
    """SIGTERM and SIGINT with clients connected: exit 0 at once"""
    hint = "SIGINT and SIGTERM end the loop: close everything and exit 0 (§2.3) [R2.3-1]"
    for sig in (signal.SIGTERM, signal.SIGINT):
        s = http_server()
        c = s.client()
        s.request("/index.html", "GET", hint, c=c)
        partial = s.client()
        partial.send(b"GET /index")
        s.server.send_signal(sig)
        rc = s.server.wait(timing.upper(2.0, 1.0))
        fb.expect(rc == 0, f"after {sig.name}: {s.server.exit_text()}.", details=[s.server.describe()], hint=hint)


@pytest.mark.spec("R2.3-2")
@pytest.mark.points(2)
def test_frees_everything_at_exit(http_server):
    """http_server frees everything at exit (SIGTERM after a session with open connections)"""
    s = http_server()
    hint = "free every connection's buffers and close every fd before exiting (§2.3) [R2.3-2]"
    c = s.client()
    for p in ("/index.html", "/bin.dat", "/nosuch", "/../x"):
        s.request(p, f"GET {p}", hint, c=c)
    a = s.client()
    a.get("/big.bin")  # a file still being sent at exit
    b = s.client()
    b.send(b"GET /index.html HTTP/1.1\r\nHo")  # a partial request at exit
    end = time.monotonic() + timing.upper(1.0, 1.0)
    while len(s.log_lines()) < 5 and time.monotonic() < end:
        time.sleep(0.02)
    s.server.send_signal(signal.SIGTERM)
    rc = s.server.wait(timing.upper(3.0, 2.0))
    fb.expect(rc == 0, f"after SIGTERM: {s.server.exit_text()}.", details=[s.server.describe()], hint=hint)
    leak = s.server.leak_report()
    fb.expect(leak is None, "http_server did not free everything at exit:\n" + (leak or ""),
              details=[s.server.describe()], hint=hint)
