"""Recovery: the sweeper re-enqueues messages and webhook events whose task was lost, and
resolves messages stuck in ``sending`` (docs/whatsapp.md, "The sweeper and lost tasks").
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from whatsapp import dispatch, selectors
from whatsapp.models import OutboundMessage, OutboundStatus
from whatsapp.services.sending import SEND_TASK_TIME_LIMIT_SECONDS, message_fail

logger = logging.getLogger(__name__)

SWEEP_BATCH_LIMIT = 500


def message_sweep(
    *, stuck_after: float | None = None, overdue_queued: bool = True, due_later: bool = False
) -> list[int]:
    """Re-enqueue messages whose wake-up was lost; returns the ids enqueued.

    ``queued`` rows overdue by ``stuck_after`` go again (the claim turns a late original away),
    unless ``overdue_queued`` is false (their wake-ups may still wait in the queue).
    ``due_later`` also gives each contact's next row not yet due a wake-up at its time: a worker
    that has just (re)connected held such wake-ups, and they died with it.
    Rows still ``sending`` after ``stuck_after`` and the send time limit are sent again, or failed
    past the attempt limit: a rare duplicate beats a missing part (docs/whatsapp.md, "The sweeper
    and lost tasks").
    """
    threshold = settings.WHATSAPP_SWEEP_AFTER_SECONDS if stuck_after is None else stuck_after
    now = timezone.now()
    to_enqueue: list[int] = []
    sending_cutoff = now - dt.timedelta(seconds=max(threshold, SEND_TASK_TIME_LIMIT_SECONDS))
    with transaction.atomic():
        for message in selectors.messages_stuck_sending(
            claimed_before=sending_cutoff, limit=SWEEP_BATCH_LIMIT
        ):
            if message.attempts >= settings.WHATSAPP_SEND_MAX_ATTEMPTS:
                message_fail(
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
        overdue = []
        if overdue_queued:
            overdue = selectors.messages_overdue_queued(
                before=now - dt.timedelta(seconds=threshold), limit=SWEEP_BATCH_LIMIT
            )
        # Due again now, so the next sweep leaves them alone while these wake-ups are on their way.
        OutboundMessage.objects.filter(pk__in=overdue, status=OutboundStatus.QUEUED).update(
            next_attempt_at=now
        )
        to_enqueue = sorted([*to_enqueue, *overdue])
        for message_id in to_enqueue:
            dispatch.message_send_on_commit(message_id=message_id)
        later = []
        if due_later:
            # (The overdue rows, just made due now, are found again here: they have their wake-up.)
            later = [
                (pk, due)
                for pk, due in selectors.messages_due_later_queued(
                    after=now - dt.timedelta(seconds=threshold),
                    until=now + dt.timedelta(seconds=settings.CELERY_MAX_COUNTDOWN),
                    limit=SWEEP_BATCH_LIMIT,
                )
                if pk not in to_enqueue
            ]
        for message_id, due in later:
            countdown = max(0.0, (due - now).total_seconds())
            dispatch.message_send_on_commit(message_id=message_id, countdown=countdown)
    if to_enqueue:
        logger.warning("sweeper re-enqueued %d message(s): %s", len(to_enqueue), to_enqueue)
    if later:
        logger.info("sweeper gave %d message(s) not yet due a wake-up at their time", len(later))
    return [*to_enqueue, *(pk for pk, _ in later)]


def webhook_event_sweep(*, stuck_after: float | None = None) -> list[int]:
    """Re-enqueue stored events whose processing task was lost."""
    threshold = settings.WHATSAPP_SWEEP_AFTER_SECONDS if stuck_after is None else stuck_after
    ids = selectors.events_unprocessed(
        received_before=timezone.now() - dt.timedelta(seconds=threshold), limit=SWEEP_BATCH_LIMIT
    )
    for event_id in ids:
        dispatch.webhook_event_process_on_commit(event_id=event_id)
    return ids
