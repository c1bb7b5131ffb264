"""Timing checks that a loaded machine cannot fail: tolerances, scheduling delay, retries.

A timing requirement (a backoff gap, an RTO, a Nagle delay, a fairness bound) is judged against
timestamps that the harness took itself (a proxy's, a peer's), with tolerances:

* Early is always wrong: load can delay a program, never hurry it. An early event fails at once.
* Late may be load. A scenario that was only late is measured again (up to `tries` times) and
  fails only if it is late every time; the message then says
  "late by N ms in K of K tries (load L)".
* SOCKLAB_TIME_SCALE multiplies the tolerance on both sides (SOCKLAB_TIME_SCALE=3 on a slow
  machine: three times as wide a window, never below zero). Upper bounds also widen with the
  scheduling delay measured on this machine at the start of the run (sched_delay()).

Usage in a test:

    def scenario():
        gaps = measure_gaps(...)                      # from the proxy's own timestamps
        return [timing.Check("gap 3->4", got=g, expected=0.100, tol=0.25) for g in gaps]

    timing.judge(scenario, what="backoff gaps", hint="double the timeout after each loss (§5.2)")
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from . import runspec
from .paths import time_scale

#: How many times a scenario that was only late is measured before it fails.
DEFAULT_TRIES = 3
#: The grader measures the scheduling delay once at the start of a run and passes it on in
#: run.json (harness/runspec.py), so that every test process judges against the same figure
#: (and none pays for measuring it).
_sched: list[float] = []


def sched_delay(samples: int = 200) -> float:
    """The machine's scheduling delay in seconds: the 99th percentile of how much a 1 ms sleep
    oversleeps, measured once per process (about 0.2 to 0.5 s of sampling) and cached."""
    spec = runspec.active()
    if not _sched and spec is not None and spec.sched_delay is not None:
        _sched.append(max(0.0, float(spec.sched_delay)))
    if not _sched:
        over = []
        for _ in range(samples):
            t0 = time.monotonic()
            time.sleep(0.001)
            over.append(max(0.0, time.monotonic() - t0 - 0.001))
        over.sort()
        _sched.append(over[int(0.99 * (len(over) - 1))])
    return _sched[0]


def load() -> float:
    """The 1-minute load average (0.0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def deadline(seconds: float, most: float = 4.0) -> float:
    """How long to wait for something a correct program does at once (a reply, a line): `seconds`
    times SOCKLAB_TIME_SCALE, plus a quarter of a second per runnable task beyond the cores
    (the load average above the CPU count), at most `most` seconds more. A quiet machine waits
    `seconds`; a machine at load 15 on 2 cores waits up to `most` seconds longer."""
    extra = 0.25 * max(0.0, load() - (os.cpu_count() or 1))
    return seconds * time_scale() + min(most, extra)


def upper(seconds: float, slack: float = 0.0) -> float:
    """A deadline of `seconds`, plus `slack` of tolerance stretched by SOCKLAB_TIME_SCALE, plus
    four times the measured scheduling delay."""
    return seconds + slack * time_scale() + 4 * sched_delay()


def lower(seconds: float, slack: float = 0.0) -> float:
    """An earliest time of `seconds` minus `slack` of tolerance stretched by SOCKLAB_TIME_SCALE
    (never below 0). Load never lowers it: a program cannot be hurried by a busy machine."""
    return max(0.0, seconds - slack * time_scale())


@dataclass
class Check:
    """One timed observation: `got` seconds where `expected` was due, within a relative `tol`
    (0.25 = 25%) and an absolute `abs_tol` seconds. `lo`/`hi` override the computed window."""

    what: str
    got: float
    expected: float
    tol: float = 0.25
    abs_tol: float = 0.005
    lo: Optional[float] = None
    hi: Optional[float] = None

    def window(self) -> tuple[float, float]:
        slack = self.expected * self.tol + self.abs_tol
        lo = self.lo if self.lo is not None else lower(self.expected, slack)
        hi = self.hi if self.hi is not None else upper(self.expected, slack)
        return lo, hi

    @property
    def early(self) -> bool:
        return self.got < self.window()[0]

    @property
    def late(self) -> bool:
        return self.got > self.window()[1]

    def describe(self) -> str:
        lo, hi = self.window()
        return (f"{self.what}: {self.got * 1000:.1f} ms, expected about {self.expected * 1000:.0f} ms "
                f"(accepted: {lo * 1000:.0f} to {hi * 1000:.0f} ms)")


class Verdict:
    """The outcome of judge(): ok, early (the first early check), or late in every try."""

    def __init__(self, ok: bool, message: str = "", early: Optional[Check] = None,
                 late_tries: int = 0, tries: int = 0, checks: Optional[list] = None):
        self.ok, self.message, self.early = ok, message, early
        self.late_tries, self.tries, self.checks = late_tries, tries, checks or []


def judge(scenario: Callable[[], Iterable[Check]], tries: int = DEFAULT_TRIES) -> Verdict:
    """Run `scenario` (which measures once and returns its Checks) until it passes, is early,
    or has been late `tries` times in a row.

    Returns a Verdict; its message is one grammatical sentence for the student, such as
    "gap 3->4: 222.8 ms, expected about 100 ms (accepted: 70 to 140 ms): late by 83 ms in 3 of 3
    tries (load 9.1)". Early is reported after the first try: load cannot explain it.
    """
    late_worst: dict[str, float] = {}
    last: list[Check] = []
    for i in range(1, tries + 1):
        last = list(scenario())
        early = next((c for c in last if c.early), None)
        if early is not None:
            lo = early.window()[0]
            return Verdict(False, f"{early.describe()}: early by {(lo - early.got) * 1000:.0f} ms, which "
                                  f"load cannot cause", early=early, tries=i, checks=last)
        late = [c for c in last if c.late]
        if not late:
            return Verdict(True, tries=i, checks=last)
        for c in late:
            late_worst[c.what] = max(late_worst.get(c.what, 0.0), c.got - c.window()[1])
    worst = max((c for c in last if c.late), key=lambda c: c.got - c.window()[1])
    return Verdict(False, f"{worst.describe()}: late by {late_worst[worst.what] * 1000:.0f} ms in "
                          f"{tries} of {tries} tries (load {load():.1f})", late_tries=tries, tries=tries,
                   checks=last)
