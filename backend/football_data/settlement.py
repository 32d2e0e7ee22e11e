"""Settlement rules as pure functions: no ORM, no I/O, so they are table- and property-tested.

Rules
- A 1X2 selection settles on the 90-minute score: ``regularTime`` when the provider sends it,
  else the full-time score minus extra-time and shoot-out goals (``fullTime`` includes them).
- POSTPONED, CANCELLED and AWARDED matches void the selection (it counts as odds 1): the result
  was not decided on the pitch in the match that was priced.
- Any other status that is not FINISHED leaves the selection open.
- A ticket waits while any selection is open. Once all are decided: any lost selection loses the
  ticket (payout 0); all void returns the stake; otherwise it wins stake x product of the odds of
  the selections that won (void ones count as 1), rounded down to the cent, so the payout never
  exceeds stake x product of the odds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

CENT = Decimal("0.01")

FINAL_STATUSES = frozenset({"FINISHED", "POSTPONED", "CANCELLED", "AWARDED"})
VOID_STATUSES = frozenset({"POSTPONED", "CANCELLED", "AWARDED"})


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
    """The score after regular time, or None when the data does not say."""
    regular = _known(score.regular_time)
    if regular is not None:
        return regular
    full = _known(score.full_time)
    if full is None:
        return None
    home, away = full
    for extra in (_known(score.extra_time), _known(score.penalties)):
        if extra is not None:
            home, away = home - extra[0], away - extra[1]
    if home < 0 or away < 0:
        return None
    return home, away


def leg_outcome(*, pick: str, score: Score) -> Outcome:
    if score.status in VOID_STATUSES:
        return Outcome.VOID
    if score.status != "FINISHED":
        return Outcome.OPEN
    goals = ninety_minute_score(score)
    if goals is None:
        # Finished but no score yet: wait for the next results sync rather than guess.
        return Outcome.OPEN
    home, away = goals
    result = "1" if home > away else "2" if away > home else "X"
    return Outcome.WON if pick == result else Outcome.LOST


def ticket_result(*, stake: Decimal, legs: Iterable[Leg]) -> TicketResult:
    outcomes: list[Outcome] = []
    product = Decimal(1)
    for leg in legs:
        outcome = leg_outcome(pick=leg.pick, score=leg.score)
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
