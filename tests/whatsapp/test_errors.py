"""Errors Meta reports in webhooks (``value.errors[]``, ``statuses[].errors[]``) and on sends."""

import json
import logging
import uuid

import pytest
from django.utils import timezone

from devstack.standins.whatsapp import (
    errors_payload,
    inbound_text_payload,
    status_payload,
)
from tests.whatsapp.conftest import post_webhook, user_wrote
from whatsapp.models import (
    Contact,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    StatusEvent,
    WebhookEvent,
)
from whatsapp.services import message_send, text_send_staggered, webhook_event_process

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("whatsapp_settings")]

# As Meta documents it (Cloud API error codes, "Error response webhooks"); details are free text.
GENERIC_ERROR = {
    "code": 131000,
    "title": "Something went wrong",
    "message": "Something went wrong",
    "error_data": {"details": "Message failed to send due to an unknown error for 15559990000"},
    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
}
PHONE_NUMBER_ID = "106540352242922"


def _deliver(client, payload, django_capture_on_commit_callbacks) -> WebhookEvent:
    """POST like Meta, then run what the view enqueued (the processing task's service)."""
    with django_capture_on_commit_callbacks(execute=False):
        response = post_webhook(client, json.dumps(payload).encode())
    assert response.status_code == 200
    event = WebhookEvent.objects.latest("pk")
    webhook_event_process(event_id=event.pk)
    event.refresh_from_db()
    return event


def _sent_message(wamid: str, wa_id: str = "15551234567") -> OutboundMessage:
    now = timezone.now()
    return OutboundMessage.objects.create(
        contact=Contact.objects.get_or_create(wa_id=wa_id)[0],
        body="hi",
        batch=uuid.uuid4(),
        status=OutboundStatus.SENT,
        wamid=wamid,
        scheduled_at=now,
        next_attempt_at=now,
        sent_at=now,
    )


# --- value.errors ---------------------------------------------------------------------------------


def test_value_errors_are_stored_on_the_event_and_logged_without_user_data(
    client, django_capture_on_commit_callbacks, caplog
):
    # given a webhook whose only content is an error for the whole change
    payload = errors_payload(errors=[GENERIC_ERROR], phone_number_id=PHONE_NUMBER_ID)
    # when
    with caplog.at_level(logging.WARNING, logger="whatsapp"):
        event = _deliver(client, payload, django_capture_on_commit_callbacks)
    # then it is processed, with the error kept on the event as Meta sent it
    assert event.processed_at is not None
    assert event.processing_error == ""
    assert event.errors == [GENERIC_ERROR]
    # and a warning names the code, the title and our phone number id, and nothing else
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = record.getMessage()
    assert "131000" in text
    assert "Something went wrong" in text
    assert PHONE_NUMBER_ID in text
    assert "15559990000" not in text  # the details stay on the row, out of the log


def test_value_errors_next_to_messages_and_statuses_are_kept_and_the_rest_applied(
    client, django_capture_on_commit_callbacks
):
    # given one change with an inbound text, a status and an error; and a second change with
    # only an error
    message = _sent_message("wamid.known")
    payload = inbound_text_payload(wa_id="15551234567", text="hello", wamid="wamid.in")
    value = payload["entry"][0]["changes"][0]["value"]
    value["statuses"] = [{"id": "wamid.known", "status": "delivered", "timestamp": "1700000000"}]
    value["errors"] = [GENERIC_ERROR]
    second = {"code": 131016, "title": "Service unavailable"}
    payload["entry"].append(errors_payload(errors=[second])["entry"][0])
    # when
    event = _deliver(client, payload, django_capture_on_commit_callbacks)
    # then both errors are stored, in order, and the messages and statuses still applied
    assert event.errors == [GENERIC_ERROR, second]
    assert InboundMessage.objects.get().wamid == "wamid.in"
    message.refresh_from_db()
    assert message.status == OutboundStatus.DELIVERED


def test_value_errors_that_are_not_objects_are_left_out(client, django_capture_on_commit_callbacks):
    payload = errors_payload(errors=["boom", None, GENERIC_ERROR])  # type: ignore[list-item]
    event = _deliver(client, payload, django_capture_on_commit_callbacks)
    assert event.processing_error == ""
    assert event.errors == [GENERIC_ERROR]


