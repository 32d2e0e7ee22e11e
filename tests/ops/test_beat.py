"""Beat's lock on a real Redis, with the project's own schedule: one scheduler sends, another
stands by and takes over, carrying on each entry's interval (the processes: test_faults.py)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery.beat import PersistentScheduler
from django.conf import settings

from config.celery import app
from ops.overrides.beat import LAST_RUN_KEY, LOCK_KEY, STANDBY_POLL, SingleBeatScheduler

ENTRY = "ops-canary-io"

Beat = Callable[[str], SingleBeatScheduler]


@pytest.fixture
def beat(tmp_path: Path, private_redis, clean_queues) -> Iterator[Beat]:
    """Schedulers as ``celery beat`` builds them, each named by its schedule file."""
    client = private_redis.client()
    client.delete(LOCK_KEY, LAST_RUN_KEY)
    started: list[SingleBeatScheduler] = []

    def start(name: str) -> SingleBeatScheduler:
        scheduler = SingleBeatScheduler(app, schedule_filename=str(tmp_path / name))
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        if scheduler._store is not None:  # type: ignore[attr-defined]
            scheduler.close()
    client.delete(LOCK_KEY, LAST_RUN_KEY)


def overdue(scheduler: SingleBeatScheduler) -> None:
    scheduler.schedule[ENTRY].last_run_at = app.now() - dt.timedelta(days=1)
    scheduler._heap = None


@pytest.fixture
def sends(caplog) -> Callable[[], int]:
    """How many times beat sent the entry (a worker left running may already have taken it)."""
    caplog.set_level(logging.INFO, logger="celery.beat")
    return lambda: sum(f"Sending due task {ENTRY} " in r.getMessage() for r in caplog.records)


def test_one_beat_sends_the_other_stands_by(beat, sends):
    first, second = beat("a"), beat("b")
    assert first.tick() <= settings.CELERY_BEAT_LOCK_TIMEOUT / 3
    overdue(second)
    assert second.tick() == STANDBY_POLL
    assert sends() == 0
    overdue(first)
    while first.tick() == 0:  # one due entry per tick, as beat's loop does
        pass
    assert sends() == 1


def test_the_standby_takes_over_when_the_first_stops_and_carries_on_its_intervals(beat, sends):
    first, second = beat("a"), beat("b")
    overdue(first)
    while first.tick() == 0:
        pass
    ran = first.schedule[ENTRY].last_run_at
    assert second.tick() == STANDBY_POLL
    first.close()
    # the lock was released: the standby takes it on its next wake-up, knowing the last run
    assert second.tick() <= settings.CELERY_BEAT_LOCK_TIMEOUT / 3
    assert second.schedule[ENTRY].last_run_at == ran
    assert sends() == 1


def test_a_beat_with_a_new_schedule_file_starts_from_the_runs_recorded_in_redis(beat, sends):
    first = beat("a")
    overdue(first)
    while first.tick() == 0:
        pass
    ran = first.schedule[ENTRY].last_run_at
    first.close()
    # a recreated container: a new file, whose entries would otherwise start from now
    again = beat("recreated")
    assert again.schedule[ENTRY].last_run_at > ran
    again.tick()
    assert again.schedule[ENTRY].last_run_at == ran
    assert sends() == 1


def test_a_beat_restarted_in_place_takes_back_its_lock_at_once(beat):
    first = beat("a")
    first.tick()
    # killed: its lock is not released (only its schedule file is closed)
    PersistentScheduler.close(first)
    first._store = None
    other, again = beat("b"), beat("a")
    assert other.tick() == STANDBY_POLL
    assert again.tick() <= settings.CELERY_BEAT_LOCK_TIMEOUT / 3


def test_a_beat_that_lost_its_lock_stops_sending(beat, private_redis, caplog, sends):
    first = beat("a")
    first.tick()
    # paused past the lock's time, and another beat took the lock meanwhile
    private_redis.client().set(LOCK_KEY, "another-beat", ex=30)
    overdue(first)
    assert first.tick() == STANDBY_POLL
    assert "lost the lock to another beat" in caplog.text
    assert sends() == 0
