from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from devstack.standins.whatsapp import WhatsAppStandIn, sign

SAMPLES = Path(__file__).parent / "samples"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "test-access-token"
PHONE_NUMBER_ID = "123456789"
WEBHOOK_URL = "/whatsapp/webhook/"


def load_sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def post_webhook(client: Client, body: bytes, *, secret: str | None = APP_SECRET) -> Any:
    headers = {"X-Hub-Signature-256": sign(body, secret)} if secret is not None else {}
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", headers=headers)


@pytest.fixture(scope="session")
def standin_server() -> Iterator[WhatsAppStandIn]:
    """One stand-in per session: a fixed URL keeps the worker's environment (and process) the
    same from test to test."""
    with WhatsAppStandIn(access_token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID) as server:
        yield server


@pytest.fixture
def standin(standin_server: WhatsAppStandIn) -> Iterator[WhatsAppStandIn]:
    standin_server.reset()
    yield standin_server
    standin_server.reset()


@pytest.fixture
def whatsapp_settings(settings: Any, standin: WhatsAppStandIn) -> Any:
    """This process configured against the stand-in, with no spacing between parts."""
    settings.WHATSAPP_API_BASE_URL = standin.url
    settings.WHATSAPP_ACCESS_TOKEN = ACCESS_TOKEN
    settings.WHATSAPP_PHONE_NUMBER_ID = PHONE_NUMBER_ID
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = VERIFY_TOKEN
    settings.WHATSAPP_PART_SPACING_SECONDS = 0.0
    return settings
