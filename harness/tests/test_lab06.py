"""Lab 06: TLS with OpenSSL. Tests for tls_client and tls_echo_server, with points.

The client is run against real TLS servers (Python's ssl module, `openssl s_server`,
gnutls-serv) presenting certificates made for this run (harness.labs.lab06.make_certs), through
a proxy that intercepts or truncates; the server is driven by Python's ssl module with exact
control (records in one segment, a handshake cut short, TLS 1.0 only), `openssl s_client`,
gnutls-cli and the fragmenting proxy. Section numbers (§) and labels [R..] refer to
labs/06-tls/README.md.
"""
from __future__ import annotations

import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

from harness import feedback as fb
from harness import timing, tools
from harness.labs.lab06 import (CA_CN, REFUSALS, read_plain, records_of, session_lines,
                                tls_client_ctx)
from harness.peers import loopback

LAB = "06"
#: The tests fit to run under valgrind memcheck (grade --valgrind): functional, not timing.
VALGRIND_SELECT = ("client_echo or client_refuses or client_close_notify or client_truncation or "
                   "server_echo or server_close_notify or server_survives or frees_everything")

CLIENT = "tls_client"
SERVER = "tls_echo_server"


def listening_port(pid: int, timeout: float):
    """The IPv4 port a process listens on (gnutls-serv -p 0 does not say which), or None."""
    import psutil
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            for c in psutil.Process(pid).connections("tcp4"):
                if c.status == psutil.CONN_LISTEN:
                    return c.laddr[1]
        except psutil.Error:
            return None
        time.sleep(0.02)
    return None


def run_client(spawn, *args, stdin: bytes = b"hello tls\n", timeout: float = 10.0, env=None):
    """Run tls_client to its end; returns (program, exit code or None)."""
    kw = {"env": env} if env else {}
    p = spawn(CLIENT, *[str(a) for a in args], stdin=stdin, **kw)
    return p, p.wait(timeout)


def expect_exit(p, rc, want: int, what: str, hint: str) -> None:
    fb.expect(rc == want, f"{what}: tls_client ended with {p.exit_text() if rc is not None else 'nothing: it was still running'}; "
              f"expected exit status {want}.", details=[p.describe()], hint=hint)


# ================================ tls_client ==================================================
# ---- §3.1 arguments and connecting -----------------------------------------------------------
@pytest.mark.spec("R3.1-1")
@pytest.mark.points(2)
def test_client_usage(spawn, tls_peer, tls_files):
    """tls_client: a usage line and exit status 2 for bad arguments, options accepted"""
    peer = tls_peer("good")
    p, rc = run_client(spawn, "-4", "--servername", "localhost", "--ca", tls_files.ca, "127.0.0.1", peer.port)
    expect_exit(p, rc, 0, "every option given, a valid server", "§3.1 [R3.1-1]")
    for args in ([], ["localhost"], ["localhost", "notaport"], ["--bogus", "localhost", "443"],
                 ["localhost", "443", "extra"]):
        p, rc = run_client(spawn, *args, stdin=b"", timeout=5)
        fb.expect(rc == 2 and b"usage:" in p.stderr,
                  f"tls_client {' '.join(args)}: {p.exit_text()}; expected 'usage: ...' on stderr and exit status 2.",
                  details=[p.describe()], hint="§3.1 [R3.1-1]")


@pytest.mark.spec("R3.1-2")
@pytest.mark.points(2)
def test_client_connect_error(spawn):
    """tls_client: a refused connection gives 'tls_client: connect ADDR:PORT: reason', exit 1"""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]  # bound, never listening: connect() is refused
    try:
        p, rc = run_client(spawn, "-4", "127.0.0.1", port, stdin=b"", timeout=5)
    finally:
        s.close()
    hint = "report the failing call with its address and strerror(errno), exit 1 (§3.1) [R3.1-2]"
    expect_exit(p, rc, 1, "connection refused", hint)
    fb.expect(re.search(rf"tls_client: connect 127\.0\.0\.1:{port}: .*refused".encode(), p.stderr, re.I) is not None,
              "expected 'tls_client: connect 127.0.0.1:PORT: Connection refused' on stderr.", details=[p.describe()], hint=hint)
    p, rc = run_client(spawn, "--ca", "/nonexistent/ca.pem", "localhost", port, stdin=b"", timeout=5)
    expect_exit(p, rc, 1, "--ca names a file that does not exist", hint)
    fb.expect(b"ca.pem" in p.stderr, "expected a 'tls_client: ...' line naming the --ca file.", details=[p.describe()], hint=hint)


# ---- §3.2 verification, echo ----------------------------------------------------------------
@pytest.mark.spec("R3.2-1", "R3.5-1")
@pytest.mark.points(4)
def test_client_echo(spawn, tls_peer, tls_files):
    """tls_client verifies a valid server with --ca and echoes stdin to stdout"""
    peer = tls_peer("good")
    data = b"hello tls\nsecond line\n" + bytes(range(256)) * 8
    p, rc = run_client(spawn, "--ca", tls_files.ca, "localhost", peer.port, stdin=data)
    hint = "verify against --ca, then send stdin and print what comes back (§3.2, §3.5) [R3.2-1] [R3.5-1]"
    expect_exit(p, rc, 0, "a valid server", hint)
    fb.expect_bytes(p.stdout, data, what="tls_client's stdout", sent=data, details=[p.describe()], hint=hint)


