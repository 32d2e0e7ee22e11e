"""Push a signed inbound ``help`` webhook and a long reply through the running stack.

Needs the stack running (``make run`` or ``docker compose up``) with the WhatsApp stand-in, and
this process configured like it (same database, broker and WHATSAPP_APP_SECRET, e.g. from .env).
The command plays Meta's part itself (the webhook's shape and signature), so it needs no dev
tooling: only the web service's address, ``--base-url``. Meta knows of every message it delivers,
so the command tells the stand-in too that the user wrote (``POST /_standin/window``, the same
time as the webhook's): its 24-hour window then lets the replies through. ``--standin-url``
names the stand-in (WHATSAPP_API_BASE_URL by default, unless that is Meta's; ``''``: none).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from whatsapp.models import FINAL_STATUSES, InboundMessage, OutboundMessage
from whatsapp.services import text_send_staggered
from whatsapp.validation import OutboundInvalid, recipient_normalize

# Where WHATSAPP_API_BASE_URL points at Meta itself: no stand-in to tell.
META_HOST = "graph.facebook.com"
DEMO_PARAGRAPH = (
    "Paragraph {n:02d}. A long reply is split at line breaks into parts of at most 4096 "
    "characters; each part is a row, sent in order, spaced to respect the pair rate limit. "
)


def _inbound_text_payload(
    *, wa_id: str, text: str, wamid: str, phone_number_id: str, timestamp: int
) -> dict[str, Any]:
    """The webhook Meta posts when a user sends a text (from the "Demo User")."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Demo User"}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": wamid,
                "timestamp": str(timestamp),
                "text": {"body": text},
                "type": "text",
            }
        ],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "demo", "changes": [{"value": value, "field": "messages"}]}],
    }


def _post_signed(url: str, payload: dict[str, Any], app_secret: str) -> int:
    """POST the webhook signed as Meta signs it (``X-Hub-Signature-256``); the HTTP status."""
    body = json.dumps(payload).encode()
    signature = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}
    return requests.post(url, data=body, headers=headers, timeout=10).status_code


def _standin_window_open(standin_url: str, wa_id: str, at: int) -> None:
    """Tell the WhatsApp stand-in that ``wa_id`` wrote at ``at`` (epoch seconds)."""
    url = standin_url.rstrip("/") + "/_standin/window"
    try:
        response = requests.post(url, json={"wa_id": wa_id, "at": at}, timeout=10)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise CommandError(
            f"the WhatsApp stand-in at {standin_url} did not open {wa_id}'s window ({exc}); "
            "--standin-url names the stand-in, --standin-url='' none"
        ) from None


class Command(BaseCommand):
    help = "Demonstrate the WhatsApp flow end to end against the running stack."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the web service")
        parser.add_argument("--to", default="15550001234", help="the demo user's wa_id")
        parser.add_argument("--paragraphs", type=int, default=60, help="size of the long reply")
        parser.add_argument("--timeout", type=float, default=180.0)
        parser.add_argument(
            "--standin-url",
            default=None,
            help="the WhatsApp stand-in, told that the user wrote (POST /_standin/window); "
            "WHATSAPP_API_BASE_URL by default, unless that is Meta's; '' tells none",
        )

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

        wamid = f"wamid.demo-{uuid.uuid4().hex}"
        wrote_at = int(time.time())
        payload = _inbound_text_payload(
            wa_id=wa_id,
            text="help",
            wamid=wamid,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID or "",
            timestamp=wrote_at,
        )
        standin_url = options["standin_url"]
        if standin_url is None and urlsplit(settings.WHATSAPP_API_BASE_URL).hostname != META_HOST:
            standin_url = settings.WHATSAPP_API_BASE_URL
        if standin_url:
            # Before the webhook: the worker answers it at once.
            _standin_window_open(standin_url, wa_id, wrote_at)
        status = _post_signed(url, payload, settings.WHATSAPP_APP_SECRET)
        self.stdout.write(f"1. POST signed inbound 'help' from {wa_id} to {url}: HTTP {status}")
        if standin_url:
            self.stdout.write(f"   (and told the stand-in at {standin_url}: its window is open)")
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
