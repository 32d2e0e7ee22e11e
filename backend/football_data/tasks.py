"""football_data tasks: routed to the ``cpu`` queue (prefork) by ``config.queues``.

Each task takes plain values, calls one service and owns its retries and time limits. Only the
client's transient errors are retried; a 429 or a full shared limiter retries after the wait the
provider asked for, instead of keeping a worker process asleep.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from football_data import selectors, services
from football_data.client import FootballDataRateLimited, FootballDataTransientError

logger = logging.getLogger(__name__)

# Bounds a single fan-out so one run never floods the queue; the next run picks up the rest.
MAX_TICKETS_PER_RUN = 200_000


def _retry_rate_limited(task: Any, exc: FootballDataRateLimited) -> Exception:
    countdown = min(int(exc.retry_after) + 1, settings.CELERY_MAX_COUNTDOWN)
    return task.retry(exc=exc, countdown=countdown)


def _enabled() -> bool:
    """The integration is on when its token is set; without one the syncs do nothing."""
    if not settings.FOOTBALL_DATA_API_TOKEN:
        logger.info("football_data: FOOTBALL_DATA_API_TOKEN is not set; skipping the sync")
        return False
    return True


@shared_task(
    bind=True,
    autoretry_for=(FootballDataTransientError,),
    soft_time_limit=60,
    time_limit=90,
)
def sync_fixtures(self: Any, days: int | None = None) -> int:
    if not _enabled():
        return 0
    try:
        return services.fixtures_sync(days=days)
    except FootballDataRateLimited as exc:
        raise _retry_rate_limited(self, exc) from exc


@shared_task(
    bind=True,
    autoretry_for=(FootballDataTransientError,),
    soft_time_limit=60,
    time_limit=90,
)
def sync_results(self: Any, days: int = 3, settle: bool = True) -> int:
    if not _enabled():
        return 0
    try:
        written = services.results_sync(days=days)
    except FootballDataRateLimited as exc:
        raise _retry_rate_limited(self, exc) from exc
    if settle and written:
        settle_tickets.delay()
    return written


@shared_task(soft_time_limit=60, time_limit=90)
def settle_tickets(chunk_size: int | None = None) -> int:
    """Fan out: enqueue the settleable open tickets in bounded chunks of ids."""
    size = chunk_size or settings.FOOTBALL_DATA_SETTLE_CHUNK_SIZE
    ids = selectors.ticket_ids_settleable(limit=MAX_TICKETS_PER_RUN)
    for start in range(0, len(ids), size):
        settle_ticket_chunk.delay(ids[start : start + size])
    return len(ids)


@shared_task(soft_time_limit=120, time_limit=150)
def settle_ticket_chunk(ticket_ids: list[int]) -> int:
    return services.tickets_settle(ticket_ids=ticket_ids).settled


# At most once: a crash mid-send must not send the whole multi-part reply a second time (the
# contact can simply ask again), so this task acknowledges on receipt.
@shared_task(acks_late=False, soft_time_limit=30, time_limit=45)
def send_fixtures(
    wa_id: str, competitions: list[str] | None = None, days: int | None = None
) -> int:
    """Build the upcoming-fixtures reply and queue it as staggered WhatsApp parts."""
    from whatsapp.services import text_send_staggered

    matches = list(
        selectors.fixture_list_upcoming(
            days=days or settings.FOOTBALL_DATA_FIXTURES_DAYS, competitions=competitions
        )
    )
    return len(text_send_staggered(to=wa_id, text=selectors.fixtures_text(matches=matches)))
