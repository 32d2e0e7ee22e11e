"""Reads: what the services and the sweeper look at before they write."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, Max, OuterRef, QuerySet

from whatsapp.models import (
    ACCEPTED_STATUSES,
    PENDING_STATUSES,
    OutboundMessage,
    OutboundStatus,
    WebhookEvent,
)
from whatsapp.pair import PairState


def message_blocked_by_earlier(*, message: OutboundMessage) -> bool:
    """Is an earlier message to the same contact still queued or being sent?

    Rows get increasing ids in the order they are created (a batch in one bulk insert), so "earlier"
    is "smaller id": parts of one batch, and batches to one contact, go out in creation order.
    """
    return earlier_pending(message_pk=message.pk, contact_id=message.contact_id).exists()


def earlier_pending(*, message_pk: int | OuterRef, contact_id: int | OuterRef) -> QuerySet:
    """Messages to the same contact created before this one and not yet final."""
    return OutboundMessage.objects.filter(
        contact_id=contact_id, pk__lt=message_pk, status__in=PENDING_STATUSES
    )


def message_next_queued(*, message: OutboundMessage) -> OutboundMessage | None:
    """The next message to the same contact waiting its turn, if any."""
    return (
        OutboundMessage.objects.filter(
            contact_id=message.contact_id, pk__gt=message.pk, status=OutboundStatus.QUEUED
        )
        .order_by("pk")
        .only("pk", "scheduled_at", "next_attempt_at")
        .first()
    )


def contact_last_request_at(*, contact_id: int) -> dt.datetime | None:
    """When the last message accepted for this contact went out (its claim, just before the
    request: the response time would add the API's latency to every gap)."""
    result: dt.datetime | None = OutboundMessage.objects.filter(
        contact_id=contact_id, status__in=ACCEPTED_STATUSES
    ).aggregate(last=Max("claimed_at"))["last"]
    return result


def contact_pair_state(*, contact_id: int) -> PairState | None:
    """The contact's pair-rule state: kept on its message with the latest free time."""
    row = (
        OutboundMessage.objects.filter(contact_id=contact_id, pair_free_at__isnull=False)
        .order_by("-pair_free_at")
        .values_list("pair_burst_start", "pair_burst_count", "pair_free_at")
        .first()
    )
    if row is None:
        return None
    burst_start, count, free_at = row
    if burst_start is None or count is None or free_at is None:
        return None  # written in part, by hand
    return PairState(burst_start, count, free_at)


def contacts_busy(*, contact_ids: list[int], now: dt.datetime) -> set[int]:
    """Those of the contacts with a message pending, or with pair-rule time borrowed past
    ``now``: a new message to them is planned around it."""
    pending = OutboundMessage.objects.filter(
        contact_id__in=contact_ids, status__in=PENDING_STATUSES
    ).values_list("contact_id", flat=True)
    borrowed = OutboundMessage.objects.filter(
        contact_id__in=contact_ids, pair_free_at__gt=now
    ).values_list("contact_id", flat=True)
    return set(pending) | set(borrowed)


def contact_pending_due(*, contact_id: int) -> list[dt.datetime]:
    """When each message still pending for the contact is due, in the order they go."""
    return list(
        OutboundMessage.objects.filter(contact_id=contact_id, status__in=PENDING_STATUSES)
        .order_by("pk")
        .values_list("scheduled_at", flat=True)
    )


def messages_overdue_queued(*, before: dt.datetime, limit: int) -> list[int]:
    """Queued messages overdue and next in line for their contact: their wake-up was lost.

    A message waiting behind an earlier one is not lost: the earlier one wakes it when it is done
    (and is itself overdue, and so found here, if its own wake-up was lost)."""
    return list(
        OutboundMessage.objects.filter(status=OutboundStatus.QUEUED, next_attempt_at__lt=before)
        .exclude(
            Exists(earlier_pending(message_pk=OuterRef("pk"), contact_id=OuterRef("contact_id")))
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def messages_due_later_queued(
    *, after: dt.datetime, until: dt.datetime, limit: int
) -> list[tuple[int, dt.datetime]]:
    """Queued messages next in line for their contact and due between ``after`` and ``until``,
    with when they are due: the wake-ups a worker held for them died if it did."""
    return list(
        OutboundMessage.objects.filter(
            status=OutboundStatus.QUEUED, next_attempt_at__gte=after, next_attempt_at__lte=until
        )
        .exclude(
            Exists(earlier_pending(message_pk=OuterRef("pk"), contact_id=OuterRef("contact_id")))
        )
        .order_by("pk")
        .values_list("pk", "next_attempt_at")[:limit]
    )


def messages_stuck_sending(*, claimed_before: dt.datetime, limit: int) -> list[OutboundMessage]:
    return list(
        OutboundMessage.objects.filter(
            status=OutboundStatus.SENDING, claimed_at__lt=claimed_before
        ).order_by("pk")[:limit]
    )


def events_unprocessed(*, received_before: dt.datetime, limit: int) -> list[int]:
    """Events never processed and never failed: their processing task was lost."""
    return list(
        WebhookEvent.objects.filter(
            processed_at__isnull=True, processing_error="", received_at__lt=received_before
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
