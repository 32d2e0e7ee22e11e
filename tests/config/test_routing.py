"""The routing table, exercised through Celery's own router."""

from __future__ import annotations

import pytest
from celery.exceptions import QueueNotFound
from django.apps import apps as django_apps
from django.core.exceptions import ImproperlyConfigured

from config.celery import app
from config.discovery import beat_schedule, task_routes
from config.queues import QUEUE_ACKS_LATE, Queue
from starter.tasks.cpu_bound import count_primes
from starter.tasks.io_bound import check_url
from tests.worker_tasks import hold


def queue_for(task_name: str, **options: str) -> str:
    return app.amqp.router.route(options, task_name)["queue"].name


@pytest.mark.parametrize("task_name", ["ops.tasks.probe", "some_new_app.tasks.job"])
def test_tasks_no_app_routes_elsewhere_go_to_the_io_queue(task_name):
    assert queue_for(task_name) == "io"


def test_an_explicit_queue_wins_over_the_table():
    assert queue_for("ops.tasks.probe", queue="cpu") == "cpu"


def test_an_undeclared_queue_is_refused_not_created():
    # task_create_missing_queues=False: no silent Redis list that nobody reads.
    with pytest.raises(QueueNotFound):
        queue_for("ops.tasks.probe", queue="ai_tasks")


def test_every_declared_queue_is_bound_to_its_own_exchange_and_key():
    for name, queue in app.amqp.queues.items():
        assert queue.routing_key == name
        assert queue.exchange.name == name


def test_json_only_and_no_pool_in_settings():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert "worker_pool" not in (app.conf.changes or {})


def test_beat_entries_and_routes_are_discovered_from_the_installed_apps(settings):
    assert beat_schedule(settings.INSTALLED_APPS) == app.conf.beat_schedule
    assert task_routes(settings.INSTALLED_APPS) == app.conf.task_routes
    # The apps' routes come first; the core's catch-all is last.
    assert list(app.conf.task_routes)[-1] == "*"


def test_without_apps_only_the_core_contributes():
    assert task_routes(["ops"]) == {"*": {"queue": "io"}}
    assert all(name.startswith("ops-") for name in beat_schedule(["ops"]))


def test_an_entry_defined_twice_stops_start_up():
    with pytest.raises(ImproperlyConfigured, match=r"defined by both ops\.schedules"):
        beat_schedule(["ops", "ops"])


def test_apps_listed_by_their_appconfig_contribute_the_same(settings):
    # Each of the project's apps by its AppConfig's dotted path, the other spelling Django takes.
    by_config = [
        f"{a}.apps.{type(django_apps.get_app_config(a)).__name__}" if "." not in a else a
        for a in settings.INSTALLED_APPS
    ]
    assert by_config != settings.INSTALLED_APPS
    assert task_routes(by_config) == task_routes(settings.INSTALLED_APPS)
    assert beat_schedule(by_config) == beat_schedule(settings.INSTALLED_APPS)


def test_each_task_acknowledges_as_its_queue_chooses_unless_it_sets_its_own():
    # Tasks that leave acks_late alone take their route's queue's choice ...
    assert check_url.acks_late is QUEUE_ACKS_LATE["io"]
    assert count_primes.acks_late is QUEUE_ACKS_LATE["cpu"]
    assert QUEUE_ACKS_LATE == {"io": False, "cpu": True}
    assert set(QUEUE_ACKS_LATE) == {str(queue) for queue in Queue}
    # ... and a task's own choice wins (the test tasks on io ask for it on)
    assert hold.acks_late is True


@pytest.mark.parametrize(
    ("options", "expected"),
    [({}, QUEUE_ACKS_LATE["cpu"]), ({"acks_late": False}, False), ({"acks_late": True}, True)],
)
def test_a_new_task_routed_to_cpu_gets_cpus_choice_or_its_own(options, expected):
    # Given a task declared where the routes send it to cpu, as a user copies the starter's
    name = "starter.tasks.cpu_bound.copied_for_the_test"

    def copied() -> None: ...

    try:
        task = app.task(name=name, **options)(copied)
        # Then it is bound with cpu's choice, or the one it asked for
        assert app.amqp.router.route({}, name)["queue"].name == "cpu"
        assert task.acks_late is expected
    finally:
        app.tasks.pop(name, None)
