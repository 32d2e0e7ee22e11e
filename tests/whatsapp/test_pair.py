"""The pair rule's model (whatsapp.pair) against the stand-in's referee of the same rule."""

from __future__ import annotations

import datetime as dt

import pytest

from devstack.standins._whatsapp_limits import Limits, MetaLimits
from whatsapp.pair import PairRule, PairState, first_burst

T0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
RULE = PairRule(interval=dt.timedelta(seconds=6), burst=45)


def seconds(moment: dt.datetime) -> float:
    return (moment - T0).total_seconds()


def plan(parts: int, spacing: float, state: PairState | None = None) -> list[float]:
    planned = RULE.plan(state, start=T0, parts=parts, spacing=dt.timedelta(seconds=spacing))
    return [round(seconds(due), 3) for due, _ in planned]


def test_a_free_contact_gets_a_whole_reply_as_one_burst():
    assert plan(22, 0.2) == [round(0.2 * n, 3) for n in range(22)]


def test_a_reply_too_long_for_one_burst_sends_its_short_burst_first():
    # 2 s apart, 3 parts fit one burst (0, 2, 4 s): 5 parts go as 2 + 3, done at 16 s; as 3 + 2
    # the 4th would wait 3 x 6 s, done at 20 s
    assert plan(5, 2.0) == [0.0, 2.0, 12.0, 14.0, 16.0]
    assert plan(6, 2.0) == [0.0, 2.0, 4.0, 18.0, 20.0, 22.0]


def test_the_window_closes_early_by_the_margin_a_request_may_take():
    # 0.6 s steps: 5.4 s is the last start before 6 s - 0.5 s, so 10 parts fit one burst
    assert RULE.per_burst(dt.timedelta(seconds=0.6)) == 10
    assert plan(10, 0.6) == [round(0.6 * n, 3) for n in range(10)]
    assert plan(11, 0.6)[:2] == [0.0, 6.0]


def test_a_burst_holds_at_most_45():
    assert RULE.per_burst(dt.timedelta(seconds=0.01)) == 45
    due = plan(47, 0.01)
    assert due[:3] == [0.0, 0.01, 12.0]
    assert due[-1] == 12.44


@pytest.mark.parametrize(
    ("parts", "per_burst", "first"), [(5, 8, 5), (22, 21, 1), (50, 28, 22), (56, 28, 28)]
)
def test_the_first_burst_takes_the_remainder(parts, per_burst, first):
    assert first_burst(parts, per_burst) == first


def test_a_second_reply_waits_for_the_first_ones_borrowed_time():
    # the first reply, 22 parts as one burst; the second 30 s later, once its window closed
    state = None
    for due, _ in RULE.plan(None, start=T0, parts=22, spacing=dt.timedelta(seconds=0.2)):
        state = RULE.after(state, requested_at=due, answered_at=due)
    assert state is not None
    assert seconds(state.free_at) == 132.0
    later = T0 + dt.timedelta(seconds=30)
    second = RULE.plan(state, start=later, parts=3, spacing=dt.timedelta(seconds=0.2))
    assert [(round(seconds(due), 3), held) for due, held in second] == [
        (132.0, True),
        (132.2, False),
        (132.4, False),
    ]


def test_a_reply_right_after_another_joins_its_burst_while_the_window_is_open():
    state = None
    for due, _ in RULE.plan(None, start=T0, parts=3, spacing=dt.timedelta(seconds=0.2)):
        state = RULE.after(state, requested_at=due, answered_at=due)
    assert plan(2, 0.2, state) == [0.0, 0.2]


def test_a_reply_the_open_burst_cannot_hold_whole_waits_for_the_free_time():
    state = None
    for due, _ in RULE.plan(None, start=T0, parts=3, spacing=dt.timedelta(seconds=0.2)):
        state = RULE.after(state, requested_at=due, answered_at=due)
    # 4 s into the burst, 30 parts 0.2 s apart would run past its window: they start at 18 s,
    # 2 + 28
    later = T0 + dt.timedelta(seconds=4)
    second = RULE.plan(state, start=later, parts=30, spacing=dt.timedelta(seconds=0.2))
    assert [round(seconds(due), 3) for due, _ in second[:4]] == [18.0, 18.2, 30.0, 30.2]
    assert second[0][1]
    assert not second[1][1]


def test_free_time_counts_from_the_answer_and_the_window_from_the_request():
    state = RULE.after(None, requested_at=T0, answered_at=T0 + dt.timedelta(seconds=0.3))
    assert (state.burst_start, state.count, seconds(state.free_at)) == (T0, 1, 6.3)
    assert RULE.window_end(state, T0 + dt.timedelta(seconds=1)) == T0 + dt.timedelta(seconds=5.5)
    assert RULE.window_end(state, T0 + dt.timedelta(seconds=6.3)) is None


def test_a_refusal_closes_the_burst_and_frees_the_contact_an_interval_later():
    at = T0 + dt.timedelta(seconds=1)
    busy = RULE.refused(None, at=at)
    assert RULE.earliest(busy, at) == at + RULE.interval
    later = RULE.refused(PairState(T0, 3, T0 + dt.timedelta(seconds=18)), at=at)
    assert seconds(later.free_at) == 24.0


@pytest.mark.parametrize("spacing", [0.0, 0.05, 0.2, 0.6, 2.0, 6.0, 7.5])
def test_every_plan_is_admitted_by_the_stand_in(spacing):
    # the referee (written apart) admits each planned moment; three replies back to back
    now = [0.0]
    # The pair rule alone is refereed here: the window is off.
    referee = MetaLimits(
        Limits(None, pair_interval=6, pair_burst=45, window_seconds=0), clock=lambda: now[0]
    )
    state, start = None, T0
    for _ in range(3):
        planned = RULE.plan(state, start=start, parts=50, spacing=dt.timedelta(seconds=spacing))
        for due, _held in planned:
            now[0] = seconds(due)
            assert referee.admit("n", "u") is None, (spacing, now[0])
            state = RULE.after(state, requested_at=due, answered_at=due)
        start = planned[-1][0] + dt.timedelta(seconds=spacing)
    assert referee.refusals == {}
