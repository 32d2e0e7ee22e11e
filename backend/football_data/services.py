"""Writes: syncing from football-data.org, placing and settling tickets, importing odds."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from football_data import selectors, settlement
from football_data.client import (
    FootballDataClient,
    FootballDataRateLimited,
    football_data_client,
)
from football_data.models import (
    Competition,
    Match,
    MatchOdds,
    Payout,
    Selection,
    SelectionResult,
    Team,
    Ticket,
    TicketStatus,
)

logger = logging.getLogger(__name__)

MATCH_FIELDS = [
    "competition",
    "home_team",
    "away_team",
    "utc_date",
    "status",
    "matchday",
    "stage",
    "duration",
    "full_time_home",
    "full_time_away",
    "half_time_home",
    "half_time_away",
    "regular_time_home",
    "regular_time_away",
    "extra_time_home",
    "extra_time_away",
    "penalties_home",
    "penalties_away",
    "last_updated",
    "synced_at",
]


def _pair(score: Mapping[str, Any], key: str) -> tuple[int | None, int | None]:
    part = score.get(key) or {}
    return part.get("home"), part.get("away")


def _datetime(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def _required_datetime(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}")
    return parsed


def _competition(row: Mapping[str, Any], default: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A match's own competition block, else the response's (``/competitions/X/matches``)."""
    competition = row.get("competition") or default
    if not competition:
        raise ValueError(f"match {row.get('id')} names no competition")
    return competition


@transaction.atomic
def matches_upsert(*, payload: Mapping[str, Any]) -> int:
    """Upsert the competitions, teams and matches of a ``{matches: [...]}`` response by
    provider id. Returns the number of matches written."""
    rows = payload.get("matches") or []
    competitions: dict[int, Competition] = {}
    teams: dict[int, Team] = {}
    top_competition = payload.get("competition")
    for row in rows:
        comp = _competition(row, top_competition)
        competitions[comp["id"]] = Competition(
            provider_id=comp["id"],
            code=comp.get("code") or "",
            name=comp.get("name") or "",
            emblem=comp.get("emblem") or "",
        )
        for side in ("homeTeam", "awayTeam"):
            team = row[side]
            teams[team["id"]] = Team(
                provider_id=team["id"],
                name=team.get("name") or "",
                short_name=team.get("shortName") or "",
                tla=team.get("tla") or "",
                crest=team.get("crest") or "",
            )
    Competition.objects.bulk_create(
        competitions.values(),
        update_conflicts=True,
        unique_fields=["provider_id"],
        update_fields=["code", "name", "emblem"],
    )
    Team.objects.bulk_create(
        teams.values(),
        update_conflicts=True,
        unique_fields=["provider_id"],
        update_fields=["name", "short_name", "tla", "crest"],
    )
    competition_pks = dict(
        Competition.objects.filter(provider_id__in=competitions).values_list("provider_id", "pk")
    )
    team_pks = dict(Team.objects.filter(provider_id__in=teams).values_list("provider_id", "pk"))
    now = timezone.now()
    matches = []
    for row in rows:
        score = row.get("score") or {}
        comp = _competition(row, top_competition)
        full, half = _pair(score, "fullTime"), _pair(score, "halfTime")
        regular, extra = _pair(score, "regularTime"), _pair(score, "extraTime")
        penalties = _pair(score, "penalties")
        matches.append(
            Match(
                provider_id=row["id"],
                competition_id=competition_pks[comp["id"]],
                home_team_id=team_pks[row["homeTeam"]["id"]],
                away_team_id=team_pks[row["awayTeam"]["id"]],
                utc_date=_required_datetime(row["utcDate"]),
                status=row["status"],
                matchday=row.get("matchday"),
                stage=row.get("stage") or "",
                duration=score.get("duration") or "REGULAR",
                full_time_home=full[0],
                full_time_away=full[1],
                half_time_home=half[0],
                half_time_away=half[1],
                regular_time_home=regular[0],
                regular_time_away=regular[1],
                extra_time_home=extra[0],
                extra_time_away=extra[1],
                penalties_home=penalties[0],
                penalties_away=penalties[1],
                last_updated=_datetime(row.get("lastUpdated")),
                synced_at=now,
            )
        )
    Match.objects.bulk_create(
        matches, update_conflicts=True, unique_fields=["provider_id"], update_fields=MATCH_FIELDS
    )
    return len(matches)


