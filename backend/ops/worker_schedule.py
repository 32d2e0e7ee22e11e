"""Periodic tasks that workers run by themselves, so recovery never depends on beat.

An app lists them in ``schedules.WORKER_SCHEDULE``, in beat's entry shape (``config.periodic``;
``config.discovery`` finds them). Every worker runs, on the entry's interval and in its own pool,
the entries whose task routes to a queue it consumes: not through the queue, so a backlog cannot
delay them. Each also runs at every (re)connection, with the entry's ``on_connect`` keyword
arguments if it has any: a worker that just (re)started may have lost what it held. With several
workers each runs its own, so such a task must be cheap and idempotent, as a sweep is. Why:
docs/architecture.md, "Recovery without beat".
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps, current_app
from django.conf import settings
from django.db import connections

from config.discovery import worker_schedule
from config.periodic import interval_seconds

logger = logging.getLogger(__name__)


def run(task: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Run a registered task's body here and now (in a pool slot: a greenlet or a child)."""
    try:
        current_app.tasks[task](*args, **kwargs)
    except Exception:
        logger.exception("worker schedule: %s failed", task)
    finally:
        # What Celery's Django fixup does after a task: this slot's connections go back.
        connections.close_all()


def _ran(result: object) -> None:
    """The pool reports every result to a callback; ``run`` has logged what mattered."""


class WorkerSchedule(bootsteps.StartStopStep):
    """Consumer bootstep: runs while connected, like every consumer step, so nothing runs while
    the broker is away; each entry runs once at every (re)connection, then on its interval."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self.trefs: list[Any] = []

    def start(self, c: Any) -> None:
        consumed = set(c.app.amqp.queues.consume_from or c.app.amqp.queues)
        for entry in worker_schedule(settings.INSTALLED_APPS).values():
            if c.app.amqp.router.route({}, entry["task"])["queue"].name not in consumed:
                continue
            task, args = entry["task"], tuple(entry.get("args", ()))
            every = interval_seconds(entry["schedule"])
            if every is None or every <= 0:
                logger.error("worker schedule: %s has no interval > 0 (ops.E013)", task)
                continue
            repeat = (self.apply, c, task, args, entry.get("kwargs", {}))
            self.trefs.append(c.timer.call_repeatedly(every, c.call_soon, repeat))
            on_connect = {**entry.get("kwargs", {}), **entry.get("on_connect", {})}
            c.call_soon(self.apply, c, task, args, on_connect)

    def apply(self, c: Any, task: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # Runs in the consumer's loop, where an exception would count as a lost connection.
        try:
            c.pool.apply_async(run, args=(task, args, kwargs), callback=_ran)
        except Exception:
            logger.exception("worker schedule: could not start %s", task)

    def stop(self, c: Any) -> None:
        for tref in self.trefs:
            tref.cancel()
        self.trefs = []

    def shutdown(self, c: Any) -> None:
        self.stop(c)
