"""Settlement rules (pure functions): table-driven cases, then properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from football_data.settlement import (
    DEFAULT_POSTPONED_VOID_AFTER,
    Leg,
    Outcome,
    Score,
    leg_outcome,
    ninety_minute_score,
    ticket_result,
)

D = Decimal
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GRACE = DEFAULT_POSTPONED_VOID_AFTER  # 48 hours

FINISHED_2_1 = Score("FINISHED", full_time=(2, 1))
FINISHED_0_0 = Score("FINISHED", full_time=(0, 0))
# Shoot-out: 1-1 after 90 minutes, 0-0 in extra time, 4-3 on penalties; fullTime says 5-4.
SHOOTOUT = Score(
    "FINISHED",
    full_time=(5, 4),
    regular_time=(1, 1),
    extra_time=(0, 0),
    penalties=(4, 3),
    duration="PENALTY_SHOOTOUT",
)
# The same without regularTime: derived by taking extra-time and shoot-out goals off fullTime.
SHOOTOUT_NO_REGULAR = Score(
    "FINISHED",
    full_time=(5, 4),
    extra_time=(0, 0),
    penalties=(4, 3),
    duration="PENALTY_SHOOTOUT",
)
EXTRA_TIME_WIN = Score(
    "FINISHED", full_time=(3, 2), regular_time=(2, 2), extra_time=(1, 0), duration="EXTRA_TIME"
)
# Postponed: kicked off (or was to) this long before NOW.
POSTPONED = Score("POSTPONED", kickoff=NOW - GRACE - timedelta(minutes=1))
POSTPONED_WITHIN_GRACE = Score("POSTPONED", kickoff=NOW - GRACE + timedelta(minutes=1))
CANCELLED = Score("CANCELLED", kickoff=NOW - timedelta(hours=1))
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
        ("1", AWARDED, Outcome.VOID),
        ("1", TIMED, Outcome.OPEN),
        ("1", IN_PLAY, Outcome.OPEN),
        ("1", SUSPENDED, Outcome.OPEN),
        ("1", FINISHED_NO_SCORE, Outcome.OPEN),
    ],
)
def test_leg_outcome(pick, score, expected):
    # Given a selection on a match in this state / When it is settled / Then:
    assert leg_outcome(pick=pick, score=score, now=NOW) is expected


@pytest.mark.parametrize(
    ("case", "score", "expected"),
    [
        # cancelled: void at once, however recent the kick-off
        ("cancelled", CANCELLED, Outcome.VOID),
        ("cancelled, kick-off still ahead", Score("CANCELLED", kickoff=NOW + GRACE), Outcome.VOID),
        # postponed: open while it may still be rescheduled under the same id...
        ("postponed, within grace", POSTPONED_WITHIN_GRACE, Outcome.OPEN),
        (
            "postponed, kick-off ahead",
            Score("POSTPONED", kickoff=NOW + timedelta(days=3)),
            Outcome.OPEN,
        ),
        ("postponed, no kick-off known", Score("POSTPONED"), Outcome.OPEN),
        # ...void once the grace period after the original kick-off has passed
        ("postponed, past grace", POSTPONED, Outcome.VOID),
        ("postponed, grace just ended", Score("POSTPONED", kickoff=NOW - GRACE), Outcome.VOID),
        # rescheduled (new utcDate, TIMED/SCHEDULED): simply open, whenever the old date was
        ("rescheduled, timed", Score("TIMED", kickoff=NOW + timedelta(days=10)), Outcome.OPEN),
        (
            "rescheduled, scheduled",
            Score("SCHEDULED", kickoff=NOW + timedelta(days=30)),
            Outcome.OPEN,
        ),
    ],
)
def test_cancelled_voids_at_once_postponed_after_grace(case, score, expected):
    # Given a selection on a match in this state / When it is settled NOW / Then:
    assert leg_outcome(pick="1", score=score, now=NOW, postponed_void_after=GRACE) is expected


def test_the_postponement_grace_period_is_the_callers():
    assert leg_outcome(
        pick="1", score=POSTPONED_WITHIN_GRACE, now=NOW, postponed_void_after=timedelta(hours=1)
    ) is Outcome.VOID  # fmt: skip
    assert leg_outcome(
        pick="1", score=POSTPONED, now=NOW, postponed_void_after=timedelta(days=7)
    ) is Outcome.OPEN  # fmt: skip


@pytest.mark.parametrize(
    ("case", "score", "ninety"),
    [
        # REGULAR: fullTime is the 90-minute score
        ("regular", Score("FINISHED", full_time=(2, 1), duration="REGULAR"), (2, 1)),
        # regularTime wins whenever it is sent
        (
            "shoot-out with regularTime",
            Score(
                "FINISHED",
                full_time=(6, 5),
                regular_time=(2, 2),
                extra_time=(0, 0),
                penalties=(4, 3),
                duration="PENALTY_SHOOTOUT",
            ),
            (2, 2),
        ),
        # football-data's extraTime holds the extra-time goals only, fullTime their sum with
        # regular time (1-1 at 90, 1-0 in extra time: fullTime 2-1), so it can be taken off
        (
            "extra time, regularTime missing, extraTime sent",
            Score("FINISHED", full_time=(2, 1), extra_time=(1, 0), duration="EXTRA_TIME"),
            (1, 1),
        ),
        (
            "shoot-out, regularTime missing, extraTime and penalties sent",
            Score(
                "FINISHED",
                full_time=(5, 4),
                extra_time=(0, 0),
                penalties=(4, 3),
                duration="PENALTY_SHOOTOUT",
            ),
            (1, 1),
        ),
        # beyond 90 minutes with nothing to take off: fullTime would count extra time
        (
            "extra time, fullTime only",
            Score("FINISHED", full_time=(2, 1), duration="EXTRA_TIME"),
            None,
        ),
        (
            "shoot-out, fullTime only",
            Score("FINISHED", full_time=(5, 4), duration="PENALTY_SHOOTOUT"),
            None,
        ),
        # a shoot-out without extraTime: straight to penalties, or extraTime missing? Unknown.
        (
            "shoot-out, penalties but no extraTime",
            Score("FINISHED", full_time=(5, 4), penalties=(4, 3), duration="PENALTY_SHOOTOUT"),
            None,
        ),
        (
            "shoot-out, extraTime but no penalties",
            Score("FINISHED", full_time=(5, 4), extra_time=(0, 0), duration="PENALTY_SHOOTOUT"),
            None,
        ),
        ("unknown duration", Score("FINISHED", full_time=(2, 1), duration="GOLDEN_GOAL"), None),
        (
            "inconsistent: more extra-time goals than fullTime",
            Score("FINISHED", full_time=(1, 1), extra_time=(2, 0), duration="EXTRA_TIME"),
            None,
        ),
    ],
)
def test_ninety_minute_score_by_duration(case, score, ninety):
    assert ninety_minute_score(score) == ninety
    # and a selection on it settles on that score, or stays open without one
    outcome = leg_outcome(pick="X", score=score, now=NOW)
    if ninety is None:
        assert outcome is Outcome.OPEN
    else:
        assert outcome is (Outcome.WON if ninety[0] == ninety[1] else Outcome.LOST)


@pytest.mark.parametrize(
    ("legs", "status", "payout"),
    [
        # single, won: stake x odds
        ([("1", "2.50", FINISHED_2_1)], Outcome.WON, "25.00"),
        ([("2", "2.50", FINISHED_2_1)], Outcome.LOST, "0.00"),
        # single on a cancelled match, or one postponed past the grace period: stake back
        ([("1", "2.50", POSTPONED)], Outcome.VOID, "10.00"),
        ([("1", "2.50", CANCELLED)], Outcome.VOID, "10.00"),
        # postponed within the grace period: the ticket waits (it may be rescheduled)
        ([("1", "2.50", POSTPONED_WITHIN_GRACE)], Outcome.OPEN, None),
        ([("1", "2.00", FINISHED_2_1), ("X", "3.00", POSTPONED_WITHIN_GRACE)], Outcome.OPEN, None),
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
    result = ticket_result(stake=D("10.00"), legs=selections, now=NOW)
    # Then
    assert result.status is status
    assert result.payout == (None if payout is None else D(payout))


def test_ticket_without_selections_is_refused():
    with pytest.raises(ValueError, match="at least one selection"):
        ticket_result(stake=D(10), legs=[], now=NOW)


def test_ninety_minute_score_prefers_regular_time():
    assert ninety_minute_score(SHOOTOUT) == (1, 1)
    assert ninety_minute_score(SHOOTOUT_NO_REGULAR) == (1, 1)
    assert ninety_minute_score(FINISHED_NO_SCORE) is None


goals = st.integers(min_value=0, max_value=9)
statuses = st.sampled_from(
    ["FINISHED", "FINISHED", "FINISHED", "POSTPONED", "CANCELLED", "TIMED", "IN_PLAY", "AWARDED"]
)
# Kick-offs from four days before NOW to a day after: postponements both within and past grace.
kickoffs = st.integers(min_value=-96, max_value=24).map(lambda h: NOW + timedelta(hours=h))


def _score(status, home, away, pen, with_regular, kickoff):
    shootout = pen != (0, 0)
    return Score(
        status,
        full_time=(home + pen[0], away + pen[1]) if status != "TIMED" else (None, None),
        # regularTime is sometimes missing from a shoot-out: then the leg must stay open
        regular_time=(home, away) if shootout and with_regular else (None, None),
        penalties=pen if shootout else (None, None),
        duration="PENALTY_SHOOTOUT" if shootout else "REGULAR",
        kickoff=kickoff,
    )


scores = st.builds(
    _score,
    statuses,
    goals,
    goals,
    st.sampled_from([(0, 0), (0, 0), (4, 3), (2, 4)]),
    st.booleans(),
    kickoffs,
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
    result = ticket_result(stake=stake, legs=legs, now=NOW)
    if result.payout is not None:
        assert D(0) <= result.payout <= stake * _product(leg.odds for leg in legs)


@given(stake=stakes, legs=legs, void=st.sampled_from([CANCELLED, POSTPONED]))
def test_a_void_leg_counts_as_odds_one(stake, legs, void):
    # Given a ticket, and the same ticket with one more selection on a cancelled match or one
    # postponed past the grace period
    with_void = [*legs, Leg(pick="1", odds=D("3.75"), score=void)]
    # When both are settled / Then they settle alike (unless everything is void)
    plain, padded = (
        ticket_result(stake=stake, legs=legs, now=NOW),
        ticket_result(stake=stake, legs=with_void, now=NOW),
    )
    assert padded.status is plain.status
    assert padded.payout == plain.payout


@given(stake=stakes, legs=legs)
def test_a_leg_postponed_within_grace_makes_the_ticket_wait(stake, legs):
    with_postponed = [*legs, Leg(pick="1", odds=D("3.75"), score=POSTPONED_WITHIN_GRACE)]
    result = ticket_result(stake=stake, legs=with_postponed, now=NOW)
    assert result.status is Outcome.OPEN
    assert result.payout is None


@given(stake=stakes, legs=legs)
def test_settling_is_deterministic(stake, legs):
    assert ticket_result(stake=stake, legs=legs, now=NOW) == ticket_result(
        stake=stake, legs=legs, now=NOW
    )
