"""The WhatsApp task names, and enqueueing by name after commit.

``tasks.py`` imports services; services wake tasks through these helpers instead of importing
``whatsapp.tasks``. A name routes like ``.delay()`` does (``config.queues``: the ``io`` queue).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Final

from celery import current_app
from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

SEND_MESSAGE: Final = "whatsapp.tasks.send_message"
PROCESS_WEBHOOK_EVENT: Final = "whatsapp.tasks.process_webhook_event"
SWEEP: Final = "whatsapp.tasks.sweep"
SEND_REPLY: Final = "whatsapp.tasks.send_reply"
PAYMENT_REMINDERS: Final = "whatsapp.tasks.payment_reminders"


def message_send_on_commit(*, message_id: int, countdown: float = 0.0) -> None:
    """Enqueue ``send_message`` for the message once the current transaction commits."""
    transaction.on_commit(partial(_enqueue, SEND_MESSAGE, message_id, countdown=countdown))


def webhook_event_process_on_commit(*, event_id: int) -> None:
    """Enqueue ``process_webhook_event`` for the event once the current transaction commits."""
    transaction.on_commit(partial(_enqueue, PROCESS_WEBHOOK_EVENT, event_id))


def _enqueue(name: str, row_id: int, *, countdown: float | None = None) -> None:
    try:
        # ignore_result: these tasks store nothing as a result (task_ignore_result), but send_task
        # by name does not know that and would subscribe to a result channel for each message.
        current_app.send_task(name, args=[row_id], countdown=countdown, ignore_result=True)
    except OperationalError as exc:
        # The row is committed: the sweeper enqueues it once the broker answers again, so a
        # webhook is still answered 200 and a send is late, not lost.
        logger.warning("broker unreachable; %s(%s) is left to the sweeper: %s", name, row_id, exc)
