"""football_data tasks: routed to the ``cpu`` queue (prefork) by ``football_data.routes``.

Each task takes plain values, calls one service and owns its retries and time limits. A rate
limit is never slept on: the task retries with a countdown, for the competitions not yet synced
(docs/football_data.md, "Rate-limited syncs retry; they don't sleep").
"""

from __future__ import annotations

import logging
import math
import random
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from football_data import selectors, services
from football_data.client import FootballDataRateLimited, FootballDataTransientError
from ops.queues import messages_waiting

logger = logging.getLogger(__name__)

# Bounds a single fan-out so one run never floods the queue; the next run picks up the rest.
MAX_TICKETS_PER_RUN = 200_000
# The fan-out claims this many chunks' worth at a time and enqueues them before claiming more, so
# other processes settle the first chunks while it claims the rest.
FAN_OUT_ROUND_CHUNKS = 4
# Bounds one sweep likewise; with chunks waiting again, the next sweep waits for them.
SWEEP_TICKET_LIMIT = 20_000
# A rate-limited sync comes back 1..N seconds after the wait it was given, so the syncs refused
# by the same full window (or the same 429) do not all ask again in the same second.
RATE_LIMIT_JITTER_SECONDS = 5


def rate_limited_countdown(retry_after: float) -> int:
    """Whole seconds to wait before retrying: never sooner than ``retry_after``, jittered, and
    at most CELERY_MAX_COUNTDOWN (kept below the broker's visibility timeout)."""
    jitter = random.randint(1, RATE_LIMIT_JITTER_SECONDS)  # noqa: S311  (not cryptographic)
    return min(math.ceil(retry_after) + jitter, settings.CELERY_MAX_COUNTDOWN)


def _retry_rate_limited(task: Any, exc: FootballDataRateLimited) -> Exception:
    kwargs = dict(task.request.kwargs or {})
    if isinstance(exc, services.SyncRateLimited):
        # The competitions before these are stored; fetching them again would spend the very
        # budget that ran out (with more competitions than the per-minute plan, for ever).
        kwargs["competitions"] = exc.remaining
    countdown = rate_limited_countdown(exc.retry_after)
    return task.retry(exc=exc, countdown=countdown, kwargs=kwargs)


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
def sync_fixtures(self: Any, days: int | None = None, competitions: list[str] | None = None) -> int:
    if not _enabled():
        return 0
    try:
        return services.fixtures_sync(days=days, competitions=competitions)
    except FootballDataRateLimited as exc:
        raise _retry_rate_limited(self, exc) from exc


@shared_task(
    bind=True,
    autoretry_for=(FootballDataTransientError,),
    soft_time_limit=60,
    time_limit=90,
)
def sync_results(
    self: Any, days: int = 3, settle: bool = True, competitions: list[str] | None = None
) -> int:
    if not _enabled():
        return 0
    try:
        written = services.results_sync(days=days, competitions=competitions)
    except FootballDataRateLimited as exc:
        raise _retry_rate_limited(self, exc) from exc
    if settle and written:
        settle_tickets.delay()
    return written


def _enqueue_chunks(ids: list[int], chunk_size: int | None = None) -> None:
    size = chunk_size or settings.FOOTBALL_DATA_SETTLE_CHUNK_SIZE
    for start in range(0, len(ids), size):
        settle_ticket_chunk.delay(ids[start : start + size])


@shared_task(soft_time_limit=60, time_limit=90)
def settle_tickets(chunk_size: int | None = None) -> int:
    """Fan out: claim the settleable open tickets nobody queued yet, enqueue them in bounded
    chunks of ids. Settlement triggered again meanwhile finds them claimed and adds nothing.

    Claims go in rounds of FAN_OUT_ROUND_CHUNKS chunks, each round's chunks enqueued before the
    next round is claimed: claiming all 20,000 tickets of the benchmark at once took 0.6 s during
    which no chunk could start, a serial part that kept two processes from doubling throughput.
    """
    size = chunk_size or settings.FOOTBALL_DATA_SETTLE_CHUNK_SIZE
    claimed = 0
    while claimed < MAX_TICKETS_PER_RUN:
        limit = min(size * FAN_OUT_ROUND_CHUNKS, MAX_TICKETS_PER_RUN - claimed)
        ids = services.tickets_claim_settleable(limit=limit)
        _enqueue_chunks(ids, size)
        claimed += len(ids)
        if len(ids) < limit:
            break
    return claimed


@shared_task(soft_time_limit=120, time_limit=150)
def settle_ticket_chunk(ticket_ids: list[int]) -> int:
    return services.tickets_settle(ticket_ids=ticket_ids).settled


@shared_task(soft_time_limit=30, time_limit=40)
def settle_sweep(stuck_after: float | None = None) -> int:
    """Re-enqueue tickets whose chunk died with its worker; every worker-cpu runs it every few
    seconds by itself (``schedules.WORKER_SCHEDULE``). A chunk a worker held when it was killed
    would come back from Redis only after the visibility timeout (an hour).

    A claim older than ``stuck_after`` (default FOOTBALL_DATA_SETTLE_SWEEP_AFTER_SECONDS), on a
    ticket still open and not locked by a running chunk, while no chunk waits in the queue,
    belongs to a lost chunk. While chunks still wait, the sweep waits too: they may hold those
    tickets.
    """
    if stuck_after is None:
        stuck_after = settings.FOOTBALL_DATA_SETTLE_SWEEP_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=stuck_after)
    overdue = selectors.ticket_ids_settle_overdue(queued_before=cutoff, limit=SWEEP_TICKET_LIMIT)
    if not overdue or messages_waiting(settle_ticket_chunk):
        return 0
    ids = services.tickets_claim_overdue(ticket_ids=overdue, queued_before=cutoff)
    _enqueue_chunks(ids)
    if ids:
        logger.warning(
            "settlement sweep: re-enqueued %d ticket(s) whose chunk was lost (%d..%d)",
            len(ids),
            ids[0],
            ids[-1],
        )
    return len(ids)
