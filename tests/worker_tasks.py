"""Tasks only the tests load into a worker (``stack.ensure(..., include="tests.worker_tasks")``)."""

from __future__ import annotations

import logging
import time

from celery import shared_task


@shared_task(acks_late=True, time_limit=120)
def hold(seconds: float) -> float:
    """Stay busy (cooperatively on gevent) for ``seconds``: a task in flight, acknowledged late."""
    time.sleep(seconds)
    return seconds


@shared_task
def say(text: str) -> str:
    """Log ``text`` from inside a task, as application code does."""
    logging.getLogger(__name__).warning("said: %s", text)
    return text


@shared_task
def fail(n: int) -> float:
    """Raise, as a bug in a task would."""
    return 1 / n


@shared_task(ignore_result=False)
def clock() -> float:
    """The worker's time (tests/clock: a pinned clock reaches the workers too)."""
    return time.time()


@shared_task(bind=True, max_retries=1)
def retry_once(self, text: str) -> str:
    """Ask to be retried at once the first time, then succeed."""
    if not self.request.retries:
        raise self.retry(countdown=0)
    return text
