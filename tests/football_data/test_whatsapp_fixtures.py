"""The ``fixtures`` WhatsApp command, across both example apps, on real processes: skipped when
either app (or its stand-in) has been removed, like the command itself disappears."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from django.test import Client

pytest.importorskip("whatsapp")
pytest.importorskip("devstack.standins.whatsapp")

from devstack.standins.football_data import FootballDataStandin
from devstack.standins.whatsapp import WhatsAppStandIn, inbound_text_payload, sign
from football_data.models import Match
from football_data.selectors import fixture_list_upcoming, fixtures_text
from tests.stack import wait_until
from whatsapp.text import text_split

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

WA_TOKEN, WA_PHONE_NUMBER_ID, WA_SECRET = "wa-token", "100000000000001", "wa-secret"
FIXTURES_DAYS = 120  # long enough for a reply of several parts


@pytest.fixture(scope="module")
def api() -> Iterator[FootballDataStandin]:
    with FootballDataStandin(requests_per_minute=60) as standin:
        yield standin


@pytest.fixture(scope="module")
def whatsapp_api() -> Iterator[WhatsAppStandIn]:
    with WhatsAppStandIn(
        access_token=WA_TOKEN, phone_number_id=WA_PHONE_NUMBER_ID, app_secret=WA_SECRET
    ) as standin:
        yield standin


@pytest.fixture
def worker_env(api, whatsapp_api) -> dict[str, str]:
    whatsapp_api.reset()
    return {
        "FOOTBALL_DATA_API_URL": api.url,
        "FOOTBALL_DATA_API_TOKEN": "t",
        "FOOTBALL_DATA_FIXTURES_DAYS": str(FIXTURES_DAYS),
        "WORKER_CPU_CONCURRENCY": "2",
        "WHATSAPP_API_BASE_URL": whatsapp_api.url,
        "WHATSAPP_ACCESS_TOKEN": WA_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": WA_PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": WA_SECRET,
        "WHATSAPP_PART_SPACING_SECONDS": "0.5",
    }


def test_fixtures_command_end_to_end(stack, clean_queues, worker_env, whatsapp_api, settings,
                                     session_dir):  # fmt: skip
    # Given both workers, and beat, whose start-up sync (the interval is an hour) fills the
    # database with fixtures
    stack.ensure("worker-cpu", **worker_env)
    stack.ensure("worker-io", **worker_env)
    stack.ensure(
        "beat",
        **worker_env,
        FOOTBALL_DATA_FIXTURES_SYNC_SECONDS="3600",
        CELERY_BEAT_SCHEDULE_FILE=str(session_dir / "football-data-beat-schedule"),
    )
    try:
        wait_until(lambda: Match.objects.filter(status="TIMED").exists(), timeout=40)
    finally:
        stack.stop("beat")
    # When a contact sends "fixtures" (a signed webhook, as Meta posts it)
    settings.WHATSAPP_APP_SECRET = WA_SECRET
    body = json.dumps(inbound_text_payload(wa_id="447700900123", text="fixtures")).encode()
    response = Client().post(
        "/whatsapp/webhook/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body, WA_SECRET),
    )
    assert response.status_code == 200
    # Then the reply reaches the WhatsApp stand-in as staggered parts, in order
    expected = text_split(fixtures_text(matches=list(fixture_list_upcoming(days=FIXTURES_DAYS))))
    assert len(expected) > 1
    try:
        delivered = whatsapp_api.wait_for(len(expected), timeout=30)
    except TimeoutError as exc:
        logs = stack.log("worker-io")[-5000:] + stack.log("worker-cpu")[-3000:]
        raise AssertionError(f"{exc}; the workers' logs end with:\n{logs}") from None
    assert [r.to for r in delivered] == ["447700900123"] * len(expected)
    assert [r.body for r in delivered] == expected
    gaps = [b.at - a.at for a, b in itertools.pairwise(delivered)]
    assert all(gap >= 0.3 for gap in gaps), gaps
