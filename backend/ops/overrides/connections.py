"""How a worker uses the broker: a connection pool sized to its concurrency, and publishing that
waits out a short broker outage (and, on RabbitMQ, no publisher confirms under gevent).

kombu's Redis transport lets each process open 10 connections unless told otherwise. A gevent
worker acknowledging more messages than that at once fails with ``MaxConnectionsError``, logs
``Couldn't ack``, and the message runs again after the visibility timeout (docs/troubleshooting.md,
"Couldn't ack ... Too many connections").

What a task publishes (a retry, the wake-up of the next part) is lost if Redis is away longer
than the web's short publish retry (about 2 s), and then waits for a sweep. A worker's task can
afford to wait: inside a worker, publishing retries for about ``WORKER_PUBLISH_PATIENCE`` seconds.

Upstream reports and the versions checked: ``ops.overrides`` (UPSTREAM, CHECKED_AGAINST).
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

from config.env import is_redis_url

# Connections beyond one per task slot: consuming, publishing, remote control, events, liveness.
HEADROOM = 20
# Seconds a task's publish waits for the broker: a Redis restart, well inside a task time limit.
WORKER_PUBLISH_PATIENCE = 10
WORKER_PUBLISH_RETRY_POLICY = {
    "max_retries": WORKER_PUBLISH_PATIENCE * 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}


def broker_max_connections(concurrency: int, configured: int | None) -> int:
    """Enough for every task slot plus the worker's own, never less than configured."""
    return max(concurrency + HEADROOM, configured or 0)


class BrokerConnections(bootsteps.Step):
    """Worker bootstep, before the first connection: raise the transport's ``max_connections``
    and make publishing patient."""

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        conf = worker.app.conf
        options = dict(conf.broker_transport_options or {})
        if is_redis_url(conf.broker_url):
            options["max_connections"] = broker_max_connections(
                int(worker.concurrency), options.get("max_connections")
            )
        elif getattr(worker.pool_cls, "is_green", False):
            # py-amqp waits for a publisher confirm by reading the connection; two greenlets
            # publishing on one (a task event and the heartbeat) read each other's frames and
            # the consumer hangs. Web, beat and a prefork worker keep the confirms.
            options["confirm_publish"] = False
        conf.broker_transport_options = options
        # In place: Celery's task sender keeps a reference to this dict once it has published.
        conf.task_publish_retry_policy.update(WORKER_PUBLISH_RETRY_POLICY)
