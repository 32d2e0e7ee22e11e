"""Sends paced to the business number's throughput level, across every worker-io and host.

One ``ThroughputLimiter`` per phone number in Redis (ops.ratelimit). A send takes the next turn;
one more than ``TURN_SLEEP_MAX`` seconds away is kept by the row's wake-up instead of a sleeping
greenlet (the task comes back at its turn with ``turn_at``); none is handed out more than
``TURN_HORIZON`` seconds ahead. A 130429 or 131057 from Meta pauses the number and halves its
pace, which climbs back by itself. Inbound messages take turns too: Meta counts them against the
same level. docs/whatsapp.md, "Meta's limits".
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
# How far ahead turns are handed out. A turn is lost when its wake-up comes late or finds its row
# gone, so a short horizon keeps few of them outstanding; a send further back asks again later.
TURN_HORIZON = 10.0
# When Redis does not answer, the row waits this long and asks again (its attempt given back).
LIMITER_UNAVAILABLE_WAIT = 5.0
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
    """Go after sleeping ``sleep`` seconds, or (``at`` set) come back at that time.time(): with
    the turn held for then when ``reserved``, else to ask again."""

    sleep: float = 0.0
    at: float | None = None
    reserved: bool = False


def number_limiter() -> ThroughputLimiter:
    level = settings.WHATSAPP_MESSAGES_PER_SECOND
    number = settings.WHATSAPP_PHONE_NUMBER_ID or "default"
    return ThroughputLimiter(
        shared_redis(settings.REDIS_URL),
        key=f"whatsapp:throughput:{number}",
        rate=level,
        burst=max(1, int(level * BURST_SHARE)),
    )


def turn_take(*, reserved_at: float | None) -> Turn:
    """This send's turn: the one reserved earlier if it is due now, else a new one. A turn more
    than ``TURN_SLEEP_MAX`` away is reserved and returned as ``at`` (the caller comes back then);
    one beyond ``TURN_HORIZON`` is not reserved, and neither is anything while Redis does not
    answer (``at`` says when to ask again)."""
    now = time.time()
    if reserved_at is not None and reserved_at - 0.05 <= now <= reserved_at + TURN_LATE_MAX:
        return Turn(sleep=max(0.0, reserved_at - now))
    try:
        turn = number_limiter().reserve(max_wait=TURN_HORIZON)
    except RateLimitExceeded as exc:
        return Turn(at=now + max(TURN_SLEEP_MAX, exc.retry_after - TURN_HORIZON / 2))
    except redis.RedisError as exc:
        logger.warning("throughput limiter unavailable, sends wait: %s", exc)
        return Turn(at=now + LIMITER_UNAVAILABLE_WAIT)
    if turn.wait > TURN_SLEEP_MAX:
        return Turn(at=now + turn.wait, reserved=True)
    return Turn(sleep=turn.wait)


def refused_for_pace() -> None:
    """Meta answered 130429 or 131057: every worker holds back, then goes slower for a while.
    Refusals of sends already in flight during the pause do not cut the pace again."""
    try:
        number_limiter().slow_down(pause=REFUSED_PAUSE_SECONDS)
    except redis.RedisError as exc:
        logger.warning("throughput limiter unavailable, the pace is not lowered: %s", exc)


def inbound_counted(count: int) -> None:
    """``count`` inbound messages reached the number: they used turns of its level. Best
    effort: recording the message matters more than counting it, so Redis failing is logged."""
    limiter = number_limiter()
    try:
        for _ in range(count):
            limiter.debit()
    except redis.RedisError as exc:
        logger.warning("inbound message not counted against the throughput level: %s", exc)
