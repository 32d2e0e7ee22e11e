"""The ``fixtures`` WhatsApp command, registered with the whatsapp app's command registry.

Handlers run on the gevent (io) worker inside the webhook transaction. Building a long fixtures
reply is work for the prefork (cpu) worker, so the handler only enqueues
``football_data.tasks.send_fixtures`` once the transaction commits and returns None; that task
builds the text and hands it to the staggered sender.
"""

from __future__ import annotations

from django.db import transaction

from football_data.tasks import send_fixtures
from whatsapp.commands import command, command_arguments
from whatsapp.models import Contact


@command("fixtures", description="Upcoming fixtures by competition and day (e.g. fixtures PL)")
def fixtures(*, contact: Contact, text: str) -> str | None:
    codes = [code.upper() for code in command_arguments(text).replace(",", " ").split()]
    wa_id = contact.wa_id
    transaction.on_commit(lambda: send_fixtures.delay(wa_id, competitions=codes or None))
    return None
