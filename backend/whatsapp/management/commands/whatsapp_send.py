"""Send a (possibly long) text as a staggered multi-part WhatsApp message, or an approved
template."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from whatsapp.services import template_send, text_send_staggered
from whatsapp.validation import OutboundInvalid, recipient_normalize


class Command(BaseCommand):
    help = (
        "Queue a text to a WhatsApp number (wa_id, E.164 digits), split into spaced parts; or, "
        "with --template, an approved template (whatsapp/message_templates.py)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "to", help="recipient, E.164 digits: 15551234567 ('+', spaces, hyphens are ignored)"
        )
        parser.add_argument("text", nargs="?", help="the text (or use --file, or --template)")
        parser.add_argument("--file", type=Path, help="read the text from this file ('-': stdin)")
        parser.add_argument(
            "--template", metavar="NAME", help="send this approved template instead of a text"
        )
        parser.add_argument("--language", metavar="CODE", help="the template's language: en_US")
        parser.add_argument(
            "--param",
            action="append",
            dest="params",
            default=[],
            metavar="VALUE",
            help="the template's next parameter, {{1}} first (repeatable)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            to = recipient_normalize(str(options["to"]))
        except OutboundInvalid as exc:
            raise CommandError(str(exc)) from None
        if options["template"] is not None:
            self._template_send(to, options)
        elif options["language"] is not None or options["params"]:
            raise CommandError("--language and --param go with --template")
        else:
            self._text_send(to, options)

    def _template_send(self, to: str, options: dict[str, Any]) -> None:
        if options["text"] is not None or options["file"] is not None:
            raise CommandError("give a text (or --file) or --template, not both")
        name, language = options["template"], options["language"] or ""
        try:
            message_id = template_send(
                to=to, name=name, language=language, params=options["params"]
            )
        except OutboundInvalid as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued template {name} ({language}) to {to}: message id {message_id}")

    def _text_send(self, to: str, options: dict[str, Any]) -> None:
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
            raise CommandError("give the text, --file or --template")
        try:
            ids = text_send_staggered(to=to, text=text)
        except OutboundInvalid as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued {len(ids)} part(s) to {to}: message ids {ids}")
