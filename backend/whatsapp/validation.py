"""Checks on an outbound message before any row is stored: a WhatsApp number, and a text that
fits or a template the app knows with the parameters it takes.

A bad number, an oversized text or a template Meta would refuse fails here, at once and with a
message naming the problem, instead of as an API rejection in a worker later (docs/whatsapp.md,
"What is refused").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.conf import settings

from whatsapp.message_templates import BODY_MAX_LENGTH, TEMPLATES, hydrate, parameter_count
from whatsapp.text import MAX_TEXT_LENGTH, text_split, utf16_length

# E.164 without '+': a country code (never starting with 0), 7 to 15 digits in all.
WA_ID = re.compile(r"[1-9][0-9]{6,14}")
# What a person types around the digits, and is dropped: "+44 7700-900123".
_SEPARATORS = re.compile(r"[ \-]")
# What Meta refuses in a template parameter: a line break, a tab, more than 4 spaces in a row.
_PARAMETER_REFUSED = re.compile(r"[\n\r\t]| {5}")


class OutboundInvalid(ValueError):
    """An outbound text cannot be sent as given; the message says why."""


class RecipientInvalid(OutboundInvalid):
    pass


class TextInvalid(OutboundInvalid):
    pass


class TemplateInvalid(OutboundInvalid):
    pass


class WindowClosed(OutboundInvalid):
    """A text to a contact outside its 24-hour window (whatsapp.window): only a template goes."""


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


def template_text(*, name: str, language: str, params: Sequence[str]) -> str:
    """The text template ``name`` in ``language`` sends with ``params``, or ``TemplateInvalid``.

    Refused: a template not in ``whatsapp.message_templates.TEMPLATES``, a language it does not
    have (or none), a parameter count other than its placeholders', a parameter that is empty
    or not a string or holds what Meta refuses (a line break, a tab, more than 4 spaces in a
    row), and a text over Meta's 1024 characters once the parameters are filled in.
    """
    languages = TEMPLATES.get(name)
    if languages is None:
        known = ", ".join(sorted(TEMPLATES))
        raise TemplateInvalid(
            f"unknown template {name!r}; the app knows {known} (whatsapp/message_templates.py)"
        )
    available = ", ".join(sorted(languages))
    if not language:
        raise TemplateInvalid(f"the language of {name} is missing; it has {available}")
    body = languages.get(language)
    if body is None:
        raise TemplateInvalid(f"{name} has no language {language!r}; it has {available}")
    if isinstance(params, str):
        raise TemplateInvalid(f"the parameters of {name} must be a list of strings, not a string")
    expected = parameter_count(body)
    if len(params) != expected:
        plural = "" if expected == 1 else "s"
        raise TemplateInvalid(f"{name} takes {expected} parameter{plural}, got {len(params)}")
    for number, param in enumerate(params, start=1):
        if not isinstance(param, str):
            raise TemplateInvalid(
                f"parameter {number} of {name} must be a string, got {type(param).__name__}"
            )
        if not param.strip():
            raise TemplateInvalid(f"parameter {number} of {name} is empty")
        if _PARAMETER_REFUSED.search(param):
            raise TemplateInvalid(
                f"parameter {number} of {name} holds a line break, a tab or more than 4 spaces "
                "in a row, which Meta refuses in a template parameter"
            )
    text = hydrate(body, params)
    if utf16_length(text) > BODY_MAX_LENGTH:
        raise TemplateInvalid(
            f"{name} with these parameters is {utf16_length(text)} characters long, more than "
            f"the {BODY_MAX_LENGTH} Meta sends in a template"
        )
    return text
