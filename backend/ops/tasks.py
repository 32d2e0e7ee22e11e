"""Operational tasks: the doctor's probe and beat's canary, answered by whichever worker consumes
the queue they are sent to."""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import shared_task
from django.conf import settings

CANARY_KEY = "ops:canary"


@shared_task(bind=True, ignore_result=False, acks_late=False, soft_time_limit=25, time_limit=30)
def probe(self: Any) -> dict[str, str]:
    """Report which node ran this; the doctor sends one to each queue with ``queue=``."""
    return {"hostname": self.request.hostname}


@shared_task(bind=True, acks_late=False, soft_time_limit=25, time_limit=30)
def canary(self: Any, queue: str) -> None:
    """Beat sends one to every queue; the doctor reads when each last came through, and where."""
    with redis.Redis.from_url(settings.OPS_REDIS_URL, socket_timeout=5) as client:
        client.hset(CANARY_KEY, queue, f"{time.time()} {self.request.hostname}")
