"""The daily payment reminder: once per contact per day however often it runs, the one helper's
choice between text and template, and the messaging limit holding what is past it."""

import datetime as dt

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.stack import wait_until
from tests.whatsapp.conftest import send_each, user_wrote
from whatsapp import tasks
from whatsapp.dispatch import SEND_MESSAGE
from whatsapp.message_templates import TemplateMessage
from whatsapp.models import (
    Contact,
    OutboundMessage,
    OutboundStatus,
    Payment,
    PaymentReminder,
)
from whatsapp.services import (
    Notification,
    held_release,
    notification_send,
    notifications_send,
    payment_reminders_send,
    reminders,
    text_send_staggered,
)
from whatsapp.validation import OutboundInvalid

TODAY = dt.date(2026, 12, 7)


def _payments(days_from_today: dict[str, int], today: dt.date = TODAY) -> None:
    """One unpaid payment per contact (wa_id), due that many days from ``today``."""
    for wa_id, days in days_from_today.items():
        contact, _ = Contact.objects.get_or_create(wa_id=wa_id, defaults={"profile_name": "Ada"})
        Payment.objects.create(
            contact=contact, amount="€12.50", due_on=today + dt.timedelta(days=days)
        )


@pytest.mark.django_db
@pytest.mark.usefixtures("whatsapp_settings")
class TestInProcess:
    def test_twice_the_same_day_reminds_each_due_contact_once(
        self, standin, django_capture_on_commit_callbacks
    ):
        # given payments due in 1 to 6 days, and one due in 3 days already paid
        _payments({f"155500000{d}": d for d in range(1, 7)})
        paid = Payment.objects.create(
            contact=Contact.objects.create(wa_id="15550000099"),
            amount="€1",
            due_on=TODAY + dt.timedelta(days=3),
            paid_at=timezone.now(),
        )
        # when the run fires twice
        with django_capture_on_commit_callbacks(execute=False):
            first = payment_reminders_send(today=TODAY)
            second = payment_reminders_send(today=TODAY)
        # then the contacts due in 5, 3 and 1 days got one reminder each, the first run's
        assert (first, second) == (3, 0)
        reminded = PaymentReminder.objects.filter(day=TODAY)
        assert sorted(r.contact.wa_id for r in reminded) == [
            "1555000001",
            "1555000003",
            "1555000005",
        ]
        assert not paid.reminders.exists()
        # each a payment_reminder template (none of them wrote: their windows are closed)
        messages = OutboundMessage.objects.order_by("pk")
        assert [m.template_name for m in messages] == ["payment_reminder"] * 3
        assert messages[0].body == "Hi Ada, your payment of €12.50 is due on 08 December 2026."
        # and tomorrow is another day: those due in 2, 4 and 6 days are 1, 3 and 5 days away
        tomorrow = TODAY + dt.timedelta(days=1)
        with django_capture_on_commit_callbacks(execute=False):
            assert payment_reminders_send(today=tomorrow) == 3
        assert sorted(
            PaymentReminder.objects.filter(day=tomorrow).values_list("contact__wa_id", flat=True)
        ) == ["1555000002", "1555000004", "1555000006"]

    def test_inside_the_window_the_helper_sends_a_text_outside_it_the_template(
        self, standin, django_capture_on_commit_callbacks
    ):
        template = TemplateMessage("payment_received", "en_US", ("Ada", "€12.50"))
        user_wrote("15550000001", standin=standin, at=timezone.now() - dt.timedelta(hours=1))
        # a window closing within the margin does not count as open: the text might miss it
        user_wrote("15550000002", at=timezone.now() - dt.timedelta(hours=23, minutes=55))
        with django_capture_on_commit_callbacks(execute=False):
            [inside] = notification_send(to="15550000001", template=template)
            [closing] = notification_send(to="15550000002", template=template)
            [outside] = notification_send(to="15550000003", template=template, text="Paid!")
        rows = OutboundMessage.objects.in_bulk([inside, closing, outside])
        assert (rows[inside].template_name, rows[inside].body) == (
            "",
            "Hi Ada, we received your payment of €12.50. Thank you!",
        )
        assert rows[closing].template_name == rows[outside].template_name == "payment_received"
        assert send_each([inside, closing, outside]) == ["sent"] * 3

    def test_a_limit_of_5_and_8_due_contacts_sends_5_holds_3_and_sends_them_a_day_later(
        self, limit_of_5, django_capture_on_commit_callbacks
    ):
        standin = limit_of_5
        contacts = [f"155500010{n}" for n in range(8)]
        _payments(dict.fromkeys(contacts, 3), today=timezone.localdate())
        with django_capture_on_commit_callbacks(execute=False):
            assert payment_reminders_send() == 8
        ids = list(OutboundMessage.objects.order_by("pk").values_list("pk", flat=True))
        # when each is sent
        assert send_each(ids) == ["sent"] * 5 + ["held"] * 3
        assert OutboundMessage.objects.filter(status=OutboundStatus.HELD).count() == 3
        # a run later the same day changes nothing: each contact has its one reminder
        with django_capture_on_commit_callbacks(execute=False):
            assert payment_reminders_send() == 0
        # then when the moving 24 h has passed the first five, the three go
        with time_machine.travel(timezone.now() + dt.timedelta(hours=24, minutes=1), tick=True):
            with django_capture_on_commit_callbacks(execute=False):
                released = held_release()
            assert send_each(released) == ["sent"] * 3
        assert sorted(r.to for r in standin.delivered()) == contacts
        assert PaymentReminder.objects.count() == 8


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_run_cut_short_by_a_killed_worker_and_run_again_reminds_each_contact_once(
    worker, stack, standin
):
    # given 600 contacts with a payment due in 1 day, none of whom wrote (all templates), and
    # no messaging limit in the way
    env = {**worker, "WHATSAPP_MESSAGING_LIMIT": "unlimited"}
    stack.ensure("worker-io", **env)
    contacts = [f"1555002{n:04d}" for n in range(600)]
    _payments(dict.fromkeys(contacts, 1), today=timezone.localdate())
    # when worker-io is killed (SIGKILL) in the middle of the run
    tasks.payment_reminders.delay()
    wait_until(lambda: PaymentReminder.objects.exists(), timeout=30, interval=0.02)
    stack.kill("worker-io")
    cut_short = PaymentReminder.objects.count()
    in_flight = OutboundMessage.objects.filter(status=OutboundStatus.SENDING).count()
    # and beat's next run (or the task's redelivery) goes on another worker-io
    stack.ensure("worker-io", **env)
    tasks.payment_reminders.delay()
    # then every contact has exactly one reminder, and its one message went
    wait_until(lambda: PaymentReminder.objects.count() == 600, timeout=90, interval=0.2)
    assert 0 < cut_short < 600
    assert PaymentReminder.objects.values("contact").distinct().count() == 600
    assert OutboundMessage.objects.count() == 600
    wait_until(
        lambda: not OutboundMessage.objects.exclude(status=OutboundStatus.SENT).exists(),
        timeout=120,
        interval=0.5,
    )
    delivered = [r.to for r in standin.delivered()]
    assert sorted(set(delivered)) == contacts
    # a send the kill cut off between Meta's answer and its record goes again (the sweeper's
    # rare duplicate, docs/whatsapp.md): only those may arrive twice
    assert len(delivered) - 600 <= in_flight


