"""Importing h2h prices from The Odds API (v4 shape) onto our matches.

Events are matched by kick-off time and team names, since the two providers share no ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from football_data.models import Match, MatchOdds, Team
from football_data.services.parsing import required_datetime


def odds_import(*, events: Iterable[Mapping[str, Any]], bookmaker: str | None = None) -> int:
    """Import h2h prices (The Odds API v4 shape), matched to our matches by kick-off time and
    team names. Returns the number of matches priced."""
    written = 0
    for event in events:
        kickoff = required_datetime(event["commence_time"])
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
                        "last_update": required_datetime(
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
