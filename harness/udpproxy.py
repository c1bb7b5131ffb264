"""UDP on loopback: a seeded fault-injecting proxy, and a trusted echo peer.

A shared mechanism, like peers.py and proxy.py: it knows nothing of any lab's wire format.
Lab 02's use of it (its request format, fixtures, timing verdicts) is in harness/labs/lab02.py,
and a later UDP lab can use it the same way.

UdpProxy sits between a client and a server. For each direction ("c2s": client to
server, "s2c": server to client) a Faults says which datagrams to drop (by index, or
at a seeded rate), delay, duplicate or hold back (reorder). Given the same seed and the
same traffic it does the same thing every time.

UdpEchoPeer is a trusted UDP echo server (RFC 862); an optional `reply` function makes
it answer in other ways (late, several times, with changed bytes).

Both record every datagram they receive as a Datagram: its bytes, its index, its fate,
and its arrival time. The arrival time is the kernel's receive timestamp
(SO_TIMESTAMPNS), moved onto the time.monotonic() clock: it says when the datagram
reached the socket, not when the Python thread got round to it, so gaps measured from
it stay honest on a loaded machine. time.monotonic() is CLOCK_MONOTONIC, the clock the
lab's C programs read, so the two can be compared directly. Every time is in seconds.

All sockets bind to loopback on an ephemeral port. One thread per object does all the
work (a selector and a timer heap); close() stops it and closes every socket.
"""
from __future__ import annotations

import heapq
import itertools
import random
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from .paths import time_scale
from .peers import loopback

#: setsockopt(SOL_SOCKET, SO_TIMESTAMPNS): the kernel stamps each datagram on arrival
#: (struct timespec, CLOCK_REALTIME). Python does not name the constant; 35 on Linux.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
#: Room for any UDP datagram (IPv6's largest payload is 65527 bytes).
MAX_DATAGRAM = 65536
DIRECTIONS = ("c2s", "s2c")


@dataclass
class Faults:
    """What a UdpProxy does to the datagrams of one direction.

    Indices count that direction's datagrams from 0, in the order the proxy receives
    them (all clients together). A datagram is dropped if its index is in `drop`, or
    with probability `drop_rate` (seeded: one draw per datagram, so the same traffic
    loses the same datagrams). One that survives is held back if its index is a key
    of `hold`, else sent after its delay: `delays[index]` if given, else `delay_s`,
    counted from its arrival. `duplicate[index]` extra copies follow it at once.

    Attributes:
        drop: indices to drop.
        drop_rate: probability of dropping each datagram, 0 to 1.
        delay_s: delay added to every datagram, seconds.
        delays: per-index delay in seconds (replaces delay_s for that index).
        duplicate: index -> number of extra copies sent right after the datagram.
        hold: index i -> index j: datagram i is held back and sent right after
            datagram j of the same direction has been sent (or dropped). This is
            how a test reorders: i arrives after j. If j never comes, i never leaves.
    """

    drop: Iterable[int] = ()
    drop_rate: float = 0.0
    delay_s: float = 0.0
    delays: dict = field(default_factory=dict)
    duplicate: dict = field(default_factory=dict)
    hold: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.drop = frozenset(self.drop)


@dataclass
class Datagram:
    """One datagram that a proxy or peer received.

    Attributes:
        t: arrival time, seconds on the time.monotonic() clock (the kernel's
            receive timestamp when there is one).
        direction: "c2s" or "s2c" for a proxy; "in" for a peer.
        index: its position among the datagrams of that direction, from 0.
        data: its bytes.
        peer: the client's (host, port) (for a peer: the sender's).
        fate: what happened to it, in words: "forwarded", "dropped", "delayed 0.150 s",
            "held until #1", with "+ 2 copies" when duplicated.
        sent: time.monotonic() of each send of it or its copies, seconds (empty if
            it was dropped or is still waiting).
    """

    t: float
    direction: str
    index: int
    data: bytes
    peer: tuple
    fate: str = "forwarded"
    sent: list = field(default_factory=list)

    @property
    def size(self) -> int:
        """Its length in bytes."""
        return len(self.data)

    @property
    def dropped(self) -> bool:
        return self.fate.startswith("dropped")


