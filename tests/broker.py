"""What a test reads from the session's broker, Redis or RabbitMQ (tests.rabbitmq): messages
waiting in a queue, those workers hold, and how to reach the broker through a relay."""

from __future__ import annotations

import json
import subprocess
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from amqp.exceptions import NotFound
from kombu import Connection

from config.env import is_redis_url
from ops.broker import queue_depth


class BrokerView:
    """What a test reads from the broker: messages waiting in a queue, and those workers hold."""

    def __init__(self, url: str, vhost: str | None) -> None:
        self.url = url
        self.is_redis = is_redis_url(url)
        self.vhost = vhost

    def waiting(self, queue: str) -> int:
        with Connection(self.url) as connection:
            return queue_depth(connection, queue)

    def held(self) -> int:
        """Messages delivered to workers and not acknowledged (Redis: kombu's ``unacked``)."""
        if self.is_redis:
            with redis.Redis.from_url(self.url) as client:
                return int(client.hlen("unacked"))
        if self.vhost is None:
            pytest.skip("counting RabbitMQ's unacknowledged messages needs rabbitmqctl")
        listed = subprocess.run(
            ["rabbitmqctl", "-q", "list_queues", "-p", self.vhost, "messages_unacknowledged"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
        return sum(int(count) for count in listed if count.isdigit())

    def waiting_task_ids(self, queue: str) -> list[str]:
        """The task ids of the messages waiting in ``queue``, in order, leaving them there."""
        if self.is_redis:
            with redis.Redis.from_url(self.url) as client:
                raw = client.lrange(queue, 0, -1)
            return [json.loads(m)["headers"]["id"] for m in reversed(raw)]
        ids = []
        with Connection(self.url) as connection:
            channel: Any = connection.channel()
            try:
                # Taken without acknowledging; closing the channel puts them all back.
                while (message := channel.basic_get(queue, no_ack=False)) is not None:
                    ids.append(message.headers["id"])
            except NotFound:
                pass
        return ids

    def forget_held(self) -> None:
        """Redis: drop kombu's record of held messages, so none comes back into the next test."""
        if self.is_redis:
            with redis.Redis.from_url(self.url) as client:
                client.delete("unacked", "unacked_index")

    def through(self, port: int) -> dict[str, str]:
        """The environment that makes a service reach the broker on ``port`` (a relay)."""
        if self.is_redis:
            return {"REDIS_PORT": str(port)}
        parts = urlsplit(self.url)
        netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
        return {"CELERY_BROKER_URL": urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))}

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (6379 if self.is_redis else 5672)
