"""Lab 06 (TLS with OpenSSL): certificates made per run, TLS peers, proxies and fixtures.

Loaded as a pytest plugin for every run (harness/plugin.py), so hidden tests get the fixtures
`tls_certs`, `tls_files`, `tls_server`, `tls_peer`, `openssl_server`, `tls_proxy` by name
and may import the helpers:

    from harness.labs.lab06 import TlsPeer, tls_client_ctx, raw_records, REFUSALS

Certificates are made by python3-cryptography once per session (`tls_certs`, in memory: EC
P-256 keys, so that making them costs milliseconds) and written for each test where the
programs can read them (`tls_files`: spawn.shared_dir()). Nothing certificate-like is in the
repository. The peers are real TLS stacks: Python's ssl module (OpenSSL underneath, driven
with exact control), `openssl s_server` / `s_client` and gnutls-cli.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import re
import select
import socket
import ssl
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from harness import feedback as fb
from harness import timing
from harness.peers import loopback

try:  # python3-cryptography (harness/deps.txt)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - depends on the machine
    x509 = None

CA_CN = "socklab test CA"
OTHER_CA_CN = "socklab other CA"
MITM_CA_CN = "socklab interceptor"
#: The names of the valid certificate (subjectAltName).
NAMES = ("localhost", "127.0.0.1", "::1", "echo.socklab.test")

#: Each bad certificate: (file stem, what it is, a regex of OpenSSL's verification reason).
REFUSALS = {
    "expired": ("an expired certificate", r"certificate has expired"),
    "notyet": ("a certificate not yet valid", r"not yet valid"),
    "wronghost": ("a certificate for another host name (wrong.example)", r"hostname mismatch|host ?name"),
    "unknownca": ("a certificate from an unknown CA", r"unable to get local issuer|unknown ca|unable to verify"),
    "selfsigned": ("a self-signed certificate", r"self[- ]signed"),
    "weak": ("a certificate with a 1024-bit RSA key", r"too weak|too small|key.*weak"),
}


# ---- certificates --------------------------------------------------------------------------
def _name(cn: str):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(key, cn: str, issuer_key, issuer_cn: str, *, ca: bool = False, sans=(), days=(-1, 365)):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(issuer_cn))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now + datetime.timedelta(days=days[0]))
         .not_valid_after(now + datetime.timedelta(days=days[1]))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        alt = []
        for s in sans:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                alt.append(x509.DNSName(s))
        b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    if ca:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_certs() -> dict[str, bytes]:
    """Every file of a run, by name: ca.pem, and NAME.pem (chain) + NAME.key for good, the
    REFUSALS and mitm (the interceptor's own CA, with the right names)."""
    ec_key = lambda: ec.generate_private_key(ec.SECP256R1())  # noqa: E731
    ca_key, other_key, mitm_ca_key, leaf = ec_key(), ec_key(), ec_key(), ec_key()
    ca = _cert(ca_key, CA_CN, ca_key, CA_CN, ca=True, days=(-1, 3650))
    other = _cert(other_key, OTHER_CA_CN, other_key, OTHER_CA_CN, ca=True)
    mitm_ca = _cert(mitm_ca_key, MITM_CA_CN, mitm_ca_key, MITM_CA_CN, ca=True)
    weak_key = rsa.generate_private_key(65537, 1024)
    files = {"ca.pem": _pem(ca)}
    made = {
        "good": (leaf, [_cert(leaf, "localhost", ca_key, CA_CN, sans=NAMES)]),
        "expired": (leaf, [_cert(leaf, "localhost", ca_key, CA_CN, sans=NAMES, days=(-30, -1))]),
        "notyet": (leaf, [_cert(leaf, "localhost", ca_key, CA_CN, sans=NAMES, days=(2, 30))]),
        "wronghost": (leaf, [_cert(leaf, "wrong.example", ca_key, CA_CN, sans=("wrong.example",))]),
        "unknownca": (leaf, [_cert(leaf, "localhost", other_key, OTHER_CA_CN, sans=NAMES), other]),
        "selfsigned": (leaf, [_cert(leaf, "localhost", leaf, "localhost", sans=NAMES)]),
        "weak": (weak_key, [_cert(weak_key, "localhost", ca_key, CA_CN, sans=NAMES)]),
        "mitm": (leaf, [_cert(leaf, "localhost", mitm_ca_key, MITM_CA_CN, sans=NAMES), mitm_ca]),
    }
    for stem, (key, chain) in made.items():
        files[f"{stem}.pem"] = b"".join(_pem(c) for c in chain)
        files[f"{stem}.key"] = _key_pem(key)
    return files


@pytest.fixture(scope="session")
def tls_certs() -> dict[str, bytes]:
    """The run's certificates and keys in memory (made once per session)."""
    if x509 is None:
        pytest.skip("needs python3-cryptography to make certificates: sudo apt-get install -y python3-cryptography")
    return make_certs()


@dataclass
class TlsFiles:
    """Where the run's certificate files are, for this test (readable by the programs)."""

    dir: Path

    def __getattr__(self, stem: str) -> Path:
        return self.dir / f"{stem}.pem"

    def pem(self, stem: str) -> Path:
        return self.dir / f"{stem}.pem"

    def key(self, stem: str) -> Path:
        return self.dir / f"{stem}.key"


@pytest.fixture
def tls_files(spawn, tls_certs) -> TlsFiles:
    """The certificates of tls_certs as files in a folder the programs can read."""
    d = spawn.shared_dir("lab06-")
    for name, data in tls_certs.items():
        (d / name).write_bytes(data)
        os.chmod(d / name, 0o644)
    return TlsFiles(d)


# ---- Python's ssl module: contexts --------------------------------------------------------
def _quiet(fn):
    with warnings.catch_warnings():  # TLSVersion.TLSv1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        return fn()


def server_ctx(files: TlsFiles, stem: str = "good", *, max_version=None, low_security: bool = False):
    """A server context presenting `stem`.pem; `max_version` (ssl.TLSVersion) caps the version;
    `low_security` lowers OpenSSL's security level to 0 (a 1024-bit key, TLS 1.0)."""
    def make():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if low_security:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        if max_version is not None:
            ctx.maximum_version = max_version
        ctx.load_cert_chain(files.pem(stem), files.key(stem))
        return ctx
    return _quiet(make)


def tls_client_ctx(files: Optional[TlsFiles] = None, *, only_tls10: bool = False) -> ssl.SSLContext:
    """A client context that trusts the run's CA (or nothing, verifying nothing, when `files`
    is None); `only_tls10` offers TLS 1.0 only (at security level 0, so that it is sent)."""
    def make():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if files is not None:
            ctx.load_verify_locations(files.ca)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if only_tls10:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1
        return ctx
    return _quiet(make)


# ---- a trusted TLS peer (server side) -------------------------------------------------------
@dataclass
class PeerConn:
    """What the peer saw of one connection."""

    sni: Optional[str] = None
    received: bytes = b""
    end: str = ""          # "close_notify", "eof" (no close_notify), or an error's text
    version: str = ""
    done: threading.Event = field(default_factory=threading.Event)


class TlsPeer:
    """A TLS echo server in a thread (Python's ssl): it records the SNI, what it received and
    how the client ended (close_notify or a bare EOF), and answers close_notify with its own.

    mode "echo" (default), or "truncate": after echoing the first piece of data, it closes
    the TCP connection without close_notify.
    """

    def __init__(self, ctx: ssl.SSLContext, family: int = socket.AF_INET, mode: str = "echo"):
        self.ctx = ctx
        self.mode = mode
        self.conns: list[PeerConn] = []
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.host = loopback(family)
        self.sock.bind((self.host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._closed = False

        def on_sni(sslobj, name, _ctx):
            self._pending_sni = name
        self._pending_sni = None
        ctx.sni_callback = on_sni
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            pc = PeerConn()
            self.conns.append(pc)
            threading.Thread(target=self._serve, args=(raw, pc), daemon=True).start()

    def _serve(self, raw: socket.socket, pc: PeerConn) -> None:
        raw.settimeout(30)
        s = None
        try:
            try:
                s = self.ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
            except (ssl.SSLError, OSError) as e:
                pc.end = f"handshake failed: {e}"
                return
            pc.sni, pc.version = self._pending_sni, s.version() or ""
            while True:
                try:
                    data = s.recv(65536)
                except ssl.SSLZeroReturnError:
                    pc.end = "close_notify"
                    try:
                        s.unwrap()
                    except (ssl.SSLError, OSError):
                        pass
                    return
                except ssl.SSLEOFError:
                    pc.end = "eof"
                    return
                except (ssl.SSLError, OSError) as e:
                    pc.end = str(e)
                    return
                if not data:  # a clean close_notify (ragged EOFs raise SSLEOFError)
                    pc.end = "close_notify"
                    try:
                        s.unwrap()
                    except (ssl.SSLError, OSError):
                        pass
                    return
                pc.received += data
                s.sendall(data)
                if self.mode == "truncate":
                    pc.end = "truncated by the peer"
                    s.shutdown(socket.SHUT_RDWR)  # TCP FIN only: SSLSocket.shutdown sends no alert
                    return
        finally:
            (s or raw).close()
            pc.done.set()

    def wait_conn(self, timeout: float = 5.0) -> Optional[PeerConn]:
        end = time.monotonic() + timing.deadline(timeout)
        while time.monotonic() < end:
            if self.conns and self.conns[-1].done.wait(0.02):
                return self.conns[-1]
        return self.conns[-1] if self.conns else None

    def close(self) -> None:
        self._closed = True
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture
def tls_peer(tls_files):
    """tls_peer(stem="good", family=AF_INET, mode="echo", **server_ctx options) -> TlsPeer."""
    peers = []

    def start(stem: str = "good", family: int = socket.AF_INET, mode: str = "echo", **kw) -> TlsPeer:
        p = TlsPeer(server_ctx(tls_files, stem, **kw), family, mode)
        peers.append(p)
        return p
    yield start
    for p in peers:
        p.close()


# ---- openssl s_server ----------------------------------------------------------------------
class OpensslServer:
    """`openssl s_server -rev` (it sends each line back reversed) presenting `stem`.pem."""

    def __init__(self, files: TlsFiles, stem: str):
        args = ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", str(files.pem(stem)),
                "-key", str(files.key(stem)), "-rev", "-naccept", "1"]
        if stem == "weak":
            args[-2:-2] = ["-cipher", "DEFAULT:@SECLEVEL=0"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.port = 0
        end = time.monotonic() + timing.deadline(5)
        seen = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < end and not self.port:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                seen += chunk
                m = re.search(rb"ACCEPT .*:(\d+)", seen)
                if m:
                    self.port = int(m.group(1))
        if not self.port:
            self.close()
            raise RuntimeError("openssl s_server did not start: " + self.proc.stderr.read().decode(errors="replace"))

    def close(self) -> None:
        from harness import procs
        procs.kill_group(self.proc, grace=0.5)


@pytest.fixture
def openssl_server(tls_files):
    """openssl_server(stem) -> OpensslServer: a real `openssl s_server -rev` on 127.0.0.1."""
    from harness import tools
    tools.require("openssl", "as a real TLS server peer")
    started = []

    def start(stem: str = "good") -> OpensslServer:
        s = OpensslServer(tls_files, stem)
        started.append(s)
        return s
    yield start
    for s in started:
        s.close()


# ---- proxies -------------------------------------------------------------------------------
class TlsProxy:
    """A TCP relay between a client and `target`.

    mode "cut": passes bytes through both ways until cut() closes both sides (no
    close_notify: the TLS stream is truncated). mode "mitm": terminates TLS itself with its own
    certificate (`ctx`) and relays the plaintext to the target over a second TLS connection.
    """

    def __init__(self, target: tuple[str, int], mode: str = "cut", ctx: Optional[ssl.SSLContext] = None):
        self.target, self.mode, self.ctx = target, mode, ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.host, self.port = "127.0.0.1", self.sock.getsockname()[1]
        self.s2c = 0
        self.socks: list[socket.socket] = []
        self.handshake_error: Optional[str] = None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        self.socks.append(c)
        try:
            u = socket.create_connection(self.target, timeout=5)
        except OSError:
            c.close()
            return
        self.socks.append(u)
        if self.mode == "mitm":
            try:
                c = self.ctx.wrap_socket(c, server_side=True)
                u = tls_client_ctx(None).wrap_socket(u)
            except (ssl.SSLError, OSError) as e:
                self.handshake_error = str(e)
                return
        threading.Thread(target=self._pump, args=(u, c, True), daemon=True).start()
        self._pump(c, u, False)

    def _pump(self, src, dst, s2c: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except (OSError, ssl.SSLError):
                return
            if not data:
                return
            try:
                dst.sendall(data)
            except (OSError, ssl.SSLError):
                return
            if s2c:
                self.s2c += len(data)

    def cut(self) -> None:
        """Close both connections at the TCP level: FIN, no close_notify."""
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.cut()
        for s in [self.sock, *self.socks]:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def tls_proxy():
    """tls_proxy((host, port), mode="cut"|"mitm", ctx=None) -> TlsProxy."""
    made = []

    def start(target, mode: str = "cut", ctx=None) -> TlsProxy:
        p = TlsProxy(target, mode, ctx)
        made.append(p)
        return p
    yield start
    for p in made:
        p.close()


# ---- the student's server ------------------------------------------------------------------
@dataclass
class TlsServer:
    """A running tls_echo_server and the files it was given."""

    prog: object
    host: str
    port: int
    files: TlsFiles

    def connect(self, ctx: Optional[ssl.SSLContext] = None, timeout: float = 5.0,
                server_hostname: Optional[str] = "localhost") -> ssl.SSLSocket:
        """A TLS connection to the server, verified against the run's CA."""
        raw = socket.create_connection((self.host, self.port), timeout=timing.deadline(timeout))
        ctx = ctx or tls_client_ctx(self.files)
        try:
            return ctx.wrap_socket(raw, server_hostname=server_hostname)
        except BaseException:
            raw.close()
            raise

    def echo(self, s: ssl.SSLSocket, data: bytes, timeout: float = 5.0) -> bytes:
        """Send `data` and read until as many bytes came back (or EOF, or the deadline)."""
        s.settimeout(timing.deadline(timeout))
        s.sendall(data)
        got = b""
        try:
            while len(got) < len(data):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, ssl.SSLError, OSError):
            pass
        return got


@pytest.fixture
def tls_server(spawn, tls_files):
    """tls_server(*extra_args, family=None, stem="good") -> TlsServer: tls_echo_server on
    loopback with the run's valid certificate (ephemeral port)."""
    def start(*extra, family: int = socket.AF_INET, stem: str = "good", **kw) -> TlsServer:
        flag = "-6" if family == socket.AF_INET6 else "-4"
        prog, host, port = spawn.server("tls_echo_server", flag, "-b", loopback(family), "-p", "0",
                                        "--cert", tls_files.pem(stem), "--key", tls_files.key(stem),
                                        *extra, hint=READY_HINT, **kw)
        return TlsServer(prog, host, port, tls_files)
    return start


READY_HINT = ("tls_echo_server must load its certificate and key, then print 'listening on ADDR:PORT' "
              "(and fflush) once listen() succeeded (§4.1)")


def records_of(ctx: ssl.SSLContext, raw: socket.socket, payloads: list[bytes],
               server_hostname: str = "localhost", timeout: float = 5.0):
    """Handshake over `raw` with a memory BIO, then return (SSLObject, incoming BIO, the TLS
    records of `payloads` as one byte string): the caller sends them in one segment."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_hostname)
    raw.settimeout(timing.deadline(timeout))
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(out.read())
            data = raw.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection during the handshake")
            inc.write(data)
    raw.sendall(out.read())
    for p in payloads:
        obj.write(p)
    return obj, inc, out.read()


def read_plain(obj, inc, raw: socket.socket, want: int, timeout: float) -> bytes:
    """Read plaintext from an SSLObject until `want` bytes, EOF or the deadline."""
    got = b""
    end = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < end:
        try:
            got += obj.read(65536)
            continue
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError:
            break
        raw.settimeout(max(0.01, end - time.monotonic()))
        try:
            data = raw.recv(65536)
        except (socket.timeout, OSError):
            break
        if not data:
            break
        inc.write(data)
    return got


def session_lines(stderr: bytes) -> dict[str, str]:
    """The 'key: value' lines tls_client printed about the session (version, cipher...)."""
    out = {}
    for line in stderr.decode(errors="replace").splitlines():
        m = re.match(r"\s*(version|cipher|subject|issuer|expires)\s*:\s*(.*)$", line, re.I)
        if m and m.group(1).lower() not in out:
            out[m.group(1).lower()] = m.group(2).strip()
    return out


def fail_details(*progs) -> list[str]:
    return [p.describe() for p in progs if p is not None]