class SyncRateLimited(FootballDataRateLimited):
    """A sync stopped part-way by the rate limit. The competitions before ``remaining`` are
    stored (each in its own transaction); a retry needs to fetch only ``remaining``."""

    def __init__(
        self, cause: FootballDataRateLimited, *, remaining: Sequence[str], written: int
    ) -> None:
        super().__init__(str(cause), retry_after=cause.retry_after)
        self.remaining = list(remaining)
        self.written = written


def _sync_window(
    *,
    client: FootballDataClient | None,
    date_from: date,
    date_to: date,
    competitions: Sequence[str],
) -> int:
    """One request and one upsert transaction per competition. Interrupted part-way, what was
    written stays written, and running it again only upserts the same rows by provider id."""
    client = client or football_data_client()
    written = 0
    for index, code in enumerate(competitions):
        try:
            payload = client.competition_matches(code, date_from=date_from, date_to=date_to)
        except FootballDataRateLimited as exc:
            raise SyncRateLimited(exc, remaining=competitions[index:], written=written) from exc
        written += matches_upsert(payload=payload)
    return written


def fixtures_sync(
    *,
    days: int | None = None,
    competitions: Sequence[str] | None = None,
    client: FootballDataClient | None = None,
) -> int:
    """Upcoming matches: today up to ``days`` ahead."""
    today = timezone.now().date()
    written = _sync_window(
        client=client,
        date_from=today,
        date_to=today + timedelta(days=days or settings.FOOTBALL_DATA_FIXTURES_DAYS),
        competitions=competitions or settings.FOOTBALL_DATA_COMPETITIONS,
    )
    logger.info("football_data: synced %d fixtures", written)
    return written


def results_sync(
    *,
    days: int = 3,
    competitions: Sequence[str] | None = None,
    client: FootballDataClient | None = None,
) -> int:
    """Recent matches (results, postponements): ``days`` back up to today."""
    today = timezone.now().date()
    written = _sync_window(
        client=client,
        date_from=today - timedelta(days=days),
        date_to=today,
        competitions=competitions or settings.FOOTBALL_DATA_COMPETITIONS,
    )
    logger.info("football_data: synced %d results", written)
    return written


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
    second payment impossible even if that guard were bypassed.
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
        Ticket.objects.bulk_update(settled_tickets, ["status", "payout", "settled_at"], 500)
        Selection.objects.bulk_update(settled_legs, ["result"], 500)
        Payout.objects.bulk_create(payouts, 500)
    paid = sum((p.amount for p in payouts), Decimal(0))
    return SettleSummary(len(settled_tickets), len(tickets) - len(settled_tickets), paid)


def odds_import(*, events: Iterable[Mapping[str, Any]], bookmaker: str | None = None) -> int:
    """Import h2h prices (The Odds API v4 shape), matched to our matches by kick-off time and
    team names. Returns the number of matches priced."""
    written = 0
    for event in events:
        kickoff = _required_datetime(event["commence_time"])
        candidates = Match.objects.filter(utc_date=kickoff).select_related("home_team", "away_team")
        match = next(
            (
                m
                for m in candidates
                if _same_team(m.home_team, event["home_team"])
                and _same_team(m.away_team, event["away_team"])
            ),
            None,
        )
        if match is None:
            continue
        for book in event.get("bookmakers") or []:
            if bookmaker and book["key"] != bookmaker:
                continue
            for market in book.get("markets") or []:
                if market["key"] != "h2h":
                    continue
                prices = {o["name"]: Decimal(str(o["price"])) for o in market["outcomes"]}
                MatchOdds.objects.update_or_create(
                    match=match,
                    bookmaker=book["key"],
                    defaults={
                        "home": prices[event["home_team"]],
                        "draw": prices["Draw"],
                        "away": prices[event["away_team"]],
                        "last_update": _required_datetime(
                            market.get("last_update") or book["last_update"]
                        ),
                    },
                )
                written += 1
    return written


def _same_team(team: Team, name: str) -> bool:
    """The two providers spell clubs differently ("Tottenham Hotspur FC" / "Tottenham Hotspur")."""
    wanted = _normalise(name)
    return wanted in {_normalise(team.name), _normalise(team.short_name)}


def _normalise(name: str) -> str:
    words = [w for w in name.lower().replace("&", "and").split() if w not in {"fc", "afc"}]
    return " ".join(words)
