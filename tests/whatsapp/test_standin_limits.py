"""The stand-in's model of Meta's limits, on a hand-driven clock: the examples Meta's text and
the API notes give, and the refusal counts tests and benchmarks read."""

from __future__ import annotations

import pytest

from devstack.standins._whatsapp_limits import PAIR_REFUSED, THROUGHPUT_REFUSED, Limits, MetaLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


# These test the number's pace and the pair rule alone: the 24-hour window is off
# (test_standin_conversations.py tests it).
def pair_only(clock: Clock, interval: float = 6.0, burst: int = 45) -> MetaLimits:
    return MetaLimits(
        Limits(None, pair_interval=interval, pair_burst=burst, window_seconds=0), clock=clock
    )


def test_parts_two_seconds_apart_break_the_rule_at_the_fourth(clock):
    limits = pair_only(clock)
    answers = []
    for _ in range(4):
        answers.append(limits.admit("n", "u"))
        clock.now += 2
    # 0, 2 and 4 s fit the burst opened at 0; at 6 s the burst is over and free_at is 18 s.
    assert answers == [None, None, None, PAIR_REFUSED]
    clock.now = 1000 + 18
    assert limits.admit("n", "u") is None


def test_a_burst_of_45_inside_six_seconds_then_the_borrowed_wait(clock):
    limits = pair_only(clock)
    for _ in range(45):
        assert limits.admit("n", "u") is None
        clock.now += 0.1
    assert limits.admit("n", "u") == PAIR_REFUSED  # the 46th, still inside the 6 s
    clock.now = 1000 + 45 * 6 - 0.01
    assert limits.admit("n", "u") == PAIR_REFUSED
    clock.now = 1000 + 45 * 6
    assert limits.admit("n", "u") is None
    assert limits.refusals == {PAIR_REFUSED: 2}


def test_pairs_are_counted_apart(clock):
    limits = pair_only(clock, interval=6, burst=1)
    assert limits.admit("n", "a") is None
    assert limits.admit("n", "b") is None
    assert limits.admit("n", "a") == PAIR_REFUSED
    assert limits.admit("other-number", "a") is None


def test_the_number_takes_its_level_at_once_then_its_level_per_second(clock):
    limits = MetaLimits(Limits(20, pair_interval=0, window_seconds=0), clock=clock)
    answers = [limits.admit("n", f"user-{i}") for i in range(21)]
    assert answers.count(None) == 20
    assert answers[-1] == THROUGHPUT_REFUSED
    clock.now += 0.5  # refilled by 10
    assert [limits.admit("n", f"late-{i}") for i in range(11)].count(None) == 10
    assert limits.refusals == {THROUGHPUT_REFUSED: 2}


def test_inbound_messages_take_the_same_tokens(clock):
    limits = MetaLimits(Limits(5, pair_interval=0, window_seconds=0), clock=clock)
    for _ in range(4):
        limits.count_inbound("n")
    assert limits.admit("n", "a") is None
    assert limits.admit("n", "b") == THROUGHPUT_REFUSED


def test_a_pair_refusal_leaves_the_numbers_tokens_alone(clock):
    limits = MetaLimits(Limits(2, pair_interval=6, pair_burst=1, window_seconds=0), clock=clock)
    assert limits.admit("n", "a") is None
    assert limits.admit("n", "a") == PAIR_REFUSED
    assert limits.admit("n", "b") is None  # the refused message took no token
