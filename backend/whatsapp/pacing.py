"""Sends paced to the business number's throughput level, across every worker-io and host.

One ``ThroughputLimiter`` per phone number in Redis (ops.ratelimit). A send takes the next turn
and sleeps until it (a gevent sleep); the turns are handed out in order, so the senders queue up
at the level instead of polling. A turn more than ``TURN_WAIT_MAX`` away is not taken: the row
asks again shortly before it comes. A 130429 or 131057 from Meta pauses the number and halves its
pace, which climbs back by itself. Inbound messages take turns too: Meta counts them against the
same level. docs/whatsapp.md, "Meta's limits".
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import redis
from django.conf import settings

from ops.ratelimit import RateLimitExceeded, ThroughputLimiter, shared_redis

logger = logging.getLogger(__name__)

# The longest a send sleeps for its turn, inside the send task's time limit. Sleeping senders
# hold their wake-ups back: the queue, not a crowd of retries, keeps the rest waiting.
TURN_WAIT_MAX = 2.0
# When Redis does not answer, the row waits this long and asks again (its attempt given back).
LIMITER_UNAVAILABLE_WAIT = 5.0
# The pause after Meta refused for the number's pace.
REFUSED_PAUSE_SECONDS = 1.0
# Our burst, a tenth of the level: the rest of Meta's bucket absorbs timing jitter and inbound
# messages counted there before their webhook reaches us.
BURST_SHARE = 0.1


@dataclass(frozen=True)
class Turn:
    """Go after sleeping ``sleep`` seconds, or (``retry_in`` set) ask again that much later;
    ``free_in``: when the turn not taken would have come."""

    sleep: float = 0.0
    retry_in: float | None = None
    free_in: float | None = None


def number_limiter() -> ThroughputLimiter:
    level = settings.WHATSAPP_MESSAGES_PER_SECOND
    number = settings.WHATSAPP_PHONE_NUMBER_ID or "default"
    return ThroughputLimiter(
        shared_redis(settings.REDIS_URL),
        key=f"whatsapp:throughput:{number}",
        rate=level,
        burst=max(1, int(level * BURST_SHARE)),
    )


def turn_take(*, within: float = TURN_WAIT_MAX) -> Turn:
    """This send's turn, if it comes within ``within`` seconds (at most ``TURN_WAIT_MAX``); else
    when to ask again: a little before the turn that was free, spread so that the rows turned
    away do not all come back at once. Nothing is taken while Redis does not answer."""
    try:
        turn = number_limiter().reserve(max_wait=min(within, TURN_WAIT_MAX))
    except RateLimitExceeded as exc:
        spread = random.uniform(0, TURN_WAIT_MAX)  # noqa: S311 (spreading, not security)
        retry_in = max(0.1, exc.retry_after - TURN_WAIT_MAX) + spread
        return Turn(retry_in=retry_in, free_in=exc.retry_after)
    except redis.RedisError as exc:
        logger.warning("throughput limiter unavailable, sends wait: %s", exc)
        return Turn(retry_in=LIMITER_UNAVAILABLE_WAIT)
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
