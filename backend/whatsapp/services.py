"""WhatsApp writes: staggered sends, the claim-and-send step, webhook processing, the sweeper.

The rows are the source of truth. A task is only a wake-up call for one row: the row says
whether the message is still to be sent (the claim), when (``next_attempt_at``) and whether an
earlier message to the same contact must go first. That is what makes a duplicate task, a
redelivered message or a sweeper re-enqueue harmless.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ops.db import connection_release
from whatsapp import selectors
from whatsapp.client import (
    WhatsAppAuthError,
    WhatsAppError,
    WhatsAppPairRateLimitError,
    WhatsAppTransientError,
    get_client,
)
from whatsapp.models import (
    Contact,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    StatusEvent,
    WebhookEvent,
)
from whatsapp.text import text_split

logger = logging.getLogger(__name__)

# The send task's hard time limit. A row still `sending` after it has no live task any more.
SEND_TIME_LIMIT_SECONDS = 30
# Sent as biz_opaque_callback_data and echoed in status webhooks: matches a status to our row
# even when the send's response (and so the wamid) was lost.
CALLBACK_PREFIX = "outbound:"
TRANSIENT_BACKOFF_BASE_SECONDS = 2.0
TRANSIENT_BACKOFF_MAX_SECONDS = 300.0
SWEEP_BATCH_LIMIT = 500
SPACING_TOLERANCE = 0.1

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


@dataclass(frozen=True)
class SendOutcome:
    """What one wake-up did: ``sent``, ``failed``, ``skipped`` (nothing to do) or ``later``."""

    result: str
    retry_in: float | None = None


# --- Sending -----------------------------------------------------------------------------------


def contact_get_or_create(*, wa_id: str, profile_name: str = "") -> Contact:
    contact, created = Contact.objects.get_or_create(
        wa_id=wa_id, defaults={"profile_name": profile_name}
    )
    if not created and profile_name and contact.profile_name != profile_name:
        Contact.objects.filter(pk=contact.pk).update(
            profile_name=profile_name, updated_at=timezone.now()
        )
        contact.profile_name = profile_name
    return contact


def _max_countdown() -> float:
    return float(settings.CELERY_MAX_COUNTDOWN)


def send_countdown(seconds: float) -> float:
    """A countdown clamped to [0, CELERY_MAX_COUNTDOWN]: the visibility timeout covers no more."""
    return max(0.0, min(seconds, _max_countdown()))


def _enqueue_send(message_id: int, countdown: float) -> None:
    from whatsapp.tasks import send_message

    send_message.apply_async((message_id,), countdown=send_countdown(countdown))


def text_send_staggered(*, to: str, text: str) -> list[int]:
    """Queue ``text`` to ``to`` (wa_id, E.164 digits) as parts of at most 4096 characters.

    All rows are created in one transaction; after it commits, part N is enqueued with a
    countdown of N x WHATSAPP_PART_SPACING_SECONDS (capped at CELERY_MAX_COUNTDOWN: the row's
    ``next_attempt_at`` holds the real time, and an early wake-up goes back to sleep). Returns
    the OutboundMessage ids in order.
    """
    parts = text_split(text)
    if not parts:
        raise ValueError("text is empty")
    spacing = settings.WHATSAPP_PART_SPACING_SECONDS
    batch = uuid.uuid4()
    with transaction.atomic():
        contact = contact_get_or_create(wa_id=to)
        now = timezone.now()
        rows = []
        for position, body in enumerate(parts):
            due = now + dt.timedelta(seconds=position * spacing)
            rows.append(
                OutboundMessage(
                    contact=contact,
                    body=body,
                    batch=batch,
                    position=position,
                    batch_size=len(parts),
                    scheduled_at=due,
                    next_attempt_at=due,
                )
            )
        created = OutboundMessage.objects.bulk_create(rows)
        ids = [row.pk for row in created]
        for position, message_id in enumerate(ids):
            transaction.on_commit(
                lambda m=message_id, c=position * spacing: _enqueue_send(m, c)  # type: ignore[misc]
            )
    return ids


def _ordering_poll_seconds() -> float:
    """How often a message waiting for the one before it looks again."""
    return min(max(settings.WHATSAPP_PART_SPACING_SECONDS, 0.25), 5.0)


def _postpone(message_id: int, seconds: float) -> SendOutcome:
    OutboundMessage.objects.filter(pk=message_id, status=OutboundStatus.QUEUED).update(
        next_attempt_at=timezone.now() + dt.timedelta(seconds=seconds)
    )
    return SendOutcome("later", seconds)


def _transient_backoff(attempts: int) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random."""
    ceiling = min(
        TRANSIENT_BACKOFF_MAX_SECONDS,
        _max_countdown(),
        TRANSIENT_BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0),
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not security)


