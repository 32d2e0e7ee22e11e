"""Periodic football-data work (config.discovery finds it).

Beat also sends one fixtures sync when it starts, so a fresh deployment (or `docker compose up`
against the stand-in) shows fixtures within seconds rather than after the first interval.

Every entry expires before its next run so a backlog after downtime is dropped, not replayed;
crontab where the time of day matters. Each task routes to ``cpu`` (config.queues), which
``worker-cpu`` consumes (proved by ops.checks and tests/football_data/test_schedules.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.schedules import crontab
from celery.signals import beat_init
from django.conf import settings

_FIXTURES_EVERY = settings.FOOTBALL_DATA_FIXTURES_SYNC_SECONDS

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Upcoming fixtures: kick-off times move; a short interval keeps the fixtures reply fresh.
    "football-data-sync-fixtures": {
        "task": "football_data.tasks.sync_fixtures",
        "schedule": timedelta(seconds=_FIXTURES_EVERY),
        "options": {"expires": max(5, _FIXTURES_EVERY - 5)},
    },
    # A wider look ahead once a night, when nobody is waiting for a reply.
    "football-data-sync-fixtures-month": {
        "task": "football_data.tasks.sync_fixtures",
        "schedule": crontab(hour=4, minute=15),
        "kwargs": {"days": 30},
        "options": {"expires": 3600},
    },
    # Results while European matches are played (UTC afternoons and evenings); it settles after.
    "football-data-sync-results": {
        "task": "football_data.tasks.sync_results",
        "schedule": crontab(minute="*/10", hour="11-23"),
        "options": {"expires": 9 * 60},
    },
    # Overnight catch-up: late corrections, matches that ended after 23:50.
    "football-data-sync-results-overnight": {
        "task": "football_data.tasks.sync_results",
        "schedule": crontab(hour=2, minute=30),
        "kwargs": {"days": 7},
        "options": {"expires": 3600},
    },
    # Settlement also runs on its own, for tickets placed on matches already final.
    "football-data-settle-tickets": {
        "task": "football_data.tasks.settle_tickets",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 4 * 60},
    },
}


@beat_init.connect
def sync_fixtures_at_beat_start(sender: Any, **kwargs: Any) -> None:
    if settings.FOOTBALL_DATA_API_TOKEN:
        entry = BEAT_SCHEDULE["football-data-sync-fixtures"]
        sender.app.send_task(entry["task"], **entry["options"])
