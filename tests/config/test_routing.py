"""The routing table, exercised through Celery's own router."""

from __future__ import annotations

import pytest
from celery.exceptions import QueueNotFound
from django.core.exceptions import ImproperlyConfigured

from config.celery import app
from config.schedule import discover_beat_schedule


def queue_for(task_name: str, **options: str) -> str:
    return app.amqp.router.route(options, task_name)["queue"].name


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("football_data.tasks.sync_fixtures", "cpu"),
        ("football_data.anything.deeper.still", "cpu"),
        ("whatsapp.tasks.send_message", "io"),
        ("ops.tasks.probe", "io"),
        ("some_new_app.tasks.job", "io"),
        # fnmatch on the whole name: a lookalike prefix is not football_data's
        ("football_database.tasks.job", "io"),
    ],
)
def test_tasks_route_by_module(task_name, queue):
    assert queue_for(task_name) == queue


def test_an_explicit_queue_wins_over_the_table():
    assert queue_for("football_data.tasks.sync_fixtures", queue="io") == "io"


def test_an_undeclared_queue_is_refused_not_created():
    # task_create_missing_queues=False: no silent Redis list that nobody reads.
    with pytest.raises(QueueNotFound):
        queue_for("whatsapp.tasks.send_message", queue="ai_tasks")


def test_every_declared_queue_is_bound_to_its_own_exchange_and_key():
    for name, queue in app.amqp.queues.items():
        assert queue.routing_key == name
        assert queue.exchange.name == name


def test_json_only_and_no_pool_in_settings():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert "worker_pool" not in (app.conf.changes or {})


def test_beat_entries_are_discovered_from_each_installed_app(settings):
    discovered = discover_beat_schedule(settings.INSTALLED_APPS)
    assert discovered == app.conf.beat_schedule
    owners = {name.split("-")[0] for name in discovered}
    assert {"whatsapp", "football"} <= owners
    # an app that is not installed contributes nothing, and nothing here names one
    without = [a for a in settings.INSTALLED_APPS if a != "football_data"]
    assert not any(name.startswith("football") for name in discover_beat_schedule(without))


def test_a_beat_entry_defined_twice_stops_start_up():
    with pytest.raises(ImproperlyConfigured, match=r"defined by both whatsapp\.schedules"):
        discover_beat_schedule(["whatsapp", "whatsapp"])