def _pair_rate_limit_backoff(attempts: int) -> float:
    """Meta's advice for 131056: retry after 4^X seconds (1, 4, 16, 64, ...), plus a little."""
    base = min(4.0 ** max(attempts - 1, 0), _max_countdown())
    return min(base * random.uniform(1.0, 1.2), _max_countdown())  # noqa: S311


def message_send(*, message_id: int) -> SendOutcome:
    """Send one queued message, at most once per claim; see the module docstring.

    Returns ``later`` (with seconds) when it is not yet due, when an earlier message to the same
    contact is still pending (ordering), when the contact's last message went out less than the
    part spacing ago, or after a retryable error. Raises ``WhatsAppAuthError`` after marking the
    message failed: a bad token needs an operator, so it must be loud.
    """
    message = OutboundMessage.objects.select_related("contact").filter(pk=message_id).first()
    if message is None or message.status != OutboundStatus.QUEUED:
        return SendOutcome("skipped")
    now = timezone.now()
    not_due_for = (message.next_attempt_at - now).total_seconds()
    if not_due_for > 0:
        return SendOutcome("later", not_due_for)
    if selectors.message_blocked_by_earlier(message=message):
        return _postpone(message.pk, _ordering_poll_seconds())
    spacing = settings.WHATSAPP_PART_SPACING_SECONDS
    last_request_at = selectors.contact_last_request_at(contact_id=message.contact_id)
    if last_request_at is not None:
        shortfall = spacing - (now - last_request_at).total_seconds()
        # A few percent short is scheduling jitter between two on-time parts, not a burst.
        if shortfall > SPACING_TOLERANCE * spacing:
            return _postpone(message.pk, shortfall)

    claimed = OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.QUEUED).update(
        status=OutboundStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
    )
    if not claimed:
        return SendOutcome("skipped")  # another wake-up claimed it first
    message.refresh_from_db(fields=["attempts"])
    attempts = message.attempts

    connection_release()
    try:
        sent = get_client().text_send(
            to=message.contact.wa_id,
            body=message.body,
            callback_data=f"{CALLBACK_PREFIX}{message.pk}",
        )
    except WhatsAppAuthError as exc:
        _message_fail(message=message, code=exc.code, text=str(exc))
        raise
    except WhatsAppTransientError as exc:
        if attempts >= settings.WHATSAPP_SEND_MAX_ATTEMPTS:
            _message_fail(
                message=message, code=exc.code, text=f"gave up after {attempts} attempts: {exc}"
            )
            return SendOutcome("failed")
        if isinstance(exc, WhatsAppPairRateLimitError):
            delay = _pair_rate_limit_backoff(attempts)
        else:
            delay = _transient_backoff(attempts)
        _message_release(message=message, delay=delay, code=exc.code, text=str(exc))
        logger.warning("message %s: %s; retrying in %.1fs", message.pk, exc, delay)
        return SendOutcome("later", delay)
    except WhatsAppError as exc:
        _message_fail(message=message, code=exc.code, text=str(exc))
        return SendOutcome("failed")

    sent_at = timezone.now()
    OutboundMessage.objects.filter(
        pk=message.pk, status__in=(OutboundStatus.SENDING, OutboundStatus.QUEUED)
    ).update(status=OutboundStatus.SENT, wamid=sent.wamid, sent_at=sent_at, updated_at=sent_at)
    _status_events_replay(wamid=sent.wamid)
    return SendOutcome("sent")


