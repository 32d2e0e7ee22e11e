"""Workers' and beat's series: tasks by name, queue and outcome, their run time, each process's
scrape endpoint (METRICS_PORT), and the due time stamped on every message a process sends.

Outcomes come from Celery's signals, in the process that ran the task (a prefork child; the
parent for a task killed at its hard time limit). The queue is the one the message came from
(each queue's routing key is its name), else the one the task's route gives.
"""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

from celery import signals
from django.conf import settings
from prometheus_client import Counter, Histogram

from ops.metrics.queues import stamp_due_time
from ops.metrics.registry import clear_multiprocess_dir, mark_dead, serve

RUNTIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

TASKS = Counter(
    "celery_tasks",
    "Tasks that ended, by name, queue and outcome (succeeded, failed, retried).",
    ["task", "queue", "outcome"],
)
RUNTIME = Histogram(
    "celery_task_runtime_seconds",
    "Time a task ran, by name and queue.",
    ["task", "queue"],
    buckets=RUNTIME_BUCKETS,
)

_started: dict[str, float] = {}


@cache
def _routed(name: str) -> str:
    from config.celery import app

    return str(app.amqp.router.route({}, name)["queue"].name)


def _queue(task: Any) -> str:
    delivered = getattr(task.request, "delivery_info", None) or {}
    return str(delivered.get("routing_key") or _routed(task.name))


def _task_prerun(task_id: str, **_: Any) -> None:
    _started[task_id] = time.perf_counter()


def _task_postrun(task_id: str, task: Any, **_: Any) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        RUNTIME.labels(task.name, _queue(task)).observe(time.perf_counter() - started)


def _outcome(outcome: str) -> Any:
    def count(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "name", None):
            TASKS.labels(sender.name, _queue(sender), outcome).inc()

    return count


_succeeded, _failed, _retried = _outcome("succeeded"), _outcome("failed"), _outcome("retried")


def _worker_init(**_: Any) -> None:
    clear_multiprocess_dir()


def _worker_ready(sender: Any, **_: Any) -> None:
    serve(settings.METRICS_PORT, process=f"worker {sender.hostname}")


def _child_exits(**_: Any) -> None:
    mark_dead(os.getpid())


def _beat_init(**_: Any) -> None:
    serve(settings.METRICS_PORT, process="beat")


def connect() -> None:
    """Connect the handlers (ops.apps): every process stamps what it sends; workers and beat
    count and serve when METRICS_ENABLED."""
    signals.before_task_publish.connect(stamp_due_time, weak=False)
    if not settings.METRICS_ENABLED:
        return
    signals.task_prerun.connect(_task_prerun, weak=False)
    signals.task_postrun.connect(_task_postrun, weak=False)
    signals.task_success.connect(_succeeded, weak=False)
    signals.task_failure.connect(_failed, weak=False)
    signals.task_retry.connect(_retried, weak=False)
    signals.celeryd_init.connect(_worker_init, weak=False)
    signals.worker_ready.connect(_worker_ready, weak=False)
    signals.worker_process_shutdown.connect(_child_exits, weak=False)
    signals.beat_init.connect(_beat_init, weak=False)
