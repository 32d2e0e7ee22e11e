"""Rate limits shared by every process and host through Redis: the way any app paces an
external API (docs/rate-limits.md).

``ThroughputLimiter`` holds a rate per second with a burst (GCRA, one key per limited thing):
callers reserve their turn and sleep until it, so a hundred greenlets waiting on one limit cost
one Redis call each, not a polling loop. ``SlidingWindowLimiter`` holds "at most N in any
window" (an API plan's 10 a minute), exactly, with a sorted set of the window's grants.
Both read the Redis server's clock, so hosts with skewed clocks agree.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from functools import cache

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# GCRA (the generic cell rate algorithm): one key holds the theoretical arrival time (TAT) of
# the next grant, in microseconds of the Redis server's clock. A grant may come ``burst - 1``
# intervals before its TAT; each grant moves the TAT on by one interval. A pace key, when a
# refusal lowered it, holds the factor it fell to and when: the pace climbs back linearly.
# Both scripts start alike: ARGV = interval (µs), burst, recovery time (µs), then their own.
_NOW_AND_PACE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local recover = tonumber(ARGV[3])
local factor = 1
local pace = redis.call('HMGET', KEYS[2], 'factor', 'at')
if pace[1] then
  factor = math.min(1, tonumber(pace[1]) + (now - tonumber(pace[2])) / recover)
end
"""

# ARGV[4]: the longest wait a reservation accepts (µs); ARGV[5]: reserve, peek or debit.
_GCRA = (
    _NOW_AND_PACE
    + """
local max_wait = tonumber(ARGV[4])
local mode = ARGV[5]
interval = interval / factor
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = tat - (burst - 1) * interval - now
if mode == 'peek' then
  return {0, tostring(math.max(0, wait)), tostring(factor)}
end
if mode == 'reserve' and wait > max_wait then
  return {0, tostring(wait), tostring(factor)}
end
local ttl = math.ceil((tat + interval - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', ttl)
return {1, tostring(math.max(0, wait)), tostring(factor)}
"""
)

# A refusal from the provider: nothing for ARGV[4] µs, then the pace at ARGV[5] times what it
# was, climbing back to the full rate over the recovery time. Refusals during the pause (calls
# already in flight when the first came) change nothing more.
_SLOW_DOWN = (
    _NOW_AND_PACE
    + """
local pause = tonumber(ARGV[4])
local cut = tonumber(ARGV[5])
if pace[1] and now - tonumber(pace[2]) < pause then
  return tostring(factor)
end
factor = math.max(0.05, factor * cut)
redis.call('HSET', KEYS[2], 'factor', tostring(factor), 'at', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[2], math.ceil(recover / 1000))
local tat = now + pause + (burst - 1) * interval / factor
if tat > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return tostring(factor)
"""
)

_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local blocked_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked_until > now then
  return {0, blocked_until - now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(oldest[2]) + window - now)}
"""

_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
if until_ms > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]))
end
return until_ms
"""


@cache
def shared_redis(url: str) -> redis.Redis:
    """One client per process and URL for the limiters (redis-py's pool notices a fork and
    reconnects, so prefork children are safe)."""
    # One quick retry: a caller that finds Redis away decides what to do (wait, retry the task)
    # within its own time limit, instead of redis-py's backoff using it up.
    return redis.Redis.from_url(
        url, socket_timeout=3, socket_connect_timeout=2, retry=Retry(NoBackoff(), 1)
    )


