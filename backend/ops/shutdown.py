"""How a green-pool worker (worker-io) stops: running tasks finish, held ones go back, exit 0.

SIGTERM starts Celery's warm shutdown: the worker stops taking messages, waits for running
tasks and, as its connection closes, puts the countdown messages it held back on the queue.
This step bounds the wait: tasks still running ``CELERY_SOFT_SHUTDOWN_TIMEOUT`` seconds after
SIGTERM are requeued and cancelled, so the process exits before Compose's ``stop_grace_period``.
Why not Celery's own soft shutdown on gevent: docs/troubleshooting.md, "worker-io crashed on stop".
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps, signals
from celery.worker import state
from django.conf import settings

logger = logging.getLogger(__name__)


class GreenDrain(bootsteps.StartStopStep):
    """Worker bootstep, active on green pools only (prefork keeps Celery's soft shutdown)."""

    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.worker = worker
        self.deadline: Any = None

    def include_if(self, worker: Any) -> bool:
        return bool(getattr(worker.pool_cls, "is_green", False))

    def start(self, worker: Any) -> None:
        signals.worker_shutting_down.connect(self._on_shutting_down, weak=False)

    def stop(self, worker: Any) -> None:
        signals.worker_shutting_down.disconnect(self._on_shutting_down)

    def _on_shutting_down(self, how: str = "", **kwargs: Any) -> None:
        # Runs inside the signal handler, often in gevent's hub: schedule, never block here.
        if how != "Warm" or self.deadline is not None:
            return
        import gevent

        timeout = settings.CELERY_SOFT_SHUTDOWN_TIMEOUT
        self.deadline = gevent.spawn_later(timeout, requeue_running, self.worker, timeout)


def requeue_running(worker: Any, waited: float) -> None:
    """Put the messages of tasks still running back on their queue, then cancel the tasks.

    The message is rejected with requeue first: a cancelled greenlet reports success to Celery,
    which would otherwise acknowledge (and so drop) a message whose task never finished.
    """
    running = [r for r in tuple(state.active_requests) if not r.acknowledged]
    if not running:
        return
    logger.warning(
        "%d task(s) still running %.0f s after the stop signal; requeueing and cancelling: %s",
        len(running),
        waited,
        ", ".join(f"{r.name}[{r.id}]" for r in running),
    )
    for request in running:
        request.reject(requeue=True)
        request.cancel(worker.pool, emit_retry=False)
