"""A reply's burst carried by the worker process that opens it, and how many one process carries.

A burst under the pair rule holds only if each part goes before its window closes. Parts woken
one by one through the broker slow down together when the workers fall behind, and then every
burst breaks (each waits for the time it borrowed: 6 s per part sent). So the task that opens a
contact's burst sends the burst's next parts itself, each at its time, and a process carries at
most WHATSAPP_BURSTS_PER_WORKER bursts at once: a reply beyond that waits for a free one instead
of breaking the others'.

Parts go one after another (each after the answer to the one before, so they arrive in order),
so a burst holds as many parts as fit its window at the pace they really go: ``Pace`` is the
time between parts this process measured, which ``whatsapp.pair.first_burst`` plans with; a
burst whose own pace shows its rest would miss the window ends early.
docs/whatsapp.md, "The pair rule".
"""

from __future__ import annotations

import threading
import time
from functools import cache

from django.conf import settings

# A burst ended early because its parts went too slowly halves the bursts the process carries
# (at most once in this many seconds: the bursts under way then were all slowed by the same
# crowd); each burst that holds gives back half a slot, up to WHATSAPP_BURSTS_PER_WORKER.
CUT_EVERY_SECONDS = 6.0
REGAIN_PER_BURST = 0.5


class Slots:
    """The bursts one process carries at once; each slot remembers when its burst should end.

    At most ``size``; fewer (``limit``) after a burst ran too slowly to hold, climbing back as
    bursts hold: the process finds how many it can carry with the CPU it really gets."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.limit = float(size)
        self._ends: dict[int, float] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._cut_at = -CUT_EVERY_SECONDS

    def take(self, *, ends_in: float) -> int | None:
        """A slot for a burst expected to end ``ends_in`` seconds from now, or None if all are
        carrying one."""
        with self._lock:
            if len(self._ends) >= max(1, int(self.limit)):
                return None
            self._next += 1
            self._ends[self._next] = time.monotonic() + ends_in
            return self._next

    def give(self, slot: int, *, held: bool | None = None) -> None:
        """The slot's burst is over: it held (``held``), ended early for its pace (False), or
        neither was known (None)."""
        with self._lock:
            carried = len(self._ends)
            self._ends.pop(slot, None)
            now = time.monotonic()
            if held is False and now - self._cut_at >= CUT_EVERY_SECONDS:
                self.limit = max(1.0, min(self.limit, carried) / 2)
                self._cut_at = now
            elif held:
                self.limit = min(float(self.size), self.limit + REGAIN_PER_BURST)

    def free_in(self) -> float:
        """Seconds until the first carried burst should end (0 when a slot is free)."""
        with self._lock:
            if len(self._ends) < max(1, int(self.limit)):
                return 0.0
            return max(0.0, min(self._ends.values()) - time.monotonic())


# The measured pace is smoothed over about three parts, and a burst is planned 5 % slower.
PACE_WEIGHT = 0.3
PACE_SAFETY = 1.05
# A burst judges whether the rest of it still fits its window from its own pace after this many
# parts: fewer let one slow start (a crowd of replies arriving at once) end bursts for nothing.
OWN_PACE_AFTER = 4


class Pace:
    """The seconds from one part's request to the next one's in this process's bursts."""

    def __init__(self) -> None:
        self.seconds: float | None = None
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            if self.seconds is None:
                self.seconds = seconds
            else:
                self.seconds += PACE_WEIGHT * (seconds - self.seconds)

    def step(self, spacing: float) -> float:
        """Seconds between two parts of a burst to plan with: the spacing, or the measured pace
        (5 % slower) if that is slower."""
        return max(spacing, (self.seconds or 0.0) * PACE_SAFETY)


@cache
def process_pace() -> Pace:
    """This process's pace."""
    return Pace()


@cache
def process_slots() -> Slots:
    """This process's slots (WHATSAPP_BURSTS_PER_WORKER)."""
    return Slots(settings.WHATSAPP_BURSTS_PER_WORKER)


class Burst:
    """The burst one send task carries: a slot taken when it opens a contact's burst, given back
    when the task is done; ``until`` (monotonic) is the last moment it starts another part."""

    def __init__(
        self, *, until: float, slots: Slots | None = None, pace: Pace | None = None
    ) -> None:
        self.until = until
        self._slots = slots if slots is not None else process_slots()
        self._pace = pace if pace is not None else process_pace()
        self._slot: int | None = None
        # The parts this burst sends (``first_burst``), those sent, and the last one's request.
        self.target = 0
        self.sent = 0
        self.first_request: float | None = None
        self.last_request: float | None = None
        self.recent: float | None = None

    @property
    def held(self) -> bool:
        return self._slot is not None

    def open(self, *, target: int, step: float) -> bool:
        """A burst about to open that sends ``target`` parts ``step`` seconds apart; one of more
        than one part takes this process's slot. False if it needs one and every slot is busy."""
        if target > 1 and self._slot is None:
            self._slot = self._slots.take(ends_in=(target - 1) * step)
            if self._slot is None:
                return False
        self.target, self.sent = target, 0
        self.first_request = self.last_request = self.recent = None
        return True

    def sent_one(self, request: float) -> bool:
        """A part of this burst went, requested at ``request`` (monotonic); True while more of it
        is to go."""
        if self.last_request is not None:
            gap = request - self.last_request
            self._pace.observe(gap)
            self.recent = gap if self.recent is None else (self.recent + gap) / 2
        else:
            self.first_request = request
        self.sent += 1
        self.last_request = request
        return self.sent < self.target

    def own_step(self, spacing: float) -> float | None:
        """The time between this burst's parts (5 % slower, at least ``spacing``): over all of
        them or over the last few, whichever is slower, once it has sent enough of them to tell
        (``OWN_PACE_AFTER``)."""
        if self.sent < OWN_PACE_AFTER or self.first_request is None or self.last_request is None:
            return None
        mean = (self.last_request - self.first_request) / (self.sent - 1)
        return max(spacing, max(mean, self.recent or 0.0) * PACE_SAFETY)

    def free_in(self) -> float:
        return self._slots.free_in()

    def step(self, spacing: float) -> float:
        """Seconds between two parts to plan with (``Pace.step``)."""
        return self._pace.step(spacing)

    def end(self, *, held: bool | None) -> None:
        """The burst is over: every planned part went (``held``), it ended early (False), or
        the task stopped carrying it (None)."""
        if self._slot is not None:
            self._slots.give(self._slot, held=held)
            self._slot = None

    def close(self) -> None:
        self.end(held=None)

    def __enter__(self) -> Burst:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
