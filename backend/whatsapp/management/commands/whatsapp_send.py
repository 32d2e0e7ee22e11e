"""Send a (possibly long) text as a staggered multi-part WhatsApp message."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from whatsapp.services import text_send_staggered
from whatsapp.validation import OutboundInvalid, recipient_normalize


class Command(BaseCommand):
    help = "Queue a text to a WhatsApp number (wa_id, E.164 digits), split into spaced parts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "to", help="recipient, E.164 digits: 15551234567 ('+', spaces, hyphens are ignored)"
        )
        parser.add_argument("text", nargs="?", help="the text (or use --file)")
        parser.add_argument("--file", type=Path, help="read the text from this file ('-': stdin)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            to = recipient_normalize(str(options["to"]))
        except OutboundInvalid as exc:
            raise CommandError(str(exc)) from None
        path: Path | None = options["file"]
        if path is not None and options["text"] is not None:
            raise CommandError("give the text or --file, not both")
        if path is not None:
            try:
                text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read --file {path}: {exc}") from None
        elif options["text"] is not None:
            text = options["text"]
        else:
            raise CommandError("give the text or --file")
        try:
            ids = text_send_staggered(to=to, text=text)
        except OutboundInvalid as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued {len(ids)} part(s) to {to}: message ids {ids}")
