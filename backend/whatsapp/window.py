"""Meta's 24-hour customer service window: a contact's last inbound message (by the webhook's
timestamp) opens or renews it; texts go only inside it, approved templates either way
(docs/whatsapp.md, "Starting a conversation")."""

from __future__ import annotations

import datetime as dt

WINDOW = dt.timedelta(hours=24)
# Meta's code for a free-form message outside the window; the app fails such a part with it
# before calling the API.
WINDOW_CLOSED_CODE = 131047


def window_closes_at(last_inbound_at: dt.datetime | None) -> dt.datetime | None:
    """When the window the contact's last message opened closes; None if they never wrote."""
    return None if last_inbound_at is None else last_inbound_at + WINDOW


def window_is_open(last_inbound_at: dt.datetime | None, now: dt.datetime) -> bool:
    closes_at = window_closes_at(last_inbound_at)
    return closes_at is not None and now < closes_at


def window_closed_text(wa_id: str, last_inbound_at: dt.datetime | None) -> str:
    """Why a text to ``wa_id`` cannot go, and what can."""
    if last_inbound_at is None:
        since = f"{wa_id} has never written to this number"
    else:
        since = f"{wa_id} last wrote at {last_inbound_at:%Y-%m-%d %H:%M:%S %Z}".rstrip()
    return (
        f"the 24-hour customer service window is closed: {since}. Meta delivers only approved "
        "templates outside it (131047): send a template (whatsapp_send --template NAME, "
        "services.template_send) or wait until they write"
    )
