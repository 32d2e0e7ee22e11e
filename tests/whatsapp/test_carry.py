"""The burst slots and the pace of one worker process (whatsapp.carry)."""

from __future__ import annotations

import time

import pytest

from whatsapp.carry import OWN_PACE_AFTER, PACE_SAFETY, Burst, Pace, Slots


def test_a_process_carries_at_most_its_slots_and_knows_when_one_frees():
    slots = Slots(2)
    first = slots.take(ends_in=5.0)
    assert slots.take(ends_in=1.0) is not None
    assert slots.take(ends_in=1.0) is None
    assert 0.5 < slots.free_in() <= 1.0
    assert first is not None
    slots.give(first)
    assert slots.free_in() == 0.0
    assert slots.take(ends_in=1.0) is not None


def test_a_burst_gives_its_slot_back_when_done_even_on_error():
    slots = Slots(1)

    def carry_and_fail() -> None:
        with Burst(until=time.monotonic() + 10, slots=slots) as burst:
            assert burst.open(target=3, step=0.2)
            assert not Burst(until=time.monotonic() + 10, slots=slots).open(target=2, step=0.2)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        carry_and_fail()
    assert slots.free_in() == 0.0
    assert Burst(until=time.monotonic() + 10, slots=slots).open(target=2, step=0.2)


def test_a_burst_goes_on_until_its_target():
    pace = Pace()
    burst = Burst(until=time.monotonic() + 10, slots=Slots(1), pace=pace)
    assert burst.open(target=3, step=0.2)
    assert [burst.sent_one(t) for t in (0.0, 0.25, 0.5)] == [True, True, False]
    # and the time between its parts is the process's pace
    assert pace.seconds == pytest.approx(0.25)


def test_the_pace_is_the_spacing_until_the_parts_go_slower():
    pace = Pace()
    assert pace.step(0.2) == 0.2
    for _ in range(30):
        pace.observe(0.3)
    assert pace.step(0.2) == pytest.approx(0.3 * PACE_SAFETY)
    for _ in range(30):
        pace.observe(0.1)
    assert pace.step(0.2) == 0.2


def test_a_burst_of_one_part_needs_no_slot():
    slots = Slots(1)
    assert Burst(until=time.monotonic() + 10, slots=slots).open(target=2, step=0.2)
    alone = Burst(until=time.monotonic() + 10, slots=slots)
    assert alone.open(target=1, step=0.2)
    assert not alone.held
    assert not alone.sent_one(0.0)


def test_a_burst_tells_its_own_pace_after_a_few_parts():
    burst = Burst(until=time.monotonic() + 10, slots=Slots(1), pace=Pace())
    assert burst.open(target=10, step=0.2)
    for n in range(OWN_PACE_AFTER):
        assert burst.own_step(0.2) is None
        burst.sent_one(n * 0.3)
    assert burst.own_step(0.2) == pytest.approx(0.3 * PACE_SAFETY)
    assert burst.own_step(0.5) == 0.5


def test_a_burst_too_slow_to_hold_halves_what_a_process_carries_and_held_ones_win_it_back():
    slots = Slots(20)
    taken = [slot for _ in range(10) if (slot := slots.take(ends_in=5.0)) is not None]
    assert len(taken) == 10
    # one of 10 bursts ended early: the process carries at most 5 from now
    slots.give(taken[0], held=False)
    assert slots.limit == 5
    # the others the same crowd slowed down do not cut again
    slots.give(taken[1], held=False)
    assert slots.limit == 5
    assert slots.take(ends_in=5.0) is None
    # each burst that holds wins half a slot back
    for slot in taken[2:6]:
        slots.give(slot, held=True)
    assert slots.limit == 7
    assert slots.take(ends_in=5.0) is not None
