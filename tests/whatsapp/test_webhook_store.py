"""Storing a webhook body: one INSERT … ON CONFLICT DO NOTHING, published once it is committed,
on the real database and the real Redis broker of the test run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import after_task_publish
from django.db import connection, transaction

from whatsapp import dispatch
from whatsapp.models import WebhookEvent
from whatsapp.services import webhook_event_store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_queues")]


@pytest.fixture
def published() -> Iterator[list[int]]:
    """The event ids of the process_webhook_event messages the broker accepted meanwhile (a
    worker of another test may consume them at once, so the queue itself is not read)."""
    ids: list[int] = []

    def record(sender: Any = None, headers: Any = None, body: Any = None, **_: Any) -> None:
        if (headers or {}).get("task") == dispatch.PROCESS_WEBHOOK_EVENT:
            ids.extend(body[0])

    after_task_publish.connect(record, weak=False)
    yield ids
    after_task_publish.disconnect(record)


@pytest.fixture
def body() -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [], "n": 1}).encode()


def test_a_new_body_is_one_committed_row_published_at_once(body, published):
    event, created = webhook_event_store(body=body)
    assert created
    # committed and published without any transaction around it
    stored = WebhookEvent.objects.get(pk=event.pk)
    assert stored.body == body.decode()
    assert stored.received_at is not None
    assert (stored.processed_at, stored.processing_error, stored.errors) == (None, "", [])
    assert sorted(published) == [event.pk]


def test_the_same_body_again_is_the_stored_event_and_publishes_nothing(body, published):
    first, _ = webhook_event_store(body=body)
    again, created = webhook_event_store(body=body)
    assert not created
    assert again.pk == first.pk
    assert WebhookEvent.objects.count() == 1
    assert sorted(published) == [first.pk]


def test_inside_a_transaction_it_is_published_only_after_commit(body, published):
    with transaction.atomic():
        event, created = webhook_event_store(body=body)
        assert created
        assert sorted(published) == []
    assert sorted(published) == [event.pk]


def test_a_rolled_back_store_publishes_nothing(body, published):
    def store_then_fail() -> None:
        with transaction.atomic():
            webhook_event_store(body=body)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        store_then_fail()
    assert WebhookEvent.objects.count() == 0
    assert sorted(published) == []


def test_concurrent_deliveries_of_one_body_store_and_publish_it_once(body, published):
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
    assert sorted(published) == [results[0][0]]
