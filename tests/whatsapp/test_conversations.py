"""The 24-hour window and the messaging limit, with the stand-in enforcing both as Meta does: the
app's decision and the stand-in's can be seen to agree (its refusals stay at none)."""

import datetime as dt
import logging
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from config import discovery
from devstack.standins.whatsapp import inbound_text_payload
from tests.whatsapp.conftest import send_each, user_wrote
from whatsapp import doctor
from whatsapp.dispatch import SEND_MESSAGE
from whatsapp.models import Contact, OutboundMessage, OutboundStatus, WaitingFor
from whatsapp.services import (
    held_release,
    inbound_message_record,
    limit_count,
    message_send,
    template_send,
    text_send_staggered,
)
from whatsapp.validation import WindowClosed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("whatsapp_settings")]

TO = "15551234567"
REMINDER: dict[str, Any] = {
    "name": "payment_reminder",
    "language": "en_US",
    "params": ["Ada", "€12", "1 May"],
}


def _template(to: str, django_capture_on_commit_callbacks) -> int:
    with django_capture_on_commit_callbacks(execute=False):
        return template_send(to=to, **REMINDER)


# --- the window ---------------------------------------------------------------------------------


def test_a_text_inside_the_window_goes(standin, django_capture_on_commit_callbacks):
    # given the contact wrote 23 hours ago
    user_wrote(TO, standin=standin, at=timezone.now() - dt.timedelta(hours=23))
    # when
    with django_capture_on_commit_callbacks(execute=False):
        ids = text_send_staggered(to=TO, text="your table is booked")
    # then
    assert send_each(ids) == ["sent"]
    assert [r.body for r in standin.delivered()] == ["your table is booked"]


@pytest.mark.parametrize("wrote_hours_ago", [None, 24, 30], ids=["never", "24h", "30h"])
def test_a_text_outside_the_window_is_refused_before_anything_is_stored(standin, wrote_hours_ago):
    # given a contact who never wrote, or whose last message is a day old or more
    if wrote_hours_ago is not None:
        user_wrote(TO, at=timezone.now() - dt.timedelta(hours=wrote_hours_ago))
    # when, then the error names the window and the way out
    with pytest.raises(WindowClosed, match=r"24-hour customer service window is closed") as error:
        text_send_staggered(to=TO, text="hello")
    assert "send a template" in str(error.value)
    assert not OutboundMessage.objects.exists()
    assert Contact.objects.filter(wa_id=TO).count() == (wrote_hours_ago is not None)
    assert standin.received() == []


@pytest.mark.parametrize("window", ["open", "closed"])
def test_a_template_goes_either_way(standin, django_capture_on_commit_callbacks, window):
    if window == "open":
        user_wrote(TO, standin=standin)
    message_id = _template(TO, django_capture_on_commit_callbacks)

    assert send_each([message_id]) == ["sent"]
    [request] = standin.delivered()
    assert request.payload["type"] == "template"
    # only a template outside the window counts against the messaging limit, here as at Meta
    assert limit_count() == standin.reached() == (window == "closed")


def test_a_part_due_after_the_window_closed_fails_without_an_api_call(
    standin, django_capture_on_commit_callbacks
):
    # given a reply of three parts queued inside the window
    user_wrote(TO, standin=standin)
    with django_capture_on_commit_callbacks(execute=False):
        first, second, third = text_send_staggered(to=TO, text=_three_parts())
    assert message_send(message_id=first).result == "sent"
    # when the window closes before the second part is claimed
    Contact.objects.filter(wa_id=TO).update(
        last_inbound_at=timezone.now() - dt.timedelta(hours=24, seconds=1)
    )
    # then it fails with Meta's code for it, and the rest of the reply with it
    assert message_send(message_id=second).result == "failed"
    rows = OutboundMessage.objects.filter(pk__in=[second, third]).order_by("pk")
    assert [(r.status, r.last_error_code) for r in rows] == [("failed", 131047), ("failed", None)]
    assert "window is closed" in rows[0].last_error_text
    assert len(standin.received()) == 1


def _three_parts() -> str:
    return "\n".join(f"part {n} " + "x" * 4000 for n in range(1, 4))


