"""Meta's pair rule, one business number to one user: when the next message to a contact may go.

The model is the project's (docs/whatsapp.md, "Meta's limits"): a message at or after the
contact's ``free_at`` opens a burst; one before it goes only inside the open burst (less than an
interval after it began, fewer than the burst's size so far), and each message in a burst pushes
``free_at`` one interval further. The state is kept on the last message accepted for the contact.

Meta starts its clock when a request reaches it, somewhere between our request and its answer, so
the state leans the safe way on both ends: a burst begins at our request (its window closes no
later than Meta's), ``free_at`` counts from the answer (it opens no sooner than Meta's), and a
message joins an open burst only if it goes out ``window_margin`` before the window closes.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class PairState:
    """The contact's burst after the last message accepted for it."""

    burst_start: dt.datetime
    count: int
    free_at: dt.datetime


@dataclass(frozen=True)
class PairRule:
    interval: dt.timedelta
    burst: int

    @property
    def window_margin(self) -> dt.timedelta:
        """What a request may take to reach Meta: a tenth of the interval, at most half a second."""
        return min(self.interval / 10, dt.timedelta(seconds=0.5))

    def window_end(self, state: PairState | None, at: dt.datetime) -> dt.datetime | None:
        """The last moment a message sent at ``at`` or later still joins the open burst; None
        when ``at`` opens a burst of its own (the contact is free)."""
        if state is None or at >= state.free_at:
            return None
        return state.burst_start + self.interval - self.window_margin

    def earliest(self, state: PairState | None, at: dt.datetime) -> dt.datetime:
        """The first moment from ``at`` on that the next message to the contact may go."""
        end = self.window_end(state, at)
        if end is None:
            return at
        assert state is not None
        if state.count < self.burst and at < end:
            return at
        return state.free_at

    def after(
        self, state: PairState | None, *, requested_at: dt.datetime, answered_at: dt.datetime
    ) -> PairState:
        """The state once a message requested at ``requested_at`` (no sooner than ``earliest``)
        was accepted, its answer back at ``answered_at``."""
        if state is None or requested_at >= state.free_at:
            return PairState(requested_at, 1, answered_at + self.interval)
        return PairState(state.burst_start, state.count + 1, state.free_at + self.interval)

    def refused(self, state: PairState | None, *, at: dt.datetime) -> PairState:
        """Meta refused a message at ``at`` for the pair (131056): it counted more than we did.
        The contact is taken as busy for one more interval than we thought, its burst closed."""
        free_at = max(at, state.free_at if state is not None else at) + self.interval
        return PairState(at - self.interval, self.burst, free_at)

    def fits(
        self, state: PairState | None, at: dt.datetime, *, parts: int, step: dt.timedelta
    ) -> bool:
        """Whether ``parts`` messages ``step`` apart from ``at`` all join the contact's open
        burst (False when there is none)."""
        end = self.window_end(state, at)
        if end is None:
            return False
        assert state is not None
        return state.count + parts <= self.burst and at + (parts - 1) * step < end

    def per_burst(self, step: dt.timedelta) -> int:
        """How many messages ``step`` apart fit one burst: all but the first inside its window."""
        window = self.interval - self.window_margin
        if step <= dt.timedelta(0):
            return self.burst
        return max(1, min(self.burst, math.ceil(window / step)))

    def plan(
        self, state: PairState | None, *, start: dt.datetime, parts: int, spacing: dt.timedelta
    ) -> list[tuple[dt.datetime, bool]]:
        """When each of ``parts`` messages of one reply goes, ``spacing`` apart from ``start``
        where the rule allows, split into bursts by ``first_burst``, and whether the rule held
        it back."""
        planned: list[tuple[dt.datetime, bool]] = []
        wanted = start
        left_in_burst = 0
        for sent in range(parts):
            due = self.earliest(state, wanted)
            if left_in_burst == 0 and self.window_end(state, due) is not None:
                if self.fits(state, due, parts=parts - sent, step=spacing):
                    left_in_burst = parts - sent
                else:
                    assert state is not None
                    due = state.free_at  # the open burst cannot hold the rest: the next one does
            if self.window_end(state, due) is None:
                left_in_burst = first_burst(parts - sent, self.per_burst(spacing))
            planned.append((due, due > wanted))
            state = self.after(state, requested_at=due, answered_at=due)
            wanted = due + spacing
            left_in_burst -= 1
        return planned


def first_burst(parts: int, per_burst: int) -> int:
    """Of a reply's ``parts`` still to go, how many its next burst sends: all if they fit, else
    the remainder that leaves only full bursts after it. A burst borrows one interval per part,
    so the short burst goes first: 22 parts at 21 a burst go as 1 + 21 (done after one
    interval and the 21), not as 21 + 1 (after 21 intervals)."""
    if parts <= per_burst:
        return parts
    return parts % per_burst or per_burst


def pair_rule() -> PairRule:
    """The rule as configured: WHATSAPP_PAIR_INTERVAL_SECONDS, WHATSAPP_PAIR_BURST."""
    return PairRule(
        interval=dt.timedelta(seconds=settings.WHATSAPP_PAIR_INTERVAL_SECONDS),
        burst=settings.WHATSAPP_PAIR_BURST,
    )
