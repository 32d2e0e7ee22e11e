"""WhatsApp tasks (queue ``io``, gevent worker): take an id, call one service.

acks_late is off here, as on the io queue by default (config.queues.QUEUE_ACKS_LATE), and said
so on each task: the claim on the row and the sweeper already recover lost sends, and gevent +
acks_late + Redis measured 7.5-36 tasks/s against 246/s without it (docs/troubleshooting.md,
"gevent worker slower than expected with acks_late"). The full reasoning, countdowns and SIGKILL
included: docs/whatsapp.md, "acks_late and gevent".
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from ops.db import DATABASE_UNAVAILABLE, database_retry_countdown
from ops.queues import messages_waiting
from whatsapp import dispatch, services
from whatsapp.client import WhatsAppAuthError
from whatsapp.validation import WindowClosed

logger = logging.getLogger(__name__)

# Tries after the database went away (a restart, a failover): a minute or more of countdowns,
# each try also waiting up to the pool's 30 s for a connection. Past that the row, still queued,
# or the event, still unprocessed, is the sweeper's once the database answers again.
DATABASE_RETRIES = 10


@shared_task(
    bind=True,
    name=dispatch.SEND_MESSAGE,
    acks_late=False,
    # The row bounds the attempts (WHATSAPP_SEND_MAX_ATTEMPTS) and the waits (the message before
    # it always becomes final: its own attempts are bounded, and the sweeper recovers lost ones),
    # so Celery's own retry counter is not the limit here.
    max_retries=None,
    soft_time_limit=services.SEND_TASK_TIME_LIMIT_SECONDS - 5,
    time_limit=services.SEND_TASK_TIME_LIMIT_SECONDS,
)
def send_message(self: Any, message_id: int, database_retries: int = 0) -> str:
    """Wake-up for one OutboundMessage: send it if it is due and next in line, else sleep again;
    a message that opens its contact's burst brings the burst's next parts along.

    ``database_retries`` counts the tries lost to an unavailable database; the row's own retries
    (``later``) do not count against it."""
    try:
        outcome = services.message_send_carrying(message_id=message_id)
    except DATABASE_UNAVAILABLE as exc:
        if database_retries >= DATABASE_RETRIES:
            raise
        raise self.retry(
            exc=exc,
            kwargs={"database_retries": database_retries + 1},
            countdown=database_retry_countdown(database_retries),
            max_retries=None,
        ) from exc
    except WhatsAppAuthError:
        logger.exception(
            "WhatsApp rejected the access token: message %s failed. Replace "
            "WHATSAPP_ACCESS_TOKEN; failed messages can be re-sent from the admin.",
            message_id,
        )
        raise
    if outcome.result == "later" and outcome.retry_in is not None:
        countdown = max(services.send_countdown(outcome.retry_in), 0.05)
        raise self.retry(countdown=countdown, max_retries=None)
    return outcome.result


@shared_task(
    name=dispatch.PROCESS_WEBHOOK_EVENT,
    acks_late=False,  # same reasoning as send_message: the stored event and the sweeper recover
    soft_time_limit=50,
    time_limit=60,
    # The event stays unprocessed meanwhile; should the retries run out, the sweeper has it.
    autoretry_for=DATABASE_UNAVAILABLE,
    retry_backoff=True,
    retry_backoff_max=15,
    max_retries=DATABASE_RETRIES,
)
def process_webhook_event(event_id: int) -> bool:
    return services.webhook_event_process(event_id=event_id)


@shared_task(
    name=dispatch.SWEEP,
    acks_late=False,
    soft_time_limit=50,
    time_limit=60,
)
def sweep(stuck_after: float | None = None, behind_backlog: bool = False) -> dict[str, int]:
    """Periodic (beat, and each worker-io): recover messages and webhook events whose task was
    lost, overdue by ``stuck_after`` seconds (default WHATSAPP_SWEEP_AFTER_SECONDS), and queue
    again the messages held for the messaging limit once the count allows.

    While wake-ups still wait in the ``io`` queue, an overdue row may simply be behind them, and
    enqueueing it again would add work exactly when the worker is behind: queued rows and events
    wait for the queue to drain. ``behind_backlog`` sweeps them anyway, for a worker that has just
    (re)connected: the wake-ups it held died with its last connection, those already due and
    those due later (which get a wake-up at their time)."""
    queued_too = behind_backlog or not messages_waiting(send_message)
    messages = services.message_sweep(
        stuck_after=stuck_after, overdue_queued=queued_too, due_later=behind_backlog
    )
    events = services.webhook_event_sweep(stuck_after=stuck_after) if queued_too else []
    held = services.held_release()
    return {"messages": len(messages), "events": len(events), "held": len(held)}


@shared_task(
    name=dispatch.SEND_REPLY,
    # At most once: a redelivered reply would send every part a second time.
    acks_late=False,
    soft_time_limit=25,
    time_limit=30,
)
def send_reply(to: str, text: str) -> int:
    """A reply another app asked for (``commands.send_reply``): store and send its parts; none
    if the contact's 24-hour window closed meanwhile (logged)."""
    try:
        return len(services.text_send_staggered(to=to, text=text))
    except WindowClosed as exc:
        logger.warning("reply to %s not sent: %s", to, exc)
        return 0


@shared_task(
    name=dispatch.PAYMENT_REMINDERS,
    # Back to the queue if its worker dies mid-run; a run that does get lost, or is cut off by its
    # time limit, is made up by the next one (beat runs it hourly through the day): the rows say
    # who was reminded. (The limit stays under the broker's redelivery timeout: ops.E020.)
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
    autoretry_for=DATABASE_UNAVAILABLE,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=DATABASE_RETRIES,
)
def payment_reminders() -> int:
    """Beat's daily payment reminder (services.reminders); returns how many it reminded."""
    return services.payment_reminders_send()
