"""The daily payment reminder: beat's example of business-initiated work. Every contact with an
unpaid payment due in 5, 3 or 1 days gets one ``payment_reminder`` a day, as a text inside its
24-hour window and as the template outside it (``notification_send``), paced like every send
and held past the messaging limit (docs/whatsapp.md, "The daily reminder")."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from whatsapp.message_templates import TemplateMessage
from whatsapp.models import OutboundMessage, OutboundStatus, Payment, PaymentReminder
from whatsapp.services.sending import Notification, notification_check, notifications_send
from whatsapp.validation import OutboundInvalid

logger = logging.getLogger(__name__)

REMINDER_DAYS_BEFORE = (5, 3, 1)
REMINDER_TEMPLATE = "payment_reminder"
REMINDER_LANGUAGE = "en_US"
# Contacts per transaction: a worker killed mid-run loses at most this many, which the next
# run reminds.
CHUNK = 100


def payment_reminders_send(*, today: dt.date | None = None) -> int:
    """Remind each contact with a payment due ``REMINDER_DAYS_BEFORE`` days from ``today`` (the
    project's local date by default), its earliest such payment, unless it was reminded today.
    Repeatable: a second run the same day, or one after a run cut short, reminds only whom the
    first did not. Returns how many it reminded."""
    today = today or timezone.localdate()
    due_on = [today + dt.timedelta(days=days) for days in REMINDER_DAYS_BEFORE]
    _stale_fail(today)
    reminded, after = 0, 0
    while True:
        payments = list(
            Payment.objects.filter(due_on__in=due_on, paid_at__isnull=True, contact_id__gt=after)
            .exclude(contact__payment_reminders__day=today)
            .select_related("contact")
            .order_by("contact_id", "due_on", "pk")[: CHUNK * len(due_on)]
        )
        if not payments:
            return reminded
        firsts: dict[int, Payment] = {}
        for payment in payments:
            firsts.setdefault(payment.contact_id, payment)
        chunk = list(firsts.values())[:CHUNK]
        try:
            with transaction.atomic():
                reminded += _remind_chunk(chunk, today)
        except IntegrityError:
            # Another run reminded some of them meanwhile: one by one, each skipped if so.
            with transaction.atomic():
                reminded += sum(_remind(payment, today) for payment in chunk)
        after = chunk[-1].contact_id
        logger.info("payment reminders for %s: %d queued so far", today, reminded)


def _stale_fail(today: dt.date) -> None:
    """Reminders still held for the messaging limit that would no longer tell the truth fail,
    saying why: one whose payment was made meanwhile, and one held past the day it was for
    (today's run reminds the contact again if the payment is still due)."""
    now = timezone.now()
    held = OutboundMessage.objects.filter(
        status=OutboundStatus.HELD, payment_reminder__isnull=False
    )
    for stale, why in (
        (held.filter(payment_reminder__payment__paid_at__isnull=False), "not sent: paid since"),
        (held.filter(payment_reminder__day__lt=today), "not sent: held past the day it was for"),
    ):
        stale.update(
            status=OutboundStatus.FAILED, last_error_text=why, failed_at=now, updated_at=now
        )


def _notification(payment: Payment) -> Notification:
    contact = payment.contact
    params = (contact.profile_name or "there", payment.amount, f"{payment.due_on:%d %B %Y}")
    return Notification(
        contact.wa_id, TemplateMessage(REMINDER_TEMPLATE, REMINDER_LANGUAGE, params)
    )


def _remind_chunk(chunk: list[Payment], today: dt.date) -> int:
    """Remind a chunk of contacts together: their messages in one bulk insert
    (``notifications_send``), their reminders in another."""
    valid: list[tuple[Payment, Notification]] = []
    for payment in chunk:
        notification = _notification(payment)
        try:
            notification_check(notification)
        except OutboundInvalid as exc:
            # A number or an amount Meta would refuse: the others are reminded all the same.
            logger.error("payment %s: no reminder: %s", payment.pk, exc)
            continue
        valid.append((payment, notification))
    sent = notifications_send([notification for _, notification in valid])
    PaymentReminder.objects.bulk_create(
        [
            PaymentReminder(
                contact_id=payment.contact_id, payment=payment, day=today, message_id=ids[0]
            )
            for (payment, _), ids in zip(valid, sent, strict=True)
        ]
    )
    return len(valid)


def _remind(payment: Payment, today: dt.date) -> bool:
    """One contact's reminder in a savepoint of its own: False if another run reminded it, or
    Meta would refuse its notification."""
    try:
        with transaction.atomic():
            [[message_id, *_]] = notifications_send([_notification(payment)])
            PaymentReminder.objects.create(
                contact_id=payment.contact_id, payment=payment, day=today, message_id=message_id
            )
    except IntegrityError:
        return False
    except OutboundInvalid as exc:
        logger.error("payment %s: no reminder: %s", payment.pk, exc)
        return False
    return True
