import datetime as dt
import json
import uuid

import pytest
import time_machine
from django.utils import timezone

from tests.whatsapp.conftest import (
    APP_SECRET,
    VERIFY_TOKEN,
    WEBHOOK_URL,
    post_webhook,
    sample_bytes,
)
from whatsapp.models import (
    Contact,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    StatusEvent,
    WebhookEvent,
)
from whatsapp.services import webhook_event_process
from whatsapp.views import signature_valid

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("whatsapp_settings")]

SAMPLES = [
    "wa_webhook_inbound_text_postman.json",
    "wa_webhook_inbound_interactive_button_reply.json",
    "wa_webhook_template_quick_reply_postman.json",
    "wa_webhook_status_failed.json",
]


def _deliver(client, body, django_capture_on_commit_callbacks, **kwargs):
    """POST like Meta, then run what the view enqueued (the processing task's service)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_webhook(client, body, **kwargs)
    for event in WebhookEvent.objects.filter(processed_at__isnull=True):
        webhook_event_process(event_id=event.pk)
    return response, callbacks


# --- verification handshake --------------------------------------------------------------------


def test_verification_handshake_echoes_the_challenge(client):
    response = client.get(
        WEBHOOK_URL,
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "x"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "x"},
        {"hub.challenge": "x"},
    ],
)
def test_verification_handshake_refuses_a_wrong_token(client, params):
    assert client.get(WEBHOOK_URL, params).status_code == 403


def test_verification_refused_when_no_token_is_configured(client, settings):
    settings.WHATSAPP_VERIFY_TOKEN = None
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "x"}
    assert client.get(WEBHOOK_URL, params).status_code == 403


# --- signature ----------------------------------------------------------------------------------


def test_signature_check():
    body = b'{"a": 1}'
    good = "sha256=" + __import__("hmac").new(b"s", body, "sha256").hexdigest()
    assert signature_valid(body=body, header=good, app_secret="s")
    assert not signature_valid(body=body + b" ", header=good, app_secret="s")
    # pragma: allowlist nextline secret
    assert not signature_valid(body=body, header=good, app_secret="other")
    assert not signature_valid(body=body, header=good.removeprefix("sha256="), app_secret="s")
    assert not signature_valid(body=body, header=None, app_secret="s")
    assert not signature_valid(body=body, header=good, app_secret=None)


@pytest.mark.parametrize("name", SAMPLES)
def test_a_bad_or_missing_signature_stores_nothing(
    client, name, django_capture_on_commit_callbacks
):
    body = sample_bytes(name)
    for secret in ("wrong-secret", None):
        response, callbacks = _deliver(
            client, body, django_capture_on_commit_callbacks, secret=secret
        )
        assert response.status_code == 403
        assert callbacks == []
    assert WebhookEvent.objects.count() == 0
    assert InboundMessage.objects.count() == StatusEvent.objects.count() == 0


def test_a_signature_over_a_different_body_is_refused(client):
    body = sample_bytes("wa_webhook_inbound_text_postman.json")
    tampered = body.replace(b"Hello", b"Hallo")
    from devstack.standins.whatsapp import sign

    response = client.post(
        WEBHOOK_URL,
        data=tampered,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body, APP_SECRET),
    )
    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()


# --- malformed and oversized ---------------------------------------------------------------------


def test_malformed_json_is_400(client):
    response = post_webhook(client, b"{not json")
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_body_above_the_limit_is_413_before_it_is_read(client, settings):
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = 1024
    body = json.dumps({"object": "whatsapp_business_account", "pad": "x" * 2000}).encode()
    response = post_webhook(client, body)
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


# --- samples produce the right rows -------------------------------------------------------------


@pytest.fixture
def at_the_sample_s_time():
    """The clock a moment after Meta's sample inbound text was sent (October 2020): the reply
    to it goes inside the 24-hour window it opened."""
    with time_machine.travel(dt.datetime.fromtimestamp(SAMPLE_SENT_AT + 2, dt.UTC), tick=True):
        yield


SAMPLE_SENT_AT = 1603059201


@pytest.mark.usefixtures("at_the_sample_s_time")
def test_inbound_text_sample_creates_contact_message_and_a_help_reply(
    client, django_capture_on_commit_callbacks
):
    # given Meta's sample "Received Text Message" webhook, signed
    body = sample_bytes("wa_webhook_inbound_text_postman.json")
    # when
    response, callbacks = _deliver(client, body, django_capture_on_commit_callbacks)
    # then the event is stored and its processing enqueued after commit
    assert response.status_code == 200
    assert len(callbacks) == 1
    event = WebhookEvent.objects.get()
    assert event.body.encode() == body
    assert event.processed_at is not None
    # and the rows say who wrote what
    contact = Contact.objects.get()
    assert (contact.wa_id, contact.profile_name) == ("16315551234", "Kerry Fisher")
    inbound = InboundMessage.objects.get()
    assert inbound.wamid == "wamid.ABGGFlCGg0cvAgo-sJQh43L5Pe4W"
    assert (inbound.type, inbound.text) == ("text", "Hello this is an answer")
    assert inbound.sent_at == dt.datetime.fromtimestamp(SAMPLE_SENT_AT, tz=dt.UTC)
    # and an unknown command is answered with the help text
    reply = OutboundMessage.objects.get()
    assert reply.contact == contact
    assert reply.body.startswith("Commands:")
    assert "help" in reply.body
    assert reply.status == OutboundStatus.QUEUED


@pytest.mark.parametrize(
    ("name", "wamid", "kind", "text"),
    [
        (
            "wa_webhook_inbound_interactive_button_reply.json",
            "wamid.xyzxyz",
            "interactive",
            "title",
        ),
        (
            "wa_webhook_template_quick_reply_postman.json",
            "wamid.ABGGFlCGg0cvAgo-sHWxBA2VFD_S",
            "button",
            "No",
        ),
    ],
)
def test_button_samples_are_recorded_without_a_reply(
    client, django_capture_on_commit_callbacks, name, wamid, kind, text
):
    response, _ = _deliver(client, sample_bytes(name), django_capture_on_commit_callbacks)
    assert response.status_code == 200
    inbound = InboundMessage.objects.get()
    assert (inbound.wamid, inbound.type, inbound.text) == (wamid, kind, text)
    assert not OutboundMessage.objects.exists()


def test_failed_status_sample_marks_our_message_failed_with_the_error(
    client, django_capture_on_commit_callbacks
):
    # given the message the status is about, already sent
    contact = Contact.objects.create(wa_id="972987654321")
    now = timezone.now()
    message = OutboundMessage.objects.create(
        contact=contact,
        body="hi",
        batch=uuid.uuid4(),
        status=OutboundStatus.SENT,
        wamid="wamid.xyzxyz",
        scheduled_at=now,
        next_attempt_at=now,
        sent_at=now,
    )
    # when
    response, _ = _deliver(
        client, sample_bytes("wa_webhook_status_failed.json"), django_capture_on_commit_callbacks
    )
    # then
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == OutboundStatus.FAILED
    assert message.last_error_code == 130472
    assert "experiment" in message.last_error_text
    event = StatusEvent.objects.get()
    assert (event.wamid, event.status, event.message) == ("wamid.xyzxyz", "failed", message)
    assert event.errors[0]["code"] == 130472


@pytest.mark.parametrize("name", SAMPLES)
def test_posting_the_same_payload_twice_stores_it_once(
    client, name, django_capture_on_commit_callbacks
):
    body = sample_bytes(name)
    first, first_callbacks = _deliver(client, body, django_capture_on_commit_callbacks)
    second, second_callbacks = _deliver(client, body, django_capture_on_commit_callbacks)
    assert first.status_code == second.status_code == 200
    assert len(first_callbacks) == 1
    assert second_callbacks == []
    assert WebhookEvent.objects.count() == 1
    assert InboundMessage.objects.count() + StatusEvent.objects.count() == 1
    assert OutboundMessage.objects.count() <= 1


def test_an_inbound_text_delivered_after_its_window_closed_is_stored_and_not_answered(
    client, django_capture_on_commit_callbacks, caplog
):
    # given Meta's sample inbound text, delivered now: years after it was sent
    body = sample_bytes("wa_webhook_inbound_text_postman.json")
    # when
    response, _ = _deliver(client, body, django_capture_on_commit_callbacks)
    # then it is recorded, its window (long closed) on the contact, and no text is queued for it
    assert response.status_code == 200
    assert InboundMessage.objects.count() == 1
    contact = Contact.objects.get()
    assert contact.last_inbound_at == dt.datetime.fromtimestamp(SAMPLE_SENT_AT, tz=dt.UTC)
    assert not OutboundMessage.objects.exists()
    assert "24-hour customer service window is closed" in caplog.text


@pytest.mark.usefixtures("at_the_sample_s_time")
def test_an_event_processed_twice_changes_nothing(client, django_capture_on_commit_callbacks):
    # given a processed inbound text
    _deliver(
        client,
        sample_bytes("wa_webhook_inbound_text_postman.json"),
        django_capture_on_commit_callbacks,
    )
    event = WebhookEvent.objects.get()
    # when it is replayed (admin action, redelivered task)
    WebhookEvent.objects.update(processed_at=None)
    webhook_event_process(event_id=event.pk)
    # then there is still one inbound message and one reply
    assert InboundMessage.objects.count() == 1
    assert OutboundMessage.objects.count() == 1


def test_a_batch_with_several_entries_and_changes_is_processed_whole(
    client, django_capture_on_commit_callbacks
):
    from devstack.standins.whatsapp import inbound_text_payload, status_payload

    first = inbound_text_payload(wa_id="15550000111", text="help", wamid="wamid.one")
    second = inbound_text_payload(wa_id="15550000222", text="help", wamid="wamid.two")
    status = status_payload(wamid="wamid.unknown", status="delivered", recipient_id="15550000111")
    first["entry"].append(second["entry"][0])
    first["entry"][0]["changes"].append(status["entry"][0]["changes"][0])
    response, _ = _deliver(client, json.dumps(first).encode(), django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert set(InboundMessage.objects.values_list("wamid", flat=True)) == {
        "wamid.one",
        "wamid.two",
    }
    assert StatusEvent.objects.get().wamid == "wamid.unknown"
    assert OutboundMessage.objects.count() == 2


def test_a_body_that_is_not_utf8_is_400(client):
    response = post_webhook(client, '{"object": "whatsapp_business_account"}'.encode("utf-16"))
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
