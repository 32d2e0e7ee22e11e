"""The CPU flood for stagger.py and limits.py: a task that keeps one prefork process busy.

worker-cpu loads it with ``--include cpu_flood`` (this folder on PYTHONPATH); the benchmark sends
it to the ``cpu`` queue by name. Pure Python arithmetic, like a settlement's rule evaluation: it
holds a core and touches no database.
"""

from __future__ import annotations

import time

from celery import shared_task

NAME = "bench.cpu_burn"


@shared_task(name=NAME, acks_late=False, soft_time_limit=120, time_limit=150)
def cpu_burn(seconds: float) -> int:
    """Run a random-number recurrence for ``seconds`` of this process's CPU time."""
    value = 1
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        for _ in range(10_000):
            value = (value * 1103515245 + 12345) & 0x7FFFFFFF
    return value
