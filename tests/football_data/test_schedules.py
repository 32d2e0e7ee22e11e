"""Each football-data beat entry, through the real router and topology (no processes here;
test_processes.py sends each one through a real worker-cpu)."""

from __future__ import annotations

import pytest
from celery.schedules import crontab

import football_data.tasks  # noqa: F401  (registers the tasks, as a worker's autodiscovery does)
from config.celery import app
from config.periodic import interval_seconds
from config.topology import consumed_queues
from football_data.schedules import BEAT_SCHEDULE
from ops.checks import check_beat

ENTRIES = sorted(BEAT_SCHEDULE)


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_routes_to_the_cpu_queue_a_worker_consumes(name):
    entry = BEAT_SCHEDULE[name]
    queue = app.amqp.router.route(dict(entry.get("options", {})), entry["task"])["queue"].name
    assert queue == "cpu"
    assert queue in consumed_queues()
    assert entry["task"] in app.tasks


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_expires_before_it_is_due_again(name):
    entry = BEAT_SCHEDULE[name]
    expires = entry["options"]["expires"]
    schedule = entry["schedule"]
    if isinstance(schedule, crontab):
        assert 0 < expires <= 3600
    else:
        every = interval_seconds(schedule)
        assert every is not None
        assert 0 < expires < every


def test_time_of_day_entries_use_crontab():
    for name in ("football-data-sync-results", "football-data-sync-fixtures-month"):
        assert isinstance(BEAT_SCHEDULE[name]["schedule"], crontab)


def test_the_system_check_passes_for_these_entries():
    from config.topology import WORKERS

    assert check_beat(app, BEAT_SCHEDULE, WORKERS) == []


class _RecordingApp:
    def __init__(self):
        self.sent = []

    def send_task(self, name, **options):
        self.sent.append((name, options))


class _Scheduler:
    def __init__(self, sends):
        self._sends = sends

    def sends(self):
        return self._sends


class _Beat:
    def __init__(self, sends=True):
        self.app = _RecordingApp()
        self.scheduler = _Scheduler(sends)


def test_beat_start_sends_one_fixtures_sync_with_its_expiry(settings):
    from football_data.schedules import sync_fixtures_at_beat_start

    settings.FOOTBALL_DATA_API_TOKEN = "t"
    beat = _Beat()
    sync_fixtures_at_beat_start(sender=beat)
    entry = BEAT_SCHEDULE["football-data-sync-fixtures"]
    assert beat.app.sent == [(entry["task"], entry["options"])]


def test_beat_start_sends_nothing_while_the_integration_is_off(settings):
    from football_data.schedules import sync_fixtures_at_beat_start

    settings.FOOTBALL_DATA_API_TOKEN = None
    beat = _Beat()
    sync_fixtures_at_beat_start(sender=beat)
    assert beat.app.sent == []


def test_a_standby_beat_starting_sends_nothing(settings):
    from football_data.schedules import sync_fixtures_at_beat_start

    settings.FOOTBALL_DATA_API_TOKEN = "t"
    beat = _Beat(sends=False)
    sync_fixtures_at_beat_start(sender=beat)
    assert beat.app.sent == []
