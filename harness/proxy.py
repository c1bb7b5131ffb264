"""Fault-injecting proxies: they sit between two programs and change how bytes travel.

FragmentingProxy (TCP) delivers a stream one byte per segment with small delays, in both
directions, so that a program which assumes "one recv() is one message" fails visibly.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Optional

from .peers import loopback


class FragmentingProxy:
    """A TCP proxy on loopback that forwards `chunk` bytes at a time, `delay_s` apart.

    Each forwarded piece goes out in its own segment (TCP_NODELAY). A half-close on one
    side is passed on as a half-close (shutdown SHUT_WR) on the other, so EOF survives.

    Args:
        target: (host, port) of the real server.
        chunk: bytes per piece (1 by default).
        delay_s: pause between pieces, seconds.
    """

    def __init__(self, target: tuple[str, int], chunk: int = 1, delay_s: float = 0.001,
                 family: int = socket.AF_INET):
        self.target = target
        self.chunk = chunk
        self.delay_s = delay_s
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((loopback(family), 0))
        self.sock.listen(64)
        self.host = loopback(family)
        self.port = self.sock.getsockname()[1]
        self.segments = {"c2s": 0, "s2c": 0}
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._spawn(self._accept_loop)

    def _spawn(self, fn, *args) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._socks += [client, upstream]
            self._spawn(self._pump, client, upstream, "c2s")
            self._spawn(self._pump, upstream, client, "s2c")

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while not self._closed:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                for i in range(0, len(data), self.chunk):
                    dst.sendall(data[i:i + self.chunk])
                    self.segments[direction] += 1
                    if self.delay_s:
                        time.sleep(self.delay_s)
        except OSError:
            # One side reset or vanished: pass that on by closing both.
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        """Stop the proxy and close every connection it holds."""
        self._closed = True
        # close() alone does not wake a thread blocked in accept() on Linux; shutdown() does.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            threads = list(self._threads)
        for t in threads:
            t.join(2)
