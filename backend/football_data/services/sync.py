"""Fetching matches from football-data.org and upserting them by provider id.

``fixtures_sync`` and ``results_sync`` fetch a date window one competition at a time;
``matches_upsert`` writes a ``{matches: [...]}`` payload. On a 429, see docs/football_data.md
("Rate-limited syncs retry; they don't sleep").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from football_data.client import (
    FootballDataClient,
    FootballDataRateLimited,
    football_data_client,
)
from football_data.models import Competition, Match, Team
from football_data.services.parsing import optional_datetime, required_datetime

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
                utc_date=required_datetime(row["utcDate"]),
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
                last_updated=optional_datetime(row.get("lastUpdated")),
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
