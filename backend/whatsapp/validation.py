"""Checks on an outbound text before any row is stored: a WhatsApp number and a text that fits.

A bad number or an oversized text fails here, at once and with a message naming the problem,
instead of as an API rejection in a worker later (docs/whatsapp.md, "What is refused").
"""

from __future__ import annotations

import re

from django.conf import settings

from whatsapp.text import MAX_TEXT_LENGTH, text_split

# E.164 without '+': a country code (never starting with 0), 7 to 15 digits in all.
WA_ID = re.compile(r"[1-9][0-9]{6,14}")
# What a person types around the digits, and is dropped: "+44 7700-900123".
_SEPARATORS = re.compile(r"[ \-]")


class OutboundInvalid(ValueError):
    """An outbound text cannot be sent as given; the message says why."""


class RecipientInvalid(OutboundInvalid):
    pass


class TextInvalid(OutboundInvalid):
    pass


def recipient_normalize(raw: str) -> str:
    """The wa_id (E.164 digits) for ``raw``, which may start with '+' and contain spaces and
    hyphens; anything else (letters, brackets, a leading 0 or 00) is refused."""
    if not isinstance(raw, str):
        raise RecipientInvalid(f"the recipient must be a string, got {type(raw).__name__}")
    digits = _SEPARATORS.sub("", raw.strip())
    digits = digits.removeprefix("+")
    if not digits:
        raise RecipientInvalid("the recipient is empty")
    if not digits.isascii() or not digits.isdigit():
        raise RecipientInvalid(
            f"the recipient {raw!r} must be a phone number in digits, country code first "
            "(E.164, e.g. 15551234567; a leading '+', spaces and hyphens are ignored)"
        )
    if digits.startswith("0"):
        raise RecipientInvalid(
            f"the recipient {raw!r} starts with 0: give the country code first (E.164, e.g. "
            "447700900123), without a trunk 0 or an international 00 prefix"
        )
    if not WA_ID.fullmatch(digits):
        raise RecipientInvalid(
            f"the recipient {raw!r} has {len(digits)} digits; a WhatsApp number has 7 to 15"
        )
    return digits


def text_parts(text: str) -> list[str]:
    """``text`` split into the parts it is sent as, or ``TextInvalid``.

    Refused: a text with nothing but whitespace, and one needing more than
    WHATSAPP_TEXT_MAX_PARTS parts. A text longer than twice what those parts hold is refused
    before splitting (it fits only if more than half of it is whitespace).
    """
    if not isinstance(text, str):
        raise TextInvalid(f"the text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise TextInvalid("the text is empty")
    max_parts = settings.WHATSAPP_TEXT_MAX_PARTS
    limit = f"WHATSAPP_TEXT_MAX_PARTS={max_parts} parts of at most {MAX_TEXT_LENGTH} characters"
    if len(text) > 2 * max_parts * MAX_TEXT_LENGTH:
        raise TextInvalid(f"the text is too long ({len(text)} characters) for {limit}")
    parts = text_split(text)
    if len(parts) > max_parts:
        raise TextInvalid(f"the text needs {len(parts)} parts, more than {limit}")
    return parts
