"""Settlement rules (pure functions): table-driven cases, then properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from football_data.settlement import (
    Leg,
    Outcome,
    Score,
    leg_outcome,
    ninety_minute_score,
    ticket_result,
)

D = Decimal

FINISHED_2_1 = Score("FINISHED", full_time=(2, 1))
FINISHED_0_0 = Score("FINISHED", full_time=(0, 0))
# Shoot-out: 1-1 after 90 minutes, 0-0 in extra time, 4-3 on penalties; fullTime says 5-4.
SHOOTOUT = Score(
    "FINISHED", full_time=(5, 4), regular_time=(1, 1), extra_time=(0, 0), penalties=(4, 3)
)
# The same without regularTime: derived by taking extra-time and shoot-out goals off fullTime.
SHOOTOUT_NO_REGULAR = Score("FINISHED", full_time=(5, 4), extra_time=(0, 0), penalties=(4, 3))
EXTRA_TIME_WIN = Score("FINISHED", full_time=(3, 2), regular_time=(2, 2), extra_time=(1, 0))
POSTPONED = Score("POSTPONED")
CANCELLED = Score("CANCELLED")
AWARDED = Score("AWARDED", full_time=(3, 0))
TIMED = Score("TIMED")
IN_PLAY = Score("IN_PLAY", full_time=(1, 0))
SUSPENDED = Score("SUSPENDED", full_time=(1, 0))
FINISHED_NO_SCORE = Score("FINISHED")


@pytest.mark.parametrize(
    ("pick", "score", "expected"),
    [
        ("1", FINISHED_2_1, Outcome.WON),
        ("X", FINISHED_2_1, Outcome.LOST),
        ("2", FINISHED_2_1, Outcome.LOST),
        ("X", FINISHED_0_0, Outcome.WON),
        ("X", SHOOTOUT, Outcome.WON),  # the home side won the shoot-out; 1X2 is a draw
        ("1", SHOOTOUT, Outcome.LOST),
        ("X", SHOOTOUT_NO_REGULAR, Outcome.WON),
        ("X", EXTRA_TIME_WIN, Outcome.WON),
        ("1", EXTRA_TIME_WIN, Outcome.LOST),
        ("1", POSTPONED, Outcome.VOID),
        ("2", CANCELLED, Outcome.VOID),
        ("1", AWARDED, Outcome.VOID),
        ("1", TIMED, Outcome.OPEN),
        ("1", IN_PLAY, Outcome.OPEN),
        ("1", SUSPENDED, Outcome.OPEN),
        ("1", FINISHED_NO_SCORE, Outcome.OPEN),
    ],
)
def test_leg_outcome(pick, score, expected):
    # Given a selection on a match in this state / When it is settled / Then:
    assert leg_outcome(pick=pick, score=score) is expected


@pytest.mark.parametrize(
    ("legs", "status", "payout"),
    [
        # single, won: stake x odds
        ([("1", "2.50", FINISHED_2_1)], Outcome.WON, "25.00"),
        ([("2", "2.50", FINISHED_2_1)], Outcome.LOST, "0.00"),
        # single on a postponed or cancelled match: stake back
        ([("1", "2.50", POSTPONED)], Outcome.VOID, "10.00"),
        ([("1", "2.50", CANCELLED)], Outcome.VOID, "10.00"),
        # accumulator, all won
        ([("1", "2.00", FINISHED_2_1), ("X", "3.00", FINISHED_0_0)], Outcome.WON, "60.00"),
        # accumulator with a void leg: that leg counts as odds 1
        ([("1", "2.00", FINISHED_2_1), ("X", "3.00", POSTPONED)], Outcome.WON, "20.00"),
        # shoot-out leg settles on regular time
        ([("X", "3.40", SHOOTOUT), ("1", "1.50", FINISHED_2_1)], Outcome.WON, "51.00"),
        # accumulator with an open leg waits, even when another leg already won or lost
        ([("1", "2.00", FINISHED_2_1), ("1", "2.00", TIMED)], Outcome.OPEN, None),
        ([("2", "2.00", FINISHED_2_1), ("1", "2.00", TIMED)], Outcome.OPEN, None),
        # accumulator with a lost leg loses once decided
        ([("1", "2.00", FINISHED_2_1), ("1", "2.00", FINISHED_0_0)], Outcome.LOST, "0.00"),
        ([("1", "2.00", POSTPONED), ("X", "2.00", CANCELLED)], Outcome.VOID, "10.00"),
        # payouts round down to the cent
        ([("1", "1.333", FINISHED_2_1)], Outcome.WON, "13.33"),
    ],
)
def test_ticket_result(legs, status, payout):
    # Given a 10.00 stake on these selections
    selections = [Leg(pick=p, odds=D(o), score=s) for p, o, s in legs]
    # When the ticket is settled
    result = ticket_result(stake=D("10.00"), legs=selections)
    # Then
    assert result.status is status
    assert result.payout == (None if payout is None else D(payout))


def test_ticket_without_selections_is_refused():
    with pytest.raises(ValueError, match="at least one selection"):
        ticket_result(stake=D(10), legs=[])


def test_ninety_minute_score_prefers_regular_time():
    assert ninety_minute_score(SHOOTOUT) == (1, 1)
    assert ninety_minute_score(SHOOTOUT_NO_REGULAR) == (1, 1)
    assert ninety_minute_score(FINISHED_NO_SCORE) is None


goals = st.integers(min_value=0, max_value=9)
statuses = st.sampled_from(
    ["FINISHED", "FINISHED", "FINISHED", "POSTPONED", "CANCELLED", "TIMED", "IN_PLAY", "AWARDED"]
)
scores = st.builds(
    lambda status, home, away, pen: Score(
        status,
        full_time=(home + pen[0], away + pen[1]) if status != "TIMED" else (None, None),
        regular_time=(home, away) if pen != (0, 0) else (None, None),
        penalties=pen if pen != (0, 0) else (None, None),
    ),
    statuses,
    goals,
    goals,
    st.sampled_from([(0, 0), (0, 0), (4, 3), (2, 4)]),
)
odds = st.decimals(min_value=D("1.01"), max_value=D("50"), places=3)
stakes = st.decimals(min_value=D("0.01"), max_value=D("10000"), places=2)
legs = st.lists(
    st.builds(Leg, pick=st.sampled_from(["1", "X", "2"]), odds=odds, score=scores),
    min_size=1,
    max_size=6,
)


def _product(values):
    result = D(1)
    for value in values:
        result *= value
    return result


@given(stake=stakes, legs=legs)
def test_payout_never_exceeds_stake_times_product_of_odds(stake, legs):
    result = ticket_result(stake=stake, legs=legs)
    if result.payout is not None:
        assert D(0) <= result.payout <= stake * _product(leg.odds for leg in legs)


@given(stake=stakes, legs=legs)
def test_a_void_leg_counts_as_odds_one(stake, legs):
    # Given a ticket, and the same ticket with one more selection on a postponed match
    with_void = [*legs, Leg(pick="1", odds=D("3.75"), score=POSTPONED)]
    # When both are settled / Then they settle alike (unless everything is void)
    plain, padded = (
        ticket_result(stake=stake, legs=legs),
        ticket_result(stake=stake, legs=with_void),
    )
    assert padded.status is plain.status
    assert padded.payout == plain.payout


@given(stake=stakes, legs=legs)
def test_settling_is_deterministic(stake, legs):
    assert ticket_result(stake=stake, legs=legs) == ticket_result(stake=stake, legs=legs)
