"""Storing a webhook body: one INSERT … ON CONFLICT DO NOTHING, published once it is committed,
on the real database and the real Redis broker of the test run."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
import redis
from django.db import connection, transaction

from config.celery import app
from whatsapp import dispatch
from whatsapp.models import WebhookEvent
from whatsapp.services import webhook_event_store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_queues")]


def queued_event_ids() -> list[int]:
    """The event ids of the process_webhook_event messages waiting in the io queue."""
    with redis.Redis.from_url(app.conf.broker_url) as client:
        raw = client.lrange("io", 0, -1)
    ids: list[int] = []
    for item in raw:
        message = json.loads(item)
        if message["headers"]["task"] == dispatch.PROCESS_WEBHOOK_EVENT:
            args, _, _ = json.loads(_body(message))
            ids.extend(args)
    return sorted(ids)


def _body(message: dict[str, Any]) -> bytes:
    body = message["body"]
    return base64.b64decode(body) if message["properties"]["body_encoding"] == "base64" else body


@pytest.fixture
def body() -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [], "n": 1}).encode()


def test_a_new_body_is_one_committed_row_published_at_once(body):
    event, created = webhook_event_store(body=body)
    assert created
    # committed and published without any transaction around it
    stored = WebhookEvent.objects.get(pk=event.pk)
    assert stored.body == body.decode()
    assert stored.received_at is not None
    assert (stored.processed_at, stored.processing_error, stored.errors) == (None, "", [])
    assert queued_event_ids() == [event.pk]


def test_the_same_body_again_is_the_stored_event_and_publishes_nothing(body):
    first, _ = webhook_event_store(body=body)
    again, created = webhook_event_store(body=body)
    assert not created
    assert again.pk == first.pk
    assert WebhookEvent.objects.count() == 1
    assert queued_event_ids() == [first.pk]


def test_inside_a_transaction_it_is_published_only_after_commit(body):
    with transaction.atomic():
        event, created = webhook_event_store(body=body)
        assert created
        assert queued_event_ids() == []
    assert queued_event_ids() == [event.pk]


def test_a_rolled_back_store_publishes_nothing(body):
    def store_then_fail() -> None:
        with transaction.atomic():
            webhook_event_store(body=body)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        store_then_fail()
    assert WebhookEvent.objects.count() == 0
    assert queued_event_ids() == []


def test_concurrent_deliveries_of_one_body_store_and_publish_it_once(body):
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def deliver() -> None:
        try:
            start.wait()
            event, created = webhook_event_store(body=body)
            results.append((event.pk, created))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert len({pk for pk, _ in results}) == 1
    assert WebhookEvent.objects.count() == 1
    assert queued_event_ids() == [results[0][0]]
