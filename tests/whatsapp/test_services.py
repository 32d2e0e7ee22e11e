import datetime as dt
import json
import time
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devstack.redis_server import free_port
from devstack.standins.whatsapp import status_payload
from tests.whatsapp.conftest import user_wrote
from whatsapp import pacing, selectors, services
from whatsapp.client import WhatsAppAuthError
from whatsapp.message_templates import TEMPLATES
from whatsapp.models import OutboundMessage, OutboundStatus, StatusEvent
from whatsapp.services import (
    message_send,
    message_status_apply,
    message_sweep,
    send_countdown,
    sending,
    status_event_record,
    template_send,
    text_send_staggered,
)
from whatsapp.services.statuses import status_events_replay

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("whatsapp_settings")]

TO = "15551234567"


@pytest.fixture(autouse=True)
def _window_open(standin):
    """TO wrote a moment ago: texts to it may go (test_conversations.py tests the window)."""
    user_wrote(TO, standin=standin)


def _queue(parts: int, django_capture_on_commit_callbacks) -> list[OutboundMessage]:
    text = "\n".join(f"part {n:02d} " + "x" * 4000 for n in range(1, parts + 1))
    with django_capture_on_commit_callbacks(execute=False):
        ids = text_send_staggered(to=TO, text=text)
    return list(OutboundMessage.objects.filter(pk__in=ids).order_by("position"))


def _later(outcome) -> float:
    assert outcome.result == "later"
    assert outcome.retry_in is not None
    return float(outcome.retry_in)


def _refresh(message: OutboundMessage) -> OutboundMessage:
    message.refresh_from_db()
    return message


# --- staggered queueing --------------------------------------------------------------------------


def test_staggered_send_creates_every_part_and_enqueues_the_first_after_commit(
    whatsapp_settings, django_capture_on_commit_callbacks
):
    # given a spacing of 2 s and a text of 22 parts
    whatsapp_settings.WHATSAPP_PART_SPACING_SECONDS = 2.0
    text = "\n".join(f"part {n:02d} " + "x" * 4000 for n in range(1, 23))
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ids = text_send_staggered(to=TO, text=text)
    # then one row per part, one batch, positions in order, due position x spacing apart
    rows = list(OutboundMessage.objects.filter(pk__in=ids).order_by("position"))
    assert [r.pk for r in rows] == ids
    assert [r.position for r in rows] == list(range(22))
    assert {r.batch for r in rows} == {rows[0].batch}
    assert all(r.batch_size == 22 and r.status == OutboundStatus.QUEUED for r in rows)
    assert [r.body[:7] for r in rows] == [f"part {n:02d}" for n in range(1, 23)]
    offsets = [(r.scheduled_at - rows[0].scheduled_at).total_seconds() for r in rows]
    assert offsets == [2.0 * n for n in range(22)]
    # and nothing is enqueued before the rows are committed, then only the first part (each part
    # wakes the next)
    assert len(callbacks) == 1


def test_countdowns_never_exceed_the_cap(settings):
    settings.CELERY_MAX_COUNTDOWN = 900
    assert send_countdown(21 * 60.0) == 900
    assert send_countdown(-1) == 0
    assert send_countdown(4.5) == 4.5


def test_empty_text_is_refused():
    with pytest.raises(ValueError, match="empty"):
        text_send_staggered(to=TO, text="  \n ")


# --- the claim ------------------------------------------------------------------------------------


def test_message_send_sends_once_and_records_the_wamid(standin, django_capture_on_commit_callbacks):
    # given
    [message] = _queue(1, django_capture_on_commit_callbacks)
    # when the task is delivered twice
    first = message_send(message_id=message.pk)
    second = message_send(message_id=message.pk)
    # then one request reached the API
    assert (first.result, second.result) == ("sent", "skipped")
    [request] = standin.received()
    message = _refresh(message)
    assert message.status == OutboundStatus.SENT
    assert message.wamid == request.wamid
    assert message.attempts == 1
    assert message.sent_at is not None
    assert request.payload["to"] == TO
    assert request.payload["biz_opaque_callback_data"] == f"outbound:{message.pk}"


