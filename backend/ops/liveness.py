"""Cheap liveness signals for container healthchecks and the doctor.

Workers touch ``CELERY_LIVENESS_FILE`` from their own timer: on the gevent pool that timer runs in
the hub, so a greenlet hogging the CPU stops the touches and the healthcheck fails, which is
exactly when the worker should be restarted. Beat touches the same kind of file and also records
a timestamp in Redis so the doctor can see it from another container.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import redis
from celery import bootsteps
from celery.beat import PersistentScheduler
from django.conf import settings

logger = logging.getLogger(__name__)

BEAT_ALIVE_KEY = "ops:beat:alive"
BEAT_ALIVE_TTL = 120


def touch(path: str) -> None:
    Path(path).touch()


class LivenessFile(bootsteps.StartStopStep):
    """Worker bootstep touching the liveness file every ``CELERY_LIVENESS_INTERVAL`` seconds."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.path = settings.CELERY_LIVENESS_FILE
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        if not self.path:
            return
        touch(self.path)
        interval = settings.CELERY_LIVENESS_INTERVAL
        self.tref = worker.timer.call_repeatedly(interval, touch, (self.path,))

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if self.path:
            Path(self.path).unlink(missing_ok=True)

    def terminate(self, worker: Any) -> None:
        # A cold or soft shutdown (SIGTERM remapped to SIGQUIT) terminates steps, not stops them.
        self.stop(worker)


class HeartbeatScheduler(PersistentScheduler):
    """Beat's scheduler, reporting on every wake-up (at most every ``CELERY_LIVENESS_INTERVAL``)."""

    _last_report = 0.0
    _redis: redis.Redis | None = None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now - self._last_report >= settings.CELERY_LIVENESS_INTERVAL:
            self._last_report = now
            self._report_alive()
        interval: float = super().tick(*args, **kwargs)
        return interval

    def _report_alive(self) -> None:
        if settings.CELERY_LIVENESS_FILE:
            touch(settings.CELERY_LIVENESS_FILE)
        if self._redis is None:
            # One client for beat's lifetime: its pool keeps the connection between reports.
            self._redis = redis.Redis.from_url(self.app.conf.broker_url, socket_timeout=2)
        try:
            self._redis.set(BEAT_ALIVE_KEY, time.time(), ex=BEAT_ALIVE_TTL)
        except redis.RedisError as exc:
            logger.warning("beat could not record its heartbeat in Redis: %s", exc)
