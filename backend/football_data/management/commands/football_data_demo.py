"""Seed demo data: store the matches of a football-data.org matches response (``--matches``, a
JSON file, or ``-`` for stdin), then open tickets on the matches in the database, so the admin and
the fixtures command show content at once. In development the API stand-in prints such a
response, matches around today (finished, upcoming, extra time, penalties, postponed), with no
server: ``python -m devstack.standins.football_data --print-matches`` (``make demo`` pipes it in).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from football_data.demo import demo_tickets_seed
from football_data.models import Match
from football_data.services import matches_upsert


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tickets", type=int, default=50)
        parser.add_argument(
            "--matches",
            metavar="FILE",
            help="a football-data.org matches response (JSON) to store first; - reads stdin",
        )

    def handle(self, *args: Any, tickets: int, matches: str | None, **options: Any) -> None:
        if tickets < 0:
            raise CommandError(f"--tickets must be 0 or more, got {tickets}")
        stored = matches_upsert(payload=self._payload(matches)) if matches else 0
        if tickets and not Match.objects.exists():
            self.stderr.write(
                "No matches to open tickets on: pass --matches, or sync them first "
                "(football_data_sync fixtures)."
            )
        created = demo_tickets_seed(tickets=tickets)
        self.stdout.write(f"Seeded {stored} matches and {created} tickets.")

    def _payload(self, source: str) -> dict[str, Any]:
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
            payload = json.loads(text)
        except (OSError, ValueError) as exc:
            raise CommandError(f"--matches {source}: {exc}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("matches"), list):
            raise CommandError(f"--matches {source}: not a matches response (no 'matches' list)")
        return payload
