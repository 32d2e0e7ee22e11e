import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from whatsapp.models import Contact, OutboundMessage, OutboundStatus, WebhookEvent

pytestmark = pytest.mark.django_db

MODELS = ["contact", "outboundmessage", "inboundmessage", "statusevent", "webhookevent"]


@pytest.mark.parametrize("model", MODELS)
def test_changelists_open_with_search_and_filters(admin_client, model):
    url = reverse(f"admin:whatsapp_{model}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "1555"}).status_code == 200


def test_outbound_changelist_filters_by_status(admin_client):
    url = reverse("admin:whatsapp_outboundmessage_changelist")
    assert admin_client.get(url, {"status__exact": "failed"}).status_code == 200


def test_send_again_requeues_failed_messages(admin_client, django_capture_on_commit_callbacks):
    # given a failed message
    now = timezone.now()
    message = OutboundMessage.objects.create(
        contact=Contact.objects.create(wa_id="15551234567"),
        body="hi",
        batch=uuid.uuid4(),
        status=OutboundStatus.FAILED,
        attempts=6,
        scheduled_at=now,
        next_attempt_at=now,
    )
    # when the admin action runs
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            reverse("admin:whatsapp_outboundmessage_changelist"),
            {"action": "send_again", "_selected_action": [message.pk]},
        )
    # then it is queued again, with fresh attempts, and a send is enqueued after commit
    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboundStatus.QUEUED, 0)
    assert len(callbacks) == 1


def test_webhook_events_filter_on_errors_from_meta(admin_client):
    # given one event with an error Meta reported in the body, and one without
    WebhookEvent.objects.create(body="{}", body_sha256="a" * 64, errors=[{"code": 131000}])
    WebhookEvent.objects.create(body="{}", body_sha256="b" * 64)
    # when
    url = reverse("admin:whatsapp_webhookevent_changelist")
    response = admin_client.get(url, {"processing": "meta_errors"})
    # then only the first is listed, with its code
    assert response.status_code == 200
    assert [e.body_sha256 for e in response.context["cl"].result_list] == ["a" * 64]
    assert "131000" in response.content.decode()
