"""Push a signed inbound ``help`` webhook and a long reply through the running stack.

Needs the stack running (``make run`` or ``docker compose up``) with the WhatsApp stand-in, and
this process configured like it (same database, broker and WHATSAPP_APP_SECRET, e.g. from .env).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from devstack.standins.whatsapp import inbound_text_payload, new_wamid, post_signed
from whatsapp.models import FINAL_STATUSES, InboundMessage, OutboundMessage
from whatsapp.services import text_send_staggered
from whatsapp.validation import OutboundInvalid, recipient_normalize

DEMO_PARAGRAPH = (
    "Paragraph {n:02d}. A long reply is split at line breaks into parts of at most 4096 "
    "characters; each part is a row, sent in order, spaced to respect the pair rate limit. "
)


class Command(BaseCommand):
    help = "Demonstrate the WhatsApp flow end to end against the running stack."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the web service")
        parser.add_argument("--to", default="15550001234", help="the demo user's wa_id")
        parser.add_argument("--paragraphs", type=int, default=60, help="size of the long reply")
        parser.add_argument("--timeout", type=float, default=180.0)

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        if not settings.WHATSAPP_APP_SECRET:
            raise CommandError("WHATSAPP_APP_SECRET is not set (the webhook would refuse us)")
        if options["paragraphs"] < 1:
            raise CommandError(f"--paragraphs must be at least 1, got {options['paragraphs']}")
        if not options["timeout"] > 0:
            raise CommandError(f"--timeout must be more than 0 seconds, got {options['timeout']}")
        try:
            wa_id = recipient_normalize(options["to"])
        except OutboundInvalid as exc:
            raise CommandError(str(exc)) from None
        deadline = time.monotonic() + options["timeout"]
        url = options["base_url"].rstrip("/") + "/whatsapp/webhook/"

        wamid = new_wamid()
        payload = inbound_text_payload(wa_id=wa_id, text="help", name="Demo User", wamid=wamid)
        status = post_signed(url, payload, settings.WHATSAPP_APP_SECRET)
        self.stdout.write(f"1. POST signed inbound 'help' from {wa_id} to {url}: HTTP {status}")
        if status != 200:
            raise CommandError("the webhook did not accept the event")
        inbound = self._wait(
            lambda: InboundMessage.objects.filter(wamid=wamid).first(), deadline, "inbound"
        )
        reply = self._wait_final(
            OutboundMessage.objects.filter(
                contact=inbound.contact, created_at__gte=inbound.created_at
            ),
            deadline,
        )
        self.stdout.write("2. the worker answered through the command router:")
        self._table(reply)

        text = "\n".join(
            DEMO_PARAGRAPH.format(n=n) * 3 for n in range(1, options["paragraphs"] + 1)
        )
        started = timezone.now()
        try:
            ids = text_send_staggered(to=wa_id, text=text)
        except OutboundInvalid as exc:
            raise CommandError(f"--paragraphs {options['paragraphs']}: {exc}") from None
        self.stdout.write(
            f"3. queued a {len(text)}-character reply as {len(ids)} parts "
            f"({settings.WHATSAPP_PART_SPACING_SECONDS:g}s apart)"
        )
        parts = self._wait_final(OutboundMessage.objects.filter(pk__in=ids), deadline)
        self._table(parts, started=started)
        if any(p.status == "failed" for p in parts):
            raise CommandError("some parts failed: see the table above and the admin")
        self.stdout.write(self.style.SUCCESS("done: every part sent, in order"))

    def _wait(self, probe: Any, deadline: float, what: str) -> Any:
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(0.2)
        raise CommandError(f"timed out waiting for the {what} (is worker-io running?)")

    def _wait_final(self, queryset: Any, deadline: float) -> list[OutboundMessage]:
        def probe() -> list[OutboundMessage] | None:
            rows = list(queryset.order_by("pk"))
            return rows if rows and all(r.status in FINAL_STATUSES for r in rows) else None

        result: list[OutboundMessage] = self._wait(probe, deadline, "messages to be sent")
        return result

    def _table(self, rows: list[OutboundMessage], started: Any = None) -> None:
        for row in rows:
            offset = ""
            if started is not None and row.sent_at is not None:
                offset = f" +{(row.sent_at - started).total_seconds():6.2f}s"
            first_line = row.body.splitlines()[0][:40] if row.body else ""
            self.stdout.write(
                f"   part {row.position + 1:>2}/{row.batch_size} {row.status:<9} "
                f"{row.wamid or '-':<40}{offset} {first_line!r}"
            )
