"""kombu's Redis transport, made to ride out a Redis restart.

When Redis goes away, a worker closes its channel and tries to put the messages it held (countdown
tasks waiting for their time, tasks not yet acknowledged) back in their queues. Redis is down, so
kombu leaves them in its ``unacked`` hash until the visibility timeout (an hour). Three changes:

- the tags it could not put back are remembered, and the next channel this process opens (on
  reconnecting) puts them back at once, atomically, as kombu would have;
- closing after Celery unlinked the transport from its connection is a connection error, not
  ``AttributeError("'NoneType' object has no attribute 'hostname'")``, which stopped the worker
  for good;
- publishing and acknowledging share one client object per connection pool instead of building
  a new ``redis.Redis`` each time (docs/workers.md, "Per-task overhead").

docs/troubleshooting.md, "Acknowledgements while Redis restarts".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import redis
from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)

TRANSPORT = f"{__name__}:Transport"

# Delivery tags this process held when its connection dropped and could not put back then.
_unrestored: set[str] = set()


# kombu-stubs leave out the internals overridden here.
_RedisChannel: Any = kombu_redis.Channel


class Channel(_RedisChannel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if _unrestored:
            self._restore_held_before()

    def _restore_held_before(self) -> None:
        tags = sorted(_unrestored)
        with self.conn_or_acquire() as client:
            for tag in tags:
                # Gone already (acknowledged, or restored by another worker): nothing to do.
                self.qos.restore_by_tag(tag, client)
                _unrestored.discard(tag)
        logger.info("Restored %d message(s) held when the broker connection dropped", len(tags))

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
    return TRANSPORT if urlsplit(broker_url).scheme in ("redis", "rediss") else None
