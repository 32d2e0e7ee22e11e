"""One shape for a periodic task, whoever runs it: beat (an app's ``schedules.BEAT_SCHEDULE``)
or every worker by itself (``schedules.WORKER_SCHEDULE``, ops.worker_schedule).

It is Celery's beat entry: the same keys whoever runs it, checked per runner by ``ops.checks``,
which refuses a key that runner would not read (ops.E023). Workers repeat an entry on an interval
(no crontab: ops.E013), never through a queue (no ``options``), and also run it at every
(re)connection, its ``on_connect`` keyword arguments over its ``kwargs``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Required, TypedDict

from celery.schedules import crontab, schedule


class PeriodicTask(TypedDict, total=False):
    task: Required[str]
    schedule: Required[float | timedelta | crontab | schedule]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    # Beat only: Celery's ``relative`` (an interval not rounded to its own resolution).
    relative: bool
    # Beat only: the send's options (``expires``, ``queue``, ...).
    options: dict[str, Any]
    # Workers only: the keyword arguments of the run at every (re)connection.
    on_connect: dict[str, Any]


# The keys each runner reads (beat's are celery.beat.ScheduleEntry's).
BEAT_KEYS = frozenset({"task", "schedule", "args", "kwargs", "options", "relative"})
WORKER_KEYS = frozenset({"task", "schedule", "args", "kwargs", "on_connect"})


def interval_seconds(value: Any) -> float | None:
    """The seconds between runs of an interval schedule (a number, a timedelta or Celery's
    ``schedule``); None for a crontab or anything else, which has no single interval."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if type(value) is schedule:
        return float(value.seconds)
    return None
