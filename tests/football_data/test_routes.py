"""football_data's own route: every task of the app runs on the cpu queue (prefork)."""

from __future__ import annotations

import pytest

from config.celery import app
from config.discovery import beat_schedule, task_routes


def queue_for(task_name: str, **options: str) -> str:
    return app.amqp.router.route(options, task_name)["queue"].name


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("football_data.tasks.sync_fixtures", "cpu"),
        ("football_data.anything.deeper.still", "cpu"),
        # fnmatch on the whole name: a lookalike prefix is not football_data's
        ("football_database.tasks.job", "io"),
    ],
)
def test_the_app_routes_its_tasks_by_module(task_name, queue):
    assert queue_for(task_name) == queue


def test_an_explicit_queue_wins_over_the_app_route():
    assert queue_for("football_data.tasks.sync_fixtures", queue="io") == "io"


def test_the_route_and_beat_entries_come_from_the_app_and_go_with_it(settings):
    assert "football_data.*" in app.conf.task_routes
    without = [a for a in settings.INSTALLED_APPS if a != "football_data"]
    assert "football_data.*" not in task_routes(without)
    assert not any(name.startswith("football") for name in beat_schedule(without))
