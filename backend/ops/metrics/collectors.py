"""What web's ``/metrics`` reads at each scrape: queues, workers, beat and the services the
processes depend on. One web process answers for the whole deployment (rules take the ``max``
across web replicas). Each reading is bounded by a short timeout; one that fails drops its own
series and logs, never the scrape.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db import connection as database
from prometheus_client.core import GaugeMetricFamily, Metric

from config.env import is_redis_url
from config.queues import Queue
from config.topology import WORKERS, consumed_queues
from ops.broker import BrokerPing, BrokerUnreachable
from ops.liveness import BEAT_ALIVE_KEY, WORKERS_ALIVE_KEY, worker_heartbeat_fresh
from ops.metrics.queues import queue_read

logger = logging.getLogger(__name__)

TIMEOUT = 2
# Heartbeats older than this are forgotten (a node renamed or scaled in long ago).
FORGET_AFTER = 86400


def queues() -> list[str]:
    """The declared queues and every queue a worker consumes (a user's own included)."""
    return sorted({str(queue) for queue in Queue} | consumed_queues())


class CoreCollector:
    def __init__(self) -> None:
        self._broker_ping = BrokerPing(settings.CELERY_BROKER_URL, timeout=TIMEOUT)

    def collect(self) -> Iterator[Metric]:
        for read in (self._queues, self._workers, self._dependencies):
            try:
                yield from read()
            except Exception as exc:
                # An outage the dependency series already shows: a line, not a traceback.
                logger.warning("metrics: %s could not be read: %r", read.__name__.strip("_"), exc)

    def _queues(self) -> Iterator[Metric]:
        from config.celery import app

        length = GaugeMetricFamily(
            "celery_queue_length", "Messages waiting in the queue.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "celery_queue_oldest_age_seconds",
            "How long the oldest waiting message has been due.",
            labels=["queue"],
        )
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=TIMEOUT)
            for queue in queues():
                reading = queue_read(connection, queue, timeout=TIMEOUT)
                length.add_metric([queue], reading.length)
                if reading.oldest_age is not None:
                    age.add_metric([queue], reading.oldest_age)
        yield length
        yield age

    def _workers(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "celery_worker_up",
            "1 while at least one node of the worker service consumes (its heartbeat is fresh).",
            labels=["worker"],
        )
        nodes = GaugeMetricFamily(
            "celery_worker_nodes", "Nodes of the worker service consuming.", labels=["worker"]
        )
        beat = GaugeMetricFamily(
            "celery_beat_heartbeat_age_seconds",
            "Seconds since beat last reported (+Inf: not in the last two minutes).",
        )
        now = time.time()
        with redis.Redis.from_url(settings.OPS_REDIS_URL, socket_timeout=TIMEOUT) as client:
            seen = {
                node.decode(): float(at) for node, at in client.hgetall(WORKERS_ALIVE_KEY).items()
            }
            forgotten = [node for node, at in seen.items() if now - at > FORGET_AFTER]
            if forgotten:
                client.hdel(WORKERS_ALIVE_KEY, *forgotten)
            beat_at = client.get(BEAT_ALIVE_KEY)
        for worker in WORKERS:
            fresh = sum(
                1
                for node, at in seen.items()
                if node.startswith(f"{worker.node}@") and worker_heartbeat_fresh(at, now)
            )
            up.add_metric([worker.service], 1 if fresh else 0)
            nodes.add_metric([worker.service], fresh)
        beat.add_metric([], now - float(beat_at) if beat_at is not None else math.inf)
        yield up
        yield nodes
        yield beat

    def _dependencies(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "ops_dependency_up",
            "1 when the service answers web within two seconds.",
            labels=["dependency"],
        )
        family.add_metric(["database"], self._database_answers())
        family.add_metric(["redis"], self._redis_answers())
        if not is_redis_url(settings.CELERY_BROKER_URL):
            family.add_metric(["broker"], self._broker_answers())
        yield family

    @staticmethod
    def _database_answers() -> int:
        try:
            with database.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:
            logger.warning("metrics: the database did not answer: %s", exc)
            return 0
        return 1

    @staticmethod
    def _redis_answers() -> int:
        try:
            with redis.Redis.from_url(
                settings.OPS_REDIS_URL, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
            ) as client:
                client.ping()
        except redis.RedisError as exc:
            logger.warning("metrics: Redis did not answer: %s", exc)
            return 0
        return 1

    def _broker_answers(self) -> int:
        try:
            self._broker_ping()
        except BrokerUnreachable as exc:
            logger.warning("metrics: the broker did not answer: %s", exc)
            return 0
        return 1
