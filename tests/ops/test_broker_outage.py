"""A broker connection lost while a worker holds messages, on a real Redis: acknowledging
warns and says why (no CRITICAL), closing does not crash the worker, and the messages stay in
Redis to come back."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from kombu import Connection
from kombu.exceptions import OperationalError

from config.celery import app
from devstack.redis_server import PrivateRedis
from ops.overrides.connections import WORKER_PUBLISH_RETRY_POLICY
from ops.overrides.redis_transport import Transport, transport_for
from ops.overrides.requests import BrokerAwareRequest
from ops.tasks import probe


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis of this test's own: it is stopped on purpose."""
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def publish_probe(connection: Connection, **options: Any) -> None:
    """``ops.tasks.probe`` to ``io`` through this connection (kombu-stubs lack ``connection``)."""
    probe.apply_async(queue="io", connection=connection, **options)  # type: ignore[call-arg]


def held_message(connection: Connection) -> Any:
    """The next ``io`` message, fetched as a worker does: held until acknowledged."""
    channel: Any = connection.default_channel
    return channel.basic_get("io", no_ack=False)


def received(broker: PrivateRedis) -> tuple[Connection, BrokerAwareRequest]:
    """A probe message published to ``io`` and fetched as a worker would (held, not acked)."""
    url = f"redis://127.0.0.1:{broker.port}/0"
    connection = Connection(url, transport=transport_for(url))
    publish_probe(connection)
    message = held_message(connection)
    assert message is not None
    request = BrokerAwareRequest(
        message,
        on_ack=message.ack_log_error,
        on_reject=message.reject_log_error,
        app=cast(Any, app),
        connection_errors=connection.connection_errors,
    )
    return connection, request


def held(broker: PrivateRedis) -> int:
    return int(broker.client().hlen("unacked"))


def logged(caplog) -> list[str]:
    return [r.levelname for r in caplog.records if r.name == "ops.overrides.requests"]


@pytest.mark.parametrize("settle", ["acknowledge", "reject"])
def test_settling_while_redis_is_down_warns_and_the_message_stays(broker, caplog, settle):
    connection, request = received(broker)
    assert held(broker) == 1
    broker.stop()
    try:
        with caplog.at_level(logging.INFO):
            getattr(request, settle)()
    finally:
        broker.start()
        connection.release()
    assert request.acknowledged
    assert logged(caplog) == ["WARNING"]
    assert "not acknowledged (broker unreachable" in caplog.text
    assert "Couldn't" not in caplog.text
    # (AOF on, as in Compose: the message survived the restart, held or back in its queue)
    assert held(broker) + int(broker.client().llen("io")) == 1


def test_acknowledging_normally_removes_the_message(broker, caplog):
    connection, request = received(broker)
    with caplog.at_level(logging.INFO):
        request.acknowledge()
    connection.release()
    assert held(broker) == 0
    assert logged(caplog) == []


def test_closing_after_the_transport_was_unlinked_is_a_connection_error_not_a_crash(broker):
    # What Celery does when the connection drops: collect (unlinks the transport), then close.
    # kombu's own transport raises AttributeError ('NoneType' … 'hostname') here, which
    # stops the worker for good.
    connection, _request = received(broker)
    assert isinstance(connection.transport, Transport)
    connection._do_close_transport()
    connection.close()
    # (the held message is still in Redis, to be delivered again)
    assert held(broker) + int(broker.client().llen("io")) == 1


def test_messages_held_when_redis_went_away_are_put_back_on_reconnecting(broker):
    # given three messages held by a worker, one of them acknowledged
    url = f"redis://127.0.0.1:{broker.port}/0"
    connection = Connection(url, transport=transport_for(url))
    for _ in range(3):
        publish_probe(connection)
    messages = [held_message(connection) for _ in range(3)]
    messages[0].ack()
    # when Redis goes away (the worker cannot put them back as it closes) and returns
    broker.stop()
    connection.close()
    broker.start()
    assert (held(broker), broker.client().llen("io")) == (2, 0)
    # then the next connection puts back the two it held, at once, and only those
    with Connection(url, transport=transport_for(url)) as again:
        again.connect()
    assert (held(broker), broker.client().llen("io")) == (0, 2)


