"""The overrides of Celery, kombu and redis-py internals (ops.overrides) against the installed
versions: an upgrade fails here until someone has read each override against it, an internal an
override relies on that is gone fails here, and so does a fault upstream has fixed (the override
can then go). Their behaviour is tested in test_broker_outage.py, test_beat.py, test_faults.py,
tests/config/test_startup.py and the worker tests."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from celery import beat, platforms
from celery.bootsteps import Blueprint
from celery.worker import state
from celery.worker.request import Request
from kombu import Connection
from kombu.message import Message
from kombu.transport import redis as kombu_redis

from config.celery import app
from devstack.redis_server import PrivateRedis
from ops import overrides
from ops.overrides.redis_transport import transport_for
from ops.tasks import probe


def test_each_override_was_checked_against_the_installed_version():
    installed = {package: version(package) for package in overrides.CHECKED_AGAINST}

    assert installed == overrides.CHECKED_AGAINST, (
        "A library ops.overrides works around has another version: read each override in "
        "backend/ops/overrides/ against it (and its upstream report in UPSTREAM), run this "
        "file, then update CHECKED_AGAINST."
    )


def test_every_override_module_names_its_upstream_report():
    modules = {path.stem for path in Path(overrides.__file__).parent.glob("[!_]*.py")}

    assert modules == {key.split(".")[0] for key in overrides.UPSTREAM}
    for module in modules:
        importlib.import_module(f"ops.overrides.{module}")


# Each internal an override calls or replaces, with the parameters it passes.
INTERNALS = [
    (kombu_redis.QoS, "append", ["message", "delivery_tag"]),
    (kombu_redis.QoS, "ack", ["delivery_tag"]),
    (kombu_redis.QoS, "reject", ["delivery_tag", "requeue"]),
    (kombu_redis.QoS, "restore_by_tag", ["tag", "client"]),
    (kombu_redis.QoS, "_remove_from_indices", ["delivery_tag", "pipe"]),
    (kombu_redis.Channel, "_do_restore_message", ["payload", "exchange", "routing_key", "pipe"]),
    (kombu_redis.Channel, "conn_or_acquire", ["client"]),
    (kombu_redis.Channel, "_create_client", []),
    (kombu_redis.Channel, "_connparams", ["asynchronous"]),
    (kombu_redis.Channel, "close", []),
    (Message, "ack_log_error", ["logger", "errors"]),
    (Message, "reject_log_error", ["logger", "errors", "requeue"]),
    (Request, "cancel", ["pool", "emit_retry"]),
    (beat.Scheduler, "reserve", ["entry"]),
    (Request, "send_event", ["type"]),
    (platforms, "signal_name", ["signum"]),
]


@pytest.mark.parametrize(("owner", "name", "parameters"), INTERNALS)
def test_the_internals_the_overrides_use_are_still_there(owner, name, parameters):
    found = inspect.signature(getattr(owner, name)).parameters

    assert set(parameters) <= set(found), (
        f"{owner.__name__}.{name}{inspect.signature(getattr(owner, name))}"
    )


def test_the_worker_state_the_green_shutdown_sets_is_still_there():
    # ops.overrides.shutdown sets should_stop, reads active_requests, replaces the handlers in
    # platforms.signals, and waits on the consumer blueprint's shutdown_complete.
    assert hasattr(state, "should_stop")
    assert isinstance(state.active_requests, Iterable)
    assert callable(getattr(platforms.signals, "__setitem__", None))
    assert hasattr(Blueprint(), "shutdown_complete")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def channels(broker: PrivateRedis) -> tuple[Any, Any]:
    """A channel of kombu's own Redis transport, and one of ops.overrides.redis_transport."""
    url = f"redis://127.0.0.1:{broker.port}/0"
    stock = Connection(url).default_channel
    ours = Connection(url, transport=transport_for(url)).default_channel
    return stock, ours


def test_still_needed_kombu_builds_a_client_per_publish(broker):
    stock, ours = channels(broker)

    with stock.conn_or_acquire() as first, stock.conn_or_acquire() as second:
        assert first is not second, "kombu now reuses its client: drop conn_or_acquire"
    with ours.conn_or_acquire() as first, ours.conn_or_acquire() as second:
        assert first is second


def test_still_needed_kombu_fails_on_an_unlinked_connection_with_an_attribute_error(broker):
    stock, ours = channels(broker)
    stock.connection.client = ours.connection.client = None

    with pytest.raises(AttributeError):
        stock._connparams()
    with pytest.raises(redis.ConnectionError):
        ours._connparams()


def test_still_needed_kombu_logs_an_unreachable_broker_at_critical(broker, caplog):
    url = f"redis://127.0.0.1:{broker.port}/0"
    connection = Connection(url)
    channel: Any = connection.default_channel
    channel.queue_declare("q")
    channel.basic_publish(channel.prepare_message("x"), exchange="", routing_key="q")
    message = channel.basic_get("q", no_ack=False)
    assert message is not None
    broker.stop()
    try:
        with caplog.at_level(logging.INFO):
            message.ack_log_error(logging.getLogger("stock"), connection.connection_errors)
    finally:
        broker.start()
        connection.release()  # kombu puts the held message back now, not at exit

    levels = [r.levelname for r in caplog.records if r.name == "stock"]
    assert levels == ["CRITICAL"], "kombu no longer logs CRITICAL: ops.overrides.requests can go"


def test_still_needed_kombu_caps_a_redis_channel_at_ten_connections():
    # ops.overrides.connections sizes the pool to the worker's concurrency.
    assert kombu_redis.Channel.max_connections == 10


def test_the_private_attributes_the_overrides_use_are_still_there(broker):
    stock, _ = channels(broker)
    # redis_transport: the channel's QoS and its bookkeeping of held messages
    assert {"_delivered", "_dirty"} <= set(vars(stock.qos))
    assert hasattr(stock, "_qos")
    assert hasattr(stock, "unacked_key")
    # requests: a Request's acknowledgement callbacks, built from a task message as a worker does
    probe.apply_async(queue="io", connection=stock.connection.client)  # type: ignore[call-arg]
    message = stock.basic_get("io", no_ack=False)
    assert hasattr(message, "_raw")
    message.ack()
    request = Request(
        message,
        on_ack=message.ack_log_error,
        on_reject=message.reject_log_error,
        app=cast(Any, app),
        connection_errors=stock.connection.connection_errors,
    )
    for name in ("_on_ack", "_on_reject", "_connection_errors", "acknowledged"):
        assert hasattr(request, name), name
    # beat: the heap the takeover resets so that the recorded runs take effect at once
    assert hasattr(beat.Scheduler(cast(Any, app), lazy=True), "_heap")