def recv_stamped(sock: socket.socket) -> tuple[bytes, tuple, float]:
    """recvmsg() one datagram from a stamped_socket().

    Returns (data, sender, t): t is when the kernel received it, in seconds on the
    time.monotonic() clock (the time of this call if the kernel gave no timestamp).
    Raises what recvmsg() raises (socket.timeout, BlockingIOError...).
    """
    data, anc, _flags, addr = sock.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(16))
    now_m, now_r = time.monotonic(), time.time()
    t = now_m
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
            sec, nsec = struct.unpack("qq", payload[:16])
            # How long ago the kernel took it, measured on the same (realtime) clock.
            t = now_m - max(0.0, now_r - (sec + nsec / 1e9))
    return data, addr, t


def stamped_socket(family: int = socket.AF_INET, bind_host: Optional[str] = None) -> socket.socket:
    """A UDP socket bound to loopback (or bind_host), ephemeral port, with SO_TIMESTAMPNS on."""
    bind_host = bind_host or loopback(family)
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((bind_host, 0))
    return s


class _DatagramLoop:
    """One thread: a selector over some sockets, and a heap of timed sends."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._timers: list = []
        self._order = itertools.count()
        self._socks: list[socket.socket] = []
        self._records: list[Datagram] = []
        self._counts: dict[str, int] = {}
        self._cond = threading.Condition()
        self._closed = False
        #: Exceptions raised in the thread by a test's own code (a reply function): close() re-raises.
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True, name=type(self).__name__)

    def _start(self) -> None:
        self._thread.start()

    def _watch(self, sock: socket.socket, handler: Callable[[socket.socket], None]) -> None:
        self._socks.append(sock)
        self._sel.register(sock, selectors.EVENT_READ, handler)

    def _at(self, due: float, fn: Callable[[], None]) -> None:
        """Run fn at time `due` (monotonic s), or at once if it has passed."""
        if due <= time.monotonic():
            fn()
        else:
            heapq.heappush(self._timers, (due, next(self._order), fn))

    def _record(self, t: float, direction: str, data: bytes, peer: tuple) -> Datagram:
        with self._cond:
            index = self._counts.get(direction, 0)
            self._counts[direction] = index + 1
            rec = Datagram(t, direction, index, data, peer)
            self._records.append(rec)
            self._cond.notify_all()
        return rec

    def _sent(self, rec: Datagram) -> None:
        with self._cond:
            rec.sent.append(time.monotonic())
            self._cond.notify_all()

    def _run(self) -> None:
        while not self._closed:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            for key, _ in self._sel.select(timeout):
                if key.data is None:
                    try:
                        self._wake_r.recv(64)
                    except OSError:
                        pass
                    continue
                try:
                    key.data(key.fileobj)
                except OSError:
                    # ICMP errors (ECONNREFUSED when a server has gone) end nothing here.
                    pass
                except Exception as e:  # a bug in a reply function: keep it for close()
                    self.errors.append(e)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now and not self._closed:
                _, _, fn = heapq.heappop(self._timers)
                try:
                    fn()
                except OSError:
                    pass
                except Exception as e:
                    self.errors.append(e)

    # ---- what tests use ------------------------------------------------------------------
    def datagrams(self, direction: Optional[str] = None) -> list[Datagram]:
        """A snapshot of the datagrams received so far (of one direction, or all), in order."""
        with self._cond:
            return [r for r in self._records if direction is None or r.direction == direction]

    def wait_for(self, predicate: Callable[[list[Datagram]], bool], timeout: float) -> bool:
        """Wait up to `timeout` s (scaled by SOCKLAB_TIME_SCALE) until predicate(all datagrams)."""
        deadline = time.monotonic() + timeout * time_scale()
        with self._cond:
            while not predicate(list(self._records)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def close(self) -> None:
        """Stop the thread and close every socket; datagrams still waiting are discarded.

        Raises RuntimeError if code run by the thread (a reply function) raised.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(2)
        for s in self._socks + [self._wake_r, self._wake_w]:
            try:
                s.close()
            except OSError:
                pass
        self._sel.close()
        if self.errors:
            raise RuntimeError(f"{type(self).__name__}'s thread failed: {self.errors[0]!r}") from self.errors[0]


