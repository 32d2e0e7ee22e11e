"""Webhooks: keep each verified body once, then turn it into rows: inbound messages (answered
through the command router), status events, and the errors Meta reports in the body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q
from django.utils import timezone

from ops.db import DATABASE_UNAVAILABLE
from whatsapp import dispatch, pacing
from whatsapp.commands import command_reply
from whatsapp.models import Contact, InboundMessage, StatusEvent, WebhookEvent
from whatsapp.services.errors import graph_error_code, graph_error_title, graph_errors
from whatsapp.services.messaging_limit import held_release
from whatsapp.services.sending import contact_get_or_create, text_send_staggered
from whatsapp.services.statuses import message_status_apply
from whatsapp.validation import WindowClosed
from whatsapp.window import window_is_open

logger = logging.getLogger(__name__)

# An inbound message this recent still weighs on the number's throughput turns.
INBOUND_RECENT = 10.0


def webhook_event_store(*, body: bytes) -> tuple[WebhookEvent, bool]:
    """Keep a verified webhook body; enqueue its processing after commit if it is new.

    The same body posted twice (Meta redelivers) is stored once. One statement, ``INSERT … ON
    CONFLICT (body_sha256) DO NOTHING RETURNING id``: in autocommit (the webhook view) it is
    committed when it returns, and the task is published at once. get_or_create took six
    statements (SELECT, BEGIN, SAVEPOINT, INSERT, RELEASE, COMMIT), a third of the request
    (docs/whatsapp.md, "Webhook ingest").
    """
    digest = hashlib.sha256(body).hexdigest()
    event = WebhookEvent(body=body.decode("utf-8"), body_sha256=digest)
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(connection), _insert_params(event, connection))
        row = cursor.fetchone()
    if row is None:
        return WebhookEvent.objects.get(body_sha256=digest), False
    event.pk = row[0]
    event._state.adding = False
    event._state.db = connection.alias
    dispatch.webhook_event_process_on_commit(event_id=event.pk)
    return event, True


# Every column but the id, as Django would insert them (defaults included).
_INSERT_FIELDS = [f for f in WebhookEvent._meta.concrete_fields if not f.primary_key]


def _insert_sql(conn: BaseDatabaseWrapper) -> str:
    quote = conn.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in _INSERT_FIELDS)
    placeholders = ", ".join(["%s"] * len(_INSERT_FIELDS))
    # Only the model's own table and column names, quoted; the values are parameters.
    return (
        f"INSERT INTO {quote(WebhookEvent._meta.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT ({quote('body_sha256')}) DO NOTHING "
        f"RETURNING {quote(str(WebhookEvent._meta.pk.column))}"
    )


def _insert_params(event: WebhookEvent, conn: BaseDatabaseWrapper) -> list[Any]:
    return [f.get_db_prep_save(f.pre_save(event, add=True), conn) for f in _INSERT_FIELDS]


def _timestamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):  # OSError: too large for time_t
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
    if sent_at is not None and abs((timezone.now() - sent_at).total_seconds()) < INBOUND_RECENT:
        # Meta counted it against the number's level when it came; one redelivered days later
        # is long out of the bucket. Counted once the record commits: a retry counts it once.
        transaction.on_commit(lambda: pacing.inbound_counted(1))
    # The window opens from the message's own time, and only ever moves forward: a delivery
    # Meta retried late, or out of order, does not shorten it.
    wrote_at = sent_at or timezone.now()
    Contact.objects.filter(pk=contact.pk).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=wrote_at)
    ).update(last_inbound_at=wrote_at)
    if window_is_open(wrote_at, timezone.now()):
        # Templates held for the messaging limit need no place under it now the window is open.
        held_release(contact_id=contact.pk)
    if inbound.type == "text" and inbound.text.strip():
        try:
            with transaction.atomic():
                reply = command_reply(contact=contact, text=inbound.text)
                if reply:
                    text_send_staggered(to=contact.wa_id, text=reply)
        except WindowClosed as exc:
            # A message Meta delivered more than a day late: too late to answer with a text.
            logger.warning("no reply to inbound message %s: %s", inbound.wamid, exc)
        except Exception:
            # The message stays recorded (no second reply on redelivery); the error is logged.
            logger.exception("reply to inbound message %s failed", inbound.wamid)
    return inbound


def status_event_record(*, status: dict[str, Any], event: WebhookEvent | None) -> bool:
    """Store one status webhook once per (wamid, status) and apply it; False for a duplicate."""
    wamid = str(status["id"])
    name = str(status.get("status", ""))
    errors = graph_errors(status.get("errors"))
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
        for error in errors:
            logger.warning(
                "message %s %s: error %s (%s)",
                wamid,
                name,
                graph_error_code(error),
                graph_error_title(error),
            )
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
        errors: list[dict[str, Any]] = []
        with transaction.atomic():
            for entry in payload.get("entry") or []:
                for change in entry.get("changes") or []:
                    if change.get("field") != "messages":
                        continue
                    value = change.get("value") or {}
                    errors += _value_errors(value=value, event_id=event.pk)
                    _change_apply(value=value, event=event)
            WebhookEvent.objects.filter(pk=event.pk).update(
                processed_at=timezone.now(), processing_error="", errors=errors
            )
    except DATABASE_UNAVAILABLE:
        # Not bad data: the database went away. The event stays unprocessed, to be tried again.
        raise
    except IntegrityError as exc:
        if WebhookEvent.objects.filter(pk=event.pk, processed_at__isnull=False).exists():
            # A concurrent run of the same event got there first (its rows are committed).
            logger.info("webhook event %s processed concurrently", event_id)
            return False
        return _webhook_event_failed(event_id=event.pk, exc=exc)
    except (DatabaseError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        # Bad data (e.g. a value longer than its column on PostgreSQL): record it, so the sweeper
        # does not retry it forever; an operator can fix and replay it from the admin.
        return _webhook_event_failed(event_id=event.pk, exc=exc)
    return True


def _webhook_event_failed(*, event_id: int, exc: Exception) -> bool:
    WebhookEvent.objects.filter(pk=event_id).update(processing_error=f"{exc!r}"[:2000])
    logger.exception("webhook event %s could not be processed", event_id)
    return False


def _value_errors(*, value: dict[str, Any], event_id: int) -> list[dict[str, Any]]:
    """Errors Meta reports for the change as a whole (``value.errors[]``, e.g. 131000 with no
    message or status), logged by code and title: no user data, only ids."""
    errors = graph_errors(value.get("errors"))
    metadata = value.get("metadata")
    phone_number_id = metadata.get("phone_number_id", "") if isinstance(metadata, dict) else ""
    for error in errors:
        logger.warning(
            "webhook event %s: Meta reported error %s (%s) for phone number id %s",
            event_id,
            graph_error_code(error),
            graph_error_title(error),
            phone_number_id,
        )
    return errors


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
    WebhookEvent.objects.filter(pk=event_id).update(processed_at=None, processing_error="")
    dispatch.webhook_event_process_on_commit(event_id=event_id)
