"""whatsapp's demo: a signed inbound ``help`` and a long reply through the running stack and the
WhatsApp stand-in (``manage.py whatsapp_demo``)."""

from __future__ import annotations

from devstack.demos import manage


def run(base_url: str) -> None:
    manage("whatsapp_demo", f"--base-url={base_url}")
