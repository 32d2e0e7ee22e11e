"""How many messages wait in the queue a task routes to: the sweeps wait while work is queued."""

from __future__ import annotations

from typing import Any

from ops.broker import queue_depth


def messages_waiting(task: Any) -> int:
    """Messages waiting in the queue ``task`` routes to (not those workers hold)."""
    queue = task.app.amqp.router.route({}, task.name)["queue"].name
    with task.app.connection_for_read() as connection:
        return queue_depth(connection, queue)