def test_processing_an_event_with_errors_again_stores_them_once(
    client, django_capture_on_commit_callbacks
):
    event = _deliver(
        client, errors_payload(errors=[GENERIC_ERROR]), django_capture_on_commit_callbacks
    )
    WebhookEvent.objects.filter(pk=event.pk).update(processed_at=None)
    assert webhook_event_process(event_id=event.pk)
    event.refresh_from_db()
    assert event.errors == [GENERIC_ERROR]


# --- statuses[].errors ---------------------------------------------------------------------------


def test_a_failed_status_puts_its_error_code_on_the_message_and_logs_it(
    client, django_capture_on_commit_callbacks, caplog
):
    # given a sent message, and Meta's failed status for it
    message = _sent_message("wamid.out")
    undeliverable = {"code": 131026, "title": "Message undeliverable"}
    payload = status_payload(
        wamid="wamid.out", status="failed", recipient_id="15551234567", errors=[undeliverable]
    )
    # when
    with caplog.at_level(logging.WARNING, logger="whatsapp"):
        _deliver(client, payload, django_capture_on_commit_callbacks)
    # then
    message.refresh_from_db()
    assert (message.status, message.last_error_code) == (OutboundStatus.FAILED, 131026)
    assert message.last_error_text == "Message undeliverable"
    assert any("wamid.out" in r.getMessage() and "131026" in r.getMessage() for r in caplog.records)


def test_a_status_error_of_an_odd_shape_still_lands_and_spoils_nothing_else(
    client, django_capture_on_commit_callbacks
):
    # given a failed status whose errors start with a string and carry the code as a string,
    # in the same webhook as an inbound message
    message = _sent_message("wamid.odd")
    payload = inbound_text_payload(wa_id="15550001111", text="hello", wamid="wamid.in2")
    payload["entry"][0]["changes"][0]["value"]["statuses"] = [
        {
            "id": "wamid.odd",
            "status": "failed",
            "timestamp": "1700000000",
            "errors": ["unexpected", {"code": "131047", "message": "Re-engagement message"}],
        }
    ]
    # when
    event = _deliver(client, payload, django_capture_on_commit_callbacks)
    # then the event is processed whole, and the code is on the message
    assert event.processing_error == ""
    message.refresh_from_db()
    assert (message.status, message.last_error_code) == (OutboundStatus.FAILED, 131047)
    assert InboundMessage.objects.filter(wamid="wamid.in2").exists()
    assert StatusEvent.objects.get().errors == [
        {"code": "131047", "message": "Re-engagement message"}
    ]


def test_an_absurd_timestamp_does_not_stop_processing(client, django_capture_on_commit_callbacks):
    # 10**18 s is past what the platform's time_t holds: fromtimestamp raises OSError
    message = _sent_message("wamid.late")
    payload = status_payload(
        wamid="wamid.late", status="delivered", recipient_id="1", timestamp=10**18
    )
    event = _deliver(client, payload, django_capture_on_commit_callbacks)
    assert event.processing_error == ""
    assert event.processed_at is not None
    message.refresh_from_db()
    assert message.status == OutboundStatus.DELIVERED


# --- the send path --------------------------------------------------------------------------------


def test_131047_on_a_429_fails_the_message_at_once(standin, django_capture_on_commit_callbacks):
    # given a two-part reply, and Meta refusing the first part (24-hour window) with a 429
    user_wrote("15551234567", standin=standin)
    with django_capture_on_commit_callbacks(execute=False):
        first, second = text_send_staggered(
            to="15551234567", text="part 1 " + "x" * 4085 + "\npart 2"
        )
    standin.add_fault(nth=1, code=131047, http_status=429)
    # when
    outcome = message_send(message_id=first)
    # then it is failed on the first attempt, not put back for a retry, and so is the rest
    assert outcome.result == "failed"
    rows = OutboundMessage.objects.in_bulk([first, second])
    assert (rows[first].status, rows[first].attempts) == (OutboundStatus.FAILED, 1)
    assert rows[first].last_error_code == 131047
    assert rows[second].status == OutboundStatus.FAILED
    assert len(standin.received()) == 1
