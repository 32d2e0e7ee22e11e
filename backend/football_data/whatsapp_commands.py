"""The ``fixtures`` WhatsApp command: football_data's only link to the whatsapp app.

Found by ``WhatsAppConfig.ready()`` (every app's ``whatsapp_commands`` module), so it loads only
when whatsapp is installed; it uses only the extension point ``whatsapp.commands``, so deleting
either app removes the command cleanly. The
handler (io worker) enqueues ``send_fixtures``; the reply is built on the cpu worker.
"""

from __future__ import annotations

from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import transaction

from football_data import selectors
from whatsapp.commands import Contact, command, command_arguments, send_reply


@command("fixtures", description="Upcoming fixtures by competition and day (e.g. fixtures PL)")
def fixtures(*, contact: Contact, text: str) -> str | None:
    codes = [code.upper() for code in command_arguments(text).replace(",", " ").split()]
    transaction.on_commit(partial(send_fixtures.delay, contact.wa_id, competitions=codes or None))
    return None


# At most once: a crash mid-send must not send the whole multi-part reply a second time (the
# contact can simply ask again), so this task acknowledges on receipt.
@shared_task(acks_late=False, soft_time_limit=30, time_limit=45)
def send_fixtures(
    wa_id: str, competitions: list[str] | None = None, days: int | None = None
) -> None:
    """Build the upcoming-fixtures reply and hand it to WhatsApp's staggered sender."""
    matches = list(
        selectors.fixture_list_upcoming(
            days=days or settings.FOOTBALL_DATA_FIXTURES_DAYS, competitions=competitions
        )
    )
    send_reply(to=wa_id, text=selectors.fixtures_text(matches=matches))
