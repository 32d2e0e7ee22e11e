"""Football writes, one module per job: ``sync`` (matches from football-data.org), ``tickets``
(placing and settling), ``odds`` (price import); ``parsing`` holds what sync and odds share.

Callers import from here: ``from football_data import services`` then ``services.x``.
"""

from football_data.services.odds import odds_import
from football_data.services.sync import (
    SyncRateLimited,
    fixtures_sync,
    matches_upsert,
    results_sync,
)
from football_data.services.tickets import (
    SelectionInput,
    SettleSummary,
    ticket_place,
    tickets_claim_overdue,
    tickets_claim_settleable,
    tickets_settle,
)

__all__ = [
    "SelectionInput",
    "SettleSummary",
    "SyncRateLimited",
    "fixtures_sync",
    "matches_upsert",
    "odds_import",
    "results_sync",
    "ticket_place",
    "tickets_claim_overdue",
    "tickets_claim_settleable",
    "tickets_settle",
]
