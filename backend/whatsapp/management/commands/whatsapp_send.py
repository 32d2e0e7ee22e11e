"""Send a (possibly long) text as a staggered multi-part WhatsApp message."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from whatsapp.services import text_send_staggered


class Command(BaseCommand):
    help = "Queue a text to a WhatsApp number (wa_id, E.164 digits), split into spaced parts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("to", help="recipient wa_id, e.g. 15551234567")
        parser.add_argument("text", nargs="?", help="the text (or use --file)")
        parser.add_argument("--file", type=Path, help="read the text from this file ('-': stdin)")

    def handle(self, *args: Any, **options: Any) -> None:
        to = str(options["to"]).lstrip("+")
        if not to.isdigit():
            raise CommandError("the recipient must be digits (E.164 without '+')")
        if options["file"] is not None:
            path: Path = options["file"]
            text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        elif options["text"]:
            text = options["text"]
        else:
            raise CommandError("give the text or --file")
        try:
            ids = text_send_staggered(to=to, text=text)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued {len(ids)} part(s) to {to}: message ids {ids}")