@pytest.mark.django_db
@pytest.mark.usefixtures("whatsapp_settings")
class TestNotificationsTogether:
    REMINDER = TemplateMessage("payment_reminder", "en_US", ("Ada", "€1", "1 May"))

    def test_a_contact_with_a_message_pending_is_planned_after_it(
        self, standin, django_capture_on_commit_callbacks
    ):
        # given a reply still going out to one contact
        user_wrote("15550000001", standin=standin)
        with django_capture_on_commit_callbacks(execute=False):
            [pending] = text_send_staggered(to="15550000001", text="your reply")
        # when notifications go to it and to two idle contacts, one of them twice
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            sent = notifications_send(
                [
                    Notification("15550000001", self.REMINDER),
                    Notification("15550000002", self.REMINDER),
                    Notification("15550000002", self.REMINDER),
                    Notification("15550000003", self.REMINDER),
                ]
            )
        # then each gets one message, behind what was there before
        ids = [one for [one] in sent]
        first_to_2, second_to_2 = ids[1], ids[2]
        assert len(set(ids)) == 4
        assert ids[0] > pending
        assert first_to_2 < second_to_2
        rows = OutboundMessage.objects.in_bulk(ids)
        assert rows[ids[0]].template_name == ""  # contact 1 wrote: the reminder goes as a text
        assert {rows[pk].template_name for pk in ids[1:]} == {"payment_reminder"}
        # the idle contacts' first messages are woken at once; the rest by what they wait for
        woken = [c.args[1] for c in callbacks if getattr(c, "args", ())[:1] == (SEND_MESSAGE,)]
        assert {first_to_2, ids[3]} <= set(woken)
        # and they go out in order per contact
        assert send_each([pending, *ids]) == ["sent"] * 5
        delivered = [(r.to, r.body) for r in standin.delivered()]
        assert next(body for to, body in delivered if to == "15550000001") == "your reply"
        assert [to for to, _ in delivered].count("15550000002") == 2

    def test_a_bad_notification_stores_nothing(self):
        bad = TemplateMessage("payment_reminder", "en_US", ("Ada", "€1"))
        with pytest.raises(OutboundInvalid, match="takes 3 parameters, got 2"):
            notifications_send(
                [Notification("15550000002", self.REMINDER), Notification("15550000003", bad)]
            )
        assert not OutboundMessage.objects.exists()
        assert not Contact.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("whatsapp_settings")
