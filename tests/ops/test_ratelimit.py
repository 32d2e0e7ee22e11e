"""The shared limiters (ops.ratelimit) against the real (private) Redis, in one process and
across two."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops.ratelimit import RateLimitExceeded, SlidingWindowLimiter, ThroughputLimiter

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
from ops.ratelimit import SlidingWindowLimiter
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


def throughput(client, rate: float, burst: int = 1, recover: float = 30.0) -> ThroughputLimiter:
    return ThroughputLimiter(
        client, key="test:limiter:rate", rate=rate, burst=burst, recover_seconds=recover
    )


def test_a_burst_goes_at_once_then_turns_come_one_interval_apart(redis_client):
    limiter = throughput(redis_client, rate=10, burst=5)
    # Each wait counts from the moment Redis ran the reservation, somewhere between the call and
    # its return: the turn it names lies between those two moments plus the wait.
    turns = []
    for _ in range(8):
        called = time.monotonic()
        wait = limiter.reserve(max_wait=5).wait
        turns.append((wait, called + wait, time.monotonic() + wait))
    assert [wait for wait, _, _ in turns[:5]] == [0.0] * 5
    # Past the burst, turn k comes k intervals (0.1 s) after the first grant: never sooner,
    # and, when it has to wait at all, no later, however slowly the calls came (a loaded
    # machine). The burst's last grant may itself come late, so it is no reference.
    _, first_earliest, first_latest = turns[0]
    for k, (wait, earliest, latest) in enumerate(turns[5:], start=1):
        assert latest - first_earliest >= k * 0.1 - 0.005
        assert wait == 0 or earliest <= first_latest + k * 0.1 + 0.005


def test_a_turn_beyond_max_wait_is_refused_and_takes_nothing(redis_client):
    limiter = throughput(redis_client, rate=2)
    limiter.reserve(max_wait=0)
    with pytest.raises(RateLimitExceeded) as caught:
        limiter.reserve(max_wait=0.1)
    assert 0.4 < caught.value.retry_after <= 0.5
    # Nothing was taken: the next turn is still the one that was refused.
    assert limiter.peek().wait == pytest.approx(caught.value.retry_after, abs=0.02)


def test_a_debit_pushes_the_next_turns_back(redis_client):
    limiter = throughput(redis_client, rate=10)
    for _ in range(5):
        limiter.debit()
    assert 0.45 < limiter.peek().wait <= 0.5  # five intervals: the bucket owes four tokens


def test_slow_down_pauses_then_halves_the_pace_which_climbs_back(redis_client):
    limiter = throughput(redis_client, rate=10, recover=1.0)
    pace = limiter.slow_down(pause=0.3)
    turn = limiter.peek()
    assert pace == 0.5
    assert 0.25 < turn.wait <= 0.3
    assert 0.5 <= turn.pace < 0.6
    time.sleep(1.0)
    assert limiter.peek().pace == 1.0


def test_refusals_during_the_pause_cut_the_pace_once_and_later_ones_again(redis_client):
    limiter = throughput(redis_client, rate=10, recover=30.0)
    assert limiter.slow_down(pause=0.3) == 0.5
    # a second refusal inside the pause was already in flight: no second cut
    assert limiter.slow_down(pause=0.3) == pytest.approx(0.5, abs=0.01)
    time.sleep(0.35)
    assert limiter.slow_down(pause=0.3) == pytest.approx(0.25, abs=0.01)


RATE_HAMMER = """
import json, sys, time
import redis
from ops.ratelimit import ThroughputLimiter
port, seconds = int(sys.argv[1]), float(sys.argv[2])
limiter = ThroughputLimiter(redis.Redis(port=port), key="test:limiter:rate", rate=20, burst=2)
limiter.peek()  # connected: the start line below is all that is left to wait for
print("ready", flush=True)
sys.stdin.readline()
turns, deadline = [], time.monotonic() + seconds
while time.monotonic() < deadline:
    limiter.acquire(max_wait=5)
    turns.append(time.time())
print(json.dumps(turns))
"""


def test_two_processes_share_one_rate(redis_client, private_redis):
    # Given two processes taking turns as fast as the limiter lets them, for the same 3 s: each
    # starts its clock on one start line, sent once both are up (a process started later than
    # the other would otherwise stretch the window the count below is held to)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RATE_HAMMER, str(private_redis.port), "3"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO / "backend",
        )
        for _ in range(2)
    ]  # fmt: skip
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline() == "ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    turns = sorted(t for p in procs for t in json.loads(p.communicate(timeout=30)[0]))
    # Then together they took the rate (20/s plus the burst of 2), and at least 0.9 of it
    assert 0.9 * 20 * 3 <= len(turns) <= 20 * 3 + 2 + 2
    # and no second held more than the rate plus the burst
    for i, start in enumerate(turns):
        within = sum(1 for t in turns[i:] if t < start + 1.0)
        assert within <= 20 + 2 + 1, (start, within)
