"""Placing tickets and settling them once their matches are decided.

The rules live in ``football_data.settlement``; this module loads and locks the rows, applies
the result and writes the payouts. See docs/football_data.md ("Settlement rules").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from football_data import selectors, settlement
from football_data.models import (
    Match,
    Payout,
    Selection,
    SelectionResult,
    Ticket,
    TicketStatus,
)

# Tickets stamped per UPDATE when claiming (one statement per chunk's worth, not one huge IN).
CLAIM_BATCH = 500


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
        settled_tickets: list[Ticket] = []
        settled_legs: list[Selection] = []
        payouts: list[Payout] = []
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
            ticket.status = TicketStatus(result.status.value)
            ticket.payout = result.payout
            ticket.settled_at = now
            settled_tickets.append(ticket)
            for selection, outcome in zip(legs[ticket.pk], result.legs, strict=True):
                selection.result = SelectionResult(outcome.value)
                settled_legs.append(selection)
            if result.payout > 0:
                payouts.append(Payout(ticket=ticket, amount=result.payout))
        for ticket in tickets:
            ticket.settle_queued_at = None
        Ticket.objects.bulk_update(
            tickets, ["status", "payout", "settled_at", "settle_queued_at"], 500
        )
        Selection.objects.bulk_update(settled_legs, ["result"], 500)
        Payout.objects.bulk_create(payouts, 500)
    paid = sum((p.amount for p in payouts), Decimal(0))
    return SettleSummary(len(settled_tickets), len(tickets) - len(settled_tickets), paid)


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
