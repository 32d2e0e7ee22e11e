"""The WhatsApp benchmarks' stand-in: Meta's API answering after a set latency, at Meta's limits,
with the benchmark's servers pointed at it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from common import Servers, bench_setup

from devstack.standins._whatsapp_limits import Limits
from devstack.standins.whatsapp import WhatsAppStandIn

# The WhatsApp stand-in's credentials in every benchmark (not secrets).
STANDIN_TOKEN = "bench-token"  # noqa: S105
STANDIN_PHONE_NUMBER_ID = "100000000000001"


def whatsapp_setup(
    workdir: Path, *, latency: float, database_url: str | None, **env: str
) -> tuple[WhatsAppStandIn, Servers]:
    """The WhatsApp stand-in answering after ``latency`` s, and ``bench_setup`` pointed at it.

    The number is at Meta's highest level (1,000 a second), so what these benchmarks measure is
    the worker's own capacity, which stays below it. The stand-in enforces that level and Meta's
    pair rule, as Meta would."""
    level = float(env.get("WHATSAPP_MESSAGES_PER_SECOND", "1000"))
    standin = WhatsAppStandIn(
        access_token=STANDIN_TOKEN,
        phone_number_id=STANDIN_PHONE_NUMBER_ID,
        latency=latency,
        limits=Limits(messages_per_second=level, pair_interval=6.0, pair_burst=45),
    ).start()
    servers = bench_setup(
        workdir,
        database_url=database_url,
        WHATSAPP_API_BASE_URL=standin.url,
        WHATSAPP_ACCESS_TOKEN=STANDIN_TOKEN,
        WHATSAPP_PHONE_NUMBER_ID=STANDIN_PHONE_NUMBER_ID,
        **{"WHATSAPP_MESSAGES_PER_SECOND": "1000", **env},
    )
    return standin, servers


def users_wrote(standin: WhatsAppStandIn, wa_ids: Iterable[str]) -> None:
    """The users ``wa_ids`` wrote just now: their 24-hour windows are open at the app (each
    contact's ``last_inbound_at``, the contact created if need be) and at the stand-in, so texts
    to them go. Before anything is timed: the stand-in forgets its windows on reset()."""
    from django.utils import timezone

    from whatsapp.models import Contact

    numbers = list(wa_ids)
    now = timezone.now()
    Contact.objects.bulk_create(
        [Contact(wa_id=wa_id, last_inbound_at=now) for wa_id in numbers],
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["wa_id"],
        update_fields=["last_inbound_at"],
    )
    for wa_id in numbers:
        standin.open_window(wa_id, at=now.timestamp())
