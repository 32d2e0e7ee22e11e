"""The moment this app asks tests/test_dates.py to pin the clock to is the edge case it stands
for in the stand-in's calendar."""

from __future__ import annotations

from datetime import datetime, timedelta

from devstack.standins.football_data import COMPETITIONS, matches_between
from tests.football_data import DATES


def test_a_postponed_match_is_in_the_settlement_window_and_not_yet_void():
    # Void once 48 h overdue.
    postponed = datetime.fromisoformat(DATES["postponed-match-in-window"])
    window = matches_between(
        list(COMPETITIONS), (postponed - timedelta(days=10)).date(),
        (postponed + timedelta(days=2)).date(), postponed,
    )  # fmt: skip
    assert any(
        m["status"] == "POSTPONED"
        and datetime.fromisoformat(m["utcDate"]) > postponed - timedelta(hours=48)
        for m in window
    )
