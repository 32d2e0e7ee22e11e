"""What the core asks of the broker, Redis or RabbitMQ alike: does it answer, and how many
messages wait in a queue (docs/rabbitmq.md).

Redis is pinged directly. RabbitMQ is asked through kombu's own AMQP channel: a round trip
(``basic.qos``) for the ping, a passive ``queue.declare`` for a queue's depth, which answers with
the count of ready messages and never creates or changes a queue.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from amqp.exceptions import NotFound
from kombu import Connection

from config.env import is_redis_url


class BrokerUnreachable(Exception):
    """The broker did not answer in time; the original error is the cause."""


class BrokerPing:
    """Pings the broker on a connection of its own, kept between pings, within ``timeout``."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._redis: redis.Redis | None = None
        self._amqp: Connection | None = None
        # web's threads share one instance; an AMQP connection is not thread-safe.
        self._lock = threading.Lock()

    def __call__(self) -> None:
        """Return once the broker answered; raise ``BrokerUnreachable`` otherwise."""
        if is_redis_url(self.url):
            if self._redis is None:
                self._redis = redis.Redis.from_url(
                    self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
                )
            try:
                self._redis.ping()
            except redis.RedisError as exc:
                raise BrokerUnreachable(str(exc)) from exc
            return
        with self._lock:
            try:
                self._amqp_round_trip()
            except Exception as exc:
                # A timed-out frame leaves the connection unusable: the next ping opens another.
                self._close_amqp()
                raise BrokerUnreachable(f"{exc.__class__.__name__}: {exc}") from exc

    def _amqp_round_trip(self) -> None:
        if self._amqp is None:
            self._amqp = Connection(self.url, connect_timeout=self.timeout)
        # One attempt within connect_timeout: `.connection` alone would retry after 2 s.
        self._amqp.ensure_connection(max_retries=0)
        connection: Any = self._amqp.connection
        # A socket timeout py-amqp honours under gevent too (SO_RCVTIMEO is not seen there).
        channel: Any = self._amqp.default_channel
        with connection.transport.having_timeout(self.timeout):
            channel.basic_qos(0, 0, False)

    def _close_amqp(self) -> None:
        amqp, self._amqp = self._amqp, None
        if amqp is not None:
            amqp.collect()

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        with self._lock:
            if self._amqp is not None:
                self._amqp.release()
                self._amqp = None


def queue_depth(connection: Connection, queue: str) -> int:
    """Messages ready in ``queue`` (not those workers hold), on either broker."""
    if connection.transport.driver_type == "redis":
        # kombu's Redis channel answers a declare with the length of the queue's list.
        default: Any = connection.default_channel
        return int(default.queue_declare(queue=queue).message_count)
    # A channel of its own: RabbitMQ closes it when the queue does not exist (yet).
    channel: Any
    with connection.channel() as channel:
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except NotFound:
            return 0
