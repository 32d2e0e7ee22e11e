"""The WhatsApp message templates the app sends: each approved template's name, languages and
body text, with Meta's positional placeholders {{1}}, {{2}}, ... for its parameters.

Outside a user's 24-hour window Meta delivers only templates approved in WhatsApp Manager. To
send one of yours, have it approved there, then add it to ``TEMPLATES`` with its body exactly as
approved: the app checks each send's parameters against it before queuing and stores the text
with them filled in (docs/whatsapp.md, "Starting a conversation"). The WhatsApp stand-in approves
the same table by default (devstack/standins/whatsapp.py, ``--template`` for more).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

# Meta's limit on a template's body once its parameters are filled in (132005 past it).
BODY_MAX_LENGTH = 1024
PLACEHOLDER = re.compile(r"\{\{([0-9]+)\}\}")

# name -> language code -> body, as approved in WhatsApp Manager.
TEMPLATES: dict[str, dict[str, str]] = {
    "payment_reminder": {"en_US": "Hi {{1}}, your payment of {{2}} is due on {{3}}."},
    "payment_received": {"en_US": "Hi {{1}}, we received your payment of {{2}}. Thank you!"},
}


@dataclass(frozen=True)
class TemplateMessage:
    """A template as one message sends it: which one, in which language, with which parameters."""

    name: str
    language: str
    params: tuple[str, ...]


def parameter_count(body: str) -> int:
    """How many parameters ``body`` takes: its placeholders, {{1}} to {{n}}."""
    return len(set(PLACEHOLDER.findall(body)))


def _check(templates: dict[str, dict[str, str]]) -> None:
    """Meta approves only bodies numbered {{1}} to {{n}} without a gap; one that is not would
    make every send of it fail, so the process stops at start instead."""
    for name, languages in templates.items():
        for language, body in languages.items():
            numbers = sorted({int(n) for n in PLACEHOLDER.findall(body)})
            if numbers != list(range(1, len(numbers) + 1)):
                raise ImproperlyConfigured(
                    f"TEMPLATES[{name!r}][{language!r}] numbers its placeholders {numbers}; "
                    "Meta's are {{1}} to {{n}}, without gaps (whatsapp/message_templates.py)."
                )


_check(TEMPLATES)


def hydrate(body: str, params: Sequence[str]) -> str:
    """``body`` with each {{n}} replaced by the n-th parameter."""
    return PLACEHOLDER.sub(lambda match: params[int(match[1]) - 1], body)
