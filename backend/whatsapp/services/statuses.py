"""Delivery statuses on outbound rows: apply one status (forwards only), adopt a row by its
callback data, and replay statuses that arrived before the send recorded its wamid.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from whatsapp.models import OutboundMessage, OutboundStatus, StatusEvent
from whatsapp.services.errors import graph_error_code, graph_error_text, graph_errors
from whatsapp.services.waking import message_wake_next

# Sent as biz_opaque_callback_data and echoed in status webhooks: matches a status to our row
# even when the send's response (and so the wamid) was lost.
CALLBACK_PREFIX = "outbound:"

STATUS_ORDER = (
    OutboundStatus.QUEUED,
    OutboundStatus.SENDING,
    OutboundStatus.SENT,
    OutboundStatus.DELIVERED,
    OutboundStatus.READ,
)
STATUS_TIMESTAMP_FIELD = {
    OutboundStatus.SENT: "sent_at",
    OutboundStatus.DELIVERED: "delivered_at",
    OutboundStatus.READ: "read_at",
}


def message_status_apply(
    *,
    wamid: str,
    status: str,
    at: dt.datetime | None,
    errors: list[dict[str, Any]],
    callback_data: str = "",
) -> OutboundMessage | None:
    """Apply one status webhook to our row. Statuses only move forwards (read beats delivered,
    whatever order they arrive in); ``failed`` applies unless the message was delivered."""
    at = at or timezone.now()
    message = OutboundMessage.objects.filter(wamid=wamid).first()
    if message is None and callback_data.startswith(CALLBACK_PREFIX):
        # The send's response was lost (worker died mid-call) but Meta took the message: adopt it
        # before the sweeper sends it again.
        try:
            pk = int(callback_data.removeprefix(CALLBACK_PREFIX))
        except ValueError:
            pk = 0
        adopted = OutboundMessage.objects.filter(
            pk=pk,
            wamid__isnull=True,
            status__in=(OutboundStatus.QUEUED, OutboundStatus.SENDING),
        ).update(status=OutboundStatus.SENT, wamid=wamid, sent_at=at, updated_at=timezone.now())
        message = OutboundMessage.objects.filter(wamid=wamid).first()
        if adopted and message is not None:
            # Its send never recorded it, so nothing woke the contact's next part either.
            message_wake_next(message)
    if message is None:
        return None
    StatusEvent.objects.filter(wamid=wamid, message__isnull=True).update(message=message)
    rows = OutboundMessage.objects.filter(pk=message.pk)
    if status in STATUS_TIMESTAMP_FIELD:
        earlier = STATUS_ORDER[: STATUS_ORDER.index(OutboundStatus(status))]
        rows.filter(status__in=earlier).update(status=status, updated_at=timezone.now())
        field = STATUS_TIMESTAMP_FIELD[OutboundStatus(status)]
        rows.filter(**{f"{field}__isnull": True}).update(**{field: at})
    elif status == OutboundStatus.FAILED:
        # The first error with a code says why (Meta sends one, but the body is outside data).
        found = graph_errors(errors)
        coded = [e for e in found if graph_error_code(e) is not None]
        first = (coded or found or [{}])[0]
        rows.exclude(status__in=(OutboundStatus.DELIVERED, OutboundStatus.READ)).update(
            status=OutboundStatus.FAILED,
            last_error_code=graph_error_code(first),
            last_error_text=graph_error_text(first),
            failed_at=at,
            updated_at=timezone.now(),
        )
    message.refresh_from_db()
    return message


def status_events_replay(*, wamid: str) -> None:
    """Statuses that arrived before we recorded the wamid (the webhook raced the response)."""
    for event in StatusEvent.objects.filter(wamid=wamid).order_by("pk"):
        message_status_apply(
            wamid=wamid, status=event.status, at=event.occurred_at, errors=event.errors
        )
