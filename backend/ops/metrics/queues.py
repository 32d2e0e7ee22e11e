"""How many messages wait in a queue and how long the oldest has waited, on Redis or RabbitMQ.

Every task message carries the time it became due in its ``timestamp`` property (now, or its
countdown's end: ``stamp_due_time``), so a countdown waiting for its time is not counted as late.
Redis: the tail of each of the queue's priority lists holds its oldest messages; the oldest
``OLDEST_READ`` of each are read, so a countdown not yet due at the tail does not hide a due
message behind it. RabbitMQ: the management API's ``head_message_timestamp``
(RABBITMQ_MANAGEMENT_URL); without it, no age.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests
from django.conf import settings
from kombu import Connection

from ops.broker import queue_depth

OLDEST_READ = 20


@dataclass(frozen=True)
class QueueReading:
    length: int
    oldest_age: float | None  # seconds; None when the broker cannot tell


def stamp_due_time(headers: dict[str, Any], properties: dict[str, Any], **_: Any) -> None:
    """``before_task_publish``: the time the message becomes due, in whole seconds (AMQP's
    timestamp is an integer)."""
    due = time.time()
    eta = headers.get("eta")
    if eta:
        due = max(due, datetime.fromisoformat(eta).timestamp())
    properties["timestamp"] = int(due)


def queue_read(connection: Connection, queue: str, *, timeout: float) -> QueueReading:
    """``queue``'s length and oldest age on the broker ``connection`` reaches."""
    if connection.transport.driver_type == "redis":
        return read_redis(connection, queue)
    return read_rabbitmq(
        connection, queue, management_url=settings.RABBITMQ_MANAGEMENT_URL, timeout=timeout
    )


def _age(stamp: Any, now: float) -> float | None:
    return max(0.0, now - float(stamp)) if isinstance(stamp, int | float) else None


def read_redis(connection: Connection, queue: str) -> QueueReading:
    channel: Any = connection.default_channel
    keys = [channel._q_for_pri(queue, priority) for priority in channel.priority_steps]
    pipe = channel.client.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
        pipe.lrange(key, -OLDEST_READ, -1)
    replies = pipe.execute()
    now = time.time()
    oldest = [
        json.loads(raw).get("properties", {}).get("timestamp")
        for tail in replies[1::2]
        for raw in tail
    ]
    ages = [age for age in (_age(stamp, now) for stamp in oldest) if age is not None]
    if ages:
        return QueueReading(sum(replies[0::2]), max(ages))
    # Nothing waits, or only messages sent before they carried their due time.
    return QueueReading(sum(replies[0::2]), None if oldest else 0.0)


def read_rabbitmq(
    connection: Connection, queue: str, *, management_url: str | None, timeout: float
) -> QueueReading:
    length = queue_depth(connection, queue)
    if not management_url:
        return QueueReading(length, None)
    if length == 0:
        return QueueReading(0, 0.0)
    vhost = quote(connection.virtual_host or "/", safe="")
    # The credentials go as auth, never in the URL: requests names the URL in its errors, which
    # are logged.
    parts = urlsplit(management_url)
    port = f":{parts.port}" if parts.port else ""
    base = f"{parts.scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}"
    auth = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
    answer = requests.get(
        f"{base}/api/queues/{vhost}/{quote(queue, safe='')}", auth=auth, timeout=timeout
    )
    answer.raise_for_status()
    return QueueReading(length, _age(answer.json().get("head_message_timestamp"), time.time()))
