"""Meta's two send limits as the WhatsApp stand-in enforces them (docs/whatsapp.md, "Meta's
limits"; the model is the one in the project's API notes).

* Throughput, per business phone number: a token bucket of the number's level (capacity =
  level, refilled at level a second); inbound messages take a token too. Empty: 130429.
* Pair rate, per (number, user): a message at or after the pair's ``free_at`` opens a burst
  (start = now, count 1, ``free_at = now + interval``); one before ``free_at`` goes only inside
  the open burst (now < start + interval and count < burst): count + 1, ``free_at += interval``.
  Anything else: 131056, and nothing changes.

Written apart from the app's own pacing on purpose: the stand-in is the referee, so a mistake
in the app's model shows up as refusals here instead of being shared by both.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

THROUGHPUT_REFUSED = 130429
PAIR_REFUSED = 131056


@dataclass(frozen=True)
class Limits:
    """The levels enforced; ``messages_per_second=None`` or ``pair_interval=0`` turns one off."""

    messages_per_second: float | None = 80.0
    pair_interval: float = 6.0
    pair_burst: int = 45


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class _Pair:
    free_at: float
    burst_start: float
    count: int


class MetaLimits:
    """Thread-safe; ``refusals`` counts every refusal by code."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.refusals: Counter[int] = Counter()
        self._buckets: dict[str, _Bucket] = {}
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._lock = threading.Lock()

    def admit(self, phone_number_id: str, to: str) -> int | None:
        """None if a message from the number to ``to`` goes now, else the error code."""
        with self._lock:
            now = self.clock()
            bucket = self._bucket(phone_number_id, now)
            if bucket is not None and bucket.tokens < 1:
                self.refusals[THROUGHPUT_REFUSED] += 1
                return THROUGHPUT_REFUSED
            if not self._pair_admits(phone_number_id, to, now):
                self.refusals[PAIR_REFUSED] += 1
                return PAIR_REFUSED
            if bucket is not None:
                bucket.tokens -= 1
            return None

    def count_inbound(self, phone_number_id: str) -> None:
        """An inbound message to the number: it takes a token like an outbound one."""
        with self._lock:
            bucket = self._bucket(phone_number_id, self.clock())
            if bucket is not None:
                bucket.tokens -= 1

    def reset(self) -> None:
        with self._lock:
            self.refusals.clear()
            self._buckets.clear()
            self._pairs.clear()

    def _bucket(self, phone_number_id: str, now: float) -> _Bucket | None:
        level = self.limits.messages_per_second
        if not level:
            return None
        bucket = self._buckets.get(phone_number_id)
        if bucket is None:
            bucket = self._buckets[phone_number_id] = _Bucket(tokens=level, at=now)
        bucket.tokens = min(level, bucket.tokens + (now - bucket.at) * level)
        bucket.at = now
        return bucket

    def _pair_admits(self, phone_number_id: str, to: str, now: float) -> bool:
        interval, burst = self.limits.pair_interval, self.limits.pair_burst
        if interval <= 0:
            return True
        pair = self._pairs.get((phone_number_id, to))
        if pair is None or now >= pair.free_at:
            self._pairs[phone_number_id, to] = _Pair(
                free_at=now + interval, burst_start=now, count=1
            )
            return True
        if now < pair.burst_start + interval and pair.count < burst:
            pair.count += 1
            pair.free_at += interval
            return True
        return False
