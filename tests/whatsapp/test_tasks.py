import datetime as dt

import pytest
from django.db import OperationalError
from django.utils import timezone

from config.celery import app
from ops.db import DATABASE_UNAVAILABLE
from tests.whatsapp.conftest import user_wrote
from whatsapp import services, tasks
from whatsapp.models import OutboundMessage
from whatsapp.schedules import WORKER_SCHEDULE

BEAT_SCHEDULE = app.conf.beat_schedule


def test_send_task_takes_an_id_and_has_deliberate_options():
    task = app.tasks["whatsapp.tasks.send_message"]
    assert task.acks_late is False  # see the module docstring of whatsapp.tasks
    assert task.time_limit == services.SEND_TASK_TIME_LIMIT_SECONDS
    assert (task.soft_time_limit or 0) < task.time_limit


def test_whatsapp_tasks_route_to_the_io_queue():
    for name in ("send_message", "process_webhook_event", "sweep"):
        route = app.amqp.router.route({}, f"whatsapp.tasks.{name}")
        assert route["queue"].name == "io"


def test_the_sweeper_runs_from_beat_and_expires():
    entry = BEAT_SCHEDULE["whatsapp-sweep"]
    assert entry["task"] == tasks.sweep.name
    assert 0 < entry["options"]["expires"] < entry["schedule"]


def test_workers_sweep_more_often_than_the_stuck_threshold(settings):
    # A lost wake-up is found at most threshold + interval after it was due.
    assert WORKER_SCHEDULE["whatsapp-sweep"]["schedule"] < settings.WHATSAPP_SWEEP_AFTER_SECONDS


def test_a_wake_up_the_database_dropped_is_retried_then_left_to_the_sweeper(monkeypatch):
    # given a database that is away for good
    calls = []

    def unavailable(*, message_id):
        calls.append(message_id)
        raise OperationalError("connection refused")

    monkeypatch.setattr(services, "message_send_carrying", unavailable)
    # when a wake-up runs (eagerly: each retry runs at once)
    result = tasks.send_message.apply(args=(7,))
    # then it was tried again a bounded number of times, then failed (the row is still queued)
    assert calls == [7] * (tasks.DATABASE_RETRIES + 1)
    assert isinstance(result.result, OperationalError)


def test_webhook_events_are_retried_when_the_database_drops():
    task = tasks.process_webhook_event
    assert tuple(getattr(task, "autoretry_for", ())) == DATABASE_UNAVAILABLE
    assert task.max_retries == tasks.DATABASE_RETRIES


@pytest.fixture
def io_unconsumed(stack):
    """No worker-io of this session takes from the io queue: one an earlier test left running
    would fetch the wake-up below before the sweep looks for it (most often under load)."""
    for key, process in list(stack.processes.items()):
        if process.name == "worker-io":
            stack.stop(key)


@pytest.mark.django_db
@pytest.mark.usefixtures("whatsapp_settings", "io_unconsumed")
def test_the_periodic_sweep_waits_while_wake_ups_are_queued_the_on_connect_one_does_not(
    django_capture_on_commit_callbacks,
):
    # given a queued message overdue for a minute, and a wake-up waiting in the io queue
    app.control.purge()
    user_wrote("15550001111")
    with django_capture_on_commit_callbacks(execute=False):
        [message_id] = services.text_send_staggered(to="15550001111", text="hello")
    minute_ago = timezone.now() - dt.timedelta(minutes=1)
    OutboundMessage.objects.filter(pk=message_id).update(next_attempt_at=minute_ago)
    tasks.send_message.delay(message_id)
    try:
        # when the periodic sweep runs, it leaves the row: its wake-up may be the one waiting
        with django_capture_on_commit_callbacks(execute=False) as enqueued:
            assert tasks.sweep(stuck_after=30) == {"messages": 0, "events": 0, "held": 0}
        assert enqueued == []
        # and the on-connect sweep takes it anyway
        with django_capture_on_commit_callbacks(execute=False) as enqueued:
            assert tasks.sweep(stuck_after=30, behind_backlog=True)["messages"] == 1
        assert len(enqueued) == 1
    finally:
        app.control.purge()
    # and once the queue is empty the periodic sweep takes an overdue row too
    OutboundMessage.objects.filter(pk=message_id).update(next_attempt_at=minute_ago)
    with django_capture_on_commit_callbacks(execute=False):
        assert tasks.sweep(stuck_after=30)["messages"] == 1