def _message_release(
    *, message: OutboundMessage, delay: float, code: int | None, text: str
) -> None:
    """Give a claimed message back to the queue, due again after ``delay`` seconds."""
    now = timezone.now()
    OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.SENDING).update(
        status=OutboundStatus.QUEUED,
        next_attempt_at=now + dt.timedelta(seconds=delay),
        last_error_code=code,
        last_error_text=text,
        updated_at=now,
    )


def _message_fail(*, message: OutboundMessage, code: int | None, text: str) -> None:
    """Mark the message failed, and the rest of its batch with it (see docs/whatsapp.md).

    A reply with a hole in the middle reads wrong, and most permanent errors (131026
    undeliverable, 131047 outside the 24 h window, a bad token) would fail the later parts too.
    The later parts become final at once, so nothing after them waits for them.
    """
    now = timezone.now()
    with transaction.atomic():
        OutboundMessage.objects.filter(
            pk=message.pk, status__in=(OutboundStatus.SENDING, OutboundStatus.QUEUED)
        ).update(
            status=OutboundStatus.FAILED,
            last_error_code=code,
            last_error_text=text,
            failed_at=now,
            updated_at=now,
        )
        skipped = OutboundMessage.objects.filter(
            batch=message.batch, position__gt=message.position, status=OutboundStatus.QUEUED
        ).update(
            status=OutboundStatus.FAILED,
            last_error_text=f"skipped: part {message.position + 1} of this reply failed ({code})",
            failed_at=now,
            updated_at=now,
        )
    logger.error(
        "message %s failed (%s): %s; %d later part(s) skipped", message.pk, code, text, skipped
    )


def message_requeue(*, message_id: int) -> bool:
    """Send a failed message again (admin action); True if it was failed and is queued now."""
    now = timezone.now()
    with transaction.atomic():
        requeued = OutboundMessage.objects.filter(
            pk=message_id, status=OutboundStatus.FAILED
        ).update(
            status=OutboundStatus.QUEUED,
            attempts=0,
            next_attempt_at=now,
            failed_at=None,
            updated_at=now,
        )
        if requeued:
            transaction.on_commit(lambda: _enqueue_send(message_id, 0))
    return bool(requeued)


def message_sweep(*, stuck_after: float | None = None) -> list[int]:
    """Re-enqueue messages whose wake-up was lost; returns the ids enqueued.

    - ``queued`` with ``next_attempt_at`` more than ``stuck_after`` ago: the task was lost (a
      worker died holding it, a publish failed). Enqueue it again; the claim makes a late
      original harmless.
    - ``sending`` for longer than ``stuck_after`` and the send task's time limit: the worker died
      during the HTTP call. Ambiguous: Meta may have accepted it. Unless a status webhook matched
      it in the meantime (``biz_opaque_callback_data``), it is sent again: a rare duplicate is
      preferred to a reply with a part missing. Past the attempt limit it is failed instead.
    """
    threshold = settings.WHATSAPP_SWEEP_AFTER_SECONDS if stuck_after is None else stuck_after
    now = timezone.now()
    to_enqueue: list[int] = []
    sending_cutoff = now - dt.timedelta(seconds=max(threshold, SEND_TIME_LIMIT_SECONDS))
    with transaction.atomic():
        for message in selectors.messages_stuck_sending(
            claimed_before=sending_cutoff, limit=SWEEP_BATCH_LIMIT
        ):
            if message.attempts >= settings.WHATSAPP_SEND_MAX_ATTEMPTS:
                _message_fail(
                    message=message,
                    code=None,
                    text=f"gave up after {message.attempts} attempts; the last one was interrupted",
                )
                continue
            released = OutboundMessage.objects.filter(
                pk=message.pk, status=OutboundStatus.SENDING, claimed_at__lt=sending_cutoff
            ).update(
                status=OutboundStatus.QUEUED,
                next_attempt_at=now,
                last_error_text="interrupted during the send (worker lost): sending again",
                updated_at=now,
            )
            if released:
                to_enqueue.append(message.pk)
        overdue = selectors.messages_overdue_queued(
            before=now - dt.timedelta(seconds=threshold), limit=SWEEP_BATCH_LIMIT
        )
        # Due again now, so the next sweep leaves them alone while these wake-ups are on their way.
        OutboundMessage.objects.filter(pk__in=overdue, status=OutboundStatus.QUEUED).update(
            next_attempt_at=now
        )
        to_enqueue = sorted([*to_enqueue, *overdue])
        for message_id in to_enqueue:
            transaction.on_commit(lambda m=message_id: _enqueue_send(m, 0))  # type: ignore[misc]
    if to_enqueue:
        logger.warning("sweeper re-enqueued %d message(s): %s", len(to_enqueue), to_enqueue)
    return to_enqueue


