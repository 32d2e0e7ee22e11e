"""The command router for inbound texts: a registry filled with the ``@command`` decorator.

A handler is ``def handler(*, contact: Contact, text: str) -> str | None``: ``text`` is the whole
inbound text, stripped; a returned ``str`` is sent back as a staggered reply; ``None`` means the
handler replies itself (typically a task that later calls ``send_reply``). This is the app's
extension point (other apps use nothing else; scripts/import_contracts.py); handlers run inside
the webhook transaction on the io worker. More: docs/whatsapp.md, "Commands".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from celery import current_app
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from whatsapp import dispatch
from whatsapp.models import Contact
from whatsapp.validation import recipient_normalize, text_parts

__all__ = ["Command", "Contact", "command", "command_arguments", "send_reply"]


class Handler(Protocol):
    def __call__(self, *, contact: Contact, text: str) -> str | None: ...


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    handler: Handler


_registry: dict[str, Command] = {}


def command(name: str, *, description: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for inbound texts whose first word is ``name`` (any case)."""
    key = name.strip().lower()
    if not key or " " in key:
        raise ImproperlyConfigured(f"WhatsApp command name {name!r} must be one word.")

    def register(handler: Handler) -> Handler:
        existing = _registry.get(key)
        if existing is not None and _qualified(existing.handler) != _qualified(handler):
            raise ImproperlyConfigured(
                f"WhatsApp command {key!r} is registered twice: by "
                f"{_qualified(existing.handler)} and {_qualified(handler)}."
            )
        _registry[key] = Command(name=key, description=description, handler=handler)
        return handler

    return register


def _qualified(handler: Handler) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', '?')}"


def registered_commands() -> list[Command]:
    return sorted(_registry.values(), key=lambda c: c.name)


def command_word(text: str) -> str:
    words = text.strip().split(maxsplit=1)
    return words[0].lower().lstrip("/!") if words else ""


def command_arguments(text: str) -> str:
    """What follows the command word: ``"fixtures PL"`` gives ``"PL"``."""
    words = text.strip().split(maxsplit=1)
    return words[1] if len(words) > 1 else ""


def command_reply(*, contact: Contact, text: str) -> str | None:
    """Run the command the text names; unknown commands get the help text."""
    found = _registry.get(command_word(text))
    if found is None:
        return help_text()
    return found.handler(contact=contact, text=text.strip())


def send_reply(*, to: str, text: str) -> None:
    """Send ``text`` to the contact with wa_id ``to``, split into parts sent in order, from any
    app or worker: it enqueues whatsapp's reply task on the io queue once the current
    transaction commits (at once outside one), so a rolled-back caller sends nothing.

    A bad number or text raises a ValueError here, in the caller, not later in the worker."""
    wa_id = recipient_normalize(to)
    text_parts(text)
    transaction.on_commit(
        partial(current_app.send_task, dispatch.SEND_REPLY, kwargs={"to": wa_id, "text": text})
    )


def help_text() -> str:
    lines = ["Commands:"]
    lines += [f"• {c.name}: {c.description}" for c in registered_commands()]
    return "\n".join(lines)


@command("help", description="List the commands")
def help_command(*, contact: Contact, text: str) -> str | None:
    return help_text()
