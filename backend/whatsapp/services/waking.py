"""Waking the next message to a contact: at its time, stamped so the row shows when and why.

Below ``sending`` and ``statuses``, which both wake: a send that ends final, and a status
webhook adopting a row whose send never recorded it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from whatsapp import dispatch, selectors
from whatsapp.models import OutboundMessage, OutboundStatus
from whatsapp.services import claim

# A next message due this much later than its row says is stamped again (the sweeper would take
# its wake-up for lost otherwise).
RESTAMP_AFTER_SECONDS = 1.0


@dataclass(frozen=True)
class NextDue:
    """When the next message to a contact may go, and what (if anything) holds it until then."""

    at: dt.datetime
    waiting_for: str


def max_countdown() -> float:
    return float(settings.CELERY_MAX_COUNTDOWN)


def send_countdown(seconds: float) -> float:
    """A countdown clamped to [0, CELERY_MAX_COUNTDOWN]: the visibility timeout covers no more."""
    return max(0.0, min(seconds, max_countdown()))


def message_wake_next(message: OutboundMessage) -> None:
    """This message is final: wake the next one to the same contact, due at its own time (the
    part spacing is kept by ``message_send`` itself)."""
    following = selectors.message_next_queued(message=message)
    if following is not None:
        message_wake(
            following=claim.NextQueued(
                following.pk, following.scheduled_at, following.next_attempt_at
            )
        )


def message_wake(
    *, following: claim.NextQueued, due: NextDue | None = None, enqueue: bool = True
) -> dt.datetime:
    """Wake the next message at its time: ``due`` if known, else its planned time. A row whose
    stamped time is later (the sweeper, a spacing wait, a plan the sends outran) or much earlier
    (a burst the sends missed) is stamped again, so it shows when it is due and why. Returns
    that time; ``enqueue`` False leaves the wake-up to the caller."""
    now = timezone.now()
    at = max(following.scheduled_at if due is None else due.at, now)
    drift = (following.next_attempt_at - at).total_seconds()
    # A carried message (not ``enqueue``) goes within moments: only a stamp its claim would
    # refuse is worth a statement.
    if drift > 0 or (due is not None and enqueue and drift < -RESTAMP_AFTER_SECONDS):
        changes: dict[str, object] = {"next_attempt_at": at}
        if due is not None:
            changes.update(scheduled_at=at, waiting_for=due.waiting_for)
        OutboundMessage.objects.filter(pk=following.id, status=OutboundStatus.QUEUED).update(
            **changes
        )
    if enqueue:
        dispatch.message_send_on_commit(
            message_id=following.id, countdown=send_countdown((at - now).total_seconds())
        )
    return at
