"""Periodic football-data work (config.discovery finds it).

Entries expire before their next run (a backlog after downtime is dropped), use crontab where
the time of day matters, and route to ``cpu``; beat also sends one fixtures sync when it starts.
The table and how each entry is proven to reach a worker: docs/football_data.md, "Beat schedule".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.schedules import crontab
from celery.signals import beat_init
from django.conf import settings

from config.periodic import PeriodicTask

_FIXTURES_EVERY = settings.FOOTBALL_DATA_FIXTURES_SYNC_SECONDS
# How often each worker-cpu looks for tickets whose settlement chunk died with a worker.
WORKER_SETTLE_SWEEP_SECONDS = 5.0

BEAT_SCHEDULE: dict[str, PeriodicTask] = {
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

# Run by every worker-cpu itself, with or without beat (ops.worker_schedule).
WORKER_SCHEDULE: dict[str, PeriodicTask] = {
    "football-data-settle-sweep": {
        "task": "football_data.tasks.settle_sweep",
        "schedule": WORKER_SETTLE_SWEEP_SECONDS,
        # A worker that has just (re)started may be the one whose chunks died: with nothing left
        # waiting in the queue, every claim still open is theirs (a running chunk holds its own).
        "on_connect": {"stuck_after": 1.0},
    },
}


@beat_init.connect
def sync_fixtures_at_beat_start(sender: Any, **kwargs: Any) -> None:
    # Only from the beat that sends (ops.overrides.beat): a standby starting must not sync a
    # second time.
    if settings.FOOTBALL_DATA_API_TOKEN and sender.scheduler.sends():
        entry = BEAT_SCHEDULE["football-data-sync-fixtures"]
        sender.app.send_task(entry["task"], **entry["options"])
