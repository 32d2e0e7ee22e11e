"""Loaded into a test worker with ``stack.ensure(..., include="tests.task_runs")``: every task the
worker starts is recorded in Redis (name, arguments, when), so a test counts the runs of each
periodic task where they happen, at the worker."""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from celery.signals import task_prerun, worker_init

RUNS_KEY = "tests:task-runs"


@worker_init.connect
def start_recording(**_: Any) -> None:
    """In the worker only (prefork children inherit it), not in the test process reading."""
    task_prerun.connect(record)


def record(task: Any, args: Any = (), kwargs: Any = None, **_: Any) -> None:
    run = {"task": task.name, "args": list(args or ()), "kwargs": kwargs or {}, "at": time.time()}
    with redis.Redis.from_url(task.app.conf.broker_url, socket_timeout=5) as client:
        client.rpush(RUNS_KEY, json.dumps(run))


def runs(broker_url: str) -> list[dict[str, Any]]:
    with redis.Redis.from_url(broker_url) as client:
        return [json.loads(raw) for raw in client.lrange(RUNS_KEY, 0, -1)]


def forget(broker_url: str) -> None:
    with redis.Redis.from_url(broker_url) as client:
        client.delete(RUNS_KEY)