def test_a_send_costs_two_statements_the_claim_and_the_record(
    standin, django_capture_on_commit_callbacks
):
    # given a reply of three parts whose first one is out
    first, second, third = _queue(3, django_capture_on_commit_callbacks)
    assert message_send(message_id=first.pk).result == "sent"
    # when the second is sent (and finds the third to wake)
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=False) as woken,
    ):
        assert message_send(message_id=second.pk).result == "sent"
    # then it took one statement to claim it and one to record it and find the next
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE", "UPDATE"]
    assert _woken(woken) == [third.pk]
    assert _refresh(second).status == OutboundStatus.SENT


def test_the_rest_of_a_reply_is_due_after_its_first_part_went_out(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    # given a reply of four parts 2 s apart, created 5 s ago, whose first part goes out only now
    whatsapp_settings.WHATSAPP_PART_SPACING_SECONDS = 2.0
    parts = _queue(4, django_capture_on_commit_callbacks)
    created = timezone.now() - dt.timedelta(seconds=5)
    for n, part in enumerate(parts):
        due = created + dt.timedelta(seconds=2 * n)
        OutboundMessage.objects.filter(pk=part.pk).update(scheduled_at=due, next_attempt_at=due)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as woken:
        assert message_send(message_id=parts[0].pk).result == "sent"
    # then part n is due n x 2 s after the first part's request, not after the reply's creation
    for n, part in enumerate(parts[1:], start=1):
        due = _refresh(part).scheduled_at
        assert (
            before + dt.timedelta(seconds=2 * n)
            <= due
            <= timezone.now() + dt.timedelta(seconds=2 * n)
        )
        assert _refresh(part).next_attempt_at == due
    # and the second part wakes at its new time, 2 s from now
    [wake] = woken
    assert 1.5 < wake.keywords["countdown"] <= 2.0


def test_a_wake_up_that_cannot_claim_reads_why_and_sends_nothing(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    # given a spacing of 2 s, a part sent a moment ago and the next one due now
    whatsapp_settings.WHATSAPP_PART_SPACING_SECONDS = 2.0
    first, second = _queue(2, django_capture_on_commit_callbacks)
    assert message_send(message_id=first.pk).result == "sent"
    OutboundMessage.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now())
    # when the next one wakes inside the spacing
    outcome = message_send(message_id=second.pk)
    # then it goes back to sleep for the rest of the spacing, unclaimed
    assert 1.5 < _later(outcome) <= 2.0
    assert _refresh(second).status == OutboundStatus.QUEUED
    assert _refresh(second).attempts == 0
    assert len(standin.received()) == 1


def test_a_missing_row_is_skipped():
    assert message_send(message_id=987654321).result == "skipped"


def _woken(callbacks) -> list[int]:
    """The message ids the captured on-commit wake-ups are for."""
    return [callback.args[1] for callback in callbacks]


def test_a_part_waits_for_the_part_before_it_which_wakes_it(
    standin, django_capture_on_commit_callbacks
):
    # given three due parts
    first, second, third = _queue(3, django_capture_on_commit_callbacks)
    # when the third wakes up first
    outcome = message_send(message_id=third.pk)
    # then it sends nothing and waits, with no timer of its own
    assert outcome.result == "waiting"
    assert outcome.retry_in is None
    assert standin.received() == []
    # and each part, once sent, wakes the next one
    with django_capture_on_commit_callbacks(execute=False) as woken:
        assert message_send(message_id=first.pk).result == "sent"
    assert _woken(woken) == [second.pk]
    with django_capture_on_commit_callbacks(execute=False) as woken:
        assert message_send(message_id=second.pk).result == "sent"
    assert _woken(woken) == [third.pk]
    with django_capture_on_commit_callbacks(execute=False) as woken:
        assert message_send(message_id=third.pk).result == "sent"
    assert _woken(woken) == []
    assert [r.body[:7] for r in standin.delivered()] == ["part 01", "part 02", "part 03"]


def test_a_part_that_fails_for_good_wakes_the_next_reply(
    standin, django_capture_on_commit_callbacks
):
    # given a reply whose only part will be refused, and a second reply behind it
    standin.add_fault(body_contains="part 01", code=131026)
    [refused] = _queue(1, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        [behind] = text_send_staggered(to=TO, text="next reply")
    # when the first fails, then the next reply's turn has come
    with django_capture_on_commit_callbacks(execute=False) as woken:
        assert message_send(message_id=refused.pk).result == "failed"
    assert _woken(woken) == [behind]


def test_a_part_is_not_sent_before_it_is_due(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    whatsapp_settings.WHATSAPP_PART_SPACING_SECONDS = 10.0
    first, second = _queue(2, django_capture_on_commit_callbacks)
    assert message_send(message_id=first.pk).result == "sent"
    outcome = message_send(message_id=second.pk)
    assert outcome.result == "later"
    assert 9 < _later(outcome) <= 10
    assert len(standin.received()) == 1


def test_the_contact_spacing_holds_after_a_delay(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    # given the first part went out just now and the second is already overdue
    whatsapp_settings.WHATSAPP_PART_SPACING_SECONDS = 3.0
    first, second = _queue(2, django_capture_on_commit_callbacks)
    message_send(message_id=first.pk)
    OutboundMessage.objects.filter(pk=second.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=60)
    )
    # when
    outcome = message_send(message_id=second.pk)
    # then it still keeps the spacing after the part before it
    assert outcome.result == "later"
    assert 2 < _later(outcome) <= 3


# --- errors ---------------------------------------------------------------------------------------


def test_a_transient_error_puts_the_message_back_with_backoff(
    standin, django_capture_on_commit_callbacks
):
    [message] = _queue(1, django_capture_on_commit_callbacks)
    standin.add_fault(code=131000, nth=1)
    outcome = message_send(message_id=message.pk)
    assert outcome.result == "later"
    assert 1.0 <= _later(outcome) <= 2.0  # first backoff: 2 s with "equal jitter"
    message = _refresh(message)
    assert message.status == OutboundStatus.QUEUED
    assert (message.attempts, message.last_error_code) == (1, 131000)
    # an early wake-up goes back to sleep; a due one sends
    assert message_send(message_id=message.pk).result == "later"
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert message_send(message_id=message.pk).result == "sent"
    assert _refresh(message).attempts == 2


def test_a_pair_refusal_waits_for_the_contacts_free_time_not_four_to_the_power_of_x(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    # given Meta refusing for the pair twice although our state says the contact is free
    interval = whatsapp_settings.WHATSAPP_PAIR_INTERVAL_SECONDS
    [message] = _queue(1, django_capture_on_commit_callbacks)
    standin.add_fault(code=131056, body_contains="part 01", times=2)
    # when
    first = message_send(message_id=message.pk)
    # then the contact is taken as busy one interval from now, and the row says why
    assert interval - 0.05 <= _later(first) <= interval
    message = _refresh(message)
    assert (message.status, message.waiting_for) == ("queued", "pair")
    assert (message.attempts, message.last_error_code) == (1, 131056)
    assert message.pair_free_at is not None
    # a wake-up before that time sends nothing and gives the attempt back
    assert message_send(message_id=message.pk).result == "later"
    assert _refresh(message).attempts == 1
    # a second refusal at the free time pushes it one more interval
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    time.sleep(_later(first))
    second = message_send(message_id=message.pk)
    assert interval - 0.05 <= _later(second) <= interval
    time.sleep(_later(second))
    assert message_send(message_id=message.pk).result == "sent"
    assert _refresh(message).attempts == 3
    assert [r.fault for r in standin.received()] == ["131056", "131056", None]


def test_a_permanent_error_fails_the_message_and_skips_the_rest_of_the_reply(
    standin, django_capture_on_commit_callbacks
):
    # given a reply of four parts whose second is undeliverable
    parts = _queue(4, django_capture_on_commit_callbacks)
    standin.add_fault(code=131026, body_contains="part 02")
    # when
    results = [message_send(message_id=p.pk).result for p in parts]
    # then
    assert results == ["sent", "failed", "skipped", "skipped"]
    parts = [_refresh(p) for p in parts]
    assert [p.status for p in parts] == ["sent", "failed", "failed", "failed"]
    assert parts[1].last_error_code == 131026
    assert parts[1].attempts == 1
    assert "part 2 of this reply failed" in parts[2].last_error_text
    # and the next reply to the same contact is not blocked
    [later] = _queue(1, django_capture_on_commit_callbacks)
    assert message_send(message_id=later.pk).result == "sent"


def test_retries_are_bounded(whatsapp_settings, standin, django_capture_on_commit_callbacks):
    whatsapp_settings.WHATSAPP_SEND_MAX_ATTEMPTS = 2
    first, second = _queue(2, django_capture_on_commit_callbacks)
    standin.add_fault(code=131000, body_contains="part 01", times=5)
    assert message_send(message_id=first.pk).result == "later"
    OutboundMessage.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    assert message_send(message_id=first.pk).result == "failed"
    first, second = _refresh(first), _refresh(second)
    assert first.status == second.status == OutboundStatus.FAILED
    assert "gave up after 2 attempts" in first.last_error_text


def test_a_rejected_token_fails_loudly(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    whatsapp_settings.WHATSAPP_ACCESS_TOKEN = "expired"
    [message] = _queue(1, django_capture_on_commit_callbacks)
    with pytest.raises(WhatsAppAuthError):
        message_send(message_id=message.pk)
    message = _refresh(message)
    assert (message.status, message.last_error_code) == (OutboundStatus.FAILED, 190)


# --- statuses -------------------------------------------------------------------------------------


def _sent(django_capture_on_commit_callbacks) -> OutboundMessage:
    [message] = _queue(1, django_capture_on_commit_callbacks)
    message_send(message_id=message.pk)
    return _refresh(message)


def _status(message, status, **kwargs):
    payload = status_payload(wamid=message.wamid, status=status, recipient_id=TO, **kwargs)
    return status_event_record(
        status=payload["entry"][0]["changes"][0]["value"]["statuses"][0], event=None
    )


def test_statuses_out_of_order_end_at_the_furthest(standin, django_capture_on_commit_callbacks):
    message = _sent(django_capture_on_commit_callbacks)
    # read arrives before delivered, and a late "sent" after both
    assert _status(message, "read", timestamp=1_700_000_010)
    assert _status(message, "delivered", timestamp=1_700_000_005)
    assert _status(message, "sent", timestamp=1_700_000_001)
    message = _refresh(message)
    assert message.status == OutboundStatus.READ
    assert message.read_at == dt.datetime.fromtimestamp(1_700_000_010, tz=dt.UTC)
    assert message.delivered_at == dt.datetime.fromtimestamp(1_700_000_005, tz=dt.UTC)


def test_a_status_delivered_twice_is_stored_once(standin, django_capture_on_commit_callbacks):
    message = _sent(django_capture_on_commit_callbacks)
    assert _status(message, "delivered") is True
    assert _status(message, "delivered") is False
    assert StatusEvent.objects.filter(wamid=message.wamid).count() == 1


def test_failed_does_not_undo_delivered(standin, django_capture_on_commit_callbacks):
    message = _sent(django_capture_on_commit_callbacks)
    _status(message, "delivered")
    _status(message, "failed", errors=[{"code": 131026, "title": "Message undeliverable"}])
    assert _refresh(message).status == OutboundStatus.DELIVERED


def test_a_status_that_arrives_before_the_wamid_is_recorded_is_applied_later(
    standin, django_capture_on_commit_callbacks
):
    # given a message and a "delivered" webhook for the wamid the API will give it
    [message] = _queue(1, django_capture_on_commit_callbacks)
    payload = status_payload(wamid="wamid.early", status="delivered", recipient_id=TO)
    status_event_record(
        status=payload["entry"][0]["changes"][0]["value"]["statuses"][0], event=None
    )
    # when the send records that wamid
    OutboundMessage.objects.filter(pk=message.pk).update(wamid=None)
    status_events_replay(wamid="wamid.early")
    OutboundMessage.objects.filter(pk=message.pk).update(
        wamid="wamid.early", status=OutboundStatus.SENT
    )
    status_events_replay(wamid="wamid.early")
    # then
    message = _refresh(message)
    assert message.status == OutboundStatus.DELIVERED
    assert StatusEvent.objects.get().message == message


def test_a_status_with_our_callback_data_adopts_a_send_whose_response_was_lost(
    django_capture_on_commit_callbacks,
):
    # given a message left in `sending` by a worker that died during the call
    [message] = _queue(1, django_capture_on_commit_callbacks)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=OutboundStatus.SENDING, claimed_at=timezone.now(), attempts=1
    )
    # when Meta's "sent" webhook echoes our callback data
    adopted = message_status_apply(
        wamid="wamid.adopted",
        status="sent",
        at=None,
        errors=[],
        callback_data=f"outbound:{message.pk}",
    )
    # then the row is sent with that wamid, and the sweeper has nothing to resend
    assert adopted is not None
    assert (adopted.status, adopted.wamid) == (OutboundStatus.SENT, "wamid.adopted")
    with django_capture_on_commit_callbacks(execute=False):
        assert message_sweep(stuck_after=0) == []


def test_adopting_a_part_whose_send_died_wakes_the_contacts_next_part(
    django_capture_on_commit_callbacks,
):
    # given the first of two parts left in `sending` by a worker that died during the call
    first, second = _queue(2, django_capture_on_commit_callbacks)
    OutboundMessage.objects.filter(pk=first.pk).update(
        status=OutboundStatus.SENDING, claimed_at=timezone.now(), attempts=1
    )
    # when Meta's "sent" webhook adopts it, the second part is woken (nothing else would)
    for status, woken in (("sent", [second.pk]), ("delivered", [])):
        # (and a later status for it wakes nothing more)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            message_status_apply(
                wamid="wamid.adopted",
                status=status,
                at=None,
                errors=[],
                callback_data=f"outbound:{first.pk}",
            )
        assert _woken(callbacks) == woken


def test_a_send_the_api_accepted_is_recorded_once_the_database_answers_again(
    standin, django_capture_on_commit_callbacks, monkeypatch
):
    # given a database that drops the connection when the send is recorded, once
    [message] = _queue(1, django_capture_on_commit_callbacks)
    record = sending._message_sent_record
    failures: list[int] = []

    def restarting(**kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("terminating connection due to administrator command")
        record(**kwargs)

    monkeypatch.setattr(sending, "_message_sent_record", restarting)
    # when the message is sent
    outcome = message_send(message_id=message.pk)
    # then the API got it once, and the row says so (the sweeper would otherwise send it again)
    [request] = standin.received()
    message = _refresh(message)
    assert outcome.result == "sent"
    assert (message.status, message.wamid) == (OutboundStatus.SENT, request.wamid)
    with django_capture_on_commit_callbacks(execute=False):
        assert message_sweep(stuck_after=0) == []


# --- the sweeper ----------------------------------------------------------------------------------


def test_sweeper_re_enqueues_lost_wake_ups_and_resends_interrupted_sends(
    whatsapp_settings, django_capture_on_commit_callbacks
):
    whatsapp_settings.WHATSAPP_SEND_MAX_ATTEMPTS = 3
    overdue, interrupted, exhausted, fresh = _queue(4, django_capture_on_commit_callbacks)
    long_ago = timezone.now() - dt.timedelta(minutes=10)
    OutboundMessage.objects.filter(pk=overdue.pk).update(next_attempt_at=long_ago)
    OutboundMessage.objects.filter(pk=interrupted.pk).update(
        status=OutboundStatus.SENDING, claimed_at=long_ago, attempts=1
    )
    OutboundMessage.objects.filter(pk=exhausted.pk).update(
        status=OutboundStatus.SENDING, claimed_at=long_ago, attempts=3
    )
    OutboundMessage.objects.filter(pk=fresh.pk).update(next_attempt_at=timezone.now())
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        swept = message_sweep(stuck_after=60)
    # then
    assert swept == [overdue.pk, interrupted.pk]
    assert len(callbacks) == 2
    assert _refresh(interrupted).status == OutboundStatus.QUEUED
    assert "interrupted" in _refresh(interrupted).last_error_text
    assert _refresh(exhausted).status == OutboundStatus.FAILED
    assert _refresh(fresh).status == OutboundStatus.FAILED  # skipped after the failed part
    # and a second sweep right away leaves the re-enqueued ones alone
    with django_capture_on_commit_callbacks(execute=False):
        assert message_sweep(stuck_after=60) == []


def test_sweeper_leaves_a_part_waiting_behind_a_pending_one_to_it(
    django_capture_on_commit_callbacks,
):
    first, second = _queue(2, django_capture_on_commit_callbacks)
    long_ago = timezone.now() - dt.timedelta(minutes=10)
    OutboundMessage.objects.filter(pk__in=[first.pk, second.pk]).update(next_attempt_at=long_ago)
    # when both are overdue, only the first is re-enqueued: it wakes the second when done
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert message_sweep(stuck_after=60) == [first.pk]
    assert _woken(callbacks) == [first.pk]


def test_a_reconnecting_worker_gives_each_contacts_next_part_not_yet_due_a_wake_up_at_its_time(
    django_capture_on_commit_callbacks,
):
    # given a reply whose first part is due in 30 s: its countdown was held by a worker now dead
    first, _second = _queue(2, django_capture_on_commit_callbacks)
    in_30_s = timezone.now() + dt.timedelta(seconds=30)
    OutboundMessage.objects.filter(pk=first.pk).update(next_attempt_at=in_30_s)
    # the periodic sweep leaves it: nothing is overdue
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert message_sweep(stuck_after=1) == []
    assert callbacks == []
    # when the reconnecting worker's sweep runs, the first part gets a wake-up at its time (the
    # second waits behind it, as ever)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert message_sweep(stuck_after=1, due_later=True) == [first.pk]
    assert _woken(callbacks) == [first.pk]
    assert 28 < callbacks[0].keywords["countdown"] <= 30


def test_sweeper_leaves_a_send_in_flight_alone(django_capture_on_commit_callbacks):
    [message] = _queue(1, django_capture_on_commit_callbacks)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=OutboundStatus.SENDING, claimed_at=timezone.now() - dt.timedelta(seconds=5)
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert message_sweep(stuck_after=1) == []
    assert _refresh(message).status == OutboundStatus.SENDING


# --- webhook events that cannot be applied -------------------------------------------------------


def test_an_event_that_cannot_be_applied_is_recorded_and_never_swept_again():
    # Given a stored event whose status is longer than its column (PostgreSQL rejects it with a
    # DataError; SQLite stores it)
    payload = status_payload(wamid="wamid.X", status="delivered" * 5, recipient_id="1" * 100)
    event, _ = services.webhook_event_store(body=json.dumps(payload).encode())

    # When it is processed
    services.webhook_event_process(event_id=event.pk)

    # Then it is either applied or carries its error; either way the sweeper leaves it alone
    event.refresh_from_db()
    assert event.processed_at is not None or "Error" in event.processing_error
    later = timezone.now() + dt.timedelta(days=1)
    assert event.pk not in selectors.events_unprocessed(received_before=later, limit=100)


def test_an_event_the_database_dropped_stays_unprocessed_for_a_retry(monkeypatch):
    # given a stored event, and a database that goes away while it is applied
    payload = status_payload(wamid="wamid.Y", status="delivered", recipient_id=TO)
    event, _ = services.webhook_event_store(body=json.dumps(payload).encode())

    def restarting(**kwargs):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr("whatsapp.services.webhooks._change_apply", restarting)
    # when it is processed, then the error reaches the task (which retries) ...
    with pytest.raises(OperationalError):
        services.webhook_event_process(event_id=event.pk)
    # ... and the event is not set aside as bad data: the sweeper still has it
    event.refresh_from_db()
    assert (event.processed_at, event.processing_error) == (None, "")
    later = timezone.now() + dt.timedelta(days=1)
    assert event.pk in selectors.events_unprocessed(received_before=later, limit=100)


# --- the number's throughput level ------------------------------------------------------------


def _one_part_messages(
    count: int, django_capture_on_commit_callbacks, standin
) -> list[OutboundMessage]:
    for n in range(count):
        user_wrote(f"1555300{n:04d}", standin=standin)
    with django_capture_on_commit_callbacks(execute=False):
        ids = [text_send_staggered(to=f"1555300{n:04d}", text=f"hi {n}")[0] for n in range(count)]
    return list(OutboundMessage.objects.filter(pk__in=ids).order_by("pk"))


def test_a_send_sleeps_for_a_near_turn_and_goes(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    # given a number at 2 messages a second whose next 2 turns other senders already took
    whatsapp_settings.WHATSAPP_MESSAGES_PER_SECOND = 2
    for _ in range(2):
        pacing.number_limiter().reserve(max_wait=5)
    [message] = _one_part_messages(1, django_capture_on_commit_callbacks, standin)
    # when it is sent, its turn a second away
    started = time.monotonic()
    assert message_send(message_id=message.pk).result == "sent"
    # then it went at its turn, not before
    assert 0.9 < time.monotonic() - started < 1.5
    assert len(standin.delivered()) == 1


def test_a_send_whose_turn_is_far_off_takes_none_and_gives_the_attempt_back(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    # given a number at 1 message a second whose next 6 turns are taken (past the 2 s a send
    # sleeps for)
    whatsapp_settings.WHATSAPP_MESSAGES_PER_SECOND = 1
    for _ in range(6):
        pacing.number_limiter().reserve(max_wait=60)
    reserved = time.monotonic()
    [message] = _one_part_messages(1, django_capture_on_commit_callbacks, standin)
    # when it is sent
    outcome = message_send(message_id=message.pk)
    # then it asks again shortly before the free turn, having taken none and spent no attempt
    # (the free turn is 6 s after the reservations, however long a loaded machine took since)
    assert 3.9 - (time.monotonic() - reserved) < _later(outcome) <= 6.1
    free_in = 6 - (time.monotonic() - reserved)
    assert pacing.number_limiter().peek().wait == pytest.approx(free_in, abs=0.2)
    message = _refresh(message)
    assert (message.status, message.attempts, message.waiting_for) == ("queued", 0, "throughput")
    assert abs((message.next_attempt_at - timezone.now()).total_seconds() - _later(outcome)) < 0.1
    assert standin.received() == []


def test_a_throughput_refusal_slows_the_number_and_costs_no_attempt(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    # given Meta refusing the first send for the number's pace
    [message] = _one_part_messages(1, django_capture_on_commit_callbacks, standin)
    standin.add_fault(code=130429, nth=1)
    # when it is sent
    outcome = message_send(message_id=message.pk)
    # then it is due again after the pause, its attempt given back, the error kept on the row
    assert _later(outcome) == pacing.REFUSED_PAUSE_SECONDS
    message = _refresh(message)
    assert (message.status, message.attempts, message.last_error_code) == ("queued", 0, 130429)
    # and every sender now waits out the pause and then goes at half the level
    turn = pacing.number_limiter().peek()
    assert 0.5 < turn.wait <= pacing.REFUSED_PAUSE_SECONDS
    assert turn.pace == pytest.approx(0.5, abs=0.05)


def test_without_redis_for_the_limiter_a_send_waits_with_its_attempt_given_back(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    # given the limiter's Redis not answering
    whatsapp_settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    [message] = _one_part_messages(1, django_capture_on_commit_callbacks, standin)
    # when a message is sent
    outcome = message_send(message_id=message.pk)
    # then nothing went to Meta, and the row waits, queued, its attempt given back
    assert _later(outcome) == pytest.approx(pacing.LIMITER_UNAVAILABLE_WAIT, abs=0.2)
    message = _refresh(message)
    assert (message.status, message.attempts, message.waiting_for) == ("queued", 0, "throughput")
    assert standin.received() == []


# --- templates ----------------------------------------------------------------------------------

REMINDER: dict[str, Any] = {
    "name": "payment_reminder",
    "language": "en_US",
    "params": ["Ada", "€12.50", "1 May"],
}
REMINDER_TEXT = "Hi Ada, your payment of €12.50 is due on 1 May."


def _template(django_capture_on_commit_callbacks, **overrides) -> OutboundMessage:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message_id = template_send(**{"to": TO, **REMINDER, **overrides})
    assert _woken(callbacks) == [message_id]
    return OutboundMessage.objects.get(pk=message_id)


def test_a_template_send_records_the_template_and_its_text_on_one_queued_row(
    django_capture_on_commit_callbacks,
):
    # when
    message = _template(django_capture_on_commit_callbacks, to="+1 555-123-4567")
    # then one row, queued like a one-part reply, saying what is sent and what is read
    assert (message.status, message.position, message.batch_size) == ("queued", 0, 1)
    assert message.contact.wa_id == TO
    assert (message.template_name, message.template_language) == ("payment_reminder", "en_US")
    assert message.template_params == ["Ada", "€12.50", "1 May"]
    assert message.body == REMINDER_TEXT


def test_a_queued_template_goes_out_as_meta_s_template_request(
    standin, django_capture_on_commit_callbacks
):
    # given
    message = _template(django_capture_on_commit_callbacks)
    # when
    assert message_send(message_id=message.pk).result == "sent"
    # then the API got the template with its parameters, and read its text
    [request] = standin.delivered()
    assert request.payload["type"] == "template"
    assert request.payload["template"]["name"] == "payment_reminder"
    assert request.payload["biz_opaque_callback_data"] == f"outbound:{message.pk}"
    assert request.body == REMINDER_TEXT
    message = _refresh(message)
    assert (message.status, message.wamid, message.attempts) == ("sent", request.wamid, 1)


def test_a_text_row_still_goes_out_as_a_text(standin, django_capture_on_commit_callbacks):
    [message] = _queue(1, django_capture_on_commit_callbacks)
    assert message_send(message_id=message.pk).result == "sent"
    [request] = standin.delivered()
    assert request.payload["type"] == "text"
    assert "template" not in request.payload


def test_a_template_waits_for_the_reply_before_it_and_keeps_the_spacing(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    # given parts 2 s apart, a two-part reply, then a template to the same contact
    whatsapp_settings.WHATSAPP_PART_SPACING_SECONDS = 2.0
    before = timezone.now()
    reply = _queue(2, django_capture_on_commit_callbacks)
    template = _template(django_capture_on_commit_callbacks)
    queued_within = (timezone.now() - before).total_seconds()
    # then it is planned behind the reply, one spacing after its last part (counted from when
    # the template was queued: the reply's first part was overdue by then)
    gap = (template.scheduled_at - reply[-1].scheduled_at).total_seconds()
    assert 2.0 <= gap <= 2.0 + queued_within
    # and when it wakes early it waits for its turn, like any part
    OutboundMessage.objects.filter(pk=template.pk).update(next_attempt_at=timezone.now())
    assert message_send(message_id=template.pk).result == "waiting"
    assert standin.received() == []


def test_a_template_whose_throughput_turn_is_far_off_gives_the_attempt_back(
    whatsapp_settings, standin, django_capture_on_commit_callbacks
):
    # given a number at 1 message a second whose next 6 turns are taken
    whatsapp_settings.WHATSAPP_MESSAGES_PER_SECOND = 1
    for _ in range(6):
        pacing.number_limiter().reserve(max_wait=60)
    message = _template(django_capture_on_commit_callbacks)
    # when / then it waits for its turn like a text
    assert _later(message_send(message_id=message.pk)) > 3.9
    message = _refresh(message)
    assert (message.status, message.attempts, message.waiting_for) == ("queued", 0, "throughput")
    assert standin.received() == []


def _meta_refuses(code: int, standin, monkeypatch) -> str:
    """Have Meta refuse the reminder with ``code``; the language to send it in."""
    body = TEMPLATES["payment_reminder"]["en_US"]
    if code == 132001:
        # The app's registry has a language Meta never approved.
        monkeypatch.setitem(TEMPLATES["payment_reminder"], "de_DE", body)
        return "de_DE"
    if code == 132000:
        # Meta's approved text has one placeholder more than the app's copy.
        standin.add_template("payment_reminder", "en_US", body + " Ref. {{4}}")
    elif code == 132005:
        standin.add_template("payment_reminder", "en_US", body + " " + "." * 1000)
    elif code in (132015, 132016):
        standin.set_template_status("payment_reminder", "en_US", TEMPLATE_STATUS[code])
    else:
        # Format and policy checks the stand-in does not model: Meta's answer, injected.
        standin.add_fault(code=code, body_contains=REMINDER_TEXT)
    return "en_US"


TEMPLATE_STATUS = {132015: "PAUSED", 132016: "DISABLED"}


@pytest.mark.parametrize("code", [132000, 132001, 132005, 132007, 132012, 132015, 132016])
def test_a_template_meta_refuses_fails_at_once_with_meta_s_text_and_is_never_retried(
    standin, monkeypatch, django_capture_on_commit_callbacks, code
):
    # given Meta refusing the template, and a text queued behind it to the same contact
    language = _meta_refuses(code, standin, monkeypatch)
    message = _template(django_capture_on_commit_callbacks, language=language)
    with django_capture_on_commit_callbacks(execute=False):
        [behind] = text_send_staggered(to=TO, text="after the template")
    # when
    with django_capture_on_commit_callbacks(execute=False) as woken:
        outcome = message_send(message_id=message.pk)
    # then the row failed on its first attempt with Meta's code and text, and is not retried
    assert outcome.result == "failed"
    message = _refresh(message)
    assert (message.status, message.attempts, message.last_error_code) == ("failed", 1, code)
    assert message.last_error_text.startswith(f"({code}) (#{code}) ")
    assert message.failed_at is not None
    assert message_send(message_id=message.pk).result == "skipped"
    assert len(standin.received()) == 1
    # and the contact's next message is woken, not held behind it
    assert _woken(woken) == [behind]
