import itertools
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatsapp.text import MAX_TEXT_LENGTH, is_safe_cut, text_split, utf16_length


def _without_whitespace(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_short_text_is_one_part():
    assert text_split("hello\nworld") == ["hello\nworld"]


def test_splits_at_line_breaks_first():
    # given three lines that fit two to a part
    lines = ["a" * 40, "b" * 40, "c" * 40]
    # when
    parts = text_split("\n".join(lines), limit=90)
    # then the cut is at the line break, which is dropped
    assert parts == [f"{lines[0]}\n{lines[1]}", lines[2]]


def test_long_line_splits_at_word_boundaries():
    # given one line of words longer than the limit
    text = " ".join(["word"] * 30)
    # when
    parts = text_split(text, limit=22)
    # then no word is cut
    assert all(set(part.split(" ")) == {"word"} for part in parts)
    assert all(len(part) <= 22 for part in parts)


def test_a_word_longer_than_the_limit_is_cut_but_not_inside_a_combining_sequence():
    # given "é" written as e + COMBINING ACUTE exactly where the limit falls
    text = "x" * 9 + "e\u0301" + "y" * 5
    # when
    parts = text_split(text, limit=10)
    # then the accent stays with its letter
    assert parts[0] == "x" * 9
    assert parts[1].startswith("e\u0301")


def test_emoji_zwj_sequence_and_flags_are_not_split():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl
    flag = "\U0001f1eb\U0001f1f7"  # France: two regional indicators
    text = "a" * 5 + family + flag + flag
    for limit in range(8, 20):  # the family is 8 UTF-16 units: the largest cluster here
        parts = text_split(text, limit=limit)
        assert "".join(parts) == text
        for part in parts:
            assert utf16_length(part) <= limit
            assert not part.startswith("\u200d")
            assert not part.endswith("\u200d")
        joined_ends = [len("".join(parts[: i + 1])) for i in range(len(parts) - 1)]
        assert all(is_safe_cut(text, end) for end in joined_ends)


def test_emoji_count_double_against_the_limit():
    # given 4096 emoji: 4096 code points, 8192 UTF-16 units
    text = "\U0001f600" * MAX_TEXT_LENGTH
    # when
    parts = text_split(text)
    # then each part fits however the API counts
    assert len(parts) == 2
    assert all(utf16_length(p) <= MAX_TEXT_LENGTH for p in parts)


def test_whitespace_only_text_gives_no_parts():
    assert text_split(" \n\t ") == []


def test_limit_must_allow_a_character():
    with pytest.raises(ValueError, match="limit"):
        text_split("abc", limit=1)


_SPECIAL = ("\u0301", "\u200d", "\ufe0f", "\U0001f600", "\U0001f1eb", "\U0001f1f7", "\U0001f3fb")
_alphabet = st.sampled_from([*"abc xyz\n\t.é", *_SPECIAL])


def _longest_cluster(text: str) -> int:
    """UTF-16 length of the longest run the splitter may not cut (its own rule, documented)."""
    longest = start = 0
    for index in range(1, len(text) + 1):
        if is_safe_cut(text, index):
            longest = max(longest, utf16_length(text[start:index]))
            start = index
    return longest


def _extends(char: str) -> bool:
    return unicodedata.category(char) in ("Mn", "Mc", "Me") or char in (
        "\u200d",
        "\ufe0f",
        "\U0001f3fb",
    )


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=_alphabet, max_size=300), limit=st.integers(min_value=4, max_value=60))
def test_split_properties(text, limit):
    parts = text_split(text, limit=limit)
    # parts fit
    assert all(0 < utf16_length(p) <= limit for p in parts)
    # joined, they give back the text except whitespace at the cuts
    assert _without_whitespace("".join(parts)) == _without_whitespace(text)
    # where every cluster fits, no cut falls inside one: no part starts with a character that
    # extends the one before it, and none ends on a joiner
    if _longest_cluster(text) <= limit:
        for before, after in itertools.pairwise(parts):
            assert not _extends(after[0])
            assert not before.endswith("\u200d")


@settings(max_examples=20, deadline=None)
@given(st.lists(st.text(alphabet="abcdef ", min_size=1, max_size=5000), min_size=1, max_size=5))
def test_real_limit_properties(lines):
    text = "\n".join(lines)
    parts = text_split(text)
    assert all(utf16_length(p) <= MAX_TEXT_LENGTH for p in parts)
    assert _without_whitespace("".join(parts)) == _without_whitespace(text)
