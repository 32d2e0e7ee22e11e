"""Each kind of drift between routes, beat, pools and limits fails the system checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from config.celery import SETTINGS_READ, VARIABLES_READ_OUTSIDE_SETTINGS, app
from config.discovery import worker_schedule
from config.topology import WORKERS
from ops import checks
from tests.startup import BACKEND

IO_WORKER, CPU_WORKER = WORKERS


def ids(messages) -> list[str]:
    return [m.id for m in messages]


@contextmanager
def routes(table: dict[str, dict[str, str]]) -> Iterator[None]:
    saved = app.conf.task_routes
    app.conf.task_routes = table
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)
    try:
        yield
    finally:
        app.conf.task_routes = saved
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)


def test_the_shipped_configuration_is_clean():
    app_ = checks._celery_app()
    problems = [
        *checks.check_routes(app_, WORKERS),
        *checks.check_beat(app_, app_.conf.beat_schedule, WORKERS),
        *checks.check_worker_schedule(app_, worker_schedule(settings.INSTALLED_APPS), WORKERS),
        *checks.check_pools(app_, WORKERS),
    ]
    assert problems == []


def test_a_task_routed_to_an_undeclared_queue_is_an_error_naming_it():
    with routes({"ops.*": {"queue": "ai_tasks"}, "*": {"queue": "io"}}):
        problems = checks.check_routes(checks._celery_app(), WORKERS)

    assert "ops.E002" in ids(problems)
    assert any("'ai_tasks'" in p.msg for p in problems)


def test_manage_py_check_fails_naming_the_queue_nobody_consumes():
    with (
        routes({"ops.*": {"queue": "ai_tasks"}, "*": {"queue": "io"}}),
        pytest.raises(SystemCheckError, match="ai_tasks"),
    ):
        call_command("check")


def test_a_declared_queue_without_a_worker_is_an_error():
    problems = checks.check_routes(checks._celery_app(), (IO_WORKER,))

    assert "ops.E001" in ids(problems)
    assert any("'cpu'" in p.msg for p in problems if p.id == "ops.E001")


def test_tasks_routed_to_a_queue_without_a_worker_are_errors():
    problems = checks.check_routes(checks._celery_app(), (CPU_WORKER,))

    assert "ops.E003" in ids(problems)
    assert any("ops.tasks.probe" in p.msg and "'io'" in p.msg for p in problems)


def test_beat_sending_to_a_queue_no_worker_consumes_is_an_error():
    # The incident: beat routed to `ai_tasks`, the worker listened only to `celery`.
    schedule = {"nightly": {"task": "ops.tasks.probe", "schedule": 60, "options": {"expires": 60}}}

    problems = checks.check_beat(checks._celery_app(), schedule, (CPU_WORKER,))

    assert ids(problems) == ["ops.E006"]
    assert "'io'" in problems[0].msg


def test_beat_naming_an_unknown_task_or_an_undeclared_queue_is_an_error():
    schedule = {
        "ghost": {"task": "nope.tasks.ghost", "schedule": 60, "options": {"queue": "ai_tasks"}},
    }

    problems = checks.check_beat(checks._celery_app(), schedule, WORKERS)

    assert set(ids(problems)) == {"ops.E004", "ops.E005", "ops.W001"}


def test_a_beat_entry_without_expires_is_a_warning():
    schedule = {"tick": {"task": "ops.tasks.probe", "schedule": 60}}

    assert ids(checks.check_beat(checks._celery_app(), schedule, WORKERS)) == ["ops.W001"]


def test_a_worker_schedule_entry_no_worker_would_run_is_an_error():
    schedule: dict[str, Any] = {"sweep": {"task": "ops.tasks.probe", "schedule": 5}}

    problems = checks.check_worker_schedule(checks._celery_app(), schedule, (CPU_WORKER,))

    assert ids(problems) == ["ops.E009"]
    assert "'io'" in problems[0].msg


def test_a_worker_schedule_entry_with_an_unknown_task_or_no_interval_is_an_error():
    schedule: dict[str, dict[str, Any]] = {
        "ghost": {"task": "nope.tasks.ghost", "schedule": timedelta(seconds=5)},
        "never": {"task": "ops.tasks.probe", "schedule": 0},
        "nightly": {"task": "ops.tasks.probe", "schedule": crontab(hour=3, minute=0)},
    }

    problems = checks.check_worker_schedule(checks._celery_app(), schedule, WORKERS)

    assert ids(problems) == ["ops.E007", "ops.E013", "ops.E013"]
    assert problems[-1].hint == "A crontab belongs in BEAT_SCHEDULE."


def test_a_schedule_entry_with_a_key_its_runner_does_not_read_is_an_error():
    # The old worker shape's "every", and a beat option no worker reads.
    worker: dict[str, Any] = {
        "sweep": {"task": "ops.tasks.probe", "schedule": 5, "every": 5, "options": {}}
    }
    beat: dict[str, Any] = {
        "tick": {
            "task": "ops.tasks.probe",
            "schedule": 60,
            "on_connect": {},
            "options": {"expires": 30},
        }
    }

    worker_problems = checks.check_worker_schedule(checks._celery_app(), worker, WORKERS)
    beat_problems = checks.check_beat(checks._celery_app(), beat, WORKERS)

    assert [p.msg for p in worker_problems] == [
        "Worker schedule entry 'sweep' has 'every', which its runner does not read.",
        "Worker schedule entry 'sweep' has 'options', which its runner does not read.",
    ]
    assert ids(beat_problems) == ["ops.E023"]
    assert "'on_connect'" in beat_problems[0].msg


def test_a_beat_entry_expiring_after_its_next_run_is_a_warning():
    schedule = {
        "every-minute": {
            "task": "ops.tasks.canary",
            "schedule": 60.0,
            "args": ("io",),
            "options": {"expires": 90},
        },
        "every-ten-minutes-by-day": {
            "task": "ops.tasks.canary",
            "schedule": crontab(minute="*/10", hour="11-23"),
            "args": ("io",),
            "options": {"expires": 9 * 60},
        },
        "nightly": {
            "task": "ops.tasks.canary",
            "schedule": crontab(hour=2, minute=30),
            "args": ("io",),
            "options": {"expires": 2 * 86400},
        },
    }
    problems = checks.check_beat(checks._celery_app(), schedule, WORKERS)
    assert ids(problems) == ["ops.W002", "ops.W002"]
    assert "'every-minute' expires after 90 s but runs every 60 s" in problems[0].msg
    assert "runs every 86400 s" in problems[1].msg


def test_the_shortest_interval_of_a_crontab_is_its_closest_two_runs():
    assert checks.shortest_interval(crontab(minute="*/10", hour="11-23")) == 600
    assert checks.shortest_interval(crontab(hour=2, minute=30)) == 86400
    assert checks.shortest_interval(crontab(hour="9,17", minute=0)) == 8 * 3600
    assert checks.shortest_interval(crontab(day_of_month=1, hour=0, minute=0)) is None


def test_solo_pool_is_an_error():
    solo = replace(CPU_WORKER, pool="solo")

    assert "ops.E011" in ids(checks.check_pools(app, (IO_WORKER, solo)))


def test_gevent_on_a_cpu_queue_is_an_error():
    greedy = replace(IO_WORKER, queues=("io", "cpu"))

    problems = checks.check_pools(app, (greedy,))

    assert ids(problems) == ["ops.E012"]
    assert "cpu" in problems[0].msg


def test_a_pool_set_in_the_configuration_is_an_error():
    app.conf.worker_pool = "solo"
    try:
        problems = checks.check_pools(app, WORKERS)
    finally:
        app.conf.changes.pop("worker_pool")  # type: ignore[union-attr]

    assert ids(problems) == ["ops.E010"]


def test_visibility_timeout_must_cover_the_countdown_cap_and_the_longest_run():
    app_ = checks._celery_app()
    longest = checks.longest_time_limit(app_, list(app_.tasks))

    tight = checks.check_visibility_timeout(
        app_, max_countdown=900, visibility_timeout=900 + longest
    )
    roomy = checks.check_visibility_timeout(
        app_, max_countdown=900, visibility_timeout=901 + longest
    )

    assert ids(tight) == ["ops.E020"]
    assert roomy == []


def test_retry_backoff_beyond_the_countdown_cap_is_an_error():
    app_ = checks._celery_app()

    problems = checks.check_visibility_timeout(app_, max_countdown=10, visibility_timeout=10**6)

    assert "ops.E021" in ids(problems)


# --- CELERY_* settings nothing reads ------------------------------------------------------------


def test_the_celery_settings_read_are_the_ones_the_code_reads_and_settings_defines():
    used = set()
    for path in BACKEND.rglob("*.py"):
        used |= set(re.findall(r"settings\.(CELERY_[A-Z_]+)", path.read_text()))

    assert used == SETTINGS_READ
    assert all(hasattr(settings, name) for name in SETTINGS_READ)


def test_a_celery_setting_or_variable_nothing_reads_is_reported():
    problems = checks.check_celery_settings(
        ["CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DEBUG"],
        ["CELERY_RESULT_BACKEND", "CELERY_LIVENESS_MAX_AGE", "CELERY_TASK_EAGER", "PATH"],
        read=SETTINGS_READ,
        read_elsewhere=VARIABLES_READ_OUTSIDE_SETTINGS,
    )

    assert [(p.id, p.msg.split(" is set")[0]) for p in problems] == [
        ("ops.E022", "CELERY_TASK_ALWAYS_EAGER"),
        ("ops.W003", "The environment variable CELERY_TASK_EAGER"),
    ]


def test_manage_check_refuses_a_celery_setting_nothing_reads(settings):
    # Given a Celery option set the way Celery's own docs show it for Django
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # When the system checks run, then they fail naming it, rather than the project running
    # with tasks that are not eager
    with pytest.raises(SystemCheckError, match="CELERY_TASK_ALWAYS_EAGER is set, but nothing"):
        call_command("check")
