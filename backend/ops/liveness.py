"""Liveness signals for container healthchecks and the doctor.

A worker touches ``CELERY_LIVENESS_FILE`` only while it is really consuming: the touch runs inside
the consumer's own event loop, after the broker answered a ping, with at least one queue being
consumed. A lost connection, a consumer stuck reconnecting or a wedged loop all stop the touches,
and the healthcheck turns the container unhealthy. Each such check also records the node's
time in Redis (``OPS_REDIS_URL``), where web's metrics see which worker services consume. Beat
touches the same kind of file and records its own timestamp there, for the doctor and the metrics.
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

from ops.broker import BrokerPing, BrokerUnreachable

logger = logging.getLogger(__name__)

BEAT_ALIVE_KEY = "ops:beat:alive"
BEAT_ALIVE_TTL = 120
# node name -> the time it last proved it consumes; a stopping worker removes its own.
WORKERS_ALIVE_KEY = "ops:workers:alive"
# The broker must answer the liveness ping within this many seconds.
PING_TIMEOUT = 2.0


def touch(path: str) -> None:
    Path(path).touch()


def worker_heartbeat_fresh(at: float, now: float) -> bool:
    """A node whose last check is within three intervals (and a little) is consuming."""
    return now - at < 3 * settings.CELERY_LIVENESS_INTERVAL + 5


class ConsumerLiveness(bootsteps.StartStopStep):
    """Consumer bootstep: every ``CELERY_LIVENESS_INTERVAL`` s, asks the consumer's loop to prove
    it is consuming, and touches the file and records the node's heartbeat when it does.

    Consumer steps start on every (re)connection and stop when the connection is lost, so
    nothing is touched while the worker reconnects.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self.path = settings.CELERY_LIVENESS_FILE
        self.tref: Any = None
        self._pending = False
        self._ping: BrokerPing | None = None
        self._redis: redis.Redis | None = None

    def start(self, c: Any) -> None:
        # The timer only asks; the check itself runs in the consumer's loop (call_soon), so a
        # loop that no longer turns never touches the file. One request at a time: checks must
        # not pile up while the broker is silent.
        self._pending = False
        self.tref = c.timer.call_repeatedly(settings.CELERY_LIVENESS_INTERVAL, self._ask, (c,))
        self._ask(c)

    def _ask(self, c: Any) -> None:
        if not self._pending:
            self._pending = True
            c.call_soon(self.check, c)

    def check(self, c: Any) -> bool:
        # Runs inside the consumer's loop, where an exception would count as a lost connection.
        self._pending = False
        try:
            consuming = c.task_consumer is not None and bool(c.task_consumer.queues)
            if not consuming or not self._broker_answers(c):
                return False
            if self.path:
                touch(self.path)
            self._heartbeat(c.hostname)
        except Exception:
            logger.exception("liveness: could not record that the worker is consuming")
            return False
        return True

    def _broker_answers(self, c: Any) -> bool:
        if self._ping is None:
            self._ping = BrokerPing(c.app.conf.broker_url, timeout=PING_TIMEOUT)
        try:
            self._ping()
        except BrokerUnreachable as exc:
            logger.warning("liveness: the broker did not answer a ping: %s", exc)
            return False
        return True

    def _heartbeat(self, node: str) -> None:
        try:
            self.redis.hset(WORKERS_ALIVE_KEY, node, time.time())
        except redis.RedisError as exc:
            logger.warning("liveness: could not record the heartbeat in Redis: %s", exc)

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis.Redis.from_url(
                settings.OPS_REDIS_URL,
                socket_timeout=PING_TIMEOUT,
                socket_connect_timeout=PING_TIMEOUT,
            )
        return self._redis

    def stop(self, c: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def shutdown(self, c: Any) -> None:
        # Errors here would stop the consumer's shutdown before its connection closes.
        self.stop(c)
        try:
            if self.path:
                # Removed on the way out, so a stopped worker is never reported alive.
                Path(self.path).unlink(missing_ok=True)
            self.redis.hdel(WORKERS_ALIVE_KEY, c.hostname)
        except redis.RedisError as exc:
            logger.warning("liveness: could not remove the heartbeat from Redis: %s", exc)
        except Exception:
            logger.exception("liveness: could not clean up")
        try:
            if self._ping is not None:
                self._ping.close()
        except Exception:
            logger.exception("liveness: could not clean up")


class HeartbeatScheduler(PersistentScheduler):
    """Beat's scheduler, reporting on every wake-up (at most every ``CELERY_LIVENESS_INTERVAL``)."""

    _last_report = 0.0
    _redis: redis.Redis | None = None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        self.heartbeat(sending=True)
        interval: float = super().tick(*args, **kwargs)
        return interval

    def heartbeat(self, *, sending: bool) -> None:
        """Touch the liveness file; a beat that sends also records it in Redis for the doctor."""
        now = time.monotonic()
        if now - self._last_report < settings.CELERY_LIVENESS_INTERVAL:
            return
        self._last_report = now
        if settings.CELERY_LIVENESS_FILE:
            touch(settings.CELERY_LIVENESS_FILE)
        if not sending:
            return
        try:
            self.redis.set(BEAT_ALIVE_KEY, time.time(), ex=BEAT_ALIVE_TTL)
        except redis.RedisError as exc:
            logger.warning("beat could not record its heartbeat in Redis: %s", exc)

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            # One client for beat's lifetime: its pool keeps the connection between calls.
            self._redis = redis.Redis.from_url(settings.OPS_REDIS_URL, socket_timeout=2)
        return self._redis
