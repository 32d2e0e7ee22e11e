"""Settlement rules as pure functions: no ORM, no I/O, no clock, so they are table- and
property-tested. The caller passes ``now`` and the postponement grace period.

The rules (the 90-minute score, void and postponed matches, how a ticket settles) are tabled in
docs/football_data.md, "Settlement rules".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

CENT = Decimal("0.01")

POSTPONED = "POSTPONED"
# Void as soon as the provider reports them.
VOID_STATUSES = frozenset({"CANCELLED", "AWARDED"})
# Decided as soon as the provider reports them (a FINISHED match may still lack a usable score).
DECIDED_STATUSES = frozenset({"FINISHED"}) | VOID_STATUSES
DEFAULT_POSTPONED_VOID_AFTER = timedelta(hours=48)

REGULAR = "REGULAR"
EXTRA_TIME = "EXTRA_TIME"
PENALTY_SHOOTOUT = "PENALTY_SHOOTOUT"


class Outcome(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    VOID = "void"


@dataclass(frozen=True)
class Score:
    """What settlement needs to know about a match."""

    status: str
    full_time: tuple[int | None, int | None] = (None, None)
    regular_time: tuple[int | None, int | None] = (None, None)
    extra_time: tuple[int | None, int | None] = (None, None)
    penalties: tuple[int | None, int | None] = (None, None)
    duration: str = REGULAR  # football-data's score.duration
    kickoff: datetime | None = None  # utcDate; for a postponed match, the original kick-off


@dataclass(frozen=True)
class Leg:
    pick: str  # "1", "X" or "2"
    odds: Decimal
    score: Score


@dataclass(frozen=True)
class TicketResult:
    status: Outcome  # OPEN means: not settled yet, wait
    payout: Decimal | None
    legs: tuple[Outcome, ...]


def _known(pair: tuple[int | None, int | None]) -> tuple[int, int] | None:
    home, away = pair
    return None if home is None or away is None else (home, away)


def ninety_minute_score(score: Score) -> tuple[int, int] | None:
    """The score after regular time, or None when the data does not say.

    Without ``regularTime``: ``fullTime`` minus the ``extraTime`` and ``penalties`` goals that
    ``duration`` says must be there (EXTRA_TIME: extraTime; PENALTY_SHOOTOUT: both). A missing
    part or an unknown duration gives None: wait rather than guess (docs/football_data.md,
    "Settlement rules").
    """
    regular = _known(score.regular_time)
    if regular is not None:
        return regular
    full = _known(score.full_time)
    if full is None:
        return None
    extra, penalties = _known(score.extra_time), _known(score.penalties)
    if score.duration == EXTRA_TIME:
        required: tuple[tuple[int, int] | None, ...] = (extra,)
    elif score.duration == PENALTY_SHOOTOUT:
        required = (extra, penalties)
    elif score.duration == REGULAR:
        required = ()
    else:
        return None
    if any(part is None for part in required):
        return None
    home, away = full
    for part in (extra, penalties):
        if part is not None:
            home, away = home - part[0], away - part[1]
    if home < 0 or away < 0:
        return None
    return home, away


def postponed_is_void(score: Score, *, now: datetime, postponed_void_after: timedelta) -> bool:
    """A postponed match voids once ``postponed_void_after`` has passed since its kick-off.

    Before that it may still be rescheduled under the same id. Without a kick-off there is no
    deadline to count from, so it stays open.
    """
    return score.kickoff is not None and now >= score.kickoff + postponed_void_after


def leg_outcome(
    *,
    pick: str,
    score: Score,
    now: datetime,
    postponed_void_after: timedelta = DEFAULT_POSTPONED_VOID_AFTER,
) -> Outcome:
    if score.status in VOID_STATUSES:
        return Outcome.VOID
    if score.status == POSTPONED:
        void = postponed_is_void(score, now=now, postponed_void_after=postponed_void_after)
        return Outcome.VOID if void else Outcome.OPEN
    if score.status != "FINISHED":
        return Outcome.OPEN
    goals = ninety_minute_score(score)
    if goals is None:
        # Finished but no usable 90-minute score yet: wait for the next results sync.
        return Outcome.OPEN
    home, away = goals
    result = "1" if home > away else "2" if away > home else "X"
    return Outcome.WON if pick == result else Outcome.LOST


def ticket_result(
    *,
    stake: Decimal,
    legs: Iterable[Leg],
    now: datetime,
    postponed_void_after: timedelta = DEFAULT_POSTPONED_VOID_AFTER,
) -> TicketResult:
    outcomes: list[Outcome] = []
    product = Decimal(1)
    for leg in legs:
        outcome = leg_outcome(
            pick=leg.pick, score=leg.score, now=now, postponed_void_after=postponed_void_after
        )
        outcomes.append(outcome)
        if outcome is Outcome.WON:
            product *= leg.odds
    if not outcomes:
        raise ValueError("a ticket needs at least one selection")
    if Outcome.OPEN in outcomes:
        return TicketResult(Outcome.OPEN, None, tuple(outcomes))
    if Outcome.LOST in outcomes:
        return TicketResult(Outcome.LOST, Decimal("0.00"), tuple(outcomes))
    if all(o is Outcome.VOID for o in outcomes):
        return TicketResult(Outcome.VOID, stake.quantize(CENT, ROUND_DOWN), tuple(outcomes))
    payout = (stake * product).quantize(CENT, ROUND_DOWN)
    return TicketResult(Outcome.WON, payout, tuple(outcomes))
