"""The cost of one grant from the shared limiters (ops.ratelimit), against a Redis round trip.

    .venv/bin/python bench/ratelimit.py [--grants 20000]

A private Redis on loopback; one process takes ``--grants`` turns from a ThroughputLimiter whose
rate never makes it wait, and as many grants from a SlidingWindowLimiter, and times a PING on the
same connection as the baseline. Prints JSON: microseconds per call and the ratio to a PING.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import common  # noqa: F401  (puts backend/ and the repository root on sys.path)

from devstack.redis_server import PrivateRedis
from ops.ratelimit import SlidingWindowLimiter, ThroughputLimiter


def per_call_us(call: Callable[[], object], count: int) -> float:
    for _ in range(min(count, 500)):  # warm up: the script is loaded, the connection open
        call()
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--grants", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as workdir:
        server = PrivateRedis(Path(workdir) / "redis").start()
        try:
            client = server.client()
            throughput = ThroughputLimiter(client, key="bench:rate", rate=1e9, burst=1000)
            window = SlidingWindowLimiter(client, key="bench:window", limit=10**9, window=1.0)
            ping = per_call_us(client.ping, args.grants)
            reserve = per_call_us(lambda: throughput.reserve(max_wait=1), args.grants)
            sliding = per_call_us(window.try_acquire, args.grants)
        finally:
            server.stop()
    print(
        json.dumps(
            {
                "grants": args.grants,
                "ping_us": round(ping, 1),
                "throughput_reserve_us": round(reserve, 1),
                "throughput_per_ping": round(reserve / ping, 2),
                "sliding_window_us": round(sliding, 1),
                "sliding_window_per_ping": round(sliding / ping, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
