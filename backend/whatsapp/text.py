"""Splitting a long text into WhatsApp-sized parts without breaking what a reader sees.

Lengths are counted in UTF-16 code units, which is never less than the count of code points: a
part that fits by that measure fits however the API counts (an emoji is 1 code point, 2 units).
"""

from __future__ import annotations

import unicodedata

MAX_TEXT_LENGTH = 4096

ZERO_WIDTH_JOINER = "\u200d"
ZERO_WIDTH_NON_JOINER = "\u200c"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _extends_previous(char: str) -> bool:
    """True for a character that belongs to the grapheme cluster before it."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or char in (ZERO_WIDTH_JOINER, ZERO_WIDTH_NON_JOINER)
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF  # variation selectors supplement
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences (flags of regions)
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def is_safe_cut(text: str, index: int) -> bool:
    """May ``text`` be cut between ``text[index - 1]`` and ``text[index]``?

    A simple, conservative rule rather than full UAX #29: never before a combining mark, joiner,
    variation selector, skin-tone modifier or tag; never after a zero-width joiner; never inside
    a pair of regional indicators (a flag).
    """
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    if _extends_previous(after) or before == ZERO_WIDTH_JOINER:
        return False
    if _is_regional_indicator(before) and _is_regional_indicator(after):
        run = 0
        position = index - 1
        while position >= 0 and _is_regional_indicator(text[position]):
            run += 1
            position -= 1
        return run % 2 == 0
    return True


def _fitting_prefix(text: str, limit: int) -> int:
    """The number of code points at the start of ``text`` that fit in ``limit`` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _cut(rest: str, fit: int) -> tuple[int, int]:
    """Where to end the next part (``end``) and where the part after it starts (``resume``).

    Prefers the last line break that fits, then the last other whitespace, then the last safe
    point inside a word. The whitespace at a line or word cut is dropped.
    """
    newline = rest.rfind("\n", 0, fit + 1)
    if newline > 0 and is_safe_cut(rest, newline) and is_safe_cut(rest, newline + 1):
        return newline, newline + 1
    for index in range(min(fit, len(rest) - 1), 0, -1):
        if rest[index].isspace() and is_safe_cut(rest, index) and is_safe_cut(rest, index + 1):
            return index, index + 1
    for index in range(fit, 0, -1):
        if is_safe_cut(rest, index):
            return index, index
    return fit, fit  # thousands of combining marks in a row: nothing better exists


def text_split(text: str, *, limit: int = MAX_TEXT_LENGTH) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` UTF-16 units, at line breaks if possible.

    Whitespace-only parts are left out (the API rejects empty bodies). Joining the parts gives
    back the text except for the whitespace at each cut.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    parts: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        end, resume = _cut(rest, _fitting_prefix(rest, limit))
        if rest[:end].strip():
            parts.append(rest[:end])
        rest = rest[resume:]
    if rest.strip():
        parts.append(rest)
    return parts