# --- Webhooks ----------------------------------------------------------------------------------


def webhook_event_store(*, body: bytes) -> tuple[WebhookEvent, bool]:
    """Keep a verified webhook body; enqueue its processing after commit if it is new.

    The same body posted twice (Meta redelivers) is stored once.
    """
    from whatsapp.tasks import process_webhook_event

    digest = hashlib.sha256(body).hexdigest()
    try:
        with transaction.atomic():
            event, created = WebhookEvent.objects.get_or_create(
                body_sha256=digest, defaults={"body": body.decode("utf-8")}
            )
            if created:
                event_id = event.pk
                transaction.on_commit(lambda: process_webhook_event.delay(event_id))
    except IntegrityError:
        return WebhookEvent.objects.get(body_sha256=digest), False
    return event, created


def _timestamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _inbound_text(message: dict[str, Any]) -> str:
    kind = message.get("type")
    if kind == "text":
        return str((message.get("text") or {}).get("body", ""))
    if kind == "button":
        return str((message.get("button") or {}).get("text", ""))
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        return str(reply.get("title", ""))
    return ""


def inbound_message_record(
    *, message: dict[str, Any], profile_name: str, event: WebhookEvent | None
) -> InboundMessage | None:
    """Store one inbound message (once per wamid) and answer texts through the command router."""
    from whatsapp.commands import command_reply

    wa_id = str(message["from"])
    contact = contact_get_or_create(wa_id=wa_id, profile_name=profile_name)
    sent_at = _timestamp(message.get("timestamp"))
    inbound, created = InboundMessage.objects.get_or_create(
        wamid=str(message["id"]),
        defaults={
            "contact": contact,
            "type": str(message.get("type", "")),
            "text": _inbound_text(message),
            "sent_at": sent_at,
            "payload": message,
            "event": event,
        },
    )
    if not created:
        return None
    Contact.objects.filter(pk=contact.pk).update(last_inbound_at=sent_at or timezone.now())
    if inbound.type == "text" and inbound.text.strip():
        try:
            with transaction.atomic():
                reply = command_reply(contact=contact, text=inbound.text)
                if reply:
                    text_send_staggered(to=contact.wa_id, text=reply)
        except Exception:
            # The message stays recorded (no second reply on redelivery); the error is logged.
            logger.exception("reply to inbound message %s failed", inbound.wamid)
    return inbound


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
        OutboundMessage.objects.filter(
            pk=pk,
            wamid__isnull=True,
            status__in=(OutboundStatus.QUEUED, OutboundStatus.SENDING),
        ).update(status=OutboundStatus.SENT, wamid=wamid, sent_at=at, updated_at=timezone.now())
        message = OutboundMessage.objects.filter(wamid=wamid).first()
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
        first = errors[0] if errors else {}
        code = first.get("code")
        text = first.get("message") or first.get("title") or ""
        details = (first.get("error_data") or {}).get("details")
        rows.exclude(status__in=(OutboundStatus.DELIVERED, OutboundStatus.READ)).update(
            status=OutboundStatus.FAILED,
            last_error_code=code if isinstance(code, int) else None,
            last_error_text=f"{text}: {details}" if details else str(text),
            failed_at=at,
            updated_at=timezone.now(),
        )
    message.refresh_from_db()
    return message