def test_the_window_opens_from_the_webhooks_time_and_only_moves_forward(standin):
    # given a message the contact wrote 2 hours ago
    two_hours_ago = int((timezone.now() - dt.timedelta(hours=2)).timestamp())
    one_day_ago = two_hours_ago - 22 * 3600
    # when it arrives, then a redelivery of an older one arrives out of order
    for wamid, at in (("wamid.new", two_hours_ago), ("wamid.old", one_day_ago)):
        [message] = inbound_text_payload(wa_id=TO, text="hi", wamid=wamid)["entry"][0]["changes"][
            0
        ]["value"]["messages"]
        message["timestamp"] = str(at)
        message["type"] = "image"  # no reply: only the window is looked at here
        inbound_message_record(message=message, profile_name="", event=None)
    # then the window runs from the newer message, by Meta's clock not ours
    contact = Contact.objects.get(wa_id=TO)
    assert contact.last_inbound_at == dt.datetime.fromtimestamp(two_hours_ago, dt.UTC)


# --- the messaging limit ------------------------------------------------------------------------


def test_past_the_limit_templates_are_held_logged_once_and_go_when_the_day_moves_on(
    limit_of_5, django_capture_on_commit_callbacks, caplog
):
    standin = limit_of_5
    contacts = [f"1555000{n:04d}" for n in range(8)]
    ids = [_template(to, django_capture_on_commit_callbacks) for to in contacts]
    # when each is sent
    with caplog.at_level(logging.WARNING, logger="whatsapp"):
        outcomes = send_each(ids)
    # then 5 go, 3 are held (not failed, not retried), and one line says so
    assert outcomes == ["sent"] * 5 + ["held"] * 3
    held = OutboundMessage.objects.filter(status=OutboundStatus.HELD).order_by("pk")
    assert [m.pk for m in held] == ids[5:]
    assert {m.waiting_for for m in held} == {WaitingFor.MESSAGING_LIMIT}
    assert {m.attempts for m in held} == {0}
    limit_lines = [r for r in caplog.records if "messaging limit" in r.getMessage()]
    assert len(limit_lines) == 1, [r.getMessage() for r in limit_lines]
    assert limit_count() == standin.reached() == 5
    # a sweep before the day has moved on leaves them held
    with django_capture_on_commit_callbacks(execute=False):
        assert held_release() == []
    # when the moving 24 h has passed the first sends
    with time_machine.travel(timezone.now() + dt.timedelta(hours=24, minutes=1), tick=True):
        with django_capture_on_commit_callbacks(execute=False):
            released = held_release()
        assert released == ids[5:]
        # then they go, and the stand-in, counting the same way, refused none
        assert send_each(released) == ["sent"] * 3
    assert len(standin.delivered()) == 8
    assert not OutboundMessage.objects.exclude(status=OutboundStatus.SENT).exists()


def test_the_doctor_shows_the_count_against_the_limit_and_what_is_held(
    limit_of_5, django_capture_on_commit_callbacks, settings
):
    # the check is the app's contribution to `make doctor`
    assert discovery.doctor_checks(settings.INSTALLED_APPS)["whatsapp messaging limit"] is (
        doctor.messaging_limit
    )
    [quiet] = doctor.messaging_limit()
    assert quiet.status == "ok"
    assert quiet.detail == "0 contact(s) reached in the last 24 h, a limit of 5; 0 message(s) held"
    ids = [_template(f"1555000{n:04d}", django_capture_on_commit_callbacks) for n in range(6)]
    send_each(ids)
    [full] = doctor.messaging_limit()
    assert full.status == "warn"
    assert full.detail == "5 contact(s) reached in the last 24 h, a limit of 5; 1 message(s) held"


def test_a_contact_already_counted_takes_no_new_place(
    limit_of_5, django_capture_on_commit_callbacks
):
    contacts = [f"1555000{n:04d}" for n in range(5)]
    send_each([_template(to, django_capture_on_commit_callbacks) for to in contacts])
    # a second template to a contact reached today goes; a sixth contact is held
    again = _template(contacts[0], django_capture_on_commit_callbacks)
    sixth = _template("15550009999", django_capture_on_commit_callbacks)
    assert send_each([again, sixth]) == ["sent", "held"]


