"""A worker's broker connection pool, sized to its concurrency.

kombu's Redis transport lets each process open 10 connections unless told otherwise. A gevent
worker acknowledging more messages than that at once fails with ``MaxConnectionsError``, logs
``Couldn't ack``, and the message runs again after the visibility timeout (docs/troubleshooting.md,
"Couldn't ack ... Too many connections").
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

# Connections beyond one per task slot: consuming, publishing, remote control, events, liveness.
HEADROOM = 20


def broker_max_connections(concurrency: int, configured: int | None) -> int:
    """Enough for every task slot plus the worker's own, never less than configured."""
    return max(concurrency + HEADROOM, configured or 0)


class BrokerConnections(bootsteps.Step):
    """Worker bootstep: raise the transport's ``max_connections`` before the first connection."""

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        conf = worker.app.conf
        options = dict(conf.broker_transport_options or {})
        options["max_connections"] = broker_max_connections(
            int(worker.concurrency), options.get("max_connections")
        )
        conf.broker_transport_options = options
