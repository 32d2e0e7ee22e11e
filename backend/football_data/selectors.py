"""Reads: which tickets can settle, what is coming up, and the fixtures text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from football_data.models import Match, MatchStatus, Selection, Ticket, TicketStatus
from football_data.settlement import DECIDED_STATUSES


def postponed_void_after() -> timedelta:
    return timedelta(hours=settings.FOOTBALL_DATA_POSTPONED_VOID_AFTER_HOURS)


def match_q_decided(*, now: datetime | None = None, prefix: str = "") -> Q:
    """Matches whose status decides their selections (the SQL twin of ``settlement``):
    finished, cancelled or awarded, or postponed longer than the grace period ago."""
    cutoff = (now or timezone.now()) - postponed_void_after()
    return Q(**{f"{prefix}status__in": DECIDED_STATUSES}) | Q(
        **{f"{prefix}status": MatchStatus.POSTPONED, f"{prefix}utc_date__lte": cutoff}
    )


def tickets_settleable(*, now: datetime | None = None) -> QuerySet[Ticket]:
    """Open tickets none of whose matches is still to be decided, oldest first."""
    undecided = Selection.objects.filter(ticket=OuterRef("pk")).exclude(
        match_q_decided(now=now, prefix="match__")
    )
    return Ticket.objects.filter(status=TicketStatus.OPEN).exclude(Exists(undecided)).order_by("pk")


def ticket_ids_settleable(*, limit: int | None = None, now: datetime | None = None) -> list[int]:
    ids = tickets_settleable(now=now).values_list("pk", flat=True)
    return list(ids[:limit] if limit else ids)


def ticket_ids_settle_overdue(*, queued_before: datetime, limit: int) -> list[int]:
    """Open tickets whose settlement chunk was enqueued before ``queued_before`` and has not
    looked at them since: the chunk was lost, or is still waiting behind others."""
    ids = (
        Ticket.objects.filter(status=TicketStatus.OPEN, settle_queued_at__lt=queued_before)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return list(ids[:limit])


def fixture_list_upcoming(
    *, days: int, competitions: Sequence[str] | None = None, now: datetime | None = None
) -> QuerySet[Match]:
    now = now or timezone.now()
    matches = Match.objects.filter(
        utc_date__gte=now,
        utc_date__lt=now + timedelta(days=days),
        status__in=["SCHEDULED", "TIMED"],
    )
    if competitions:
        matches = matches.filter(competition__code__in=competitions)
    return matches.select_related("competition", "home_team", "away_team").order_by(
        "competition__name", "utc_date", "provider_id"
    )


def fixtures_text(*, matches: Sequence[Match]) -> str:
    """Upcoming fixtures grouped by competition, then by day (times in UTC)."""
    if not matches:
        return "No fixtures in the coming days."
    blocks: list[str] = []
    for competition, in_competition in groupby(matches, key=lambda m: m.competition):
        lines = [f"*{competition.name}*"]
        for day, on_day in groupby(in_competition, key=lambda m: m.utc_date.date()):
            lines.append(f"\n_{day:%A %d %B}_")
            lines.extend(f"{m.utc_date:%H:%M} {m.home_team} v {m.away_team}" for m in on_day)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
