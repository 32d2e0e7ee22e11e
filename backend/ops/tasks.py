"""The doctor's probe: a round trip through a queue, answered by whichever worker consumes it."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(bind=True, ignore_result=False, acks_late=False, soft_time_limit=25, time_limit=30)
def probe(self: Any) -> dict[str, str]:
    """Report which node ran this; the doctor sends one to each queue with ``queue=``."""
    return {
        "hostname": self.request.hostname,
        "queue": self.request.delivery_info.get("routing_key", ""),
    }
