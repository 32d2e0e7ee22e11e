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
from django.db.models import F, Min
from django.utils import timezone

from whatsapp import dispatch
from whatsapp.models import Contact, OutboundMessage, OutboundStatus, WaitingFor
from whatsapp.services.waking import message_wake_next
from whatsapp.window import WINDOW

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
    """Count the contact for the business-initiated message being sent, True; or, with the limit
    reached and the contact not counted yet, hold the claimed message until the oldest count
    expires, False."""
    limit = settings.WHATSAPP_MESSAGING_LIMIT
    since = now - PERIOD
    with transaction.atomic():
        _serialize()
        counted = Contact.objects.filter(limit_counted_at__gt=since)
        if limit is None or counted.filter(pk=contact_id).exists() or counted.count() < limit:
            Contact.objects.filter(pk=contact_id).update(limit_counted_at=now)
            return True
        oldest = counted.aggregate(oldest=Min("limit_counted_at"))["oldest"] or now
        message_hold(
            message=message,
            until=oldest + PERIOD,
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
) -> None:
    """Hold a claimed message until ``until`` (its attempt given back); the first message held
    while none is logs it, the rest do not."""
    now = timezone.now()
    with transaction.atomic():
        first = not OutboundMessage.objects.filter(status=OutboundStatus.HELD).exists()
        changes: dict[str, object] = {
            "status": OutboundStatus.HELD,
            "next_attempt_at": until,
            "waiting_for": waiting_for,
            "attempts": F("attempts") - 1,
            "updated_at": now,
        }
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
    """Queue held messages again, oldest first: every one of ``contact_id`` (it just wrote, so
    its window is open); else those whose hold has ended and whose contact needs no new place
    under the limit or gets one of those free now. Returns the ids queued."""
    now = now or timezone.now()
    held = OutboundMessage.objects.filter(status=OutboundStatus.HELD)
    if contact_id is not None:
        held = held.filter(contact_id=contact_id)
    else:
        held = held.filter(next_attempt_at__lte=now)
    rows = list(
        held.order_by("pk").values_list(
            "pk", "contact_id", "contact__limit_counted_at", "contact__last_inbound_at"
        )[:RELEASE_BATCH_LIMIT]
    )
    if not rows:
        return []
    limit = settings.WHATSAPP_MESSAGING_LIMIT
    free = None if limit is None or contact_id is not None else limit - limit_count(now)
    new: set[int] = set()
    released = []
    for pk, contact, counted_at, inbound_at in rows:
        needs_place = (counted_at is None or counted_at <= now - PERIOD) and (
            inbound_at is None or inbound_at + WINDOW <= now
        )
        if free is not None and needs_place and contact not in new:
            if len(new) >= free:
                continue
            new.add(contact)
        released.append(pk)
    with transaction.atomic():
        OutboundMessage.objects.filter(pk__in=released, status=OutboundStatus.HELD).update(
            status=OutboundStatus.QUEUED, next_attempt_at=now, waiting_for="", updated_at=now
        )
        for message_id in released:
            dispatch.message_send_on_commit(message_id=message_id)
    if released:
        logger.info("messaging limit: %d held message(s) queued again", len(released))
    return released


def _serialize() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