def test_a_run_racing_another_skips_whom_the_other_reminded(
    standin, django_capture_on_commit_callbacks
):
    # given three due contacts, one of them reminded by another run after this run read them
    _payments({"1555000001": 1, "1555000003": 3, "1555000005": 5})
    chunk = list(Payment.objects.select_related("contact").order_by("contact_id"))
    with django_capture_on_commit_callbacks(execute=False):
        payment_reminders_send(today=TODAY)
    PaymentReminder.objects.exclude(contact=chunk[1].contact).delete()
    OutboundMessage.objects.exclude(contact=chunk[1].contact).delete()
    # when this run inserts its chunk, the database turns the duplicate away ...
    with pytest.raises(IntegrityError), transaction.atomic():
        reminders._remind_chunk(chunk, TODAY)
    # ... and one by one, the other two are reminded and the third is skipped
    with django_capture_on_commit_callbacks(execute=False):
        assert [reminders._remind(payment, TODAY) for payment in chunk] == [True, False, True]
    assert PaymentReminder.objects.count() == OutboundMessage.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.usefixtures("whatsapp_settings")
def test_a_held_reminder_is_not_sent_after_a_newer_one_or_after_the_payment(
    limit_of_5, whatsapp_settings, django_capture_on_commit_callbacks
):
    # given reminders held for a full limit: one for a payment since made
    whatsapp_settings.WHATSAPP_MESSAGING_LIMIT = 1
    _payments({"1555000001": 1, "1555000002": 3, "1555000003": 5})
    with django_capture_on_commit_callbacks(execute=False):
        assert payment_reminders_send(today=TODAY) == 3
    ids = list(OutboundMessage.objects.order_by("pk").values_list("pk", flat=True))
    assert send_each(ids) == ["sent", "held", "held"]
    Payment.objects.filter(contact__wa_id="1555000003").update(paid_at=timezone.now())
    # when the run two days later goes (the payment due in 3 days is due in 1 then)
    later = TODAY + dt.timedelta(days=2)
    with django_capture_on_commit_callbacks(execute=False):
        payment_reminders_send(today=later)
    # then neither held one goes any more, each saying why; the due contact gets today's
    rows = OutboundMessage.objects.in_bulk(ids[1:])
    assert [(rows[pk].status, rows[pk].last_error_text) for pk in ids[1:]] == [
        ("failed", "not sent: held past the day it was for"),
        ("failed", "not sent: paid since"),
    ]
    assert PaymentReminder.objects.filter(day=later, contact__wa_id="1555000002").exists()