class RateLimitExceeded(Exception):
    """No turn within the caller's patience; ``retry_after`` seconds until one may be free."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit reached; retry in {retry_after:.2f}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Turn:
    """A reserved turn: ``wait`` seconds from now; ``pace`` is the fraction of the full rate in
    force (below 1 for a while after a refusal)."""

    wait: float
    pace: float


class ThroughputLimiter:
    """At most ``rate`` grants a second on average, ``burst`` of them at once, across every
    client of ``key``: a token bucket of ``burst`` tokens refilled at ``rate`` a second."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        key: str,
        rate: float,
        burst: int = 1,
        recover_seconds: float = 30.0,
    ) -> None:
        if rate <= 0 or burst < 1 or recover_seconds <= 0:
            raise ValueError("rate must be > 0, burst >= 1 and recover_seconds > 0")
        self.client = client
        self.keys = [key, f"{key}:pace"]
        self.rate = rate
        self.burst = burst
        self._interval_us = 1_000_000 / rate
        self._recover_us = recover_seconds * 1_000_000
        self._gcra = client.register_script(_GCRA)
        self._slow_down = client.register_script(_SLOW_DOWN)

    def _call(self, mode: str, max_wait: float = 0.0) -> tuple[bool, Turn]:
        granted, wait_us, pace = self._gcra(
            keys=self.keys,
            args=[self._interval_us, self.burst, self._recover_us, max_wait * 1_000_000, mode],
        )
        return bool(granted), Turn(wait=float(wait_us) / 1_000_000, pace=float(pace))

    def reserve(self, *, max_wait: float) -> Turn:
        """Take the next turn if it comes within ``max_wait`` seconds (the caller then sleeps
        ``turn.wait``), else raise RateLimitExceeded and take nothing."""
        granted, turn = self._call("reserve", max_wait)
        if not granted:
            raise RateLimitExceeded(turn.wait)
        return turn

    def acquire(self, *, max_wait: float) -> Turn:
        """``reserve`` and sleep until the turn (cooperatively, under gevent)."""
        turn = self.reserve(max_wait=max_wait)
        if turn.wait > 0:
            time.sleep(turn.wait)
        return turn

    def peek(self) -> Turn:
        """When a turn would come if one were taken now, taking nothing."""
        return self._call("peek")[1]

    def debit(self) -> None:
        """Count one use that happened anyway (an inbound message the provider counts too): the
        next turns come later by one interval."""
        self._call("debit")

    def slow_down(self, *, pause: float, cut: float = 0.5) -> float:
        """The provider refused for going too fast: no new turn for ``pause`` seconds, then the
        pace at ``cut`` times what it was, climbing back to the full rate by itself; a refusal
        within the pause of the last one changes nothing (it was already in flight). Turns
        already handed out keep their times. Returns the pace now in force."""
        factor = self._slow_down(
            keys=self.keys,
            args=[self._interval_us, self.burst, self._recover_us, pause * 1_000_000, cut],
        )
        return float(factor)


@dataclass(frozen=True)
class Grant:
    at_ms: int  # Redis server time of the grant, in milliseconds


class SlidingWindowLimiter:
    """At most ``limit`` grants in any ``window`` seconds, across every client of ``key``."""

    def __init__(self, client: redis.Redis, *, key: str, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.client = client
        self.key = key
        self.block_key = f"{key}:blocked-until"
        self.limit = limit
        self.window_ms = int(window * 1000)
        self._acquire = client.register_script(_SLIDING_WINDOW)
        self._block = client.register_script(_BLOCK)

    def try_acquire(self) -> tuple[Grant | None, float]:
        """A grant, or None and the seconds to wait before the next attempt may succeed."""
        granted, value = self._acquire(
            keys=[self.key, self.block_key], args=[self.limit, self.window_ms, uuid.uuid4().hex]
        )
        if granted:
            return Grant(at_ms=int(value)), 0.0
        return None, int(value) / 1000

    def acquire(self, *, max_wait: float) -> Grant:
        """Wait for a slot up to ``max_wait`` seconds; beyond that raise RateLimitExceeded so a
        task can retry later instead of holding a worker process asleep."""
        deadline = time.monotonic() + max_wait
        while True:
            grant, wait = self.try_acquire()
            if grant is not None:
                return grant
            remaining = deadline - time.monotonic()
            if wait > remaining:
                raise RateLimitExceeded(wait)
            time.sleep(wait)

    def block(self, seconds: float) -> None:
        """Refuse every grant, everywhere, for ``seconds`` (the provider told us to wait)."""
        self._block(keys=[self.block_key], args=[max(1, int(seconds * 1000))])
