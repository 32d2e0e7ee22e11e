"""Placing tickets and settling them once their matches are decided.

The rules live in ``football_data.settlement``; this module loads and locks the rows, applies
the result and writes the payouts. See docs/football_data.md ("Settlement rules").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.utils import timezone

from football_data import selectors, settlement
from football_data.metrics import SETTLED_TICKETS
from football_data.models import (
    Match,
    Payout,
    Selection,
    Ticket,
    TicketStatus,
)

# Tickets stamped per UPDATE when claiming (one statement per chunk's worth, not one huge IN).
CLAIM_BATCH = 500
# Rows per statement when a chunk writes its results (well under SQLite's and Postgres's limits
# on parameters: three a row).
WRITE_BATCH = 500

_T = TypeVar("_T")


@dataclass(frozen=True)
class SelectionInput:
    match_id: int
    pick: str
    odds: Decimal


@transaction.atomic
def ticket_place(
    *, stake: Decimal, selections: Iterable[SelectionInput], reference: str = ""
) -> Ticket:
    ticket = Ticket.objects.create(stake=stake, reference=reference)
    Selection.objects.bulk_create(
        Selection(ticket=ticket, match_id=s.match_id, pick=s.pick, odds=s.odds) for s in selections
    )
    return ticket


def _score(match: Match) -> settlement.Score:
    return settlement.Score(
        status=match.status,
        full_time=(match.full_time_home, match.full_time_away),
        regular_time=(match.regular_time_home, match.regular_time_away),
        extra_time=(match.extra_time_home, match.extra_time_away),
        penalties=(match.penalties_home, match.penalties_away),
        duration=match.duration,
        kickoff=match.utc_date,
    )


@dataclass(frozen=True)
class SettleSummary:
    settled: int
    waiting: int
    paid: Decimal


def tickets_settle(*, ticket_ids: Sequence[int]) -> SettleSummary:
    """Settle the open tickets among ``ticket_ids`` whose selections are all decided.

    Idempotent: rows are locked and re-read as OPEN inside the transaction, so a redelivered or
    concurrent chunk finds nothing left to do; the one-payout-per-ticket constraint makes a
    second payment impossible even if that guard were bypassed. Every ticket looked at loses its
    claim (``settle_queued_at``), settled or still waiting, in the same transaction: a chunk
    killed before it commits leaves the claims behind for ``tickets_claim_overdue``.
    """
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ticket_ids, status=TicketStatus.OPEN)
            .order_by("pk")
        )
        legs: dict[int, list[Selection]] = {t.pk: [] for t in tickets}
        for selection in Selection.objects.filter(ticket__in=tickets).select_related("match"):
            legs[selection.ticket_id].append(selection)
        now = timezone.now()
        grace = selectors.postponed_void_after()
        settled: list[tuple[int, str, Decimal]] = []  # (ticket id, status, payout)
        legs_by_result: dict[str, list[int]] = {}
        for ticket in tickets:
            result = settlement.ticket_result(
                stake=ticket.stake,
                legs=[
                    settlement.Leg(pick=s.pick, odds=s.odds, score=_score(s.match))
                    for s in legs[ticket.pk]
                ],
                now=now,
                postponed_void_after=grace,
            )
            if result.status is settlement.Outcome.OPEN:
                continue
            assert result.payout is not None
            settled.append((ticket.pk, result.status.value, result.payout))
            for selection, outcome in zip(legs[ticket.pk], result.legs, strict=True):
                legs_by_result.setdefault(outcome.value, []).append(selection.pk)
        _write_settled(tickets=tickets, settled=settled, legs_by_result=legs_by_result, now=now)
    SETTLED_TICKETS.inc(len(settled))
    paid = sum((payout for _, _, payout in settled), Decimal(0))
    return SettleSummary(len(settled), len(tickets) - len(settled), paid)


def _batches(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _update_from_values_supported(connection: BaseDatabaseWrapper) -> bool:
    """``WITH v AS (VALUES …) UPDATE … FROM v``: PostgreSQL, and SQLite from 3.33."""
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        return sqlite3.sqlite_version_info >= (3, 33, 0)
    return False


def _tickets_mark_settled(rows: Sequence[tuple[int, str, Decimal]], *, now: datetime) -> None:
    """Write status and payout of settled tickets, given as (id, status, payout) rows, stamp
    ``settled_at`` and clear the claim: one ``UPDATE … FROM (VALUES …)`` per WRITE_BATCH rows.

    Django's ``bulk_update`` builds a ``CASE WHEN id = … THEN …`` per row and field; compiling
    those took 84 % of a 500-ticket chunk, and Postgres evaluates each CASE row by row. A database
    without ``UPDATE … FROM`` gets ``bulk_update``.
    """
    connection = connections[router.db_for_write(Ticket)]
    if not _update_from_values_supported(connection):
        Ticket.objects.bulk_update(
            [
                Ticket(pk=pk, status=status, payout=payout, settled_at=now, settle_queued_at=None)
                for pk, status, payout in rows
            ],
            ["status", "payout", "settled_at", "settle_queued_at"],
            WRITE_BATCH,
        )
        return
    meta = Ticket._meta
    quote = connection.ops.quote_name
    table, pk_column = quote(meta.db_table), quote(str(meta.pk.column))
    # Postgres types a VALUES list from its first row; say what the parameters are.
    row = (
        "(%s::bigint, %s::varchar, %s::numeric)"
        if connection.vendor == "postgresql"
        else "(%s, %s, %s)"
    )
    payout_field = meta.get_field("payout")
    settled_at = meta.get_field("settled_at").get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        for batch in _batches(rows, WRITE_BATCH):
            params: list[Any] = []
            for pk, status, payout in batch:
                params += (pk, status, payout_field.get_db_prep_save(payout, connection))
            params.append(settled_at)
            # Only quoted names and placeholders go into the text; every value is a parameter.
            sql = (
                f"WITH v (id, status, payout) AS (VALUES {', '.join([row] * len(batch))}) "  # noqa: S608
                f"UPDATE {table} SET {quote('status')} = v.status, {quote('payout')} = v.payout, "
                f"{quote('settled_at')} = %s, {quote('settle_queued_at')} = NULL "
                f"FROM v WHERE {table}.{pk_column} = v.id"
            )
            cursor.execute(sql, params)


def _write_settled(
    *,
    tickets: Sequence[Ticket],
    settled: Sequence[tuple[int, str, Decimal]],
    legs_by_result: dict[str, list[int]],
    now: datetime,
) -> None:
    """A chunk's writes, a few set-based statements whatever its size: the settled tickets (one
    UPDATE from a VALUES list), the claims of those still waiting (one UPDATE), the selection
    results (one UPDATE … WHERE id IN … per outcome) and the payouts (one INSERT)."""
    settled_ids = {pk for pk, _, _ in settled}
    waiting = [t.pk for t in tickets if t.pk not in settled_ids]
    for ids in _batches(waiting, WRITE_BATCH):
        Ticket.objects.filter(pk__in=ids).update(settle_queued_at=None)
    _tickets_mark_settled(settled, now=now)
    for result, selection_ids in sorted(legs_by_result.items()):
        for ids in _batches(selection_ids, WRITE_BATCH):
            Selection.objects.filter(pk__in=ids).update(result=result)
    Payout.objects.bulk_create(
        [Payout(ticket_id=pk, amount=payout) for pk, _, payout in settled if payout > 0],
        WRITE_BATCH,
    )


def _claim(candidates: QuerySet[Ticket], *, limit: int) -> list[int]:
    """Stamp ``settle_queued_at`` on up to ``limit`` of ``candidates`` that no running chunk
    holds (``skip_locked``: a chunk locks its tickets until it commits) and return their ids.
    Two claimers at once get disjoint tickets; each then enqueues what it claimed."""
    with transaction.atomic():
        ids = list(
            candidates.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit]
        )
        now = timezone.now()
        for start in range(0, len(ids), CLAIM_BATCH):
            Ticket.objects.filter(pk__in=ids[start : start + CLAIM_BATCH]).update(
                settle_queued_at=now
            )
    return ids


def tickets_claim_settleable(*, limit: int) -> list[int]:
    """Claim the settleable open tickets no settlement is queued for yet (the fan-out)."""
    return _claim(selectors.tickets_settleable().filter(settle_queued_at__isnull=True), limit=limit)


def tickets_claim_overdue(*, ticket_ids: Sequence[int], queued_before: datetime) -> list[int]:
    """Claim again those of ``ticket_ids`` still open and claimed before ``queued_before``: their
    chunk died with its worker (docs/football_data.md, "A killed worker's chunks")."""
    candidates = Ticket.objects.filter(
        pk__in=ticket_ids, status=TicketStatus.OPEN, settle_queued_at__lt=queued_before
    ).order_by("pk")
    return _claim(candidates, limit=len(ticket_ids))
