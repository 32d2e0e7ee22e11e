"""The WhatsApp app's live checks in ``manage.py doctor`` (config.discovery finds them)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from ops.doctor import Finding, Status
from whatsapp.models import OutboundMessage, OutboundStatus
from whatsapp.services import limit_count

# A count this close to the limit warns: time to ask Meta for the next level.
NEAR_LIMIT_SHARE = 0.8


def messaging_limit() -> list[Finding]:
    """Contacts reached by business-initiated messages in the last 24 h against
    WHATSAPP_MESSAGING_LIMIT, and the messages held for it."""
    limit = settings.WHATSAPP_MESSAGING_LIMIT
    count = limit_count()
    held = OutboundMessage.objects.filter(status=OutboundStatus.HELD).count()
    of = "no limit (unlimited)" if limit is None else f"a limit of {limit}"
    detail = f"{count} contact(s) reached in the last 24 h, {of}; {held} message(s) held"
    near = limit is not None and count >= NEAR_LIMIT_SHARE * limit
    if held or near:
        return [
            Finding(
                Status.WARN,
                "whatsapp messaging limit",
                detail,
                hint="held messages go as the 24 h moves on; a higher level comes from Meta "
                "(WhatsApp Manager), then set WHATSAPP_MESSAGING_LIMIT to it",
            )
        ]
    return [Finding(Status.OK, "whatsapp messaging limit", detail)]


CHECKS: dict[str, Callable[[], list[Finding]]] = {"whatsapp messaging limit": messaging_limit}
