"""Demo data: open tickets on the matches in the database (the matches come from the API, or
from any ``/v4/matches``-shaped JSON: ``manage.py football_data_demo --matches``)."""

from __future__ import annotations

import random
from decimal import Decimal

from django.db import transaction

from football_data.models import Match, Pick, Selection, Ticket
from football_data.selectors import match_q_decided


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
