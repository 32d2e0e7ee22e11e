from django.db import OperationalError

from config.celery import app
from ops.db import DATABASE_UNAVAILABLE
from whatsapp import services, tasks
from whatsapp.schedules import WORKER_SCHEDULE

BEAT_SCHEDULE = app.conf.beat_schedule


def test_send_task_takes_an_id_and_has_deliberate_options():
    task = app.tasks["whatsapp.tasks.send_message"]
    assert task.acks_late is False  # see the module docstring of whatsapp.tasks
    assert task.time_limit == services.SEND_TIME_LIMIT_SECONDS
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
    assert WORKER_SCHEDULE["whatsapp-sweep"]["every"] < settings.WHATSAPP_SWEEP_AFTER_SECONDS


def test_a_wake_up_the_database_dropped_is_retried_then_left_to_the_sweeper(monkeypatch):
    # given a database that is away for good
    calls = []

    def unavailable(*, message_id):
        calls.append(message_id)
        raise OperationalError("connection refused")

    monkeypatch.setattr(services, "message_send", unavailable)
    # when a wake-up runs (eagerly: each retry runs at once)
    result = tasks.send_message.apply(args=(7,))
    # then it was tried again a bounded number of times, then failed (the row is still queued)
    assert calls == [7] * (tasks.DATABASE_RETRIES + 1)
    assert isinstance(result.result, OperationalError)


def test_webhook_events_are_retried_when_the_database_drops():
    task = tasks.process_webhook_event
    assert tuple(getattr(task, "autoretry_for", ())) == DATABASE_UNAVAILABLE
    assert task.max_retries == tasks.DATABASE_RETRIES
