"""Sends paced to the business number's throughput level, across every worker-io and host.

One ``ThroughputLimiter`` per phone number in Redis (ops.ratelimit). A send takes the next turn;
one more than ``TURN_SLEEP_MAX`` seconds away is kept by the row's wake-up instead of a sleeping
greenlet (the task comes back at its turn with ``turn_at``). A 130429 or 131057 from Meta pauses
the number and halves its pace, which climbs back by itself. Inbound messages take turns too:
Meta counts them against the same level. docs/whatsapp.md, "Meta's limits".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from ops.ratelimit import RateLimitExceeded, ThroughputLimiter, shared_redis

logger = logging.getLogger(__name__)

# The longest a send task sleeps for its turn; a later turn is the wake-up's countdown.
TURN_SLEEP_MAX = 1.0
# A wake-up this late past its reserved turn takes a new one: many late turns used at once (a
# worker that stalled) would be a burst.
TURN_LATE_MAX = 0.5
# The pause after Meta refused for the number's pace.
REFUSED_PAUSE_SECONDS = 1.0
# Our burst, a tenth of the level: the rest of Meta's bucket absorbs timing jitter and inbound
# messages counted there before their webhook reaches us.
BURST_SHARE = 0.1


@dataclass(frozen=True)
class Turn:
    """Go after sleeping ``sleep`` seconds, or (``at`` set) come back at that time.time()."""

    sleep: float = 0.0
    at: float | None = None


def number_limiter() -> ThroughputLimiter:
    level = settings.WHATSAPP_MESSAGES_PER_SECOND
    number = settings.WHATSAPP_PHONE_NUMBER_ID or "default"
    return ThroughputLimiter(
        shared_redis(settings.REDIS_URL),
        key=f"whatsapp:throughput:{number}",
        rate=level,
        burst=max(1, int(level * BURST_SHARE)),
    )


def turn_take(*, reserved_at: float | None, horizon: float) -> Turn:
    """This send's turn: the one reserved earlier if it is due now, else a new one. A turn more
    than ``TURN_SLEEP_MAX`` away is returned as ``at`` (reserved: the caller comes back then);
    one beyond ``horizon`` seconds is not reserved (``at`` says when to ask again)."""
    now = time.time()
    if reserved_at is not None and reserved_at - 0.05 <= now <= reserved_at + TURN_LATE_MAX:
        return Turn(sleep=max(0.0, reserved_at - now))
    try:
        turn = number_limiter().reserve(max_wait=horizon)
    except RateLimitExceeded as exc:
        return Turn(at=now + exc.retry_after - horizon / 2)
    if turn.wait > TURN_SLEEP_MAX:
        return Turn(at=now + turn.wait)
    return Turn(sleep=turn.wait)


def refused_for_pace() -> None:
    """Meta answered 130429 or 131057: every worker holds back, then goes slower for a while."""
    number_limiter().slow_down(pause=REFUSED_PAUSE_SECONDS)


def inbound_counted(count: int) -> None:
    """``count`` inbound messages reached the number: they used turns of its level. Best
    effort: recording the message matters more than counting it, so Redis failing is logged."""
    limiter = number_limiter()
    try:
        for _ in range(count):
            limiter.debit()
    except redis.RedisError as exc:
        logger.warning("inbound message not counted against the throughput level: %s", exc)