@pytest.mark.parametrize("recorded", [False, True], ids=["not-recorded", "reply-lost"])
def test_a_message_taken_as_redis_went_away_is_put_back_on_reconnecting(broker, recorded):
    # given a message a worker has just taken from its queue (BRPOP), as the connection drops
    url = f"redis://127.0.0.1:{broker.port}/0"
    connection = Connection(url, transport=transport_for(url))
    publish_probe(connection)
    channel: Any = connection.default_channel
    client = broker.client()
    message = channel.Message(json.loads(client.rpop("io")), channel=channel)
    tag = message.delivery_tag
    if recorded:
        # (Redis recorded it as held, but the reply was lost with the connection)
        client.hset("unacked", tag, json.dumps([message._raw, "", "io"]))
        client.zadd("unacked_index", {tag: time.time()})
    # when recording it as held fails because Redis has gone away, and Redis returns
    broker.stop()
    with pytest.raises(connection.connection_errors):
        channel.qos.append(message, tag)
    connection.close()
    broker.start()
    assert (held(broker), broker.client().llen("io")) == (int(recorded), 0)
    # then the next connection puts it back in its queue, once, and nothing is left held
    with Connection(url, transport=transport_for(url)) as again:
        again.connect()
    assert (held(broker), broker.client().llen("io")) == (0, 1)
    assert broker.client().zcard("unacked_index") == 0


def test_workers_use_this_transport_for_redis_only():
    assert isinstance(app.connection_for_read().transport, Transport)
    assert transport_for("rediss://:secret@redis:6380/0") == transport_for("redis://redis")
    assert transport_for("amqp://guest@rabbitmq//") is None


def publish_across_a_restart(broker: PrivateRedis, policy: dict, down_for: float) -> bool:
    """Publish while Redis is down for ``down_for`` seconds; whether the message got through."""
    url = f"redis://127.0.0.1:{broker.port}/0"
    with Connection(url, transport=transport_for(url)) as connection:
        connection.connect()
        broker.stop()
        restart = threading.Timer(down_for, broker.start)
        restart.start()
        try:
            publish_probe(connection, retry=True, retry_policy=dict(policy))
        except OperationalError:
            return False
        finally:
            restart.join()
    return bool(broker.client().llen("io") == 1)


def test_a_task_publishing_while_redis_restarts_waits_for_it(broker):
    assert publish_across_a_restart(broker, WORKER_PUBLISH_RETRY_POLICY, down_for=3)


def test_the_web_gives_up_sooner_and_leaves_it_to_the_sweep(broker):
    assert not publish_across_a_restart(broker, app.conf.task_publish_retry_policy, down_for=3)


def test_a_channel_publishes_through_one_redis_client_until_its_pool_changes(broker):
    url = f"redis://127.0.0.1:{broker.port}/0"
    with Connection(url, transport=transport_for(url)) as connection:
        channel: Any = connection.default_channel
        for _ in range(3):
            publish_probe(connection)
        with channel.conn_or_acquire() as client:
            first = client
        # the same client every time (kombu built one per publish), on the channel's pool
        with channel.conn_or_acquire() as client:
            assert client is first
        assert first.connection_pool is channel.pool
        # a client handed in is used as it is
        other = broker.client()
        with channel.conn_or_acquire(other) as client:
            assert client is other
        # a new pool (kombu drops it on a lost connection) gets a new client
        channel._pool = None
        with channel.conn_or_acquire() as client:
            assert client is not first
            assert client.connection_pool is channel.pool
        publish_probe(connection)
    assert broker.client().llen("io") == 4
