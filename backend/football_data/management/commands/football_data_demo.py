"""Seed demo data: matches around today (finished, upcoming, extra time, penalties,
postponed) and open tickets on them, so the admin and the fixtures command show content at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from football_data.demo import demo_seed


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tickets", type=int, default=50)

    def handle(self, *args: Any, tickets: int, **options: Any) -> None:
        if tickets < 0:
            raise CommandError(f"--tickets must be 0 or more, got {tickets}")
        summary = demo_seed(tickets=tickets)
        self.stdout.write(f"Seeded {summary.matches} matches and {summary.tickets} tickets.")
