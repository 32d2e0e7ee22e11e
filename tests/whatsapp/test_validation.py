"""Bad numbers, texts and template sends are refused by the services before anything is
stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.whatsapp.conftest import user_wrote
from whatsapp.commands import send_reply
from whatsapp.models import Contact, OutboundMessage
from whatsapp.services import template_send, text_send_staggered
from whatsapp.tasks import send_reply as send_reply_task
from whatsapp.text import MAX_TEXT_LENGTH
from whatsapp.validation import RecipientInvalid, TemplateInvalid, TextInvalid

pytestmark = pytest.mark.django_db

TO = "15551234567"

BAD_NUMBERS = [
    pytest.param("", "the recipient is empty", id="empty"),
    pytest.param("+", "the recipient is empty", id="plus-only"),
    pytest.param("not-a-number", "must be a phone number in digits", id="letters"),
    pytest.param("+1 (555) 123-4567", "must be a phone number in digits", id="brackets"),
    pytest.param("1555.123.4567", "must be a phone number in digits", id="dots"),
    pytest.param("++15551234567", "must be a phone number in digits", id="two-pluses"),
    pytest.param("١٥٥٥١٢٣٤٥٦٧", "must be a phone number in digits", id="non-ascii-digits"),
    pytest.param("07700900123", "starts with 0", id="trunk-zero"),
    pytest.param("00447700900123", "starts with 0", id="international-00"),
    pytest.param("123456", "has 6 digits; a WhatsApp number has 7 to 15", id="six-digits"),
    pytest.param("1234567890123456", "has 16 digits", id="sixteen-digits"),
]


def _parts_text(parts: int) -> str:
    """A text that splits into exactly ``parts`` parts."""
    return "\n".join(f"part {n:02d} " + "x" * 4000 for n in range(1, parts + 1))


def _nothing_stored() -> bool:
    return not Contact.objects.exists() and not OutboundMessage.objects.exists()


@pytest.mark.parametrize(("to", "message"), BAD_NUMBERS)
def test_a_bad_number_is_refused_and_nothing_is_stored(to, message):
    with pytest.raises(RecipientInvalid, match=message):
        text_send_staggered(to=to, text="hello")
    assert _nothing_stored()


@pytest.mark.parametrize(
    ("typed", "wa_id"),
    [
        ("+447700900123", "447700900123"),
        (" +44 7700 900123 ", "447700900123"),
        ("1-555-123-4567", "15551234567"),
        ("1234567", "1234567"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_a_plus_spaces_and_hyphens_are_normalized_away(
    typed, wa_id, django_capture_on_commit_callbacks
):
    user_wrote(wa_id)
    with django_capture_on_commit_callbacks(execute=False):
        text_send_staggered(to=typed, text="hello")

    assert list(Contact.objects.values_list("wa_id", flat=True)) == [wa_id]


@pytest.mark.parametrize("text", ["", "   ", " \n\t\n "], ids=["empty", "spaces", "whitespace"])
def test_an_empty_text_is_refused_and_nothing_is_stored(text):
    with pytest.raises(TextInvalid, match="the text is empty"):
        text_send_staggered(to=TO, text=text)
    assert _nothing_stored()


def test_a_text_that_is_not_a_string_is_refused():
    with pytest.raises(TextInvalid, match="the text must be a string, got NoneType"):
        text_send_staggered(to=TO, text=None)  # type: ignore[arg-type]


def test_a_text_up_to_the_part_limit_is_sent_and_one_more_part_is_refused(
    settings, django_capture_on_commit_callbacks
):
    settings.WHATSAPP_TEXT_MAX_PARTS = 3
    user_wrote(TO)
    # the limit itself is fine
    with django_capture_on_commit_callbacks(execute=False):
        assert len(text_send_staggered(to=TO, text=_parts_text(3))) == 3
    # one part more is refused, naming the setting, and stores nothing more
    with pytest.raises(TextInvalid, match=r"needs 4 parts, more than WHATSAPP_TEXT_MAX_PARTS=3"):
        text_send_staggered(to=TO, text=_parts_text(4))
    assert OutboundMessage.objects.count() == 3


def test_a_huge_text_is_refused_before_it_is_split(settings):
    settings.WHATSAPP_TEXT_MAX_PARTS = 2
    huge = "y" * (2 * 2 * MAX_TEXT_LENGTH + 1)

    with pytest.raises(TextInvalid, match=r"too long \(16385 characters\)"):
        text_send_staggered(to=TO, text=huge)
    assert _nothing_stored()


def test_send_reply_refuses_in_the_caller_and_enqueues_nothing(django_capture_on_commit_callbacks):
    # An app replying through the extension point hears about a bad number at once, not in
    # a worker log later.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with pytest.raises(RecipientInvalid, match="has 3 digits"):
            send_reply(to="123", text="hello")
        with pytest.raises(TextInvalid, match="empty"):
            send_reply(to=TO, text=" ")
        send_reply(to="+44 7700 900123", text="hello")
    [enqueue] = callbacks
    assert enqueue.keywords["kwargs"] == {"to": "447700900123", "text": "hello"}


def test_the_reply_task_refuses_a_bad_number(django_capture_on_commit_callbacks):
    with pytest.raises(RecipientInvalid):
        send_reply_task.run(to="12", text="hello")
    assert _nothing_stored()


# --- templates ----------------------------------------------------------------------------------

REMINDER: dict[str, Any] = {
    "name": "payment_reminder",
    "language": "en_US",
    "params": ["Ada", "€12", "1 May"],
}


BAD_TEMPLATE_SENDS = [
    pytest.param(
        {"name": "payment_remind"},
        r"unknown template 'payment_remind'; the app knows payment_received, payment_reminder "
        r"\(whatsapp/message_templates.py\)",
        id="unknown-name",
    ),
    pytest.param(
        {"language": "fr_FR"}, "payment_reminder has no language 'fr_FR'; it has en_US", id="fr"
    ),
    pytest.param(
        {"language": ""}, "the language of payment_reminder is missing; it has en_US", id="none"
    ),
    pytest.param({"params": ["Ada", "€12"]}, "takes 3 parameters, got 2", id="too-few"),
    pytest.param({"params": ["Ada", "€12", "1 May", "4"]}, "takes 3 parameters, got 4", id="more"),
    pytest.param({"params": ["Ada", " ", "1 May"]}, "parameter 2 of payment_reminder is empty"),
    pytest.param({"params": ["Ada", 12, "1 May"]}, "parameter 2 .* must be a string, got int"),
    pytest.param({"params": "Ada"}, "must be a list of strings, not a string", id="one-string"),
    pytest.param(
        {"params": ["Ada", "€12", "1 May\n2026"]},
        "parameter 3 of payment_reminder holds a line break, a tab or more than 4 spaces",
        id="line-break",
    ),
    pytest.param(
        {"params": ["Ada", "x" * 1000, "1 May"]},
        "payment_reminder with these parameters is 1041 characters long, more than the 1024",
        id="too-long",
    ),
    pytest.param({"to": "07700900123"}, "starts with 0", id="not-a-number"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_TEMPLATE_SENDS)
def test_a_bad_template_send_is_refused_naming_the_problem_and_nothing_is_stored(
    overrides, message, django_capture_on_commit_callbacks
):
    # given one good template queued already
    with django_capture_on_commit_callbacks(execute=False):
        template_send(**{"to": TO, **REMINDER})
    before = (Contact.objects.count(), OutboundMessage.objects.count())
    assert before == (1, 1)
    # when / then
    error = RecipientInvalid if "to" in overrides else TemplateInvalid
    with pytest.raises(error, match=message):
        template_send(**{"to": TO, **REMINDER, **overrides})
    assert (Contact.objects.count(), OutboundMessage.objects.count()) == before


def test_a_template_takes_a_text_of_up_to_1024_characters(django_capture_on_commit_callbacks):
    # "Hi Ada, your payment of  is due on 1 May." leaves 983 characters for the amount
    params = ["Ada", "x" * 983, "1 May"]
    with django_capture_on_commit_callbacks(execute=False):
        message_id = template_send(to=TO, name="payment_reminder", language="en_US", params=params)
    assert len(OutboundMessage.objects.get(pk=message_id).body) == 1024