def _status_events_replay(*, wamid: str) -> None:
    """Statuses that arrived before we recorded the wamid (the webhook raced the response)."""
    for event in StatusEvent.objects.filter(wamid=wamid).order_by("pk"):
        message_status_apply(
            wamid=wamid, status=event.status, at=event.occurred_at, errors=event.errors
        )


def status_event_record(*, status: dict[str, Any], event: WebhookEvent | None) -> bool:
    """Store one status webhook once per (wamid, status) and apply it; False for a duplicate."""
    wamid = str(status["id"])
    name = str(status.get("status", ""))
    errors = status.get("errors") or []
    occurred_at = _timestamp(status.get("timestamp"))
    _, created = StatusEvent.objects.get_or_create(
        wamid=wamid,
        status=name,
        defaults={
            "occurred_at": occurred_at,
            "recipient_id": str(status.get("recipient_id", "")),
            "errors": errors,
            "payload": status,
            "event": event,
        },
    )
    if created:
        message_status_apply(
            wamid=wamid,
            status=name,
            at=occurred_at,
            errors=errors,
            callback_data=str(status.get("biz_opaque_callback_data", "")),
        )
    return created


def webhook_event_process(*, event_id: int) -> bool:
    """Turn one stored webhook into rows; False if it was already processed or is gone.

    Handles every entry and change in the batch. Inbound messages are deduplicated by id and
    statuses by (id, status), so processing the same event twice changes nothing.
    """
    event = WebhookEvent.objects.filter(pk=event_id).first()
    if event is None or event.processed_at is not None:
        return False
    try:
        payload = json.loads(event.body)
        with transaction.atomic():
            for entry in payload.get("entry") or []:
                for change in entry.get("changes") or []:
                    if change.get("field") != "messages":
                        continue
                    _change_apply(value=change.get("value") or {}, event=event)
            WebhookEvent.objects.filter(pk=event.pk).update(
                processed_at=timezone.now(), processing_error=""
            )
    except IntegrityError as exc:
        if WebhookEvent.objects.filter(pk=event.pk, processed_at__isnull=False).exists():
            # A concurrent run of the same event got there first (its rows are committed).
            logger.info("webhook event %s processed concurrently", event_id)
            return False
        return _webhook_event_failed(event_id=event.pk, exc=exc)
    except (DatabaseError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # Bad data (e.g. a value longer than its column on PostgreSQL): record it, so the sweeper
        # does not retry it forever; an operator can fix and replay it from the admin.
        return _webhook_event_failed(event_id=event.pk, exc=exc)
    return True


def _webhook_event_failed(*, event_id: int, exc: Exception) -> bool:
    WebhookEvent.objects.filter(pk=event_id).update(processing_error=f"{exc!r}"[:2000])
    logger.exception("webhook event %s could not be processed", event_id)
    return False


def _change_apply(*, value: dict[str, Any], event: WebhookEvent) -> None:
    names = {
        str(c.get("wa_id", "")): str((c.get("profile") or {}).get("name", ""))
        for c in value.get("contacts") or []
    }
    for message in value.get("messages") or []:
        inbound_message_record(
            message=message, profile_name=names.get(str(message.get("from")), ""), event=event
        )
    for status in value.get("statuses") or []:
        status_event_record(status=status, event=event)


def webhook_event_reprocess(*, event_id: int) -> None:
    """Process a stored event again (admin action, replay); dedupe keeps it harmless."""
    from whatsapp.tasks import process_webhook_event

    WebhookEvent.objects.filter(pk=event_id).update(processed_at=None, processing_error="")
    transaction.on_commit(lambda: process_webhook_event.delay(event_id))


def webhook_event_sweep(*, stuck_after: float | None = None) -> list[int]:
    """Re-enqueue stored events whose processing task was lost."""
    from whatsapp.tasks import process_webhook_event

    threshold = settings.WHATSAPP_SWEEP_AFTER_SECONDS if stuck_after is None else stuck_after
    ids = selectors.events_unprocessed(
        received_before=timezone.now() - dt.timedelta(seconds=threshold), limit=SWEEP_BATCH_LIMIT
    )
    for event_id in ids:
        transaction.on_commit(lambda e=event_id: process_webhook_event.delay(e))  # type: ignore[misc]
    return ids
