"""whatsapp's demo: a signed inbound ``help`` and a long reply through the running stack and the
WhatsApp stand-in (``manage.py whatsapp_demo``)."""

from __future__ import annotations

from devstack.compose import load_services
from devstack.demos import manage
from devstack.run import local_environment


def standin_url() -> str | None:
    """Where `make run` has the WhatsApp stand-in listen: the address the Compose files give the
    app (WHATSAPP_API_BASE_URL), on loopback; None without a stand-in there."""
    web = load_services(local_environment(), ["web"])["web"]
    return web.environment.get("WHATSAPP_API_BASE_URL")


def run(base_url: str) -> None:
    # The demo posts the user's message to web itself: the stand-in is told of it too, so that
    # its 24-hour window lets the replies through, as Meta's would.
    url = standin_url()
    manage("whatsapp_demo", f"--base-url={base_url}", *([f"--standin-url={url}"] if url else []))
