from config.celery import app
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
