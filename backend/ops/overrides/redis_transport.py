"""kombu's Redis transport, made to ride out a Redis restart.

When Redis goes away, a worker closes its channel and tries to put the messages it held (countdown
tasks waiting for their time, tasks not yet acknowledged) back in their queues. Redis is down, so
kombu leaves them in its ``unacked`` hash until the visibility timeout (an hour). Three changes:

- the tags it could not put back are remembered, and the next channel this process opens (on
  reconnecting) puts them back at once, atomically, as kombu would have;
- a message taken from its queue just as the connection dropped, before kombu recorded it as held
  (or with the reply to that lost), is kept in memory and put back the same way: kombu would lose
  it, or leave it in ``unacked`` for the hour;
- a socket closed under an acknowledgement by the channel closing is a connection error (a
  warning), not ``ValueError('I/O operation on closed file.')`` (an error);
- closing after Celery unlinked the transport from its connection is a connection error, not
  ``AttributeError("'NoneType' object has no attribute 'hostname'")``, which stopped the worker
  for good;
- publishing and acknowledging share one client object per connection pool instead of building
  a new ``redis.Redis`` each time (docs/workers.md, "Per-task overhead").

docs/troubleshooting.md, "Acknowledgements while Redis restarts".

Upstream reports and the versions checked: ``ops.overrides`` (UPSTREAM, CHECKED_AGAINST).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from config.env import is_redis_url

logger = logging.getLogger(__name__)

TRANSPORT = f"{__name__}:Transport"

# Delivery tags this process held when its connection dropped and could not put back then.
_unrestored: set[str] = set()
# Messages taken from their queue as the connection dropped, not known to be recorded as held:
# delivery tag -> (message, exchange, routing key).
_untracked: dict[str, tuple[dict[str, Any], str, str]] = {}


@contextmanager
def _closed_socket_is_a_connection_error() -> Iterator[None]:
    """kombu drops a channel's pools when its connection is lost, closing sockets other greenlets
    are reading: redis-py then raises ``ValueError``/``OSError``, which kombu and Celery do not
    count as a connection error."""
    try:
        yield
    except ValueError as exc:
        if "closed file" not in str(exc):
            raise
        raise redis.ConnectionError(f"the connection was closed while in use ({exc})") from exc
    except OSError as exc:
        raise redis.ConnectionError(f"the connection was closed while in use ({exc})") from exc


# kombu-stubs leave out the internals overridden here.
_RedisQoS: Any = kombu_redis.QoS
_RedisChannel: Any = kombu_redis.Channel


class QoS(_RedisQoS):
    def append(self, message: Any, delivery_tag: str) -> None:
        try:
            with _closed_socket_is_a_connection_error():
                super().append(message, delivery_tag)
        except self.channel.connection_errors:
            # Popped from its queue; Redis may or may not have recorded it as held.
            delivery = message.delivery_info
            _untracked[delivery_tag] = (
                message._raw,
                delivery["exchange"],
                delivery["routing_key"],
            )
            raise

    def ack(self, delivery_tag: str) -> None:
        with _closed_socket_is_a_connection_error():
            super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        with _closed_socket_is_a_connection_error():
            super().reject(delivery_tag, requeue=requeue)


class Channel(_RedisChannel):
    QoS = QoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if _unrestored or _untracked:
            self._restore_held_before()

    def _restore_held_before(self) -> None:
        # Taken whole before any I/O, so channels opened meanwhile (other greenlets) skip them.
        held, untracked = sorted(_unrestored), dict(_untracked)
        _unrestored.clear()
        _untracked.clear()
        count = len(held) + len(untracked)
        try:
            with self.conn_or_acquire() as client:
                while held:
                    # Gone already (acknowledged, or restored by another worker): nothing to do.
                    self.qos.restore_by_tag(held[0], client)
                    held.pop(0)
                while untracked:
                    tag = next(iter(untracked))
                    self._put_back(tag, untracked[tag], client)
                    del untracked[tag]
        except self.connection_errors:
            _unrestored.update(held)
            _untracked.update(untracked)
            raise
        logger.info("Restored %d message(s) held when the broker connection dropped", count)

    def _put_back(self, tag: str, taken: tuple[dict[str, Any], str, str], client: Any) -> None:
        """kombu's ``restore_by_tag``, with the message itself when Redis has no record of it."""

        def restore_transaction(pipe: Any) -> None:
            recorded = pipe.hget(self.unacked_key, tag)
            pipe.multi()
            self.qos._remove_from_indices(tag, pipe)
            payload, exchange, routing_key = loads(bytes_to_str(recorded)) if recorded else taken
            self._do_restore_message(payload, exchange, routing_key, pipe)

        client.transaction(restore_transaction, self.unacked_key)

    def close(self) -> None:
        qos = self._qos
        held = [t for t in qos._delivered if t not in qos._dirty] if qos is not None else []
        try:
            super().close()
        except self.connection_errors:
            _unrestored.update(held)
            raise

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """kombu builds a new ``redis.Redis`` for every publish (its ~170 response callbacks
        each time: a fifth of a task publish's CPU). The client only wraps the channel's
        connection pool and is thread-safe, so one per pool is kept and reused."""
        if client:
            yield client
            return
        pool = self.pool
        cached = self.__dict__.get("_sync_client")
        if cached is None or cached.connection_pool is not pool:
            cached = self._create_client()
            self.__dict__["_sync_client"] = cached
        yield cached

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise redis.ConnectionError("the broker connection was closed")
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """This transport for a Redis broker URL; kombu's choice (from the scheme) for any other."""
    return TRANSPORT if is_redis_url(broker_url) else None
