"""Run one football-data sync now, in this process (no worker needed)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from football_data import services
from football_data.client import FootballDataError
from football_data.selectors import ticket_ids_settleable


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=["fixtures", "results", "settle"])
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args: Any, what: str, days: int | None, **options: Any) -> None:
        if days is not None and days < 1:
            raise CommandError(f"--days must be at least 1, got {days}")
        if days is not None and what == "settle":
            raise CommandError("--days applies to fixtures and results, not settle")
        try:
            if what == "fixtures":
                count = services.fixtures_sync(days=days)
            elif what == "results":
                count = services.results_sync(days=days or 3)
            else:
                count = services.tickets_settle(ticket_ids=ticket_ids_settleable()).settled
        except FootballDataError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        self.stdout.write(f"{what}: {count}")