class UdpProxy(_DatagramLoop):
    """A UDP proxy on loopback that injects faults, seeded and deterministic.

    Clients send to (proxy.host, proxy.port). For each client address the proxy opens
    its own socket towards the server, so that replies find their way back to the
    right client and the server sees one address per client.

    Args:
        target: (host, port) of the real server.
        c2s: Faults for datagrams from clients to the server.
        s2c: Faults for datagrams from the server to clients.
        seed: seeds the drop_rate draws (each direction has its own generator).
        family: AF_INET (default) or AF_INET6, for the side that clients see.
    """

    def __init__(self, target: tuple, *, c2s: Optional[Faults] = None, s2c: Optional[Faults] = None,
                 seed: int = 0, family: int = socket.AF_INET):
        super().__init__()
        self.target = (target[0], int(target[1]))
        self.faults = {"c2s": c2s or Faults(), "s2c": s2c or Faults()}
        self._rng = {d: random.Random(f"{seed}:{d}") for d in DIRECTIONS}
        self._held: dict[str, dict[int, list]] = {d: {} for d in DIRECTIONS}
        self._done: dict[str, set] = {d: set() for d in DIRECTIONS}
        self._upstream: dict[tuple, socket.socket] = {}
        self._target_family = socket.getaddrinfo(self.target[0], self.target[1], 0, socket.SOCK_DGRAM)[0][0]
        self.host = loopback(family)
        self.front = stamped_socket(family, self.host)
        self.port = self.front.getsockname()[1]
        self._watch(self.front, self._from_client)
        self._start()

    def _from_client(self, sock: socket.socket) -> None:
        data, addr, t = recv_stamped(sock)
        up = self._upstream.get(addr)
        if up is None:
            up = stamped_socket(self._target_family, loopback(self._target_family))
            up.connect(self.target)
            self._upstream[addr] = up
            self._watch(up, lambda s, client=addr: self._from_server(s, client))
        rec = self._record(t, "c2s", data, addr)
        self._handle(rec, lambda payload, up=up: up.send(payload))

    def _from_server(self, sock: socket.socket, client: tuple) -> None:
        data, _, t = recv_stamped(sock)
        rec = self._record(t, "s2c", data, client)
        self._handle(rec, lambda payload: self.front.sendto(payload, client))

    def _handle(self, rec: Datagram, send: Callable[[bytes], object]) -> None:
        f = self.faults[rec.direction]
        lose = f.drop_rate > 0 and self._rng[rec.direction].random() < f.drop_rate
        copies = f.duplicate.get(rec.index, 0)
        extra = f" + {copies} copies" if copies else ""
        if rec.index in f.drop or lose:
            self._set_fate(rec, "dropped" if rec.index in f.drop else "dropped (rate)")
            self._finished(rec.direction, rec.index)
        elif rec.index in f.hold:
            j = f.hold[rec.index]
            self._set_fate(rec, f"held until #{j}{extra}")
            if j in self._done[rec.direction]:
                self._forward(rec, send, copies)
            else:
                self._held[rec.direction].setdefault(j, []).append((rec, send, copies))
        else:
            delay = f.delays.get(rec.index, f.delay_s)
            self._set_fate(rec, (f"delayed {delay:.3f} s" if delay > 0 else "forwarded") + extra)
            self._at(rec.t + delay, lambda: self._forward(rec, send, copies))

    def _set_fate(self, rec: Datagram, fate: str) -> None:
        with self._cond:
            rec.fate = fate

    def _forward(self, rec: Datagram, send: Callable[[bytes], object], copies: int) -> None:
        for _ in range(1 + copies):
            self._sent(rec)
            try:
                send(rec.data)
            except OSError:
                pass
        self._finished(rec.direction, rec.index)

    def _finished(self, direction: str, index: int) -> None:
        """Datagram `index` is sent or dropped: release what was held until it."""
        self._done[direction].add(index)
        for rec, send, copies in self._held[direction].pop(index, []):
            self._forward(rec, send, copies)


class UdpEchoPeer(_DatagramLoop):
    """A trusted UDP echo server (RFC 862) on loopback, recording what it receives.

    Args:
        family: AF_INET (default) or AF_INET6.
        reply: None to echo each datagram at once; or reply(data, index) returning a
            list of (delay_s, payload): each payload is sent back to the sender
            delay_s seconds after the datagram arrived (an empty list: no answer).
    """

    def __init__(self, family: int = socket.AF_INET,
                 reply: Optional[Callable[[bytes, int], list]] = None):
        super().__init__()
        self.reply = reply or (lambda data, index: [(0.0, data)])
        self.host = loopback(family)
        self.sock = stamped_socket(family, self.host)
        self.port = self.sock.getsockname()[1]
        self._watch(self.sock, self._on_datagram)
        self._start()

    def _on_datagram(self, sock: socket.socket) -> None:
        data, addr, t = recv_stamped(sock)
        rec = self._record(t, "in", data, addr)
        for delay, payload in self.reply(data, rec.index):
            self._at(t + delay, lambda p=payload: self._send(rec, p, addr))

    def _send(self, rec: Datagram, payload: bytes, addr: tuple) -> None:
        self._sent(rec)
        self.sock.sendto(payload, addr)
