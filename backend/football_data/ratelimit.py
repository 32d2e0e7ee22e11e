"""A sliding-window rate limiter shared by every process and host through Redis.

One sorted set scored by the Redis server's clock and one atomic Lua script: skewed host clocks
agree, no two callers take the last slot, and ``block`` holds every process back after a 429.
Why and how: docs/football_data.md, "The rate limit across processes and hosts".
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import redis

_ACQUIRE = """
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


class RateLimitExceeded(Exception):
    """No slot within the caller's patience; ``retry_after`` seconds until one may be free."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit reached; retry in {retry_after:.1f}s")
        self.retry_after = retry_after


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
        self._acquire = client.register_script(_ACQUIRE)
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
