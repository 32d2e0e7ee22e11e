"""`make run` points the WhatsApp stand-in's status webhooks at web on its loopback port."""

from __future__ import annotations

from devstack.compose import load_services
from devstack.run import on_loopback
from tests.devstack.required import FOR_LOCAL_RUN


def test_the_standins_webhooks_follow_web_to_loopback():
    services = on_loopback(load_services(FOR_LOCAL_RUN, ["whatsapp-standin"]), 8123)

    command = services["whatsapp-standin"].command
    assert "--webhook-url=http://127.0.0.1:8123/whatsapp/webhook/" in command
    assert command[-1] == "--host=127.0.0.1"
