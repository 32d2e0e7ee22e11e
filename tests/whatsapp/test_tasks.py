from config.celery import app
from whatsapp import services, tasks

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


def test_the_sweep_interval_is_shorter_than_the_stuck_threshold(settings):
    assert BEAT_SCHEDULE["whatsapp-sweep"]["schedule"] <= settings.WHATSAPP_SWEEP_AFTER_SECONDS
