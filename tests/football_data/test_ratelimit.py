"""The shared limiter against the real (private) Redis, in one process and across two."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from football_data.ratelimit import RateLimitExceeded, SlidingWindowLimiter

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_client(private_redis):
    client = private_redis.client()
    for key in client.scan_iter("test:limiter*"):
        client.delete(key)
    return client


def test_grants_up_to_the_limit_then_says_how_long_to_wait(redis_client):
    limiter = SlidingWindowLimiter(redis_client, key="test:limiter", limit=3, window=10)
    grants = [limiter.try_acquire()[0] for _ in range(3)]
    refused, wait = limiter.try_acquire()
    assert all(grants)
    assert refused is None
    assert 9 < wait <= 10


def test_acquire_waits_for_the_window_to_slide(redis_client):
    limiter = SlidingWindowLimiter(redis_client, key="test:limiter", limit=2, window=0.5)
    started = time.monotonic()
    for _ in range(4):
        limiter.acquire(max_wait=2)
    assert time.monotonic() - started >= 0.45


def test_acquire_gives_up_beyond_max_wait(redis_client):
    limiter = SlidingWindowLimiter(redis_client, key="test:limiter", limit=1, window=30)
    limiter.acquire(max_wait=0)
    with pytest.raises(RateLimitExceeded) as caught:
        limiter.acquire(max_wait=1)
    assert caught.value.retry_after > 1


def test_block_holds_everyone_back(redis_client):
    limiter = SlidingWindowLimiter(redis_client, key="test:limiter", limit=100, window=60)
    limiter.block(2)
    grant, wait = limiter.try_acquire()
    assert grant is None
    assert 1 < wait <= 2


def test_a_shorter_block_never_shortens_a_longer_one(redis_client):
    limiter = SlidingWindowLimiter(redis_client, key="test:limiter", limit=100, window=60)
    limiter.block(5)
    limiter.block(1)
    assert limiter.try_acquire()[1] > 4


HAMMER = """
import json, sys, time
import redis
from football_data.ratelimit import SlidingWindowLimiter
port, seconds = int(sys.argv[1]), float(sys.argv[2])
limiter = SlidingWindowLimiter(
    redis.Redis(port=port), key="test:limiter:shared", limit=5, window=1.0
)
grants, deadline = [], time.monotonic() + seconds
while time.monotonic() < deadline:
    grants.append(limiter.acquire(max_wait=5).at_ms)
print(json.dumps(grants))
"""


@pytest.mark.processes
def test_the_limit_holds_across_two_processes(private_redis, redis_client):
    # Given two separate Python processes hammering one limiter (5 per 1 s) for 3 s
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, str(private_redis.port), "3"],
            cwd=REPO / "backend",
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [json.loads(p.communicate(timeout=30)[0]) for p in processes]
    # Then both got grants, and no 1-second window (by the Redis clock) holds more than 5
    assert all(results)
    grants = sorted(results[0] + results[1])
    assert len(grants) >= 3 * 5
    assert all(later - earlier >= 1000 for earlier, later in zip(grants, grants[5:], strict=False))
