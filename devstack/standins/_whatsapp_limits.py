"""Meta's send rules as the WhatsApp stand-in enforces them (docs/whatsapp.md, "Meta's
limits"; the model is the one in the project's API notes).

* 24-hour customer service window, per user: a user's inbound message opens (or renews) a
  window of ``window_seconds``; a free-form message to a user outside it: 131047.
* Messaging limit: templates to users outside their window are business-initiated; at most
  ``messaging_limit`` unique users reached by them in a moving 24 h. A user already reached in
  it goes again; a new one past the limit: 131048.
* Throughput, per business phone number: a token bucket of the number's level (capacity =
  level, refilled at level a second); inbound messages take a token too. Empty: 130429.
* Pair rate, per (number, user): a message at or after the pair's ``free_at`` opens a burst
  (start = now, count 1, ``free_at = now + interval``); one before ``free_at`` goes only inside
  the open burst (now < start + interval and count < burst): count + 1, ``free_at += interval``.
  Anything else: 131056.

The rules are checked in that order; a refused message changes nothing.

Written apart from the app's own pacing on purpose: the stand-in is the referee, so a mistake
in the app's model shows up as refusals here instead of being shared by both.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

THROUGHPUT_REFUSED = 130429
PAIR_REFUSED = 131056
WINDOW_CLOSED = 131047
MESSAGING_LIMIT_REFUSED = 131048
# The messaging limit counts unique users over a moving 24 h, whatever the window's length.
MESSAGING_PERIOD = 86400.0


@dataclass(frozen=True)
class Limits:
    """The levels enforced; ``messages_per_second=None`` or ``pair_interval=0`` turns one off.

    ``window_seconds=0`` turns the window off: every text goes, and every template counts as
    business-initiated. ``messaging_limit=None`` is Meta's unlimited tier.
    """

    messages_per_second: float | None = 80.0
    pair_interval: float = 6.0
    pair_burst: int = 45
    window_seconds: float = 86400.0
    messaging_limit: int | None = None


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
    """Thread-safe; ``refusals`` counts every refusal by code.

    ``clock`` paces throughput and pairs; ``wall`` (epoch seconds, as webhook timestamps are)
    times windows and the messaging limit.
    """

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.wall = wall
        self.refusals: Counter[int] = Counter()
        self._buckets: dict[str, _Bucket] = {}
        self._pairs: dict[tuple[str, str], _Pair] = {}
        # Meta keeps a window per (business number, user); the stand-in models the
        # conversations of one business number, so a user's last inbound message is enough.
        self._last_inbound: dict[str, float] = {}
        # The messaging limit is per business portfolio, shared by all its numbers: users
        # reached by business-initiated messages, with the time of the latest, oldest first.
        self._reached_at: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, phone_number_id: str, to: str, *, template: bool = False) -> int | None:
        """None if a message from the number to ``to`` goes now, else the error code."""
        with self._lock:
            wall, now = self.wall(), self.clock()
            refused, business_initiated, pair = self._check(
                phone_number_id, to, template, wall, now
            )
            if refused is not None:
                self.refusals[refused] += 1
                return refused
            bucket = self._buckets.get(phone_number_id)
            if bucket is not None:
                bucket.tokens -= 1
            if pair is not None:
                self._pairs[phone_number_id, to] = pair
            if business_initiated:
                self._reached_at[to] = wall
                self._reached_at.move_to_end(to)
            return None

    def open_window(self, to: str, at: float | None = None) -> None:
        """The user ``to`` wrote at ``at`` (epoch seconds, now by default). A window only moves
        forward: an inbound message older than the latest one shortens nothing."""
        with self._lock:
            at = self.wall() if at is None else at
            self._last_inbound[to] = max(at, self._last_inbound.get(to, at))

    def reached(self) -> int:
        """Unique users reached by business-initiated messages in the moving 24 h now."""
        with self._lock:
            return len(self._reached_in_period(self.wall()))

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
            self._last_inbound.clear()
            self._reached_at.clear()

    def _check(
        self, phone_number_id: str, to: str, template: bool, wall: float, now: float
    ) -> tuple[int | None, bool, _Pair | None]:
        """(the refusal or None, whether the message is business-initiated, the pair's state
        once it goes); it only refills the bucket and forgets reaches out of the period."""
        in_window = self._in_window(to, wall)
        if not template and not in_window and self.limits.window_seconds > 0:
            return WINDOW_CLOSED, False, None
        business_initiated = template and not in_window
        if business_initiated and not self._may_reach(to, wall):
            return MESSAGING_LIMIT_REFUSED, False, None
        bucket = self._bucket(phone_number_id, now)
        if bucket is not None and bucket.tokens < 1:
            return THROUGHPUT_REFUSED, False, None
        pair = None
        if self.limits.pair_interval > 0:
            pair = self._pair_after(phone_number_id, to, now)
            if pair is None:
                return PAIR_REFUSED, False, None
        return None, business_initiated, pair

    def _in_window(self, to: str, wall: float) -> bool:
        window = self.limits.window_seconds
        last = self._last_inbound.get(to)
        return window > 0 and last is not None and last > wall - window

    def _may_reach(self, to: str, wall: float) -> bool:
        limit = self.limits.messaging_limit
        if limit is None:
            return True
        reached = self._reached_in_period(wall)
        return to in reached or len(reached) < limit

    def _reached_in_period(self, wall: float) -> OrderedDict[str, float]:
        """The users reached in the moving period, forgetting those reached before it."""
        since = wall - MESSAGING_PERIOD
        while self._reached_at and next(iter(self._reached_at.values())) <= since:
            self._reached_at.popitem(last=False)
        return self._reached_at

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

    def _pair_after(self, phone_number_id: str, to: str, now: float) -> _Pair | None:
        """The pair's state once a message goes now, or None if the pair rule refuses it."""
        interval, burst = self.limits.pair_interval, self.limits.pair_burst
        pair = self._pairs.get((phone_number_id, to))
        if pair is None or now >= pair.free_at:
            return _Pair(free_at=now + interval, burst_start=now, count=1)
        if now < pair.burst_start + interval and pair.count < burst:
            return _Pair(
                free_at=pair.free_at + interval, burst_start=pair.burst_start, count=pair.count + 1
            )
        return None