def test_a_held_template_goes_once_the_contact_writes(
    limit_of_5, django_capture_on_commit_callbacks
):
    standin = limit_of_5
    contacts = [f"1555000{n:04d}" for n in range(6)]
    ids = [_template(to, django_capture_on_commit_callbacks) for to in contacts]
    assert send_each(ids)[-1] == "held"
    # when the sixth contact writes (its window opens: the template needs no place now)
    message = inbound_text_payload(wa_id=contacts[5], text="hi")["entry"][0]["changes"][0]
    [inbound] = message["value"]["messages"]
    inbound["type"] = "image"
    standin.open_window(contacts[5])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        inbound_message_record(message=inbound, profile_name="", event=None)
    # then the held template is queued again at once, and goes
    assert ids[5] in [c.args[1] for c in callbacks if getattr(c, "args", ())[:1] == (SEND_MESSAGE,)]
    assert send_each([ids[5]]) == ["sent"]
    assert limit_count() == 5


def test_meta_refusing_for_the_limit_holds_the_message(
    standin, whatsapp_settings, django_capture_on_commit_callbacks
):
    # given Meta counting more than the app does
    standin.add_fault(code=131048)
    message_id = _template(TO, django_capture_on_commit_callbacks)
    # when
    started = timezone.now()
    assert send_each([message_id]) == ["held"]
    # then it waits the configured hold, without a retry loop in the meantime
    message = OutboundMessage.objects.get(pk=message_id)
    assert (message.status, message.waiting_for) == ("held", WaitingFor.LIMIT_REFUSED)
    assert message.last_error_code == 131048
    hold = dt.timedelta(seconds=whatsapp_settings.WHATSAPP_LIMIT_REFUSED_HOLD_SECONDS)
    assert message.next_attempt_at >= started + hold
    assert held_release() == []


@pytest.fixture
def limit_of_2(limit_of_5, whatsapp_settings):
    """A messaging limit of 2 here (the stand-in allows 5: the app's own count is tested)."""
    whatsapp_settings.WHATSAPP_MESSAGING_LIMIT = 2
    return limit_of_5


def _held_behind_two(django_capture_on_commit_callbacks) -> list[int]:
    """Templates to A, B (sent) and C (held) under a limit of 2; their ids."""
    contacts = ["15550000001", "15550000002", "15550000003"]
    ids = [_template(to, django_capture_on_commit_callbacks) for to in contacts]
    assert send_each(ids) == ["sent", "sent", "held"]
    return ids


def test_while_a_message_is_held_a_new_contact_waits_behind_it(
    limit_of_2, django_capture_on_commit_callbacks
):
    _, _, held = _held_behind_two(django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=24, minutes=1), tick=True):
        # when a template to a new contact is claimed before the sweeper has run
        newer = _template("15550000009", django_capture_on_commit_callbacks)
        assert send_each([newer]) == ["held"]
        # then the sweeper hands the two free places out oldest first, once
        with django_capture_on_commit_callbacks(execute=False):
            assert held_release() == [held, newer]
            assert held_release() == []
        assert send_each([held, newer]) == ["sent", "sent"]
        assert limit_count() == 2


def test_raising_the_limit_releases_held_messages_at_once(
    limit_of_2, whatsapp_settings, django_capture_on_commit_callbacks
):
    _, _, held = _held_behind_two(django_capture_on_commit_callbacks)
    whatsapp_settings.WHATSAPP_MESSAGING_LIMIT = 3
    with django_capture_on_commit_callbacks(execute=False):
        assert held_release() == [held]
    assert send_each([held]) == ["sent"]


def test_a_message_delivered_days_late_releases_nothing(
    limit_of_2, django_capture_on_commit_callbacks
):
    _, _, held = _held_behind_two(django_capture_on_commit_callbacks)
    [message] = inbound_text_payload(wa_id="15550000003", text="hi")["entry"][0]["changes"][0][
        "value"
    ]["messages"]
    message["timestamp"] = str(int((timezone.now() - dt.timedelta(days=2)).timestamp()))
    message["type"] = "image"
    inbound_message_record(message=message, profile_name="", event=None)
    assert OutboundMessage.objects.get(pk=held).status == OutboundStatus.HELD


def test_meta_refusing_a_part_of_a_reply_for_the_limit_keeps_it_queued_in_order(
    standin, django_capture_on_commit_callbacks
):
    user_wrote(TO, standin=standin)
    with django_capture_on_commit_callbacks(execute=False):
        first, second = text_send_staggered(to=TO, text="part 1 " + "x" * 4085 + "\npart 2")
    standin.add_fault(nth=1, code=131048)
    with django_capture_on_commit_callbacks(execute=False):
        assert message_send(message_id=first).result == "later"
    rows = OutboundMessage.objects.in_bulk([first, second])
    assert rows[first].status == rows[second].status == OutboundStatus.QUEUED
    assert rows[first].last_error_code == 131048
