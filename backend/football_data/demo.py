"""Demo data: matches from the stand-in's generator (no network) and tickets on them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from devstack.standins.football_data import COMPETITIONS, matches_between
from football_data.models import Match, Pick, Selection, Ticket
from football_data.selectors import match_q_decided
from football_data.services import matches_upsert


@dataclass(frozen=True)
class DemoSummary:
    matches: int
    tickets: int


def demo_matches_seed(
    *, days_back: int = 14, days_ahead: int = 14, now: datetime | None = None
) -> int:
    now = now or timezone.now()
    payload = {
        "matches": matches_between(
            list(COMPETITIONS),
            (now - timedelta(days=days_back)).date(),
            (now + timedelta(days=days_ahead)).date(),
            now,
        )
    }
    return matches_upsert(payload=payload)


def demo_tickets_seed(
    *, tickets: int, max_legs: int = 4, seed: int = 7, decided_only: bool = False
) -> int:
    """``tickets`` open tickets (singles and accumulators) on the matches in the database, or
    only on decided ones (all of them settle at once: the benchmark)."""
    rng = random.Random(seed)  # noqa: S311  (demo data)
    matches = Match.objects.all()
    if decided_only:
        matches = matches.filter(match_q_decided())
    match_ids = list(matches.values_list("pk", flat=True))
    if not match_ids:
        return 0
    picks = [Pick.HOME, Pick.DRAW, Pick.AWAY]
    created = 0
    with transaction.atomic():
        for start in range(0, tickets, 2000):
            batch = [
                Ticket(reference=f"demo-{start + i}", stake=Decimal(rng.choice((2, 5, 10, 20))))
                for i in range(min(2000, tickets - start))
            ]
            Ticket.objects.bulk_create(batch)
            legs = []
            for ticket in batch:
                count = min(len(match_ids), rng.choice((1, 1, 2, 3, max_legs)))
                for match_id in rng.sample(match_ids, count):
                    odds = Decimal(rng.randint(110, 650)) / 100
                    pick = rng.choice(picks)
                    legs.append(Selection(ticket=ticket, match_id=match_id, pick=pick, odds=odds))
            Selection.objects.bulk_create(legs, batch_size=2000)
            created += len(batch)
    return created


def demo_seed(*, tickets: int = 50) -> DemoSummary:
    return DemoSummary(matches=demo_matches_seed(), tickets=demo_tickets_seed(tickets=tickets))
