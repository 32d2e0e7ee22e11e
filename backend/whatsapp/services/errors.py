"""Graph error objects as webhooks carry them (``value.errors[]``, ``statuses[].errors[]``).

A webhook body is data from outside: these read it without trusting its shape.
"""

from __future__ import annotations

from typing import Any


def graph_errors(raw: Any) -> list[dict[str, Any]]:
    """The objects of an ``errors`` array; anything that is not one (a string, null) is left out."""
    if not isinstance(raw, list):
        return []
    return [error for error in raw if isinstance(error, dict)]


def graph_error_code(error: dict[str, Any]) -> int | None:
    """Meta's numeric code (``131000``), also when it came as a string of digits."""
    code = error.get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return None


def graph_error_title(error: dict[str, Any]) -> str:
    """The short text (``title``, else ``message``), safe to log: it names the error, not a user."""
    return str(error.get("title") or error.get("message") or "")[:200]


def graph_error_text(error: dict[str, Any]) -> str:
    """What to keep on a row: the message or title, and Meta's details when there are some."""
    text = str(error.get("message") or error.get("title") or "")
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    return f"{text}: {details}" if details else text
