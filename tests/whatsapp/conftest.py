from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from devstack.standins._whatsapp_limits import Limits, MetaLimits
from devstack.standins.whatsapp import WhatsAppStandIn, sign
from ops.ratelimit import shared_redis
from whatsapp.models import Contact
from whatsapp.services import message_send

SAMPLES = Path(__file__).parent / "samples"
APP_SECRET = "test-app-secret"  # pragma: allowlist secret (signs test webhooks)
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "test-access-token"
PHONE_NUMBER_ID = "123456789"
WEBHOOK_URL = "/whatsapp/webhook/"
# Part spacing for the tests that run worker-io.
SPACING = 0.3


def reply_text(parts: int) -> str:
    """A text that splits into exactly ``parts`` parts, each starting with its number."""
    return "\n".join(f"part {n:02d} " + "lorem ipsum " * 330 for n in range(1, parts + 1))


def user_wrote(
    wa_id: str, *, standin: WhatsAppStandIn | None = None, at: dt.datetime | None = None
) -> None:
    """The user ``wa_id`` wrote to the number at ``at`` (now by default): their 24-hour window
    is open on both sides, the app's contact row (created if need be) and the stand-in's."""
    at = at or timezone.now()
    Contact.objects.update_or_create(wa_id=wa_id, defaults={"last_inbound_at": at})
    if standin is not None:
        standin.open_window(wa_id, at=at.timestamp())


def send_each(ids: list[int]) -> list[str]:
    """Each message sent in this process, in turn, each waiting out what it is told to (the pair
    rule's interval); their outcomes."""
    results = []
    for pk in ids:
        outcome = message_send(message_id=pk)
        while outcome.result == "later" and outcome.retry_in is not None:
            time.sleep(outcome.retry_in)
            outcome = message_send(message_id=pk)
        results.append(outcome.result)
    return results


def bodies(received) -> list[str]:
    return [r.body[:7] for r in received]


def load_sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def post_webhook(client: Client, body: bytes, *, secret: str | None = APP_SECRET) -> Any:
    headers = {"X-Hub-Signature-256": sign(body, secret)} if secret is not None else {}
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", headers=headers)


# What the stand-in enforces in every test: Meta's default throughput level, which the app
# paces itself to (WHATSAPP_MESSAGES_PER_SECOND, 80 by default), and the pair rule with its
# interval scaled down (Meta's 6 s would make each test with several replies to one contact
# last minutes); the app is told the same (WHATSAPP_PAIR_INTERVAL_SECONDS).
PAIR_INTERVAL = 0.25
LIMITS = Limits(messages_per_second=80, pair_interval=PAIR_INTERVAL)


@pytest.fixture(scope="session")
def standin_server() -> Iterator[WhatsAppStandIn]:
    """One stand-in per session: a fixed URL keeps the worker's environment (and process) the
    same from test to test."""
    with WhatsAppStandIn(
        access_token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID, limits=LIMITS
    ) as server:
        yield server


@pytest.fixture
def standin(standin_server: WhatsAppStandIn, settings: Any) -> Iterator[WhatsAppStandIn]:
    """The stand-in, fresh; after the test it must have refused nothing for a limit (faults a
    test injects are not limits). The number's pace in Redis starts fresh too."""
    client = shared_redis(settings.REDIS_URL)
    for key in client.scan_iter("whatsapp:throughput:*"):
        client.delete(key)
    standin_server.meta = MetaLimits(LIMITS)
    standin_server.reset()
    yield standin_server
    refusals = standin_server.refusals()
    standin_server.reset()
    assert refusals == {}, f"the stand-in refused sends for Meta's limits: {refusals}"


@pytest.fixture
def whatsapp_settings(settings: Any, standin: WhatsAppStandIn) -> Any:
    """This process configured against the stand-in, with no spacing between parts."""
    settings.WHATSAPP_API_BASE_URL = standin.url
    settings.WHATSAPP_ACCESS_TOKEN = ACCESS_TOKEN
    settings.WHATSAPP_PHONE_NUMBER_ID = PHONE_NUMBER_ID
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = VERIFY_TOKEN
    settings.WHATSAPP_PART_SPACING_SECONDS = 0.0
    settings.WHATSAPP_PAIR_INTERVAL_SECONDS = PAIR_INTERVAL
    return settings


@pytest.fixture
def worker(stack, clean_queues, standin, settings):
    """worker-io against the stand-in; this process (the producer) configured the same way."""
    env = {
        "WHATSAPP_API_BASE_URL": standin.url,
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_PART_SPACING_SECONDS": str(SPACING),
        "WHATSAPP_SWEEP_AFTER_SECONDS": "1",
        "WHATSAPP_PAIR_INTERVAL_SECONDS": str(PAIR_INTERVAL),
    }
    settings.WHATSAPP_API_BASE_URL = standin.url
    settings.WHATSAPP_ACCESS_TOKEN = ACCESS_TOKEN
    settings.WHATSAPP_PHONE_NUMBER_ID = PHONE_NUMBER_ID
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_PART_SPACING_SECONDS = SPACING
    settings.WHATSAPP_PAIR_INTERVAL_SECONDS = PAIR_INTERVAL
    stack.ensure("worker-io", **env)
    return env


@pytest.fixture
def status_webhooks(standin, live_server):
    """The stand-in posts signed sent/delivered/read webhooks to the app served by live_server."""
    standin.webhook_url = live_server.url + WEBHOOK_URL
    standin.app_secret = APP_SECRET
    standin.auto_status = True
    standin.status_delay = 0.1
    yield standin
    standin.auto_status = False
    standin.webhook_url = None


@pytest.fixture
def limit_of_5(standin, whatsapp_settings):
    """A messaging limit of 5 contacts, here and at the stand-in."""
    whatsapp_settings.WHATSAPP_MESSAGING_LIMIT = 5
    standin.meta = MetaLimits(
        Limits(
            messages_per_second=LIMITS.messages_per_second,
            pair_interval=LIMITS.pair_interval,
            messaging_limit=5,
        )
    )
    return standin