@pytest.mark.spec("R3.5-1")
@pytest.mark.points(2)
def test_client_echo_big(spawn, tls_peer, tls_files):
    """tls_client: 2 MiB of input come back whole (stdin and the socket in one loop)"""
    peer = tls_peer("good")
    data = bytes((i * 7 + i // 251) & 0xFF for i in range(2 << 20))
    p, rc = run_client(spawn, "--ca", tls_files.ca, "localhost", peer.port, stdin=data, timeout=30)
    hint = "read the echo while still sending: records come back while stdin is not yet done (§3.5) [R3.5-1]"
    expect_exit(p, rc, 0, "2 MiB through an echo server", hint)
    fb.expect(p.stdout == data, f"tls_client printed {len(p.stdout)} bytes, expected the {len(data)} sent "
              f"({'same' if data.startswith(p.stdout) else 'different'} bytes).", details=[p.describe()], hint=hint)


@pytest.mark.spec("R3.2-1", "R3.5-1")
@pytest.mark.points(2)
def test_client_echo_real_servers(spawn, openssl_server, tls_files):
    """tls_client talks to openssl s_server and to gnutls-serv (two other TLS stacks)"""
    s = openssl_server("good")
    p, rc = run_client(spawn, "--ca", tls_files.ca, "localhost", s.port, stdin=b"stressed\n")
    hint = "a real TLS server: verify, send, read (§3.2, §3.5) [R3.2-1]"
    expect_exit(p, rc, 0, "openssl s_server -rev", hint)
    fb.expect(b"desserts" in p.stdout, "openssl s_server -rev sends each line back reversed: expected "
              "'desserts' on stdout.", details=[p.describe()], hint=hint)
    gnutls = tools.require("gnutls-serv", "as a second TLS implementation")
    srv = subprocess.Popen([gnutls, "--echo", "-a", "--x509certfile", str(tls_files.good),
                            "--x509keyfile", str(tls_files.key("good")), "-p", "0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port = listening_port(srv.pid, timing.deadline(5))
        if port is None:
            pytest.skip("gnutls-serv did not start listening here")
        p, rc = run_client(spawn, "-4", "--ca", tls_files.ca, "--servername", "localhost", "127.0.0.1", port,
                           stdin=b"gnutls\n")
        fb.expect(b"gnutls\n" in p.stdout, "gnutls-serv --echo: expected 'gnutls' back on stdout.",
                  details=[p.describe()], hint=hint)
    finally:
        from harness import procs
        procs.kill_group(srv, grace=0.5)


@pytest.mark.spec("R3.2-2")
@pytest.mark.points(3)
def test_client_default_store(spawn, tls_peer, tls_files):
    """tls_client without --ca trusts the system's store (here moved by SSL_CERT_FILE), and only it"""
    peer = tls_peer("good")
    hint = "without --ca, load the default verify paths: SSL_CTX_set_default_verify_paths() (§3.2) [R3.2-2]"
    p, rc = run_client(spawn, "localhost", peer.port, env={"SSL_CERT_FILE": str(tls_files.ca),
                                                             "SSL_CERT_DIR": str(tls_files.dir)})
    expect_exit(p, rc, 0, "no --ca, SSL_CERT_FILE naming the run's CA", hint)
    other = tls_files.dir / "mitm.pem"
    p, rc = run_client(spawn, "localhost", peer.port, env={"SSL_CERT_FILE": str(other), "SSL_CERT_DIR": str(tls_files.dir)})
    expect_exit(p, rc, 3, "no --ca, a default store that does not hold the server's CA", hint)


@pytest.mark.spec("R3.2-4")
@pytest.mark.points(3)
def test_client_sni(spawn, tls_peer, tls_files):
    """tls_client sends SNI: HOST by default, NAME with --servername (also the name checked)"""
    peer = tls_peer("good")
    hint = "SSL_set_tlsext_host_name() with the name you verify, before SSL_connect() (§3.2) [R3.2-4]"
    p, rc = run_client(spawn, "--ca", tls_files.ca, "localhost", peer.port)
    expect_exit(p, rc, 0, "tls_client localhost", hint)
    c = peer.wait_conn()
    fb.expect(c is not None and c.sni == "localhost", f"the server received SNI {c.sni if c else None!r}; "
              "expected 'localhost'.", details=[p.describe()], hint=hint)
    p, rc = run_client(spawn, "-4", "--ca", tls_files.ca, "--servername", "echo.socklab.test", "127.0.0.1", peer.port)
    expect_exit(p, rc, 0, "tls_client --servername echo.socklab.test 127.0.0.1", hint)
    c = peer.wait_conn()
    fb.expect(c is not None and c.sni == "echo.socklab.test", f"the server received SNI {c.sni if c else None!r}; "
              "expected 'echo.socklab.test'.", details=[p.describe()], hint=hint)
    p, rc = run_client(spawn, "-4", "--ca", tls_files.ca, "--servername", "wrong.example", "127.0.0.1", peer.port)
    expect_exit(p, rc, 3, "--servername wrong.example: the certificate does not name it", hint)


@pytest.mark.spec("R3.2-5")
@pytest.mark.points(3)
def test_client_requires_tls12(spawn, tls_peer, tls_files):
    """tls_client refuses a server that speaks TLS 1.1 at most (exit 4, a reason)"""
    peer = tls_peer("good", max_version=ssl.TLSVersion.TLSv1_1, low_security=True)
    p, rc = run_client(spawn, "--ca", tls_files.ca, "localhost", peer.port)
    hint = "SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) (§3.2) [R3.2-5]"
    expect_exit(p, rc, 4, "a server that offers TLS 1.1 at most", hint)
    fb.expect(re.search(rb"tls_client: handshake .*(version|protocol)", p.stderr, re.I) is not None,
              "expected 'tls_client: handshake ADDR:PORT: REASON' naming the protocol version on stderr.",
              details=[p.describe()], hint=hint)
    fb.expect(b"" == p.stdout, "nothing may be printed on stdout.", details=[p.describe()], hint=hint)


# ---- §3.3 refusals ---------------------------------------------------------------------------
@pytest.mark.spec("R3.3-1", "R3.2-3")
@pytest.mark.points(2)
@pytest.mark.parametrize("stem", list(REFUSALS))
def test_client_refuses(spawn, openssl_server, tls_files, stem):
    """tls_client refuses a bad certificate from openssl s_server, with its specific reason"""
    what, reason = REFUSALS[stem]
    s = openssl_server(stem)
    p, rc = run_client(spawn, "--ca", tls_files.ca, "localhost", s.port, stdin=b"secret\n")
    hint = (f"{what}: the handshake must fail; print X509_verify_cert_error_string(SSL_get_verify_result()) "
            f"and exit 3 (§3.3) [R3.3-1]" + (" and check the host name: SSL_set1_host() (§3.2) [R3.2-3]"
                                              if stem == "wronghost" else ""))
    expect_exit(p, rc, 3, what, hint)
    fb.expect(p.stdout == b"", f"{what}: tls_client printed {p.stdout[:60]!r} on stdout; a refused server gets nothing "
              "and sends nothing.", details=[p.describe()], hint=hint)
    m = re.search(rb"^tls_client: .*$", p.stderr, re.M)
    fb.expect(re.search(reason.encode(), p.stderr, re.I) is not None and m is not None,
              f"{what}: expected a line 'tls_client: certificate ADDR:PORT: REASON' whose reason says why "
              f"(OpenSSL's words match /{reason}/).", details=[p.describe()], hint=hint)
    for other, (_, r) in REFUSALS.items():
        if other != stem and not re.search(r, reason) and re.search(r.encode(), p.stderr, re.I):
            fb.fail(f"{what}: the message names another reason (/{r}/).", details=[p.describe()], hint=hint)


@pytest.mark.spec("R3.3-2")
@pytest.mark.points(3)
def test_client_refuses_interceptor(spawn, tls_peer, tls_proxy, tls_files):
    """tls_client refuses a man in the middle that presents its own certificate for the right name"""
    from harness.labs.lab06 import server_ctx
    peer = tls_peer("good")
    proxy = tls_proxy(("127.0.0.1", peer.port), mode="mitm", ctx=server_ctx(tls_files, "mitm"))
    p, rc = run_client(spawn, "--ca", tls_files.ca, "localhost", proxy.port, stdin=b"my password\n")
    hint = "verify the chain (SSL_VERIFY_PEER and the CA of --ca): a name alone proves nothing (§3.3) [R3.3-2]"
    expect_exit(p, rc, 3, "an interceptor with its own CA", hint)
    c = peer.wait_conn(0.5)
    fb.expect(c is None or b"password" not in c.received, "the real server received 'my password' through the "
              "interceptor.", details=[p.describe()], hint=hint)


@pytest.mark.spec("R3.3-3")
@pytest.mark.points(2)
def test_client_insecure(spawn, tls_peer, tls_files):
    """tls_client --insecure talks to a self-signed server (what the option lets through)"""
    peer = tls_peer("selfsigned")
    p, rc = run_client(spawn, "--insecure", "--ca", tls_files.ca, "localhost", peer.port, stdin=b"anyone\n")
    hint = "--insecure: SSL_VERIFY_NONE and no host name check (§3.3) [R3.3-3]"
    expect_exit(p, rc, 0, "--insecure against a self-signed certificate", hint)
    fb.expect_bytes(p.stdout, b"anyone\n", what="stdout", details=[p.describe()], hint=hint)


# ---- §3.4 what the client prints ----------------------------------------------------------
@pytest.mark.spec("R3.4-1")
@pytest.mark.points(3)
def test_client_prints_session(spawn, tls_peer, tls_files):
    """tls_client prints version, cipher, subject, issuer and expiry on stderr"""
    peer = tls_peer("good")
    p, rc = run_client(spawn, "--ca", tls_files.ca, "localhost", peer.port)
    hint = "after the handshake: SSL_get_version, SSL_get_cipher_name, the peer certificate's fields (§3.4) [R3.4-1]"
    expect_exit(p, rc, 0, "a valid server", hint)
    info = session_lines(p.stderr)
    c = peer.wait_conn()
    problems = []
    if not re.search(r"TLS\s*v?1\.[23]", info.get("version", "")):
        problems.append(f"version: {info.get('version')!r}, expected TLSv1.2 or TLSv1.3")
    elif c is not None and c.version and c.version.replace(" ", "") not in info["version"].replace(" ", ""):
        problems.append(f"version: {info['version']!r}, the server says {c.version}")
    if not re.search(r"[A-Z0-9]+[-_][A-Z0-9_-]+", info.get("cipher", "")):
        problems.append(f"cipher: {info.get('cipher')!r}, expected a cipher suite name")
    if "localhost" not in info.get("subject", ""):
        problems.append(f"subject: {info.get('subject')!r}, expected it to contain CN=localhost")
    if CA_CN not in info.get("issuer", ""):
        problems.append(f"issuer: {info.get('issuer')!r}, expected it to contain CN={CA_CN}")
    year = time.gmtime(time.time() + 365 * 86400 - 86400).tm_year
    if not re.search(rf"\b({year}|{year + 1})\b", info.get("expires", "")):
        problems.append(f"expires: {info.get('expires')!r}, expected the notAfter date (in {year} or {year + 1})")
    fb.expect(not problems, "the session lines on stderr are not as §3.4 says:\n  " + "\n  ".join(problems),
              details=[p.describe()], hint=hint)


# ---- §3.5 close_notify and truncation -------------------------------------------------------
@pytest.mark.spec("R3.5-2")
@pytest.mark.points(3)
def test_client_close_notify(spawn, tls_peer, tls_files):
    """tls_client sends close_notify at the end of stdin and exits 0 after the server's"""
    peer = tls_peer("good")
    p, rc = run_client(spawn, "--ca", tls_files.ca, "localhost", peer.port, stdin=b"bye\n", timeout=timing.deadline(3))
    hint = "at EOF on stdin: SSL_shutdown(), then read until SSL_ERROR_ZERO_RETURN (§3.5) [R3.5-2]"
    expect_exit(p, rc, 0, "a server that answers close_notify", hint)
    c = peer.wait_conn()
    fb.expect(c is not None and c.end == "close_notify", f"the server saw the connection end with "
              f"{c.end if c else 'nothing'!r}; expected a close_notify alert.", details=[p.describe()], hint=hint)


@pytest.mark.spec("R3.5-3")
@pytest.mark.points(3)
def test_client_truncation(spawn, tls_peer, tls_proxy, tls_files):
    """tls_client reports a connection cut without close_notify (exit 5), even after good data"""
    peer = tls_peer("good")
    proxy = tls_proxy(("127.0.0.1", peer.port), mode="cut")
    p = spawn(CLIENT, "--ca", str(tls_files.ca), "localhost", str(proxy.port), stdin=None)
    hint = ("SSL_read() <= 0 is an end only with SSL_ERROR_ZERO_RETURN; an EOF without close_notify "
            "is a truncation: exit 5 (§3.5) [R3.5-3]")
    p.write_stdin(b"part one\n")
    got = p.wait_stdout(b"part one\n", timing.deadline(5))
    fb.expect(got is not None, "tls_client never printed the echo 'part one'.", details=[p.describe()], hint=hint)
    proxy.cut()
    rc = p.wait(timing.deadline(5))
    expect_exit(p, rc, 5, "the connection was cut (TCP FIN, no close_notify) while stdin was still open", hint)
    fb.expect(re.search(rb"tls_client: .*(truncat|close_notify|unexpected eof)", p.stderr, re.I) is not None,
              "expected a 'tls_client: ...' line on stderr saying that the connection was truncated.",
              details=[p.describe()], hint=hint)
    # The same from the server itself: it closes without close_notify after the echo.
    peer2 = tls_peer("good", mode="truncate")
    p2 = spawn(CLIENT, "--ca", str(tls_files.ca), "localhost", str(peer2.port), stdin=None)
    p2.write_stdin(b"x\n")
    rc = p2.wait(timing.deadline(5))
    expect_exit(p2, rc, 5, "a server that closed without close_notify", hint)


@pytest.mark.spec("R3.1-3")
@pytest.mark.points(2)
def test_client_ipv6(spawn, tls_peer, tls_files):
    """tls_client -6 ::1 (IPv6), the certificate's IP address name checked"""
    peer = tls_peer("good", family=socket.AF_INET6)
    p, rc = run_client(spawn, "-6", "--ca", tls_files.ca, "::1", peer.port, stdin=b"six\n")
    hint = "getaddrinfo with the family of -4/-6; an IP literal is checked against the IP names (§3.1) [R3.1-3]"
    expect_exit(p, rc, 0, "tls_client -6 ::1", hint)
    fb.expect_bytes(p.stdout, b"six\n", what="stdout", details=[p.describe()], hint=hint)


@pytest.mark.spec("R3.6-1")
@pytest.mark.points(2)
def test_client_frees_everything(spawn, tls_peer, tls_files):
    """tls_client frees everything at exit (a session, and a refused certificate)"""
    hint = "SSL_free, SSL_CTX_free, close and freeaddrinfo on every path (§3.6) [R3.6-1]"
    for stem, want in (("good", 0), ("expired", 3)):
        peer = tls_peer(stem)
        p, rc = run_client(spawn, "--ca", tls_files.ca, "localhost", peer.port)
        expect_exit(p, rc, want, f"a session with the {stem} certificate", hint)
        leak = p.leak_report()
        fb.expect(leak is None, "tls_client did not free everything at exit:\n" + (leak or ""),
                  details=[p.describe()], hint=hint)


# ================================ tls_echo_server =============================================
# ---- §4.1 arguments, listening --------------------------------------------------------------
@pytest.mark.spec("R4.1-1")
@pytest.mark.points(2)
def test_server_usage(spawn, tls_files):
    """tls_echo_server: usage and exit 2 for bad arguments; exit 1 naming a bad key file"""
    spawn.server(SERVER, "-4", "-b", "127.0.0.1", "-p", "0", "--cert", str(tls_files.good), "--key",
                 str(tls_files.key("good")), "--max-clients", "5", "--handshake-timeout", "2000",
                 hint="every option given: the server must start (§4.1) [R4.1-1]")
    cert, key = str(tls_files.good), str(tls_files.key("good"))
    for args in ([], ["-p", "0"], ["-p", "0", "--cert", cert], ["-p", "x", "--cert", cert, "--key", key],
                 ["-p", "0", "--cert", cert, "--key", key, "--handshake-timeout", "0"],
                 ["-p", "0", "--cert", cert, "--key", key, "--max-clients", "abc"]):
        p = spawn(SERVER, *args)
        rc = p.wait(5)
        fb.expect(rc == 2 and b"usage:" in p.stderr, f"tls_echo_server {' '.join(args)}: {p.exit_text()}; "
                  "expected 'usage: ...' on stderr and exit status 2.", details=[p.describe()], hint="§4.1 [R4.1-1]")
    for bad in (str(tls_files.dir / "missing.pem"), key):
        p = spawn(SERVER, "-p", "0", "--cert", bad, "--key", key)
        rc = p.wait(5)
        fb.expect(rc == 1 and re.search(rb"tls_echo_server: .*" + re.escape(Path(bad).name.encode()), p.stderr) is not None
                  and b"listening" not in p.stdout,
                  f"--cert {Path(bad).name} (not a certificate): {p.exit_text()}; expected 'tls_echo_server: "
                  "certificate FILE: REASON' and exit status 1 before listening.", details=[p.describe()],
                  hint="check what SSL_CTX_use_certificate_chain_file() returns: §4.1 [R4.1-1]")
    p = spawn(SERVER, "-p", "0", "--cert", cert, "--key", str(tls_files.key("weak")))
    rc = p.wait(5)
    fb.expect(rc == 1 and b"tls_echo_server:" in p.stderr and b"listening" not in p.stdout,
              f"a key that does not match the certificate: {p.exit_text()}; expected a 'tls_echo_server: ...' "
              "line and exit status 1 before listening.", details=[p.describe()], hint="check the key: §4.1 [R4.1-1]")


@pytest.mark.spec("R4.1-2", "R4.2-1")
@pytest.mark.points(2)
def test_server_echo(tls_server):
    """tls_echo_server: 'listening on', then echoes over TLS 1.2 and TLS 1.3"""
    s = tls_server()
    hint = "SSL_accept, then SSL_read and SSL_write back (§4.2) [R4.2-1]"
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = tls_client_ctx(s.files)
        ctx.maximum_version = version
        c = s.connect(ctx)
        for one in (b"a", b"b"):  # one-byte records, each echoed before the next is sent
            got = s.echo(c, one)
            fb.expect_bytes(got, one, what=f"the echo of a one-byte record over {version.name}", sent=one,
                            details=[s.prog.describe()], hint=hint)
        data = b"over " + version.name.encode() + b"\n" + bytes(range(256)) * 100
        got = s.echo(c, data)
        c.close()
        fb.expect_bytes(got, data, what=f"the echo over {version.name}", sent=data[:60],
                        details=[s.prog.describe()], hint=hint)


@pytest.mark.spec("R4.1-2")
@pytest.mark.points(2)
def test_server_ipv6(tls_server):
    """tls_echo_server -6 -b ::1: listening on [::1]:PORT, echoes"""
    s = tls_server(family=socket.AF_INET6)
    c = s.connect()
    got = s.echo(c, b"six\n")
    fb.expect_bytes(got, b"six\n", what="the echo over IPv6", details=[s.prog.describe()], hint="§4.1 [R4.1-2]")


@pytest.mark.spec("R4.2-1")
@pytest.mark.points(3)
def test_server_real_clients(tls_server):
    """tls_echo_server serves openssl s_client and gnutls-cli"""
    s = tls_server()
    hint = "any TLS 1.2+ client must work (§4.2) [R4.2-1]"
    openssl = tools.require("openssl", "as a real TLS client")
    out, err = talk([openssl, "s_client", "-connect", f"127.0.0.1:{s.port}", "-servername", "localhost",
                     "-CAfile", str(s.files.ca), "-verify_return_error", "-quiet"], b"from openssl\n")
    fb.expect(b"from openssl\n" in out, f"openssl s_client got {out[:80]!r}; expected 'from openssl'.",
              details=[err.decode(errors='replace')[-400:], s.prog.describe()], hint=hint)
    gnutls = tools.require("gnutls-cli", "as a second TLS implementation")
    out, err = talk([gnutls, "--x509cafile", str(s.files.ca), "-p", str(s.port), "localhost"], b"from gnutls\n")
    fb.expect(b"from gnutls\n" in out, f"gnutls-cli got {out[-80:]!r}; expected 'from gnutls'.",
              details=[err.decode(errors='replace')[-400:], s.prog.describe()], hint=hint)


def talk(cmd: list, data: bytes, want: bytes = b"", timeout: float = 5.0) -> tuple[bytes, bytes]:
    """Run a real TLS client with `data` on stdin (kept open) until `data` (or `want`) is on its
    stdout or the deadline passes; then stop it. Returns (stdout, stderr)."""
    from harness import procs
    p = procs.Program(cmd, name=Path(cmd[0]).name, stdin=None)
    try:
        p.write_stdin(data)
        p.wait_stdout(want or data, timing.deadline(timeout))
    finally:
        p.stop()
    return p.stdout, p.stderr


@pytest.mark.spec("R4.1-3")
@pytest.mark.points(3)
def test_server_refuses_tls10(tls_server):
    """tls_echo_server refuses a client that offers TLS 1.0 only, and logs why"""
    s = tls_server()
    hint = "SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) (§4.1) [R4.1-3]"
    try:
        c = s.connect(tls_client_ctx(s.files, only_tls10=True))
        ok, version = True, c.version()
        c.close()
    except (ssl.SSLError, OSError):
        ok, version = False, None
    fb.expect(not ok, f"a TLS 1.0-only client completed the handshake ({version}).", details=[s.prog.describe()], hint=hint)
    m = s.prog.wait_stderr(re.compile(rb"tls_echo_server: .*(version|protocol).*"), timing.deadline(3))
    fb.expect(m is not None, "expected a log line 'tls_echo_server: handshake ADDR:PORT: REASON' naming the "
              "protocol version.", details=[s.prog.describe()], hint=hint)


# ---- §4.2 the non-blocking loop -------------------------------------------------------------
def client_hello(files) -> bytes:
    """The first flight of a real TLS client (its ClientHello record)."""
    obj = tls_client_ctx(files).wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


@pytest.mark.spec("R4.2-2")
@pytest.mark.points(5)
def test_server_stalled_handshake(tls_server):
    """tls_echo_server: clients stalled mid-handshake do not delay another client"""
    s = tls_server()
    hello = client_hello(s.files)
    stalled = []
    for cut in (0, 5, len(hello) // 2):
        r = socket.create_connection((s.host, s.port))
        r.sendall(hello[:cut])
        stalled.append(r)
    hint = ("a handshake that waits for bytes must return to poll() (SSL_ERROR_WANT_READ), never block "
            "the loop (§4.2) [R4.2-2]")
    try:
        t0 = time.monotonic()
        try:
            c = s.connect(timeout=3)
            got = s.echo(c, b"not blocked\n", timeout=3)
            c.close()
        except (OSError, ssl.SSLError) as e:
            got = f"({e})".encode()
        took = time.monotonic() - t0
        fb.expect(got == b"not blocked\n", f"with 3 clients stalled in their handshakes, another client got "
                  f"{got!r} after {took:.1f} s; expected its echo at once.", details=[s.prog.describe()], hint=hint)
    finally:
        for r in stalled:
            r.close()


@pytest.mark.spec("R4.2-3")
@pytest.mark.points(4)
def test_server_fragmented(tls_server, fragmenting_proxy):
    """tls_echo_server completes handshakes and echoes with every byte in its own segment"""
    s = tls_server()
    proxy = fragmenting_proxy((s.host, s.port), chunk=1, delay_s=0.0005)
    hint = ("SSL_ERROR_WANT_READ and WANT_WRITE are not errors: wait in poll() for that event and call "
            "again (§4.2) [R4.2-3]")
    for i in range(2):
        raw = socket.create_connection((proxy.host, proxy.port), timeout=timing.deadline(15))
        try:
            c = tls_client_ctx(s.files).wrap_socket(raw, server_hostname="localhost")
        except (ssl.SSLError, OSError) as e:
            raw.close()
            fb.fail(f"handshake {i + 1} through a proxy that delivers one byte per segment failed: {e}",
                    details=[s.prog.describe()], hint=hint)
        got = s.echo(c, b"byte by byte\n", timeout=15)
        c.close()
        fb.expect_bytes(got, b"byte by byte\n", what="the echo, one byte per segment", details=[s.prog.describe()], hint=hint)


@pytest.mark.spec("R4.2-4")
@pytest.mark.points(3)
def test_server_handshake_timeout(tls_server):
    """tls_echo_server --handshake-timeout 400 closes a silent client after 400 ms and logs it"""
    s = tls_server("--handshake-timeout", "400")
    hello = client_hello(s.files)
    hint = "a deadline per handshake; poll()'s timeout is the nearest one (§4.2) [R4.2-4]"

    def scenario():
        r = socket.create_connection((s.host, s.port))
        r.sendall(hello[:7])
        t0 = time.monotonic()
        r.settimeout(timing.upper(3.0, 1.0))
        try:
            while r.recv(4096):
                pass
        except socket.timeout:
            pass
        except OSError:
            pass
        took = time.monotonic() - t0
        r.close()
        return [timing.Check("handshake closed after", took, 0.4, tol=0.25, abs_tol=0.03)]

    v = timing.judge(scenario)
    fb.expect(v.ok, v.message, details=[s.prog.describe()], hint=hint)
    m = s.prog.wait_stderr(re.compile(rb"tls_echo_server: .*tim", re.I), timing.deadline(2))
    fb.expect(m is not None, "expected a log line 'tls_echo_server: handshake ADDR:PORT: timed out...'.",
              details=[s.prog.describe()], hint=hint)


@pytest.mark.spec("R4.2-5")
@pytest.mark.points(4)
def test_server_buffered_records(tls_server):
    """tls_echo_server echoes every record of one segment at once (SSL_pending / SSL_has_pending)"""
    s = tls_server()
    hint = ("OpenSSL may hold records that poll() cannot see: read until SSL_ERROR_WANT_READ, or ask "
            "SSL_has_pending() before sleeping in poll() (§4.2) [R4.2-5]")
    parts = [b"first record\n", b"second record\n", b"third record\n" * 200, b"fourth\n"]
    want = b"".join(parts)
    raw = socket.create_connection((s.host, s.port))
    try:
        obj, inc, records = records_of(tls_client_ctx(s.files), raw, parts)
        raw.sendall(records)  # four records, one write: the server gets them together
        got = read_plain(obj, inc, raw, len(want), timing.deadline(3))
    finally:
        raw.close()
    fb.expect(got == want, f"4 records sent in one segment; {len(got)} of {len(want)} bytes came back "
              f"(the rest waited for more input that never came).", details=[s.prog.describe()], hint=hint)


@pytest.mark.spec("R4.2-2")
@pytest.mark.points(2)
def test_server_reader_that_lags(tls_server):
    """tls_echo_server: a client that sends 16 MiB before reading any gets every byte; others are served meanwhile"""
    s = tls_server()
    hint = ("SSL_write() on a full socket says SSL_ERROR_WANT_WRITE: keep the bytes, poll for POLLOUT, stop "
            "reading that client meanwhile, and serve the others (§4.2) [R4.2-2]")
    data = (bytes(range(251)) * ((16 << 20) // 251 + 1))[: 16 << 20]
    raw = socket.create_connection((s.host, s.port))
    try:
        obj, inc, records = records_of(tls_client_ctx(s.files), raw,
                                       [data[i:i + 16384] for i in range(0, len(data), 16384)])
        pending = bytearray(records)
        raw.setblocking(False)
        # Phase 1: push ciphertext without reading until the path is full (nothing moves for 0.3 s).
        idle_since = time.monotonic()
        ended = ""
        while pending and time.monotonic() - idle_since < 0.3:
            try:
                n = raw.send(pending[:65536])
                del pending[:n]
                idle_since = time.monotonic()
            except BlockingIOError:
                select.select([], [raw], [], 0.05)
            except OSError as e:
                ended = f" (the server ended the connection: {e.strerror or e})"
                break
        other = s.connect()
        got_other = s.echo(other, b"meanwhile\n", timeout=3)
        other.close()
        fb.expect(got_other == b"meanwhile\n", f"while one client was not reading its echo, another got {got_other!r}: "
                  "the loop waited on the first one.", details=[s.prog.describe()], hint=hint)
        # Phase 2: read everything back while sending the rest.
        got = bytearray()
        end = time.monotonic() + timing.deadline(15)
        while len(got) < len(data) and time.monotonic() < end and not ended:
            r, w, _ = select.select([raw], [raw] if pending else [], [], 0.2)
            try:
                if w:
                    del pending[:raw.send(pending[:65536])]
                chunk = raw.recv(1 << 16) if r else None
            except BlockingIOError:
                continue
            except OSError as e:
                ended = f" (the server ended the connection: {e.strerror or e})"
                break
            if r:
                if not chunk:
                    ended = " (the server closed the connection)"
                    break
                inc.write(chunk)
                while True:
                    try:
                        got += obj.read(1 << 16)
                    except ssl.SSLWantReadError:
                        break
                    except ssl.SSLError:
                        end = 0
                        break
        fb.expect(bytes(got) == data, f"a client that read its echo only after sending 16 MiB got {len(got)} of "
                  f"{len(data)} bytes back{ended}.",
                  details=[s.prog.describe()], hint=hint)
    finally:
        raw.close()


@pytest.mark.spec("R4.2-6")
@pytest.mark.points(2)
def test_server_many_clients(tls_server):
    """tls_echo_server: 20 clients at once, interleaved, each gets its own echo"""
    s = tls_server()
    conns = [s.connect() for _ in range(20)]
    hint = "one connection state per client (§4.2) [R4.2-6]"
    try:
        for rnd in range(3):
            for i, c in enumerate(conns):
                c.sendall(f"client {i} round {rnd}\n".encode())
            for i, c in enumerate(conns):
                want = f"client {i} round {rnd}\n".encode()
                got = b""
                c.settimeout(timing.deadline(3))
                try:
                    while len(got) < len(want):
                        d = c.recv(4096)
                        if not d:
                            break
                        got += d
                except (OSError, ssl.SSLError):
                    pass
                fb.expect_bytes(got, want, what=f"client {i}'s echo", details=[s.prog.describe()], hint=hint)
    finally:
        for c in conns:
            c.close()


# ---- §4.3 hostile clients, the error queue --------------------------------------------------
@pytest.mark.spec("R4.3-1")
@pytest.mark.points(3)
def test_server_survives(tls_server):
    """tls_echo_server survives plaintext, garbage and a reset mid-handshake, logging each"""
    s = tls_server()
    hint = "a failed handshake ends that connection only, with a log line giving OpenSSL's reason (§4.3) [R4.3-1]"
    hello = client_hello(s.files)
    before = len(re.findall(rb"tls_echo_server: ", s.prog.stderr))
    r = socket.create_connection((s.host, s.port))
    r.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    r.settimeout(timing.deadline(3))
    try:
        r.recv(100)
    except OSError:
        pass
    r.close()
    r = socket.create_connection((s.host, s.port))
    r.sendall(bytes(range(256)) * 4)
    r.close()
    r = socket.create_connection((s.host, s.port))
    r.sendall(hello[: len(hello) // 2])
    r.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    r.close()  # RST mid-handshake
    n = s.prog.wait_stderr_count(re.compile(rb"tls_echo_server: [^\n]*\S"), before + 3, timing.deadline(3))
    fb.expect(n >= before + 3, f"3 failed handshakes, {n - before} log lines on stderr; expected one per failure.",
              details=[s.prog.describe()], hint=hint)
    fb.expect(re.search(rb"http request|wrong version|packet length|record", s.prog.stderr, re.I) is not None,
              "the plaintext HTTP request's line does not give OpenSSL's reason (such as 'http request').",
              details=[s.prog.describe()], hint=hint)
    c = s.connect()
    got = s.echo(c, b"still here\n")
    c.close()
    fb.expect_bytes(got, b"still here\n", what="the echo after the hostile clients", details=[s.prog.describe()], hint=hint)


def log_line_for(prog, port: int, timeout: float) -> bytes:
    """The server's log line about the client whose local port is `port` (b"" if none came)."""
    m = prog.wait_stderr(re.compile(rb"tls_echo_server: [^\n]*:%d: [^\n]*" % port), timeout)
    return m.group(0) if m else b""


@pytest.mark.spec("R4.3-2")
@pytest.mark.points(3)
def test_server_error_queue(tls_server):
    """tls_echo_server: a failure on one connection neither kills another nor lends it its reason"""
    s = tls_server()
    hint = ("pop every entry of the error queue (ERR_get_error until 0) after each failure: SSL_get_error() "
            "reports SSL_ERROR_SSL for any call while an old entry is queued (§4.3) [R4.3-2]")
    b, c = s.connect(), s.connect()
    raw = socket.create_connection((s.host, s.port))
    try:
        fb.expect(s.echo(b, b"b1\n") == b"b1\n" and s.echo(c, b"c1\n") == b"c1\n",
                  "two clients were not echoed at the start.", details=[s.prog.describe()], hint=hint)
        records_of(tls_client_ctx(s.files), raw, [])
        raw.sendall(b"\x17\x03\x03\x00\x20" + bytes(range(32)))  # a record no key decrypts
        first = log_line_for(s.prog, raw.getsockname()[1], timing.deadline(3))
        fb.expect(first != b"", "a client sent a record that does not decrypt: expected a log line about it.",
                  details=[s.prog.describe()], hint="§4.3 [R4.3-1]")
        got = s.echo(b, b"b2\n")
        fb.expect(got == b"b2\n", f"after another client's bad record, a healthy client got {got!r} instead of "
                  "its echo: its connection was ended with the other's error.", details=[s.prog.describe()], hint=hint)
        cport = c.getsockname()[1]
        c.shutdown(socket.SHUT_RDWR)  # no close_notify: a truncation, logged with its own reason
        last = log_line_for(s.prog, cport, timing.deadline(3))
        fb.expect(last != b"" and first.split(b": ")[-1] != last.split(b": ")[-1],
                  f"a client that closed without close_notify was logged as {last!r}; the earlier failure was "
                  f"{first!r}: expected a reason of its own.", details=[s.prog.describe()], hint=hint)
        b.settimeout(timing.deadline(3))
        try:
            b.unwrap()
        except (ssl.SSLError, OSError):
            pass
    finally:
        for x in (b, c, raw):
            x.close()
    # A plaintext client, then a TLS 1.0-only client: each line gives its own reason.
    r = socket.create_connection((s.host, s.port))
    r.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    r.settimeout(timing.deadline(3))
    try:
        r.recv(100)
    except OSError:
        pass
    r.close()
    r = socket.create_connection((s.host, s.port))
    port = r.getsockname()[1]
    try:
        tls_client_ctx(s.files, only_tls10=True).wrap_socket(r, server_hostname="localhost").close()
    except (ssl.SSLError, OSError):
        pass
    finally:
        r.close()
    second = log_line_for(s.prog, port, timing.deadline(3))
    fb.expect(re.search(rb"version|protocol", second, re.I) is not None and b"http" not in second.lower(),
              f"after a plaintext client, a TLS 1.0-only client was logged as {second!r}; expected its own "
              "reason (unsupported protocol).", details=[s.prog.describe()], hint=hint)


# ---- §4.4 ending ----------------------------------------------------------------------------
@pytest.mark.spec("R4.4-1")
@pytest.mark.points(3)
def test_server_close_notify(tls_server):
    """tls_echo_server answers close_notify with its own, then closes"""
    s = tls_server()
    c = s.connect()
    s.echo(c, b"bye\n")
    hint = "SSL_read's SSL_ERROR_ZERO_RETURN: SSL_shutdown(), then close (§4.4) [R4.4-1]"
    c.settimeout(timing.deadline(3))
    try:
        c.unwrap()  # sends close_notify, waits for the server's
        ok, why = True, ""
    except (ssl.SSLError, OSError) as e:
        ok, why = False, str(e)
    c.close()
    fb.expect(ok, f"after the client's close_notify, the server did not answer with its own ({why}).",
              details=[s.prog.describe()], hint=hint)


@pytest.mark.spec("R4.4-2")
@pytest.mark.points(2)
def test_server_max_clients(tls_server):
    """tls_echo_server --max-clients 2: a third connection is closed at once"""
    s = tls_server("--max-clients", "2")
    a, b = s.connect(), s.connect()
    hint = "beyond N connections, close the newcomer (§4.4) [R4.4-2]"
    try:
        raw = socket.create_connection((s.host, s.port))
        raw.settimeout(timing.deadline(2))
        try:
            data = raw.recv(10)
        except OSError:
            data = b""
        raw.close()
        fb.expect(data == b"", f"the third connection got {data!r}; expected it to be closed.",
                  details=[s.prog.describe()], hint=hint)
        a.close()
        b.close()
        # once one is gone there is room again
        end = time.monotonic() + timing.deadline(3)
        got = b""
        while time.monotonic() < end and got != b"room\n":
            try:
                c = s.connect(timeout=1)
                got = s.echo(c, b"room\n", timeout=1)
                c.close()
            except (OSError, ssl.SSLError):
                time.sleep(0.05)
        fb.expect(got == b"room\n", "after the 2 clients left, a new client was not served.",
                  details=[s.prog.describe()], hint=hint)
    finally:
        a.close()
        b.close()


@pytest.mark.spec("R4.4-3")
@pytest.mark.points(2)
def test_server_sigterm(tls_server):
    """tls_echo_server exits 0 on SIGTERM and on SIGINT"""
    for sig in (signal.SIGTERM, signal.SIGINT):
        s = tls_server()
        c = s.connect()
        s.prog.send_signal(sig)
        rc = s.prog.wait(timing.upper(2.0, 1.0))
        c.close()
        fb.expect(rc == 0, f"after {sig.name}: {s.prog.exit_text()}.", details=[s.prog.describe()],
                  hint="the self-pipe, then clean up and exit 0 (§4.4) [R4.4-3]")


@pytest.mark.spec("R4.4-4")
@pytest.mark.points(4)
def test_server_frees_everything(tls_server):
    """tls_echo_server frees everything at exit (after clients that came, failed, and stayed)"""
    s = tls_server()
    hint = "SSL_free and close for every connection, SSL_CTX_free at exit (§4.4) [R4.4-4]"
    for i in range(5):
        c = s.connect()
        s.echo(c, b"x" * 100)
        c.unwrap()
        c.close()
    for _ in range(3):
        r = socket.create_connection((s.host, s.port))
        r.sendall(b"garbage\r\n\r\n")
        r.close()
    stay = s.connect()
    s.echo(stay, b"stay\n")
    half = socket.create_connection((s.host, s.port))
    half.sendall(client_hello(s.files)[:20])
    s.prog.wait_stderr_count(re.compile(rb"tls_echo_server: "), 3, timing.deadline(2))
    s.prog.send_signal(signal.SIGTERM)
    rc = s.prog.wait(timing.upper(3.0, 2.0))
    stay.close()
    half.close()
    fb.expect(rc == 0, f"after SIGTERM: {s.prog.exit_text()}.", details=[s.prog.describe()], hint=hint)
    leak = s.prog.leak_report()
    fb.expect(leak is None, "tls_echo_server did not free everything at exit:\n" + (leak or ""),
              details=[s.prog.describe()], hint=hint)
