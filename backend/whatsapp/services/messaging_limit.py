"""Meta's messaging limit: the unique contacts business-initiated messages (templates outside the
contact's 24-hour window) reach in a moving 24 h, at most WHATSAPP_MESSAGING_LIMIT.

A message that would pass it is held (status ``held``), not failed and not retried in a loop,
and queued again when the count allows or the contact writes (docs/whatsapp.md, "The messaging
limit"). A contact counts from the moment its message is claimed: one counted for a send that
then fails is one too many, never one too few.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from whatsapp import dispatch
from whatsapp.models import Contact, OutboundMessage, OutboundStatus, WaitingFor
from whatsapp.services.waking import message_wake_next
from whatsapp.window import window_is_open

logger = logging.getLogger(__name__)

PERIOD = dt.timedelta(hours=24)
# Serializes the count and the admission across workers (PostgreSQL; SQLite's IMMEDIATE
# transactions serialize writers already).
_LOCK_KEY = 0x7761_6C69  # "wali"
RELEASE_BATCH_LIMIT = 500


def limit_count(now: dt.datetime | None = None) -> int:
    """Contacts counted against the limit in the 24 h up to ``now``."""
    since = (now or timezone.now()) - PERIOD
    return Contact.objects.filter(limit_counted_at__gt=since).count()


def limit_admit(*, message: OutboundMessage, contact_id: int, now: dt.datetime) -> bool:
    """Count the contact for the business-initiated message being sent, True; or hold the
    claimed message, False: when the limit is reached and the contact is not counted yet, and
    also while messages held for the limit wait (they have the first claim on a place: the
    sweeper hands places out oldest first, ``held_release``)."""
    limit = settings.WHATSAPP_MESSAGING_LIMIT
    since = now - PERIOD
    with transaction.atomic():
        _serialize()
        counted = Contact.objects.filter(limit_counted_at__gt=since)
        if limit is None or counted.filter(pk=contact_id).exists():
            Contact.objects.filter(pk=contact_id).update(limit_counted_at=now)
            return True
        behind = OutboundMessage.objects.filter(
            status=OutboundStatus.HELD, waiting_for=WaitingFor.MESSAGING_LIMIT
        ).exists()
        count = counted.count()
        if count < limit and not behind:
            Contact.objects.filter(pk=contact_id).update(limit_counted_at=now)
            return True
        until = now
        if count >= limit:
            until = (counted.aggregate(oldest=Min("limit_counted_at"))["oldest"] or now) + PERIOD
        message_hold(
            message=message,
            until=until,
            waiting_for=WaitingFor.MESSAGING_LIMIT,
            reason=f"{limit} contacts reached in the last 24 h (WHATSAPP_MESSAGING_LIMIT)",
        )
    return False


def message_hold(
    *,
    message: OutboundMessage,
    until: dt.datetime,
    waiting_for: str,
    reason: str,
    code: int | None = None,
    attempt_counts: bool = False,
) -> None:
    """Hold a claimed message until ``until``, its attempt given back unless ``attempt_counts``
    (Meta refused the message itself); the first message held while none is logs it, the rest
    do not."""
    now = timezone.now()
    with transaction.atomic():
        first = not OutboundMessage.objects.filter(status=OutboundStatus.HELD).exists()
        changes: dict[str, object] = {
            "status": OutboundStatus.HELD,
            "next_attempt_at": until,
            "waiting_for": waiting_for,
            "updated_at": now,
        }
        if not attempt_counts:
            changes["attempts"] = F("attempts") - 1
        if code is not None:
            changes.update(last_error_code=code, last_error_text=reason)
        OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.SENDING).update(
            **changes
        )
        # A message behind this one to the same contact no longer waits for it.
        message_wake_next(message)
    if first:
        logger.warning(
            "messaging limit: %s; business-initiated messages are held (status held) until "
            "the count allows, the first at %s",
            reason,
            f"{until:%Y-%m-%d %H:%M:%S %Z}",
        )


def held_release(*, now: dt.datetime | None = None, contact_id: int | None = None) -> list[int]:
    """Queue held messages again, oldest first; returns their ids.

    ``contact_id``: every one of that contact's, which has just written (its window is open:
    they need no place). Else those held for the limit, and those held for Meta's 131048 whose
    hold has ended: a message whose contact is counted already, or inside its window, needs no
    place; the others take the places free now, each reserved for its contact (counted from
    now) so that the claim finds it and no sweep gives it twice."""
    now = now or timezone.now()
    held = OutboundMessage.objects.filter(status=OutboundStatus.HELD)
    if contact_id is not None:
        return _release(list(held.filter(contact_id=contact_id).values_list("pk", flat=True)), now)
    if not held.exists():
        return []
    limit = settings.WHATSAPP_MESSAGING_LIMIT
    since = now - PERIOD
    with transaction.atomic():
        _serialize()
        rows = list(
            held.filter(Q(waiting_for=WaitingFor.MESSAGING_LIMIT) | Q(next_attempt_at__lte=now))
            .order_by("pk")
            .values_list(
                "pk", "contact_id", "contact__limit_counted_at", "contact__last_inbound_at"
            )[:RELEASE_BATCH_LIMIT]
        )
        free = None if limit is None else limit - limit_count(now)
        reserved: set[int] = set()
        released = []
        for pk, contact, counted_at, inbound_at in rows:
            needs_place = (counted_at is None or counted_at <= since) and not window_is_open(
                inbound_at, now
            )
            if free is not None and needs_place and contact not in reserved:
                if len(reserved) >= free:
                    continue
                reserved.add(contact)
            released.append(pk)
        Contact.objects.filter(pk__in=reserved).update(limit_counted_at=now)
        return _release(released, now)


def _release(ids: list[int], now: dt.datetime) -> list[int]:
    if not ids:
        return []
    with transaction.atomic():
        OutboundMessage.objects.filter(pk__in=ids, status=OutboundStatus.HELD).update(
            status=OutboundStatus.QUEUED, next_attempt_at=now, waiting_for="", updated_at=now
        )
        for message_id in ids:
            dispatch.message_send_on_commit(message_id=message_id)
    logger.info("messaging limit: %d held message(s) queued again", len(ids))
    return ids


def _serialize() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
