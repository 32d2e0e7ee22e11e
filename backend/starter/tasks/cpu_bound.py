"""CPU-bound work (queue ``cpu``, the prefork worker): pure computation holds a core, so it runs
in processes, where it cannot stall the gevent worker's greenlets."""

from __future__ import annotations

import math

from celery import shared_task

# Bounds the memory (a byte per number) and the run time, well inside the time limit.
MAX_LIMIT = 50_000_000


# Results are off by default (config.celery); this one is fetched, so it keeps its result. It is
# acknowledged after it ran, like every cpu task (config.queues.QUEUE_ACKS_LATE): a process killed
# mid-count puts it back on the queue.
@shared_task(ignore_result=False, soft_time_limit=50, time_limit=60)
def count_primes(limit: int) -> int:
    """How many primes are below ``limit`` (a sieve of Eratosthenes)."""
    if not 0 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 0 and {MAX_LIMIT}, not {limit}")
    if limit < 2:
        return 0
    sieve = bytearray([1]) * limit
    sieve[0] = sieve[1] = 0
    for number in range(2, math.isqrt(limit - 1) + 1):
        if sieve[number]:
            sieve[number * number :: number] = bytes(len(range(number * number, limit, number)))
    return sieve.count(1)
