"""Reads: which tickets may settle, and the fixtures reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from football_data import selectors, services
from football_data.models import Competition, Match, Team
from football_data.services import SelectionInput

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _match(provider_id: int, *, competition: str, kickoff: datetime, status: str = "TIMED"):
    comp, _ = Competition.objects.get_or_create(
        provider_id={"PL": 2021, "FAC": 2055}[competition],
        defaults={
            "code": competition,
            "name": {"PL": "Premier League", "FAC": "FA Cup"}[competition],
        },
    )
    home, _ = Team.objects.get_or_create(
        provider_id=57, defaults={"name": "Arsenal FC", "short_name": "Arsenal"}
    )
    away, _ = Team.objects.get_or_create(
        provider_id=61, defaults={"name": "Chelsea FC", "short_name": "Chelsea"}
    )
    return Match.objects.create(
        provider_id=provider_id, competition=comp, home_team=home, away_team=away,
        utc_date=kickoff, status=status,
    )  # fmt: skip


def test_fixtures_are_grouped_by_competition_then_day():
    # Given matches in two competitions over two days, one already played, one too far ahead
    _match(1, competition="PL", kickoff=NOW + timedelta(hours=5))
    _match(2, competition="PL", kickoff=NOW + timedelta(days=1, hours=5))
    _match(3, competition="FAC", kickoff=NOW + timedelta(hours=9))
    _match(4, competition="PL", kickoff=NOW - timedelta(days=1), status="FINISHED")
    _match(5, competition="PL", kickoff=NOW + timedelta(days=9))
    # When the reply is built for the coming week
    matches = list(selectors.fixture_list_upcoming(days=7, now=NOW))
    text = selectors.fixtures_text(matches=matches)
    # Then
    assert [m.provider_id for m in matches] == [3, 1, 2]
    assert text == (
        "*FA Cup*\n\n_Saturday 21 November_\n19:00 Arsenal v Chelsea\n\n"
        "*Premier League*\n\n_Saturday 21 November_\n15:00 Arsenal v Chelsea\n\n"
        "_Sunday 22 November_\n15:00 Arsenal v Chelsea"
    )


def test_fixtures_can_be_filtered_by_competition():
    _match(1, competition="PL", kickoff=NOW + timedelta(hours=5))
    _match(3, competition="FAC", kickoff=NOW + timedelta(hours=9))
    matches = selectors.fixture_list_upcoming(days=7, competitions=["FAC"], now=NOW)
    assert [m.provider_id for m in matches] == [3]


def test_no_fixtures_reply():
    assert selectors.fixtures_text(matches=[]) == "No fixtures in the coming days."


def test_only_tickets_with_every_match_decided_are_settleable():
    day = timedelta(days=1)
    finished = _match(1, competition="PL", kickoff=NOW - day, status="FINISHED")
    cancelled = _match(2, competition="PL", kickoff=NOW - timedelta(hours=1), status="CANCELLED")
    postponed_long_ago = _match(3, competition="PL", kickoff=NOW - 3 * day, status="POSTPONED")
    postponed_recently = _match(4, competition="PL", kickoff=NOW - day, status="POSTPONED")
    upcoming = _match(5, competition="PL", kickoff=NOW + day)

    def place(*matches):
        return services.ticket_place(
            stake=Decimal(5),
            selections=[SelectionInput(match_id=m.pk, pick="1", odds=Decimal(2)) for m in matches],
        ).pk

    decided = [place(finished, cancelled), place(finished, postponed_long_ago)]
    waiting = [place(finished, upcoming), place(finished, postponed_recently)]
    # With the default 48 hours' grace for postponed matches
    assert selectors.ticket_ids_settleable(now=NOW) == decided
    assert not set(waiting) & set(selectors.ticket_ids_settleable(now=NOW))


def test_a_postponed_match_decides_once_its_grace_period_has_passed(settings):
    # Given a ticket on a match postponed 24 hours ago
    postponed = _match(1, competition="PL", kickoff=NOW - timedelta(hours=24), status="POSTPONED")
    ticket = services.ticket_place(
        stake=Decimal(5),
        selections=[SelectionInput(match_id=postponed.pk, pick="1", odds=Decimal(2))],
    ).pk
    # Then it waits while the grace period runs, and is settleable once it is over
    settings.FOOTBALL_DATA_POSTPONED_VOID_AFTER_HOURS = 25
    assert selectors.ticket_ids_settleable(now=NOW) == []
    settings.FOOTBALL_DATA_POSTPONED_VOID_AFTER_HOURS = 24
    assert selectors.ticket_ids_settleable(now=NOW) == [ticket]
