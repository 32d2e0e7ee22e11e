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

    def plan(
        self, state: PairState | None, *, start: dt.datetime, parts: int, spacing: dt.timedelta
    ) -> list[tuple[dt.datetime, bool]]:
        """When each of ``parts`` messages goes, ``spacing`` apart from ``start`` where the rule
        allows, and whether the rule held it back."""
        planned = []
        wanted = start
        for _ in range(parts):
            due = self.earliest(state, wanted)
            planned.append((due, due > wanted))
            state = self.after(state, requested_at=due, answered_at=due)
            wanted = due + spacing
        return planned


def pair_rule() -> PairRule:
    """The rule as configured: WHATSAPP_PAIR_INTERVAL_SECONDS, WHATSAPP_PAIR_BURST."""
    return PairRule(
        interval=dt.timedelta(seconds=settings.WHATSAPP_PAIR_INTERVAL_SECONDS),
        burst=settings.WHATSAPP_PAIR_BURST,
    )
