"""How a green-pool worker (worker-io) stops: running tasks finish, held ones go back, exit 0.

The first stop signal (SIGTERM, SIGINT or SIGQUIT) is Celery's warm shutdown: the worker stops
taking messages, waits for running tasks and, as its connection closes, puts the countdown
messages it held back on the queue. This step bounds the wait: tasks that acknowledge late and
still run ``CELERY_SOFT_SHUTDOWN_TIMEOUT`` seconds later are requeued, then cancelled; a second
signal does that at once. The handlers never block, because on gevent they often run in the hub.
Why Celery's own soft shutdown is not used here: docs/troubleshooting.md, "worker-io crashed on
stop".

Upstream reports and the versions checked: ``ops.overrides`` (UPSTREAM, CHECKED_AGAINST).
"""

from __future__ import annotations

import logging
import sys
import time
from types import FrameType
from typing import Any

from celery import bootsteps, platforms, signals
from celery.worker import state
from django.conf import settings

logger = logging.getLogger(__name__)

STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT")
# Longest wait for the consumer to stop taking messages before requeueing (seconds).
CONSUMER_STOP_WAIT = 5.0


class GreenDrain(bootsteps.StartStopStep):
    """Worker bootstep, active on green pools only (prefork keeps Celery's soft shutdown)."""

    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.worker = worker
        self.signalled_at: float | None = None

    def include_if(self, worker: Any) -> bool:
        return bool(getattr(worker.pool_cls, "is_green", False))

    def start(self, worker: Any) -> None:
        # Celery installed its handlers before the steps start; these replace them.
        for name in STOP_SIGNALS:
            platforms.signals[name] = self.on_signal

    def stop(self, worker: Any) -> None:
        # Also reached without a signal (the `shutdown` remote-control command), just before
        # the pool waits for its tasks.
        self._arm_deadline()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signalled_at is None:
            name = platforms.signal_name(signum)
            _say(
                f"worker: Warm shutdown (MainProcess) on SIG{name}: running tasks get "
                f"{settings.CELERY_SOFT_SHUTDOWN_TIMEOUT:g} s; signal again to requeue them now"
            )
            signals.worker_shutting_down.send(
                sender=self.worker.hostname, sig=name, how="Warm", exitcode=0
            )
            self._arm_deadline()
            # What Celery's warm-shutdown handler sets (the stubs type it as None): the consumer
            # loop stops at its next turn.
            state.should_stop = 0  # type: ignore[assignment]
        else:
            _say("worker: requeueing running tasks now")
            import gevent

            gevent.spawn(requeue_running, self.worker, time.monotonic() - self.signalled_at)

    def _arm_deadline(self) -> None:
        if self.signalled_at is not None:
            return
        import gevent

        self.signalled_at = time.monotonic()
        timeout = settings.CELERY_SOFT_SHUTDOWN_TIMEOUT
        gevent.spawn_later(timeout, requeue_running, self.worker, timeout)


def _say(message: str) -> None:
    # Like Celery's own shutdown messages: straight to stdout, no logging locks in a handler.
    print(message, file=sys.__stdout__, flush=True)


def requeue_running(worker: Any, waited: float) -> None:
    """Put the messages of tasks still running back on their queue, then cancel the tasks.

    The message is rejected with requeue first: a cancelled greenlet reports success to Celery,
    which would otherwise acknowledge (and so drop) a message whose task never finished. Tasks
    that acknowledged early (``acks_late=False``) are left to finish: their message is gone.
    """
    running = [r for r in tuple(state.active_requests) if not r.acknowledged]
    if not running:
        return
    # The consumer loop notices the stop flag within one poll (2 s); until it has cancelled its
    # consumer, a requeued message could be taken again by this very worker.
    worker.consumer.blueprint.shutdown_complete.wait(timeout=CONSUMER_STOP_WAIT)
    logger.warning(
        "%d task(s) still running %.0f s after the stop signal; requeueing and cancelling: %s",
        len(running),
        waited,
        ", ".join(f"{r.name}[{r.id}]" for r in running),
    )
    for request in running:
        try:
            request.reject(requeue=True)
            request.cancel(worker.pool, emit_retry=False)
        except Exception:
            logger.exception("could not requeue %s[%s]", request.name, request.id)
