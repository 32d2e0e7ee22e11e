"""Tasks only the tests load into a worker (``stack.ensure(..., include="tests.worker_tasks")``)."""

from __future__ import annotations

import time

from celery import shared_task


@shared_task(acks_late=True, time_limit=120)
def hold(seconds: float) -> float:
    """Stay busy (cooperatively on gevent) for ``seconds``: a task in flight, acknowledged late."""
    time.sleep(seconds)
    return seconds
